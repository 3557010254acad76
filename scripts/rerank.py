"""Snakemake entry point: rerank one test set's candidates with one epoch checkpoint, locally or on Modal."""


from typing import TYPE_CHECKING

from crossopt.backends import rerank_with_backend
from crossopt.logs import log_to

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(model: str, candidates: str, output: str, cost: str, batch_size: int, max_length: int, tag: str,
         backend: str, labels: dict, modal_section: dict) -> None:
    pairs = rerank_with_backend(backend, model, candidates, output, batch_size, max_length, tag, cost, labels,
                                modal_section)
    print(f"scored {pairs} pairs")


if __name__ == "__main__":
    with log_to(snakemake.log[0]):
        p, w = snakemake.params, snakemake.wildcards
        main(
            snakemake.input.model,
            snakemake.input.candidates,
            snakemake.output.run,
            snakemake.output.cost,
            p.batch_size,
            p.max_length,
            p.tag,
            p.backend,
            {"model": w.model, "optim": w.optim, "seed": int(w.seed), "epoch": int(w.epoch), "testset": w.testset},
            # Read from the config, not params: where a job runs must not make finished runs stale.
            snakemake.config.get("modal", {}),
        )
