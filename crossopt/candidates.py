"""First-stage candidates: BM25 runs joined with query and passage texts.

The candidate table (qid, docid, rank, score, query, passage) is what every
reranking job reads, so a test set's texts are looked up once, not once per
checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from .data import DataError, build_candidates, iter_jsonl, write_candidates_parquet
from .trec import read_run


def _require_entries(run, run_path) -> None:
    if not run:
        raise DataError(f"{run_path}: the first-stage run is empty, so there is nothing to rerank "
                        "(check the index and the topics it was retrieved with)")


REBUILD_CANDIDATES = "rebuild it: snakemake --forcerun candidates (or delete it and rerun)"


def unreadable_candidates(path: str | Path, error: Exception) -> DataError:
    """The error for a candidates table pyarrow cannot read (truncated, or not parquet)."""
    return DataError(f"{path}: not a readable candidates table ({type(error).__name__}: {error}); "
                     f"{REBUILD_CANDIDATES}")


def check_candidates_file(path: str | Path) -> int:
    """Fail unless `path` is a candidate table with at least one row; return the row count."""
    import pyarrow.parquet as pq

    try:
        rows = pq.read_metadata(path).num_rows
    except FileNotFoundError:
        raise
    except Exception as error:  # a truncated or foreign file: pyarrow's ArrowInvalid, OSError
        raise unreadable_candidates(path, error) from None
    if rows == 0:
        raise DataError(f"{path}: the candidate table is empty, so reranking would write an empty run; "
                        "rebuild it from a non-empty first-stage run (snakemake --forcerun candidates)")
    return rows


def read_jsonl_texts(path: str | Path, id_field: str = "id", text_field: str = "contents",
                     wanted: set[str] | None = None) -> dict[str, str]:
    """{docid: text} from a JSONL collection, keeping only `wanted` ids when given."""
    texts: dict[str, str] = {}
    for number, record in iter_jsonl(Path(path)):
        if id_field not in record or not isinstance(record.get(text_field), str):
            raise DataError(f"{path}:{number}: expected a record with {id_field!r} and a string {text_field!r}")
        docid = str(record[id_field])
        if wanted is None or docid in wanted:
            texts[docid] = record[text_field]
    return texts


def write_candidates(run_path, topics: Mapping[str, str], collection_jsonl, output) -> int:
    """Candidates of a run file whose texts live in a Pyserini JSONL collection."""
    run = read_run(run_path)
    _require_entries(run, run_path)
    texts = read_jsonl_texts(collection_jsonl, wanted={e.docid for e in run})
    table = build_candidates([(e.qid, e.docid, e.rank, e.score) for e in run], topics.items(), texts)
    write_candidates_parquet(table, output)
    return len(table)


def write_candidates_from_index(run_path, topics: Mapping[str, str], index: str, output) -> int:
    """Candidates whose texts are fetched from the Lucene index the run was retrieved from:
    a local folder, or a Pyserini prebuilt index (downloads it)."""
    from .sources import index_doc_texts

    run = read_run(run_path)
    _require_entries(run, run_path)
    texts = index_doc_texts(sorted({e.docid for e in run}), index=index)
    table = build_candidates([(e.qid, e.docid, e.rank, e.score) for e in run], topics.items(), texts)
    write_candidates_parquet(table, output)
    return len(table)
