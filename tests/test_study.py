"""The study's helpers (bbadj/study/) and its configuration files (params.yaml, params/)."""
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from bbadj.study import by_size, confidence, evaluation, experiments, plots, provenance, stats, tables
from bbadj.config import Config, load_config
from bbadj.metrics import METRIC_KEYS

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "params.yaml"


def write_params(path: Path, experiments, eval_only=None, finetune=None, **base) -> Path:
    p = {"data": base.get("data", {}), "eval": base.get("eval", {}), "experiments": experiments,
         "finetune": finetune or {}, "eval_only": eval_only or {},
         "study": {"baseline": next(iter(experiments)), "bootstrap": 200, "bootstrap_seed": 0}}
    path.write_text(yaml.safe_dump(p))
    return path


def materialise(preset: Path, tmp_path: Path) -> Path:
    """params.yaml with the preset applied the way `bbadj exp-run` has DVC apply it."""
    from dvc.utils.hydra import apply_overrides

    from bbadj.study.presets import exp_run_command

    out = tmp_path / "params.yaml"
    tmp_path.mkdir(parents=True, exist_ok=True)
    out.write_text(PARAMS.read_text())
    cmd = exp_run_command(preset, params_path=PARAMS)
    apply_overrides(str(out), [cmd[i + 1] for i, a in enumerate(cmd) if a == "-S"])
    return out


# ------------------------------------------------------------------ params files


def test_default_grid():
    """The CPU default keeps one variant per ablation axis (fusion, decoder targets, buffer ratio,
    decoding), each differing from the default variant in that one thing."""
    trained = experiments.experiment_names(PARAMS, "trained")
    cfgs = {n: experiments.experiment_config(PARAMS, n) for n in experiments.experiment_names(PARAMS)}
    default = cfgs[experiments.load_params(PARAMS)["study"]["baseline"]]
    assert (default.model.fusion, default.model.decoder, default.data.buffer_ratio, default.train.loss) == \
        ("l4", "conv1d", 1.1, "two_point")
    synthetic = {n: c for n, c in cfgs.items() if n in trained and "synth" in c.data.train_annotations}
    assert {c.model.fusion for c in synthetic.values()} >= {"l4", "fpn"}
    ratios = {c.data.buffer_ratio for c in synthetic.values() if c.model == default.model and c.train == default.train}
    assert ratios == {1.1, 1.3}  # trained at the ratio; 1.0 (the annotation tool's) at test time only:
    evals = experiments.experiment_names(PARAMS, "eval_only")
    assert {cfgs[n].data.buffer_ratio for n in evals} >= {1.0}
    # the seed reruns and the passes the report's statistics and refinement sections need
    seeds = {c.train.seed for n, c in cfgs.items() if n in trained and c.model == default.model
             and c.data == default.data and c.train.loss == default.train.loss}
    assert len(seeds) >= 3
    assert {cfgs[n].eval.passes for n in evals} >= {2, 3}
    assert {c.train.loss for c in synthetic.values()} >= {"two_point", "bce_onehot"}
    assert {c.eval.decoding for c in cfgs.values()} == {"argmax", "subpixel"}
    # no two trained experiments train the same thing (the default is trained once)
    from bbadj.fingerprint import comparable_config

    keys = [json.dumps(comparable_config(cfgs[n].to_dict()), sort_keys=True) for n in trained]
    assert len(set(keys)) == len(keys)


def test_real_photographs_in_the_default_study():
    """coco128's val split is an evaluation set; the variants trained on real boxes use its train
    split only, from scratch, mixed with synthetic images, and after synthetic pretraining."""
    cfg = load_config(PARAMS)
    assert cfg.eval.set_paths("coco128") == ("data/coco128/annotations/val.json", "data/coco128/images")
    trained = {n: experiments.experiment_config(PARAMS, n) for n in experiments.experiment_names(PARAMS, "trained")}
    real = {n: c for n, c in trained.items() if "coco128" in c.data.train_annotations}
    assert real and all(c.data.train_annotations == "data/coco128/annotations/train.json" for c in real.values())
    # the three real-data variants differ only in how they start (and the mix): one crop size, ratio, length
    assert len({(c.data.crop_size, c.data.buffer_ratio, c.train.max_steps, c.train.lr) for c in real.values()}) == 1
    assert any(c.data.mix.fraction > 0 and "synth" in c.data.mix.annotations for c in real.values())
    assert any(not c.model.init_from and c.data.mix.fraction == 0 for c in real.values())
    tuned = experiments.experiment_names(PARAMS, "finetune")
    assert tuned and all(trained[n].model.init_from.startswith("runs/") for n in tuned)
    assert "val" not in "".join(c.data.train_annotations + c.data.mix.annotations for c in trained.values())


@pytest.mark.parametrize("preset", sorted((ROOT / "params").glob("*.yaml")), ids=lambda p: p.name)
def test_presets_are_deltas_that_dvc_applies(preset, tmp_path):
    """A preset lists only keys that params.yaml has (or removes one with null), each with another
    value; applied through DVC's own -S, it gives a valid study."""
    base, delta = yaml.safe_load(PARAMS.read_text()), yaml.safe_load(preset.read_text())

    def check(d, b, where):
        for k, v in d.items():
            if isinstance(v, dict) and isinstance(b.get(k), dict):
                check(v, b[k], f"{where}{k}.")
            elif v is not None and k in b:
                assert b[k] != v, f"{preset.name}: {where}{k} repeats the base value {v!r}"
            else:
                assert k in b or (v is not None and where.startswith("eval.sets")), f"{preset.name}: {where}{k} not in params.yaml"
    check(delta, base, "")
    applied = materialise(preset, tmp_path)
    for name in experiments.experiment_names(applied):
        assert isinstance(experiments.experiment_config(applied, name), Config)


def test_paper_preset(tmp_path):
    path = materialise(ROOT / "params" / "paper-coco.yaml", tmp_path)
    cfg = load_config(path)
    assert (cfg.model.backbone, cfg.model.pretrained, cfg.data.crop_size, cfg.data.buffer_ratio) == \
        ("resnet50", "imagenet", 224, 1.1)
    assert (cfg.train.batch_size, cfg.train.lr, cfg.train.optimizer, cfg.train.epochs, cfg.train.max_steps) == \
        (64, 1e-4, "adam", 5.0, 0)
    assert cfg.data.train_annotations == "data/coco/annotations/instances_train2017.json"
    assert list(cfg.eval.sets) == ["coco128", "coco_val2017"] and "val2017" in cfg.eval.set_paths("coco_val2017")[1]
    assert experiments.experiment_names(path, "finetune") == []
    assert not any("coco128" in n for n in experiments.experiment_names(path))


def test_coco128_preset_is_the_paper_recipe_on_real_coco128(tmp_path):
    path = materialise(ROOT / "params" / "coco128.yaml", tmp_path)
    cfg, paper = load_config(path), load_config(materialise(ROOT / "params" / "paper-coco.yaml", tmp_path / "p"))
    assert (cfg.model, cfg.data.crop_size, cfg.train.lr) == (paper.model, 224, paper.train.lr)
    assert cfg.data.train_annotations == "data/coco128/annotations/train.json"
    assert list(cfg.eval.sets) == ["coco128"]


def test_dvc_yaml_params_exist_in_params_yaml():
    """Every param a stage declares must be in params.yaml (else DVC fails): check the templates."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    params = yaml.safe_load(PARAMS.read_text())
    for name, stage in stages.items():
        body = stage.get("do", stage)
        for p in body.get("params", []):
            if isinstance(p, dict):
                assert p == {"params.yaml": None}, p  # all of params.yaml
                continue
            if "${" in p:
                assert p.startswith(("experiments.", "eval_only.", "finetune.")), p
                continue
            node = params
            for part in p.split("."):
                assert isinstance(node, dict) and part in node, f"{name}: param {p} not in params.yaml"
                node = node[part]
    assert stages["train"]["foreach"] == "${experiments}"
    assert stages["evaluate"]["foreach"] == "${experiments}"
    assert stages["evaluate_only"]["foreach"] == "${eval_only}"
    assert stages["finetune"]["foreach"] == stages["evaluate_finetune"]["foreach"] == "${finetune}"
    assert stages["baseline"]["foreach"] == list(experiments.BASELINES)


# ------------------------------------------------------------------ experiment configs


def test_experiment_config_and_eval_only(tmp_path):
    p = write_params(tmp_path / "params.yaml", {"a": {}, "b": {"model": {"fusion": "fpn"}}},
                     {"b_argmax": {"from": "b", "eval": {"decoding": "argmax"}, "data": {"buffer_ratio": 1.3}}},
                     {"t": {"from": "b", "data": {"train_annotations": "real.json"}, "train": {"lr": 1e-4}}})
    assert experiments.experiment_names(p) == ["a", "b", "t", "b_argmax"]
    assert experiments.experiment_names(p, "trained") == ["a", "b", "t"]
    assert experiments.experiment_names(p, "eval_only") == ["b_argmax"]
    # a finetune entry: its `from`'s recipe, its own changes, and its `from`'s model to start with
    t = experiments.experiment_config(p, "t", runs_dir="somewhere")
    assert (t.model.fusion, t.data.train_annotations, t.train.lr) == ("fpn", "real.json", 1e-4)
    assert t.model.init_from == str(Path("somewhere") / "b" / "model.pt")
    assert experiments.experiment_config(p, "grabcut") == experiments.experiment_config(p, "identity") == load_config(p)
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
    ({"grabcut": {}}, {}, "letters, digits"),
    ({"a": {}}, {"x": {"from": "zzz"}}, "must name one of"),
    ({"a": {}}, {"x": {"from": "identity"}}, "must name one of"),
    ({"a": {}}, {"x": {"from": "a", "model": {"fusion": "fpn"}}}, "needs training"),
    ({"a": {}}, {"x": {"from": "a", "data": {"crop_size": 32}}}, "need training"),
    ({"a": {}}, {"a": {"from": "a"}}, "both"),
])
def test_params_validation(tmp_path, exps, eval_only, match):
    p = write_params(tmp_path / "params.yaml", exps, eval_only)
    with pytest.raises(ValueError, match=match):
        experiments.experiment_names(p)


@pytest.mark.parametrize("finetune,match", [
    ({"t": {"from": "nope"}}, "finetune.t.from must name one of experiments"),
    ({"a": {"from": "a"}}, "both in experiments and in finetune"),
])
def test_finetune_validation(tmp_path, finetune, match):
    p = write_params(tmp_path / "params.yaml", {"a": {}}, finetune=finetune)
    with pytest.raises(ValueError, match=match):
        experiments.experiment_names(p)


def test_find_root_from_a_subfolder(tmp_path, monkeypatch):
    (tmp_path / "params.yaml").write_text("{}")
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    assert experiments.find_root() == tmp_path
    assert experiments.chdir_to_root() == tmp_path and Path.cwd() == tmp_path
    with pytest.raises(FileNotFoundError, match="params file not found: other.yaml"):
        experiments.find_root("other.yaml")


def test_preflight_says_what_is_missing(tmp_path):
    cfg = load_config(materialise(ROOT / "params" / "paper-coco.yaml", tmp_path)).with_overrides(
        {"data": {"train_annotations": str(tmp_path / "coco/annotations/instances_train2017.json")}})
    with pytest.raises(experiments.StudyError, match="instances_train2017.json.*MS COCO 2017.*make coco"):
        experiments.preflight(cfg, "train", device="cpu")
    with pytest.raises(experiments.StudyError, match="data/coco/val2017"):
        experiments.preflight(cfg, "val", device="cpu")
    gone = cfg.with_overrides({"model": {"init_from": str(tmp_path / "runs/x/model.pt")}})
    with pytest.raises(experiments.StudyError, match="runs/x/model.pt: train that experiment first"):
        experiments.preflight(gone, "train", device="cpu")
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
    """On one evaluation set ("tiny"): an identity row (jittered boxes, no model) and a perfect
    'experiment' whose boxes are the truth, laid out as the evaluate stages write them."""
    from bbadj.data.coco import load_coco
    from bbadj.evaluate import evaluate

    root = tmp_path_factory.mktemp("reports")
    cfg = Config()
    coco = load_coco(tiny_synth / "val" / "annotations.json", tiny_synth / "val" / "images", verbose=False)
    m = evaluate(coco, cfg, None, repeats=3, seed=5, progress=False, per_box_csv=root / "per_box" / "identity" / "tiny.csv")
    (root / "metrics").mkdir()
    (root / "metrics" / "identity.json").write_text(json.dumps({"tiny": m}))
    df = evaluation.load_per_box(root / "per_box" / "identity" / "tiny.csv")
    for c in ("x0", "y0", "x1", "y1"):
        df[f"adj_{c}"] = df[f"gt_{c}"]
        df[f"err_{c}"] = 0.0
    df["iou"] = 1.0
    for e in ("top", "bottom", "left", "right"):
        df[f"conf_{e}"] = 0.9
    (root / "per_box" / "perfect").mkdir()
    df.to_csv(root / "per_box" / "perfect" / "tiny.csv", index=False)
    (root / "metrics" / "perfect.json").write_text(json.dumps({"tiny": {**m, **{k: 1.0 for k in METRIC_KEYS}}}))
    return root, m


def tiny_eval(tiny_synth):
    return {"sets": {"tiny": {"annotations": str(tiny_synth / "val" / "annotations.json"),
                              "images": str(tiny_synth / "val" / "images")}}}


def test_box_values_reproduce_the_metrics(identity_reports):
    root, m = identity_reports
    v = evaluation.box_values(evaluation.load_per_box(root / "per_box" / "identity" / "tiny.csv"))
    assert len(v) == m["n_boxes"]
    for k in METRIC_KEYS:
        assert v[k].mean() == pytest.approx(m[k], abs=1e-3), k


def test_results_table_findings_and_plots(identity_reports, tmp_path, tiny_synth):
    import matplotlib

    matplotlib.use("Agg")
    root, _ = identity_reports
    p = write_params(tmp_path / "params.yaml", {"perfect": {}, "missing_one": {"model": {"fusion": "fpn"}}},
                     eval=tiny_eval(tiny_synth))
    res = stats.load_results(p, root)
    assert res.eval_set == "tiny" and res.names == ["identity", "perfect"]
    assert res.missing == ["grabcut", "missing_one"]
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
    assert f"tiny ({m_boxes(res)} boxes x 3 draws" in text and "synthetic" not in text.lower()
    tab = tables.table1(stats.load_all(p, root)).data
    assert len(tab) == 4 + 2 and tab.columns[0] == "mIoU"
    assert tab.index[0][0].startswith("paper") and tab.index[-1][0].startswith("ours, tiny: ")
    # our rows are named after the set they were scored on: a synthetic set is never called COCO
    ours = [" ".join(i) for i in tab.index if i[0].startswith("ours")]
    assert ours and not any("coco" in label.lower() for label in ours)
    import matplotlib.pyplot as plt

    for fig in (plots.plot_gains({"tiny": res}), plots.plot_edge_histograms(res, ["identity", "perfect"]),
                plots.draw_gallery(res, "perfect", tiny_synth / "val" / "annotations.json",
                                   tiny_synth / "val" / "images", n=4)):
        assert fig.axes
        plt.close(fig)


def m_boxes(res):
    return res.metrics["identity"]["n_boxes"]


def test_effects_across_sets(identity_reports, tmp_path, tiny_synth):
    """An effect that has the same sign on every set holds; one that flips does not."""
    root, _ = identity_reports
    p = write_params(tmp_path / "params.yaml", {"perfect": {}, "b": {}}, eval=tiny_eval(tiny_synth))
    res = stats.load_results(p, root)
    twin = stats.Results(**{**res.__dict__, "eval_set": "twin"})
    # b is identity's boxes under another name: clearly worse than "perfect" on both sets
    for r in (res, twin):
        r.values["b"], r.names = r.values["identity"], r.names + ["b"]
        r.labels["b"] = "b"
    table = stats.effects_across_sets({"tiny": res, "twin": twin}, against="perfect")
    assert table.loc["b", "verdict"].startswith("holds on every set for mIoU")
    assert table.loc["b", "effect on tiny"].startswith("-mIoU")
    flipped = stats.Results(**{**twin.__dict__, "values": {**twin.values, "b": twin.values["perfect"],
                                                           "perfect": twin.values["identity"]}})
    table = stats.effects_across_sets({"tiny": res, "flipped": flipped}, against="perfect")
    assert table.loc["b", "verdict"].startswith("reverses between sets on mIoU")
    none = stats.Results(**{**twin.__dict__, "values": {**twin.values, "b": twin.values["perfect"]}})
    table = stats.effects_across_sets({"tiny": res, "none": none}, against="perfect")
    assert table.loc["b", "verdict"] == "clear on tiny only"


# ------------------------------------------------------------------ the report's analyses

def with_rows(res, **rows):
    """``res`` with more rows: name -> per-box DataFrame (the evaluate stage's CSV layout)."""
    for name, df in rows.items():
        res.per_box[name], res.values[name] = df, evaluation.box_values(df)
        res.names, res.labels[name] = res.names + [name], name
    return res


def test_weighted_auroc_on_hand_made_cases():
    conf, pos = np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])
    # pairs (accurate, inaccurate): 0.35 beats 0.1 but not 0.4; 0.8 beats both
    assert confidence.weighted_auroc(conf, pos, np.ones(4))[0] == pytest.approx(0.75)
    assert confidence.weighted_auroc(np.array([0.5, 0.5]), np.array([1, 0]), np.ones(2))[0] == 0.5  # a tie counts half
    # a weight of 2 is the case twice
    w = confidence.weighted_auroc(conf, pos, np.array([[2.0, 1, 1, 1], [1, 1, 0, 1]]))
    dup = confidence.weighted_auroc(np.r_[conf, 0.1], np.r_[pos, 0], np.ones(5))[0]
    assert w[0] == pytest.approx(dup) and w[1] == 1.0


def test_confidence_analyses(identity_reports, tmp_path, tiny_synth):
    root, _ = identity_reports
    p = write_params(tmp_path / "params.yaml", {"perfect": {}}, eval=tiny_eval(tiny_synth))
    res = stats.load_results(p, root)
    ident = res.per_box["identity"]
    ranked, reversed_ = ident.copy(), ident.copy()
    for e, c in evaluation.EDGE_COLUMNS.items():
        ranked[f"adj_{c}"] = reversed_[f"adj_{c}"] = ident[f"jit_{c}"]
        err = (ident[f"jit_{c}"] - ident[f"gt_{c}"]).abs()
        ranked[f"conf_{e}"], reversed_[f"conf_{e}"] = 1 / (1 + err), err
    with_rows(res, ranked=ranked, reversed=reversed_)
    assert not confidence.has_confidence(res, "identity") and not confidence.has_confidence(res, "perfect")
    a = confidence.auroc(res, "ranked")
    assert a["auroc"] == 1.0 and a["lo"] == 1.0 and a["edges"] == 4 * len(ident)
    assert confidence.auroc(res, "reversed")["auroc"] == 0.0
    assert list(confidence.auroc_table(res).index) == ["ranked", "reversed"]
    curve = confidence.selective_curve(res, "ranked")
    assert curve.accurate.iloc[0] == 1.0 and curve.accurate.iloc[-1] == pytest.approx(a["accurate"])
    assert np.allclose(curve.accurate, curve.perfect)  # a perfect ranking is the perfect curve
    rel = confidence.reliability(res, "ranked", n_bins=5)
    assert rel.accurate.iloc[-1] == 1.0 and rel.accurate.iloc[0] == 0.0 and (rel.lo <= rel.accurate).all()
    assert "better than chance" in confidence.conclusion(res, "ranked")
    assert "**worse** than chance" in confidence.conclusion(res, "reversed")
    import matplotlib.pyplot as plt

    plt.close(plots.plot_confidence(res, ["ranked", "reversed"]))


def test_object_size_classes(identity_reports, tmp_path, tiny_synth):
    root, _ = identity_reports
    p = write_params(tmp_path / "params.yaml", {"perfect": {}}, eval=tiny_eval(tiny_synth))
    res = stats.load_results(p, root)
    areas = by_size.object_areas(res)
    anns = {a["id"]: a["area"] for a in json.loads(Path(res.annotations).read_text())["annotations"]}
    assert all(areas[i] == anns[i] for i in areas.index)  # COCO's rule: the annotation's area
    cls = by_size.size_classes(res)
    assert ((areas < 32 ** 2) == (cls == "small")).all() and ((areas >= 96 ** 2) == (cls == "large")).all()
    t = by_size.size_table(res, ["identity", "perfect"])
    counts = [int(label.split("(")[1].rstrip(")")) for label in t.loc["identity"].index]
    assert sum(counts) == len(areas)
    first = t.loc["identity"].index[0]
    mask = (cls == first.split(" ")[0]).to_numpy()
    assert t.loc[("identity", first), "mIoU"] == round(100 * res.values["identity"].miou[mask].mean(), 1)
    assert (t.loc["perfect"].to_numpy() == 100.0).all()
    ci = by_size.size_table(res, ["identity"], with_intervals=True)
    assert ci.iloc[0, 0].startswith(f"{t.iloc[0, 0]:.1f} [")
    gains = by_size.size_gains(res, "identity", ["perfect"])
    assert (gains.loc["perfect"] > 0).all()


def test_seed_noise_decides_what_is_a_real_difference(identity_reports, tmp_path, tiny_synth):
    """A difference can clear the box interval and still be within what another seed gives."""
    root, _ = identity_reports
    p = write_params(tmp_path / "params.yaml", {"perfect": {}, "perfect_seed1": {"train": {"seed": 1}},
                                                "b": {"model": {"fusion": "fpn"}}},
                     eval_only={"perfect_pass2": {"from": "perfect", "eval": {"passes": 2}}}, eval=tiny_eval(tiny_synth))
    res = stats.load_results(p, root)
    ident = res.per_box["identity"]
    with_rows(res, perfect_seed1=ident, b=ident, perfect_pass2=ident)
    assert res.seed_runs == ["perfect", "perfect_seed1"] and "perfect_seed1" not in res.variants
    assert stats.pass_runs(res) == [(1, "perfect"), (2, "perfect_pass2")]
    spread = stats.seed_spread(res)
    for k in METRIC_KEYS:
        assert spread.loc[k, "sd"] == pytest.approx(np.std([1.0, res.value("identity", k)], ddof=1))
    d = stats.paired_difference(res, "b", "perfect")
    assert d.loc["miou", "clear"] and not d.loc["miou", "real"]  # seed 1 is as bad as b
    # untrained identity against one trained row: noise 2 sd, not 2 sqrt(2) sd
    di = stats.paired_difference(res, "perfect", "identity")
    assert di.loc["miou", "seed_noise"] == pytest.approx(2 * spread.loc["miou", "sd"])
    assert d.loc["miou", "seed_noise"] == pytest.approx(2 * np.sqrt(2) * spread.loc["miou", "sd"])
    text = stats.findings_markdown(res)
    assert "trained with 2 seeds" in text and "tests 12 differences" in text  # b and perfect_pass2, 6 metrics
    assert stats.differences_table(res).loc["b", "mIoU"].endswith(" *")


def test_tables_and_summary(identity_reports, tmp_path, tiny_synth):
    root, _ = identity_reports
    p = write_params(tmp_path / "params.yaml", {"perfect": {}}, eval=tiny_eval(tiny_synth))
    results = stats.load_all(p, root)
    styler = tables.table1(results)
    html = styler.to_html()
    assert html.count('<br><span style="font-size:75%') == 2 * 6  # identity and perfect, six metrics
    import re

    rule = next(r for r in html.split("}") if "font-weight: bold" in r)  # one CSS rule lists every bold cell
    bold = sorted(re.findall(r"row(\d+)_col(\d+)", rule))
    assert bold == [("5", str(c)) for c in range(6)]  # the perfect row (after 4 paper rows and identity), every column
    g = tables.gains_over_identity(results).data
    assert g.loc[("ours, tiny", "perfect"), "mIoU"].startswith("+")
    frame = tables.write_summary(results, tmp_path / "out")
    assert list(frame.row) == ["identity", "perfect"] and (frame[frame.row == "perfect"].miou == 100.0).all()
    md = (tmp_path / "out" / "summary.md").read_text()
    assert "| perfect" in md and "100.0" in md and "## tiny" in md
    assert (tmp_path / "out" / "summary.csv").read_text().startswith("row,set,label,kind,miou")


def test_run_records(tmp_path):
    import time

    import torch

    rec = provenance.write_run_record(tmp_path / "per_box" / "x", torch.device("cpu"), time.time() - 90)
    assert rec["torch"] == torch.__version__ and "cores" in rec["device"] and rec["seconds"] >= 90
    t = provenance.run_table(["x", "y"], tmp_path / "train", tmp_path / "per_box")
    assert list(t.row) == ["x"] and list(t.stage) == ["evaluate"] and t.minutes[0] >= 1.5
    assert provenance.run_table(["y"], tmp_path, tmp_path).empty
