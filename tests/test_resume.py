"""Preemption and retries: a resumed training equals an uninterrupted one.

The interrupted run goes through the Modal function's body (`train_on_volume`,
via `Function.local()` on a folder standing in for the Volume), exactly as a
Modal retry would call it again with the same request.
"""

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback

from crossopt import train as train_module
from crossopt.backends import LocalVolumeSession
from crossopt.config import load_config, run_settings
from crossopt.data import build_training_pairs, write_pairs_parquet
from crossopt.modal_app import discard_incomplete_checkpoints, trainer_callbacks
from crossopt.smoke import make_training_tables, make_world
from crossopt.tiny_models import build_tiny_model
from crossopt.train import train_cross_encoder

ROOT = Path(__file__).resolve().parent.parent
TINY = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64,
        "vocab_size": 300, "max_position_embeddings": 64}
SEED = 12
# Log keys that measure speed, not training; they differ between any two runs.
TIMING_KEYS = ("runtime", "per_second")


def make_tiny_run(folder: Path) -> dict:
    """400 generated pairs (320 train, 80 held out), a tiny BERT and 3-epoch settings: 20 steps per epoch."""
    folder.mkdir(parents=True, exist_ok=True)
    tables = make_training_tables(make_world(3, 20), 3, 200)
    train, heldout = build_training_pairs(tables["corpus"], tables["queries"], tables["triplets"], 400, 80, SEED)
    write_pairs_parquet(train, folder / "train.parquet")
    write_pairs_parquet(heldout, folder / "heldout.parquet")
    texts = list(train["query"].unique()) + list(train["passage"].unique())
    build_tiny_model("bert", TINY, texts, folder / "base", SEED)
    settings = run_settings(load_config(ROOT / "config" / "smoke.yaml"), "minilm", "adamw")
    settings.update(epochs=3, batch_size=16, logging_steps=5, max_length=48,
                    evaluator={"type": "heldout", "negatives": 5, "max_queries": 20})
    return {"settings": settings, "model_spec": {"source": "tiny"}, "base": folder / "base",
            "train": folder / "train.parquet", "heldout": folder / "heldout.parquet"}


def train_locally(run: dict, out: Path) -> dict:
    return train_cross_encoder(run["settings"], str(run["base"]), run["train"], run["heldout"], out / "work",
                               [out / f"epoch{e}" for e in (1, 2, 3)], out / "trainer_state.json", SEED)


def comparable_log(state_path: Path) -> list[dict]:
    """The trainer's log history without timings and without the final summary entry.

    The summary's `train_loss` averages only the steps of the last attempt, so it
    differs after a resume by design; every per-step loss and eval metric is compared.
    """
    history = json.loads(Path(state_path).read_text())["log_history"]
    return [{k: v for k, v in entry.items() if not any(t in k for t in TIMING_KEYS)}
            for entry in history if "train_loss" not in entry]


def max_weight_difference(a: Path, b: Path) -> tuple[float, bool]:
    left, right = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert left.keys() == right.keys()
    return (max((left[k].float() - right[k].float()).abs().max().item() for k in left),
            all(torch.equal(left[k], right[k]) for k in left))


class Preemption(Exception):
    pass


class PreemptAfterFirstCheckpoint(TrainerCallback):
    """Stops training a few steps after the first checkpoint, as a preempted container would."""

    def __init__(self, steps_after: int = 5):
        self.steps_after = steps_after
        self.saved_at = None

    def on_save(self, args, state, control, **kwargs):
        if self.saved_at is None:
            self.saved_at = state.global_step

    def on_step_begin(self, args, state, control, **kwargs):
        if self.saved_at is not None and state.global_step >= self.saved_at + self.steps_after:
            raise Preemption(f"preempted at step {state.global_step}")


class PreemptAtStep(TrainerCallback):
    """Stops training before step `step + 1`, wherever the last checkpoint was."""

    def __init__(self, step: int):
        self.step = step

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            raise Preemption(f"preempted at step {state.global_step}")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return make_tiny_run(tmp_path_factory.mktemp("tiny-run"))


def test_resumed_training_equals_uninterrupted_run(tiny_run, tmp_path):
    reference = tmp_path / "uninterrupted"
    train_locally(tiny_run, reference)

    # The Volume: inputs uploaded, then two attempts of the same request.
    volume = tmp_path / "volume"
    for name in ("train.parquet", "heldout.parquet"):
        (volume / "inputs").mkdir(parents=True, exist_ok=True)
        shutil.copy(tiny_run[name.split(".")[0]], volume / "inputs" / name)
    shutil.copytree(tiny_run["base"], volume / "inputs" / "base")
    request = {"volume": "crossopt", "run_dir": "runs/minilm/adamw/seed12/test", "settings": tiny_run["settings"],
               "seed": SEED, "model": {"path": "inputs/base"}, "train": "inputs/train.parquet",
               "heldout": "inputs/heldout.parquet"}
    session = LocalVolumeSession(volume)
    work = volume / request["run_dir"] / "work"

    # Attempt 1: preempted 5 steps into epoch 2.
    preemption = PreemptAfterFirstCheckpoint(steps_after=5)
    factory = train_module._study_trainer_class
    with trainer_callbacks(preemption), pytest.raises(Preemption, match="step 25"):
        session.run("train", request)
    assert train_module._study_trainer_class is factory  # the callbacks were attached for that call only
    assert preemption.saved_at == 20
    assert sorted(p.name for p in work.glob("checkpoint-*")) == ["checkpoint-20"]

    # The preemption hit while epoch 2's checkpoint was being written: weights, no state.
    half_written = work / "checkpoint-40"
    half_written.mkdir()
    shutil.copy(work / "checkpoint-20" / "model.safetensors", half_written / "model.safetensors")

    # Attempt 2 (Modal's retry): same request, resumes from epoch 1's checkpoint.
    result = session.run("train", request)
    assert result["discarded"] == ["checkpoint-40"]
    assert result["summary"]["resumed_from"] == str(work / "checkpoint-20")
    assert [a["status"] for a in result["attempts"]] == ["failed", "finished"]
    assert all(a["seconds"] > 0 for a in result["attempts"])

    resumed = volume / request["run_dir"] / "models"
    differences = {}
    for epoch in (1, 2, 3):
        difference, identical = max_weight_difference(reference / f"epoch{epoch}", resumed / f"epoch{epoch}")
        differences[epoch] = difference
        assert identical, f"epoch {epoch}: weights differ by up to {difference}"
    # Training moved the weights, so the equality above is not a trivial one.
    assert max_weight_difference(reference / "epoch1", reference / "epoch3")[0] > 1e-4

    expected = comparable_log(reference / "trainer_state.json")
    actual = comparable_log(volume / request["run_dir"] / "trainer_state.json")
    assert [sorted(e) for e in actual] == [sorted(e) for e in expected]
    metric_differences = [abs(a[k] - e[k]) for a, e in zip(actual, expected) for k in e
                          if isinstance(e[k], float)]
    evals = [e for e in expected if "eval_heldout_ndcg@10" in e]
    assert len(evals) == 3 and max(metric_differences) <= 1e-6
    print(f"\nresume equality: max |weight difference| per epoch {differences}; "
          f"max |log/metric difference| {max(metric_differences)} over {len(metric_differences)} values; "
          f"eval_heldout_ndcg@10 per epoch {[e['eval_heldout_ndcg@10'] for e in evals]}")


def test_half_written_checkpoints_are_discarded_and_complete_ones_kept(tmp_path):
    complete = tmp_path / "checkpoint-10"
    complete.mkdir()
    for name in ("optimizer.pt", "scheduler.pt", "rng_state.pth", "model.safetensors"):
        (complete / name).write_bytes(b"x")
    (complete / "trainer_state.json").write_text(json.dumps({"epoch": 1.0}))
    no_state = tmp_path / "checkpoint-20"  # stopped before the trainer state, which is written last
    shutil.copytree(complete, no_state)
    (no_state / "trainer_state.json").unlink()
    truncated = tmp_path / "checkpoint-30"  # stopped while writing the trainer state
    shutil.copytree(complete, truncated)
    (truncated / "trainer_state.json").write_text('{"epoch": 3.')
    no_optimizer = tmp_path / "checkpoint-40"  # resuming would silently restart the optimizer
    shutil.copytree(complete, no_optimizer)
    (no_optimizer / "optimizer.pt").unlink()

    assert discard_incomplete_checkpoints(tmp_path) == ["checkpoint-20", "checkpoint-30", "checkpoint-40"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-10"]
    assert discard_incomplete_checkpoints(tmp_path / "absent") == []


@pytest.mark.parametrize("optim", ["adamw", "lion"])
def test_a_checkpoint_saved_in_fp16_trains_in_fp32_and_reranks(tmp_path, optim):
    """transformers 5 loads a checkpoint in the dtype it was saved in. A base model stored in
    fp16 (as gte-multilingual-base very likely is) must still train fp32 master weights: no
    NaN, every weight tensor moves, the exported checkpoint reloads and reranks."""
    from transformers import AutoModelForSequenceClassification

    from crossopt.rerank import rerank_to_file

    run = make_tiny_run(tmp_path / "run")
    fp16 = AutoModelForSequenceClassification.from_pretrained(run["base"]).half()
    fp16.save_pretrained(run["base"])
    stored = load_file(run["base"] / "model.safetensors")
    assert {t.dtype for t in stored.values()} == {torch.float16}  # the base really is fp16 on disk
    settings = run_settings(load_config(ROOT / "config" / "smoke.yaml"), "minilm", optim)
    settings.update(epochs=1, batch_size=16, logging_steps=5, max_length=48, learning_rate=2e-5,
                    evaluator={"type": "heldout", "negatives": 5, "max_queries": 20})
    out = tmp_path / "out"
    train_cross_encoder(settings, str(run["base"]), run["train"], run["heldout"], out / "work", [out / "epoch1"],
                        out / "trainer_state.json", SEED)
    log = json.loads((out / "trainer_state.json").read_text())["log_history"]
    norms = [entry["grad_norm"] for entry in log if "grad_norm" in entry]
    assert norms and all(torch.isfinite(torch.tensor(n)) for n in norms), norms
    trained = load_file(out / "epoch1" / "model.safetensors")
    assert {t.dtype for t in trained.values()} == {torch.float32}
    shared = [name for name in stored if name in trained and "classifier" not in name]
    unmoved = [name for name in shared if torch.equal(trained[name], stored[name].float())]
    # 2e-5 is below fp16's resolution for most weights: in fp16, Lion's updates are lost.
    assert len(unmoved) <= 1, unmoved  # at most the position ids' buffer-like embeddings of unused rows
    pairs = {"qid": ["q1", "q1", "q2"], "docid": ["d1", "d2", "d3"], "rank": [1, 2, 1], "score": [3.0, 2.0, 1.0],
             "query": ["what is it"] * 3, "passage": ["an answer", "another text", "a third text"]}
    import pandas as pd

    pd.DataFrame(pairs).to_parquet(tmp_path / "candidates.parquet", index=False)
    assert rerank_to_file(out / "epoch1", tmp_path / "candidates.parquet", tmp_path / "run.trec", 8, 48, "t",
                          {"mode": "optimized"}) == 3


def test_a_run_preempted_within_an_epoch_resumes_there(tiny_run, tmp_path):
    """With save_steps 7 (20 steps per epoch), a preemption at step 31 loses 3 steps, not 11:
    the retry resumes from checkpoint-28, and the weights of every epoch equal those of a run
    that was never interrupted (and never checkpointed within an epoch)."""
    reference = tmp_path / "uninterrupted"
    train_locally(tiny_run, reference)
    run = dict(tiny_run, settings={**tiny_run["settings"], "save_steps": 7})
    out = tmp_path / "preempted"
    work = out / "work"
    with trainer_callbacks(PreemptAtStep(31)), pytest.raises(Preemption, match="step 31"):
        train_locally(run, out)
    # Epoch 1's end, and the newest checkpoint within epoch 2 (7, 14 and 21 were removed once superseded).
    assert sorted(p.name for p in work.glob("checkpoint-*")) == ["checkpoint-20", "checkpoint-28"]
    assert train_module.checkpoint_epochs(work) == {1: work / "checkpoint-20"}
    assert train_module.latest_checkpoint(work) == work / "checkpoint-28"

    summary = train_locally(run, out)
    assert summary["resumed_from"] == str(work / "checkpoint-28")
    # Only the epochs' checkpoints are left once the run has finished.
    assert sorted(p.name for p in work.glob("checkpoint-*")) == ["checkpoint-20", "checkpoint-40", "checkpoint-60"]
    for epoch in (1, 2, 3):
        difference, identical = max_weight_difference(reference / f"epoch{epoch}", out / f"epoch{epoch}")
        assert identical, f"epoch {epoch}: weights differ by up to {difference}"
    expected = comparable_log(reference / "trainer_state.json")
    actual = comparable_log(out / "trainer_state.json")
    assert [sorted(e) for e in actual] == [sorted(e) for e in expected]
    differing = {(e["step"], k) for a, e in zip(actual, expected) for k in e
                 if isinstance(e[k], float) and abs(a[k] - e[k]) > 1e-6}
    # The trainer logs the mean loss since its last log; the first log after the resume (step 30,
    # logging every 5 steps) averages steps 29-30 only, where the uninterrupted run averaged 26-30.
    # Every other logged value, every evaluation included, is the same.
    assert differing <= {(30, "loss")}, differing


def test_how_often_a_run_is_checkpointed_is_not_part_of_its_fingerprint():
    from crossopt.backends import run_fingerprint

    settings = {"learning_rate": 2e-5, "epochs": 3}
    base = run_fingerprint(settings, {"source": "tiny"}, SEED, {"train": "abc"})
    assert run_fingerprint({**settings, "save_steps": 500}, {"source": "tiny"}, SEED, {"train": "abc"}) == base
    assert run_fingerprint({**settings, "epochs": 4}, {"source": "tiny"}, SEED, {"train": "abc"}) != base


def test_gradient_accumulation_gives_the_effective_batch(tiny_run, tmp_path):
    """Two accumulated batches of 16 make one optimizer step: an epoch of 320 pairs takes 10
    steps, as with one batch of 32, instead of 20; the schedule is laid over those 10 steps
    and the logged steps are optimizer steps. (The weights are not those of a batch of 32 to
    rounding: dropout and the loss's per-batch mean are drawn per forward pass.)"""
    one_epoch = {**tiny_run["settings"], "epochs": 1, "logging_steps": 1}

    def train(settings: dict, out: Path) -> dict:
        train_cross_encoder(settings, str(tiny_run["base"]), tiny_run["train"], tiny_run["heldout"], out / "work",
                            [out / "epoch1"], out / "trainer_state.json", SEED)
        return json.loads((out / "trainer_state.json").read_text())

    accumulated = train({**one_epoch, "gradient_accumulation_steps": 2}, tmp_path / "accumulated")
    large = train({**one_epoch, "batch_size": 32}, tmp_path / "large")
    plain = train(one_epoch, tmp_path / "plain")
    assert accumulated["global_step"] == large["global_step"] == 10 and plain["global_step"] == 20
    rates = {name: [e["learning_rate"] for e in state["log_history"] if "learning_rate" in e]
             for name, state in (("accumulated", accumulated), ("large", large), ("plain", plain))}
    assert rates["accumulated"] == rates["large"] and len(rates["accumulated"]) == 10
    assert len(rates["plain"]) == 20
    apart, identical = max_weight_difference(tmp_path / "accumulated" / "epoch1", tmp_path / "plain" / "epoch1")
    assert not identical and apart > 1e-4
