"""Snakemake script: model table, hyperparameter table and author block, from config and the pins."""

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from crossopt import paper
from crossopt.logs import log_to

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(models_tex: str, hyperparameters_tex: str, authors_tex: str, *,
         config: dict, runs: dict, requirements: str, makefile: str) -> None:
    """`config` holds the sections in paper.PAPER_CONFIG_KEYS; `runs` the per-run settings;
    `requirements` and `makefile` give the pinned software versions."""
    outputs = {
        models_tex: paper.models_table(config, runs),
        hyperparameters_tex: paper.hyperparameter_table(
            config, paper.software_versions(requirements, makefile)),
        authors_tex: paper.authors_block(config["paper"]["authors"]),
    }
    for path, text in outputs.items():
        Path(path).write_text(text, encoding="utf-8")
        logging.info("wrote %s", path)


if __name__ == "__main__":
    with log_to(snakemake.log[0]):
        main(snakemake.output.models, snakemake.output.hyperparameters, snakemake.output.authors,
             config=snakemake.params.config, runs=snakemake.params.runs,
             requirements=snakemake.input.requirements, makefile=snakemake.input.makefile)
