"""The full-budget ablation of notebook 07: more seeds and more steps than the notebook can afford.

Usage: python benchmarks/bench_ablation.py [--seeds 10] [--steps 100] [--digit-steps 150]

Runs, with ``helpers.experiments``:
* the main-stream ablation of notebook 06's agent (every variant of ``ABLATION_VARIANTS``: naive, joint,
  uniform and prioritised replay, memory only, replay + memory, full agent + meta), ``--steps`` agent
  steps per task, on seeds 0 .. ``--seeds`` - 1;
* Split Digits, task- and class-incremental: the MLP (naive, replay, joint) and the agent with its memory
  on and off, ``--digit-steps`` steps per task, same seeds;
* the playground's ``quick_experiment`` at its defaults, timed.

Every main-stream variant trains on the same budget (``fit_equal_budget``: batch + replay-batch episodes
per step, replayed ones included; the meta variant's boundary steps are counted on top and reported).
Reports mean ± sample standard deviation over seeds, the examples seen per run, the number of seeds,
seed-paired differences for the components' contributions with their 95 % paired t-intervals
(``compare``), and rewrites benchmarks/results/ablation.md. Everything else (batch
sizes, buffer sizes, replay weight, α) matches the notebook's defaults.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import time
from pathlib import Path

import numpy as np
import torch
from machine import machine_line  # benchmarks/machine.py (scripts run from benchmarks/)

from helpers.agent import AgentConfig
from helpers.experiments import (
    ABLATION_VARIANTS,
    METRICS,
    SCENARIOS,
    ablation_methods,
    compare,
    make_split_digits,
    quick_experiment,
    results_table,
    run_methods,
    train_agent_on_digits,
    train_split_digits,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "ablation.md"

DIGIT_METRICS = ("acc", "bwt", "seconds", "examples")

# the notebook's defaults, except the budget
AGENT_BATCH, REPLAY_CAPACITY, REPLAY_WEIGHT, ALPHA = 8, 16, 0.5, 0.6
TRAIN_SIZE, TEST_SIZE, EVAL_EPISODES = 256, 256, 32
DIGIT_TEST_FRACTION, DIGIT_BUFFER, EXEMPLARS = 0.25, 200, 10


def paired(results, first: str, second: str, percent: bool = False) -> str:
    """``helpers.experiments.compare`` as one line: how much better ``first`` ends than ``second``, seed-paired,
    with its 95 % paired t-interval. Errors (main stream): lower is better; accuracies (``percent``, in
    points): higher is better."""
    c = compare(results, first, second, higher_is_better=percent)
    scale, places = (100, 1) if percent else (1, 4)
    low, high = (scale * v for v in c["ci"])
    return (f"{scale * c['gain']:+.{places}f}, 95 % t-interval [{low:+.{places}f}, {high:+.{places}f}] "
            f"(SE {scale * c['se']:.{places}f}, t {c['t']:.2f}; better on {c['wins']} of {c['n']} seeds): "
            f"{c['verdict']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0 .. N-1 for every method")
    parser.add_argument("--steps", type=int, default=100, help="main stream: agent steps per task")
    parser.add_argument("--digit-steps", type=int, default=150, help="Split Digits: steps per task")
    args = parser.parse_args()
    if args.seeds < 2:
        parser.error("--seeds must be >= 2 (a standard deviation needs two runs)")
    torch.set_num_threads(1)
    os.environ.setdefault("NMA_QUIET", "1")
    seeds = list(range(args.seeds))
    started = time.perf_counter()

    config = AgentConfig(steps_per_task=args.steps, batch_size=AGENT_BATCH, replay_batch_size=AGENT_BATCH,
                         replay_capacity=REPLAY_CAPACITY, replay_weight=REPLAY_WEIGHT, alpha=ALPHA)
    methods = ablation_methods(config, train_size=TRAIN_SIZE, test_size=TEST_SIZE, eval_episodes=EVAL_EPISODES)
    ablation = run_methods(methods, seeds, higher_is_better=False, desc="ablation")
    main_seconds = time.perf_counter() - started
    ablation_metrics = (*METRICS, "examples")
    print(results_table(ablation, ablation_metrics, digits=4), flush=True)
    examples = {r.method: r.metrics["examples"] for r in ablation}
    budget = examples["naive"]
    assert all(e == budget for m, e in examples.items() if m != "full agent + meta"), examples
    hook = examples["full agent + meta"] - budget

    tasks = make_split_digits(DIGIT_TEST_FRACTION, seed=0)
    digit_config = dataclasses.replace(config, steps_per_task=args.digit_steps, alpha=0.0)
    digits = {}
    for scenario in SCENARIOS:
        def mlp(method, scenario=scenario):
            return lambda s: train_split_digits(tasks, scenario, method, args.digit_steps, replay_weight=REPLAY_WEIGHT,
                                                buffer_capacity=DIGIT_BUFFER, seed=s)

        def agent(use_memory, scenario=scenario):
            cfg = dataclasses.replace(digit_config, use_memory=use_memory)
            return lambda s: train_agent_on_digits(tasks, scenario, dataclasses.replace(cfg, seed=s), EXEMPLARS)

        digits[scenario] = run_methods({"naive": mlp("naive"), "replay": mlp("replay"), "agent": agent(True),
                                        "agent, memory off": agent(False), "joint": mlp("joint")},
                                       seeds, desc=f"{scenario}-IL")
        print(results_table(digits[scenario], DIGIT_METRICS, digits=1, scale=100), flush=True)

    quick_experiment(steps_per_task=2, num_tasks=2)  # warm-up
    playground = []
    for s in range(5):
        start = time.perf_counter()
        quick_experiment(seed=s)
        playground.append(time.perf_counter() - start)
    total = time.perf_counter() - started

    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = "python benchmarks/bench_ablation.py"
    if (args.seeds, args.steps, args.digit_steps) != (10, 100, 150):
        command += f" --seeds {args.seeds} --steps {args.steps} --digit-steps {args.digit_steps}"
    lines = [
        "# Ablation benchmark: what each component of the agent buys",
        "",
        f"Command: `{command}` (from the repository root). Written by `benchmarks/bench_ablation.py` on {stamp} "
        f"in {total / 60:.1f} min (main-stream ablation {main_seconds / 60:.1f} min).",
        "",
        machine_line(),
        "",
        f"## Main stream ({len(seeds)} seeds: {seeds[0]}..{seeds[-1]})",
        "",
        f"Notebook 06's agent, one `AgentConfig` with switches changed (`helpers.experiments.ABLATION_VARIANTS`): "
        f"{args.steps} steps per task, each on the same budget for every variant (`fit_equal_budget`): "
        f"{2 * AGENT_BATCH} episodes of 16 context pairs + 8 queries, all current for naive, memory only and joint, "
        f"{AGENT_BATCH} current + {AGENT_BATCH} replayed for a replay variant once it replays (from the second task; "
        f"before that all {2 * AGENT_BATCH} are current). So every variant sees {budget:,.0f} examples per run; the "
        f"meta variant's boundary hook (5 steps on 16 examples at each of 4 boundaries) adds {hook:,.0f} "
        f"({100 * hook / budget:.2f} %), counted in its column. A {REPLAY_CAPACITY}-episode reservoir buffer, replay "
        f"weight {REPLAY_WEIGHT}, α {ALPHA} for the prioritised variants; 5 tasks of {TRAIN_SIZE} training / "
        f"{TEST_SIZE} test examples. "
        f"Metrics: test query MSE over {EVAL_EPISODES} test episodes per task (lower ACC is better; BWT > 0 = old "
        "tasks got worse); time = training seconds per run (evaluation excluded). Mean ± sample std over seeds.",
        "",
        results_table(ablation, ablation_metrics, digits=4),
        "",
        "How much lower the first variant's final error (ACC) is than the second's, seed-paired (mean gain, its "
        f"95 % paired t-interval with t(0.975, {len(seeds) - 1}); a difference counts only when the interval "
        "excludes zero):",
        "",
        f"* replay (uniform) vs naive: {paired(ablation, 'replay (uniform)', 'naive')}",
        f"* replay (uniform) vs replay (prioritised): {paired(ablation, 'replay (uniform)', 'replay (prioritised)')}",
        f"* memory only vs naive: {paired(ablation, 'memory only', 'naive')}",
        f"* replay + memory vs replay (prioritised): {paired(ablation, 'replay + memory', 'replay (prioritised)')}",
        f"* full agent + meta vs replay + memory: {paired(ablation, 'full agent + meta', 'replay + memory')}",
        f"* joint vs full agent + meta: {paired(ablation, 'joint', 'full agent + meta')}",
        "",
        f"## Split Digits ({len(seeds)} seeds: {seeds[0]}..{seeds[-1]}; one fixed train/test split, seed 0)",
        "",
        "scikit-learn's `load_digits` (1,797 8×8 images), tasks {0,1} {2,3} {4,5} {6,7} {8,9}, 25 % of each digit "
        f"held out. MLP 64-100-100-10 (naive / replay with a {DIGIT_BUFFER}-image reservoir buffer, uniform / joint), "
        f"{args.digit_steps} steps of 32 images per task; the agent (α = 0, memory on or off) with episode contexts "
        f"from an exemplar store of {EXEMPLARS} images per seen digit. Test accuracy in %. Budgets follow van de "
        "Ven & Tolias, not the equal-budget ablation: a replay step adds its replayed batch to the current one, so "
        "replay sees about twice the examples of naive and joint (column *examples seen*; the agent's count also "
        "includes the 16 exemplar context images of each episode).",
        "",
    ]
    for scenario in SCENARIOS:
        lines += [f"### {scenario}-incremental", "",
                  results_table(digits[scenario], DIGIT_METRICS, digits=1, scale=100), ""]
    lines += [
        "How many percentage points higher the first method's class-IL accuracy is, seed-paired (mean gain, its "
        f"95 % paired t-interval with t(0.975, {len(seeds) - 1}); a difference counts only when the interval "
        "excludes zero):",
        "",
        f"* replay vs naive: {paired(digits['class'], 'replay', 'naive', percent=True)}",
        f"* agent, memory off vs agent: {paired(digits['class'], 'agent, memory off', 'agent', percent=True)}",
        f"* agent vs naive: {paired(digits['class'], 'agent', 'naive', percent=True)}",
        f"* joint vs replay: {paired(digits['class'], 'joint', 'replay', percent=True)}",
        "",
        "Published split MNIST (van de Ven & Tolias 2019, MLP 2×400): task-IL fine-tuning 87.2 %; class-IL "
        "fine-tuning 19.9 %, generative replay (DGR, DGR + distillation) 90.8–91.8 %, iCaRL 94.6 %. Our replay is "
        "a buffer of stored images, not generative replay.",
        "",
        "## Playground",
        "",
        "`quick_experiment()` at its defaults (80 steps per task, 5 tasks; notebook 07's Run button): "
        f"median {np.median(playground):.2f} s "
        f"(range {min(playground):.2f}–{max(playground):.2f} s) over {len(playground)} seeds.",
        "",
    ]
    assert set(ABLATION_VARIANTS) == {r.method for r in ablation}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines))
    print(f"wrote {RESULTS} ({total / 60:.1f} min)")


if __name__ == "__main__":
    main()
