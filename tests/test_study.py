"""The study's helpers (bbadj/study/) and its configuration files (params.yaml, params/)."""
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from bbadj.study import evaluation, experiments, plots, stats
from bbadj.config import Config, load_config
from bbadj.metrics import METRIC_KEYS

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "params.yaml"


def write_params(path: Path, experiments, eval_only=None, **base) -> Path:
    p = {"data": base.get("data", {}), "experiments": experiments, "eval_only": eval_only or {},
         "study": {"baseline": next(iter(experiments)), "bootstrap": 200, "bootstrap_seed": 0}}
    path.write_text(yaml.safe_dump(p))
    return path


# ------------------------------------------------------------------ params files


def test_default_grid_is_the_issue_grid():
    trained = experiments.experiment_names(PARAMS, "trained")
    cfgs = {n: experiments.experiment_config(PARAMS, n) for n in experiments.experiment_names(PARAMS)}
    combos = {(c.model.fusion, c.model.decoder) for n, c in cfgs.items() if n in trained}
    for fusion in ("l4", "l34_mean", "l34_concat", "fpn"):
        assert (fusion, "conv1d") in combos
    assert {("l4", "linear"), ("l34_mean", "linear")} <= combos
    default = cfgs[experiments.load_params(PARAMS)["study"]["baseline"]]
    assert (default.model.fusion, default.model.decoder, default.data.buffer_ratio, default.train.loss) == \
        ("l4", "conv1d", 1.1, "two_point")
    ratios = {c.data.buffer_ratio for n, c in cfgs.items() if n in trained and c.model == default.model
              and c.train == default.train}
    assert ratios == {1.0, 1.1, 1.2, 1.3}
    assert {c.train.loss for n, c in cfgs.items() if n in trained} >= {"two_point", "bce_onehot", "gaussian"}
    assert {c.eval.decoding for c in cfgs.values()} == {"argmax", "subpixel"}
    # no two trained experiments train the same thing (the default is trained once)
    from bbadj.engine import _comparable

    keys = [json.dumps(_comparable(cfgs[n].to_dict()), sort_keys=True) for n in trained]
    assert len(set(keys)) == len(keys)


def test_cpu_default_preset_is_params_yaml():
    assert yaml.safe_load((ROOT / "params" / "cpu-default.yaml").read_text()) == yaml.safe_load(PARAMS.read_text())


def test_paper_preset():
    path = ROOT / "params" / "paper-coco.yaml"
    cfg = load_config(path)
    assert (cfg.model.backbone, cfg.model.pretrained, cfg.data.crop_size, cfg.data.buffer_ratio) == \
        ("resnet50", "imagenet", 224, 1.1)
    assert (cfg.train.batch_size, cfg.train.lr, cfg.train.optimizer, cfg.train.epochs, cfg.train.max_steps) == \
        (64, 1e-4, "adam", 5.0, 0)
    assert "train2017" in cfg.data.train_images and "val2017" in cfg.data.val_images
    assert cfg.data.train_annotations.startswith("data/coco/")
    # every experiment of the preset builds a valid config
    for name in experiments.experiment_names(path):
        assert isinstance(experiments.experiment_config(path, name), Config)
    # same experiments and keys as the default, so dvc.yaml's params all exist in both
    default, paper = yaml.safe_load(PARAMS.read_text()), yaml.safe_load(path.read_text())
    assert set(default) == set(paper)
    for section in ("data", "model", "train", "eval", "synth", "study"):
        assert set(default[section]) == set(paper[section]), section


def test_dvc_yaml_params_exist_in_params_yaml():
    """Every param a stage declares must be in params.yaml (else DVC fails): check the templates."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    params = yaml.safe_load(PARAMS.read_text())
    for name, stage in stages.items():
        body = stage.get("do", stage)
        for p in body.get("params", []):
            if "${" in p:
                assert p.startswith(("experiments.", "eval_only.")), p
                continue
            node = params
            for part in p.split("."):
                assert isinstance(node, dict) and part in node, f"{name}: param {p} not in params.yaml"
                node = node[part]
    assert stages["train"]["foreach"] == "${experiments}"
    assert stages["evaluate"]["foreach"] == "${experiments}"
    assert stages["evaluate_only"]["foreach"] == "${eval_only}"


# ------------------------------------------------------------------ experiment configs


def test_experiment_config_and_eval_only(tmp_path):
    p = write_params(tmp_path / "params.yaml", {"a": {}, "b": {"model": {"fusion": "fpn"}}},
                     {"b_argmax": {"from": "b", "eval": {"decoding": "argmax"}, "data": {"buffer_ratio": 1.3}}})
    assert experiments.experiment_names(p) == ["a", "b", "b_argmax"]
    assert experiments.experiment_names(p, "eval_only") == ["b_argmax"]
    c = experiments.experiment_config(p, "b_argmax")
    assert (c.model.fusion, c.eval.decoding, c.data.buffer_ratio) == ("fpn", "argmax", 1.3)
    assert experiments.model_experiment(p, "b_argmax") == "b" and experiments.model_experiment(p, "a") == "a"
    assert experiments.describe(p, "a") == "default"
    assert "model.fusion=fpn" in experiments.describe(p, "b_argmax") and "eval.decoding=argmax" in experiments.describe(p, "b_argmax")
    with pytest.raises(KeyError):
        experiments.experiment_config(p, "nope")


@pytest.mark.parametrize("exps,eval_only,match", [
    ({"a.b": {}}, {}, "letters, digits"),
    ({"identity": {}}, {}, "letters, digits"),
    ({"a": {}}, {"x": {"from": "zzz"}}, "must name one of"),
    ({"a": {}}, {"x": {"from": "a", "model": {"fusion": "fpn"}}}, "needs training"),
    ({"a": {}}, {"x": {"from": "a", "data": {"crop_size": 32}}}, "need training"),
    ({"a": {}}, {"a": {"from": "a"}}, "both"),
])
def test_params_validation(tmp_path, exps, eval_only, match):
    p = write_params(tmp_path / "params.yaml", exps, eval_only)
    with pytest.raises(ValueError, match=match):
        experiments.experiment_names(p)


def test_preflight_says_what_is_missing(tmp_path):
    cfg = load_config(ROOT / "params" / "paper-coco.yaml").with_overrides(
        {"data": {"train_annotations": str(tmp_path / "coco/annotations/instances_train2017.json")}})
    with pytest.raises(experiments.StudyError, match="instances_train2017.json.*COCO"):
        experiments.preflight(cfg, "train", device="cpu")
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(experiments.StudyError, match="CUDA"):
            experiments.preflight(cfg, "train", device="cuda")


# ------------------------------------------------------------------ bootstrap, results, findings


def test_bootstrap_interval():
    rng = np.random.default_rng(0)
    v = rng.random(400)
    idx = stats.bootstrap_indices(400, 500, seed=1)
    lo, hi = stats.bootstrap_ci(v, idx)
    assert lo < v.mean() < hi
    assert 0.02 < hi - lo < 0.08  # ~ 4 standard errors of a U(0,1) mean over 400
    lo2, hi2 = stats.bootstrap_ci(np.stack([v, v], 1), idx)
    assert np.allclose(lo2, lo) and np.allclose(hi2, hi)
    assert np.array_equal(idx, stats.bootstrap_indices(400, 500, seed=1))


@pytest.fixture(scope="module")
def identity_reports(tiny_synth, tmp_path_factory):
    """An identity row (jittered boxes, no model) and a perfect 'experiment' whose boxes are the truth."""
    from bbadj.data.coco import load_coco
    from bbadj.evaluate import evaluate

    root = tmp_path_factory.mktemp("reports")
    cfg = Config()
    coco = load_coco(tiny_synth / "val" / "annotations.json", tiny_synth / "val" / "images", verbose=False)
    m = evaluate(coco, cfg, None, repeats=3, seed=5, progress=False, per_box_csv=root / "per_box" / "identity.csv")
    (root / "metrics").mkdir()
    (root / "metrics" / "identity.json").write_text(json.dumps(m))
    df = evaluation.load_per_box(root / "per_box" / "identity.csv")
    for c in ("x0", "y0", "x1", "y1"):
        df[f"adj_{c}"] = df[f"gt_{c}"]
        df[f"err_{c}"] = 0.0
    df["iou"] = 1.0
    for e in ("top", "bottom", "left", "right"):
        df[f"conf_{e}"] = 0.9
    df.to_csv(root / "per_box" / "perfect.csv", index=False)
    (root / "metrics" / "perfect.json").write_text(json.dumps({**m, **{k: 1.0 for k in METRIC_KEYS}}))
    return root, m


def test_box_values_reproduce_the_metrics(identity_reports):
    root, m = identity_reports
    v = evaluation.box_values(evaluation.load_per_box(root / "per_box" / "identity.csv"))
    assert len(v) == m["n_boxes"]
    for k in METRIC_KEYS:
        assert v[k].mean() == pytest.approx(m[k], abs=1e-3), k


def test_results_table_findings_and_plots(identity_reports, tmp_path, tiny_synth):
    import matplotlib

    matplotlib.use("Agg")
    root, _ = identity_reports
    p = write_params(tmp_path / "params.yaml", {"perfect": {}, "missing_one": {"model": {"fusion": "fpn"}}})
    res = stats.load_results(p, root)
    assert res.names == ["identity", "perfect"] and res.missing == ["missing_one"]
    t = res.table.set_index(["experiment", "metric"])
    for k in METRIC_KEYS:
        lo, v, hi = t.loc[("identity", k), ["lo", "value", "hi"]]
        assert lo <= v <= hi
        assert t.loc[("perfect", k), "value"] == 1.0
    assert stats.best_experiment(res) == "perfect"
    d = stats.paired_difference(res, "perfect", "identity")
    assert (d["lo"] > 0).loc[["miou", "edge_lt_1px"]].all()
    text = stats.findings_markdown(res)
    assert "Not yet evaluated" in text and "missing_one" in text
    assert "reaches" in text and "does not reach" not in text  # a perfect row reaches every paper number
    tab = stats.table1(res)
    assert len(tab) == 4 + 2 and tab.columns[0] == "mIoU"
    assert tab.index[0][0].startswith("paper") and tab.index[-1][0].startswith("ours")
    import matplotlib.pyplot as plt

    for fig in (plots.plot_metric_bars(res), plots.plot_edge_histograms(res, ["identity", "perfect"]),
                plots.draw_gallery(res, "perfect", tiny_synth / "val" / "annotations.json",
                                   tiny_synth / "val" / "images", n=4)):
        assert fig.axes
        plt.close(fig)
