"""Snakemake script: results table, optimizer-difference table and comparison sentences."""

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from crossopt import paper

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(table: str, results_tex: str, differences_tex: str, comparison_tex: str, log: str, *,
         config: dict) -> None:
    """`config` holds the sections in paper.PAPER_CONFIG_KEYS."""
    logging.basicConfig(filename=log, level=logging.INFO, force=True)
    rows = paper.read_results(table)
    reference, candidate = paper.compared_optimizers(config["optimizers"])
    threshold = config["paper"]["noise_threshold"]
    facts = paper.protocol_facts(config)
    outputs = {
        results_tex: paper.results_table(rows, ranking_name=facts["ranking_name"]),
        differences_tex: paper.difference_table(rows, reference=reference, candidate=candidate,
                                                threshold=threshold),
        comparison_tex: paper.comparison_text(rows, reference=reference, candidate=candidate,
                                              threshold=threshold),
    }
    for path, text in outputs.items():
        Path(path).write_text(text, encoding="utf-8")
        logging.info("wrote %s from %s", path, table)


if __name__ == "__main__":
    main(snakemake.input.table, snakemake.output.results, snakemake.output.differences,
         snakemake.output.comparison, snakemake.log[0], config=snakemake.params.config)
