"""The model shipped with bbadj (bbadj/snap/weights/): what snap, adjust, serve and the snap notebook use
when no checkpoint is given, its half-precision export, and its card."""

import hashlib
import json
import re

import numpy as np
import pytest
import torch
from conftest import COCO128_IMAGES, ROOT, run, tool_env

import bbadj
from bbadj.model.checkpoint import read_checkpoint
from bbadj.snap.shipped import CARD, SHIPPED, default_checkpoint, export_half
from bbadj.widget.lab import SHIPPED_NAME, trained_models


def test_export_half_halves_the_file_and_keeps_the_model(checkpoint, tmp_path):
    out = tmp_path / "half.pt"
    source = export_half(checkpoint, out)
    assert source["sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    stored = read_checkpoint(out)
    floats = [v for v in stored["model"].values() if torch.is_floating_point(v)]
    assert floats and all(v.dtype == torch.float16 for v in floats)
    assert stored["config"] == read_checkpoint(checkpoint)["config"] and stored["exported_from"] == source
    assert out.stat().st_size < 0.6 * checkpoint.stat().st_size
    full, half = bbadj.load_model(checkpoint), bbadj.load_model(out)
    assert all(p.dtype == torch.float32 for p in half.parameters())  # loading casts back: CPU kernels in fp32
    image = COCO128_IMAGES / "000000000077.jpg"
    a, b = (bbadj.adjust(image, [[60, 40, 300, 330]], m) for m in (full, half))
    assert np.abs(a["boxes"] - b["boxes"]).max() < 0.5  # pixels, on an untrained model's flat distributions


def test_the_shipped_model_loads_with_its_calibrated_err_scale():
    assert default_checkpoint() == SHIPPED
    model = bbadj.load_model(SHIPPED)
    ckpt = read_checkpoint(SHIPPED)
    assert model.err_scale == ckpt["err_scale"] != 1.0  # fitted on held-out photographs by bbadj train
    assert model.cfg.fusion == "l4" and model.geometry.crop_size == 96
    assert ckpt["exported_from"]["dtype"] == "float16"


def test_the_card_names_the_files_sha256_and_the_recipe():
    card = CARD.read_text()
    assert hashlib.sha256(SHIPPED.read_bytes()).hexdigest() in card
    exported_from = read_checkpoint(SHIPPED)["exported_from"]["sha256"]
    assert exported_from in card, "the card names the float32 model it was exported from"
    for words in ("Licence", "coco128", "Apache-2.0", "CC BY 4.0", "bbadj train --row l4 --tier long"):
        assert words in card, words


def test_adjust_without_a_checkpoint_uses_the_shipped_model():
    out = run(
        ["bbadj", "adjust", "--image", str(COCO128_IMAGES / "000000000077.jpg"), "--box", "60,40,300,330"],
        cwd=ROOT,
        env=tool_env(),
        stdout_only=True,
    )
    (box,) = json.loads(out)
    assert len(box["box"]) == 4 and set(box["err_px"]) == {"top", "bottom", "left", "right"}


def test_the_help_says_what_the_default_checkpoint_is():
    for command in ("adjust", "snap", "serve"):
        text = run(["bbadj", command, "--help"], cwd=ROOT, env=tool_env(), stdout_only=True)
        assert re.search(r"default:\s+the\s+model\s+shipped\s+with\s+bbadj", text), command


def test_the_snap_notebook_offers_the_shipped_model_last(tmp_path):
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    assert trained_models(tmp_path / "params.yaml", tmp_path / "runs") == {SHIPPED_NAME: SHIPPED}
    assert trained_models(tmp_path / "params.yaml", tmp_path / "runs", [SHIPPED_NAME]) == {SHIPPED_NAME: SHIPPED}


def test_a_lost_shipped_model_is_a_clear_error(monkeypatch, tmp_path):
    import bbadj.snap.shipped as shipped

    monkeypatch.setattr(shipped, "SHIPPED", tmp_path / "gone.pt")
    with pytest.raises(FileNotFoundError, match=r"model shipped with bbadj is missing .*give --checkpoint"):
        shipped.default_checkpoint()
