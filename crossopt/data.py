"""Pure builders that turn each data source of the study into the project's files.

Every function here works on in-memory tables or local files only, so tests can
run it on small fixtures of the real schemas. The downloads that produce those
inputs live in :mod:`crossopt.sources` (one function per source).

Shared formats written here:

* training pairs: Parquet with columns ``query`` (str), ``passage`` (str),
  ``label`` (float32);
* topics: TSV ``qid<TAB>text``, no header;
* qrels: TREC ``qid 0 docid grade``;
* candidates: Parquet with columns ``qid`` (str), ``docid`` (str), ``rank``
  (int, 1-based), ``score`` (float), ``query`` (str), ``passage`` (str).

TREC files are read and written by :mod:`crossopt.trec`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .atomic import atomic_write_parquet, atomic_write_text
from .trec import Qrel, read_text, split_lines, write_qrels, write_topics

# Column names of the hub dataset sentence-transformers/msmarco (subsets corpus,
# queries, triplets; all ids are strings there).
CORPUS_ID, CORPUS_TEXT = "passage_id", "passage"
QUERIES_ID, QUERIES_TEXT = "query_id", "query"
TRIPLET_COLUMNS = ("query_id", "positive_id", "negative_id")

PAIRS_SCHEMA = pa.schema(
    [("query", pa.string()), ("passage", pa.string()), ("label", pa.float32())]
)
CANDIDATES_SCHEMA = pa.schema(
    [
        ("qid", pa.string()),
        ("docid", pa.string()),
        ("rank", pa.int64()),
        ("score", pa.float64()),
        ("query", pa.string()),
        ("passage", pa.string()),
    ]
)

Topic = tuple[str, str]  # (qid, text)
RunRow = tuple[str, str, int, float]  # (qid, docid, rank, score)


class DataError(ValueError):
    """Input data is malformed; the message names the file or record and the fault."""


# ---------------------------------------------------------------------------
# Training pairs from sentence-transformers/msmarco triplets
# ---------------------------------------------------------------------------


def _require_columns(df: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"{what} lacks column(s) {missing}; it has {list(df.columns)}")


def id_to_text(df: pd.DataFrame, id_column: str, text_column: str, what: str) -> dict[str, str]:
    """Map ids (as strings) to texts; duplicate ids are an error, since either text could win."""
    _require_columns(df, [id_column, text_column], what)
    ids = df[id_column].astype(str)
    duplicated = ids[ids.duplicated()]
    if len(duplicated):
        raise DataError(f"{what}: id {duplicated.iloc[0]!r} occurs more than once in column {id_column!r}")
    return dict(zip(ids, df[text_column]))


def _texts_for(ids: Sequence[str], mapping: Mapping[str, str], what: str, column: str) -> list[str]:
    out = []
    for row, key in enumerate(ids):
        try:
            out.append(mapping[key])
        except KeyError:
            raise DataError(
                f"triplets row {row}: {column} {key!r} has no text in the {what} table"
            ) from None
    return out


def first_triplets(triplets_df: pd.DataFrame, n_pairs: int) -> pd.DataFrame:
    """The first ``n_pairs / 2`` triplets, ids as strings: the study's fixed, order-defined subset."""
    if n_pairs < 2 or n_pairs % 2:
        raise DataError(f"pairs must be an even number >= 2 (one positive and one negative per triplet), got {n_pairs}")
    _require_columns(triplets_df, TRIPLET_COLUMNS, "triplets table")
    n_triplets = n_pairs // 2
    if len(triplets_df) < n_triplets:
        raise DataError(f"{n_pairs} pairs need {n_triplets} triplets, but the triplets table has {len(triplets_df)}")
    return triplets_df.loc[:, list(TRIPLET_COLUMNS)].head(n_triplets).astype(str).reset_index(drop=True)


def needed_ids(triplets_df: pd.DataFrame) -> tuple[set[str], set[str]]:
    """Query ids and passage ids a triplet table refers to (to load only those texts)."""
    _require_columns(triplets_df, TRIPLET_COLUMNS, "triplets table")
    queries = set(triplets_df["query_id"].astype(str))
    passages = set(triplets_df["positive_id"].astype(str)) | set(triplets_df["negative_id"].astype(str))
    return queries, passages


def select_rows_by_id(table: pa.Table, id_column: str, ids: Iterable[str]) -> pd.DataFrame:
    """Rows of an Arrow table whose ``id_column`` is in ``ids``.

    Lets the download keep only the few hundred thousand passages the triplets
    use instead of turning the 8.8M-passage corpus into a DataFrame.
    """
    if id_column not in table.column_names:
        raise DataError(f"table lacks column {id_column!r}; it has {table.column_names}")
    column = pc.cast(table[id_column], pa.string())
    mask = pc.is_in(column, value_set=pa.array(sorted(set(ids)), type=pa.string()))
    return table.filter(mask).to_pandas()


def build_training_pairs(
    corpus_df: pd.DataFrame,
    queries_df: pd.DataFrame,
    triplets_df: pd.DataFrame,
    n_pairs: int,
    n_heldout: int,
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training and held-out pairs from the first ``n_pairs / 2`` triplets.

    Each triplet gives ``(query, positive, 1.0)`` and ``(query, negative, 0.0)``.
    The ``n_pairs`` rows are shuffled with ``numpy.random.default_rng(seed)``;
    the first ``n_heldout`` shuffled rows are held out (for the eval loss), the
    rest are the training set. The split is row-level, as in the brief's
    ``train_test_split(test_size=10_000)``, so a query may appear on both sides.
    """
    triplets = first_triplets(triplets_df, n_pairs)
    if not 0 <= n_heldout < n_pairs:
        raise DataError(f"heldout must be in [0, pairs), got heldout={n_heldout}, pairs={n_pairs}")
    query_text = id_to_text(queries_df, QUERIES_ID, QUERIES_TEXT, "queries table")
    passage_text = id_to_text(corpus_df, CORPUS_ID, CORPUS_TEXT, "corpus table")
    queries = _texts_for(triplets["query_id"], query_text, "queries", "query_id")
    positives = _texts_for(triplets["positive_id"], passage_text, "corpus", "positive_id")
    negatives = _texts_for(triplets["negative_id"], passage_text, "corpus", "negative_id")

    # Interleaved before shuffling: row 2i is triplet i's positive, row 2i+1 its negative.
    pairs = pd.DataFrame(
        {
            "query": [query for query in queries for _ in range(2)],
            "passage": [passage for pair in zip(positives, negatives) for passage in pair],
            "label": np.tile(np.array([1.0, 0.0], dtype=np.float32), len(triplets)),
        }
    )
    order = np.random.default_rng(seed).permutation(len(pairs))
    shuffled = pairs.iloc[order].reset_index(drop=True)
    heldout = shuffled.iloc[:n_heldout].reset_index(drop=True)
    train = shuffled.iloc[n_heldout:].reset_index(drop=True)
    return train, heldout


def write_pairs_parquet(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write pairs with the fixed schema so training reads the same types everywhere."""
    _require_columns(df, PAIRS_SCHEMA.names, "pairs table")
    atomic_write_parquet(pa.Table.from_pandas(df.loc[:, PAIRS_SCHEMA.names], schema=PAIRS_SCHEMA, preserve_index=False), path)


def read_pairs_parquet(path: str | os.PathLike) -> pd.DataFrame:
    """Read pairs and check the schema, so a stale or foreign file fails here, not mid-training."""
    schema = pq.read_schema(path)
    names = [f.name for f in schema]
    if names != PAIRS_SCHEMA.names or any(schema.field(n).type != PAIRS_SCHEMA.field(n).type for n in names):
        raise DataError(f"{path}: expected columns {PAIRS_SCHEMA} but found {schema}")
    return pq.read_table(path).to_pandas()


# ---------------------------------------------------------------------------
# Test sets: topics, qrels, candidates
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RerankTestset:
    """Everything a reranking test set needs, in the shared formats.

    ``no_relevant`` lists queries with no relevant passage: they are absent from
    ``qrels`` (trec_eval would skip them) and must be counted as 0 by the
    evaluation. Empty where every query has a relevant passage.
    """

    topics: list[Topic]
    qrels: list[Qrel]
    candidates: pd.DataFrame
    no_relevant: list[str]


def _passages_as_lists(passages: object, where: str) -> tuple[list, list]:
    """(is_selected, passage_text) lists from the v1.1 ``passages`` field.

    The hub's ``datasets`` decoding gives a dict of lists; plain Parquet/JSON
    readers may give a list of dicts. Both are accepted.
    """
    if isinstance(passages, Mapping):
        try:
            selected, texts = list(passages["is_selected"]), list(passages["passage_text"])
        except KeyError as missing:
            raise DataError(f"{where}: passages lacks field {missing}") from None
    elif isinstance(passages, Sequence) and not isinstance(passages, str):
        try:
            selected = [p["is_selected"] for p in passages]
            texts = [p["passage_text"] for p in passages]
        except (KeyError, TypeError) as fault:
            raise DataError(f"{where}: malformed passage entry ({fault!r})") from None
    else:
        raise DataError(f"{where}: passages must be a dict of lists or a list of dicts, got {type(passages).__name__}")
    if len(selected) != len(texts):
        raise DataError(f"{where}: {len(selected)} is_selected values for {len(texts)} passage texts")
    return selected, texts


def build_v11_testset(records: Iterable[Mapping]) -> RerankTestset:
    """Topics, binary qrels and candidates from HF ``microsoft/ms_marco`` v1.1 records.

    Each record has ``query_id`` (int), ``query`` (str) and ``passages``
    (``is_selected``, ``passage_text``, ``url``). The passages given with a query
    are its candidates, in the given order: ``docid = f"{query_id}-{index}"``,
    ``rank = index + 1`` and ``score = n - index`` (strictly decreasing, so the
    given order survives any tie-breaking). Every given passage is judged:
    grade 1 where ``is_selected == 1``, else 0. A query with no selected passage
    therefore stays in the qrels with no relevant passage, and the evaluation
    scores it 0, as the researcher's protocol does; such queries are also
    listed in ``no_relevant`` so outputs can say how many there were.
    """
    topics: list[Topic] = []
    qrels: list[Qrel] = []
    no_relevant: list[str] = []
    rows: dict[str, list] = {name: [] for name in CANDIDATES_SCHEMA.names}
    seen: set[str] = set()
    for index, record in enumerate(records):
        where = f"v1.1 record {index}"
        try:
            qid, query, passages = str(record["query_id"]), record["query"], record["passages"]
        except KeyError as missing:
            raise DataError(f"{where}: missing field {missing}") from None
        where = f"v1.1 record {index} (query_id {qid})"
        if qid in seen:
            raise DataError(f"{where}: query_id occurs more than once")
        seen.add(qid)
        if not isinstance(query, str) or not query.strip():
            raise DataError(f"{where}: query text is empty or not a string")
        selected, texts = _passages_as_lists(passages, where)
        topics.append((qid, query))
        n = len(texts)
        for position, (flag, text) in enumerate(zip(selected, texts)):
            if flag not in (0, 1):
                raise DataError(f"{where}: passage {position} has is_selected={flag!r}, expected 0 or 1")
            docid = f"{qid}-{position}"
            for name, value in zip(
                CANDIDATES_SCHEMA.names, (qid, docid, position + 1, float(n - position), query, text)
            ):
                rows[name].append(value)
            qrels.append((qid, docid, int(flag)))
        if not any(flag == 1 for flag in selected):
            no_relevant.append(qid)
    candidates = pa.Table.from_pydict(rows, schema=CANDIDATES_SCHEMA).to_pandas()
    return RerankTestset(topics=topics, qrels=qrels, candidates=candidates, no_relevant=no_relevant)


def build_candidates(
    run: Iterable[RunRow], topics: Iterable[Topic], passages: Mapping[str, str]
) -> pd.DataFrame:
    """Candidates table from a first-stage run, its topics and the passage texts.

    A run query without a topic, a docid without text, or a repeated
    (qid, docid) is an error: each would silently change what gets reranked.
    """
    query_of = dict(topics)
    rows: dict[str, list] = {name: [] for name in CANDIDATES_SCHEMA.names}
    seen: set[tuple[str, str]] = set()
    for qid, docid, rank, score in run:
        qid, docid = str(qid), str(docid)
        if qid not in query_of:
            raise DataError(f"run query {qid!r} is not among the topics")
        if docid not in passages:
            raise DataError(f"run document {docid!r} (query {qid!r}) has no passage text")
        if (qid, docid) in seen:
            raise DataError(f"run lists document {docid!r} twice for query {qid!r}")
        seen.add((qid, docid))
        for name, value in zip(
            CANDIDATES_SCHEMA.names, (qid, docid, int(rank), float(score), query_of[qid], passages[docid])
        ):
            rows[name].append(value)
    return pa.Table.from_pydict(rows, schema=CANDIDATES_SCHEMA).to_pandas()


def write_candidates_parquet(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write candidates with the shared schema (ids as strings, rank int, score float)."""
    _require_columns(df, CANDIDATES_SCHEMA.names, "candidates table")
    atomic_write_parquet(pa.Table.from_pandas(df.loc[:, CANDIDATES_SCHEMA.names], schema=CANDIDATES_SCHEMA, preserve_index=False), path)


def write_no_relevant(qids: Iterable[str], path: str | os.PathLike) -> None:
    """One qid per line: the queries the evaluation must add with a score of 0."""
    atomic_write_text(path, "".join(f"{qid}\n" for qid in qids))


def write_testset(
    testset: RerankTestset,
    topics_path: str | os.PathLike,
    qrels_path: str | os.PathLike,
    candidates_path: str | os.PathLike | None = None,
    no_relevant_path: str | os.PathLike | None = None,
) -> None:
    """Write a test set's files in the shared formats (one call per rule)."""
    write_topics(topics_path, dict(testset.topics))
    write_qrels(qrels_path, [Qrel(*q) for q in testset.qrels])
    if candidates_path is not None:
        write_candidates_parquet(testset.candidates, candidates_path)
    if no_relevant_path is not None:
        write_no_relevant(testset.no_relevant, no_relevant_path)


# ---------------------------------------------------------------------------
# BEIR-format local folders
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BeirTestset:
    """A BEIR split: Pyserini JsonCollection records, the split's topics and its qrels."""

    corpus: list[dict[str, str]]  # {"id", "contents"}
    topics: list[Topic]
    qrels: list[Qrel]


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) per non-blank line; a bad line names the file and line.

    A leading byte-order mark is dropped and invalid UTF-8 is named with its line
    (`crossopt.trec.read_text`, shared by every text reader).
    """
    for line_no, line in enumerate(split_lines(read_text(path)), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as fault:
            raise DataError(f"{path}:{line_no}: not valid JSON ({fault.msg})") from None
        if not isinstance(obj, dict):
            raise DataError(f"{path}:{line_no}: expected a JSON object, got {type(obj).__name__}")
        yield line_no, obj


def _string_field(obj: dict, key: str, path: Path, line_no: int, required: bool = True) -> str:
    value = obj.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise DataError(f"{path}:{line_no}: field {key!r} must be a string, got {value!r}")
    return value


def _id_field(obj: dict, path: Path, line_no: int) -> str:
    """A record's `_id`: a string with no whitespace (TREC files separate fields by whitespace)."""
    value = _string_field(obj, "_id", path, line_no)
    if not value.strip() or any(ch.isspace() for ch in value):
        raise DataError(f"{path}:{line_no}: _id {value!r} is empty or contains whitespace (TREC files separate "
                        "fields by whitespace, so an id cannot hold any)")
    return value


def read_beir_corpus(path: str | os.PathLike) -> list[dict[str, str]]:
    """Corpus records for Pyserini's JsonCollection: ``contents = title + " " + text``.

    This is the "flat" BEIR condition of Pyserini's reproductions (title and
    text in one field). A missing title counts as empty.
    """
    path = Path(path)
    records, seen = [], set()
    for line_no, obj in iter_jsonl(path):
        docid = _id_field(obj, path, line_no)
        if docid in seen:
            raise DataError(f"{path}:{line_no}: _id {docid!r} occurs more than once")
        seen.add(docid)
        title = _string_field(obj, "title", path, line_no, required=False)
        text = _string_field(obj, "text", path, line_no)
        records.append({"id": docid, "contents": f"{title} {text}"})
    return records


def read_beir_queries(path: str | os.PathLike) -> dict[str, str]:
    """Query id -> text from ``queries.jsonl`` (all splits)."""
    path = Path(path)
    queries: dict[str, str] = {}
    for line_no, obj in iter_jsonl(path):
        qid = _id_field(obj, path, line_no)
        if qid in queries:
            raise DataError(f"{path}:{line_no}: _id {qid!r} occurs more than once")
        text = _string_field(obj, "text", path, line_no)
        if not text.strip():
            raise DataError(f"{path}:{line_no}: query {qid!r} has an empty text")
        queries[qid] = text
    return queries


def read_beir_qrels(path: str | os.PathLike) -> list[Qrel]:
    """Qrels from ``qrels/{split}.tsv``: header ``query-id corpus-id score``, tab-separated.

    CRLF line endings (as BEIR ships them) and a leading byte-order mark are accepted.
    A file without judgments, or a (query, document) pair judged twice, is an error.
    """
    path = Path(path)
    qrels: list[Qrel] = []
    first_line: dict[tuple[str, str], int] = {}
    lines = split_lines(read_text(path))
    header = lines[0].split("\t")
    if [h.strip() for h in header] != ["query-id", "corpus-id", "score"]:
        raise DataError(f"{path}:1: expected header 'query-id<TAB>corpus-id<TAB>score', got {header!r}")
    for line_no, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 3:
            raise DataError(f"{path}:{line_no}: expected 3 tab-separated fields, got {len(fields)}: {line!r}")
        qid, docid, score = (f.strip() for f in fields)
        try:
            grade = int(score)
        except ValueError:
            raise DataError(f"{path}:{line_no}: score {score!r} is not an integer") from None
        if not qid or not docid:
            raise DataError(f"{path}:{line_no}: empty query-id or corpus-id")
        if (qid, docid) in first_line:
            raise DataError(f"{path}:{line_no}: pair ({qid}, {docid}) occurs more than once (first on line "
                            f"{first_line[qid, docid]}); keep one judgment per pair")
        first_line[qid, docid] = line_no
        qrels.append((qid, docid, grade))
    if not qrels:
        raise DataError(f"{path}: no judgments below the header; a test set needs at least one judged query")
    return qrels


def read_beir_folder(folder: str | os.PathLike, split: str = "test") -> BeirTestset:
    """A BEIR folder's corpus, and the topics and qrels of one split.

    Topics are the queries judged in ``qrels/{split}.tsv`` (in order of first
    appearance), not all of ``queries.jsonl``, which mixes every split. A
    judged query or document missing from queries/corpus is an error.
    """
    folder = Path(folder)
    qrels_path = folder / "qrels" / f"{split}.tsv"
    for required in (folder / "corpus.jsonl", folder / "queries.jsonl", qrels_path):
        if not required.is_file():
            raise DataError(f"BEIR folder {folder}: missing {required.relative_to(folder)}")
    qrels = read_beir_qrels(qrels_path)
    queries = read_beir_queries(folder / "queries.jsonl")
    corpus = read_beir_corpus(folder / "corpus.jsonl")
    docids = {record["id"] for record in corpus}
    topics: list[Topic] = []
    judged: set[str] = set()
    for qid, docid, _ in qrels:
        if qid not in queries:
            raise DataError(f"{qrels_path}: query {qid!r} is not in queries.jsonl")
        if docid not in docids:
            raise DataError(f"{qrels_path}: document {docid!r} (query {qid!r}) is not in corpus.jsonl")
        if qid not in judged:
            judged.add(qid)
            topics.append((qid, queries[qid]))
    return BeirTestset(corpus=corpus, topics=topics, qrels=qrels)


def write_jsonl_collection(records: Iterable[Mapping[str, str]], path: str | os.PathLike) -> int:
    """Write ``{"id", "contents"}`` lines for ``pyserini.index.lucene`` (JsonCollection); returns the count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(path, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps({"id": record["id"], "contents": record["contents"]}) + "\n")
            count += 1
    return count
