"""Snakemake entry point: evaluate one run with trec_eval semantics (pytrec_eval)."""


from typing import TYPE_CHECKING

from crossopt.evaluate import evaluate_files
from crossopt.logs import log_to

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(run: str, qrels: str, output: str, testset: str, system: str, spec: dict, recall_depths) -> None:
    report = evaluate_files(
        run, qrels, output, testset, system,
        relevance_level=spec["relevance_level"],
        missing_queries=spec["missing_queries"],
        recall_depths=tuple(recall_depths),
        extra_levels=tuple(spec["extra_relevance_levels"]),
    )
    print(report["aggregate"])


if __name__ == "__main__":
    with log_to(snakemake.log[0]):
        p = snakemake.params
        main(snakemake.input.run, snakemake.input.qrels, snakemake.output[0], snakemake.wildcards.testset,
             p.system, p.spec, p.recall_depths)
