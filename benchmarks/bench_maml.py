"""MAML on few-shot sine regression at the paper's budget (Finn et al. 2017: 70,000 meta-iterations).

Usage: python benchmarks/bench_maml.py [--iterations 70000] [--checkpoint-every 5000] [--quick]

Trains second-order MAML for K = 5 and K = 10 (and first-order MAML for K = 10), scores each on the
same 600 held-out tasks after 0..10 inner steps (mean and 95% CI) next to a multi-task "pretrained"
baseline fine-tuned with the same steps and step size, and times a meta-iteration (first vs second
order, vmap vs loop, 1 vs 2 threads). Results are rewritten to benchmarks/results/maml.md after every
checkpoint, so a run that is cut short still reports how far it got.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import time
from functools import partial
from pathlib import Path

import torch

from helpers.foundations import make_generator
from helpers.maml import MAML, adaptation_curve, make_sine_mlp, mean_ci95, pretrain_multitask, sample_sine_tasks

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SCRATCH = ROOT / "build" / "bench_maml"  # raw numbers and the checkpoint: not committed
PAPER_K10 = {0: "≈3.0", 1: "≈0.4–0.5", 10: "≈0.1–0.2"}  # readings of the paper's figure (K = 10)
TEST_SEED, TEST_TASKS, TEST_QUERY = 20_170_306, 600, 100
META_BATCH, INNER_LR, OUTER_LR, MAX_STEPS = 25, 0.01, 1e-3, 10


def test_tasks(k: int):
    return sample_sine_tasks(TEST_TASKS, k, TEST_QUERY, make_generator(TEST_SEED + k))


def curve_summary(curves: torch.Tensor) -> list[list[float]]:
    return [list(mean_ci95(curves[:, s])) for s in range(curves.shape[1])]


def time_meta_iterations(variants: dict, k: int, iterations: int, rounds: int) -> dict:
    """Seconds per meta-iteration of each variant ``name: (threads, MAML kwargs)``, best of ``rounds``:
    ``{"wall": wall-clock, "cpu": process CPU time}``. Variants take turns round after round, so bursts
    of load from other programs hit all of them alike; the best round is the least disturbed one.
    """
    sample = partial(sample_sine_tasks, META_BATCH, k, k)
    learners = {name: MAML(make_sine_mlp(seed=1), INNER_LR, 1, OUTER_LR, **kwargs)
                for name, (_, kwargs) in variants.items()}
    times = {name: [] for name in variants}
    for r in range(rounds + 1):  # round 0 is a warm-up
        for name, (threads, kwargs) in variants.items():
            n = max(iterations // 10, 2) if kwargs.get("batched") == "loop" else iterations
            torch.set_num_threads(threads)
            start, cpu_start = time.perf_counter(), time.process_time()
            learners[name].fit(sample, n, seed=r, desc="timing")
            times[name].append(((time.perf_counter() - start) / n, (time.process_time() - cpu_start) / n))
    torch.set_num_threads(1)
    return {name: {"wall": min(w for w, _ in t[1:]), "cpu": min(c for _, c in t[1:])} for name, t in times.items()}


TIMING_VARIANTS = {
    "second order, vmap, 1 thread": (1, {"batched": "vmap"}),
    "first order, vmap, 1 thread": (1, {"batched": "vmap", "first_order": True}),
    "second order, loop over tasks, 1 thread": (1, {"batched": "loop"}),
    "second order, vmap, 2 threads": (2, {"batched": "vmap"}),
    "first order, vmap, 2 threads": (2, {"batched": "vmap", "first_order": True}),
}


def notes(state: dict) -> list[str]:
    """Plain-language comparison with the paper, computed from the numbers above."""
    out = ["- Scope: the paper readings recorded in our anchors (ANCHORS.md) are for K = 10 only; no paper "
           "readings for K = 5 are recorded there, so the comparison with the paper is K = 10 only. The "
           "first-order (FOMAML) results are K = 10 only (K = 5 was trained second-order only)."]
    if "MAML K=10" in state["curves"]:
        c = state["curves"]["MAML K=10"]
        meets = c[1][0] <= 0.5 and c[10][0] <= 0.2 and abs(c[0][0] - 3.0) < 0.5
        out.append(f"- MAML K=10 after {state['runs']['MAML K=10']['iterations']:,} iterations: {c[0][0]:.2f} before "
                   f"adaptation, {c[1][0]:.3f} after one step, {c[10][0]:.3f} after ten: "
                   + ("at or below the paper's readings at every reported step." if meets
                      else "**not** at the paper's readings."))
    if "MAML K=5" in state["curves"]:
        c = state["curves"]["MAML K=5"]
        out.append(f"- MAML K=5: {c[1][0]:.3f} after one step, {c[10][0]:.3f} after ten, reported without a paper "
                   "comparison (no K = 5 readings in our anchors); fewer points make the task more ambiguous, so it "
                   "is expected to sit above K = 10.")
    if "FOMAML K=10" in state["curves"] and "MAML K=10" in state["curves"]:
        f, m = state["curves"]["FOMAML K=10"], state["curves"]["MAML K=10"]
        out.append(f"- First order (FOMAML) K=10: {f[1][0]:.3f} after one step vs {m[1][0]:.3f} for second order, "
                   f"{f[10][0]:.3f} vs {m[10][0]:.3f} after ten. Its pre-adaptation error ({f[0][0]:.2f}) "
                   "varied from checkpoint to checkpoint (3.0 to 5.1 in the logged run) while its adapted errors "
                   "stayed steady: neither order trains the unadapted weights' error directly.")
    t = state["timing"]
    if t:
        so, fo = t.get("second order, vmap, 1 thread"), t.get("first order, vmap, 1 thread")
        loop, two = t.get("second order, loop over tasks, 1 thread"), t.get("second order, vmap, 2 threads")
        if so and fo and loop and two:
            out.append(f"- Time: first order needs {fo['cpu'] / so['cpu']:.2f}x the CPU time of second order; the "
                       f"per-task loop {loop['cpu'] / so['cpu']:.1f}x that of vmap; 2 threads take "
                       f"{two['wall'] / so['wall']:.2f}x the wall time of 1 thread (on shared cores this ratio swings "
                       "widely from run to run, from slightly below 1 to many times above).")
    return out


def write_report(state: dict) -> None:
    (SCRATCH / "maml.json").write_text(json.dumps(state, indent=1))
    lines = ["# MAML on sine regression at the paper's budget", "",
             f"Written by `benchmarks/bench_maml.py` ({state['updated']}, torch {torch.__version__}, CPU, "
             f"{state['threads']} thread(s); the machine's 2 cores were shared with other jobs, so times are "
             "inflated and only comparable within one table).", "",
             f"Setup as Finn et al. 2017: A ~ U[0.1, 5], φ ~ U[0, π], x ~ U[-5, 5]; MLP 1-40-40-1 ReLU; α = "
             f"{INNER_LR} (one inner step in training); meta-batch {META_BATCH}; Adam {OUTER_LR}; K support + K "
             f"query points per training task. Evaluation: {TEST_TASKS} held-out tasks (fixed seed), K support "
             f"points, MSE on {TEST_QUERY} query points, mean ± 95% CI (1.96·sd/√n).", ""]
    lines += ["Reproduce: `python benchmarks/bench_maml.py` (about 15 min on one core; "
              "`--timing-only` refreshes the timing table).", ""]
    lines += ["## Runs", "", "| run | meta-iterations reached | target | wall time (s) |", "|---|---:|---:|---:|"]
    for name, run in state["runs"].items():
        lines.append(f"| {name} | {run['iterations']:,} | {run['target']:,} | {run['seconds']:.0f} |")
    lines.append("")
    if any(r["iterations"] < r["target"] for r in state["runs"].values()):
        lines += ["**Some runs did not reach the paper's 70,000 iterations**; their curves are at the iterations "
                  "listed above.", ""]
    steps = list(range(MAX_STEPS + 1))
    header = "| steps | " + " | ".join(state["curves"]) + " | paper, MAML K=10 |"
    lines += ["## Query MSE after n inner steps (mean ± 95% CI)", "", header,
              "|---:|" + "---:|" * (len(state["curves"]) + 1)]
    for s in steps:
        cells = [f"{c[s][0]:.3f} ± {c[s][1]:.3f}" for c in state["curves"].values()]
        lines.append(f"| {s} | " + " | ".join(cells) + f" | {PAPER_K10.get(s, '')} |")
    lines += ["", "Paper readings (K = 10, from its figure): ≈ 3.0 before adaptation, ≈ 0.4–0.5 after one "
              "step, ≈ 0.1–0.2 after ten; the pretrained baseline stays ≈ 2. No paper readings for K = 5 are "
              "recorded in our anchors, so the paper column is K = 10 only. ≈ 3.0 is also the error of the best "
              "task-agnostic predictor, E[y | x] = (2·E[A]/π)·cos x ≈ 1.62 cos x (predicting 0 gives ≈ 4.25).", ""]
    if state["timing"]:
        lines += ["## Time per meta-iteration (K = 10, meta-batch 25, one inner step; best of interleaved rounds)",
                  "",
                  "| variant | wall ms / meta-iteration | CPU ms / meta-iteration |", "|---|---:|---:|"]
        lines += [f"| {name} | {1e3 * t['wall']:.2f} | {1e3 * t['cpu']:.2f} |" for name, t in state["timing"].items()]
        lines += ["", "CPU time is the process's (all its threads): for one-thread variants it barely depends on "
                  "other programs' load; wall time is what you wait for and does."]
        lines.append("")
    lines += ["## Notes", "", *notes(state), ""]
    (RESULTS / "maml.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=70_000)
    parser.add_argument("--checkpoint-every", type=int, default=5_000)
    parser.add_argument("--timing-iterations", type=int, default=100)
    parser.add_argument("--timing-rounds", type=int, default=7)
    parser.add_argument("--timing-only", action="store_true", help="refresh the timing table of the last run")
    parser.add_argument("--quick", action="store_true", help="tiny budget, for checking the script")
    args = parser.parse_args()
    if args.quick:
        args.iterations, args.checkpoint_every, args.timing_iterations, args.timing_rounds = 200, 100, 20, 2
    torch.set_num_threads(1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    SCRATCH.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("NMA_QUIET", "1")
    state = {"threads": 1, "runs": {}, "curves": {}, "timing": {}, "updated": ""}
    if args.timing_only:  # keep the curves of the last full run, refresh only the timing table
        state.update(json.loads((SCRATCH / "maml.json").read_text()))

    def save():
        state["updated"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        write_report(state)

    state["timing"] = time_meta_iterations(TIMING_VARIANTS, 10, args.timing_iterations, args.timing_rounds)
    for name, t in state["timing"].items():
        print(f"timing {name}: wall {1e3 * t['wall']:.2f} ms/it, CPU {1e3 * t['cpu']:.2f} ms/it", flush=True)
    save()
    if args.timing_only:
        return

    # pretrained baselines first: cheap, and every later checkpoint can be compared with them
    for k in (10, 5):
        model = make_sine_mlp(seed=k)
        start = time.perf_counter()
        pretrain_multitask(model, partial(sample_sine_tasks, META_BATCH, k, k), args.iterations // 7, OUTER_LR, seed=k)
        curves = adaptation_curve(model, test_tasks(k), MAX_STEPS, INNER_LR)
        state["curves"][f"pretrained K={k}"] = curve_summary(curves)
        state["runs"][f"pretrained K={k}"] = {"iterations": args.iterations // 7, "target": args.iterations // 7,
                                              "seconds": time.perf_counter() - start}
        save()

    for name, k, first_order in (("MAML K=10", 10, False), ("MAML K=5", 5, False), ("FOMAML K=10", 10, True)):
        maml = MAML(make_sine_mlp(seed=k), INNER_LR, 1, OUTER_LR, first_order=first_order, batched="vmap")
        tasks = test_tasks(k)
        sample = partial(sample_sine_tasks, META_BATCH, k, k)
        generator = make_generator(100 + k + first_order)
        run = state["runs"][name] = {"iterations": 0, "target": args.iterations, "seconds": 0.0}
        start = time.perf_counter()
        while run["iterations"] < args.iterations:
            n = min(args.checkpoint_every, args.iterations - run["iterations"])
            for _ in range(n):
                maml.meta_step(sample(generator))
            run["iterations"] += n
            run["seconds"] = time.perf_counter() - start
            state["curves"][name] = curve_summary(maml.curve(tasks, MAX_STEPS))
            c = state["curves"][name]
            print(f"{name} it {run['iterations']}: step0 {c[0][0]:.3f} step1 {c[1][0]:.3f} step10 {c[10][0]:.3f} "
                  f"({run['seconds']:.0f} s)", flush=True)
            if name == "MAML K=10":
                torch.save({k: v.detach().clone() for k, v in maml.model.state_dict().items()},
                           SCRATCH / "maml_sine_k10.pt")
            save()
    print("done", flush=True)


if __name__ == "__main__":
    main()
