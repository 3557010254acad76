"""Snakemake entry point: the brief's results table from all evaluation JSONs."""

from typing import TYPE_CHECKING

from crossopt.logs import log_to
from crossopt.report import table_rows, write_table

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(config: dict, table: str, other_tables: list[str], levels: list[int], eval_pattern: str,
         bm25_paths: dict) -> None:
    def eval_path(model, optim, seed, epoch, testset):
        return eval_pattern.format(model=model, optim=optim, seed=seed, epoch=epoch, testset=testset)

    write_table(table, table_rows(config, eval_path, bm25_paths))
    for level, path in zip(levels, other_tables):
        write_table(path, table_rows(config, eval_path, bm25_paths, level=level))


if __name__ == "__main__":
    with log_to(snakemake.log[0]):
        p = snakemake.params
        out = snakemake.output
        main(snakemake.config, out.table, list(out.other_levels), p.levels, p.eval_pattern, p.bm25_paths)
