"""The box conventions of bbadj/core/box_ops.py: COCO boxes to corners and back, clipping to the image,
for numpy arrays and torch tensors alike."""

import numpy as np
import pytest
import torch

from bbadj.core.box_ops import clip_to_image, xywh_to_xyxy, xyxy_to_xywh


def test_xywh_to_xyxy_adds_the_size_to_the_corner():
    xywh = np.array([[2.0, 3.0, 10.0, 20.0], [0.5, 0.0, 1.0, 4.0]])
    assert xywh_to_xyxy(xywh).tolist() == [[2, 3, 12, 23], [0.5, 0, 1.5, 4]]
    assert xyxy_to_xywh(xywh_to_xyxy(xywh)).tolist() == xywh.tolist()
    assert xywh_to_xyxy([2, 3, 10, 20]).tolist() == [2, 3, 12, 23]  # one box, as a list


def test_conversions_keep_the_kind_and_dtype():
    t = torch.tensor([[2, 3, 10, 20]], dtype=torch.float64)
    assert isinstance(xywh_to_xyxy(t), torch.Tensor) and xywh_to_xyxy(t).tolist() == [[2, 3, 12, 23]]
    ints = xyxy_to_xywh(np.array([4, 5, 14, 9]))
    assert ints.dtype.kind == "i" and ints.tolist() == [4, 5, 10, 4]  # synth writes these ints to JSON


def test_clip_to_image_per_box_and_scalar():
    boxes = np.array([[-5.0, -1.0, 50.0, 20.0], [10.0, 10.0, 30.0, 40.0]])
    assert clip_to_image(boxes, 40, 30).tolist() == [[0, 0, 40, 20], [10, 10, 30, 30]]
    per_box = clip_to_image(boxes, np.array([40, 100]), np.array([30, 35]))
    assert per_box.tolist() == [[0, 0, 40, 20], [10, 10, 30, 35]]
    t = clip_to_image(torch.as_tensor(boxes), torch.tensor([40.0, 100.0]), torch.tensor([30.0, 35.0]))
    assert isinstance(t, torch.Tensor) and t.tolist() == per_box.tolist()
    assert clip_to_image(np.array([-1.0, 2.0, 99.0, 3.0]), 40, 30).tolist() == [0, 2, 40, 3]


def test_wrong_shapes_are_refused():
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 4\)"):
        xywh_to_xyxy(np.zeros((2, 3)))


def test_image_bounds_in_each_edges_positions():
    from bbadj.core.box_ops import image_bounds

    # window x 10..30, y 20..60 on a 25 x 100 image, 11 positions: 2 px per position in x, 4 in y
    lo, hi = image_bounds([[10.0, 20.0, 30.0, 60.0]], (25, 100), 11)
    assert lo.tolist() == [[-5.0, -5.0, -5.0, -5.0]]
    assert hi.tolist() == [[20.0, 20.0, 7.5, 7.5]]
