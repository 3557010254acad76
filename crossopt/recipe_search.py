"""What the SciFact recipe search saw of runs that never trained, written from its rows.

`recipe_search.tsv` (bench/scifact_recipe.py) has one row per try, seed and epoch. A try's
training loss at its last epoch is `epoch_mean_loss` where the row has it (the second search)
and otherwise `final_loss`, the last logged loss of that epoch (the first search). It
"stayed at chance" when that loss is within STUCK_MARGIN of ln 2 (a looser rule than the
replication's definition of a trained run, crossopt.replication.trained, which the first
search predates). One sentence per search (the first search's rows have no epoch mean loss)
says which tries did, at which seeds, so that a claim about what each search could or could
not see holds for the committed rows.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .paper import format_number, latex_escape
from .replication import CHANCE_LOSS

# A try "stayed at chance" when its loss is within this fraction of ln 2.
STUCK_MARGIN = 0.02


def stayed_at_chance(loss: float) -> bool:
    return loss >= (1 - STUCK_MARGIN) * CHANCE_LOSS

OPTIMIZER_NAMES = {"adamw": "AdamW", "lion": "Lion"}


@dataclass(frozen=True)
class Try:
    """One grid point at one seed, at its last epoch."""
    optim: str
    lr: float
    head_lr: float
    weight_decay: str
    seed: str
    epochs: int
    loss: float
    loss_kind: str  # "mean" (epoch mean) or "last" (last logged loss)

    @property
    def point(self) -> tuple:
        return (self.optim, self.lr, self.head_lr, self.weight_decay)

    @property
    def at_chance(self) -> bool:
        return stayed_at_chance(self.loss)


def read_tries(path: str | Path) -> list[Try]:
    """The last epoch of every try and seed in a recipe_search.tsv (BM25 rows left out)."""
    path = Path(path)
    with path.open(encoding="utf-8", newline="") as handle:
        rows = [r for r in csv.DictReader(handle, delimiter="\t") if r.get("optim", "-") != "-"]
    last: dict[tuple, dict] = {}
    for line, row in enumerate(rows, start=2):
        try:
            key = (row["name"], row["seed"])
            epoch = int(row["epoch"])
        except (KeyError, ValueError) as error:
            raise ValueError(f"{path}: row {line}: no name, seed or epoch ({error})") from error
        if key not in last or epoch > int(last[key]["epoch"]):
            last[key] = row
    tries = []
    for row in last.values():
        mean = row.get("epoch_mean_loss") or ""
        tries.append(Try(optim=row["optim"], lr=float(row["lr"]), head_lr=float(row["head_lr"]),
                         weight_decay=row.get("weight_decay") or "", seed=row["seed"],
                         epochs=int(row["epoch"]),
                         loss=float(mean if mean else row["final_loss"]),
                         loss_kind="mean" if mean else "last"))
    return tries


def _point_label(t: Try) -> str:
    return f"{OPTIMIZER_NAMES.get(t.optim, latex_escape(t.optim))} at {format_number(t.lr, style='sci')}"


def _join(items: list[str]) -> str:
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]


def chance_sentence(tries: Iterable[Try], name: str = "The recipe search") -> str:
    """Which tries ended at chance, and what that lets the search tell apart."""
    tries = list(tries)
    if not tries:
        return ""
    points: dict[tuple, list[Try]] = {}
    for t in tries:
        points.setdefault(t.point, []).append(t)
    seeds = sorted({t.seed for t in tries}, key=lambda s: (len(s), s))
    stuck = [t for t in tries if t.at_chance]
    margin = format_number(100 * STUCK_MARGIN, style="int")
    chance = format_number(CHANCE_LOSS, digits=3)
    kinds = {t.loss_kind for t in tries}
    loss_text = {"mean": "mean training loss over its last epoch",
                 "last": "last logged training loss"}
    measure = " or ".join(loss_text[k] for k in sorted(kinds))
    head = (f"{name} ran {format_number(len(points), style='word')} grid points at "
            f"{'seed' if len(seeds) == 1 else 'seeds'} {_join(seeds)}.")
    if not stuck:
        return (f"{head} None ended with a {measure} within {margin}\\% of "
                f"$\\ln 2 = {chance}$.")
    parts = []
    for point, runs in points.items():
        failed = sorted((t for t in runs if t.at_chance), key=lambda t: t.seed)
        if not failed:
            continue
        epochs = sorted({t.epochs for t in failed})
        losses = ", ".join(format_number(t.loss, digits=3) for t in failed)
        where = (f"at seed {_join([t.seed for t in failed])}" if len(runs) > 1
                 else "")
        parts.append(f"{_point_label(failed[0])} after "
                     f"{_join([format_number(e, style='word') for e in epochs])} "
                     f"{'epoch' if epochs == [1] else 'epochs'}"
                     f"{' ' + where if where else ''} ({losses})")
    split = [p for p, runs in points.items()
             if any(t.at_chance for t in runs) and not all(t.at_chance for t in runs)]
    text = (f"{head} {format_number(len(stuck), style='word').capitalize()} of its "
            f"{format_number(len(tries), style='word')} runs ended with a {measure} within "
            f"{margin}\\% of $\\ln 2 = {chance}$, the loss of a score that ignores its input: "
            f"{_join(parts)}.")
    if len(seeds) == 1:
        text += (" The search thus saw runs at chance, but with one seed per grid point it "
                 "could not tell a seed that fails from a setting that fails.")
    elif split:
        text += (f" At {format_number(len(split), style='word')} grid "
                 f"{'point' if len(split) == 1 else 'points'} one seed trained and another "
                 f"did not, so a failure there belongs to the seed as much as to the setting.")
    return text


def macros(paths: Iterable[str | Path]) -> dict[str, str]:
    """\\RecipeChanceSentence from the recipe searches' rows (one sentence per file)."""
    sentences = []
    for p in paths:
        tries = read_tries(p)
        searches = [[t for t in tries if t.loss_kind == kind] for kind in ("last", "mean")]
        searches = [s for s in searches if s]
        names = (["The recipe search"] if len(searches) == 1 else
                 ["The first recipe search", "The second recipe search"])
        sentences += [chance_sentence(s, n) for s, n in zip(searches, names)]
    return {"RecipeChanceSentence": " ".join(s for s in sentences if s)}
