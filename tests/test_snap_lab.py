"""The snap notebook's app (bbadj/widget/lab.py, draw.py) without a browser: which models it
offers, what it says with none, the close-ups it draws, and draw -> snap -> accept -> undo driven
through the widgets' own state (tests/test_snap_notebook.py does the same in Chromium)."""

import numpy as np
import pytest
import yaml
from conftest import COCO128_IMAGES
from PIL import Image

from bbadj.widget import draw as snap_draw, lab as snap_lab
from bbadj.snap.review import ReviewRule

PHOTO = COCO128_IMAGES / "000000000077.jpg"  # 500 x 375


@pytest.fixture
def study(tmp_path, checkpoint):
    """params.yaml with a baseline and three rows; two of them trained (two seeds each), and one stray run."""
    (tmp_path / "params.yaml").write_text(
        yaml.safe_dump({"rows": {"alpha": {}, "beta": {}, "gamma": {}}, "study": {"baseline": "beta", "seeds": 2}})
    )
    for name, seeds in (("alpha", 2), ("beta", 2), ("stray", 1)):
        for k in range(seeds):
            (tmp_path / "runs" / name / f"seed{k}").mkdir(parents=True)
            (tmp_path / "runs" / name / f"seed{k}" / "model.pt").write_bytes(checkpoint.read_bytes())
    return tmp_path


def test_trained_models_baseline_first_then_the_params_order(study):
    """A row's model is its seed 0's; another seed when asked for by name."""
    models = snap_lab.trained_models(study / "params.yaml", study / "runs")
    assert (
        list(models) == ["beta", "alpha", "stray", "shipped"] and models["alpha"] == study / "runs/alpha/seed0/model.pt"
    )
    assert list(snap_lab.trained_models(study / "params.yaml", study / "runs", ["stray", "alpha"])) == [
        "alpha",
        "stray",
    ]
    asked = snap_lab.trained_models(study / "params.yaml", study / "runs", ["alpha/seed1", "beta"])
    assert asked == {"beta": study / "runs/beta/seed0/model.pt", "alpha/seed1": study / "runs/alpha/seed1/model.pt"}
    with pytest.raises(FileNotFoundError, match=r"gamma/seed0/model.pt .*dvc repro train@gamma"):
        snap_lab.trained_models(study / "params.yaml", study / "runs", ["gamma"])


def test_the_long_tiers_models_come_first_as_long_row(study, checkpoint):
    for name in ("alpha", "beta"):
        (study / "runs" / "long" / name / "seed0").mkdir(parents=True)
        (study / "runs" / "long" / name / "seed0" / "model.pt").write_bytes(checkpoint.read_bytes())
    models = snap_lab.trained_models(study / "params.yaml", study / "runs")
    assert list(models) == ["long/beta", "beta", "alpha", "long/alpha", "stray", "shipped"]
    assert models["long/alpha"] == study / "runs" / "long" / "alpha" / "seed0" / "model.pt"


def test_the_long_tiers_models_carry_the_scale_their_evaluation_fitted(study, checkpoint, monkeypatch):
    """The long tier calibrates err_px at evaluation (reports/long/per_box/<row>/calibration.json);
    the notebook snaps with that scale, and with a model's own elsewhere."""
    import json

    monkeypatch.chdir(study)
    (study / "runs" / "long" / "alpha" / "seed1").mkdir(parents=True)
    (study / "runs" / "long" / "alpha" / "seed1" / "model.pt").write_bytes(checkpoint.read_bytes())
    (study / "reports" / "long" / "per_box" / "alpha").mkdir(parents=True)
    (study / "reports" / "long" / "per_box" / "alpha" / "calibration.json").write_text(
        json.dumps({"seed1": {"err_scale": 1.5, "observed_px": 3.0, "expected_px": 2.0}})
    )
    assert snap_lab.fitted_err_scale("runs/long/alpha/seed1/model.pt") == 1.5
    assert snap_lab.fitted_err_scale("runs/alpha/seed0/model.pt") is None  # the default tier calibrates nothing
    session = snap_lab.SnapSession(
        {"long/alpha/seed1": "runs/long/alpha/seed1/model.pt", "alpha": "runs/alpha/seed0/model.pt"}
    )
    assert session.model("long/alpha/seed1").err_scale == 1.5 and session.model("alpha").err_scale == 1.0


def test_without_models_it_says_which_command_trains_them(tmp_path, monkeypatch):
    """A fresh clone offers the shipped model; an installation without it says how to train one."""
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"rows": {"l4": {}}, "study": {"baseline": "l4"}}))
    assert snap_lab.trained_models(tmp_path / "params.yaml", tmp_path / "runs") == {"shipped": snap_lab.SHIPPED}
    monkeypatch.setattr(snap_lab, "SHIPPED", tmp_path / "gone.pt")
    assert snap_lab.trained_models(tmp_path / "params.yaml", tmp_path / "runs") == {}
    message = snap_lab.no_models_message(tmp_path / "params.yaml")
    assert "`dvc repro` (= `make repro`)" in message and "dvc repro train@l4" in message


def test_history_accepts_and_undoes():
    h = snap_lab.History()
    boxes = [{"x": 1, "y": 2, "width": 10, "height": 20, "label": "object"}, {"x": 5, "y": 5, "width": 5, "height": 5}]
    after = h.accept(boxes, 0, [1.5, 2.5, 11.0, 21.0], "l4")
    assert (
        after[0]
        == {
            "x": 1.5,
            "y": 2.5,
            "width": 9.5,
            "height": 18.5,
            "label": "object",
            "snapped_by": "l4",
            "rough": [1, 2, 10, 20],
        }
        and after[1] == boxes[1]
    )
    assert h.undo(after) == boxes
    assert h.undo(boxes) is None, "nothing left to undo"
    after = h.accept(boxes, 1, [6, 6, 9, 9], "fpn")
    assert h.undo([after[0]]) is None, "the accepted box was deleted since"


def test_close_ups_draw_each_edge_by_the_review_rule_on_err_px():
    image = Image.new("RGB", (200, 100), (90, 90, 90))
    # a 100 x 60 snapped box: 5% of its height is 3 px, of its width 5 px
    snaps = {
        "a": {"box": [50, 20, 150, 80], "err_px": [0.5, 9.0, 0.5, 0.5], "confidence": [0.9, 0.2, 0.9, 0.9]},
        "b": {"box": [50, 20, 150, 80], "err_px": [0.5] * 4, "confidence": [0.9] * 4},
    }
    red = lambda a: (np.abs(a.astype(int) - snap_draw.UNSURE).sum(-1) == 0).sum()  # noqa: E731
    green = lambda a: (np.abs(a.astype(int) - snap_draw.SURE).sum(-1) == 0).sum()  # noqa: E731
    for rule in (3.0, ReviewRule(max_err_frac=0.05)):
        sheet = np.asarray(snap_draw.render(image, [45, 15, 155, 85], snaps, rule))
        half = sheet.shape[1] // 2
        assert red(sheet[:, :half]) > 100 and green(sheet[:, :half]) > 100, "a: one unsure edge, three sure"
        assert red(sheet[:, half:]) == 0 and green(sheet[:, half:]) > 100, "b: every edge sure"
    table = snap_draw.table_html([45, 15, 155, 85], snaps, ReviewRule(max_err_frac=0.05))
    assert 'class="bbadj-snap-table"' in table and table.count("<tr>") == 4
    assert (
        "<td>a</td><td>unsure (bottom: err_px 9 &gt; 0.05 x height 60 = 3 px)</td>" in table
        and "<td>b</td><td>snapped</td>" in table
    )
    assert "<td>9.0</td>" in table and "<td>0.150</td>" in table, "err_px, and err_px / side: 9 / 60"
    assert "conf" not in table and "0.90" not in table, "the crop-unit confidence is not shown"
    # the same edge by the probability rule: P(|e| < 3) = 1 - exp(-3 / 9) = 0.2835
    assert (
        snap_draw.verdict(snaps["a"], ReviewRule(min_p=0.5))
        == "unsure (bottom: P(|error| < 3 px) 0.2835 < 0.5 (err_px 9))"
    )


def test_draw_snap_accept_undo_through_the_widgets(checkpoint):
    lab = snap_lab.SnapLab({"l4": checkpoint}, PHOTO, photos=[PHOTO])
    assert lab.session.rule == ReviewRule(max_err_frac=0.05), "the notebook's default rule"
    assert lab.draw.image_bytes == PHOTO.read_bytes()
    rough = {"x": 300, "y": 150, "width": 260, "height": 100, "label": "object"}  # sticks out: clipped to 500
    lab.draw.bboxes = [rough]  # what the widget sends when a box is drawn
    index, clipped, snaps = lab.current
    assert (index, clipped) == (0, [300.0, 150.0, 500.0, 250.0]) and list(snaps) == ["l4"]
    assert lab.preview.value[:8] == b"\x89PNG\r\n\x1a\n" and "bbadj-snap-table" in lab.table.value
    snapped = snaps["l4"]["box"]

    lab.accept()
    assert lab.draw.bboxes[0]["snapped_by"] == "l4" and lab.draw.bboxes[0]["x"] == snapped[0]
    assert lab.accepted() == lab.draw.bboxes and "accepted from" in lab.status.value
    lab.undo()
    assert lab.draw.bboxes == [rough] and lab.accepted() == [] and "Undone" in lab.status.value

    lab.draw.bboxes = [rough, {"x": 1, "y": 1, "width": 1, "height": 1, "label": "object"}]  # a click, no drag
    assert lab.current[0] == 0, "nothing to snap in a 1 x 1 box"
    lab.set_image(PHOTO)
    assert lab.draw.bboxes == [] and lab.current is None
