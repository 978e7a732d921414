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

from ...params import BASELINES, IDENTITY, Params
from .. import provenance
from . import by_size, confidence, curves, findings, plots, stats, tables
from .results import Results, load_all


def figure_html(fig) -> str:
    """A matplotlib figure as an inline PNG (for figures inside collapsed sections)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return f'<img style="max-width:100%" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def as_html(part: Any) -> str:
    """Markdown text, a DataFrame or Styler, or a figure, as HTML."""
    import mistune
    import pandas as pd

    if isinstance(part, str):
        return mistune.html(part)
    if isinstance(part, pd.DataFrame):
        return part.to_html()
    if hasattr(part, "to_html"):  # a Styler
        return part.to_html()
    return figure_html(part)


README_BLOCK = ("<!-- results: written by the report stage (reports/headline.md); do not edit by hand -->",
                "<!-- end of results -->")


def replace_block(text: str, block: str) -> str:
    """``text`` with what lies between ``README_BLOCK``'s two markers replaced by ``block`` (left
    as it is when it has no such markers)."""
    begin, end = README_BLOCK
    if begin not in text or end not in text:
        return text
    head, rest = text.split(begin, 1)
    return f"{head}{begin}\n{block.strip()}\n{end}{rest.split(end, 1)[1]}"


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

    @classmethod
    def load(cls, params_path: str | Path = "params.yaml", reports_dir: str | Path = "reports",
             n_boot: int | None = None) -> "Report":
        overrides = {"study": {"bootstrap": int(n_boot)}} if n_boot else None
        params = Params.load(params_path, overrides)
        results = load_all(params, reports_dir)
        return cls(params, results, {s: stats.best_model(r) for s, r in results.items() if r.models},
                   Path(reports_dir))

    @property
    def main(self) -> Results:
        """The set of the main result: the first real-photo set (else the first)."""
        return next((r for r in self.results.values() if not r.synthetic), next(iter(self.results.values())))

    # --- the sections, in the report's order

    def header(self) -> str:
        head = provenance.header()
        runs = self.run_table()
        devices = ", ".join(sorted(set(runs.device))) if len(runs) else "not recorded"
        cfg = self.params.base
        recipe = (f"`{cfg.model.backbone}` (weights: {cfg.model.pretrained}, trained from {cfg.model.train_from}), "
                  f"`{cfg.model.fusion}` fusion, `{cfg.model.decoder}` decoders, crop {cfg.data.crop_size} px, buffer "
                  f"ratio {cfg.data.buffer_ratio}, {cfg.train.max_steps or cfg.train.epochs} "
                  f"{'steps' if cfg.train.max_steps else 'epochs'} of {cfg.train.batch_size} boxes, lr {cfg.train.lr}, "
                  f"loss `{cfg.train.loss}`, trained on `{cfg.data.train_annotations}`")
        return (f"**Base recipe** (the default row `{self.params.report.baseline}`): {recipe}. "
                f"**Evaluation sets:** " + "; ".join(r.source for r in self.results.values()) + ".\n\n"
                f"<small>Rendered {head['rendered']} from commit `{head['commit']}`, torch {head['torch']}, "
                f"Python {head['python']}, on {devices}: {runs.minutes.sum():.1f} minutes of training and "
                f"evaluation in all. Bit-identical reruns hold on one CPU family only: another CPU's float "
                f"kernels train other models (docs/noise.md).</small>")

    def main_result(self) -> list:
        res = self.main
        best = self.best[res.eval_set]
        return [tables.headline(res, best), findings.headline(res, best)]

    def ablations(self, res: Results) -> list:
        return [tables.ablation_table(res), findings.rule(res)]

    def confidence(self, res: Results) -> list:
        best = self.best[res.eval_set]
        shown = list(dict.fromkeys([self.params.report.baseline, best]))
        shown = [n for n in shown if n in res.names and confidence.has_confidence(res, n)]
        if not shown:
            return ["No row with a model has an expected error on this set."]
        a = confidence.auroc(res, best)
        table = a.assign(**{c: a[c].round(3) for c in a.columns}).rename(index=confidence.SCORES)
        caption = (f"`{best}`'s edges: each score's AUROC for \"within {confidence.ACCURATE_PX:g} px\" with its 95% "
                   f"interval (lo, hi), and its difference from box size alone's (vs_size) with that interval.")
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
        """The reruns of each recipe that has them, per metric, and their sd."""
        import pandas as pd

        from ...metrics import METRIC_KEYS, METRIC_LABELS, pct

        parts = []
        for rep in dict.fromkeys(stats.representative(self.params, n) for n in res.models):
            runs = [n for n in stats.reruns(self.params, rep) if n in res.names]
            if len(runs) < 2:
                continue
            t = pd.DataFrame({n: [pct(res.value(n, k)) for k in METRIC_KEYS] for n in runs},
                             index=[METRIC_LABELS[k] for k in METRIC_KEYS])
            t["sd (points)"] = [round(100 * v, 2) for v in stats.rerun_sd(res, rep)]
            t["the rule's sd"] = [round(100 * v, 2) for v in stats.noise_sd(res, rep)]
            parts += [f"Reruns of `{rep}` (percent):", t]
        return parts or ["No recipe has reruns on this set: differences between trained rows are not judged."]

    def rows_table(self) -> Any:
        import pandas as pd

        return pd.DataFrame({"group": {n: r.group for n, r in self.params.rows.items()},
                             "changes from the base recipe": {n: self.params.describe(n) for n in self.params.rows},
                             "compared with": {n: stats.parent(self.params, n) or "" for n in self.params.rows}})

    def run_table(self) -> Any:
        return provenance.run_table(self.params.names("all"), self.reports_dir / "train", self.reports_dir / "per_box")

    # --- the outputs

    def write_outputs(self, readme: str | Path | None = None) -> None:
        """``summary.csv``/``.md``, ``headline.md`` (the main result, also written into ``readme``'s
        results block) and ``plots/loss.csv`` (dvc plots)."""
        from ...util.outputs import write_text

        tables.write_summary(self.results, self.reports_dir)
        res = self.main
        text = (f"{findings.headline(res, self.best[res.eval_set])}\n\n"
                f"{tables.headline_markdown(res, self.best[res.eval_set])}") if res.eval_set in self.best else ""
        write_text(self.reports_dir / "headline.md", text + "\n")
        if readme and Path(readme).exists():
            write_text(readme, replace_block(Path(readme).read_text(), text))
        curves.write_loss_table(self.reports_dir / "train", self.params.names("trained"), self.reports_dir / "plots" / "loss.csv")
