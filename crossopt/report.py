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
from typing import Callable, Mapping

from .evaluate import ReportCache, at_level
from .trec import atomic_write_text

TABLE_HEADER = ["Base Model", "Optimizer", "Epoch", "NDCG@10", "MAP", "MRR@10", "Recall@10", "R-Prec", "P@10"]
METRIC_COLUMNS = TABLE_HEADER[3:]


def format_value(value: float | None) -> str:
    """Rounded to four decimals, as trec_eval prints them; empty where a value does not exist."""
    return "" if value is None else f"{value:.4f}"


def table_rows(config: dict, eval_path: Callable[..., str], bm25_paths: Mapping[str, str],
               level: int | None = None, reports: ReportCache | None = None) -> list[list[str]]:
    """Rows of the table.

    `eval_path(model, optim, seed, epoch, testset)` locates a reranker's evaluation
    JSON; `bm25_paths` maps each test set with BM25 candidates to its BM25
    evaluation; without any (the researcher's imported evaluations) there is no BM25
    row. A column on a test set without BM25 candidates (MS MARCO v1.1,
    whose passages come with the queries) is left empty in the BM25 row.
    `level` picks the relevance level of the binary measures on the test sets
    that store it (see `evaluate.at_level`); None is each test set's configured level.
    Pass one `reports` cache to build the tables of several levels from one read of each file.
    """
    columns: Mapping[str, Mapping[str, str]] = config["table"]["columns"]
    rows = []
    report = reports if reports is not None else ReportCache()
    bm25 = {testset: report(path) for testset, path in bm25_paths.items()}
    if bm25:
        rows.append(["BM25", "-", "-"] + [
            format_value(at_level(bm25[c["testset"]], level)["aggregate"][c["measure"]] if c["testset"] in bm25 else None)
            for c in (columns[name] for name in METRIC_COLUMNS)
        ])
    for model, model_spec in config["models"].items():
        for optim, optim_spec in config["optimizers"].items():
            for epoch in range(1, config["study"]["epochs"] + 1):
                values = []
                for name in METRIC_COLUMNS:
                    spec = columns[name]
                    per_seed = [
                        at_level(report(eval_path(model, optim, seed, epoch, spec["testset"])), level)
                        ["aggregate"][spec["measure"]]
                        for seed in config["study"]["seeds"]
                    ]
                    values.append(format_value(mean(per_seed)))
                rows.append([model_spec["name"], optim_spec["name"], str(epoch)] + values)
    return rows


def write_table(path: str | Path, rows: list[list[str]]) -> None:
    lines = ["\t".join(TABLE_HEADER)] + ["\t".join(row) for row in rows]
    atomic_write_text(path, "\n".join(lines) + "\n")
