"""The memory controller's training step side by side with the public `dnc` package and an LSTM floor.

Usage: python benchmarks/bench_dnc.py [--rounds 7] [--steps 4] [--compile] [--quick]

Copy task at equal sizes: memory N = 24 slots of W = 16, one read head (and one write head), an LSTM
controller of 64 units, batch 1 and 16, copy lengths L = 10 and 20 (sequences of 2L + 1 steps). One
training step = forward, masked BCE on the answer steps, backward, Adam (no gradient clipping for
anyone). Models:

- ours: notebook 03's ``MemoryController`` with DNC temporal links (``make_copy_models``), eager;
- ours, compiled: the same with ``compile_cell`` (benchmarks/compiled.py; ``--compile``; steady state, compile
  time reported);
- dnc: ``from dnc import DNC`` (ixaxaar/pytorch-dnc, PyPI ``dnc``), ``DNC(9, 64, num_layers=1,
  num_hidden_layers=1, nr_cells=24, cell_size=16, read_heads=1)``; its output layer maps back to the
  input width (9), of which we score the first 8;
- LSTM floor: ``nn.LSTM`` of the same 64 units and a linear read-out (what the controller costs without
  any memory).

All run in this one process on one torch thread, interleaved: each round times ``--steps`` steps of
every model, in an order rotated from round to round, so load from other processes hits all alike.
Per model and configuration the median step time over all rounds is reported, with ratios to dnc,
and the 1-minute load average over the run. Rewrites benchmarks/results/dnc.md (not with --quick).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from compiled import compile_cell  # benchmarks/compiled.py (scripts run from benchmarks/)
from machine import machine_line  # benchmarks/machine.py (scripts run from benchmarks/)

from helpers.controller import CopyTask, LSTMBaseline, make_copy_models, masked_loss
from helpers.foundations import make_generator

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "dnc.md"
RECORD = ROOT / "benchmarks" / "results" / "dnc.json"  # the compile break-even, read by notebook 03
TASK = CopyTask(bits=8)
N, W, HIDDEN, LR = 24, 16, 64, 1e-3


class DNCAdapter(torch.nn.Module):
    """``dnc.DNC`` with our call signature: ``x (B, T, 9)`` -> logits ``(B, T, 8)``, state; a fresh memory per call."""

    def __init__(self):
        super().__init__()
        from dnc import DNC

        self.dnc = DNC(TASK.input_size, HIDDEN, num_layers=1, num_hidden_layers=1, nr_cells=N, cell_size=W,
                       read_heads=1, gpu_id=-1)

    def forward(self, x):
        out, state = self.dnc(x, (None, None, None), reset_experience=True)
        return out[..., : TASK.output_size], state


def build_models(compile_step: bool) -> tuple[dict, dict]:
    """The models to time (name -> (model, optimizer)) and what building them cost (name -> note)."""
    torch.manual_seed(0)
    ours = make_copy_models(TASK, seed=0)["memory"]
    models = {"ours": ours}
    notes = {}
    if compile_step:
        compiled = make_copy_models(TASK, seed=0)["memory"]
        models["ours, compiled"] = compile_cell(compiled)
    try:
        models["dnc"] = DNCAdapter()
    except Exception as err:  # an anchor that fails is reported, never skipped silently
        notes["dnc"] = f"dnc could not be built: {type(err).__name__}: {err}"
    models["LSTM floor"] = LSTMBaseline(TASK.input_size, TASK.output_size, HIDDEN)
    return {name: (m, torch.optim.Adam(m.parameters(), lr=LR)) for name, m in models.items()}, notes


def step(model, optimizer, x, y, mask) -> None:
    outputs, _ = model(x)
    loss = masked_loss(outputs, y, mask)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def timed_steps(model, optimizer, batch, steps: int) -> list[float]:
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step(model, optimizer, *batch)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=4, help="timed steps per model per round")
    parser.add_argument("--compile", action="store_true", help="also time ours with the compiled cell")
    parser.add_argument("--quick", action="store_true", help="2 rounds, print only (a smoke test)")
    args = parser.parse_args()
    if args.quick:
        args.rounds = 2
    torch.set_num_threads(1)
    if args.compile:  # a cold compile: an empty kernel cache, not what an earlier run left on disk
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench_dnc_inductor_")
    began = time.perf_counter()
    machine_before = machine_line()
    models, notes = build_models(args.compile)
    configs = [(b, length) for length in (10, 20) for b in (1, 16)]
    batches = {c: TASK.sample(c[0], c[1], make_generator(c[0] * 100 + c[1])) for c in configs}
    compile_seconds = {}
    if args.compile:  # the first compiled call, before any update: same weights, so it must match the eager model
        x = batches[configs[0]][0]
        start = time.perf_counter()
        compiled_out = models["ours, compiled"][0](x)[0]
        compile_seconds["first call"] = time.perf_counter() - start
        gap = (compiled_out - models["ours"][0](x)[0]).abs().max().item()
        assert gap < 1e-5, f"the compiled time step differs from the eager one by {gap}"
        notes["compiled"] = f"Compiled and eager outputs agree to {gap:.1e} (same weights, B = 1, L = 10)."
    for config in configs:  # warm-up; the compiled cell compiles here (timed: first step minus a warm step)
        for name, (model, opt) in models.items():
            first = timed_steps(model, opt, batches[config], 1)[0]
            warm = float(np.median(timed_steps(model, opt, batches[config], 2)))
            if name == "ours, compiled":
                compile_seconds[config] = first - warm
    times = {(name, c): [] for name in models for c in configs}
    loads = []
    names = list(models)
    for r in range(args.rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for config in configs:
            for name in order:
                model, opt = models[name]
                times[(name, config)] += timed_steps(model, opt, batches[config], args.steps)
        loads.append(os.getloadavg()[0])
        print(f"round {r + 1}/{args.rounds}, load {loads[-1]:.1f}", flush=True)
    median = {key: float(np.median(v)) * 1e3 for key, v in times.items()}
    load_text = f"{np.mean(loads):.1f} (range {min(loads):.1f}–{max(loads):.1f})"

    header = "| B | L | " + " | ".join(f"{n} (ms)" for n in names) + " | ours / dnc |"
    if "ours, compiled" in names:
        header += " compiled / dnc | compiled / ours |"
    header += " ours / LSTM floor |"
    lines = [header, "|---:|---:|" + "---:|" * (len(names) + 2 + 2 * ("ours, compiled" in names))]
    for config in configs:
        row = [f"{median[(n, config)]:.1f}" for n in names]
        ours, floor = median[("ours", config)], median[("LSTM floor", config)]
        dnc = median.get(("dnc", config))
        ratio = lambda a, b: "—" if b is None else f"{a / b:.2f}×"  # noqa: E731
        cells = [ratio(ours, dnc)]
        if "ours, compiled" in names:
            comp = median[("ours, compiled", config)]
            cells += [ratio(comp, dnc), ratio(comp, ours)]
        cells.append(f"{ours / floor:.1f}×")
        lines.append(f"| {config[0]} | {config[1]} | " + " | ".join(row + cells) + " |")
    if compile_seconds:
        total = sum(compile_seconds.values())
        lines += ["", "| first call at | compile time (s) |", "|---|---:|"]
        for c, seconds in compile_seconds.items():
            where = "B = 1, L = 10, forward check" if c == "first call" else f"B = {c[0]}, L = {c[1]}, training step"
            lines.append(f"| {where} | {seconds:.1f} |")
        lines += ["", "| B | L | eager − compiled per step (ms) | break-even: all compile time / saving (steps) |",
                  "|---:|---:|---:|---:|"]
        for config in configs:
            saved = median[("ours", config)] - median[("ours, compiled", config)]
            even = f"{total * 1e3 / saved:,.0f}" if saved > 0 else "never"
            lines.append(f"| {config[0]} | {config[1]} | {saved:.1f} | {even} |")
    for name, note in notes.items():
        lines += ["", note if name == "compiled" else f"**{note}**"]
    table = "\n".join(lines)
    print(table)
    print(f"mean 1-minute load average over the rounds: {load_text}")
    if args.quick:
        return
    cmd = f"python benchmarks/bench_dnc.py --rounds {args.rounds} --steps {args.steps}" + (
        " --compile" if args.compile else "")
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = [
        "# Memory controller versus the public `dnc` package (one training step)",
        "",
        f"Command: `{cmd}` (from the repository root). Written on {stamp} in {time.perf_counter() - began:.0f} s.",
        "",
        machine_before,
        f"1-minute load average during the rounds: {load_text}.",
        "",
        "Copy task, memory N = 24 × W = 16, one read and one write head, LSTM controller 64 units, copy length L "
        "(2L + 1 time steps), batch B. One step: forward, masked BCE, backward, Adam. Median milliseconds per step "
        f"over {args.rounds} interleaved rounds of {args.steps} steps; dnc is `dnc.DNC` (ixaxaar/pytorch-dnc 1.1.0) "
        "at the same sizes; LSTM floor: `nn.LSTM(9, 64)` + linear read-out, no memory.",
        "",
        table,
        "",
    ]
    if compile_seconds:
        text += ["Compile time: the first call's wall time minus a warm call's, for each first use of a batch size "
                 "or mode, with an empty kernel cache (`compile_cell` compiles one static step per batch size; a new "
                 "sequence length does not recompile, because the step sees one (B, I) slice of a time-major copy "
                 "with the same strides at every length). A later run reuses the on-disk kernel cache and compiles "
                 "faster. Break-even: all compile time of this run divided by the time saved per step.", ""]
    RESULTS.write_text("\n".join(text))
    print(f"wrote {RESULTS}")
    if compile_seconds:
        config, total = (16, 10), sum(compile_seconds.values())
        saved = median[("ours", config)] - median[("ours, compiled", config)]
        record = {"batch": config[0], "length": config[1], "compile_seconds": round(total, 1),
                  "saved_ms_per_step": round(saved, 2),
                  "break_even_steps": int(total * 1e3 / saved) if saved > 0 else None}
        RECORD.write_text(json.dumps({"command": cmd, "written": stamp, "load_average": round(float(np.mean(loads)), 1),
                                      "compile": record}, indent=1) + "\n")
        print(f"wrote {RECORD}")


if __name__ == "__main__":
    main()
