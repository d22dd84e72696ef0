"""Tests of helpers.agent (notebook 06): purity, resume, checkpoint safety, config, replay, data splits."""

import copy
import dataclasses
import hashlib
import io
import os
import shutil

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
    sidecar_path,
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


def assert_same_state(a: dict, b: dict, skip: tuple = ()) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if key in skip:
            continue
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
    # the run records differ only because the uninterrupted run recorded curves (and wall time differs)
    assert_same_state(flat_state(whole), flat_state(resumed), skip=("/run/steps", "/run/curve", "/run/train_seconds"))


@pytest.mark.parametrize("switches", [{}, {"use_meta": True}])
def test_resumed_run_record_equals_uninterrupted(stream, tmp_path, switches):
    config = dataclasses.replace(SMALL, **switches)
    whole_run = ContinualAgent(config, stream.input_dim).fit_stream(stream, episodes=8, eval_every=3)
    first = ContinualAgent(config, stream.input_dim)
    first.fit_stream(stream, episodes=8, eval_every=3, until=2)
    first.save(tmp_path / "agent.pt")
    resumed_run = ContinualAgent.from_checkpoint(tmp_path / "agent.pt").fit_stream(stream, episodes=8, eval_every=3)
    for name in ("R", "baseline", "steps", "curve", "boundary", "boundary_before", "replay_share"):
        assert torch.equal(getattr(resumed_run, name), getattr(whole_run, name)), name
    assert resumed_run.steps.tolist() == [3 * (i + 1) for i in range(2 * len(stream))]
    assert resumed_run.boundary.shape == (len(stream),) and resumed_run.curve.shape == (2 * len(stream), len(stream))
    assert resumed_run.train_seconds > 0
    if config.use_meta:  # the hook ran at tasks 1 and 2 and changed the error there; not at task 0
        assert resumed_run.boundary[0] == resumed_run.boundary_before[0]
        assert (resumed_run.boundary[1:] != resumed_run.boundary_before[1:]).all()
    else:
        assert torch.equal(resumed_run.boundary, resumed_run.boundary_before)


def test_load_into_an_existing_agent(stream, tmp_path):
    agent = ContinualAgent(SMALL, stream.input_dim)
    agent.fit_stream(stream, episodes=4, until=1)
    agent.save(tmp_path / "a.pt")
    other = ContinualAgent(SMALL, stream.input_dim)
    other.load(tmp_path / "a.pt")
    assert_same_state(flat_state(agent), flat_state(other))


# --- checkpoints are checked -----------------------------------------------------------------------

def copy_digest(source, target) -> None:
    """Give ``target`` the sidecar digest of ``source`` (an attacker who can change the file, not the digest)."""
    shutil.copyfile(sidecar_path(source), sidecar_path(target))


def save_with_digest(obj, path) -> str:
    """``torch.save`` ``obj`` and record the SHA-256 of the bytes written: a file whose digest matches."""
    torch.save(obj, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    sidecar_path(path).write_text(f"{digest}  {path.name}\n")
    return digest


def forged_envelope(state: dict) -> dict:
    """A version-2 envelope around ``state`` with a correctly recomputed inner digest."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getvalue()
    return {"format": "helpers.agent.ContinualAgent", "version": 2, "sha256": hashlib.sha256(data).hexdigest(),
            "payload": torch.frombuffer(bytearray(data), dtype=torch.uint8)}


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
    copy_digest(path, tmp_path / "tampered.pt")
    with pytest.raises(ValueError, match="checksum"):
        read_checkpoint(tmp_path / "tampered.pt")


def test_forged_checkpoint_with_recomputed_inner_digest_is_rejected(checkpoint, tmp_path):
    agent, path = checkpoint
    state = agent.state_dict()
    state["counters"] = {"tasks_seen": 0, "steps_done": 0}  # plausible values: only the digest can tell
    forged = tmp_path / "agent.pt"
    digest_before = sidecar_path(path).read_text()
    torch.save(forged_envelope(state), forged)  # overwrites the checkpoint; the sidecar keeps the true digest
    assert sidecar_path(forged).read_text() == digest_before
    with pytest.raises(ValueError, match="checksum"):
        read_checkpoint(forged)
    with pytest.raises(ValueError, match="checksum"):
        ContinualAgent(SMALL, agent.input_dim).load(forged)
    with pytest.raises(ValueError, match="checksum"):
        ContinualAgent.from_checkpoint(forged)
    with pytest.raises(ValueError, match="checksum"):  # an explicitly trusted digest is checked the same way
        read_checkpoint(forged, expected_sha256=digest_before.split()[0])


def test_checkpoint_digest_is_required_and_checked(checkpoint, tmp_path):
    agent, path = checkpoint
    digest = sidecar_path(path).read_text().split()[0]
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    moved = tmp_path / "moved.pt"
    shutil.copyfile(path, moved)  # the file without its sidecar
    with pytest.raises(ValueError, match="no recorded SHA-256"):
        read_checkpoint(moved)
    with pytest.raises(ValueError, match="no recorded SHA-256"):
        ContinualAgent.from_checkpoint(moved)
    assert read_checkpoint(moved, expected_sha256=digest.upper())["counters"] == agent.state_dict()["counters"]
    ContinualAgent.from_checkpoint(moved, expected_sha256=digest)
    for bad in ("", "abc", "g" * 64, 123):
        with pytest.raises(ValueError, match="64 hex digits"):
            read_checkpoint(moved, expected_sha256=bad)


def _mutations():
    def drop(key):
        return lambda s: s.pop(key)

    def set_counter(name, value):
        return lambda s: s["counters"].__setitem__(name, value)

    return {
        "missing config": drop("config"), "missing counters": drop("counters"), "missing run": drop("run"),
        "counters not a dict": lambda s: s.__setitem__("counters", [1, 2]),
        "missing tasks_seen": lambda s: s["counters"].pop("tasks_seen"),
        "negative tasks_seen": set_counter("tasks_seen", -5), "string steps_done": set_counter("steps_done", "x"),
        "float steps_done": set_counter("steps_done", 6.0), "bool tasks_seen": set_counter("tasks_seen", True),
        "tasks_seen beyond stream": set_counter("tasks_seen", 4),
        "rows beyond tasks_seen": set_counter("tasks_seen", 0),
        "rows shape": lambda s: s.__setitem__("rows", torch.zeros(2, 3, 1)),
        "baseline shape": lambda s: s.__setitem__("baseline", torch.zeros(5)),
        "dims": lambda s: s.__setitem__("dims", {"input_dim": "ten", "output_dim": 1}),
        "net not a dict": lambda s: s.__setitem__("net", None),
        "net wrong shapes": lambda s: s["net"].__setitem__(next(iter(s["net"])), torch.zeros(1)),
        "optimizer keys": lambda s: s.__setitem__("optimizer", {}),
        "generator": lambda s: s.__setitem__("generator", torch.zeros(3)),
        "buffer absent": lambda s: s.__setitem__("buffer", None),
        "run steps beyond steps_done": lambda s: s["run"].__setitem__("steps", torch.tensor([10_000])),
        "run curve shape": lambda s: s["run"].__setitem__("curve", torch.zeros(2, 3)),
        "run boundary shape": lambda s: s["run"].__setitem__("boundary", torch.zeros(9)),
        "run seconds": lambda s: s["run"].__setitem__("train_seconds", float("nan")),
        "not a dict": None,
    }


@pytest.mark.parametrize("name", list(_mutations()))
def test_malformed_state_raises_value_error(checkpoint, tmp_path, name):
    agent, _ = checkpoint
    state = agent.state_dict()
    mutate = _mutations()[name]
    if mutate is None:
        state = [1, 2, 3]
    else:
        mutate(state)
    path = tmp_path / "forged.pt"
    save_with_digest(forged_envelope(state), path)  # even a file whose digest matches must be well formed
    with pytest.raises(ValueError):
        ContinualAgent(SMALL, agent.input_dim).load(path)
    with pytest.raises(ValueError):
        ContinualAgent.from_checkpoint(path)


def test_malformed_envelope_raises_value_error(checkpoint, tmp_path):
    _, path = checkpoint
    envelope = torch.load(path, weights_only=True)
    for _name, bad in (("no payload", {k: v for k, v in envelope.items() if k != "payload"}),
                       ("no sha256", {k: v for k, v in envelope.items() if k != "sha256"}),
                       ("payload type", {**envelope, "payload": "bytes"}),
                       ("payload dtype", {**envelope, "payload": envelope["payload"].float()}),
                       ("no version", {k: v for k, v in envelope.items() if k != "version"}),
                       ("a list", [envelope])):
        save_with_digest(bad, tmp_path / "bad.pt")
        with pytest.raises(ValueError):
            read_checkpoint(tmp_path / "bad.pt")


def test_failed_load_leaves_the_agent_unchanged(checkpoint, tmp_path, stream):
    agent, _ = checkpoint
    state = agent.state_dict()
    state["net"][next(iter(state["net"]))] = torch.zeros(1)  # passes the structural checks, fails to restore
    other = ContinualAgent(SMALL, stream.input_dim)
    other.fit_stream(stream, episodes=4, until=2)
    before = flat_state(other)
    with pytest.raises(ValueError, match="cannot be restored"):
        other.load_state_dict(state)
    assert_same_state(before, flat_state(other))


def test_raw_byte_flip_is_rejected(checkpoint, tmp_path):
    _, path = checkpoint
    data = bytearray(path.read_bytes())
    for offset in (len(data) // 3, len(data) // 2, 2 * len(data) // 3):
        damaged = bytearray(data)
        damaged[offset] ^= 0xFF
        (tmp_path / "flipped.pt").write_bytes(damaged)
        copy_digest(path, tmp_path / "flipped.pt")
        with pytest.raises(ValueError, match="checksum"):
            read_checkpoint(tmp_path / "flipped.pt")


@pytest.mark.parametrize("keep", [0.0, 0.1, 0.5, 0.99])
def test_truncated_checkpoint_is_rejected(checkpoint, tmp_path, keep):
    _, path = checkpoint
    data = path.read_bytes()
    short = tmp_path / "short.pt"
    short.write_bytes(data[: int(keep * len(data))])
    copy_digest(path, short)  # a truncated copy next to the original digest
    with pytest.raises(ValueError, match="truncated"):
        read_checkpoint(short)
    # and with a digest that matches the truncated bytes: the file itself cannot be read
    with pytest.raises(ValueError, match="not a readable"):
        read_checkpoint(short, expected_sha256=hashlib.sha256(short.read_bytes()).hexdigest())


def test_incompatible_checkpoints_are_rejected(checkpoint, tmp_path, stream):
    agent, path = checkpoint
    with pytest.raises(ValueError, match="incompatible checkpoint: saved with config"):
        ContinualAgent(dataclasses.replace(SMALL, memory_size=7), stream.input_dim).load(path)
    with pytest.raises(ValueError, match="incompatible checkpoint: saved for sizes"):
        ContinualAgent(SMALL, stream.input_dim + 1).load(path)
    envelope = torch.load(path, weights_only=True)
    save_with_digest({**envelope, "version": 999}, tmp_path / "future.pt")
    with pytest.raises(ValueError, match="format version 999"):
        read_checkpoint(tmp_path / "future.pt")
    save_with_digest({"weights": torch.zeros(3)}, tmp_path / "other.pt")
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
    save_with_digest({"format": "helpers.agent.ContinualAgent", "version": 1, "evil": _Payload()},
                     tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="not a readable"):
        read_checkpoint(tmp_path / "evil.pt")
    # and hidden inside a payload whose checksum matches
    buffer = io.BytesIO()
    torch.save({"config": _Payload()}, buffer)
    data = buffer.getvalue()
    envelope = {"format": "helpers.agent.ContinualAgent", "version": 1, "sha256": hashlib.sha256(data).hexdigest(),
                "payload": torch.frombuffer(bytearray(data), dtype=torch.uint8)}
    save_with_digest(envelope, tmp_path / "evil2.pt")
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


def test_replay_weight_is_the_coefficient_of_the_replay_term(stream):
    agent = ContinualAgent(dataclasses.replace(SMALL, replay_weight=1.0, beta_start=1.0, alpha=0.0), stream.input_dim)
    agent.learn_task(stream[0])
    out = agent.train_step(agent.episodes(stream[1], SMALL.batch_size), 1)
    # w = 1: the loss is the replay term alone; uniform replay with beta 1 has importance weights of 1
    assert out["loss"] == pytest.approx(out["replay"], rel=1e-5)
    assert out["replay_share"] == pytest.approx(1.0)


def test_recorded_replay_share_equals_the_formula(stream):
    config = dataclasses.replace(SMALL, alpha=0.6, beta_start=0.4, replay_weight=0.5)
    agent = ContinualAgent(config, stream.input_dim)
    agent.learn_task(stream[0])
    assert agent.replay_shares == []  # no replay during the first task
    sampled = []
    original_sample = agent.buffer.sample

    def recording_sample(*args, **kwargs):
        sampled.append(original_sample(*args, **kwargs))
        return sampled[-1]

    agent.buffer.sample = recording_sample
    net_before = copy.deepcopy(agent.net)
    episode = agent.episodes(stream[1], SMALL.batch_size)
    out = agent.train_step(episode, 1)
    (batch,) = sampled
    with torch.no_grad():
        current = episode_losses(net_before(episode["query_x"], episode["context_x"], episode["context_y"]),
                                 episode["query_y"])
        replayed = episode_losses(net_before(batch.items["query_x"], batch.items["context_x"],
                                             batch.items["context_y"]), batch.items["query_y"])
    w = config.replay_weight
    replay_term = w * (batch.weights * replayed).mean()
    expected = (replay_term / ((1 - w) * current.mean() + replay_term)).item()
    assert out["replay_share"] == pytest.approx(expected, rel=1e-4)
    assert agent.replay_shares == [out["replay_share"]]
    assert (batch.weights <= 1).all() and out["replay_share"] != pytest.approx(w)  # w is not the share
    run = agent.fit_stream(stream, episodes=4)  # and the run reports every replaying step's share
    assert len(run.replay_share) == 1 + (len(stream) - 1) * config.steps_per_task  # tasks 1 and 2 replay
    assert ((run.replay_share > 0) & (run.replay_share < 1)).all()


def test_train_step_rejects_bad_arguments(stream):
    agent = ContinualAgent(SMALL, stream.input_dim)
    episode = agent.episodes(stream[0], 2)
    with pytest.raises(ValueError, match="episode"):
        agent.train_step({k: v for k, v in episode.items() if k != "query_y"}, 0)
    with pytest.raises(ValueError, match="episode"):
        agent.train_step([episode], 0)
    for bad in (1.0, "0", True, -1, torch.tensor(0)):
        with pytest.raises(ValueError, match="task_id"):
            agent.train_step(episode, bad)
    assert agent.steps_done == 0


def test_evaluate_rejects_bad_arguments(stream):
    agent = ContinualAgent(SMALL, stream.input_dim)
    for bad in (0, -0.1, float("nan"), float("inf"), True, "0.1"):
        with pytest.raises(ValueError, match="adapt_lr"):
            agent.evaluate(stream, episodes=2, adapt_steps=1, adapt_lr=bad)
    for bad in (1, 0, "no"):
        with pytest.raises(ValueError, match="use_memory"):
            agent.evaluate(stream, episodes=2, use_memory=bad)
    with pytest.raises(ValueError, match="tasks"):
        agent.evaluate([], episodes=2)


def test_memory_off_agent_never_adapts_through_memory(stream, monkeypatch):
    import helpers.agent as agent_module

    agent = ContinualAgent(dataclasses.replace(SMALL, use_memory=False), stream.input_dim)
    agent.fit_stream(stream, episodes=4, until=1)
    seen = []
    original = agent._adapted_predictions

    def recording(episode, steps, lr, with_memory):
        seen.append(with_memory)
        return original(episode, steps, lr, with_memory)

    monkeypatch.setattr(agent, "_adapted_predictions", recording)
    split_calls = []
    monkeypatch.setattr(agent_module.SplitContext, "forward",
                        lambda self, pairs: split_calls.append(1) or pytest.fail("memory path used"))
    agent.evaluate(stream, episodes=4, adapt_steps=2)
    assert seen == [False] * len(stream) and not split_calls


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
