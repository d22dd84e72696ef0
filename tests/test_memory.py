"""helpers.memory: shapes, bad input, gradients through writes, allocation, purity, determinism."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.foundations import MemoryConfig, make_generator
from helpers.memory import (
    MemoryBank,
    MemoryInterface,
    MemoryState,
    allocation_weights,
    content_weights,
    erase_and_add,
    read_memory,
    usage_after_free,
    usage_after_write,
)


def make_bank(N=8, D=4, R=2, W=1, init="constant"):
    return MemoryBank(MemoryConfig(memory_size=N, memory_dim=D, num_read_heads=R, num_write_heads=W, memory_init=init))


def random_run(bank, steps, batch=3, seed=0):
    gen = make_generator(seed)
    state = bank.initial_state(batch, generator=gen)
    reads = []
    for _ in range(steps):
        r, state = bank.step(state, bank.parse_interface(torch.randn(batch, bank.interface_size, generator=gen)))
        reads.append(r)
    return torch.stack(reads, 1), state


@pytest.mark.parametrize("R,W", [(1, 1), (2, 1), (3, 2)])
def test_shapes(R, W):
    bank = make_bank(R=R, W=W)
    reads, state = random_run(bank, steps=3)
    assert reads.shape == (3, 3, R, 4)
    assert state.memory.shape == (3, 8, 4) and state.usage.shape == (3, 8)
    assert state.read_weights.shape == (3, R, 8) and state.write_weights.shape == (3, W, 8)
    assert torch.allclose(state.read_weights.sum(-1), torch.ones(3, R))
    assert (state.write_weights.sum(-1) <= 1 + 1e-5).all() and (state.usage <= 1 + 1e-6).all()


def test_bank_holds_no_tensors():
    bank = make_bank()
    assert not list(bank.parameters()) and not list(bank.buffers())


def test_initial_state_follows_config():
    assert torch.all(make_bank(init="zeros").initial_state(2).memory == 0)
    assert torch.all(make_bank(init="constant").initial_state(2).memory == 1e-6)
    noisy = make_bank(init="noise").initial_state(2, generator=make_generator(0)).memory
    assert noisy.std() > 0 and torch.equal(
        noisy, make_bank(init="noise").initial_state(2, generator=make_generator(0)).memory
    )


def test_content_weights_match_definition():
    gen = make_generator(1)
    memory, keys, beta = torch.randn(2, 5, 3, generator=gen), torch.randn(2, 4, 3, generator=gen), torch.rand(2, 4) * 5
    cos = torch.nn.functional.cosine_similarity(keys.unsqueeze(2), memory.unsqueeze(1), dim=-1)
    expected = torch.softmax(beta.unsqueeze(-1) * cos, dim=-1)
    assert torch.allclose(content_weights(memory, keys, beta), expected, atol=1e-5)


def test_zero_memory_gives_uniform_weights_and_finite_gradients():
    memory = torch.zeros(1, 6, 3, requires_grad=True)
    keys = torch.randn(1, 2, 3, generator=make_generator(0))
    weights = content_weights(memory, keys, torch.full((1, 2), 50.0))
    assert torch.allclose(weights, torch.full_like(weights, 1 / 6))
    weights[0, 0, 0].backward()
    assert torch.isfinite(memory.grad).all()


def test_erase_and_add_and_read():
    memory = torch.ones(1, 3, 2)
    weights = torch.tensor([[[1.0, 0.0, 0.0]]])
    new = erase_and_add(memory, weights, torch.ones(1, 1, 2), torch.tensor([[[5.0, 6.0]]]))
    assert torch.equal(new[0, 0], torch.tensor([5.0, 6.0])) and torch.equal(new[0, 1:], memory[0, 1:])
    assert torch.equal(memory, torch.ones(1, 3, 2))  # not in place
    assert torch.equal(read_memory(new, weights), torch.tensor([[[5.0, 6.0]]]))


def test_usage_and_allocation():
    usage = torch.tensor([[1.0, 0.2, 0.9, 0.5]])
    alloc = allocation_weights(usage)
    assert alloc.argmax().item() == 1 and torch.isclose(alloc[0, 1], torch.tensor(0.8))
    assert torch.allclose(allocation_weights(torch.zeros(1, 4)), torch.tensor([[1.0, 0, 0, 0]]))
    written = usage_after_write(torch.zeros(1, 4), torch.tensor([[[0.0, 1.0, 0.0, 0.0]]]))
    assert torch.equal(written, torch.tensor([[0.0, 1.0, 0.0, 0.0]]))
    freed = usage_after_free(torch.ones(1, 4), torch.tensor([[[0.0, 0.0, 1.0, 0.0]]]), torch.ones(1, 1))
    assert torch.equal(freed, torch.tensor([[1.0, 1.0, 0.0, 1.0]]))


def _interface(bank, B, alloc_gate, free_gate=0.0, read_key=None, gen=None):
    D, R, W = bank.D, bank.read_heads, bank.write_heads
    return MemoryInterface(
        read_keys=torch.randn(B, R, D, generator=gen) if read_key is None else read_key,
        read_strengths=torch.full((B, R), 100.0),
        write_keys=torch.randn(B, W, D, generator=gen),
        write_strengths=torch.full((B, W), 5.0),
        erase=torch.ones(B, W, D),
        add=torch.randn(B, W, D, generator=gen),
        free_gates=torch.full((B, R), free_gate),
        allocation_gates=torch.full((B, W), alloc_gate),
        write_gates=torch.ones(B, W),
    )


def test_full_memory_writes_to_freed_slot():
    bank, gen = make_bank(N=6, D=4, R=1), make_generator(3)
    state = bank.initial_state(1)
    for _ in range(6):
        _, state = bank.step(state, _interface(bank, 1, 1.0, gen=gen))
    assert torch.allclose(state.memory.abs().sum(-1) > 1e-3, torch.ones(1, 6, dtype=torch.bool))
    quiet = _interface(bank, 1, 1.0, read_key=state.memory[:, 2:3].clone(), gen=gen)._replace(
        write_gates=torch.zeros(1, 1)
    )
    _, state = bank.step(state, quiet)
    _, state = bank.step(state, quiet._replace(free_gates=torch.ones(1, 1)))
    _, state = bank.step(state, _interface(bank, 1, 1.0, gen=gen))
    assert state.write_weights[0, 0].argmax().item() == 2 and state.write_weights[0, 0].max() > 0.99


def test_two_write_heads_allocate_different_slots():
    bank = make_bank(N=6, W=2)
    _, state = bank.step(bank.initial_state(1), _interface(bank, 1, 1.0, gen=make_generator(0)))
    assert state.write_weights[0].argmax(-1).tolist() == [0, 1]


@pytest.mark.parametrize("W", [1, 2])
def test_gradients_reach_every_write_head_parameter_through_memory(W):
    """Only the last step's reads are scored; its write parts are detached, so every write-side gradient
    must have crossed at least one write."""
    steps, B = 3, 4
    bank = make_bank(N=8, D=4, R=2, W=W)
    torch.manual_seed(0)
    head = torch.nn.Linear(5, bank.interface_size)
    gen = make_generator(0)
    read_part = torch.arange(bank.interface_size) < bank.read_heads * (bank.D + 1)
    state = bank.initial_state(B)
    for t in range(steps):
        raw = head(torch.randn(B, 5, generator=gen))
        if t == steps - 1:
            raw = torch.where(read_part, raw, raw.detach())
        reads, state = bank.step(state, bank.parse_interface(raw))
    reads.pow(2).sum().backward()
    per_unit = head.weight.grad.abs().sum(1) + head.bias.grad.abs()
    assert (per_unit > 0).all(), per_unit
    assert (head.weight.grad.abs() > 0).float().mean() > 0.99  # essentially every individual weight


def test_detached_state_blocks_gradient():
    bank = make_bank()
    head = torch.nn.Linear(5, bank.interface_size)
    gen = make_generator(0)
    state = bank.initial_state(2)
    _, state = bank.step(state, bank.parse_interface(head(torch.randn(2, 5, generator=gen))))
    state = state.detach()
    keys = torch.randn(2, 2, 4, generator=gen)
    reads, _ = bank.read(state, keys, torch.ones(2, 2))
    assert not reads.requires_grad


def test_step_is_pure_and_deterministic():
    bank = make_bank()
    gen = make_generator(7)
    state = bank.initial_state(2, generator=gen)
    before = [t.clone() for t in state]
    raw = torch.randn(2, bank.interface_size, generator=gen)
    a, sa = bank.step(state, bank.parse_interface(raw))
    b, sb = bank.step(state, bank.parse_interface(raw))
    assert torch.equal(a, b) and all(torch.equal(x, y) for x, y in zip(sa, sb))
    assert all(torch.equal(x, y) for x, y in zip(before, state))
    r1, s1 = random_run(bank, 4, seed=11)
    r2, s2 = random_run(bank, 4, seed=11)
    assert torch.equal(r1, r2) and torch.equal(s1.memory, s2.memory)


def test_bad_input_names_expected_shape():
    bank = make_bank()
    state = bank.initial_state(2)
    with pytest.raises(ValueError, match=r"\(B, H_r, D\) = \(2, 2, 4\)"):
        bank.read(state, torch.randn(2, 4), torch.ones(2, 2))
    with pytest.raises(ValueError, match=r"\(B, H_r\)"):
        bank.read(state, torch.randn(2, 2, 4), torch.ones(2))
    with pytest.raises(ValueError, match="dtype"):
        bank.read(state, torch.randn(2, 2, 4, dtype=torch.float64), torch.ones(2, 2))
    with pytest.raises(ValueError, match="interface_size"):
        bank.parse_interface(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"\(B, N, D\)"):
        bank.check_state(state._replace(memory=torch.zeros(2, 8)))
    with pytest.raises(ValueError, match=r"state.usage must have shape \(B, N\)"):
        bank.check_state(state._replace(usage=torch.zeros(3, 8)))
    with pytest.raises(TypeError):
        bank.step(tuple(state), bank.parse_interface(torch.zeros(2, bank.interface_size)))
    interface = bank.parse_interface(torch.zeros(2, bank.interface_size))
    with pytest.raises(ValueError, match=r"interface.erase must have shape \(B, H_w, D\)"):
        bank.step(state, interface._replace(erase=torch.zeros(2, 4)))
    with pytest.raises(TypeError):
        MemoryBank({"memory_size": 4})
    with pytest.raises(ValueError):
        bank.initial_state(0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a second device")
def test_wrong_device_is_rejected():
    bank = make_bank()
    state = bank.initial_state(2)
    with pytest.raises(ValueError, match="device"):
        bank.read(state, torch.randn(2, 2, 4, device="cuda"), torch.ones(2, 2, device="cuda"))


def test_meta_device_is_rejected():
    bank = make_bank()
    state = bank.initial_state(2)
    with pytest.raises(ValueError, match="device"):
        bank.read(state, torch.empty(2, 2, 4, device="meta"), torch.ones(2, 2))


@settings(max_examples=25, deadline=None)
@given(
    N=st.integers(1, 12),
    D=st.integers(1, 6),
    R=st.integers(1, 3),
    W=st.integers(1, 3),
    B=st.integers(1, 3),
    seed=st.integers(0, 1000),
)
def test_any_size_stays_finite_and_normalised(N, D, R, W, B, seed):
    bank = make_bank(N=N, D=D, R=R, W=W)
    reads, state = random_run(bank, steps=3, batch=B, seed=seed)
    assert torch.isfinite(reads).all() and torch.isfinite(state.memory).all()
    assert torch.allclose(state.read_weights.sum(-1), torch.ones(B, R), atol=1e-5)
    assert ((state.usage >= 0) & (state.usage <= 1 + 1e-5)).all()
    assert isinstance(state, MemoryState)


def test_links_record_write_order():
    from helpers.memory import directional_weights, update_links

    N = 5
    link, precedence = torch.zeros(1, 1, N, N), torch.zeros(1, 1, N)
    order = [3, 0, 4]
    for slot in order:
        w = torch.zeros(1, 1, N)
        w[0, 0, slot] = 1.0
        link, precedence = update_links(link, precedence, w)
    assert link[0, 0, 0, 3] == 1 and link[0, 0, 4, 0] == 1 and link.sum() == 2
    at_first = torch.zeros(1, 1, N)
    at_first[0, 0, 3] = 1.0
    forward, backward = directional_weights(link, at_first)
    assert forward[0, 0].argmax().item() == 0 and backward[0, 0].sum() == 0


def test_temporal_bank_reads_forward_and_validates_modes():
    bank = MemoryBank(
        MemoryConfig(memory_size=6, memory_dim=4, num_read_heads=1, num_write_heads=1), temporal_links=True
    )
    assert bank.interface_size == make_bank(N=6, R=1).interface_size + 3
    gen = make_generator(0)
    state = bank.initial_state(1)
    items = torch.randn(3, 4, generator=gen)
    for item in items:
        state = bank.write(state, _interface(bank, 1, 1.0, gen=gen)._replace(add=item.view(1, 1, 4)))
    content, forward = torch.tensor([[[0.0, 1.0, 0.0]]]), torch.tensor([[[0.0, 0.0, 1.0]]])
    read, state = bank.read(state, items[0].view(1, 1, 4), torch.full((1, 1), 50.0), content)
    for item in items[1:]:
        read, state = bank.read(state, torch.zeros(1, 1, 4), torch.zeros(1, 1), forward)
        assert torch.nn.functional.cosine_similarity(read[0, 0], item, dim=0) > 0.99
    with pytest.raises(ValueError, match=r"\(B, H_r, 3\)"):
        bank.read(state, torch.zeros(1, 1, 4), torch.zeros(1, 1), torch.ones(1, 3))
    with pytest.raises(ValueError, match="temporal_links"):
        make_bank(N=6, R=1).read(make_bank(N=6, R=1).initial_state(1), torch.zeros(1, 1, 4), torch.zeros(1, 1), forward)
    parsed = bank.parse_interface(torch.zeros(1, bank.interface_size))
    assert torch.allclose(parsed.read_modes, torch.full((1, 1, 3), 1 / 3))
    plain = make_bank(N=6, R=1)
    with pytest.raises(ValueError, match="read_modes"):
        plain.step(
            plain.initial_state(1),
            plain.parse_interface(torch.zeros(1, plain.interface_size))._replace(read_modes=torch.ones(1, 1, 3) / 3),
        )


def test_write_checks_state_and_interface_like_step():
    bank = make_bank()
    state = bank.initial_state(2)
    interface = bank.parse_interface(torch.zeros(2, bank.interface_size))
    assert bank.write(state, interface).memory.shape == (2, 8, 4)
    with pytest.raises(ValueError, match=r"interface.write_strengths must have shape \(B, H_w\) = \(2, 1\)"):
        bank.write(state, interface._replace(write_strengths=torch.ones(2)))
    with pytest.raises(ValueError, match=r"interface.add must have shape \(B, H_w, D\)"):
        bank.write(state, interface._replace(add=torch.zeros(2, 4)))
    with pytest.raises(ValueError, match=r"state.usage must have shape \(B, N\)"):
        bank.write(state._replace(usage=torch.zeros(2, 1)), interface)
    with pytest.raises(TypeError):
        bank.write(tuple(state), interface)
    # a bank with temporal links writes without read modes (write ignores them), but checks them when given
    links = MemoryBank(MemoryConfig(memory_size=8, memory_dim=4, num_read_heads=2, num_write_heads=1),
                       temporal_links=True)
    link_state = links.initial_state(2)
    links.write(link_state, interface)
    with pytest.raises(ValueError, match=r"interface.read_modes must have shape \(B, H_r, 3\)"):
        links.write(link_state, interface._replace(read_modes=torch.ones(2, 3)))


def test_free_functions_reject_silent_broadcasting():
    from helpers.memory import directional_weights, update_links, write_weighting

    B, N, D, H = 2, 5, 3, 4
    memory, keys = torch.randn(B, N, D), torch.randn(B, H, D)
    with pytest.raises(ValueError, match=r"strengths must have shape \(B, H\) = \(2, 4\), got \(2, 1\)"):
        content_weights(memory, keys, torch.ones(B, 1))
    with pytest.raises(ValueError, match=r"strengths must have shape \(B, H\) = \(2, 4\), got \(4,\)"):
        content_weights(memory, keys, torch.ones(H))
    with pytest.raises(ValueError, match=r"keys must have shape \(B, H, D\) = \(2, H, 3\)"):
        content_weights(memory, torch.randn(B, D), torch.ones(B, H))
    with pytest.raises(ValueError, match=r"memory must have shape \(B, N, D\)"):
        content_weights(torch.randn(N, D), keys, torch.ones(B, H))
    with pytest.raises(TypeError, match="memory must be a torch.Tensor"):
        read_memory([[0.0]], torch.ones(B, 1, N))
    weights = torch.softmax(torch.randn(B, 1, N), -1)
    with pytest.raises(ValueError, match=r"erase must have shape \(B, H_w, D\) = \(2, 1, 3\), got \(2, 3\)"):
        erase_and_add(memory, weights, torch.ones(B, D), torch.ones(B, 1, D))
    with pytest.raises(ValueError, match=r"add must have shape \(B, H_w, D\) = \(2, 1, 3\), got \(1, 1, 3\)"):
        erase_and_add(memory, weights, torch.ones(B, 1, D), torch.ones(1, 1, D))
    with pytest.raises(ValueError, match=r"weights must have shape \(B, H, N\) = \(2, H, 5\)"):
        erase_and_add(memory, torch.ones(B, 1, N + 1), torch.ones(B, 1, D), torch.ones(B, 1, D))
    with pytest.raises(ValueError, match=r"weights must have shape \(B, H, N\)"):
        read_memory(memory, torch.ones(B, N))
    usage = torch.rand(B, N)
    with pytest.raises(ValueError, match=r"free_gates must have shape \(B, H_r\) = \(2, 1\)"):
        usage_after_free(usage, weights, torch.ones(B))
    with pytest.raises(ValueError, match=r"usage must have shape \(B, N\)"):
        usage_after_write(torch.rand(N), weights)
    with pytest.raises(ValueError, match=r"usage must have shape \(B, N\)"):
        allocation_weights(torch.rand(B, N, 1))
    with pytest.raises(ValueError, match=r"write_gates must have shape \(B, H_w\) = \(2, 1\)"):
        write_weighting(memory, usage, keys[:, :1], torch.ones(B, 1), torch.ones(B, 1), torch.ones(B, 1, 1))
    with pytest.raises(ValueError, match=r"usage must have shape \(B, N\) = \(2, 5\)"):
        write_weighting(memory, usage[:1], keys[:, :1], torch.ones(B, 1), torch.ones(B, 1), torch.ones(B, 1))
    link, precedence = torch.zeros(B, 1, N, N), torch.zeros(B, 1, N)
    with pytest.raises(ValueError, match=r"write_weights must have shape \(B, H_w, N\)"):
        update_links(link, precedence, torch.ones(B, N))
    with pytest.raises(ValueError, match=r"link must have shape \(B, H_w, N, N\)"):
        update_links(torch.zeros(B, N, N), precedence, weights)
    with pytest.raises(ValueError, match=r"read_weights must have shape \(B, H, N\)"):
        directional_weights(link, torch.ones(B, N))
    # the shapes that are documented still work, with any number of heads (notebook 06 uses H = Q * H_r)
    assert content_weights(memory, keys, torch.ones(B, H)).shape == (B, H, N)
    assert erase_and_add(memory, torch.ones(B, 7, N), torch.ones(B, 7, D), torch.ones(B, 7, D)).shape == (B, N, D)
