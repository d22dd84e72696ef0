import math

import pytest
import torch

from helpers.foundations import (
    MemoryConfig,
    continual_metrics,
    make_generator,
    make_main_stream,
    make_mlp,
    make_original_tasks,
    original_task_floors,
    pick_device,
    seed_everything,
    task_errors,
    train_on_stream,
)


@pytest.mark.parametrize(
    "field, value",
    [
        ("memory_size", 0),
        ("memory_size", -3),
        ("memory_dim", 2.5),
        ("num_read_heads", True),
        ("num_write_heads", "1"),
        ("memory_init", "ones"),
        ("memory_init_value", float("nan")),
        ("output_clip", 0.0),
        ("output_clip", float("inf")),
    ],
)
def test_memory_config_rejects_bad_values_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        MemoryConfig(**{field: value})


def test_memory_config_defaults_and_dict():
    config = MemoryConfig()
    assert config.as_dict()["memory_size"] == config.memory_size
    assert "_INT_LIMITS" not in config.as_dict()


def test_pick_device_cpu_and_errors(monkeypatch):
    monkeypatch.delenv("NMA_DEVICE", raising=False)
    assert pick_device("cpu", verbose=False).type == "cpu"
    with pytest.raises(ValueError, match="auto"):
        pick_device("gpu", verbose=False)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="not available"):
            pick_device("cuda", verbose=False)
    monkeypatch.setenv("NMA_DEVICE", "cpu")
    assert pick_device("cuda", verbose=False).type == "cpu"  # the environment wins


def test_seed_everything_reproduces_and_env_overrides(monkeypatch):
    monkeypatch.delenv("NMA_SEED", raising=False)
    seed_everything(3, verbose=False)
    a = torch.rand(4)
    seed_everything(3, verbose=False)
    assert torch.equal(a, torch.rand(4))
    monkeypatch.setenv("NMA_SEED", "7")
    assert seed_everything(3, verbose=False) == 7
    with pytest.raises(ValueError, match="seed"):
        monkeypatch.delenv("NMA_SEED")
        seed_everything(-1, verbose=False)


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


def test_main_stream_shapes_and_bad_input():
    stream = make_main_stream(num_tasks=3, train_size=10, test_size=6, feature_dim=2, cue_dim=4)
    assert len(stream) == 3 and stream.input_dim == 6
    x, y, ids = stream.joint(upto=1)
    assert x.shape == (20, 6) and y.shape == (20, 1) and ids.tolist() == [0] * 10 + [1] * 10
    with pytest.raises(ValueError, match="num_tasks"):
        make_main_stream(num_tasks=0)
    with pytest.raises(ValueError, match="noise_std"):
        make_main_stream(noise_std=float("nan"))
    with pytest.raises(ValueError, match="split"):
        stream[0].split("validation")


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


def test_continual_metrics_hand_values_and_signs():
    acc = continual_metrics([[0.9, 0.5], [0.6, 0.8]], higher_is_better=True, baseline=[0.5, 0.5])
    assert math.isclose(acc["acc"], 0.7) and math.isclose(acc["bwt"], -0.3)
    assert math.isclose(acc["forgetting"], 0.3) and math.isclose(acc["fwt"], 0.0)
    err = continual_metrics([[0.1, 1.0, 1.0], [0.5, 0.2, 0.9], [0.7, 0.3, 0.1]], higher_is_better=False)
    assert math.isclose(err["bwt"], ((0.7 - 0.1) + (0.3 - 0.2)) / 2)
    assert math.isclose(err["forgetting"], ((0.7 - 0.1) + (0.3 - 0.2)) / 2)
    assert math.isnan(err["fwt"])


@pytest.mark.parametrize("R", [[[1.0]], [[1.0, 2.0]], [[1.0, float("nan")], [0.0, 1.0]]])
def test_continual_metrics_rejects_bad_matrices(R):
    with pytest.raises(ValueError, match="R"):
        continual_metrics(R)


def test_original_task_floors_match_the_measured_values():
    floors = original_task_floors(20_000, seed=0)
    assert abs(floors["task_agnostic"] - 0.163) < 0.01
    assert abs(floors["per_task_constant"] - 0.005) < 0.002
    x0 = make_original_tasks(5, seed=0)[0][0]
    assert not torch.equal(x0, make_original_tasks(5, seed=1)[0][0])


def test_training_is_reproducible_and_evaluation_is_pure():
    stream = make_main_stream(num_tasks=2, train_size=64, test_size=32)
    runs = [train_on_stream(make_mlp(stream.input_dim), stream, "naive", steps_per_task=20, seed=1) for _ in range(2)]
    assert torch.equal(runs[0].R, runs[1].R)
    model = make_mlp(stream.input_dim)
    before = [p.clone() for p in model.parameters()]
    model.train()
    first, second = task_errors(model, stream), task_errors(model, stream)
    assert torch.equal(first, second) and model.training
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_naive_training_forgets_more_than_joint():
    stream = make_main_stream(num_tasks=3, train_size=256, test_size=128)
    naive = train_on_stream(make_mlp(stream.input_dim), stream, "naive", steps_per_task=150)
    joint = train_on_stream(make_mlp(stream.input_dim), stream, "joint", steps_per_task=150)
    f_naive = continual_metrics(naive.R, higher_is_better=False)["forgetting"]
    f_joint = continual_metrics(joint.R, higher_is_better=False)["forgetting"]
    assert f_naive > 0.1 and f_naive > 3 * max(f_joint, 0.01)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"steps_per_task": 0}, "steps_per_task"),
        ({"batch_size": -1}, "batch_size"),
        ({"eval_every": -5}, "eval_every"),
        ({"lr": 0.0}, "lr"),
        ({"mode": "replay"}, "mode"),
    ],
)
def test_train_on_stream_rejects_bad_arguments(kwargs, match):
    stream = make_main_stream(num_tasks=2, train_size=8, test_size=4)
    with pytest.raises(ValueError, match=match):
        train_on_stream(make_mlp(stream.input_dim), stream, **kwargs)


def test_flags_and_numbers_reject_bools_and_strings():
    with pytest.raises(TypeError, match="higher_is_better"):
        continual_metrics([[1.0, 0.0], [0.0, 1.0]], higher_is_better="no")
    with pytest.raises(ValueError, match="frequency"):
        make_main_stream(frequency=True)
