"""The report stage's logic (``notebooks/report.ipynb`` holds the narrative and calls these):
every number it shows, loaded once, section by section, and its outputs, each written only once
complete. The test set comes first everywhere (its headline and verdicts; the validation sets in
the appendix); every verdict is read from one comparisons table (``comparisons.csv``); each fact is
stated in one place; the detail sits in collapsed sections."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from ..core.params import BASELINES, IDENTITY, Params
from ..core.tiers import DEFAULT
from ..study import provenance
from . import budgets, findings, tables
from ..analysis import by_size, comparisons, confidence, context, curves, stats
from ..figures import plots
from ..analysis.results import Results, load_all


def figure_html(fig, alt: str | None = None) -> str:
    """A matplotlib figure as an inline PNG with its alt text (``alt``, else the figure's label,
    which the report's plotting functions set to what the figure shows)."""
    import html

    import matplotlib.pyplot as plt

    alt = alt or fig.get_label() or "a figure of the report"
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return (
        f'<img style="max-width:100%" alt="{html.escape(alt)}" '
        f'src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'
    )


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
    results: dict[str, Results]  # per evaluation set, the test set first
    best: dict[str, str]  # per set, its best model row (chosen on a validation set if any)
    reports_dir: Path
    default_tier: dict[str, Results] | None = None  # another tier's report: the default tier's
    chosen_on: dict[str, str] = field(default_factory=dict)  # per set, where its best was chosen

    @classmethod
    def load(
        cls,
        params_path: str | Path = "params.yaml",
        tier: str = DEFAULT,
        n_boot: int | None = None,
        reports_dir: str | Path | None = None,
    ) -> "Report":
        """The report of ``tier`` (its results in ``reports_dir``, default the tier's folder); a
        tier other than the default also reads the default tier's results, to set each ablation's
        answer beside the default budget's."""
        overrides = {"study": {"bootstrap": int(n_boot)}} if n_boot else None
        params = Params.load(params_path, overrides, tier=tier)
        results = load_all(params, reports_dir)
        other = None if tier == DEFAULT else load_all(Params.load(params_path, overrides, tier=DEFAULT))
        best, chosen_on = choose_best(results)
        return cls(
            params,
            results,
            best,
            Path(reports_dir) if reports_dir is not None else params.folders.reports,
            other,
            chosen_on,
        )

    @property
    def main(self) -> Results:
        """The set of the main result and of every verdict: the test set (else the first real-photo
        set, a validation set, and the report says so)."""
        return next(iter(self.results.values()))

    @property
    def validation(self) -> list[Results]:
        """The other sets: the appendix's."""
        return [r for r in self.results.values() if r is not self.main]

    @cached_property
    def comparisons(self) -> Any:
        """Every comparison of this report (``comparisons.table``): what ``comparisons.csv`` holds
        and every verdict, sentence and headline is read from."""
        main = {s: (self.main_row if r is self.main else self.best.get(s)) for s, r in self.results.items()}
        if self.params.tier != DEFAULT:  # the row chosen before the run on every set: no best's
            main = {s: self.params.report.baseline for s in self.results}
        return comparisons.table(self.results, main, self.default_tier)

    @cached_property
    def default_comparisons(self) -> Any:
        """The default tier's report's comparisons (None in the default tier's own report)."""
        return self.default_report().comparisons if self.default_tier is not None else None

    def default_report(self) -> "Report":
        """The default tier's report on the same files (a long report sets its answers beside
        it)."""
        best, chosen_on = choose_best(self.default_tier)
        params = next(iter(self.default_tier.values())).params
        return Report(params, self.default_tier, best, params.folders.reports, None, chosen_on)

    # --- the sections, in the report's order

    def header(self) -> str:
        head = provenance.header()
        runs = self.run_table()
        devices = ", ".join(sorted(set(runs.device))) if len(runs) else "not recorded"
        sets = "; ".join(r.source for r in self.results.values())
        text = (
            f"**Base recipe** (the default row `{self.params.report.baseline}`): {self.recipe()}. "
            f"**Evaluation sets:** {sets}.\n\n"
        )
        if self.main.role != "test":
            text += (
                "**No evaluation set has the role `test`**: the headline and the verdicts below "
                f"come from `{self.main.eval_set}`, a validation set the recipes were chosen on "
                "(their numbers are optimistic). Give one set `role: test` in `eval.sets` "
                "(docs/statistics.md).\n\n"
            )
        text += (
            f"<small>Rendered {head['rendered']} from commit `{head['commit']}`, torch "
            f"{head['torch']}, Python {head['python']}, on {devices}: {runs.minutes.sum():.1f} "
            "minutes of training and evaluation in all. Bit-identical reruns hold on one CPU "
            "family only: another CPU's float kernels train other models (docs/noise.md). Every "
            "comparison, with its interval, p values and verdict: `comparisons.csv` beside this "
            "report.</small>"
        )
        if self.params.tier == DEFAULT:
            text += (
                "\n\nThe same rows at a budget where the model works, each ablation's answer "
                "beside this one's: [the long tier's report](long/report.html) (`make "
                "repro-long`)."
            )
        return text

    @property
    def main_row(self) -> str:
        """The row of the main result: the default tier's best row (its numbers optimistic, and said
        so, unless chosen on a validation set); another tier's default row, chosen before it ran, as
        its aim asks."""
        return self.best[self.main.eval_set] if self.params.tier == DEFAULT else self.params.report.baseline

    def recipe(self) -> str:
        """The base recipe in one line (a tier's: its pretraining too)."""
        cfg = self.params.base
        text = (
            f"`{cfg.model.backbone}` (weights: {cfg.model.pretrained}, trained from "
            f"{cfg.model.train_from}), `{cfg.model.fusion}` fusion, `{cfg.model.decoder}` "
            f"decoders, crop {cfg.data.crop_size} px, buffer ratio {cfg.data.buffer_ratio}, "
            f"{cfg.train.max_steps or cfg.train.epochs} "
            f"{'steps' if cfg.train.max_steps else 'epochs'} of {cfg.train.batch_size} boxes, lr "
            f"{cfg.train.lr}, loss `{cfg.train.loss}`, trained on `{cfg.data.train_annotations}`"
        )
        pre = self.params.names("pretrain")
        if pre:
            p = self.params[pre[0]].config
            text += (
                f"; each backbone first trained {p.train.max_steps} steps on "
                f"`{p.data.train_annotations}` (synthetic images) from its row's own starting "
                "weights"
            )
        return text

    def answer(self) -> list:
        """The report's opening: the study's question answered in words, at this budget (the default
        tier) or at both budgets (another tier), on the test set."""
        res = self.main
        if not res.models:
            return []
        if self.default_tier is None or res.eval_set not in self.default_tier:
            return ["## The answer", findings.answer(res, self.comparisons)]
        found = budgets.answers(self.default_comparisons, self.comparisons, res.eval_set)
        return [
            "## Which design choices matter, at two budgets",
            "Every ablation of the study trained twice: at the default budget (`make repro`, [its "
            f"report](../report.html)) and at the long one (this report: {self.recipe()}). At "
            "each budget each row is compared with its parent; whether the budget changes an "
            "answer is decided by the difference of the two differences, with its own interval, "
            "never by a difference being "
            f"decided at one budget and not at the other.",
            f"**{res.source}**",
            budgets.answer_in_words(found),
            "\n".join(f"- {budgets.sentence(a)}" for a in found),
            budgets.table(found),
        ]

    def main_result(self) -> list:
        res, row = self.main, self.main_row
        chosen_before = self.params.tier != DEFAULT
        return [
            tables.headline(res, self.comparisons, row),
            findings.headline(
                res,
                self.comparisons,
                row,
                chosen_before,
                self.best[res.eval_set],
                self.chosen_on.get(res.eval_set),
            ),
        ]

    def ablations(self, res: Results) -> list:
        out = [
            f"**{res.source}**",
            tables.ablation_table(res, self.comparisons),
            findings.rule(res, self.comparisons),
        ]
        mdd = tables.mdd_table(res, self.comparisons)
        out += [mdd] if mdd is not None else []
        if plots.buffer_rows(res) or any(k == "reachable" for k in self.comparisons["kind"]):
            out += [
                "**The buffer ratio is about reach before context.** The model places each edge "
                "among the positions of its crop (the jittered box scaled about its centre by the "
                "buffer ratio): a true edge outside the crop cannot be reached. The share of true "
                "edges outside "
                "each row's crop, over every box and draw of this set:",
                context.outside_table(res),
            ]
        return out

    def confidence(self, res: Results) -> list:
        """The trust section: one sentence and a short table for the main row; the detail in the
        appendix."""
        shown = list(dict.fromkeys([self.params.report.baseline, self.best[res.eval_set]]))
        shown = [n for n in shown if n in res.names and confidence.has_confidence(res, n)]
        if not shown:
            return ["No row with a model has an expected error on this set."]
        row = self.main_row if self.main_row in shown else shown[-1]
        a = confidence.auroc(res, row)
        caption = (
            f"`{row}`'s edges on {res.eval_set}: each score's AUROC for \"within "
            f'{confidence.ACCURATE_PX:g} px", over all edges and among boxes of one size (the mean '
            f"over {confidence.SIZE_BINS} equal bins of the box side), with 95% intervals "
            "(photographs resampled)."
        )
        return [
            confidence.conclusion(res, row, a),
            caption,
            confidence.short_table(a),
            plots.plot_confidence(res, shown),
        ]

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
        for res in self.validation:
            if res.models:
                out.append(
                    details(
                        f"Ablations on the {res.role} set: {res.source}",
                        findings.answer(res, self.comparisons),
                        *self.ablations(res),
                    )
                )
        for s, res in self.results.items():
            names = res.names
            out.append(
                details(
                    f"By object size, every row: {res.source}",
                    "COCO's size classes by the true box's area: small below 32² px, large from "
                    "96² px (box count in brackets); each row the mean over its seeds, the 95% "
                    "interval "
                    "within the class (photographs resampled).",
                    by_size.size_table(res, names, with_intervals=True),
                    "mIoU gain over identity, points:",
                    by_size.size_gains(res, IDENTITY),
                )
            )
            out.append(details(f"Seeds: {res.source}", *self.noise(res)))
            shown = list(dict.fromkeys([*BASELINES, self.params.report.baseline, self.best.get(s, IDENTITY)]))
            shown = [n for n in shown if n in res.names]
            out.append(
                details(
                    f"Edge errors: {res.source}",
                    "Signed error (predicted minus true edge, px) of each edge over all boxes, draws and seeds.",
                    plots.plot_edge_histograms(res, shown[shown.index(IDENTITY) :]),
                )
            )
            row = self.main_row if self.main_row in res.names else self.best.get(s)
            if row and confidence.has_confidence(res, row):
                out.append(
                    details(
                        f"Can a snapped edge be trusted, the detail: {res.source}",
                        confidence.detail(res, row),
                        *self.trust_detail(res, row),
                    )
                )
            if s in self.best:
                out.append(
                    details(
                        f"Gallery: {res.source}",
                        plots.draw_gallery(res, self.best[s], n=self.params.report.gallery),
                    )
                )
        out.append(details("Every row and what it changes", self.rows_table()))
        out.append(details("Each stage's device and duration", self.run_table()))
        return out

    # --- the parts

    def trust_detail(self, res: Results, row: str) -> list:
        """Every column of the AUROC analysis (three decimals)."""
        a = confidence.auroc(res, row)
        return [a.rename(index=confidence.SCORES).map(confidence.r3)]

    def noise(self, res: Results) -> list:
        """Each trained row's value per seed, and the seeds' sd, per metric (points)."""
        import pandas as pd

        from ..scoring import metrics

        parts = []
        for n in res.models:
            if len(res.seeds[n]) < 2:
                continue
            v = 100 * res.seed_values(n)
            t = pd.DataFrame(
                v.T,
                index=[metrics.label(k) for k in res.keys],
                columns=[f"seed {s}" for s in res.seeds[n]],
            ).round(1)
            t["sd (points)"] = v.std(axis=0, ddof=1).round(2)
            folded = [r for r, to in res.folded.items() if to == n]
            parts += [
                f"`{n}`'s seeds (percent)" + (f"; seeds 1.. are the rows {', '.join(folded)}" if folded else "") + ":",
                t,
            ]
        return parts or [
            "No row has more than one seed on this set: a row trained once borrows no variance and is not judged."
        ]

    def rows_table(self) -> Any:
        import pandas as pd

        return pd.DataFrame(
            {
                "group": {n: r.group for n, r in self.params.rows.items()},
                "changes from the base recipe": {n: self.params.describe(n) for n in self.params.rows},
                "compared with": {n: stats.parent(self.params, n) or "" for n in self.params.rows},
            }
        )

    def run_table(self) -> Any:
        where = self.params.folders
        stages = [
            (n, "train", where.curves_dir(n)) for n in self.params.names("pretrain") + self.params.names("trained")
        ]
        stages += [
            (n, "evaluate", self.reports_dir / "per_box" / n)
            for n in self.params.names("all")
            if self.params.tier == DEFAULT or n not in BASELINES
        ]
        return provenance.run_table(stages)

    # --- the outputs

    def write_outputs(self) -> None:
        """``summary.csv``/``.md``, ``headline.md`` (the main result, which the README links),
        ``comparisons.csv`` (every comparison: the verdicts' one source) and ``plots/loss.csv`` (dvc
        plots): each an output of the report stage in dvc.yaml, and nothing else (a stage writes
        only what DVC knows it writes)."""
        from ..util.outputs import write_text

        tables.write_summary(self.results, self.reports_dir)
        comparisons.write(self.comparisons, self.reports_dir / "comparisons.csv")
        res = self.main
        text = ""
        if res.models:
            head, words = self.main_result()
            text = f"{words}\n\n{tables.headline_markdown(head)}"
        write_text(self.reports_dir / "headline.md", text + "\n")
        curves.write_loss_table(
            self.reports_dir / "train",
            self.params.names("trained"),
            self.reports_dir / "plots" / "loss.csv",
        )


def choose_best(results: dict[str, Results]) -> tuple[dict[str, str], dict[str, str]]:
    """Per set, its best model row (``comparisons.best_model``) and the set it was chosen on: the
    first validation set with models, for every set (the choice made where recipes are chosen,
    then reported on the test set), else each set itself."""
    chosen = {s: r for s, r in results.items() if r.models}
    val = next((r for r in chosen.values() if r.role == "validation"), None)
    on = {
        s: (val.eval_set if val is not None and s != val.eval_set and r.role == "test" else s)
        for s, r in chosen.items()
    }
    pick = {s: comparisons.best_model(results[on[s]]) for s in chosen}
    return {s: b for s, b in pick.items() if b in results[s].names}, on
