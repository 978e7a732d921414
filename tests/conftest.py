import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COCO128 = ROOT / "data" / "coco128"  # in the repository: real photographs for every test
COCO128_ANN = COCO128 / "annotations" / "instances_train2017.json"
COCO128_IMAGES = COCO128 / "images"


@pytest.fixture(scope="session")
def coco128():
    """All 929 boxes of the in-repository coco128 (annotations, images)."""
    if not COCO128_ANN.exists():
        pytest.fail(f"real-data fixture missing: {COCO128_ANN} (part of the repository: git checkout -- data/coco128)")
    return COCO128_ANN, COCO128_IMAGES


def write_coco(path: Path, images, annotations):
    path.write_text(json.dumps({"images": images, "annotations": annotations,
                                "categories": [{"id": 1, "name": "object"}]}))
    return path


@pytest.fixture(scope="session")
def tiny_synth(tmp_path_factory):
    """A small synthetic train/val pair shared by the training tests."""
    from bbadj.data.synth import make_synthetic

    root = tmp_path_factory.mktemp("synth")
    make_synthetic(root / "train", 24, seed=1, progress=False)
    make_synthetic(root / "val", 8, seed=2, progress=False)
    return root
