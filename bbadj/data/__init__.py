from .coco import CocoBoxes, DataError, ImageRecord, load_coco
from .crops import cut_crops
from .jitter import jitter_boxes

__all__ = ["CocoBoxes", "DataError", "ImageRecord", "load_coco", "cut_crops", "jitter_boxes"]
