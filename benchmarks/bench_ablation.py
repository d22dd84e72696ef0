"""The main stream's ablation: notebook 06's agent, one component at a time, on the regression stream of 01.

Usage: python benchmarks/bench_ablation.py [--seeds 10] [--steps 200] [--memory 100]

Methods (``helpers.experiments.MAIN_METHODS`` plus ``joint``): naive; joint (the upper bound: all tasks so far
together, to convergence); ER (uniform replay from a task-balanced memory of ``--memory`` examples); ER,
prioritised (α = 0.6); DER++ (logit replay); memory read (DER++ plus the content read of the stored targets,
λ = 0.5); agent (DER++, meta-learned local adaptation). Every method takes the same steps and batches;
replaying methods add a replayed batch to each step.

Reports the final test MSE (ACC: lower is better) and forgetting, mean ± sample std over the seeds, and
each component's effect as a seed-paired 95 % t-interval, whichever way it comes out; rewrites
benchmarks/results/ablation.md.
"""

from __future__ import annotations

import argparse
import datetime
import time
from pathlib import Path

import torch
from machine import machine_line  # benchmarks/machine.py (scripts run from benchmarks/)

from helpers.experiments import compare, main_stream_methods, results_table, run_methods

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "ablation.md"
EFFECTS = (  # (with, without, what the difference measures)
    ("ER", "naive", "replay"),
    ("ER, prioritised", "ER", "prioritising replay (α = 0.6)"),
    ("DER++", "ER", "logit replay"),
    ("memory read", "DER++", "the memory read in the answer"),
    ("agent", "DER++", "meta-learned local adaptation"),
    ("joint", "agent", "what is left to the upper bound"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--steps", type=int, default=200, help="optimiser steps per task")
    parser.add_argument("--memory", type=int, default=100, help="examples the memory holds")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    results = run_methods(main_stream_methods(args.steps, args.memory), list(range(args.seeds)), desc="ablation")
    wall = time.perf_counter() - start
    lines = ["# Main-stream ablation\n",
             f"Written {datetime.date.today()} by `python benchmarks/bench_ablation.py --seeds {args.seeds} "
             f"--steps {args.steps} --memory {args.memory}` in {wall / 60:.1f} min. {machine_line()}\n",
             "Final test MSE (ACC, lower is better) and forgetting, mean ± sample std over seeds:\n",
             results_table(results, ("acc", "forgetting", "seconds"), digits=4), "",
             "Each component's effect on final test MSE (positive = the first is better), 95 % paired t-interval:\n",
             "| comparison | effect of | gain | 95 % interval | wins | verdict |", "|---|---|---:|---|---:|---|"]
    for first, second, what in EFFECTS:
        c = compare(results, first, second, higher_is_better=False)
        lines.append(f"| {first} vs {second} | {what} | {c['gain']:+.4f} | [{c['ci'][0]:+.4f}, {c['ci'][1]:+.4f}] | "
                     f"{c['wins']}/{c['n']} | {c['verdict']} |")
    text = "\n".join(lines) + "\n"
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
