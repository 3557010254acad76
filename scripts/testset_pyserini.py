"""Snakemake entry point: topics and qrels bundled with Pyserini (e.g. dl19-passage), offline."""

from typing import TYPE_CHECKING

from crossopt.logs import log_to
from crossopt.sources import pyserini_topics_qrels
from crossopt.trec import Qrel, read_topics, write_qrels, write_topics

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(topics_name: str, qrels_name: str, topics_out: str, qrels_out: str, topics_file: str | None = None) -> None:
    """Bundled topics and qrels; `topics_file` replaces the bundled topics (e.g. all 200 DL19 queries)."""
    topics, qrels = pyserini_topics_qrels(topics_name, qrels_name)
    topics = read_topics(topics_file) if topics_file else dict(topics)
    judged = {q[0] for q in qrels}
    missing = sorted(judged - set(topics))
    if missing:
        raise ValueError(f"{topics_file or topics_name}: judged queries {missing[:5]} are missing from the topics")
    write_topics(topics_out, topics)
    write_qrels(qrels_out, [Qrel(*q) for q in qrels])
    print(f"{len(topics)} topics ({topics_file or topics_name}), {len(judged)} judged, {len(qrels)} qrels ({qrels_name})")


if __name__ == "__main__":
    with log_to(snakemake.log[0]):
        p = snakemake.params
        main(p.topics, p.qrels, snakemake.output.topics, snakemake.output.qrels, snakemake.input.get("topics_file"))
