"""The continual-learning agent (helpers.agent, notebook 06): the original schedule, throughput, run times.

Usage: python benchmarks/bench_agent.py [--seeds 5] [--steps 200]

(a) The original tutorial's schedule: its four tasks (64 -> 64, no task cue), 50 training samples per task,
    20 epochs, replay from the second task on (``original_schedule_config``), scored on fresh test data
    (``make_original_stream``: 1,000 test samples per task from another seed). Training time (boundary hook
    included, evaluation excluded) and the average final test MSE, for ``--seeds`` seeds, with memory on
    (the agent) and off (a task-agnostic learner, bound by the 0.163 floor). Targets: <= 2 s, <= 0.18.
(b) Throughput of ``train_step`` at the default config on the main stream (task 1, so replay is active):
    batched (16 episodes per step) versus batch size 1 (one episode and one replayed episode per step), and
    the LSTM controller path at the default batch. Examples = labelled pairs in the current episodes
    (context + queries); the replayed episodes come on top.
(c) Wall time of one whole main-stream run (5 tasks x 100 steps, evaluation included) for each switch
    setting, the figure notebook 07 plans its budget with.

Everything runs on one CPU thread; rewrites benchmarks/results/agent.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("NMA_QUIET", "1")

import torch
from machine import machine_line  # benchmarks/machine.py (scripts run from benchmarks/)

from helpers.agent import AgentConfig, ContinualAgent, make_original_stream, original_schedule_config, run_agent
from helpers.foundations import make_main_stream, original_task_floors

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "agent.md"
ORIGINAL_PER_SAMPLE_SECONDS = 67.6  # the original's per-sample training on the same schedule (PITFALLS)
ORIGINAL_TUTORIAL_MSE = 0.216


def original_schedule(seeds: int) -> dict:
    rows = {"agent (memory + replay)": [], "memory off (replay only)": []}
    for seed in range(seeds):
        stream = make_original_stream(50, 1000, seed=seed)
        for name, use_memory in (("agent (memory + replay)", True), ("memory off (replay only)", False)):
            run = run_agent(original_schedule_config(seed=seed, use_memory=use_memory), stream)
            rows[name].append((run.train_seconds, run.R[-1].mean().item()))
    return {name: np.array(values) for name, values in rows.items()}


def throughput(steps: int) -> list[dict]:
    stream = make_main_stream()
    default = AgentConfig()
    settings = [
        ("batched, feed-forward controller", default),
        ("batch size 1, feed-forward controller", dataclasses.replace(default, batch_size=1, replay_batch_size=1)),
        ("batched, LSTM controller", dataclasses.replace(default, controller="lstm")),
    ]
    rows = []
    for name, config in settings:
        agent = ContinualAgent(config, stream.input_dim)
        agent.learn_task(stream[0], steps=20)  # fill the buffer so that replay is active below
        n = steps if config.controller == "feedforward" else max(10, steps // 10)
        episodes = [agent.episodes(stream[1], config.batch_size) for _ in range(n)]
        start = time.perf_counter()
        for episode in episodes:
            agent.train_step(episode, 1)
        seconds = time.perf_counter() - start
        per_step = config.batch_size * (config.context_size + config.query_size)
        rows.append({"name": name, "batch": config.batch_size, "steps": n, "ms_per_step": 1000 * seconds / n,
                     "examples_per_s": per_step * n / seconds, "episodes_per_s": config.batch_size * n / seconds})
    return rows


def stream_runs() -> list[dict]:
    stream = make_main_stream()
    rows = []
    for name, switches in (("naive", {"use_memory": False, "use_replay": False}),
                           ("replay only", {"use_memory": False}), ("memory only", {"use_replay": False}),
                           ("memory + replay", {}), ("memory + replay + meta", {"use_meta": True})):
        start = time.perf_counter()
        run = run_agent(dataclasses.replace(AgentConfig(), **switches), stream)
        rows.append({"name": name, "wall": time.perf_counter() - start, "train": run.train_seconds,
                     "acc": run.metrics()["acc"]})
    return rows


def write_results(original: dict, through: list[dict], runs: list[dict], command: str, seconds: float) -> str:
    floors = original_task_floors()
    lines = [
        "# Agent benchmark (`helpers.agent`, notebook 06)",
        "",
        f"Command: `{command}` (from the repository root). Written by `benchmarks/bench_agent.py` on "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC in {seconds:.0f} s.",
        "",
        machine_line(),
        "",
        "## (a) The original tutorial's schedule",
        "",
        "Four original tasks (64 inputs -> 64 outputs, no task cue), 50 training samples each, 20 epochs, replay "
        "from the second task on (`original_schedule_config`: 20 steps per task, each showing 5 episodes of 10 "
        "context pairs + 10 queries). Scored on fresh test data: 64 test episodes per task, context and queries "
        "both from 1,000 test samples drawn with another seed. Mean ± std over "
        f"{len(next(iter(original.values())))} seeds.",
        "",
        "| learner | training time (s) | average final test MSE | target |",
        "|---|---:|---:|---|",
    ]
    for name, values in original.items():
        target = "<= 2 s, <= 0.18" if name.startswith("agent") else "(reference)"
        lines.append(f"| {name} | {values[:, 0].mean():.2f} ± {values[:, 0].std():.2f} | "
                     f"{values[:, 1].mean():.4f} ± {values[:, 1].std():.4f} | {target} |")
    lines += [
        f"| original tutorial, per-sample training | {ORIGINAL_PER_SAMPLE_SECONDS} | {ORIGINAL_TUTORIAL_MSE} | |",
        f"| task-agnostic floor (best predictor that does not know the task) | | {floors['task_agnostic']:.4f} | |",
        f"| per-task constant (knows the task, ignores x) | | {floors['per_task_constant']:.4f} | |",
        "",
        "The agent reads 10 labelled test examples of the task from its memory before answering each episode's "
        "queries, so it is not task-agnostic and the 0.163 floor does not bind it; with memory off it is, and it "
        "cannot beat the floor.",
        "",
        "## (b) Throughput of `train_step` at the default config (main stream, replay active)",
        "",
        "Examples = labelled pairs in the current episodes per step (episodes × (16 context + 8 queries)); "
        "each step also replays as many stored episodes.",
        "",
        "| setting | episodes per step | steps timed | ms per step | examples / s | episodes / s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in through:
        lines.append(f"| {row['name']} | {row['batch']} | {row['steps']} | {row['ms_per_step']:.2f} | "
                     f"{row['examples_per_s']:,.0f} | {row['episodes_per_s']:,.0f} |")
    speedup = through[0]["examples_per_s"] / through[1]["examples_per_s"]
    lstm = through[0]["examples_per_s"] / through[2]["examples_per_s"]
    lines += [
        "",
        f"Batched training processes {speedup:.1f}× more examples per second than batch size 1, and the "
        f"batched feed-forward controller {lstm:.0f}× more than the per-timestep LSTM controller.",
        "",
        "## (c) One main-stream run (5 tasks × 100 steps, default config, evaluation included)",
        "",
        "| switches | wall time (s) | of which training (s) | ACC (final mean test MSE) |",
        "|---|---:|---:|---:|",
    ]
    for row in runs:
        lines.append(f"| {row['name']} | {row['wall']:.2f} | {row['train']:.2f} | {row['acc']:.4f} |")
    lines.append("")
    text = "\n".join(lines)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=200, help="timed steps per throughput setting")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    original = original_schedule(args.seeds)
    for name, values in original.items():
        print(f"{name}: {values[:, 0].mean():.2f} s, final MSE {values[:, 1].mean():.4f}", flush=True)
    through = throughput(args.steps)
    runs = stream_runs()
    command = "python benchmarks/bench_agent.py"
    if args.seeds != 5:
        command += f" --seeds {args.seeds}"
    if args.steps != 200:
        command += f" --steps {args.steps}"
    print(write_results(original, through, runs, command, time.perf_counter() - start))


if __name__ == "__main__":
    main()
