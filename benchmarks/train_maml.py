"""Meta-train the sine models that notebook 05 loads: MAML (K = 10 and K = 5), first-order MAML, Meta-SGD and the
pretrained baseline, with the notebook's own code and recipe (``helpers.maml.SineRecipe``).

Usage: python benchmarks/train_maml.py [--seed 0] [--iterations 12000] [--pretrain-iterations 12000]
                                       [--out notebooks/weights] [--evaluate]

Writes ``<out>/maml_sine_seed<seed>.pt`` (every model's weights and Meta-SGD's step sizes, as one state dict,
saved by ``helpers.controller.save_weights`` with its SHA-256 file) and ``maml_sine_seed<seed>.json`` (the
recipe, the training losses every 100 steps, the time each model took, the machine). Notebook 05 loads
these only when its recipe (seed and budget) is the one recorded; otherwise it trains the models itself.
``--evaluate`` also prints each model's query MSE on the notebook's 600 test tasks after 0, 1, ..., 10 steps.

``--resave`` trains nothing: it reads every ``maml_sine_seed*.pt`` in ``--out`` that is either in the current
``load_weights`` format or a plain state dict whose ``.sha256`` file matches, and writes it again with the
current ``save_weights`` (for when that format changes; the weights themselves are kept bit for bit).
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

from helpers.controller import load_weights, save_weights, sha256_of
from helpers.foundations import make_generator
from helpers.maml import (
    SineRecipe,
    adaptation_curve,
    block_means,
    make_sine_learners,
    sample_sine_tasks,
    sine_weights,
    train_sine_learners,
)

ROOT = Path(__file__).resolve().parents[1]
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


def resave(folder: Path) -> None:
    for path in sorted(folder.glob("maml_sine_seed*.pt")):
        record_path = path.with_suffix(".json")
        record = json.loads(record_path.read_text())
        module = sine_weights(make_sine_learners(SineRecipe(**record["recipe"])))
        try:
            load_weights(module, path)
        except Exception:  # an older format: a plain state dict, checked against its .sha256 file here
            expected = Path(f"{path}.sha256").read_text().split()[0]
            if sha256_of(path) != expected:
                raise ValueError(f"{path} does not match {path.name}.sha256; retrain it instead") from None
            module.load_state_dict(torch.load(path, weights_only=True))
        record["sha256"] = save_weights(module, path)
        record_path.write_text(json.dumps(record, indent=1) + "\n")
        print(f"rewrote {path} with the current save_weights")


def main() -> None:
    defaults = SineRecipe()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--iterations", type=int, default=defaults.iterations)
    parser.add_argument("--pretrain-iterations", type=int, default=defaults.pretrain_iterations)
    parser.add_argument("--out", type=Path, default=ROOT / "notebooks" / "weights")
    parser.add_argument("--evaluate", action="store_true", help="score the models on the notebook's test tasks")
    parser.add_argument("--resave", action="store_true", help="rewrite the weights in --out in the current format")
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.environ.setdefault("NMA_QUIET", "1")
    if args.resave:
        resave(args.out)
        return
    recipe = SineRecipe(seed=args.seed, iterations=args.iterations, pretrain_iterations=args.pretrain_iterations)
    learners = make_sine_learners(recipe)
    seconds, cpu_seconds, loss_means = {}, {}, {}
    for name, learner in learners.items():
        start, cpu_start = time.perf_counter(), time.process_time()
        losses = train_sine_learners(recipe, {name: learner})[name]
        seconds[name] = round(time.perf_counter() - start, 1)
        cpu_seconds[name] = round(time.process_time() - cpu_start, 1)
        loss_means[name] = [round(v, 5) for v in block_means(losses, LOSS_BLOCK).tolist()]
        print(f"{name}: {seconds[name]:.0f} s, mean loss of the last {LOSS_BLOCK} steps {loss_means[name][-1]:.3f}",
              flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"maml_sine_seed{recipe.seed}.pt"
    digest = save_weights(sine_weights(learners), path)
    command = "python benchmarks/train_maml.py" + (f" --seed {recipe.seed}" if recipe.seed else "")
    if recipe.iterations != defaults.iterations:
        command += f" --iterations {recipe.iterations}"
    if recipe.pretrain_iterations != defaults.pretrain_iterations:
        command += f" --pretrain-iterations {recipe.pretrain_iterations}"
    record = {"recipe": dataclasses.asdict(recipe), "loss_block": LOSS_BLOCK, "loss_means": loss_means,
              "seconds": seconds, "cpu_seconds": cpu_seconds, "sha256": digest, "command": command,
              "torch": torch.__version__, "machine": machine_line()}
    path.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {path} ({path.stat().st_size:,} bytes) and {path.with_suffix('.json').name}")
    if args.evaluate:
        evaluate(recipe, learners)


if __name__ == "__main__":
    main()
