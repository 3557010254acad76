"""Snakemake script: headline measures against epoch, one line per model and optimizer."""

import logging
from typing import TYPE_CHECKING

from crossopt import figures, paper
from crossopt.logs import log_to

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(table: str, output: str, *, config: dict | None = None,
         means: str | None = None) -> None:
    """With `means` (computed results), each point gets its bootstrap interval over queries."""
    rows = paper.read_results(table)
    measures = (paper.PRIMARY_MEASURE, "MRR@10")
    intervals = paper.mean_intervals(paper.read_means(means), config) if means else None
    figures.plot_epoch_curves(rows, measures, output, intervals=intervals)
    logging.info("plotted %s to %s (intervals from %s)", table, output, means)


if __name__ == "__main__":
    with log_to(snakemake.log[0]):
        inputs = dict(snakemake.input.items())
        main(inputs["table"], snakemake.output[0],
             config=snakemake.params.config, means=inputs.get("means"))
