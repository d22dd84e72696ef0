"""helpers.controller: shapes, state carrying, gradients, truncation, equality with the reference formulation,
bad input, checked weight files, and the promise that a call that raises changes nothing."""

import collections
import copy
import hashlib
import math
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.checkpoint import load_state, save_state
from helpers.checks import MAX_SIZE, ArgumentTypeError
from helpers.controller import (
    ControllerState,
    CopyTask,
    LSTMBaseline,
    MemoryController,
    RecallTask,
    count_parameters,
    detach_state,
    episode_to_sequence,
    fit,
    load_weights,
    make_copy_models,
    masked_loss,
    matched_lstm_hidden,
    recall_errors,
    save_weights,
    train_step,
    with_memory_size,
)
from helpers.foundations import MemoryConfig, make_generator, make_main_stream
from helpers.memory import MemoryState


def make_model(input_size=5, output_size=3, R=2, W=1, skip=True, seed=0, links=False, init="constant"):
    config = MemoryConfig(memory_size=8, memory_dim=4, num_read_heads=R, num_write_heads=W, controller_hidden_size=12,
                          memory_init=init, memory_init_value=0.1 if init == "noise" else 1e-6)
    torch.manual_seed(seed)
    return MemoryController(input_size, output_size, config, input_to_interface=skip, temporal_links=links)


def sequence(B=3, T=6, input_size=5, seed=1):
    return torch.randn(B, T, input_size, generator=make_generator(seed))


# ---------------------------------------------------------------------------------------------------------------
# The reference formulation: the memory controller as first written (one einsum per product, torch.prod over
# heads, torch.eye rebuilt each step, the output layer inside the time loop). Kept here, not in helpers, so the
# fused controller can be checked against it: same outputs and gradients to 1e-6.
# ---------------------------------------------------------------------------------------------------------------
def _ref_content_weights(memory, keys, strengths, eps=1e-6):
    dots = torch.einsum("bhd,bnd->bhn", keys, memory)
    key_norms = (keys.pow(2).sum(-1) + eps**2).sqrt()
    slot_norms = (memory.pow(2).sum(-1) + eps**2).sqrt()
    cosine = dots / (key_norms.unsqueeze(-1) * slot_norms.unsqueeze(1) + eps)
    return torch.softmax(strengths.unsqueeze(-1) * cosine, dim=-1)


def _ref_allocation(usage):
    sorted_usage, order = torch.sort(usage, dim=-1, stable=True)
    before = torch.cumprod(sorted_usage, dim=-1)
    before = torch.cat([torch.ones_like(before[:, :1]), before[:, :-1]], dim=-1)
    return torch.zeros_like(usage).scatter(-1, order, (1 - sorted_usage) * before)


def _ref_memory_step(state, iface, temporal_links):
    memory, usage, read_w, write_w, link, precedence = state
    usage = usage + (1 - usage) * (1 - torch.prod(1 - write_w, dim=1))
    usage = usage * torch.prod(1 - iface.free_gates.unsqueeze(-1) * read_w, dim=1)
    content = _ref_content_weights(memory, iface.write_keys, iface.write_strengths)
    allocations, claimed = [], usage
    for h in range(iface.write_keys.shape[1]):
        allocation = _ref_allocation(claimed)
        allocations.append(allocation)
        claimed = claimed + (1 - claimed) * (iface.allocation_gates * iface.write_gates)[:, h : h + 1] * allocation
    gate_a, gate_w = iface.allocation_gates.unsqueeze(-1), iface.write_gates.unsqueeze(-1)
    weights = gate_w * (gate_a * torch.stack(allocations, dim=1) + (1 - gate_a) * content)
    keep = torch.prod(1 - weights.unsqueeze(-1) * iface.erase.unsqueeze(2), dim=1)
    memory = memory * keep + torch.einsum("bhn,bhd->bnd", weights, iface.add)
    w_i, w_j = weights.unsqueeze(-1), weights.unsqueeze(-2)
    link = (1 - w_i - w_j) * link + w_i * precedence.unsqueeze(-2)
    link = link * (1 - torch.eye(link.shape[-1], dtype=link.dtype))
    precedence = (1 - weights.sum(-1, keepdim=True)) * precedence + weights
    read = _ref_content_weights(memory, iface.read_keys, iface.read_strengths)
    if temporal_links:
        forward = torch.einsum("bwij,brj->bri", link, read_w)
        backward = torch.einsum("bwji,brj->bri", link, read_w)
        modes = iface.read_modes
        read = modes[..., 0:1] * backward + modes[..., 1:2] * read + modes[..., 2:3] * forward
    reads = torch.einsum("bhn,bnd->bhd", read, memory)
    return reads, MemoryState(memory, usage, read, weights, link, precedence)


def reference_forward(model, x, state):
    """The controller's outputs (B, T, O), computed the way it was first written."""
    hidden, cell, memory, reads = state
    clip, outputs = model.config.output_clip, []
    for t in range(x.shape[1]):
        x_t = x[:, t]
        hidden, cell = model.lstm(torch.cat([x_t, reads], dim=1), (hidden, cell))
        head_input = torch.cat([hidden, x_t], dim=1) if model.input_to_interface else hidden
        raw = model.interface(head_input).clamp(-clip, clip)
        read, memory = _ref_memory_step(memory, model.bank.parse_interface(raw), model.bank.temporal_links)
        reads = read.flatten(1)
        outputs.append(model.output(torch.cat([hidden, reads], dim=1)))
    return torch.stack(outputs, dim=1)


@pytest.mark.parametrize("R,W,links,skip,init", [(1, 1, True, True, "constant"), (2, 1, False, True, "noise"),
                                                  (2, 2, True, False, "constant"), (3, 2, False, True, "constant")])
def test_fused_controller_equals_reference_formulation(R, W, links, skip, init):
    """Outputs and gradients (inputs and every parameter) of the fused controller equal the reference's to 1e-6
    in float32 (relative, for gradients) and to 1e-12 in float64."""
    for dtype, tolerance in ((torch.float64, 1e-12), (torch.float32, 1e-6)):
        model = make_model(input_size=4, output_size=3, R=R, W=W, skip=skip, links=links, init=init).to(dtype)
        x = sequence(B=5, T=9, input_size=4).to(dtype).requires_grad_(True)
        state = model.initial_state(5, generator=make_generator(2))
        outputs, _ = model(x, state)
        reference = reference_forward(model, x, state)
        assert (outputs - reference).abs().max() <= tolerance * max(1.0, reference.abs().max().item())
        inputs = [x, *model.parameters()]
        ours = torch.autograd.grad(outputs.pow(2).sum(), inputs)
        theirs = torch.autograd.grad(reference.pow(2).sum(), inputs)
        for a, b in zip(ours, theirs):
            assert (a - b).abs().max() <= tolerance * max(1.0, b.abs().max().item())


def test_checks_run_once_per_sequence_not_per_time_step():
    """Argument checks (functions of helpers named *check*) per training step do not grow with the length."""
    model = make_model(links=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def checks_in_one_step(T: int) -> int:
        x, y = sequence(T=T), torch.rand(3, T, 3, generator=make_generator(3)).round()
        calls = collections.Counter()

        def tracer(frame, event, arg):
            if event == "call" and "check" in frame.f_code.co_name and "/helpers/" in frame.f_code.co_filename:
                calls[frame.f_code.co_name] += 1

        sys.setprofile(tracer)
        try:
            train_step(model, optimizer, x, y, torch.ones(3, T))
        finally:
            sys.setprofile(None)
        return sum(calls.values())

    short, long = checks_in_one_step(4), checks_in_one_step(40)
    assert short == long and long < 40, (short, long)


@pytest.mark.parametrize("R,W,skip", [(1, 1, True), (2, 2, False)])
def test_shapes_and_trace(R, W, skip):
    model = make_model(R=R, W=W, skip=skip)
    y, state, trace = model(sequence(), return_trace=True)
    assert y.shape == (3, 6, 3)
    assert isinstance(state, ControllerState) and state.hidden.shape == (3, 12) and state.reads.shape == (3, R * 4)
    assert state.memory.memory.shape == (3, 8, 4)
    assert trace["read_weights"].shape == (3, 6, R, 8) and trace["write_weights"].shape == (3, 6, W, 8)
    assert trace["usage"].shape == (3, 6, 8)


def test_state_is_carried_across_calls():
    model = make_model()
    x = sequence()
    whole, _ = model(x)
    first, state = model(x[:, :2])
    rest, _ = model(x[:, 2:], state)
    assert torch.allclose(torch.cat([first, rest], 1), whole, atol=1e-6)
    fresh, _ = model(x[:, 2:])
    assert not torch.allclose(fresh, rest)  # the carried state matters


def test_gradients_reach_every_parameter_and_cross_writes():
    model = make_model(R=2, W=2)
    x = sequence(T=4).requires_grad_(True)
    y, _ = model(x)
    y[:, -1].pow(2).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert x.grad[:, 0].abs().sum() > 0


def test_gradient_flows_through_memory_alone():
    """With the LSTM state cut at every step, the first input still reaches the last output via memory."""
    model = make_model(R=1, W=1)
    x = sequence(T=3).requires_grad_(True)
    state = None
    for t in range(3):
        y, state = model(x[:, t : t + 1], state)
        state = state._replace(hidden=state.hidden.detach(), cell=state.cell.detach(), reads=state.reads.detach())
    y.pow(2).sum().backward()
    assert x.grad[:, 0].abs().sum() > 0
    assert (model.interface.weight.grad.abs().sum(1) > 0).all()


def test_truncation_stops_gradients_at_chunk_boundary():
    model = make_model()
    x = sequence(T=6).requires_grad_(True)
    _, state = model(x[:, :3])
    out_b, _ = model(x[:, 3:], detach_state(state))
    out_b.sum().backward()
    assert x.grad[:, :3].abs().sum() == 0 and x.grad[:, 3:].abs().sum() > 0


def test_train_step_with_truncation_updates_and_is_finite():
    model = make_model(input_size=5, output_size=2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = sequence(T=8), (torch.rand(3, 8, 2, generator=make_generator(2)) > 0.5).float()
    before = [p.detach().clone() for p in model.parameters()]
    loss = train_step(model, opt, x, y, torch.ones(3, 8), kind="bce", truncation=3)
    assert math.isfinite(loss)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_evaluation_does_not_change_model_or_state():
    model = make_model()
    x = sequence()
    _, state = model(x)
    params = {k: v.clone() for k, v in model.state_dict().items()}
    snapshot = [t.clone() for t in state.memory] + [state.hidden.clone(), state.reads.clone()]
    with torch.no_grad():
        a, _ = model(x, state)
        b, _ = model(x, state)
    assert torch.equal(a, b)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in params.items())
    assert all(torch.equal(s, t) for s, t in zip(snapshot, [*state.memory, state.hidden, state.reads]))
    assert not list(model.buffers())


def test_recall_errors_is_pure_and_deterministic():
    task = RecallTask(key_dim=4, value_dim=3, num_queries=2)
    model = make_model(input_size=task.input_size, output_size=task.output_size)
    model.train()
    a = recall_errors(model, task, 3, 16, seed=5)
    b = recall_errors(model, task, 3, 16, seed=5)
    assert a == b and model.training
    with pytest.raises(ValueError, match="num_pairs"):
        recall_errors(model, task, 0, 16, seed=5)
    assert model.training  # a failed evaluation restores the mode too


def test_determinism_same_seed_same_outputs():
    a, _ = make_model(seed=3)(sequence(seed=4))
    b, _ = make_model(seed=3)(sequence(seed=4))
    assert torch.equal(a, b)


def test_matched_baseline_size_and_bounds():
    model = make_model()
    hidden = matched_lstm_hidden(5, 3, count_parameters(model))
    assert count_parameters(LSTMBaseline(5, 3, hidden)) >= count_parameters(model)
    assert count_parameters(LSTMBaseline(5, 3, hidden - 1)) < count_parameters(model)
    assert matched_lstm_hidden(18, 8, 31_975) == 80 and matched_lstm_hidden(3, 2, 1) == 1
    for target in (math.inf, 1e20, float("nan"), MAX_SIZE + 1, 0, "100"):
        with pytest.raises(ValueError, match="target_parameters"):
            matched_lstm_hidden(5, 3, target)


@settings(max_examples=40, deadline=None)
@given(inputs=st.integers(1, 200), outputs=st.integers(1, 200), target=st.integers(1, 2_000_000))
def test_matched_lstm_hidden_is_the_smallest_width(inputs, outputs, target):
    hidden = matched_lstm_hidden(inputs, outputs, target)

    def count(h):
        return 4 * h * (inputs + h + 2) + h * outputs + outputs

    assert count(hidden) >= target and (hidden == 1 or count(hidden - 1) < target)


def test_recall_task_layout():
    task = RecallTask(key_dim=4, value_dim=3, num_queries=2)
    x, y, mask = task.sample(5, 3, make_generator(0))
    assert x.shape == (5, 5, task.input_size) and y.shape == (5, 5, 3) and mask.shape == (5, 5)
    assert torch.equal(mask[:, 3:], torch.ones(5, 2)) and mask[:, :3].sum() == 0
    for b in range(5):
        for q in range(2):  # the target of each query is the stored value of the same key
            match = (x[b, :3, :4] - x[b, 3 + q, :4]).abs().sum(-1).argmin()
            assert torch.equal((x[b, match, 4:7] > 0).float(), y[b, 3 + q])
    x2, _, _ = task.sample(5, 3, make_generator(0))
    assert torch.equal(x, x2)


def test_episode_to_sequence_runs_on_main_stream():
    stream = make_main_stream()
    episode = stream[0].sample_episodes(4, 5, 3, make_generator(0))
    x, y, mask = episode_to_sequence(episode)
    assert x.shape == (4, 8, stream.input_dim + 2) and y.shape == (4, 8, 1) and mask.sum() == 12
    assert torch.equal(x[:, :5, stream.input_dim], episode["context_y"][..., 0])
    model = make_model(input_size=stream.input_dim + 2, output_size=1)
    out, _ = model(x)
    assert torch.isfinite(masked_loss(out, y, mask, "mse"))
    with pytest.raises(ValueError, match="episode must have keys"):
        episode_to_sequence({k: v for k, v in episode.items() if k != "query_y"})
    with pytest.raises(ValueError, match=r"episode\['query_x'\] must have shape"):
        episode_to_sequence({**episode, "query_x": episode["query_x"][..., :2]})
    with pytest.raises(ValueError, match="finite"):
        episode_to_sequence({**episode, "context_y": episode["context_y"] * torch.nan})


def test_copy_task_layout_and_models():
    task = CopyTask(bits=4)
    x, y, mask = task.sample(2, 3, make_generator(0))
    assert x.shape == (2, 7, 5) and y.shape == (2, 7, 4) and mask[:, 4:].sum() == 6 and mask[:, :4].sum() == 0
    assert torch.equal(x[:, :3, :4], y[:, 4:]) and torch.equal(x[:, 3, 4], torch.ones(2))
    models = make_copy_models(task, seed=0)
    assert set(models) == {"memory", "content", "lstm"}
    assert models["memory"].bank.temporal_links and not models["content"].bank.temporal_links
    assert abs(count_parameters(models["memory"]) - count_parameters(models["lstm"])) / count_parameters(
        models["memory"]) < 0.05
    bigger = with_memory_size(models["memory"], 40)
    assert bigger.config.memory_size == 40
    assert all(torch.equal(a, b) for a, b in zip(models["memory"].state_dict().values(), bigger.state_dict().values()))
    out, state = bigger(x)
    assert out.shape == (2, 7, 4) and state.memory.memory.shape == (2, 40, models["memory"].config.memory_dim)


def test_copy_sampler_and_fit_shapes_and_time_budget():
    task = CopyTask(bits=3)
    x, y, mask = task.sampler(2, 2, 2, seed=0)(0)
    assert x.shape == (2, 5, 4) and y.shape == (2, 5, 3) and mask.shape == (2, 5)
    model = make_model(input_size=4, output_size=3)
    run = fit(model, task.sampler(2, 1, 3, seed=0), steps=3, evaluate=lambda m: 0.5, eval_every=2)
    assert run["losses"].shape == (3,) and run["eval_steps"].tolist() == [2, 3]
    assert run["eval_values"].shape == (2,) and (run["eval_seconds"].diff() >= 0).all()
    timed = fit(model, task.sampler(2, 1, 3, seed=0), steps=1000, max_seconds=1e-9, evaluate=lambda m: 0.5,
                eval_every=100)
    assert timed["losses"].shape == (1,) and timed["eval_steps"].tolist() == [1]  # stopped after one step
    empty = fit(model, lambda step: None, steps=0)
    assert empty["losses"].shape == (0,) and empty["eval_steps"].shape == (0,)


def test_fresh_noise_memory_comes_from_the_generator():
    model = make_model(init="noise")
    x = sequence()
    before = torch.random.get_rng_state()
    a, _ = model(x, generator=make_generator(7))
    assert torch.equal(torch.random.get_rng_state(), before)  # the global RNG was not used
    b, _ = model(x, generator=make_generator(7))
    c, _ = model(x, generator=make_generator(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


# ---------------------------------------------------------------------------------------------------------------
# Bad input: clear errors, and nothing changed
# ---------------------------------------------------------------------------------------------------------------
def _data(T=6, seed=3):
    x = sequence(T=T)
    return x, torch.rand(3, T, 3, generator=make_generator(seed)).round(), torch.ones(3, T)


def _snapshot(model, optimizer=None):
    state = {k: v.clone() for k, v in model.state_dict().items()}
    modes = [m.training for m in model.modules()]
    opt = None if optimizer is None else copy.deepcopy(optimizer.state_dict())
    return state, modes, opt, torch.random.get_rng_state()


def _same(a, b) -> bool:
    """Exact equality of nested optimizer states (tensors compared bit for bit)."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _assert_unchanged(model, snapshot, optimizer=None):
    state, modes, opt, rng = snapshot
    assert all(torch.allclose(v, model.state_dict()[k], rtol=0, atol=0, equal_nan=True) for k, v in state.items())
    assert [m.training for m in model.modules()] == modes
    assert optimizer is None or _same(optimizer.state_dict(), opt)
    assert torch.equal(torch.random.get_rng_state(), rng)


def _failing_sampler(fail_at):
    def sample(step):
        if step == fail_at:
            raise RuntimeError("the data source failed")
        return _data(seed=step)

    return sample


def _randn(*shape, **kwargs):
    """Random inputs for the bad calls, from a private generator (the tests check the global RNG is untouched)."""
    return torch.randn(*shape, generator=make_generator(99), **kwargs)


def _lstm():
    return LSTMBaseline(5, 3, 8)


def _one_head():
    return make_model(R=1)


def _quietly(factory):
    """Build a model without moving the global RNG (the tests check it is untouched)."""
    with torch.random.fork_rng(devices=[]):
        return factory()


BAD_CONTROLLER_CALLS = {
    # what -> (call(model, optimizer, tmp_path), exception, message)
    "x without time axis": (lambda m, o, p: m(_randn(4, 5)), ValueError, r"x must have shape \(B, T, 5\)"),
    "x of the wrong width": (lambda m, o, p: m(_randn(3, 4, 6)), ValueError, r"x must have shape"),
    "float64 x": (lambda m, o, p: m(_randn(3, 4, 5, dtype=torch.float64)), ValueError, "dtype"),
    "x on the meta device": (lambda m, o, p: m(torch.empty(3, 4, 5, device="meta")), ValueError, "on cpu"),
    "NaN in x": (lambda m, o, p: m(torch.full((3, 4, 5), torch.nan)), ValueError, "finite"),
    "empty sequence": (lambda m, o, p: m(torch.zeros(3, 0, 5)), ValueError, "length T"),
    "x as a list": (lambda m, o, p: m([[1.0] * 5]), ArgumentTypeError, "x must be"),
    "state of another batch": (lambda m, o, p: m(torch.zeros(3, 4, 5), m.initial_state(2)), ValueError,
                               r"state.hidden must have shape \(B, H\) with B=3"),
    "state as a tuple": (lambda m, o, p: m(torch.zeros(3, 4, 5), (torch.zeros(3, 12), torch.zeros(3, 12))),
                         ArgumentTypeError, "state must be"),
    "NaN in the state": (lambda m, o, p: m(torch.zeros(3, 4, 5), m.initial_state(3)._replace(
        hidden=torch.full((3, 12), torch.nan))), ValueError, "finite"),
    "generator as int": (lambda m, o, p: m(torch.zeros(3, 4, 5), generator=7), ArgumentTypeError, "generator"),
    "return_trace='yes'": (lambda m, o, p: m(torch.zeros(3, 4, 5), return_trace="yes"), ArgumentTypeError,
                           "return_trace"),
    "NaN targets": (lambda m, o, p: train_step(m, o, sequence(), torch.full((3, 6, 3), torch.nan), torch.ones(3, 6)),
                    ValueError, "y must hold finite"),
    "targets of the wrong width": (lambda m, o, p: train_step(m, o, sequence(), torch.zeros(3, 6, 2),
                                                              torch.ones(3, 6)), ValueError, "shape"),
    "bce targets of 2": (lambda m, o, p: train_step(m, o, sequence(), torch.full((3, 6, 3), 2.0), torch.ones(3, 6)),
                         ValueError, "y must be <= 1"),
    "inf in x (train_step)": (lambda m, o, p: train_step(m, o, sequence() * torch.inf, *_data()[1:]), ValueError,
                              "x must hold finite"),
    "mask of another length": (lambda m, o, p: train_step(m, o, *_data()[:2], torch.ones(3, 5)), ValueError,
                               "mask must have shape"),
    "truncation 0": (lambda m, o, p: train_step(m, o, *_data(), truncation=0), ValueError, "truncation"),
    "kind 'l1'": (lambda m, o, p: train_step(m, o, *_data(), kind="l1"), ValueError, "kind"),
    "optimizer None": (lambda m, o, p: train_step(m, None, *_data()), ArgumentTypeError, "optimizer"),
    "steps 10**9": (lambda m, o, p: fit(m, lambda s: _data(), steps=10**9), ValueError, "steps"),
    "steps 2.5": (lambda m, o, p: fit(m, lambda s: _data(), steps=2.5), ArgumentTypeError, "steps"),
    "lr nan": (lambda m, o, p: fit(m, lambda s: _data(), steps=1, lr=float("nan")), ValueError, "lr"),
    "sampler not callable": (lambda m, o, p: fit(m, 3, steps=1), ArgumentTypeError, "sample_batch"),
    "data source fails at step 2": (lambda m, o, p: fit(m, _failing_sampler(2), steps=4), RuntimeError,
                                    "data source"),
    "evaluate returns nan": (lambda m, o, p: fit(m, lambda s: _data(), steps=2, evaluate=lambda _: float("nan"),
                                                 eval_every=1), ValueError, "evaluate"),
    "weights path None": (lambda m, o, p: load_weights(m, None), ArgumentTypeError, "path"),
    "weights path a folder": (lambda m, o, p: load_weights(m, p), ValueError, "folder"),
    "weights file missing": (lambda m, o, p: load_weights(m, p / "missing.pt"), ValueError, "does not exist"),
    "save into a missing folder": (lambda m, o, p: save_weights(m, p / "no" / "such" / "w.pt"), ValueError,
                                   "does not exist"),
    "another architecture's weights": (lambda m, o, p: load_weights(m, _saved(_quietly(_lstm), p)), ValueError,
                                       "does not fit"),
    "another size's weights": (lambda m, o, p: load_weights(m, _saved(_quietly(_one_head), p)), ValueError,
                               "does not fit"),
    "tampered weights": (lambda m, o, p: load_weights(m, _tampered(m, p)), ValueError, "SHA-256"),
    "truncated weights (sidecar updated)": (lambda m, o, p: load_weights(m, _truncated(m, p)), ValueError,
                                            "not a readable state file"),
    "tensor changed, digest recomputed": (lambda m, o, p: load_weights(m, _forged(m, p)), ValueError,
                                          "inner checksum"),
    "missing sidecar": (lambda m, o, p: load_weights(m, _without_sidecar(m, p)), ValueError, "no recorded SHA-256"),
    "bad expected digest": (lambda m, o, p: load_weights(m, _saved(m, p), expected_sha256="abc"), ValueError,
                            "64 hex digits"),
    "NaN weights in the file": (lambda m, o, p: load_weights(m, _saved_nan(p)), ValueError, "finite"),
    "memory size 0": (lambda m, o, p: with_memory_size(m, 0), ValueError, "memory_size"),
    "recall episodes 10**9": (lambda m, o, p: recall_errors(m, RecallTask(3, 1, 1), 2, 10**9, 0), ValueError,
                              "episodes"),
    "recall seed -1": (lambda m, o, p: recall_errors(m, RecallTask(3, 1, 1), 2, 4, -1), ValueError, "seed"),
    "input_size 0": (lambda m, o, p: MemoryController(0, 3, MemoryConfig()), ValueError, "input_size"),
    "input_to_interface='no'": (lambda m, o, p: MemoryController(5, 3, MemoryConfig(), input_to_interface="no"),
                                ArgumentTypeError, "input_to_interface"),
    "task bits 0": (lambda m, o, p: CopyTask(bits=0), ValueError, "bits"),
    "copy length 10**7": (lambda m, o, p: CopyTask(bits=4).sample(2, 10**7, make_generator(0)), ValueError, "length"),
    "recall batch too big": (lambda m, o, p: RecallTask(4000, 4000).sample(60_000, 50, make_generator(0)),
                             ValueError, "fit here"),
    "sampler min > max": (lambda m, o, p: CopyTask(bits=4).sampler(2, 5, 2, seed=0), ValueError, "min_length"),
    "sampler device 'gpu'": (lambda m, o, p: CopyTask(bits=4).sampler(2, 1, 2, seed=0, device="gpu"), ValueError,
                             "device"),
    "baseline hidden 2.5": (lambda m, o, p: LSTMBaseline(5, 3, 2.5), ArgumentTypeError, "hidden_size"),
    "masked_loss of lists": (lambda m, o, p: masked_loss([[0.0]], torch.zeros(1, 1, 1), torch.ones(1, 1)),
                             ArgumentTypeError, "outputs must be"),
}


def _saved(model, folder):
    path = folder / f"w{len(list(folder.iterdir()))}.safetensors"
    save_weights(model, path)
    return path


def _tampered(model, folder):
    path = _saved(model, folder)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def _truncated(model, folder):
    path = _saved(model, folder)
    data = path.read_bytes()[:-300]
    path.write_bytes(data)
    path.with_name(path.name + ".sha256").write_text(f"{hashlib.sha256(data).hexdigest()}  {path.name}\n")
    return path


def _forged(model, folder):
    """A file with one tensor byte changed and its outer digest (the sidecar) recomputed to match."""
    path = _saved(model, folder)
    data = bytearray(path.read_bytes())
    data[-40] ^= 1  # inside the last tensor's bytes
    path.write_bytes(bytes(data))
    path.with_name(path.name + ".sha256").write_text(f"{hashlib.sha256(data).hexdigest()}  {path.name}\n")
    return path


def _without_sidecar(model, folder):
    path = _saved(model, folder)
    path.with_name(path.name + ".sha256").unlink()
    return path


def _saved_nan(folder):
    """An intact state file whose weights contain NaN (save_weights refuses to write one)."""
    state = {k: v.clone() for k, v in _quietly(make_model).state_dict().items()}
    state["output.bias"][0] = torch.nan
    path = folder / "nan.safetensors"
    save_state(path, state)
    return path


@pytest.mark.parametrize("what", list(BAD_CONTROLLER_CALLS))
def test_bad_input_is_rejected_clearly_and_changes_nothing(what, tmp_path):
    call, error, message = BAD_CONTROLLER_CALLS[what]
    model = make_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    train_step(model, optimizer, *_data())  # the optimiser has state worth protecting
    snapshot = _snapshot(model, optimizer)
    with pytest.raises(error, match=message):
        call(model, optimizer, tmp_path)
    _assert_unchanged(model, snapshot, optimizer)


@pytest.mark.parametrize("truncation", [None, 3])
def test_non_finite_update_is_refused_and_rolled_back(truncation):
    """A loss that overflows (finite targets of 1e30, squared) in the last chunk: no update is kept, not even
    the first chunk's."""
    model = make_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    train_step(model, optimizer, *_data(), kind="mse")
    x, y, mask = _data()
    y[:, 3:] = 1e30
    snapshot = _snapshot(model, optimizer)
    with pytest.raises(ValueError, match="refused an update from a non-finite loss"):
        train_step(model, optimizer, x, y, mask, kind="mse", truncation=truncation)
    _assert_unchanged(model, snapshot, optimizer)
    with torch.no_grad():
        model.output.bias.fill_(torch.nan)  # a model whose outputs are NaN is refused before any update
    snapshot = _snapshot(model, optimizer)
    with pytest.raises(ValueError, match="refused an update from a non-finite loss"):
        train_step(model, optimizer, *_data(), truncation=truncation)
    _assert_unchanged(model, snapshot, optimizer)


def test_weights_round_trip_and_explicit_digest(tmp_path):
    model = make_model(seed=1)
    path = tmp_path / "w.safetensors"
    digest = save_weights(model, path)
    assert (tmp_path / "w.safetensors.sha256").read_text().startswith(digest)
    other = load_weights(make_model(seed=2), path)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), other.state_dict().values()))
    assert set(load_state(path)[0]) == set(model.state_dict())
    (tmp_path / "w.safetensors.sha256").unlink()
    load_weights(make_model(seed=2), path, expected_sha256=digest.upper())  # the digest you trust, any case


def test_shipped_copy_weights_load():
    from helpers.plumbing import weights_dir

    models = make_copy_models(CopyTask(bits=8), seed=0)
    for name, model in models.items():
        path = weights_dir() / f"copy_{name}.safetensors"
        load_weights(model, path)
        assert path.stat().st_size < 200_000


@settings(max_examples=20, deadline=None)
@given(calls=st.lists(st.sampled_from(sorted(BAD_CONTROLLER_CALLS) + ["train", "train truncated", "evaluate"]),
                      min_size=1, max_size=5))
def test_any_sequence_of_calls_leaves_what_raised_untouched(calls, tmp_path_factory):
    """Property: over random sequences of valid and invalid calls on a MemoryController (and its optimiser), a
    call that raises leaves state_dict, train/eval modes, the optimiser's state and the global RNG as they were."""
    folder = tmp_path_factory.mktemp("weights")
    model = make_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for name in calls:
        if name == "train":
            train_step(model, optimizer, *_data())
        elif name == "train truncated":
            train_step(model, optimizer, *_data(), truncation=4)
        elif name == "evaluate":
            with torch.no_grad():
                model(sequence())
        else:
            call, error, _ = BAD_CONTROLLER_CALLS[name]
            snapshot = _snapshot(model, optimizer)
            with pytest.raises(error):
                call(model, optimizer, folder)
            _assert_unchanged(model, snapshot, optimizer)
