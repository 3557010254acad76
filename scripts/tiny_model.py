"""Snakemake entry point: build a tiny model of one model key's family, offline."""


from typing import TYPE_CHECKING

import pandas as pd

from crossopt.logs import log_to
from crossopt.tiny_models import build_tiny_model

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(tiny: dict, train_pairs: str, output: str, seed: int) -> None:
    """`tiny` is the model's `tiny` section (architecture and tokenizer sizes)."""
    pairs = pd.read_parquet(train_pairs)
    texts = pd.concat([pairs["query"].drop_duplicates(), pairs["passage"].drop_duplicates()]).tolist()
    build_tiny_model(tiny["family"], tiny, texts, output, seed)


if __name__ == "__main__":
    with log_to(snakemake.log[0]):
        main(snakemake.params.tiny, snakemake.input.train, snakemake.output[0], snakemake.params.seed)
