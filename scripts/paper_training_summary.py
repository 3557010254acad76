"""Snakemake script: the training-curve switch and summary sentence.

With no logs (reported results and no supplied trainer_state.json files) it writes a
file that turns the figure and every reference to it off.
"""

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from crossopt import figures, paper
from crossopt.logs import log_to

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(logs: dict[str, str], output: str, *, model_name: str) -> None:
    """`logs` maps an optimizer's display name to its trainer_state.json (may be empty)."""
    if not logs:
        text = paper.render_macros({}, {"trainingcurves": False})
        logging.info("no training logs: training-curve figure left out")
    else:
        histories = {name: figures.read_trainer_state(path) for name, path in logs.items()}
        text = paper.render_macros(
            {"TrainingModelName": paper.latex_escape(model_name),
             "TrainingSummary": figures.training_summary(histories, model_name)},
            {"trainingcurves": True})
        logging.info("summarised %s", logs)
    Path(output).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    with log_to(snakemake.log[0]):
        main({snakemake.params.names[optim]: path for optim, path in snakemake.input.items()}, snakemake.output[0],
             model_name=snakemake.params.model_name)
