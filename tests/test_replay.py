import copy
import io
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chisquare

import helpers.replay
from helpers.checks import ArgumentTypeError
from helpers.foundations import make_generator, make_main_stream
from helpers.replay import (
    EVICTION_POLICIES,
    MAX_PRIORITY,
    MinTree,
    PrioritySampler,
    ReplayBuffer,
    SegmentTree,
    SumTree,
    balanced_slots,
    extend_class,
    fifo_slots,
    importance_weights,
    linear_beta,
    reservoir_slots,
    sampling_probabilities,
)


def assert_tree_consistent(buffer: ReplayBuffer) -> None:
    """Every inner node is its children's sum (min), the root is the sum (min) of the leaves, and the
    leaves are exactly p^alpha of the slots in use (empty slots neutral)."""
    for tree, combine in ((buffer.sum_tree, np.add), (buffer.min_tree, np.minimum)):
        nodes, size = tree.nodes, tree.size
        inner = np.arange(1, size)
        np.testing.assert_allclose(nodes[inner], combine(nodes[2 * inner], nodes[2 * inner + 1]), rtol=1e-12)
    leaves = buffer.sum_tree.leaves
    used = buffer.priorities[: buffer.size] ** buffer.alpha
    np.testing.assert_allclose(leaves[: buffer.size], used, rtol=1e-12)
    assert (leaves[buffer.size :] == 0).all()
    assert math.isclose(buffer.sum_tree.root, math.fsum(leaves), rel_tol=1e-12)
    if buffer.size:
        assert buffer.min_tree.root == used.min()


operation = st.one_of(
    st.tuples(st.just("push"), st.integers(1, 12), st.integers(0, 3), st.booleans()),
    st.tuples(st.just("update"), st.lists(st.integers(0, 10**6), min_size=1, max_size=8),
              st.lists(st.floats(-5, 5, allow_nan=False), min_size=8, max_size=8)),
    st.tuples(st.just("sample"), st.integers(1, 20), st.sampled_from([None, True])),
)


@settings(max_examples=60, deadline=None)
@given(
    policy=st.sampled_from(EVICTION_POLICIES),
    capacity=st.integers(1, 17),
    alpha=st.sampled_from([0.0, 0.6, 1.0]),
    ops=st.lists(operation, min_size=1, max_size=25),
)
def test_tree_total_matches_leaves_after_any_sequence(policy, capacity, alpha, ops):
    buffer = ReplayBuffer(capacity, alpha=alpha, eviction=policy, seed=3)
    rng = np.random.default_rng(0)
    for op in ops:
        if op[0] == "push":
            _, count, task, explicit = op
            priorities = torch.from_numpy(rng.random(count) * 3) if explicit else None
            slots = buffer.push(task, priorities=priorities, x=torch.randn(count, 2), y=torch.zeros(count, 1))
            assert slots.shape == (count,) and (slots < capacity).all()
        elif op[0] == "update" and len(buffer):
            _, raw_indices, losses = op
            indices = torch.tensor(raw_indices) % len(buffer)
            buffer.update_priorities(indices, torch.tensor(losses[: len(indices)]))
        elif op[0] == "sample" and len(buffer):
            batch = buffer.sample(op[1], replace=op[2])
            assert batch.indices.shape == (op[1],) and (batch.indices < len(buffer)).all()
            if op[2] is None and op[1] <= len(buffer):
                assert len(set(batch.indices.tolist())) == op[1]  # without replacement when it fits
            assert (batch.weights > 0).all() and (batch.weights <= 1 + 1e-6).all()
        assert_tree_consistent(buffer)
        assert len(buffer) == min(capacity, buffer.num_seen)
        assert buffer.task_counts().sum() == len(buffer)


@settings(max_examples=60, deadline=None)
@given(
    capacity=st.integers(1, 40),
    writes=st.lists(st.tuples(st.lists(st.integers(0, 39), min_size=1, max_size=50), st.floats(0, 100)), max_size=10),
)
def test_segment_trees_last_write_wins(capacity, writes):
    sums, mins, expected = SumTree(capacity), MinTree(capacity), np.full(capacity, np.nan)  # nan: never written
    for indices, value in writes:
        indices = np.array(indices) % capacity
        values = value + np.arange(len(indices))  # distinct values, so the last write is identifiable
        sums.update(indices, values)
        mins.update(indices, values)
        for i, v in zip(indices, values):
            expected[i] = v
    np.testing.assert_array_equal(sums.leaves, np.nan_to_num(expected, nan=0.0))
    assert math.isclose(sums.root, math.fsum(np.nan_to_num(expected, nan=0.0)), rel_tol=1e-12, abs_tol=1e-12)
    np.testing.assert_array_equal(mins.leaves, np.nan_to_num(expected, nan=np.inf))
    assert mins.root == np.nan_to_num(expected, nan=np.inf).min()


def test_find_prefix_matches_searchsorted():
    values = np.random.default_rng(1).random(1000)
    tree = SumTree(1000)
    tree.update(np.arange(1000), values)
    prefixes = np.random.default_rng(2).random(5000) * tree.root
    edges = np.concatenate([[0.0], np.cumsum(values)])
    np.testing.assert_array_equal(tree.find_prefix(prefixes), np.searchsorted(edges, prefixes, side="right") - 1)


def test_find_prefix_never_lands_on_an_empty_leaf():
    tree = SumTree(5)  # 8 leaves: three are padding
    tree.update(np.arange(5), [1.0, 0.0, 2.0, 0.0, 1e-9])
    found = tree.find_prefix(np.array([0.0, 1.0, 2.9999999, np.nextafter(tree.root, 0), tree.root]))
    assert set(found.tolist()) <= {0, 2, 4}


def filled_buffer(priorities, alpha=0.6, seed=0):
    buffer = ReplayBuffer(len(priorities), alpha=alpha, eps=1e-3, eviction="fifo", seed=seed)
    buffer.push(0, x=torch.arange(len(priorities), dtype=torch.float32).unsqueeze(1))
    buffer.update_priorities(torch.arange(len(priorities)), torch.as_tensor(priorities))
    return buffer


def expected_probabilities(losses, alpha=0.6, eps=1e-3):
    return sampling_probabilities(torch.as_tensor(losses, dtype=torch.float64).abs() + eps, alpha).numpy()


LOSSES = [0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 3.0, 5.0]


def test_sampling_frequencies_match_p_with_replacement():
    buffer = filled_buffer(LOSSES)
    generator = make_generator(11)
    draws = torch.cat([buffer.sample(1000, replace=True, generator=generator).indices for _ in range(40)])
    observed = np.bincount(draws.numpy(), minlength=len(LOSSES))
    expected = expected_probabilities(LOSSES) * len(draws)
    assert chisquare(observed, expected).pvalue > 1e-3
    assert observed[0] > 0  # zero loss: still sampled, through eps


def test_first_draw_without_replacement_matches_p_and_batches_are_distinct():
    buffer = filled_buffer(LOSSES)
    generator = make_generator(12)
    firsts = []
    for _ in range(6000):
        batch = buffer.sample(5, generator=generator)
        assert len(set(batch.indices.tolist())) == 5
        firsts.append(int(batch.indices[0]))
    observed = np.bincount(firsts, minlength=len(LOSSES))
    assert chisquare(observed, expected_probabilities(LOSSES) * len(firsts)).pvalue > 1e-3
    full = buffer.sample(len(LOSSES), generator=generator).indices
    assert sorted(full.tolist()) == list(range(len(LOSSES)))  # a batch of the whole buffer is a permutation


def test_successive_sampling_second_draw_matches_renormalised_p():
    losses = [0.1, 1.0, 3.0]
    buffer = filled_buffer(losses, alpha=1.0)
    generator = make_generator(13)
    pairs = torch.stack([buffer.sample(2, generator=generator).indices for _ in range(4000)])
    p = expected_probabilities(losses, alpha=1.0)
    exact = {(i, j): p[i] * p[j] / (1 - p[i]) for i in range(3) for j in range(3) if i != j}
    keys = list(exact)
    observed = np.array([((pairs[:, 0] == i) & (pairs[:, 1] == j)).sum().item() for i, j in keys])
    assert chisquare(observed, np.array([exact[k] for k in keys]) * len(pairs)).pvalue > 1e-3


def test_batch_larger_than_buffer():
    buffer = filled_buffer([1.0, 2.0, 3.0])
    batch = buffer.sample(8)  # documented: falls back to sampling with replacement
    assert batch.indices.shape == (8,)
    with pytest.raises(ValueError, match="without replacement"):
        buffer.sample(8, replace=False)


def test_alpha_zero_is_uniform_replay():
    buffer = filled_buffer(LOSSES, alpha=0.0)
    batch = buffer.sample(6)
    assert torch.allclose(batch.probabilities, torch.full((6,), 1 / len(LOSSES), dtype=torch.float64))
    assert torch.equal(batch.weights, torch.ones(6))


def test_importance_weights_use_the_buffer_wide_maximum():
    buffer = filled_buffer(LOSSES)
    buffer.num_sampled = buffer.beta_steps  # beta annealed to 1
    batch = buffer.sample(3)
    p = expected_probabilities(LOSSES)
    expected = (len(LOSSES) * p[batch.indices.numpy()]) ** -1.0 / (len(LOSSES) * p.min()) ** -1.0
    np.testing.assert_allclose(batch.weights.numpy(), expected, rtol=1e-5)
    w = importance_weights(torch.tensor(p), len(p), 1.0)
    assert w.max() == 1.0 and torch.allclose(torch.tensor(p) * w, torch.tensor(p[0] * w[0].item()).expand(len(p)))


def test_beta_is_annealed_to_one():
    buffer = ReplayBuffer(4, beta_start=0.4, beta_steps=10)
    buffer.push(0, x=torch.zeros(4, 1))
    betas = []
    for _ in range(15):
        betas.append(buffer.beta)
        buffer.sample(2)
    assert betas[0] == 0.4 and math.isclose(betas[5], 0.7) and betas[10:] == [1.0] * 5
    assert linear_beta(3, 0.5, 1) == 1.0 and linear_beta(0, 0.5, 1) == 0.5


def test_new_items_enter_at_max_priority_and_duplicates_last_wins():
    buffer = filled_buffer([0.5, 4.0, 0.1])
    buffer.update_priorities(torch.tensor([2, 2]), torch.tensor([9.0, 0.2]))
    assert math.isclose(buffer.priorities[2], 0.2 + 1e-3, rel_tol=1e-6)
    assert math.isclose(buffer.max_priority, 9.0 + 1e-3, rel_tol=1e-6)
    buffer.push(1, x=torch.ones(1, 1))  # FIFO: overwrites slot 0 at the maximum priority
    assert math.isclose(buffer.priorities[0], 9.0 + 1e-3, rel_tol=1e-6) and buffer.task_ids[0] == 1


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_bad_losses_name_the_index(bad):
    buffer = filled_buffer([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"losses\[1\]"):
        buffer.update_priorities(torch.tensor([0, 2]), torch.tensor([0.5, bad]))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -0.5])
def test_bad_priorities_name_the_index(bad):
    buffer = ReplayBuffer(4)
    with pytest.raises(ValueError, match=r"priorities\[2\]"):
        buffer.push(0, priorities=torch.tensor([1.0, 0.0, bad]), x=torch.zeros(3, 1))
    with pytest.raises(ValueError, match=r"priorities\[0\]"):
        sampling_probabilities(torch.tensor([bad, 1.0]), 0.6)


def test_empty_buffer_and_bad_arguments():
    with pytest.raises(ValueError, match="empty replay buffer"):
        ReplayBuffer(4).sample(1)
    with pytest.raises(ValueError, match="capacity"):
        ReplayBuffer(0)
    with pytest.raises(ValueError, match="eviction"):
        ReplayBuffer(4, eviction="lifo")
    with pytest.raises(ValueError, match="alpha"):
        ReplayBuffer(4, alpha=float("nan"))
    with pytest.raises(ValueError, match="beta_start"):
        ReplayBuffer(4, beta_start=1.5)
    with pytest.raises(ValueError, match="eps"):
        ReplayBuffer(4, eps=0.0)
    buffer = filled_buffer([1.0, 2.0])
    with pytest.raises(ValueError, match="slots in use"):
        buffer.update_priorities(torch.tensor([2]), torch.tensor([1.0]))
    with pytest.raises(ValueError, match=r"losses must have shape \(2,\)"):
        buffer.update_priorities(torch.tensor([0, 1]), torch.tensor([1.0]))
    with pytest.raises(ValueError, match="shape"):
        buffer.push(0, x=torch.zeros(2, 3))
    with pytest.raises(ValueError, match="exactly"):
        buffer.push(0, x=torch.zeros(2, 1), y=torch.zeros(2, 1))
    with pytest.raises(ValueError, match="task_id"):
        buffer.push(torch.tensor([0, 1, 2]), x=torch.zeros(2, 1))


def test_episodes_keep_their_shapes_and_task_ids():
    task = make_main_stream(1, 64, 16, seed=0)[0]
    episodes = task.sample_episodes(6, 5, 3, make_generator(0))
    buffer = ReplayBuffer(10, eviction="fifo")
    buffer.push(torch.arange(6), **episodes)
    batch = buffer.sample(4)
    assert batch.items["context_x"].shape == (4, 5, task.train_x.shape[1])
    assert batch.items["query_y"].shape == (4, 3, 1)
    assert torch.equal(batch.task_ids, batch.indices)  # task id i was pushed into slot i
    assert torch.equal(batch.items["context_x"], episodes["context_x"][batch.indices])


def four_task_shares(policy: str, seed: int = 0) -> torch.Tensor:
    buffer = ReplayBuffer(400, alpha=0.0, eviction=policy, seed=seed)
    for task in range(4):
        for _ in range(20):
            buffer.push(task, x=torch.zeros(50, 1))
    return buffer.task_counts(4).double() / len(buffer)


def test_fifo_forgets_old_tasks_reservoir_and_balanced_keep_shares():
    assert torch.equal(four_task_shares("fifo"), torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=torch.float64))
    for seed in range(3):
        assert ((four_task_shares("reservoir", seed) - 0.25).abs() < 0.06).all()
    assert torch.equal(four_task_shares("balanced"), torch.full((4,), 0.25, dtype=torch.float64))


def test_balanced_equalises_unequal_tasks():
    buffer = ReplayBuffer(30, eviction="balanced", seed=1)
    for task, count in ((0, 100), (1, 7), (2, 40)):
        buffer.push(task, x=torch.zeros(count, 1))
    assert buffer.task_counts().tolist() == [12, 7, 11]  # task 1 keeps everything it has; the rest split


def test_reservoir_keeps_every_item_with_equal_probability():
    # 60 items offered in uneven batches to a 12-slot reservoir: each should be kept with probability 0.2
    kept = torch.zeros(60)
    runs = 600
    for seed in range(runs):
        generator, slots_of = make_generator(seed), torch.full((12,), -1)
        seen = 0
        for batch in (5, 11, 1, 20, 23):
            slots = reservoir_slots(seen, batch, 12, generator)
            for k, slot in enumerate(slots.tolist()):  # later items of a batch win a shared slot
                if slot >= 0:
                    slots_of[slot] = seen + k
            seen += batch
        kept[slots_of] += 1
    observed = kept.numpy()
    assert chisquare(observed, np.full(60, runs * 0.2)).pvalue > 1e-3


def test_buffer_probabilities_match_the_renormalised_ones():
    buffer = filled_buffer(LOSSES)
    probs = sampling_probabilities(torch.as_tensor(LOSSES) + 1e-3, 0.6).numpy()
    np.testing.assert_allclose(buffer.sum_tree.leaves / buffer.sum_tree.root, probs, rtol=1e-6)


def test_state_dict_round_trip_continues_identically():
    buffer = ReplayBuffer(8, alpha=0.6, eviction="reservoir", seed=4)
    for task in range(3):
        buffer.push(task, x=torch.randn(5, 2, generator=make_generator(task)))
    batch = buffer.sample(3)
    buffer.update_priorities(batch.indices, torch.tensor([0.0, 2.0, 0.5]))
    saved = io.BytesIO()
    torch.save(buffer.state_dict(), saved)
    saved.seek(0)
    restored = ReplayBuffer(8, alpha=0.6, eviction="reservoir", seed=99)
    restored.load_state_dict(torch.load(saved, weights_only=True))
    assert_tree_consistent(restored)
    np.testing.assert_array_equal(restored.sum_tree.nodes, buffer.sum_tree.nodes)
    for _ in range(3):
        a, b = buffer.sample(4), restored.sample(4)
        assert torch.equal(a.indices, b.indices) and torch.equal(a.items["x"], b.items["x"])
        assert torch.equal(a.weights, b.weights)
    assert torch.equal(buffer.push(1, x=torch.zeros(6, 2)), restored.push(1, x=torch.zeros(6, 2)))
    with pytest.raises(ValueError, match="settings"):
        ReplayBuffer(8, alpha=0.0).load_state_dict(buffer.state_dict())


@pytest.mark.parametrize(("step", "beta_steps", "name"), [
    (-1, 10, "step"), (1.5, 10, "step"), (True, 10, "step"),
    (0, 0, "beta_steps"), (0, -5, "beta_steps"), (0, 2.0, "beta_steps"), (0, None, "beta_steps"),
])
def test_linear_beta_rejects_bad_arguments(step, beta_steps, name):
    with pytest.raises(ValueError, match=name):
        linear_beta(step, 0.4, beta_steps)


def test_buffer_rejects_bad_beta_steps():
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="beta_steps"):
            ReplayBuffer(4, beta_steps=bad)
    assert ReplayBuffer(4, beta_steps=np.int64(7)).beta_steps == 7


@pytest.mark.parametrize("bad", [0.0, -0.1, float("nan"), float("inf")])
def test_importance_weights_reject_bad_probabilities_naming_the_index(bad):
    with pytest.raises(ValueError, match=r"probabilities\[2\]"):
        importance_weights(torch.tensor([0.2, 0.3, bad, 0.5]), 4, 0.5)
    with pytest.raises(ValueError, match=r"min_probability"):
        importance_weights(torch.tensor([0.2, 0.3]), 4, 0.5, min_probability=bad)


def test_priority_writes_keep_the_last_write_of_a_repeated_slot():
    buffer = filled_buffer([1.0, 2.0, 3.0, 4.0])
    slots = np.array([1, 3, 1, 1, 3] * 40)  # many duplicates: NumPy's own order would be undefined
    raw = np.arange(len(slots), dtype=np.float64) + 1.0
    buffer.sampler._write(slots, raw)
    assert buffer.priorities[1] == raw[-2] and buffer.priorities[3] == raw[-1]
    assert_tree_consistent(buffer)
    buffer.update_priorities(torch.tensor([0, 2, 0]), torch.tensor([5.0, 1.0, 0.25]))
    assert math.isclose(buffer.priorities[0], 0.25 + 1e-3) and math.isclose(buffer.priorities[2], 1.0 + 1e-3)
    assert_tree_consistent(buffer)


def test_weights_are_exact_with_replacement_and_approximate_without():
    """At beta = 1, E[w_i * (times i is drawn)] / (B * P_min) is 1 for every item with independent draws;
    without replacement the likeliest item falls clearly short of it."""
    losses, batch_size, batches = [0.2, 1.0, 3.0, 8.0], 3, 3000
    ratios = {}
    for replace in (True, False):
        buffer = filled_buffer(losses, alpha=1.0, seed=1)
        buffer.beta_start = 1.0
        total = np.zeros(len(losses))
        for _ in range(batches):
            batch = buffer.sample(batch_size, replace=replace)
            np.add.at(total, batch.indices.numpy(), batch.weights.double().numpy())
        p = buffer.sum_tree.leaves / buffer.sum_tree.root
        ratios[replace] = total / batches / (batch_size * p.min())
    np.testing.assert_allclose(ratios[True], 1.0, atol=0.08)
    assert ratios[False][-1] < 0.8, ratios  # the exact inclusion probability is far below B * P(i) here


def test_methods_added_in_later_cells_belong_to_one_class():
    for name in ("push", "sample", "update_priorities", "state_dict", "load_state_dict"):
        method = getattr(ReplayBuffer, name)
        assert method.__qualname__ == f"ReplayBuffer.{name}" and not hasattr(helpers.replay, name)
    assert helpers.replay.ReplayBuffer is ReplayBuffer and ReplayBuffer.__mro__ == (ReplayBuffer, object)
    for name in ("sample", "_draw_distinct"):
        assert getattr(PrioritySampler, name).__qualname__ == f"PrioritySampler.{name}"


# --- the sum-tree's walk and its rounding guard --------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(
    values=st.lists(st.one_of(st.just(0.0), st.floats(1e-6, 1e6)), min_size=1, max_size=70),
    fractions=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=40),
)
def test_walk_matches_searchsorted_and_never_ends_on_an_empty_leaf(values, fractions):
    tree = SumTree(len(values))
    tree.update(np.arange(len(values)), values)
    if tree.root == 0:
        return
    prefixes = np.array(fractions) * tree.root  # fraction 1.0: the prefix equals the total
    found = tree.find_prefix(prefixes)
    assert (tree.leaves[found] > 0).all()
    edges = np.cumsum(tree.leaves)
    inside = prefixes < edges[-1] * (1 - 1e-9)  # away from the total, where rounding decides
    expected = np.minimum(np.searchsorted(edges, prefixes, side="right"), len(values) - 1)
    close = np.abs(edges[np.minimum(expected, len(values) - 1)] - prefixes) < 1e-9 * edges[-1]
    np.testing.assert_array_equal(found[inside & ~close], expected[inside & ~close])


def test_tree_updates_of_any_batch_size_match_a_rebuild():
    rng = np.random.default_rng(5)
    for capacity in (1, 2, 3, 7, 64, 100, 1000):
        sums, mins = SumTree(capacity), MinTree(capacity)
        values = np.zeros(capacity)
        for batch in (1, 3, 64, 200, capacity):
            slots = rng.choice(capacity, min(batch, capacity), replace=False)
            new = rng.random(len(slots))
            sums.update(slots, new)
            mins.update(slots, new)
            values[slots] = new
            assert math.isclose(sums.root, math.fsum(values), rel_tol=1e-12, abs_tol=1e-300)
            inner = np.arange(1, sums.size)
            np.testing.assert_array_equal(sums.nodes[inner], sums.nodes[2 * inner] + sums.nodes[2 * inner + 1])
            children = np.minimum(mins.nodes[2 * inner], mins.nodes[2 * inner + 1])
            np.testing.assert_array_equal(mins.nodes[inner], children)


# --- probabilities and weights: safe numbers ----------------------------------------------------------------


def test_huge_priorities_give_finite_probabilities():
    assert sampling_probabilities(torch.tensor([1e308, 1e308], dtype=torch.float64), 1.0).tolist() == [0.5, 0.5]
    p = sampling_probabilities(torch.tensor([1e-300, 1e300], dtype=torch.float64), 1.0)
    assert torch.isfinite(p).all() and p.sum() == 1.0
    buffer = ReplayBuffer(4, alpha=1.0)
    buffer.push(0, priorities=torch.full((4,), MAX_PRIORITY / 2, dtype=torch.float64), x=torch.zeros(4, 1))
    batch = buffer.sample(4)
    assert torch.isfinite(batch.probabilities).all() and torch.isfinite(batch.weights).all()
    with pytest.raises(ValueError, match="priorities"):
        buffer.push(0, priorities=torch.tensor([1e200], dtype=torch.float64), x=torch.zeros(1, 1))
    with pytest.raises(ValueError, match=r"losses\[0\].*diverged"):
        buffer.update_priorities(torch.tensor([0]), torch.tensor([1e150], dtype=torch.float64))


def test_importance_weights_use_num_items_and_never_exceed_one():
    p = torch.tensor([0.1, 0.4])
    with pytest.raises(ValueError, match="min_probability is needed"):
        importance_weights(p, 10, 1.0)  # two of ten items: their minimum need not be the buffer's
    with pytest.raises(ValueError, match="smallest probability"):
        importance_weights(p, 10, 1.0, min_probability=0.2)  # larger than P = 0.1: weights above 1
    with pytest.raises(ValueError, match="<= 1/10"):
        importance_weights(torch.tensor([0.5]), 10, 1.0, min_probability=0.5)
    w = importance_weights(p, 10, 1.0, min_probability=0.05)
    assert torch.allclose(w, torch.tensor([0.5, 0.125], dtype=torch.float64)) and w.max() <= 1
    raw = importance_weights(p, 10, 1.0, normalise=False)
    assert torch.allclose(raw, 1 / (10 * p.double()))
    with pytest.raises(ValueError, match="num_items"):
        importance_weights(p, 0, 1.0, min_probability=0.05)


def test_linear_beta_can_end_anywhere():
    assert linear_beta(0, 0.0, 10, beta_end=0.0) == 0.0 and linear_beta(50, 0.0, 10, beta_end=0.0) == 0.0
    assert math.isclose(linear_beta(5, 0.2, 10, beta_end=0.6), 0.4)
    buffer = ReplayBuffer(4, beta_start=0.0, beta_end=0.0)
    buffer.push(0, x=torch.zeros(4, 1))
    buffer.update_priorities(torch.arange(4), torch.tensor([0.1, 1.0, 2.0, 3.0]))
    assert torch.equal(buffer.sample(3).weights, torch.ones(3))  # beta = 0: no correction


# --- the sampler on its own ---------------------------------------------------------------------------------


def test_priority_sampler_on_an_external_store():
    sampler = PrioritySampler(8, alpha=1.0, eps=1e-3)
    with pytest.raises(ValueError, match="no slot is in use"):
        sampler.sample(1, make_generator(0))
    sampler.add([1, 4, 6], torch.tensor([1.0, 3.0, 0.0]))
    assert len(sampler) == 3
    indices, probabilities, weights = sampler.sample(30_000, make_generator(0), beta=1.0, replace=True)
    shares = np.bincount(indices.numpy(), minlength=8) / 30_000
    expected = np.zeros(8)
    expected[[1, 4, 6]] = np.array([1.001, 3.001, 0.001]) / 4.003
    np.testing.assert_allclose(shares, expected, atol=0.015)
    assert weights.max() == 1.0
    np.testing.assert_allclose(probabilities.numpy(), expected[indices.numpy()])
    assert sorted(sampler.sample(3, make_generator(1))[0].tolist()) == [1, 4, 6]
    sampler.add([1])  # re-adding a slot in use overwrites it at the largest priority so far
    assert len(sampler) == 3 and sampler.priorities[1] == sampler.max_priority


def test_distinct_draws_from_a_skewed_sampler_restore_the_tree():
    sampler = PrioritySampler(50, alpha=1.0)
    sampler.add(np.arange(50), np.r_[1e4, np.full(49, 1e-3)])  # one slot holds almost all the mass
    before = sampler.sum_tree.nodes.copy()
    for k in range(20):
        indices = sampler.sample(50, make_generator(k))[0]
        assert sorted(indices.tolist()) == list(range(50))
    np.testing.assert_array_equal(sampler.sum_tree.nodes, before)


# --- fail before mutate -------------------------------------------------------------------------------------


def snapshot(buffer: ReplayBuffer) -> dict:
    """The buffer's state dict (its generator state included), copied."""
    return copy.deepcopy(buffer.state_dict())


def equal(a, b) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    return type(a) is type(b) and a == b


def same(buffer: ReplayBuffer, before: dict) -> bool:
    """Whether the buffer's state, generator included, is exactly ``before``."""
    return equal(snapshot(buffer), before)


def filled_state(eviction="reservoir", seed=4):
    buffer = ReplayBuffer(8, alpha=0.6, eviction=eviction, seed=seed)
    for task in range(3):
        buffer.push(task, x=torch.randn(5, 2, generator=make_generator(task)))
    buffer.update_priorities(buffer.sample(3).indices, torch.tensor([0.0, 2.0, 0.5]))
    return buffer


def corrupt(state: dict, path: tuple, value) -> dict:
    state = {k: (dict(v) if isinstance(v, dict) else v) for k, v in state.items()}
    target = state
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return state


CORRUPTIONS = [
    ("counters larger than the capacity", ("counters", "size"), 9),
    ("num_seen below size", ("counters", "num_seen"), 3),
    ("size that reservoir could not hold", ("counters", "size"), 7),
    ("negative num_sampled", ("counters", "num_sampled"), -1),
    ("float counter", ("counters", "num_sampled"), 2.0),
    ("NaN priority", ("priorities",), torch.tensor([1.0, math.nan] + [1.0] * 6, dtype=torch.float64)),
    ("negative priority", ("priorities",), torch.tensor([-1.0] + [1.0] * 7, dtype=torch.float64)),
    ("zero priority of a held item", ("priorities",), torch.tensor([0.0] + [1.0] * 7, dtype=torch.float64)),
    ("float32 priorities", ("priorities",), torch.ones(8)),
    ("wrong priority shape", ("priorities",), torch.ones(7, dtype=torch.float64)),
    ("max_priority below a priority", ("max_priority",), 1.0),
    ("NaN max_priority", ("max_priority",), math.nan),
    ("NaN item", ("storage",), {"x": torch.full((8, 2), math.nan)}),
    ("storage of the wrong length", ("storage",), {"x": torch.zeros(7, 2)}),
    ("storage that is not a dict", ("storage",), [torch.zeros(8, 2)]),
    ("negative task id", ("task_ids",), torch.tensor([-2] * 8)),
    ("float task ids", ("task_ids",), torch.zeros(8)),
    ("bad generator", ("generator",), torch.zeros(3, dtype=torch.uint8)),
    ("other settings", ("config", "alpha"), 0.5),
    ("missing key", ("max_priority",), KeyError),
    ("extra key", ("extra",), 1),
]


@pytest.mark.parametrize(("what", "path", "value"), CORRUPTIONS, ids=[c[0] for c in CORRUPTIONS])
def test_corrupt_state_is_rejected_before_anything_changes(what, path, value):
    good = filled_state()
    target = filled_state(seed=9)
    target.push(1, x=torch.ones(2, 2))
    before = snapshot(target)
    with pytest.raises(ValueError, match="state"):
        target.load_state_dict(corrupt(good.state_dict(), path, value))
    assert same(target, before), what


def test_states_saved_before_beta_end_existed_still_load():
    state = filled_state().state_dict()
    del state["config"]["beta_end"]
    restored = ReplayBuffer(8, alpha=0.6, eviction="reservoir")
    restored.load_state_dict(state)
    assert restored.size == 8


def bad_calls(buffer: ReplayBuffer):
    """(name, call) pairs that must raise ValueError/TypeError naming the argument, and change nothing."""
    x = torch.zeros(2, 2)
    return [
        ("item", lambda: buffer.push(0, x=torch.full((2, 2), math.nan))),
        ("item", lambda: buffer.push(0, x=torch.zeros(2, 3))),
        ("item", lambda: buffer.push(0, x=torch.zeros(2, 2, dtype=torch.float64))),
        ("items must be exactly", lambda: buffer.push(0, x=x, y=x)),
        ("task_id", lambda: buffer.push(-1, x=x)),
        ("task_id", lambda: buffer.push("0", x=x)),
        ("task_id", lambda: buffer.push(torch.tensor([0, 1, 2]), x=x)),
        ("priorities", lambda: buffer.push(0, priorities=torch.tensor([1.0, math.nan]), x=x)),
        ("priorities", lambda: buffer.push(0, priorities=torch.tensor([1.0]), x=x)),
        ("batch_size", lambda: buffer.sample(0)),
        ("batch_size", lambda: buffer.sample(10**9)),
        ("batch_size", lambda: buffer.sample(2.0)),
        ("replace", lambda: buffer.sample(2, replace="yes")),
        ("without replacement", lambda: buffer.sample(len(buffer) + 1, replace=False)),
        ("generator", lambda: buffer.sample(2, generator=3)),
        ("indices", lambda: buffer.update_priorities(torch.tensor([len(buffer)]), torch.tensor([1.0]))),
        ("indices", lambda: buffer.update_priorities(torch.tensor([0.5]), torch.tensor([1.0]))),
        ("losses", lambda: buffer.update_priorities(torch.tensor([0, 1]), torch.tensor([1.0, math.inf]))),
        ("losses", lambda: buffer.update_priorities(torch.tensor([0, 1]), torch.tensor([1.0]))),
        ("state", lambda: buffer.load_state_dict({"config": buffer._config()})),
    ]


operations = st.lists(st.tuples(st.sampled_from(["push", "sample", "update", "bad"]), st.integers(0, 10**6)),
                      min_size=1, max_size=30)


@settings(max_examples=40, deadline=None)
@given(policy=st.sampled_from(EVICTION_POLICIES), capacity=st.integers(2, 12), ops=operations)
def test_any_call_that_raises_leaves_state_and_generator_unchanged(policy, capacity, ops):
    buffer = ReplayBuffer(capacity, alpha=0.6, eviction=policy, seed=1)
    buffer.push(0, x=torch.zeros(2, 2))
    for op, draw in ops:
        if op == "push":
            count = 1 + draw % 5
            buffer.push(draw % 3, x=torch.full((count, 2), float(draw)))
        elif op == "sample":
            buffer.sample(1 + draw % len(buffer))
        elif op == "update":
            buffer.update_priorities(torch.tensor([draw % len(buffer)]), torch.tensor([draw / 1e5]))
        else:
            calls = bad_calls(buffer)
            name, call = calls[draw % len(calls)]
            before = snapshot(buffer)
            with pytest.raises((ValueError, TypeError), match=name):
                call()
            assert same(buffer, before), name
        assert_tree_consistent(buffer)


# --- the public API refuses bad input clearly ---------------------------------------------------------------


def public_bad_inputs():
    """(argument name, call) pairs: every one must raise ValueError or TypeError whose message names it."""
    buffer = filled_state()
    g = make_generator(0)
    sampler = PrioritySampler(4)
    sampler.add([0, 1], [1.0, 2.0])
    cases = [
        ("capacity", lambda: SegmentTree(0)), ("capacity", lambda: SumTree(2.5)), ("capacity", lambda: MinTree(True)),
        ("capacity", lambda: SumTree(2**40)),
        ("indices", lambda: SumTree(4).update([4], [1.0])), ("indices", lambda: SumTree(4).update([-1], [1.0])),
        ("indices", lambda: SumTree(4).update([0.5], [1.0])), ("indices", lambda: SumTree(4).update("0", [1.0])),
        ("values", lambda: SumTree(4).update([0], [math.nan])), ("values", lambda: SumTree(4).update([0], [-1.0])),
        ("values", lambda: SumTree(4).update([0], [math.inf])),
        ("values", lambda: SumTree(4).update([0, 1], [1.0] * 3)),
        ("prefix", lambda: filled_state().sum_tree.find_prefix([-1.0])),
        ("losses", lambda: buffer.update_priorities(torch.tensor([0, 1]), torch.tensor(0.5))),  # last axis dropped
        ("losses", lambda: buffer.update_priorities(torch.tensor([0, 1]), torch.tensor([1, 2]))),  # int64
        ("storage", lambda: buffer.load_state_dict(
            buffer.state_dict() | {"storage": {k: v.double() for k, v in buffer.state_dict()["storage"].items()}})),
        ("prefix", lambda: filled_state().sum_tree.find_prefix([math.nan])),
        ("prefix", lambda: filled_state().sum_tree.find_prefix([1e9])),
        ("empty", lambda: SumTree(4).find_prefix([0.0])),
        ("priorities", lambda: sampling_probabilities(torch.tensor([1.0, math.nan]), 0.5)),
        ("priorities", lambda: sampling_probabilities(torch.tensor([0.0, 1.0]), 0.5)),
        ("priorities", lambda: sampling_probabilities(torch.tensor([]), 0.5)),
        ("priorities", lambda: sampling_probabilities([1.0, 2.0], 0.5)),
        ("priorities", lambda: sampling_probabilities(torch.ones(2, 2), 0.5)),
        ("alpha", lambda: sampling_probabilities(torch.ones(2), 1.5)),
        ("alpha", lambda: sampling_probabilities(torch.ones(2), math.nan)),
        ("alpha", lambda: sampling_probabilities(torch.ones(2), "0.5")),
        ("probabilities", lambda: importance_weights(torch.tensor([1.5]), 1, 0.5)),
        ("probabilities", lambda: importance_weights(torch.tensor([math.nan]), 1, 0.5)),
        ("num_items", lambda: importance_weights(torch.tensor([0.5]), -3, 0.5)),
        ("num_items", lambda: importance_weights(torch.tensor([0.5]), 2.0, 0.5)),
        ("beta", lambda: importance_weights(torch.tensor([0.5]), 2, 2.0)),
        ("min_probability", lambda: importance_weights(torch.tensor([0.5]), 2, 0.5, min_probability=math.inf)),
        ("normalise", lambda: importance_weights(torch.tensor([0.5, 0.5]), 2, 0.5, normalise="no")),
        ("step", lambda: linear_beta(-1)), ("step", lambda: linear_beta("3")),
        ("beta_start", lambda: linear_beta(0, 2.0)),
        ("beta_steps", lambda: linear_beta(0, 0.4, 0)), ("beta_steps", lambda: linear_beta(0, 0.4, 10**12)),
        ("beta_end", lambda: linear_beta(0, 0.4, 10, beta_end=-0.1)),
        ("capacity", lambda: PrioritySampler(0)), ("alpha", lambda: PrioritySampler(4, alpha=-1)),
        ("eps", lambda: PrioritySampler(4, eps=0.0)), ("eps", lambda: PrioritySampler(4, eps=math.nan)),
        ("slots", lambda: sampler.add([9])), ("losses", lambda: sampler.add([2], [math.nan])),
        ("losses", lambda: sampler.add([0], [1e300])),
        ("batch_size", lambda: sampler.sample(0, g)), ("generator", lambda: sampler.sample(1, None)),
        ("beta", lambda: sampler.sample(1, g, beta=3)), ("replace", lambda: sampler.sample(1, g, replace=1)),
        ("num_seen", lambda: fifo_slots(-1, 2, 4)), ("batch", lambda: fifo_slots(0, 0, 4)),
        ("capacity", lambda: fifo_slots(0, 2, 0)), ("num_seen", lambda: reservoir_slots(1.5, 2, 4, g)),
        ("generator", lambda: reservoir_slots(0, 2, 4, "g")),
        ("stored_tasks", lambda: balanced_slots(torch.zeros(4), 0, torch.zeros(2, dtype=torch.long), 4, g)),
        ("incoming_tasks", lambda: balanced_slots(torch.zeros(4, dtype=torch.long), 0, torch.tensor([-1]), 4, g)),
        ("size", lambda: balanced_slots(torch.zeros(4, dtype=torch.long), 5, torch.zeros(1, dtype=torch.long), 4, g)),
        ("cls", lambda: extend_class(3)),
        ("capacity", lambda: ReplayBuffer(0)), ("capacity", lambda: ReplayBuffer(2**30)),
        ("alpha", lambda: ReplayBuffer(4, alpha=math.nan)), ("beta_start", lambda: ReplayBuffer(4, beta_start=1.5)),
        ("beta_steps", lambda: ReplayBuffer(4, beta_steps=0)), ("eps", lambda: ReplayBuffer(4, eps=-1.0)),
        ("eviction", lambda: ReplayBuffer(4, eviction="lifo")), ("seed", lambda: ReplayBuffer(4, seed="3")),
        ("seed", lambda: ReplayBuffer(4, seed=-1)), ("seed", lambda: ReplayBuffer(4, seed=2**64)),
        ("seed", lambda: ReplayBuffer(4, seed=1.7)), ("seed", lambda: ReplayBuffer(4, seed=True)),
        ("device", lambda: ReplayBuffer(4, device="gpu")), ("beta_end", lambda: ReplayBuffer(4, beta_end=2)),
        ("num_tasks", lambda: buffer.task_counts(-1)),
        ("push needs", lambda: buffer.push(0)), ("item", lambda: buffer.push(0, x=[1.0, 2.0])),
        ("item", lambda: buffer.push(0, x=torch.tensor(1.0))),
    ]
    return cases


def test_every_bad_input_to_the_public_api_is_refused_naming_the_argument():
    cases = public_bad_inputs()
    unclear = []
    for name, call in cases:
        try:
            call()
        except (ValueError, TypeError) as error:
            if name not in str(error):
                unclear.append((name, f"{type(error).__name__}: {error}"))
        except Exception as error:  # an obscure error is what this test looks for
            unclear.append((name, f"{type(error).__name__}: {error}"))
        else:
            unclear.append((name, "accepted silently"))
    assert not unclear, unclear
    assert len(cases) >= 70


def test_wrong_types_raise_argument_type_errors():
    for call in (lambda: ReplayBuffer("8"), lambda: linear_beta(None), lambda: SumTree(4).update("0", [1.0])):
        with pytest.raises(ArgumentTypeError):
            call()


@pytest.mark.parametrize("capacity", [3, 5000], ids=["keys (small store)", "walks (large store)"])
def test_both_ways_of_drawing_distinct_slots_are_successive_sampling(capacity):
    sampler = PrioritySampler(capacity, alpha=1.0, eps=1e-3)
    sampler.add([0, 1, 2], torch.tensor([0.1, 1.0, 3.0]))
    generator = make_generator(21)
    pairs = np.stack([sampler._draw_distinct(2, generator) for _ in range(4000)])
    p = np.array([0.101, 1.001, 3.001]) / 4.103
    exact = {(i, j): p[i] * p[j] / (1 - p[i]) for i in range(3) for j in range(3) if i != j}
    observed = np.array([((pairs[:, 0] == i) & (pairs[:, 1] == j)).sum() for i, j in exact])
    assert chisquare(observed, np.array(list(exact.values())) * len(pairs)).pvalue > 1e-3
    assert sorted(sampler._draw_distinct(3, generator).tolist()) == [0, 1, 2]


def test_state_round_trips_through_the_checkpoint_module(tmp_path):
    from helpers.checkpoint import load_state, save_state

    buffer = filled_state()
    save_state(tmp_path / "buffer.safetensors", buffer.state_dict())
    state, _ = load_state(tmp_path / "buffer.safetensors")
    restored = ReplayBuffer(8, alpha=0.6, eviction="reservoir")
    restored.load_state_dict(state)
    assert torch.equal(restored.sample(4).indices, buffer.sample(4).indices)
    np.testing.assert_array_equal(restored.sum_tree.nodes, buffer.sum_tree.nodes)
