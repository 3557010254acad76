"""Snakemake entry point: rerank every test set's candidates with one epoch checkpoint, locally or on Modal."""


from typing import TYPE_CHECKING

from crossopt.backends import rerank_with_backend
from crossopt.logs import log_to

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(model: str, testsets: list[str], candidates: list[str], runs: list[str], costs: list[str],
         batch_size: int, max_length: int, tag: str, backend: str, labels: dict, modal_section: dict,
         options: dict | None = None) -> None:
    if not len(testsets) == len(candidates) == len(runs) == len(costs):
        raise ValueError("rerank: test sets, candidate tables, run files and cost records must correspond one to one")
    for testset, candidate, run, cost in zip(testsets, candidates, runs, costs):
        pairs = rerank_with_backend(backend, model, candidate, run, batch_size, max_length, tag, cost,
                                    {**labels, "testset": testset}, modal_section, options=options)
        print(f"{testset}: scored {pairs} pairs")


if __name__ == "__main__":
    with log_to(snakemake.log[0]):
        p, w = snakemake.params, snakemake.wildcards
        main(
            snakemake.input.model,
            p.testsets,
            list(snakemake.input.candidates),
            list(snakemake.output.runs),
            list(snakemake.output.costs),
            p.batch_size,
            p.max_length,
            p.tag,
            p.backend,
            {"model": w.model, "optim": w.optim, "seed": int(w.seed), "epoch": int(w.epoch)},
            # Read from the config, not params: where a job runs must not make finished runs stale.
            snakemake.config.get("modal", {}),
            p.options,
        )
