"""Snakemake entry point: topics and qrels bundled with Pyserini (e.g. dl19-passage), offline."""

from typing import TYPE_CHECKING

from crossopt.logs import log_to
from crossopt.sources import pyserini_topics_qrels
from crossopt.trec import Qrel, write_qrels, write_topics

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(topics_name: str, qrels_name: str, topics_out: str, qrels_out: str) -> None:
    topics, qrels = pyserini_topics_qrels(topics_name, qrels_name)
    write_topics(topics_out, dict(topics))
    write_qrels(qrels_out, [Qrel(*q) for q in qrels])
    print(f"{len(topics)} topics ({topics_name}), {len(qrels)} qrels ({qrels_name})")


if __name__ == "__main__":
    with log_to(snakemake.log[0]):
        p = snakemake.params
        main(p.topics, p.qrels, snakemake.output.topics, snakemake.output.qrels)
