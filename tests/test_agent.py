"""Tests of helpers.agent (notebook 06): the memory, its reads, local adaptation, the agent's training step,
purity, atomic failures, checkpoints."""

import copy
import dataclasses
import hashlib
import io
import math
import pickle

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.agent import (
    NUM_DIGIT_CLASSES,
    AgentConfig,
    AgentRun,
    ContinualAgent,
    EncoderHead,
    EpisodicMemory,
    LocalAdaptation,
    content_read,
    make_split_digits,
    nearest_class_mean,
)
from helpers.checkpoint import load_state, save_state, sidecar_path
from helpers.checks import ArgumentTypeError
from helpers.foundations import make_main_stream

SMALL = AgentConfig(hidden_size=16, memory_size=10, steps_per_task=4, batch_size=8, replay_batch_size=8,
                    neighbours=3, meta_queries=8)
AGENT = dataclasses.replace(SMALL, logit_weight=0.3, read_weight=0.5, adapt_steps=2, meta_weight=0.25)


@pytest.fixture(scope="module")
def tasks():
    return make_split_digits(seed=1)


def same_state(a, b) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same_state(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same_state(x, y) for x, y in zip(a, b))
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(
            torch.nan_to_num(a), torch.nan_to_num(b)) and torch.equal(a.isnan(), b.isnan())
    return a == b


def trained(config=AGENT, tasks=None, until=2) -> ContinualAgent:
    agent = ContinualAgent(config, 64, NUM_DIGIT_CLASSES)
    agent.fit_stream(tasks, until=until)
    return agent


# --- data -------------------------------------------------------------------------------------------

def test_split_digits_is_disjoint_and_labelled(tasks):
    assert [t.classes for t in tasks] == [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]
    train = torch.cat([t.train_index for t in tasks])
    test = torch.cat([t.test_index for t in tasks])
    assert len(train.unique()) == len(train) and not torch.isin(train, test).any()
    assert len(train) + len(test) == 1797
    for t in tasks:
        assert set(t.train_y.unique().tolist()) == set(t.classes)


@pytest.mark.parametrize("kwargs", [{"test_fraction": 0.0}, {"test_fraction": "0.2"}, {"seed": -1},
                                    {"seed": 1.5}])
def test_split_digits_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        make_split_digits(**kwargs)


# --- config -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("field, value", [
    ("memory_size", -1), ("memory_size", 2.5), ("batch_size", True), ("lr", 0.0), ("lr", math.nan),
    ("replay_weight", 1.5), ("read_weight", -0.1), ("read_beta", math.inf), ("alpha", 2.0), ("balance", "fifo"),
    ("scenario", "domain"), ("steps_per_task", 10**7), ("seed", -3), ("seed", "3"), ("adapt_steps", 1000),
    ("ace", 1), ("meta_every", 0),
])
def test_config_names_field_and_value(field, value):
    with pytest.raises(ValueError) as err:
        dataclasses.replace(SMALL, **{field: value})
    assert f"AgentConfig.{field}" in str(err.value) and repr(value)[:6] in str(err.value)


def test_ace_restricts_only_the_incoming_batch_to_its_task(tasks):
    """ER-ACE: the new batch's cross-entropy is over its task's classes; the replayed batch's over all seen."""
    plain, ace = (ContinualAgent(dataclasses.replace(SMALL, ace=flag), 64, NUM_DIGIT_CLASSES) for flag in (False, True))
    for agent in (plain, ace):
        agent.learn_task(tasks[0])
    x, y = tasks[1].train_x[:8], tasks[1].train_y[:8]
    with torch.no_grad():
        out = ace.net(x)
    only_task = torch.full_like(out, float("-inf"))
    present = y.unique()  # the task's classes known so far: here, those in the batch
    only_task[:, present] = out[:, present]
    expected = F.cross_entropy(only_task, y).item()
    assert ace.observe(x, y, 1)["current"] == pytest.approx(expected, rel=1e-5)
    assert plain.observe(x, y, 1)["current"] > expected  # the old classes compete too, so the loss is larger


def test_meta_every_skips_the_meta_loss_between_its_steps(tasks, monkeypatch):
    agent = ContinualAgent(dataclasses.replace(AGENT, meta_every=3, steps_per_task=12), 64, NUM_DIGIT_CLASSES)
    calls = []
    original = agent._meta_loss
    monkeypatch.setattr(agent, "_meta_loss", lambda *a: calls.append(agent.steps_done) or original(*a))
    agent.learn_task(tasks[0])
    assert calls and all(step % 3 == 0 for step in calls)


def test_meta_learning_needs_adaptation_steps():
    with pytest.raises(ValueError, match="adapt_steps"):
        dataclasses.replace(SMALL, meta_weight=0.5)


# --- reading by content -----------------------------------------------------------------------------

def test_content_read_is_softmax_of_scaled_cosine():
    torch.manual_seed(0)
    queries, items, values = torch.randn(5, 4), torch.randn(7, 4), torch.randn(7, 3)
    reads, weights = content_read(queries, items, values, beta=3.0)
    expected = torch.softmax(3.0 * F.cosine_similarity(queries.unsqueeze(1), items.unsqueeze(0), dim=-1), dim=1)
    assert torch.allclose(weights, expected, atol=1e-5)
    assert torch.allclose(reads, expected @ values, atol=1e-5)


def test_content_read_top_k_and_allowed():
    torch.manual_seed(1)
    queries, items, values = torch.randn(3, 4), torch.randn(6, 4), torch.eye(6)
    _, weights = content_read(queries, items, values, beta=5.0, top_k=2)
    assert ((weights > 0).sum(1) == 2).all() and torch.allclose(weights.sum(1), torch.ones(3))
    allowed = torch.zeros(3, 6, dtype=torch.bool)
    allowed[:, 4:] = True
    _, weights = content_read(queries, items, values, beta=5.0, allowed=allowed)
    assert (weights[:, :4] == 0).all() and torch.allclose(weights.sum(1), torch.ones(3))


def test_content_read_is_differentiable_in_both_keys():
    queries, items = torch.randn(2, 4, requires_grad=True), torch.randn(5, 4, requires_grad=True)
    reads, _ = content_read(queries, items, torch.randn(5, 3), beta=2.0)
    reads.sum().backward()
    assert queries.grad.abs().sum() > 0 and items.grad.abs().sum() > 0


@pytest.mark.parametrize("bad", [
    dict(beta=0.0), dict(beta=math.nan), dict(top_k=-1), dict(item_keys=torch.randn(5, 5)),
    dict(values=torch.randn(4, 3)), dict(query_keys=torch.full((2, 4), math.nan)),
])
def test_content_read_rejects_bad_input(bad):
    args = dict(query_keys=torch.randn(2, 4), item_keys=torch.randn(5, 4), values=torch.randn(5, 3), beta=1.0)
    with pytest.raises(ValueError, match=next(iter(bad))):
        content_read(**{**args, **bad})


def test_nearest_class_mean_picks_the_closest_mean():
    items = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    labels = torch.tensor([0, 0, 2])
    scores = nearest_class_mean(torch.tensor([[1.0, 0.2], [0.1, 1.0]]), items, labels, 3)
    assert scores.argmax(1).tolist() == [0, 2] and torch.isinf(scores[:, 1]).all()


# --- the memory -------------------------------------------------------------------------------------

def test_memory_keeps_every_class_equally(tasks):
    memory = EpisodicMemory(20, balance="class", seed=0)
    for t in tasks:
        memory.write(t.train_x, t.train_y, torch.zeros(len(t.train_y), 10), t.task_id)
    counts = torch.bincount(memory.items()["y"], minlength=10)
    assert (counts == 2).all()


def test_memory_write_validates_before_storing(tasks):
    memory = EpisodicMemory(10, seed=0)
    x, y = tasks[0].train_x[:4], tasks[0].train_y[:4]
    memory.write(x, y, torch.zeros(4, 10), 0)
    before = copy.deepcopy(memory.store.state_dict())
    for bad in (dict(y=torch.full((4,), 12)), dict(x=x.double()), dict(logits=torch.zeros(3, 10)),
                dict(x=torch.full_like(x, math.nan)), dict(task=-1), dict(losses=-torch.ones(4))):
        args = dict(x=x, y=y, logits=torch.zeros(4, 10), task=0) | bad
        with pytest.raises(ValueError):
            memory.write(**args)
        assert same_state(before, memory.store.state_dict())


# --- local adaptation --------------------------------------------------------------------------------

def test_local_adaptation_matches_a_per_query_loop_and_leaves_the_head_alone():
    torch.manual_seed(0)
    head = torch.nn.Linear(4, 3)
    weights = {k: v.clone() for k, v in head.state_dict().items()}
    adaptation = LocalAdaptation(2, 0.5, F.cross_entropy)
    queries, sx, sy = torch.randn(5, 4), torch.randn(5, 6, 4), torch.randint(3, (5, 6))
    batched = adaptation.outputs(head, queries, sx, sy)
    for q in range(5):
        copy_ = copy.deepcopy(head)
        optimiser = torch.optim.SGD(copy_.parameters(), lr=0.5)
        for _ in range(2):
            optimiser.zero_grad()
            F.cross_entropy(copy_(sx[q]), sy[q]).backward()
            optimiser.step()
        assert torch.allclose(batched[q], copy_(queries[q]).detach(), atol=1e-5)
    assert all(torch.equal(v, head.state_dict()[k]) for k, v in weights.items())


def test_meta_loss_differentiates_through_the_adaptation():
    torch.manual_seed(0)
    head = torch.nn.Linear(4, 3)
    adaptation = LocalAdaptation(1, 0.5, F.cross_entropy)
    loss = adaptation.meta_loss(head, torch.randn(5, 4), torch.randint(3, (5,)), torch.randn(5, 6, 4),
                                torch.randint(3, (5, 6)))
    grads = torch.autograd.grad(loss, list(head.parameters()))
    assert all(g.abs().sum() > 0 for g in grads)


# --- the agent --------------------------------------------------------------------------------------

def test_evaluate_is_pure(tasks):
    agent = trained(tasks=tasks)
    before = copy.deepcopy(agent.state_dict())
    rng = torch.get_rng_state()
    first = agent.evaluate(tasks)
    agent.evaluate(tasks, readout="ncm", adapt=False)
    agent.evaluate(tasks, scenario="task")
    assert torch.equal(first, agent.evaluate(tasks))
    assert same_state(before, agent.state_dict()) and torch.equal(rng, torch.get_rng_state())


def test_a_run_is_a_function_of_its_config(tasks):
    a, b = trained(tasks=tasks), trained(tasks=tasks)
    assert same_state(a.state_dict(), b.state_dict())


def test_memory_read_removes_recency_bias(tasks):
    config = dataclasses.replace(SMALL, hidden_size=32, memory_size=20, steps_per_task=30, logit_weight=0.3)
    agent = trained(config, tasks, until=5)
    x = torch.cat([t.test_x for t in tasks])
    head = (agent.predict(x, read_weight=0.0).argmax(1) >= 8).float().mean()
    read = (agent.predict(x, read_weight=1.0).argmax(1) >= 8).float().mean()
    assert head > read


def test_task_incremental_answers_only_the_tasks_digits(tasks):
    agent = trained(dataclasses.replace(SMALL, scenario="task"), tasks)
    for t in tasks[:2]:
        allowed = torch.zeros(10, dtype=torch.bool)
        allowed[list(t.classes)] = True
        answers = agent.predict(t.test_x, allowed).argmax(1)
        assert set(answers.unique().tolist()) <= set(t.classes)


def test_regression_on_the_main_stream():
    stream = make_main_stream(num_tasks=2, train_size=64, test_size=32, seed=0)
    config = dataclasses.replace(AGENT, balance="task", adapt_lr=0.1)
    agent = ContinualAgent(config, stream.input_dim, 1, kind="regression")
    run = agent.fit_stream(stream)
    assert run.R.shape == (2, 2) and torch.isfinite(run.R).all() and not run.higher_is_better
    with pytest.raises(ValueError, match="balance"):
        ContinualAgent(SMALL, stream.input_dim, 1, kind="regression")


# --- bad input changes nothing ----------------------------------------------------------------------

def bad_batches(tasks):
    x, y = tasks[0].train_x[:8], tasks[0].train_y[:8]
    nan_x = x.clone()
    nan_x[0, 0] = math.nan
    return [
        dict(x=nan_x, y=y), dict(x=x.double(), y=y), dict(x=x[:, :10], y=y), dict(x=x, y=y.float()),
        dict(x=x, y=y + 20), dict(x=x, y=y[:5]), dict(x=x, y=y, task_id=-1), dict(x=x, y=y, task_id=1.5),
        dict(x=x, y=y, store="no"), dict(x=x.tolist(), y=y), dict(x=x[:0], y=y[:0]),
    ]


def test_bad_batches_are_refused_before_anything_changes(tasks):
    agent = trained(tasks=tasks)
    for bad in bad_batches(tasks):
        before, rng = copy.deepcopy(agent.state_dict()), torch.get_rng_state()
        args = {"task_id": 0, **bad}
        with pytest.raises(ValueError):
            agent.observe(args.pop("x"), args.pop("y"), **args)
        assert same_state(before, agent.state_dict()) and torch.equal(rng, torch.get_rng_state()), bad


def test_a_non_finite_loss_applies_no_update(tasks):
    agent = trained(tasks=tasks)
    with torch.no_grad():
        agent.net.head.bias[0] = math.nan
    before = copy.deepcopy(agent.state_dict())
    with pytest.raises(ValueError, match="no update applied"):
        agent.observe(tasks[0].train_x[:8], tasks[0].train_y[:8], 0)
    assert same_state(before, agent.state_dict())


@pytest.mark.parametrize("damage", ["nan weight", "nan lr", "wrong shape", "counters", "missing", "memory size",
                                    "config", "kind", "seen"])
def test_load_state_dict_refuses_a_bad_state_and_changes_nothing(tasks, damage):
    agent, other = trained(tasks=tasks), trained(tasks=tasks, until=1)
    state = copy.deepcopy(agent.state_dict())
    if damage == "nan weight":
        state["net"]["head.bias"][0] = math.nan
    elif damage == "nan lr":
        state["optimizer"]["param_groups"][0]["lr"] = math.nan
    elif damage == "wrong shape":
        state["net"]["head.weight"] = torch.zeros(3, 3)
    elif damage == "counters":
        state["counters"]["tasks_seen"] = -1
    elif damage == "missing":
        del state["rows"]
    elif damage == "memory size":
        state["memory"]["counters"]["size"] = 10**6
    elif damage == "config":
        state["config"]["hidden_size"] = 17
    elif damage == "kind":
        state["dims"]["kind"] = "regression"
    elif damage == "seen":
        state["seen"] = torch.ones(3, dtype=torch.bool)
    before = copy.deepcopy(other.state_dict())
    with pytest.raises(ValueError):
        other.load_state_dict(state)
    assert same_state(before, other.state_dict())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(["observe", "observe bad", "predict bad", "load bad", "evaluate"]), min_size=1,
                max_size=6), st.integers(0, 10))
def test_any_sequence_of_calls_keeps_failures_atomic(tasks, calls, pick):
    agent = ContinualAgent(SMALL, 64, NUM_DIGIT_CLASSES)
    batches = bad_batches(tasks)
    for call in calls:
        before, rng = copy.deepcopy(agent.state_dict()), torch.get_rng_state()
        try:
            if call == "observe":
                agent.observe(tasks[0].train_x[:8], tasks[0].train_y[:8], 0)
                continue
            if call == "evaluate":
                agent.evaluate(tasks[:2])
            elif call == "observe bad":
                args = {"task_id": 0, **batches[pick % len(batches)]}
                agent.observe(args.pop("x"), args.pop("y"), **args)
            elif call == "predict bad":
                agent.predict(tasks[0].test_x.double())
            else:
                state = copy.deepcopy(agent.state_dict())
                state["counters"]["steps_done"] = "many"
                agent.load_state_dict(state)
        except ValueError:
            pass
        assert same_state(before, agent.state_dict()) and torch.equal(rng, torch.get_rng_state()), call


# --- checkpoints ------------------------------------------------------------------------------------

def test_resume_equals_uninterrupted(tasks, tmp_path):
    whole = ContinualAgent(AGENT, 64, 10)
    whole_run = whole.fit_stream(tasks[:3])
    half = ContinualAgent(AGENT, 64, 10)
    half.fit_stream(tasks[:3], until=1)
    half.save(tmp_path / "a.pt")
    resumed = ContinualAgent.from_checkpoint(tmp_path / "a.pt")
    resumed_run = resumed.fit_stream(tasks[:3])
    assert torch.equal(resumed_run.R, whole_run.R) and same_state(resumed.state_dict(), whole.state_dict())


def test_identical_states_save_identical_bytes(tasks, tmp_path):
    agent = trained(tasks=tasks, until=1)
    assert agent.save(tmp_path / "a.pt") == agent.save(tmp_path / "b.pt")
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()


def test_checkpoints_are_verified(tasks, tmp_path):
    agent = trained(tasks=tasks, until=1)
    path = tmp_path / "a.pt"
    agent.save(path)
    data = bytearray(path.read_bytes())
    flipped = tmp_path / "flipped.pt"
    flipped.write_bytes(bytes(data[:-40]) + bytes(b ^ 1 for b in data[-40:]))
    sidecar_path(flipped).write_text(sidecar_path(path).read_text())
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(bytes(data[: len(data) // 2]))
    for bad in (flipped, truncated, tmp_path / "missing.pt", tmp_path, None):
        with pytest.raises(ValueError):
            agent.load(bad)
    no_sidecar = tmp_path / "no_sidecar.pt"
    no_sidecar.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="sha256"):
        agent.load(no_sidecar)
    agent.load(no_sidecar, expected_sha256=hashlib.sha256(bytes(data)).hexdigest())


def test_a_pickle_in_a_checkpoint_never_runs(tmp_path):
    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('pickle code ran')",))

    path = tmp_path / "evil.pt"
    buffer = io.BytesIO()
    torch.save({"config": {}, "payload": Boom()}, buffer, pickle_module=pickle)
    path.write_bytes(buffer.getvalue())
    with pytest.raises(ValueError):
        ContinualAgent.from_checkpoint(path, expected_sha256=hashlib.sha256(buffer.getvalue()).hexdigest())


def test_checkpoints_use_the_series_format(tasks, tmp_path):
    agent = trained(tasks=tasks, until=1)
    digest = agent.save(tmp_path / "a.safetensors")
    state, _ = load_state(tmp_path / "a.safetensors")
    assert sidecar_path(tmp_path / "a.safetensors").read_text().split()[0] == digest
    assert same_state(state, agent.state_dict())


def _adam_broken(state, how):
    if how == "negative second moment":
        state["optimizer"]["state"][0]["exp_avg_sq"][0, 0] = -1.0
    elif how == "beta1 = 1":
        state["optimizer"]["param_groups"][0]["betas"] = (1.0, 0.999)
    elif how == "beta2 = 1.5":
        state["optimizer"]["param_groups"][0]["betas"] = (0.9, 1.5)
    elif how == "lr = 0":
        state["optimizer"]["param_groups"][0]["lr"] = 0.0
    elif how == "lr = -1":
        state["optimizer"]["param_groups"][0]["lr"] = -1.0
    elif how == "eps = 0":
        state["optimizer"]["param_groups"][0]["eps"] = 0.0
    elif how == "negative step":
        state["optimizer"]["state"][0]["step"] = torch.tensor(-1.0)
    return state


@pytest.mark.parametrize("how", ["negative second moment", "beta1 = 1", "beta2 = 1.5", "lr = 0", "lr = -1",
                                 "eps = 0", "negative step"])
def test_impossible_optimiser_state_is_refused_at_load(tasks, tmp_path, how):
    agent = trained(tasks=tasks, until=1)
    path = tmp_path / "bad.safetensors"
    save_state(path, _adam_broken(agent.state_dict(), how))  # valid digests, impossible Adam state
    with pytest.raises(ValueError, match="optimizer|Adam"):
        ContinualAgent.from_checkpoint(path)
    before = copy.deepcopy(agent.state_dict())
    with pytest.raises(ValueError, match="optimizer|Adam"):
        agent.load(path)
    assert same_state(before, agent.state_dict())
    agent.learn_task(tasks[1], steps=2)  # the agent still trains to finite weights
    assert all(torch.isfinite(p).all() for p in agent.net.parameters())


def test_incompatible_checkpoints_are_refused(tasks, tmp_path):
    agent = trained(tasks=tasks, until=1)
    agent.save(tmp_path / "a.pt")
    other = ContinualAgent(dataclasses.replace(AGENT, memory_size=12), 64, 10)
    with pytest.raises(ValueError, match="incompatible"):
        other.load(tmp_path / "a.pt")


# --- the network ---------------------------------------------------------------------------------------

def test_encoder_head_shapes():
    net = EncoderHead(64, 10, 8)
    assert net(torch.zeros(3, 64)).shape == (3, 10) and net.encoder(torch.zeros(3, 64)).shape == (3, 8)


def test_agent_arguments_are_checked():
    with pytest.raises(ArgumentTypeError):
        ContinualAgent({"memory_size": 3}, 64, 10)
    with pytest.raises(ValueError, match="device"):
        ContinualAgent(SMALL, 64, 10, device="gpu")
    with pytest.raises(ValueError, match="kind"):
        ContinualAgent(SMALL, 64, 10, kind="ranking")


@pytest.mark.parametrize("bad_x", ["nan", "wide", "float64", "list", "meta"])
def test_fit_stream_checks_every_task_before_learning_any(tasks, bad_x):
    from types import SimpleNamespace

    x = tasks[1].train_x
    bad = {"nan": x.clone().fill_(math.nan), "wide": torch.cat([x, x[:, :1]], 1), "float64": x.double(),
           "list": x.tolist(), "meta": x.to("meta")}[bad_x]
    loose = [SimpleNamespace(**{f: getattr(t, f) for f in ("task_id", "classes", "train_x", "train_y", "test_x",
                                                           "test_y")}) for t in tasks]
    loose[1].train_x = bad
    agent = ContinualAgent(SMALL, 64, NUM_DIGIT_CLASSES)
    before = copy.deepcopy(agent.state_dict())
    with pytest.raises(ValueError, match="train_x"):
        agent.fit_stream(loose)
    assert same_state(before, agent.state_dict())


@pytest.mark.parametrize("damage", ["adam moment shape", "adam step", "wide x", "wide logits", "label 99",
                                    "generator length"])
def test_load_state_dict_refuses_state_that_does_not_fit(tasks, damage):
    agent, other = trained(tasks=tasks), trained(tasks=tasks, until=1)
    state = copy.deepcopy(agent.state_dict())
    storage = state["memory"]["storage"]
    if damage == "adam moment shape":
        state["optimizer"]["state"][0]["exp_avg"] = state["optimizer"]["state"][0]["exp_avg"][:1]
    elif damage == "adam step":
        state["optimizer"]["state"][0]["step"] = state["optimizer"]["state"][0]["step"] * 0 - 1
    elif damage == "wide x":
        storage["x"] = torch.cat([storage["x"], storage["x"][:, :1]], 1)
    elif damage == "wide logits":
        storage["logits"] = torch.cat([storage["logits"], storage["logits"][:, :1]], 1)
    elif damage == "label 99":
        storage["y"] = storage["y"] * 0 + 99
    else:
        state["generator"] = torch.zeros(3, dtype=torch.uint8)
    before = copy.deepcopy(other.state_dict())
    with pytest.raises(ValueError, match="malformed agent checkpoint"):
        other.load_state_dict(state)
    assert same_state(before, other.state_dict())


@pytest.mark.parametrize("classes", [(2, 99), "ab", 3, (), (True, 2)])
def test_learn_task_checks_the_task_classes(tasks, classes):
    from types import SimpleNamespace

    task = SimpleNamespace(task_id=1, classes=classes, train_x=tasks[1].train_x, train_y=tasks[1].train_y)
    agent = ContinualAgent(SMALL, 64, NUM_DIGIT_CLASSES)
    with pytest.raises(ValueError, match="classes"):
        agent.learn_task(task)
    assert agent.steps_done == 0 and not agent.task_classes


@pytest.mark.parametrize("call, match", [
    (lambda: nearest_class_mean(torch.randn(2, 3), torch.randn(4, 3), torch.tensor([0, 1, 2, 9]), 4), "labels"),
    (lambda: content_read(torch.randn(2, 3), torch.randn(4, 3), torch.full((4, 2), math.nan), 5.0), "values"),
    (lambda: EpisodicMemory(4).write(torch.randn(2, 3), [0, 1], torch.randn(2, 4), 0), "y"),
    (lambda: EncoderHead(0, 2, 4), "input_dim"),
    (lambda: EncoderHead(True, 2, 4), "input_dim"),
    (lambda: EncoderHead(3, 2, 4)(torch.randn(2, 5)), "x"),
    (lambda: LocalAdaptation(1, 0.1, F.mse_loss).outputs(torch.nn.Linear(4, 3), torch.randn(2, 4),
                                                         torch.randn(2, 3, 4), torch.randn(2, 3)), "support_y"),
    (lambda: LocalAdaptation(1, 0.1, F.mse_loss).meta_loss(torch.nn.Linear(4, 3), torch.randn(2, 4),
                                                           torch.full((2, 3), math.nan), torch.randn(2, 3, 4),
                                                           torch.randn(2, 3, 3)), "query_targets"),
    (lambda: AgentRun(torch.full((2, 2), math.nan), torch.zeros(2), 0.1), "R"),
    (lambda: AgentRun(torch.zeros(2, 2), torch.zeros(3), 0.1), "baseline"),
    (lambda: AgentRun(torch.zeros(2, 2), torch.zeros(2), math.nan), "train_seconds"),
    (lambda: AgentRun(torch.zeros(2, 2), torch.zeros(2), 0.1, 1), "higher_is_better"),
    (lambda: nearest_class_mean(torch.randn(2, 3), torch.randn(4, 3, device="meta"), torch.zeros(4).long(), 4),
     "item_keys"),
])
def test_public_helpers_name_the_bad_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("tasks_arg", [3, None, "abc", []])
def test_evaluate_and_fit_stream_refuse_a_non_sequence(tasks_arg):
    agent = ContinualAgent(SMALL, 64, NUM_DIGIT_CLASSES)
    for call in (agent.evaluate, agent.fit_stream):
        with pytest.raises(ValueError, match="tasks"):
            call(tasks_arg)


def test_an_empty_training_split_is_refused_before_anything_changes(tasks):
    from types import SimpleNamespace

    empty = SimpleNamespace(task_id=1, classes=tasks[1].classes, train_x=tasks[1].train_x[:0],
                            train_y=tasks[1].train_y[:0], test_x=tasks[1].test_x, test_y=tasks[1].test_y)
    agent = trained(tasks=tasks, until=1)
    before = copy.deepcopy(agent.state_dict())
    with pytest.raises(ValueError, match="train_x"):
        agent.learn_task(empty)
    with pytest.raises(ValueError, match="train_x"):
        agent.fit_stream([tasks[0], empty])
    fresh = ContinualAgent(SMALL, 64, NUM_DIGIT_CLASSES)
    with pytest.raises(ValueError, match="train_x"):
        fresh.fit_stream([tasks[0], empty])
    assert fresh.baseline is None and fresh.tasks_seen == 0 and same_state(before, agent.state_dict())


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 40), m=st.integers(1, 40), d=st.integers(1, 70), shared=st.integers(0, 40),
       dtype=st.sampled_from([torch.float32, torch.float64]), seed=st.integers(0, 2**31 - 1))
def test_same_rows_matches_the_broadcast_comparison(n, m, d, shared, dtype, seed):
    """The meta-loss's own-copy mask: exact row equality, including -0.0 == 0.0 and few distinct values."""
    from helpers.agent import _same_rows

    g = torch.Generator().manual_seed(seed)
    a = (torch.randint(0, 3, (n, d), generator=g) / 2).to(dtype)  # few values: many equal sums, some equal rows
    b = (torch.randint(0, 3, (m, d), generator=g) / 2).to(dtype)
    k = min(shared, n, m)
    b[:k] = a[:k]
    a[0, 0] = -0.0 if a[0, 0] == 0 else a[0, 0]
    assert torch.equal(_same_rows(a, b), (a.unsqueeze(1) == b.unsqueeze(0)).all(dim=-1))
