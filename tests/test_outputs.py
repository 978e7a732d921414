"""Every output appears whole or not at all: a full disk (simulated: writes raise ENOSPC after a
few bytes) names the file, leaves the previous version in place and no temporary file behind;
JSON never holds NaN."""

import builtins
import errno
import json

import pytest
import torch

from bbadj.util import outputs
from bbadj.model.checkpoint import save_atomic
from bbadj.cli.main import main
from bbadj.util.errors import OutputError
from conftest import COCO128


class _FullDisk:
    """A file that takes ``room`` bytes, then fails as a full disk does."""

    def __init__(self, f, room: int):
        self._f, self._room = f, room

    def write(self, data):
        if len(data) > self._room:
            self._f.write(data[: self._room])
            self._room = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        self._room -= len(data)
        return self._f.write(data)

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


@pytest.fixture
def full_disk(monkeypatch):
    """Files opened for writing by bbadj.util.outputs hold 100 bytes at most."""

    def fake_open(path, mode="r", *args, **kwargs):
        return _FullDisk(builtins.open(path, mode, *args, **kwargs), room=100)

    monkeypatch.setattr(outputs, "open", fake_open, raising=False)


def _only(path):
    return sorted(p.name for p in path.parent.iterdir())


def test_a_checkpoint_on_a_full_disk(tmp_path, full_disk):
    path = tmp_path / "last.pt"
    path.write_bytes(b"the previous checkpoint")
    with pytest.raises(OutputError, match=f"no space left on device: {path}"):
        save_atomic({"model": {"w": torch.zeros(1000)}}, path)
    assert _only(path) == ["last.pt"], "no last.pt.tmp left behind"
    assert path.read_bytes() == b"the previous checkpoint"


@pytest.mark.parametrize(
    "write",
    [
        lambda p: outputs.write_json(p, {"miou": 0.5, "pad": "x" * 200}),
        lambda p: outputs.write_csv(p, {"iou": torch.rand(100).numpy()}),
    ],
)
def test_json_and_csv_on_a_full_disk(tmp_path, full_disk, write):
    path = tmp_path / "out.file"
    with pytest.raises(OutputError, match="no space left on device: .*out.file"):
        write(path)
    assert _only(path) == [], "neither a truncated file nor its .tmp"


def test_evaluate_on_a_full_disk_says_so_and_leaves_no_empty_json(tmp_path, full_disk, capsys):
    out = tmp_path / "metrics.json"
    code = main(
        [
            "evaluate",
            "--identity",
            "--annotations",
            str(COCO128 / "annotations/val.json"),
            "--images",
            str(COCO128 / "images"),
            "--repeats",
            "1",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 2
    assert f"bbadj evaluate: error: no space left on device: {out}" in capsys.readouterr().err
    assert _only(out) == []


def test_a_written_file_replaces_the_old_one_whole(tmp_path):
    path = tmp_path / "m.json"
    outputs.write_json(path, {"a": 1})
    outputs.write_json(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2} and _only(path) == ["m.json"]


def test_json_refuses_nan_naming_the_key(tmp_path):
    path = tmp_path / "m.json"
    with pytest.raises(OutputError, match=r"m\.json: not written: adjusted\.miou is not a finite number"):
        outputs.write_json(path, {"detector": {"miou": 0.8}, "adjusted": {"miou": float("nan")}})
    assert not path.exists()
    assert outputs.non_finite_keys({"a": [1.0, float("inf")], "b": "nan"}) == ["a[1]"]


def test_csv_columns_integers_and_formats(tmp_path):
    import numpy as np

    path = tmp_path / "t.csv"
    outputs.write_csv(
        path,
        {
            "id": np.array([3, 4]),
            "score": np.array([0.123456789, 1.0]),
            **outputs.named_columns("gt", np.array([[1, 2, 3, 4.5], [0, 0, 1, 1]]), ("x0", "y0", "x1", "y1")),
        },
        formats={"score": ".6g"},
    )
    assert path.read_text().splitlines() == [
        "id,score,gt_x0,gt_y0,gt_x1,gt_y1",
        "3,0.123457,1.0000,2.0000,3.0000,4.5000",
        "4,1,0.0000,0.0000,1.0000,1.0000",
    ]
