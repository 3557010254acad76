"""Throughput of reranking (naive vs optimized) and of training steps (AdamW vs Lion).

One run measures, on whatever device is present (a CUDA GPU if there is one,
else the CPU), for the study's three model shapes built from config with random
weights (no hub access needed):

  * reranking pairs/s of the naive path (fp32, fixed batches, input order), the
    optimized path (crossopt.rerank: length-sorted, prefetching tokenizer, bf16
    autocast on GPU) and sentence-transformers' CrossEncoder.predict (the path the
    rerank rule used before), with the largest score difference to the naive path
    and the share of queries whose ranking is unchanged;
  * training step time (forward, backward, clipping, optimizer step) and optimizer
    step time alone for AdamW (torch default and fused), Lion from lion-pytorch,
    crossopt's foreach Lion, its torch.compile'd variant (on GPU, or with
    --ablations), and lion-pytorch's triton kernel where CUDA and triton exist.

Naive and optimized runs are interleaved round by round and every ratio is the
median of per-round ratios, so a machine shared with other work shifts both sides
of a ratio alike.

    python bench/benchmark.py --size small --out results/bench/cpu.json   # CPU, < 2 minutes
    python bench/benchmark.py --size full --out gpu.json                  # GPU, the study's shapes

`--size small` uses the smoke config's tiny shapes (and, when the smoke workflow
has written results/testsets/*/candidates.parquet, its real candidate texts);
`--size full` uses MiniLM-L12-H384, a gte-multilingual-base-like BERT
(12 x 768, 250k vocabulary) and ModernBERT-base, on synthetic text with an MS
MARCO-like length mix (query 4-16 words, passage ~N(70, 30) words in [16, 250]).
"""

from __future__ import annotations

import argparse
import copy
import datetime
import glob
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crossopt.lion_fast import triton_available  # noqa: E402
from crossopt.rerank import RerankOptions, load_cross_encoder, score_pairs  # noqa: E402
from crossopt.tiny_models import train_tokenizer  # noqa: E402
from crossopt.train import make_optimizer, parameter_groups  # noqa: E402

# The study's shapes: (family, config overrides). ModernBERT-base is ModernBertConfig's default.
FULL_SHAPES = {
    "minilm": ("bert", dict(vocab_size=30522, hidden_size=384, num_hidden_layers=12, num_attention_heads=12,
                            intermediate_size=1536, max_position_embeddings=512)),
    "gte": ("bert", dict(vocab_size=250048, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                         intermediate_size=3072, max_position_embeddings=8192)),
    "modernbert": ("modernbert", dict(vocab_size=50368, hidden_size=768, num_hidden_layers=22,
                                      num_attention_heads=12, intermediate_size=1152,
                                      max_position_embeddings=8192)),
}
SIZE_DEFAULTS = {
    # max_length, training batch, pairs reranked per round
    "small": dict(max_length=64, train_batch=16, pairs=2048),
    "full": dict(max_length=512, train_batch=64, pairs=16384),
}


# ---------------------------------------------------------------------------
# Shapes, models and text


def small_shapes(config_path: Path) -> dict[str, tuple[str, dict]]:
    """The smoke config's tiny model shapes, with the schema's defaults filled in."""
    config = yaml.safe_load(config_path.read_text())
    schema = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())
    defaults = {k: v["default"] for k, v in schema["$defs"]["tiny_model"]["properties"].items() if "default" in v}
    shapes = {}
    for key, model in config["models"].items():
        spec = {**defaults, **model["tiny"]}
        shapes[key] = (spec.pop("family"), spec)
    return shapes


def build_model(family: str, spec: dict, vocab_size: int, tokenizer, seed: int = 0):
    """A random-init sequence classifier of `spec`'s shape whose vocabulary covers `tokenizer`'s."""
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        ModernBertConfig,
        ModernBertForSequenceClassification,
    )

    torch.manual_seed(seed)
    spec = {**spec, "vocab_size": max(vocab_size, spec.get("vocab_size", 0))}
    if family == "bert":
        return BertForSequenceClassification(BertConfig(**spec, num_labels=1, pad_token_id=tokenizer.pad_token_id,
                                                        attn_implementation="sdpa"))
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    config = ModernBertConfig(**spec, num_labels=1, pad_token_id=tokenizer.pad_token_id, cls_token_id=cls,
                              sep_token_id=sep, bos_token_id=cls, eos_token_id=sep, attn_implementation="sdpa")
    return ModernBertForSequenceClassification(config)


def synthetic_candidates(pairs: int, depth: int, seed: int) -> tuple[list[str], list[str], list[int]]:
    """Queries of 4-16 words, passages of ~N(70, 30) words in [16, 250]; `depth` passages per query."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnoprstuvwyz"
    # few enough distinct words that the 2,000-token tiny vocabulary holds each whole: tokens ~ words
    words = sorted({"".join(rng.choice(letters) for _ in range(rng.randint(3, 8))) for _ in range(1500)})
    queries, passages, groups = [], [], []
    query = ""
    for i in range(pairs):
        if i % depth == 0:
            query = " ".join(rng.choices(words, k=rng.randint(4, 16)))
        n = int(min(250, max(16, rng.gauss(70, 30))))
        queries.append(query)
        passages.append(" ".join(rng.choices(words, k=n)))
        groups.append(i // depth)
    return queries, passages, groups


def smoke_candidates(pairs: int) -> tuple[list[str], list[str], list[int]] | None:
    """The smoke workflow's real candidate texts, repeated up to `pairs`, or None if absent."""
    import pandas as pd

    paths = sorted(glob.glob(str(ROOT / "results" / "testsets" / "*" / "candidates.parquet")))
    if not paths:
        return None
    frame = pd.concat([pd.read_parquet(p).assign(testset=p) for p in paths], ignore_index=True)
    group_ids = {key: n for n, key in enumerate(dict.fromkeys(zip(frame["testset"], frame["qid"])))}
    groups = [group_ids[key] for key in zip(frame["testset"], frame["qid"])]
    repeats = -(-pairs // len(frame))
    queries = (frame["query"].tolist() * repeats)[:pairs]
    passages = (frame["passage"].tolist() * repeats)[:pairs]
    groups = [g + (i // len(frame)) * len(group_ids) for i, g in enumerate((groups * repeats)[:pairs])]
    return queries, passages, groups


def save_cross_encoder(model, tokenizer, folder: Path, max_length: int):
    """Save a Hugging Face model and tokenizer and load them back as the rerank rule does."""
    tokenizer.model_max_length = max_length
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return load_cross_encoder(folder, max_length)


# ---------------------------------------------------------------------------
# Timing


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device: torch.device) -> float:
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def same_rankings(a: np.ndarray, b: np.ndarray, groups: list[int]) -> float:
    """Share of queries whose candidates are in the same order under both score lists."""
    by_group: dict[int, list[int]] = {}
    for i, g in enumerate(groups):
        by_group.setdefault(g, []).append(i)
    same = sum(
        np.array_equal(np.argsort(-a[idx], kind="stable"), np.argsort(-b[idx], kind="stable"))
        for idx in map(np.asarray, by_group.values())
    )
    return same / len(by_group)


def bench_rerank(model, texts, args, device) -> dict:
    queries, passages, groups = texts
    variants = {
        "naive": (args.naive_batch_size, RerankOptions(mode="naive")),
        "optimized": (args.batch_size, RerankOptions(precision=args.precision)),
    }
    if args.ablations:
        variants["optimized_prefetch"] = (args.batch_size, RerankOptions(precision=args.precision, prefetch=True))
        variants["optimized_no_prefetch"] = (args.batch_size, RerankOptions(precision=args.precision, prefetch=False))
        variants["optimized_unsorted"] = (args.batch_size,
                                          RerankOptions(precision=args.precision, sort_by_length=False))
        if device.type == "cpu":
            variants["optimized_bf16"] = (args.batch_size, RerankOptions(precision="bf16"))
        variants["st_predict"] = (args.naive_batch_size, None)

    def run(batch_size, options):
        if options is None:  # what the rerank rule called before crossopt.rerank had its own loop
            return model.predict(list(zip(queries, passages)), batch_size=batch_size, show_progress_bar=False,
                                 activation_fn=torch.nn.Identity(), convert_to_numpy=True).reshape(-1)
        return np.asarray(score_pairs(model, queries, passages, batch_size, options))

    scores = {name: run(*spec) for name, spec in variants.items()}  # warm-up (and allocator growth)
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, spec in variants.items():
            seconds[name].append(timed(lambda: run(*spec), device))
    result = {"pairs": len(queries), "queries": len(set(groups)),
              "batch_size": {name: spec[0] for name, spec in variants.items()}}
    for name in variants:
        result[f"{name}_pairs_s"] = len(queries) / statistics.median(seconds[name])
        if name != "naive":
            result[f"{name}_speedup"] = statistics.median(n / o for n, o in zip(seconds["naive"], seconds[name]))
            result[f"{name}_max_abs_score_diff"] = float(np.abs(scores[name] - scores["naive"]).max())
            result[f"{name}_same_ranking_share"] = same_rankings(scores[name], scores["naive"], groups)
    return result


def length_mix(n: int, max_length: int, generator: torch.Generator) -> torch.Tensor:
    query = torch.randint(4, 17, (n,), generator=generator)
    passage = (torch.randn(n, generator=generator) * 30 + 70).clamp(16, 250).long()
    return (query + passage + 3).clamp(max=max_length)


def bench_train(family, spec, tokenizer, args, device) -> dict:
    """Step time per optimizer; every optimizer trains its own copy of the same model on the same batches."""
    vocab_size = max(len(tokenizer), spec.get("vocab_size", 0))
    generator = torch.Generator().manual_seed(1)
    batches = []
    for _ in range(args.train_batches):
        lengths = length_mix(args.train_batch, args.max_length, generator)
        width = int(lengths.max())
        mask = (torch.arange(width)[None, :] < lengths[:, None]).long()
        ids = torch.randint(5, vocab_size, (len(lengths), width), generator=generator) * mask
        labels = torch.randint(0, 2, (len(lengths),), generator=generator).float()
        batches.append((ids.to(device), mask.to(device), labels.to(device)))

    base = build_model(family, spec, vocab_size, tokenizer).to(device)
    settings = {"learning_rate": 2e-5, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01}
    lion = {**settings, "optimizer_type": "lion", "betas": [0.9, 0.99]}
    makers = {
        "adamw": lambda g: make_optimizer(g, {**settings, "optimizer_type": "adamw"}),
        "adamw_fused": lambda g: torch.optim.AdamW(g, lr=2e-5, weight_decay=0.01, fused=True),
        "lion_reference": lambda g: make_optimizer(g, {**lion, "lion_implementation": "reference"}),
        "lion_foreach": lambda g: make_optimizer(g, {**lion, "lion_implementation": "foreach"}),
    }
    if device.type == "cuda" or args.ablations:  # compiling costs ~15 s a group on a 2-core CPU
        makers["lion_compiled"] = lambda g: make_optimizer(g, {**lion, "lion_implementation": "compiled"})
    if triton_available() and device.type == "cuda":
        makers["lion_triton"] = lambda g: make_optimizer(g, {**lion, "lion_implementation": "triton"})
    autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if device.type == "cuda"
                else torch.autocast(device.type, enabled=False))

    runs = {}
    for name, make in makers.items():
        model = copy.deepcopy(base).train()
        runs[name] = (model, make(parameter_groups(model, 0.01, decay_bias_and_norm=False)))
    del base

    def step(model, optimizer, batch):
        ids, mask, labels = batch
        with autocast:
            logits = model(input_ids=ids, attention_mask=mask).logits.squeeze(-1)
        F.binary_cross_entropy_with_logits(logits.float(), labels).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def steps(name):
        model, optimizer = runs[name]
        for batch in batches:
            step(model, optimizer, batch)

    for name in makers:  # warm-up: every batch shape once, optimizer state allocated
        steps(name)
    step_s: dict[str, list[float]] = {name: [] for name in makers}
    opt_s: dict[str, list[float]] = {name: [] for name in makers}
    for _ in range(args.repeats):
        for name in makers:
            step_s[name].append(timed(lambda: steps(name), device) / len(batches))
    for name, (model, optimizer) in runs.items():  # the optimizer step alone, gradients present
        ids, mask, labels = batches[0]
        with autocast:
            logits = model(input_ids=ids, attention_mask=mask).logits.squeeze(-1)
        F.binary_cross_entropy_with_logits(logits.float(), labels).backward()
        for _ in range(args.repeats):
            opt_s[name].append(timed(lambda: [optimizer.step() for _ in range(5)], device) / 5)
        optimizer.zero_grad(set_to_none=True)

    result = {"params_M": sum(p.numel() for p in runs["adamw"][0].parameters()) / 1e6,
              "batch": args.train_batch, "batches": len(batches)}
    for name in makers:
        result[f"{name}_step_ms"] = 1e3 * statistics.median(step_s[name])
        result[f"{name}_optimizer_step_ms"] = 1e3 * statistics.median(opt_s[name])
    reference = "adamw_fused"
    for name in makers:
        if name != reference:
            result[f"{name}_step_vs_{reference}"] = statistics.median(
                s / r for s, r in zip(step_s[name], step_s[reference]))
    result["lion_foreach_step_vs_lion_reference"] = statistics.median(
        f / r for f, r in zip(step_s["lion_foreach"], step_s["lion_reference"]))
    return result


def check_rankings(args, device) -> list[dict]:
    """Rerank the smoke test sets with the smoke study's trained checkpoints on every path
    and compare each evaluation measure with the naive fp32 path's.

    Uses the newest epoch of each results/models/{model}/{optim}/seed*/ and each
    results/testsets/*/ with candidates.parquet and qrels.txt; empty if there are none.
    """
    from crossopt.evaluate import MEASURES, evaluate_run
    from crossopt.rerank import read_candidates, rerank
    from crossopt.trec import qrels_to_dict, read_qrels

    found = sorted(glob.glob(str(ROOT / "results" / "testsets" / "*" / "candidates.parquet")))
    testsets = [Path(p).parent for p in found if (Path(p).parent / "qrels.txt").exists()]
    checkpoints = []
    for seed_dir in sorted(glob.glob(str(ROOT / "results" / "models" / "*" / "*" / "seed*"))):
        epochs = sorted(Path(seed_dir).glob("epoch*"), key=lambda p: int(p.name[5:]))
        if epochs and (epochs[-1] / "config.json").exists():
            checkpoints.append(epochs[-1])
    variants = {"optimized": RerankOptions(precision=args.precision), "optimized_bf16": RerankOptions(precision="bf16"),
                "optimized_fp16": RerankOptions(precision="fp16")}
    rows = []
    for checkpoint in checkpoints:
        model = load_cross_encoder(checkpoint, args.max_length)
        for testset in testsets:
            candidates = read_candidates(testset / "candidates.parquet")
            qrels = qrels_to_dict(read_qrels(testset / "qrels.txt"))
            naive_run = rerank(model, candidates, args.naive_batch_size, RerankOptions(mode="naive"), args.max_length)
            naive = evaluate_run(naive_run, qrels)["aggregate"]
            row = {"checkpoint": str(checkpoint.relative_to(ROOT)), "testset": testset.name, "pairs": len(candidates)}
            for name, options in variants.items():
                run = rerank(model, candidates, args.batch_size, options, args.max_length)
                measures = evaluate_run(run, qrels)["aggregate"]
                row[f"{name}_same_candidates"] = ({q: set(d) for q, d in run.items()}
                                                  == {q: set(d) for q, d in naive_run.items()})
                row[f"{name}_max_measure_diff"] = max(abs(measures[m] - naive[m]) for m in MEASURES)
            rows.append(row)
    return rows


# ---------------------------------------------------------------------------


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} cores)"
    except OSError:
        pass
    return f"{platform.processor() or platform.machine()} ({os.cpu_count()} cores)"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=["small", "full"], default="small",
                        help="small: the smoke config's tiny shapes (CPU); full: the study's shapes (GPU)")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--models", default="minilm,gte,modernbert", help="comma-separated shape keys")
    parser.add_argument("--data", choices=["auto", "smoke", "synthetic"], default="auto",
                        help="auto: the smoke candidates for --size small when they exist, else synthetic text")
    parser.add_argument("--pairs", type=int, help="pairs reranked per round (default by size)")
    parser.add_argument("--depth", type=int, default=50, help="candidates per synthetic query")
    parser.add_argument("--batch-size", type=int, help="optimized batch size (default 64 on CPU, 512 on GPU)")
    parser.add_argument("--naive-batch-size", type=int, help="naive batch size (default 64 on CPU, 32 on GPU)")
    parser.add_argument("--max-length", type=int, help="tokens per pair (default 64 small, 512 full)")
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default="auto",
                        help="optimized path's precision (auto: bf16 on GPU, fp32 on CPU)")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (ratios are medians over rounds)")
    parser.add_argument("--train-batch", type=int, help="pairs per training step (default 16 small, 64 full)")
    parser.add_argument("--train-batches", type=int, default=4, help="distinct training batches per round")
    parser.add_argument("--ablations", action="store_true",
                        help="also time the optimized path without prefetch, unsorted, in bf16 on CPU, "
                             "and CrossEncoder.predict")
    parser.add_argument("--rankings", action="store_true",
                        help="also rerank the smoke test sets with the smoke study's trained checkpoints "
                             "(results/models) on every path and compare the evaluation measures")
    parser.add_argument("--skip-train", action="store_true", help="reranking only")
    parser.add_argument("--skip-rerank", action="store_true", help="training steps only")
    parser.add_argument("--smoke-config", type=Path, default=ROOT / "config" / "smoke.yaml",
                        help="config whose tiny model shapes --size small uses")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    gpu = device.type == "cuda"
    for key, value in SIZE_DEFAULTS[args.size].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.batch_size = args.batch_size or (512 if gpu else 64)
    args.naive_batch_size = args.naive_batch_size or (32 if gpu else 64)

    shapes = small_shapes(args.smoke_config) if args.size == "small" else FULL_SHAPES
    keys = [k for k in args.models.split(",") if k]
    unknown = [k for k in keys if k not in shapes]
    if unknown:
        raise SystemExit(f"unknown model keys {unknown} (known: {', '.join(shapes)})")

    texts = None
    if args.data in ("auto", "smoke") and args.size == "small" or args.data == "smoke":
        texts = smoke_candidates(args.pairs)
        if texts is None and args.data == "smoke":
            raise SystemExit("--data smoke: no results/testsets/*/candidates.parquet; run the smoke workflow first")
    data = "smoke candidates" if texts is not None else "synthetic MS MARCO-like lengths"
    if texts is None:
        texts = synthetic_candidates(args.pairs, args.depth, seed=0)
    # the smoke models' vocabulary size for small shapes; enough for whole words on synthetic text
    tokenizer = train_tokenizer(sorted(set(texts[0]) | set(texts[1])),
                                vocab_size=2000 if args.size == "small" else 30000)

    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "device": device_name(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "size": args.size,
        "data": data,
        "max_length": args.max_length,
        "precision": args.precision,
        "repeats": args.repeats,
        "load_average_start": os.getloadavg(),
        "models": {},
    }
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="crossopt-bench-") as tmp:
        for key in keys:
            family, spec = shapes[key]
            row = report["models"][key] = {"family": family, "shape": spec}
            if not args.skip_rerank:
                model = build_model(family, spec, len(tokenizer), tokenizer)
                cross_encoder = save_cross_encoder(model, tokenizer, Path(tmp) / key, args.max_length)
                del model
                row["rerank"] = bench_rerank(cross_encoder, texts, args, device)
                del cross_encoder
            if not args.skip_train:
                row["train"] = bench_train(family, spec, tokenizer, args, device)
            print(json.dumps({key: row}), flush=True)
            if gpu:
                torch.cuda.empty_cache()
    if args.rankings:
        report["rankings"] = check_rankings(args, device)
        for row in report["rankings"]:
            print(json.dumps(row), flush=True)
    report["seconds"] = time.perf_counter() - started
    report["load_average_end"] = os.getloadavg()
    print_table(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    return report


def print_table(report: dict) -> None:
    print(f"\n{report['device']}, torch {report['torch']}, {report['threads']} threads, size {report['size']}, "
          f"{report['data']}, {report['seconds']:.0f} s")
    rows = {k: v["rerank"] for k, v in report["models"].items() if "rerank" in v}
    if rows:
        print(f"reranking pairs/s  {'model':11s} {'naive':>8s} {'optimized':>9s} {'speedup':>8s} "
              f"{'same ranking':>12s} {'max |diff|':>10s}")
        for key, r in rows.items():
            print(f"{'':18s} {key:11s} {r['naive_pairs_s']:8.0f} {r['optimized_pairs_s']:9.0f} "
                  f"{r['optimized_speedup']:7.2f}x {r['optimized_same_ranking_share']:12.0%} "
                  f"{r['optimized_max_abs_score_diff']:10.1e}")
    rows = {k: v["train"] for k, v in report["models"].items() if "train" in v}
    if rows:
        names = [n[:-8] for n in next(iter(rows.values())) if n.endswith("_step_ms") and "optimizer" not in n]
        print(f"training step ms (optimizer step ms); ratio to fused AdamW")
        for key, t in rows.items():
            cells = [f"{n} {t[n + '_step_ms']:.1f} ({t[n + '_optimizer_step_ms']:.2f})"
                     + (f" {t[n + '_step_vs_adamw_fused']:.2f}x" if n != "adamw_fused" else "") for n in names]
            print(f"{'':18s} {key:11s} " + " | ".join(cells))


if __name__ == "__main__":
    main()
