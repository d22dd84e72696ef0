"""A fair race on class-incremental Split Digits: every method tuned by the same search on held-out seeds,
then compared at equal training time on the reported seeds.

Protocol
    1. ``select``: for every method, memory size (20, 50, 200 images) and budget (60, 120, 240, 480 optimiser
       steps per task), the same number of trials (``TRIALS``) drawn from the method's own search space
       (``SPACES``: Adam's learning rate, the replay weight and the method's knobs; trial 0 is the method's
       default setting). Each trial is scored by its mean final accuracy over the held-out seeds 100-104.
    2. ``report``: each method's best trial per (memory size, budget) on seeds 0-9, scored after every task
       (the accuracy matrix R), with the training seconds (evaluation excluded).
    3. ``joint``: the joint bound (a fresh network trained on all tasks so far) at 10-160 epochs on the held-out
       seeds; the first epoch count whose doubling adds < 0.3 points is "converged" and is run on seeds 0-9
       (run ``joint`` twice: the first run draws the curve, the second runs the converged count).
    4. ``controls``: what the agent's parts do, at its equal-time budget on seeds 0-9: the meta-loss off
       (a plainly trained head, adapted at test time), the inner step near zero (1e-3), and the same agent read
       without test-time adaptation.
    5. ``table``: the selection table, accuracy against training seconds with the Pareto front
       (figure and table), every method at equal training time with paired 95 % intervals, the goals.

``time`` trains each chosen setting again on seeds 100-101 with nothing else running: the median of those
training times (evaluation excluded) is the setting's time on the figure and in the tables (the seconds the
other phases record ran beside other work). A time cap ``T`` gives each method its held-out best budget among
those whose time is at most ``T``: the comparison at equal training time is made only with settings and
budgets chosen on seeds 100-104. Jobs are independent; run shards in parallel, one per core:

    taskset -c 0 python benchmarks/fair_race.py select --shard 0/2 &
    taskset -c 1 python benchmarks/fair_race.py select --shard 1/2 & wait
    (the same for report, then joint and controls; then time, with the machine otherwise idle), then
    python benchmarks/fair_race.py table

Runs are appended to ``benchmarks/results/fair_race_<phase>.jsonl`` (a rerun skips finished jobs); ``table``
writes ``benchmarks/results/fair_race.md`` and the record notebooks 06 and 07 read, ``helpers/weights/fair_race.json``
(package data, so it travels with the package to Colab).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import statistics
import time
from pathlib import Path

import torch
from machine import machine_line  # benchmarks/machine.py (scripts run from benchmarks/)

from helpers.agent import NUM_DIGIT_CLASSES, AgentConfig, ContinualAgent, make_split_digits
from helpers.experiments import DIGIT_METHODS, RunResult, compare, digit_config, fit_jointly
from helpers.foundations import continual_metrics
from helpers.plumbing import weights_dir

RESULTS = Path(__file__).resolve().parent / "results"
NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "07_experiments_playground.ipynb"
RECORD = weights_dir() / "fair_race.json"  # what notebooks 06 and 07 read: shipped with the package, so Colab has it
HELD_OUT, REPORTED = list(range(100, 105)), list(range(10))
TIMED = HELD_OUT[:2]  # seeds whose training is timed again with nothing else running
SIZES, BUDGETS = (20, 50, 200), (60, 120, 240, 480)
JOINT_EPOCHS = (10, 20, 40, 80, 160)
TRIALS = 3  # settings tried per method, memory size and budget: the default and two random draws
TIME_CAPS = (1.0, 2.0, 4.0, 8.0, 16.0)  # seconds of training for the whole stream of five tasks

COMMON = {"lr": (3e-4, 1e-3, 3e-3), "replay_weight": (0.5, 0.75)}
READ = {"read_weight": (0.5, 0.75, 1.0), "read_beta": (10.0, 30.0)}
SPACES = {  # method -> (DIGIT_METHODS entry it starts from, readout, search space)
    "ER": ("ER", {}, COMMON),
    "ER + NCM": ("ER", {"readout": "ncm"}, COMMON),
    "ER-ACE": ("ER-ACE", {}, COMMON),
    "DER++": ("DER++", {}, {**COMMON, "logit_weight": (0.1, 0.3, 1.0)}),
    "memory read": ("memory read", {}, {**COMMON, "logit_weight": (0.1, 0.3, 1.0), **READ}),
    "agent": ("agent", {}, {**COMMON, "logit_weight": (0.0, 0.3), "ace": (False, True), **READ,
                            "meta_weight": (0.1, 0.25, 0.5), "adapt_lr": (0.3, 1.0), "meta_queries": (16, 64),
                            "meta_every": (1, 4), "test_adapt": (True, False)}),
}
METHODS = tuple(SPACES)
BASELINES = tuple(m for m in METHODS if m != "agent")


def trials(method: str, size: int, steps: int, count: int) -> list[dict]:
    """``count`` distinct settings from the method's space; the first is its default (no changes)."""
    space = SPACES[method][2]
    grid = [dict(zip(space, values)) for values in itertools.product(*space.values())]
    rng = random.Random(f"{method}|{size}|{steps}")  # the same draws on every machine and rerun
    drawn = rng.sample(grid, min(count - 1, len(grid)))
    return [{}] + [d for d in drawn if d != {}][: count - 1]


def train_and_score(method: str, size: int, steps: int, changes: dict, seed: int, every_task: bool) -> dict:
    """Train one learner on the five tasks; final accuracy (and R when ``every_task``) and training seconds."""
    base, readout, _ = SPACES[method]
    readout, changes = {**DIGIT_METHODS[base][1], **readout}, dict(changes)
    if "read_weight" in readout:  # λ as a setting, so that trials may change it
        changes = {"read_weight": readout.pop("read_weight"), **changes}
    adapt = changes.pop("test_adapt", None)
    if adapt is not None:
        readout["adapt"] = adapt
    config = digit_config(base, size, seed, "class", steps, **changes)
    tasks = make_split_digits(seed=seed)
    agent = ContinualAgent(config, 64, NUM_DIGIT_CLASSES)
    rows, seconds, other = [], 0.0, None
    for k, task in enumerate(tasks):
        start = time.perf_counter()
        agent.learn_task(task)
        seconds += time.perf_counter() - start
        if every_task or k == len(tasks) - 1:
            rows.append(agent.evaluate(tasks, **readout).tolist())
    if method == "ER":  # the same network answering with iCaRL's nearest class mean ("ER + NCM")
        other = agent.evaluate(tasks, readout="ncm").mean().item()
    if method == "agent" and config.adapt_steps:  # the same trained agent read the other way (a free control)
        other = agent.evaluate(tasks, **{**readout, "adapt": not readout.get("adapt", True)}).mean().item()
    return {"acc": sum(rows[-1]) / len(rows[-1]), "seconds": seconds, "R": rows if every_task else None,
            "other_acc": other}


def joint_score(epochs: int, seed: int) -> dict:
    tasks = make_split_digits(seed=seed)
    run = fit_jointly(tasks, AgentConfig(seed=seed), 64, NUM_DIGIT_CLASSES, "classification", epochs, "class")
    return {"acc": run.R[-1].mean().item(), "seconds": run.train_seconds, "R": run.R.tolist()}


# --- bookkeeping --------------------------------------------------------------------------------------------

def path(phase: str) -> Path:
    return RESULTS / f"fair_race_{phase}.jsonl"


def load(phase: str) -> list[dict]:
    p = path(phase)
    rows = [json.loads(line) for line in p.read_text().splitlines() if line.strip()] if p.exists() else []
    return _repaired(rows) if phase == "select" else rows


def _repaired(rows: list[dict]) -> list[dict]:
    """An early version of ``train_and_score`` dropped the agent's ``test_adapt`` from the recorded settings (and
    so ran those trials twice): put it back from the deterministic draws, and keep one run per job."""
    drawn = {}
    for size, steps in itertools.product(SIZES, BUDGETS):
        for t in trials("agent", size, steps, TRIALS):
            drawn[(size, steps, json.dumps({k: v for k, v in t.items() if k != "test_adapt"}, sort_keys=True))] = t
    out, seen = [], set()
    for r in rows:
        if r["method"] == "agent" and "test_adapt" not in r["changes"]:
            r["changes"] = drawn.get((r["size"], r["steps"], json.dumps(r["changes"], sort_keys=True)), r["changes"])
        if key(r) not in seen:
            seen.add(key(r))
            out.append(r)
    return out


def key(job: dict) -> str:
    return json.dumps({k: job[k] for k in ("method", "size", "steps", "changes", "seed")}, sort_keys=True)


def selected() -> dict:
    """(method, size, steps) -> {"changes", "acc", "seconds"}: the best held-out trial (mean over seeds 100-104)."""
    drawn = {(m, size, steps, json.dumps(c, sort_keys=True)) for m in METHODS for size in SIZES for steps in BUDGETS
             for c in trials(m, size, steps, TRIALS)}
    by_trial: dict[tuple, list[dict]] = {}
    for r in load("select"):
        if (r["method"], r["size"], r["steps"], json.dumps(r["changes"], sort_keys=True)) not in drawn:
            continue  # a run of an earlier, larger draw: every method gets exactly TRIALS trials
        if r["method"] == "ER":
            load_ncm = {**r, "method": "ER + NCM", "acc": r["other_acc"]}
            by_trial.setdefault(("ER + NCM", r["size"], r["steps"], json.dumps(r["changes"], sort_keys=True)),
                                []).append(load_ncm)
        by_trial.setdefault((r["method"], r["size"], r["steps"], json.dumps(r["changes"], sort_keys=True)),
                            []).append(r)
    best: dict[tuple, dict] = {}
    for (method, size, steps, changes), runs in by_trial.items():
        if len(runs) < len(HELD_OUT):
            continue
        acc = statistics.mean(r["acc"] for r in runs)
        cell = (method, size, steps)
        if cell not in best or acc > best[cell]["acc"]:
            best[cell] = {"changes": json.loads(changes), "acc": acc,
                          "seconds": statistics.median(r["seconds"] for r in runs), "trials": 0}
    for (method, size, steps, _), runs in by_trial.items():
        if (method, size, steps) in best and len(runs) >= len(HELD_OUT):
            best[(method, size, steps)]["trials"] += 1
    timed: dict[tuple, list[float]] = {}
    for r in load("time"):
        if r["changes"] == best.get((r["method"], r["size"], r["steps"]), {}).get("changes"):
            timed.setdefault((r["method"], r["size"], r["steps"]), []).append(r["seconds"])
    for cell, seconds in timed.items():
        if len(seconds) == len(TIMED):
            best[cell]["seconds"] = statistics.median(seconds)  # the clean timing replaces the loaded one
            best[cell]["timed"] = True
    return best


def jobs(phase: str, args) -> list[dict]:
    out = []
    if phase == "select":
        for size, steps, method in itertools.product(SIZES, BUDGETS, METHODS):
            if method == "ER + NCM":
                continue  # scored on ER's runs (the same space and the same number of trials)
            for changes in trials(method, size, steps, TRIALS):
                out += [dict(method=method, size=size, steps=steps, changes=changes, seed=s) for s in HELD_OUT]
    elif phase == "report":
        for (method, size, steps), best in sorted(selected().items()):
            out += [dict(method=method, size=size, steps=steps, changes=best["changes"], seed=s) for s in REPORTED]
    elif phase == "time":  # training time alone, on an otherwise idle machine: the x axis and the time caps
        for (method, size, steps), best in sorted(selected().items()):
            out += [dict(method=method, size=size, steps=steps, changes=best["changes"], seed=s) for s in TIMED]
    elif phase == "joint":
        out += [dict(method="joint", size=0, steps=e, changes={}, seed=s) for e in JOINT_EPOCHS for s in HELD_OUT]
        converged = joint_converged()
        if converged:
            out += [dict(method="joint", size=0, steps=converged, changes={}, seed=s) for s in REPORTED]
    elif phase == "controls":
        best = selected()
        for size in SIZES:
            steps = choose(best, "agent", size, max(TIME_CAPS))
            changes = dict(best[("agent", size, steps)]["changes"])
            for name, change in (("meta-loss off", {"meta_weight": 0.0}), ("inner step 1e-3", {"adapt_lr": 1e-3})):
                out += [dict(method="agent", size=size, steps=steps, changes={**changes, **change}, seed=s,
                             control=name) for s in REPORTED]
    return out


def choose(best: dict, method: str, size: int, cap: float) -> int | None:
    """The budget (steps) with the best held-out accuracy among those with held-out median time <= ``cap``."""
    fits = [(b["acc"], steps) for (m, s, steps), b in best.items() if m == method and s == size
            and b["seconds"] <= cap]
    return max(fits)[1] if fits else None


def joint_converged() -> int | None:
    by_epochs: dict[int, list[float]] = {}
    for r in load("joint"):
        if r["seed"] in HELD_OUT:
            by_epochs.setdefault(r["steps"], []).append(r["acc"])
    means = [(e, statistics.mean(v)) for e, v in sorted(by_epochs.items()) if len(v) == len(HELD_OUT)]
    if len(means) < len(JOINT_EPOCHS):
        return None
    for (e, acc), (_, doubled) in zip(means, means[1:]):
        if doubled - acc < 0.003:
            return e
    return means[-1][0]


def run(phase: str, args) -> None:
    todo = jobs(phase, args)
    done = {key(r) + r.get("control", "") for r in load(phase)}
    index, count = map(int, args.shard.split("/"))
    todo = [j for n, j in enumerate(todo) if n % count == index and key(j) + j.get("control", "") not in done]
    print(f"{phase}: {len(todo)} jobs in shard {args.shard}", flush=True)
    torch.set_num_threads(1)
    start = time.perf_counter()
    with path(phase).open("a") as f:
        for n, job in enumerate(todo):
            if job["method"] == "joint":
                result = joint_score(job["steps"], job["seed"])
            else:
                result = train_and_score(job["method"], job["size"], job["steps"], job["changes"], job["seed"],
                                         every_task=phase != "select")
            f.write(json.dumps({**job, **result, "load": os.getloadavg()[0]}) + "\n")
            f.flush()
            if n % 20 == 0:
                print(f"  {n + 1}/{len(todo)} after {time.perf_counter() - start:.0f} s", flush=True)


# --- tables and figure ----------------------------------------------------------------------------------------

def _results(rows: list[dict], label: str) -> list[RunResult]:
    return [RunResult(label, r["seed"], torch.zeros(1, 1), {"acc": r["acc"]}) for r in rows]


def _interval(first: list[dict], second: list[dict]) -> dict:
    """``first`` minus ``second`` in points, paired by seed: mean and 95 % t-interval."""
    c = compare(_results(first, "a") + _results(second, "b"), "a", "b")
    return {"gain": 100 * c["gain"], "ci": [100 * c["ci"][0], 100 * c["ci"][1]], "wins": c["wins"], "n": c["n"]}


def summary() -> dict:
    best, report = selected(), {}
    for r in load("report"):
        report.setdefault((r["method"], r["size"], r["steps"]), []).append(r)
    out = {"held_out_seeds": HELD_OUT, "reported_seeds": REPORTED, "budgets": list(BUDGETS), "trials": TRIALS,
           "time_caps": list(TIME_CAPS), "spaces": {m: {k: list(v) for k, v in SPACES[m][2].items()}
                                                    for m in METHODS},
           "selection": {}, "report": {}, "equal_time": {}, "machine": machine_line()}
    for (method, size, steps), b in sorted(best.items()):
        out["selection"].setdefault(str(size), {}).setdefault(method, {})[str(steps)] = b
        runs = sorted(report.get((method, size, steps), []), key=lambda r: r["seed"])
        if len(runs) == len(REPORTED):
            metrics = [continual_metrics(torch.tensor(r["R"])) for r in runs]
            out["report"].setdefault(str(size), {}).setdefault(method, {})[str(steps)] = {
                "acc": [r["acc"] for r in runs], "seconds": [r["seconds"] for r in runs],
                "forgetting": [m["forgetting"] for m in metrics], "load": statistics.mean(r["load"] for r in runs),
                "timed_seconds": b["seconds"]}
    for size in SIZES:
        for cap in TIME_CAPS:
            chosen = {m: choose(best, m, size, cap) for m in METHODS}
            cell = {"budgets": chosen, "vs_agent": {}}
            a = report.get(("agent", size, chosen["agent"]))
            for m in BASELINES:
                b = report.get((m, size, chosen[m]))
                if a and b and len(a) == len(b) == len(REPORTED):
                    cell["vs_agent"][m] = _interval(sorted(a, key=lambda r: r["seed"]),
                                                    sorted(b, key=lambda r: r["seed"]))
            out["equal_time"].setdefault(str(size), {})[str(cap)] = cell
    joint = load("joint")
    curve: dict[int, list[float]] = {}
    for r in joint:
        if r["seed"] in HELD_OUT:
            curve.setdefault(r["steps"], []).append(r["acc"])
    epochs = joint_converged()
    reported = sorted((r for r in joint if r["seed"] in REPORTED and r["steps"] == epochs), key=lambda r: r["seed"])
    out["joint"] = {"held_out_curve": {str(e): statistics.mean(v) for e, v in sorted(curve.items())},
                    "converged_epochs": epochs, "acc": [r["acc"] for r in reported],
                    "seconds": [r["seconds"] for r in reported]}
    headline = str(max(TIME_CAPS))  # every method at its best budget up to the largest cap
    out["goals"] = {"cap": max(TIME_CAPS), "not_worse": {}, "over_ace_at_20": None, "joint_gap_at_200": None}
    for size in SIZES:
        cell = out["equal_time"][str(size)][headline]
        out["goals"]["not_worse"][str(size)] = {m: c["ci"][0] > 0 for m, c in cell["vs_agent"].items()}
    out["goals"]["over_ace_at_20"] = out["equal_time"]["20"][headline]["vs_agent"].get("ER-ACE")
    agent_200 = report.get(("agent", 200, out["equal_time"]["200"][headline]["budgets"]["agent"]))
    if agent_200 and len(reported) == len(REPORTED):
        out["goals"]["joint_gap_at_200"] = _interval(reported, sorted(agent_200, key=lambda r: r["seed"]))
    out["controls"] = {}
    for r in load("controls"):
        out["controls"].setdefault(str(r["size"]), {"steps": r["steps"]}).setdefault(r["control"], []).append(r)
    for size, controls in out["controls"].items():
        controls = out["controls"][size]
        agent = sorted(report.get(("agent", int(size), controls["steps"]), []), key=lambda r: r["seed"])
        for name in [k for k in controls if k != "steps"]:
            rows = sorted(controls[name], key=lambda r: r["seed"])
            if len(rows) < len(REPORTED) or len(agent) < len(REPORTED):
                del controls[name]  # still running
                continue
            controls[name] = {"acc": [r["acc"] for r in rows], "agent_minus_control": _interval(agent, rows)}
        if agent:
            flipped = [{**r, "acc": r["other_acc"]} for r in agent]
            adapts = agent[0]["changes"].get("test_adapt", True)
            controls[f"test-time adaptation {'off' if adapts else 'on'}"] = {
                "acc": [r["acc"] for r in flipped], "agent_minus_control": _interval(agent, flipped)}
    return out


def _mean(values) -> float:
    return 100 * statistics.mean(values)


def notebook_cell() -> dict:
    """Notebook 07's cell tagged "race-figure" (``pareto_front``, ``plot_race``), run here: one source for both."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    namespace = {"plt": plt}
    for cell in json.loads(NOTEBOOK.read_text())["cells"]:
        if "race-figure" in cell["metadata"].get("tags", []):
            exec(compile("".join(cell["source"]), f"{NOTEBOOK.name}:race-figure", "exec"), namespace)
    return namespace


def write_tables() -> None:
    out, cell = summary(), notebook_cell()
    if out["report"] and out["joint"]["acc"]:  # the figure of notebook 07, for the README
        cell["plot_race"](out).savefig(RESULTS / "fair_race.png", dpi=100, bbox_inches="tight")
    RECORD.write_text(json.dumps(out, indent=1) + "\n")
    lines = ["# A fair race on class-incremental Split Digits", "",
             "Written by `python benchmarks/fair_race.py table` from the runs of `select`, `report`, `joint` and "
             f"`controls` (see the script's docstring). {out['machine']}", "",
             f"Every method: {BUDGETS} optimiser steps per task, the same number of trials per memory size and "
             f"budget, chosen on seeds {HELD_OUT[0]}-{HELD_OUT[-1]}; reported on seeds {REPORTED[0]}-{REPORTED[-1]}.",
             ""]
    lines += ["## Selection (held-out seeds): chosen setting per method, memory size and budget", "",
              "| memory | method | steps | trials | held-out acc % | train s (timed alone) | chosen changes |",
              "|---:|---|---:|---:|---:|---:|---|"]
    for size, methods in out["selection"].items():
        for method, by_steps in methods.items():
            for steps, b in by_steps.items():
                lines.append(f"| {size} | {method} | {steps} | {b['trials']} | {100 * b['acc']:.1f} | "
                             f"{b['seconds']:.2f} | {json.dumps(b['changes']) if b['changes'] else 'default'} |")
    lines += ["", "## Accuracy against training time (seeds 0-9)", "",
              "| memory | method | steps | acc % (mean ± std) | forgetting % | train s (timed alone) | Pareto |",
              "|---:|---|---:|---:|---:|---:|:-:|"]
    for size, methods in out["report"].items():
        points = {f"{m}@{s}": (r["timed_seconds"], _mean(r["acc"])) for m, by in methods.items() for s, r in by.items()}
        on_front = set(cell["pareto_front"](list(points.values())))
        front = {label for label, point in points.items() if point in on_front}
        for method, by_steps in methods.items():
            for steps, r in by_steps.items():
                lines.append(f"| {size} | {method} | {steps} | {_mean(r['acc']):.1f} ± "
                             f"{100 * statistics.stdev(r['acc']):.1f} | {_mean(r['forgetting']):.1f} | "
                             f"{r['timed_seconds']:.2f} | {'●' if f'{method}@{steps}' in front else ''} |")
    cap = str(max(TIME_CAPS))
    lines += ["", f"## Headline: every method at its held-out best budget within {cap} s (seeds 0-9)", "",
              "| memory | method | steps | acc % (mean ± std) | train s | agent minus it (points, 95 % interval) |",
              "|---:|---|---:|---:|---:|---|"]
    for size, caps in out["equal_time"].items():
        cell = caps[cap]
        for method in METHODS:
            steps = cell["budgets"][method]
            r = out["report"].get(size, {}).get(method, {}).get(str(steps))
            if r is None:
                continue
            c = cell["vs_agent"].get(method)
            versus = f"{c['gain']:+.1f} [{c['ci'][0]:+.1f}, {c['ci'][1]:+.1f}], {c['wins']}/{c['n']} seeds" if c else ""
            spread = 100 * statistics.stdev(r["acc"])
            lines.append(f"| {size} | {method} | {steps} | {_mean(r['acc']):.1f} ± {spread:.1f} | "
                         f"{r['timed_seconds']:.2f} | {versus} |")
    lines += ["", "## At equal training time: agent minus each baseline (points, paired 95 % interval, seeds 0-9)", "",
              "Under a cap T each method runs its budget with the best held-out accuracy among those whose held-out "
              "median training time is at most T.", "",
              "| memory | T (s) | agent steps | " + " | ".join(BASELINES) + " |",
              "|---:|---:|---:|" + "---|" * len(BASELINES)]
    for size, caps in out["equal_time"].items():
        for cap, cell in caps.items():
            cells = []
            for m in BASELINES:
                c = cell["vs_agent"].get(m)
                cells.append(f"{c['gain']:+.1f} [{c['ci'][0]:+.1f}, {c['ci'][1]:+.1f}] @{cell['budgets'][m]}"
                             if c else "–")
            lines.append(f"| {size} | {cap} | {cell['budgets']['agent']} | " + " | ".join(cells) + " |")
    joint = out["joint"]
    lines += ["", "## The joint bound", "", "Held-out mean final accuracy by epochs per stage: " + ", ".join(
        f"{e} → {100 * a:.1f} %" for e, a in joint["held_out_curve"].items()) + f"; converged at "
        f"{joint['converged_epochs']} epochs (doubling adds < 0.3 points)."]
    if joint["acc"]:
        lines.append(f"Seeds 0-9 at {joint['converged_epochs']} epochs: {_mean(joint['acc']):.1f} ± "
                     f"{100 * statistics.stdev(joint['acc']):.1f} %, "
                     f"median {statistics.median(joint['seconds']):.1f} s.")
    goals = out["goals"]
    lines += ["", f"## Goals (every method at its best budget within {goals['cap']:g} s)", ""]
    for size, verdicts in goals["not_worse"].items():
        lost = [m for m in BASELINES if not verdicts.get(m)]  # a baseline not run counts as not beaten
        lines.append(f"- {size} images: agent reliably ahead of every baseline (interval above 0): "
                     + ("met" if not lost else "missed against " + ", ".join(lost)))
    for name, text, target in (("over_ace_at_20", "agent minus ER-ACE at 20 images", ">= +3"),
                               ("joint_gap_at_200", "joint bound minus agent at 200 images", "<= 1.5")):
        g = goals[name]
        if g:
            lines.append(f"- {text} (goal {target}): {g['gain']:+.1f} [{g['ci'][0]:+.1f}, {g['ci'][1]:+.1f}]")
    lines += ["", "## Controls: what the agent's parts do (agent minus control, points, seeds 0-9)", ""]
    for size, controls in out["controls"].items():
        for name, c in controls.items():
            if name != "steps":
                i = c["agent_minus_control"]
                lines.append(f"- memory {size}, {controls['steps']} steps, {name}: {_mean(c['acc']):.1f} %; agent "
                             f"minus control {i['gain']:+.1f} [{i['ci'][0]:+.1f}, {i['ci'][1]:+.1f}]")
    (RESULTS / "fair_race.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("phase", choices=["select", "report", "time", "joint", "controls", "table", "probe"])
    parser.add_argument("--shard", default="0/1", help="i/n: run every n-th job starting at i")
    args = parser.parse_args()
    if args.phase == "probe":  # one held-out run per method at the smallest budget: what a trial costs
        torch.set_num_threads(1)
        for method in METHODS:
            for steps in (60, 480):
                r = train_and_score(method, 20, steps, {}, 100, every_task=False)
                print(f"{method:12s} @{steps}: acc {100 * r['acc']:.1f}  train {r['seconds']:.2f} s", flush=True)
        return
    if args.phase == "table":
        write_tables()
        return
    run(args.phase, args)


if __name__ == "__main__":
    main()
