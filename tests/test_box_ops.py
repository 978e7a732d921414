"""COCO [x, y, w, h] <-> (x0, y0, x1, y1), and clipping to the image (bbadj/box_ops.py)."""
import torch

from bbadj.box_ops import clip_to_image, xywh_to_xyxy, xyxy_to_xywh


def test_xywh_and_xyxy_are_inverse():
    xywh = torch.tensor([[10.5, 20.0, 30.0, 40.25], [0.0, 0.0, 1.0, 2.0]], dtype=torch.float64)
    xyxy = xywh_to_xyxy(xywh)
    assert xyxy.tolist() == [[10.5, 20.0, 40.5, 60.25], [0.0, 0.0, 1.0, 2.0]]
    assert torch.equal(xyxy_to_xywh(xyxy), xywh)
    assert xywh_to_xyxy([1, 2, 3, 4]).shape == (1, 4), "one box alone is a row"


def test_clip_to_image():
    boxes = [[-5, 10, 700, 20], [10, -3, 20, 500], [700, 600, 800, 700]]
    assert clip_to_image(boxes, 640, 480).tolist() == [[0, 10, 640, 20], [10, 0, 20, 480], [640, 480, 640, 480]]
