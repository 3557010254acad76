"""Snakemake script: headline measures against epoch, one line per model and optimizer."""

import logging
from typing import TYPE_CHECKING

from crossopt import figures, paper

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(table: str, output: str, log: str) -> None:
    logging.basicConfig(filename=log, level=logging.INFO, force=True)
    figures.plot_epoch_curves(paper.read_results(table), (paper.PRIMARY_MEASURE, "MRR@10"),
                              output)
    logging.info("plotted %s to %s", table, output)


if __name__ == "__main__":
    main(snakemake.input.table, snakemake.output[0], snakemake.log[0])
