"""The study's significance analysis, from the per-query values of every evaluation.

Two families of paired comparisons, each Holm-corrected on its own:

* ``<optim>_vs_<baseline>`` (e.g. ``lion_vs_adamw``): for every model, epoch and
  table column, the optimizer against the baseline optimizer. This is the
  family the paper's optimizer claims rest on.
* ``vs_bm25``: every reranker (model, optimizer, epoch) against the BM25
  candidates it reranked, on the table columns whose test set has BM25
  candidates.

With several seeds a system's per-query value is its mean over seeds, so the
tests are across queries, the unit of sampling in IR evaluation. The per-system
summary (`system_means`) gives each mean a bootstrap interval over queries and,
with several seeds, the spread of the aggregate over seeds.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import pandas as pd

from .evaluate import report_reader
from .stats import bootstrap_ci, compare_runs, mean_over_seeds, per_query_measure, seed_summary, significance_table
from .study import Column, Grid, StatisticsSettings

EvalPath = Callable[[str, str, int, int, str], str]
Reports = Callable[[str], dict]


def _per_seed(grid: Grid, eval_path: EvalPath, reports: Reports, model: str, optim: str, epoch: int,
              testset: str, measure: str) -> list[dict[str, float]]:
    """Per-query values of one reranker, one dict per seed of the grid."""
    return [per_query_measure(reports(eval_path(model, optim, seed, epoch, testset)), measure)
            for seed in grid.seeds]


def _system_per_query(grid: Grid, eval_path: EvalPath, reports: Reports, model: str, optim: str, epoch: int,
                      testset: str, measure: str) -> dict[str, float]:
    """Per-query values of one reranker, averaged over the grid's seeds."""
    return mean_over_seeds(_per_seed(grid, eval_path, reports, model, optim, epoch, testset, measure))


def _label(model: str, optim: str, epoch: int) -> str:
    return f"{model}/{optim}/epoch{epoch}"


def study_significance(grid: Grid, columns: Sequence[Column], settings: StatisticsSettings, eval_path: EvalPath,
                       bm25_paths: Mapping[str, str]) -> pd.DataFrame:
    """Every comparison of both families, as one table (see `crossopt.stats.SIGNIFICANCE_COLUMNS`)."""
    baseline = settings.baseline_optimizer
    reports = report_reader()
    tables = []
    for optim in grid.optimizers:
        if optim == baseline:
            continue
        records = []
        for model in grid.models:
            for epoch in grid.epochs:
                for column in columns:
                    testset, measure = column.testset, column.measure
                    a = _system_per_query(grid, eval_path, reports, model, optim, epoch, testset, measure)
                    b = _system_per_query(grid, eval_path, reports, model, baseline, epoch, testset, measure)
                    records.append(compare_runs(
                        a, b, system_a=_label(model, optim, epoch),
                        system_b=_label(model, baseline, epoch), measure=measure, testset=testset,
                        **settings.options,
                    ))
        tables.append(significance_table(records, settings.alpha, family=f"{optim}_vs_{baseline}",
                                         test=settings.test))
    records = []
    for model in grid.models:
        for optim in grid.optimizers:
            for epoch in grid.epochs:
                for column in columns:
                    testset, measure = column.testset, column.measure
                    if testset not in bm25_paths:
                        continue
                    a = _system_per_query(grid, eval_path, reports, model, optim, epoch, testset, measure)
                    b = per_query_measure(reports(bm25_paths[testset]), measure)
                    records.append(compare_runs(
                        a, b, system_a=_label(model, optim, epoch), system_b="bm25",
                        measure=measure, testset=testset, **settings.options,
                    ))
    if records:
        tables.append(significance_table(_unique(records), settings.alpha, family="vs_bm25", test=settings.test))
    return pd.concat(tables, ignore_index=True)


def _unique(records: list) -> list:
    """Drop repeats (a test set and measure can back two table columns)."""
    seen, unique = set(), []
    for record in records:
        key = (record.system_a, record.system_b, record.measure, record.testset)
        if key not in seen:
            seen.add(key)
            unique.append(record)
    return unique


def system_means(grid: Grid, columns: Sequence[Column], settings: StatisticsSettings, eval_path: EvalPath,
                 bm25_paths: Mapping[str, str]) -> pd.DataFrame:
    """Mean, bootstrap CI over queries and seed spread of every system on every table column."""
    reports = report_reader()
    rows = []
    seen = set()
    for column in columns:
        testset, measure = column.testset, column.measure
        if (testset, measure) in seen:
            continue
        seen.add((testset, measure))
        systems = []
        if testset in bm25_paths:
            systems.append(("bm25", [per_query_measure(reports(bm25_paths[testset]), measure)]))
        for model in grid.models:
            for optim in grid.optimizers:
                for epoch in grid.epochs:
                    systems.append((_label(model, optim, epoch),
                                    _per_seed(grid, eval_path, reports, model, optim, epoch, testset, measure)))
        for system, per_seed in systems:
            values = mean_over_seeds(per_seed)
            ci = bootstrap_ci(list(values.values()), n_resamples=settings.bootstrap_resamples,
                              seed=settings.seed, level=settings.confidence)
            spread = seed_summary([sum(v.values()) / len(v) for v in per_seed])
            rows.append({
                "column": column.name, "testset": testset, "measure": measure, "system": system,
                "n_queries": len(values), "n_seeds": spread.n_seeds, "mean": sum(values.values()) / len(values),
                "ci_low": ci.low, "ci_high": ci.high, "seed_sd": spread.sd,
            })
    return pd.DataFrame(rows)
