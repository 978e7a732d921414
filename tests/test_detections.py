"""Refining a detector's boxes (bbadj.scoring.detections, `bbadj evaluate --detections`): the matching rule
on hand-made cases, exact counts and metrics on detections made from coco128's val ground truth,
and the adjusted row end to end with a tiny untrained model."""

import csv
import json
import math

import numpy as np
import pytest
from conftest import COCO128
from test_layering import graph, layer, reachable

import bbadj
from bbadj.cli.main import main
from bbadj.core.config import Config
from bbadj.data.coco import DataError, load_coco
from bbadj.data.dataset import load_boxes
from bbadj.scoring.detections import (
    DEFAULT_IOU_THRESHOLD,
    DEFAULT_SCORE_THRESHOLD,
    evaluate_detections,
    load_detections,
    match_detections,
    read_labels,
    score_matching,
)
from bbadj.scoring.metrics import METRIC_KEYS, per_box_errors, summarize

VAL_ANN = COCO128 / "annotations" / "val.json"
IMAGES = COCO128 / "images"


def write_json(path, obj):
    path.write_text(json.dumps(obj))
    return path


def det(image_id, category_id, box, score):
    """A COCO results entry from an x0 y0 x1 y1 box."""
    x0, y0, x1, y1 = box
    return {"image_id": image_id, "category_id": category_id, "bbox": [x0, y0, x1 - x0, y1 - y0], "score": score}


# --- the rule, on hand-made cases ------------------------------------------------------------


@pytest.fixture
def hand_made(tmp_path):
    """Four 100x100 images; image 3 holds only a crowd box. Categories 1, 2 (and 3, unused)."""

    def ann(aid, iid, cat, box, crowd=0):
        x0, y0, x1, y1 = box
        return {"id": aid, "image_id": iid, "category_id": cat, "bbox": [x0, y0, x1 - x0, y1 - y0], "iscrowd": crowd}

    images = [{"id": i, "file_name": f"{i}.jpg", "width": 100, "height": 100} for i in (1, 2, 3, 4)]
    anns = [
        ann(10, 1, 1, [0, 0, 10, 10]),
        ann(11, 1, 1, [50, 50, 70, 70]),
        ann(12, 1, 2, [0, 0, 10, 10]),
        ann(20, 2, 1, [20, 20, 40, 40]),
        ann(30, 3, 1, [0, 0, 50, 50], crowd=1),
        ann(40, 4, 1, [0, 0, 10, 10]),
        ann(41, 4, 1, [5, 0, 15, 10]),
    ]
    path = write_json(
        tmp_path / "ann.json", {"images": images, "annotations": anns, "categories": [{"id": c} for c in (1, 2, 3)]}
    )
    detections = [
        det(1, 1, [0, 0, 10, 10], 0.9),  # 0: the exact box, but 1 has the higher score and takes ann 10
        det(1, 1, [0, 0, 10, 11], 0.95),  # 1: -> ann 10 (IoU 0.909)
        det(1, 2, [50, 50, 70, 70], 0.8),  # 2: on ann 11's box, but of category 2: unmatched
        det(1, 1, [50, 50, 70, 90], 0.5),  # 3: IoU exactly 0.5 with ann 11: matched
        det(2, 1, [20, 20, 40, 60.01], 0.7),  # 4: IoU just under 0.5 with ann 20: unmatched, ann 20 missed
        det(1, 1, [50, 50, 70, 70], 0.1),  # 5: below the score threshold 0.2: skipped, not matched
        det(3, 1, [0, 0, 50, 50], 0.9),  # 6: on the crowd box, which is not matchable
        det(1, 99, [0, 0, 10, 10], 0.9),  # 7: a category the annotations do not have: skipped
        det(4, 1, [3, 0, 13, 10], 0.9),  # 8: IoU 0.54 with ann 40, 0.67 with ann 41 -> ann 41
        det(4, 1, [3, 0, 13, 10], 0.8),  # 9: ann 41 taken -> ann 40, its next best above 0.5
    ]
    return path, write_json(tmp_path / "results.json", detections)


def pairs(matching):
    """(ann id, index in the results file) of each matched pair."""
    ann_ids = np.concatenate([r.ann_ids for r in matching.coco.images])
    return [(int(a), int(matching.detections.index[r])) for a, r in zip(ann_ids, matching.rows)]


def test_matching_is_greedy_by_score_per_category_and_takes_each_truth_once(hand_made):
    ann, results = hand_made
    coco = load_coco(ann, ann.parent, check_files=False, verbose=False)
    labels = read_labels(ann)
    m = match_detections(load_detections(results, labels, score_threshold=0.2), coco, labels)
    assert pairs(m) == [(10, 1), (11, 3), (40, 9), (41, 8)]  # the ground truth's order
    assert m.iou.tolist() == pytest.approx([100 / 110, 0.5, 70 / 130, 80 / 120])
    c = m.counts
    assert c["skipped"] == {"category not in the annotations": 1, "score below 0.2": 1}
    assert (c["detections_read"], c["detections_kept"], c["matched"], c["unmatched_detections"]) == (10, 8, 4, 4)
    assert (c["gt_boxes"], c["missed_gt"], c["gt_skipped"]) == (
        6,
        2,
        {"crowd": 1, "images without usable boxes": 1},
    )  # missed: 12, 20
    assert (c["iou_threshold"], c["score_threshold"]) == (0.5, 0.2)


def test_the_iou_threshold_is_inclusive_and_configurable(hand_made):
    ann, results = hand_made
    coco = load_coco(ann, ann.parent, check_files=False, verbose=False)
    labels = read_labels(ann)
    dets = load_detections(results, labels, score_threshold=0.2)
    assert (11, 3) in pairs(match_detections(dets, coco, labels, iou_threshold=0.5))
    strict = match_detections(dets, coco, labels, iou_threshold=0.6)
    assert pairs(strict) == [(10, 1), (41, 8)]  # 0.5 and 0.54 no longer match
    assert (strict.counts["matched"], strict.counts["unmatched_detections"], strict.counts["missed_gt"]) == (2, 6, 4)
    with pytest.raises(ValueError, match="iou_threshold"):
        match_detections(dets, coco, labels, iou_threshold=0.0)


def test_low_scores_are_skipped_only_below_the_threshold_and_crowds_follow_load_coco(hand_made):
    ann, results = hand_made
    labels = read_labels(ann)
    dets = load_detections(results, labels)  # the default threshold, 0: detection 5 is kept
    assert DEFAULT_SCORE_THRESHOLD == 0.0 and dets.skipped == {"category not in the annotations": 1}
    with_crowd = load_coco(ann, ann.parent, skip_crowd=False, check_files=False, verbose=False)
    m = match_detections(dets, with_crowd, labels)
    assert (30, 6) in pairs(m)  # a crowd box load_coco keeps is matchable
    assert (11, 3) in pairs(m)  # detection 5 (score 0.1) comes after 3 (0.5): ann 11 stays with 3
    assert m.counts["unmatched_detections"] == 4  # 0, 2, 4 and 5


# --- detections made from coco128's val ground truth -------------------------------------------


@pytest.fixture(scope="module")
def val():
    return load_boxes(VAL_ANN, IMAGES, Config().data, verbose=False)


def perturbed(coco, seed=0, drop_every=10):
    """A results file made from the ground truth: each kept box's edges moved by up to 5% of its
    size; every ``drop_every``-th box dropped (half of those come back with a score of 0.01); one
    false positive, of a category the image does not have, on each of the first 8 images.
    Returns (entries, {ann id: (entry index, x0 y0 x1 y1)}, dropped, false positives, low scores)."""
    rng = np.random.default_rng(seed)
    labels = read_labels(coco.source)
    entries, expected, dropped, n_fp, n_low = [], {}, 0, 0, 0
    k = 0
    for i, rec in enumerate(coco.images):
        for aid, box in zip(rec.ann_ids, rec.boxes):
            cat = labels.category_of[int(aid)]
            size = np.tile(box[2:] - box[:2], 2)
            moved = box + rng.uniform(-0.05, 0.05, 4) * size
            if k % drop_every == 0:
                dropped += 1
                if k % (2 * drop_every) == 0:
                    entries.append(det(rec.image_id, cat, moved, 0.01))
                    n_low += 1
            else:
                expected[int(aid)] = (len(entries), moved)
                entries.append(det(rec.image_id, cat, moved, float(rng.uniform(0.1, 1.0))))
            k += 1
        if i < 8:
            present = {labels.category_of[int(a)] for a in rec.ann_ids}
            other = min(labels.category_ids - present)
            entries.append(det(rec.image_id, other, [0, 0, rec.width / 2, rec.height / 2], 0.99))
            n_fp += 1
    return entries, expected, dropped, n_fp, n_low


def test_perturbed_ground_truth_matches_its_own_boxes_with_exact_counts_and_metrics(val, tmp_path):
    entries, expected, dropped, n_fp, n_low = perturbed(val)
    results = write_json(tmp_path / "results.json", entries)
    labels = read_labels(VAL_ANN)
    m = match_detections(load_detections(results, labels, score_threshold=0.05), val, labels)
    assert dict(pairs(m)) == {aid: index for aid, (index, _) in expected.items()}  # each its own truth
    c = m.counts
    assert c["detections_read"] == len(entries) == len(expected) + n_fp + n_low
    assert c["skipped"] == {"score below 0.05": n_low}
    assert (c["matched"], c["unmatched_detections"], c["missed_gt"]) == (len(expected), n_fp, dropped)
    assert c["gt_boxes"] == val.n_boxes == 294 and dropped == 30

    result = score_matching(m, Config(), progress=False)
    assert set(result) == {"matching", "detector"}  # no model: no adjusted row
    truth = {int(a): b for r in val.images for a, b in zip(r.ann_ids, r.boxes)}
    aids = sorted(expected)  # another order than the matching's: the metrics are means
    direct = summarize(per_box_errors(np.array([expected[a][1] for a in aids]), np.array([truth[a] for a in aids])))
    assert result["detector"]["n_boxes"] == len(expected)
    for key in METRIC_KEYS:
        assert result["detector"][key] == pytest.approx(direct[key], abs=1e-12), key
    assert 0.6 < result["detector"]["miou"] < 0.99  # the perturbation is there


def test_the_ground_truth_as_detections_scores_perfectly(val, tmp_path):
    labels = read_labels(VAL_ANN)
    entries = [
        det(r.image_id, labels.category_of[int(a)], b, 0.5) for r in val.images for a, b in zip(r.ann_ids, r.boxes)
    ]
    result = evaluate_detections(write_json(tmp_path / "gt.json", entries), val, Config(), progress=False)
    assert result["matching"]["matched"] == 294 and result["matching"]["unmatched_detections"] == 0
    for key in METRIC_KEYS:
        assert result["detector"][key] == pytest.approx(1.0, abs=1e-12), key


# --- the adjusted row and the command line ----------------------------------------------------


def test_cli_scores_the_detector_and_its_adjustment(val, checkpoint, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the code's defaults, not the study's params.yaml
    entries = perturbed(val)[0]
    first = {r.image_id for r in val.images[:3]}  # a few images keep the untrained forward short
    entries = [e for e in entries if e["image_id"] in first]
    results = write_json(tmp_path / "results.json", entries)
    base = [
        "evaluate",
        "--detections",
        str(results),
        "--annotations",
        str(VAL_ANN),
        "--images",
        str(IMAGES),
        "--no-progress",
    ]
    assert main(base + ["--checkpoint", str(checkpoint), "--out", "m.json", "--per-box", "pb.csv"]) == 0
    out = json.loads((tmp_path / "m.json").read_text())
    assert json.dumps(out, indent=2) in capsys.readouterr().out  # printed too
    assert set(out) == {"matching", "detector", "adjusted"}
    n = out["matching"]["matched"]
    # at the default score threshold (0) the 0.01 copies of dropped boxes are kept, and match them:
    # every detection but the 3 false positives finds its own true box
    assert (n, out["matching"]["unmatched_detections"], out["matching"]["skipped"]) == (len(entries) - 3, 3, {})
    assert (out["matching"]["iou_threshold"], out["matching"]["score_threshold"]) == (0.5, 0.0)
    for row in ("detector", "adjusted"):
        assert set(out[row]) == {"n_boxes", *METRIC_KEYS} and out[row]["n_boxes"] == n
        assert all(0.0 <= out[row][k] <= 1.0 for k in METRIC_KEYS), out[row]

    with open(tmp_path / "pb.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == n
    assert all(math.isfinite(float(r[k])) for r in rows for k in ("adj_x0", "adj_y1", "conf_top", "adj_iou"))
    # the model's rough box is the detector's: the same boxes as bbadj.adjust from those boxes
    rec = val.images[0]
    mine = [r for r in rows if int(r["image_id"]) == rec.image_id]
    ref = bbadj.adjust(
        rec.path, [[float(r[f"det_{c}"]) for c in ("x0", "y0", "x1", "y1")] for r in mine], bbadj.load_model(checkpoint)
    )
    got = np.array([[float(r[f"adj_{c}"]) for c in ("x0", "y0", "x1", "y1")] for r in mine])
    assert np.allclose(got, ref["boxes"], atol=2e-3)

    assert main(base + ["--identity", "--out", "i.json", "--iou-threshold", "0.7"]) == 0
    ident = json.loads((tmp_path / "i.json").read_text())
    assert set(ident) == {"matching", "detector"}  # --identity: the detector's boxes only
    assert ident["matching"]["iou_threshold"] == 0.7 and ident["matching"]["matched"] <= n


def test_cli_rejects_options_of_the_other_mode(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = ["evaluate", "--identity", "--annotations", str(VAL_ANN), "--images", str(IMAGES), "--out", "x.json"]
    with pytest.raises(SystemExit, match="--repeats and --seed"):
        main(base + ["--detections", "r.json", "--repeats", "2"])
    with pytest.raises(SystemExit, match="go with --detections"):
        main(base + ["--iou-threshold", "0.7"])
    with pytest.raises(SystemExit, match=r"must be in \(0, 1\]"):
        main(base + ["--detections", "r.json", "--iou-threshold", "1.5"])
    assert not (tmp_path / "x.json").exists()


def test_the_cli_help_states_the_default_thresholds(capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"(default: {DEFAULT_IOU_THRESHOLD})" in text and f"(default: {DEFAULT_SCORE_THRESHOLD}, keep all)" in text


# --- bad input ------------------------------------------------------------------------------

GOOD = {"image_id": 25, "category_id": 25, "bbox": [1, 2, 30, 40], "score": 0.5}


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"image_id": 25, "category_id": 25, "bbox": [1, 2, 30, 40]}, r"entry 1 \(image id 25\) has no 'score'"),
        ({**GOOD, "bbox": [1, 2, float("nan"), 40]}, r"entry 1 \(image id 25\) has a non-finite bbox"),
        ({**GOOD, "score": float("inf")}, r"entry 1 \(image id 25\) has a non-finite bbox or score"),
        ({**GOOD, "bbox": [1, 2, -3, 40]}, r"entry 1 \(image id 25\) has a negative size bbox"),
        ({**GOOD, "bbox": [1, 2, 3]}, r"entry 1 \(image id 25\): ids must be integers, bbox 4 numbers"),
        ({**GOOD, "image_id": 123456}, r"entry 1 refers to image id 123456, which is not in .*val.json"),
        ([1, 2, 3, 4], r"entry 1 is not an object"),
        # what int() and float() would take (issue 17's probe): a string bbox, a fractional id, a boolean score
        ({**GOOD, "bbox": "1234"}, r"entry 1 \(image id 25\): ids must be integers.*; bbox is '1234'"),
        ({**GOOD, "image_id": 25.7}, r"entry 1 \(image id 25.7\): ids must be integers.*; image_id is 25.7"),
        ({**GOOD, "score": True}, r"entry 1 \(image id 25\): ids must be integers.*; score is True"),
        ({**GOOD, "category_id": "25"}, r"entry 1 \(image id 25\): ids must be integers.*; category_id is '25'"),
    ],
)
def test_bad_entries_stop_with_an_error_naming_the_file_and_entry(tmp_path, bad, message):
    path = tmp_path / "bad_results.json"
    path.write_text(json.dumps([GOOD, bad]))  # NaN and Infinity as Python's json writes and reads them
    with pytest.raises(DataError, match=f"bad_results.json: {message}"):
        load_detections(path, read_labels(VAL_ANN))


def test_bad_files_stop_with_an_error_naming_them(val, tmp_path, monkeypatch, capsys):
    labels = read_labels(VAL_ANN)
    with pytest.raises(DataError, match=r"coco.json: not a COCO results file .* got a JSON dict"):
        load_detections(write_json(tmp_path / "coco.json", {"annotations": []}), labels)
    with pytest.raises(FileNotFoundError, match="detections file not found: .*none.json"):
        load_detections(tmp_path / "none.json", labels)
    far = write_json(tmp_path / "far.json", [{**GOOD, "bbox": [600, 400, 5, 5]}])
    with pytest.raises(
        DataError, match=r"far.json: no detection matched a ground-truth box of .*val.json at IoU >= 0.5"
    ):
        evaluate_detections(far, val, Config(), progress=False)
    monkeypatch.chdir(tmp_path)
    assert (
        main(
            [
                "evaluate",
                "--identity",
                "--detections",
                str(far),
                "--annotations",
                str(VAL_ANN),
                "--images",
                str(IMAGES),
                "--out",
                "x.json",
            ]
        )
        == 2
    )
    assert "far.json: no detection matched" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_detections_imports_neither_the_study_nor_the_command_line():
    g = graph()
    reached = reachable("bbadj.scoring.detections", g)
    assert "bbadj.snap.adjust" in reached  # the adjustment is the product's (bbadj snap's), not a copy
    assert not [m for m in reached if layer(m) > layer("bbadj.scoring.detections")]
