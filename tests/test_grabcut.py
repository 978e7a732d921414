"""The classical baseline: GrabCut from the enlarged jittered box, mask -> box."""

import numpy as np
import pytest
from PIL import Image

from bbadj.data.coco import load_coco
from bbadj.scoring.grabcut import GrabCutConfig, grabcut_box, predict_grabcut
from bbadj.scoring.metrics import per_box_errors

from conftest import write_coco

TRUE = np.array([30.0, 25.0, 95.0, 70.0])


def one_object_image(seed=0, colour=(200, 40, 40)) -> np.ndarray:
    """A 140 x 100 grey, noisy background with one red rectangle covering TRUE exactly."""
    rng = np.random.default_rng(seed)
    img = rng.normal(120, 15, (100, 140, 3))
    x0, y0, x1, y1 = TRUE.astype(int)
    img[y0:y1, x0:x1] = rng.normal(colour, 10, (y1 - y0, x1 - x0, 3))
    return img.clip(0, 255).astype(np.uint8)


@pytest.mark.parametrize("rough", [[33, 22, 90, 73], [26, 28, 97, 66], [31, 27, 93, 71], [29, 24, 96, 70]])
def test_recovers_one_clear_object_within_a_pixel_or_two(rough):
    box, ok = grabcut_box(one_object_image(), rough, GrabCutConfig())
    assert ok
    assert np.abs(box - TRUE).max() <= 2, box
    assert per_box_errors(box[None], TRUE[None])["iou"].item() > 0.95


def test_working_resolution_maps_back_to_image_pixels():
    """Downscaled to a 32-px working resolution, the box still lands on the object (within the
    size of a working pixel, here about 3 image pixels)."""
    box, ok = grabcut_box(one_object_image(), [33, 22, 90, 73], GrabCutConfig(max_side=32))
    assert ok and np.abs(box - TRUE).max() <= 4, box


def test_no_background_to_learn_from_falls_back_to_the_rough_box():
    img = one_object_image()
    rough = np.array([0.0, 0.0, 140.0, 100.0])  # the whole image: GrabCut has no background pixel
    box, ok = grabcut_box(img, rough, GrabCutConfig())
    assert not ok and np.array_equal(box, rough)


def test_deterministic():
    img = one_object_image(seed=3)
    a = grabcut_box(img, [33, 22, 90, 73], GrabCutConfig(seed=1))
    b = grabcut_box(img, [33, 22, 90, 73], GrabCutConfig(seed=1))
    assert np.array_equal(a[0], b[0])


def test_predict_over_a_coco_set(tmp_path):
    (tmp_path / "images").mkdir()
    for i in range(2):
        Image.fromarray(one_object_image(seed=i)).save(tmp_path / "images" / f"{i}.png")
    x, y, x1, y1 = TRUE.tolist()
    ann = write_coco(
        tmp_path / "a.json",
        [{"id": i, "file_name": f"{i}.png", "width": 140, "height": 100} for i in range(2)],
        [{"id": 10 + i, "image_id": i, "bbox": [x, y, x1 - x, y1 - y], "category_id": 1} for i in range(2)],
    )
    coco = load_coco(ann, tmp_path / "images", verbose=False)
    rough = [np.array([[33.0, 22, 90, 73]]), np.array([[0.0, 0, 140, 100]])]  # the second has no background
    boxes, fallbacks = predict_grabcut(coco, rough, GrabCutConfig())
    assert boxes.shape == (2, 4) and fallbacks == 1
    assert np.abs(boxes[0].numpy() - TRUE).max() <= 2 and np.array_equal(boxes[1].numpy(), rough[1][0])


def test_bad_settings():
    with pytest.raises(ValueError, match="grabcut"):
        GrabCutConfig(iterations=0)
