"""helpers.controller: shapes, state carrying, gradients, truncation, bad input, purity, determinism."""

import pytest
import torch

from helpers.controller import (
    ControllerState,
    LSTMBaseline,
    MemoryController,
    RecallTask,
    count_parameters,
    detach_state,
    episode_to_sequence,
    masked_loss,
    matched_lstm_hidden,
    recall_errors,
    train_step,
)
from helpers.foundations import MemoryConfig, make_generator, make_main_stream


def make_model(input_size=5, output_size=3, R=2, W=1, skip=True, seed=0):
    config = MemoryConfig(memory_size=8, memory_dim=4, num_read_heads=R, num_write_heads=W, controller_hidden_size=12)
    torch.manual_seed(seed)
    return MemoryController(input_size, output_size, config, input_to_interface=skip)


def sequence(B=3, T=6, input_size=5, seed=1):
    return torch.randn(B, T, input_size, generator=make_generator(seed))


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
    """Score only the last step; every parameter (interface included) must get a gradient, and the first
    step's input must influence the loss (through the LSTM state and through the memory)."""
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
    write_rows = model.interface.weight.grad.abs().sum(1)
    assert (write_rows > 0).all()


def test_truncation_stops_gradients_at_chunk_boundary():
    model = make_model()
    x, state = sequence(T=6).requires_grad_(True), None
    out_a, state = model(x[:, :3])
    out_b, _ = model(x[:, 3:], detach_state(state))
    out_b.sum().backward()
    assert x.grad[:, :3].abs().sum() == 0 and x.grad[:, 3:].abs().sum() > 0


def test_train_step_with_truncation_updates_and_is_finite():
    model = make_model(input_size=5, output_size=2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = sequence(T=8), (torch.rand(3, 8, 2, generator=make_generator(2)) > 0.5).float()
    mask = torch.ones(3, 8)
    before = [p.detach().clone() for p in model.parameters()]
    loss = train_step(model, opt, x, y, mask, kind="bce", truncation=3)
    assert torch.isfinite(torch.tensor(loss))
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    with pytest.raises(ValueError, match="truncation"):
        train_step(model, opt, x, y, mask, truncation=0)


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


def test_determinism_same_seed_same_outputs():
    a, _ = make_model(seed=3)(sequence(seed=4))
    b, _ = make_model(seed=3)(sequence(seed=4))
    assert torch.equal(a, b)


def test_bad_input_names_expected_shape():
    model = make_model()
    with pytest.raises(ValueError, match=r"\(B, T, input_size\) = \(B, T, 5\)"):
        model(torch.randn(3, 5))
    with pytest.raises(ValueError, match=r"\(B, T, input_size\)"):
        model(torch.randn(3, 4, 6))
    with pytest.raises(ValueError, match="dtype"):
        model(torch.randn(3, 4, 5, dtype=torch.float64))
    with pytest.raises(TypeError):
        model([[1.0] * 5])
    with pytest.raises(ValueError, match="batch"):
        model(torch.randn(3, 4, 5), model.initial_state(2))
    with pytest.raises(TypeError):
        model(torch.randn(3, 4, 5), (torch.zeros(3, 12), torch.zeros(3, 12)))
    with pytest.raises(ValueError):
        MemoryController(0, 3, MemoryConfig())
    with pytest.raises(ValueError, match="device"):
        model(torch.empty(3, 4, 5, device="meta"))
    baseline = LSTMBaseline(5, 3, 8)
    with pytest.raises(ValueError, match=r"\(B, T, input_size\)"):
        baseline(torch.randn(3, 5))
    with pytest.raises(ValueError, match="kind"):
        masked_loss(torch.zeros(1, 2, 1), torch.zeros(1, 2, 1), torch.ones(1, 2), kind="l1")
    with pytest.raises(ValueError, match="shape"):
        masked_loss(torch.zeros(1, 2, 1), torch.zeros(1, 2, 1), torch.ones(2, 2))


def test_matched_baseline_size():
    model = make_model()
    hidden = matched_lstm_hidden(5, 3, count_parameters(model))
    assert count_parameters(LSTMBaseline(5, 3, hidden)) >= count_parameters(model)
    assert count_parameters(LSTMBaseline(5, 3, hidden - 1)) < count_parameters(model)


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
    with pytest.raises(ValueError):
        task.sample(5, 0, make_generator(0))


def test_episode_to_sequence_runs_on_main_stream():
    stream = make_main_stream()
    episode = stream[0].sample_episodes(4, 5, 3, make_generator(0))
    x, y, mask = episode_to_sequence(episode)
    assert x.shape == (4, 8, stream.input_dim + 2) and y.shape == (4, 8, 1) and mask.sum() == 12
    assert torch.equal(x[:, :5, stream.input_dim], episode["context_y"][..., 0])
    model = make_model(input_size=stream.input_dim + 2, output_size=1)
    out, _ = model(x)
    assert torch.isfinite(masked_loss(out, y, mask, "mse"))


def test_copy_task_layout_and_models():
    from helpers.controller import CopyTask, make_copy_models, with_memory_size

    task = CopyTask(bits=4)
    x, y, mask = task.sample(2, 3, make_generator(0))
    assert x.shape == (2, 7, 5) and y.shape == (2, 7, 4) and mask[:, 4:].sum() == 6 and mask[:, :4].sum() == 0
    assert torch.equal(x[:, :3, :4], y[:, 4:]) and torch.equal(x[:, 3, 4], torch.ones(2))
    memory, lstm = make_copy_models(task, seed=0)
    assert abs(count_parameters(memory) - count_parameters(lstm)) / count_parameters(memory) < 0.05
    bigger = with_memory_size(memory, 40)
    assert bigger.config.memory_size == 40
    assert all(torch.equal(a, b) for a, b in zip(memory.state_dict().values(), bigger.state_dict().values()))
    out, state = bigger(x)
    assert out.shape == (2, 7, 4) and state.memory.memory.shape == (2, 40, memory.config.memory_dim)


def test_weights_round_trip_and_tamper_detection(tmp_path):
    from helpers.controller import load_weights, save_weights

    model = make_model(seed=1)
    path = tmp_path / "w.pt"
    digest = save_weights(model, path)
    assert (tmp_path / "w.pt.sha256").read_text().startswith(digest)
    other = load_weights(make_model(seed=2), path)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), other.state_dict().values()))
    path.write_bytes(path.read_bytes() + b"x")
    with pytest.raises(ValueError, match="SHA-256"):
        load_weights(make_model(seed=2), path)


def test_bad_task_and_training_arguments_name_the_value():
    from helpers.controller import CopyTask, fit

    with pytest.raises(ValueError, match="key_dim must be a positive int, got 0"):
        RecallTask(key_dim=0)
    with pytest.raises(ValueError, match="num_queries must be a positive int"):
        RecallTask(num_queries=-1)
    with pytest.raises(ValueError, match="bits must be a positive int, got 0"):
        CopyTask(bits=0)
    with pytest.raises(ValueError, match="min_length must be <= max_length, got min_length=5, max_length=2"):
        CopyTask(bits=4).sampler(2, 5, 2, seed=0)
    with pytest.raises(ValueError, match="min_length must be a positive int"):
        CopyTask(bits=4).sampler(2, 0, 2, seed=0)
    model = make_model()
    with pytest.raises(ValueError, match="steps must be a non-negative int, got -1"):
        fit(model, lambda step: None, steps=-1)
    with pytest.raises(ValueError, match="eval_every"):
        fit(model, lambda step: None, steps=1, eval_every=-2)
    empty = fit(model, lambda step: None, steps=0)
    assert empty["losses"].shape == (0,) and empty["eval_steps"].shape == (0,)
    with pytest.raises(TypeError, match="outputs must be a torch.Tensor, got list"):
        masked_loss([[0.0]], torch.zeros(1, 1, 1), torch.ones(1, 1))
    with pytest.raises(TypeError, match="mask must be a torch.Tensor, got NoneType"):
        masked_loss(torch.zeros(1, 1, 1), torch.zeros(1, 1, 1), None)
    for sizes, name in (((0, 3, 8), "input_size"), ((5, 0, 8), "output_size"), ((5, 3, 0), "hidden_size"),
                        ((5, 3, 2.5), "hidden_size")):
        with pytest.raises(ValueError, match=f"{name} must be a positive int"):
            LSTMBaseline(*sizes)


def test_copy_sampler_and_fit_shapes():
    from helpers.controller import CopyTask, fit

    task = CopyTask(bits=3)
    x, y, mask = task.sampler(2, 2, 2, seed=0)(0)
    assert x.shape == (2, 5, 4) and y.shape == (2, 5, 3) and mask.shape == (2, 5)
    model = make_model(input_size=4, output_size=3)
    run = fit(model, task.sampler(2, 1, 3, seed=0), steps=3, evaluate=lambda m: 0.5, eval_every=2)
    assert run["losses"].shape == (3,) and run["eval_steps"].tolist() == [2, 3]
    assert run["eval_values"].shape == (2,)


def test_fresh_noise_memory_comes_from_the_generator():
    config = MemoryConfig(memory_size=8, memory_dim=4, num_read_heads=1, num_write_heads=1,
                          controller_hidden_size=12, memory_init="noise", memory_init_value=0.1)
    torch.manual_seed(0)
    model = MemoryController(5, 3, config)
    x = sequence()
    before = torch.random.get_rng_state()
    a, _ = model(x, generator=make_generator(7))
    assert torch.equal(torch.random.get_rng_state(), before)  # the global RNG was not used
    b, _ = model(x, generator=make_generator(7))
    c, _ = model(x, generator=make_generator(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    with pytest.raises(TypeError, match="generator"):
        model(x, generator=7)
