"""The one training entry point for every model, optimizer and backend.

`train_cross_encoder` trains a sentence-transformers CrossEncoder with
`CrossEncoderTrainer` and `BinaryCrossEntropyLoss`, evaluates and saves a
checkpoint after every epoch, and exports each epoch's model to its own folder.
The optimizer (AdamW or Lion) and the learning-rate schedule are built by
`StudyTrainer` so the schedule is always attached to the optimizer that is
actually stepping (the brief's script built a CosineAnnealingLR on an optimizer
that was then not the one the trainer used).

Schedules (`SCHEDULES`; the config's `scheduler` value). Two of them reproduce
what the researcher's script actually ran on this stack (transformers 5.24,
sentence-transformers 6.2):

* `trainer_default`: `optimizers=(optimizer, None)` leaves the schedule to the
  trainer (`Trainer.create_scheduler`), which builds its default
  `lr_scheduler_type="linear"`: linear warm-up over `warmup_ratio` of the steps,
  then linear decay to zero. The study's trainer delegates to that same method.
* `constant`: a scheduler passed in replaces the trainer's, warm-up included. The
  brief's CosineAnnealingLR was built on an optimizer object the trainer did not
  step, so its `step()` changed the rate of an idle optimizer and the stepping
  one kept its initial rate throughout (while the logged `learning_rate`, read
  from that scheduler, still drew a cosine).

The others are what one would write on purpose: `constant_with_warmup`,
`linear` (the same curve as trainer_default, defined here rather than by the
library's default), `cosine` (warm-up, then cosine decay to zero) and
`cosine_annealing` (torch's CosineAnnealingLR over all steps, no warm-up: the
brief's intended schedule, attached to the optimizer that steps).
"""

from __future__ import annotations

import json
import math
import random
import shutil
from pathlib import Path

import pandas as pd
import torch
from transformers import get_scheduler

from .atomic import atomic_write_text, replace_path

# Files of a trainer checkpoint that only matter for resuming, not for inference.
RESUME_ONLY_FILES = {"optimizer.pt", "scheduler.pt", "rng_state.pth", "training_args.bin", "scaler.pt"}
# Schedule name -> what it does (the schema's `scheduler` enum lists the same names).
SCHEDULES = {
    "trainer_default": "the trainer's own schedule, as with optimizers=(optimizer, None): "
                       "linear warm-up over warmup_ratio, then linear decay to 0",
    "constant": "the peak rate at every step, no warm-up",
    "constant_with_warmup": "linear warm-up over warmup_ratio, then the peak rate",
    "linear": "linear warm-up over warmup_ratio, then linear decay to 0",
    "cosine": "linear warm-up over warmup_ratio, then cosine decay to 0",
    "cosine_annealing": "torch CosineAnnealingLR(T_max=all steps): cosine from the peak to 0, no warm-up",
}
# Names that transformers.get_scheduler builds with our warm-up.
_TRANSFORMERS_SCHEDULES = {"constant_with_warmup": "constant_with_warmup", "linear": "linear", "cosine": "cosine",
                           "constant": "constant"}


def parameter_groups(model: torch.nn.Module, weight_decay: float, decay_bias_and_norm: bool,
                     no_decay_names: set[str] | None = None) -> list[dict]:
    """Parameter groups for the optimizer.

    With `decay_bias_and_norm` every trainable parameter is decayed (what passing
    `model.parameters()` to the optimizer does, as the brief did); otherwise
    biases and normalisation weights (the names in `no_decay_names`, by default
    those with 'bias' or 'norm' in their name) get no decay.
    """
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    if decay_bias_and_norm:
        return [{"params": [p for _, p in named], "weight_decay": weight_decay}]
    if no_decay_names is None:
        no_decay_names = {name for name, _ in named if "bias" in name or "norm" in name.lower()}
    decay = [p for name, p in named if name not in no_decay_names]
    no_decay = [p for name, p in named if name in no_decay_names]
    return [g for g in ({"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0})
            if g["params"]]


HEAD_MODULES = ("classifier", "score", "head")


def is_head_parameter(name: str) -> bool:
    """Parameters of the freshly initialised scoring head (e.g. `classifier.weight`, `model.classifier.bias`)."""
    return any(part in HEAD_MODULES for part in name.split(".")[:-1])


def split_head_groups(model: torch.nn.Module, groups: list[dict], head_lr: float) -> list[dict]:
    """The same groups with the head's parameters moved into copies that carry `lr=head_lr`.

    The schedule scales every group's rate by the same factor, so the head keeps
    its ratio to the body throughout warmup and decay.
    """
    head = {id(p) for name, p in model.named_parameters() if is_head_parameter(name)}
    if not head:
        raise ValueError("head_learning_rate is set, but the model has no classifier/score/head parameters")
    split = []
    for group in groups:
        body_params = [p for p in group["params"] if id(p) not in head]
        head_params = [p for p in group["params"] if id(p) in head]
        split += [g for g in ({**group, "params": body_params}, {**group, "params": head_params, "lr": head_lr})
                  if g["params"]]
    return split


def adamw_fused(groups: list[dict]) -> bool:
    """Whether AdamW runs fused: every parameter is a floating-point CUDA tensor."""
    params = [p for group in groups for p in group["params"]]
    return bool(params) and all(p.device.type == "cuda" and p.is_floating_point() for p in params)


def make_optimizer(groups: list[dict], settings: dict) -> torch.optim.Optimizer:
    """AdamW from torch or Lion with lion-pytorch's update, with the run's settings.

    `lion_implementation` picks how Lion's step runs: reference (lion_pytorch.Lion),
    foreach (crossopt.lion_fast.ForeachLion, same arithmetic in multi-tensor
    kernels) or triton (lion-pytorch's CUDA kernel).
    """
    lr, betas = settings["learning_rate"], tuple(settings["betas"])
    if settings["optimizer_type"] == "adamw":
        # On a GPU, torch's fused AdamW (one kernel per step, where the default foreach path
        # launches several): the step-time comparison with Lion is then against AdamW at its
        # fastest (docs/performance.md). Same update up to rounding; on the CPU the default path.
        return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=settings["eps"], weight_decay=settings["weight_decay"],
                                 fused=True if adamw_fused(groups) else None)
    if settings["optimizer_type"] == "lion":
        from .lion_fast import make_lion

        return make_lion(groups, lr, betas, settings["weight_decay"], settings.get("lion_implementation", "reference"))
    raise ValueError(f"unknown optimizer type {settings['optimizer_type']!r} (expected adamw or lion)")


def warmup_steps(warmup_ratio: float, num_training_steps: int) -> int:
    return math.ceil(warmup_ratio * num_training_steps)


def trainer_default_schedule_type() -> str:
    """The `lr_scheduler_type` the trainer uses when none is given (a TrainingArguments default)."""
    import dataclasses

    from transformers import TrainingArguments

    field = next(f for f in dataclasses.fields(TrainingArguments) if f.name == "lr_scheduler_type")
    return str(getattr(field.default, "value", field.default))


def make_scheduler(optimizer: torch.optim.Optimizer, scheduler: str, warmup_ratio: float, num_training_steps: int):
    """The schedule `scheduler` (a key of SCHEDULES) on `optimizer`, over `num_training_steps` steps."""
    if scheduler not in SCHEDULES:
        raise ValueError(f"unknown scheduler {scheduler!r} (expected one of {', '.join(SCHEDULES)})")
    if scheduler == "cosine_annealing":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=num_training_steps)
    name = trainer_default_schedule_type() if scheduler == "trainer_default" else _TRANSFORMERS_SCHEDULES[scheduler]
    return get_scheduler(
        name,
        optimizer=optimizer,
        num_warmup_steps=0 if scheduler == "constant" else warmup_steps(warmup_ratio, num_training_steps),
        num_training_steps=num_training_steps,
    )


def _study_trainer_class():
    # Imported lazily: sentence-transformers pulls in most of transformers.
    from sentence_transformers.cross_encoder import CrossEncoderTrainer

    class StudyTrainer(CrossEncoderTrainer):
        """CrossEncoderTrainer whose optimizer and schedule come from the run settings."""

        def __init__(self, *args, run_settings: dict, **kwargs):
            self.run_settings = run_settings
            super().__init__(*args, **kwargs)

        def create_optimizer(self, model=None):
            if self.optimizer is None:
                s = self.run_settings
                no_decay = None
                if not s["decay_bias_and_norm"]:
                    decay_names = set(self.get_decay_parameter_names(self.model))
                    no_decay = {n for n, _ in self.model.named_parameters() if n not in decay_names}
                groups = parameter_groups(self.model, s["weight_decay"], s["decay_bias_and_norm"], no_decay)
                if s.get("head_learning_rate") is not None:
                    groups = split_head_groups(self.model, groups, s["head_learning_rate"])
                self.optimizer = make_optimizer(groups, s)
            return self.optimizer

        def create_scheduler(self, num_training_steps, optimizer=None):
            s = self.run_settings
            if s["scheduler"] == "trainer_default":
                # Exactly what the trainer does with optimizers=(optimizer, None).
                return super().create_scheduler(num_training_steps, optimizer)
            if self.lr_scheduler is None:
                self.lr_scheduler = make_scheduler(
                    optimizer or self.optimizer, s["scheduler"], s["warmup_ratio"], num_training_steps
                )
            return self.lr_scheduler

    return StudyTrainer


def _progress_callback(batch_size: int, name: str):
    """A TrainerCallback that logs one progress line per logging step (the job's log).

    The trainer's own progress bar is off (it floods captured logs); this line gives
    step, epoch, loss, learning rate, pairs/s since the start and the time left, so a
    user following logs/train/... sees how far a training job is.
    """
    import logging
    import time

    from transformers import TrainerCallback

    log = logging.getLogger("crossopt.train")

    class ProgressLog(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            self.start, self.first_step = time.monotonic(), state.global_step
            log.info("%s: training %d steps of %d pairs (from step %d)", name, state.max_steps, batch_size,
                     state.global_step)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not logs or "loss" not in logs:
                return
            done = state.global_step - self.first_step
            elapsed = time.monotonic() - self.start
            rate = done * batch_size / elapsed if elapsed > 0 else float("nan")
            left = (state.max_steps - state.global_step) * elapsed / done if done else float("nan")
            log.info("%s: step %d/%d (%.0f%%), epoch %.2f, loss %.4f, lr %.3g, %.1f pairs/s, about %.0f s left",
                     name, state.global_step, state.max_steps, 100 * state.global_step / max(state.max_steps, 1),
                     state.epoch or 0.0, logs["loss"], logs.get("learning_rate", float("nan")), rate, left)

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            shown = {k: v for k, v in (metrics or {}).items() if k == args.metric_for_best_model or k == "eval_loss"}
            log.info("%s: evaluated after epoch %.0f: %s", name, state.epoch or 0.0,
                     ", ".join(f"{k} {v:.4f}" for k, v in shown.items()))

    return ProgressLog()


def heldout_reranking_samples(heldout: pd.DataFrame, negatives: int, max_queries: int, seed: int) -> list[dict]:
    """Reranking samples for the offline per-epoch evaluator.

    Each held-out query with a positive passage is paired with its own negatives
    plus passages of other held-out queries (sampled with `seed`), so the metric
    is a ranking metric and not the near-trivial 1-positive-1-negative accuracy.
    """
    rng = random.Random(seed)
    passages = sorted(set(heldout["passage"]))
    samples = []
    for query, group in sorted(heldout.groupby("query", sort=True), key=lambda item: item[0]):
        positives = sorted(group.loc[group["label"] > 0.5, "passage"])
        if not positives:
            continue
        own_negatives = sorted(group.loc[group["label"] <= 0.5, "passage"])
        pool = [p for p in passages if p not in positives and p not in own_negatives]
        sampled = rng.sample(pool, min(negatives, len(pool)))
        samples.append({"query": query, "positive": positives, "negative": own_negatives + sampled})
        if len(samples) >= max_queries:
            break
    if not samples:
        raise ValueError("held-out pairs contain no query with a positive passage; cannot build the evaluator")
    return samples


def make_evaluator(spec: dict, heldout: pd.DataFrame, batch_size: int, seed: int):
    from sentence_transformers.cross_encoder.evaluation import CrossEncoderRerankingEvaluator

    if spec["type"] == "nanobeir":
        from .sources import NANOBEIR_DATASET, nanobeir_evaluator

        revision = spec.get("revision")
        return nanobeir_evaluator(spec["datasets"], batch_size, spec.get("dataset_id", NANOBEIR_DATASET),
                                  None if revision in (None, "unpinned") else revision)
    samples = heldout_reranking_samples(heldout, spec["negatives"], spec["max_queries"], seed)
    return CrossEncoderRerankingEvaluator(samples=samples, name="heldout", batch_size=batch_size, write_csv=False)


def load_cross_encoder(model_path: str, settings: dict, revision: str | None = None):
    from sentence_transformers.cross_encoder import CrossEncoder

    from .model_code import loading_kwargs, model_code, open_model

    # Master weights in float32 whatever dtype the checkpoint holds (transformers 5 loads the
    # saved dtype: an fp16 checkpoint would train in fp16, lose Lion's small updates and give
    # AdamW NaN gradients); bf16 is autocast on top when the config asks for it.
    return open_model(lambda: CrossEncoder(
        model_path,
        num_labels=1,
        max_length=settings["max_length"],
        revision=revision,
        **loading_kwargs(model_code(settings), {"dtype": torch.float32}),
    ), str(model_path))


def _complete_checkpoints(work_dir: str | Path) -> list[tuple[Path, float]]:
    """(folder, epoch) of every complete `checkpoint-<step>` folder, by step.

    A checkpoint without trainer_state.json is incomplete (the trainer writes that file
    last) and is ignored.
    """
    found = []
    for folder in sorted(Path(work_dir).glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1])):
        state = folder / "trainer_state.json"
        if state.exists():
            found.append((folder, float(json.loads(state.read_text())["epoch"])))
    return found


def _at_epoch_end(epoch: float) -> bool:
    return abs(epoch - round(epoch)) < 1e-6 and round(epoch) >= 1


def checkpoint_epochs(work_dir: str | Path) -> dict[int, Path]:
    """{epoch: checkpoint folder} of the checkpoints written at the end of an epoch.

    With `save_steps`, the trainer also writes checkpoints within an epoch (for
    resuming only); their fractional epoch keeps them out of this map.
    """
    return {int(round(epoch)): folder for folder, epoch in _complete_checkpoints(work_dir) if _at_epoch_end(epoch)}


def latest_checkpoint(work_dir: str | Path) -> Path | None:
    """The newest complete checkpoint, at an epoch's end or within one: where a resume starts."""
    found = _complete_checkpoints(work_dir)
    return found[-1][0] if found else None


def _checkpointing_callback(work_dir: Path):
    """With `save_steps`: a checkpoint at every epoch's end as well (the per-epoch exports
    need them), and only the newest checkpoint within an epoch kept, since older ones
    only cost disk (each holds the optimizer state)."""
    from transformers import TrainerCallback

    class EpochCheckpoints(TrainerCallback):
        def on_epoch_end(self, args, state, control, **kwargs):
            control.should_save = True
            return control

        def on_save(self, args, state, control, **kwargs):
            within = [folder for folder, epoch in _complete_checkpoints(work_dir) if not _at_epoch_end(epoch)]
            for folder in within:
                if int(folder.name.split("-")[1]) < state.global_step:
                    shutil.rmtree(folder, ignore_errors=True)

    return EpochCheckpoints()


def export_checkpoint(checkpoint: Path, destination: Path, code: dict | None = None) -> None:
    """Copy a checkpoint's inference files (weights, config, tokenizer, state) to `destination`.

    `code` (crossopt.model_code) is recorded with it when the model needs code that
    transformers does not ship, so reranking loads it with the same code.
    """
    from .model_code import write_model_code

    staging = destination.with_name(f".{destination.name}.tmp")
    if staging.exists():
        shutil.rmtree(staging)
    shutil.copytree(checkpoint, staging, ignore=lambda _, names: [n for n in names if n in RESUME_ONLY_FILES])
    if code and (code.get("local_code") or code.get("trust_remote_code")):
        write_model_code(staging, code)
    replace_path(staging, destination)  # the export it replaces goes only once this one is in place


def train_cross_encoder(
    settings: dict,
    model_path: str,
    train_parquet: str | Path,
    heldout_parquet: str | Path,
    work_dir: str | Path,
    epoch_dirs: list[str | Path],
    state_path: str | Path,
    seed: int,
    revision: str | None = None,
    resume: bool = True,
) -> dict:
    """Train one cross-encoder and export one model folder per epoch.

    `work_dir` holds the trainer's resumable checkpoints; training resumes from
    the newest complete one when `resume` is set. Returns a summary (best epoch
    and its metric) that is also stored next to the trainer state.
    """
    from datasets import Dataset
    from sentence_transformers.cross_encoder import CrossEncoderTrainingArguments
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    from .model_code import model_code

    work_dir, state_path = Path(work_dir), Path(state_path)
    if len(epoch_dirs) != settings["epochs"]:
        raise ValueError(f"expected {settings['epochs']} epoch folders, got {len(epoch_dirs)}")

    # 1. model
    torch.manual_seed(seed)
    model = load_cross_encoder(model_path, settings, revision)
    # 2. data
    train = pd.read_parquet(train_parquet)
    heldout = pd.read_parquet(heldout_parquet)
    train_dataset = Dataset.from_pandas(train[["query", "passage", "label"]], preserve_index=False)
    eval_dataset = Dataset.from_pandas(heldout[["query", "passage", "label"]], preserve_index=False)
    # 3. loss and evaluator
    loss = BinaryCrossEntropyLoss(model)
    evaluator = make_evaluator(settings["evaluator"], heldout, settings["batch_size"], seed)
    # 4. arguments
    args = CrossEncoderTrainingArguments(
        output_dir=str(work_dir),
        num_train_epochs=settings["epochs"],
        per_device_train_batch_size=settings["batch_size"],
        # Effective batch = batch_size x gradient_accumulation_steps (models.<key>.gradient_accumulation_steps).
        gradient_accumulation_steps=int(settings.get("gradient_accumulation_steps", 1)),
        per_device_eval_batch_size=settings["batch_size"],
        learning_rate=settings["learning_rate"],
        # A float < 1 is a ratio of the steps (transformers 5 has no warmup_ratio); trainer_default uses it.
        warmup_steps=settings["warmup_ratio"],
        weight_decay=settings["weight_decay"],
        bf16=settings["bf16"],
        use_cpu=settings["use_cpu"],
        eval_strategy="epoch",
        # Every epoch's end, and with save_steps every that many steps too (resume points only).
        save_strategy="steps" if settings.get("save_steps") else "epoch",
        **({"save_steps": int(settings["save_steps"])} if settings.get("save_steps") else {}),
        save_total_limit=None,
        metric_for_best_model=settings["metric_for_best_model"],
        load_best_model_at_end=False,  # every epoch is evaluated downstream; the best is recorded, not swapped in
        logging_steps=settings["logging_steps"],
        logging_first_step=True,
        seed=seed,
        data_seed=seed,
        dataloader_num_workers=settings["dataloader_num_workers"],
        report_to="none",
        disable_tqdm=True,
        run_name=f"{settings['model']}-{settings['optim']}-seed{seed}",
    )
    # 5. trainer
    trainer = _study_trainer_class()(
        model=model,
        args=args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        loss=loss,
        evaluator=evaluator,
        run_settings=settings,
    )
    trainer.add_callback(_progress_callback(settings["batch_size"] * int(settings.get("gradient_accumulation_steps", 1)),
                                            args.run_name))
    if settings.get("save_steps"):
        trainer.add_callback(_checkpointing_callback(work_dir))
    # 6. train (resuming from the newest complete checkpoint, within an epoch or at its end)
    latest = latest_checkpoint(work_dir) if resume else None
    resume_from = str(latest) if latest else None
    trainer.train(resume_from_checkpoint=resume_from)
    trainer.save_state()
    # 7. export every epoch
    checkpoints = checkpoint_epochs(work_dir)
    missing = [e for e in range(1, settings["epochs"] + 1) if e not in checkpoints]
    if missing:
        raise RuntimeError(f"training finished without checkpoints for epochs {missing} in {work_dir}")
    for epoch, destination in enumerate(epoch_dirs, start=1):
        export_checkpoint(checkpoints[epoch], Path(destination), model_code(settings))
    state = json.loads((work_dir / "trainer_state.json").read_text())
    summary = {
        "best_metric": state.get("best_metric"),
        "best_checkpoint": state.get("best_model_checkpoint"),
        "best_epoch": next((e for e, p in checkpoints.items() if str(p) == state.get("best_model_checkpoint")), None),
        "metric_for_best_model": settings["metric_for_best_model"],
        "resumed_from": resume_from,
        "settings": settings,
        "seed": seed,
    }
    state["study_summary"] = summary
    atomic_write_text(state_path, json.dumps(state, indent=2))
    return summary
