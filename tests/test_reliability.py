"""Files that cannot be turned against their user (issue 31): each case of the issue kept as a test.
No code runs from a checkpoint, no file is lost to a name clash or a second run, nothing is read
outside --images, and every bad input ends in exit 2 naming the file, image, annotation or key.

Cases kept elsewhere, exactly as the issue states them (not repeated here):
- an object replaced on the DVC remote is refused when pulled (31.1, ``verify = true``):
  tests/test_dvc_share.py::test_a_replaced_object_on_the_remote_is_refused_with_verify
- a damaged checkpoint file (cut short, another format) is named:
  tests/test_inference.py::test_a_damaged_checkpoint_file_is_named
- a file name from another machine is found inside --images by its trailing folders, counted and
  named; a name outside the folder that is not there is "looked for only inside it":
  tests/test_coco_and_bad_inputs.py::test_file_names_from_another_machine_are_found_by_their_trailing_folders
- --out never replaces a file snap did not write (the checkpoint, an image, another JSON):
  tests/test_snap_trust.py::test_out_never_replaces_a_file_snap_did_not_write
- a killed snap resumes to the same bytes, and a journal of another run is not used:
  tests/test_snap.py::test_a_killed_run_rerun_gives_the_same_bytes
- a training image replaced in place starts the run over (its contents are in the fingerprint):
  tests/test_fingerprint.py::test_a_replaced_image_starts_over
- two `bbadj train` on one --out: tests/test_engine.py::test_a_second_run_into_the_same_directory_stops
- Ctrl-C of a stage (`dvc repro`): tests/test_stage.py::test_a_signal_stops_the_stage_within_seconds

The other probes of the issue's "60 that hold" live in the test files of their modules
(tests/test_coco_and_bad_inputs.py, tests/test_outputs.py, tests/test_snap*.py, ...).
"""

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from conftest import BIN, COCO128_ANN, COCO128_IMAGES, ROOT

import bbadj
from bbadj.cli.main import main
from bbadj.model.checkpoint import init_weights, load_model, read_checkpoint
from bbadj.snap.file import JOURNAL_SUFFIX, SnapSettings, snap_file
from bbadj.snap.sealed import is_unchanged
from bbadj.util.errors import DataError

PHOTO = "000000000077.jpg"  # 500 x 375


@pytest.fixture(scope="module")
def model(checkpoint):
    return bbadj.load_model(checkpoint)


def box(aid, bbox, image_id=77):
    return {"id": aid, "image_id": image_id, "category_id": 1, "bbox": bbox, "area": bbox[2] * bbox[3], "iscrowd": 0}


BOXES = [box(1, [216, 56, 103, 119]), box(2, [321, 54, 95, 97]), box(3, [25, 168, 97, 165])]


def write(path, annotations=BOXES, images=None):
    images = images or [{"id": 77, "file_name": PHOTO, "width": 500, "height": 375}]
    path.write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "thing"}]})
    )
    return path


def snap_cli(capsys, *args):
    code = main(["snap", *map(str, args), "--no-progress"])
    return code, capsys.readouterr()


def files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


# 31.1 -- a checkpoint runs no code it carries


class Payload:
    """What a pickled checkpoint can carry: unpickling it calls ``open(marker, "w")``, which
    makes the marker file (a real attack would run anything else the same way)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def carrying_code(checkpoint, path: Path, marker: Path) -> Path:
    ckpt = torch.load(checkpoint, weights_only=True)
    torch.save({**ckpt, "note": Payload(marker)}, path)
    return path


def test_a_checkpoint_carrying_code_is_refused_unread(checkpoint, tmp_path, capsys):
    # the payload is real: loaded the unsafe way, it runs
    probe = carrying_code(checkpoint, tmp_path / "probe.pt", tmp_path / "probe-ran")
    torch.load(probe, weights_only=False)
    assert (tmp_path / "probe-ran").exists()

    marker = tmp_path / "payload-ran"
    evil = carrying_code(checkpoint, tmp_path / "model.pt", marker)
    for read in (
        lambda: read_checkpoint(evil),
        lambda: load_model(evil),
        lambda: init_weights(load_model(checkpoint), evil),
    ):  # bbadj snap / evaluate; model.init_from
        with pytest.raises(DataError, match=rf"{re.escape(str(evil))}: refused: .*can run code"):
            read()
    assert not marker.exists()

    src = write(tmp_path / "a.json")
    code, io = snap_cli(capsys, "--annotations", src, "--images", COCO128_IMAGES, "--checkpoint", evil)
    assert code == 2 and f"bbadj snap: error: {evil}: refused" in io.err, io.err
    assert "weights_only=False" not in io.err, "never torch's advice to load it unsafely"
    assert not marker.exists() and not (tmp_path / "a.snapped.json").exists()


def test_every_torch_load_in_the_package_is_weights_only():
    """bbadj's own reads (checkpoints, pretrained backbones, calibration, the notebooks' helpers):
    every ``torch.load`` call says ``weights_only=True``."""
    calls = []
    for path in sorted((ROOT / "bbadj").rglob("*.py")):
        text = path.read_text()
        for m in re.finditer(r"torch\.load\(", text):
            depth, end = 1, m.end()
            while depth:
                depth += {"(": 1, ")": -1}.get(text[end], 0)
                end += 1
            calls.append((path.relative_to(ROOT), text[m.start() : end]))
    assert calls, "no torch.load found: the search is broken"
    unsafe = [(p, c) for p, c in calls if not re.search(r"weights_only\s*=\s*True", c)]
    assert not unsafe, unsafe


# 31.2 -- two snaps writing one --out


def half_of_coco128(path: Path) -> Path:
    """coco128's first 64 images and their boxes (about 450; seconds of work for the tiny model)."""
    doc = json.loads(COCO128_ANN.read_text())
    doc["images"] = sorted(doc["images"], key=lambda im: im["id"])[:64]
    ids = {im["id"] for im in doc["images"]}
    doc["annotations"] = [a for a in doc["annotations"] if a["image_id"] in ids]
    path.write_text(json.dumps(doc))
    return path


def test_two_snaps_on_one_out_at_once(model, tmp_path):
    """Two `bbadj snap` processes started together on one --out (about 450 boxes, seconds of work): one
    writes, the other stops at once naming the output; at every moment the output is whole JSON
    (the earlier output, until the new one replaces it)."""
    out = tmp_path / "out.json"
    snap_file(write(tmp_path / "small.json"), COCO128_IMAGES, model, out, progress=False)
    earlier = out.read_bytes()
    big = half_of_coco128(tmp_path / "big.json")
    cmd = [
        str(BIN / "bbadj"),
        "snap",
        "--annotations",
        str(big),
        "--images",
        str(COCO128_IMAGES),
        "--checkpoint",
        str(model.checkpoint),
        "--out",
        str(out),
        "--no-progress",
    ]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    seen = set()
    try:
        deadline = time.time() + 300
        while any(p.poll() is None for p in procs) and time.time() < deadline:
            data = out.read_bytes()
            json.loads(data)  # never a broken or empty file
            seen.add("earlier" if data == earlier else "new")
            time.sleep(0.05)
    finally:
        results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    codes = sorted(r[0] for r in results)
    assert codes == [0, 2], results
    refused = next(r for r in results if r[0] == 2)[2]
    assert f"{out} is being written by another bbadj snap now" in refused and "Traceback" not in refused
    assert "earlier" in seen, "the earlier output stayed until the new one was whole"
    doc = json.loads(out.read_text())
    assert doc["annotations"] and len(doc["annotations"]) == len(json.loads(big.read_text())["annotations"])
    assert is_unchanged(out) is True
    assert files(tmp_path) == {"small.json", "big.json", "out.json", "out.review.json"}, (
        "no journal or temporary file left"
    )


# 31.3 -- a name clash deletes nothing


def test_names_that_clash_with_temporary_names_lose_nothing(checkpoint, tmp_path, capsys):
    common = ["--images", COCO128_IMAGES, "--checkpoint", checkpoint]
    # the input is named as the output's old temporary file
    src = write(tmp_path / "r.json.tmp")
    before = src.read_bytes()
    code, io = snap_cli(capsys, "--annotations", src, "--out", tmp_path / "r.json", *common)
    assert code == 0, io.err
    assert src.read_bytes() == before and json.loads((tmp_path / "r.json").read_text())["snap"]["boxes"] == 3
    # the input is named as the review file's old temporary file
    src = write(tmp_path / "rv.json.tmp")
    before = src.read_bytes()
    code, io = snap_cli(capsys, "--annotations", src, "--review", tmp_path / "rv.json", *common)
    assert code == 0, io.err
    assert src.read_bytes() == before and "kept" in json.loads((tmp_path / "rv.json").read_text())
    # someone's file that happens to have the name of the default output's old temporary file
    notes = tmp_path / "ann.snapped.json.tmp"
    notes.write_text("my notes\n")
    code, io = snap_cli(capsys, "--annotations", write(tmp_path / "ann.json"), *common)
    assert code == 0, io.err
    assert notes.read_text() == "my notes\n"
    assert files(tmp_path) == {
        "r.json.tmp",
        "r.json",
        "r.review.json",
        "rv.json.tmp",
        "rv.json.snapped.tmp",
        "rv.json",
        "ann.json",
        "ann.snapped.json",
        "ann.snapped.review.json",
        "ann.snapped.json.tmp",
    }


# 31.4 -- a hand-edited output is kept


def hand_edit(path: Path) -> bytes:
    doc = json.loads(path.read_text())
    target = doc["annotations"] if isinstance(doc, dict) else doc
    target[0]["bbox"] = [1, 2, 3, 4]  # a person fixed a box
    path.write_text(json.dumps(doc))
    return path.read_bytes()


def test_a_hand_edited_output_is_replaced_only_with_overwrite(checkpoint, tmp_path, capsys):
    src = write(tmp_path / "a.json")
    dets = tmp_path / "dets.json"
    dets.write_text(json.dumps([{"image_id": 77, "category_id": 1, "bbox": b["bbox"], "score": 0.9} for b in BOXES]))
    common = ["--annotations", src, "--images", COCO128_IMAGES, "--checkpoint", checkpoint]
    for extra, out in (([], tmp_path / "a.snapped.json"), (["--detections", dets], tmp_path / "dets.snapped.json")):
        assert snap_cli(capsys, *common, *extra)[0] == 0
        assert snap_cli(capsys, *common, *extra)[0] == 0, "its own unchanged output is replaced"
        edited = hand_edit(out)
        code, io = snap_cli(capsys, *common, *extra)
        assert code == 2 and f"the output {out} was written by bbadj snap, but it changed since" in io.err, io.err
        assert "--overwrite" in io.err and out.read_bytes() == edited
        code, io = snap_cli(capsys, *common, *extra, "--overwrite")
        assert code == 0 and out.read_bytes() != edited
        assert snap_cli(capsys, *common, *extra)[0] == 0, "and the new output is snap's own again"


# 31.5 -- file names stay inside --images


@pytest.fixture()
def reads(monkeypatch):
    """The image files bbadj decodes (every read goes through bbadj.data.images.read_file)."""
    import bbadj.data.images as images

    seen, real = [], images.read_file
    monkeypatch.setattr(images, "read_file", lambda p: seen.append(Path(p)) or real(p))
    return seen


def test_file_names_outside_images_are_never_opened(checkpoint, tmp_path, capsys, reads):
    images, outside = tmp_path / "images", tmp_path / "outside"
    images.mkdir()
    outside.mkdir()
    shutil.copy(COCO128_IMAGES / PHOTO, outside / "secret.jpg")  # a readable image, outside the folder
    common = ["--images", images, "--checkpoint", checkpoint]
    names = [
        str(outside / "secret.jpg"),
        "../outside/secret.jpg",
        "/etc/passwd",
        "../" * (len(images.parts) - 1) + "etc/passwd",
    ]
    for name in names:
        src = write(tmp_path / "a.json", images=[{"id": 77, "file_name": name, "width": 500, "height": 375}])
        code, io = snap_cli(capsys, "--annotations", src, *common)
        assert code == 2, io.err
        assert (
            f"image file not found: {name} (a name outside {images}: looked for only inside it) (image id 77" in io.err
        ), io.err
    assert reads == [] and not list(tmp_path.glob("*.snapped*"))

    # the same names find a file of that name inside the folder, counted and named; an absolute
    # path to another copy of an image does not win over the folder's copy
    shutil.copy(COCO128_IMAGES / PHOTO, images / "passwd")
    shutil.copy(COCO128_IMAGES / PHOTO, images / "secret.jpg")
    shutil.copy(COCO128_IMAGES / PHOTO, outside / PHOTO)
    entries = [
        {"id": 70 + k, "file_name": name, "width": 500, "height": 375}
        for k, name in enumerate([str(outside / "secret.jpg"), "/etc/passwd", str(outside / PHOTO)])
    ]
    shutil.copy(COCO128_IMAGES / PHOTO, images / PHOTO)
    anns = [box(k, [216, 56, 103, 119], image_id=70 + k) for k in range(3)]
    src = write(tmp_path / "b.json", anns, entries)
    code, io = snap_cli(capsys, "--annotations", src, *common)
    assert code == 0, io.err
    summary = json.loads((tmp_path / "b.snapped.json").read_text())["snap"]
    assert summary["file_names_resolved"] == {
        "70": str(images / "secret.jpg"),
        "71": str(images / "passwd"),
        "72": str(images / PHOTO),
    }
    assert "3 file names found under" in io.out
    assert reads and all(p.parent == images for p in reads), reads


# 31.6 -- resume looks at the images


def test_an_image_fixed_after_a_killed_run_is_redone_on_resume(model, tmp_path, monkeypatch):
    monkeypatch.setattr("bbadj.snap.file._now", lambda: "2026-12-01T10:00:00+00:00")
    images = tmp_path / "images"
    images.mkdir()
    good = (COCO128_IMAGES / PHOTO).read_bytes()
    (images / PHOTO).write_bytes(good)
    (images / "b.jpg").write_bytes(good[: len(good) // 2])  # cut short: a corrupt image
    entries = [
        {"id": 70, "file_name": "b.jpg", "width": 500, "height": 375},
        {"id": 77, "file_name": PHOTO, "width": 500, "height": 375},
    ]
    src = write(tmp_path / "a.json", BOXES + [box(9, [216, 56, 103, 119], image_id=70)], entries)
    out, settings = tmp_path / "out.json", SnapSettings(batch_size=1)
    snap_file(src, images, model, out, settings=settings, progress=False, stop_after=1)  # "killed" after b.jpg
    journal = Path(str(out) + JOURNAL_SUFFIX)
    assert "corrupt" in journal.read_text().splitlines()[1] and "b.jpg" in journal.read_text()

    (images / "b.jpg").write_bytes(good)  # fixed
    resumed = snap_file(src, images, model, out, settings=settings, progress=False)
    assert resumed["corrupt_images"] == {} and resumed["images_snapped"] == 2
    fresh = snap_file(src, images, model, tmp_path / "fresh.json", settings=settings, progress=False)
    assert (
        json.loads(out.read_text())["annotations"] == json.loads((tmp_path / "fresh.json").read_text())["annotations"]
    )
    assert fresh["corrupt_images"] == {}


# 31.7 -- the smaller points


def _sigint_as_in_a_terminal():
    """The child's Ctrl-C as a terminal gives it: a test run started in the background by a shell
    without job control (a script's `cmd &`) hands its children SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_sigint_to_snap_exits_130_with_one_line(checkpoint, tmp_path):
    out = tmp_path / "out.json"
    journal = Path(str(out) + JOURNAL_SUFFIX)
    proc = subprocess.Popen(
        [
            str(BIN / "bbadj"),
            "snap",
            "--annotations",
            str(COCO128_ANN),
            "--images",
            str(COCO128_IMAGES),
            "--checkpoint",
            str(checkpoint),
            "--out",
            str(out),
            "--no-progress",
            "--batch-size",
            "16",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_sigint_as_in_a_terminal,
    )
    try:
        deadline = time.time() + 120
        while proc.poll() is None and time.time() < deadline:
            if journal.exists() and journal.read_text().count("\n") >= 2:  # the header and a chunk
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == [
        "bbadj snap: interrupted; the chunks done are kept: the same command resumes after them"
    ], err
    assert not out.exists() and journal.read_text().count("\n") >= 2, "the chunks done are kept"


def test_a_400_digit_integer_in_a_bbox_names_the_annotation(checkpoint, tmp_path, capsys):
    src = write(tmp_path / "a.json", BOXES + [box(5, [10**400, 1, 2, 3])])
    code, io = snap_cli(capsys, "--annotations", src, "--images", COCO128_IMAGES, "--checkpoint", checkpoint)
    assert code == 2 and f"{src}: annotation id 5 (image id 77) has no 4-number bbox" in io.err, io.err
    assert "characters)" in io.err and len(io.err) < 400, "the number is cut in the message"
    assert "Traceback" not in io.err and not (tmp_path / "a.snapped.json").exists()


def test_a_checkpoint_missing_a_weight_names_the_file_and_key(checkpoint, tmp_path, capsys):
    ckpt = torch.load(checkpoint, weights_only=True)
    key = next(iter(ckpt["model"]))
    del ckpt["model"][key]
    torch.save(ckpt, tmp_path / "cut.pt")
    code, io = snap_cli(
        capsys,
        "--annotations",
        write(tmp_path / "a.json"),
        "--images",
        COCO128_IMAGES,
        "--checkpoint",
        tmp_path / "cut.pt",
    )
    assert code == 2, io.err
    assert (
        f"{tmp_path / 'cut.pt'}: its weights do not fit the model its config describes: 1 weights missing "
        f"(first: {key})" in io.err
    ), io.err


def test_a_row_name_with_a_space_gets_the_row_name_rule(tmp_path, monkeypatch, capsys):
    import yaml

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["rows"]["my row"] = {"model": {"fusion": "fpn"}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    monkeypatch.chdir(tmp_path)
    assert main(["stage", "train", "my", "row"]) == 2  # dvc.yaml's `bbadj stage train ${item}`, unquoted
    err = capsys.readouterr().err
    assert "params.yaml: row name 'my row' must be letters, digits and _ only" in err, err


def test_out_a_folder_writes_inside_it(checkpoint, tmp_path, capsys):
    src = write(tmp_path / "a.json")
    common = ["--annotations", src, "--images", COCO128_IMAGES, "--checkpoint", checkpoint]
    assert snap_cli(capsys, *common, "--out", f"{tmp_path / 'newdir'}/")[0] == 0
    (tmp_path / "old").mkdir()
    assert snap_cli(capsys, *common, "--out", tmp_path / "old")[0] == 0
    for folder in ("newdir", "old"):
        assert (tmp_path / folder).is_dir()
        assert files(tmp_path / folder) == {"a.snapped.json", "a.snapped.review.json"}


def test_model_pt_holds_no_path_or_time_of_its_clone(tiny_synth, tmp_path, monkeypatch):
    """Two clones in other folders, their images copied at other times, trained on the same data
    with the study's relative paths: the same model.pt, byte for byte, and no absolute path in it."""
    from bbadj.train.engine import train
    from test_engine import tiny_config

    digests = []
    for k, clone in enumerate((tmp_path / "one", tmp_path / "clone-two")):
        shutil.copytree(tiny_synth / "train", clone / "train")
        for image in (clone / "train" / "images").iterdir():
            os.utime(image, ns=(10**18 * (k + 1),) * 2)
        monkeypatch.chdir(clone)
        train(tiny_config(Path("."), max_steps=1, checkpoint_every=1), "run", progress=False)
        data = (clone / "run" / "model.pt").read_bytes()
        assert str(tmp_path).encode() not in data and b"/tmp/" not in data
        digests.append(data)
    assert digests[0] == digests[1]


def test_a_damaged_training_image_stops_the_run_before_any_checkpoint_is_replaced(tiny_synth, tmp_path):
    from bbadj.train.engine import train
    from test_engine import tiny_config

    shutil.copytree(tiny_synth / "train", tmp_path / "train")
    cfg = tiny_config(tmp_path, max_steps=6, checkpoint_every=1)
    train(cfg, tmp_path / "run", progress=False, stop_after=2)
    before = (tmp_path / "run" / "last.pt").read_bytes()
    damaged = sorted((tmp_path / "train" / "images").iterdir())[-1]
    damaged.write_bytes(damaged.read_bytes()[:200])
    logged = []
    with pytest.raises(DataError, match=re.escape(str(damaged))):
        train(cfg, tmp_path / "run", progress=False, other_run="restart", on_log=logged.append)
    assert logged == [] and (tmp_path / "run" / "last.pt").read_bytes() == before
