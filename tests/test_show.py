"""`bbadj show`: the study's runs side by side (bbadj/cli/show.py), on `dvc exp show --json`'s
output and on a tiny DVC repository with a real experiment."""

import json
import sys
from pathlib import Path

import pytest
import yaml

from bbadj.cli.main import main
from bbadj.scoring.metrics import METRIC_KEYS
from bbadj.cli.show import runs_from_exp_show, show, table
from conftest import BIN, run as run_tool, tool_env


def metrics(miou: float) -> dict:
    return {"data": {"miou": miou, "iou90": 10.0, "edge1": 40.0, "edge3": 60.0, "corner1": 20.0, "corner3": 50.0}}


def entry(rev: str, name, lr: float, files: dict) -> dict:
    """One revision as `dvc exp show --json` (DVC 3.x) writes it."""
    return {
        "rev": rev,
        "name": name,
        "error": None,
        "experiments": None,
        "data": {
            "rev": rev,
            "params": {"params.yaml": {"data": {"train": {"lr": lr}}}},
            "metrics": {f"reports/metrics/{row}/{s}.json": metrics(v) for (row, s), v in files.items()},
        },
    }


def doc(n_exps: int = 1) -> list:
    ws = entry("workspace", None, 0.002, {("identity", "coco128"): 81.3, ("l4", "coco128"): 84.0})
    head = entry(
        "a" * 40, "study", 0.001, {("identity", "coco128"): 81.3, ("l4", "coco128"): 83.9, ("old_row", "coco128"): 70.0}
    )
    head["experiments"] = [
        {
            "name": f"exp{i}",
            "executor": None,
            "revs": [
                entry(
                    f"{i}" * 40,
                    f"exp{i}",
                    0.002 + i,
                    {("identity", "coco128"): 81.3, ("l4", "coco128"): 84.0 + i, ("l4", "other"): 50.0},
                )
            ],
        }
        for i in range(n_exps)
    ]
    queued = {
        "name": "waiting",
        "executor": None,
        "revs": [{"rev": "b" * 40, "name": "waiting", "error": None, "data": {}, "experiments": None}],
    }
    head["experiments"].append(queued)
    return [ws, head]


@pytest.fixture
def params(tmp_path):
    p = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    p["rows"] = {"l4": {}, "fpn": {"model": {"fusion": "fpn"}}}
    p["eval_only"] = {}
    p["eval"]["sets"] = {"coco128": p["eval"]["sets"]["coco128"]}  # the sets the runs below have
    p["train"]["lr"] = 0.001  # the DVC test's HEAD; its experiment sets 0.002
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(p, sort_keys=False))
    return path


def test_runs_from_exp_show():
    runs, skipped = runs_from_exp_show(doc())
    assert [r.name for r in runs] == ["workspace", "study", "exp0"]
    assert runs[1].about == "HEAD aaaaaaa" and runs[2].about == "experiment 0000000 on HEAD"
    assert runs[2].metrics[("l4", "coco128")]["miou"] == 84.0 and runs[2].params == {"train.lr": 0.002}
    assert skipped == ["waiting"]


def test_show_one_table_per_set_rows_in_params_order(params):
    out = show(params, doc=doc(), width=120)
    lines = out.splitlines()
    assert "  workspace  the files on disk: train.lr=0.002" in lines
    assert "  study      HEAD aaaaaaa" in lines and "  exp0       experiment 0000000 on HEAD: train.lr=0.002" in lines
    i = lines.index("coco128: mIoU, percent")
    assert lines[i + 1].split() == ["row", "workspace", "study", "exp0"]
    # identity, grabcut, the params' rows, then a row only HEAD has; '-' where a run lacks one
    assert [ln.split() for ln in lines[i + 2 : i + 7]] == [
        ["identity", "81.3", "81.3", "81.3"],
        ["grabcut", "-", "-", "-"],
        ["l4", "84.0", "83.9", "84.0"],
        ["fpn", "-", "-", "-"],
        ["old_row", "-", "70.0", "-"],
    ]
    assert "other: mIoU, percent" in lines  # a set only an experiment has
    assert "(not shown, without metric files: waiting)" in out
    assert out.count(", percent") == 2
    assert show(params, doc=doc(), metric="all").count(", percent") == 12
    only = show(params, doc=doc(), eval_set="other", metric="edge3")
    assert "other: edge < 3 px, percent" in only and "coco128:" not in only
    with pytest.raises(ValueError, match="no evaluation set 'nope'"):
        show(params, doc=doc(), eval_set="nope")
    with pytest.raises(ValueError, match="--metric"):
        show(params, doc=doc(), metric="iou_gt_90")


def test_columns_beyond_the_width_wrap_into_another_table(params):
    out = show(params, doc=doc(n_exps=12), width=80)
    assert max(len(line) for line in out.splitlines()) <= 80
    tables = [ln for ln in out.splitlines() if ln.startswith("coco128: mIoU")]
    assert len(tables) > 1 and tables[0].endswith(f"(1/{len(tables)})")
    shown = [name for ln in out.splitlines() if ln.startswith("row ") for name in ln.split()[1:]]
    assert len(shown) == 2 * 14 and shown[:3] == ["workspace", "study", "exp0"]  # two sets, each run once


def test_table_formats_one_decimal():
    runs, _ = runs_from_exp_show(doc())
    runs[0].metrics[("l4", "coco128")]["miou"] = 84.04
    assert table(runs, ["l4"], "coco128", "miou").splitlines()[-1].split() == ["l4", "84.0", "83.9", "84.0"]


def test_without_dvc_the_workspace_alone(tmp_path, monkeypatch, capsys):
    """Outside a git/DVC repository, `bbadj show` reads the workspace's metric files from disk."""
    (tmp_path / "reports" / "metrics" / "l4").mkdir(parents=True)
    (tmp_path / "reports" / "metrics" / "l4" / "coco128.json").write_text(json.dumps(metrics(83.9)["data"]))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))  # no dvc, no git
    monkeypatch.setattr("bbadj.cli.show.dvc_command", lambda: str(tmp_path / "dvc"))
    assert main(["show", "--width", "100"]) == 0
    out = capsys.readouterr().out
    assert ["l4", "83.9"] in [ln.split() for ln in out.splitlines()]
    assert "the workspace only" in out and "coco128: mIoU, percent" in out


def test_unknown_metric_is_an_error(capsys):
    with pytest.raises(SystemExit, match="--metric must be one of"):
        main(["show", "--metric", "bogus"])


@pytest.mark.slow
def test_show_on_a_dvc_repository_with_an_experiment(tmp_path, params):
    """A tiny DVC repository: one stage writes the metric files from params.yaml's train.lr; HEAD
    has lr 0.001, an experiment `dvc exp run -S train.lr=0.002`."""
    env = tool_env()
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "params.yaml").write_text(params.read_text())
    (repo / "make.py").write_text(
        "import json, os, yaml\n"
        "lr = yaml.safe_load(open('params.yaml'))['train']['lr']\n"
        "for row in ['identity', 'l4', 'fpn']:\n"
        "    os.makedirs(f'reports/metrics/{row}', exist_ok=True)\n"
        f"    json.dump({{k: 80 + lr * 1000 for k in {list(METRIC_KEYS)}}}, "
        "open(f'reports/metrics/{row}/coco128.json', 'w'))\n"
    )
    (repo / "dvc.yaml").write_text(
        yaml.safe_dump(
            {
                "stages": {
                    "make": {
                        "cmd": f"{sys.executable} make.py",
                        "deps": ["make.py"],
                        "params": ["train.lr"],
                        "metrics": [{"reports/metrics": {"cache": False}}],
                    }
                }
            }
        )
    )

    def run(*args):
        return run_tool(args, repo, env, stdout_only=True)

    run("git", "init", "-q", "-b", "study")
    run(str(BIN / "dvc"), "init", "-q")
    run(str(BIN / "dvc"), "repro", "-q")
    run("git", "add", "-A")
    run("git", "commit", "-qm", "the study")
    before = run(str(BIN / "bbadj"), "show")
    assert [ln.split() for ln in before.splitlines() if ln.startswith(("row", "l4"))] == [
        ["row", "workspace", "study"],
        ["l4", "81.0", "81.0"],
    ]
    run(str(BIN / "dvc"), "exp", "run", "-q", "-n", "lr2", "-S", "train.lr=0.002")
    out = run(str(BIN / "bbadj"), "show", "--width", "120")
    assert [ln.split() for ln in out.splitlines() if ln.startswith(("row", "l4", "fpn"))] == [
        ["row", "workspace", "study", "lr2"],
        ["l4", "82.0", "81.0", "82.0"],
        ["fpn", "82.0", "81.0", "82.0"],
    ]
    assert "lr2        experiment" in out and "on HEAD: train.lr=0.002" in out


def test_no_metric_files_anywhere(params):
    """A clone whose reports/ predate the metric files' layout: nothing to show, and what to run."""
    empty = [
        {"rev": "workspace", "name": None, "data": {"metrics": {}}, "error": None, "experiments": None},
        {
            "rev": "a" * 40,
            "name": "study",
            "data": {"metrics": {"reports/metrics/l4.json": metrics(1.0)}},
            "error": None,
            "experiments": None,
        },
    ]
    out = show(params, doc=empty)
    assert out.splitlines() == [
        "no run has metric files (reports/metrics/<row>/<set>.json): run `dvc repro`",
        "(not shown, without metric files: workspace, study)",
    ]


def test_each_tier_shows_its_own_metric_files():
    """`bbadj show --tier long` reads reports/long/metrics/..., the default tier reports/metrics/..."""
    ws = entry("workspace", None, 0.002, {("l4", "coco128"): 84.0})
    ws["data"]["metrics"]["reports/long/metrics/l4/coco128.json"] = metrics(86.2)
    default, _ = runs_from_exp_show([ws])
    long, _ = runs_from_exp_show([ws], tier="long")
    assert default[0].metrics == {("l4", "coco128"): metrics(84.0)["data"]}
    assert long[0].metrics == {("l4", "coco128"): metrics(86.2)["data"]}


def test_the_long_tier_shows_the_baselines_it_shares_with_the_default():
    """The long tier scores no identity or GrabCut row of its own: `bbadj show --tier long` takes
    them from the default tier's files, and no default row besides."""
    ws = entry("workspace", None, 0.002, {("l4", "coco128"): 84.0, ("identity", "coco128"): 81.4})
    ws["data"]["metrics"]["reports/long/metrics/l4/coco128.json"] = metrics(86.2)
    long, _ = runs_from_exp_show([ws], tier="long")
    assert long[0].metrics == {("l4", "coco128"): metrics(86.2)["data"], ("identity", "coco128"): metrics(81.4)["data"]}
