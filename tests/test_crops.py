import numpy as np
import torch

from bbadj.core.config import IMAGENET_MEAN, IMAGENET_STD
from bbadj.core.box_ops import boxes_to_positions, crop_windows, positions_to_boxes
from bbadj.data.crops import cut_crops
from bbadj.data.images import normalize


def test_crop_window_scales_about_the_centre():
    w = crop_windows([[10.0, 20.0, 30.0, 60.0]], 1.1)
    assert torch.allclose(w, torch.tensor([[9.0, 18.0, 31.0, 62.0]], dtype=torch.float64))


def test_positions_round_trip_both_ways():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 500, (100, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(5, 200, (100, 2))], 1)
    windows = crop_windows(boxes * 0.98 + 3, 1.2)
    S = 96
    q = boxes_to_positions(boxes, windows, S, clamp=False)
    assert torch.allclose(positions_to_boxes(q, windows, S), torch.as_tensor(boxes), atol=1e-9)
    q2 = torch.as_tensor(rng.uniform(0, S - 1, (100, 4)))
    assert torch.allclose(
        boxes_to_positions(positions_to_boxes(q2, windows, S), windows, S, clamp=False), q2, atol=1e-9
    )


def test_positions_edges_order_and_clamp():
    window = torch.tensor([[0.0, 0.0, 100.0, 50.0]], dtype=torch.float64)  # x 0..100, y 0..50
    q = boxes_to_positions([[25.0, 10.0, 75.0, 40.0]], window, 101)
    # EDGES = (top, bottom, left, right): y0, y1 scaled by 100/50, x0, x1 by 100/100
    assert q.tolist() == [[20.0, 80.0, 25.0, 75.0]]
    q = boxes_to_positions([[-10.0, 10.0, 120.0, 40.0]], window, 101)
    assert q[0, 2] == 0 and q[0, 3] == 100, "edges outside the crop clamp to its border"
    # a box equal to its window sits exactly on the first and last positions
    assert boxes_to_positions(window, window, 224).tolist() == [[0.0, 223.0, 0.0, 223.0]]


def test_cut_crops_places_content_where_the_map_says():
    img = torch.zeros(3, 100, 120, dtype=torch.uint8)
    img[:, 40:60, 20:30] = 255  # object: x 20..30, y 40..60
    x = normalize(img, IMAGENET_MEAN, IMAGENET_STD)
    window = torch.tensor([[10.0, 30.0, 40.0, 70.0]])  # 30 x 40 pixels -> S = 30: 1 x 4/3 px per crop pixel
    crop = cut_crops(x, window, 30)
    bright = crop[0, 0] > 0
    cols = torch.nonzero(bright.any(0)).flatten()
    assert cols.min() == 10 and cols.max() == 19  # crop column j samples x = 10 + (j + 0.5)
    rows = torch.nonzero(bright.any(1)).flatten()
    # y = 30 + (i + 0.5) * 4/3 lies in [40, 60) for i = 7..22
    assert rows.min() == 7 and rows.max() == 22


def test_outside_the_image_reads_the_normalisation_mean():
    img = torch.full((3, 20, 20), 200, dtype=torch.uint8)
    x = normalize(img, IMAGENET_MEAN, IMAGENET_STD)
    crop = cut_crops(x, torch.tensor([[-20.0, 0.0, 20.0, 20.0]]), 8)
    assert torch.all(crop[0, :, :, :3] == 0), "left half lies outside: normalised mean is 0"
    assert torch.all(crop[0, :, :, 5:] > 0)


def test_all_boxes_of_an_image_cut_in_one_call_match_one_by_one():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 64, 80, generator=g)
    windows = torch.tensor([[0.0, 0.0, 40.0, 30.0], [10.5, 5.2, 70.1, 60.0], [-5.0, -5.0, 20.0, 20.0]])
    together = cut_crops(x, windows, 16)
    alone = torch.cat([cut_crops(x, w[None], 16) for w in windows])
    assert together.shape == (3, 3, 16, 16)
    assert torch.allclose(together, alone)
