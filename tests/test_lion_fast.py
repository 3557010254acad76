import copy

import pytest
import torch
from lion_pytorch import Lion

from crossopt.lion_fast import ForeachLion, make_lion, triton_available
from crossopt.train import make_optimizer, parameter_groups

STEPS = 6


class Block(torch.nn.Module):
    """Linear layers, a LayerNorm and an embedding: the parameter kinds of an encoder."""

    def __init__(self):
        super().__init__()
        self.embeddings = torch.nn.Embedding(50, 16)
        self.dense = torch.nn.Linear(16, 32)
        self.LayerNorm = torch.nn.LayerNorm(32)
        self.out = torch.nn.Linear(32, 1)

    def forward(self, ids):
        return self.out(self.LayerNorm(torch.relu(self.dense(self.embeddings(ids))))).sum()


def _set_random_grads(params, generator):
    for p in params:
        p.grad = torch.randn(p.shape, generator=generator)


def _run(optimizer_class, groups_of, steps=STEPS, lrs=None, **kwargs):
    """Parameters after `steps` steps on the same random gradients (and lr changes)."""
    torch.manual_seed(0)
    model = Block()
    optimizer = optimizer_class(groups_of(model), **kwargs)
    generator = torch.Generator().manual_seed(1)
    for step in range(steps):
        if lrs is not None:  # as a scheduler does between steps
            for group in optimizer.param_groups:
                group["lr"] = lrs[step]
        _set_random_grads(model.parameters(), generator)
        optimizer.step()
    return model, optimizer


def _assert_same_parameters(a, b):
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        torch.testing.assert_close(pa, pb, rtol=1e-6, atol=1e-7, msg=f"parameter {name} differs")


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_foreach_lion_equals_reference(weight_decay):
    kwargs = dict(lr=1e-2, betas=(0.9, 0.99), weight_decay=weight_decay)
    reference, ref_opt = _run(Lion, lambda m: m.parameters(), **kwargs)
    fast, fast_opt = _run(ForeachLion, lambda m: m.parameters(), **kwargs)
    _assert_same_parameters(reference, fast)
    for p_ref, p_fast in zip(reference.parameters(), fast.parameters()):
        torch.testing.assert_close(ref_opt.state[p_ref]["exp_avg"], fast_opt.state[p_fast]["exp_avg"],
                                   rtol=1e-6, atol=1e-7)


def test_foreach_lion_moves_parameters_like_lion():
    """Not a vacuous comparison: parameters moved by about lr per step."""
    torch.manual_seed(0)
    start = copy.deepcopy(Block())
    fast, _ = _run(ForeachLion, lambda m: m.parameters(), lr=1e-2)
    moved = max((a - b).abs().max().item() for a, b in zip(start.parameters(), fast.parameters()))
    assert 1e-2 <= moved <= STEPS * 1e-2 + 1e-6


def test_parameter_groups_without_decay_on_bias_and_norm():
    def groups(model):
        return parameter_groups(model, weight_decay=0.5, decay_bias_and_norm=False)

    lrs = [1e-2, 2e-2, 3e-2, 2e-2, 1e-2, 5e-3]  # a warmup-then-decay schedule
    reference, ref_opt = _run(Lion, groups, lr=1e-2, weight_decay=0.5, lrs=lrs)
    fast, fast_opt = _run(ForeachLion, groups, lr=1e-2, weight_decay=0.5, lrs=lrs)
    _assert_same_parameters(reference, fast)
    assert [g["weight_decay"] for g in fast_opt.param_groups] == [0.5, 0.0]
    names_no_decay = {n for n, _ in fast.named_parameters() if "bias" in n or "norm" in n.lower()}
    assert len(fast_opt.param_groups[1]["params"]) == len(names_no_decay) > 0


def test_groups_decayed_and_not_decayed_actually_differ():
    """Without decay on a group its parameters equal a zero-decay run's; the decayed ones do not."""
    no_decay, _ = _run(ForeachLion, lambda m: m.parameters(), lr=1e-2, weight_decay=0.0)
    grouped, _ = _run(ForeachLion, lambda m: parameter_groups(m, 0.5, False), lr=1e-2, weight_decay=0.5)
    for (name, a), (_, b) in zip(no_decay.named_parameters(), grouped.named_parameters()):
        if "bias" in name or "norm" in name.lower():
            torch.testing.assert_close(a, b, rtol=0, atol=0)
        else:
            assert not torch.equal(a, b), name


def test_parameters_without_gradient_are_left_alone():
    torch.manual_seed(0)
    model = Block()
    frozen = model.out.weight.detach().clone()
    optimizer = ForeachLion(model.parameters(), lr=1e-2, weight_decay=0.1)
    for p in model.parameters():
        p.grad = None if p is model.out.weight else torch.ones_like(p)
    optimizer.step()
    assert torch.equal(model.out.weight, frozen)
    assert model.out.weight not in optimizer.state


def test_state_dict_round_trips_with_reference():
    """A checkpoint of one implementation resumes with the other (same state keys)."""
    reference, ref_opt = _run(Lion, lambda m: m.parameters(), steps=3, lr=1e-2, weight_decay=0.1)
    fast_model = copy.deepcopy(reference)
    fast_opt = ForeachLion(fast_model.parameters(), lr=1e-2, weight_decay=0.1)
    # deepcopy stands in for torch.save/load: load_state_dict would otherwise share the momentum tensors
    fast_opt.load_state_dict(copy.deepcopy(ref_opt.state_dict()))
    generator = torch.Generator().manual_seed(5)
    grads = [torch.randn(p.shape, generator=generator) for p in reference.parameters()]
    for model, opt in ((reference, ref_opt), (fast_model, fast_opt)):
        for p, g in zip(model.parameters(), grads):
            p.grad = g.clone()
        opt.step()
    _assert_same_parameters(reference, fast_model)


def test_closure_and_loss():
    torch.manual_seed(0)
    model = Block()
    optimizer = ForeachLion(model.parameters(), lr=1e-3)

    def closure():
        optimizer.zero_grad()
        loss = model(torch.arange(4))
        loss.backward()
        return loss

    assert torch.isfinite(optimizer.step(closure))


def test_make_optimizer_selects_implementation():
    torch.manual_seed(0)
    settings = {"optimizer_type": "lion", "learning_rate": 1e-3, "betas": [0.9, 0.99], "weight_decay": 0.01}
    groups = parameter_groups(Block(), 0.01, True)
    assert type(make_optimizer(groups, settings)) is Lion  # reference by default
    assert isinstance(make_optimizer(groups, {**settings, "lion_implementation": "foreach"}), ForeachLion)
    assert type(make_optimizer(groups, {**settings, "lion_implementation": "reference"})) is Lion
    with pytest.raises(ValueError, match="unknown Lion implementation 'fused'"):
        make_optimizer(groups, {**settings, "lion_implementation": "fused"})


@pytest.mark.skipif(triton_available(), reason="checks the refusal where triton cannot run")
def test_triton_is_refused_not_replaced_without_cuda():
    with pytest.raises(RuntimeError, match="needs a CUDA device and the triton package"):
        make_lion(Block().parameters(), 1e-3, (0.9, 0.99), 0.0, "triton")


@pytest.mark.parametrize("bad", [dict(lr=0.0), dict(betas=(0.9, 1.5)), dict(weight_decay=-1.0)])
def test_invalid_hyperparameters_are_errors(bad):
    with pytest.raises(ValueError):
        ForeachLion(Block().parameters(), **{"lr": 1e-3, **bad})


def test_compiled_lion_equals_reference():
    """torch.compile'd update (fused kernels) with a changing learning rate: no recompiles, same result."""
    def groups(model):
        return parameter_groups(model, weight_decay=0.5, decay_bias_and_norm=False)

    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    lrs = [1e-2, 2e-2, 3e-2, 2e-2, 1e-2, 5e-3]
    reference, _ = _run(Lion, groups, lr=1e-2, weight_decay=0.5, lrs=lrs)
    compiled, optimizer = _run(lambda g, **kw: make_lion(g, implementation="compiled", **kw), groups,
                               lr=1e-2, betas=(0.9, 0.99), weight_decay=0.5, lrs=lrs)
    assert isinstance(optimizer, ForeachLion) and optimizer.compiled
    _assert_same_parameters(reference, compiled)
    assert counters["stats"]["unique_graphs"] == 2  # one per parameter group, none per learning rate
