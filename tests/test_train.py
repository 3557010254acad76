import json

import pytest
import torch

from crossopt.train import (
    checkpoint_epochs,
    heldout_reranking_samples,
    make_optimizer,
    SCHEDULES,
    make_scheduler,
    parameter_groups,
    trainer_default_schedule_type,
    warmup_steps,
)


def settings(kind, **extra):
    return {"optimizer_type": kind, "learning_rate": 1e-2, "betas": [0.9, 0.99], "eps": 1e-8,
            "weight_decay": 0.01, **extra}


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.linear = torch.nn.Linear(4, 1)
        self.norm = torch.nn.LayerNorm(4)

    def forward(self, x):
        return self.linear(self.norm(x))


@pytest.mark.parametrize("kind", ["adamw", "lion"])
def test_both_optimizers_step(kind):
    model = Tiny()
    optimizer = make_optimizer(parameter_groups(model, 0.01, True), settings(kind))
    before = [p.detach().clone() for p in model.parameters()]
    model(torch.randn(8, 4)).pow(2).mean().backward()
    optimizer.step()
    assert all(not torch.equal(b, p) for b, p in zip(before, model.parameters()))
    expected = "Lion" if kind == "lion" else "AdamW"
    assert type(optimizer).__name__ == expected


@pytest.mark.parametrize("kind", ["adamw", "lion"])
@pytest.mark.parametrize("schedule", list(SCHEDULES))
def test_scheduler_changes_the_lr_of_the_optimizer_in_use(kind, schedule):
    model = Tiny()
    optimizer = make_optimizer(parameter_groups(model, 0.01, True), settings(kind))
    scheduler = make_scheduler(optimizer, schedule, warmup_ratio=0.1, num_training_steps=100)
    assert scheduler.optimizer is optimizer
    seen = []
    for _ in range(60):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    warms_up = schedule not in ("constant", "cosine_annealing")
    assert seen[0] == (0.0 if warms_up else pytest.approx(1e-2))  # linear warmup starts from zero
    assert seen[10] == pytest.approx(1e-2, rel=0.03)  # (near) the peak after 10 warmup steps
    if schedule in ("constant", "constant_with_warmup"):
        assert seen[59] == pytest.approx(1e-2)
    else:
        assert seen[59] < 1e-2 * 0.8  # decaying


def test_trainer_default_is_the_training_arguments_default():
    assert trainer_default_schedule_type() == "linear"


def test_parameter_groups_exclude_bias_and_norm_when_asked():
    model = Tiny()
    groups = parameter_groups(model, 0.1, decay_bias_and_norm=False)
    decayed = {id(p) for p in groups[0]["params"]}
    assert groups[0]["weight_decay"] == 0.1 and groups[1]["weight_decay"] == 0.0
    assert decayed == {id(model.linear.weight)}
    assert len(parameter_groups(model, 0.1, True)) == 1


def test_warmup_steps_round_up():
    assert warmup_steps(0.1, 95) == 10
    assert warmup_steps(0.0, 95) == 0


def test_unknown_optimizer_and_scheduler():
    with pytest.raises(ValueError, match="unknown optimizer type 'sgd'"):
        make_optimizer(parameter_groups(Tiny(), 0.0, True), settings("sgd"))
    with pytest.raises(ValueError, match="unknown scheduler 'step'"):
        make_scheduler(torch.optim.SGD(Tiny().parameters(), lr=0.1), "step", 0.1, 10)


def test_checkpoint_epochs_skips_incomplete(tmp_path):
    for step, epoch in ((10, 1.0), (20, 2.0), (30, 3.0)):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        if step != 30:  # the last one is half-written: no trainer_state.json yet
            (folder / "trainer_state.json").write_text(json.dumps({"epoch": epoch}))
    found = checkpoint_epochs(tmp_path)
    assert sorted(found) == [1, 2]
    assert found[2].name == "checkpoint-20"


def test_heldout_samples_are_deterministic_and_rank_own_passages():
    import pandas as pd

    heldout = pd.DataFrame({
        "query": ["a", "a", "b", "b", "c"],
        "passage": ["pa", "na", "pb", "nb", "nc"],
        "label": [1.0, 0.0, 1.0, 0.0, 0.0],
    })
    first = heldout_reranking_samples(heldout, negatives=2, max_queries=10, seed=1)
    assert first == heldout_reranking_samples(heldout, negatives=2, max_queries=10, seed=1)
    assert [s["query"] for s in first] == ["a", "b"]  # c has no positive
    assert first[0]["positive"] == ["pa"] and "na" in first[0]["negative"]
    assert "pa" not in first[0]["negative"]


def test_paper_states_the_installed_trainers_gradient_clipping_default():
    """The hyperparameter table says 'max. gradient norm 1 (trainer default)' for configs
    that set none; that must be what the pinned transformers applies."""
    from transformers import TrainingArguments

    from crossopt.paper import TRAINER_MAX_GRAD_NORM

    assert TrainingArguments.__dataclass_fields__["max_grad_norm"].default == TRAINER_MAX_GRAD_NORM


def test_adamw_is_fused_only_where_every_parameter_is_on_a_gpu():
    from crossopt.train import adamw_fused, make_optimizer

    cpu = [{"params": [torch.nn.Parameter(torch.zeros(3))], "weight_decay": 0.0}]
    assert not adamw_fused(cpu) and not adamw_fused([{"params": []}])
    optimizer = make_optimizer(cpu, {"optimizer_type": "adamw", "learning_rate": 1e-3, "betas": [0.9, 0.999],
                                     "eps": 1e-8, "weight_decay": 0.01})
    assert not optimizer.defaults.get("fused")  # the CPU keeps torch's default path
    if torch.cuda.is_available():
        gpu = [{"params": [torch.nn.Parameter(torch.zeros(3, device="cuda"))], "weight_decay": 0.0}]
        assert adamw_fused(gpu)
        assert make_optimizer(gpu, {"optimizer_type": "adamw", "learning_rate": 1e-3, "betas": [0.9, 0.999],
                                    "eps": 1e-8, "weight_decay": 0.01}).defaults["fused"] is True
