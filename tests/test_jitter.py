import numpy as np
import pytest

from bbadj.data.jitter import jitter_boxes


def test_jitter_follows_the_protocol():
    gt = np.tile([[100.0, 200.0, 300.0, 260.0]], (20000, 1))  # w=200, h=60, far from the image border
    out = jitter_boxes(gt, [10000, 10000], np.random.default_rng(0))
    w, h = out[:, 2] - out[:, 0], out[:, 3] - out[:, 1]
    s_w, s_h = w / 200, h / 60
    assert np.allclose(s_w, s_h), "one scale factor is shared by width and height"
    assert s_w.min() >= 0.9 and s_w.max() <= 1.1 and s_w.min() < 0.91 and s_w.max() > 1.09
    u = ((out[:, 0] + out[:, 2]) / 2 - 200) / 200
    v = ((out[:, 1] + out[:, 3]) / 2 - 230) / 60
    assert np.abs(u).max() <= 0.1 + 1e-12 and np.abs(u).max() > 0.099
    assert np.abs(v).max() <= 0.1 + 1e-12 and np.abs(v).max() > 0.099
    assert abs(np.corrcoef(u, v)[0, 1]) < 0.03, "x and y shifts are independent"
    assert np.var(u) == pytest.approx(0.2**2 / 12, rel=0.05), "uniform on [-0.1, 0.1]"


def test_jitter_clips_to_the_image_and_is_seeded():
    gt = np.array([[0.0, 0.0, 50.0, 40.0], [60.0, 10.0, 100.0, 80.0]])
    a = jitter_boxes(gt, [[100, 80], [100, 80]], np.random.default_rng(3))
    b = jitter_boxes(gt, [[100, 80], [100, 80]], np.random.default_rng(3))
    c = jitter_boxes(gt, [[100, 80], [100, 80]], np.random.default_rng(4))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert (a[:, [0, 1]] >= 0).all() and (a[:, 2] <= 100).all() and (a[:, 3] <= 80).all()
