"""The hold (bbadj/snap/hold.py, ``bbadj snap --hold``): an edge the model moves by no more than
hold x its err_px stays exactly where the input box had it; one moved further moves; hold 0 or
None changes nothing; and the setting reaches bbadj snap's output, its summary and its journal's
settings."""

import json

import numpy as np
import pytest
from conftest import COCO128_IMAGES
from test_snap import val_subset

from bbadj.cli.main import main
from bbadj.core.box_ops import EDGES
from bbadj.snap.file import HOLD, HOLD_MODE, SnapSettings
from bbadj.snap.hold import held_names, hold_edges
from bbadj.util.errors import ConfigError

ROUGH = np.array([[10.0, 20.0, 110.0, 220.0]])  # x0, y0, x1, y1
# moves: left 2 px, top 0.5 px, right 20 px, bottom 20 px
SNAPPED = np.array([[12.0, 20.5, 130.0, 200.0]])


def test_an_edge_moved_within_hold_times_its_err_px_stays_exactly():
    err = np.array([[1.0, 1.0, 1.0, 1.0]])  # EDGES order: top, bottom, left, right
    boxes, held = hold_edges(ROUGH, SNAPPED, err, 1.0)
    assert boxes.tolist() == [[12.0, 20.0, 130.0, 200.0]], "top (0.5 <= 1 x 1) stays; left (2 > 1) moves"
    assert held_names(held[0]) == ["top"]
    boxes, held = hold_edges(ROUGH, SNAPPED, np.array([[1.0, 1.0, 3.0, 1.0]]), 1.0)
    assert boxes.tolist() == [[10.0, 20.0, 130.0, 200.0]] and held_names(held[0]) == ["top", "left"]
    boxes, held = hold_edges(ROUGH, SNAPPED, err, 0.4)
    assert boxes.tolist() == SNAPPED.tolist() and not held.any(), "0.5 > 0.4 x 1: every edge moves"
    boxes, held = hold_edges(ROUGH, SNAPPED, err, 100.0)
    assert boxes.tolist() == ROUGH.tolist() and held.all()


def test_shrink_holds_the_same_edges_and_moves_the_others_by_the_excess():
    boxes, held = hold_edges(ROUGH, SNAPPED, np.ones((1, 4)), 1.0, "shrink")
    # top 0.5 <= 1: held; left +2 -> +1; right +20 -> +19; bottom -20 -> -19
    assert boxes.tolist() == [[11.0, 20.0, 129.0, 201.0]] and held_names(held[0]) == ["top"]
    boxes, held = hold_edges(ROUGH, SNAPPED, [[np.nan, 1.0, 1.0, 1.0]], 1.0, "shrink")
    assert boxes[0, 1] == 20.5 and not held[0, 0], "no err_px: the model's edge as it is"
    with pytest.raises(ConfigError, match="hold_mode"):
        hold_edges(ROUGH, SNAPPED, np.ones((1, 4)), 1.0, "soft")


@pytest.mark.parametrize("hold", [None, 0, 0.0])
@pytest.mark.parametrize("mode", ["hold", "shrink"])
def test_hold_off_changes_nothing(hold, mode):
    boxes, held = hold_edges(ROUGH, SNAPPED, np.full((1, 4), 1e9), hold, mode)
    assert boxes.tolist() == SNAPPED.tolist() and held.shape == (1, 4) and not held.any()


def test_a_box_is_never_turned_inside_out_and_nan_is_never_held():
    # the left edge moves past the right one, which alone would be held: that axis takes the model's edges
    boxes, held = hold_edges([[0.0, 0.0, 10.0, 10.0]], [[12.0, 0.0, 20.0, 10.0]], [[1.0, 1.0, 1.0, 50.0]], 1.0)
    assert boxes.tolist() == [[12.0, 0.0, 20.0, 10.0]]
    assert held_names(held[0]) == ["top", "bottom"], "the x axis is the model's; y did not move"
    boxes, held = hold_edges(ROUGH, SNAPPED, [[np.nan, 1.0, 1.0, 1.0]], 1.0)
    assert boxes[0, 1] == 20.5 and not held[0, 0]


def test_a_bad_hold_is_named():
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ConfigError, match="hold"):
            hold_edges(ROUGH, SNAPPED, np.ones((1, 4)), bad)
        with pytest.raises(ConfigError, match="hold"):
            SnapSettings(hold=bad)
    with pytest.raises(ValueError, match="alike"):
        hold_edges(ROUGH, SNAPPED, np.ones((2, 4)), 1.0)


def test_the_default_is_documented():
    assert (SnapSettings().hold, SnapSettings().hold_mode) == (HOLD, HOLD_MODE)
    from pathlib import Path

    doc = (Path(__file__).parents[1] / "docs" / "snap.md").read_text()
    assert f"`--hold {HOLD:g} --hold-mode {HOLD_MODE}`" in doc


def snap(checkpoint, src, out, hold, capsys):
    argv = ["snap", "--annotations", str(src), "--images", str(COCO128_IMAGES), "--checkpoint", str(checkpoint)]
    assert main([*argv, "--out", str(out), "--hold", str(hold), "--no-progress"]) == 0
    return json.loads(out.read_text()), capsys.readouterr().out


def test_the_hold_reaches_snaps_output_and_summary(checkpoint, tmp_path, capsys):
    src = val_subset(tmp_path / "ann.json")
    boxes_in = {a["id"]: a["bbox"] for a in json.loads(src.read_text())["annotations"]}
    doc, printed = snap(checkpoint, src, tmp_path / "off.json", 0, capsys)
    changed = [a for a in doc["annotations"] if a["snap"]["status"] == "changed"]
    assert changed and doc["snap"]["held_edges"] == 0 and doc["snap"]["settings"]["hold"] == 0
    assert all(a["snap"]["held"] == [] and a["bbox"] == a["snap"]["bbox_snapped"] for a in changed)
    assert any(a["bbox"] != boxes_in[a["id"]] for a in changed), "the untrained model moves boxes"
    assert "edges held" not in printed

    doc, printed = snap(checkpoint, src, tmp_path / "all.json", 1e9, capsys)
    changed = [a for a in doc["annotations"] if a["snap"]["status"] == "changed"]
    assert doc["snap"]["held_edges"] == 4 * len(changed) and doc["snap"]["settings"]["hold"] == 1e9
    assert doc["snap"]["settings"]["hold_mode"] == HOLD_MODE and doc["snap"]["hold_rule"].startswith("an edge moved")
    for a in changed:
        assert a["snap"]["held"] == list(EDGES)
        assert a["bbox"] == pytest.approx(boxes_in[a["id"]], abs=1e-9), "every edge held: the box as it came"
    assert f"{4 * len(changed)} edges of the changed boxes held" in printed
