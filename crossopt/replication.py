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

from .paper import _join, format_number, latex_escape, macro_name
from .stats import seed_summary

MEASURES = [("ndcg_cut_10", "nDCG@10"), ("recip_rank_10", "MRR@10"), ("map", "MAP"), ("recall_10", "R@10"),
            ("P_10", "P@10")]
PREFIX = "Repl"
# A run "stayed at chance" when its mean logged training loss over the last epoch is within
# this fraction of ln 2, the binary cross-entropy of a constant prediction on balanced pairs.
CHANCE_LOSS = math.log(2)
STUCK_MARGIN = 0.02


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


def stayed_at_chance(last_epoch_loss: float) -> bool:
    """Whether a run's last-epoch training loss never left the loss of a constant prediction."""
    return last_epoch_loss >= (1 - STUCK_MARGIN) * CHANCE_LOSS


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
                        testset: str | None = None) -> dict:
    """Every number of the replication section, read from `root` (results/ layout)."""
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

    runs, training, curves = {}, {}, {}
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
        training[optim]["stuck_seeds"] = [s for s, r in zip(states, per_seed) if stayed_at_chance(r["last_epoch_loss"])]
        curves[optim] = {s: training_curves(state) for s, state in states.items()}
        settings = run_settings(config, model, optim)
        training[optim]["learning_rate"] = settings["learning_rate"]
        training[optim]["head_learning_rate"] = settings.get("head_learning_rate")
        numbers["seeds"] = seeds
        numbers["epochs"] = epochs
    numbers["runs"], numbers["training"], numbers["curves"] = runs, training, curves

    significance = pd.read_csv(root / "stats" / "significance.tsv", sep="\t", dtype={"dropped": str})
    significance = significance[significance["testset"] == testset]
    numbers["tests"] = significance.to_dict("records")

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
    numbers["recipe"] = pd.read_csv(recipe, sep="\t").to_dict("records") if recipe.exists() else None
    provenance = root / "provenance.json"
    numbers["provenance"] = _json(provenance) if provenance.exists() else None
    return numbers


def single_seed_difference_sd(root: str | Path, config: Mapping, measure: str = "ndcg_cut_10",
                              model: str | None = None, testset: str | None = None) -> dict:
    """The spread of one seed's per-query difference between the two optimizers.

    For each seed s, d_q = candidate_s(q) - reference_s(q) on the last epoch's test
    queries; `sd` is the mean over seeds of the sample standard deviation of d_q. This is
    the s_d of a comparison of two single-seed runs, as each of the main study's
    comparisons is (its runs have one seed each), so the main paper can borrow it as an
    uncertainty scale (crossopt.paper_analysis.resolution_paragraph).

    Seeds at which either run stayed at chance (`stayed_at_chance`, read from the runs'
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
        return state.exists() and stayed_at_chance(training_summary(_json(state))["last_epoch_loss"])

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
    return {"sd": float(np.mean(sds)), "per_seed": sds, "n_queries": n_queries, "seeds": used, "excluded": excluded,
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


def _p(value: float) -> str:
    """p-values: three decimals, or an upper bound when smaller."""
    return "$<$0.001" if value < 0.001 else format_number(value, digits=3)


def _mean_sd(summary: dict, digits: int = 4) -> str:
    text = format_number(summary["mean"], digits=digits)
    if summary["n_seeds"] > 1:
        text += r"\,{\scriptsize$\pm$" + format_number(summary["sd"], digits=digits) + "}"
    return text


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
    put(format_number(setup["k1"], style="auto"), "bm k one")
    put(format_number(setup["b"], style="auto"), "bm b")
    # The TSV's seed column is empty on BM25 rows, so pandas reads it as floats (12.0) with NaNs.
    recipe_seeds = sorted({int(float(r["seed"])) for r in numbers["recipe"] or []
                           if str(r.get("seed", "")).strip() not in ("", "nan")})
    put(", ".join(format_number(s, style="int") for s in recipe_seeds) or "--", "recipe seed")
    for m, label in MEASURES:
        put(format_number(numbers["bm25"][m], digits=4), "bm", m)
        put(_mean_sd(numbers["untrained"][m]), "untrained", m)
    for optim in numbers["optims"]:
        t = numbers["training"][optim]
        put(format_number(t["learning_rate"], style="sci"), optim, "lr")
        head = t["head_learning_rate"]
        put(format_number(head if head is not None else t["learning_rate"], style="sci"), optim, "head lr")
        put(format_number(t["pairs_per_second"]["mean"], digits=2), optim, "pairs per second")
        put(format_number(t["seconds"]["mean"], digits=0), optim, "train seconds")
        put(format_number(t["steps"]["mean"], style="int"), optim, "steps")
        put(format_number(t["final_loss"]["mean"], digits=3), optim, "final loss")
        stuck = t["stuck_seeds"]
        put(format_number(len(stuck), style="word"), optim, "stuck runs")
        put(_join([format_number(s, style="int") for s in stuck]) or "none", optim, "stuck seeds")
        for epoch, measures in numbers["runs"][optim].items():
            for m, _ in MEASURES:
                put(_mean_sd(measures[m]), optim, "epoch", epoch, m)
    # Comparisons at the last epoch: the optimizer pair, and each optimizer against BM25.
    last = numbers["epochs"][-1]
    base, other = numbers["optims"][0], numbers["optims"][1]
    put(format_number(last, style="int"), "last epoch")
    put(format_number(CHANCE_LOSS, digits=3), "chance loss")
    put(format_number(100 * STUCK_MARGIN, style="int"), "stuck margin")
    put(bm25_verdict(numbers), "bm verdict")
    put(conclusion_sentence(numbers), "conclusion finding")
    put(comparison_summary(numbers), "comparison summary")
    put(format_number(numbers["tests"][0]["alpha"], style="auto"), "alpha")
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


def conclusion_sentence(numbers: dict) -> str:
    """The replication's finding in one sentence for the main paper's conclusion (nDCG@10, last epoch)."""
    names = numbers["optim_names"]
    base, other = numbers["optims"][0], numbers["optims"][1]
    row = _last_epoch_tests(numbers, "ndcg_cut_10")[-1][2]
    diff = float(row["diff"])
    relation = "ahead of" if diff > 0 else "behind" if diff < 0 else "level with"
    verdict = "significant" if row["significant"] == "yes" else "not significant"
    text = (f"on SciFact, {latex_escape(names[other])} ended {format_number(abs(diff))} nDCG@10 {relation} "
            f"{latex_escape(names[base])}, a {verdict} difference")
    seeds = format_number(len(numbers["seeds"]), style="word")
    stuck = [(len(numbers["training"][o]["stuck_seeds"]), names[o]) for o in numbers["optims"]]
    if any(count for count, _ in stuck):
        text += ", but " + _join([f"{format_number(count, style='word')} of {seeds} {latex_escape(name)} runs"
                                  for count, name in stuck]) + " never trained"
    if _below_bm25(numbers):
        text += ", and neither optimizer's rerankers reached BM25 on average"
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
    if all(numbers["runs"][o][last]["ndcg_cut_10"]["mean"] > bm for o in numbers["optims"]):
        if all(significant):
            return "Both fine-tuned rerankers improve significantly on the BM25 ranking they reorder"
        return "Both fine-tuned rerankers are above BM25 at the last epoch, though not every gain is significant"
    return "At the last epoch one fine-tuned reranker is above BM25 and the other below it"


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
    """The last epoch's paired differences in nDCG@10, and which of them (with the same
    comparisons in MRR@10) survive Holm's correction; the table of tests has the rest."""
    (base, _, base_bm), (other, _, other_bm), (_, _, pair) = _last_epoch_tests(numbers, "ndcg_cut_10")
    diff = {k: float(r["diff"]) for k, r in (("base", base_bm), ("other", other_bm), ("pair", pair))}
    text = (f"In nDCG@10 at the last epoch, {latex_escape(base)} is {format_number(abs(diff['base']))} "
            f"{_direction(diff['base'])} BM25 and {latex_escape(other)} {format_number(abs(diff['other']))} "
            f"{_direction(diff['other'])} it, and {latex_escape(other)} is {format_number(abs(diff['pair']))} "
            f"{_direction(diff['pair'])} {latex_escape(base)} (95\\% CI "
            f"{format_number(float(pair['ci_low']), signed=True)} to {format_number(float(pair['ci_high']), signed=True)}).")
    labels = {"ndcg_cut_10": "nDCG@10", "recip_rank_10": "MRR@10"}
    failed = [f"{latex_escape(a)} against {latex_escape(b)} in {labels[m]}"
              for m in labels for a, b, row in _last_epoch_tests(numbers, m) if row["significant"] != "yes"]
    if not failed:
        return text + (" Each of these differences, and each of the same comparisons in MRR@10, is significant "
                       "after Holm's correction (\\cref{tab:replication-tests}).")
    verb = "is" if len(failed) == 1 else "are"
    return text + (f" After Holm's correction, {_join(failed)} {verb} not significant; the other comparisons of "
                   f"these two measures are (\\cref{{tab:replication-tests}}).")


def results_table(numbers: dict) -> str:
    """Mean ± seed sd of every system (BM25, untrained head, each optimizer and epoch)."""
    head = " & ".join(["System", "Ep."] + [label for _, label in MEASURES])
    lines = [r"\begin{tabular}{@{}ll" + "l" * len(MEASURES) + "@{}}", r"\toprule", head + r" \\", r"\midrule"]
    lines.append(" & ".join(["BM25", "--"] + [format_number(numbers["bm25"][m], digits=4) for m, _ in MEASURES])
                 + r" \\")
    lines.append(" & ".join(["Untrained head", "--"] + [_mean_sd(numbers["untrained"][m], 3) for m, _ in MEASURES])
                 + r" \\")
    for optim in numbers["optims"]:
        lines.append(r"\midrule")
        for epoch, measures in numbers["runs"][optim].items():
            lines.append(" & ".join([latex_escape(numbers["optim_names"][optim]), format_number(epoch, style="int")]
                                    + [_mean_sd(measures[m], 3) for m, _ in MEASURES]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def tests_table(numbers: dict) -> str:
    """Paired differences with bootstrap CIs and Holm-adjusted p over the test queries."""
    model, base, other = numbers["model"], numbers["optims"][0], numbers["optims"][1]
    names = numbers["optim_names"]
    lines = [r"\begin{tabular}{@{}llllll@{}}", r"\toprule",
             r"Comparison & Ep. & Measure & $\Delta$ & 95\% CI & $p_{\mathrm{Holm}}$ \\", r"\midrule"]

    def row(label: str, epoch: int, test: Mapping, measure_label: str) -> str:
        p = float(test["p_perm_holm"] if test["test"] == "perm" else test["p_t_holm"])
        mark = r"$^{*}$" if test["significant"] == "yes" else ""
        ci = (format_number(float(test["ci_low"]), digits=3, signed=True) + ", "
              + format_number(float(test["ci_high"]), digits=3, signed=True))
        return " & ".join([label, format_number(epoch, style="int"), measure_label,
                           format_number(float(test["diff"]), digits=4, signed=True) + mark, f"[{ci}]", _p(p)]) + r" \\"

    comparisons = [(f"{latex_escape(names[other])} $-$ {latex_escape(names[base])}", f"{other}_vs_{base}",
                    lambda e: (_label(model, other, e), _label(model, base, e)))]
    comparisons += [(f"{latex_escape(names[o])} $-$ BM25", "vs_bm25", (lambda o: lambda e: (_label(model, o, e), "bm25"))(o))
                    for o in numbers["optims"]]
    for index, (label, family, systems) in enumerate(comparisons):
        if index:
            lines.append(r"\midrule")
        for epoch in numbers["epochs"]:
            for m, measure_label in MEASURES[:2]:
                a, b = systems(epoch)
                lines.append(row(label, epoch, find_test(numbers, family, a, b, m), measure_label))
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def recipe_table(numbers: dict) -> str:
    """The recipe search on the held-out train queries, one row per try and epoch."""
    rows = numbers["recipe"] or []
    lines = [r"\begin{tabular}{@{}llllllll@{}}", r"\toprule",
             r"Optimizer & Body lr & Head lr & Len. & Neg. & Ep. & nDCG@10 & Pairs/s \\", r"\midrule"]
    for r in rows:
        if r["optim"] == "-":
            lines.append(" & ".join(["BM25", "--", "--", "--", "--", "--",
                                     format_number(float(r["heldout_ndcg10"]), digits=4), "--"]) + r" \\")
            continue
        head = r.get("head_lr")
        head_text = "--" if head is None or (isinstance(head, float) and math.isnan(head)) or head == "" else \
            format_number(float(head), style="sci")
        lines.append(" & ".join([
            latex_escape(str(r["optim"]).replace("adamw", "AdamW").replace("lion", "Lion")),
            format_number(float(r["lr"]), style="sci"), head_text, format_number(int(r["max_length"]), style="int"),
            format_number(int(r["negatives"]), style="int"), format_number(int(r["epoch"]), style="int"),
            format_number(float(r["heldout_ndcg10"]), digits=4), format_number(float(r["pairs_per_second"]), digits=1),
        ]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def training_figure(numbers: dict, output: str | Path) -> None:
    """Loss, learning rate and gradient norm over steps, every seed of both optimizers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"pdf.fonttype": 42, "font.family": "STIXGeneral", "mathtext.fontset": "stix",
                         "font.size": 6.5})
    fig, axes = plt.subplots(1, 3, figsize=(3.5, 1.55))  # one IEEE column
    colors = {numbers["optims"][0]: "#1f77b4", numbers["optims"][1]: "#d62728"}
    for optim, per_seed in numbers["curves"].items():
        for index, (seed, frame) in enumerate(sorted(per_seed.items())):
            label = numbers["optim_names"][optim] if index == 0 else None
            for ax, column in zip(axes, ("loss", "learning_rate", "grad_norm")):
                ax.plot(frame["step"], frame[column], color=colors[optim], lw=0.8, alpha=0.75, label=label)
    for ax, title in zip(axes, ("training loss (BCE)", "learning rate (body)", "gradient norm")):
        ax.set_title(title, fontsize=6.5)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3, lw=0.4)
    axes[1].set_yscale("log")
    axes[0].legend(frameon=False, fontsize=6)
    for ax in axes:
        ax.tick_params(labelsize=6, length=2, pad=1.5)
    fig.tight_layout()
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output)
    plt.close(fig)


def write_section(root: str | Path, config: Mapping, outputs: Mapping[str, str | Path]) -> dict:
    """Write the macros, tables and figure named in `outputs` (keys macros, results, tests, recipe, figure)."""
    from .trec import atomic_write_text

    numbers = replication_numbers(root, config)
    values = macros(numbers)
    text = "% Generated by crossopt/replication.py from " + str(root) + "; do not edit.\n"
    text += "\\newif\\ifreplprovenance\n" + ("\\replprovenancetrue\n" if numbers["provenance"] else "")
    text += "\\newif\\ifreplrecipe\n" + ("\\replrecipetrue\n" if numbers["recipe"] else "")
    sampled = bool(numbers["provenance"] and numbers["provenance"].get("load_average"))
    text += "\\newif\\ifreplload\n" + ("\\replloadtrue\n" if sampled else "")
    stuck = any(numbers["training"][o]["stuck_seeds"] for o in numbers["optims"])
    text += "\\newif\\ifreplbelowbm\n" + ("\\replbelowbmtrue\n" if _below_bm25(numbers) else "")
    text += "\\newif\\ifreplstuck\n" + ("\\replstucktrue\n" if stuck else "")
    text += "".join(f"\\newcommand{{\\{name}}}{{{value}}}\n" for name, value in values.items())
    atomic_write_text(outputs["macros"], text)
    atomic_write_text(outputs["results"], results_table(numbers))
    atomic_write_text(outputs["tests"], tests_table(numbers))
    atomic_write_text(outputs["recipe"], recipe_table(numbers))
    training_figure(numbers, outputs["figure"])
    return numbers
