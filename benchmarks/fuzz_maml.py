"""Sixty bad inputs to helpers.maml's public API, sorted into clear rejections, obscure errors, silent acceptance
and hangs, with a check that a rejected call left the model's weights unchanged.

Usage: python benchmarks/fuzz_maml.py [REVISION_OR_PATH ...]   (default: the working tree's helpers/maml.py)

Each argument is a path to a maml.py or a git revision (its helpers/maml.py is read with ``git show``), so
``python benchmarks/fuzz_maml.py 5b2f9e6 helpers/maml.py`` compares an older version with the current one.
"clear": a ValueError or TypeError whose message names the offending argument (or, for a diverging
adaptation, says so); "hang": still running after 8 s. tests/test_maml.py keeps these cases as unit tests.
"""

from __future__ import annotations

import copy
import importlib.util
import re
import signal
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path

import torch

from helpers.foundations import make_generator

ROOT = Path(__file__).resolve().parents[1]
SECONDS = 8


class Hang(Exception):
    pass


def _alarm(*_):
    raise Hang


def load(source: str):
    """A maml module from a file path, or from helpers/maml.py at a git revision."""
    path = Path(source)
    if not path.is_file():
        text = subprocess.run(["git", "show", f"{source}:helpers/maml.py"], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout
        path = Path(tempfile.mkdtemp()) / "maml.py"
        path.write_text(text)
    spec = importlib.util.spec_from_file_location(f"maml_under_test_{abs(hash(source))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cases(m) -> dict:
    """``name: (pattern the message must match to be clear, call(model))``."""
    b = m.sample_sine_tasks(3, 5, 5, make_generator(0))
    x, y = b.support_x[0], b.support_y[0]
    sine = (b.amplitude, b.phase)
    sampler = partial(m.sample_sine_tasks, 2, 5, 5)

    def tasks(support_y=None, query_y=None, support_x=None, query_x=None):
        pick = [b.support_x if support_x is None else support_x, b.support_y if support_y is None else support_y,
                b.query_x if query_x is None else query_x, b.query_y if query_y is None else query_y]
        return m.TaskBatch(*pick, *sine)

    def flat():
        return tasks(b.support_y[..., 0], b.query_y[..., 0])

    def huge():
        return tasks(b.support_y * 1e30, b.query_y * 1e30)

    nan_y = torch.full_like(y, float("nan"))
    width = "does not match|shape"
    return {
        "adapt: empty support set": ("support_x", lambda n: m.adapt(n, x[:0], y[:0])),
        "adapt: targets (K,) for outputs (K, 1)": (width, lambda n: m.adapt(n, x, y[:, 0])),
        "adapt: one target too few": ("support_y", lambda n: m.adapt(n, x, y[:-1])),
        "adapt: NaN inputs": ("support_x", lambda n: m.adapt(n, torch.full_like(x, float("nan")), y)),
        "adapt: infinite targets": ("support_y", lambda n: m.adapt(n, x, torch.full_like(y, float("inf")))),
        "adapt: float64 inputs": ("support_x", lambda n: m.adapt(n, x.double(), y)),
        "adapt: integer inputs": ("support_x", lambda n: m.adapt(n, x.long(), y)),
        "adapt: NumPy inputs": ("support_x", lambda n: m.adapt(n, x.numpy(), y)),
        "adapt: steps -1": ("steps", lambda n: m.adapt(n, x, y, steps=-1)),
        "adapt: steps 1.5": ("steps", lambda n: m.adapt(n, x, y, steps=1.5)),
        "adapt: steps True": ("steps", lambda n: m.adapt(n, x, y, steps=True)),
        "adapt: steps 10**7": ("steps", lambda n: m.adapt(n, x, y, steps=10**7)),
        "adapt: lr 0": ("lr", lambda n: m.adapt(n, x, y, lr=0.0)),
        "adapt: lr NaN": ("lr", lambda n: m.adapt(n, x, y, lr=float("nan"))),
        "adapt: lr inf": ("lr", lambda n: m.adapt(n, x, y, lr=float("inf"))),
        "adapt: lr True": ("lr", lambda n: m.adapt(n, x, y, lr=True)),
        "adapt: lr '0.01'": ("lr", lambda n: m.adapt(n, x, y, lr="0.01")),
        "adapt: lr 1e6 (diverges)": ("diverge", lambda n: m.adapt(n, x, y, steps=3, lr=1e6)),
        "adapt: first_order 'no'": ("first_order", lambda n: m.adapt(n, x, y, first_order="no")),
        "adapt: loss_fn 'mse'": ("loss_fn", lambda n: m.adapt(n, x, y, loss_fn="mse")),
        "adapt: model 'net'": ("model", lambda n: m.adapt("net", x, y)),
        "adapt: params with an unknown name": ("params", lambda n: m.adapt(n, x, y, params={"nope": x})),
        "adapt: params of the wrong shape": ("params", lambda n: m.adapt(n, x, y, params={"0.weight": torch.zeros(3)})),
        "query_losses: targets (T, K)": (width, lambda n: m.query_losses(n, flat(), 1, 0.01)),
        "query_losses: NaN targets": ("_y", lambda n: m.query_losses(n, tasks(query_y=b.query_y * float("nan")), 1,
                                                                     0.01)),
        "query_losses: steps 10**7": ("steps", lambda n: m.query_losses(n, b, 10**7, 0.01)),
        "query_losses: batched 'threads'": ("batched", lambda n: m.query_losses(n, b, 1, 0.01, batched="threads")),
        "query_losses: a tuple for tasks": ("tasks", lambda n: m.query_losses(n, (b.support_x, b.support_y), 1, 0.01)),
        "query_losses: lr 1e12 (diverges)": ("diverge", lambda n: m.query_losses(n, b, 1, 1e12)),
        "adaptation_curve: targets (T, K)": (width, lambda n: m.adaptation_curve(n, flat(), 2, 0.01)),
        "adaptation_curve: max_steps 10**6": ("max_steps", lambda n: m.adaptation_curve(n, b, 10**6, 0.01)),
        "adaptation_curve: max_steps -1": ("max_steps", lambda n: m.adaptation_curve(n, b, -1, 0.01)),
        "pretrain_multitask: targets (T, K)": (width, lambda n: m.pretrain_multitask(n, lambda g: flat(), 2)),
        "pretrain_multitask: iterations 10**7": ("iterations", lambda n: m.pretrain_multitask(n, sampler, 10**7)),
        "pretrain_multitask: lr NaN": ("lr", lambda n: m.pretrain_multitask(n, sampler, 2, lr=float("nan"))),
        "pretrain_multitask: seed -1": ("seed", lambda n: m.pretrain_multitask(n, sampler, 2, seed=-1)),
        "pretrain_multitask: seed '3'": ("seed", lambda n: m.pretrain_multitask(n, sampler, 2, seed="3")),
        "pretrain_multitask: overflowing targets": ("inf|nan", lambda n: m.pretrain_multitask(n, lambda g: huge(), 2)),
        "MAML: inner_lr 0": ("inner_lr", lambda n: m.MAML(n, inner_lr=0)),
        "MAML: outer_lr NaN": ("outer_lr", lambda n: m.MAML(n, outer_lr=float("nan"))),
        "MAML: inner_steps 10**6": ("inner_steps", lambda n: m.MAML(n, inner_steps=10**6)),
        "MAML: meta_sgd 'yes'": ("meta_sgd", lambda n: m.MAML(n, meta_sgd="yes")),
        "MAML: model object()": ("model", lambda n: m.MAML(object())),
        "MAML.fit: iterations 10**7": ("iterations", lambda n: m.MAML(n).fit(sampler, 10**7)),
        "MAML.fit: a sampler returning None": ("sample_tasks", lambda n: m.MAML(n).fit(lambda g: None, 2)),
        "MAML.fit: seed 2**64": ("seed", lambda n: m.MAML(n).fit(sampler, 1, seed=2**64)),
        "MAML.meta_step: targets that overflow": ("inf|nan|NaN", lambda n: m.MAML(n).meta_step(huge())),
        "MAML.meta_step: inner_lr 1e12": ("diverge|nan|NaN|inf", lambda n: m.MAML(n, inner_lr=1e12).meta_step(b)),
        "MAML.curve: max_steps 10**6": ("max_steps", lambda n: m.MAML(n).curve(b, 10**6)),
        "sample_sine_tasks: 0 tasks": ("num_tasks", lambda n: m.sample_sine_tasks(0, 5, 5, make_generator(0))),
        "sample_sine_tasks: 10**9 tasks": ("num_tasks", lambda n: m.sample_sine_tasks(10**9, 5, 5,
                                                                                      make_generator(0))),
        "sample_sine_tasks: generator 0": ("generator", lambda n: m.sample_sine_tasks(2, 5, 5, 0)),
        "make_sine_mlp: hidden 10**6": ("hidden", lambda n: m.make_sine_mlp(hidden=10**6)),
        "make_sine_mlp: seed 1.5": ("seed", lambda n: m.make_sine_mlp(seed=1.5)),
        "mean_ci95: one value": ("values", lambda n: m.mean_ci95(torch.ones(1))),
        "mean_ci95: a string": ("values", lambda n: m.mean_ci95("abc")),
        "tasks: NaN support targets": ("support_y", lambda n: m.query_losses(n, tasks(nan_y.expand(3, 5, 1)), 1,
                                                                             0.01)),
        "tasks: task counts disagree": ("support_y|disagree", lambda n: m.query_losses(n, tasks(b.support_y[:2]), 1,
                                                                                       0.01)),
        "tasks: integer inputs": ("support_x", lambda n: m.query_losses(n, tasks(support_x=b.support_x.long()), 1,
                                                                        0.01)),
        "tasks: query features wider": ("query_x", lambda n: m.query_losses(
            n, tasks(query_x=torch.cat([b.query_x] * 2, -1)), 1, 0.01)),
    }


def classify(pattern: str, call, model) -> str:
    signal.alarm(SECONDS)
    try:
        call(model)
        return "silent"
    except Hang:
        return "hang"
    except (ValueError, TypeError) as error:
        return "clear" if re.search(pattern, str(error)) else f"obscure: {type(error).__name__}: {str(error)[:80]}"
    except Exception as error:  # anything else is an obscure failure, by definition
        return f"obscure: {type(error).__name__}: {str(error)[:80]}"
    finally:
        signal.alarm(0)


def main() -> None:
    torch.set_num_threads(1)
    signal.signal(signal.SIGALRM, _alarm)
    for source in sys.argv[1:] or [str(ROOT / "helpers" / "maml.py")]:
        m = load(source)
        warm_up = m.sample_sine_tasks(3, 5, 5, make_generator(1))  # torch imports lazily: never interrupt an import
        m.MAML(m.make_sine_mlp(hidden=8), batched="vmap").meta_step(warm_up)
        m.adaptation_curve(m.make_sine_mlp(hidden=8), warm_up, 2, 0.01)
        m.adapt(m.make_sine_mlp(hidden=8), warm_up.support_x[0], warm_up.support_y[0], 2, 0.01)
        counts, notes, changed = {}, [], 0
        for name, (pattern, call) in cases(m).items():
            torch.manual_seed(0)
            model = m.make_sine_mlp(hidden=8)
            before = copy.deepcopy(model.state_dict())
            outcome = classify(pattern, call, model)
            kind = outcome.split(":")[0]
            counts[kind] = counts.get(kind, 0) + 1
            if kind != "silent" and any(not torch.equal(v, before[k]) for k, v in model.state_dict().items()):
                changed += 1
                outcome += " (and the model's weights changed)"
            if kind != "clear":
                notes.append(f"    {name}: {outcome}")
        total = sum(counts.values())
        summary = ", ".join(f"{kind} {counts.get(kind, 0)}" for kind in ("clear", "obscure", "silent", "hang"))
        print(f"{source}: {total} bad inputs: {summary}; raised or hung after changing the weights: {changed}")
        print("\n".join(notes))


if __name__ == "__main__":
    main()
