"""The report's numbers (bbadj/study/): intervals, the rule that judges a difference, the tables
that round once, the expected error's analyses, and the report assembled from a reports folder."""
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from bbadj.core.box_ops import COORDS, EDGE_COORDS, EDGES
from bbadj.core.config import Config
from bbadj.util.errors import UnknownName
from bbadj.scoring.metrics import METRIC_KEYS, pct
from bbadj.core.params import Params
from bbadj.study import provenance
from bbadj.report import by_size, confidence, findings, plots, results, stats, tables
from bbadj.report.per_box import read_per_box


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


# ------------------------------------------------------------------ a reports folder by hand


@pytest.fixture(scope="module")
def reports(tiny_synth, tmp_path_factory):
    """On one evaluation set ("tiny"), laid out as the evaluate stages write them: the identity row
    (jittered boxes) and rows that move them part of the way to the truth: ``perfect`` (all of it),
    its reruns ``perfect_seed1`` (80%) and ``perfect_threads1`` (90%), ``worse`` (85%, an
    ablation of it), an eval-only row of ``perfect`` (all of it) and ``solo`` (half way, no reruns).
    Each expected error is the true error plus 0.01 px: a perfect ranking."""
    from bbadj.data.coco import load_coco
    from bbadj.scoring.evaluate import evaluate

    root = tmp_path_factory.mktemp("reports")
    coco = load_coco(tiny_synth / "val" / "annotations.json", tiny_synth / "val" / "images", verbose=False)
    m = evaluate(coco, Config(), None, repeats=3, seed=5, progress=False,
                 per_box_csv=root / "per_box" / "identity" / "tiny.csv")
    ident = read_per_box(root / "per_box" / "identity" / "tiny.csv")

    def row(name, frac):  # adjusted = jittered + frac * (true - jittered)
        df = ident.copy()
        for c in COORDS:
            df[f"adj_{c}"] = df[f"jit_{c}"] + frac * (df[f"gt_{c}"] - df[f"jit_{c}"])
        for e, c in EDGE_COORDS.items():
            err = (df[f"adj_{c}"] - df[f"gt_{c}"]).abs()
            df[f"conf_{e}"], df[f"err_px_{e}"] = 0.5, err + 0.01
        (root / "per_box" / name).mkdir(parents=True, exist_ok=True)
        df.to_csv(root / "per_box" / name / "tiny.csv", index=False)
        vals = results.box_values(df)
        (root / "metrics" / f"{name}.json").write_text(json.dumps(
            {"tiny": {**m, **{k: float(vals[k].mean()) for k in METRIC_KEYS}}}))

    (root / "metrics").mkdir()
    (root / "metrics" / "identity.json").write_text(json.dumps({"tiny": m}))
    for name, frac in [("perfect", 1.0), ("perfect_seed1", 0.8), ("perfect_threads1", 0.9), ("worse", 0.85),
                       ("perfect_pass2", 1.0), ("solo", 0.5)]:
        row(name, frac)
    return root, m


@pytest.fixture()
def params(tmp_path, tiny_synth):
    p = {"eval": {"sets": {"tiny": {"annotations": str(tiny_synth / "val" / "annotations.json"),
                                    "images": str(tiny_synth / "val" / "images")}}},
         "rows": {"perfect": {}, "perfect_seed1": {"train": {"seed": 1}}, "perfect_threads1": {"train": {"threads": 1}},
                         "worse": {"model": {"fusion": "fpn"}}, "solo": {"data": {"train_annotations": "x.json"},
                                                                        "model": {"decoder": "linear"}},
                         "missing_one": {"model": {"fusion": "l34_mean"}}},
         "eval_only": {"perfect_pass2": {"from": "perfect", "eval": {"passes": 2}}},
         "study": {"baseline": "perfect", "bootstrap": 200, "bootstrap_seed": 0, "gallery": 2}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    return Params.load(tmp_path / "params.yaml")


def test_results_read_back_what_the_stages_wrote(reports, params):
    root, m = reports
    res = results.load_results(params, "tiny", root)
    assert res.names == ["identity", "perfect", "perfect_seed1", "perfect_threads1", "worse", "solo", "perfect_pass2"]
    assert res.missing == ["grabcut", "missing_one"] and not res.synthetic
    for k in METRIC_KEYS:
        assert res.value("identity", k) == pytest.approx(m[k], abs=1e-3), k
        assert res.value("perfect", k) == 1.0
    t = results.metric_table(res).set_index(["row", "metric"])
    assert (t["lo"] <= t["value"]).all() and (t["value"] <= t["hi"]).all()


def test_parents_reruns_and_the_noise_rule(reports, params):
    root, _ = reports
    res = results.load_results(params, "tiny", root)
    assert stats.reruns(params, "perfect") == ["perfect", "perfect_seed1", "perfect_threads1"]
    assert stats.parent(params, "worse") == stats.parent(params, "perfect_threads1") == "perfect"
    assert stats.parent(params, "perfect_pass2") == "perfect" and stats.parent(params, "perfect") is None
    assert stats.best_model(res) == "perfect"
    sd = stats.rerun_sd(res, "perfect")
    assert stats.rerun_sd(res, "worse") is None and stats.rerun_sd(res, "perfect_threads1") is not None
    three = [[res.value(n, k) for k in METRIC_KEYS] for n in ("perfect", "perfect_seed1", "perfect_threads1")]
    assert np.allclose(stats.rerun_sd(res, "perfect"), np.std(three, axis=0, ddof=1))
    # two trained rows: 2 sqrt(2) sd of the parent's recipe; clear of the interval, yet within the noise
    d = stats.paired_difference(res, "worse", "perfect")
    assert np.allclose(d["noise"], 2 * np.sqrt(2) * sd) and (d["noise_from"] == "perfect").all()
    assert d.loc["miou", "clear"] and not d.loc["miou", "real"]
    # one trained row against the identity row: 2 sd
    di = stats.paired_difference(res, "perfect", "identity")
    assert np.allclose(di["noise"], 2 * sd) and di.loc["miou", "real"]
    # an ablation without reruns of its own carries its parent's recipe's noise (one setting apart)
    dw = stats.paired_difference(res, "worse", "identity")
    assert dw["judged"].all() and np.allclose(dw["noise"], 2 * sd) and stats.noise_source(res, "worse") == "perfect"
    # one model evaluated two ways: no training noise between them, the interval alone judges
    dp = stats.paired_difference(res, "perfect_pass2", "perfect")
    assert (dp["noise"] == 0).all() and dp["judged"].all() and not dp["real"].any()  # identical boxes
    # no reruns on either side: not judged, never real
    ds = stats.paired_difference(res, "solo", "worse")
    assert not ds["judged"].any() and not ds["real"].any() and ds["noise"].isna().all()
    assert ("worse", "perfect") in stats.comparisons(res) and stats.comparisons(res)[0] == ("perfect", "identity")


def test_the_noise_floor_widens_the_rule_per_metric(reports, params, tmp_path):
    """study.noise_floor raises the rule's sd to at least its value (points), metric by metric;
    an unknown metric name is an error naming the key."""
    root, _ = reports
    raw = yaml.safe_load((tmp_path / "params.yaml").read_text())
    raw["study"]["noise_floor"] = {"miou": 50.0}
    (tmp_path / "floor.yaml").write_text(yaml.safe_dump(raw))
    res = results.load_results(Params.load(tmp_path / "floor.yaml"), "tiny", root)
    sd, used = stats.rerun_sd(res, "perfect"), stats.noise_sd(res, "perfect")
    assert used[0] == 0.5 and np.allclose(used[1:], sd[1:])
    d = stats.paired_difference(res, "worse", "perfect")
    assert np.isclose(d.loc["miou", "noise"], 2 * np.sqrt(2) * 0.5) and not d.loc["miou", "real"]
    raw["study"]["noise_floor"] = {"mIoU": 1.0}
    (tmp_path / "floor.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(UnknownName, match="study.noise_floor"):
        stats.noise_sd(results.load_results(Params.load(tmp_path / "floor.yaml"), "tiny", root), "perfect")


def test_a_row_s_seeds_are_its_value_and_its_noise(reports, tmp_path, tiny_synth):
    """A row's per-box file with a seed column (what the evaluate stage writes for every seed of its
    model): the row's value is the mean over its seeds, its training noise their sd, and the noise
    of a difference that of each row's mean (sd / sqrt(seeds))."""
    root, _ = reports
    seeded = tmp_path / "reports"
    shutil.copytree(root, seeded)
    (seeded / "per_box" / "noisy").mkdir()
    parts = [read_per_box(root / "per_box" / n / "tiny.csv").assign(seed=k)
             for k, n in enumerate(("perfect", "perfect_seed1", "perfect_threads1"))]
    pd.concat(parts).to_csv(seeded / "per_box" / "noisy" / "tiny.csv", index=False)
    p = {"eval": {"sets": {"tiny": {"annotations": str(tiny_synth / "val" / "annotations.json"),
                                    "images": str(tiny_synth / "val" / "images")}}},
         "rows": {"noisy": {}, "worse": {"model": {"fusion": "fpn"}}},
         "study": {"baseline": "noisy", "bootstrap": 200, "bootstrap_seed": 0, "seeds": 3}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(p))
    res = results.load_results(Params.load(tmp_path / "params.yaml"), "tiny", seeded)
    three = [[float(results.box_values(f)[k].mean()) for k in METRIC_KEYS] for f in parts]
    assert np.allclose(res.seed_metrics("noisy"), three)
    assert np.allclose([res.value("noisy", k) for k in METRIC_KEYS], np.mean(three, axis=0))
    sd = np.std(three, axis=0, ddof=1)
    assert np.allclose(stats.rerun_sd(res, "noisy"), sd) and stats.n_trainings(res, "noisy") == 3
    assert stats.n_trainings(res, "worse") == 1  # a file written before seeds: one
    d = stats.paired_difference(res, "worse", "noisy")  # worse: one training; noisy: the mean of three
    assert np.allclose(d["noise"], 2 * np.sqrt(sd ** 2 + sd ** 2 / 3))


def test_every_table_rounds_once_and_agrees(reports, params, tmp_path):
    """summary.md, Table 1, the headline and the summary CSV show the same number in every cell:
    the raw value rounded once (pct)."""
    root, _ = reports
    res = results.load_results(params, "tiny", root)
    frame = tables.write_summary({"tiny": res}, tmp_path)
    md = (tmp_path / "summary.md").read_text()
    t1 = tables.table1({"tiny": res}).data
    for name in ("identity", "perfect_threads1", "worse"):
        raw = [res.value(name, k) for k in METRIC_KEYS]
        cells = [f"{round(100 * v, 1):.1f}" for v in raw]
        assert f"| {name} | " + " | ".join(cells) + " |" in md
        assert list(frame.set_index("row").loc[name, list(METRIC_KEYS)]) == [float(c) for c in cells]
        if name != "perfect_threads1":  # reruns are left out of Table 1
            label = tables.row_label(name)
            assert [v.split("<br>")[0] for v in t1.loc[(t1.index[-1][0], label)]] == cells
    head = tables.headline(res, "perfect").data
    assert list(head.loc["ours: jittered boxes, tiny"]) == [f"{round(100 * res.value('identity', k), 1):.1f}"
                                                            for k in METRIC_KEYS]
    assert pct(0.12949999) == 12.9 and pct(0.1295001) == 13.0


def bold_cells(styler) -> list[tuple]:
    """The (row, column) labels a Styler sets in bold (one CSS rule lists every bold cell)."""
    import re

    html = styler.to_html()
    rules = [r for r in html.split("}") if "font-weight: bold" in r]
    cells = {(int(i), int(j)) for r in rules for i, j in re.findall(r"row(\d+)_col(\d+)", r)}
    return [(styler.data.index[i], styler.data.columns[j]) for i, j in sorted(cells)]


def test_bold_never_goes_to_a_baseline(reports, params):
    """Even when every model row is worse than the jittered boxes, the best model row is bold."""
    root, _ = reports
    res = results.load_results(params, "tiny", root)
    for name in res.models:
        res.values[name] = res.values["identity"] - 0.01
    bold = bold_cells(tables.table1({"tiny": res}))
    assert len(bold) >= 6, "one bold cell per metric at least"
    assert not {row for (_, row), _ in bold} & {tables.row_label(n) for n in ("identity", "grabcut")}


def test_the_headline_says_how_far_from_the_paper(reports, params):
    root, _ = reports
    res = results.load_results(params, "tiny", root)
    text = findings.headline(res, "perfect")
    assert "beyond the interval and the training noise on **all six metrics**" in text
    assert "reach the aim, half the paper's gain, on every metric" in text or "fall short on" in text
    share = tables.share_of_paper(res, "perfect")
    assert f"{share.min():.2f} to {share.max():.2f}" in text
    weak = findings.headline(res, "perfect_threads1")
    assert "fall short on" in weak or "reach the aim" in weak
    assert "noise" in findings.rule(res) and "`perfect` was trained 3 times" in findings.rule(res)


def test_weighted_auroc_on_hand_made_cases():
    conf, pos = np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])
    # pairs (accurate, inaccurate): 0.35 beats 0.1 but not 0.4; 0.8 beats both
    assert confidence.weighted_auroc(conf, pos, np.ones(4))[0] == pytest.approx(0.75)
    assert confidence.weighted_auroc(np.array([0.5, 0.5]), np.array([1, 0]), np.ones(2))[0] == 0.5  # a tie counts half
    w = confidence.weighted_auroc(conf, pos, np.array([[2.0, 1, 1, 1], [1, 1, 0, 1]]))  # a weight of 2: the case twice
    dup = confidence.weighted_auroc(np.r_[conf, 0.1], np.r_[pos, 0], np.ones(5))[0]
    assert w[0] == pytest.approx(dup) and w[1] == 1.0


def test_expected_error_analyses(reports, params):
    """In the fixture each expected error is the true error plus 0.01 px: a perfect ranking, on the
    diagonal of the reliability plot; box size alone ranks worse; the confidence, constant, at 0.5."""
    root, _ = reports
    res = results.load_results(params, "tiny", root)
    assert not confidence.has_confidence(res, "identity") and confidence.has_confidence(res, "perfect_seed1")
    a = confidence.auroc(res, "perfect_seed1")
    assert a.loc["err_px", "auroc"] == 1.0 and a.loc["conf", "auroc"] == 0.5
    assert a.loc["size", "auroc"] < 1.0 and a.loc["err_px", "vs_size_lo"] > 0
    assert a.attrs["edges"] == 4 * len(res.per_box["perfect_seed1"])
    rel = confidence.reliability(res, "perfect_seed1", n_bins=5)
    assert np.allclose(rel.predicted, rel.observed + 0.01) and (rel.lo <= rel.observed + 1e-9).all()
    curve = confidence.selective_curve(res, "perfect_seed1")
    assert np.allclose(curve.err_px, curve.perfect) and curve.random.iloc[0] == pytest.approx(a.attrs["accurate"])
    text = confidence.conclusion(res, "perfect_seed1")
    assert "adds to what box size alone tells" in text and "reaches the aim of 0.85" in text
    import matplotlib.pyplot as plt

    plt.close(plots.plot_confidence(res, ["perfect_seed1"]))


def test_object_size_classes(reports, params):
    root, _ = reports
    res = results.load_results(params, "tiny", root)
    areas = by_size.object_areas(res)
    anns = {a["id"]: a["area"] for a in json.loads(Path(res.annotations).read_text())["annotations"]}
    assert all(areas[i] == anns[i] for i in areas.index)  # COCO's rule: the annotation's area
    cls = by_size.size_classes(res)
    assert ((areas < 32 ** 2) == (cls == "small")).all() and ((areas >= 96 ** 2) == (cls == "large")).all()
    t = by_size.size_table(res, ["identity", "perfect"])
    assert sum(int(label.split("(")[1].rstrip(")")) for label in t.loc["identity"].index) == len(areas)
    assert (t.loc["perfect"].to_numpy() == 100.0).all()
    ci = by_size.size_table(res, ["identity"], with_intervals=True)
    assert ci.iloc[0, 0].startswith(f"{t.iloc[0, 0]:.1f} [")
    assert (by_size.size_gains(res, "identity", ["perfect"]).loc["perfect"] > 0).all()


def test_the_report_renders_from_a_reports_folder(reports, params, tmp_path):
    """Every section of the report from the files the stages write (training curves included), and
    its outputs."""
    import matplotlib

    matplotlib.use("Agg")
    from bbadj.report.report import Report

    root, _ = reports
    curves = root / "train" / "perfect" / "plots" / "metrics"
    curves.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"step": [1, 2, 3], "loss": [3.0, 2.0, 1.5]}).to_csv(curves / "loss.tsv", sep="\t", index=False)
    r = Report.load(params.path, reports_dir=root)
    assert r.best == {"tiny": stats.best_model(r.main)} and r.main.eval_set == "tiny"
    assert "Base recipe" in r.header() and "one CPU family only" in r.header()
    for part in (*r.main_result(), *r.ablations(r.main), *r.confidence(r.main), r.table1(), *r.figures(),
                 *r.appendix()):
        assert part is not None
    r.write_outputs()
    assert "jittered boxes" in (root / "headline.md").read_text()
    assert (root / "summary.md").exists() and (root / "plots" / "loss.csv").read_text().startswith("step,loss,row")
    assert any(n in r.rows_table().index for n in ("perfect", "solo"))


def test_run_records(tmp_path):
    import time

    import torch

    rec = provenance.write_run_record(tmp_path / "per_box" / "x", torch.device("cpu"), time.time() - 90)
    assert rec["torch"] == torch.__version__ and "cores" in rec["device"] and rec["seconds"] >= 90
    stages = [(n, stage, tmp_path / folder / n) for n in ("x", "y") for stage, folder in
              (("train", "train"), ("evaluate", "per_box"))]
    t = provenance.run_table(stages)
    assert list(t.row) == ["x"] and list(t.stage) == ["evaluate"] and t.minutes[0] >= 1.5
    assert provenance.run_table([("y", "train", tmp_path)]).empty


def test_edges_and_coordinates_are_named_once():
    assert len(EDGES) == len(EDGE_COORDS) == 4 and set(EDGE_COORDS.values()) == set(COORDS)


def test_the_within_size_ceiling_of_a_spread_of_expected_errors(monkeypatch):
    """A score whose expected errors are all alike cannot rank (ceiling 0.5); one that spreads them
    from far below to far above 1 px can (ceiling near 1)."""
    import pandas as pd

    from bbadj.report import confidence

    n = 400
    for err_px, low, high in ((np.full(n, 1.0), 0.45, 0.55), (np.tile([0.01, 100.0], n // 2), 0.95, 1.0)):
        d = pd.DataFrame({"box": np.arange(n), "edge": "top", "conf": 0.5, "err_px": err_px,
                          "size": np.repeat(np.arange(n // 2), 2).astype(float), "abs_err": 0.0, "accurate": True})
        monkeypatch.setattr(confidence, "edge_cases", lambda res, name, d=d: d.copy())
        assert low <= confidence.within_size_ceiling(None, "x") <= high


def test_training_curves_replace_their_files_whole(tmp_path):
    """dvclive writes into a temporary folder; each curve then replaces its tracked copy in one step,
    the stage's other files (run.json) stay, and no temporary folder is left."""
    import json

    from bbadj.study.train_stage import write_training_curves

    log = tmp_path / "train_log.jsonl"
    entries = [{"step": s, "loss": 3.0 / s, "lr": 1e-3, "boxes_per_s": 50.0, "epoch": s / 10} for s in (1, 2, 3)]
    log.write_text("".join(json.dumps(e) + "\n" for e in entries))
    live = tmp_path / "train" / "l4"
    (live / "plots" / "metrics").mkdir(parents=True)
    (live / "plots" / "metrics" / "old_curve.tsv").write_text("step\told_curve\n")
    (live / "run.json").write_text("{}")
    write_training_curves(log, live)
    loss = (live / "plots" / "metrics" / "loss.tsv").read_text().splitlines()
    assert loss[0].split("\t") == ["step", "loss"] and len(loss) == 4
    assert not (live / "plots" / "metrics" / "old_curve.tsv").exists() and (live / "run.json").exists()
    assert json.loads((live / "metrics.json").read_text())["step"] == 3
    assert sorted(p.name for p in (tmp_path / "train").iterdir()) == ["l4"]


def test_one_broken_row_does_not_flatten_the_gains_figure():
    """The gains figure's axis covers the rows near one another, 0 and the aim; a row far off them
    (l4_buffer_1p0 at -20 to -25 points) is drawn at the edge, not on the axis."""
    from bbadj.report.plots import gain_limits

    rows = [(3.1, 2.5, 3.8), (2.4, 1.8, 3.0), (2.9, 2.2, 3.5), (-0.6, -1.2, 0.1), (-22.9, -25.0, -20.6)]
    (lo, hi), outliers = gain_limits(rows, (0.0, 3.5))
    assert outliers == [4] and -2 < lo < -1.2 and 3.8 < hi < 4.5
    assert gain_limits(rows[:4], (0.0, 3.5))[1] == []
    # edge < 3 px of the committed study: the rest from -2.6 to the aim +11.3, l4_buffer_1p0 at -23.8
    edge3 = [(4.6, 3.3, 5.9), (6.8, 5.5, 8.1), (-0.7, -2.0, 0.6), (-2.6, -3.8, -1.4), (-0.4, -1.2, 0.4),
             (-23.8, -26.0, -21.6)]
    assert gain_limits(edge3, (0.0, 11.3))[1] == [5]


def test_the_tables_promise_only_what_they_show(reports, params):
    """The main table's caption speaks of bold only where a cell is bold; Table 1 has no header over
    its index; a table numbered 0, 1, ... (the stages' devices) shows no numbers; every figure of
    the report has an alt text saying what it shows."""
    import matplotlib

    matplotlib.use("Agg")
    from bbadj.report.report import as_html, figure_html

    root, _ = reports
    res = results.load_results(params, "tiny", root)
    for best in ("perfect", "worse"):
        head = tables.headline(res, best)
        assert ("Bold:" in head.caption) == bool(bold_cells(head)), (best, head.caption)
    html = tables.table1({"tiny": res}).to_html()
    assert ">source<" not in html and ">row<" not in html
    frame = pd.DataFrame({"row": ["a", "b"], "minutes": [1.0, 2.0]})
    assert "<th>0</th>" not in as_html(frame) and "<th>row</th>" in as_html(frame)
    fig = plots.plot_gains({"tiny": res})
    assert 'alt="Each model row' in figure_html(fig)
