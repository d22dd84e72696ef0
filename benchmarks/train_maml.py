"""Meta-train the sine models that notebook 05 loads: MAML (K = 10 and K = 5), first-order MAML, Meta-SGD and the
pretrained baseline, with the notebook's own code and recipe (``SineRecipe``, from its cell tagged "sine-harness").

Usage: python benchmarks/train_maml.py [--seed 0] [--iterations 12000] [--pretrain-iterations 12000]
                                       [--out helpers/weights] [--evaluate]

Writes ``<out>/maml_sine_seed<seed>.safetensors`` (every model's weights and Meta-SGD's step sizes, with the
recipe, by the notebook's ``save_sine_weights``, i.e. ``helpers.checkpoint.save_state``: SHA-256 sidecar included)
and ``maml_sine_seed<seed>.json`` (the recipe, the training losses every 100 steps, the time each model took, the
machine). Notebook 05 loads these only when its recipe (seed and budget) is the one recorded; otherwise it trains
the models itself. ``--evaluate`` also prints each model's query MSE on the notebook's 600 test tasks after 0, 1,
..., 10 steps.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path

import torch
from machine import machine_line  # benchmarks/machine.py (scripts run from benchmarks/)

import helpers.maml
from helpers.foundations import make_generator
from helpers.maml import adaptation_curve, sample_sine_tasks
from helpers.plumbing import weights_dir

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "05_maml_adapter.ipynb"


def notebook_harness(notebook: Path = NOTEBOOK) -> dict:
    """Run the notebook's cells tagged "sine-harness" (``SineRecipe``, the training loop, the weights' file I/O)
    in helpers.maml's namespace, and return that namespace: one source of truth for the recipe."""
    namespace = dict(vars(helpers.maml))
    for cell in json.loads(notebook.read_text())["cells"]:
        if "sine-harness" in cell["metadata"].get("tags", []):
            exec(compile("".join(cell["source"]), f"{notebook.name}:sine-harness", "exec"), namespace)
    return namespace


HARNESS = notebook_harness()
SineRecipe, block_means, make_sine_learners, save_sine_weights, train_sine_learners = (HARNESS[name] for name in (
    "SineRecipe", "block_means", "make_sine_learners", "save_sine_weights", "train_sine_learners"))

TEST_SEED, TEST_TASKS, TEST_QUERY = 20_170_306, 600, 100  # notebook 05's held-out tasks
LOSS_BLOCK = 100  # the record keeps the mean training loss of every 100 steps


def evaluate(recipe: SineRecipe, learners: dict) -> None:
    tasks = sample_sine_tasks(TEST_TASKS, recipe.k_shot, TEST_QUERY, make_generator(TEST_SEED))
    small = dataclasses.replace(tasks, support_x=tasks.support_x[:, : recipe.k_small],
                                support_y=tasks.support_y[:, : recipe.k_small])
    runs = {name: (learner.model, small if name == "maml_small" else tasks, learner.lr)
            for name, learner in learners.items() if name != "pretrained"}
    runs["pretrained"] = (learners["pretrained"], tasks, recipe.inner_lr)
    runs[f"pretrained K={recipe.k_small}"] = (learners["pretrained"], small, recipe.inner_lr)
    for name, (model, scored_tasks, lr) in runs.items():
        try:
            steps = adaptation_curve(model, scored_tasks, 10, lr).mean(dim=0).tolist()
        except ValueError:  # diverged: score step by step, to show where
            steps = []
            for max_steps in range(11):
                try:
                    steps.append(adaptation_curve(model, scored_tasks, max_steps, lr)[:, -1].mean().item())
                except ValueError:
                    steps.append(float("nan"))
                    break
        print(f"  {name:<16} " + " ".join(f"{v:.3f}" for v in steps), flush=True)


def main() -> None:
    defaults = SineRecipe()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--iterations", type=int, default=defaults.iterations)
    parser.add_argument("--pretrain-iterations", type=int, default=defaults.pretrain_iterations)
    parser.add_argument("--out", type=Path, default=weights_dir())
    parser.add_argument("--evaluate", action="store_true", help="score the models on the notebook's test tasks")
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.environ.setdefault("NMA_QUIET", "1")
    recipe = SineRecipe(seed=args.seed, iterations=args.iterations, pretrain_iterations=args.pretrain_iterations)
    learners = make_sine_learners(recipe)
    seconds, cpu_seconds, loss_means = {}, {}, {}
    for name, learner in learners.items():
        start, cpu_start = time.perf_counter(), time.process_time()
        losses = train_sine_learners(recipe, {name: learner})[name]
        seconds[name] = round(time.perf_counter() - start, 1)
        cpu_seconds[name] = round(time.process_time() - cpu_start, 1)
        loss_means[name] = [round(v, 5) for v in block_means(losses, LOSS_BLOCK).tolist()]
        last = f"{loss_means[name][-1]:.3f}" if loss_means[name] else "(fewer steps than that)"
        print(f"{name}: {seconds[name]:.0f} s, mean loss of the last {LOSS_BLOCK} steps {last}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"maml_sine_seed{recipe.seed}.safetensors"
    digest = save_sine_weights(learners, path, recipe)
    command = "python benchmarks/train_maml.py" + (f" --seed {recipe.seed}" if recipe.seed else "")
    if recipe.iterations != defaults.iterations:
        command += f" --iterations {recipe.iterations}"
    if recipe.pretrain_iterations != defaults.pretrain_iterations:
        command += f" --pretrain-iterations {recipe.pretrain_iterations}"
    record = {"recipe": dataclasses.asdict(recipe), "loss_block": LOSS_BLOCK, "loss_means": loss_means,
              "seconds": seconds, "cpu_seconds": cpu_seconds, "sha256": digest, "command": command,
              "torch": torch.__version__, "machine": machine_line()}
    path.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {path} ({path.stat().st_size:,} bytes), its .sha256 and {path.with_suffix('.json').name}")
    if args.evaluate:
        evaluate(recipe, learners)


if __name__ == "__main__":
    main()
