"""Snakemake entry point: training and held-out pairs from MS MARCO-style triplets."""

from typing import TYPE_CHECKING

import pandas as pd

from crossopt.data import build_training_pairs, write_pairs_parquet
from crossopt.logs import log_to

if TYPE_CHECKING:
    from snakemake.script import snakemake


def load_tables(data: dict, inputs) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(corpus, queries, triplets): generated locally (smoke) or the first pairs/2 triplets from the hub."""
    if data["source"] == "smoke":
        return tuple(pd.read_parquet(inputs[name]) for name in ("corpus", "queries", "triplets"))
    from crossopt.sources import download_msmarco_training

    if not data.get("hf_revision"):
        raise ValueError(
            f"data.hf_revision is not set: pin {data['hf_dataset']} to a commit hash "
            f"(HfApi().dataset_info({data['hf_dataset']!r}).sha) so the training pairs are repeatable"
        )
    revision = None if data["hf_revision"] == "unpinned" else data["hf_revision"]
    if revision is None:
        print(f"data.hf_revision is 'unpinned': {data['hf_dataset']} is read from its current main branch; "
              "these training pairs are not repeatable")
    return download_msmarco_training(n_triplets=data["pairs"] // 2, revision=revision, dataset=data["hf_dataset"])


def main(data: dict, inputs, train_out: str, heldout_out: str) -> None:
    corpus, queries, triplets = load_tables(data, inputs)
    train, heldout = build_training_pairs(corpus, queries, triplets, data["pairs"], data["heldout"], data["shuffle_seed"])
    write_pairs_parquet(train, train_out)
    write_pairs_parquet(heldout, heldout_out)
    print(f"{len(train)} training pairs, {len(heldout)} held-out pairs")


if __name__ == "__main__":
    with log_to(snakemake.log[0]):
        main(snakemake.params.data, snakemake.input, snakemake.output.train, snakemake.output.heldout)
