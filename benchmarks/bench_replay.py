"""Prioritised replay: the series' sum-tree buffer against cpprb (C++) and an O(n) reference.

Usage: python benchmarks/bench_replay.py [--rounds 300] [--capacities 1000 10000 100000 1000000]

Times the work of one replay step, ``sample(64)`` + ``update_priorities(64)``, on one CPU thread, for
buffers of 10-float items with alpha = 0.6 and random priorities:

* ``helpers.replay.ReplayBuffer``: the series' buffer, drawn without replacement (its default) and with
  replacement (``replace=True``: independent draws, the same tree work as cpprb's draw);
* ``cpprb.PrioritizedReplayBuffer`` (C++ sum- and min-trees behind a Python API): the library a user
  would install instead. It draws with replacement, one prefix sum per 1/64 of the total mass
  (stratified), and also returns the items, the weights and the indices;
* ``RenormalisingSampler`` (below, as in notebook 04): the original tutorial's way, renormalising all n priorities and
  drawing without replacement on every call (O(n)); a third as many calls above 10^5 items.

All of them run in the same process, interleaved call by call (round r times every buffer once, in a
random order), so a burst of load from other processes hits all alike. Each call is timed twice: wall
clock and the thread's CPU time (``time.thread_time``), which leaves out the time the thread waited for a
core on a shared machine. Tables report medians, ratios of medians, and the load average before and after.

A second table splits the series' 10^6-item call into its parts, each timed on its own, interleaved the
same way: the walk down the sum-tree, the updates of the sum- and min-trees, the uniforms drawn from the
torch generator (and handed to NumPy), the item gather, the conversions between torch and NumPy, the
argument checks, and the rest of the call.
A missing cpprb is reported as "not installed", never skipped silently. Rewrites
benchmarks/results/replay.md.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import os
import time
from pathlib import Path

import numpy as np
import torch
from machine import machine_line  # benchmarks/machine.py (scripts run from benchmarks/)

from helpers.foundations import make_generator
from helpers.replay import (
    ReplayBuffer,
    _check_sample,
    _raw_priorities,
    _slots,
    importance_weights,
    sampling_probabilities,
)

try:
    from cpprb import PrioritizedReplayBuffer

    CPPRB = f"cpprb {importlib.metadata.version('cpprb')}"
except ImportError as error:  # reported in the table, never skipped silently
    PrioritizedReplayBuffer, CPPRB = None, f"cpprb not installed ({error}; `make bench` installs it)"

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "replay.md"
BATCH = 64
ALPHA, BETA, EPS = 0.6, 0.4, 1e-3


class RenormalisingSampler:
    """The O(n) reference of notebook 04: raw priorities in a flat tensor, every ``sample`` renormalises all."""

    def __init__(self, priorities: torch.Tensor, alpha: float, beta: float, eps: float):
        self.priorities = priorities.detach().to("cpu", torch.float64, copy=True)
        self.alpha, self.beta, self.eps = alpha, beta, eps

    def sample(self, batch_size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        probs = sampling_probabilities(self.priorities, self.alpha)
        indices = torch.multinomial(probs, batch_size, replacement=False, generator=generator)
        return indices, importance_weights(probs[indices], len(probs), self.beta, float(probs.min()))

    def update_priorities(self, indices: torch.Tensor, losses: torch.Tensor) -> None:
        self.priorities[indices] = losses.detach().to("cpu", torch.float64).abs() + self.eps


def timed(call) -> tuple[float, float]:
    """(wall seconds, thread CPU seconds) of one ``call()``."""
    wall, cpu = time.perf_counter(), time.thread_time()
    call()
    return time.perf_counter() - wall, time.thread_time() - cpu


def make_steps(capacity: int) -> dict:
    """name -> a function doing one sample(64) + update(64) on a buffer of ``capacity`` items."""
    generator = make_generator(capacity)
    rng = np.random.default_rng(capacity)
    losses = torch.rand(capacity, generator=generator)
    items = torch.rand(capacity, 10, generator=generator)
    ours, ours_too = (ReplayBuffer(capacity, alpha=ALPHA, beta_start=BETA, eps=EPS, seed=seed) for seed in (0, 1))
    ours.push(0, priorities=losses, x=items)
    ours_too.push(0, priorities=losses, x=items)
    steps = {}

    def ours_without():
        batch = ours.sample(BATCH)
        ours.update_priorities(batch.indices, torch.rand(BATCH, generator=generator))

    def ours_with():
        batch = ours_too.sample(BATCH, replace=True)
        ours_too.update_priorities(batch.indices, torch.rand(BATCH, generator=generator))

    steps["ours, without replacement"] = ours_without
    steps["ours, with replacement"] = ours_with
    if PrioritizedReplayBuffer is not None:
        theirs = PrioritizedReplayBuffer(capacity, {"x": {"shape": 10}}, alpha=ALPHA, eps=EPS)
        theirs.add(x=items.numpy(), priorities=losses.numpy().astype(np.float64) + EPS)

        def cpprb_step():
            batch = theirs.sample(BATCH, beta=BETA)
            theirs.update_priorities(batch["indexes"], rng.random(BATCH) + EPS)

        steps["cpprb"] = cpprb_step
    reference = RenormalisingSampler(losses.double() + EPS, alpha=ALPHA, beta=BETA, eps=EPS)

    def reference_step():
        indices, _ = reference.sample(BATCH, generator)
        reference.update_priorities(indices, torch.rand(BATCH, generator=generator))

    steps["O(n) reference"] = reference_step
    return steps


def make_parts(capacity: int) -> dict:
    """name -> one part of the series' sample + update, on a buffer of ``capacity`` items, to run alone."""
    generator = make_generator(capacity + 1)
    buffer = ReplayBuffer(capacity, alpha=ALPHA, beta_start=BETA, eps=EPS, seed=0)
    buffer.push(0, priorities=torch.rand(capacity, generator=generator),
                x=torch.rand(capacity, 10, generator=generator))
    sampler = buffer.sampler
    batch = buffer.sample(BATCH)
    slots, losses = batch.indices, torch.rand(BATCH, generator=generator)
    slots_np = slots.numpy()
    scaled = sampler.priorities[slots_np] ** ALPHA
    prefixes = np.random.default_rng(0).random(BATCH) * sampler.sum_tree.root
    store = buffer.storage["x"]

    def whole():
        drawn = buffer.sample(BATCH)
        buffer.update_priorities(drawn.indices, losses)

    def checks():
        _check_sample(sampler, BATCH, generator, BETA, None)
        _slots("indices", slots, buffer.size, " (slots in use)")
        _raw_priorities(losses, BATCH, EPS)

    return {
        "whole call (sample + update_priorities)": whole,
        "walk down the sum-tree (64 prefix sums)": lambda: sampler.sum_tree._find_prefix(prefixes),
        "update the sum- and min-trees (64 leaves)": lambda: (sampler.sum_tree._update(slots_np, scaled),
                                                              sampler.min_tree._update(slots_np, scaled)),
        "64 uniforms from the torch generator, to NumPy": lambda: torch.rand(BATCH, dtype=torch.float64,
                                                                             generator=generator).numpy(),
        "gather the 64 items (index_select)": lambda: store.index_select(0, slots),
        "torch <-> NumPy conversions (indices, losses, probabilities, weights)": lambda: (
            torch.from_numpy(slots_np), torch.from_numpy(scaled), torch.from_numpy(scaled), slots.numpy(),
            losses.detach().cpu().numpy().astype(np.float64)),
        "argument checks (sample and update)": checks,
    }


def interleave(functions: dict, rounds: int, sparse: set = frozenset()) -> dict:
    """name -> (wall times, CPU times) arrays over ``rounds`` interleaved rounds (names in ``sparse``: every
    third round only). Three untimed warm-up calls each first. Each round calls the functions in a fresh
    random order, so none always runs right after the same neighbour (whose memory traffic would warm or
    evict the caches it uses)."""
    for call in functions.values():
        for _ in range(3):
            call()
    times = {name: ([], []) for name in functions}
    names, order_rng = list(functions), np.random.default_rng(0)
    for r in range(rounds):
        for k in order_rng.permutation(len(names)):
            name, call = names[k], functions[names[k]]
            if name in sparse and r % 3:
                continue
            wall, cpu = timed(call)
            times[name][0].append(wall)
            times[name][1].append(cpu)
    return {name: (np.array(wall), np.array(cpu)) for name, (wall, cpu) in times.items()}


def us(seconds) -> str:
    return f"{np.median(seconds) * 1e6:,.0f}"


def ratio(ours, theirs) -> str:
    value = np.median(ours) / np.median(theirs)
    return f"{value:.2f}×" if value < 10 else f"{value:,.0f}×"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--capacities", type=int, nargs="+", default=[10**3, 10**4, 10**5, 10**6])
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    load_before = os.getloadavg()[0]
    machine = machine_line()
    steps = {(capacity, name): step for capacity in args.capacities for name, step in make_steps(capacity).items()}
    slow = {key for key in steps if key[1] == "O(n) reference" and key[0] > 10**5}
    results = interleave(steps, args.rounds, sparse=slow)
    parts = interleave(make_parts(args.capacities[-1]), args.rounds)
    load_after = os.getloadavg()[0]

    command = "python benchmarks/bench_replay.py" + ("" if args.rounds == 300 else f" --rounds {args.rounds}")
    if args.capacities != [10**3, 10**4, 10**5, 10**6]:
        command += " --capacities " + " ".join(map(str, args.capacities))
    have_cpprb = PrioritizedReplayBuffer is not None
    lines = [
        "# Replay benchmark: `sample(64)` + `update_priorities(64)`",
        "",
        f"Command: `{command}` (from the repository root). Written by `benchmarks/bench_replay.py` on "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC in {time.perf_counter() - start:.0f} s.",
        "",
        machine,
        f"1-minute load average: {load_before:.1f} before the timings, {load_after:.1f} after.",
        f"Anchor: {CPPRB}.",
        "",
        "Items of 10 floats, alpha 0.6, beta 0.4, random priorities. Medians over interleaved rounds of the "
        "thread's CPU time per call in microseconds (wall-clock medians in brackets). *ours*: "
        "`helpers.replay.ReplayBuffer`; *with replacement* draws 64 independent prefix sums, the same tree "
        "work as cpprb's stratified draw (cpprb also draws with replacement); *without replacement* is the "
        "buffer's default. Ratios are ours / cpprb (below 1: ours is faster). The O(n) reference "
        "renormalises every priority and draws without replacement on each call (the original tutorial's way).",
        "",
        "| capacity | ours, with replacement | ours, without replacement | cpprb (C++) | ratio, with "
        "| ratio, without | O(n) reference |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for capacity in args.capacities:
        with_, without = results[capacity, "ours, with replacement"], results[capacity, "ours, without replacement"]
        reference = results[capacity, "O(n) reference"]
        if have_cpprb:
            theirs = results[capacity, "cpprb"]
            anchor = f"{us(theirs[1])} ({us(theirs[0])})"
            ratios = f"{ratio(with_[1], theirs[1])} | {ratio(without[1], theirs[1])}"
        else:
            anchor, ratios = "not installed", "– | –"
        lines.append(f"| {capacity:,} | {us(with_[1])} ({us(with_[0])}) | {us(without[1])} ({us(without[0])}) | "
                     f"{anchor} | {ratios} | {us(reference[1])} ({us(reference[0])}) |")
    lines += [
        "",
        f"Rounds: {args.rounds} (the reference above 10^5 items: every third round).",
        "",
        f"## Where the series' time goes, {args.capacities[-1]:,} items",
        "",
        "Each part timed on its own, interleaved with the whole call; CPU-time medians in microseconds. "
        "The parts overlap nothing, so the rest is the whole minus their sum: Python calls, small NumPy "
        "and torch operations (probabilities, weights, de-duplication, conversions) and the records returned.",
        "",
        "| part | µs | share of the whole |",
        "|---|---:|---:|",
    ]
    whole = np.median(parts["whole call (sample + update_priorities)"][1])
    accounted = 0.0
    for name, (_, cpu) in parts.items():
        median = np.median(cpu)
        if not name.startswith("whole"):
            accounted += median
        lines.append(f"| {name} | {median * 1e6:,.0f} | {median / whole:.0%} |")
    lines.append(f"| rest of the call | {(whole - accounted) * 1e6:,.0f} | {(whole - accounted) / whole:.0%} |")
    text = "\n".join(lines) + "\n"
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
