import math

import pytest
import torch

from bbadj.scoring.metrics import box_metrics, paired_iou, per_box_errors

GT = [0.0, 0.0, 10.0, 10.0]


def test_hand_made_boxes_exact_values():
    preds = [
        [0.0, 0.0, 10.0, 10.0],  # exact
        [0.5, 0.0, 10.0, 12.0],  # left off by 0.5, bottom by 2
        [1.0, 1.0, 11.0, 11.0],  # every edge off by exactly 1: strict '<' must not count it
        [0.0, 0.0, 10.0, 9.0],  # IoU exactly 0.9: strict '>' must not count it
    ]
    m = box_metrics(torch.tensor(preds), torch.tensor([GT] * 4))
    assert m["miou"] == pytest.approx((1 + 95 / 119 + 81 / 119 + 0.9) / 4, abs=1e-12)
    assert m["iou90"] == 0.25
    assert m["edge1"] == 10 / 16
    assert m["edge3"] == 1.0
    assert m["corner1"] == 8 / 16
    assert m["corner3"] == 1.0


def test_corner_distance_is_euclidean_not_max_of_edges():
    # x0 off by 0.8 and y0 off by 0.8: each edge < 1 px, but the corner is sqrt(1.28) > 1 px away
    e = per_box_errors(torch.tensor([[0.8, 0.8, 10.0, 10.0]]), torch.tensor([GT]))
    assert e["corner_err"][0, 0] == pytest.approx(math.hypot(0.8, 0.8))
    m = box_metrics(torch.tensor([[0.8, 0.8, 10.0, 10.0]]), torch.tensor([GT]))
    assert m["edge1"] == 1.0 and m["corner1"] == 0.75


def test_paired_iou_is_the_diagonal_of_box_iou():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(50, 2, generator=g) * 50
    b = torch.rand(50, 2, generator=g) * 50
    pred = torch.cat([a, a + 1 + torch.rand(50, 2, generator=g) * 20], 1)
    gt = torch.cat([b, b + 1 + torch.rand(50, 2, generator=g) * 20], 1)
    from torchvision.ops import box_iou

    # bit for bit: the study's metrics did not move when the diagonal replaced the full matrix
    assert torch.equal(paired_iou(pred.double(), gt.double()), box_iou(pred.double(), gt.double()).diagonal())
    assert torch.equal(paired_iou(pred, gt), box_iou(pred, gt).diagonal())
