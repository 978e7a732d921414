from .coco import CocoBoxes, DataError, ImageRecord, load_coco
from .crops import EDGES, boxes_to_positions, crop_windows, cut_crops, positions_to_boxes
from .jitter import jitter_boxes

__all__ = ["CocoBoxes", "DataError", "ImageRecord", "load_coco", "EDGES", "boxes_to_positions",
           "crop_windows", "cut_crops", "positions_to_boxes", "jitter_boxes"]
