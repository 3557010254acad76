"""The results section's analysis: what the differences between the optimizers can and
cannot show, written from the results table, the run settings and the evaluations.

It replaces a count of "leads" over a single threshold. Each paragraph states one kind
of fact once:

- `resolution_paragraph`: how finely each measure can register a change on its query
  set, and the standard-error scale of a difference over those queries;
- `learning_rate_paragraph`: the mean optimizer difference per model, set against the
  learning rate each model was trained with (the one pattern the table shows, and its
  confound);
- `epoch_paragraph`: how each run develops over the epochs, and where the ranking
  measures and MRR@10 move apart.

`headline` and `conclusion_finding` give the abstract's and the conclusion's one-sentence
findings, worded differently so that no sentence of the paper is repeated. Numbers reach
LaTeX only through `crossopt.paper.format_number`.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from .paper import (MEASURE_LABELS, PRIMARY_MEASURE, ResultRow, _count, _join, baseline,
                    SCHEDULER_LABELS, format_number, latex_escape, matched_differences,
                    measure_testsets, protocol_facts, rerankers, unique_in_order)

MRR = "MRR@10"


def query_counts(evaluations: Iterable[str | Path]) -> dict[str, int | None]:
    """Judged queries per test set, from evaluation JSONs; None where the files do not say.

    Every evaluation of a test set must agree: a table built from evaluations over
    different query sets would not support one resolution statement.
    """
    counts: dict[str, set] = {}
    for path in evaluations:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
        counts.setdefault(record["testset"], set()).add(record.get("n_queries"))
    out = {}
    for testset, values in counts.items():
        if len(values) > 1:
            raise ValueError(f"evaluations of {testset!r} cover different numbers of queries: "
                             f"{sorted(v for v in values if v is not None)}")
        out[testset] = next(iter(values))
    return out


def _fmt(value: float, digits: int = 4, signed: bool = True) -> str:
    return format_number(value, digits=digits, signed=signed)


def resolution_paragraph(n_rank: int, n_mrr: int | None, *, ranking_name: str, mrr_name: str,
                         per_query: bool, borrowed: Mapping | None = None) -> str:
    """How finely the measures resolve a change, and the standard-error scale on n queries.

    `borrowed` (crossopt.replication.single_seed_difference_sd) is the s_d measured in the
    SciFact replication; without per-query values of its own, the paragraph uses it as an
    explicitly assumed scale.
    """
    steps = 10 * n_rank
    text = (
        f"The measures do not register change on one scale. On the "
        f"{format_number(n_rank, style='int')} queries of {latex_escape(ranking_name)}, P@10 "
        f"is a multiple of $1/{format_number(steps, style='int')} \\approx "
        f"{format_number(1 / steps, digits=4)}$: one query gaining or losing one relevant "
        f"passage in its top ten moves the mean by that much. nDCG@10, MAP and R-precision "
        f"vary more finely, but all five are means over the same "
        f"{format_number(n_rank, style='int')} queries. If $s_d$ is the standard deviation "
        f"over queries of the per-query difference between two runs, the standard error of "
        f"their mean difference is $s_d/\\sqrt{{n}}$, and with $n = "
        f"{format_number(n_rank, style='int')}$ a difference reaches two standard errors only "
        f"when it exceeds ${format_number(2 / math.sqrt(n_rank), digits=2, signed=False)}\\,s_d$.")
    if n_mrr and n_mrr >= 2 * n_rank:
        ratio = math.sqrt(n_mrr / n_rank)
        text += (f" MRR@10 averages {format_number(n_mrr, style='int')} queries of "
                 f"{latex_escape(mrr_name)}, so the same per-query spread would give it a "
                 f"standard error {format_number(ratio, digits=1, signed=False)} times smaller.")
    elif n_mrr:
        text += (f" MRR@10 averages {format_number(n_mrr, style='int')} queries of "
                 f"{latex_escape(mrr_name)}, so the same scale applies to it.")
    else:
        text += (f" MRR@10 averages the queries of {latex_escape(mrr_name)}, many more than "
                 f"{format_number(n_rank, style='int')}; the evaluation files do not give their "
                 f"number, so its standard-error scale is not stated here.")
    if per_query:
        text += (" The workflow keeps per-query values, so $s_d$ is measured for every "
                 "comparison and the tests of \\cref{sec:stats} use it.")
    elif borrowed is None:
        text += (" The researcher's files hold no per-query values, so $s_d$, and with it the "
                 "uncertainty of every difference discussed below, is unknown. We therefore "
                 "describe sizes and directions of differences and call none of them "
                 "significant.")
    else:
        per_seed = [float(v) for v in borrowed.get("per_seed") or [borrowed["sd"]]]
        low, high = min(per_seed), max(per_seed)
        se_low, se_high = low / math.sqrt(n_rank), high / math.sqrt(n_rank)
        spread = (f"$s_d = {format_number(low, digits=3)}$" if len(per_seed) == 1 or
                  format_number(low, digits=3) == format_number(high, digits=3) else
                  f"$s_d$ from {format_number(low, digits=3)} to {format_number(high, digits=3)}")
        text += (
            f" The researcher's files hold no per-query values, so $s_d$ of these runs is "
            f"unknown. The controlled replication (\\cref{{sec:replication}}) measures it for "
            f"the same kind of comparison, one {latex_escape(borrowed['candidate'])} run against one "
            f"{latex_escape(borrowed['reference'])} run of the same seed: over its "
            f"{format_number(int(borrowed['n_queries']), style='int')} "
            f"{latex_escape(borrowed['testset_name'])} queries, the per-query nDCG@10 difference has "
            f"{spread} ({_seed_clause(borrowed)}). If the runs compared here vary as much per query, "
            f"an assumption across collections and models, the standard error of an nDCG@10 "
            f"difference over {format_number(n_rank, style='int')} queries is ")
        if len(per_seed) == 1 or format_number(se_low, digits=3) == format_number(se_high, digits=3):
            text += (f"about {format_number(se_low, digits=3)}, and only differences beyond about "
                     f"{format_number(2 * se_low, digits=3)} would stand out.")
        else:
            text += (f"between {format_number(se_low, digits=3)} and {format_number(se_high, digits=3)}, "
                     f"and the threshold beyond which a difference would stand out moves with it, from "
                     f"{format_number(2 * se_low, digits=3)} at the smallest $s_d$ to "
                     f"{format_number(2 * se_high, digits=3)} at the largest.")
        text += (" We use that scale to read the differences below but call none of them significant: "
                 "without the per-query values, no test can be run.")
    return text


def resolution_macros(n_rank: int | None, borrowed: Mapping | None) -> tuple[dict[str, str], dict[str, bool]]:
    """Macros of the resolution limit for the abstract, from the same borrowed s_d as
    `resolution_paragraph`: \\ResolutionLimit, the nDCG@10 difference of two standard
    errors, 2 s_d / sqrt(n), with s_d the mean over the replication's seeds;
    \\ResolutionLimitRange, the same from the smallest to the largest seed's s_d; and
    \\ResolutionQueries, n. The switch `resolutionlimit` is false without a borrowed s_d
    (computed results test their differences instead, and a paper without the replication
    has no scale to borrow)."""
    if not n_rank or borrowed is None:
        return {}, {"resolutionlimit": False}
    scale = 2 / math.sqrt(n_rank)
    per_seed = [float(v) for v in borrowed.get("per_seed") or [borrowed["sd"]]]
    low, high = min(per_seed) * scale, max(per_seed) * scale
    limit = format_number(float(borrowed["sd"]) * scale, digits=3)
    low_text, high_text = format_number(low, digits=3), format_number(high, digits=3)
    return ({"ResolutionLimit": limit,
             "ResolutionLimitRange": limit if low_text == high_text else f"{low_text}--{high_text}",
             "ResolutionQueries": format_number(n_rank, style="int")},
            {"resolutionlimit": True})


def _seed_clause(borrowed: Mapping) -> str:
    """Which seeds the borrowed s_d comes from, and which were left out because a run failed."""
    seeds = [format_number(s, style="int") for s in borrowed["seeds"]]
    if borrowed.get("all_seeds_failed"):
        return (f"over {format_number(len(seeds), style='word')} seeds, in each of which a run never "
                f"trained, so this overstates the spread of two trained runs")
    text = (f"seed {seeds[0]}" if len(seeds) == 1
            else f"one value per seed, over the {format_number(len(seeds), style='word')} seeds {_join(seeds)}")
    if borrowed.get("excluded"):
        text += (f"; seeds at which a run never trained, {_join([format_number(s, style='int') for s in borrowed['excluded']])}, "
                 f"are left out")
    return text


def model_differences(rows: Sequence[ResultRow], reference: str, candidate: str,
                      measures: Sequence[str] = (PRIMARY_MEASURE,)) -> dict[str, float]:
    """Per model, the mean candidate-minus-reference difference over `measures` and epochs
    (by default the primary measure only: measures of different scales are not averaged)."""
    diffs = matched_differences(rows, reference, candidate, measures)
    out = {}
    for model in unique_in_order(d.model for d in diffs):
        out[model] = statistics.fmean(d.delta for d in diffs if d.model == model)
    return out


def _lr_label(value: float) -> str:
    return format_number(value, style="sci")


def learning_rate_groups(runs: Mapping, model_keys: Mapping[str, str], candidate_key: str
                         ) -> dict[str, float]:
    """Display name of each model -> the candidate optimizer's peak learning rate."""
    return {name: float(runs[key][candidate_key]["learning_rate"]) for name, key in model_keys.items()}


def learning_rate_paragraph(rows: Sequence[ResultRow], runs: Mapping, model_keys: Mapping[str, str],
                            *, reference: str, candidate: str, reference_key: str,
                            candidate_key: str, ranking_name: str, cite_lion: str,
                            n_seeds: int = 1) -> str:
    """The mean optimizer difference per model against the learning rate it was trained with."""
    ranking = model_differences(rows, reference, candidate)
    mrr = model_differences(rows, reference, candidate, (MRR,))
    if not ranking:
        return ""
    lrs = learning_rate_groups(runs, model_keys, candidate_key)
    shared = all(runs[key][reference_key]["learning_rate"] == runs[key][candidate_key]["learning_rate"]
                 for key in model_keys.values())
    epochs = sorted({r.epoch for r in rerankers(rows)})
    order = sorted(ranking, key=lambda m: (lrs[m], m))
    cand, ref = latex_escape(candidate), latex_escape(reference)
    parts = []
    for model in order:
        key = model_keys[model]
        schedule = SCHEDULER_LABELS[runs[key][candidate_key]["scheduler"]]
        parts.append(f"{_fmt(ranking[model])} for {latex_escape(model)} "
                     f"(learning rate {_lr_label(lrs[model])}, {schedule})")
    label = MEASURE_LABELS[PRIMARY_MEASURE]
    text = (f"Averaged over the {format_number(len(epochs), style='word')} epochs, {cand} minus "
            f"{ref} in {label} on {latex_escape(ranking_name)} is " + _join(parts)
            + ". In MRR@10 the same averages are "
            + _join([f"{_fmt(mrr[m])} for {latex_escape(m)}" for m in order if m in mrr]) + ".")
    distinct = sorted(set(lrs.values()))
    if len(distinct) < 2:
        return text + (f" All models were trained with the same learning rate, so the table "
                       f"cannot show how {cand} responds to it.")
    low = [m for m in order if lrs[m] == distinct[0]]
    high = [m for m in order if lrs[m] != distinct[0]]
    both = "" if shared else f" ({cand}'s own rates; {ref}'s differ, \\cref{{tab:models}})"
    if all(ranking[m] > 0 for m in low) and all(ranking[m] < 0 for m in high):
        mrr_ahead = [m for m in high if mrr.get(m, 0) > 0]
        exception = ("" if not mrr_ahead else
                     " (in MRR@10, though, it is ahead for " + _join([latex_escape(m) for m in mrr_ahead])
                     + " as well)")
        text += (f" In {label}, {cand} is ahead on average only where it ran at the smallest learning rate"
                 f"{both}, {_lr_label(distinct[0])} against "
                 + _join(sorted({_lr_label(lrs[m]) for m in high})) +
                 f" for the others{exception}. That is the direction its authors' advice predicts: a sign "
                 f"update moves every weight by the full learning rate, so they recommend a rate "
                 f"three to ten times smaller than AdamW's~\\cite{{{cite_lion}}}. The pattern is "
                 f"confounded, however. The learning rate changes only together with the model, "
                 f"its pre-training and, here, the schedule, and "
                 + ("there is one run per configuration" if n_seeds == 1
                    else f"there are only {format_number(n_seeds, style='word')} seeds per configuration")
                 + ", so the table cannot say which of these made the difference.")
    elif all(ranking[m] < 0 for m in low) and all(ranking[m] > 0 for m in high):
        text += (f" In {label}, {cand} is ahead on average only where it ran at the larger learning rate{both}, "
                 f"the opposite of what its authors' advice would predict~\\cite{{{cite_lion}}}; "
                 f"the learning rate changes only together with the model, so this is not "
                 f"evidence about the rate either.")
    else:
        text += (f" The sign of the difference does not follow the learning rate{both}; it "
                 f"changes with the model, and the learning rate changes only together with the "
                 f"model.")
    return text


def epoch_paragraph(rows: Sequence[ResultRow], *, reference: str, candidate: str) -> str:
    """Where each run peaks in the primary measure, and runs whose measures move apart."""
    runs = rerankers(rows)
    models = unique_in_order(r.model for r in runs)
    optimizers = [o for o in (reference, candidate) if any(r.optimizer == o for r in runs)]
    peaks: dict[int, list[str]] = {}
    apart = []
    for model in models:
        for optimizer in optimizers:
            own = sorted((r for r in runs if r.model == model and r.optimizer == optimizer),
                         key=lambda r: r.epoch)
            if len(own) < 2:
                continue
            label = f"{latex_escape(model)} with {latex_escape(optimizer)}"
            best = max(own, key=lambda r: (round(r.values[PRIMARY_MEASURE], 4), -r.epoch))
            peaks.setdefault(best.epoch, []).append(label)
            first, last = own[0], own[-1]
            d_rank = round(last.values[PRIMARY_MEASURE] - first.values[PRIMARY_MEASURE], 4)
            if last.values.get(MRR) is None or first.values.get(MRR) is None:
                continue
            d_mrr = round(last.values[MRR] - first.values[MRR], 4)
            if d_rank * d_mrr < 0:
                apart.append((min(abs(d_rank), abs(d_mrr)),
                              f"{label} ({MEASURE_LABELS[PRIMARY_MEASURE]} "
                              f"{format_number(first.values[PRIMARY_MEASURE])} to "
                              f"{format_number(last.values[PRIMARY_MEASURE])}, MRR@10 "
                              f"{format_number(first.values[MRR])} to "
                              f"{format_number(last.values[MRR])})"))
    if not peaks:
        return ""
    n_runs = sum(len(v) for v in peaks.values())
    text = (f"Longer training does not help uniformly. Of the "
            f"{format_number(n_runs, style='word')} runs, "
            + _join([f"{_join(labels)} reach{'es' if len(labels) == 1 else ''} "
                     f"{'their' if len(labels) > 1 else 'its'} best "
                     f"{MEASURE_LABELS[PRIMARY_MEASURE]} after epoch {format_number(epoch, style='int')}"
                     for epoch, labels in sorted(peaks.items())]) + ".")
    first_epoch, last_epoch = min(r.epoch for r in runs), max(r.epoch for r in runs)
    if apart:
        clearest = max(apart)[1]
        if len(apart) == 1:
            where = f"in one run, {clearest}"
        else:
            where = ((f"in all {format_number(n_runs, style='word')} runs" if len(apart) == n_runs
                      else f"in {format_number(len(apart), style='word')} of the runs")
                     + f", most clearly for {clearest}")
        text += (f" From epoch {format_number(first_epoch, style='int')} to "
                 f"{format_number(last_epoch, style='int')}, {MEASURE_LABELS[PRIMARY_MEASURE]} "
                 f"and MRR@10 move in opposite directions {where}. They reward different "
                 f"things: graded gains in the top ten of the candidate list, and the rank of the "
                 f"first relevant passage, on another set of queries.")
    else:
        text += (f" Between epochs {format_number(first_epoch, style='int')} and "
                 f"{format_number(last_epoch, style='int')}, {MEASURE_LABELS[PRIMARY_MEASURE]} "
                 f"and MRR@10 move in the same direction for every run.")
    return text


def headline(rows: Sequence[ResultRow], runs: Mapping, model_keys: Mapping[str, str], *,
             reference: str, candidate: str, candidate_key: str, ranking_name: str) -> str:
    """The abstract's finding, one sentence without the final full stop."""
    ranking = model_differences(rows, reference, candidate)
    lrs = learning_rate_groups(runs, model_keys, candidate_key)
    ahead = [m for m in ranking if ranking[m] > 0]
    behind = [m for m in ranking if ranking[m] < 0]
    cand, ref = latex_escape(candidate), latex_escape(reference)
    parts = []
    if ahead:
        parts.append(f"averaged over the epochs, {cand} is ahead of {ref} in "
                     f"{MEASURE_LABELS[PRIMARY_MEASURE]} on {latex_escape(ranking_name)} for " + _join([f"{latex_escape(m)} ({_fmt(ranking[m])}, learning "
                                               f"rate {_lr_label(lrs[m])})" for m in ahead]))
    if behind:
        parts.append(("and behind for " if ahead else f"averaged over the epochs, {cand} is behind "
                      f"{ref} in {MEASURE_LABELS[PRIMARY_MEASURE]} on {latex_escape(ranking_name)} for ")
                     + _join([f"{latex_escape(m)} ({_fmt(ranking[m])}, {_lr_label(lrs[m])})"
                              for m in behind]))
    if not parts:
        return (f"averaged over the epochs, {cand} and {ref} are equal in "
                f"{MEASURE_LABELS[PRIMARY_MEASURE]} on {latex_escape(ranking_name)}")
    text = " ".join(parts)
    return text[0].upper() + text[1:]


def conclusion_finding(rows: Sequence[ResultRow], runs: Mapping, model_keys: Mapping[str, str], *,
                       reference: str, candidate: str, candidate_key: str) -> str:
    """The conclusion's finding, worded apart from the abstract's; a full sentence."""
    ranking = model_differences(rows, reference, candidate)
    lrs = learning_rate_groups(runs, model_keys, candidate_key)
    if not ranking:
        return ""
    best = max(ranking, key=lambda m: ranking[m])
    worst = min(ranking, key=lambda m: ranking[m])
    cand = latex_escape(candidate)
    label = MEASURE_LABELS[PRIMARY_MEASURE]
    if ranking[best] > 0 > ranking[worst]:
        return (f"The optimizer's effect changed sign with the model: the largest mean {label} "
                f"gain for {cand}, {_fmt(ranking[best])}, came with {latex_escape(best)} at "
                f"{_lr_label(lrs[best])}, and its largest mean loss, {_fmt(ranking[worst])}, with "
                f"{latex_escape(worst)} at {_lr_label(lrs[worst])}.")
    side = "gain" if ranking[worst] >= 0 else "loss"
    return (f"The mean {label} {side} for {cand} ranged from {_fmt(ranking[worst])} with "
            f"{latex_escape(worst)} to {_fmt(ranking[best])} with {latex_escape(best)}.")


def baseline_sentence(rows: Sequence[ResultRow]) -> str:
    """Where the BM25 ranking the rerankers start from stands ('' without a BM25 row)."""
    base = baseline(rows)
    if base is None or base.values[PRIMARY_MEASURE] is None:
        return ""
    runs = rerankers(rows)
    above = sum(1 for r in runs if r.values[PRIMARY_MEASURE] > base.values[PRIMARY_MEASURE])
    return (f"The BM25 candidate ranking scores {format_number(base.values[PRIMARY_MEASURE])} "
            f"{MEASURE_LABELS[PRIMARY_MEASURE]}; {_count(above)} of the "
            f"{format_number(len(runs), style='int')} reranked runs score higher.")


REFERENCE_COLUMNS = ("system", "description", "testset", "measure", "value", "cite", "source")


def read_reference_points(path: str | Path) -> list[dict]:
    """Published figures for this study's test queries (data/reference/points.tsv).

    Every line must have the seven columns and a value in [0, 1]; an error names file and
    line. These are cited, never recomputed, and the paper labels them so.
    """
    path = Path(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or tuple(lines[0].split("\t")) != REFERENCE_COLUMNS:
        raise ValueError(f"{path}:1: header must be {'<TAB>'.join(REFERENCE_COLUMNS)!r}")
    points = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != len(REFERENCE_COLUMNS) or not all(f.strip() for f in fields):
            raise ValueError(f"{path}:{number}: expected {len(REFERENCE_COLUMNS)} non-empty "
                             f"tab-separated fields, got {len(fields)}")
        point = dict(zip(REFERENCE_COLUMNS, (f.strip() for f in fields)))
        try:
            point["value"] = float(point["value"])
        except ValueError:
            raise ValueError(f"{path}:{number}: value {point['value']!r} is not a number") from None
        if not 0 <= point["value"] <= 1:
            raise ValueError(f"{path}:{number}: value {point['value']} is not a fraction in [0, 1] "
                             f"(write 0.7430, not 74.30)")
        if point["measure"] not in MEASURE_LABELS:
            raise ValueError(f"{path}:{number}: unknown measure {point['measure']!r} "
                             f"(one of {', '.join(MEASURE_LABELS)})")
        points.append(point)
    return points


def reference_paragraph(rows: Sequence[ResultRow], points: Sequence[Mapping], config: Mapping,
                        n_queries: int | None) -> str:
    """Where the runs stand against published figures for the same queries ('' if none apply).

    Only points for the test set and measure that fill a column of the table are used;
    each is named as published and cited, since the workflow does not reproduce it.
    """
    columns = config["table"]["columns"]
    usable = [p for p in points if p["measure"] in columns
              and columns[p["measure"]]["testset"] == p["testset"]]
    if not usable:
        return ""
    runs = rerankers(rows)
    parts, counts = [], []
    for point in usable:
        label = MEASURE_LABELS[point["measure"]]
        parts.append(f"{point['description']} scores {format_number(point['value'])} {label}"
                     f"~\\cite{{{point['cite']}}}")
        values = [r.values[point["measure"]] for r in runs if r.values[point["measure"]] is not None]
        above, name = sum(1 for v in values if v > point["value"]), latex_escape(point["system"])
        if above == len(values):
            counts.append(f"all {format_number(above, style='int')} runs score above {name}")
        elif above == 0:
            counts.append(f"none scores above {name}")
        else:
            counts.append(f"{format_number(above, style='int')} of the "
                          f"{format_number(len(values), style='int')} runs score above {name}")
    queries = (f" for the same {format_number(n_queries, style='int')} queries" if n_queries else "")
    published = ", and ".join(parts) if len(parts) == 2 else _join(parts)  # long clauses want the comma
    return (f"Published figures{queries} of {protocol_facts(config)['ranking_name']} place these "
            f"numbers; the workflow does not reproduce them, and the candidate lists behind them need "
            f"not be those reranked here. {published[0].upper()}{published[1:]}. In "
            f"\\cref{{tab:results}}, {_join(counts)}.")


def analysis_text(rows: Sequence[ResultRow], config: Mapping, runs: Mapping,
                  counts: Mapping[str, int | None], *, reference: str, candidate: str,
                  per_query: bool, borrowed: Mapping | None = None,
                  reference_points: Sequence[Mapping] = ()) -> str:
    """The results section's analysis paragraphs (generated/comparison.tex)."""
    facts = protocol_facts(config)
    ranking_key, mrr_key = measure_testsets(config)
    keys, model_keys = _keys(config, reference, candidate)
    n_rank = counts.get(ranking_key)
    paragraphs = [baseline_sentence(rows), reference_paragraph(rows, reference_points, config, n_rank)]
    if n_rank:
        paragraphs.append(resolution_paragraph(n_rank, counts.get(mrr_key), per_query=per_query,
                                               ranking_name=facts["ranking_name"],
                                               mrr_name=facts["mrr_name"], borrowed=borrowed))
    paragraphs.append(learning_rate_paragraph(rows, runs, model_keys, reference=reference,
                                              candidate=candidate, reference_key=keys[0],
                                              candidate_key=keys[1],
                                              ranking_name=facts["ranking_name"],
                                              cite_lion="chen2023symbolic",
                                              n_seeds=len(config["study"]["seeds"])))
    paragraphs.append(epoch_paragraph(rows, reference=reference, candidate=candidate))
    return "\n\n".join(p for p in paragraphs if p) + "\n"


def _keys(config: Mapping, reference: str, candidate: str) -> tuple[tuple[str, str], dict[str, str]]:
    """Config keys of the (reference, candidate) optimizers, from their display names, and
    each model's display name -> its config key."""
    names = {spec["name"]: key for key, spec in config["optimizers"].items()}
    return (names[reference], names[candidate]), {spec["name"]: key for key, spec in config["models"].items()}


def finding_macros(rows: Sequence[ResultRow], config: Mapping, runs: Mapping, *,
                   reference: str, candidate: str) -> dict[str, str]:
    """\\Headline (abstract) and \\ConclusionFinding (conclusion)."""
    facts = protocol_facts(config)
    keys, model_keys = _keys(config, reference, candidate)
    return {
        "Headline": headline(rows, runs, model_keys, reference=reference, candidate=candidate,
                             candidate_key=keys[1], ranking_name=facts["ranking_name"]),
        "ConclusionFinding": conclusion_finding(rows, runs, model_keys, reference=reference,
                                                candidate=candidate, candidate_key=keys[1]),
    }


__all__ = ["analysis_text", "baseline_sentence", "epoch_paragraph", "finding_macros", "headline",
           "learning_rate_paragraph", "model_differences", "query_counts", "resolution_macros",
           "resolution_paragraph"]
