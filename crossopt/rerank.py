"""Rerank first-stage candidates with a trained cross-encoder and write a TREC run.

Candidates come as a table (qid, docid, rank, score, query, passage) that the
candidate stage wrote once per test set, so reranking needs no index or corpus.
Scores are the model's raw logits: a sigmoid would squash high scores into ties.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from .trec import write_run

CANDIDATE_COLUMNS = ["qid", "docid", "rank", "score", "query", "passage"]


def read_candidates(path: str | Path) -> pd.DataFrame:
    """Read a candidates table and check it has the columns and no duplicate (qid, docid)."""
    frame = pd.read_parquet(path)
    missing = [c for c in CANDIDATE_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: candidates table lacks columns {missing}")
    duplicated = frame.duplicated(["qid", "docid"])
    if duplicated.any():
        row = frame[duplicated].iloc[0]
        raise ValueError(f"{path}: document {row.docid!r} appears twice for query {row.qid!r}")
    return frame


def score_pairs(model, queries: list[str], passages: list[str], batch_size: int) -> list[float]:
    """Raw relevance logits for (query, passage) pairs, in input order."""
    if not queries:
        return []
    scores = model.predict(
        list(zip(queries, passages)),
        batch_size=batch_size,
        activation_fn=torch.nn.Identity(),
        show_progress_bar=False,
        convert_to_numpy=True,
    )
    return [float(s) for s in scores.reshape(-1)]


def rerank(model, candidates: pd.DataFrame, batch_size: int) -> dict[str, dict[str, float]]:
    """{qid: {docid: score}} for every candidate."""
    scores = score_pairs(model, candidates["query"].tolist(), candidates["passage"].tolist(), batch_size)
    run: dict[str, dict[str, float]] = {}
    for qid, docid, score in zip(candidates["qid"], candidates["docid"], scores):
        run.setdefault(str(qid), {})[str(docid)] = score
    return run


def rerank_to_file(model_dir: str | Path, candidates_path: str | Path, output: str | Path,
                   batch_size: int, max_length: int, tag: str) -> int:
    """Load a checkpoint, rerank a test set's candidates, write the run; returns the pair count."""
    from sentence_transformers.cross_encoder import CrossEncoder

    torch.manual_seed(0)
    model = CrossEncoder(str(model_dir), max_length=max_length, local_files_only=True)
    model.eval()
    candidates = read_candidates(candidates_path)
    with torch.inference_mode():
        run = rerank(model, candidates, batch_size)
    write_run(output, run, tag)
    return len(candidates)
