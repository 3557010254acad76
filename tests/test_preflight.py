"""`python -m crossopt.cli preflight`: the checks before a real run and its cost range."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from crossopt import preflight
from crossopt.config import compose_config, validate_config

ROOT = Path(__file__).resolve().parent.parent
SHA = "0123456789abcdef0123456789abcdef01234567"
REAL = ["config.yaml", "config/rerun.yaml", "config/modal.yaml"]


def run_preflight(*files: str, env: dict | None = None, results: Path | None = None):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MODAL_TOKEN")}
    environ.update(env or {})
    environ["HOME"] = str(results or ROOT / "nowhere")  # no ~/.modal.toml of the developer's
    command = [sys.executable, "-m", "crossopt.cli", "preflight", "--configfile", *files]
    if results:
        command += ["--results", str(results / "results")]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=environ)


def test_placeholder_pins_are_each_listed_and_fail():
    done = run_preflight(*REAL)
    assert done.returncode == 1
    problems = [line for line in done.stderr.splitlines() if line.startswith("problem:")]
    assert any("missing required key 'data.hf_revision'" in p for p in problems), done.stderr
    assert any("missing required key 'training.evaluator.revision'" in p for p in problems), done.stderr
    assert any("no Modal token" in p for p in problems), done.stderr
    assert "SECRET" not in done.stdout


def test_complete_pins_give_a_cost_range_and_pass(tmp_path):
    pins = tmp_path / "pins.yaml"
    pins.write_text(f"data: {{hf_revision: {SHA}}}\ntraining: {{evaluator: {{revision: {SHA}}}}}\n")
    done = run_preflight(*REAL, str(pins), env={"MODAL_TOKEN_ID": "ak-x", "MODAL_TOKEN_SECRET": "as-hidden"},
                         results=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "as-hidden" not in done.stdout + done.stderr and "ak-x" not in done.stdout + done.stderr
    assert "Modal token: configured (not shown)" in done.stdout
    config = validate_config(compose_config([str(ROOT / f) for f in REAL] + [str(pins)], None, ROOT / "config.yaml"))
    estimate = preflight.estimate_cost(config)
    assert (estimate.trainings, estimate.reranks) == (6, 6)  # a reranking job per training run
    low, high = estimate.cost
    assert f"cost: {low:.0f}-{high:.0f} USD" in done.stdout
    assert "jobs: 6 trainings, 6 reranking jobs" in done.stdout and done.stdout.rstrip().endswith("ready")


def test_the_estimate_is_the_documented_arithmetic():
    """Low end: trained pairs x epochs / measured pairs/s (gte scaled by its real shape),
    reranking at the measured rate, one minute per container start, priced per hour."""
    config = validate_config(compose_config([str(ROOT / f) for f in REAL], None, ROOT / "config.yaml"))
    pairs = (2_000_000 - 10_000) * 3
    train = sum(pairs / rate * preflight.SHAPE_FACTOR.get(model, 1.0)
                for model, rates in preflight.TRAIN_PAIRS_PER_SECOND.items() for rate in rates.values())
    rerank_pairs = 43 * 1000 + 10047 * 10
    rerank = sum(rerank_pairs * 6 / rates["bf16"] * preflight.SHAPE_FACTOR.get(model, 1.0)
                 for model, rates in preflight.RERANK_PAIRS_PER_SECOND.items())
    starts = (6 + 6) * 60  # 6 trainings, and one reranking call per training run
    estimate = preflight.estimate_cost(config)
    assert estimate.gpu_hours[0] == pytest.approx((train + rerank + starts) / 3600)
    assert estimate.cost[0] == pytest.approx(estimate.gpu_hours[0] * 3.9492)
    assert estimate.gpu_hours[1] > estimate.gpu_hours[0] * preflight.SLOWER


def test_reported_results_spend_nothing():
    done = run_preflight("config.yaml")
    assert "results: reported" in done.stdout and "GPU time" not in done.stdout
    assert "researcher's files" in done.stdout and "all present" in done.stdout


def test_a_half_precision_base_model_is_reported(tmp_path):
    from transformers import AutoModelForSequenceClassification

    from crossopt.tiny_models import build_tiny_model

    spec = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32,
            "vocab_size": 120, "max_position_embeddings": 32}
    folder = tmp_path / "results" / "base_models" / "gte"
    build_tiny_model("bert", spec, ["alpha beta gamma", "what is alpha"] * 20, folder, 0)
    AutoModelForSequenceClassification.from_pretrained(folder).half().save_pretrained(folder)
    assert preflight.safetensors_dtypes(folder / "model.safetensors") == {"F16"}
    done = run_preflight(*REAL, results=tmp_path)
    assert re.search(r"base model gte: stored as F16 \(trained with fp32 master weights", done.stdout), done.stdout
