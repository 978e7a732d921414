"""Real COCO files as annotation tools and a detector wrote them (tests/data/exports/, sources and
licences in its README), each snapped by `bbadj snap`, loaded back with pycocotools, re-imported
with Datumaro's COCO importer (the one CVAT uses), and snapped a second time with the person's
boxes still in the second output.

Their photographs are not in the repository: each image entry gets a coco128 photograph resized to
the entry's width x height, saved under its file name (a name with folders, Label Studio's
``images/image1`` or Detectron2's ``./data/vid_4_1000.jpg``, keeps them), so the decoded size is the
file's. Datumaro runs in its own virtual environment (``.venv-datumaro``, made by ``make test``):
it pins pandas 2.3, Pillow 12 and OpenCV 4, older than the study's; without it that part skips and
says so.
"""

import json
import shutil
import subprocess

import pytest
from conftest import COCO128_IMAGES, ROOT
from PIL import Image

import bbadj
from bbadj.snap.file import SnapSettings, snap_file
from bbadj.snap.polygons import rectangle

EXPORTS = ROOT / "tests" / "data" / "exports"
DATUMARO = ROOT / ".venv-datumaro" / "bin" / "python"
PHOTOS = sorted(COCO128_IMAGES.glob("*.jpg"))[:8]

# (tool, annotations file, results file or None, what bbadj snap does with its boxes)
FILES = {
    "cvat": ("cvat/instances_default.json", None),  # COCO 1.0: polygons
    "roboflow": ("roboflow/_annotations.coco.json", None),
    "label_studio": ("label_studio/result.json", None),  # a size-less image entry; two entries, one file
    "datumaro": ("datumaro/instances_val.json", None),  # a rectangle's polygon and a crowd RLE, string attributes
    "detectron2": ("detectron2/data_coco_format.json", None),  # convert_to_coco_json's file: ./data/ names
    "detectron2 results": ("detectron2/data_coco_format.json", "detectron2/coco_instances_results.json"),
}
# what the first pass does (changed, kept, skipped by reason)
EXPECTED = {
    "cvat": (0, 0, {"has a polygon mask": 3}),
    "roboflow": (2, 0, {}),
    "label_studio": (6, 0, {}),
    "datumaro": (1, 0, {"crowd": 1}),  # its polygon is its box's rectangle: a box, snapped
    "detectron2": (3, 0, {}),
    "detectron2 results": (4, 0, {}),
}


@pytest.fixture(scope="module")
def model(checkpoint):
    return bbadj.load_model(checkpoint)


def photographs_for(doc: dict, folder):
    """A coco128 photograph resized to each image entry's size, at its file name under ``folder``."""
    for k, im in enumerate(doc["images"]):
        if im.get("width") is None:
            continue
        path = folder / im["file_name"].lstrip("./")
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.open(PHOTOS[k % len(PHOTOS)]).convert("RGB").resize((im["width"], im["height"])).save(path, "JPEG")


def snap_twice(tool, model, tmp_path, settings=SnapSettings()):
    ann_name, det_name = FILES[tool]
    ann = shutil.copy(EXPORTS / ann_name, tmp_path / ("in_" + ann_name.split("/")[-1]))
    det = shutil.copy(EXPORTS / det_name, tmp_path / "results.json") if det_name else None
    images = tmp_path / "images"
    photographs_for(json.loads(ann.read_text()), images)
    first = snap_file(ann, images, model, tmp_path / "p1.json", detections=det, settings=settings, progress=False)
    if det is None:
        second = snap_file(tmp_path / "p1.json", images, model, tmp_path / "p2.json", settings=settings, progress=False)
    else:  # a results file snapped again: the first pass's output is the detections now
        second = snap_file(
            ann, images, model, tmp_path / "p2.json", detections=tmp_path / "p1.json", settings=settings, progress=False
        )
    return ann, det, first, second


@pytest.mark.parametrize("tool", list(FILES))
def test_a_real_export_is_snapped_and_loads_in_pycocotools(tool, model, tmp_path):
    from pycocotools.coco import COCO

    ann, det, first, second = snap_twice(tool, model, tmp_path)
    changed, kept, skipped = EXPECTED[tool]
    assert (first["changed"], first["kept"], first["skipped_by_reason"]) == (changed, kept, skipped)
    source = json.loads((det or ann).read_text())
    out1, out2 = (json.loads((tmp_path / f"p{k}.json").read_text()) for k in (1, 2))
    entries = lambda doc: doc if isinstance(doc, list) else doc["annotations"]  # noqa: E731
    originals = [e["bbox"] for e in entries(source)]
    assert [e["snap"]["bbox_original"] for e in entries(out2)] == originals, "the person's boxes, after two passes"
    assert second["pass"] == 2 and {e["snap"]["passes"] for e in entries(out2)} == {2}
    for before, after in zip(entries(source), entries(out1)):
        assert {k: v for k, v in after.items() if k not in ("bbox", "area", "snap", "segmentation")} == {
            k: v for k, v in before.items() if k not in ("bbox", "area", "segmentation")
        }, "every other key, ids included, as written"
        shape = rectangle(before.get("segmentation"), before["bbox"])
        if shape is not None and after["snap"]["status"] == "changed":  # a box's rectangle follows the box
            assert after["segmentation"] == shape.follow(after["bbox"])
        else:
            assert after.get("segmentation") == before.get("segmentation"), "a mask as written"
    if det is None:
        assert {k: v for k, v in out1.items() if k != "snap"} | {"annotations": None} == source | {
            "annotations": None
        }, "images, categories, info, licences as written"
        coco = COCO(str(tmp_path / "p1.json"))
        assert (
            len(coco.getAnnIds()) == len(originals)
            and coco.loadAnns(coco.getAnnIds()[:1])[0]["bbox"] == out1["annotations"][0]["bbox"]
        )
    else:
        gt = COCO(str(ann))
        res = gt.loadRes(str(tmp_path / "p1.json"))
        assert len(res.getAnnIds()) == len(originals)
        assert res.loadAnns(res.getAnnIds()[:1])[0]["bbox"] == out1[0]["bbox"]


def test_masked_annotations_of_cvat_are_snapped_when_asked(model, tmp_path):
    ann, _, first, _ = snap_twice("cvat", model, tmp_path, SnapSettings(snap_masked=True))
    assert (first["changed"], first["skipped"]) == (3, 0)
    source, out = (json.loads(p.read_text())["annotations"] for p in (ann, tmp_path / "p1.json"))
    assert [(a["segmentation"], a["area"]) for a in out] == [(a["segmentation"], a["area"]) for a in source]


DATUMARO_SCRIPT = """
import json, shutil, sys, tempfile
from pathlib import Path
import datumaro as dm
out = {}
for path in sys.argv[1:]:
    with tempfile.TemporaryDirectory() as root:  # the layout the importer wants: annotations/ and images/<subset>/
        (Path(root) / "annotations").mkdir()
        (Path(root) / "images" / "default").mkdir(parents=True)
        shutil.copy(path, Path(root) / "annotations" / "instances_default.json")
        try:
            items = list(dm.Dataset.import_from(root, "coco_instances"))
        except Exception as e:  # noqa: BLE001 - reported, and the test says which file
            out[path] = f"{type(e).__name__}: {e}"
            continue
        out[path] = sorted([str(it.id), a.type.name, a.id, [round(v, 3) for v in a.get_bbox()]]
                           for it in items for a in it.annotations)
print(json.dumps(out))
"""


@pytest.mark.skipif(
    not DATUMARO.exists(), reason=f"no Datumaro to re-import with: {DATUMARO} is missing (make test makes it)"
)
@pytest.mark.parametrize("tool", [t for t, (_, det) in FILES.items() if det is None])
def test_datumaro_reimports_each_snapped_export(tool, model, tmp_path):
    ann, _, _, _ = snap_twice(tool, model, tmp_path)
    paths = [str(ann), str(tmp_path / "p1.json"), str(tmp_path / "p2.json")]
    run = subprocess.run([str(DATUMARO), "-c", DATUMARO_SCRIPT, *paths], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    found = json.loads(run.stdout.strip().splitlines()[-1])
    before, after, again = (found[p] for p in paths)
    if tool == "label_studio":
        # Datumaro refuses the converter's own file: its two image entries of one task share a file name
        assert (
            before == after == again == "RepeatedItemError: Item ('images/image1', 'default') is repeated "
            "in the source sequence."
        ), found
        return
    assert len(after) == len(again) == len(before) > 0, found
    snapped = {a["id"]: a["bbox"] for a in json.loads((tmp_path / "p1.json").read_text())["annotations"]}
    corners = lambda b: [b[0], b[1], b[0] + b[2], b[1] + b[3]]  # noqa: E731
    for item, kind, aid, bbox in after:
        if kind == "bbox":  # a rectangle: Datumaro reads the snapped box (of a rectangle's polygon, from its
            # corners, each to 2 decimals: so the width of a 0.087 px box reads 0.08)
            assert corners(bbox) == pytest.approx(corners(snapped[aid]), abs=0.006), (item, aid)
    assert [r[:3] for r in after] == [r[:3] for r in before], "the same items, kinds and ids"
