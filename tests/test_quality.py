"""The per-edge quality head (bbadj.snap.quality) and its benchmark (``bbadj bench quality``):
features read off hand-made distributions, the head's range and storage, the AUROC table on a
hand-made case, and the command on a few photographs with the shipped model."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from bbadj.bench.quality import auroc_table, deciles
from bbadj.snap.quality import (
    FEATURES,
    HeadSpec,
    edge_features,
    feature_matrix,
    fit_head,
    load_head,
    save_head,
    unmirror,
)
from bbadj.util.errors import DataError

ROOT = Path(__file__).resolve().parents[1]
S = 32


def logits_of(probs: dict[int, float]) -> torch.Tensor:
    """Logits (S,) of a distribution with these probabilities at these positions (the rest ~0)."""
    p = torch.full((S,), 1e-12, dtype=torch.float64)
    for i, v in probs.items():
        p[i] = v
    return p.log().float()


KNOWN = {10: 0.5, 9: 0.2, 11: 0.2, 20: 0.1}  # peak 10, subpixel 10, spread 0.2 + 0.2 + 0.1 * 10 = 1.4


def one_box(edges: list[dict[int, float]]) -> torch.Tensor:
    return torch.stack([logits_of(e) for e in edges])[None]  # (1, 4, S)


def features(logits, **kw):
    # a window of S - 1 = 31 px: one position is one pixel; the image far larger, so no edge meets its border
    windows = torch.tensor([[100.0, 100.0, 131.0, 131.0]])
    return edge_features(logits, windows, (1000, 1000), buffer_ratio=1.0, **kw)


def test_features_of_a_known_distribution():
    f = features(one_box([KNOWN] * 4), k=4)
    assert f["top"].shape == (1, 4, 4)
    np.testing.assert_allclose(f["top"][0, 0], [0.5, 0.2, 0.2, 0.1], atol=1e-5)
    np.testing.assert_allclose(f["top_mean"], 0.25, atol=1e-5)
    np.testing.assert_allclose(f["conf"], 0.9, atol=1e-5)  # the mass within 2 positions of the peak
    np.testing.assert_allclose(f["pos"], 10.0, atol=1e-5)
    np.testing.assert_allclose(f["err_px"], 1.4, atol=1e-4)  # one position is one pixel
    # within 1 px of 10: all of bin 10, half of bins 9 and 11
    np.testing.assert_allclose(f["mass_1px"], 0.5 + 0.1 + 0.1, atol=1e-5)
    np.testing.assert_allclose(f["log_px_per_pos"], 0.0, atol=1e-9)
    np.testing.assert_allclose(f["log_side"], math.log(31.0), atol=1e-9)
    np.testing.assert_allclose(f["log_border_px"], math.log1p(100 + 10), atol=1e-6)
    assert not set(f) & {"log_flip_gap_px", "flip_log_err_px"}  # no mirrored crop, no flip features


def test_err_scale_and_pixel_size_scale_err_px():
    f = edge_features(
        one_box([KNOWN] * 4), torch.tensor([[0.0, 0.0, 62.0, 62.0]]), (1000, 1000), buffer_ratio=1.0, err_scale=1.5
    )
    np.testing.assert_allclose(f["err_px"], 1.4 * 2 * 1.5, atol=1e-4)  # 2 px per position
    np.testing.assert_allclose(f["mass_1px"], 0.5, atol=1e-5)  # 1 px is half a position: half of bin 10


def test_features_follow_their_edge_when_a_crossed_pair_is_sorted():
    """decode_edges sorts top <= bottom: the features of the edge decoded on top go with it."""
    sharp, wide = {5: 1.0}, {20: 0.4, 21: 0.3, 22: 0.3}
    f = features(one_box([wide, sharp, KNOWN, KNOWN]))  # the top edge decoded below the bottom one
    assert f["pos"][0, 0] < f["pos"][0, 1]
    np.testing.assert_allclose(f["top"][0, 0, 0], 1.0, atol=1e-5)  # now on top: the sharp one
    np.testing.assert_allclose(f["top"][0, 1, :3], [0.4, 0.3, 0.3], atol=1e-5)


def test_mirrored_crop_features():
    logits = one_box([KNOWN, KNOWN, {3: 1.0}, {25: 1.0}])
    mirrored = unmirror(logits)  # mirroring is its own inverse
    torch.testing.assert_close(unmirror(mirrored), logits)
    assert mirrored[0, 2].argmax() == S - 1 - 25 and mirrored[0, 3].argmax() == S - 1 - 3
    f = features(logits, mirrored=mirrored)
    np.testing.assert_allclose(f["log_flip_gap_px"], math.log(0.1), atol=1e-4)  # the two views agree
    shifted = unmirror(one_box([{12: 1.0}, KNOWN, {3: 1.0}, {25: 1.0}]))
    g = features(logits, mirrored=shifted)
    np.testing.assert_allclose(g["log_flip_gap_px"][0, 0], math.log(2.1), atol=1e-4)  # top: 2 px apart


def test_too_many_top_probabilities_is_an_error():
    with pytest.raises(ValueError, match="exceeds"):
        features(one_box([KNOWN] * 4), k=S + 1)
    with pytest.raises(ValueError, match="features must be"):
        HeadSpec("bad", ("no such feature",))


def toy_cases(n: int = 400, seed: int = 0) -> dict:
    """Boxes whose edges are accurate exactly when err_px < 1 px."""
    rng = np.random.default_rng(seed)
    logits = torch.randn(n, 4, S) * 3
    windows = torch.as_tensor(rng.uniform(0, 50, (n, 2))).repeat(1, 2)
    windows[:, 2:] += torch.as_tensor(rng.uniform(10, 300, (n, 2)))
    f = edge_features(logits, windows, (1000, 1000), buffer_ratio=1.3)
    f["accurate"] = f["err_px"] < np.median(f["err_px"])
    f["abs_err"] = np.where(f["accurate"], 0.5, 2.0)
    f["side"] = np.exp(f["log_side"])
    f["photo"] = np.repeat(np.arange(n)[:, None] // 4, 4, axis=1)
    return f


def test_head_fits_ranks_and_round_trips(tmp_path):
    cases = toy_cases()
    spec = HeadSpec("t", ("log_err_px", "top", "log_side"), hidden=4, steps=200)
    assert feature_matrix(cases, spec).shape == (len(cases["pos"]) * 4, 6)
    head = fit_head(spec, cases, cases["accurate"], {"fitted on": "toy"})
    p = head.predict(cases)
    assert p.shape == cases["err_px"].shape and ((p >= 0) & (p <= 1)).all()  # separable: some saturate
    a = auroc_table(cases, {"t": p}, n_boot=20)
    assert a.loc["err_px", "auroc"] == 1.0 and a.loc["t", "auroc"] > 0.9
    assert a.loc["err_px", "within_size"] == 1.0  # within every size bin too
    assert a.loc["t", "vs_err_px"] == pytest.approx(a.loc["t", "within_size"] - 1.0)
    save_head(head, tmp_path / "h.json")
    again = load_head(tmp_path / "h.json")
    np.testing.assert_allclose(again.predict(cases), p, rtol=1e-12)
    assert again.info["fitted on"] == "toy" and again.spec == spec
    with pytest.raises(ValueError, match="same label"):
        fit_head(spec, cases, np.ones_like(cases["accurate"]))


def test_load_head_names_a_wrong_file(tmp_path):
    (tmp_path / "x.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(DataError, match="not a quality head"):
        load_head(tmp_path / "x.json")
    (tmp_path / "y.json").write_text("{")
    with pytest.raises(DataError, match="not a readable"):
        load_head(tmp_path / "y.json")


def test_auroc_table_on_a_hand_made_case():
    """Eight edges in two photographs; accurate ones are the small-err_px ones but for one swap, so
    err_px's AUROC is 15/16; box size ranks them backwards; a head's P ranks as its own."""
    acc = np.array([1, 1, 1, 1, 0, 0, 0, 0], bool)
    err = np.array([0.1, 0.2, 0.3, 0.6, 0.5, 0.7, 0.8, 0.9])
    cases = {
        "accurate": acc.reshape(2, 4),
        "err_px": err.reshape(2, 4),
        "conf": (1 - err).reshape(2, 4),
        "side": np.arange(8, 0, -1, dtype=float).reshape(2, 4) * 10,  # accurate edges on the big boxes
        "photo": np.array([[1, 1, 2, 2], [1, 1, 2, 2]]),
    }
    a = auroc_table(cases, {"perfect": acc.reshape(2, 4) * 0.8 + 0.1}, n_boot=50)
    assert a.loc["err_px", "auroc"] == pytest.approx(15 / 16)
    assert a.loc["conf", "auroc"] == pytest.approx(15 / 16)
    assert a.loc["size", "auroc"] == pytest.approx(0.0)
    assert a.loc["perfect", "auroc"] == 1.0
    g = deciles(np.arange(20.0), np.arange(20.0) * 2, n_bins=10)
    np.testing.assert_allclose(g.relative, -0.5)


@pytest.fixture
def few_photos(tmp_path):
    """Three small COCO files of coco128 photographs (absolute paths): training, calibration, validation."""
    images = ROOT / "data" / "coco128" / "images"
    out = {}
    for name, n in (("train", 3), ("calibration", 2), ("val", 6)):
        src = ROOT / "data" / "coco128" / "annotations" / ("train_fit.json" if name == "train" else f"{name}.json")
        doc = json.loads(src.read_text())
        keep = doc["images"][:n]
        ids = {im["id"] for im in keep}
        doc.update(images=keep, annotations=[a for a in doc["annotations"] if a["image_id"] in ids])
        (tmp_path / f"{name}.json").write_text(json.dumps(doc))
        out[name] = (str(tmp_path / f"{name}.json"), str(images))
    return out


def test_bench_quality_fits_scores_and_stores_a_head(few_photos, tmp_path, monkeypatch):
    from bbadj.cli.main import main

    monkeypatch.chdir(tmp_path)  # no params.yaml: the code's defaults, the evaluation set given by --set
    ann, images = few_photos["val"]
    common = [
        "--set",
        f"eval.sets={{few: {{annotations: {ann}, images: {images}, role: validation}}}}",
        "--eval-set",
        "few",
        "--n-boot",
        "20",
        "--device",
        "cpu",
        "--threads",
        "1",
        "--no-progress",
    ]
    argv = ["bench", "quality", "--fit", "--heads", "size+err_px", "err_px+flip", "--train-draws", "1"]
    argv += ["--calibration-draws", "1", "--train", *few_photos["train"], "--calibration", *few_photos["calibration"]]
    head = tmp_path / "head.json"
    out = tmp_path / "q.json"
    assert (
        main(
            argv + common + ["--write-head", str(head), "--write-head-from", "err_px+flip@train|cal", "--out", str(out)]
        )
        == 0
    )
    r = json.loads(out.read_text())
    table = r["sets"]["few"]["auroc"]
    assert {"size", "err_px", "conf", "size+err_px@train", "err_px+flip@train|cal"} <= set(table)
    assert all(0 <= row["within_size"] <= 1 for row in table.values())
    stored = load_head(head)
    assert stored.spec.name == "err_px+flip" and stored.info["fit"] == "train|cal"
    assert stored.info["annotations"] == few_photos["train"][0]
    # the stored head scored on its own
    assert main(["bench", "quality", "--head", str(head), *common, "--out", str(out)]) == 0
    assert "stored head" in json.loads(out.read_text())["sets"]["few"]["auroc"]


def test_edge_quality_adds_a_probability_to_adjust(tmp_path):
    import bbadj
    from bbadj.snap.quality import edge_quality

    model = bbadj.load_model(ROOT / "bbadj" / "snap" / "weights" / "l4-long.pt")
    image = (
        ROOT
        / "data"
        / "coco128"
        / "images"
        / json.loads((ROOT / "data" / "coco128" / "annotations" / "val.json").read_text())["images"][0]["file_name"]
    )
    boxes = np.array([[50.0, 60.0, 200.0, 220.0], [10.0, 10.0, 90.0, 70.0]])
    cases = toy_cases(100)
    head = fit_head(
        HeadSpec("t", ("log_err_px", "top", "log_flip_gap_px"), steps=50), _with_flip(cases), cases["accurate"]
    )
    out = edge_quality(image, boxes, model, head)
    ref = bbadj.adjust(image, boxes, model)
    for key in ("boxes", "confidence", "err_px"):
        np.testing.assert_array_equal(out[key], ref[key])
    assert out["p_within_1px"].shape == (2, 4)
    assert ((out["p_within_1px"] > 0) & (out["p_within_1px"] < 1)).all()
    assert set(FEATURES) >= set(head.spec.features)


def _with_flip(cases: dict) -> dict:
    return {**cases, "log_flip_gap_px": np.log(0.1 + np.abs(np.random.default_rng(0).normal(size=cases["pos"].shape)))}


def test_the_shipped_head_belongs_to_the_shipped_model():
    """The stored head names the model it was fitted for by digest, reads one forward only, and was
    fitted on no evaluation set."""
    from bbadj.snap.quality import SHIPPED_HEAD, sha256
    from bbadj.snap.shipped import SHIPPED

    head = load_head(SHIPPED_HEAD)
    assert head.info["model_sha256"] == sha256(SHIPPED)
    assert not head.spec.flip
    assert "train_fit" in head.info["annotations"] and "calibration" in head.info["calibration"]["annotations"]
    p = head.predict(toy_cases(20))
    assert p.shape == (20, 4) and ((p >= 0) & (p <= 1)).all()
