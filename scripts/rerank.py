"""Snakemake entry point: rerank every test set's candidates with every epoch checkpoint of one
training run, in one job (torch and transformers imported once), locally or on Modal."""


from typing import TYPE_CHECKING

from crossopt.backends import rerank_run_with_backend
from crossopt.candidates import check_candidates_file
from crossopt.logs import log_to

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(models: list[str], epochs: list[int], testsets: list[str], candidates: list[str], runs: list[str],
         cost: str, batch_size: int, max_length: int, tag: str, backend: str, labels: dict, modal_section: dict,
         options: dict | None = None) -> None:
    """`runs` holds a run file per (epoch, test set), epoch-major, as the rule lists them;
    `tag` is the run's tag, to which each checkpoint's `-e{epoch}` is added."""
    from crossopt.rerank import Checkpoint

    if len(models) != len(epochs) or len(testsets) != len(candidates) or len(runs) != len(epochs) * len(testsets):
        raise ValueError(f"rerank: {len(models)} checkpoints for {len(epochs)} epochs, {len(candidates)} candidate "
                         f"tables for {len(testsets)} test sets, {len(runs)} run files: they must correspond")
    # An empty table would give an empty run file (and, evaluated, zeros in the table).
    for table in candidates:
        check_candidates_file(table)
    n = len(testsets)
    checkpoints = [Checkpoint(model, f"{tag}-e{epoch}", runs[i * n:(i + 1) * n])
                   for i, (model, epoch) in enumerate(zip(models, epochs))]
    pairs = rerank_run_with_backend(backend, checkpoints, candidates, batch_size, max_length, cost,
                                    {**labels, "epochs": list(epochs), "testsets": list(testsets)}, modal_section,
                                    options=options)
    for epoch, counts in zip(epochs, pairs):
        for testset, count in zip(testsets, counts):
            print(f"epoch {epoch}, {testset}: scored {count} pairs")


if __name__ == "__main__":
    with log_to(snakemake.log[0]):
        p, w = snakemake.params, snakemake.wildcards
        main(
            list(snakemake.input.models),
            list(p.epochs),
            list(p.testsets),
            list(snakemake.input.candidates),
            list(snakemake.output.runs),
            snakemake.output.cost,
            p.batch_size,
            p.max_length,
            p.tag,
            p.backend,
            {"model": w.model, "optim": w.optim, "seed": int(w.seed)},
            snakemake.params.modal,
            p.options,
        )
