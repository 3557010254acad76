"""The paper's "Controlled replication on SciFact" section, from one run's files.

The SciFact profile (config/scifact.yaml) writes everything this module reads in
the results/ layout; `data/scifact/` holds the committed copy of one run:

    eval/bm25/{testset}.json, eval/untrained/{model}/seed{s}/{testset}.json,
    eval/{model}/{optim}/seed{s}/epoch{e}/{testset}.json   aggregate and per-query measures
    stats/significance.tsv, stats/means.tsv                  the workflow's paired tests
    models/{model}/{optim}/seed{s}/trainer_state.json        training logs
    data/beir/summary.json                                   training pairs and held-out slice
    recipe_search.tsv (optional)                             the held-out recipe search
    provenance.json (optional)                               command, date, machine, wall time

`replication_numbers` gathers every number of the section in one dict (the test
checks each against these files); `write_section` turns it into LaTeX macros,
the results and significance tables, the recipe-search table and the
training-dynamics figure. Numbers reach LaTeX only through
`crossopt.paper.format_number`.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from .paper import SCHEDULER_LABELS, _join, format_number, latex_escape, macro_name
from .stats import seed_summary

MEASURES = [("ndcg_cut_10", "nDCG@10"), ("recip_rank_10", "MRR@10"), ("map", "MAP"), ("recall_10", "R@10"),
            ("P_10", "P@10")]
PREFIX = "Repl"
# ln 2 is the binary cross-entropy of a score that ignores its input on balanced pairs. A run
# has *trained* when the mean of its logged training losses over its last epoch is at most
# TRAINED_FRACTION x ln 2. The definition was stated before the second recipe search ran
# (bench/scifact_grid.sh) and is the one the search's `trained` column uses.
CHANCE_LOSS = math.log(2)
TRAINED_FRACTION = 0.9
TRAINED_BELOW = TRAINED_FRACTION * CHANCE_LOSS
# The comparisons the section tests (at the last epoch), in the order its table lists them.
TESTED_MEASURES = MEASURES[:2]


def _json(path: Path) -> dict:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _seeds(folder: Path) -> list[int]:
    return sorted(int(p.name[4:]) for p in folder.glob("seed*") if re.fullmatch(r"seed\d+", p.name))


def _epochs(folder: Path) -> list[int]:
    return sorted(int(p.name[5:]) for p in folder.glob("epoch*") if re.fullmatch(r"epoch\d+", p.name))


def training_summary(state: dict) -> dict:
    """Throughput and final loss of one run from its trainer_state.json."""
    history = state["log_history"]
    final = next((e for e in reversed(history) if "train_runtime" in e), None)
    if final is None:
        raise ValueError("trainer_state.json has no final training summary (train_runtime)")
    steps = [e for e in history if "loss" in e and "eval_loss" not in e and "train_runtime" not in e]
    epochs = round(float(final.get("epoch", state.get("epoch", 1))))
    last_epoch = [float(e["loss"]) for e in steps if float(e["epoch"]) > epochs - 1]
    return {
        "seconds": float(final["train_runtime"]),
        "pairs_per_second": float(final["train_samples_per_second"]),
        "steps": int(state["global_step"]),
        "final_loss": float(steps[-1]["loss"]) if steps else math.nan,
        "mean_loss": float(final.get("train_loss", math.nan)),
        "last_epoch_loss": float(np.mean(last_epoch)) if last_epoch else math.nan,
    }


def trained(last_epoch_loss: float) -> bool:
    """Whether a run trained: its mean logged loss over the last epoch is at most TRAINED_BELOW."""
    return last_epoch_loss <= TRAINED_BELOW


def failure_rate(failed: int, runs: int, level: float = 0.95) -> dict:
    """The share of runs that did not train, with its exact (Clopper-Pearson) interval."""
    from scipy import stats as sps

    if runs < 1 or not 0 <= failed <= runs:
        raise ValueError(f"failure_rate: {failed} failed of {runs} runs")
    interval = sps.binomtest(failed, runs).proportion_ci(confidence_level=level, method="exact")
    return {"failed": failed, "runs": runs, "rate": failed / runs, "low": float(interval.low),
            "high": float(interval.high), "level": level}


def seed_level(a: list[float], b: list[float] | float, n_permutations: int, seed: int,
               level: float = 0.95) -> dict:
    """The difference a - b with the seed as the unit: one aggregate value per seed.

    `b` is the other optimizer's aggregates at the same seeds (the same seed gives both runs
    the same head initialisation and data order) or a constant (BM25). Gives the mean
    difference over seeds, its t interval over seeds, d_z = mean / sd, the paired t-test's p
    over seeds and the exact sign-flip p (2^n arrangements; with n seeds it cannot fall below
    2 / 2^n, its floor).
    """
    from scipy import stats as sps

    from .stats import effect_sizes, paired_randomization_test, paired_t_test

    a = [float(v) for v in a]
    b = [float(b)] * len(a) if isinstance(b, (int, float)) else [float(v) for v in b]
    if len(a) != len(b) or len(a) < 2:
        raise ValueError(f"seed_level: need two or more paired seeds, got {len(a)} and {len(b)}")
    d = np.array(a) - np.array(b)
    n = d.size
    sd = float(np.std(d, ddof=1))
    half = float(sps.t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    mean = float(d.mean())
    sign_flip = paired_randomization_test(a, b, n_permutations=max(n_permutations, 2 ** n), seed=seed)
    return {"n": n, "diff": mean, "sd": sd, "ci_low": mean - half, "ci_high": mean + half, "level": level,
            "d_z": effect_sizes(a, b).d_z, "p_t": paired_t_test(a, b).p, "p_sign": sign_flip.p,
            "p_sign_floor": 2 / 2 ** n, "values": d.tolist()}


def training_curves(state: dict) -> pd.DataFrame:
    """step, loss, learning_rate (the body's group), grad_norm of every logged training step."""
    rows = [{"step": e["step"], "loss": e["loss"], "learning_rate": e["learning_rate"],
             "grad_norm": e.get("grad_norm", math.nan)}
            for e in state["log_history"] if "loss" in e and "eval_loss" not in e and "train_runtime" not in e]
    return pd.DataFrame(rows)


def _summary(values: list[float]) -> dict:
    s = seed_summary(values)
    return {"mean": s.mean, "sd": s.sd, "n_seeds": s.n_seeds, "values": list(values)}


def replication_numbers(root: str | Path, config: Mapping, model: str | None = None,
                        testset: str | None = None, recipe_search: str | Path | None = None) -> dict:
    """Every number of the replication section, read from `root` (results/ layout).

    The recipe search is `root`/recipe_search.tsv where `root` has one, else `recipe_search`
    (the search that chose a fresh run's rates), which must have tried every optimizer's
    rates that this run uses."""
    from .config import run_settings

    root = Path(root)
    model = model or next(iter(config["models"]))
    testset = testset or next(iter(config["testsets"]))
    optims = list(config["optimizers"])
    numbers: dict = {"model": model, "testset": testset, "optims": optims,
                     "optim_names": {o: config["optimizers"][o]["name"] for o in optims},
                     "model_name": config["models"][model]["name"]}

    bm25 = _json(root / "eval" / "bm25" / f"{testset}.json")
    numbers["bm25"] = {m: bm25["aggregate"][m] for m, _ in MEASURES}
    numbers["test_queries"] = bm25["n_queries"]
    numbers["bm25_recall_depth"] = {k: v for k, v in bm25["aggregate"].items() if k.startswith("recall_")
                                    and k != "recall_10"}

    untrained_dir = root / "eval" / "untrained" / model
    untrained_seeds = _seeds(untrained_dir)
    numbers["untrained"] = {
        m: _summary([_json(untrained_dir / f"seed{s}" / f"{testset}.json")["aggregate"][m] for s in untrained_seeds])
        for m, _ in MEASURES}

    runs, training, curves, all_states = {}, {}, {}, {}
    for optim in optims:
        folder = root / "eval" / model / optim
        seeds = _seeds(folder)
        if not seeds:
            raise FileNotFoundError(f"{folder}: no seed*/ evaluations")
        epochs = _epochs(folder / f"seed{seeds[0]}")
        runs[optim] = {e: {m: _summary([_json(folder / f"seed{s}" / f"epoch{e}" / f"{testset}.json")["aggregate"][m]
                                        for s in seeds]) for m, _ in MEASURES} for e in epochs}
        states = {s: _json(root / "models" / model / optim / f"seed{s}" / "trainer_state.json") for s in seeds}
        per_seed = [training_summary(state) for state in states.values()]
        training[optim] = {key: _summary([r[key] for r in per_seed]) for key in per_seed[0]}
        training[optim]["stuck_seeds"] = [s for s, r in zip(states, per_seed) if not trained(r["last_epoch_loss"])]
        training[optim]["failure"] = failure_rate(len(training[optim]["stuck_seeds"]), len(per_seed))
        curves[optim] = {s: training_curves(state) for s, state in states.items()}
        all_states[optim] = states
        settings = run_settings(config, model, optim)
        training[optim]["learning_rate"] = settings["learning_rate"]
        training[optim]["head_learning_rate"] = settings.get("head_learning_rate")
        numbers["seeds"] = seeds
        numbers["epochs"] = epochs
    numbers["runs"], numbers["training"], numbers["curves"], numbers["states"] = runs, training, curves, all_states

    significance = pd.read_csv(root / "stats" / "significance.tsv", sep="\t", dtype={"dropped": str})
    significance = significance[significance["testset"] == testset]
    numbers["tests"] = significance.to_dict("records")
    statistics = config.get("statistics", {})
    numbers["permutations"] = int(statistics.get("permutations", 10000))
    if len(numbers["seeds"]) < 2:
        # The section's findings are tests over seeds (seed_tests), which one seed cannot give.
        raise ValueError(f"{root}: the replication section compares the optimizers over seeds, and this run has "
                         f"{len(numbers['seeds'])} (seeds {numbers['seeds']}); set study.seeds to two or more")
    numbers["seed_tests"] = seed_tests(numbers, seed=int(statistics.get("seed", 0)))

    summary_path = root / "data" / "beir" / "summary.json"
    numbers["data"] = {k: v for k, v in _json(summary_path).items() if k != "heldout_qids"}
    spec = config["models"][model]
    numbers["setup"] = {
        "max_length": spec["max_length"], "batch_size": config["training"]["batch_size"],
        "warmup_ratio": config["training"]["warmup_ratio"], "depth": config["testsets"][testset]["retrieval"]["depth"],
        "scheduler": spec["scheduler"], "weight_decay": {o: run_settings(config, model, o)["weight_decay"] for o in optims},
        "k1": config["testsets"][testset]["retrieval"]["k1"], "b": config["testsets"][testset]["retrieval"]["b"],
    }
    recipe = root / "recipe_search.tsv"
    given = not recipe.exists() and recipe_search  # a fresh run: the search named in the config
    if given:
        recipe = Path(recipe_search)
        if not recipe.exists():
            raise FileNotFoundError(f"paper.recipe_search: {recipe} does not exist")
    numbers["recipe"] = pd.read_csv(recipe, sep="\t").to_dict("records") if recipe.exists() else None
    if given:
        check_recipe_search(recipe, numbers["recipe"], config, model, optims)
    provenance = root / "provenance.json"
    numbers["provenance"] = _json(provenance) if provenance.exists() else None
    return numbers


def check_recipe_search(path: Path, tries: list[dict], config: Mapping, model: str, optims: list[str]) -> None:
    """Stop unless the search read from `path` (`tries`, its rows) tried each optimizer at the
    body and head learning rates this run's config gives it (the section says that search
    chose them)."""
    from .config import run_settings

    def same(a, b) -> bool:
        return (_blank(a) and b is None) or (not _blank(a) and b is not None and math.isclose(float(a), float(b)))

    for optim in optims:
        settings = run_settings(config, model, optim)
        lr, head = settings["learning_rate"], settings.get("head_learning_rate")
        if not any(r["optim"] == optim and same(r["lr"], lr) and same(r.get("head_lr"), head) for r in tries):
            raise ValueError(f"paper.recipe_search: {path} never tried {optim} at learning rate {lr} and head "
                             f"learning rate {head}, which this run uses, so it did not choose this run's recipe; "
                             "set paper.recipe_search to the search that did, or to null")


def seed_tests(numbers: dict, seed: int) -> list[dict]:
    """The seed-level comparisons at the last epoch (`seed_level`), Holm-corrected by family.

    Families as in significance.tsv: the second optimizer against the first (one test per
    measure of TESTED_MEASURES), and each optimizer against BM25. If some runs did not
    train, every comparison is repeated on the trained runs only (`subset` "trained"; for
    the optimizer pair, the seeds at which both trained), and those form families of their
    own.
    """
    from .stats import holm

    last, (base, other) = numbers["epochs"][-1], numbers["optims"][:2]
    seeds = numbers["seeds"]
    failed = {o: set(numbers["training"][o]["stuck_seeds"]) for o in numbers["optims"]}
    subsets = [("all", {o: list(seeds) for o in numbers["optims"]})]
    if any(failed.values()):
        subsets.append(("trained", {o: [s for s in seeds if s not in failed[o]] for o in numbers["optims"]}))

    def values(optim: str, measure: str, keep: list[int]) -> list[float]:
        per_seed = dict(zip(seeds, numbers["runs"][optim][last][measure]["values"]))
        return [per_seed[s] for s in keep]

    rows = []
    for subset, keep in subsets:
        family = []
        both = [s for s in keep[base] if s in keep[other]]
        for measure, _ in TESTED_MEASURES:
            if len(both) >= 2:
                family.append({"family": f"{other}_vs_{base}", "a": other, "b": base, "measure": measure,
                               "seeds": both, **seed_level(values(other, measure, both), values(base, measure, both),
                                                           numbers["permutations"], seed)})
        bm_family = []
        for optim in (base, other):
            for measure, _ in TESTED_MEASURES:
                if len(keep[optim]) >= 2:
                    bm_family.append({"family": "vs_bm25", "a": optim, "b": "bm25", "measure": measure,
                                      "seeds": keep[optim], **seed_level(values(optim, measure, keep[optim]),
                                                                         numbers["bm25"][measure],
                                                                         numbers["permutations"], seed)})
        for group in (family, bm_family):
            if group:
                for row, adjusted in zip(group, holm([r["p_t"] for r in group])):
                    row["p_t_holm"] = float(adjusted)
                    row["subset"] = subset
                rows += group
    return rows


def find_seed_test(numbers: dict, family: str, a: str, b: str, measure: str, subset: str = "all") -> dict:
    rows = [r for r in numbers["seed_tests"] if (r["family"], r["a"], r["b"], r["measure"], r["subset"])
            == (family, a, b, measure, subset)]
    if len(rows) != 1:
        raise KeyError(f"seed-level test {family} {a} vs {b} {measure} ({subset}): found {len(rows)}")
    return rows[0]


def at_permutation_floor(p: float, n_permutations: int) -> bool:
    """Whether a randomized test's p is its smallest possible value, 1 / (B + 1)."""
    return p <= 1.0 / (n_permutations + 1) * (1 + 1e-9)


def single_seed_difference_sd(root: str | Path, config: Mapping, measure: str = "ndcg_cut_10",
                              model: str | None = None, testset: str | None = None) -> dict:
    """The spread of one seed's per-query difference between the two optimizers.

    For each seed s, d_q = candidate_s(q) - reference_s(q) on the last epoch's test
    queries; `sd` is the mean over seeds of the sample standard deviation of d_q. This is
    the s_d of a comparison of two single-seed runs, as each of the main study's
    comparisons is (its runs have one seed each), so the main paper can borrow it as an
    uncertainty scale (crossopt.paper_analysis.resolution_paragraph).

    Seeds at which either run did not train (`trained`, read from the runs'
    trainer_state.json where it exists) are left out: the main study's runs all trained,
    and a failed run against a trained one would inflate the spread. `excluded` lists them;
    if no seed is left, every seed is used and `all_seeds_failed` says so.
    """
    root = Path(root)
    model = model or next(iter(config["models"]))
    testset = testset or next(iter(config["testsets"]))
    reference, candidate = list(config["optimizers"])[:2]
    folders = {o: root / "eval" / model / o for o in (reference, candidate)}
    seeds = sorted(set(_seeds(folders[reference])) & set(_seeds(folders[candidate])))
    if not seeds:
        raise FileNotFoundError(f"{folders[reference]}: no seeds shared with {candidate}")
    last = _epochs(folders[reference] / f"seed{seeds[0]}")[-1]

    def failed(optim: str, seed: int) -> bool:
        state = root / "models" / model / optim / f"seed{seed}" / "trainer_state.json"
        return state.exists() and not trained(training_summary(_json(state))["last_epoch_loss"])

    excluded = [s for s in seeds if failed(reference, s) or failed(candidate, s)]
    used = [s for s in seeds if s not in excluded] or seeds
    sds, n_queries = [], None
    for seed in used:
        per = {o: _json(folders[o] / f"seed{seed}" / f"epoch{last}" / f"{testset}.json")["per_query"]
               for o in (reference, candidate)}
        if set(per[reference]) != set(per[candidate]):
            raise ValueError(f"seed {seed}: the two optimizers' evaluations cover different queries")
        qids = sorted(per[reference])
        d = np.array([per[candidate][q][measure] - per[reference][q][measure] for q in qids])
        sds.append(float(np.std(d, ddof=1)))
        n_queries = len(qids)
    return {"sd": float(np.mean(sds)), "per_seed": sds, "sd_min": float(min(sds)), "sd_max": float(max(sds)), "n_queries": n_queries, "seeds": used, "excluded": excluded,
            "all_seeds_failed": len(excluded) == len(seeds), "epoch": last,
            "measure": measure, "reference": config["optimizers"][reference]["name"],
            "candidate": config["optimizers"][candidate]["name"], "testset_name": config["testsets"][testset]["name"]}


def find_test(numbers: dict, family: str, system_a: str, system_b: str, measure: str) -> dict:
    rows = [r for r in numbers["tests"] if r["family"] == family and r["system_a"] == system_a
            and r["system_b"] == system_b and r["measure"] == measure]
    if len(rows) != 1:
        raise KeyError(f"significance.tsv: expected one row for {family} {system_a} vs {system_b} {measure}, "
                       f"found {len(rows)}")
    return rows[0]


def _label(model: str, optim: str, epoch: int) -> str:
    return f"{model}/{optim}/epoch{epoch}"


# --------------------------------------------------------------------------- LaTeX


SCHEDULE_CLAUSES = {
    "constant_with_warmup": "after which the rate stays at its peak",
    "linear": "followed by a linear decay to zero",
    "trainer_default": "followed by a linear decay to zero",
    "cosine": "followed by a cosine decay to zero",
}
DIGITS = 3   # every value and difference of the section; p values have their own rule (_p)


def _p(value: float, bound: bool = False) -> str:
    """p-values: three decimals, or an upper bound when smaller or (`bound`) when the
    value comes from a randomization test at its floor 1/(B+1)."""
    if value < 0.001:
        return "$<$0.001"
    if bound:  # rounded up, so that the printed bound holds
        return "$<$" + format_number(math.ceil(value * 1000 - 1e-9) / 1000, digits=3)
    return format_number(value, digits=3)


def _mean_sd(summary: dict, digits: int = DIGITS) -> str:
    text = format_number(summary["mean"], digits=digits)
    if summary["n_seeds"] > 1:
        text += r"\,{\scriptsize$\pm$" + format_number(summary["sd"], digits=digits) + "}"
    return text


def _signed(value: float, digits: int = DIGITS) -> str:
    return format_number(value, digits=digits, signed=True)


def _interval(low: float, high: float, digits: int = DIGITS) -> str:
    return f"[{_signed(low, digits)}, {_signed(high, digits)}]"


def _dz(value: float) -> str:
    """d_z in a table cell (text mode)."""
    return format_number(value, digits=2, signed=True)


def _math(value: float, digits: int = 2) -> str:
    """A signed number inside math mode ($...$): a plain minus sign."""
    return f"{value:+.{digits}f}".replace("+", "") if round(value, digits) < 0 else f"{abs(value):.{digits}f}"


def heldout_bm25(numbers: dict) -> float | None:
    """BM25's held-out nDCG@10 as the recipe search measured it (the same in every search)."""
    values = {round(float(r["heldout_ndcg10"]), 6) for r in numbers["recipe"] or [] if r["optim"] == "-"}
    if len(values) > 1:
        raise ValueError(f"recipe_search.tsv: BM25 rows disagree on held-out nDCG@10: {sorted(values)}")
    return values.pop() if values else None


def macros(numbers: dict) -> dict[str, str]:
    """{macro name: LaTeX text} of every number and number-bearing sentence."""
    out: dict[str, str] = {}

    def put(value: str, *parts: object) -> None:
        name = macro_name(PREFIX, *parts)
        if name in out:
            raise ValueError(f"macro {name} defined twice")
        out[name] = value

    put(latex_escape(numbers["model_name"]), "model")
    put(format_number(numbers["test_queries"], style="int"), "test queries")
    put(format_number(len(numbers["seeds"]), style="word"), "seed count")
    put(", ".join(format_number(s, style="int") for s in numbers["seeds"]), "seed list")
    put(format_number(len(numbers["epochs"]), style="word"), "epoch count")
    put("epoch" if len(numbers["epochs"]) == 1 else "epochs", "epoch noun")
    data, setup = numbers["data"], numbers["setup"]
    for key in ("training_queries", "heldout_queries", "training_pairs", "training_positives",
                "negatives_per_positive", "negative_depth", "heldout_depth", "candidate_depth"):
        put(format_number(data[key], style="int"), key.replace("_", " "))
    put("negative" if data["negatives_per_positive"] == 1 else "negatives", "negative noun")
    for key in ("max_length", "batch_size", "depth"):
        put(format_number(setup[key], style="int"), key.replace("_", " "))
    put(format_number(setup["warmup_ratio"], style="auto"), "warmup")
    put(SCHEDULE_CLAUSES.get(setup["scheduler"], latex_escape(SCHEDULER_LABELS[setup["scheduler"]])), "schedule clause")
    put(format_number(setup["k1"], style="auto"), "bm k one")
    put(format_number(setup["b"], style="auto"), "bm b")
    # The TSV's seed column is empty on BM25 rows, so pandas reads it as floats (12.0) with NaNs.
    # The seeds of the search that chose the recipe: the rows that record whether the try trained.
    recipe_seeds = sorted({int(float(r["seed"])) for r in numbers["recipe"] or []
                           if not _blank(r.get("seed")) and not _blank(r.get("trained"))})
    put(", ".join(format_number(s, style="int") for s in recipe_seeds) or "--", "recipe seed")
    bm_heldout = heldout_bm25(numbers)
    if bm_heldout is not None:
        put(format_number(bm_heldout, digits=DIGITS), "bm heldout")
    for m, label in MEASURES:
        put(format_number(numbers["bm25"][m], digits=DIGITS), "bm", m)
        put(_mean_sd(numbers["untrained"][m]), "untrained", m)
    for optim in numbers["optims"]:
        t = numbers["training"][optim]
        put(format_number(t["learning_rate"], style="sci"), optim, "lr")
        head = t["head_learning_rate"]
        put(format_number(head if head is not None else t["learning_rate"], style="sci"), optim, "head lr")
        put(format_number(numbers["setup"]["weight_decay"][optim], style="auto"), optim, "weight decay")
        put(format_number(t["pairs_per_second"]["mean"], digits=2), optim, "pairs per second")
        put(format_number(t["seconds"]["mean"], digits=0), optim, "train seconds")
        put(format_number(t["steps"]["mean"], style="int"), optim, "steps")
        put(format_number(t["final_loss"]["mean"], digits=3), optim, "final loss")
        put(format_number(t["last_epoch_loss"]["mean"], digits=3), optim, "last epoch loss")
        stuck = t["stuck_seeds"]
        put(format_number(len(stuck), style="word"), optim, "stuck runs")
        put(_join([format_number(s, style="int") for s in stuck]) or "none", optim, "stuck seeds")
        failure = t["failure"]
        put(f"{format_number(failure['low'], digits=2)}--{format_number(failure['high'], digits=2)}",
            optim, "failure interval")
        for epoch, measures in numbers["runs"][optim].items():
            for m, _ in MEASURES:
                put(_mean_sd(measures[m]), optim, "epoch", epoch, m)
    last = numbers["epochs"][-1]
    put(format_number(last, style="int"), "last epoch")
    put(format_number(CHANCE_LOSS, digits=3), "chance loss")
    put(format_number(TRAINED_FRACTION, style="auto"), "trained fraction")
    put(format_number(TRAINED_BELOW, digits=3), "trained below")
    put(format_number(numbers["permutations"], style="int"), "permutations")
    put(format_number(len(numbers["seeds"]), style="int"), "seed number")
    put(format_number(2 / 2 ** len(numbers["seeds"]), digits=4), "sign floor")
    put(bm25_verdict(numbers), "bm verdict")
    put(conclusion_sentence(numbers), "conclusion finding")
    put(abstract_sentence(numbers), "abstract sentence")
    put(comparison_summary(numbers), "comparison summary")
    put(seed_summary_sentence(numbers), "seed summary")
    put(failure_sentence(numbers), "failure sentence")
    put(format_number(numbers["tests"][0]["alpha"], style="auto"), "alpha")
    base, other = numbers["optims"][0], numbers["optims"][1]
    fam = [r for r in numbers["tests"] if r["family"] == f"{other}_vs_{base}"]
    put(format_number(len(fam), style="int"), "opt family size")
    put(format_number(sum(r["family"] == "vs_bm25" for r in numbers["tests"]), style="int"), "bm family size")
    prov = numbers.get("provenance")
    if prov:
        put(format_number(prov["wall_seconds"] / 60, digits=1), "wall minutes")
        if prov.get("load_average"):
            put(format_number(prov["load_average"]["mean_1min"], digits=1), "load average")
        put(latex_escape(prov["date"][:10]), "date")  # the day; the time of day is in provenance.json
        put(latex_escape(prov["machine"]["cpu"]), "cpu")
        put(format_number(prov["machine"]["cores"], style="int"), "cores")
    return out


def _below_bm25(numbers: dict) -> bool:
    """Whether every optimizer's mean nDCG@10 at the last epoch is below BM25's."""
    last = numbers["epochs"][-1]
    return all(numbers["runs"][o][last]["ndcg_cut_10"]["mean"] < numbers["bm25"]["ndcg_cut_10"]
               for o in numbers["optims"])


def _any_failed(numbers: dict) -> bool:
    return any(numbers["training"][o]["stuck_seeds"] for o in numbers["optims"])


def _pair_rows(numbers: dict, measure: str = "ndcg_cut_10") -> tuple[Mapping, dict]:
    """The optimizer comparison at the last epoch: the query-level row of significance.tsv
    and the seed-level test over all seeds."""
    base, other = numbers["optims"][:2]
    query = _last_epoch_tests(numbers, measure)[-1][2]
    seeds = find_seed_test(numbers, f"{other}_vs_{base}", other, base, measure)
    return query, seeds


def _verdict(significant: bool) -> str:
    return "significant" if significant else "not significant"


def conclusion_sentence(numbers: dict) -> str:
    """The replication's finding in one sentence for the main paper's conclusion (nDCG@10, last epoch)."""
    names = numbers["optim_names"]
    base, other = numbers["optims"][0], numbers["optims"][1]
    query, seeds = _pair_rows(numbers)
    diff = float(query["diff"])
    relation = "ahead of" if diff > 0 else "behind" if diff < 0 else "level with"
    alpha = float(query["alpha"])
    text = (f"on SciFact, {latex_escape(names[other])} ended {format_number(abs(diff), digits=DIGITS)} nDCG@10 "
            f"{relation} {latex_escape(names[base])} over {format_number(len(numbers['seeds']), style='word')} seeds, "
            f"a difference that is {_verdict(query['significant'] == 'yes')} over the test queries and "
            f"{_verdict(seeds['p_t_holm'] <= alpha)} over the seeds")
    stuck = [(len(numbers["training"][o]["stuck_seeds"]), names[o]) for o in numbers["optims"]]
    if any(count for count, _ in stuck):
        count_word = format_number(len(numbers["seeds"]), style="word")
        text += ", but " + _join([f"{format_number(count, style='word')} of {count_word} {latex_escape(name)} runs"
                                  for count, name in stuck]) + " never trained"
    if _below_bm25(numbers):
        text += ", and neither optimizer's rerankers reached BM25 on average"
    return text + "."


def abstract_sentence(numbers: dict) -> str:
    """The replication in one sentence for an abstract: the seed-level difference and BM25."""
    names = numbers["optim_names"]
    base, other = numbers["optims"][0], numbers["optims"][1]
    query, seeds = _pair_rows(numbers)
    count = format_number(len(numbers["seeds"]), style="word")
    last = numbers["epochs"][-1]
    means = {o: numbers["runs"][o][last]["ndcg_cut_10"]["mean"] for o in numbers["optims"]}
    text = (f"In a controlled replication on BEIR SciFact with {count} seeds per optimizer, "
            f"{latex_escape(names[other])} reached an nDCG@10 of {format_number(means[other], digits=DIGITS)} and "
            f"{latex_escape(names[base])} {format_number(means[base], digits=DIGITS)} (BM25: "
            f"{format_number(numbers['bm25']['ndcg_cut_10'], digits=DIGITS)}); the difference, "
            f"{_signed(seeds['diff'])} with a 95\\% interval over seeds of "
            f"{_interval(seeds['ci_low'], seeds['ci_high'])}, is "
            f"{_verdict(query['significant'] == 'yes')} over the test queries")
    if _any_failed(numbers):
        text += (", and " + _join([f"{format_number(len(numbers['training'][o]['stuck_seeds']), style='word')} "
                                   f"{latex_escape(names[o])}" for o in numbers["optims"]]) + " runs did not train")
    return text + "."


def bm25_verdict(numbers: dict) -> str:
    """One sentence: where the fine-tuned rerankers stand against BM25 at the last epoch (nDCG@10)."""
    last, bm = numbers["epochs"][-1], numbers["bm25"]["ndcg_cut_10"]
    significant = [row["significant"] == "yes" for _, _, row in _last_epoch_tests(numbers, "ndcg_cut_10")[:-1]]
    if _below_bm25(numbers):
        if all(significant):
            return ("Neither fine-tuned reranker reaches BM25: at the last epoch both are significantly below "
                    "the ranking they reorder")
        return "Neither fine-tuned reranker reaches BM25 at the last epoch, though not every gap is significant"
    means = {o: numbers["runs"][o][last]["ndcg_cut_10"]["mean"] for o in numbers["optims"]}
    if all(mean > bm for mean in means.values()):
        if all(significant):
            return "Both fine-tuned rerankers improve significantly on the BM25 ranking they reorder"
        return "Both fine-tuned rerankers are above BM25 at the last epoch, though not every gain is significant"
    above = [latex_escape(numbers["optim_names"][o]) for o, mean in means.items() if mean > bm]
    level = [latex_escape(numbers["optim_names"][o]) for o, mean in means.items() if mean == bm]
    if not above:  # none above, not all below: some reranker ties BM25 exactly
        return (f"At the last epoch no fine-tuned reranker is above BM25 on average, and the "
                f"{_join(level)} reranker{'s are' if len(level) > 1 else ' is'} level with it")
    return f"At the last epoch only the {above[0]} reranker is above BM25 on average"


def _last_epoch_tests(numbers: dict, measure: str) -> list[tuple[str, str, Mapping]]:
    """(system a, system b, significance row) at the last epoch: each optimizer against BM25,
    then the second optimizer against the first."""
    model, last = numbers["model"], numbers["epochs"][-1]
    base, other = numbers["optims"][0], numbers["optims"][1]
    names = numbers["optim_names"]
    tests = [(names[o], "BM25", find_test(numbers, "vs_bm25", _label(model, o, last), "bm25", measure))
             for o in (base, other)]
    tests.append((names[other], names[base], find_test(numbers, f"{other}_vs_{base}", _label(model, other, last),
                                                       _label(model, base, last), measure)))
    return tests


def _direction(diff: float) -> str:
    return "above" if diff > 0 else "below" if diff < 0 else "level with"


def comparison_summary(numbers: dict) -> str:
    """The last epoch's paired differences over queries in nDCG@10, and which of them (with
    the same comparisons in MRR@10) survive Holm's correction; the table of tests has the rest."""
    (base, _, base_bm), (other, _, other_bm), (_, _, pair) = _last_epoch_tests(numbers, "ndcg_cut_10")
    diff = {k: float(r["diff"]) for k, r in (("base", base_bm), ("other", other_bm), ("pair", pair))}
    text = (f"Over the test queries, in nDCG@10 at the last epoch, {latex_escape(base)} is "
            f"{format_number(abs(diff['base']), digits=DIGITS)} {_direction(diff['base'])} BM25 and "
            f"{latex_escape(other)} {format_number(abs(diff['other']), digits=DIGITS)} {_direction(diff['other'])} it, "
            f"and {latex_escape(other)} is {format_number(abs(diff['pair']), digits=DIGITS)} "
            f"{_direction(diff['pair'])} {latex_escape(base)} (95\\% CI "
            f"{_interval(float(pair['ci_low']), float(pair['ci_high']))}, $d_z = {_math(float(pair['d_z']))}$).")
    labels = dict(TESTED_MEASURES)
    failed = [f"{latex_escape(a)} against {latex_escape(b)} in {labels[m]}"
              for m in labels for a, b, row in _last_epoch_tests(numbers, m) if row["significant"] != "yes"]
    if not failed:
        return text + (" Each of these differences, and each of the same comparisons in MRR@10, is significant "
                       "after Holm's correction (\\cref{tab:replication-tests}).")
    verb = "is" if len(failed) == 1 else "are"
    return text + (f" After Holm's correction, {_join(failed)} {verb} not significant; the other comparisons of "
                   f"these two measures are (\\cref{{tab:replication-tests}}).")


def seed_summary_sentence(numbers: dict) -> str:
    """The optimizer comparison with the seed as the unit (nDCG@10, last epoch, all seeds)."""
    names = numbers["optim_names"]
    base, other = numbers["optims"][0], numbers["optims"][1]
    query, seeds = _pair_rows(numbers)
    n = format_number(seeds["n"], style="word")
    text = (f"Over the {n} seeds, {latex_escape(names[other])}'s nDCG@10 at the last epoch is "
            f"{format_number(abs(seeds['diff']), digits=DIGITS)} {_direction(seeds['diff'])} "
            f"{latex_escape(names[base])}'s on average (95\\% $t$ interval over seeds "
            f"{_interval(seeds['ci_low'], seeds['ci_high'])}, $d_z = {_math(seeds['d_z'])}$, paired $t$-test over "
            f"seeds $p = {_p(seeds['p_t']).replace('$', '')}$, Holm-adjusted {_p(seeds['p_t_holm'])}); "
            f"the exact sign-flip test over the seeds, which assumes no distribution but cannot go below "
            f"$2/2^{{{format_number(seeds['n'], style='int')}}} = {format_number(seeds['p_sign_floor'], digits=4)}$, "
            f"gives $p = {format_number(seeds['p_sign'], digits=4)}$.")
    return text


def failure_sentence(numbers: dict) -> str:
    """How many runs of each optimizer trained, with the exact interval of the failure rate."""
    names = numbers["optim_names"]
    parts = []
    for optim in numbers["optims"]:
        f = numbers["training"][optim]["failure"]
        runs = format_number(f["runs"], style="word")
        what = (f"all {runs} {latex_escape(names[optim])} runs trained" if f["failed"] == 0 else
                f"{format_number(f['failed'], style='word')} of {runs} {latex_escape(names[optim])} runs did not train")
        parts.append(f"{what} (exact 95\\% interval of the failure rate {format_number(f['low'], digits=2)} to "
                     f"{format_number(f['high'], digits=2)})")
    return "By that definition, " + _join(parts) + "."


def still_rising(numbers: dict) -> bool:
    """Whether every run's in-training held-out nDCG@10 rose over its last epoch."""
    for states in numbers["states"].values():
        for state in states.values():
            values = list(heldout_curves(state)["ndcg"])
            if len(values) < 2 or values[-1] <= values[-2]:
                return False
    return True


def results_table(numbers: dict) -> str:
    """Mean ± seed sd of every system (BM25, untrained head, each optimizer and epoch)."""
    head = " & ".join(["System", "Ep."] + [label for _, label in MEASURES])
    lines = [r"\begin{tabular}{@{}ll" + "l" * len(MEASURES) + "@{}}", r"\toprule", head + r" \\", r"\midrule"]
    lines.append(" & ".join(["BM25", "--"] + [format_number(numbers["bm25"][m], digits=DIGITS) for m, _ in MEASURES])
                 + r" \\")
    lines.append(" & ".join(["Untrained head", "--"] + [_mean_sd(numbers["untrained"][m]) for m, _ in MEASURES])
                 + r" \\")
    for optim in numbers["optims"]:
        lines.append(r"\midrule")
        for epoch, measures in numbers["runs"][optim].items():
            lines.append(" & ".join([latex_escape(numbers["optim_names"][optim]), format_number(epoch, style="int")]
                                    + [_mean_sd(measures[m]) for m in dict(MEASURES)]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def tests_table(numbers: dict) -> str:
    """The last epoch's comparisons at both units: over the test queries (per-query values
    averaged over seeds; significance.tsv) and over the seeds (`seed_tests`)."""
    model, base, other = numbers["model"], numbers["optims"][0], numbers["optims"][1]
    names, last, floor = numbers["optim_names"], numbers["epochs"][-1], numbers["permutations"]
    lines = [r"\begin{tabular}{@{}llllllr@{}}", r"\toprule",
             r"Comparison & Measure & Unit & $\Delta$ & 95\% interval & $d_z$ & $p_{\mathrm{Holm}}$ \\", r"\midrule"]
    comparisons = [(f"{latex_escape(names[other])} $-$ {latex_escape(names[base])}", f"{other}_vs_{base}", other, base,
                    (_label(model, other, last), _label(model, base, last)))]
    comparisons += [(f"{latex_escape(names[o])} $-$ BM25", "vs_bm25", o, "bm25", (_label(model, o, last), "bm25"))
                    for o in (base, other)]
    subsets = sorted({r["subset"] for r in numbers["seed_tests"]}, key=["all", "trained"].index)
    for index, (label, family, a, b, systems) in enumerate(comparisons):
        if index:
            lines.append(r"\midrule")
        for measure, measure_label in TESTED_MEASURES:
            q = find_test(numbers, family, *systems, measure)
            if q["test"] == "perm":
                p, bound = float(q["p_perm_holm"]), at_permutation_floor(float(q["p_perm"]), floor)
            else:
                p, bound = float(q["p_t_holm"]), False
            mark = r"$^{*}$" if q["significant"] == "yes" else ""
            lines.append(" & ".join([label, measure_label, "queries", _signed(float(q["diff"])) + mark,
                                     _interval(float(q["ci_low"]), float(q["ci_high"])), _dz(float(q["d_z"])),
                                     _p(p, bound)]) + r" \\")
            label = ""
            for subset in subsets:
                try:
                    s = find_seed_test(numbers, family, a, b, measure, subset)
                except KeyError:
                    continue
                unit = "seeds" if subset == "all" else "trained seeds"
                mark = r"$^{*}$" if s["p_t_holm"] <= float(q["alpha"]) else ""
                lines.append(" & ".join(["", "", f"{unit} ({format_number(s['n'], style='int')})",
                                         _signed(s["diff"]) + mark, _interval(s["ci_low"], s["ci_high"]),
                                         _dz(s["d_z"]), _p(s["p_t_holm"])]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() in ("", "nan")


def recipe_tries(numbers: dict) -> list[dict]:
    """One row per try of the recipe search (its last epoch), in the file's order."""
    rows = [r for r in numbers["recipe"] or [] if r["optim"] != "-"]
    last: dict[tuple, dict] = {}
    for r in rows:
        key = (r["date"], r["name"], None if _blank(r.get("seed")) else int(float(r["seed"])))
        if key not in last or int(r["epoch"]) > int(last[key]["epoch"]):
            last[key] = r
    return list(last.values())


def recipe_table(numbers: dict) -> str:
    """The recipe search on the held-out train queries, one row per try at its last epoch."""
    lines = [r"\begin{tabular}{@{}lllllllll@{}}", r"\toprule",
             r"Optimizer & Body lr & Head lr & WD & Schedule & Ep. & Seed & nDCG@10 & Trained \\", r"\midrule"]
    bm = heldout_bm25(numbers)
    if bm is not None:
        lines.append(" & ".join(["BM25"] + ["--"] * 6 + [format_number(bm, digits=DIGITS), "--"]) + r" \\")
    for r in recipe_tries(numbers):
        optim = {"adamw": "AdamW", "lion": "Lion"}.get(str(r["optim"]), str(r["optim"]))
        head = "--" if _blank(r.get("head_lr")) else format_number(float(r["head_lr"]), style="sci")
        decay = format_number(0.01 if _blank(r.get("weight_decay")) else float(r["weight_decay"]), style="auto")
        trained_text = "--" if _blank(r.get("trained")) else str(r["trained"])
        lines.append(" & ".join([
            latex_escape(optim), format_number(float(r["lr"]), style="sci"), head, decay,
            latex_escape(SCHEDULER_LABELS.get(str(r["scheduler"]), str(r["scheduler"]))),
            format_number(int(r["epoch"]), style="int"),
            "--" if _blank(r.get("seed")) else format_number(int(float(r["seed"])), style="int"),
            format_number(float(r["heldout_ndcg10"]), digits=DIGITS), trained_text]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def heldout_curves(state: dict) -> pd.DataFrame:
    """step, nDCG@10 of the in-training evaluator (held-out queries) at each epoch's end."""
    rows = [{"step": e["step"], "ndcg": e["eval_heldout_ndcg@10"]} for e in state["log_history"]
            if "eval_heldout_ndcg@10" in e]
    return pd.DataFrame(rows, columns=["step", "ndcg"])


SEED_MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*")
SEED_STYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1)), (0, (1, 1)), (0, (3, 1, 1, 1, 1, 1)), (0, (8, 2)))


def training_figure(numbers: dict, output: str | Path) -> None:
    """Training loss (smoothed) and the in-training held-out nDCG@10 over steps: colour =
    optimizer, line style and marker = seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    plt.rcParams.update({"pdf.fonttype": 42, "font.family": "STIXGeneral", "mathtext.fontset": "stix",
                         "font.size": 6.5})
    fig, axes = plt.subplots(1, 2, figsize=(3.5, 1.9))  # one IEEE column
    colors = {numbers["optims"][0]: "#1f77b4", numbers["optims"][1]: "#d62728"}
    seeds = numbers["seeds"]
    style = {s: (SEED_STYLES[i % len(SEED_STYLES)], SEED_MARKERS[i % len(SEED_MARKERS)]) for i, s in enumerate(seeds)}
    for optim, per_seed in numbers["curves"].items():
        for seed, frame in sorted(per_seed.items()):
            line, marker = style[seed]
            smooth = frame["loss"].rolling(5, min_periods=1, center=True).mean()
            axes[0].plot(frame["step"], smooth, color=colors[optim], lw=0.7, ls=line, alpha=0.85)
    for optim, states in numbers["states"].items():
        for seed, state in sorted(states.items()):
            line, marker = style[seed]
            frame = heldout_curves(state)
            axes[1].plot(frame["step"], frame["ndcg"], color=colors[optim], lw=0.7, ls=line, marker=marker, ms=2.5,
                         alpha=0.85)
    axes[0].axhline(TRAINED_BELOW, color="0.4", lw=0.6, ls=":")
    axes[0].axhline(CHANCE_LOSS, color="0.6", lw=0.6, ls="-")
    axes[0].set_title("training loss (BCE, 5-log mean)", fontsize=6.5)
    axes[1].set_title("held-out nDCG@10 (in training)", fontsize=6.5)
    for ax in axes:
        ax.set_xlabel("step")
        ax.grid(alpha=0.3, lw=0.4)
        ax.tick_params(labelsize=6, length=2, pad=1.5)
    handles = [Line2D([], [], color=colors[o], lw=1.0, label=latex_escape(numbers["optim_names"][o]).replace("\\", ""))
               for o in numbers["optims"]]
    handles += [Line2D([], [], color="0.3", lw=0.7, ls=style[s][0], marker=style[s][1], ms=2.5, label=f"seed {s}")
                for s in seeds]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 4), frameon=False, fontsize=5.5,
               handlelength=2.6, columnspacing=1.0)
    fig.tight_layout(rect=(0, 0.17 if len(handles) > 4 else 0.1, 1, 1))
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output)
    plt.close(fig)


def write_section(root: str | Path, config: Mapping, outputs: Mapping[str, str | Path],
                  authors: list | None = None, recipe_search: str | Path | None = None, fresh: bool = False) -> dict:
    """Write the macros, tables and figure named in `outputs` (keys macros, results, tests,
    recipe, figure; and authors, the stand-alone paper's author block from the workflow's
    paper.authors, when given). `recipe_search` as for replication_numbers; `fresh`: `root`
    is the workflow's own results/, not a committed run."""
    from .paper import authors_block
    from .trec import atomic_write_text

    numbers = replication_numbers(root, config, recipe_search=recipe_search)
    values = macros(numbers)
    text = "% Generated by crossopt/replication.py from " + str(root) + "; do not edit.\n"
    text += "\\newif\\ifreplprovenance\n" + ("\\replprovenancetrue\n" if numbers["provenance"] else "")
    text += "\\newif\\ifreplrecipe\n" + ("\\replrecipetrue\n" if numbers["recipe"] else "")
    text += "\\newif\\ifreplfresh\n" + ("\\replfreshtrue\n" if fresh else "")
    sampled = bool(numbers["provenance"] and numbers["provenance"].get("load_average"))
    text += "\\newif\\ifreplload\n" + ("\\replloadtrue\n" if sampled else "")
    text += "\\newif\\ifreplbelowbm\n" + ("\\replbelowbmtrue\n" if _below_bm25(numbers) else "")
    text += "\\newif\\ifreplstuck\n" + ("\\replstucktrue\n" if _any_failed(numbers) else "")
    text += "\\newif\\ifreplrising\n" + ("\\replrisingtrue\n" if still_rising(numbers) else "")
    text += "".join(f"\\newcommand{{\\{name}}}{{{value}}}\n" for name, value in values.items())
    atomic_write_text(outputs["macros"], text)
    atomic_write_text(outputs["results"], results_table(numbers))
    atomic_write_text(outputs["tests"], tests_table(numbers))
    atomic_write_text(outputs["recipe"], recipe_table(numbers))
    if "authors" in outputs:
        atomic_write_text(outputs["authors"], authors_block(authors))
    training_figure(numbers, outputs["figure"])
    return numbers
