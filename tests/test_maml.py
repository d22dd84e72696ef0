"""Tests of helpers.maml (generated from notebooks/05_maml_adapter.ipynb)."""

import copy
import dataclasses
import json
from functools import partial
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.func import functional_call, vmap

import helpers.maml
from helpers.checks import MAX_STEPS
from helpers.foundations import make_generator
from helpers.maml import (
    MAML,
    MAX_INNER_STEPS,
    TaskBatch,
    adapt,
    adaptation_curve,
    inner_loop,
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
    assert any((lr - 0.01).abs().max() > 1e-4 for lr in maml.lr.values())


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda m, x, y: adapt(m, x[:0], y[:0]), r"must have shapes \(K, \.\.\.\) with one K"),
        (lambda m, x, y: adapt(m, x, y[:-1]), r"got \(10, 1\) and \(9, 1\)"),
        (lambda m, x, y: adapt(m, x, y.squeeze(1)), "does not match"),
        (lambda m, x, y: adapt(m, x, y, steps=-1), "steps"),
        (lambda m, x, y: adapt(m, x, y, steps=1.5), "steps"),
        (lambda m, x, y: adapt(m, x, y, steps=MAX_INNER_STEPS + 1), "steps"),
        (lambda m, x, y: adapt(m, x, y, lr=0.0), "lr"),
        (lambda m, x, y: adapt(m, x, y, lr=-0.01), "lr"),
        (lambda m, x, y: adapt(m, x, y, lr=float("nan")), "lr"),
        (lambda m, x, y: adapt(m, x, y, lr=float("inf")), "lr"),
        (lambda m, x, y: adapt(m, x, y, lr=True), "lr"),
        (lambda m, x, y: adapt(m, x, y, lr="0.01"), "lr"),
        (lambda m, x, y: adapt(m, x, y, first_order="no"), "first_order"),
        (lambda m, x, y: adapt(m, x, y, loss_fn="mse"), "loss_fn"),
        (lambda m, x, y: adapt(m, x, y, reset=3), "reset"),
        (lambda m, x, y: adapt(m, x.double(), y), "support_x"),
        (lambda m, x, y: adapt(m, x.long(), y), "support_x"),
        (lambda m, x, y: adapt(m, x.clone().fill_(float("nan")), y), "support_x"),
        (lambda m, x, y: adapt(m, x, y.clone().fill_(float("inf"))), "support_y"),
        (lambda m, x, y: adapt(m, x.numpy(), y), "support_x"),
        (lambda m, x, y: adapt("net", x, y), "model"),
        (lambda m, x, y: adapt(nn.ReLU(), x, y), "model"),
        (lambda m, x, y: adapt(m, x, y, params={"nope": x}), "params"),
        (lambda m, x, y: adapt(m, x, y, params={"0.weight": torch.zeros(3)}), "params"),
        (lambda m, x, y: adapt(m, x, y, params={}), "params"),
        (lambda m, x, y: adapt(m, x, y, steps=3, lr=1e6), "diverged"),
        (lambda m, x, y: MAML(m, inner_lr=0), "inner_lr"),
        (lambda m, x, y: MAML(m, outer_lr=float("nan")), "outer_lr"),
        (lambda m, x, y: MAML(m, inner_steps=-2), "steps"),
        (lambda m, x, y: MAML(m, inner_steps=10**6), "inner_steps"),
        (lambda m, x, y: MAML(m, batched="threads"), "batched"),
        (lambda m, x, y: MAML(m, meta_sgd=1), "meta_sgd"),
        (lambda m, x, y: MAML(m, first_order="yes"), "first_order"),
        (lambda m, x, y: MAML(object()), "model"),
        (lambda m, x, y: MAML(m).fit(lambda g: None, 1), "sample_tasks must return a TaskBatch, got a NoneType"),
        (lambda m, x, y: MAML(m).fit(3, 1), "sample_tasks"),
        (lambda m, x, y: MAML(m).fit(partial(sample_sine_tasks, 2, 5, 5), 10**6), "iterations"),
        (lambda m, x, y: MAML(m).fit(partial(sample_sine_tasks, 2, 5, 5), 1, seed=-1), "seed"),
        (lambda m, x, y: MAML(m).fit(partial(sample_sine_tasks, 2, 5, 5), 1, seed="3"), "seed"),
        (lambda m, x, y: MAML(m).curve(tasks(n=2), max_steps=MAX_INNER_STEPS + 1), "max_steps"),
        (lambda m, x, y: MAML(m).meta_step("tasks"), "tasks"),
        (lambda m, x, y: sample_sine_tasks(0, 5, 5, make_generator(0)), "num_tasks"),
        (lambda m, x, y: sample_sine_tasks(2, 5, 5, 0), "generator"),
        (lambda m, x, y: sample_sine_tasks(2, 10**6, 5, make_generator(0)), "k_support"),
        (lambda m, x, y: make_sine_mlp(hidden=0), "hidden"),
        (lambda m, x, y: make_sine_mlp(seed=1.5), "seed"),
        (lambda m, x, y: mean_ci95(torch.ones(1)), "at least 2"),
        (lambda m, x, y: mean_ci95("abc"), "values"),
        (lambda m, x, y: pretrain_multitask(m, partial(sample_sine_tasks, 2, 5, 5), 1, lr=0), "lr"),
        (lambda m, x, y: pretrain_multitask(m, partial(sample_sine_tasks, 2, 5, 5), 1, loss_fn=None), "loss_fn"),
    ],
)
def test_bad_input_raises_a_clear_error(call, match):
    """Every bad argument raises ValueError (ArgumentTypeError for a wrong type is also one) naming it."""
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
    (torch.tensor([]), "got 0 numbers"),
    ([], "got 0 numbers"),
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


def test_task_batch_validates_its_tensors():
    batch = tasks(n=3)
    sx, sy, qx, qy = batch.support_x, batch.support_y, batch.query_x, batch.query_y
    nan = sy.clone()
    nan[1, 2, 0] = float("nan")
    cases = [
        ((sx[:, :0], sy[:, :0], qx, qy), "support_x"),  # no support points
        ((sx, sy[:2], qx, qy), "support_y"),  # another number of tasks
        ((sx, sy[:, :4], qx, qy), "support_y"),  # another number of support points
        ((sx, nan, qx, qy), "support_y"),  # NaN target
        ((sx.long(), sy, qx, qy), "support_x"),  # integer inputs
        ((sx, sy, qx.double(), qy), "query_x"),  # another dtype than support_x
        ((sx, sy, qx[..., 0], qy), "query_x"),  # another rank than support_x
        ((sx, sy, torch.cat([qx, qx], -1), qy), "query_x"),  # another feature width
        ((sx, sy, qx, qy.long()), "query_y"),  # another dtype than support_y
        ((sx, sy, qx, qy, torch.ones(2), batch.phase), "amplitude"),
        ((sx, sy, qx, qy, batch.amplitude, "phase"), "phase"),
        (([1.0], sy, qx, qy), "support_x"),
    ]
    for fields, match in cases:
        with pytest.raises(ValueError, match=match):
            TaskBatch(*fields)
    # integer class labels are targets too; amplitude and phase are optional
    labels = TaskBatch(sx, torch.zeros(3, 10, dtype=torch.long), qx, torch.ones(3, 10, dtype=torch.long))
    assert len(labels) == 3 and labels.amplitude is None


@pytest.mark.parametrize("call", [
    lambda m, b: query_losses(m, b, 1, 0.01),
    lambda m, b: adaptation_curve(m, b, 2, 0.01),
    lambda m, b: pretrain_multitask(m, lambda g: b, 2),
    lambda m, b: MAML(m).meta_step(b),
    lambda m, b: MAML(m, batched="loop").meta_step(b),
    lambda m, b: adapt(m, b.support_x[0], b.support_y[0]),
])
def test_wrong_target_width_is_an_error_not_a_broadcast(call):
    """Targets (T, K) against outputs (T, K, 1): F.mse_loss would broadcast them to (K, K) and return a number."""
    batch = tasks(n=3)
    flat = TaskBatch(batch.support_x, batch.support_y[..., 0], batch.query_x, batch.query_y[..., 0])
    model = make_sine_mlp()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match="does not match"):
        call(model, flat)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def snapshot(learner):
    return (copy.deepcopy(learner.model.state_dict()), copy.deepcopy(learner.optimizer.state_dict()),
            torch.random.get_rng_state())


def assert_same_state(a, b):
    for x, y in zip(a[0].values(), b[0].values()):
        assert torch.equal(x, y)
    assert repr(a[1]) == repr(b[1])
    assert torch.equal(a[2], b[2])


def test_non_finite_meta_loss_raises_before_any_update():
    """inner_lr = 1e12 makes the adapted weights overflow the query loss: the step raises and changes nothing."""
    learner = MAML(make_sine_mlp(), inner_lr=1e12, batched="vmap")
    before = snapshot(learner)
    with pytest.raises(ValueError, match=r"diverged, so lr=1e\+12 is too large"):
        learner.meta_step(tasks(n=4, seed=2))
    assert_same_state(before, snapshot(learner))
    assert all(p.grad is None for p in learner.model.parameters())


def test_fit_and_pretraining_restore_everything_when_a_step_fails():
    """Three good batches, then one whose targets overflow the squared error: nothing of the call is kept."""
    good = [tasks(n=4, seed=s) for s in range(3)]
    huge = tasks(n=4, seed=9)
    huge = TaskBatch(huge.support_x, huge.support_y * 1e30, huge.query_x, huge.query_y * 1e30)
    batches = good + [huge]

    def sampler():
        stream = iter(batches)
        return lambda generator: next(stream)

    learner = MAML(make_sine_mlp(), batched="vmap")
    learner.fit(partial(sample_sine_tasks, 4, 10, 10), 2, seed=5)  # optimiser state that must survive
    before = snapshot(learner)
    failure = "meta-iteration 4 of 4: the query loss of 4 of 4 tasks is NaN.*nothing of this call was kept"
    with pytest.raises(ValueError, match=failure):
        learner.fit(sampler(), 4)
    assert_same_state(before, snapshot(learner))
    learner.fit(sampler(), 3)  # and it still trains afterwards
    model = make_sine_mlp()
    weights = copy.deepcopy(model.state_dict())
    with pytest.raises(ValueError, match="pretraining step 4 of 4: the pretraining loss or its gradient is not finite"):
        pretrain_multitask(model, sampler(), 4)
    assert all(torch.equal(v, weights[k]) for k, v in model.state_dict().items())


def predictions(learner, support_x, support_y, query_x, steps):
    """Outputs ``(T, Q, ...)`` of ``learner.model`` adapted to each task's support set, first order."""
    params = {k: p.detach() for k, p in learner.model.named_parameters()}

    def one(sx, sy, qx):
        adapted = inner_loop(learner.model, params, {}, sx, sy, steps, learner.lr, True, learner.loss_fn)
        return functional_call(learner.model, adapted, (qx,))
    return vmap(one)(support_x, support_y, query_x).detach()


def test_cross_entropy_classification_with_integer_labels():
    """Any loss works: 2-way classification of points on either side of a random line through the origin."""
    def line_tasks(n, k, q, g):
        normal = torch.randn(n, 1, 2, generator=g)
        x = torch.randn(n, k + q, 2, generator=g)
        labels = ((x * normal).sum(-1) > 0).long()  # (n, k + q) integer labels
        return TaskBatch(x[:, :k], labels[:, :k], x[:, k:], labels[:, k:])

    def make_classifier():
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 2))

    test = line_tasks(200, 10, 20, make_generator(3))
    results = {}
    for batched in ("vmap", "loop"):
        learner = MAML(make_classifier(), inner_lr=0.5, loss_fn=F.cross_entropy, batched=batched)
        first = TaskBatch(test.support_x[:6], test.support_y[:6], test.query_x[:6], test.query_y[:6])
        results[batched] = learner.query_losses(first).detach()
    torch.testing.assert_close(results["vmap"], results["loop"], rtol=1e-5, atol=1e-6)
    learner = MAML(make_classifier(), inner_lr=0.5, outer_lr=3e-3, loss_fn=F.cross_entropy, batched="vmap")

    def accuracy(steps):
        logits = predictions(learner, test.support_x, test.support_y, test.query_x, steps)
        assert logits.shape == (200, 20, 2)
        return (logits.argmax(-1) == test.query_y).float().mean().item()

    before = accuracy(1)
    learner.fit(partial(line_tasks, 16, 10, 10), 150, seed=1)
    after_0, after_1 = accuracy(0), accuracy(1)
    assert after_1 > before + 0.1 and after_1 > after_0 + 0.2, (before, after_0, after_1)
    adapted = learner.adapt(test.support_x[0], test.support_y[0], 1)
    logits = functional_call(learner.model, adapted, (test.query_x[0],))
    torch.testing.assert_close(logits, predictions(learner, test.support_x[:1], test.support_y[:1], test.query_x[:1],
                                                   1)[0])


def notebook_harness() -> dict:
    """Notebook 05's cells tagged "sine-harness" run in helpers.maml's namespace, as benchmarks/train_maml.py does."""
    notebook = Path(__file__).resolve().parents[1] / "notebooks" / "05_maml_adapter.ipynb"
    namespace = dict(vars(helpers.maml))
    for cell in json.loads(notebook.read_text())["cells"]:
        if "sine-harness" in cell["metadata"].get("tags", []):
            exec("".join(cell["source"]), namespace)
    return namespace


def test_sine_recipe_trains_saves_and_loads(tmp_path):
    harness = notebook_harness()
    SineRecipe, SINE_MODELS, block_means = harness["SineRecipe"], harness["SINE_MODELS"], harness["block_means"]
    make_sine_learners, train_sine_learners = harness["make_sine_learners"], harness["train_sine_learners"]
    for bad in ({"iterations": -1}, {"inner_lr": 0.0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            SineRecipe(**bad)
    recipe = SineRecipe(seed=2, iterations=5, pretrain_iterations=5, meta_batch=4)
    learners = make_sine_learners(recipe)
    assert all(torch.equal(learners["maml"].model[0].weight, learners[n].model[0].weight)
               for n in ("maml_small", "first_order", "meta_sgd"))  # one initial weight for all
    losses = train_sine_learners(recipe, learners)
    assert set(losses) == set(SINE_MODELS) and all(v.shape == (5,) for v in losses.values())
    harness["save_sine_weights"](learners, tmp_path / "sine.safetensors", recipe)
    fresh = make_sine_learners(recipe)
    assert harness["load_sine_weights"](fresh, tmp_path / "sine.safetensors") == dataclasses.asdict(recipe)
    for name in SINE_MODELS:
        a, b = (d[name].model if name != "pretrained" else d[name] for d in (learners, fresh))
        assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert all(torch.equal(learners["meta_sgd"].lr[k], fresh["meta_sgd"].lr[k])
               for k in fresh["meta_sgd"].lr)
    # a shorter run with the same recipe retraces the start of a longer one, step for step
    short = make_sine_learners(SineRecipe(seed=2, iterations=3, pretrain_iterations=5, meta_batch=4))
    again = train_sine_learners(SineRecipe(seed=2, iterations=3, pretrain_iterations=5, meta_batch=4),
                                {"maml": short["maml"]})
    torch.testing.assert_close(again["maml"], losses["maml"][:3])
    with pytest.raises(ValueError, match="unknown names"):
        train_sine_learners(recipe, {"maml2": short["maml"]})
    torch.testing.assert_close(block_means(torch.arange(7.0), 3), torch.tensor([1.0, 4.0]))


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
    maml = MAML(model, inner_lr=0.05, inner_steps=1, outer_lr=1e-2, batched="loop", reset=lambda m: m.reset())
    test = sequence_tasks(20, 10, 20, make_generator(5))
    before = maml.curve(test, 5).mean(dim=0)
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
        return TaskBatch(x[:, :k], y[:, :k], x[:, k:], y[:, k:], torch.empty(0), torch.empty(0))  # not sine tasks

    def loss_fn(out, y):
        logits, _state = out  # the controller returns (outputs, final state)
        return masked_loss(logits, y[..., :-1], y[..., -1], "bce")

    config = MemoryConfig(memory_size=8, memory_dim=4, num_read_heads=1, num_write_heads=1, controller_hidden_size=16)
    model = MemoryController(recall.input_size, recall.output_size, config)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    maml = MAML(model, inner_lr=0.5, inner_steps=1, outer_lr=1e-2, loss_fn=loss_fn, batched="loop")
    test = recall_tasks(8, 8, 8, make_generator(1))
    untrained = maml.curve(test, 5).mean(dim=0)
    assert untrained[5] < 0.85 * untrained[0], untrained  # adaptation alone already lowers the query loss
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # adapt never writes the module
    maml.fit(partial(recall_tasks, 4, 8, 8), 20, seed=3)
    trained = maml.curve(test, 5).mean(dim=0)
    assert trained[1] < 0.8 * trained[0] and trained[5] < 0.5 * trained[0], trained
    assert trained[5] < 0.5 * untrained[5], (untrained, trained)


def one_good_batch_then_none(batch):
    stream = iter([batch, None])
    return lambda generator: next(stream)


BAD_CALLS = {
    "wrong target width": lambda learner, batch: learner.meta_step(
        TaskBatch(batch.support_x, batch.support_y[..., 0], batch.query_x, batch.query_y[..., 0])),
    "not a TaskBatch": lambda learner, batch: learner.meta_step((batch.support_x, batch.support_y)),
    "targets that overflow": lambda learner, batch: learner.meta_step(
        TaskBatch(batch.support_x, batch.support_y * 1e30, batch.query_x, batch.query_y * 1e30)),
    "fit with a bad sampler": lambda learner, batch: learner.fit(one_good_batch_then_none(batch), 2),
    "fit with too many iterations": lambda learner, batch: learner.fit(lambda g: batch, MAX_STEPS + 1),
    "curve with too many steps": lambda learner, batch: learner.curve(batch, MAX_INNER_STEPS + 1),
    "double-precision tasks": lambda learner, batch: learner.meta_step(
        TaskBatch(*(t.double() for t in (batch.support_x, batch.support_y, batch.query_x, batch.query_y)))),
}


@settings(max_examples=15, deadline=None)
@given(st.lists(st.one_of(st.just("valid"), st.sampled_from(sorted(BAD_CALLS))), min_size=1, max_size=6),
       st.booleans())
def test_a_failed_call_leaves_the_learner_exactly_as_it_was(calls, meta_sgd):
    """Over random sequences of valid and invalid calls, every call that raises leaves the weights, the
    Meta-SGD step sizes, the optimiser state and the global RNG state exactly as they were."""
    learner = MAML(make_sine_mlp(hidden=8), meta_sgd=meta_sgd, batched="vmap")
    batch = tasks(n=3, k=5, q=5)

    def state():
        rates = {} if learner.step_sizes is None else learner.step_sizes.state_dict()
        return (copy.deepcopy(learner.model.state_dict()), copy.deepcopy(rates),
                repr(learner.optimizer.state_dict()), torch.random.get_rng_state())

    for call in calls:
        before = state()
        if call == "valid":
            learner.meta_step(batch)
            continue
        with pytest.raises(ValueError):
            BAD_CALLS[call](learner, batch)
        after = state()
        for a, b in zip(before[0].values(), after[0].values()):
            assert torch.equal(a, b), call
        for a, b in zip(before[1].values(), after[1].values()):
            assert torch.equal(a, b), call
        assert before[2] == after[2] and torch.equal(before[3], after[3]), call
