"""Local BEIR-format test sets (corpus.jsonl, queries.jsonl, qrels/<split>.tsv).

Any folder in this format can be a test set of the study: the generated smoke
collections, BEIR SciFact in ../shared/data, or your own. `prepare_beir` turns
one into the study's standard files: a Pyserini JsonCollection, a topics TSV of
the judged queries and TREC qrels.
"""

from __future__ import annotations

import json
from pathlib import Path

from .data import read_beir_folder
from .trec import Qrel, atomic_write_text, write_qrels, write_topics


def prepare_beir(folder: str | Path, split: str, collection_out: str | Path, topics_out: str | Path,
                 qrels_out: str | Path) -> dict:
    """Write the Pyserini collection, topics and qrels of a BEIR folder; return counts.

    Documents become `{"id", "contents"}` with contents = title + " " + text (the
    convention of Pyserini's BEIR "flat" indexes). Topics are the queries that
    have judgments in `split`.
    """
    beir = read_beir_folder(folder, split)
    atomic_write_text(collection_out, "".join(json.dumps(record) + "\n" for record in beir.corpus))
    write_topics(topics_out, dict(beir.topics))
    write_qrels(qrels_out, [Qrel(*q) for q in beir.qrels])
    return {"documents": len(beir.corpus), "queries": len(beir.topics), "qrels": len(beir.qrels)}
