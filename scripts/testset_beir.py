"""Snakemake entry point: a local BEIR folder to a Pyserini collection, topics and qrels."""


from typing import TYPE_CHECKING

from crossopt.beir import prepare_beir
from crossopt.logs import log_to

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(folder: str, split: str, collection: str, topics: str, qrels: str) -> None:
    counts = prepare_beir(folder, split, collection, topics, qrels)
    print(counts)


if __name__ == "__main__":
    with log_to(snakemake.log[0]):
        out = snakemake.output
        main(snakemake.params.folder, snakemake.params.split, out.collection, out.topics, out.qrels)
