"""Snakemake entry point: the brief's results table from all evaluation JSONs."""

from typing import TYPE_CHECKING

from crossopt.evaluate import ReportCache, eval_locator
from crossopt.logs import log_to
from crossopt.report import table_rows, write_table

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(config: dict, table: str, other_tables: list[str], levels: list[int], eval_pattern: str,
         bm25_paths: dict) -> None:
    eval_path, reports = eval_locator(eval_pattern), ReportCache()
    write_table(table, table_rows(config, eval_path, bm25_paths, reports=reports))
    for level, path in zip(levels, other_tables):
        write_table(path, table_rows(config, eval_path, bm25_paths, level=level, reports=reports))


if __name__ == "__main__":
    with log_to(snakemake.log[0]):
        p = snakemake.params
        out = snakemake.output
        main(snakemake.config, out.table, list(out.other_levels), p.levels, p.eval_pattern, p.bm25_paths)
