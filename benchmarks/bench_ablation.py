"""The main stream's ablation: notebook 06's agent, one component at a time, on the regression stream of 01.

Usage: python benchmarks/bench_ablation.py [--seeds 10] [--steps 200] [--memory 100]

Methods (``MAIN_METHODS`` below, plus ``joint``, built by ``main_stream_methods`` below): naive;
joint (the upper bound: all tasks so far together, to convergence); ER (uniform replay from a task-balanced
memory of ``--memory`` examples); ER,
prioritised (α = 0.6); DER++ (logit replay); memory read (DER++ plus the content read of the stored targets,
λ = 0.5); agent (DER++, meta-learned local adaptation). Every method takes the same steps and batches;
replaying methods add a replayed batch to each step.

Reports the final test MSE (ACC: lower is better) and forgetting, mean ± sample std over the seeds, and
each component's effect as a seed-paired 95 % t-interval, whichever way it comes out; rewrites
benchmarks/results/ablation.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from machine import machine_line  # benchmarks/machine.py (scripts run from benchmarks/)

from helpers.agent import AgentConfig, AgentRun, ContinualAgent
from helpers.checks import MAX_EPISODES, check_count, checked
from helpers.experiments import (
    LOGIT_WEIGHT,
    META_WEIGHT,
    _check_builder,
    compare,
    fit_jointly,
    results_table,
    run_methods,
)
from helpers.foundations import make_main_stream

MAIN_CONFIG = AgentConfig(hidden_size=64, memory_size=100, balance="task", lr=3e-3, read_beta=30.0,
                          steps_per_task=200)  # the regression learner of the main stream
MAIN_METHODS = {  # method -> config changes from plain ER on the main stream
    "naive": {"memory_size": 0, "replay_weight": 0.0},
    "ER": {},
    "ER, prioritised": {"alpha": 0.6},
    "DER++": {"logit_weight": LOGIT_WEIGHT},
    "memory read": {"logit_weight": LOGIT_WEIGHT, "read_weight": 0.5},
    "agent": {"logit_weight": LOGIT_WEIGHT, "read_weight": 0.0, "adapt_steps": 1, "adapt_lr": 0.1,
              "meta_weight": META_WEIGHT},
}

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


def _check_main_stream_methods(steps_per_task=200, memory_size=100, methods=None, train_size=256, test_size=256,
                               joint_epochs=20, device=None) -> None:
    check_count("train_size", train_size, 1, MAX_EPISODES)
    check_count("test_size", test_size, 1, MAX_EPISODES)
    _check_builder(methods, tuple(MAIN_METHODS), memory_size, steps_per_task, joint_epochs, device)


@checked(_check_main_stream_methods)
def main_stream_methods(steps_per_task: int = 200, memory_size: int = 100, methods: Sequence[str] | None = None,
                        train_size: int = 256, test_size: int = 256, joint_epochs: int = 20,
                        device=None) -> dict:
    """``name -> method(seed)`` for ``run_methods`` on notebook 01's main stream (regression, test MSE)."""
    def make(name: str) -> Callable[[int], AgentRun]:
        def method(seed: int) -> AgentRun:
            stream = make_main_stream(train_size=train_size, test_size=test_size, seed=seed)
            base = dataclasses.replace(MAIN_CONFIG, steps_per_task=steps_per_task, memory_size=memory_size,
                                       seed=seed)
            if name == "joint":
                return fit_jointly(stream, base, stream.input_dim, 1, "regression", joint_epochs, device=device)
            agent = ContinualAgent(dataclasses.replace(base, **MAIN_METHODS[name]), stream.input_dim, 1,
                                   "regression", device=device)
            return agent.fit_stream(stream, desc=name)
        return method

    return {name: make(name) for name in methods or [*MAIN_METHODS, "joint"]}


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
