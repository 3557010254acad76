"""Figures for the paper: training dynamics from trainer logs, and results across epochs.

Reading (`read_trainer_state`, `training_summary`) is kept apart from drawing (`plot_*`),
so a change of plot style never touches the numbers. Figures are PDFs sized for one IEEE
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

from crossopt.paper import (MEASURE_LABELS, ResultRow, format_number,  # noqa: E402
                            latex_escape, rerankers, unique_in_order)

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
MODEL_MARKERS = ("o", "s", "^", "D", "v")


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


def plot_epoch_curves(rows: Sequence[ResultRow], measures: Sequence[str],
                      output: str | Path,
                      intervals: Mapping[tuple, tuple[float, float]] | None = None) -> None:
    """One panel per measure: value against epoch, a line per model and optimizer.

    `intervals` maps (model, optimizer, epoch, measure) to a confidence interval of the
    value (computed results); each is drawn as an error bar, and the lines are spread a
    little along the epoch axis so that bars of the same epoch do not hide each other.
    """
    runs = rerankers(rows)
    models = unique_in_order(r.model for r in runs)
    optimizers = unique_in_order(r.optimizer for r in runs)
    lines = [(m, o) for m in models for o in optimizers]
    dodge = 0.06 if intervals else 0.0
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(measures), figsize=(COLUMN_WIDTH_IN, 1.9), squeeze=False)
        for ax, measure in zip(axes[0], measures):
            for marker, model in zip(MODEL_MARKERS, models):
                for color, optimizer in zip(OPTIMIZER_COLORS, optimizers):
                    own = sorted((r for r in runs if r.model == model and r.optimizer == optimizer),
                                 key=lambda r: r.epoch)
                    if not own:
                        continue
                    shift = (lines.index((model, optimizer)) - (len(lines) - 1) / 2) * dodge
                    x = [r.epoch + shift for r in own]
                    y = [r.values[measure] for r in own]
                    style = "-" if optimizer == optimizers[0] else "--"
                    ax.plot(x, y, color=color, marker=marker, markersize=3.5, linestyle=style)
                    if intervals:
                        low, high = zip(*(intervals[(model, optimizer, r.epoch, measure)]
                                          for r in own))
                        ax.errorbar(x, y, yerr=[[max(0.0, v - lo) for v, lo in zip(y, low)],
                                                [max(0.0, hi - v) for v, hi in zip(y, high)]],
                                    fmt="none", ecolor=color, elinewidth=0.6, capsize=1.2,
                                    capthick=0.6, alpha=0.8)
            ax.set_title(MEASURE_LABELS[measure], pad=3)
            ax.set_xlabel("Epoch")
            ax.set_xticks(sorted({r.epoch for r in runs}))
            ax.grid(True, linewidth=0.3, alpha=0.5)
        _legend(fig, models, optimizers)
        fig.tight_layout(pad=0.3, w_pad=0.8, rect=(0, 0, 1, 0.80))
        fig.savefig(output)
        plt.close(fig)


def _legend(fig, models: Sequence[str], optimizers: Sequence[str]) -> None:
    """Markers name models, colours and line styles name optimizers: one shared legend."""
    handles = [plt.Line2D([], [], color="0.3", marker=m, linestyle="none", markersize=3.5,
                          label=name) for m, name in zip(MODEL_MARKERS, models)]
    handles += [plt.Line2D([], [], color=c, linestyle="-" if i == 0 else "--", label=name)
                for i, (c, name) in enumerate(zip(OPTIMIZER_COLORS, optimizers))]
    fig.legend(handles=handles, loc="upper center", ncol=min(len(handles), 3), frameon=False,
               bbox_to_anchor=(0.5, 1.0), handlelength=1.8, columnspacing=1.0)
