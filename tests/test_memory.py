"""helpers.memory: shapes, hand-computed examples, bad input, gradients through writes, allocation, purity,
determinism, and the promise that a call that raises changes nothing."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.checks import ArgumentTypeError
from helpers.foundations import MemoryConfig, make_generator
from helpers.memory import (
    MemoryBank,
    MemoryInterface,
    MemoryState,
    allocation_weights,
    content_weights,
    cosine_similarity,
    directional_weights,
    erase_and_add,
    read_memory,
    update_links,
    usage_after_free,
    usage_after_write,
    write_weighting,
)


def make_bank(N=8, D=4, R=2, W=1, init="constant", links=False):
    config = MemoryConfig(memory_size=N, memory_dim=D, num_read_heads=R, num_write_heads=W, memory_init=init)
    return MemoryBank(config, temporal_links=links)


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


def test_content_weights_match_definition_and_attention():
    gen = make_generator(1)
    memory, keys, beta = torch.randn(2, 5, 3, generator=gen), torch.randn(2, 4, 3, generator=gen), torch.rand(2, 4) * 5
    cos = torch.nn.functional.cosine_similarity(keys.unsqueeze(2), memory.unsqueeze(1), dim=-1)
    assert torch.allclose(cosine_similarity(memory, keys), cos, atol=1e-5)
    assert torch.allclose(content_weights(memory, keys, beta), torch.softmax(beta.unsqueeze(-1) * cos, -1), atol=1e-5)
    # one sharpness for every head: the read is softmax attention with temperature 1 / β, slots as values
    weights = content_weights(memory, keys, torch.full((2, 4), 3.0))
    normalize = torch.nn.functional.normalize
    attention = torch.nn.functional.scaled_dot_product_attention(normalize(keys, dim=-1), normalize(memory, dim=-1),
                                                                 memory, scale=3.0)
    assert torch.allclose(read_memory(memory, weights), attention, atol=1e-5)


def test_zero_memory_gives_uniform_weights_and_finite_gradients():
    memory = torch.zeros(1, 6, 3, requires_grad=True)
    keys = torch.randn(1, 2, 3, generator=make_generator(0))
    weights = content_weights(memory, keys, torch.full((1, 2), 50.0))
    assert torch.allclose(weights, torch.full_like(weights, 1 / 6))
    weights[0, 0, 0].backward()
    assert torch.isfinite(memory.grad).all()


def test_hand_computed_three_slot_examples():
    """The worked examples of notebook 02, which a learner can check with pencil and paper."""
    written = erase_and_add(torch.ones(1, 3, 2), torch.tensor([[[1.0, 0.0, 0.5]]]), torch.tensor([[[1.0, 0.0]]]),
                            torch.tensor([[[2.0, 3.0]]]))
    assert torch.equal(written[0], torch.tensor([[2.0, 4.0], [1.0, 1.0], [1.5, 2.5]]))
    assert torch.equal(read_memory(written, torch.tensor([[[0.5, 0.5, 0.0]]]))[0, 0], torch.tensor([1.5, 2.5]))
    usage = torch.tensor([[0.9, 0.1, 0.5]])
    assert torch.allclose(allocation_weights(usage), torch.tensor([[0.005, 0.9, 0.05]]))
    usage = usage_after_write(usage, torch.tensor([[[0.0, 0.5, 0.0]]]))
    usage = usage_after_free(usage, torch.tensor([[[1.0, 0.0, 0.0]]]), torch.ones(1, 1))
    assert torch.allclose(usage, torch.tensor([[0.0, 0.55, 0.5]]))
    assert torch.allclose(allocation_weights(usage), torch.tensor([[1.0, 0.0, 0.0]]))


def test_erase_and_add_with_several_heads_multiplies_erasures_and_sums_additions():
    memory = torch.full((1, 2, 1), 4.0)
    weights = torch.tensor([[[1.0, 0.0], [0.5, 0.0]]])  # both heads on slot 0
    new = erase_and_add(memory, weights, torch.tensor([[[0.5], [1.0]]]), torch.tensor([[[1.0], [2.0]]]))
    assert torch.allclose(new[0, :, 0], torch.tensor([4.0 * 0.5 * 0.5 + 1.0 + 1.0, 4.0]))
    assert torch.equal(memory, torch.full((1, 2, 1), 4.0))  # not in place


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
        read_modes=torch.full((B, R, 3), 1 / 3) if bank.temporal_links else None,
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


def _write_head_gradients(W, steps, init, detach=False):
    """Per interface part, its smallest gradient relative to the largest gradient in the write head."""
    B = 4
    bank = make_bank(N=8, D=4, R=2, W=W, init=init)
    if init == "noise":
        bank = MemoryBank(MemoryConfig(memory_size=8, memory_dim=4, num_read_heads=2, num_write_heads=W,
                                       memory_init="noise", memory_init_value=0.1))
    torch.manual_seed(0)
    head = torch.nn.Linear(5, bank.interface_size)
    gen = make_generator(0)
    read_part = torch.arange(bank.interface_size) < bank.read_heads * (bank.D + 1)
    state = bank.initial_state(B, generator=gen)
    for t in range(steps):
        raw = head(torch.randn(B, 5, generator=gen))
        if t == steps - 1:
            raw = torch.where(read_part, raw, raw.detach())
        reads, state = bank.step(state, bank.parse_interface(raw))
        if detach and t < steps - 1:
            state = state.detach()
    reads.pow(2).sum().backward()
    rows = head.weight.grad.abs().sum(1) + head.bias.grad.abs()
    parts = rows.split(list(bank.interface_layout.values()))
    return {name: (part.min() / rows.max()).item() for name, part in zip(bank.interface_layout, parts)}


@pytest.mark.parametrize("W", [1, 2])
def test_gradients_reach_every_write_head_part_through_memory(W):
    """Only the last step's reads are scored and its write parts are detached, so every write-side gradient
    crossed at least one write. Judged relative to the largest gradient (1e-6), never by > 0."""
    for init, steps in (("noise", 3), ("constant", 6)):
        relative = _write_head_gradients(W, steps, init)
        assert min(relative.values()) >= 1e-6, (init, steps, relative)
    detached = _write_head_gradients(W, 3, "constant", detach=True)
    assert all(value == 0 for name, value in detached.items() if not name.startswith("read")), detached


def test_detached_state_blocks_gradient():
    bank = make_bank()
    head = torch.nn.Linear(5, bank.interface_size)
    gen = make_generator(0)
    state = bank.initial_state(2)
    _, state = bank.step(state, bank.parse_interface(head(torch.randn(2, 5, generator=gen))))
    state = state.detach()
    reads, _ = bank.read(state, torch.randn(2, 2, 4, generator=gen), torch.ones(2, 2))
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


def test_public_functions_equal_the_unchecked_math():
    from helpers import memory as m

    gen = make_generator(4)
    memory, keys = torch.randn(2, 6, 3, generator=gen), torch.randn(2, 2, 3, generator=gen)
    beta, weights = torch.rand(2, 2, generator=gen) * 4, torch.softmax(torch.randn(2, 2, 6, generator=gen), -1)
    erase, add = torch.rand(2, 2, 3, generator=gen), torch.randn(2, 2, 3, generator=gen)
    usage, gates = torch.rand(2, 6, generator=gen), torch.rand(2, 2, generator=gen)
    link, precedence = torch.rand(2, 2, 6, 6, generator=gen) * 0.1, torch.rand(2, 2, 6, generator=gen) * 0.1
    pairs = [
        (content_weights(memory, keys, beta), m._content_weights(memory, keys, beta)),
        (erase_and_add(memory, weights, erase, add), m._erase_and_add(memory, weights, erase, add)),
        (read_memory(memory, weights), m._read_memory(memory, weights)),
        (usage_after_free(usage, weights, gates), m._usage_after_free(usage, weights, gates)),
        (usage_after_write(usage, weights), m._usage_after_write(usage, weights)),
        (allocation_weights(usage), m._allocation_weights(usage)),
        (write_weighting(memory, usage, keys, beta, gates, gates), m._write_weighting(memory, usage, keys, beta, gates,
                                                                                      gates)),
        *zip(update_links(link, precedence, weights), m._update_links(link, precedence, weights)),
        *zip(directional_weights(link, weights), m._directional_weights(link, weights)),
    ]
    for public, private in pairs:
        assert torch.equal(public, private)


def test_one_head_fast_paths_equal_the_general_formulas():
    """With one head, products and sums over heads are skipped; the numbers must not change."""
    from helpers import memory as m

    gen = make_generator(5)
    memory, weights = torch.randn(3, 7, 4, generator=gen), torch.softmax(torch.randn(3, 1, 7, generator=gen), -1)
    erase, add = torch.rand(3, 1, 4, generator=gen), torch.randn(3, 1, 4, generator=gen)
    general = memory * torch.prod(1 - weights.unsqueeze(-1) * erase.unsqueeze(2), 1) + torch.einsum(
        "bhn,bhd->bnd", weights, add)
    assert torch.allclose(m._erase_and_add(memory, weights, erase, add), general, atol=1e-6)
    link = torch.rand(3, 1, 7, 7, generator=gen)
    read = torch.softmax(torch.randn(3, 2, 7, generator=gen), -1)
    forward, backward = m._directional_weights(link, read)
    assert torch.allclose(forward, torch.einsum("bwij,brj->bri", link, read), atol=1e-6)
    assert torch.allclose(backward, torch.einsum("bwji,brj->bri", link, read), atol=1e-6)
    two = torch.cat([link, link.flip(-1)], dim=1)
    forward2, _ = m._directional_weights(two, read)
    assert torch.allclose(forward2, torch.einsum("bwij,brj->bri", two, read), atol=1e-6)


def test_links_record_write_order():
    N = 5
    link, precedence = torch.zeros(1, 1, N, N), torch.zeros(1, 1, N)
    for slot in [3, 0, 4]:
        w = torch.zeros(1, 1, N)
        w[0, 0, slot] = 1.0
        link, precedence = update_links(link, precedence, w)
    assert link[0, 0, 0, 3] == 1 and link[0, 0, 4, 0] == 1 and link.sum() == 2
    at_first = torch.zeros(1, 1, N)
    at_first[0, 0, 3] = 1.0
    forward, backward = directional_weights(link, at_first)
    assert forward[0, 0].argmax().item() == 0 and backward[0, 0].sum() == 0
    # no self-links, even when the state handed in had some
    messy = torch.full((1, 1, N, N), 0.5)
    assert torch.all(update_links(messy, precedence, torch.zeros(1, 1, N))[0].diagonal(dim1=-2, dim2=-1) == 0)


def test_temporal_bank_reads_forward_and_validates_modes():
    bank = make_bank(N=6, R=1, links=True)
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
    with pytest.raises(ValueError, match=r"modes must have shape \(B, H_r, 3\)"):
        bank.read(state, torch.zeros(1, 1, 4), torch.zeros(1, 1), torch.ones(1, 3))
    plain = make_bank(N=6, R=1)
    with pytest.raises(ValueError, match="temporal_links"):
        plain.read(plain.initial_state(1), torch.zeros(1, 1, 4), torch.zeros(1, 1), forward)
    parsed = bank.parse_interface(torch.zeros(1, bank.interface_size))
    assert torch.allclose(parsed.read_modes, torch.full((1, 1, 3), 1 / 3))
    with pytest.raises(ValueError, match="read_modes"):
        quiet = plain.parse_interface(torch.zeros(1, plain.interface_size))
        plain.step(plain.initial_state(1), quiet._replace(read_modes=torch.ones(1, 1, 3) / 3))


def test_vmap_skips_value_checks_but_keeps_shape_checks():
    """Notebook 06 calls these functions inside torch.func.vmap, where values cannot be read."""
    from torch.func import vmap

    memory, keys = torch.randn(3, 1, 5, 4), torch.randn(3, 1, 2, 4)
    weights = vmap(content_weights)(memory, keys, torch.ones(3, 1, 2))
    assert weights.shape == (3, 1, 2, 5)
    assert vmap(read_memory)(memory, weights).shape == (3, 1, 2, 4)
    assert vmap(erase_and_add)(memory, weights[:, :, :1], torch.ones(3, 1, 1, 4), keys[:, :, :1]).shape == memory.shape
    with pytest.raises(ValueError, match="keys"):
        vmap(content_weights)(memory, torch.randn(3, 1, 2, 3), torch.ones(3, 1, 2))


def _randn(*shape, **kwargs):
    """Random inputs for the bad calls, from a private generator (the tests check the global RNG is untouched)."""
    return torch.randn(*shape, generator=make_generator(99), **kwargs)


BAD_CALLS = {
    # what -> (call, exception type, message fragment)
    "key without head axis": (lambda b, s: b.read(s, _randn(2, 4), torch.ones(2, 2)), ValueError,
                              r"keys must have shape \(B, H_r, D\)"),
    "strengths of the wrong shape": (lambda b, s: b.read(s, _randn(2, 2, 4), torch.ones(2)), ValueError,
                                     r"strengths must have shape \(B, H_r\)"),
    "float64 key": (lambda b, s: b.read(s, _randn(2, 2, 4, dtype=torch.float64), torch.ones(2, 2)), ValueError,
                    "dtype"),
    "NaN key": (lambda b, s: b.read(s, torch.full((2, 2, 4), torch.nan), torch.ones(2, 2)), ValueError, "finite"),
    "negative strength": (lambda b, s: b.read(s, _randn(2, 2, 4), -torch.ones(2, 2)), ValueError, ">= 0"),
    "meta-device key": (lambda b, s: b.read(s, torch.empty(2, 2, 4, device="meta"), torch.ones(2, 2)), ValueError,
                        "keys must be on"),
    "list instead of a key": (lambda b, s: b.read(s, [[0.0]], torch.ones(2, 2)), ArgumentTypeError, "keys must be"),
    "raw interface too short": (lambda b, s: b.parse_interface(torch.zeros(2, 3)), ValueError, "raw must have shape"),
    "infinite raw interface": (lambda b, s: b.parse_interface(torch.full((2, b.interface_size), torch.inf)),
                               ValueError, "finite"),
    "memory of the wrong size": (lambda b, s: b.check_state(s._replace(memory=torch.zeros(2, 8))), ValueError,
                                 r"state.memory must have shape \(B, N, D\)"),
    "usage of another batch": (lambda b, s: b.check_state(s._replace(usage=torch.zeros(3, 8))), ValueError,
                               r"state.usage must have shape \(B, N\)"),
    "usage above 1": (lambda b, s: b.step(s._replace(usage=torch.full((2, 8), 2.0)),
                                          b.parse_interface(torch.zeros(2, b.interface_size))), ValueError, "<= 1"),
    "NaN memory": (lambda b, s: b.step(s._replace(memory=torch.full((2, 8, 4), torch.nan)),
                                       b.parse_interface(torch.zeros(2, b.interface_size))), ValueError, "finite"),
    "state as a tuple": (lambda b, s: b.step(tuple(s), b.parse_interface(torch.zeros(2, b.interface_size))),
                         ArgumentTypeError, "state must be"),
    "erase without head axis": (lambda b, s: b.step(s, b.parse_interface(torch.zeros(2, b.interface_size))._replace(
        erase=torch.zeros(2, 4))), ValueError, r"interface.erase must have shape \(B, H_w, D\)"),
    "write gate of 2": (lambda b, s: b.step(s, b.parse_interface(torch.zeros(2, b.interface_size))._replace(
        write_gates=torch.full((2, 1), 2.0))), ValueError, "interface.write_gates must be <="),
    "batch size 0": (lambda b, s: b.initial_state(0), ValueError, "batch_size"),
    "batch size 2.0": (lambda b, s: b.initial_state(2.0), ArgumentTypeError, "batch_size"),
    "huge batch": (lambda b, s: b.initial_state(10**9), ValueError, "batch_size"),
    "device 'gpu'": (lambda b, s: b.initial_state(2, device="gpu"), ValueError, "device"),
    "integer dtype": (lambda b, s: b.initial_state(2, dtype=torch.int64), ValueError, "dtype"),
    "seed as generator": (lambda b, s: b.initial_state(2, generator=7), ArgumentTypeError, "generator"),
    "config as dict": (lambda b, s: MemoryBank({"memory_size": 4}), ArgumentTypeError, "config"),
    "temporal_links='no'": (lambda b, s: MemoryBank(b.config, temporal_links="no"), ArgumentTypeError,
                            "temporal_links"),
}


@pytest.mark.parametrize("what", list(BAD_CALLS))
def test_bad_input_is_rejected_clearly_and_changes_nothing(what):
    call, error, message = BAD_CALLS[what]
    bank = make_bank()
    state = bank.initial_state(2, generator=make_generator(0))
    snapshot = [t.clone() for t in state]
    rng = torch.random.get_rng_state()
    with pytest.raises(error, match=message):
        call(bank, state)
    assert all(torch.equal(a, b) for a, b in zip(snapshot, state))
    assert torch.equal(torch.random.get_rng_state(), rng)


def test_free_functions_reject_silent_broadcasting_and_bad_values():
    B, N, D, H = 2, 5, 3, 4
    memory, keys = torch.randn(B, N, D), torch.randn(B, H, D)
    weights = torch.softmax(torch.randn(B, 1, N), -1)
    cases = [
        (lambda: content_weights(memory, keys, torch.ones(B, 1)),
         r"strengths must have shape \(B, H\) with B=2 \(from memory\), H=4 \(from keys\)"),
        (lambda: content_weights(memory, keys, torch.ones(H)), r"strengths must have shape \(B, H\)"),
        (lambda: content_weights(memory, torch.randn(B, D), torch.ones(B, H)), r"keys must have shape \(B, H, D\)"),
        (lambda: content_weights(torch.randn(N, D), keys, torch.ones(B, H)), r"memory must have shape \(B, N, D\)"),
        (lambda: content_weights(memory, keys, -torch.ones(B, H)), "strengths must be >= 0"),
        (lambda: content_weights(memory * torch.inf, keys, torch.ones(B, H)), "memory must hold finite"),
        (lambda: erase_and_add(memory, weights, torch.ones(B, D), torch.ones(B, 1, D)), r"erase must have shape"),
        (lambda: erase_and_add(memory, weights, torch.ones(B, 1, D), torch.ones(1, 1, D)), r"add must have shape"),
        (lambda: erase_and_add(memory, weights, 2 * torch.ones(B, 1, D), torch.ones(B, 1, D)), "erase must be <="),
        (lambda: erase_and_add(memory, torch.ones(B, 1, N + 1), torch.ones(B, 1, D), torch.ones(B, 1, D)),
         r"weights must have shape"),
        (lambda: read_memory(memory, torch.ones(B, N)), r"weights must have shape"),
        (lambda: read_memory(memory, -weights), "weights must be >="),
        (lambda: usage_after_free(torch.rand(B, N), weights, torch.ones(B)), r"free_gates must have shape"),
        (lambda: usage_after_write(torch.rand(N), weights), r"usage must have shape \(B, N\)"),
        (lambda: allocation_weights(torch.rand(B, N, 1)), r"usage must have shape \(B, N\)"),
        (lambda: allocation_weights(torch.full((B, N), torch.nan)), "usage must hold finite"),
        (lambda: write_weighting(memory, torch.rand(B, N), keys[:, :1], torch.ones(B, 1), torch.ones(B, 1),
                                 torch.ones(B, 1, 1)), r"write_gates must have shape"),
        (lambda: update_links(torch.zeros(B, 1, N, N), torch.zeros(B, 1, N), torch.ones(B, N)),
         r"write_weights must have shape"),
        (lambda: update_links(torch.zeros(B, N, N), torch.zeros(B, 1, N), weights), r"link must have shape"),
        (lambda: directional_weights(torch.zeros(B, 1, N, N), torch.ones(B, N)), r"read_weights must have shape"),
        (lambda: cosine_similarity(memory, keys, eps=0.0), "eps"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()
    with pytest.raises(TypeError, match="memory must be a torch.Tensor"):
        read_memory([[0.0]], torch.ones(B, 1, N))
    # the documented shapes work with any number of heads (notebook 06 uses H = Q * H_r)
    assert content_weights(memory, keys, torch.ones(B, H)).shape == (B, H, N)
    seven_heads = torch.full((B, 7, N), 0.1)
    assert erase_and_add(memory, seven_heads, torch.ones(B, 7, D), torch.ones(B, 7, D)).shape == (B, N, D)


@settings(max_examples=25, deadline=None)
@given(N=st.integers(1, 12), D=st.integers(1, 6), R=st.integers(1, 3), W=st.integers(1, 3), B=st.integers(1, 3),
       links=st.booleans(), seed=st.integers(0, 1000))
def test_any_size_stays_finite_and_normalised(N, D, R, W, B, links, seed):
    bank = make_bank(N=N, D=D, R=R, W=W, links=links)
    reads, state = random_run(bank, steps=3, batch=B, seed=seed)
    assert torch.isfinite(reads).all() and torch.isfinite(state.memory).all()
    totals = state.read_weights.sum(-1)  # a distribution by content; with links, forward/backward can lose mass
    assert (totals <= 1 + 1e-5).all() and (links or torch.allclose(totals, torch.ones(B, R), atol=1e-5))
    assert ((state.usage >= 0) & (state.usage <= 1 + 1e-5)).all()
    assert torch.all(state.link.diagonal(dim1=-2, dim2=-1) == 0)
    assert isinstance(state, MemoryState)


@settings(max_examples=30, deadline=None)
@given(calls=st.lists(st.sampled_from(sorted(BAD_CALLS) + ["step", "write", "read"]), min_size=1, max_size=6),
       seed=st.integers(0, 100))
def test_any_sequence_of_calls_leaves_what_raised_untouched(calls, seed):
    """Property: over random sequences of valid and invalid calls, a call that raises leaves the state it was
    given, the bank (no tensors) and the global RNG exactly as they were."""
    bank = make_bank()
    gen = make_generator(seed)
    state = bank.initial_state(2, generator=gen)
    for name in calls:
        snapshot, rng = [t.clone() for t in state], torch.random.get_rng_state()
        if name in BAD_CALLS:
            call, error, _ = BAD_CALLS[name]
            with pytest.raises(error):
                call(bank, state)
            assert all(torch.equal(a, b) for a, b in zip(snapshot, state))
            assert torch.equal(torch.random.get_rng_state(), rng)
            assert not list(bank.buffers()) and not list(bank.parameters())
            continue
        interface = bank.parse_interface(torch.randn(2, bank.interface_size, generator=gen))
        if name == "step":
            _, state = bank.step(state, interface)
        elif name == "write":
            state = bank.write(state, interface)
        else:
            _, state = bank.read(state, interface.read_keys, interface.read_strengths)


def test_a_dtype_mismatch_names_both_tensors():
    memory, keys = torch.zeros(1, 4, 3, dtype=torch.float64), torch.zeros(1, 2, 3)
    with pytest.raises(ValueError, match=r"keys must have the dtype and device of memory \(torch.float64"):
        content_weights(memory, keys, torch.ones(1, 2))
    state = make_bank(N=4, D=3).initial_state(1)._replace(memory=memory)
    with pytest.raises(ValueError, match=r"state.usage must have the dtype and device of state.memory"):
        make_bank(N=4, D=3).check_state(state)
