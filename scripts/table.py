"""Snakemake entry point: the brief's results table from all evaluation JSONs."""


from typing import TYPE_CHECKING

from crossopt.logs import log_to
from crossopt.report import table_rows, write_table

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(config: dict, output: str, eval_pattern: str, bm25_paths: dict) -> None:
    rows = table_rows(
        config,
        lambda model, optim, seed, epoch, testset: eval_pattern.format(
            model=model, optim=optim, seed=seed, epoch=epoch, testset=testset
        ),
        bm25_paths,
    )
    write_table(output, rows)


if __name__ == "__main__":
    with log_to(snakemake.log[0]):
        p = snakemake.params
        main(snakemake.config, snakemake.output[0], p.eval_pattern, p.bm25_paths)
