"""Snakemake entry point: rerank every test set with the base model and an untrained head (baseline)."""


from typing import TYPE_CHECKING

from crossopt.logs import log_to
from crossopt.pretrained import rerank_untrained

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(base: str, seed: int, candidates: list[str], runs: list[str], batch_size: int, max_length: int,
         tag: str, options: dict) -> None:
    if len(candidates) != len(runs):
        raise ValueError("untrained_rerank: candidate tables and run files must correspond one to one")
    for candidate, run in zip(candidates, runs):
        rerank_untrained(base, seed, candidate, run, batch_size, max_length, tag, options)


if __name__ == "__main__":
    with log_to(snakemake.log[0]):
        p = snakemake.params
        main(snakemake.input.base, int(snakemake.wildcards.seed), list(snakemake.input.candidates),
             list(snakemake.output.runs), p.batch_size, p.max_length, p.tag, p.options)
