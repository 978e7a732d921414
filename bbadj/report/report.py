"""The report stage's logic (``notebooks/report.ipynb`` holds the narrative and calls these):
every number it shows, loaded once, section by section, and its outputs, each written only once
complete. Real photographs come first everywhere; each fact is stated in one place; the detail
sits in collapsed sections."""
from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.params import BASELINES, IDENTITY, Params
from ..core.tiers import DEFAULT, folders
from ..study import provenance
from . import budgets, by_size, confidence, curves, findings, plots, stats, tables
from .results import Results, load_all


def figure_html(fig, alt: str | None = None) -> str:
    """A matplotlib figure as an inline PNG with its alt text (``alt``, else the figure's label, which
    the report's plotting functions set to what the figure shows)."""
    import html

    import matplotlib.pyplot as plt

    alt = alt or fig.get_label() or "a figure of the report"
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return (f'<img style="max-width:100%" alt="{html.escape(alt)}" '
            f'src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">')


def as_html(part: Any) -> str:
    """Markdown text, a DataFrame or Styler, or a figure, as HTML."""
    import mistune
    import pandas as pd

    if isinstance(part, str):
        return mistune.html(part)
    if isinstance(part, pd.DataFrame):  # a plain numbering (0, 1, ...) is no column of the table
        return part.to_html(index=not isinstance(part.index, pd.RangeIndex), border=0)
    if hasattr(part, "to_html"):  # a Styler
        return part.to_html()
    return figure_html(part)


def details(summary: str, *parts: Any) -> Any:
    """A collapsed section (``<details>``) holding ``parts``."""
    from IPython.display import HTML

    body = "\n".join(as_html(p) for p in parts)
    return HTML(f"<details><summary><b>{summary}</b></summary>\n{body}\n</details>")


@dataclass
class Report:
    """Everything the report shows, computed from the params and the stages' outputs."""

    params: Params
    results: dict[str, Results]  # per evaluation set, real photographs first
    best: dict[str, str]  # per set, its best model row
    reports_dir: Path
    default_tier: dict[str, Results] | None = None  # another tier's report: the default tier's results

    @classmethod
    def load(cls, params_path: str | Path = "params.yaml", tier: str = DEFAULT, n_boot: int | None = None,
             reports_dir: str | Path | None = None) -> "Report":
        """The report of ``tier`` (its results in ``reports_dir``, default the tier's folder); a
        tier other than the default also reads the default tier's results, to set each ablation's
        answer beside the default budget's."""
        overrides = {"study": {"bootstrap": int(n_boot)}} if n_boot else None
        params = Params.load(params_path, overrides, tier=tier)
        results = load_all(params, reports_dir)
        other = None if tier == DEFAULT else load_all(Params.load(params_path, overrides, tier=DEFAULT))
        return cls(params, results, {s: stats.best_model(r) for s, r in results.items() if r.models},
                   Path(reports_dir) if reports_dir is not None else params.folders.reports, other)

    @property
    def main(self) -> Results:
        """The set of the main result: the test set (``eval.sets``' ``role: test``), which nothing was chosen on."""
        return self.results[self.params.base.eval.test_set]

    # --- the sections, in the report's order

    def header(self) -> str:
        head = provenance.header()
        runs = self.run_table()
        devices = ", ".join(sorted(set(runs.device))) if len(runs) else "not recorded"
        return (f"**Base recipe** (the default row `{self.params.report.baseline}`): {self.recipe()}. "
                f"**Evaluation sets:** " + "; ".join(r.source for r in self.results.values()) + ".\n\n"
                f"<small>Rendered {head['rendered']} from commit `{head['commit']}`, torch {head['torch']}, "
                f"Python {head['python']}, on {devices}: {runs.minutes.sum():.1f} minutes of training and "
                f"evaluation in all. Bit-identical reruns hold on one CPU family only: another CPU's float "
                f"kernels train other models (docs/noise.md).</small>" + (
                    "\n\nThe same rows at a budget where the model works, each ablation's answer beside this one's: "
                    "[the long tier's report](long/report.html) (`make repro-long`)." if self.params.tier == DEFAULT
                    else ""))

    @property
    def main_row(self) -> str:
        """The row of the main result: the default tier's best row (its numbers optimistic, and said
        so); another tier's default row, chosen before it ran, as its aim asks."""
        return self.best[self.main.eval_set] if self.params.tier == DEFAULT else self.params.report.baseline

    def recipe(self) -> str:
        """The base recipe in one line (a tier's: its pretraining too)."""
        cfg = self.params.base
        text = (f"`{cfg.model.backbone}` (weights: {cfg.model.pretrained}, trained from {cfg.model.train_from}), "
                f"`{cfg.model.fusion}` fusion, `{cfg.model.decoder}` decoders, crop {cfg.data.crop_size} px, buffer "
                f"ratio {cfg.data.buffer_ratio}, {cfg.train.max_steps or cfg.train.epochs} "
                f"{'steps' if cfg.train.max_steps else 'epochs'} of {cfg.train.batch_size} boxes, lr {cfg.train.lr}, "
                f"loss `{cfg.train.loss}`, trained on `{cfg.data.train_annotations}`")
        pre = self.params.names("pretrain")
        if pre:
            p = self.params[pre[0]].config
            text += (f"; each backbone first trained {p.train.max_steps} steps on `{p.data.train_annotations}` "
                     f"(synthetic images) from its row's own starting weights")
        return text

    def main_result(self) -> list:
        res, row = self.main, self.main_row
        chosen_before = self.params.tier != DEFAULT
        return [tables.headline(res, row), findings.headline(res, row, chosen_before, self.best[res.eval_set])]

    def at_two_budgets(self) -> list:
        """Each ablation's answer at the default budget and at this tier's, in words first (the
        report's opening); nothing in the default tier's own report."""
        if self.default_tier is None:
            return []
        out = ["## Which design choices matter, at two budgets",
               f"Every ablation of the study trained twice: at the default budget (`make repro`, "
               f"[its report](../report.html)) and at the long one (this report: "
               f"{self.recipe()}). Each row is compared with its parent at each budget by the report's rule."]
        for s, res in self.results.items():
            if s not in self.default_tier:
                continue
            found = budgets.answers(self.default_tier[s], res)
            out += [f"**{res.source}**", budgets.answer_in_words(found),
                    "\n".join(f"- {budgets.sentence(a)}" for a in found), budgets.table(found)]
        return out

    def ablations(self, res: Results) -> list:
        return [tables.ablation_table(res), findings.rule(res)]

    def confidence(self, res: Results) -> list:
        best = self.best[res.eval_set]
        shown = list(dict.fromkeys([self.params.report.baseline, best]))
        shown = [n for n in shown if n in res.names and confidence.has_confidence(res, n)]
        if not shown:
            return ["No row with a model has an expected error on this set."]
        row = self.main_row if self.main_row in shown else shown[-1]
        a = confidence.auroc(res, row)
        table = a.assign(**{c: a[c].round(3) for c in a.columns}).rename(index=confidence.SCORES)
        caption = (f"`{row}`'s edges: each score's AUROC for \"within {confidence.ACCURATE_PX:g} px\" with its 95% "
                   f"interval (lo, hi), its difference from box size alone's (vs_size) with that interval, and its "
                   f"AUROC among boxes of one size (within_size: the mean over {confidence.SIZE_BINS} equal bins of "
                   f"the box side; within_lo, within_hi).")
        return [" ".join(confidence.conclusion(res, n) for n in shown), caption, table,
                plots.plot_confidence(res, shown)]

    def table1(self) -> Any:
        return tables.table1(self.results)

    def figures(self) -> list:
        out = [plots.plot_gains(self.results)]
        for res in self.results.values():
            if plots.buffer_rows(res):
                out.append(plots.plot_buffer_curve(res))
        if any(plots.pass_rows(r) for r in self.results.values()):
            out.append(plots.plot_passes(self.results))
        out.append(curves.plot_training_curves(self.params, self.reports_dir / "train"))
        return out

    def appendix(self) -> list:
        """Collapsed sections: the detail behind the main text."""
        out = []
        for s, res in self.results.items():
            names = list(dict.fromkeys([*BASELINES, self.params.report.baseline, self.best.get(s, IDENTITY)]))
            names = [n for n in names if n in res.names]
            out.append(details(f"By object size: {res.source}",
                               "COCO's size classes by the annotation's `area`: small below 32² px, large from 96² "
                               "px (box count in brackets); the 95% interval within the class.",
                               by_size.size_table(res, names, with_intervals=True),
                               "mIoU gain over identity, points:", by_size.size_gains(res, IDENTITY)))
            out.append(details(f"Training noise: {res.source}", *self.noise(res)))
            out.append(details(f"Edge errors: {res.source}",
                               "Signed error (predicted minus true edge, px) of each edge over all boxes and draws.",
                               plots.plot_edge_histograms(res, names[names.index(IDENTITY):])))
            if s in self.best:
                out.append(details(f"Gallery: {res.source}",
                                   plots.draw_gallery(res, self.best[s], n=self.params.report.gallery)))
        out.append(details("Every row and what it changes", self.rows_table()))
        out.append(details("Each stage's device and duration", self.run_table()))
        return out

    # --- the parts

    def noise(self, res: Results) -> list:
        """Each recipe's seeds (or reruns), per metric, and their sd."""
        import pandas as pd

        from ..scoring.metrics import METRIC_KEYS, METRIC_LABELS, pct

        parts = []
        for rep in dict.fromkeys(stats.representative(self.params, n) for n in res.models):
            if not self.params[rep].trained or stats.rerun_sd(res, rep) is None:
                continue
            seeds = res.seed_metrics(rep)
            if len(seeds) >= 2:
                t = pd.DataFrame({f"seed {k}": [pct(v) for v in seeds[i]] for i, k in
                                  enumerate(sorted(res.per_box[rep]["seed"].unique()))},
                                 index=[METRIC_LABELS[k] for k in METRIC_KEYS])
                what = f"Seeds of `{rep}` (percent):"
            else:
                runs = [n for n in stats.reruns(self.params, rep) if n in res.names]
                t = pd.DataFrame({n: [pct(res.value(n, k)) for k in METRIC_KEYS] for n in runs},
                                 index=[METRIC_LABELS[k] for k in METRIC_KEYS])
                what = f"Reruns of `{rep}` (percent):"
            t["sd (points)"] = [round(100 * v, 2) for v in stats.rerun_sd(res, rep)]
            t["the rule's sd"] = [round(100 * v, 2) for v in stats.noise_sd(res, rep)]
            parts += [what, t]
        return parts or ["No recipe has seeds or reruns on this set: differences between trained rows are not judged."]

    def rows_table(self) -> Any:
        import pandas as pd

        return pd.DataFrame({"group": {n: r.group for n, r in self.params.rows.items()},
                             "changes from the base recipe": {n: self.params.describe(n) for n in self.params.rows},
                             "compared with": {n: stats.parent(self.params, n) or "" for n in self.params.rows}})

    def run_table(self) -> Any:
        where = self.params.folders
        stages = [(n, "train", where.curves_dir(n)) for n in self.params.names("pretrain") + self.params.names("trained")]
        stages += [(n, "evaluate", self.reports_dir / "per_box" / n) for n in self.params.names("all")
                   if self.params.tier == DEFAULT or n not in BASELINES]
        return provenance.run_table(stages)

    # --- the outputs

    def write_outputs(self) -> None:
        """``summary.csv``/``.md``, ``headline.md`` (the main result, which the README links) and
        ``plots/loss.csv`` (dvc plots): each an output of the report stage in dvc.yaml, and nothing
        else (a stage writes only what DVC knows it writes)."""
        from ..util.outputs import write_text

        tables.write_summary(self.results, self.reports_dir)
        res = self.main
        text = (f"{findings.headline(res, self.main_row, self.params.tier != DEFAULT, self.best[res.eval_set])}\n\n"
                f"{tables.headline_markdown(res, self.main_row)}") if res.eval_set in self.best else ""
        write_text(self.reports_dir / "headline.md", text + "\n")
        curves.write_loss_table(self.reports_dir / "train", self.params.names("trained"), self.reports_dir / "plots" / "loss.csv")
