"""Where one training step of the memory controller goes: operator events, time, and argument checks.

Usage: python benchmarks/profile_controller.py [--batch 16] [--length 10] [--steps 5] [--compile]

The copy-task controller of notebook 03 (LSTM 64 units, memory 24 x 16, one read and one write head,
temporal links), one training step = forward, masked BCE, backward, Adam, on sequences of 2L + 1 steps.
Reports, per training step: the operator events ``torch.profiler`` records (every ``aten::`` call,
nested ones included) and per time step, the wall time of forward / backward / optimizer, the ten
operators with the most self CPU time, and how many argument-check calls (Python functions of
``helpers`` whose name contains ``check``) the step makes. One torch thread. Prints a Markdown block.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

import torch
from compiled import compile_cell  # benchmarks/compiled.py (scripts run from benchmarks/)
from torch.profiler import ProfilerActivity, profile, record_function

from helpers.controller import CopyTask, make_copy_models, masked_loss
from helpers.foundations import make_generator

HELPERS = str(Path(__file__).resolve().parents[1] / "helpers")


def training_step(model, optimizer, x, y, mask) -> None:
    with record_function("forward"):
        outputs, _ = model(x)
        loss = masked_loss(outputs, y, mask)
    with record_function("backward"):
        optimizer.zero_grad()
        loss.backward()
    with record_function("optimizer"):
        optimizer.step()


def count_checks(step, *args) -> collections.Counter:
    """Calls of functions in helpers/ whose name contains 'check' during ``step(*args)``."""
    calls = collections.Counter()

    def tracer(frame, event, arg):
        if event == "call" and "check" in frame.f_code.co_name and frame.f_code.co_filename.startswith(HELPERS):
            calls[frame.f_code.co_name] += 1

    sys.setprofile(tracer)
    try:
        step(*args)
    finally:
        sys.setprofile(None)
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=10)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--compile", action="store_true", help="compile the per-time-step cell first")
    args = parser.parse_args()
    torch.set_num_threads(1)
    task = CopyTask(bits=8)
    model = make_copy_models(task, seed=0)["memory"]
    if args.compile:
        compile_cell(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y, mask = task.sample(args.batch, args.length, make_generator(0))
    T = x.shape[1]
    for _ in range(3):  # warm-up (and compilation)
        training_step(model, optimizer, x, y, mask)
    checks = count_checks(training_step, model, optimizer, x, y, mask)
    walls = []
    for _ in range(args.steps):
        start = time.perf_counter()
        training_step(model, optimizer, x, y, mask)
        walls.append(time.perf_counter() - start)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(args.steps):
            training_step(model, optimizer, x, y, mask)
    events = prof.events()
    ops = [e for e in events if e.name.startswith("aten::")]
    # dispatched operators: aten calls not nested inside another aten call (what a Python line asks for)
    outer = [e for e in ops if e.cpu_parent is None or not e.cpu_parent.name.startswith("aten::")]
    phases = collections.defaultdict(float)
    for e in events:
        if e.name in ("forward", "backward", "optimizer"):
            phases[e.name] += e.cpu_time_total / 1e3 / args.steps
    total_phase = sum(phases.values())
    wall = sorted(walls)[len(walls) // 2] * 1e3
    print(f"### Controller training step, B = {args.batch}, L = {args.length} (T = {T} time steps)"
          f"{', compiled cell' if args.compile else ', eager'}\n")
    print(f"- wall time per step (median of {args.steps}, not profiled): {wall:.1f} ms")
    print(f"- operator events per step (outermost aten calls, forward and backward): {len(outer) / args.steps:,.0f} "
          f"({len(outer) / args.steps / T:.0f} per time step); with nested aten calls: {len(ops) / args.steps:,.0f}; "
          f"all profiler events: {len(events) / args.steps:,.0f}")
    shares = ", ".join(f"{k} {v:.1f} ms ({v / total_phase:.0%})" for k, v in phases.items())
    print(f"- profiled time per step: {shares}")
    print(f"- check calls per step: {sum(checks.values())}"
          + (f" ({', '.join(f'{k} {v}' for k, v in checks.most_common())})" if checks else ""))
    print("\n| operator | calls / step | self CPU ms / step |\n|---|---:|---:|")
    for row in sorted(prof.key_averages(), key=lambda r: -r.self_cpu_time_total)[:12]:
        print(f"| `{row.key}` | {row.count / args.steps:,.0f} | {row.self_cpu_time_total / 1e3 / args.steps:.2f} |")


if __name__ == "__main__":
    main()
