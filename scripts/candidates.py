"""Snakemake entry point: join a BM25 run with query and passage texts for reranking."""

from typing import TYPE_CHECKING

from crossopt.candidates import write_candidates
from crossopt.logs import log_to
from crossopt.trec import read_topics

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(run: str, topics: str, collection: str | None, index: str, output: str) -> None:
    """Texts come from the local collection, or from the prebuilt index the run was retrieved from."""
    if collection:
        count = write_candidates(run, read_topics(topics), collection, output)
    else:
        from crossopt.candidates import write_candidates_from_index

        count = write_candidates_from_index(run, read_topics(topics), index, output)
    print(f"{count} candidates")


if __name__ == "__main__":
    with log_to(snakemake.log[0]):
        i = snakemake.input
        main(i.run, i.topics, i.get("collection"), snakemake.params.get("index", "local"), snakemake.output[0])
