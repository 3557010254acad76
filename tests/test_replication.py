"""Every number of the paper's SciFact replication section, checked against the committed run.

The section's macros and tables are generated here from data/scifact/ by the code the
rule runs (crossopt.replication.write_section); the expected values are recomputed
from the raw files with json and statistics only: the evaluation JSONs (per-query
values included), trainer_state.json logs, summary.json, significance.tsv,
provenance.json and the profile's config as run. Every macro the section defines must
be checked by one of the tests below.
"""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
import statistics
from pathlib import Path

import pytest

from crossopt import replication
from crossopt.config import load_config
from crossopt.paper_analysis import resolution_paragraph

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "data" / "scifact"
MEASURES = {"ndcg_cut_10": "NdcgCutTen", "recip_rank_10": "RecipRankTen", "map": "Map", "recall_10": "RecallTen",
            "P_10": "PTen"}
MEAN_SD = re.compile(r"^(-?\d+\.\d+)(?:\\,\{\\scriptsize\$\\pm\$(\d+\.\d+)\})?$")
NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]


def load(path: Path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


@pytest.fixture(scope="module")
def section(tmp_path_factory):
    config = load_config(COMMITTED / "config.yaml")  # with the schema's defaults, as the rule loads it
    out = tmp_path_factory.mktemp("replication")
    outputs = {key: out / f"{key}.tex" for key in ("macros", "results", "tests", "recipe")}
    outputs["figure"] = out / "training.pdf"
    replication.write_section(COMMITTED, config, outputs)
    macros = dict(re.findall(r"\\newcommand\{\\(\w+)\}\{(.*)\}$", outputs["macros"].read_text(), flags=re.M))
    return {"config": config, "macros": macros, "checked": set(), "outputs": outputs}


def take(section, name: str) -> str:
    section["checked"].add(name)
    return section["macros"][name]


def close(text: str, value: float, digits: int = 4) -> None:
    assert float(text) == pytest.approx(round(value, digits), abs=0.6 * 10 ** -digits), (text, value)


def mean_sd(text: str, values: list[float], digits: int = 4) -> None:
    match = MEAN_SD.match(text)
    assert match, text
    close(match.group(1), statistics.mean(values), digits)
    if len(values) > 1:
        close(match.group(2), statistics.stdev(values), digits)


def seeds_of(folder: Path) -> list[int]:
    return sorted(int(p.name[4:]) for p in folder.glob("seed*"))


def last_epoch_loss(optim: str, seed: int, epochs: int) -> float:
    history = load(COMMITTED / "models" / "minilm" / optim / f"seed{seed}" / "trainer_state.json")["log_history"]
    return statistics.mean(e["loss"] for e in history if "loss" in e and "train_runtime" not in e
                           and "eval_loss" not in e and e["epoch"] > epochs - 1)


def stayed_at_chance(optim: str, seed: int, epochs: int) -> bool:
    """The run did not train: its mean logged loss over its last epoch is above 0.9 ln 2 (by hand)."""
    return last_epoch_loss(optim, seed, epochs) > 0.9 * math.log(2)


def clopper_pearson(k: int, n: int) -> tuple[float, float]:
    """The exact 95% interval of a binomial proportion, from the beta quantiles."""
    from scipy.stats import beta

    return (0.0 if k == 0 else beta.ppf(0.025, k, n - k + 1), 1.0 if k == n else beta.ppf(0.975, k + 1, n - k))


def holm_by_hand(pvalues: list[float]) -> list[float]:
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    adjusted, running = [0.0] * len(pvalues), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(pvalues) - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def seed_values(optim: str, measure: str, epoch: int) -> dict[int, float]:
    folder = COMMITTED / "eval" / "minilm" / optim
    return {s: load(folder / f"seed{s}" / f"epoch{epoch}" / "scifact.json")["aggregate"][measure]
            for s in seeds_of(folder)}


def by_seed(d: list[float]) -> dict:
    """Mean, t interval, d_z and the two-sided paired t-test p over seeds, from the formulas."""
    from scipy.stats import t as student

    n, mean, sd = len(d), statistics.mean(d), statistics.stdev(d)
    half = student.ppf(0.975, n - 1) * sd / math.sqrt(n)
    t_value = mean / (sd / math.sqrt(n))
    return {"diff": mean, "low": mean - half, "high": mean + half, "d_z": mean / sd,
            "p": 2 * student.sf(abs(t_value), n - 1)}


def per_query_mean(files: list[Path], measure: str) -> dict[str, float]:
    runs = [load(f)["per_query"] for f in files]
    return {q: statistics.mean(r[q][measure] for r in runs) for q in runs[0]}


def test_committed_run_is_complete():
    for name in ("config.yaml", "provenance.json", "recipe_search.tsv", "table.tsv", "stats/significance.tsv",
                 "data/beir/summary.json", "eval/bm25/scifact.json"):
        assert (COMMITTED / name).is_file(), name


def test_data_setup_and_provenance_macros(section):
    summary = load(COMMITTED / "data" / "beir" / "summary.json")
    for key in ("training_queries", "heldout_queries", "training_pairs", "training_positives",
                "negatives_per_positive", "negative_depth", "heldout_depth", "candidate_depth"):
        name = "Repl" + "".join(w.capitalize() for w in key.split("_"))
        assert take(section, name).replace("{,}", "") == str(summary[key]), key
    config = section["config"]
    model = config["models"]["minilm"]
    assert take(section, "ReplModel") == model["name"].replace("_", r"\_")
    assert take(section, "ReplMaxLength") == str(model["max_length"])
    assert take(section, "ReplBatchSize") == str(config["training"]["batch_size"])
    assert take(section, "ReplDepth") == str(config["testsets"]["scifact"]["retrieval"]["depth"])
    assert float(take(section, "ReplWarmup")) == config["training"]["warmup_ratio"]
    assert float(take(section, "ReplBmKOne")) == config["testsets"]["scifact"]["retrieval"]["k1"]
    assert float(take(section, "ReplBmB")) == config["testsets"]["scifact"]["retrieval"]["b"]
    seeds = config["study"]["seeds"]
    assert take(section, "ReplSeedCount") == NUMBER_WORDS[len(seeds)]
    assert take(section, "ReplSeedList") == ", ".join(map(str, seeds))
    assert take(section, "ReplEpochCount") == NUMBER_WORDS[config["study"]["epochs"]]
    assert take(section, "ReplEpochNoun") == ("epoch" if config["study"]["epochs"] == 1 else "epochs")
    assert take(section, "ReplNegativeNoun") == ("negative" if summary["negatives_per_positive"] == 1
                                                 else "negatives")
    assert take(section, "ReplLastEpoch") == str(config["study"]["epochs"])
    with open(COMMITTED / "recipe_search.tsv") as handle:
        recipe = list(csv.DictReader(handle, delimiter="\t"))
    # The seeds of the search that chose the recipe: its rows say whether each try trained.
    recipe_seeds = sorted({int(r["seed"]) for r in recipe if r["seed"] and r.get("trained")})
    assert take(section, "ReplRecipeSeed") == ", ".join(map(str, recipe_seeds))
    assert len(recipe_seeds) >= 2
    bm25_heldout = {r["heldout_ndcg10"] for r in recipe if r["optim"] == "-"}
    assert len(bm25_heldout) == 1
    close(take(section, "ReplBmHeldout"), float(bm25_heldout.pop()), 3)
    schedule = config["models"]["minilm"]["scheduler"]
    clause = take(section, "ReplScheduleClause")
    assert {"constant_with_warmup": "stays at its peak", "linear": "linear decay"}[schedule] in clause
    assert take(section, "ReplPermutations").replace("{,}", "") == str(config["statistics"]["permutations"])
    assert take(section, "ReplSeedNumber") == str(len(seeds))
    close(take(section, "ReplSignFloor"), 2 / 2 ** len(seeds), 4)
    provenance = load(COMMITTED / "provenance.json")
    close(take(section, "ReplWallMinutes"), provenance["wall_seconds"] / 60, 1)
    if provenance["load_average"]:
        close(take(section, "ReplLoadAverage"), provenance["load_average"]["mean_1min"], 1)
    else:  # not sampled: the paper then states no load figure
        assert "ReplLoadAverage" not in section["macros"]
        assert "\\replloadtrue" not in section["outputs"]["macros"].read_text()
    assert take(section, "ReplDate") == provenance["date"][:10]
    assert take(section, "ReplCpu") == provenance["machine"]["cpu"]
    assert take(section, "ReplCores") == str(provenance["machine"]["cores"])


def test_measure_macros_are_the_evaluation_files(section):
    bm25 = load(COMMITTED / "eval" / "bm25" / "scifact.json")
    assert take(section, "ReplTestQueries") == str(len(bm25["per_query"]))
    untrained = COMMITTED / "eval" / "untrained" / "minilm"
    for measure, word in MEASURES.items():
        # The aggregate is the mean of the per-query values (missing queries count as zero).
        close(take(section, f"ReplBm{word}"), statistics.mean(v[measure] for v in bm25["per_query"].values()), 3)
        files = [untrained / f"seed{s}" / "scifact.json" for s in seeds_of(untrained)]
        mean_sd(take(section, f"ReplUntrained{word}"), [load(f)["aggregate"][measure] for f in files], 3)
        for optim in ("adamw", "lion"):
            folder = COMMITTED / "eval" / "minilm" / optim
            for epoch in range(1, section["config"]["study"]["epochs"] + 1):
                files = [folder / f"seed{s}" / f"epoch{epoch}" / "scifact.json" for s in seeds_of(folder)]
                values = [statistics.mean(v[measure] for v in load(f)["per_query"].values()) for f in files]
                name = f"Repl{optim.capitalize()}Epoch{NUMBER_WORDS[epoch].capitalize()}{word}"
                mean_sd(take(section, name), values, 3)


def test_training_macros_are_the_trainer_logs(section):
    config = section["config"]
    for optim in ("adamw", "lion"):
        states = [load(p) for p in sorted((COMMITTED / "models" / "minilm" / optim).glob("seed*/trainer_state.json"))]
        assert len(states) == len(config["study"]["seeds"])
        finals = [next(e for e in s["log_history"] if "train_runtime" in e) for s in states]
        key = optim.capitalize()
        close(take(section, f"Repl{key}PairsPerSecond"),
              statistics.mean(f["train_samples_per_second"] for f in finals), 2)
        close(take(section, f"Repl{key}TrainSeconds"), statistics.mean(f["train_runtime"] for f in finals), 0)
        assert take(section, f"Repl{key}Steps").replace(",", "") == str(round(statistics.mean(
            s["global_step"] for s in states)))
        last_losses = [[e for e in s["log_history"] if "loss" in e and "train_runtime" not in e][-1]["loss"]
                       for s in states]
        close(take(section, f"Repl{key}FinalLoss"), statistics.mean(last_losses), 3)
        epochs = config["study"]["epochs"]
        close(take(section, f"Repl{key}LastEpochLoss"),
              statistics.mean(last_epoch_loss(optim, s, epochs) for s in config["study"]["seeds"]), 3)
        assert float(take(section, f"Repl{key}WeightDecay")) == spec_weight_decay(config, optim)
        spec = {**config["models"]["minilm"], **config.get("overrides", {}).get("minilm", {}).get(optim, {})}
        for macro, value in ((f"Repl{key}Lr", spec["learning_rate"]), (f"Repl{key}HeadLr", spec["head_learning_rate"])):
            mantissa, exponent = f"{value:e}".split("e")
            text = take(section, macro)
            assert f"10^{{{int(exponent)}}}" in text and format(float(mantissa), "g") in text, (macro, text, value)


def spec_weight_decay(config, optim: str) -> float:
    override = config.get("overrides", {}).get("minilm", {}).get(optim, {})
    return float(override.get("weight_decay", config["optimizers"][optim]["weight_decay"]))


def test_runs_that_did_not_train_are_read_from_the_trainer_logs(section):
    """A run trained when its mean logged loss over the last epoch is at most 0.9 ln 2; the
    failure rate of each optimizer carries its exact (Clopper-Pearson) interval."""
    assert float(take(section, "ReplChanceLoss")) == pytest.approx(math.log(2), abs=5e-4)
    assert float(take(section, "ReplTrainedFraction")) == 0.9
    close(take(section, "ReplTrainedBelow"), 0.9 * math.log(2), 3)
    epochs = section["config"]["study"]["epochs"]
    sentence = take(section, "ReplFailureSentence")
    for optim, name in (("adamw", "AdamW"), ("lion", "Lion")):
        seeds = seeds_of(COMMITTED / "models" / "minilm" / optim)
        stuck = [s for s in seeds if stayed_at_chance(optim, s, epochs)]
        key = optim.capitalize()
        assert take(section, f"Repl{key}StuckRuns") == NUMBER_WORDS[len(stuck)]
        words = [str(s) for s in stuck]
        expected = ("none" if not words else " and ".join(words) if len(words) <= 2
                    else ", ".join(words[:-1]) + ", and " + words[-1])
        assert take(section, f"Repl{key}StuckSeeds") == expected
        low, high = clopper_pearson(len(stuck), len(seeds))
        assert take(section, f"Repl{key}FailureInterval") == f"{low:.2f}--{high:.2f}"
        what = (f"all {NUMBER_WORDS[len(seeds)]} {name} runs trained" if not stuck else
                f"{NUMBER_WORDS[len(stuck)]} of {NUMBER_WORDS[len(seeds)]} {name} runs did not train")
        assert f"{what} (exact 95\\% interval of the failure rate {low:.2f} to {high:.2f})" in sentence, sentence
    # Every run's in-training held-out nDCG@10 rose over the last epoch, or the flag is off.
    rising = all(evals[-1] > evals[-2] for optim in ("adamw", "lion")
                 for s in seeds_of(COMMITTED / "models" / "minilm" / optim)
                 for evals in [[e["eval_heldout_ndcg@10"] for e in load(COMMITTED / "models" / "minilm" / optim
                                                                       / f"seed{s}" / "trainer_state.json")["log_history"]
                                if "eval_heldout_ndcg@10" in e]])
    assert ("\\replrisingtrue" in section["outputs"]["macros"].read_text()) == rising
    macros = section["outputs"]["macros"].read_text()
    any_stuck = "ReplAdamwStuckRuns}{zero}" not in macros or "ReplLionStuckRuns}{zero}" not in macros
    assert ("\\replstucktrue" in macros) == any_stuck


def test_verdict_against_bm25_follows_the_means_and_the_tests(section):
    epoch = section["config"]["study"]["epochs"]
    bm25 = load(COMMITTED / "eval" / "bm25" / "scifact.json")["aggregate"]["ndcg_cut_10"]
    folder = COMMITTED / "eval" / "minilm"
    rows = significance_rows()
    below, significant = [], []
    for optim in ("adamw", "lion"):
        values = [load(folder / optim / f"seed{s}" / f"epoch{epoch}" / "scifact.json")["aggregate"]["ndcg_cut_10"]
                  for s in seeds_of(folder / optim)]
        below.append(statistics.mean(values) < bm25)
        row = next(r for r in rows if r["family"] == "vs_bm25" and r["measure"] == "ndcg_cut_10"
                   and r["system_a"] == f"minilm/{optim}/epoch{epoch}")
        significant.append(row["significant"] == "yes")
    verdict = take(section, "ReplBmVerdict")
    if all(below):
        assert verdict.startswith("Neither fine-tuned reranker reaches BM25")
        assert ("both are significantly below" in verdict) == all(significant)
    elif not any(below):
        assert verdict.startswith("Both fine-tuned rerankers")
    else:
        assert "one fine-tuned reranker is above BM25" in verdict
    assert ("\\replbelowbmtrue" in section["outputs"]["macros"].read_text()) == all(below)
    # The conclusion's sentence: the optimizer difference, the runs that never trained, BM25.
    finding = take(section, "ReplConclusionFinding")
    lion_vs_adamw = next(r for r in rows if r["family"] == "lion_vs_adamw" and r["measure"] == "ndcg_cut_10"
                         and r["system_a"] == f"minilm/lion/epoch{epoch}")
    diff = float(lion_vs_adamw["diff"])
    relation = "ahead of" if diff > 0 else "behind" if diff < 0 else "level with"
    verdict = "significant" if lion_vs_adamw["significant"] == "yes" else "not significant"
    seeds = seeds_of(folder / "adamw")
    per_seed = [seed_values("lion", "ndcg_cut_10", epoch)[s] - seed_values("adamw", "ndcg_cut_10", epoch)[s]
                for s in seeds]
    # Holm over the seed-level family (the optimizer pair in nDCG@10 and MRR@10).
    mrr = [seed_values("lion", "recip_rank_10", epoch)[s] - seed_values("adamw", "recip_rank_10", epoch)[s]
           for s in seeds]
    seed_p = holm_by_hand([by_seed(per_seed)["p"], by_seed(mrr)["p"]])[0]
    seed_verdict = "significant" if seed_p <= float(lion_vs_adamw["alpha"]) else "not significant"
    assert finding.startswith(f"on SciFact, Lion ended {abs(diff):.3f} nDCG@10 {relation} AdamW over "
                              f"{NUMBER_WORDS[len(seeds)]} seeds, a difference that is {verdict} over the test "
                              f"queries and {seed_verdict} over the seeds"), finding
    stuck = {o: [s for s in seeds if stayed_at_chance(o, s, epoch)] for o in ("adamw", "lion")}
    if any(stuck.values()):
        for optim, name in (("adamw", "AdamW"), ("lion", "Lion")):
            assert f"{NUMBER_WORDS[len(stuck[optim])]} of {NUMBER_WORDS[len(seeds)]} {name} runs" in finding
    else:
        assert "never trained" not in finding
    assert ("neither optimizer's rerankers reached BM25" in finding) == all(below)
    # The abstract's sentence: the last epoch's means, BM25 and the seed-level interval.
    abstract = take(section, "ReplAbstractSentence")
    means = {o: statistics.mean(seed_values(o, "ndcg_cut_10", epoch).values()) for o in ("adamw", "lion")}
    expected = by_seed(per_seed)
    sign = lambda v: ("$-$" if round(v, 3) < 0 else "+" if round(v, 3) > 0 else "") + f"{abs(v):.3f}"
    assert (f"Lion reached an nDCG@10 of {means['lion']:.3f} and AdamW {means['adamw']:.3f} (BM25: {bm25:.3f}); "
            f"the difference, {sign(expected['diff'])} with a 95\\% interval over seeds of "
            f"[{sign(expected['low'])}, {sign(expected['high'])}], is {verdict} over the test queries") in abstract, abstract
    # The seed-level sentence: interval, d_z, t-test p (raw and Holm) and the exact sign-flip test.
    summary = take(section, "ReplSeedSummary")
    assert f"[{sign(expected['low'])}, {sign(expected['high'])}], $d_z = {expected['d_z']:.2f}$" in summary, summary
    assert f"$2/2^{{{len(seeds)}}} = {2 / 2 ** len(seeds):.4f}$" in summary
    flips = [sum(s * x for s, x in zip(signs, per_seed)) for signs in __import__("itertools").product((1, -1),
                                                                                                    repeat=len(seeds))]
    p_sign = sum(abs(f) >= abs(sum(per_seed)) * (1 - 1e-12) for f in flips) / len(flips)
    assert f"gives $p = {p_sign:.4f}$" in summary, summary


def bm25_aggregate(measure: str) -> float:
    return load(COMMITTED / "eval" / "bm25" / "scifact.json")["aggregate"][measure]


def significance_rows() -> list[dict]:
    with open(COMMITTED / "stats" / "significance.tsv") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def test_comparison_summary_and_test_table_are_significance_tsv(section):
    rows = significance_rows()
    alpha = {r["alpha"] for r in rows}
    assert len(alpha) == 1
    close(take(section, "ReplAlpha"), float(alpha.pop()), 3)
    assert take(section, "ReplOptFamilySize") == str(sum(r["family"] == "lion_vs_adamw" for r in rows))
    assert take(section, "ReplBmFamilySize") == str(sum(r["family"] == "vs_bm25" for r in rows))
    epoch = section["config"]["study"]["epochs"]
    folder = COMMITTED / "eval" / "minilm"
    bm25 = load(COMMITTED / "eval" / "bm25" / "scifact.json")["per_query"]

    def per_query(optim, measure):
        return per_query_mean([folder / optim / f"seed{s}" / f"epoch{epoch}" / "scifact.json"
                               for s in seeds_of(folder / optim)], measure)

    def row(family, a, b, measure):
        return next(r for r in rows if r["family"] == family and r["measure"] == measure
                    and r["system_a"] == f"minilm/{a}/epoch{epoch}"
                    and r["system_b"] == ("bm25" if b == "bm25" else f"minilm/{b}/epoch{epoch}"))

    comparisons = {m: [row("vs_bm25", "adamw", "bm25", m), row("vs_bm25", "lion", "bm25", m),
                       row("lion_vs_adamw", "lion", "adamw", m)] for m in ("ndcg_cut_10", "recip_rank_10")}
    # The file's differences are the per-query means over seeds, recomputed here.
    for measure, (adamw_bm, lion_bm, pair) in comparisons.items():
        a, l = per_query("adamw", measure), per_query("lion", measure)
        close(adamw_bm["diff"], statistics.mean(a[q] - bm25[q][measure] for q in bm25))
        close(lion_bm["diff"], statistics.mean(l[q] - bm25[q][measure] for q in bm25))
        close(pair["diff"], statistics.mean(l[q] - a[q] for q in a))
        for r in (adamw_bm, lion_bm, pair):
            p = float(r["p_perm_holm"] if r["test"] == "perm" else r["p_t_holm"])
            assert (r["significant"] == "yes") == (p <= float(r["alpha"]))
            assert float(r["ci_low"]) <= float(r["diff"]) <= float(r["ci_high"])
    summary = take(section, "ReplComparisonSummary")
    number = r"(\d+\.\d{3})"
    signed = r"((?:\$-\$|\+)?\d+\.\d{3})"
    match = re.match(r"Over the test queries, in nDCG@10 at the last epoch, AdamW is " + number
                     + r" (above|below|level with) BM25 and Lion " + number + r" (above|below|level with) it, and Lion is "
                     + number + r" (above|below|level with) AdamW \(95\\% CI \[" + signed + ", " + signed
                     + r"\], \$d_z = (-?\d+\.\d{2})\$\)\.", summary)
    assert match, summary
    adamw_bm, lion_bm, pair = comparisons["ndcg_cut_10"]
    for (value, direction), r in zip(((1, 2), (3, 4), (5, 6)), (adamw_bm, lion_bm, pair)):
        diff = float(r["diff"])
        close(match.group(value), abs(diff), 3)
        assert match.group(direction) == ("above" if diff > 0 else "below" if diff < 0 else "level with")
    close(match.group(7).replace("$-$", "-"), float(pair["ci_low"]), 3)
    close(match.group(8).replace("$-$", "-"), float(pair["ci_high"]), 3)
    # d_z over queries: mean over sd of the per-query differences of the seed-averaged values.
    a, l = per_query("adamw", "ndcg_cut_10"), per_query("lion", "ndcg_cut_10")
    d = [l[q] - a[q] for q in a]
    close(match.group(9), statistics.mean(d) / statistics.stdev(d), 2)
    close(pair["d_z"], statistics.mean(d) / statistics.stdev(d))
    all_significant = all(r["significant"] == "yes" for rs in comparisons.values() for r in rs)
    assert ("Each of these differences, and each of the same comparisons in MRR@10, is significant"
            in summary) == all_significant
    # The table of tests: at the last epoch, one line over queries and one over seeds per comparison.
    table = section["outputs"]["tests"].read_text().splitlines()
    permutations = section["config"]["statistics"]["permutations"]
    sign = lambda v: ("$-$" if round(v, 3) < 0 else "+" if round(v, 3) > 0 else "") + f"{abs(v):.3f}"
    labels = {"ndcg_cut_10": "nDCG@10", "recip_rank_10": "MRR@10"}
    seed_p = {}
    for measure, (adamw_bm, lion_bm, pair) in comparisons.items():
        adamw, lion = seed_values("adamw", measure, epoch), seed_values("lion", measure, epoch)
        seed_p[("pair", measure)] = by_seed([lion[s] - adamw[s] for s in adamw])
        seed_p[("adamw", measure)] = by_seed([v - bm25_aggregate(measure) for v in adamw.values()])
        seed_p[("lion", measure)] = by_seed([v - bm25_aggregate(measure) for v in lion.values()])
    pair_holm = holm_by_hand([seed_p[("pair", m)]["p"] for m in labels])
    bm_holm = holm_by_hand([seed_p[(o, m)]["p"] for o in ("adamw", "lion") for m in labels])
    holm_of = {("pair", m): pair_holm[i] for i, m in enumerate(labels)}
    holm_of.update({(o, m): bm_holm[2 * j + i] for j, o in enumerate(("adamw", "lion")) for i, m in enumerate(labels)})
    for measure, (adamw_bm, lion_bm, pair) in comparisons.items():
        for key, r in (("adamw", adamw_bm), ("lion", lion_bm), ("pair", pair)):
            index = next(i for i, line in enumerate(table) if f"& {labels[measure]} & queries & {sign(float(r['diff']))}"
                         in line and f"[{sign(float(r['ci_low']))}, {sign(float(r['ci_high']))}]" in line
                         and f"{float(r['d_z']):+.2f}".replace("+", "").replace("-", "$-$") in line)
            p_cell = table[index].rstrip(" \\").split(" & ")[-1]
            at_floor = float(r["p_perm"]) <= 1 / (permutations + 1) + 1e-12
            assert p_cell.startswith("$<$") == (at_floor or float(r["p_perm_holm"]) < 0.001), (p_cell, r)
            expected = seed_p[(key, measure)]
            seed_line = table[index + 1]
            assert f"seeds ({len(seeds_of(folder / 'adamw'))}) & {sign(expected['diff'])}" in seed_line, seed_line
            assert f"[{sign(expected['low'])}, {sign(expected['high'])}]" in seed_line, seed_line
            assert f"{expected['d_z']:+.2f}".replace("+", "").replace("-", "$-$") in seed_line, seed_line
            p_text = seed_line.rstrip(" \\").split(" & ")[-1]
            holm = holm_of[(key, measure)]
            assert p_text == ("$<$0.001" if holm < 0.001 else f"{holm:.3f}"), (p_text, holm)


def test_every_macro_of_the_section_is_checked(section):
    # Runs after the tests above (pytest keeps file order); they record what they checked.
    if not section["checked"]:
        pytest.skip("run the whole module: the tests above record which macros they checked")
    unchecked = set(section["macros"]) - section["checked"]
    assert not unchecked, f"macros no test compares with the committed files: {sorted(unchecked)}"


def test_results_table_rows_are_the_seed_means(section):
    text = section["outputs"]["results"].read_text()
    bm25 = load(COMMITTED / "eval" / "bm25" / "scifact.json")["aggregate"]
    assert "BM25 & -- & " + " & ".join(f"{bm25[m]:.3f}" for m in MEASURES) in text
    folder = COMMITTED / "eval" / "minilm"
    for optim, name in (("adamw", "AdamW"), ("lion", "Lion")):
        for epoch in range(1, section["config"]["study"]["epochs"] + 1):
            line = next(l for l in text.splitlines() if l.startswith(f"{name} & {epoch} & "))
            cells = line.rstrip(" \\").split(" & ")[2:]
            for cell, measure in zip(cells, MEASURES):
                values = [load(folder / optim / f"seed{s}" / f"epoch{epoch}" / "scifact.json")["aggregate"][measure]
                          for s in seeds_of(folder / optim)]
                mean_sd(cell, values, 3)


def test_borrowed_scale_is_the_single_seed_spread_of_the_committed_run(section):
    scale = replication.single_seed_difference_sd(COMMITTED, section["config"])
    folder = COMMITTED / "eval" / "minilm"
    epoch = section["config"]["study"]["epochs"]

    both = [s for s in seeds_of(folder / "adamw")
            if not stayed_at_chance("adamw", s, epoch) and not stayed_at_chance("lion", s, epoch)]
    assert both, "the committed run has no seed at which both optimizers trained"
    assert scale["seeds"] == both and scale["excluded"] == sorted(set(seeds_of(folder / "adamw")) - set(both))
    spreads = []
    for seed in both:
        a = load(folder / "adamw" / f"seed{seed}" / f"epoch{epoch}" / "scifact.json")["per_query"]
        b = load(folder / "lion" / f"seed{seed}" / f"epoch{epoch}" / "scifact.json")["per_query"]
        spreads.append(statistics.stdev(b[q]["ndcg_cut_10"] - a[q]["ndcg_cut_10"] for q in a))
    assert scale["sd"] == pytest.approx(statistics.mean(spreads))
    assert scale["n_queries"] == 300
    text = resolution_paragraph(43, 10047, ranking_name="TREC DL 2019", mrr_name="MS MARCO dev", per_query=False,
                                borrowed=scale)
    assert scale["per_seed"] == pytest.approx(spreads)
    low, high = min(spreads), max(spreads)
    if len(both) == 1 or f"{low:.3f}" == f"{high:.3f}":
        se = low / math.sqrt(43)
        assert f"$s_d = {low:.3f}$" in text
        assert f"about {se:.3f}" in text and f"beyond about {2 * se:.3f}" in text
    else:  # the range over the seeds at which both runs trained, and the threshold at each end
        assert f"$s_d$ from {low:.3f} to {high:.3f}" in text, text
        assert f"between {low / math.sqrt(43):.3f} and {high / math.sqrt(43):.3f}" in text, text
        assert f"from {2 * low / math.sqrt(43):.3f} at the smallest $s_d$ to {2 * high / math.sqrt(43):.3f}" in text
    if len(both) == 1:
        assert f"(seed {both[0]}; seeds at which a run never trained" in text
    assert "assumption" in text and "no test can be run" in text


def test_single_seed_spread_on_a_constructed_run(tmp_path):
    """Two seeds, three queries: the spread is the mean of the two sample sds, by hand."""
    config = {"models": {"m": {}}, "testsets": {"t": {"name": "T"}},
              "optimizers": {"adamw": {"name": "AdamW"}, "lion": {"name": "Lion"}}}
    values = {("adamw", 1): [0.5, 0.5, 0.5], ("lion", 1): [0.6, 0.4, 0.5],
              ("adamw", 2): [0.2, 0.4, 0.6], ("lion", 2): [0.2, 0.4, 0.9]}
    for (optim, seed), per in values.items():
        folder = tmp_path / "eval" / "m" / optim / f"seed{seed}" / "epoch1"
        folder.mkdir(parents=True)
        (folder / "t.json").write_text(json.dumps({"per_query": {f"q{i}": {"ndcg_cut_10": v}
                                                                  for i, v in enumerate(per)}}))
    scale = replication.single_seed_difference_sd(tmp_path, config)
    # seed 1: d = (0.1, -0.1, 0.0), sd 0.1; seed 2: d = (0, 0, 0.3), sd = sqrt(0.03)
    assert scale["sd"] == pytest.approx((0.1 + math.sqrt(0.03)) / 2)
    assert scale["n_queries"] == 3 and scale["seeds"] == [1, 2]
    (tmp_path / "eval" / "m" / "lion" / "seed2" / "epoch1" / "t.json").write_text(
        json.dumps({"per_query": {"q0": {"ndcg_cut_10": 0.1}}}))
    with pytest.raises(ValueError, match="seed 2: the two optimizers' evaluations cover different queries"):
        replication.single_seed_difference_sd(tmp_path, config)


def test_a_run_of_one_seed_is_refused_with_the_setting_to_change(tmp_path):
    """The section's findings are tests over seeds: the committed run cut to one seed stops with
    an error that names study.seeds, before any output is written."""
    root = tmp_path / "run"
    shutil.copytree(COMMITTED, root)
    for folder in (root / "eval" / "minilm").glob("*/seed*"):
        if folder.name != "seed12":
            shutil.rmtree(folder)
    outputs = {key: tmp_path / f"{key}.tex" for key in ("macros", "results", "tests", "recipe")}
    outputs["figure"] = tmp_path / "training.pdf"
    with pytest.raises(ValueError, match=r"this run has 1 \(seeds \[12\]\); set study.seeds to two or more"):
        replication.write_section(root, load_config(root / "config.yaml"), outputs)
    assert not any(path.exists() for path in outputs.values())


def test_a_fresh_run_names_the_search_that_chose_its_rates_or_stops(tmp_path):
    """paper.recipe_search: a run without its own recipe_search.tsv describes the search it
    is given, and only if that search tried the learning rates the run uses."""
    root = tmp_path / "run"
    shutil.copytree(COMMITTED, root)
    search = tmp_path / "recipe_search.tsv"
    (root / "recipe_search.tsv").rename(search)
    config = load_config(root / "config.yaml")
    outputs = {key: tmp_path / f"{key}.tex" for key in ("macros", "results", "tests", "recipe")}
    outputs["figure"] = tmp_path / "training.pdf"

    replication.write_section(root, config, outputs)  # no search: the section says none is recorded
    assert "\\replrecipetrue" not in outputs["macros"].read_text()
    assert outputs["recipe"].read_text().count("\\\\") == 1  # the header row alone

    numbers = replication.write_section(root, config, outputs, recipe_search=search, fresh=True)
    macros = outputs["macros"].read_text()
    assert "\\replrecipetrue" in macros and "\\replfreshtrue" in macros
    assert len(replication.recipe_tries(numbers)) == len(replication.recipe_tries(
        {"recipe": list(csv.DictReader(search.open(), delimiter="\t"))}))

    config["models"]["minilm"]["learning_rate"] = 7e-6  # AdamW at a rate the search never tried (Lion overrides it)
    with pytest.raises(ValueError, match=r"never tried adamw at learning rate 7e-06 .* set paper.recipe_search"):
        replication.write_section(root, config, outputs, recipe_search=search, fresh=True)


def test_the_bm25_verdict_of_a_reranker_level_with_bm25():
    """A tie with BM25 (seen on the generated SciFact-layout collection of tests/test_scifact.py,
    where a run can reorder nothing that matters) is neither above nor below."""
    def numbers(adamw: float, lion: float) -> dict:
        rows = {(a, b): {"significant": "no"} for a, b in
                (("m/adamw/epoch1", "bm25"), ("m/lion/epoch1", "bm25"), ("m/lion/epoch1", "m/adamw/epoch1"))}
        return {"model": "m", "epochs": [1], "optims": ["adamw", "lion"],
                "optim_names": {"adamw": "AdamW", "lion": "Lion"}, "bm25": {"ndcg_cut_10": 0.5},
                "runs": {"adamw": {1: {"ndcg_cut_10": {"mean": adamw}}}, "lion": {1: {"ndcg_cut_10": {"mean": lion}}}},
                "tests": [{"family": "vs_bm25" if b == "bm25" else "lion_vs_adamw", "measure": "ndcg_cut_10",
                           "system_a": a, "system_b": b, **row} for (a, b), row in rows.items()]}

    assert replication.bm25_verdict(numbers(0.5, 0.4)) == (
        "At the last epoch no fine-tuned reranker is above BM25 on average, and the AdamW reranker is level with it")
    assert replication.bm25_verdict(numbers(0.6, 0.5)) == "At the last epoch only the AdamW reranker is above BM25 on average"
