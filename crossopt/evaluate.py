"""Evaluation with trec_eval semantics through pytrec_eval.

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
Queries judged in the qrels but absent from the run are skipped (trec_eval's
default) or scored 0 (trec_eval -c), as configured; queries in the run without
judgments are always ignored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

import pytrec_eval

from .trec import atomic_write_text, qrels_to_dict, read_qrels, read_run, rank_documents, run_to_dict

MEASURES = ["ndcg_cut_10", "map", "recip_rank_10", "recall_10", "Rprec", "P_10"]
_PYTREC_MEASURES = {"ndcg_cut.10", "map", "recall.10", "Rprec", "P.10"}


def truncate(run: Mapping[str, Mapping[str, float]], depth: int) -> dict[str, dict[str, float]]:
    """Each query's top `depth` documents by score (ties by docid, as the run writer orders them)."""
    return {qid: dict(rank_documents(docs)[:depth]) for qid, docs in run.items()}


def evaluate_run(
    run: Mapping[str, Mapping[str, float]],
    qrels: Mapping[str, Mapping[str, int]],
    relevance_level: int = 1,
    missing_queries: str = "skip",
    recall_depths: tuple[int, ...] = (),
) -> dict:
    """Aggregate and per-query values of the study's measures for one run."""
    if missing_queries not in ("skip", "zero"):
        raise ValueError(f"missing_queries must be 'skip' or 'zero', got {missing_queries!r}")
    judged = {q for q, docs in qrels.items() if any(g >= relevance_level for g in docs.values())}
    run = {q: dict(docs) for q, docs in run.items() if q in qrels}
    per_query: dict[str, dict[str, float]] = {q: {} for q in run}

    # nDCG uses graded gains; everything binary is computed at the given relevance level.
    graded = pytrec_eval.RelevanceEvaluator(dict(qrels), {"ndcg_cut.10"})
    for qid, values in graded.evaluate(run).items():
        per_query[qid]["ndcg_cut_10"] = values["ndcg_cut_10"]
    binary = pytrec_eval.RelevanceEvaluator(
        dict(qrels), _PYTREC_MEASURES - {"ndcg_cut.10"}, relevance_level=relevance_level
    )
    for qid, values in binary.evaluate(run).items():
        per_query[qid].update({m: values[m] for m in ("map", "recall_10", "Rprec", "P_10")})
    rr = pytrec_eval.RelevanceEvaluator(dict(qrels), {"recip_rank"}, relevance_level=relevance_level)
    for qid, values in rr.evaluate(truncate(run, 10)).items():
        per_query[qid]["recip_rank_10"] = values["recip_rank"]
    extra = [f"recall_{k}" for k in recall_depths]
    if recall_depths:
        deep = pytrec_eval.RelevanceEvaluator(
            dict(qrels), {f"recall.{k}" for k in recall_depths}, relevance_level=relevance_level
        )
        for qid, values in deep.evaluate(run).items():
            per_query[qid].update({m: values[m] for m in extra})

    measures = MEASURES + extra
    missing = sorted(q for q in qrels if q not in run)
    if missing_queries == "zero":
        for qid in missing:
            per_query[qid] = {m: 0.0 for m in measures}
    counted = sorted(per_query)
    aggregate = {
        m: (sum(per_query[q].get(m, 0.0) for q in counted) / len(counted) if counted else 0.0) for m in measures
    }
    return {
        "relevance_level": relevance_level,
        "missing_queries": missing_queries,
        "n_queries": len(counted),
        "n_judged_queries": len(qrels),
        "n_queries_with_relevant": len(judged),
        "queries_missing_from_run": missing,
        "aggregate": aggregate,
        "per_query": {q: per_query[q] for q in counted},
    }


def evaluate_files(run_path, qrels_path, output, testset: str, system: str, relevance_level: int = 1,
                   missing_queries: str = "skip", recall_depths: tuple[int, ...] = (),
                   extra_levels: tuple[int, ...] = ()) -> dict:
    """Evaluate a run file against a qrels file and write the JSON report atomically.

    The top-level values use `relevance_level`; each of `extra_levels` is stored
    too under `other_levels[str(level)]` (e.g. TREC DL's official level 2 next to
    trec_eval's default 1), so either convention can be tabulated without rerunning.
    """
    run = run_to_dict(read_run(run_path))
    qrels = qrels_to_dict(read_qrels(qrels_path))
    report = {
        "testset": testset,
        "system": system,
        "run": str(run_path),
        "qrels": str(qrels_path),
        **evaluate_run(run, qrels, relevance_level, missing_queries, tuple(recall_depths)),
        "other_levels": {},
    }
    for level in extra_levels:
        if level != relevance_level:
            other = evaluate_run(run, qrels, level, missing_queries, tuple(recall_depths))
            report["other_levels"][str(level)] = {
                key: other[key] for key in ("relevance_level", "n_queries_with_relevant", "aggregate", "per_query")
            }
    atomic_write_text(output, json.dumps(report, indent=1, sort_keys=True) + "\n")
    return report


def load_report(path: str | Path) -> dict:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


class ReportCache:
    """Evaluation reports read once each: the table and the statistics visit the same
    file for every column, seed and comparison. Callers must not modify the reports."""

    def __init__(self) -> None:
        self._reports: dict[str, dict] = {}

    def __call__(self, path: str | Path) -> dict:
        key = str(path)
        if key not in self._reports:
            self._reports[key] = load_report(key)
        return self._reports[key]


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
