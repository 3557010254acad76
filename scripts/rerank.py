"""Snakemake entry point: rerank one test set's candidates with one epoch checkpoint."""


from typing import TYPE_CHECKING

from crossopt.logs import log_to
from crossopt.rerank import rerank_to_file

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(model: str, candidates: str, output: str, batch_size: int, max_length: int, tag: str) -> None:
    pairs = rerank_to_file(model, candidates, output, batch_size, max_length, tag)
    print(f"scored {pairs} pairs")


if __name__ == "__main__":
    with log_to(snakemake.log[0]):
        p = snakemake.params
        main(snakemake.input.model, snakemake.input.candidates, snakemake.output[0], p.batch_size, p.max_length, p.tag)
