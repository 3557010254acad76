"""Snakemake entry point: training and held-out pairs from a BEIR train split with BM25 hard negatives."""


import json
from typing import TYPE_CHECKING

from crossopt.beir_pairs import build_beir_training_files
from crossopt.candidates import read_jsonl_texts
from crossopt.data import write_candidates_parquet, write_pairs_parquet
from crossopt.logs import log_to
from crossopt.trec import atomic_write_text, read_qrels, read_run, read_topics, write_qrels, write_topics

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(inputs, outputs, data: dict, candidate_depth: int) -> None:
    built = build_beir_training_files(read_qrels(inputs.qrels), read_topics(inputs.topics), read_run(inputs.run),
                                      read_jsonl_texts(inputs.collection), data, candidate_depth)
    write_pairs_parquet(built["train"], outputs.train)
    write_pairs_parquet(built["heldout"], outputs.heldout)
    topics, qrels, candidates = built["heldout_testset"]
    write_topics(outputs.heldout_topics, topics)
    write_qrels(outputs.heldout_qrels, qrels)
    write_candidates_parquet(candidates, outputs.heldout_candidates)
    atomic_write_text(outputs.summary, json.dumps(built["summary"], indent=2) + "\n")
    print({k: v for k, v in built["summary"].items() if k != "heldout_qids"})


if __name__ == "__main__":
    with log_to(snakemake.log[0]):
        main(snakemake.input, snakemake.output, snakemake.params.data, snakemake.params.candidate_depth)
