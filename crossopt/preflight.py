"""Preflight: what a real run needs before it spends money, and what it will cost.

    python -m crossopt.cli preflight --configfile config.yaml config/rerun.yaml config/modal.yaml

reads the run's config as `--configfile` composes it and checks, one line per problem:

- the pins: the training data's commit, the NanoBEIR evaluator's, every hub model's
  revision and remote-code revision, every hub test set's revision (a missing pin means a
  run that cannot be repeated);
- with reported results, the researcher's files;
- with the Modal backend, that a Modal token is configured (its presence only: nothing of
  it is printed), and that each stage's GPU type has a price;
- with the local backend on a GPU, that this machine sees a CUDA GPU;
- each locally stored base model's weight dtype, from the safetensors header (the trainer
  keeps fp32 master weights whatever it is; a half-precision checkpoint is reported so
  nobody is surprised by the file size or by the hub code's own dtype);
- the free space of the disk that holds results/.

It then prints the job counts and a cost range from `estimate_cost`, and exits 1 if there
was any problem. What it cannot see from here (the Volume's free space, whether the pinned
commits exist on the hub) it says so.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from dataclasses import dataclass, field
from pathlib import Path

from .config import COMMIT_HASH as COMMIT

# Training throughput, pairs per second at batch 64, bf16 autocast, dynamic padding, on one
# H200 (measured with random-init models of the same shapes; docs/modal.md, "What it costs").
# AdamW there was torch's fused AdamW, Lion lion-pytorch's reference step.
TRAIN_PAIRS_PER_SECOND = {
    "minilm": {"adamw": 1904, "lion": 1422},
    "gte": {"adamw": 1925, "lion": 1192},
    "modernbert": {"adamw": 1100, "lion": 1014},
}
# Reranking throughput, pairs per second, fp32 in input order (the naive path) and bf16
# length-sorted, on the same H200.
RERANK_PAIRS_PER_SECOND = {
    "minilm": {"fp32": 5321, "bf16": 43885},
    "gte": {"fp32": 5021, "bf16": 23023},
    "modernbert": {"fp32": 2349, "bf16": 6641},
}
# The measured "gte-like" model was BERT-shaped (768 x 12, 250k vocabulary); the real
# gte-multilingual-base (rotary attention, gated MLP) needs about 1.33x its compute.
SHAPE_FACTOR = {"gte": 1.33}
# The high end of the range: an H100 is slower than the H200 the rates were measured on,
# the project's AdamW is unfused (the rates used fused), and the per-epoch evaluator runs too.
SLOWER = 1.35
CONTAINER_START_MINUTES = (1.0, 3.0)  # image load, imports, model download: per Modal call
CHECKPOINT_WRITE_MB_PER_SECOND = 200.0  # Volume writes of weights + optimizer state, per epoch
BYTES_PER_PARAMETER_CHECKPOINT = 12  # fp32 weights + two AdamW moments (Lion: one; the high end)
PARAMETERS = {"minilm": 33e6, "gte": 305e6, "modernbert": 150e6}


def model_family(key: str, spec: dict) -> str | None:
    """'minilm', 'gte' or 'modernbert' for a model of the study (by hub id, else by key)."""
    name = f"{spec.get('hub_id', '')} {key}".lower()
    for family in ("modernbert", "gte", "minilm"):
        if family in name:
            return family
    return None


@dataclass
class Estimate:
    trainings: int
    reranks: int
    gpu_hours: tuple[float, float]
    cost: tuple[float, float] | None
    currency: str
    lines: list[str] = field(default_factory=list)


def trained_pairs(config: dict) -> int:
    data = config["data"]
    return int(data.get("pairs", 0)) - int(data.get("heldout", 0))


def rerank_pairs(config: dict, testset: str) -> int | None:
    """Pairs one checkpoint scores on a test set (known for the study's test sets)."""
    spec = config["testsets"][testset]
    if spec["source"] == "pyserini":
        queries = {"dl19-passage": 43, "msmarco-passage-dev-subset": 6980}.get(spec.get("topics"))
        return queries * spec["retrieval"]["depth"] if queries else None
    if spec["source"] == "msmarco_v11":
        return 10047 * 10  # about ten given passages per validation query
    return None


def estimate_cost(config: dict) -> Estimate:
    """GPU hours and cost of a rerun of the study, as a range (docs/modal.md, "What it costs")."""
    from .config import enabled_testsets

    seeds, epochs = len(config["study"]["seeds"]), int(config["study"]["epochs"])
    pairs = trained_pairs(config) * epochs
    lines, low, high = [], 0.0, 0.0
    trainings = reranks = 0
    precision = config.get("rerank", {}).get("precision", "auto")
    rerank_kind = "bf16" if precision in ("auto", "bf16", "fp16") and config.get("rerank", {}).get(
        "mode", "optimized") == "optimized" else "fp32"
    for key, spec in config["models"].items():
        family = model_family(key, spec)
        if family is None:
            lines.append(f"  {key}: no measured throughput for this model; left out of the estimate")
            continue
        factor = SHAPE_FACTOR.get(family, 1.0)
        for optim, ospec in config["optimizers"].items():
            rate = TRAIN_PAIRS_PER_SECOND[family][ospec["type"]]
            seconds = pairs / rate * factor * seeds
            writes = epochs * seeds * PARAMETERS[family] * BYTES_PER_PARAMETER_CHECKPOINT / 1e6 \
                / CHECKPOINT_WRITE_MB_PER_SECOND
            trainings += seeds
            low += seconds
            high += seconds * SLOWER + writes
            lines.append(f"  train {key}/{optim}: {seeds} run(s) x {pairs:,} pairs at about {rate:,} pairs/s"
                         + (f" / {factor}" if factor != 1 else "") + f" = {seconds / 3600:.2f} GPU-h")
        # One reranking job (one Modal call) per training run scores every enabled test set
        # with each of the run's epoch checkpoints.
        checkpoints = len(config["optimizers"]) * seeds * epochs
        reranks += len(config["optimizers"]) * seeds
        for testset in enabled_testsets(config):
            n = rerank_pairs(config, testset)
            if n is None:
                lines.append(f"  rerank {key} on {testset}: pair count unknown; left out")
                continue
            seconds = n * checkpoints / RERANK_PAIRS_PER_SECOND[family][rerank_kind] * factor
            low += seconds
            high += seconds * SLOWER
    starts = (trainings + reranks) * 60
    low += starts * CONTAINER_START_MINUTES[0]
    high += starts * CONTAINER_START_MINUTES[1]
    lines.append(f"  container starts: {trainings + reranks} calls x {CONTAINER_START_MINUTES[0]:g}-"
                 f"{CONTAINER_START_MINUTES[1]:g} min")
    hours = (low / 3600, high / 3600)
    costs = config.get("costs") or {}
    gpu = (config.get("modal") or {}).get("train", {}).get("gpu", "H100")
    price = (costs.get("gpu_prices") or {}).get(str(gpu).split(":")[0])
    cost = (hours[0] * price["per_hour"], hours[1] * price["per_hour"]) if price else None
    return Estimate(trainings, reranks, hours, cost, costs.get("currency", "USD"), lines)


def safetensors_dtypes(path: str | Path) -> set[str]:
    """The tensor dtypes a .safetensors file holds, from its JSON header (no tensor is read)."""
    with open(path, "rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        if length > 100_000_000:
            raise ValueError(f"{path}: not a safetensors file (header length {length})")
        header = json.loads(handle.read(length))
    return {entry["dtype"] for name, entry in header.items() if name != "__metadata__"}


def modal_token_present(environ=os.environ, home: Path | None = None) -> bool:
    if environ.get("MODAL_TOKEN_ID") and environ.get("MODAL_TOKEN_SECRET"):
        return True
    config = (home or Path.home()) / ".modal.toml"
    return config.is_file() and "token_id" in config.read_text(encoding="utf-8", errors="replace")


def pin_problems(config: dict) -> list[str]:
    """One line per missing or malformed pin (`unpinned` is the explicit opt-out and passes)."""
    from .config import enabled_testsets, training_data_pins

    problems = []
    for key, value in training_data_pins(config):
        if not value:
            problems.append(f"missing required key '{key}' (a commit hash; README, \"The real study\")")
        elif value != "unpinned" and not COMMIT.match(str(value)):
            problems.append(f"'{key}': {value!r} is not a 40-character commit hash")
    for key, spec in config["models"].items():
        if spec["source"] == "hub" and not COMMIT.match(str(spec.get("revision", ""))):
            problems.append(f"'models.{key}.revision': the hub model is not pinned to a commit")
        if spec.get("trust_remote_code") and not COMMIT.match(str(spec.get("code_revision", ""))):
            problems.append(f"'models.{key}.code_revision': remote code is not pinned to a commit")
    for key in enabled_testsets(config):
        spec = config["testsets"][key]
        if spec["source"] == "msmarco_v11" and not COMMIT.match(str(spec.get("hf_revision", ""))):
            problems.append(f"'testsets.{key}.hf_revision': the dataset is not pinned to a commit")
    return list(dict.fromkeys(problems))


def preflight(config: dict, root: Path, results: Path) -> tuple[list[str], list[str]]:
    """(report lines, problems) for a composed, validated config."""
    from . import researcher_eval
    from .config import enabled_testsets

    lines, problems = [], pin_problems(config)
    trains = config["paper"]["results"] == "computed"
    if config["paper"]["results"] == "reported":
        folder = Path(config["paper"]["reported_eval"])
        folder = folder if folder.is_absolute() else root / folder
        try:
            researcher_eval.source_files(folder, list(config["models"]), list(config["optimizers"]),
                                         int(config["study"]["epochs"]))
            lines.append(f"researcher's files: {folder} (all present)")
        except researcher_eval.ResearcherEvalError as error:
            problems.append(str(error))
        lines.append("results: reported (the researcher's files); `all` trains nothing, so nothing is spent")
    backends = {config["training"]["backend"], config["rerank"]["backend"]}
    if trains and "modal" in backends:
        if modal_token_present():
            lines.append("Modal token: configured (not shown)")
        else:
            problems.append("no Modal token: run `modal token new` (or set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET)")
        prices = (config.get("costs") or {}).get("gpu_prices") or {}
        for stage in ("train", "rerank"):
            gpu = str((config.get("modal") or {}).get(stage, {}).get("gpu", "H100")).split(":")[0]
            if gpu not in prices:
                problems.append(f"'costs.gpu_prices': no price for the {stage} GPU {gpu!r}")
            else:
                lines.append(f"Modal {stage} GPU: {gpu} at {prices[gpu]['per_hour']} per hour "
                             f"(read {prices[gpu].get('date', '?')})")
        lines.append("Modal Volume free space: not checked from here (modal volume ls shows what it holds)")
    if trains and "local" in backends and not config["training"].get("use_cpu"):
        gpus = _local_gpus()
        if gpus == 0:
            problems.append("the local backend trains on a GPU, but this machine shows none (nvidia-smi); "
                            "use config/modal.yaml, or training.use_cpu: true for a CPU run")
        else:
            lines.append(f"local GPUs: {gpus}; the workflow runs one GPU job at a time unless "
                         f"--resources gpu={gpus} is given")
    for key, spec in config["models"].items():
        weights = results / "base_models" / key / "model.safetensors"
        if weights.is_file():
            dtypes = safetensors_dtypes(weights)
            note = "" if dtypes <= {"F32"} else " (trained with fp32 master weights all the same)"
            lines.append(f"base model {key}: stored as {', '.join(sorted(dtypes))}{note}")
        elif spec["source"] == "hub":
            lines.append(f"base model {key}: not downloaded yet (dtype unknown; training loads fp32 weights)")
    free = shutil.disk_usage(results if results.exists() else results.parent).free / 1e9
    lines.append(f"free disk space for {results}: {free:.0f} GB")
    if trains:
        estimate = estimate_cost(config)
        lines.append(f"jobs: {estimate.trainings} trainings, {estimate.reranks} reranking jobs "
                     f"({len(enabled_testsets(config))} test set(s))")
        lines += estimate.lines
        lines.append(f"GPU time: {estimate.gpu_hours[0]:.1f}-{estimate.gpu_hours[1]:.1f} GPU-h")
        if estimate.cost:
            lines.append(f"cost: {estimate.cost[0]:.0f}-{estimate.cost[1]:.0f} {estimate.currency} "
                         "(GPU time only; Modal's CPU and memory charges come on top)")
    return lines, problems


def _local_gpus() -> int:
    if not shutil.which("nvidia-smi"):
        return 0
    import subprocess

    done = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True)
    return sum(1 for line in done.stdout.splitlines() if line.startswith("GPU ")) if done.returncode == 0 else 0


def main(config_files: list[str], root: Path, results: Path) -> int:
    import sys

    from .config import ConfigError, compose_config, validate_config

    try:
        config = validate_config(compose_config(config_files, None, root / "config.yaml"))
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    lines, problems = preflight(config, root, results)
    print("\n".join(lines))
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    if problems:
        print(f"preflight: {len(problems)} problem(s); fix them before the run", file=sys.stderr)
        return 1
    print("preflight: ready")
    return 0
