import copy
import dataclasses
import math

import pytest
import torch
import torch.nn as nn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import helpers.foundations as foundations
from helpers.checks import MAX_SEED, MAX_STEPS, ArgumentTypeError
from helpers.foundations import (
    MemoryConfig,
    Task,
    TaskStream,
    continual_metrics,
    make_generator,
    make_main_stream,
    make_mlp,
    make_original_tasks,
    original_task_floors,
    original_task_targets,
    pick_device,
    seed_everything,
    task_errors,
    train_on_stream,
    train_steps,
)

NAN, INF = float("nan"), float("inf")


def small_stream(**kwargs) -> TaskStream:
    return make_main_stream(**{"num_tasks": 2, "train_size": 16, "test_size": 8, **kwargs})


def snapshot(model, optimizer=None, generator=None):
    """Everything a training call may change, as plain values to compare."""
    return (
        {k: v.clone() for k, v in model.state_dict().items()},
        [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        [m.training for m in model.modules()],
        None if optimizer is None else copy.deepcopy(optimizer.state_dict()),
        None if generator is None else generator.get_state(),
    )


def same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


# -- MemoryConfig ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "field, value",
    [
        ("memory_size", 0),
        ("memory_size", -3),
        ("memory_size", 10**6),
        ("memory_dim", 2.5),
        ("num_read_heads", True),
        ("num_write_heads", "1"),
        ("controller_hidden_size", None),
        ("memory_init", "ones"),
        ("memory_init", 0),
        ("memory_init_value", NAN),
        ("memory_init_value", -0.1),
        ("memory_init_value", 5.0),
        ("output_clip", 0.0),
        ("output_clip", INF),
        ("output_clip", "20"),
    ],
)
def test_memory_config_rejects_bad_values_naming_the_field(field, value):
    with pytest.raises(ValueError, match=f"MemoryConfig.{field}"):
        MemoryConfig(**{field: value})


def test_memory_config_defaults_dict_and_float_normalisation():
    config = MemoryConfig(output_clip=5)
    assert dataclasses.asdict(config)["memory_size"] == config.memory_size
    assert "_INT_LIMITS" not in dataclasses.asdict(config)
    assert isinstance(config.output_clip, float) and config.output_clip == 5.0


# -- devices and seeds -------------------------------------------------------------------------------
def test_pick_device_cpu_auto_and_errors(monkeypatch):
    monkeypatch.delenv("NMA_DEVICE", raising=False)
    assert pick_device("cpu", verbose=False).type == "cpu"
    assert pick_device(" CPU ", verbose=False).type == "cpu"
    assert pick_device(torch.device("cpu"), verbose=False).type == "cpu"
    assert pick_device("auto", verbose=False).type in ("cpu", "cuda", "mps")
    assert pick_device(None, verbose=False) == pick_device("auto", verbose=False)
    with pytest.raises(ValueError, match="setting.*'gpu'.*auto"):
        pick_device("gpu", verbose=False)
    with pytest.raises(TypeError, match="setting"):
        pick_device(3, verbose=False)
    with pytest.raises(TypeError, match="verbose"):
        pick_device("cpu", verbose="no")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no cuda device"):
            pick_device("cuda", verbose=False)
        with pytest.raises(ValueError, match="no cuda device"):
            pick_device("cuda:1", verbose=False)


def test_pick_device_environment_wins_and_is_checked(monkeypatch):
    monkeypatch.setenv("NMA_DEVICE", "cpu")
    assert pick_device("cuda", verbose=False).type == "cpu"
    monkeypatch.setenv("NMA_DEVICE", "gpu")
    with pytest.raises(ValueError, match="NMA_DEVICE"):
        pick_device("cpu", verbose=False)


def test_seed_everything_reproduces_and_env_overrides(monkeypatch):
    monkeypatch.delenv("NMA_SEED", raising=False)
    seed_everything(3, verbose=False)
    a = torch.rand(4)
    seed_everything(3, verbose=False)
    assert torch.equal(a, torch.rand(4))
    assert seed_everything(MAX_SEED, verbose=False) == MAX_SEED
    monkeypatch.setenv("NMA_SEED", "7")
    assert seed_everything(3, verbose=False) == 7


@pytest.mark.parametrize("text", ["abc", "-1", "1.5", "3e2", " ", str(2**32), "0x10"])
def test_bad_nma_seed_raises_naming_the_variable(monkeypatch, text):
    monkeypatch.setenv("NMA_SEED", text)
    state = torch.random.get_rng_state()
    with pytest.raises(ValueError, match="NMA_SEED"):
        seed_everything(0, verbose=False)
    assert torch.equal(state, torch.random.get_rng_state()), "a rejected seed must not reseed anything"


@pytest.mark.parametrize("seed", ["3", 1.7, True, -1, None, NAN, 2**32, 2**64])
def test_every_seed_argument_is_checked(monkeypatch, seed):
    monkeypatch.delenv("NMA_SEED", raising=False)
    for call in (
        lambda: seed_everything(seed, verbose=False),
        lambda: make_generator(seed),
        lambda: make_main_stream(seed=seed),
        lambda: make_original_tasks(4, seed),
        lambda: original_task_floors(100, seed=seed),
        lambda: make_mlp(4, seed=seed),
        lambda: train_on_stream(make_mlp(10), small_stream(), steps_per_task=1, seed=seed),
    ):
        with pytest.raises(ValueError, match="seed"):
            call()


def test_make_generator_checks_its_device():
    with pytest.raises(ValueError, match="device"):
        make_generator(0, device="gpu")
    assert make_generator(0, device="cpu").device.type == "cpu"


# -- the streams -------------------------------------------------------------------------------------
def test_main_stream_is_deterministic_disjoint_and_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    a, b = make_main_stream(seed=4), make_main_stream(seed=4)
    assert torch.equal(state, torch.random.get_rng_state())
    for ta, tb in zip(a.tasks, b.tasks):
        assert torch.equal(ta.train_x, tb.train_x) and torch.equal(ta.test_y, tb.test_y)
        train_rows = {tuple(r) for r in ta.train_x[:, : a.feature_dim].tolist()}
        assert not any(tuple(r) in train_rows for r in ta.test_x[:, : a.feature_dim].tolist())
        assert torch.allclose(ta.train_x[:, a.feature_dim :], ta.cue.expand(len(ta.train_x), -1))
    assert not torch.equal(make_main_stream(seed=5)[0].train_x, a[0].train_x)


def test_main_stream_shapes_iteration_and_indexing():
    stream = make_main_stream(num_tasks=3, train_size=10, test_size=6, feature_dim=2, cue_dim=4)
    assert len(stream) == 3 and stream.input_dim == 6
    assert [t.task_id for t in stream] == [0, 1, 2] and stream[-1] is stream.tasks[2]
    assert stream[1:] == stream.tasks[1:]
    x, y, ids = stream.joint(upto=1)
    assert x.shape == (20, 6) and y.shape == (20, 1) and ids.tolist() == [0] * 10 + [1] * 10
    with pytest.raises(IndexError, match="out of range"):
        stream[3]
    with pytest.raises(TypeError, match="k"):
        stream[1.0]
    with pytest.raises(ValueError, match="upto"):
        stream.joint(upto=3)
    with pytest.raises(ValueError, match="split"):
        stream[0].split("validation")


def test_stream_without_cue():
    plain = make_main_stream(num_tasks=2, cue_dim=0, seed=3)
    assert plain.input_dim == 2 and plain[0].cue.numel() == 0 and plain[1].train_x.shape == (512, 2)
    run = train_on_stream(make_mlp(2), plain, steps_per_task=2)
    assert run.R.shape == (2, 2)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_tasks": 0}, "num_tasks"),
        ({"num_tasks": 10**6}, "num_tasks"),
        ({"train_size": True}, "train_size"),
        ({"test_size": 2.0}, "test_size"),
        ({"feature_dim": 0}, "feature_dim"),
        ({"cue_dim": -1}, "cue_dim"),
        ({"noise_std": NAN}, "noise_std"),
        ({"frequency": True}, "frequency"),
        ({"frequency": -1.0}, "frequency"),
        ({"num_tasks": 1000, "train_size": 100_000}, "MAX_SIZE"),
    ],
)
def test_main_stream_rejects_bad_sizes(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_main_stream(**kwargs)


def good_task_fields():
    task = small_stream()[0]
    return {name: getattr(task, name) for name in ("task_id", "cue", "train_x", "train_y", "test_x", "test_y")}


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda f: {"task_id": -1}, "task_id"),
        (lambda f: {"task_id": "0"}, "task_id"),
        (lambda f: {"cue": f["cue"].tolist()}, "cue"),
        (lambda f: {"train_x": f["train_x"].double()}, "train_x"),
        (lambda f: {"train_x": f["train_x"].long()}, "train_x"),
        (lambda f: {"train_y": f["train_y"][:-1]}, "train_y"),
        (lambda f: {"train_y": f["train_y"].squeeze(1)}, "train_y"),
        (lambda f: {"test_y": torch.cat([f["test_y"], f["test_y"]], 1)}, "test_y"),
        (lambda f: {"test_x": f["test_x"][:, :-1]}, "test_x"),
        (lambda f: {"train_y": f["train_y"].index_fill(0, torch.tensor([3]), NAN)}, "finite"),
        (lambda f: {"test_x": f["test_x"].index_fill(0, torch.tensor([0]), INF)}, "finite"),
        (lambda f: {"test_x": f["train_x"][:8], "test_y": f["train_y"][:8]}, "overlap"),
        (lambda f: {"train_x": f["train_x"].index_fill(1, torch.tensor([9]), 0.5)}, "cue"),
        (lambda f: {"test_x": f["test_x"][:0], "test_y": f["test_y"][:0]}, "test"),
    ],
)
def test_task_rejects_inconsistent_fields(change, match):
    fields = good_task_fields()
    Task(**fields)  # the unchanged fields are fine
    with pytest.raises(ValueError, match=match):
        Task(**{**fields, **change(fields)})


def test_task_stream_rejects_inconsistent_tasks():
    stream = small_stream()
    with pytest.raises(ValueError, match="TaskStream.tasks"):
        TaskStream(stream[0], stream.feature_dim, stream.cue_dim)
    with pytest.raises(ValueError, match="Task"):
        TaskStream((stream[0], "task"), stream.feature_dim, stream.cue_dim)
    with pytest.raises(ValueError, match="distinct"):
        TaskStream((stream[0], stream[0]), stream.feature_dim, stream.cue_dim)
    with pytest.raises(ValueError, match="cue_dim"):
        TaskStream(stream.tasks, stream.feature_dim, stream.cue_dim + 1)
    with pytest.raises(ValueError, match="number of tasks"):
        TaskStream((), stream.feature_dim, stream.cue_dim)
    assert isinstance(TaskStream(list(stream.tasks), 2, 8).tasks, tuple)


def test_episodes_are_distinct_within_an_episode_and_come_from_one_split():
    task = make_main_stream(train_size=40, test_size=30)[1]
    ep = task.sample_episodes(8, 10, 5, make_generator(0), split="test")
    assert ep["context_x"].shape == (8, 10, task.test_x.shape[1]) and ep["query_y"].shape == (8, 5, 1)
    test_rows = {tuple(r) for r in task.test_x.tolist()}
    for b in range(8):
        rows = [tuple(r) for r in torch.cat([ep["context_x"][b], ep["query_x"][b]]).tolist()]
        assert len(set(rows)) == 15 and all(r in test_rows for r in rows)
    with pytest.raises(ValueError, match="exceeds"):
        task.sample_episodes(2, 20, 11, make_generator(0), split="test")
    with pytest.raises(ValueError, match="context_size"):
        task.sample_episodes(2, 0, 1, make_generator(0))
    with pytest.raises(ValueError, match="batch_size"):
        task.sample_episodes(10**6, 1, 1, make_generator(0))
    with pytest.raises(TypeError, match="generator"):
        task.sample_episodes(2, 1, 1, 0)


# -- metrics -----------------------------------------------------------------------------------------
def test_continual_metrics_hand_values_and_signs():
    acc = continual_metrics([[0.9, 0.5], [0.6, 0.8]], higher_is_better=True, baseline=[0.5, 0.5])
    assert math.isclose(acc["acc"], 0.7) and math.isclose(acc["bwt"], -0.3)
    assert math.isclose(acc["forgetting"], 0.3) and math.isclose(acc["fwt"], 0.0)
    err = continual_metrics([[0.1, 1.0, 1.0], [0.5, 0.2, 0.9], [0.7, 0.3, 0.1]], higher_is_better=False)
    assert math.isclose(err["bwt"], ((0.7 - 0.1) + (0.3 - 0.2)) / 2)
    assert math.isclose(err["forgetting"], ((0.7 - 0.1) + (0.3 - 0.2)) / 2)
    assert math.isnan(err["fwt"])


def test_bwt_and_forgetting_differ_when_a_task_improves_after_its_stage():
    R = [[0.10, 0.90, 0.80], [0.08, 0.05, 0.70], [0.30, 0.50, 0.02]]
    m = continual_metrics(R, higher_is_better=False, baseline=[0.6, 0.6, 0.6])
    assert math.isclose(m["bwt"], 0.325) and math.isclose(m["forgetting"], 0.335)
    assert math.isclose(m["fwt"], 0.2) and math.isclose(m["acc"], 0.82 / 3)


@pytest.mark.parametrize(
    "R, kwargs, error, match",
    [
        ([[1.0]], {}, ValueError, "R"),
        ([[1.0, 2.0]], {}, ValueError, "R"),
        ([[1.0, NAN], [0.0, 1.0]], {}, ValueError, "R"),
        ([[1.0, INF], [0.0, 1.0]], {}, ValueError, "R"),
        ("R", {}, TypeError, "R"),
        ([["a", "b"], ["c", "d"]], {}, TypeError, "R"),
        (None, {}, TypeError, "R"),
        ([[1.0, 0.0], [0.0, 1.0]], {"higher_is_better": "no"}, TypeError, "higher_is_better"),
        ([[1.0, 0.0], [0.0, 1.0]], {"baseline": [0.5]}, ValueError, "baseline"),
        ([[1.0, 0.0], [0.0, 1.0]], {"baseline": [0.5, NAN]}, ValueError, "baseline"),
        ([[1.0, 0.0], [0.0, 1.0]], {"baseline": "ab"}, TypeError, "baseline"),
    ],
)
def test_continual_metrics_rejects_bad_input(R, kwargs, error, match):
    with pytest.raises(error, match=match):
        continual_metrics(R, **kwargs)


# -- the original tasks --------------------------------------------------------------------------------
def test_original_task_floors_match_the_measured_values():
    floors = original_task_floors(20_000, seed=0)
    assert 0.16 < floors["task_agnostic"] < 0.17
    assert abs(floors["per_task_constant"] - 0.005) < 0.002
    x0 = make_original_tasks(5, seed=0)[0][0]
    assert not torch.equal(x0, make_original_tasks(5, seed=1)[0][0])


def test_original_tasks_reject_bad_input():
    with pytest.raises(ValueError, match="x"):
        original_task_targets(torch.zeros(3, 8))
    with pytest.raises(ValueError, match="x"):
        original_task_targets(torch.zeros(3, 64, dtype=torch.long))
    for bad in (NAN, INF):  # a pure function refuses non-finite input instead of returning NaN
        with pytest.raises(ValueError, match="x must hold finite numbers"):
            original_task_targets(torch.full((3, 64), bad))
    with pytest.raises(ValueError, match="num_samples"):
        make_original_tasks(0, 0)
    with pytest.raises(ValueError, match="num_samples"):
        original_task_floors(10**9)


# -- training ------------------------------------------------------------------------------------------
def test_training_is_reproducible_and_evaluation_is_pure():
    stream = make_main_stream(num_tasks=2, train_size=64, test_size=32)
    runs = [train_on_stream(make_mlp(stream.input_dim), stream, "naive", steps_per_task=20, seed=1) for _ in range(2)]
    assert torch.equal(runs[0].R, runs[1].R)
    model = make_mlp(stream.input_dim)
    before = [p.clone() for p in model.parameters()]
    model.train()
    first, second = task_errors(model, stream), task_errors(model, stream)
    assert torch.equal(first, second) and model.training
    model.eval()
    task_errors(model, stream, split="train")
    assert not model.training
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_naive_training_forgets_more_than_joint():
    stream = make_main_stream(num_tasks=3, train_size=256, test_size=128)
    naive = train_on_stream(make_mlp(stream.input_dim), stream, "naive", steps_per_task=150)
    joint = train_on_stream(make_mlp(stream.input_dim), stream, "joint", steps_per_task=150)
    f_naive = continual_metrics(naive.R, higher_is_better=False)["forgetting"]
    f_joint = continual_metrics(joint.R, higher_is_better=False)["forgetting"]
    assert f_naive > 0.1 and f_naive > 3 * max(f_joint, 0.01)


def test_curves_are_recorded_at_integer_steps():
    stream = small_stream()
    run = train_on_stream(make_mlp(stream.input_dim), stream, steps_per_task=10, eval_every=4)
    assert run.curve_steps.tolist() == [4, 8, 10, 14, 18, 20] and run.curve_steps.dtype == torch.int64
    assert run.curve_errors.shape == (6, 2)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"steps_per_task": 0}, ValueError, "steps_per_task"),
        ({"steps_per_task": MAX_STEPS}, ValueError, "steps_per_task"),
        ({"batch_size": -1}, ValueError, "batch_size"),
        ({"batch_size": 10**6}, ValueError, "batch_size"),
        ({"eval_every": -5}, ValueError, "eval_every"),
        ({"eval_every": 2.5}, TypeError, "eval_every"),
        ({"lr": 0.0}, ValueError, "lr"),
        ({"lr": NAN}, ValueError, "lr"),
        ({"lr": "0.1"}, TypeError, "lr"),
        ({"mode": "replay"}, ValueError, "mode"),
        ({"device": "gpu"}, ValueError, "device"),
        ({"stream": "stream"}, TypeError, "stream"),
        ({"model": "model"}, TypeError, "model"),
        ({"model": make_mlp(10, output_dim=3)}, ValueError, "model must output"),
        ({"model": make_mlp(7)}, ValueError, "model cannot take inputs"),
        ({"model": make_mlp(10).double()}, ValueError, "float64|dtype"),
        ({"model": nn.Identity()}, ValueError, "model must output|trainable"),
    ],
)
def test_train_on_stream_rejects_bad_arguments_and_changes_nothing(kwargs, error, match):
    arguments = {"model": make_mlp(10), "stream": small_stream(), **kwargs}
    model = arguments["model"]
    before = snapshot(model) if isinstance(model, nn.Module) else None
    with pytest.raises(error, match=match):
        train_on_stream(**arguments)
    if before is not None:
        assert same(before, snapshot(model))


def test_task_errors_rejects_bad_arguments():
    stream = small_stream()
    with pytest.raises(ValueError, match="split"):
        task_errors(make_mlp(10), stream, split="valid")
    with pytest.raises(ValueError, match="model must output"):
        task_errors(make_mlp(10, output_dim=2), stream)
    with pytest.raises(TypeError, match="stream"):
        task_errors(make_mlp(10), [stream[0]])


def training_call(**changes):
    stream = small_stream()
    model = make_mlp(stream.input_dim)
    x, y = stream[0].split("train")
    call = {"model": model, "optimizer": torch.optim.Adam(model.parameters(), lr=1e-2), "x": x, "y": y,
            "steps": 3, "batch_size": 4, "generator": make_generator(0)}
    call.update(changes)
    return call


@pytest.mark.parametrize(
    "changes, error, match",
    [
        ({"steps": -1}, ValueError, "steps"),
        ({"steps": MAX_STEPS + 1}, ValueError, "steps"),
        ({"steps": 2.0}, TypeError, "steps"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"generator": 0}, TypeError, "generator"),
        ({"optimizer": "adam"}, TypeError, "optimizer"),
        ({"optimizer": torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1)}, ValueError, "optimizer"),
        ({"x": torch.zeros(16, 10, dtype=torch.float64)}, ValueError, "x"),
        ({"x": torch.full((16, 10), NAN)}, ValueError, "x"),
        ({"y": torch.zeros(15, 1)}, ValueError, "y"),
        ({"y": torch.zeros(16)}, ValueError, "y"),
        ({"y": torch.zeros(16, 2)}, ValueError, "model must output"),
        ({"y": torch.full((16, 1), INF)}, ValueError, "y"),
        ({"x": torch.zeros(0, 10), "y": torch.zeros(0, 1)}, ValueError, "at least one"),
    ],
)
def test_train_steps_rejects_bad_arguments_and_changes_nothing(changes, error, match):
    call = training_call(**changes)
    optimizer = call["optimizer"] if isinstance(call["optimizer"], torch.optim.Optimizer) else None
    generator = call["generator"] if isinstance(call["generator"], torch.Generator) else None
    before = snapshot(call["model"], optimizer, generator)
    with pytest.raises(error, match=match):
        train_steps(**call)
    assert same(before, snapshot(call["model"], optimizer, generator))


def test_train_steps_never_steps_on_a_non_finite_loss_and_restores_everything():
    call = training_call(steps=200)
    call["optimizer"] = torch.optim.SGD(call["model"].parameters(), lr=1e3)  # diverges within a few steps
    train_steps(**{**call, "steps": 1})  # one good step first, so optimizer and grads hold state
    before = snapshot(call["model"], call["optimizer"], call["generator"])
    with pytest.raises(ValueError, match="loss at step"):
        train_steps(**call)
    assert same(before, snapshot(call["model"], call["optimizer"], call["generator"]))
    assert all(torch.isfinite(p).all() for p in call["model"].parameters())


def test_train_on_stream_restores_the_model_when_training_fails(monkeypatch):
    stream = small_stream()
    model = make_mlp(stream.input_dim)
    model.eval()
    before = snapshot(model)
    real, calls = foundations.train_steps, []

    def fails_on_the_third_call(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise ValueError("the training loss at step 0 is nan")
        return real(*args, **kwargs)

    monkeypatch.setattr(foundations, "train_steps", fails_on_the_third_call)
    with pytest.raises(ValueError, match="loss"):
        train_on_stream(model, stream, steps_per_task=4, eval_every=2)
    assert len(calls) == 3 and same(before, snapshot(model))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["ok", "nan_x", "bad_steps", "wide_y", "huge_lr"]),
                          st.integers(1, 4)), min_size=1, max_size=6))
def test_any_sequence_of_training_calls_is_atomic(calls):
    """Valid and invalid calls interleaved: each call that raises leaves model, optimizer and generator as
    they were; each that returns advanced them."""
    stream = small_stream()
    model = make_mlp(stream.input_dim)
    optimizer, generator = torch.optim.Adam(model.parameters(), lr=1e-2), make_generator(1)
    x, y = stream[0].split("train")
    for kind, steps in calls:
        arguments = {"x": x, "y": y, "steps": steps}
        if kind == "nan_x":
            arguments["x"] = x.index_fill(0, torch.tensor([0]), NAN)
        elif kind == "bad_steps":
            arguments["steps"] = -steps
        elif kind == "wide_y":
            arguments["y"] = y.expand(-1, 2)
        before = snapshot(model, optimizer, generator)
        if kind == "huge_lr":
            for group in optimizer.param_groups:
                group["lr"] = 1e30
        try:
            train_steps(model, optimizer, batch_size=4, generator=generator, **arguments)
        except ValueError:
            if kind == "huge_lr":
                for group in optimizer.param_groups:
                    group["lr"] = 1e-2
            assert same(before, snapshot(model, optimizer, generator))
        else:
            assert kind in ("ok", "huge_lr")
            if kind == "huge_lr":
                for group in optimizer.param_groups:
                    group["lr"] = 1e-2
        assert all(torch.isfinite(p).all() for p in model.parameters())


def test_make_mlp_checks_widths_and_seed():
    assert make_mlp(3, hidden=5, output_dim=2, seed=MAX_SEED)[0].in_features == 3
    for kwargs, match in (({"input_dim": 0}, "input_dim"), ({"input_dim": 3, "hidden": 10**6}, "hidden"),
                          ({"input_dim": 3, "output_dim": 2.0}, "output_dim")):
        with pytest.raises(ValueError, match=match):
            make_mlp(**kwargs)


def test_argument_type_errors_are_both_type_and_value_errors():
    with pytest.raises(ArgumentTypeError):
        make_main_stream(num_tasks="5")
