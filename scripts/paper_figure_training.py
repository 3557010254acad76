"""Snakemake script: the 2x2 training-dynamics figure from trainer_state.json logs."""

import logging
from typing import TYPE_CHECKING

from crossopt import figures
from crossopt.logs import log_to

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(logs: dict[str, str], output: str) -> None:
    """`logs` maps an optimizer's display name to its trainer_state.json."""
    histories = {name: figures.read_trainer_state(path) for name, path in logs.items()}
    figures.plot_training_curves(histories, output)
    logging.info("plotted %s to %s", logs, output)


if __name__ == "__main__":
    with log_to(snakemake.log[0]):
        main({snakemake.params.names[optim]: path for optim, path in snakemake.input.items()}, snakemake.output[0])
