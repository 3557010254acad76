"""Snakemake entry point: rerank one test set's candidates with one epoch checkpoint, locally or on Modal."""


from typing import TYPE_CHECKING

from crossopt.backends import rerank_with_backend
from crossopt.candidates import check_candidates_file
from crossopt.logs import log_to

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(model: str, testset: str, candidates: str, run: str, cost: str, batch_size: int, max_length: int,
         tag: str, backend: str, labels: dict, modal_section: dict, options: dict | None = None) -> None:
    # An empty table would give an empty run file (and, evaluated, zeros in the table).
    check_candidates_file(candidates)
    pairs = rerank_with_backend(backend, model, candidates, run, batch_size, max_length, tag, cost,
                                {**labels, "testset": testset}, modal_section, options=options)
    print(f"{testset}: scored {pairs} pairs")


if __name__ == "__main__":
    with log_to(snakemake.log[0]):
        p, w = snakemake.params, snakemake.wildcards
        main(
            snakemake.input.model,
            w.testset,
            snakemake.input.candidates,
            snakemake.output.run,
            snakemake.output.cost,
            p.batch_size,
            p.max_length,
            p.tag,
            p.backend,
            {"model": w.model, "optim": w.optim, "seed": int(w.seed), "epoch": int(w.epoch)},
            snakemake.params.modal,
            p.options,
        )
