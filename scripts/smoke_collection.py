"""Snakemake entry point: generate the offline toy collection (training triplets and BEIR test sets)."""


from pathlib import Path
from typing import TYPE_CHECKING

from crossopt.logs import log_to
from crossopt.smoke import generate

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(settings: dict, train_corpus: str, testsets: dict) -> None:
    generate(settings, Path(train_corpus).parent, testsets)


if __name__ == "__main__":
    with log_to(snakemake.log[0]):
        main(snakemake.params.settings, snakemake.output.corpus, snakemake.params.testsets)
