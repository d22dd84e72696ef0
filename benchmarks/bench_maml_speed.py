"""One MAML meta-iteration, the series' code against `higher`, at the paper's sine configuration.

Usage: python benchmarks/bench_maml_speed.py [--iterations 40] [--rounds 7]

Finn et al. 2017's sine setup: MLP 1-40-40-1, K = 10 support and 10 query points per task, meta-batch 25,
one inner SGD step of 0.01, second order, Adam 1e-3. Timed, in one process with one torch thread, in
interleaved rounds (every variant runs once per round, so a burst of load from other programs hits all
of them alike; the best round is reported):

- the series' ``MAML`` with ``vmap`` over tasks (its default),
- ``higher`` (facebookresearch/higher, pure-Python functional MAML): the loop over tasks of its MAML
  example, ``innerloop_ctx`` with ``copy_initial_weights=False``,
- the series' ``MAML`` with its own loop over tasks,
- and, for reference, the series' first-order MAML and ``vmap`` with two threads.

Before timing, every second-order variant's meta-gradient on the same batch is checked against the
series' to 1e-5. Writes benchmarks/results/maml_speed.md. If ``higher`` is not installed
(``pip install --no-deps -r requirements-bench.txt``), its row says so.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import os
import time
from pathlib import Path

import torch
from machine import machine_line  # benchmarks/machine.py (scripts run from benchmarks/)

from helpers.foundations import make_generator
from helpers.maml import MAML, make_sine_mlp, mse_loss, sample_sine_tasks

try:
    import higher
except ImportError as error:  # reported in the table, never skipped silently
    higher, HIGHER_ERROR = None, f"{type(error).__name__}: {error}"
else:
    HIGHER_ERROR = ""
HIGHER_VERSION = importlib.metadata.version("higher") if higher else "(not installed)"

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "maml_speed.md"
K, META_BATCH, INNER_LR, OUTER_LR = 10, 25, 0.01, 1e-3


class HigherMAML:
    """Second-order MAML written the way `higher`'s MAML example writes it: one task at a time, the query
    loss of each backpropagated into the shared initial weights, then one Adam step."""

    def __init__(self, model: torch.nn.Module):
        self.model = model
        self.inner_optimizer = torch.optim.SGD(model.parameters(), lr=INNER_LR)
        self.optimizer = torch.optim.Adam(model.parameters(), lr=OUTER_LR)

    def gradients(self, tasks) -> float:
        total = 0.0
        for t in range(len(tasks)):
            inner = higher.innerloop_ctx(self.model, self.inner_optimizer, copy_initial_weights=False)
            with inner as (fmodel, diffopt):
                diffopt.step(mse_loss(fmodel(tasks.support_x[t]), tasks.support_y[t]))
                query = mse_loss(fmodel(tasks.query_x[t]), tasks.query_y[t]) / len(tasks)
                query.backward()
                total += query.item()
        return total

    def meta_step(self, tasks) -> float:
        self.optimizer.zero_grad()
        loss = self.gradients(tasks)
        self.optimizer.step()
        return loss


def series_gradients(learner: MAML, tasks) -> None:
    learner.optimizer.zero_grad()
    learner.query_losses(tasks).mean().backward()


def check_same_gradients(batch) -> float:
    """Largest difference between the series' vmap meta-gradient and the loop's and higher's (same weights)."""
    grads = {}
    for name in ("vmap", "loop") + (("higher",) if higher else ()):
        model = make_sine_mlp(seed=1)
        if name == "higher":
            HigherMAML(model).gradients(batch)
        else:
            series_gradients(MAML(model, INNER_LR, 1, OUTER_LR, batched=name), batch)
        grads[name] = torch.cat([p.grad.flatten() for p in model.parameters()])
    gaps = [(grads[name] - grads["vmap"]).abs().max().item() for name in grads if name != "vmap"]
    for name in grads:
        torch.testing.assert_close(grads[name], grads["vmap"], rtol=1e-5, atol=1e-5)
    return max(gaps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=40, help="meta-iterations per variant per round")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.environ.setdefault("NMA_QUIET", "1")
    machine_before = machine_line()
    generator = make_generator(0)
    batches = [sample_sine_tasks(META_BATCH, K, K, generator) for _ in range(args.iterations)]
    gap = check_same_gradients(batches[0])
    print(f"meta-gradients agree (largest difference {gap:.1e})", flush=True)

    variants = {  # name: (threads, meta_step, meta-iterations per round)
        "series, vmap over tasks": (1, MAML(make_sine_mlp(seed=1), INNER_LR, 1, OUTER_LR, batched="vmap").meta_step, 1),
        "higher, loop over tasks": (1, HigherMAML(make_sine_mlp(seed=1)).meta_step if higher else None, 4),
        "series, loop over tasks": (1, MAML(make_sine_mlp(seed=1), INNER_LR, 1, OUTER_LR, batched="loop").meta_step, 4),
        "series, vmap, first order": (1, MAML(make_sine_mlp(seed=1), INNER_LR, 1, OUTER_LR, first_order=True,
                                              batched="vmap").meta_step, 1),
        "series, vmap, 2 threads": (2, MAML(make_sine_mlp(seed=1), INNER_LR, 1, OUTER_LR, batched="vmap").meta_step, 1),
    }
    times = {name: [] for name in variants}
    for r in range(args.rounds + 1):  # round 0 warms up
        for name, (threads, step, slower) in variants.items():
            if step is None:
                continue
            chosen = batches[: max(args.iterations // slower, 2)]  # the loops are slower: fewer per round
            torch.set_num_threads(threads)
            start, cpu_start = time.perf_counter(), time.process_time()
            for batch in chosen:
                step(batch)
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
            times[name].append((wall / len(chosen), cpu / len(chosen)))
        torch.set_num_threads(1)
        print(f"round {r}: " + ", ".join(f"{n} {1e3 * t[-1][0]:.2f} ms" for n, t in times.items() if t), flush=True)
    best = {name: (min(w for w, _ in t[1:]), min(c for _, c in t[1:])) for name, t in times.items() if len(t) > 1}
    reference = best["series, vmap over tasks"]
    lines = ["# One MAML meta-iteration: the series against `higher`", "",
             f"Written by `benchmarks/bench_maml_speed.py --iterations {args.iterations} --rounds {args.rounds}` "
             f"({datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}).", "",
             f"Before: {machine_before}", "", f"After: {machine_line()}", "",
             f"Paper configuration (Finn et al. 2017, sine): MLP 1-40-40-1, K = {K} support + {K} query points, "
             f"meta-batch {META_BATCH}, one inner SGD step of {INNER_LR}, second order, Adam {OUTER_LR}. "
             "Same process, interleaved rounds, best round; all second-order meta-gradients checked equal to "
             f"1e-5 first (largest difference {gap:.1e}). `higher` {HIGHER_VERSION} "
             "runs its own MAML example's loop with `torch.optim.Adam`; the series uses fused Adam.", "",
             "| variant | threads | wall ms / meta-iteration | CPU ms / meta-iteration | wall time / series vmap |",
             "|---|---:|---:|---:|---:|"]
    for name, (threads, _, _) in variants.items():
        if name not in best:
            lines.append(f"| {name} | {threads} | not run: {HIGHER_ERROR or 'no measurement'} | | |")
            continue
        wall, cpu = best[name]
        lines.append(f"| {name} | {threads} | {1e3 * wall:.2f} | {1e3 * cpu:.2f} | {wall / reference[0]:.2f}× |")
    if "higher, loop over tasks" in best:
        ratio = best["higher, loop over tasks"][0] / reference[0]
        lines += ["", f"The series' vmap meta-iteration is **{ratio:.1f}× faster than `higher`'s** (wall time, best "
                  f"round; CPU time {best['higher, loop over tasks'][1] / reference[1]:.1f}×). `higher` patches the "
                  "module and steps one task at a time in Python; `vmap` turns the 25 tasks into one batched "
                  "computation. The series' own loop over tasks is "
                  f"{best['series, loop over tasks'][0] / reference[0]:.1f}× the vmap time."]
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
