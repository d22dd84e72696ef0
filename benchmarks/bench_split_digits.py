"""Split Digits, task- and class-incremental: every method of notebook 07 at several memory sizes.

Usage:
    python benchmarks/bench_split_digits.py --buffer 20 50 200 --seeds 10 --out results/split_digits.json
    python benchmarks/bench_split_digits.py --validate --first-seed 100 --seeds 5 --buffer 20 200

Methods (``helpers.experiments.DIGIT_METHODS`` plus ``joint``): naive; joint (the upper bound, trained to
convergence on all tasks so far); ER (experience replay from a class-balanced memory); ER + NCM (the same
network answering with iCaRL's nearest class mean); DER++ (logit replay); memory read (DER++ plus the
agent's content read, no adaptation); agent (memory read + replay + meta-learned local adaptation).
Every method sees the same steps and batches; replaying methods see a replayed batch on top.

Writes per-seed final accuracies (ACC, the mean over tasks) per method, scenario and memory size as JSON
(``--out``), and a Markdown table with mean ± sample std and each method's gain over ER with its 95 %
paired t-interval (``--md``, default benchmarks/results/split_digits.md).

``--validate`` scores the trained agent with other read weights λ and sharpness β instead. The agent's
λ and β were chosen this way on seeds 100-104, which the reported tables (seeds 0-9) never use.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import datetime
import json
import time
from pathlib import Path

import torch
from machine import machine_line  # benchmarks/machine.py (scripts run from benchmarks/)

from helpers.agent import NUM_DIGIT_CLASSES, ContinualAgent, make_split_digits
from helpers.experiments import (
    CONTINUAL_METHODS,
    compare,
    digit_config,
    per_seed,
    run_methods,
    split_digits_methods,
)

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("naive", "joint", *CONTINUAL_METHODS)


def run(args) -> dict:
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    out = {"seeds": seeds, "buffers": args.buffer, "steps_per_task": args.steps, "joint_epochs": args.joint_epochs,
           "accuracy": {}, "seconds": {}}
    for scenario in args.scenarios:
        out["accuracy"][scenario], out["seconds"][scenario] = {}, {}
        once = split_digits_methods(args.buffer[0], scenario, ["naive", "joint"], args.steps, args.joint_epochs)
        shared = run_methods(once, seeds, desc=f"{scenario}-IL naive, joint")
        for size in args.buffer:
            start = time.perf_counter()
            methods = split_digits_methods(size, scenario, CONTINUAL_METHODS, args.steps)
            results = shared + run_methods(methods, seeds, desc=f"{scenario}-IL, memory {size}")
            out["accuracy"][scenario][str(size)] = {m: per_seed(results, m).tolist() for m in METHODS}
            out["seconds"][scenario][str(size)] = {m: per_seed(results, m, "seconds").tolist() for m in METHODS}
            print(f"{scenario}-IL, memory {size}: {time.perf_counter() - start:.0f} s", flush=True)
    return out


def table(out: dict) -> str:
    lines = []
    for scenario, by_size in out["accuracy"].items():
        sizes = list(by_size)
        lines += [f"### {scenario}-incremental: final accuracy (%), mean ± std over {len(out['seeds'])} seeds",
                  "", "| method | " + " | ".join(f"memory {s}" for s in sizes) + " |",
                  "|---|" + "---:|" * len(sizes)]
        for method in METHODS:
            cells = []
            for size in sizes:
                values = torch.tensor(by_size[size][method]) * 100
                cells.append(f"{values.mean():.1f} ± {values.std():.1f}")
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines += ["", f"Gain over ER (points), mean and 95 % paired t-interval over {len(out['seeds'])} seeds:", "",
                  "| method | " + " | ".join(f"memory {s}" for s in sizes) + " |", "|---|" + "---:|" * len(sizes)]
        for method in METHODS:
            if method == "ER":
                continue
            cells = []
            for size in sizes:
                results = _as_results(by_size[size], out["seeds"])
                c = compare(results, method, "ER")
                cells.append(f"{100 * c['gain']:+.1f} [{100 * c['ci'][0]:+.1f}, {100 * c['ci'][1]:+.1f}]")
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _as_results(accuracies: dict, seeds: list[int]):
    from helpers.experiments import RunResult

    return [RunResult(m, s, torch.zeros(1, 1), {"acc": a}) for m, values in accuracies.items()
            for s, a in zip(seeds, values)]


def validate(args) -> None:
    """Score the trained agent with other λ (read weight) and β on seeds it will never be reported on."""
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    grid = [(lam, beta) for lam in (0.0, 0.25, 0.5, 0.75, 1.0) for beta in (10.0, 30.0)]
    for size in args.buffer:
        scores = {key: [] for key in grid}
        for seed in seeds:
            tasks = make_split_digits(seed=seed)
            agent = ContinualAgent(digit_config("agent", size, seed, steps_per_task=args.steps), 64,
                                   NUM_DIGIT_CLASSES)
            for task in tasks:
                agent.learn_task(task)
            for lam, beta in grid:
                probe = copy.copy(agent)
                probe.config = dataclasses.replace(agent.config, read_weight=lam, read_beta=beta)
                scores[(lam, beta)].append(probe.evaluate(tasks).mean().item())
        print(f"memory {size}, seeds {seeds[0]}-{seeds[-1]}: agent ACC (%) by read weight λ and β")
        for (lam, beta), values in scores.items():
            print(f"  λ = {lam:.2f}, β = {beta:4.0f}: {100 * sum(values) / len(values):.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buffer", type=int, nargs="+", default=[20, 50, 200], help="memory sizes (images)")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=60, help="optimiser steps per task")
    parser.add_argument("--joint-epochs", type=int, default=20, help="epochs per stage of the joint upper bound")
    parser.add_argument("--scenarios", nargs="+", default=["class", "task"], choices=["class", "task"])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "split_digits.json")
    parser.add_argument("--md", type=Path, default=ROOT / "benchmarks" / "results" / "split_digits.md")
    parser.add_argument("--validate", action="store_true", help="choose the agent's λ and β (see the docstring)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.validate:
        validate(args)
        return
    start = time.perf_counter()
    out = run(args)
    out["machine"] = machine_line()
    out["wall_seconds"] = time.perf_counter() - start
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    text = (f"# Split Digits benchmark\n\nWritten {datetime.date.today()} by `python benchmarks/bench_split_digits.py "
            f"--buffer {' '.join(map(str, args.buffer))} --seeds {args.seeds} --steps {args.steps}` in "
            f"{out['wall_seconds'] / 60:.1f} min. {out['machine']}\n\nMethods: {', '.join(METHODS)}; "
            f"{args.steps} steps per task (32 images, plus 32 replayed); joint: {args.joint_epochs} epochs per "
            f"stage.\n\n" + table(out))
    args.md.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
