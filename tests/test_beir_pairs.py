"""Training pairs from a BEIR train split with BM25 hard negatives, and the held-out slice."""

import pytest

from crossopt.beir_pairs import (
    build_beir_training_files,
    build_hard_negative_pairs,
    build_heldout_pairs,
    split_queries,
)
from crossopt.data import DataError
from crossopt.trec import Qrel, RunEntry

TOPICS = {str(q): f"claim {q}" for q in range(1, 11)}
PASSAGES = {f"d{i}": f"abstract {i}" for i in range(40)}
# Query q has relevant d{q} (and q=1 also d20); BM25 ranks d{q} third behind two others.
QRELS = [Qrel(str(q), f"d{q}", 1) for q in range(1, 11)] + [Qrel("1", "d20", 1)]


def bm25_run():
    run = []
    for q in range(1, 11):
        ranked = [f"d{(q + 10) % 40}", f"d{(q + 11) % 40}", f"d{q}"] + [f"d{(q + k) % 40}" for k in range(12, 20)]
        run += [RunEntry(str(q), d, r, 10.0 - r, "bm25") for r, d in enumerate(ranked, start=1)]
    return run


def test_split_is_by_query_seeded_and_disjoint():
    qids = [str(q) for q in range(1, 11)]
    train, held = split_queries(qids, 3, seed=12)
    assert len(held) == 3 and len(train) == 7 and not set(train) & set(held)
    assert sorted(train + held, key=int) == qids
    assert split_queries(qids, 3, seed=12) == (train, held)
    assert split_queries(qids, 3, seed=13) != (train, held)
    with pytest.raises(DataError, match="heldout_queries"):
        split_queries(qids, 10, seed=12)


def test_hard_negatives_come_from_bm25_and_exclude_judged_abstracts():
    pairs = build_hard_negative_pairs(QRELS, TOPICS, bm25_run(), PASSAGES, ["1", "2"], negatives=2,
                                      negative_depth=4, seed=12)
    positives = pairs[pairs.label == 1.0]
    negatives = pairs[pairs.label == 0.0]
    assert sorted(positives.passage) == ["abstract 1", "abstract 2", "abstract 20"]
    # two per positive: query 1 has two positives but only 3 unjudged abstracts in its top 4
    assert (negatives["query"] == "claim 1").sum() == 3 and (negatives["query"] == "claim 2").sum() == 2
    top4 = {q: {f"abstract {(int(q) + k) % 40}" for k in (10, 11, 12)} for q in ("1", "2")}
    for query, passage in zip(negatives["query"], negatives["passage"]):
        assert passage in top4[query.split()[1]]
    again = build_hard_negative_pairs(QRELS, TOPICS, bm25_run(), PASSAGES, ["1", "2"], 2, 4, seed=12)
    assert again.equals(pairs)
    assert str(pairs["label"].dtype) == "float32"


def test_heldout_pairs_and_candidates_are_the_bm25_lists():
    held = build_heldout_pairs(QRELS, TOPICS, bm25_run(), PASSAGES, ["3"], depth=5)
    assert list(held.label) == [1.0, 0.0, 0.0, 0.0, 0.0]
    data = {"heldout_queries": 2, "shuffle_seed": 12, "negatives": 1, "negative_depth": 5, "heldout_depth": 3}
    built = build_beir_training_files(QRELS, TOPICS, bm25_run(), PASSAGES, data, candidate_depth=6)
    summary = built["summary"]
    topics, qrels, candidates = built["heldout_testset"]
    assert sorted(topics) == sorted(summary["heldout_qids"]) and len(topics) == 2
    assert set(candidates.qid) == set(topics) and len(candidates) == 12 and candidates["rank"].max() == 6
    assert {q.qid for q in qrels} == set(topics)
    held_queries = {TOPICS[q] for q in topics}
    assert not held_queries & set(built["train"]["query"])  # the slice never trains
    assert set(built["heldout"]["query"]) == held_queries
    assert summary["training_queries"] == 8 and summary["training_pairs"] == len(built["train"])


def test_unknown_document_is_named():
    run = bm25_run() + [RunEntry("1", "nowhere", 99, -1.0, "bm25")]
    with pytest.raises(DataError, match="'nowhere'"):
        build_hard_negative_pairs(QRELS, TOPICS, run, PASSAGES, ["1"], negatives=50, negative_depth=100, seed=1)
