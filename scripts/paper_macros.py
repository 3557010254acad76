"""Snakemake script: the paper's number macros and switches, from a results table and config."""

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from crossopt import paper, paper_analysis
from crossopt.logs import log_to

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(table: str, output: str, *, config: dict, runs: dict,
         significance: str | None = None, means: str | None = None) -> None:
    """`config` holds the sections in paper.PAPER_CONFIG_KEYS; `runs` the per-run settings.

    With the statistics files of computed results, the macros also state the tests'
    settings and outcome (`paper.significance_macros`).
    """
    rows = paper.read_results(table)
    reference, candidate = paper.compared_optimizers(config["optimizers"])
    macros = paper.config_macros(config, runs)
    macros.update(paper.result_macros(rows, reference=reference, candidate=candidate))
    macros.update(paper_analysis.finding_macros(rows, config, runs, reference=reference,
                                                candidate=candidate))
    if significance is not None:
        stats = paper.load_statistics(significance, means, config)
        paper.check_statistics(stats, rows, reference=reference, candidate=candidate)
        macros.update(paper.significance_macros(stats, rows, reference=reference,
                                                candidate=candidate))
    flags = paper.switches(config, runs, rows)
    Path(output).write_text(paper.render_macros(macros, flags), encoding="utf-8")
    logging.info("wrote %d macros and switches %s from %s to %s", len(macros), flags, table,
                 output)


if __name__ == "__main__":
    with log_to(snakemake.log[0]):
        inputs = dict(snakemake.input.items())
        main(inputs["table"], snakemake.output[0],
             config=snakemake.params.config, runs=snakemake.params.runs,
             significance=inputs.get("significance"), means=inputs.get("means"))
