"""The results table in the brief's layout, from evaluation JSONs.

One row per model x optimizer x epoch (values averaged over seeds when there are
several), plus a BM25 row for the first-stage candidates where their evaluations
exist. Each column's test set and measure come from `config.table.columns`, as in
the brief, where MRR@10 is measured on MS MARCO dev and the other columns on TREC DL
2019. The same code tabulates the workflow's computed evaluations and the
researcher's imported ones (crossopt.researcher_eval), which have no BM25 row.
Values are rounded (not truncated) to four decimals.
"""

from __future__ import annotations

from pathlib import Path
from statistics import mean
from typing import Callable, Mapping, Sequence

from .evaluate import at_level, report_reader
from .study import ID_COLUMNS, Column, Grid
from .trec import atomic_write_text


def table_header(columns: Sequence[Column]) -> list[str]:
    """The table's first line: the run's identity, then one heading per configured column."""
    return [*ID_COLUMNS, *(column.name for column in columns)]


def format_value(value: float | None) -> str:
    """Rounded to four decimals, as trec_eval prints them; empty where a value does not exist."""
    return "" if value is None else f"{value:.4f}"


def table_rows(grid: Grid, columns: Sequence[Column], eval_path: Callable[..., str], bm25_paths: Mapping[str, str],
               level: int | None = None, reports: Callable[[str], dict] | None = None) -> list[list[str]]:
    """Rows of the table: the grid's runs (display names) by `columns` (config table.columns).

    `eval_path(model, optim, seed, epoch, testset)` locates a reranker's evaluation
    JSON; `bm25_paths` maps each test set with BM25 candidates to its BM25
    evaluation; without any (the researcher's imported evaluations) there is no BM25
    row. A column on a test set without BM25 candidates (MS MARCO v1.1,
    whose passages come with the queries) is left empty in the BM25 row.
    `level` picks the relevance level of the binary measures on the test sets
    that store it (see `evaluate.at_level`); None is each test set's configured level.
    Pass one `reports` reader (`evaluate.report_reader()`) to build the tables of several
    levels from one read of each file.
    """
    rows = []
    report = reports if reports is not None else report_reader()
    bm25 = {testset: report(path) for testset, path in bm25_paths.items()}
    if bm25:
        rows.append(["BM25", "-", "-"] + [
            format_value(at_level(bm25[c.testset], level)["aggregate"][c.measure] if c.testset in bm25 else None)
            for c in columns
        ])
    for model, model_name in grid.models.items():
        for optim, optim_name in grid.optimizers.items():
            for epoch in grid.epochs:
                values = []
                for column in columns:
                    per_seed = [
                        at_level(report(eval_path(model, optim, seed, epoch, column.testset)), level)
                        ["aggregate"][column.measure]
                        for seed in grid.seeds
                    ]
                    values.append(format_value(mean(per_seed)))
                rows.append([model_name, optim_name, str(epoch)] + values)
    return rows


def write_table(path: str | Path, columns: Sequence[Column], rows: list[list[str]]) -> None:
    lines = ["\t".join(table_header(columns))] + ["\t".join(row) for row in rows]
    atomic_write_text(path, "\n".join(lines) + "\n")
