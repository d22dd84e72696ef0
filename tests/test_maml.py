"""Tests of helpers.maml (generated from notebooks/05_maml_adapter.ipynb)."""

from functools import partial

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call

from helpers.foundations import make_generator
from helpers.maml import (
    MAML,
    TaskBatch,
    adapt,
    adaptation_curve,
    make_sine_mlp,
    mean_ci95,
    pretrain_multitask,
    query_losses,
    sample_sine_tasks,
)


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def tasks(n=4, k=10, q=10, seed=0):
    return sample_sine_tasks(n, k, q, make_generator(seed))


def support_loss(model, params, x, y):
    return F.mse_loss(functional_call(model, params, (x,)), y).item()


def test_sine_tasks_follow_the_paper():
    batch = tasks(n=2000, k=5, q=3)
    assert batch.support_x.shape == (2000, 5, 1) and batch.query_y.shape == (2000, 3, 1)
    assert 0.1 <= batch.amplitude.min() and batch.amplitude.max() <= 5.0
    assert 0.0 <= batch.phase.min() and batch.phase.max() <= torch.pi
    assert -5 <= batch.support_x.min() and batch.support_x.max() <= 5
    expected = batch.amplitude.view(-1, 1, 1) * torch.sin(batch.query_x + batch.phase.view(-1, 1, 1))
    torch.testing.assert_close(batch.query_y, expected)
    state = torch.random.get_rng_state()
    tasks()
    assert torch.equal(state, torch.random.get_rng_state()), "sampling touched the global RNG"


def test_adapted_weights_are_used_support_loss_decreases():
    model, batch = make_sine_mlp(seed=0), tasks(n=1, k=10)
    x, y = batch.support_x[0], batch.support_y[0]
    losses = [support_loss(model, adapt(model, x, y, steps, lr=0.01), x, y) for steps in range(6)]
    assert all(b < a for a, b in zip(losses, losses[1:])), losses
    # five steps must do more than one step: each step starts from the previous step's weights
    assert losses[5] < losses[1] - 0.5 * (losses[0] - losses[1]), losses


def test_module_parameters_unchanged_after_adapt():
    model, batch = make_sine_mlp(seed=0), tasks(n=1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    adapted = adapt(model, batch.support_x[0], batch.support_y[0], steps=5, lr=0.05)
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]), name
    assert any(not torch.equal(adapted[k], before[k]) for k in adapted)
    assert all(p.grad is None for p in model.parameters())


def test_first_and_second_order_gradients_differ():
    batch = tasks(n=5)
    grads = {}
    for first_order in (False, True):
        model = make_sine_mlp(seed=3)
        query_losses(model, batch, steps=2, lr=0.05, first_order=first_order).mean().backward()
        grads[first_order] = torch.cat([p.grad.flatten() for p in model.parameters()])
    assert torch.isfinite(grads[False]).all() and torch.isfinite(grads[True]).all()
    gap = (grads[False] - grads[True]).norm() / grads[False].norm()
    assert gap > 1e-3, gap
    # and they are close enough to be the same objective's gradient (FOMAML drops only the Hessian term)
    assert torch.nn.functional.cosine_similarity(grads[False], grads[True], dim=0) > 0.5


def test_second_order_matches_finite_differences():
    model, batch = make_sine_mlp(hidden=8, seed=1).double(), tasks(n=2, k=5, q=5)
    batch = TaskBatch(*(t.double() for t in (batch.support_x, batch.support_y, batch.query_x, batch.query_y,
                                             batch.amplitude, batch.phase)))
    query_losses(model, batch, steps=2, lr=0.05).mean().backward()
    weight = model[0].weight
    analytic = weight.grad[3, 0].item()
    eps = 1e-6
    with torch.no_grad():
        weight[3, 0] += eps
        up = query_losses(model, batch, steps=2, lr=0.05).mean().item()
        weight[3, 0] -= 2 * eps
        down = query_losses(model, batch, steps=2, lr=0.05).mean().item()
    assert analytic == pytest.approx((up - down) / (2 * eps), rel=1e-5, abs=1e-8)


@pytest.mark.parametrize("first_order", [False, True])
def test_vmap_equals_loop(first_order):
    batch = tasks(n=6)
    results = {}
    for batched in ("vmap", "loop"):
        model = make_sine_mlp(seed=2)
        losses = query_losses(model, batch, steps=3, lr=0.02, first_order=first_order, batched=batched)
        losses.sum().backward()
        results[batched] = (losses.detach(), [p.grad.clone() for p in model.parameters()])
    torch.testing.assert_close(results["vmap"][0], results["loop"][0], rtol=1e-5, atol=1e-6)
    for a, b in zip(results["vmap"][1], results["loop"][1]):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    model = make_sine_mlp(seed=2)
    torch.testing.assert_close(adaptation_curve(model, batch, 4, batched="vmap"),
                               adaptation_curve(model, batch, 4, batched="loop"), rtol=1e-5, atol=1e-6)


def test_meta_training_and_meta_sgd_reduce_the_query_loss():
    test = tasks(n=100, k=10, q=20, seed=99)
    for meta_sgd in (False, True):
        maml = MAML(make_sine_mlp(seed=0), inner_lr=0.01, meta_sgd=meta_sgd)
        before = maml.curve(test, 1)[:, 1].mean()
        maml.fit(partial(sample_sine_tasks, 25, 10, 10), 300, seed=1)
        after = maml.curve(test, 1)[:, 1].mean()
        assert after < 0.8 * before, (meta_sgd, before, after)
    # Meta-SGD moved its step sizes away from the initial 0.01
    assert any((lr - 0.01).abs().max() > 1e-4 for lr in maml.inner_lrs.values())


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda m, x, y: adapt(m, x[:0], y[:0]), "empty"),
        (lambda m, x, y: adapt(m, x, y[:-1]), "disagree"),
        (lambda m, x, y: adapt(m, x, y.squeeze(1)), "does not match"),
        (lambda m, x, y: adapt(m, x, y, steps=-1), "steps"),
        (lambda m, x, y: adapt(m, x, y, steps=1.5), "steps"),
        (lambda m, x, y: adapt(m, x, y, lr=0.0), "lr"),
        (lambda m, x, y: adapt(m, x, y, lr=-0.01), "lr"),
        (lambda m, x, y: adapt(m, x, y, lr=float("nan")), "lr"),
        (lambda m, x, y: MAML(m, inner_lr=0), "inner_lr"),
        (lambda m, x, y: MAML(m, inner_steps=-2), "steps"),
        (lambda m, x, y: MAML(m, batched="threads"), "batched"),
        (lambda m, x, y: sample_sine_tasks(0, 5, 5, make_generator(0)), "num_tasks"),
        (lambda m, x, y: mean_ci95(torch.ones(1)), "at least 2"),
    ],
)
def test_bad_input_raises_value_error(call, match):
    batch = tasks(n=1)
    with pytest.raises(ValueError, match=match):
        call(make_sine_mlp(), batch.support_x[0], batch.support_y[0])


def sgd_rates(model, value=0.01):
    return {k: torch.full_like(p, value) for k, p in model.named_parameters()}


def test_bad_meta_sgd_learning_rates_name_the_parameter():
    model, batch = make_sine_mlp(), tasks(n=2)
    x, y = batch.support_x[0], batch.support_y[0]
    missing = sgd_rates(model)
    del missing["2.bias"]
    nan, negative, wrong_shape = sgd_rates(model), sgd_rates(model), sgd_rates(model)
    nan["0.weight"][3, 0] = float("nan")
    negative["4.weight"][0, 1] = -0.01
    wrong_shape["2.weight"] = torch.full((3,), 0.01)
    cases = ((missing, r"2\.bias"), (nan, r"lr\['0\.weight'\].*NaN"), (negative, r"lr\['4\.weight'\].*negative"),
             (wrong_shape, r"lr\['2\.weight'\].*shape"))
    for rates, match in cases:
        with pytest.raises(ValueError, match=match):
            adapt(model, x, y, steps=1, lr=rates)
        with pytest.raises(ValueError, match=match):
            query_losses(model, batch, steps=1, lr=rates)
        with pytest.raises(ValueError, match=match):
            adaptation_curve(model, batch, 2, rates)
    # valid fixed rates (0 freezes a weight) work and equal the scalar rate where they agree
    rates = sgd_rates(model)
    torch.testing.assert_close(query_losses(model, batch, 2, rates), query_losses(model, batch, 2, 0.01))
    rates["0.bias"].zero_()
    adapt(model, x, y, steps=1, lr=rates)
    # rates being meta-learned (Meta-SGD) may change sign: they learn the update's direction too
    learned = {k: v.requires_grad_() for k, v in sgd_rates(model, -0.01).items()}
    assert torch.isfinite(query_losses(model, batch, 1, learned)).all()


@pytest.mark.parametrize("values, match", [
    (torch.tensor([]), "empty"),
    ([], "empty"),
    (torch.tensor([1.0, float("nan"), 2.0]), "NaN"),
    (torch.tensor([1.0, float("inf")]), "NaN or infinite"),
])
def test_mean_ci95_rejects_empty_and_nan(values, match):
    with pytest.raises(ValueError, match=match):
        mean_ci95(values)


def test_iterations_errors_name_iterations():
    sample = partial(sample_sine_tasks, 2, 5, 5)
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="^iterations must be"):
            MAML(make_sine_mlp()).fit(sample, bad)
        with pytest.raises(ValueError, match="^iterations must be"):
            pretrain_multitask(make_sine_mlp(), sample, bad)
    with pytest.raises(ValueError, match="^inner_steps must be"):
        MAML(make_sine_mlp(), inner_steps=-1)


def test_bad_task_batch_raises_value_error():
    batch = tasks(n=3)
    empty = TaskBatch(batch.support_x[:, :0], batch.support_y[:, :0], batch.query_x, batch.query_y,
                      batch.amplitude, batch.phase)
    mismatched = TaskBatch(batch.support_x, batch.support_y[:2], batch.query_x, batch.query_y,
                           batch.amplitude, batch.phase)
    for bad, match in ((empty, "empty"), (mismatched, "disagree")):
        with pytest.raises(ValueError, match=match):
            query_losses(make_sine_mlp(), bad, steps=1, lr=0.01)
        with pytest.raises(ValueError, match=match):
            MAML(make_sine_mlp()).meta_step(bad)


class SequenceRegressor(nn.Module):
    """An LSTM reading a short sequence, with a fixed input-scale buffer and a state buffer that every
    forward pass writes (a stand-in for a memory that must be reset per task)."""

    def __init__(self, hidden: int = 16, seed: int = 0):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.lstm = nn.LSTM(1, hidden, batch_first=True)
            self.head = nn.Linear(hidden, 1)
        self.register_buffer("input_scale", torch.tensor(0.5))
        self.register_buffer("last_summary", torch.zeros(hidden))
        self.resets = 0

    def reset(self) -> None:
        self.last_summary.zero_()
        self.resets += 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x: (B, L, 1)`` -> ``(B, 1)``."""
        out, _ = self.lstm(x * self.input_scale)
        summary = out[:, -1]
        self.last_summary.copy_(summary.detach().mean(dim=0))  # state written during the forward pass
        return self.head(summary)


def sequence_tasks(n: int, k: int, q: int, g: torch.Generator) -> TaskBatch:
    """Each task: the target is ``a * (sum of a 4-step sequence) + b`` with task-specific ``a, b``."""
    a = torch.rand(n, generator=g) * 2 - 1
    b = torch.rand(n, generator=g) * 2 - 1
    x = torch.randn(n, k + q, 4, 1, generator=g)
    y = a.view(-1, 1, 1) * x.sum(dim=(2, 3)).unsqueeze(-1) + b.view(-1, 1, 1)
    return TaskBatch(x[:, :k], y[:, :k], x[:, k:], y[:, k:], a, b)


def test_adapts_a_stateful_sequence_model_with_buffers():
    """An LSTM model with a constant buffer and a state buffer its forward pass writes, reset per task."""
    model = SequenceRegressor()
    maml = MAML(model, inner_lr=0.05, inner_steps=1, outer_lr=1e-2, batched="auto", reset=lambda m: m.reset())
    test = sequence_tasks(20, 10, 20, make_generator(5))
    before = maml.curve(test, 5).mean(dim=0)
    assert maml.batched == "loop"  # vmap cannot batch a forward pass that writes into a shared buffer
    resets = model.resets
    maml.fit(partial(sequence_tasks, 8, 10, 10), 60, seed=6)
    assert model.resets - resets == 60 * 8  # the state is reset before every task
    after = maml.curve(test, 5).mean(dim=0)
    assert after[5] < 0.8 * after[0], after  # adaptation on the support set lowers the query loss
    assert after[5] < 0.9 * before[5], (before, after)  # and meta-training made adaptation better
    x, y = test.support_x[0], test.support_y[0]
    scale = model.input_scale.clone()
    losses = [support_loss(model, adapt(model, x, y, s, 0.05, reset=lambda m: m.reset()), x, y) for s in (0, 3)]
    assert losses[1] < losses[0] and torch.equal(model.input_scale, scale)


def test_adapts_memory_controller():
    """Notebook 03's memory controller: each forward pass starts a fresh memory (``state=None``), so the
    memory state is reset per task; adapting on a task's support episodes lowers its query loss."""
    from helpers.controller import MemoryController, RecallTask, masked_loss
    from helpers.foundations import MemoryConfig

    recall = RecallTask(key_dim=4, value_dim=4, num_queries=2)

    def recall_tasks(n: int, k: int, q: int, g: torch.Generator) -> TaskBatch:
        """Each task answers every query with its own 4 target bits, which only its support episodes reveal.
        ``y`` carries the scoring mask as its last channel: ``(n, k, T, value_dim + 1)``."""
        bits = (torch.rand(n, 1, 1, recall.value_dim, generator=g) < 0.5).float()
        x, _, mask = recall.sample(n * (k + q), 3, g)
        x, mask = x.view(n, k + q, *x.shape[1:]), mask.view(n, k + q, -1, 1)
        y = torch.cat([bits.expand(n, k + q, x.shape[2], recall.value_dim), mask], dim=-1)
        return TaskBatch(x[:, :k], y[:, :k], x[:, k:], y[:, k:], torch.empty(n), torch.empty(n))

    def loss_fn(out, y):
        logits, _state = out  # the controller returns (outputs, final state)
        return masked_loss(logits, y[..., :-1], y[..., -1], "bce")

    config = MemoryConfig(memory_size=8, memory_dim=4, num_read_heads=1, num_write_heads=1, controller_hidden_size=16)
    model = MemoryController(recall.input_size, recall.output_size, config)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    maml = MAML(model, inner_lr=0.5, inner_steps=1, outer_lr=1e-2, loss_fn=loss_fn, batched="auto")
    test = recall_tasks(8, 8, 8, make_generator(1))
    untrained = maml.curve(test, 5).mean(dim=0)
    assert untrained[5] < 0.85 * untrained[0], untrained  # adaptation alone already lowers the query loss
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # adapt never writes the module
    maml.fit(partial(recall_tasks, 4, 8, 8), 20, seed=3)
    trained = maml.curve(test, 5).mean(dim=0)
    assert trained[1] < 0.8 * trained[0] and trained[5] < 0.5 * trained[0], trained
    assert trained[5] < 0.5 * untrained[5], (untrained, trained)
