"""Rerank first-stage candidates with a trained cross-encoder and write a TREC run.

Candidates come as a table (qid, docid, rank, score, query, passage) that the
candidate stage wrote once per test set, so reranking needs no index or corpus.
Scores are the model's raw logits: a sigmoid would squash high scores into ties.

Two scoring paths, chosen by `RerankOptions.mode`:

optimized (default)
    Pairs are tokenized a chunk at a time in one call (no padding), sorted by
    token length so each batch pads only to its own longest pair, and scored under
    `torch.inference_mode`, with half-precision autocast on a GPU (fp32 on the CPU
    unless configured). On a GPU a background thread tokenizes and pads the next
    chunk while the device runs the current one. Scores are written back in input
    order.
naive
    The plain loop the optimized path is measured against: fixed batches in input
    order, tokenized and padded per batch, fp32.

Both paths are deterministic: the batches depend only on the inputs (a stable sort
with ties in input order), so the same inputs give the same run file on the same
machine. They differ from each other only by floating-point noise (padding changes
matrix shapes; half precision rounds), which the tests bound on the evaluation
measures.
"""

from __future__ import annotations

import itertools
import queue
import threading
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Iterator, Mapping

import numpy as np
import pandas as pd
import torch

from .trec import write_run

CANDIDATE_COLUMNS = ["qid", "docid", "rank", "score", "query", "passage"]
RERANK_MODES = ("optimized", "naive")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
# Inputs the scoring loops hand to the model; tokenizers without token types omit them.
_MODEL_INPUTS = ("input_ids", "token_type_ids", "attention_mask")


@dataclass(frozen=True)
class RerankOptions:
    """How pairs are scored (the `rerank` config section's scoring keys).

    mode            optimized | naive (naive ignores the keys below: fp32, input order)
    precision       auto (fp16 autocast on CUDA, fp32 elsewhere) | fp32 | bf16 | fp16;
                    under autocast the scoring head stays float32. fp16 runs at
                    bf16's tensor-core speed with 3 more mantissa bits: on the
                    smoke checkpoints bf16 moved an evaluation measure by more
                    than 0.002 in 10 of 24 cases, fp16 in 2, fp32 in none
                    (docs/performance.md)
    sort_by_length  batch pairs of similar token length (optimized mode)
    prefetch        tokenize and pad the next chunk in a background thread: auto
                    (on a GPU only: on the CPU the thread competes with the
                    model's own threads for the same cores), true or false
    chunk_size      pairs tokenized and length-sorted together; bounds memory on
                    millions of pairs and sets how soon the first batch is ready
    """

    mode: str = "optimized"
    precision: str = "auto"
    sort_by_length: bool = True
    prefetch: bool | str = "auto"
    chunk_size: int = 16384

    def __post_init__(self):
        if self.mode not in RERANK_MODES:
            raise ValueError(f"rerank mode must be one of {', '.join(RERANK_MODES)}, got {self.mode!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"rerank precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.prefetch not in ("auto", True, False):
            raise ValueError(f"rerank prefetch must be auto, true or false, got {self.prefetch!r}")
        if not isinstance(self.chunk_size, int) or self.chunk_size < 1:
            raise ValueError(f"rerank chunk_size must be a positive integer, got {self.chunk_size!r}")

    @classmethod
    def from_config(cls, section: Mapping | None) -> "RerankOptions":
        """Options from a `rerank` config section; keys that are not scoring options are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (section or {}).items() if k in names})


def read_candidates(path: str | Path) -> pd.DataFrame:
    """Read a candidates table and check it: readable, the columns there, no empty (null) id
    or text, no duplicate (qid, docid). Each problem names the file and the first bad row."""
    from .candidates import REBUILD_CANDIDATES, unreadable_candidates
    from .data import DataError

    try:
        frame = pd.read_parquet(path)
    except FileNotFoundError:
        raise
    except Exception as error:  # pyarrow's ArrowInvalid, OSError, ... for a truncated or foreign file
        raise unreadable_candidates(path, error) from None
    missing = [c for c in CANDIDATE_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: candidates table lacks columns {missing}")
    for column in ("qid", "docid", "query", "passage"):
        empty = frame[column].isna()
        if empty.any():
            row = int(empty.to_numpy().nonzero()[0][0])
            raise DataError(f"{path}, row {row}: {column} is null (qid {frame['qid'].iloc[row]!r}, docid "
                            f"{frame['docid'].iloc[row]!r}); {empty.sum()} row(s) like it; {REBUILD_CANDIDATES}")
    duplicated = frame.duplicated(["qid", "docid"])
    if duplicated.any():
        row = frame[duplicated].iloc[0]
        raise DataError(f"{path}: document {row.docid!r} appears twice for query {row.qid!r}")
    return frame


# ---------------------------------------------------------------------------
# Batches


def length_sorted_batches(lengths: np.ndarray, batch_size: int, sort_by_length: bool = True) -> list[np.ndarray]:
    """Index arrays of the batches: longest pairs first (ties in input order), or input order.

    Longest first makes a memory error, if any, happen on the first batch.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    order = np.argsort(-np.asarray(lengths), kind="stable") if sort_by_length else np.arange(len(lengths))
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]


class _Encoded:
    """Unpadded token ids of a chunk of pairs, flattened into one array with offsets."""

    def __init__(self, encoding: Mapping[str, list[list[int]]], keys: tuple[str, ...]):
        ids = encoding["input_ids"]
        self.lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        self.offsets = np.zeros(len(ids), dtype=np.int64)
        np.cumsum(self.lengths[:-1], out=self.offsets[1:])
        total = int(self.lengths.sum())
        self.flat = {
            key: np.fromiter(itertools.chain.from_iterable(encoding[key]), dtype=np.int64, count=total)
            for key in keys if key != "attention_mask"  # built from the lengths when padding
        }

    def pad(self, index: np.ndarray, pad_ids: Mapping[str, int], multiple: int = 1) -> dict[str, torch.Tensor]:
        """Right-padded tensors (and the attention mask) of the pairs in `index`."""
        lengths = self.lengths[index]
        width = int(lengths.max())
        width += -width % multiple
        positions = np.arange(width)
        mask = positions[None, :] < lengths[:, None]
        # Positions past a pair's end read its own first token, then are overwritten.
        gather = self.offsets[index][:, None] + np.where(mask, positions[None, :], 0)
        features = {
            key: torch.from_numpy(np.where(mask, flat[gather], pad_ids.get(key) or 0))
            for key, flat in self.flat.items()
        }
        features["attention_mask"] = torch.from_numpy(mask.astype(np.int64))
        return features


def _tokenize(tokenizer, queries: list[str], passages: list[str], max_length: int,
              keys: tuple[str, ...]) -> dict[str, list[list[int]]]:
    """Unpadded token ids of the pairs, truncated longest-first as the tokenizer's own call does.

    A fast tokenizer's Rust backend is called directly: its `encode_batch_fast`
    skips character offsets, and the ids come out without the per-pair dicts the
    Python wrapper builds (together about a quarter of the tokenizing time on the
    smoke models).
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or not hasattr(backend, "encode_batch_fast"):
        return tokenizer(queries, passages, truncation="longest_first", max_length=max_length, padding=False,
                         return_attention_mask=False, return_token_type_ids="token_type_ids" in keys)
    truncation, padding = backend.truncation, backend.padding
    backend.enable_truncation(max_length, stride=0, strategy="longest_first", direction=tokenizer.truncation_side)
    backend.no_padding()
    try:
        encodings = backend.encode_batch_fast(list(zip(queries, passages)), add_special_tokens=True)
    finally:  # leave the tokenizer as it was for its other users
        if truncation is None:
            backend.no_truncation()
        else:
            backend.enable_truncation(**truncation)
        if padding is not None:
            backend.enable_padding(**padding)
    encoded = {"input_ids": [e.ids for e in encodings]}
    if "token_type_ids" in keys:
        encoded["token_type_ids"] = [e.type_ids for e in encodings]
    return encoded


def _optimized_batches(tokenizer, queries, passages, max_length, batch_size, options, keys, pad_ids, device):
    """(positions in the input, model features) per batch, chunk by chunk."""
    multiple = 8 if device.type == "cuda" else 1  # tensor-core friendly widths; padding is masked
    for start in range(0, len(queries), options.chunk_size):
        stop = min(start + options.chunk_size, len(queries))
        encoded = _Encoded(_tokenize(tokenizer, queries[start:stop], passages[start:stop], max_length, keys), keys)
        for index in length_sorted_batches(encoded.lengths, batch_size, options.sort_by_length):
            features = encoded.pad(index, pad_ids, multiple)
            if device.type == "cuda":
                features = {k: v.pin_memory() for k, v in features.items()}
            yield index + start, features


def _naive_batches(tokenizer, queries, passages, max_length, batch_size, keys):
    for start in range(0, len(queries), batch_size):
        stop = min(start + batch_size, len(queries))
        encoding = tokenizer(
            queries[start:stop], passages[start:stop], truncation="longest_first", max_length=max_length,
            padding=True, return_tensors="pt", return_token_type_ids="token_type_ids" in keys,
        )
        yield np.arange(start, stop), {k: encoding[k] for k in keys if k in encoding}


_DONE = object()


def _prefetched(batches: Iterator, depth: int) -> Iterator:
    """Run `batches` in a background thread, up to `depth` items ahead of the consumer.

    The tokenizer's Rust code and NumPy release the GIL, and a GPU runs kernels
    asynchronously, so tokenizing the next chunk overlaps with the model's work.
    An error in the thread is raised in the consumer; a consumer that stops early
    stops the thread.
    """
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for item in batches:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as error:  # handed to the consumer, which raises it
            put(error)

    thread = threading.Thread(target=produce, name="rerank-tokenizer", daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


# ---------------------------------------------------------------------------
# Scoring


def _encoder_parts(model):
    """(Hugging Face model, tokenizer, max_length) of a sentence-transformers CrossEncoder."""
    return model.model, model.tokenizer, model.max_seq_length


def resolved_precision(device: torch.device, precision: str) -> str:
    """The precision `auto` stands for on `device`: fp16 autocast on CUDA, fp32 elsewhere."""
    if precision == "auto":
        return "fp16" if device.type == "cuda" else "fp32"
    return precision


class _Float32Head(torch.nn.Module):
    """Runs a scoring-head module in float32 inside an autocast region.

    Under autocast the classifier's output would be bf16/fp16: bf16 keeps 8
    significant bits, so scores near 1.4 fall on a grid of 1/128 and tie en masse
    (on a smoke model, 107 distinct scores among 1,661 pairs), and ties are
    then broken by docid, not by the model. The head is a few small matrix
    products per pair, so float32 costs nothing measurable.
    """

    def __init__(self, inner: torch.nn.Module, device_type: str):
        super().__init__()
        self.inner, self.device_type = inner, device_type

    def forward(self, *args, **kwargs):
        args = [a.float() if torch.is_tensor(a) and a.is_floating_point() else a for a in args]
        with torch.autocast(self.device_type, enabled=False):
            return self.inner(*args, **kwargs)


@contextmanager
def _autocast(encoder: torch.nn.Module, device: torch.device, precision: str):
    """Autocast to bf16/fp16 with the scoring head (pooler, head, classifier) kept in float32."""
    precision = resolved_precision(device, precision)
    if precision == "fp32":
        yield
        return
    heads = [(parent, name, getattr(parent, name)) for parent, name in
             ((encoder, "classifier"), (encoder, "head"), (encoder.base_model, "pooler"))
             if isinstance(getattr(parent, name, None), torch.nn.Module)]
    for parent, name, module in heads:
        setattr(parent, name, _Float32Head(module, device.type))
    try:
        with torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16):
            yield
    finally:
        for parent, name, module in heads:
            setattr(parent, name, module)


def score_pairs(model, queries: list[str], passages: list[str], batch_size: int,
                options: RerankOptions | None = None, max_length: int | None = None) -> list[float]:
    """Raw relevance logits for (query, passage) pairs, in input order.

    `model` is a sentence-transformers CrossEncoder; `max_length` defaults to its
    own. Pairs are truncated longest-first to `max_length` tokens, as the
    CrossEncoder does.
    """
    if len(queries) != len(passages):
        raise ValueError(f"{len(queries)} queries but {len(passages)} passages")
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    if not queries:
        return []
    options = options or RerankOptions()
    encoder, tokenizer, model_max_length = _encoder_parts(model)
    max_length = max_length or model_max_length
    if max_length is None:
        raise ValueError("max_length is needed: the model sets none")
    if getattr(encoder.config, "num_labels", 1) != 1:
        raise ValueError(f"a reranker scores with one logit per pair; this model has {encoder.config.num_labels}")
    device = next(encoder.parameters()).device
    keys = tuple(k for k in _MODEL_INPUTS if k in tokenizer.model_input_names or k == "input_ids")
    queries, passages = list(queries), list(passages)

    if options.mode == "naive":
        batches = _naive_batches(tokenizer, queries, passages, max_length, batch_size, keys)
        precision = nullcontext()
    else:
        pad_ids = {"input_ids": tokenizer.pad_token_id, "token_type_ids": tokenizer.pad_token_type_id}
        batches = _optimized_batches(tokenizer, queries, passages, max_length, batch_size, options, keys,
                                     pad_ids, device)
        if options.prefetch is True or (options.prefetch == "auto" and device.type == "cuda"):
            # a chunk's worth of batches in the queue: the thread tokenizes the next chunk meanwhile
            batches = _prefetched(batches, depth=-(-options.chunk_size // batch_size) + 2)
        precision = _autocast(encoder, device, options.precision)

    was_training = encoder.training
    encoder.eval()
    positions, logits = [], []
    try:
        with torch.inference_mode(), precision:
            for index, features in batches:
                features = {k: v.to(device, non_blocking=True) for k, v in features.items()}
                logits.append(encoder(**features).logits.reshape(-1).float())
                positions.append(index)
    finally:
        encoder.train(was_training)
    scores = np.empty(len(queries), dtype=np.float32)
    scores[np.concatenate(positions)] = torch.cat(logits).cpu().numpy()
    bad = int((~np.isfinite(scores)).sum())
    if bad:
        used = "fp32" if options.mode == "naive" else resolved_precision(device, options.precision)
        hint = ("fp16 can overflow on some models: set rerank precision to bf16 or fp32" if used == "fp16" else
                f"{used} does not overflow here, so the checkpoint itself outputs them: check its training "
                "log for a diverged loss (a learning rate too high for the optimizer)")
        raise FloatingPointError(
            f"{bad} of {len(scores)} scores are not finite (precision {used} on device {device}, "
            f"{options.mode} mode); {hint}"
        )
    return scores.tolist()


def rerank(model, candidates: pd.DataFrame, batch_size: int, options: RerankOptions | None = None,
           max_length: int | None = None) -> dict[str, dict[str, float]]:
    """{qid: {docid: score}} for every candidate."""
    scores = score_pairs(model, candidates["query"].tolist(), candidates["passage"].tolist(), batch_size,
                         options, max_length)
    run: dict[str, dict[str, float]] = {}
    for qid, docid, score in zip(candidates["qid"], candidates["docid"], scores):
        run.setdefault(str(qid), {})[str(docid)] = score
    return run


def load_cross_encoder(model_dir: str | Path, max_length: int):
    from sentence_transformers.cross_encoder import CrossEncoder

    from .model_code import loading_kwargs, open_model, read_model_code

    torch.manual_seed(0)
    # The code the checkpoint was trained with (sentence-transformers does not keep trust_remote_code).
    # Weights in float32 whatever dtype the checkpoint was saved in (transformers 5 keeps the
    # saved dtype); `precision` then decides the arithmetic (autocast), as the config states.
    kwargs = loading_kwargs(read_model_code(model_dir), {"dtype": torch.float32})
    model = open_model(lambda: CrossEncoder(str(model_dir), max_length=max_length, local_files_only=True,
                                            **kwargs), str(model_dir))
    model.eval()
    return model


@dataclass
class Scorer:
    """What scoring needs of a checkpoint: the Hugging Face model (`model`), its tokenizer and
    the maximum length, under the attribute names of a sentence-transformers CrossEncoder."""

    model: torch.nn.Module
    tokenizer: object
    max_seq_length: int


def load_scorer(model_dir: str | Path, max_length: int) -> Scorer:
    """A checkpoint loaded as `load_cross_encoder` loads it (same weights, float32, same
    tokenizer, on the GPU where there is one), with transformers alone: importing
    sentence-transformers took several seconds of every reranking job's start-up
    (docs/performance.md). score_pairs gives the same logits for both."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from .model_code import open_model, read_model_code, transformers_kwargs

    torch.manual_seed(0)
    kwargs = transformers_kwargs(read_model_code(model_dir))
    device = "cuda" if torch.cuda.is_available() else "cpu"

    def load() -> Scorer:
        model = AutoModelForSequenceClassification.from_pretrained(
            str(model_dir), dtype=torch.float32, local_files_only=True, **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True, model_max_length=max_length,
                                                  trust_remote_code=kwargs["trust_remote_code"])
        return Scorer(model.to(device).eval(), tokenizer, max_length)

    return open_model(load, str(model_dir))


@dataclass
class Checkpoint:
    """One checkpoint of a reranking job: its folder, the run tag, and the run file to write
    for each test set (in the order of the job's candidates tables)."""

    model_dir: str | Path
    tag: str
    outputs: list[str | Path]


def rerank_checkpoints(checkpoints: list[Checkpoint], candidates_paths: list[str | Path], batch_size: int,
                       max_length: int, options: RerankOptions | Mapping | None = None) -> list[list[int]]:
    """Rerank every candidates table with every checkpoint in one process, writing each run;
    returns the pair counts per checkpoint and table.

    One reranking job covers all epochs and test sets of a training run: the interpreter,
    torch and transformers (about 5 s of a smoke job's start-up on the 2-core machine,
    docs/performance.md) are paid once per run, not once per checkpoint and test set. Each
    table is read once; each checkpoint is loaded, scores every table, and is freed before
    the next. The scores are those of reranking each (checkpoint, table) on its own.
    `options` is a RerankOptions or a `rerank` config section (its scoring keys).
    """
    if not isinstance(options, RerankOptions):
        options = RerankOptions.from_config(options)
    for checkpoint in checkpoints:
        if len(checkpoint.outputs) != len(candidates_paths):
            raise ValueError(f"{checkpoint.model_dir}: {len(checkpoint.outputs)} run files for "
                             f"{len(candidates_paths)} candidates tables")
    tables = [read_candidates(path) for path in candidates_paths]
    counts = []
    for checkpoint in checkpoints:
        model = load_scorer(checkpoint.model_dir, max_length)
        for candidates, output in zip(tables, checkpoint.outputs):
            write_run(output, rerank(model, candidates, batch_size, options, max_length), checkpoint.tag)
        counts.append([len(candidates) for candidates in tables])
        del model
    return counts


def rerank_to_file(model_dir: str | Path, candidates_path: str | Path, output: str | Path,
                   batch_size: int, max_length: int, tag: str,
                   options: RerankOptions | Mapping | None = None) -> int:
    """Load a checkpoint, rerank one test set's candidates, write the run; returns the pair count."""
    return rerank_checkpoints([Checkpoint(model_dir, tag, [output])], [candidates_path], batch_size, max_length,
                              options)[0][0]
