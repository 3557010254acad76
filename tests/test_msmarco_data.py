"""Pure data builders (crossopt.data) on fixtures in the real schemas, written to tmp_path."""

from __future__ import annotations

import json

import datasets
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from crossopt.data import (
    CANDIDATES_SCHEMA,
    DataError,
    build_candidates,
    build_training_pairs,
    build_v11_testset,
    needed_ids,
    read_beir_folder,
    read_beir_qrels,
    read_pairs_parquet,
    select_rows_by_id,
    write_jsonl_collection,
    write_pairs_parquet,
    write_testset,
)

# --- sentence-transformers/msmarco fixtures (subsets corpus, queries, triplets; string ids)

CORPUS = {"passage_id": [str(i) for i in range(10)], "passage": [f"passage {i}" for i in range(10)]}
QUERIES = {"query_id": ["100", "101", "102", "103"], "query": ["q100", "q101", "q102", "q103"]}
TRIPLETS = {
    "query_id": ["100", "101", "102", "103"],
    "positive_id": ["0", "1", "2", "3"],
    "negative_id": ["5", "6", "7", "8"],
}


def _write_parquet(columns: dict, path) -> None:
    pq.write_table(pa.table({k: pa.array(v, type=pa.string()) for k, v in columns.items()}), path)


@pytest.fixture
def msmarco_tables(tmp_path):
    """The three subsets as hub-like Parquet files, read back through `datasets` as the download does."""
    frames = []
    for name, columns in (("corpus", CORPUS), ("queries", QUERIES), ("triplets", TRIPLETS)):
        path = tmp_path / f"{name}-train-00000-of-00001.parquet"
        _write_parquet(columns, path)
        ds = datasets.load_dataset("parquet", data_files={"train": str(path)}, split="train",
                                   cache_dir=str(tmp_path / "hf-cache"))
        frames.append(ds.to_pandas())
    return tuple(frames)


def test_pairs_come_from_first_triplets_with_labels(msmarco_tables):
    corpus, queries, triplets = msmarco_tables
    train, heldout = build_training_pairs(corpus, queries, triplets, n_pairs=6, n_heldout=0, seed=12)
    assert heldout.empty and len(train) == 6
    got = sorted(zip(train["query"], train["passage"], train["label"]))
    assert got == sorted(
        [("q100", "passage 0", 1.0), ("q100", "passage 5", 0.0),
         ("q101", "passage 1", 1.0), ("q101", "passage 6", 0.0),
         ("q102", "passage 2", 1.0), ("q102", "passage 7", 0.0)]
    )  # the 4th triplet (query 103) is not used: only the first pairs/2 triplets
    assert train["label"].dtype == np.float32


def test_heldout_split_is_disjoint_seeded_and_complete(msmarco_tables):
    corpus, queries, triplets = msmarco_tables
    train, heldout = build_training_pairs(corpus, queries, triplets, n_pairs=8, n_heldout=3, seed=12)
    assert (len(train), len(heldout)) == (5, 3)
    rows = lambda df: list(zip(df["query"], df["passage"], df["label"]))  # noqa: E731
    assert len(set(rows(train)) | set(rows(heldout))) == 8  # every pair exactly once
    again_train, again_heldout = build_training_pairs(corpus, queries, triplets, 8, 3, seed=12)
    pd.testing.assert_frame_equal(train, again_train)
    pd.testing.assert_frame_equal(heldout, again_heldout)
    orders = {tuple(rows(build_training_pairs(corpus, queries, triplets, 8, 3, seed=s)[0])) for s in range(5)}
    assert len(orders) > 1  # the seed changes the shuffle


@pytest.mark.parametrize(
    "n_pairs, n_heldout, message",
    [(5, 1, "even"), (0, 0, "even"), (10, 1, "need 5 triplets"), (4, 4, "heldout"), (4, -1, "heldout")],
)
def test_pair_counts_are_checked(msmarco_tables, n_pairs, n_heldout, message):
    corpus, queries, triplets = msmarco_tables
    with pytest.raises(DataError, match=message):
        build_training_pairs(corpus, queries, triplets, n_pairs, n_heldout, seed=0)


def test_missing_ids_are_named(msmarco_tables):
    corpus, queries, triplets = msmarco_tables
    broken = triplets.copy()
    broken.loc[1, "negative_id"] = "999"
    with pytest.raises(DataError, match=r"triplets row 1: negative_id '999' has no text in the corpus"):
        build_training_pairs(corpus, queries, broken, 4, 1, seed=0)
    broken = triplets.copy()
    broken.loc[0, "query_id"] = "42"
    with pytest.raises(DataError, match=r"row 0: query_id '42' has no text in the queries"):
        build_training_pairs(corpus, queries, broken, 4, 1, seed=0)


def test_duplicate_ids_and_missing_columns_are_errors(msmarco_tables):
    corpus, queries, triplets = msmarco_tables
    doubled = pd.concat([corpus, corpus.head(1)], ignore_index=True)
    with pytest.raises(DataError, match=r"corpus table: id '0' occurs more than once"):
        build_training_pairs(doubled, queries, triplets, 4, 1, seed=0)
    with pytest.raises(DataError, match=r"triplets table lacks column\(s\) \['negative_id'\]"):
        build_training_pairs(corpus, queries, triplets.drop(columns="negative_id"), 4, 1, seed=0)


def test_integer_ids_match_string_ids(msmarco_tables):
    corpus, queries, triplets = msmarco_tables
    as_int = triplets.astype(int)  # ids read as numbers somewhere upstream still map
    train, _ = build_training_pairs(corpus, queries, as_int, 2, 0, seed=0)
    assert set(train["passage"]) == {"passage 0", "passage 5"}


def test_select_rows_keeps_only_needed_ids(tmp_path, msmarco_tables):
    _, _, triplets = msmarco_tables
    query_ids, passage_ids = needed_ids(triplets.head(2))
    assert (query_ids, passage_ids) == ({"100", "101"}, {"0", "1", "5", "6"})
    path = tmp_path / "corpus.parquet"
    _write_parquet(CORPUS, path)
    ds = datasets.load_dataset("parquet", data_files={"train": str(path)}, split="train",
                               cache_dir=str(tmp_path / "hf-cache"))
    selected = select_rows_by_id(ds.with_format("arrow")[:], "passage_id", passage_ids)
    assert sorted(selected["passage_id"]) == ["0", "1", "5", "6"]
    with pytest.raises(DataError, match="lacks column 'pid'"):
        select_rows_by_id(ds.with_format("arrow")[:], "pid", passage_ids)


def test_pairs_parquet_round_trip_and_schema_check(tmp_path, msmarco_tables):
    train, _ = build_training_pairs(*msmarco_tables, n_pairs=4, n_heldout=1, seed=1)
    path = tmp_path / "data" / "train.parquet"
    write_pairs_parquet(train, path)
    schema = pq.read_schema(path)
    assert [(f.name, str(f.type)) for f in schema] == [("query", "string"), ("passage", "string"), ("label", "float")]
    pd.testing.assert_frame_equal(read_pairs_parquet(path), train)
    wrong = tmp_path / "wrong.parquet"
    pq.write_table(pa.table({"query": ["q"], "passage": ["p"], "label": pa.array([1.0], pa.float64())}), wrong)
    with pytest.raises(DataError, match="wrong.parquet: expected columns"):
        read_pairs_parquet(wrong)


# --- microsoft/ms_marco v1.1 validation fixtures


def _v11_record(qid: int, query: str, selected: list[int]) -> dict:
    return {
        "answers": ["an answer"],
        "passages": {
            "is_selected": selected,
            "passage_text": [f"text {qid}-{i}" for i in range(len(selected))],
            "url": [f"http://example.org/{qid}/{i}" for i in range(len(selected))],
        },
        "query": query,
        "query_id": qid,
        "query_type": "DESCRIPTION",
        "wellFormedAnswers": [],
    }


V11_SCHEMA = pa.schema([
    ("answers", pa.list_(pa.string())),
    ("passages", pa.struct([("is_selected", pa.list_(pa.int32())), ("passage_text", pa.list_(pa.string())),
                            ("url", pa.list_(pa.string()))])),
    ("query", pa.string()),
    ("query_id", pa.int32()),
    ("query_type", pa.string()),
    ("wellFormedAnswers", pa.list_(pa.string())),
])


@pytest.fixture
def v11_dataset(tmp_path):
    """Three queries in the hub's Parquet schema, loaded through `datasets` like the download."""
    records = [_v11_record(19699, "what is rba", [0, 1, 0]),
               _v11_record(19700, "was ronald reagan a democrat", [0, 0]),
               _v11_record(19701, "how long to hold bow", [1, 1, 0, 0])]
    path = tmp_path / "validation-00000-of-00001.parquet"
    pq.write_table(pa.Table.from_pylist(records, schema=V11_SCHEMA), path)
    return datasets.load_dataset("parquet", data_files={"validation": str(path)}, split="validation",
                                 cache_dir=str(tmp_path / "hf-cache"))


def test_v11_topics_qrels_candidates(v11_dataset, tmp_path):
    testset = build_v11_testset(v11_dataset)
    assert testset.topics == [("19699", "what is rba"), ("19700", "was ronald reagan a democrat"),
                              ("19701", "how long to hold bow")]
    relevant = [q for q in testset.qrels if q[2] == 1]
    assert relevant == [("19699", "19699-1", 1), ("19701", "19701-0", 1), ("19701", "19701-1", 1)]
    assert len(testset.qrels) == 9  # every given passage is judged, 0 where not selected
    assert ("19700", "19700-0", 0) in testset.qrels
    assert testset.no_relevant == ["19700"]  # counted as 0 by the evaluation
    cands = testset.candidates
    assert list(cands.columns) == CANDIDATES_SCHEMA.names and len(cands) == 9
    first = cands[cands["qid"] == "19699"]
    assert list(first["docid"]) == ["19699-0", "19699-1", "19699-2"]
    assert list(first["rank"]) == [1, 2, 3]
    assert list(first["score"]) == [3.0, 2.0, 1.0]  # strictly decreasing: the given order is kept
    assert list(first["passage"]) == ["text 19699-0", "text 19699-1", "text 19699-2"]
    assert set(first["query"]) == {"what is rba"}

    out = tmp_path / "testsets" / "msmarco-dev-v11"
    write_testset(testset, out / "topics.tsv", out / "qrels.txt", out / "candidates.parquet", out / "no_relevant.txt")
    assert (out / "topics.tsv").read_text().splitlines()[0] == "19699\twhat is rba"
    assert (out / "qrels.txt").read_text().splitlines()[:3] == ["19699 0 19699-0 0", "19699 0 19699-1 1",
                                                               "19699 0 19699-2 0"]
    assert (out / "no_relevant.txt").read_text() == "19700\n"
    table = pq.read_table(out / "candidates.parquet")
    assert table.schema.equals(CANDIDATES_SCHEMA)


def test_v11_accepts_list_of_passage_dicts():
    record = _v11_record(7, "q", [1, 0])
    p = record["passages"]
    record["passages"] = [dict(zip(p, values)) for values in zip(*p.values())]
    testset = build_v11_testset([record])
    assert testset.qrels == [("7", "7-0", 1), ("7", "7-1", 0)] and len(testset.candidates) == 2


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda r: r.pop("passages"), r"record 0: missing field 'passages'"),
        (lambda r: r["passages"]["is_selected"].append(0), r"query_id 5\): 3 is_selected values for 2 passage texts"),
        (lambda r: r["passages"].update(is_selected=[2, 0]), r"passage 0 has is_selected=2"),
        (lambda r: r["passages"].pop("passage_text"), r"passages lacks field 'passage_text'"),
        (lambda r: r.update(query="  "), r"query text is empty"),
        (lambda r: r.update(passages="oops"), r"passages must be a dict of lists"),
    ],
)
def test_v11_malformed_records(mutate, message):
    record = _v11_record(5, "query", [0, 1])
    mutate(record)
    with pytest.raises(DataError, match=message):
        build_v11_testset([record])


def test_v11_duplicate_query_ids():
    with pytest.raises(DataError, match=r"record 1 \(query_id 5\): query_id occurs more than once"):
        build_v11_testset([_v11_record(5, "a", [1]), _v11_record(5, "b", [0])])


# --- candidates from a first-stage run


def test_build_candidates_from_run():
    run = [("1", "d2", 1, 9.5), ("1", "d1", 2, 7.0), ("2", "d1", 1, 3.25)]
    cands = build_candidates(run, [("1", "first"), ("2", "second")], {"d1": "one", "d2": "two"})
    assert cands.to_dict("list") == {
        "qid": ["1", "1", "2"], "docid": ["d2", "d1", "d1"], "rank": [1, 2, 1],
        "score": [9.5, 7.0, 3.25], "query": ["first", "first", "second"], "passage": ["two", "one", "one"],
    }
    with pytest.raises(DataError, match="run query '3' is not among the topics"):
        build_candidates([("3", "d1", 1, 1.0)], [("1", "x")], {"d1": "one"})
    with pytest.raises(DataError, match=r"run document 'd9' \(query '1'\) has no passage text"):
        build_candidates([("1", "d9", 1, 1.0)], [("1", "x")], {"d1": "one"})
    with pytest.raises(DataError, match="twice"):
        build_candidates([("1", "d1", 1, 2.0), ("1", "d1", 2, 1.0)], [("1", "x")], {"d1": "one"})


# --- BEIR-format folders


def _write_beir(folder, corpus, queries, qrels_text, split="test"):
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus))
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (folder / "qrels" / f"{split}.tsv").write_bytes(qrels_text.encode())
    return folder


BEIR_CORPUS = [
    {"_id": "d1", "title": "Title one", "text": "Body one.", "metadata": {}},
    {"_id": "d2", "title": "", "text": "Body two.", "metadata": {}},
    {"_id": "d3", "title": "Three", "text": "Body three.", "metadata": {}},
]
BEIR_QUERIES = [{"_id": "q1", "text": "first query", "metadata": {}},
                {"_id": "q2", "text": "second query", "metadata": {}},
                {"_id": "q9", "text": "a train query", "metadata": {}}]
BEIR_QRELS_CRLF = "query-id\tcorpus-id\tscore\r\nq2\td3\t1\r\nq1\td1\t1\r\nq2\td2\t2\r\n"


def test_beir_folder_reader(tmp_path):
    folder = _write_beir(tmp_path / "beir", BEIR_CORPUS, BEIR_QUERIES, BEIR_QRELS_CRLF)
    beir = read_beir_folder(folder, "test")
    assert beir.corpus == [{"id": "d1", "contents": "Title one Body one."},
                           {"id": "d2", "contents": " Body two."},
                           {"id": "d3", "contents": "Three Body three."}]
    assert beir.topics == [("q2", "second query"), ("q1", "first query")]  # only judged queries; q9 left out
    assert beir.qrels == [("q2", "d3", 1), ("q1", "d1", 1), ("q2", "d2", 2)]
    n = write_jsonl_collection(beir.corpus, tmp_path / "collection" / "docs.jsonl")
    lines = (tmp_path / "collection" / "docs.jsonl").read_text().splitlines()
    assert n == 3 and json.loads(lines[0]) == {"id": "d1", "contents": "Title one Body one."}


def test_beir_lf_qrels_and_blank_lines(tmp_path):
    folder = _write_beir(tmp_path / "beir", BEIR_CORPUS, BEIR_QUERIES, BEIR_QRELS_CRLF.replace("\r\n", "\n") + "\n")
    assert read_beir_folder(folder).qrels == [("q2", "d3", 1), ("q1", "d1", 1), ("q2", "d2", 2)]


@pytest.mark.parametrize(
    "corpus_line, message",
    [
        ('{"_id": "d4", "title": "t", "text": "x"', r"corpus.jsonl:4: not valid JSON"),
        ('["d4", "x"]', r"corpus.jsonl:4: expected a JSON object"),
        ('{"_id": "d4", "title": "t"}', r"corpus.jsonl:4: field 'text' must be a string"),
        ('{"_id": "d1", "title": "t", "text": "x"}', r"corpus.jsonl:4: _id 'd1' occurs more than once"),
        ('{"_id": "d 4", "title": "t", "text": "x"}', r"corpus.jsonl:4: _id 'd 4' is empty or contains whitespace"),
    ],
)
def test_beir_malformed_corpus_lines_name_file_and_line(tmp_path, corpus_line, message):
    folder = _write_beir(tmp_path / "beir", BEIR_CORPUS, BEIR_QUERIES, BEIR_QRELS_CRLF)
    with open(folder / "corpus.jsonl", "a") as handle:
        handle.write(corpus_line + "\n")
    with pytest.raises(DataError, match=message):
        read_beir_folder(folder)


@pytest.mark.parametrize(
    "qrels_text, message",
    [
        ("q1\td1\t1\n", r"test.tsv:1: expected header"),
        ("query-id\tcorpus-id\tscore\nq1\td1\n", r"test.tsv:2: expected 3 tab-separated fields, got 2"),
        ("query-id\tcorpus-id\tscore\r\nq1\td1\thigh\r\n", r"test.tsv:2: score 'high' is not an integer"),
        ("query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td1\t1\n", r"test.tsv:3: pair \(q1, d1\) occurs more than once"),
        ("query-id\tcorpus-id\tscore\nq7\td1\t1\n", r"test.tsv: query 'q7' is not in queries.jsonl"),
        ("query-id\tcorpus-id\tscore\nq1\td7\t1\n", r"test.tsv: document 'd7' \(query 'q1'\) is not in corpus.jsonl"),
    ],
)
def test_beir_malformed_qrels_name_file_and_line(tmp_path, qrels_text, message):
    folder = _write_beir(tmp_path / "beir", BEIR_CORPUS, BEIR_QUERIES, qrels_text)
    with pytest.raises(DataError, match=message):
        read_beir_folder(folder)


def test_beir_missing_files_and_bad_queries(tmp_path):
    folder = _write_beir(tmp_path / "beir", BEIR_CORPUS, BEIR_QUERIES, BEIR_QRELS_CRLF)
    with pytest.raises(DataError, match=r"missing qrels/dev.tsv"):
        read_beir_folder(folder, "dev")
    (folder / "queries.jsonl").write_text('{"_id": "q1", "text": "a"}\n{"_id": "q2"}\n')
    with pytest.raises(DataError, match=r"queries.jsonl:2: field 'text' must be a string"):
        read_beir_folder(folder)


def test_beir_qrels_reader_alone(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_bytes(b"query-id\tcorpus-id\tscore\r\n0\t31715818\t1\r\n")
    assert read_beir_qrels(path) == [("0", "31715818", 1)]


def test_v11_query_without_selected_passage_scores_zero(v11_dataset):
    """The researcher's protocol: MRR@10 averages over all queries, 0 where nothing is selected."""
    from crossopt.evaluate import evaluate_run

    testset = build_v11_testset(v11_dataset)
    qrels, run = {}, {}
    for qid, docid, grade in testset.qrels:
        qrels.setdefault(qid, {})[docid] = grade
    for row in testset.candidates.itertuples():
        run.setdefault(row.qid, {})[row.docid] = row.score
    report = evaluate_run(run, qrels, relevance_level=1)
    assert report["n_queries"] == 3 and report["n_queries_with_relevant"] == 2
    assert report["per_query"]["19700"]["recip_rank_10"] == 0.0
    # given order: 19699 selected at rank 2 (RR 1/2), 19701 at rank 1 (RR 1)
    assert report["aggregate"]["recip_rank_10"] == (0.5 + 0.0 + 1.0) / 3
