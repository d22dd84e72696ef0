"""Tests of helpers.agent (notebook 06): purity, resume, checkpoint safety, config, replay, data splits."""

import copy
import dataclasses
import hashlib
import io
import os

import pytest
import torch

from helpers.agent import (
    AgentConfig,
    ContinualAgent,
    EpisodicMemoryNet,
    episode_losses,
    make_original_stream,
    read_checkpoint,
    run_agent,
)
from helpers.foundations import make_main_stream

os.environ.setdefault("NMA_QUIET", "1")

SMALL = AgentConfig(steps_per_task=6, batch_size=4, context_size=6, query_size=3, memory_size=6,
                    replay_capacity=20, replay_batch_size=4, hidden_size=16, memory_dim=8, meta_steps=2,
                    meta_shots=6)


@pytest.fixture(scope="module")
def stream():
    return make_main_stream(num_tasks=3, train_size=64, test_size=32, seed=3)


def flat_state(agent: ContinualAgent) -> dict:
    """``state_dict`` flattened to path -> value, tensors cloned."""
    flat = {}

    def walk(prefix, value):
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}/{key}", item)
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                walk(f"{prefix}/{i}", item)
        else:
            flat[prefix] = value.clone() if isinstance(value, torch.Tensor) else value

    walk("", agent.state_dict())
    return flat


def assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], torch.Tensor):
            assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key
        else:
            assert a[key] == b[key], key


# --- config ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("field, value", [
    ("memory_size", 0), ("memory_size", 2.5), ("batch_size", True), ("lr", 0.0), ("lr", float("nan")),
    ("replay_weight", -0.1), ("replay_weight", 1.01), ("alpha", 2.0), ("controller", "gru"),
    ("use_memory", 1), ("steps_per_task", -1), ("seed", -3), ("meta_lr", float("inf")),
])
def test_config_rejects_bad_values_naming_field_and_value(field, value):
    with pytest.raises(ValueError) as err:
        dataclasses.replace(SMALL, **{field: value})
    assert field in str(err.value) and repr(value) in str(err.value)


def test_config_rejects_inconsistent_switches():
    with pytest.raises(ValueError, match="lstm"):
        AgentConfig(controller="lstm", use_memory=False)
    with pytest.raises(ValueError, match="use_meta"):
        AgentConfig(controller="lstm", use_meta=True)


def test_agent_rejects_bad_sizes_and_config_type():
    with pytest.raises(ValueError, match="input_dim"):
        ContinualAgent(SMALL, 0)
    with pytest.raises(TypeError, match="AgentConfig"):
        ContinualAgent({"use_memory": True}, 10)


def test_memory_off_is_the_same_network_minus_memory(stream):
    on = ContinualAgent(SMALL, stream.input_dim).net
    off = ContinualAgent(dataclasses.replace(SMALL, use_memory=False), stream.input_dim).net
    assert [(k, v.shape) for k, v in on.state_dict().items()] == [(k, v.shape) for k, v in off.state_dict().items()]
    assert all(torch.equal(p, q) for p, q in zip(on.parameters(), off.parameters()))


# --- evaluate is pure -----------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [{}, {"adapt_steps": 2}, {"use_memory": False}])
def test_evaluate_is_pure_and_repeatable(stream, kwargs):
    agent = ContinualAgent(dataclasses.replace(SMALL, use_meta=True), stream.input_dim)
    agent.fit_stream(stream, episodes=8, until=2)
    before, global_rng = flat_state(agent), torch.get_rng_state()
    first = agent.evaluate(stream, episodes=8, **kwargs)
    second = agent.evaluate(stream, episodes=8, **kwargs)
    assert torch.equal(first, second)
    assert_same_state(before, flat_state(agent))
    assert torch.equal(global_rng, torch.get_rng_state())
    assert agent.net.training  # mode restored


def test_training_never_touches_the_global_rng(stream):
    state = torch.get_rng_state()
    run_agent(dataclasses.replace(SMALL, use_meta=True), stream, episodes=4)
    assert torch.equal(state, torch.get_rng_state())


# --- resume equals uninterrupted -------------------------------------------------------------------

@pytest.mark.parametrize("switches", [{}, {"use_meta": True, "alpha": 0.0}, {"use_memory": False}])
def test_resume_equals_uninterrupted_bit_for_bit(stream, tmp_path, switches):
    config = dataclasses.replace(SMALL, **switches)
    whole = ContinualAgent(config, stream.input_dim)
    whole_run = whole.fit_stream(stream, episodes=8, eval_every=3)  # evaluation along the way changes nothing
    first = ContinualAgent(config, stream.input_dim)
    first.fit_stream(stream, episodes=8, until=1)
    first.save(tmp_path / "agent.pt")
    resumed = ContinualAgent.from_checkpoint(tmp_path / "agent.pt")
    resumed_run = resumed.fit_stream(stream, episodes=8)
    assert torch.equal(resumed_run.R, whole_run.R) and torch.equal(resumed_run.baseline, whole_run.baseline)
    assert_same_state(flat_state(whole), flat_state(resumed))


def test_load_into_an_existing_agent(stream, tmp_path):
    agent = ContinualAgent(SMALL, stream.input_dim)
    agent.fit_stream(stream, episodes=4, until=1)
    agent.save(tmp_path / "a.pt")
    other = ContinualAgent(SMALL, stream.input_dim)
    other.load(tmp_path / "a.pt")
    assert_same_state(flat_state(agent), flat_state(other))


# --- checkpoints are checked -----------------------------------------------------------------------

@pytest.fixture()
def checkpoint(stream, tmp_path):
    agent = ContinualAgent(SMALL, stream.input_dim)
    agent.fit_stream(stream, episodes=4, until=1)
    path = tmp_path / "agent.pt"
    agent.save(path)
    return agent, path


def test_tampered_checkpoint_is_rejected(checkpoint, tmp_path):
    _, path = checkpoint
    envelope = torch.load(path, weights_only=True)
    envelope["payload"][len(envelope["payload"]) // 2] ^= 0x01  # one bit, checksum left as it was
    torch.save(envelope, tmp_path / "tampered.pt")
    with pytest.raises(ValueError, match="checksum"):
        read_checkpoint(tmp_path / "tampered.pt")


def test_raw_byte_flip_is_rejected(checkpoint, tmp_path):
    _, path = checkpoint
    data = bytearray(path.read_bytes())
    for offset in (len(data) // 3, len(data) // 2, 2 * len(data) // 3):
        damaged = bytearray(data)
        damaged[offset] ^= 0xFF
        (tmp_path / "flipped.pt").write_bytes(damaged)
        with pytest.raises(ValueError):
            read_checkpoint(tmp_path / "flipped.pt")


@pytest.mark.parametrize("keep", [0.0, 0.1, 0.5, 0.99])
def test_truncated_checkpoint_is_rejected(checkpoint, tmp_path, keep):
    _, path = checkpoint
    data = path.read_bytes()
    (tmp_path / "short.pt").write_bytes(data[: int(keep * len(data))])
    with pytest.raises(ValueError, match="truncated|not a readable"):
        read_checkpoint(tmp_path / "short.pt")


def test_incompatible_checkpoints_are_rejected(checkpoint, tmp_path, stream):
    agent, path = checkpoint
    with pytest.raises(ValueError, match="incompatible checkpoint: saved with config"):
        ContinualAgent(dataclasses.replace(SMALL, memory_size=7), stream.input_dim).load(path)
    with pytest.raises(ValueError, match="incompatible checkpoint: saved for sizes"):
        ContinualAgent(SMALL, stream.input_dim + 1).load(path)
    envelope = torch.load(path, weights_only=True)
    torch.save({**envelope, "version": 999}, tmp_path / "future.pt")
    with pytest.raises(ValueError, match="format version 999"):
        read_checkpoint(tmp_path / "future.pt")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not an agent checkpoint"):
        read_checkpoint(tmp_path / "other.pt")


class _Payload:
    ran = False

    def __reduce__(self):
        return (_mark_ran, ())


def _mark_ran():
    _Payload.ran = True
    return "pwned"


def test_no_pickle_code_runs(tmp_path):
    torch.save({"format": "helpers.agent.ContinualAgent", "version": 1, "evil": _Payload()}, tmp_path / "evil.pt")
    with pytest.raises(ValueError):
        read_checkpoint(tmp_path / "evil.pt")
    # and hidden inside a payload whose checksum matches
    buffer = io.BytesIO()
    torch.save({"config": _Payload()}, buffer)
    data = buffer.getvalue()
    envelope = {"format": "helpers.agent.ContinualAgent", "version": 1, "sha256": hashlib.sha256(data).hexdigest(),
                "payload": torch.frombuffer(bytearray(data), dtype=torch.uint8)}
    torch.save(envelope, tmp_path / "evil2.pt")
    with pytest.raises(ValueError, match="cannot be read"):
        read_checkpoint(tmp_path / "evil2.pt")
    assert not _Payload.ran


# --- replay ----------------------------------------------------------------------------------------

def test_replayed_priorities_are_set_from_their_new_losses(stream):
    agent = ContinualAgent(dataclasses.replace(SMALL, alpha=0.6), stream.input_dim)
    agent.fit_stream(stream, episodes=4, until=1)
    sampled = []
    original_sample = agent.buffer.sample

    def recording_sample(*args, **kwargs):
        batch = original_sample(*args, **kwargs)
        sampled.append(batch)
        return batch

    agent.buffer.sample = recording_sample
    net_before = copy.deepcopy(agent.net)
    agent.train_step(agent.episodes(stream[1], SMALL.batch_size), 1)
    (batch,) = sampled
    with torch.no_grad():
        losses = episode_losses(net_before(batch.items["query_x"], batch.items["context_x"], batch.items["context_y"]),
                                batch.items["query_y"])
    stored = torch.from_numpy(agent.buffer.priorities[batch.indices.numpy()])
    assert torch.allclose(stored, losses.double() + agent.buffer.eps, atol=1e-6)


def test_replay_starts_with_the_second_task_and_fills_by_task(stream):
    agent = ContinualAgent(SMALL, stream.input_dim)
    agent.learn_task(stream[0])
    assert agent.buffer.num_sampled == 0  # no replay during the first task
    agent.learn_task(stream[1])
    assert agent.buffer.num_sampled == SMALL.steps_per_task
    counts = agent.buffer.task_counts(2)
    assert counts.sum() == len(agent.buffer) == SMALL.replay_capacity and (counts > 0).all()


def test_replay_weight_is_the_share_of_the_loss(stream):
    agent = ContinualAgent(dataclasses.replace(SMALL, replay_weight=1.0, beta_start=1.0, alpha=0.0), stream.input_dim)
    agent.learn_task(stream[0])
    out = agent.train_step(agent.episodes(stream[1], SMALL.batch_size), 1)
    # w = 1: the loss is the replay term alone; uniform replay with beta 1 has importance weights of 1
    assert out["loss"] == pytest.approx(out["replay"], rel=1e-5)


# --- data splits -----------------------------------------------------------------------------------

def test_training_uses_train_split_and_evaluation_test_split(stream, monkeypatch):
    from helpers.foundations import Task

    calls = []
    original = Task.sample_episodes

    def recording(self, batch_size, context_size, query_size, generator, split="train"):
        calls.append((calls_phase[0], split))
        return original(self, batch_size, context_size, query_size, generator, split)

    calls_phase = ["train"]
    monkeypatch.setattr(Task, "sample_episodes", recording)
    agent = ContinualAgent(dataclasses.replace(SMALL, use_meta=True), stream.input_dim)
    for task in stream.tasks[:2]:
        calls_phase[0] = "train"
        agent.learn_task(task)
        calls_phase[0] = "eval"
        agent.evaluate(stream, episodes=4)
        agent.evaluate(stream, episodes=4, adapt_steps=1)
    assert {split for phase, split in calls if phase == "train"} == {"train"}
    assert {split for phase, split in calls if phase == "eval"} == {"test"}


def test_train_and_test_examples_never_overlap():
    for data in (make_main_stream(seed=1), make_original_stream(50, 200, seed=1)):
        for task in data.tasks:
            train = {tuple(row) for row in task.train_x.tolist()}
            assert not any(tuple(row) in train for row in task.test_x.tolist())


def test_episodes_have_distinct_context_and_queries(stream):
    agent = ContinualAgent(SMALL, stream.input_dim)
    episode = agent.episodes(stream[0], 8, split="test")
    for b in range(8):
        context = {tuple(r) for r in episode["context_x"][b].tolist()}
        assert not any(tuple(r) in context for r in episode["query_x"][b].tolist())


# --- shapes and paths ------------------------------------------------------------------------------

def test_network_shapes_and_unbatched_inputs():
    net = EpisodicMemoryNet(5, 3, SMALL)
    qx, cx, cy = torch.randn(2, 4, 5), torch.randn(2, 6, 5), torch.randn(2, 6, 3)
    out, trace = net(qx, cx, cy, return_trace=True)
    assert out.shape == (2, 4, 3) and trace["memory"].shape == (2, SMALL.memory_size, SMALL.memory_dim)
    assert trace["read_weights"].shape == (2, 4, 1, SMALL.memory_size)
    assert torch.allclose(net(qx[0], cx[0], cy[0]), out[0], atol=1e-6)
    assert net(qx).shape == (2, 4, 3)


def test_lstm_controller_path_runs(stream):
    run = run_agent(dataclasses.replace(SMALL, controller="lstm", steps_per_task=2), stream, episodes=4)
    assert run.R.shape == (3, 3) and torch.isfinite(run.R).all()


def test_original_stream_agent_uses_64_outputs():
    data = make_original_stream(50, 100, seed=0)
    config = dataclasses.replace(SMALL, context_size=10, query_size=10, memory_size=10, steps_per_task=3)
    run = run_agent(config, data, episodes=4)
    assert run.R.shape == (4, 4) and torch.isfinite(run.R).all()


def test_network_rejects_mismatched_inputs():
    net = EpisodicMemoryNet(5, 1, SMALL)
    with pytest.raises(ValueError, match="query_x"):
        net(torch.randn(2, 4, 6))
    with pytest.raises(ValueError, match="together"):
        net(torch.randn(2, 4, 5), torch.randn(2, 6, 5))
    with pytest.raises(ValueError, match="must match"):
        net(torch.randn(2, 4, 5), torch.randn(3, 6, 5), torch.randn(3, 6, 1))


def test_each_episode_is_answered_independently_of_the_batch():
    net = EpisodicMemoryNet(5, 1, SMALL)
    qx, cx, cy = torch.randn(6, 4, 5), torch.randn(6, 6, 5), torch.randn(6, 6, 1)
    together = net(qx, cx, cy)
    alone = torch.cat([net(qx[b : b + 1], cx[b : b + 1], cy[b : b + 1]) for b in range(6)])
    assert torch.allclose(together, alone, atol=1e-6)


def test_alpha_zero_is_uniform_replay(stream):
    uniform = ContinualAgent(dataclasses.replace(SMALL, alpha=0.0), stream.input_dim)
    assert not uniform.config.prioritized and uniform.buffer.alpha == 0.0
    assert ContinualAgent(SMALL, stream.input_dim).config.prioritized
    assert ContinualAgent(dataclasses.replace(SMALL, use_replay=False), stream.input_dim).buffer is None
