"""bbadj.adjust and `bbadj adjust`: the Snapper call, on an image path, PIL image or tensor."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

import bbadj
from bbadj.model.checkpoint import save_atomic
from bbadj.cli.main import main
from bbadj.core.config import Config
from bbadj.data.coco import load_coco
from bbadj.core.box_ops import crop_windows
from bbadj.data.dataset import make_crops
from conftest import COCO128


def test_adjust_returns_ordered_boxes_inside_the_image_with_confidences(checkpoint, tiny_synth):
    model = bbadj.load_model(checkpoint)
    coco = load_coco(tiny_synth / "val/annotations.json", tiny_synth / "val/images", verbose=False)
    rec = coco.images[0]
    out = bbadj.adjust(rec.path, rec.boxes, model)
    boxes, conf = out["boxes"], out["confidence"]
    assert boxes.shape == (len(rec.boxes), 4) and conf.shape == (len(rec.boxes), 4)
    assert (boxes[:, 2] >= boxes[:, 0]).all() and (boxes[:, 3] >= boxes[:, 1]).all()
    assert (boxes >= 0).all() and (boxes[:, [0, 2]] <= rec.width).all() and (boxes[:, [1, 3]] <= rec.height).all()
    assert ((conf > 0) & (conf <= 1)).all()
    one = bbadj.adjust(rec.path, rec.boxes[0], model)
    assert np.allclose(one["boxes"][0], boxes[0], atol=1e-4), "one box alone gives what it gives among many"


def test_path_pil_and_tensor_inputs_agree(checkpoint, tiny_synth):
    model = bbadj.load_model(checkpoint)
    coco = load_coco(tiny_synth / "val/annotations.json", tiny_synth / "val/images", verbose=False)
    rec = coco.images[1]
    a = bbadj.adjust(rec.path, rec.boxes, model)
    b = bbadj.adjust(Image.open(rec.path), rec.boxes, model)
    c = bbadj.adjust(
        torch.from_numpy(np.asarray(Image.open(rec.path).convert("RGB")).copy()).permute(2, 0, 1), rec.boxes, model
    )
    assert np.allclose(a["boxes"], b["boxes"], atol=0.05) and np.allclose(b["boxes"], c["boxes"], atol=1e-6)


def test_inference_crops_are_the_training_crops(checkpoint, tiny_synth):
    """Train and serve must see the same pixels for the same window."""
    model = bbadj.load_model(checkpoint)
    g = model.geometry
    coco = load_coco(tiny_synth / "val/annotations.json", tiny_synth / "val/images", verbose=False)
    rec = coco.images[0]
    seen = {}

    def capture(module, args):
        seen["x"] = args[0]

    model.register_forward_pre_hook(capture)
    bbadj.adjust(rec.path, rec.boxes, model)
    train_side = make_crops(coco.images, np.zeros(len(rec.boxes), int), rec.boxes, rec.boxes, g)
    assert torch.allclose(seen["x"], train_side["crops"], atol=1e-6)
    assert torch.allclose(train_side["windows"], crop_windows(rec.boxes, g.buffer_ratio))


def test_bad_boxes_and_images_are_refused(checkpoint, tmp_path):
    model = bbadj.load_model(checkpoint)
    img = torch.zeros(3, 20, 20, dtype=torch.uint8)
    with pytest.raises(ValueError, match="x1 > x0"):
        bbadj.adjust(img, [5, 5, 2, 9], model)
    with pytest.raises(ValueError, match="finite"):
        bbadj.adjust(img, [5, 5, float("nan"), 9], model)
    with pytest.raises(ValueError, match="uint8"):
        bbadj.adjust(img.float(), [1, 1, 9, 9], model)
    with pytest.raises(ValueError, match="load_model"):
        bbadj.adjust(img, [1, 1, 9, 9], torch.nn.Conv2d(3, 4, 3))  # a model without its crop geometry


def test_cli_adjust_prints_the_same_as_python(checkpoint, tiny_synth, capsys):
    coco = load_coco(tiny_synth / "val/annotations.json", tiny_synth / "val/images", verbose=False)
    rec = coco.images[0]
    box = rec.boxes[0]
    assert (
        main(
            [
                "adjust",
                "--checkpoint",
                str(checkpoint),
                "--image",
                str(rec.path),
                "--box",
                ",".join(str(v) for v in box),
            ]
        )
        == 0
    )
    printed = json.loads(capsys.readouterr().out)
    ref = bbadj.adjust(rec.path, box, bbadj.load_model(checkpoint))
    assert np.allclose(printed[0]["box"], ref["boxes"][0], atol=1e-3)
    assert set(printed[0]["confidence"]) == set(printed[0]["err_px"]) == {"top", "bottom", "left", "right"}
    assert (
        main(["adjust", "--checkpoint", str(tiny_synth / "none.pt"), "--image", str(rec.path), "--box", "1,2,3,4"]) == 2
    )
    assert "checkpoint not found" in capsys.readouterr().err


class FixedLogits(torch.nn.Module):
    """A stand-in model whose four edge distributions are the same for every crop."""

    def __init__(self, geometry, logits):
        super().__init__()
        self.geometry, self.logits = geometry, torch.nn.Parameter(logits)

    def forward(self, x):
        return self.logits.expand(len(x), -1, -1)


def test_expected_error_is_in_image_pixels():
    """One distribution, two boxes, one twice the other's size: the expected error in image
    pixels is the distribution's mean distance (in positions) times each box's pixels per position."""
    cfg = Config().with_overrides({"data": {"crop_size": 11, "buffer_ratio": 1.0}})
    logits = torch.full((4, 11), -30.0)
    logits[:, 5] = logits[:, 7] = 0.0  # half at 5, half at 7: decoded at 6, one position off either way
    model = FixedLogits(cfg.data.geometry, logits)
    image = torch.zeros(3, 200, 300, dtype=torch.uint8)
    out = bbadj.adjust(image, [[10, 20, 60, 40], [100, 100, 200, 140]], model)
    per_position = np.array([[20 / 10, 20 / 10, 50 / 10, 50 / 10], [40 / 10, 40 / 10, 100 / 10, 100 / 10]])
    assert np.allclose(out["err_px"], per_position, atol=1e-4)
    assert np.allclose(out["boxes"][0], [10 + 6 * 5, 20 + 6 * 2, 10 + 6 * 5, 20 + 6 * 2], atol=1e-3)


def test_a_checkpoint_with_non_finite_weights_is_refused(checkpoint, tmp_path, capsys):
    """The probe of issue 17: a diverged model evaluated to "miou": NaN, written as invalid JSON."""
    from bbadj.util.errors import DataError

    ckpt = torch.load(checkpoint, weights_only=False)
    name = next(k for k, t in ckpt["model"].items() if t.is_floating_point())
    ckpt["model"][name] = torch.full_like(ckpt["model"][name], float("nan"))
    bad = tmp_path / "diverged.pt"
    save_atomic(ckpt, bad)
    with pytest.raises(DataError, match=rf"diverged\.pt: 1 of \d+ weight tensors hold NaN or inf \(first: {name}\)"):
        bbadj.load_model(bad)
    out = tmp_path / "m.json"
    assert (
        main(
            [
                "evaluate",
                "--checkpoint",
                str(bad),
                "--annotations",
                str(COCO128 / "annotations/val.json"),
                "--images",
                str(COCO128 / "images"),
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 2
    )
    assert "bbadj evaluate: error:" in capsys.readouterr().err and not out.exists()


def test_a_damaged_checkpoint_file_is_named(tmp_path, capsys):
    path = tmp_path / "model.pt"
    path.write_bytes(b"PK\x03\x04 cut short")
    assert main(["adjust", "--checkpoint", str(path), "--image", "x.jpg", "--box", "1,2,3,4"]) == 2
    assert f"{path}: cannot read this checkpoint, the file is damaged" in capsys.readouterr().err


def test_boxes_that_do_not_overlap_the_image_are_refused(checkpoint, capsys):
    """Issue 17's probe: a box wholly off a 640x426 image came back as [640, 426, 640, 426] with
    ordinary confidences."""
    from bbadj.util.errors import DataError

    model = bbadj.load_model(checkpoint)
    img = torch.zeros(3, 426, 640, dtype=torch.uint8)
    with pytest.raises(
        DataError,
        match=r"box 1 \[700\.0, 500\.0, 800\.0, 600\.0\] overlaps the 640x426 image by less "
        r"than 1 pixel.*\(1 of 2 boxes\)",
    ):
        bbadj.adjust(img, [[10, 10, 50, 50], [700, 500, 800, 600]], model)
    with pytest.raises(DataError, match="less than 1 pixel"):
        bbadj.adjust(img, [639.5, 10, 700, 50], model)  # half a pixel wide on the image
    out = bbadj.adjust(img, [-200, -200, 50, 50], model)  # sticking out is fine: clipped
    assert (out["boxes"] >= 0).all()
    tiny = torch.zeros(3, 1, 1, dtype=torch.uint8)
    assert bbadj.adjust(tiny, [0, 0, 1, 1], model)["boxes"].shape == (1, 4)  # a 1x1 image: only its pixel
    with pytest.raises(DataError, match="1x1 image"):
        bbadj.adjust(tiny, [0.5, 0, 1.5, 1], model)


def test_cli_adjust_takes_negative_coordinates_and_names_bad_boxes(checkpoint, tiny_synth, capsys):
    rec = load_coco(tiny_synth / "val/annotations.json", tiny_synth / "val/images", verbose=False).images[0]
    args = ["adjust", "--checkpoint", str(checkpoint), "--image", str(rec.path)]
    assert main(args + ["--box", "-20,-5,50,50", "--box=-1,-1,30,30"]) == 0  # argparse alone: "expected one argument"
    assert len(json.loads(capsys.readouterr().out)) == 2
    assert main(args + ["--box", f"{rec.width + 10},0,{rec.width + 50},40"]) == 2
    assert "bbadj adjust: error: box 0" in capsys.readouterr().err
    assert main(args + ["--box", "5,5,2,9"]) == 2
    assert "x1 > x0" in capsys.readouterr().err
    assert main(args + ["--box", "1,1,20,20", "--buffer-ratio", "0"]) == 2
    assert "bbadj adjust: error: the buffer ratio (--buffer-ratio) must be >= 1" in capsys.readouterr().err


class FixedLaplace(torch.nn.Module):
    """A model (the regression decoder's output) that places every edge of every crop the same."""

    def __init__(self, geometry, mu, b):
        super().__init__()
        self.geometry = geometry
        self.mu, self.log_b = torch.nn.Parameter(torch.tensor(mu)), torch.nn.Parameter(torch.tensor(b).log())

    def forward(self, x):
        from bbadj.model.decoders import Laplace

        return Laplace(self.mu.expand(len(x), 4), self.log_b.expand(len(x), 4))


def test_a_regressed_edge_lands_beyond_the_crop_and_its_err_px_is_its_scale():
    cfg = Config().with_overrides({"data": {"crop_size": 11, "buffer_ratio": 1.0}})
    # top 2 positions above the crop, bottom at its border, left and right inside; b in positions
    model = FixedLaplace(cfg.data.geometry, [-2.0, 10.0, 1.0, 9.0], [1.0, 0.5, 2.0, 1.0])
    image = torch.zeros(3, 200, 300, dtype=torch.uint8)
    out = bbadj.adjust(image, [[10, 20, 60, 40], [100, 100, 200, 140]], model)
    # the crop is the box (buffer 1): a position is (height / 10, width / 10) pixels
    assert np.allclose(out["boxes"], [[10 + 5, 20 - 4, 10 + 45, 40], [100 + 10, 100 - 8, 100 + 90, 140]], atol=1e-4)
    assert np.allclose(out["err_px"], [[1 * 2, 0.5 * 2, 2 * 5, 1 * 5], [1 * 4, 0.5 * 4, 2 * 10, 1 * 10]], atol=1e-4)
    # above the image: the box stops at its border
    top = bbadj.adjust(image, [[10, 0, 60, 20]], model)
    assert top["boxes"][0][1] == 0.0
