"""Snakemake entry point: the brief's results table from all evaluation JSONs."""

from typing import TYPE_CHECKING

from crossopt.evaluate import eval_locator, report_reader
from crossopt.logs import log_to
from crossopt.table import table_rows, write_table
from crossopt.study import Grid, columns_from

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(layout: dict, table: str, other_tables: list[str], levels: list[int], eval_pattern: str,
         bm25_paths: dict) -> None:
    """`layout` is `Study.table_params()`: the grid with display names, and the columns."""
    grid, columns = Grid.from_params(layout), columns_from(layout["columns"])
    eval_path, reports = eval_locator(eval_pattern), report_reader()
    write_table(table, columns, table_rows(grid, columns, eval_path, bm25_paths, reports=reports))
    for level, path in zip(levels, other_tables):
        write_table(path, columns, table_rows(grid, columns, eval_path, bm25_paths, level=level, reports=reports))


if __name__ == "__main__":
    with log_to(snakemake.log[0]):
        p = snakemake.params
        out = snakemake.output
        main(p.layout, out.table, list(out.other_levels), p.levels, p.eval_pattern, p.bm25_paths)
