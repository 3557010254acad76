"""First-stage candidates: BM25 runs joined with query and passage texts.

The candidate table (qid, docid, rank, score, query, passage) is what every
reranking job reads, so a test set's texts are looked up once, not once per
checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

from .data import build_candidates, write_candidates_parquet
from .trec import TrecFormatError, read_run


def read_jsonl_texts(path: str | Path, id_field: str = "id", text_field: str = "contents",
                     wanted: set[str] | None = None) -> dict[str, str]:
    """{docid: text} from a JSONL collection, keeping only `wanted` ids when given."""
    texts: dict[str, str] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                docid, text = str(record[id_field]), record[text_field]
            except (json.JSONDecodeError, KeyError, TypeError) as error:
                raise TrecFormatError(
                    f"{path}, line {number}: not a {{{id_field!r}, {text_field!r}}} record ({error})"
                ) from None
            if wanted is None or docid in wanted:
                texts[docid] = text
    return texts


def write_candidates(run_path, topics: Mapping[str, str], collection_jsonl, output) -> int:
    """Candidates of a run file whose texts live in a Pyserini JSONL collection."""
    run = read_run(run_path)
    texts = read_jsonl_texts(collection_jsonl, wanted={e.docid for e in run})
    table = build_candidates([(e.qid, e.docid, e.rank, e.score) for e in run], topics.items(), texts)
    write_candidates_parquet(table, output)
    return len(table)


def write_candidates_from_index(run_path, topics: Mapping[str, str], index: str, output) -> int:
    """Candidates whose texts are fetched from a Pyserini prebuilt index (downloads it)."""
    from .sources import prebuilt_doc_texts

    run = read_run(run_path)
    texts = prebuilt_doc_texts(sorted({e.docid for e in run}), index=index)
    table = build_candidates([(e.qid, e.docid, e.rank, e.score) for e in run], topics.items(), texts)
    write_candidates_parquet(table, output)
    return len(table)
