import json

import pandas as pd
import pytest

from crossopt.beir import prepare_beir
from crossopt.smoke import generate, make_testset, make_world
from crossopt.trec import read_qrels, read_topics

SETTINGS = {"seed": 3, "concepts": 20, "train_queries": 30, "test_queries": 5, "distractors": 3, "background": 10}


def test_generation_is_deterministic(tmp_path):
    for name in ("a", "b"):
        generate(SETTINGS, tmp_path / name / "train", {"dl": (tmp_path / name / "dl", True)})
    for rel in ("train/corpus.parquet", "train/triplets.parquet", "dl/corpus.jsonl", "dl/qrels/test.tsv"):
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()


def test_training_tables_have_the_hub_schema(tmp_path):
    generate(SETTINGS, tmp_path, {})
    corpus = pd.read_parquet(tmp_path / "corpus.parquet")
    queries = pd.read_parquet(tmp_path / "queries.parquet")
    triplets = pd.read_parquet(tmp_path / "triplets.parquet")
    assert list(corpus.columns) == ["passage_id", "passage"]
    assert list(queries.columns) == ["query_id", "query"]
    assert list(triplets.columns) == ["query_id", "positive_id", "negative_id"]
    assert len(triplets) == 30 and corpus["passage_id"].map(type).eq(str).all()
    assert set(triplets["positive_id"]) <= set(corpus["passage_id"])


def test_testset_grades_and_vocabulary_mismatch():
    world = make_world(1, 20)
    corpus, topics, qrels = make_testset(world, 5, n_queries=5, distractors=3, background=10, graded=True)
    assert {g for _, _, g in qrels} == {0, 1, 2, 3}
    texts = {d["_id"]: d["text"] for d in corpus}
    # Some grade-3 passages do not contain the query's concept word: BM25 cannot find those by that word.
    concept_words = {q: topics[q].split()[-1] for q in topics}
    misses = [d for q, d, g in qrels if g == 3 and concept_words[q] not in texts[d].split()]
    hits = [d for q, d, g in qrels if g == 3 and concept_words[q] in texts[d].split()]
    assert misses and hits
    binary = make_testset(world, 5, n_queries=5, distractors=3, background=10, graded=False)[2]
    assert {g for _, _, g in binary} == {0, 1}


def test_too_many_test_queries_is_a_clear_error():
    with pytest.raises(ValueError, match="concepts >= 2"):
        make_testset(make_world(1, 10), 5, n_queries=10, distractors=1, background=1, graded=True)


def test_prepare_beir_writes_collection_topics_qrels(tmp_path):
    generate(SETTINGS, tmp_path / "train", {"dl": (tmp_path / "dl", True)})
    counts = prepare_beir(tmp_path / "dl", "test", tmp_path / "c/docs.jsonl", tmp_path / "t.tsv", tmp_path / "q.txt")
    assert counts["queries"] == 5
    first = json.loads((tmp_path / "c/docs.jsonl").read_text().splitlines()[0])
    assert set(first) == {"id", "contents"}
    assert len(read_topics(tmp_path / "t.tsv")) == 5
    assert len(read_qrels(tmp_path / "q.txt")) == counts["qrels"]
