"""Snakemake entry point: topics and qrels of a BEIR folder's training split."""


from typing import TYPE_CHECKING

from crossopt.data import read_beir_folder
from crossopt.logs import log_to
from crossopt.trec import Qrel, write_qrels, write_topics

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(folder: str, split: str, topics: str, qrels: str) -> None:
    beir = read_beir_folder(folder, split)
    write_topics(topics, dict(beir.topics))
    write_qrels(qrels, [Qrel(*q) for q in beir.qrels])
    print(f"{split}: {len(beir.topics)} queries, {len(beir.qrels)} qrels")


if __name__ == "__main__":
    with log_to(snakemake.log[0]):
        main(snakemake.params.folder, snakemake.params.split, snakemake.output.topics, snakemake.output.qrels)
