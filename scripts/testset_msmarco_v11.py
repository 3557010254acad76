"""Snakemake entry point: the MS MARCO v1.1 validation test set (rerank the passages given per query)."""

from typing import TYPE_CHECKING

from crossopt.data import build_v11_testset, write_testset
from crossopt.logs import log_to
from crossopt.trec import write_run

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(spec: dict, outputs) -> None:
    from crossopt.sources import download_ms_marco_v11_validation

    if not spec.get("hf_revision"):
        raise ValueError("test set source msmarco_v11 needs hf_revision (a commit hash of microsoft/ms_marco)")
    records = download_ms_marco_v11_validation(
        revision=spec["hf_revision"], dataset=spec["hf_dataset"], config=spec["hf_config"], split=spec["hf_split"]
    )
    testset = build_v11_testset(records)
    write_testset(testset, outputs.topics, outputs.qrels, outputs.candidates, outputs.no_relevant)
    # The given order is this test set's first stage (there is no BM25 here).
    given = {}
    for qid, docid, score in zip(testset.candidates["qid"], testset.candidates["docid"], testset.candidates["score"]):
        given.setdefault(qid, {})[docid] = float(score)
    write_run(outputs.run, given, tag="given-order")
    print(f"{len(testset.topics)} queries, {len(testset.no_relevant)} without a selected passage (scored 0)")


if __name__ == "__main__":
    with log_to(snakemake.log[0]):
        main(snakemake.params.spec, snakemake.output)
