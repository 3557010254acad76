"""Training pairs from a BEIR train split with BM25 hard negatives.

For BEIR SciFact the study trains on the train qrels (809 queries, 919 judged
abstracts). The train queries are split once, by query, into a training part and
a held-out slice (`split_queries`); every choice of the recipe (learning rates,
steps, epochs) is made on the held-out slice, and the test queries are touched
only by the final evaluation.

* training pairs: each judged (query, abstract) gives a positive pair, and
  `negatives` abstracts drawn from the query's BM25 top `negative_depth` that are
  not judged relevant give negative pairs (hard negatives, from the workflow's
  own Lucene index of the corpus);
* held-out pairs: for each held-out query, its judged abstracts (label 1) and its
  BM25 top `heldout_depth` non-relevant abstracts (label 0), so the per-epoch
  evaluator reranks BM25 candidates as the test evaluation does;
* a held-out test set (topics, qrels, BM25 candidates at the reranking depth) for
  the recipe search, in the formats of every other test set.

Pure functions on in-memory tables; the rule script reads and writes the files.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .data import DataError, build_candidates
from .trec import Qrel, RunEntry


def split_queries(qids: Sequence[str], n_heldout: int, seed: int) -> tuple[list[str], list[str]]:
    """(training qids, held-out qids): a seeded permutation of the sorted qids, first `n_heldout` held out."""
    unique = sorted(set(qids), key=_natural)
    if not 0 < n_heldout < len(unique):
        raise DataError(f"heldout_queries must be in (0, {len(unique)}), got {n_heldout}")
    order = np.random.default_rng(seed).permutation(len(unique))
    shuffled = [unique[i] for i in order]
    held = sorted(shuffled[:n_heldout], key=_natural)
    train = sorted(shuffled[n_heldout:], key=_natural)
    return train, held


def _natural(qid: str):
    return (0, int(qid), "") if qid.isdigit() else (1, 0, qid)


def _ranked(run: Iterable[RunEntry]) -> dict[str, list[str]]:
    by_query: dict[str, list[tuple[int, str]]] = {}
    for entry in run:
        by_query.setdefault(str(entry.qid), []).append((int(entry.rank), str(entry.docid)))
    return {qid: [docid for _, docid in sorted(rows)] for qid, rows in by_query.items()}


def _relevant(qrels: Iterable[Qrel]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for q in qrels:
        if int(q.grade) > 0:
            out.setdefault(str(q.qid), []).append(str(q.docid))
    return out


def _text(passages: Mapping[str, str], docid: str, qid: str) -> str:
    try:
        return passages[docid]
    except KeyError:
        raise DataError(f"document {docid!r} (query {qid!r}) has no text in the collection") from None


def build_hard_negative_pairs(
    qrels: Iterable[Qrel],
    topics: Mapping[str, str],
    run: Iterable[RunEntry],
    passages: Mapping[str, str],
    qids: Sequence[str],
    negatives: int,
    negative_depth: int,
    seed: int,
) -> pd.DataFrame:
    """Positive pairs of `qids` and `negatives` BM25 hard negatives per positive, shuffled with `seed`.

    Negatives of a query are drawn without replacement from its BM25 top
    `negative_depth` minus its judged abstracts (fewer if the list runs out); a
    query with several positives gets `negatives` per positive.
    """
    if negatives < 0 or negative_depth < 1:
        raise DataError(f"negatives must be >= 0 and negative_depth >= 1, got {negatives}, {negative_depth}")
    relevant, ranked = _relevant(qrels), _ranked(run)
    rng = np.random.default_rng(seed)
    rows: list[tuple[str, str, float]] = []
    for qid in qids:
        if qid not in topics:
            raise DataError(f"query {qid!r} has no text among the topics")
        positives = relevant.get(qid, [])
        if not positives:
            continue
        query = topics[qid]
        pool = [d for d in ranked.get(qid, [])[:negative_depth] if d not in set(positives)]
        wanted = min(len(pool), negatives * len(positives))
        chosen = [pool[i] for i in sorted(rng.choice(len(pool), size=wanted, replace=False))] if wanted else []
        rows += [(query, _text(passages, d, qid), 1.0) for d in positives]
        rows += [(query, _text(passages, d, qid), 0.0) for d in chosen]
    if not rows:
        raise DataError("no training pairs: none of the training queries has a judged abstract")
    frame = pd.DataFrame(rows, columns=["query", "passage", "label"])
    frame["label"] = frame["label"].astype(np.float32)
    order = np.random.default_rng(seed + 1).permutation(len(frame))
    return frame.iloc[order].reset_index(drop=True)


def build_heldout_pairs(
    qrels: Iterable[Qrel],
    topics: Mapping[str, str],
    run: Iterable[RunEntry],
    passages: Mapping[str, str],
    qids: Sequence[str],
    depth: int,
) -> pd.DataFrame:
    """Judged abstracts (label 1) and BM25 top-`depth` non-relevant abstracts (label 0) of `qids`."""
    relevant, ranked = _relevant(qrels), _ranked(run)
    rows: list[tuple[str, str, float]] = []
    for qid in qids:
        positives = relevant.get(qid, [])
        if not positives:
            continue
        query = topics[qid]
        rows += [(query, _text(passages, d, qid), 1.0) for d in positives]
        rows += [(query, _text(passages, d, qid), 0.0) for d in ranked.get(qid, [])[:depth] if d not in positives]
    frame = pd.DataFrame(rows, columns=["query", "passage", "label"])
    frame["label"] = frame["label"].astype(np.float32)
    return frame


def heldout_testset(
    qrels: Iterable[Qrel],
    topics: Mapping[str, str],
    run: Iterable[RunEntry],
    passages: Mapping[str, str],
    qids: Sequence[str],
    depth: int,
) -> tuple[dict[str, str], list[Qrel], pd.DataFrame]:
    """(topics, qrels, candidates at `depth`) of the held-out queries, as a reranking test set."""
    keep = set(qids)
    held_topics = {qid: topics[qid] for qid in qids}
    held_qrels = [q for q in qrels if str(q.qid) in keep]
    rows = [(e.qid, e.docid, e.rank, e.score) for e in run if e.qid in keep and e.rank <= depth]
    return held_topics, held_qrels, build_candidates(rows, held_topics.items(), passages)


def build_beir_training_files(
    qrels: Sequence[Qrel],
    topics: Mapping[str, str],
    run: Sequence[RunEntry],
    passages: Mapping[str, str],
    data: Mapping,
    candidate_depth: int,
) -> dict:
    """Everything the beir training-pairs rule writes, from one `data` config section.

    The held-out pairs (the trainer's per-epoch evaluator and eval loss) use
    `data["heldout_depth"]` BM25 negatives per query; the held-out test set (the
    recipe search) has `candidate_depth` candidates per query, the test set's
    reranking depth. Returns {"train", "heldout" (pairs), "heldout_testset"
    (topics, qrels, candidates), "summary"} so the caller only writes files.
    """
    judged = sorted({str(q.qid) for q in qrels if int(q.grade) > 0}, key=_natural)
    train_qids, held_qids = split_queries(judged, data["heldout_queries"], data["shuffle_seed"])
    train = build_hard_negative_pairs(qrels, topics, run, passages, train_qids, data["negatives"],
                                      data["negative_depth"], data["shuffle_seed"])
    heldout = build_heldout_pairs(qrels, topics, run, passages, held_qids, data["heldout_depth"])
    testset = heldout_testset(qrels, topics, run, passages, held_qids, candidate_depth)
    summary = {
        "training_queries": len(train_qids),
        "heldout_queries": len(held_qids),
        "training_pairs": len(train),
        "training_positives": int((train["label"] > 0.5).sum()),
        "heldout_pairs": len(heldout),
        "heldout_candidates": len(testset[2]),
        "negatives_per_positive": data["negatives"],
        "negative_depth": data["negative_depth"],
        "heldout_depth": data["heldout_depth"],
        "candidate_depth": candidate_depth,
        "heldout_qids": held_qids,
    }
    return {"train": train, "heldout": heldout, "heldout_testset": testset, "summary": summary}
