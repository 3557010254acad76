"""Snakemake entry point: the brief's table, cell by cell, against the researcher's outputs."""

from typing import TYPE_CHECKING

from crossopt.evaluate import eval_locator, report_reader
from crossopt.logs import log_to
from crossopt.paper import read_results
from crossopt.researcher_eval import AGREES, reconcile, write_reconciliation
from crossopt.study import Grid, columns_from

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(brief: str, output: str, layout: dict, eval_pattern: str) -> None:
    """`layout` is `Study.table_params()`: the grid with display names, and the columns."""
    grid, columns = Grid.from_params(layout), columns_from(layout["columns"])
    eval_path, read = eval_locator(eval_pattern), report_reader()
    seed = grid.seeds[0]
    testsets = sorted({column.testset for column in columns})
    reports = {(m, o, seed, e, t): read(eval_path(m, o, seed, e, t))
               for m in grid.models for o in grid.optimizers for e in grid.epochs for t in testsets}
    cells = reconcile(read_results(brief), reports, grid, columns)
    write_reconciliation(output, cells)
    print(f"{sum(c.status != AGREES for c in cells)} of {len(cells)} cells of {brief} differ "
          f"from the researcher's outputs")


if __name__ == "__main__":
    with log_to(snakemake.log[0]):
        p = snakemake.params
        main(snakemake.input.brief, snakemake.output[0], p.layout, p.eval_pattern)
