"""Evaluation with the semantics of the official trec_eval 10.0, through pytrec_eval.

Measures (names as in the output JSON):
    ndcg_cut_10    nDCG@10 on the graded qrels (grades are gains)
    map            average precision (binary at `relevance_level`)
    recip_rank_10  MRR@10: pytrec_eval's recip_rank has no cutoff, so each query's
                   run is truncated to its top 10 first (= trec_eval -M 10 -m recip_rank)
    recall_10      Recall@10 (binary)
    Rprec          R-precision (binary)
    P_10           precision@10 (binary)
and, for a candidate run, recall_<k> at each configured depth k.

Binary measures count grade >= relevance_level as relevant; trec_eval's default
is 1 and TREC DL's official choice is 2 (-l 2). nDCG is unaffected by the level.

Ranking. trec_eval ranks each query's documents by score as a double, ties by
docid in descending order (`crossopt.trec.trec_eval_order`). pytrec_eval compares
scores as float32, so scores that differ only below float32 precision (the run
writer's tie offsets, large BM25 scores) would be ordered differently there. The
evaluation therefore ranks every query by trec_eval's rule first, cuts it off
there (MRR@10), and hands pytrec_eval the ranks as scores (n, n-1, ..., 1, exact
in float32), so both tools see the same order.

Queries. Queries in the run without judgments are ignored. A judged query absent
from the run is scored 0 (`missing_queries: zero`, trec_eval -c) or left out of
the averages (`skip`, trec_eval 9's default; trec_eval 10.0 refuses such a run
without -c), and a warning gives the count. A run that covers no judged query,
and qrels without any judgment, are errors. Every report records the trec_eval
command line that computes each measure the same way (`trec_eval` key).
"""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path
from typing import Callable, Mapping

import pytrec_eval

from .trec import atomic_write_text, qrels_to_dict, read_qrels, read_run, run_to_dict, trec_eval_order

MEASURES = ["ndcg_cut_10", "map", "recip_rank_10", "recall_10", "Rprec", "P_10"]
MISSING_QUERIES = ("skip", "zero")
# Our measure name -> (trec_eval measure, its -M cut-off or None).
_TREC_EVAL_NAMES = {
    "ndcg_cut_10": ("ndcg_cut.10", None),
    "map": ("map", None),
    "recip_rank_10": ("recip_rank", 10),
    "recall_10": ("recall.10", None),
    "Rprec": ("Rprec", None),
    "P_10": ("P.10", None),
}

log = logging.getLogger(__name__)


class EvaluationError(ValueError):
    """A run or qrels file cannot give meaningful numbers; the message names the file and the fix."""


def ranked(run: Mapping[str, Mapping[str, float]], depth: int | None = None) -> dict[str, dict[str, float]]:
    """Each query's documents in trec_eval's order, cut to `depth`, with rank-derived scores.

    The first document gets the score n, the last 1 (n = documents kept): integers
    that float32 holds exactly, strictly decreasing, so pytrec_eval's own sort
    cannot reorder them.
    """
    result = {}
    for qid, docs in run.items():
        order = trec_eval_order(docs)[:depth]
        result[qid] = {docid: float(len(order) - position) for position, (docid, _) in enumerate(order)}
    return result


def truncate(run: Mapping[str, Mapping[str, float]], depth: int) -> dict[str, dict[str, float]]:
    """Each query's top `depth` documents in trec_eval's order, with their own scores."""
    return {qid: dict(trec_eval_order(docs)[:depth]) for qid, docs in run.items()}


def trec_eval_commands(relevance_level: int, missing_queries: str, recall_depths: tuple[int, ...] = (),
                       qrels: str = "QRELS", run: str = "RUN") -> dict[str, str]:
    """The official trec_eval command line that computes each measure as this module does.

    With `skip` and judged queries missing from the run, trec_eval 10.0 exits with
    status 4; trec_eval 9 (and this module) leave those queries out.
    """
    names = dict(_TREC_EVAL_NAMES)
    names.update({f"recall_{k}": (f"recall.{k}", None) for k in recall_depths})
    commands = {}
    for measure, (name, cutoff) in names.items():
        words = ["trec_eval"]
        if missing_queries == "zero":
            words.append("-c")
        words += ["-l", str(relevance_level)]
        if cutoff is not None:
            words += ["-M", str(cutoff)]
        words += ["-m", name, qrels, run]
        commands[measure] = " ".join(words)
    return commands


def _sample(ids, count: int = 3) -> str:
    ids = sorted(ids)
    return ", ".join(repr(i) for i in ids[:count]) + (", ..." if len(ids) > count else "")


def evaluate_run(
    run: Mapping[str, Mapping[str, float]],
    qrels: Mapping[str, Mapping[str, int]],
    relevance_level: int = 1,
    missing_queries: str = "zero",
    recall_depths: tuple[int, ...] = (),
    run_name: str = "the run",
    qrels_name: str = "the qrels",
) -> dict:
    """Aggregate and per-query values of the study's measures for one run.

    `run_name` and `qrels_name` (file paths) only serve the error messages.
    """
    if missing_queries not in MISSING_QUERIES:
        raise ValueError(f"missing_queries must be 'skip' or 'zero', got {missing_queries!r}")
    if not qrels:
        raise EvaluationError(f"{qrels_name} has no judgments: nothing can be evaluated (an empty or wrong qrels file)")
    judged = {q for q, docs in qrels.items() if any(g >= relevance_level for g in docs.values())}
    given = [q for q, docs in run.items() if docs]
    run = {q: dict(run[q]) for q in given if q in qrels}
    if not run:
        raise EvaluationError(
            f"{run_name} has results for none of the {len(qrels)} judged queries of {qrels_name} "
            f"(run query ids: {_sample(given) or 'none'}; judged: {_sample(qrels)}): "
            "the run is empty or belongs to another test set"
        )
    per_query: dict[str, dict[str, float]] = {q: {} for q in run}
    full = ranked(run)

    # nDCG uses graded gains; everything binary is computed at the given relevance level.
    graded = pytrec_eval.RelevanceEvaluator(dict(qrels), {"ndcg_cut.10"})
    for qid, values in graded.evaluate(full).items():
        per_query[qid]["ndcg_cut_10"] = values["ndcg_cut_10"]
    binary = pytrec_eval.RelevanceEvaluator(
        dict(qrels), {"map", "recall.10", "Rprec", "P.10"}, relevance_level=relevance_level
    )
    for qid, values in binary.evaluate(full).items():
        per_query[qid].update({m: values[m] for m in ("map", "recall_10", "Rprec", "P_10")})
    rr = pytrec_eval.RelevanceEvaluator(dict(qrels), {"recip_rank"}, relevance_level=relevance_level)
    for qid, values in rr.evaluate(ranked(run, 10)).items():
        per_query[qid]["recip_rank_10"] = values["recip_rank"]
    extra = [f"recall_{k}" for k in recall_depths]
    if recall_depths:
        deep = pytrec_eval.RelevanceEvaluator(
            dict(qrels), {f"recall.{k}" for k in recall_depths}, relevance_level=relevance_level
        )
        for qid, values in deep.evaluate(full).items():
            per_query[qid].update({m: values[m] for m in extra})

    measures = MEASURES + extra
    missing = sorted(q for q in qrels if q not in run)
    if missing_queries == "zero":
        for qid in missing:
            per_query[qid] = {m: 0.0 for m in measures}
    counted = sorted(per_query)
    aggregate = {m: sum(per_query[q][m] for q in counted) / len(counted) for m in measures}
    return {
        "relevance_level": relevance_level,
        "missing_queries": missing_queries,
        "n_queries": len(counted),
        "n_judged_queries": len(qrels),
        "n_queries_with_relevant": len(judged),
        "n_queries_missing_from_run": len(missing),
        "queries_missing_from_run": missing,
        "aggregate": aggregate,
        "per_query": {q: per_query[q] for q in counted},
    }


def evaluate_files(run_path, qrels_path, output, testset: str, system: str, relevance_level: int = 1,
                   missing_queries: str = "zero", recall_depths: tuple[int, ...] = (),
                   extra_levels: tuple[int, ...] = ()) -> dict:
    """Evaluate a run file against a qrels file and write the JSON report atomically.

    The top-level values use `relevance_level`; each of `extra_levels` is stored
    too under `other_levels[str(level)]` (e.g. TREC DL's official level 2 next to
    trec_eval's default 1), so either convention can be tabulated without rerunning.
    Nothing is written when the run or the qrels cannot be evaluated.
    """
    run = run_to_dict(read_run(run_path))
    qrels = qrels_to_dict(read_qrels(qrels_path))
    names = {"run_name": str(run_path), "qrels_name": str(qrels_path)}
    report = {
        "testset": testset,
        "system": system,
        "run": str(run_path),
        "qrels": str(qrels_path),
        **evaluate_run(run, qrels, relevance_level, missing_queries, tuple(recall_depths), **names),
        "trec_eval": trec_eval_commands(relevance_level, missing_queries, tuple(recall_depths),
                                        str(qrels_path), str(run_path)),
        "other_levels": {},
    }
    missing = report["n_queries_missing_from_run"]
    if missing:
        action = ("left out of the averages (missing_queries: skip)" if missing_queries == "skip"
                  else "scored 0 (missing_queries: zero, trec_eval -c)")
        log.warning("%d of %d judged queries of %s have no results in %s; they are %s",
                    missing, report["n_judged_queries"], qrels_path, run_path, action)
    for level in extra_levels:
        if level != relevance_level:
            other = evaluate_run(run, qrels, level, missing_queries, tuple(recall_depths), **names)
            report["other_levels"][str(level)] = {
                "trec_eval": trec_eval_commands(level, missing_queries, tuple(recall_depths),
                                                str(qrels_path), str(run_path)),
                **{key: other[key] for key in ("relevance_level", "n_queries_with_relevant", "aggregate", "per_query")},
            }
    atomic_write_text(output, json.dumps(report, indent=1, sort_keys=True) + "\n")
    return report


def load_report(path: str | Path) -> dict:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def report_reader() -> Callable[[str], dict]:
    """`read(path)` that loads each evaluation report once: the table and the statistics
    visit the same file for every column, seed and comparison. Make one per job (a
    long-lived one would not see rewritten files); callers must not modify the reports."""
    return functools.cache(load_report)


def eval_locator(pattern: str):
    """`eval_path(model, optim, seed, epoch, testset)` from a path pattern with those fields."""
    def eval_path(model: str, optim: str, seed: int, epoch: int, testset: str) -> str:
        return pattern.format(model=model, optim=optim, seed=seed, epoch=epoch, testset=testset)

    return eval_path


def at_level(report: dict, level: int | None) -> dict:
    """The part of a report (aggregate, per_query, ...) at a relevance level.

    None, the report's own level, or a level the report did not store give the
    report's own values; callers that must not fall back check `other_levels`.
    """
    if level is None or level == report["relevance_level"]:
        return report
    return report.get("other_levels", {}).get(str(level), report)
