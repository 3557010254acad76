"""Every schedule name in the schema, checked on the learning-rate trace of a real tiny training.

The expected curves are written out here in closed form (per step index i of N
steps, W = ceil(warmup_ratio * N) warm-up steps), independently of the code that
builds them; the trace is the `learning_rate` the trainer logs in
trainer_state.json at every step. Two further tests run the brief's own pattern
(`optimizers=(...)` handed to CrossEncoderTrainer) on the installed libraries and
show which named schedule each one actually produced.
"""

import json
import math
from pathlib import Path

import pytest
import torch
from transformers import TrainerCallback

from crossopt.config import load_config, load_schema, run_settings
from crossopt.data import build_training_pairs, write_pairs_parquet
from crossopt.smoke import make_training_tables, make_world
from crossopt.tiny_models import build_tiny_model
from crossopt.train import SCHEDULES, train_cross_encoder

ROOT = Path(__file__).resolve().parent.parent
TINY = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32,
        "vocab_size": 300, "max_position_embeddings": 64}
SEED = 12
PEAK = 1.0e-3
WARMUP_RATIO = 0.1
STEPS = 40  # 320 training pairs, batch 8, one epoch
WARMUP = math.ceil(WARMUP_RATIO * STEPS)


def expected_rate(schedule: str, i: int) -> float:
    """The rate of step index i (0-based) under `schedule`, from the schedule's definition."""
    warm = i / WARMUP if i < WARMUP else None
    after = (i - WARMUP) / (STEPS - WARMUP)
    factor = {
        "trainer_default": warm if warm is not None else 1 - after,
        "linear": warm if warm is not None else 1 - after,
        "constant": 1.0,
        "constant_with_warmup": warm if warm is not None else 1.0,
        "cosine": warm if warm is not None else 0.5 * (1 + math.cos(math.pi * after)),
        "cosine_annealing": 0.5 * (1 + math.cos(math.pi * i / STEPS)),
    }[schedule]
    return PEAK * factor


def schema_schedules() -> list[str]:
    return load_schema()["$defs"]["schedule"]["enum"]


@pytest.fixture(scope="module")
def tiny_inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("schedules")
    tables = make_training_tables(make_world(3, 20), 3, 200)
    train, heldout = build_training_pairs(tables["corpus"], tables["queries"], tables["triplets"], 400, 80, SEED)
    write_pairs_parquet(train, folder / "train.parquet")
    write_pairs_parquet(heldout, folder / "heldout.parquet")
    texts = list(train["query"].unique()) + list(train["passage"].unique())
    build_tiny_model("bert", TINY, texts, folder / "base", SEED)
    settings = run_settings(load_config(ROOT / "config" / "smoke.yaml"), "minilm", "adamw")
    settings.update(epochs=1, batch_size=8, logging_steps=1, max_length=32, learning_rate=PEAK,
                    warmup_ratio=WARMUP_RATIO, evaluator={"type": "heldout", "negatives": 3, "max_queries": 5})
    return {"folder": folder, "settings": settings, "train": folder / "train.parquet",
            "heldout": folder / "heldout.parquet", "base": folder / "base"}


def logged_rates(state_path: Path) -> dict[int, float]:
    """{global step: learning rate used at that step} from the trainer's log history."""
    history = json.loads(Path(state_path).read_text())["log_history"]
    return {entry["step"]: entry["learning_rate"] for entry in history if "learning_rate" in entry}


def test_the_schema_and_the_trainer_know_the_same_schedules():
    assert schema_schedules() == list(SCHEDULES)


@pytest.mark.parametrize("schedule", schema_schedules())
def test_logged_learning_rate_follows_the_named_schedule(schedule, tiny_inputs, tmp_path):
    settings = {**tiny_inputs["settings"], "scheduler": schedule}
    state = tmp_path / "trainer_state.json"
    train_cross_encoder(settings, str(tiny_inputs["base"]), tiny_inputs["train"], tiny_inputs["heldout"],
                        tmp_path / "work", [tmp_path / "epoch1"], state, SEED)
    rates = logged_rates(state)
    assert sorted(rates) == list(range(1, STEPS + 1))  # every step logged: the trace is complete
    # The rate logged at step s is the one its optimizer step used: index s - 1.
    for step, rate in rates.items():
        assert rate == pytest.approx(expected_rate(schedule, step - 1), rel=1e-6, abs=1e-12), (schedule, step)


def test_training_logs_a_progress_line_per_logging_step(tiny_inputs, tmp_path, caplog):
    """The job's log says how far a training is: step, loss, learning rate, pairs/s, time left."""
    import logging

    settings = {**tiny_inputs["settings"], "scheduler": "constant", "logging_steps": 10}
    with caplog.at_level(logging.INFO, logger="crossopt.train"):
        train_cross_encoder(settings, str(tiny_inputs["base"]), tiny_inputs["train"], tiny_inputs["heldout"],
                            tmp_path / "work", [tmp_path / "epoch1"], tmp_path / "state.json", SEED)
    lines = [r.getMessage() for r in caplog.records if r.name == "crossopt.train"]
    steps = [line for line in lines if ": step " in line]
    # logging_first_step plus every 10th step of 40
    assert [int(line.split(": step ")[1].split("/")[0]) for line in steps] == [1, 10, 20, 30, 40]
    assert all(f"/{STEPS} (" in line and "pairs/s" in line and "s left" in line for line in steps)
    assert steps[-1].split(": step ")[1].startswith(f"{STEPS}/{STEPS} (100%)")
    assert f"training {STEPS} steps" in lines[0]
    assert any("evaluated after epoch 1" in line for line in lines)


class RecordStepRates(TrainerCallback):
    """The learning rate the trainer's own optimizer held at each optimizer step."""

    def __init__(self):
        self.rates = []

    def on_optimizer_step(self, args, state, control, optimizer=None, **kwargs):
        self.rates.append(optimizer.param_groups[0]["lr"])


def brief_training(tiny_inputs, tmp_path, make_optimizers):
    """The brief's pattern on the installed stack: CrossEncoderTrainer with optimizers=(...)."""
    from datasets import Dataset
    from sentence_transformers.cross_encoder import (
        CrossEncoder,
        CrossEncoderTrainer,
        CrossEncoderTrainingArguments,
    )
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss
    import pandas as pd

    torch.manual_seed(SEED)
    model = CrossEncoder(str(tiny_inputs["base"]), num_labels=1, max_length=32)
    train = pd.read_parquet(tiny_inputs["train"])
    args = CrossEncoderTrainingArguments(
        output_dir=str(tmp_path), num_train_epochs=1, per_device_train_batch_size=8, learning_rate=PEAK,
        warmup_steps=WARMUP_RATIO, logging_steps=1, logging_first_step=True, save_strategy="no",
        use_cpu=True, report_to="none", disable_tqdm=True, seed=SEED)
    record = RecordStepRates()
    trainer = CrossEncoderTrainer(
        model=model, args=args, loss=BinaryCrossEntropyLoss(model),
        train_dataset=Dataset.from_pandas(train[["query", "passage", "label"]], preserve_index=False),
        optimizers=make_optimizers(model), callbacks=[record])
    trainer.train()
    logged = {e["step"]: e["learning_rate"] for e in trainer.state.log_history if "learning_rate" in e}
    return record.rates, logged


def test_optimizer_without_scheduler_gets_trainer_default(tiny_inputs, tmp_path):
    """The brief's MiniLM/GTE runs: optimizers=(optimizer, None)."""
    def make(model):
        return torch.optim.AdamW(model.parameters(), lr=PEAK, weight_decay=0.01), None

    used, logged = brief_training(tiny_inputs, tmp_path, make)
    assert len(used) == STEPS
    for i, rate in enumerate(used):
        assert rate == pytest.approx(expected_rate("trainer_default", i), rel=1e-6, abs=1e-12)
    assert logged[STEPS] == pytest.approx(used[-1], rel=1e-6)


def test_scheduler_on_an_unstepped_optimizer_leaves_the_rate_constant(tiny_inputs, tmp_path):
    """The brief's ModernBERT run: CosineAnnealingLR built on another optimizer object than the one passed."""
    def make(model):
        idle = torch.optim.AdamW(model.parameters(), lr=PEAK)  # the object the scheduler was built on
        stepping = torch.optim.AdamW(model.parameters(), lr=PEAK, weight_decay=0.01)
        return stepping, torch.optim.lr_scheduler.CosineAnnealingLR(idle, T_max=STEPS)

    used, logged = brief_training(tiny_inputs, tmp_path, make)
    assert len(used) == STEPS
    for i, rate in enumerate(used):
        assert rate == pytest.approx(expected_rate("constant", i))  # what the weights saw: no warm-up, no decay
    # ...while the logged rate, read from the scheduler, draws the cosine.
    for step, rate in logged.items():
        assert rate == pytest.approx(expected_rate("cosine_annealing", step - 1), rel=1e-6, abs=1e-12)
