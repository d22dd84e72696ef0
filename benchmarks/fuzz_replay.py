"""Bad input to `helpers.replay`'s public API: is it refused clearly, and does a refusal change nothing?

Usage: python benchmarks/fuzz_replay.py            (from the repository root)

Feeds about 120 bad inputs (wrong types, NaN and infinities, wrong shapes and dtypes, out-of-range and
huge counts, corrupt saved states) to the public functions and classes of `helpers.replay`, using only
the calls that existed before the validation vocabulary (so the same script measures an older checkout:
`PYTHONPATH=<old checkout> python benchmarks/fuzz_replay.py`). Each input is classed as

* clear: ValueError or TypeError whose message names the argument (or, for valid but extreme input such
  as priorities of 1e308, the right answer);
* obscure: any other exception, or a message that does not name the argument;
* silent: no exception (a bad value accepted, or garbage returned);
* hang: still running after 5 s (stopped by an alarm);

and, for calls on a buffer, non-atomic when it raised but the buffer's state dict or generator changed.
Prints one line per input that is not clear and a table of counts.
"""

from __future__ import annotations

import copy
import math
import signal
import sys
from collections import Counter

import torch

import helpers.replay as replay
from helpers.foundations import make_generator, make_main_stream, make_mlp

TIMEOUT_S = 5
HANDLED = "handled"  # a case returns this when valid-but-extreme input gave the right answer


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang


def equal(a, b) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    return type(a) is type(b) and (a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b)))


def filled_buffer() -> replay.ReplayBuffer:
    buffer = replay.ReplayBuffer(8, alpha=0.6, eviction="reservoir", seed=4)
    for task in range(3):
        buffer.push(task, x=torch.randn(5, 2, generator=make_generator(task)), y=torch.zeros(5, 1))
    buffer.update_priorities(buffer.sample(3).indices, torch.tensor([0.0, 2.0, 0.5]))
    return buffer


def corrupted(path: tuple, value) -> dict:
    state = copy.deepcopy(filled_buffer().state_dict())
    target = state
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return state


def cases():
    """(argument name, call, takes_buffer) triples; takes_buffer: the call gets a fresh buffer to act on."""
    g = make_generator(0)
    stream = make_main_stream(2, 16, 8, seed=0)
    model = make_mlp(stream.input_dim, hidden=4, seed=0)
    sgd = torch.optim.SGD(model.parameters(), lr=0.1)
    xy = {"x": torch.zeros(2, stream.input_dim), "y": torch.zeros(2, 1)}
    nan, inf = math.nan, math.inf
    free = [
        ("capacity", lambda: replay.SumTree(0)), ("capacity", lambda: replay.SumTree(2.5)),
        ("capacity", lambda: replay.MinTree(True)), ("capacity", lambda: replay.SumTree("4")),
        ("capacity", lambda: replay.SumTree(2**40)),
        ("indices", lambda: replay.SumTree(4).update([4], [1.0])),
        ("indices", lambda: replay.SumTree(4).update([-1], [1.0])),
        ("indices", lambda: replay.SumTree(4).update([0.5], [1.0])),
        ("values", lambda: replay.SumTree(4).update([0], [nan])),
        ("values", lambda: replay.SumTree(4).update([0], [-1.0])),
        ("values", lambda: replay.SumTree(4).update([0], [inf])),
        ("values", lambda: replay.SumTree(4).update([0, 1], [1.0] * 3)),
        ("prefix", lambda: filled_buffer().sum_tree.find_prefix([-1.0])),
        ("prefix", lambda: filled_buffer().sum_tree.find_prefix([nan])),
        ("prefix", lambda: filled_buffer().sum_tree.find_prefix([1e9])),
        ("priorities", lambda: replay.sampling_probabilities(torch.tensor([1.0, nan]), 0.5)),
        ("priorities", lambda: replay.sampling_probabilities(torch.tensor([0.0, 1.0]), 0.5)),
        ("priorities", lambda: replay.sampling_probabilities(torch.tensor([]), 0.5)),
        ("priorities", lambda: replay.sampling_probabilities(torch.ones(2, 2), 0.5)),
        ("priorities", lambda: HANDLED if replay.sampling_probabilities(
            torch.tensor([1e308, 1e308], dtype=torch.float64), 1.0).tolist() == [0.5, 0.5] else "garbage"),
        ("alpha", lambda: replay.sampling_probabilities(torch.ones(2), 1.5)),
        ("alpha", lambda: replay.sampling_probabilities(torch.ones(2), nan)),
        ("alpha", lambda: replay.sampling_probabilities(torch.ones(2), "0.5")),
        ("alpha", lambda: replay.sampling_probabilities(torch.ones(2), True)),
        ("probabilities", lambda: replay.importance_weights(torch.tensor([1.5]), 1, 0.5)),
        ("probabilities", lambda: replay.importance_weights(torch.tensor([nan]), 1, 0.5)),
        ("probabilities", lambda: replay.importance_weights(torch.tensor([0.0, 0.5]), 2, 0.5)),
        ("num_items", lambda: replay.importance_weights(torch.tensor([0.5]), -3, 0.5)),
        ("num_items", lambda: replay.importance_weights(torch.tensor([0.5]), 2.0, 0.5)),
        ("num_items", lambda: replay.importance_weights(torch.tensor([0.5]), "2", 0.5)),
        ("min_probability", lambda: replay.importance_weights(torch.tensor([0.1, 0.4]), 10, 1.0)),  # weights > 1
        ("min_probability", lambda: replay.importance_weights(torch.tensor([0.1, 0.4]), 10, 1.0, min_probability=0.2)),
        ("min_probability", lambda: replay.importance_weights(torch.tensor([0.5]), 2, 0.5, min_probability=inf)),
        ("beta", lambda: replay.importance_weights(torch.tensor([0.5]), 2, 2.0)),
        ("beta", lambda: replay.importance_weights(torch.tensor([0.5]), 2, nan)),
        ("step", lambda: replay.linear_beta(-1)), ("step", lambda: replay.linear_beta("3")),
        ("step", lambda: replay.linear_beta(1.5)), ("beta_start", lambda: replay.linear_beta(0, 2.0)),
        ("beta_start", lambda: replay.linear_beta(0, nan)), ("beta_steps", lambda: replay.linear_beta(0, 0.4, 0)),
        ("beta_steps", lambda: replay.linear_beta(0, 0.4, 10**12)),
        ("num_seen", lambda: replay.fifo_slots(-1, 2, 4)), ("batch", lambda: replay.fifo_slots(0, 0, 4)),
        ("batch", lambda: replay.fifo_slots(0, 10**12, 4)), ("capacity", lambda: replay.fifo_slots(0, 2, 0)),
        ("num_seen", lambda: replay.reservoir_slots(1.5, 2, 4, g)),
        ("generator", lambda: replay.reservoir_slots(0, 2, 4, "g")),
        ("capacity", lambda: replay.reservoir_slots(0, 2, -4, g)),
        ("stored_tasks", lambda: replay.balanced_slots(torch.zeros(4), 0, torch.zeros(2, dtype=torch.long), 4, g)),
        ("incoming_tasks", lambda: replay.balanced_slots(torch.zeros(4, dtype=torch.long), 0, torch.tensor([-1]), 4,
                                                         g)),
        ("size", lambda: replay.balanced_slots(torch.zeros(4, dtype=torch.long), 5, torch.zeros(1, dtype=torch.long),
                                               4, g)),
        ("capacity", lambda: replay.ReplayBuffer(0)), ("capacity", lambda: replay.ReplayBuffer(2**30)),
        ("capacity", lambda: replay.ReplayBuffer("8")), ("alpha", lambda: replay.ReplayBuffer(4, alpha=nan)),
        ("alpha", lambda: replay.ReplayBuffer(4, alpha=-0.5)),
        ("beta_start", lambda: replay.ReplayBuffer(4, beta_start=1.5)),
        ("beta_steps", lambda: replay.ReplayBuffer(4, beta_steps=0)),
        ("beta_steps", lambda: replay.ReplayBuffer(4, beta_steps=2.5)),
        ("eps", lambda: replay.ReplayBuffer(4, eps=-1.0)), ("eps", lambda: replay.ReplayBuffer(4, eps=inf)),
        ("eviction", lambda: replay.ReplayBuffer(4, eviction="lifo")),
        ("eviction", lambda: replay.ReplayBuffer(4, eviction=3)),
        ("seed", lambda: replay.ReplayBuffer(4, seed="3")), ("seed", lambda: replay.ReplayBuffer(4, seed=-1)),
        ("seed", lambda: replay.ReplayBuffer(4, seed=2**64)), ("seed", lambda: replay.ReplayBuffer(4, seed=1.7)),
        ("seed", lambda: replay.ReplayBuffer(4, seed=True)), ("seed", lambda: replay.ReplayBuffer(4, seed=None)),
        ("device", lambda: replay.ReplayBuffer(4, device="gpu")), ("device", lambda: replay.ReplayBuffer(4, device=3)),
        ("items", lambda: replay.regression_losses(model, [torch.zeros(2)])),
        ("y", lambda: replay.regression_losses(model, {"x": torch.zeros(5, stream.input_dim), "y": torch.zeros(5, 2)})),
        ("y", lambda: replay.regression_losses(model, {"x": torch.zeros(5, stream.input_dim), "y": torch.zeros(4, 1)})),
        ("replay_weight", lambda: replay.replay_step(model, sgd, replay.regression_losses, xy, None, 2,
                                                     replay_weight=1.5)),
        ("replay_weight", lambda: replay.replay_step(model, sgd, replay.regression_losses, xy, None, 2,
                                                     replay_weight=nan)),
        ("optimizer", lambda: replay.replay_step(model, None, replay.regression_losses, xy, None, 2)),
        ("loss_fn", lambda: replay.replay_step(model, sgd, None, xy, None, 2)),
        ("current", lambda: replay.replay_step(model, sgd, replay.regression_losses, [1], None, 2)),
        ("model", lambda: replay.train_with_replay(None, stream)),
        ("stream", lambda: replay.train_with_replay(model, [1, 2])),
        ("steps_per_task", lambda: replay.train_with_replay(model, stream, steps_per_task=10**7)),
        ("steps_per_task", lambda: replay.train_with_replay(model, stream, steps_per_task=0)),
        ("batch_size", lambda: replay.train_with_replay(model, stream, batch_size=0)),
        ("batch_size", lambda: replay.train_with_replay(model, stream, batch_size=10**9)),
        ("lr", lambda: replay.train_with_replay(model, stream, lr=nan)),
        ("lr", lambda: replay.train_with_replay(model, stream, lr=-1.0)),
        ("seed", lambda: replay.train_with_replay(model, stream, seed="0")),
        ("buffer", lambda: replay.train_with_replay(model, stream, buffer="yes")),
        ("device", lambda: replay.train_with_replay(model, stream, device="gpu")),
        ("priorities", lambda: replay.RenormalisingSampler(torch.tensor([nan]))),
        ("alpha", lambda: replay.RenormalisingSampler(torch.ones(3), alpha=2.0)),
        ("batch_size", lambda: replay.RenormalisingSampler(torch.ones(3)).sample(4, g)),
        ("generator", lambda: replay.RenormalisingSampler(torch.ones(3)).sample(2, None)),
        ("indices", lambda: replay.RenormalisingSampler(torch.ones(3)).update_priorities(torch.tensor([3]),
                                                                                        torch.ones(1))),
        ("losses", lambda: replay.RenormalisingSampler(torch.ones(3)).update_priorities(torch.tensor([0]),
                                                                                       torch.tensor([nan]))),
    ]
    on_buffer = [
        ("item", lambda b: b.push(0, x=torch.full((2, 2), nan), y=torch.zeros(2, 1))),
        ("item", lambda b: b.push(0, x=torch.zeros(2, 3), y=torch.zeros(2, 1))),
        ("item", lambda b: b.push(0, x=torch.zeros(2, 2, dtype=torch.float64), y=torch.zeros(2, 1))),
        ("item", lambda b: b.push(0, x=[[0.0, 0.0]], y=torch.zeros(1, 1))),
        ("item", lambda b: b.push(0, x=torch.tensor(1.0), y=torch.zeros(1, 1))),
        ("items", lambda b: b.push(0, x=torch.zeros(2, 2))),
        ("push", lambda b: b.push(0)),
        ("task_id", lambda b: b.push(-1, x=torch.zeros(2, 2), y=torch.zeros(2, 1))),
        ("task_id", lambda b: b.push("0", x=torch.zeros(2, 2), y=torch.zeros(2, 1))),
        ("task_id", lambda b: b.push(1.5, x=torch.zeros(2, 2), y=torch.zeros(2, 1))),
        ("task_id", lambda b: b.push(10**12, x=torch.zeros(2, 2), y=torch.zeros(2, 1))),
        ("task_id", lambda b: b.push(torch.tensor([0, 1, 2]), x=torch.zeros(2, 2), y=torch.zeros(2, 1))),
        ("priorities", lambda b: b.push(0, priorities=torch.tensor([1.0, nan]), x=torch.zeros(2, 2),
                                        y=torch.zeros(2, 1))),
        ("priorities", lambda b: b.push(0, priorities=torch.tensor([1.0]), x=torch.zeros(2, 2), y=torch.zeros(2, 1))),
        ("priorities", lambda b: b.push(0, priorities=torch.tensor([1e300, 1.0], dtype=torch.float64),
                                        x=torch.zeros(2, 2), y=torch.zeros(2, 1))),
        ("batch_size", lambda b: b.sample(0)), ("batch_size", lambda b: b.sample(10**9)),
        ("batch_size", lambda b: b.sample(2.0)), ("batch_size", lambda b: b.sample("2")),
        ("replace", lambda b: b.sample(2, replace="yes")),
        ("replacement", lambda b: b.sample(9, replace=False)),
        ("generator", lambda b: b.sample(2, generator=3)),
        ("indices", lambda b: b.update_priorities(torch.tensor([8]), torch.tensor([1.0]))),
        ("indices", lambda b: b.update_priorities(torch.tensor([0.5]), torch.tensor([1.0]))),
        ("indices", lambda b: b.update_priorities("0", torch.tensor([1.0]))),
        ("losses", lambda b: b.update_priorities(torch.tensor([0, 1]), torch.tensor([1.0, inf]))),
        ("losses", lambda b: b.update_priorities(torch.tensor([0, 1]), torch.tensor([1.0]))),
        ("losses", lambda b: b.update_priorities(torch.tensor([0]), torch.tensor([1e300], dtype=torch.float64))),
        ("state", lambda b: b.load_state_dict(corrupted(("counters", "size"), 9))),
        ("state", lambda b: b.load_state_dict(corrupted(("counters", "num_seen"), 3))),
        ("state", lambda b: b.load_state_dict(corrupted(("counters", "num_sampled"), -1))),
        ("state", lambda b: b.load_state_dict(corrupted(("priorities",),
                                                        torch.tensor([1.0, nan] + [1.0] * 6, dtype=torch.float64)))),
        ("state", lambda b: b.load_state_dict(corrupted(("priorities",),
                                                        torch.tensor([-1.0] + [1.0] * 7, dtype=torch.float64)))),
        ("state", lambda b: b.load_state_dict(corrupted(("priorities",), torch.ones(7, dtype=torch.float64)))),
        ("state", lambda b: b.load_state_dict(corrupted(("max_priority",), nan))),
        ("state", lambda b: b.load_state_dict(corrupted(("storage",), {"x": torch.full((8, 2), nan),
                                                                        "y": torch.zeros(8, 1)}))),
        ("state", lambda b: b.load_state_dict(corrupted(("storage",), {"x": torch.zeros(7, 2),
                                                                        "y": torch.zeros(7, 1)}))),
        ("state", lambda b: b.load_state_dict(corrupted(("task_ids",), torch.tensor([-2] * 8)))),
        ("state", lambda b: b.load_state_dict(corrupted(("task_ids",), torch.zeros(8)))),
        ("state", lambda b: b.load_state_dict(corrupted(("generator",), torch.zeros(3, dtype=torch.uint8)))),
        ("state", lambda b: b.load_state_dict({"config": b.state_dict()["config"]})),
        ("state", lambda b: b.load_state_dict(None)),
        ("current", lambda b: replay.replay_step(model, sgd, replay.regression_losses,
                                                 {"x": torch.zeros(2, 3), "y": torch.zeros(2, 1)}, b, 2)),
        ("replay_batch_size", lambda b: replay.replay_step(model, sgd, replay.regression_losses,
                                                           {"x": torch.zeros(2, 2), "y": torch.zeros(2, 1)}, b, 0)),
        ("loss", lambda b: replay.replay_step(make_mlp(2, hidden=4, seed=0), torch.optim.SGD(
            make_mlp(2, hidden=4, seed=0).parameters(), lr=0.1), replay.regression_losses,
            {"x": torch.zeros(2, 2), "y": torch.full((2, 1), nan)}, b, 2)),
    ]
    return [(name, call, False) for name, call in free] + [(name, call, True) for name, call in on_buffer]


def classify(name: str, call, takes_buffer: bool) -> str:
    buffer = filled_buffer() if takes_buffer else None
    before = (copy.deepcopy(buffer.state_dict()), buffer.generator.get_state()) if takes_buffer else None
    signal.alarm(TIMEOUT_S)
    try:
        result = call(buffer) if takes_buffer else call()
    except Hang:
        return "hang"
    except (ValueError, TypeError) as error:
        outcome = "clear" if name.lower() in str(error).lower() else "obscure"
    except Exception:  # an obscure error is one of the outcomes measured
        outcome = "obscure"
    else:
        return "clear" if result == HANDLED else "silent"
    finally:
        signal.alarm(0)
    if takes_buffer and not (equal(buffer.state_dict(), before[0]) and torch.equal(buffer.generator.get_state(),
                                                                                   before[1])):
        return outcome + ", non-atomic"
    return outcome


def main() -> None:
    torch.set_num_threads(1)
    signal.signal(signal.SIGALRM, _alarm)
    counts, notes = Counter(), []
    all_cases = cases()
    for k, (name, call, takes_buffer) in enumerate(all_cases):
        outcome = classify(name, call, takes_buffer)
        counts[outcome] += 1
        if outcome != "clear":
            notes.append(f"  case {k:3d} ({name}): {outcome}")
    print(f"module: {replay.__file__}")
    print("\n".join(notes))
    total = len(all_cases)
    print(f"\n{total} bad inputs: " + ", ".join(f"{key} {value} ({value / total:.0%})" for key, value in
                                               sorted(counts.items())))
    non_atomic = sum(value for key, value in counts.items() if "non-atomic" in key)
    print(f"clear rejections: {counts['clear'] / total:.0%}; non-atomic failures: {non_atomic}; "
          f"hangs: {counts['hang']}")
    sys.exit(0 if counts["clear"] == total else 1)


if __name__ == "__main__":
    main()
