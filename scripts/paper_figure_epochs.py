"""Snakemake script: candidate minus reference optimizer against epoch, one panel per model."""

import logging
from typing import TYPE_CHECKING

from crossopt import figures, paper
from crossopt.logs import log_to

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(table: str, output: str, *, config: dict, significance: str | None = None,
         means: str | None = None) -> None:
    """Every measure of the table; with `significance` and `means` (computed results), each
    difference gets the bootstrap interval of its paired per-query differences."""
    rows = paper.read_results(table)
    reference, candidate = paper.compared_optimizers(config["optimizers"])
    intervals = None
    if significance is not None:
        stats = paper.load_statistics(significance, means, config)
        paper.check_statistics(stats, rows, reference=reference, candidate=candidate)
        intervals = figures.difference_intervals(stats.optimizer_tests)
    data = figures.epoch_differences(rows, reference=reference, candidate=candidate,
                                     intervals=intervals)
    figures.plot_epoch_differences(data, output)
    logging.info("plotted %s - %s from %s to %s (intervals from %s)", candidate, reference,
                 table, output, significance)


if __name__ == "__main__":
    with log_to(snakemake.log[0]):
        inputs = dict(snakemake.input.items())
        main(inputs["table"], snakemake.output[0], config=snakemake.params.config,
             significance=inputs.get("significance"), means=inputs.get("means"))
