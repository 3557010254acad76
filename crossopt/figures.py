"""Figures for the paper: training dynamics from trainer logs, and optimizer differences
across epochs.

Reading (`read_trainer_state`, `training_summary`, `epoch_differences`,
`difference_intervals`) is kept apart from drawing (`draw_*`, `plot_*`), so a change of
plot style never touches the numbers. Figures are PDFs sized for one IEEE
column, with TrueType-embedded STIX fonts (pdf.fonttype 42) to match the Times body text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from matplotlib.ticker import MaxNLocator  # noqa: E402

from crossopt.paper import (MEASURE_LABELS, MEASURES, ResultRow, format_number,  # noqa: E402
                            latex_escape, matched_differences, unique_in_order)

COLUMN_WIDTH_IN = 3.45  # IEEEtran conference column (3.5in) less a hair for rounding
STYLE = {
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "font.family": "STIXGeneral",
    "mathtext.fontset": "stix",
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "axes.linewidth": 0.6,
    "lines.linewidth": 1.1,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.02,
}
OPTIMIZER_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")
# One colour and marker per measure (Okabe-Ito: distinguishable in colour-blind vision
# and, with the markers, in greyscale print).
MEASURE_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
MEASURE_MARKERS = ("o", "s", "^", "D", "v", "P")
PANELS_PER_ROW = 3


@dataclass(frozen=True)
class History:
    """Training and evaluation series from a Hugging Face trainer_state.json."""

    epoch: tuple[float, ...]
    loss: tuple[float, ...]
    grad_norm: tuple[float, ...]
    learning_rate: tuple[float, ...]
    eval_epoch: tuple[float, ...]
    eval_loss: tuple[float, ...]


def read_trainer_state(path: str | Path) -> History:
    """Split log_history into training entries (loss, grad_norm, lr) and eval entries.

    The final summary entry (train_loss, train_runtime) has neither "loss" nor
    "eval_loss" and is skipped.
    """
    path = Path(path)
    try:
        log = json.loads(path.read_text(encoding="utf-8"))["log_history"]
    except (KeyError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not a trainer_state.json with log_history ({err})") from None
    train = [e for e in log if "loss" in e]
    evals = [e for e in log if "eval_loss" in e]
    if not train:
        raise ValueError(f"{path}: log_history has no training-loss entries")
    try:
        return History(
            epoch=tuple(float(e["epoch"]) for e in train),
            loss=tuple(float(e["loss"]) for e in train),
            grad_norm=tuple(float(e["grad_norm"]) for e in train),
            learning_rate=tuple(float(e["learning_rate"]) for e in train),
            eval_epoch=tuple(float(e["epoch"]) for e in evals),
            eval_loss=tuple(float(e["eval_loss"]) for e in evals),
        )
    except KeyError as err:
        raise ValueError(f"{path}: a log_history entry lacks {err}") from None


def training_summary(histories: Mapping[str, History], model_name: str) -> str:
    """One sentence stating the logged end points, so the text never eyeballs a plot."""
    names = list(histories)
    final = ", ".join(f"{format_number(histories[n].loss[-1])} for {latex_escape(n)}"
                      for n in names)
    text = (f"For {latex_escape(model_name)}, the last logged training loss is {final}")
    if all(histories[n].eval_loss for n in names):
        held = ", ".join(f"{format_number(histories[n].eval_loss[-1])} for {latex_escape(n)}"
                         for n in names)
        text += f"; the held-out loss after the last evaluation is {held}"
    peak = ", ".join(f"{format_number(max(histories[n].grad_norm), digits=2)} for "
                     f"{latex_escape(n)}" for n in names)
    return text + f". The largest logged gradient norm is {peak}."


def plot_training_curves(histories: Mapping[str, History], output: str | Path) -> None:
    """2x2 panel: training loss, held-out loss, learning rate, gradient norm, per optimizer."""
    panels = (("loss", "Training loss"), ("eval_loss", "Held-out loss"),
              ("learning_rate", "Learning rate"), ("grad_norm", "Gradient norm"))
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(2, 2, figsize=(COLUMN_WIDTH_IN, 2.7), sharex=True)
        for ax, (field, title) in zip(axes.flat, panels):
            for color, (name, hist) in zip(OPTIMIZER_COLORS, histories.items()):
                x = hist.eval_epoch if field == "eval_loss" else hist.epoch
                y = getattr(hist, field)
                ax.plot(x, y, color=color, label=name,
                        marker="o" if field == "eval_loss" else None, markersize=3)
            ax.set_title(title, pad=3)
            ax.grid(True, linewidth=0.3, alpha=0.5)
            if field == "grad_norm" and _wide_range(histories, field):
                ax.set_yscale("log")
            if field == "learning_rate":
                ax.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
                ax.yaxis.get_offset_text().set_fontsize(6)
        for ax in axes[1]:
            ax.set_xlabel("Epoch")
        axes[0, 0].legend(frameon=False, loc="upper right")
        fig.tight_layout(pad=0.3, h_pad=0.6, w_pad=0.8)
        fig.savefig(output)
        plt.close(fig)


def _wide_range(histories: Mapping[str, History], field: str) -> bool:
    """Log scale only when the series span more than two orders of magnitude."""
    values = [v for h in histories.values() for v in getattr(h, field)]
    return min(values) > 0 and max(values) / min(values) > 100


@dataclass(frozen=True)
class EpochDifferences:
    """Candidate minus reference optimizer per model, measure and epoch: all the epochs
    figure draws, read from the results rows (and, for computed results, the statistics).

    `series` maps (model, measure) to ((epoch, difference), ...) in epoch order;
    `intervals` maps (model, epoch, measure) to the bootstrap interval of that difference,
    and is empty for reported results.
    """

    reference: str
    candidate: str
    models: tuple[str, ...]
    measures: tuple[str, ...]
    series: Mapping[tuple[str, str], tuple[tuple[int, float], ...]]
    intervals: Mapping[tuple[str, int, str], tuple[float, float]]

    @property
    def extent(self) -> float:
        """The largest absolute value the figure must show: differences and interval ends."""
        values = [abs(d) for points in self.series.values() for _, d in points]
        values += [abs(v) for interval in self.intervals.values() for v in interval]
        return max(values, default=0.0)


def epoch_differences(rows: Sequence[ResultRow], *, reference: str, candidate: str,
                      measures: Sequence[str] = MEASURES,
                      intervals: Mapping[tuple[str, int, str], tuple[float, float]] | None = None,
                      ) -> EpochDifferences:
    """Every matched (model, epoch) difference of the table, per model and measure.

    The differences are `crossopt.paper.matched_differences`, the same numbers as the
    difference table. With `intervals` (computed results), every plotted difference must
    have one; a missing interval means the statistics and the table disagree.
    """
    diffs = matched_differences(rows, reference, candidate, measures)
    if not diffs:
        raise ValueError(f"no model has both {reference!r} and {candidate!r} rows at the same "
                         f"epoch: nothing to plot")
    models = tuple(unique_in_order(d.model for d in diffs))
    series = {(m, measure): tuple((d.epoch, d.delta) for d in diffs
                                  if d.model == m and d.measure == measure)
              for m in models for measure in measures}
    kept = {}
    if intervals:
        for d in diffs:
            key = (d.model, d.epoch, d.measure)
            if key not in intervals:
                raise ValueError(f"no interval for the {candidate} - {reference} difference of "
                                 f"{key}")
            kept[key] = tuple(intervals[key])
    return EpochDifferences(reference, candidate, models, tuple(measures), series, kept)


def difference_intervals(optimizer_tests: Mapping) -> dict[tuple[str, int, str], tuple[float, float]]:
    """(model, epoch, measure) -> bootstrap interval of candidate minus reference.

    `optimizer_tests` is `StudyStatistics.optimizer_tests`, keyed by the candidate's cell
    (model, candidate, epoch, measure); each test's interval is of the paired per-query
    differences, so it is the interval of exactly the difference the figure draws.
    """
    return {(model, epoch, measure): (t.ci_low, t.ci_high)
            for (model, _, epoch, measure), t in optimizer_tests.items()}


def symmetric_limit(data: EpochDifferences) -> float:
    """Half the y-range shared by all panels: every value and interval end, with a margin;
    never zero, so that a table of ties still draws."""
    return 1.12 * data.extent if data.extent > 0 else 0.01


def draw_epoch_differences(data: EpochDifferences):
    """Small multiples: one panel per model, candidate minus reference against epoch.

    Every panel shows one line per measure and a zero line; no band marks "ties", because
    no one threshold fits measures of different resolution (crossopt.paper_analysis). All
    panels share one y-range,
    symmetric around zero and containing every value, so that the panels compare and no
    truncated axis inflates a small difference. With intervals (computed results), each
    point gets the bootstrap interval of its paired difference as an error bar, and the
    measures are spread a little along the epoch axis so bars of one epoch do not hide
    each other. (The per-system intervals of the means are not drawn: two runs on the same
    queries are correlated, so intervals of the two means say little about their
    difference.)

    Returns the open figure; `plot_epoch_differences` saves and closes it.
    """
    n = len(data.models)
    cols = min(n, PANELS_PER_ROW)
    rows = -(-n // cols)
    epochs = sorted({e for points in data.series.values() for e, _ in points})
    dodge = 0.07 if data.intervals else 0.0
    limit = symmetric_limit(data)
    label = f"{data.candidate} \N{MINUS SIGN} {data.reference}"
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(rows, cols, figsize=(COLUMN_WIDTH_IN, 0.35 + 1.55 * rows),
                                 sharex=True, sharey=True, squeeze=False)
        for ax in axes.flat[n:]:
            ax.set_visible(False)
        for ax, model in zip(axes.flat, data.models):
            ax.axhline(0.0, color="0.25", linewidth=0.6, zorder=1, label="_zero")
            for i, (measure, color, marker) in enumerate(zip(data.measures, MEASURE_COLORS,
                                                              MEASURE_MARKERS)):
                points = data.series[(model, measure)]
                if not points:
                    continue
                shift = (i - (len(data.measures) - 1) / 2) * dodge
                x = [e + shift for e, _ in points]
                y = [d for _, d in points]
                ax.plot(x, y, color=color, marker=marker, markersize=3, linewidth=0.9,
                        label=MEASURE_LABELS[measure], zorder=3)
                if data.intervals:
                    low, high = zip(*(data.intervals[(model, e, measure)] for e, _ in points))
                    ax.errorbar(x, y, yerr=[[max(0.0, v - lo) for v, lo in zip(y, low)],
                                            [max(0.0, hi - v) for v, hi in zip(y, high)]],
                                fmt="none", ecolor=color, elinewidth=0.6, capsize=1.2,
                                capthick=0.6, alpha=0.8, zorder=2)
            ax.set_title(model, pad=3, fontsize=7)
            ax.set_xticks(epochs)
            ax.set_xlim(epochs[0] - 0.4, epochs[-1] + 0.4)
            ax.set_ylim(-limit, limit)
            ax.yaxis.set_major_locator(MaxNLocator(nbins=5, symmetric=True))
            ax.grid(True, axis="y", linewidth=0.3, alpha=0.5)
            ax.tick_params(length=2, pad=1.5)
        for ax in axes[-1]:
            ax.set_xlabel("Epoch")
        for ax in axes[:, 0]:
            ax.set_ylabel(label)
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="upper center", ncol=PANELS_PER_ROW, frameon=False,
                   bbox_to_anchor=(0.5, 1.0), handlelength=1.8, columnspacing=1.2,
                   borderaxespad=0.1)
        top = 1 - 0.33 / fig.get_figheight()
        fig.tight_layout(pad=0.3, w_pad=0.5, h_pad=0.6, rect=(0, 0, 1, top))
    return fig


def plot_epoch_differences(data: EpochDifferences, output: str | Path) -> None:
    """Draw the epochs figure and save it as a PDF (TrueType fonts, see STYLE)."""
    fig = draw_epoch_differences(data)
    with plt.rc_context(STYLE):
        fig.savefig(output)
    plt.close(fig)
