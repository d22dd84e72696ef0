"""What ``benchmarks/fuzz_api.py`` attacks: one ``Spec`` per public function, constructor and
state-changing method of ``helpers``, grouped by module, one function per module.

A spec is a target (``"helpers.<module>:<name>"``), a ``setup(ctx) -> Call`` that builds one small,
fast, valid call, and ``attack``: argument -> bad values from the catalogue in ``fuzz_catalogue``
(``count()``, ``seed()``, ``tensor()``, ``flag()``, ``corrupt(...)``...). To cover a new function, add a
``Spec`` to its module's list; to follow an API that changed, edit (or replace) that module's function:
the agent and experiments specs are written to be replaced whole when notebook 06's agent is redesigned.

Setups import ``helpers`` when they run, so a renamed or removed function skips its spec ("spec skipped:
<reason>") instead of breaking the run. Sizes are tiny on purpose: every attack rebuilds its call.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from fuzz_catalogue import (
    INF,
    NAN,
    Call,
    Spec,
    choice,
    const,
    corrupt,
    count,
    custom,
    device,
    flag,
    function,
    generator,
    index,
    nonnegative,
    number,
    obj,
    path_to_read,
    path_to_write,
    positive,
    probability,
    seed,
    size,
    steps,
    tensor,
)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(*shape, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=_gen(seed))


def _rand(*shape, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=_gen(seed))


def _stream(ctx):
    """The main stream at its smallest: 2 tasks, 16 + 16 examples, inputs of width 10 (2 features, 8 cue)."""
    from helpers.foundations import make_main_stream

    return ctx.cached("stream", lambda: make_main_stream(num_tasks=2, train_size=16, test_size=16, seed=0))


def _mlp(input_dim: int = 10, output_dim: int = 1):
    from helpers.foundations import make_mlp

    return make_mlp(input_dim, hidden=4, output_dim=output_dim, seed=0)


def _reseal(path: Path) -> Path:
    """Rewrite ``path``'s ``.sha256`` sidecar so the outer digest matches what the file now holds."""
    Path(f"{path}.sha256").write_text(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}\n")
    return path


def _truncate(path: Path, reseal: bool) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return _reseal(path) if reseal else path


class _RunsCode:
    """Pickles to ``open(marker, "w")``: loading it with ``weights_only=False`` would create the marker."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _pickle_that_runs_code(path: Path, ctx) -> Path:
    torch.save({"weight": _RunsCode(ctx.marker)}, path)
    return _reseal(path)


def _without_sidecar(path: Path) -> Path:
    Path(f"{path}.sha256").unlink()
    return path


# ================================================================================================
# 01 foundations
# ================================================================================================


def foundations_specs() -> list[Spec]:
    from_stream = "helpers.foundations"

    def pick(ctx):
        from helpers.foundations import pick_device

        return Call(pick_device, {"setting": "cpu", "verbose": False})

    def seeding(ctx):
        from helpers.foundations import seed_everything

        return Call(seed_everything, {"seed": 0, "verbose": False})

    def generator_call(ctx):
        from helpers.foundations import make_generator

        return Call(make_generator, {"seed": 0, "device": "cpu"})

    def memory_config(ctx):
        from helpers.foundations import MemoryConfig

        return Call(MemoryConfig, {"memory_size": 4, "memory_dim": 3, "num_read_heads": 2, "num_write_heads": 1,
                                   "controller_hidden_size": 5, "memory_init": "constant",
                                   "memory_init_value": 1e-6, "output_clip": 20.0})

    def targets(ctx):
        from helpers.foundations import original_task_targets

        return Call(original_task_targets, {"x": _randn(3, 64)})

    def original_tasks(ctx):
        from helpers.foundations import make_original_tasks

        return Call(make_original_tasks, {"num_samples": 4, "seed": 0})

    def floors(ctx):
        from helpers.foundations import original_task_floors

        return Call(original_task_floors, {"num_samples": 8, "seed": 0})

    def task_record(ctx):
        from helpers.foundations import Task

        task = _stream(ctx)[0]
        return Call(Task, {"task_id": 0, "cue": task.cue, "train_x": task.train_x, "train_y": task.train_y,
                           "test_x": task.test_x, "test_y": task.test_y})

    def sample_episodes(ctx):
        task = _stream(ctx)[0]
        return Call(task.sample_episodes, {"batch_size": 2, "context_size": 3, "query_size": 2,
                                           "generator": _gen(), "split": "train"})

    def stream_record(ctx):
        from helpers.foundations import TaskStream

        stream = _stream(ctx)
        return Call(TaskStream, {"tasks": stream.tasks, "feature_dim": 2, "cue_dim": 8})

    def joint(ctx):
        return Call(_stream(ctx).joint, {"upto": 0, "split": "train"})

    def main_stream(ctx):
        from helpers.foundations import make_main_stream

        return Call(make_main_stream, {"num_tasks": 2, "train_size": 8, "test_size": 8, "feature_dim": 2,
                                       "cue_dim": 3, "frequency": 3.0, "noise_std": 0.05, "seed": 0})

    def metrics(ctx):
        from helpers.foundations import continual_metrics

        return Call(continual_metrics, {"R": _rand(3, 3), "higher_is_better": True, "baseline": _rand(3, seed=1)})

    def mlp(ctx):
        from helpers.foundations import make_mlp

        return Call(make_mlp, {"input_dim": 3, "hidden": 4, "output_dim": 1, "seed": 0})

    def train_steps_call(ctx):
        from helpers.foundations import train_steps

        model = _mlp(3)
        return Call(train_steps, {"model": model, "optimizer": torch.optim.Adam(model.parameters(), lr=1e-3),
                                  "x": _randn(8, 3), "y": _randn(8, 1, seed=1), "steps": 2, "batch_size": 4,
                                  "generator": _gen()})

    def task_errors_call(ctx):
        from helpers.foundations import task_errors

        return Call(task_errors, {"model": _mlp(), "stream": _stream(ctx), "split": "test", "device": None})

    def train_on_stream_call(ctx):
        from helpers.foundations import train_on_stream

        return Call(train_on_stream, {"model": _mlp(), "stream": _stream(ctx), "mode": "naive", "steps_per_task": 2,
                                      "batch_size": 4, "lr": 1e-3, "seed": 0, "eval_every": 0, "device": None})

    at = f"{from_stream}:"
    return [
        Spec(at + "pick_device", pick, {"setting": device(), "verbose": flag()}),  # None means "auto"
        Spec(at + "seed_everything", seeding, {"seed": seed(), "verbose": flag()}),
        Spec(at + "make_generator", generator_call, {"seed": seed(), "device": device()}),
        Spec(at + "MemoryConfig", memory_config, {
            "memory_size": size(), "memory_dim": size(), "num_read_heads": size(), "num_write_heads": size(),
            "controller_hidden_size": size(), "memory_init": choice(), "memory_init_value": nonnegative(),
            "output_clip": positive()}),
        Spec(at + "original_task_targets", targets, {"x": tensor(skip=("empty batch", "float64"))}),
        Spec(at + "make_original_tasks", original_tasks, {"num_samples": count(), "seed": seed()}),
        Spec(at + "original_task_floors", floors, {"num_samples": count(), "seed": seed()}),
        Spec(at + "Task", task_record, {"task_id": index(), "train_x": tensor(), "train_y": tensor()}),
        Spec(at + "Task.sample_episodes", sample_episodes, {
            "batch_size": count(), "context_size": count(), "query_size": count(), "generator": generator(),
            "split": choice()}),
        Spec(at + "TaskStream", stream_record, {"tasks": (*obj(), const("['a']", ["a"])), "feature_dim": index(),
                                                "cue_dim": index()}),
        Spec(at + "TaskStream.joint", joint, {"upto": (*index(optional=True), const("99", 99)), "split": choice()}),
        Spec(at + "make_main_stream", main_stream, {
            "num_tasks": count(), "train_size": count(), "test_size": count(), "feature_dim": size(),
            "cue_dim": size(low=0), "frequency": nonnegative(), "noise_std": nonnegative(), "seed": seed()}),
        Spec(at + "continual_metrics", metrics, {
            "R": (*tensor(types=False, dtypes=False), const("'abc'", "abc"), const("None", None)),
            "higher_is_better": flag(),
            "baseline": (*tensor(types=False, dtypes=False), const("'abc'", "abc"))}),
        Spec(at + "make_mlp", mlp, {"input_dim": size(), "hidden": size(), "output_dim": size(), "seed": seed()}),
        Spec(at + "train_steps", train_steps_call, {
            "model": obj(), "optimizer": obj(), "x": tensor(), "y": tensor(), "steps": steps(),
            "batch_size": count(), "generator": generator()}),
        Spec(at + "task_errors", task_errors_call, {"model": obj(), "stream": obj(), "split": choice(),
                                                    "device": device()}),
        Spec(at + "train_on_stream", train_on_stream_call, {
            "model": obj(), "stream": obj(), "mode": choice(), "steps_per_task": count(), "batch_size": count(),
            "lr": positive(), "seed": seed(), "eval_every": steps(), "device": device()}),
    ]


# ================================================================================================
# 02 memory
# ================================================================================================

B, N, D, R, W = 2, 4, 3, 2, 1  # batch, slots, slot width, read heads, write heads


def _memory_config(**overrides):
    from helpers.foundations import MemoryConfig

    settings = {"memory_size": N, "memory_dim": D, "num_read_heads": R, "num_write_heads": W,
                "controller_hidden_size": 5, **overrides}
    return MemoryConfig(**settings)


def _memory_tensors() -> dict:
    """One valid value for every memory tensor name the free functions use."""
    softmax = torch.softmax
    return {
        "memory": _randn(B, N, D), "keys": _randn(B, R, D, seed=1), "strengths": _rand(B, R, seed=2) * 5,
        "weights": softmax(_randn(B, W, N, seed=3), -1), "erase": _rand(B, W, D, seed=4),
        "add": _randn(B, W, D, seed=5), "usage": _rand(B, N, seed=6),
        "read_weights": softmax(_randn(B, R, N, seed=7), -1), "free_gates": _rand(B, R, seed=8),
        "write_weights": softmax(_randn(B, W, N, seed=9), -1), "link": _rand(B, W, N, N, seed=10) / N,
        "precedence": softmax(_randn(B, W, N, seed=11), -1), "allocation_gates": _rand(B, W, seed=12),
        "write_gates": _rand(B, W, seed=13),
    }


def memory_specs() -> list[Spec]:
    # The free functions run once per time step inside the controller: NaN propagating through them is their
    # documented arithmetic, so they get every attack but NaN/inf entries (finite=False).
    math_tensor = tensor(finite=False)

    def free(name: str, arguments: tuple[str, ...], free_width: tuple[str, ...] = (), **fixed):
        """A spec for ``helpers.memory.<name>``; ``arguments``: ``"arg"`` or ``"arg=tensor name"``;
        ``free_width``: arguments whose last size nothing else fixes (one more column is valid there)."""
        pairs = [a.split("=") if "=" in a else (a, a) for a in arguments]

        def setup(ctx):
            import helpers.memory as memory

            values = _memory_tensors()
            if name == "write_weighting":  # keys and strengths of the write heads
                values["keys"], values["strengths"] = _randn(B, W, D, seed=1), _rand(B, W, seed=2) * 5
            return Call(getattr(memory, name), {arg: values[key] for arg, key in pairs} | fixed)

        attack = {arg: tensor(finite=False, width=arg not in free_width) for arg, _ in pairs}
        if name == "allocation_weights":  # usage alone: any B (0 too) and float64 are fine
            attack["usage"] = tensor(finite=False, width=False, skip=("empty batch", "float64"))
        attack |= {"eps": positive()} if "eps" in fixed else {}
        return Spec(f"helpers.memory:{name}", setup, attack)

    def bank(ctx, temporal_links: bool = False):
        from helpers.memory import MemoryBank

        return MemoryBank(_memory_config(), temporal_links=temporal_links)

    def bank_ctor(ctx):
        from helpers.memory import MemoryBank

        return Call(MemoryBank, {"config": _memory_config(), "temporal_links": False})

    def initial_state(ctx):
        return Call(bank(ctx).initial_state, {"batch_size": B, "device": "cpu", "dtype": torch.float32,
                                              "generator": None})

    def check_state(ctx):
        b = bank(ctx)
        return Call(b.check_state, {"state": b.initial_state(B)})

    def parse(ctx):
        b = bank(ctx)
        return Call(b.parse_interface, {"raw": _randn(B, b.interface_size)})

    def interface_call(method: str):
        def setup(ctx):
            b = bank(ctx, temporal_links=True)
            state = b.initial_state(B)
            interface = b.parse_interface(_randn(B, b.interface_size))
            if method == "check_interface":
                return Call(b.check_interface, {"interface": interface, "like": state.memory,
                                                "read_modes_optional": False})
            return Call(getattr(b, method), {"state": state, "interface": interface})
        return setup

    def read(ctx):
        b = bank(ctx, temporal_links=True)
        return Call(b.read, {"state": b.initial_state(B), "keys": _randn(B, R, D), "strengths": _rand(B, R),
                             "modes": torch.softmax(_randn(B, R, 3), -1)})

    at = "helpers.memory:"
    return [
        free("cosine_similarity", ("memory", "keys"), eps=1e-6),
        free("content_weights", ("memory", "keys", "strengths")),
        free("erase_and_add", ("memory", "weights", "erase", "add")),
        free("read_memory", ("memory", "weights=read_weights"), free_width=("memory",)),
        free("usage_after_free", ("usage", "read_weights", "free_gates")),
        free("usage_after_write", ("usage", "write_weights")),
        free("allocation_weights", ("usage",), free_width=("usage",)),
        free("write_weighting", ("memory", "usage", "keys", "strengths", "allocation_gates", "write_gates")),
        free("update_links", ("link", "precedence", "write_weights")),
        free("directional_weights", ("link", "read_weights")),
        Spec(at + "MemoryBank", bank_ctor, {"config": (*obj(), const("a dict", {"memory_size": 4})),
                                            "temporal_links": flag()}),
        Spec(at + "MemoryBank.initial_state", initial_state, {
            "batch_size": count(), "device": device(), "generator": generator(optional=True),
            "dtype": (const("'float32'", "float32"), const("torch.int64", torch.int64), const("3", 3))}),
        Spec(at + "MemoryBank.check_state", check_state, {
            "state": obj(), "state.memory": math_tensor, "state.usage": math_tensor}),
        Spec(at + "MemoryBank.parse_interface", parse, {"raw": tensor(finite=False, skip=("empty batch", "float64"))}),
        Spec(at + "MemoryBank.check_interface", interface_call("check_interface"), {
            "interface": obj(), "interface.read_keys": math_tensor, "like": obj(),
            "read_modes_optional": flag()}),
        Spec(at + "MemoryBank.write", interface_call("write"), {
            "state": obj(), "state.memory": math_tensor, "state.usage": math_tensor,
            "interface.erase": math_tensor, "interface.write_gates": math_tensor}),
        Spec(at + "MemoryBank.read", read, {"keys": math_tensor, "strengths": math_tensor,
                                            "modes": tensor(finite=False, skip=("None",))}),
        Spec(at + "MemoryBank.step", interface_call("step"), {
            "state": obj(), "interface": obj(), "state.link": math_tensor, "interface.add": math_tensor}),
    ]


# ================================================================================================
# 03 controller
# ================================================================================================


def _controller(input_size: int = 3, output_size: int = 2, temporal_links: bool = False, seed: int = 0):
    from helpers.controller import MemoryController

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MemoryController(input_size, output_size, _memory_config(), temporal_links=temporal_links)


def controller_specs() -> list[Spec]:
    at = "helpers.controller:"

    def detach(ctx):
        from helpers.controller import detach_state

        return Call(detach_state, {"state": _controller().initial_state(B)})

    def controller_ctor(ctx):
        from helpers.controller import MemoryController

        return Call(MemoryController, {"input_size": 3, "output_size": 2, "config": _memory_config(),
                                       "input_to_interface": True, "temporal_links": False})

    def controller_state(ctx):
        return Call(_controller().initial_state, {"batch_size": B, "device": None, "generator": None})

    def forward(ctx):
        model = _controller()
        ctx.keep["model"] = model
        return Call(model.forward, {"x": _randn(B, 4, 3), "state": None, "return_trace": False, "generator": None})

    def lstm_ctor(ctx):
        from helpers.controller import LSTMBaseline

        return Call(LSTMBaseline, {"input_size": 3, "output_size": 2, "hidden_size": 5})

    def lstm_forward(ctx):
        from helpers.controller import LSTMBaseline

        return Call(LSTMBaseline(3, 2, 5).forward, {"x": _randn(B, 4, 3), "state": None})

    def parameters(ctx):
        from helpers.controller import count_parameters

        return Call(count_parameters, {"model": _mlp()})

    def matched(ctx):
        from helpers.controller import matched_lstm_hidden

        return Call(matched_lstm_hidden, {"input_size": 9, "output_size": 8, "target_parameters": 1000})

    def recall_task(ctx):
        from helpers.controller import RecallTask

        return Call(RecallTask, {"key_dim": 3, "value_dim": 2, "num_queries": 2})

    def recall_sample(ctx):
        from helpers.controller import RecallTask

        return Call(RecallTask(3, 2, 2).sample, {"batch_size": B, "num_pairs": 3, "generator": _gen()})

    mask_dtypes = ("int64", "bool")  # a 0/1 mask may well be an int or bool tensor

    def loss_tensors():
        return {"outputs": _randn(B, 4, 2), "targets": (_rand(B, 4, 2, seed=1) > 0.5).float(),
                "mask": torch.tensor([[0.0, 0.0, 1.0, 1.0]] * B)}

    def masked(ctx):
        from helpers.controller import masked_loss

        return Call(masked_loss, {**loss_tensors(), "kind": "bce"})

    def bits(ctx):
        from helpers.controller import bits_wrong

        values = loss_tensors()
        return Call(bits_wrong, {"logits": values["outputs"], "targets": values["targets"], "mask": values["mask"]})

    def step(ctx):
        from helpers.controller import train_step

        model = _controller()
        values = loss_tensors()
        return Call(train_step, {"model": model, "optimizer": torch.optim.Adam(model.parameters(), lr=1e-3),
                                 "x": _randn(B, 4, 3), "y": values["targets"], "mask": values["mask"], "kind": "bce",
                                 "truncation": None, "max_grad_norm": 10.0})

    def fit_call(ctx):
        from helpers.controller import LSTMBaseline, fit

        values = loss_tensors()
        batch = (_randn(B, 4, 3), values["targets"], values["mask"])
        return Call(fit, {"model": LSTMBaseline(3, 2, 5), "sample_batch": lambda step: batch, "steps": 2, "lr": 1e-3,
                          "kind": "bce", "truncation": None, "evaluate": None, "eval_every": 0, "desc": "fuzz"})

    def recall_errors_call(ctx):
        from helpers.controller import RecallTask, recall_errors

        task = RecallTask(3, 2, 2)
        return Call(recall_errors, {"model": _controller(task.input_size, task.output_size), "task": task,
                                    "num_pairs": 3, "episodes": 2, "seed": 0})

    def copy_task(ctx):
        from helpers.controller import CopyTask

        return Call(CopyTask, {"bits": 3})

    def copy_sample(ctx):
        from helpers.controller import CopyTask

        return Call(CopyTask(3).sample, {"batch_size": B, "length": 3, "generator": _gen()})

    def copy_sampler(ctx):
        from helpers.controller import CopyTask

        return Call(CopyTask(3).sampler, {"batch_size": B, "min_length": 1, "max_length": 3, "seed": 0,
                                          "device": "cpu"})

    def copy_models(ctx):
        from helpers.controller import CopyTask, make_copy_models

        return Call(make_copy_models, {"task": CopyTask(3), "seed": 0})

    def bigger(ctx):
        from helpers.controller import with_memory_size

        return Call(with_memory_size, {"model": _controller(), "memory_size": 6})

    def copy_errors_call(ctx):
        from helpers.controller import CopyTask, copy_errors

        task = CopyTask(3)
        model = _controller(task.input_size, task.output_size, temporal_links=True)
        return Call(copy_errors, {"model": model, "task": task, "length": 2, "episodes": 2, "seed": 0})

    def save(ctx):
        from helpers.controller import save_weights

        return Call(save_weights, {"model": _controller(), "path": ctx.tmp / "w.safetensors"})

    def load(ctx):
        from helpers.controller import load_weights, save_weights

        path = ctx.tmp / "w.safetensors"
        save_weights(_controller(seed=1), path)  # same architecture, other weights
        return Call(load_weights, {"model": _controller(), "path": path})

    def other_architecture(path, ctx):
        from helpers.controller import save_weights

        save_weights(_controller(output_size=5, seed=1), path)  # same LSTM and interface, another output layer
        return path

    def nan_weights(path, ctx):
        from helpers.checkpoint import load_state, save_state

        state, _ = load_state(path)
        save_state(path, {k: torch.full_like(v, NAN) if v.is_floating_point() else v for k, v in state.items()})
        return path  # an intact file (both digests match) whose weights are NaN

    def sequence(ctx):
        from helpers.controller import episode_to_sequence

        return Call(episode_to_sequence, {"episode": _stream(ctx)[0].sample_episodes(B, 3, 2, _gen())})

    def without_query_y(valid, ctx):
        return {k: v for k, v in valid.items() if k != "query_y"}

    weights_file = custom(
        ("truncated file", lambda p, ctx: _truncate(p, reseal=False)),
        ("truncated file, sidecar digest rewritten", lambda p, ctx: _truncate(p, reseal=True)),
        ("another architecture's weights (sidecar matches)", other_architecture),
        ("NaN weights (sidecar matches)", nan_weights),
        ("a pickle that runs code (sidecar matches)", _pickle_that_runs_code),
        ("no .sha256 sidecar", lambda p, ctx: _without_sidecar(p)),
    )
    return [
        Spec(at + "detach_state", detach, {"state": (const("'abc'", "abc"), const("3", 3),
                                                     const("[1, 'a']", [1, "a"]))}),
        Spec(at + "MemoryController", controller_ctor, {
            "input_size": size(), "output_size": size(), "config": obj(), "input_to_interface": flag(),
            "temporal_links": flag()}),
        Spec(at + "MemoryController.initial_state", controller_state, {
            "batch_size": count(), "device": device(), "generator": generator(optional=True)}),
        Spec(at + "MemoryController.forward", forward, {
            "x": tensor(), "return_trace": flag(), "generator": generator(optional=True),
            "state": (*obj(optional=True),
                      custom(("a state for batch 3", lambda v, ctx: ctx.keep["model"].initial_state(3)))[0])}),
        Spec(at + "LSTMBaseline", lstm_ctor, {"input_size": size(), "output_size": size(), "hidden_size": size()}),
        Spec(at + "LSTMBaseline.forward", lstm_forward, {
            "x": tensor(), "state": (const("'abc'", "abc"), const("(h, c) of the wrong width",
                                                                  (torch.zeros(1, B, 7), torch.zeros(1, B, 7))))}),
        Spec(at + "count_parameters", parameters, {"model": obj()}),
        Spec(at + "matched_lstm_hidden", matched, {
            "input_size": size(), "output_size": size(),
            "target_parameters": (*count(huge=(10**20,)), const("1e20", 1e20))}),
        Spec(at + "RecallTask", recall_task, {"key_dim": size(), "value_dim": size(), "num_queries": size()}),
        Spec(at + "RecallTask.sample", recall_sample, {"batch_size": count(), "num_pairs": count(),
                                                       "generator": generator()}),
        Spec(at + "masked_loss", masked, {"outputs": tensor(), "targets": tensor(), "mask": tensor(skip=mask_dtypes),
                                          "kind": choice()}),
        Spec(at + "bits_wrong", bits, {"logits": tensor(), "targets": tensor(), "mask": tensor(skip=mask_dtypes)}),
        Spec(at + "train_step", step, {
            "x": tensor(), "y": tensor(), "mask": tensor(skip=mask_dtypes), "kind": choice(),
            "truncation": count(optional=True),
            "max_grad_norm": positive(), "optimizer": obj()}),
        Spec(at + "fit", fit_call, {
            "sample_batch": function(), "steps": steps(), "lr": positive(), "kind": choice(),
            "evaluate": function(optional=True), "eval_every": steps()}),
        Spec(at + "recall_errors", recall_errors_call, {
            "model": obj(), "task": obj(), "num_pairs": count(), "episodes": count(), "seed": seed()}),
        Spec(at + "CopyTask", copy_task, {"bits": size()}),
        Spec(at + "CopyTask.sample", copy_sample, {"batch_size": count(), "length": count(),
                                                   "generator": generator()}),
        Spec(at + "CopyTask.sampler", copy_sampler, {
            "batch_size": count(), "min_length": count(), "max_length": count(), "seed": seed(),
            "device": device()}),
        Spec(at + "make_copy_models", copy_models, {"task": obj(), "seed": seed()}),
        Spec(at + "with_memory_size", bigger, {"model": obj(), "memory_size": size()}),
        Spec(at + "copy_errors", copy_errors_call, {
            "model": obj(), "task": obj(), "length": count(), "episodes": count(), "seed": seed()}),
        Spec(at + "save_weights", save, {"model": obj(), "path": path_to_write(missing_parent=False)}),
        Spec(at + "load_weights", load, {"model": obj(), "path": (*path_to_read(), *weights_file)}),
        Spec(at + "episode_to_sequence", sequence, {
            "episode": (*obj(), custom(("no 'query_y'", without_query_y))[0]),
            "episode[query_y]": tensor(), "episode[context_x]": tensor()}),
    ]




# ================================================================================================
# 04 replay
# ================================================================================================


def _buffer(pushed: int = 5, capacity: int = 8, **settings):
    """A reservoir buffer of ``capacity`` holding ``pushed`` items ``x (2,)``, ``y (1,)`` of task 0."""
    from helpers.replay import ReplayBuffer

    buffer = ReplayBuffer(capacity, seed=0, **settings)
    if pushed:
        buffer.push(0, x=_randn(pushed, 2), y=_randn(pushed, 1, seed=1))
    return buffer


def replay_specs() -> list[Spec]:
    at = "helpers.replay:"

    def tree_ctor(ctx):
        from helpers.replay import SumTree

        return Call(SumTree, {"capacity": 4})

    def tree(ctx):
        from helpers.replay import SumTree

        tree = SumTree(4)
        tree.update(np.arange(3), np.array([1.0, 2.0, 3.0]))
        return tree

    def tree_update(ctx):
        return Call(tree(ctx).update, {"indices": np.array([0, 2]), "values": np.array([0.5, 4.0])})

    def tree_find(ctx):
        return Call(tree(ctx).find_prefix, {"prefix": np.array([0.5, 5.5])})

    def probabilities(alpha: float):
        def setup(ctx):
            from helpers.replay import sampling_probabilities

            return Call(sampling_probabilities, {"priorities": torch.tensor([1.0, 2.0, 3.0]), "alpha": alpha})
        return setup

    def importance(ctx):
        from helpers.replay import importance_weights

        return Call(importance_weights, {"probabilities": torch.tensor([0.2, 0.3, 0.5]), "num_items": 3,
                                         "beta": 0.4, "min_probability": None})

    def beta(ctx):
        from helpers.replay import linear_beta

        return Call(linear_beta, {"step": 3, "beta_start": 0.4, "beta_steps": 10})

    def fifo(ctx):
        from helpers.replay import fifo_slots

        return Call(fifo_slots, {"num_seen": 2, "batch": 3, "capacity": 4})

    def reservoir(ctx):
        from helpers.replay import reservoir_slots

        return Call(reservoir_slots, {"num_seen": 2, "batch": 3, "capacity": 4, "generator": _gen()})

    def balanced(ctx):
        from helpers.replay import balanced_slots

        return Call(balanced_slots, {"stored_tasks": torch.tensor([0, 0, 1, -1]), "size": 3,
                                     "incoming_tasks": torch.tensor([1, 2]), "capacity": 4, "generator": _gen()})

    def extend(ctx):
        from helpers.replay import extend_class

        class Target:
            pass

        return Call(extend_class, {"cls": Target})

    def buffer_ctor(ctx):
        from helpers.replay import ReplayBuffer

        return Call(ReplayBuffer, {"capacity": 8, "alpha": 0.6, "beta_start": 0.4, "beta_steps": 100, "eps": 1e-3,
                                   "eviction": "reservoir", "seed": 0, "device": None})

    def task_counts(ctx):
        return Call(_buffer().task_counts, {"num_tasks": 2})

    def push(pushed: int):
        def setup(ctx):
            return Call(_buffer(pushed).push, {"task_id": 1, "priorities": None, "x": _randn(3, 2, seed=2),
                                               "y": _randn(3, 1, seed=3)})
        return setup

    def sample(ctx):
        return Call(_buffer().sample, {"batch_size": 2, "replace": None, "generator": None})

    def update(ctx):
        return Call(_buffer().update_priorities, {"indices": torch.tensor([0, 2]), "losses": torch.tensor([0.5, 1.0])})

    def load(ctx):
        other = _buffer()
        other.sample(2)
        other.update_priorities(torch.tensor([1]), torch.tensor([3.0]))
        return Call(_buffer(pushed=2).load_state_dict, {"state": other.state_dict()})

    task_id = (*index(), const("[0, 0] (two ids for three items)", [0, 0]))
    priorities = (const("[nan, 1, 1]", torch.tensor([NAN, 1.0, 1.0])), const("[-1, 1, 1]", torch.tensor([-1.0, 1, 1])),
                  const("[inf, 1, 1]", torch.tensor([INF, 1.0, 1.0])), const("two entries", torch.tensor([1.0, 1.0])),
                  const("'abc'", "abc"))
    buffer_state = (
        *obj(),
        corrupt("NaN priority", "priorities", transform=lambda t: _nan_first(t)),
        corrupt("negative priority", "priorities", transform=lambda t: -t - 1),
        corrupt("size > capacity", "counters.size", 13),
        corrupt("num_seen < size", "counters.num_seen", -1),
        corrupt("size 2.5", "counters.size", 2.5),
        corrupt("storage with one row too many", "storage.x", transform=lambda t: torch.cat([t, t[:1]])),
        corrupt("float64 storage", "storage.x", transform=lambda t: t.double()),
        corrupt("NaN in stored item", "storage.x", transform=lambda t: _nan_first(t)),
        corrupt("task_ids of the wrong length", "task_ids", transform=lambda t: t[:3]),
        corrupt("no 'counters'", "counters", delete=True),
        corrupt("generator state 'abc'", "generator", "abc"),
        corrupt("NaN max_priority", "max_priority", NAN),
        corrupt("another capacity", "config.capacity", 99),
    )
    return [
        Spec(at + "SumTree", tree_ctor, {"capacity": size()}),
        Spec(at + "SumTree.update", tree_update, {
            "indices": (const("[-1]", np.array([-1])), const("[4] (capacity 4)", np.array([4])), const("'abc'", "abc"),
                        const("[0.5]", np.array([0.5]))),
            "values": (const("nan", NAN), const("-1", -1.0), const("inf", INF), const("'abc'", "abc"))}),
        Spec(at + "SumTree.find_prefix", tree_find, {
            "prefix": (const("[nan]", np.array([NAN])), const("[-1]", np.array([-1.0])),
                       const("[7] (> total 6)", np.array([7.0])), const("'abc'", "abc"), const("None", None))}),
        Spec(at + "sampling_probabilities", probabilities(0.6), {
            "priorities": (*tensor(dtypes=False, types=False, width=False), const("'abc'", "abc")),
            "alpha": probability()}),
        Spec(at + "sampling_probabilities", probabilities(1.0), {
            "priorities": (const("[1e308, 1e308, 1e308]", torch.tensor([1e308] * 3, dtype=torch.float64)),)},
             label="alpha=1"),
        Spec(at + "importance_weights", importance, {
            "probabilities": (*tensor(dtypes=False, types=False, width=False), const("'abc'", "abc"),
                              const("[0, 0.5, 0.5]", torch.tensor([0.0, 0.5, 0.5]))),
            "num_items": count(huge=(10**20,)), "beta": probability(),
            "min_probability": (const("0.9 (> every probability)", 0.9), const("nan", NAN), const("-1", -1.0),
                                const("'abc'", "abc"))}),
        Spec(at + "linear_beta", beta, {"step": count(low=0, huge=()), "beta_start": probability(),
                                        "beta_steps": count(huge=())}),
        Spec(at + "fifo_slots", fifo, {"num_seen": count(low=0, huge=()), "batch": count(low=0),
                                       "capacity": size()}),
        Spec(at + "reservoir_slots", reservoir, {"num_seen": count(low=0, huge=()), "batch": count(low=0),
                                                 "capacity": size(), "generator": generator()}),
        Spec(at + "balanced_slots", balanced, {
            "stored_tasks": tensor("int"), "size": count(low=0, huge=()), "capacity": size(),
            "incoming_tasks": (*tensor("int", width=False, skip=("empty batch",)), const("[-1]", torch.tensor([-1]))),
            "generator": generator()}),
        Spec(at + "extend_class", extend, {"cls": obj()}),
        Spec(at + "ReplayBuffer", buffer_ctor, {
            "capacity": size(), "alpha": probability(), "beta_start": probability(),
            "beta_steps": count(huge=()), "eps": positive(), "eviction": choice(), "seed": seed(),
            "device": device()}),
        Spec(at + "ReplayBuffer.task_counts", task_counts, {"num_tasks": count(low=0, huge=(10**20,))}),
        Spec(at + "ReplayBuffer.push", push(5), {"task_id": task_id, "priorities": priorities, "x": tensor(),
                                                 "y": tensor()}, label="later push"),
        Spec(at + "ReplayBuffer.push", push(0), {  # the first push sets each item's shape and dtype
            "task_id": task_id, "x": tensor(dtypes=False, width=False, skip=("last axis dropped",))},
             label="first push"),
        Spec(at + "ReplayBuffer.sample", sample, {"batch_size": count(), "replace": flag(optional=True),
                                                  "generator": generator(optional=True)}),
        Spec(at + "ReplayBuffer.update_priorities", update, {
            "indices": (*tensor("int", skip=("list", "extra leading axis")),
                        const("[99, 0] (slot not in use)", torch.tensor([99, 0])),
                        const("[-1, 0]", torch.tensor([-1, 0]))),
            "losses": tensor(skip=("list", "extra leading axis", "float64"))}),
        Spec(at + "ReplayBuffer.load_state_dict", load, {"state": buffer_state}),
    ]


def _nan_first(t: torch.Tensor) -> torch.Tensor:
    t = t.clone()
    t.view(-1)[0] = NAN
    return t


# ================================================================================================
# 05 maml
# ================================================================================================


def _sine_model():
    from helpers.maml import make_sine_mlp

    return make_sine_mlp(hidden=8, seed=0)


def _sine_tasks(num_tasks: int = 3):
    from helpers.maml import sample_sine_tasks

    return sample_sine_tasks(num_tasks, 4, 5, _gen())


def _sampler_of(tasks):
    return lambda generator: tasks


def maml_specs() -> list[Spec]:
    # inner_loop is the unchecked per-task kernel (it runs under vmap, where no check can look at values); its
    # public callers adapt, query_losses, adaptation_curve and MAML check its inputs and are fuzzed below.
    at = "helpers.maml:"

    def batch_record(ctx):
        from helpers.maml import TaskBatch

        tasks = _sine_tasks()
        return Call(TaskBatch, {"support_x": tasks.support_x, "support_y": tasks.support_y,
                                "query_x": tasks.query_x, "query_y": tasks.query_y,
                                "amplitude": tasks.amplitude, "phase": tasks.phase})

    def targets(ctx):
        from helpers.maml import sine_targets

        return Call(sine_targets, {"amplitude": _rand(3) + 0.1, "phase": _rand(3, seed=1), "x": _randn(3, 4, 1)})

    def sample(ctx):
        from helpers.maml import sample_sine_tasks

        return Call(sample_sine_tasks, {"num_tasks": 3, "k_support": 4, "k_query": 5, "generator": _gen()})

    def sine_mlp(ctx):
        from helpers.maml import make_sine_mlp

        return Call(make_sine_mlp, {"hidden": 8, "seed": 0})

    def adapt_call(ctx):
        from helpers.maml import adapt

        tasks = _sine_tasks()
        return Call(adapt, {"model": _sine_model(), "support_x": tasks.support_x[0], "support_y": tasks.support_y[0],
                            "steps": 1, "lr": 0.01, "params": None, "first_order": False, "reset": None})

    def over_tasks(name: str):
        def setup(ctx):
            import helpers.maml as maml

            arguments = {"model": _sine_model(), "tasks": _sine_tasks(), "lr": 0.01, "batched": "vmap"}
            arguments |= {"steps": 1} if name == "query_losses" else {"max_steps": 2}
            return Call(getattr(maml, name), arguments)
        return setup

    def ci(ctx):
        from helpers.maml import mean_ci95

        return Call(mean_ci95, {"values": torch.tensor([1.0, 2.0, 3.0])})

    def learner(ctx):
        from helpers.maml import MAML

        return MAML(_sine_model(), inner_lr=0.01, inner_steps=1, outer_lr=1e-3)

    def maml_ctor(ctx):
        from helpers.maml import MAML

        return Call(MAML, {"model": _sine_model(), "inner_lr": 0.01, "inner_steps": 1, "outer_lr": 1e-3,
                           "first_order": False, "meta_sgd": False, "batched": "vmap", "reset": None})

    def method(name: str):
        def setup(ctx):
            m = learner(ctx)
            tasks = _sine_tasks()
            arguments = {
                "query_losses": {"tasks": tasks, "steps": 1},
                "meta_step": {"tasks": tasks},
                "fit": {"sample_tasks": _sampler_of(tasks), "iterations": 2, "seed": 0, "desc": "fuzz"},
                "adapt": {"support_x": tasks.support_x[0], "support_y": tasks.support_y[0], "steps": 1},
                "curve": {"tasks": tasks, "max_steps": 2},
            }[name]
            return Call(getattr(m, name), arguments)
        return setup

    def pretrain(ctx):
        from helpers.maml import pretrain_multitask

        return Call(pretrain_multitask, {"model": _sine_model(), "sample_tasks": _sampler_of(_sine_tasks()),
                                         "iterations": 2, "lr": 1e-3, "seed": 0, "desc": "fuzz"})

    def wider_targets(valid, ctx):
        tasks = _sine_tasks()
        wide = type(tasks)(tasks.support_x, torch.cat([tasks.support_y] * 2, -1), tasks.query_x,
                           torch.cat([tasks.query_y] * 2, -1), tasks.amplitude, tasks.phase)
        return _sampler_of(wide)

    def nan_tasks(valid, ctx):
        tasks = _sine_tasks()
        return _sampler_of(type(tasks)(tasks.support_x, _nan_first(tasks.support_y), tasks.query_x,
                                       _nan_first(tasks.query_y), tasks.amplitude, tasks.phase))

    def nan_rate(valid, ctx):
        model = _sine_model()
        return {k: torch.full_like(p, NAN) for k, p in model.named_parameters()}

    sampler_attacks = (*function(), *custom(("returns targets one column wider", wider_targets),
                                            ("returns NaN targets", nan_tasks)))
    return [
        Spec(at + "TaskBatch", batch_record, {"support_x": tensor(), "query_y": tensor()}),
        Spec(at + "sine_targets", targets, {"amplitude": tensor(), "phase": tensor(), "x": tensor()}),
        Spec(at + "sample_sine_tasks", sample, {"num_tasks": count(), "k_support": count(), "k_query": count(),
                                                "generator": generator()}),
        Spec(at + "make_sine_mlp", sine_mlp, {"hidden": size(), "seed": seed()}),
        Spec(at + "adapt", adapt_call, {
            "model": obj(), "support_x": tensor(), "support_y": tensor(), "steps": steps(),
            "lr": (*positive(), *custom(("a NaN per-parameter rate", nan_rate))), "first_order": flag(),
            "params": obj(optional=True), "reset": function(optional=True)}),
        Spec(at + "query_losses", over_tasks("query_losses"), {
            "tasks": obj(), "tasks.support_x": tensor(), "tasks.query_y": tensor(), "steps": steps(),
            "lr": positive(), "batched": choice()}),
        Spec(at + "adaptation_curve", over_tasks("adaptation_curve"), {
            "tasks": obj(), "tasks.query_y": tensor(), "max_steps": steps(), "lr": positive(), "batched": choice()}),
        Spec(at + "mean_ci95", ci, {"values": (*tensor(dtypes=False, types=False, width=False,
                                                       skip=("extra leading axis",)), const("'abc'", "abc"),
                                               const("None", None))}),
        Spec(at + "MAML", maml_ctor, {
            "model": obj(), "inner_lr": positive(), "inner_steps": steps(), "outer_lr": positive(),
            "first_order": flag(), "meta_sgd": flag(), "batched": choice(), "reset": function(optional=True)}),
        Spec(at + "MAML.query_losses", method("query_losses"), {"tasks.query_y": tensor(),
                                                                "steps": steps(optional=True)}),
        Spec(at + "MAML.meta_step", method("meta_step"), {"tasks": obj(), "tasks.support_x": tensor(),
                                                          "tasks.query_y": tensor()}),
        Spec(at + "MAML.fit", method("fit"), {"sample_tasks": sampler_attacks, "iterations": steps(),
                                              "seed": seed()}),
        Spec(at + "MAML.adapt", method("adapt"), {"support_x": tensor(), "support_y": tensor(),
                                                  "steps": steps(optional=True)}),
        Spec(at + "MAML.curve", method("curve"), {"tasks.query_y": tensor(), "max_steps": steps()}),
        Spec(at + "pretrain_multitask", pretrain, {"model": obj(), "sample_tasks": sampler_attacks,
                                                   "iterations": steps(), "lr": positive(), "seed": seed()}),
    ]




# ================================================================================================
# 06 agent -- to be replaced whole when the agent is redesigned (keep the fixtures next to the specs)
# ================================================================================================

TINY_AGENT = {"hidden_size": 8, "memory_size": 6, "batch_size": 4, "replay_batch_size": 4, "steps_per_task": 2,
              "neighbours": 2, "meta_queries": 4, "seed": 0}
# every part switched on: DER++ logits, a memory read, local adaptation with its meta loss, prioritised replay
FULL_AGENT = {**TINY_AGENT, "logit_weight": 0.3, "read_weight": 0.5, "adapt_steps": 1, "adapt_lr": 1.0,
              "meta_weight": 0.25, "alpha": 0.6}


def _agent_config(**overrides):
    from helpers.agent import AgentConfig

    return AgentConfig(**{**FULL_AGENT, **overrides})


def _digits(ctx, per_class: int = 6) -> tuple:
    """The first two Split Digits tasks, cut to ``per_class`` train and test images of each of their digits."""
    def make():
        from helpers.agent import DigitTask, make_split_digits

        tasks = []
        for task in make_split_digits(seed=0)[:2]:
            parts = {}
            for split in ("train", "test"):
                y = getattr(task, f"{split}_y")
                rows = torch.cat([(y == c).nonzero().squeeze(1)[:per_class] for c in task.classes])
                for field in ("x", "y", "index"):
                    parts[f"{split}_{field}"] = getattr(task, f"{split}_{field}")[rows]
            tasks.append(DigitTask(task.task_id, task.classes, **parts))
        return tuple(tasks)

    return ctx.cached(f"digits{per_class}", make)


def _loose(task):
    """A ``DigitTask`` as a plain record (no checks on construction), so attacks reach the agent's own checks."""
    from types import SimpleNamespace

    return SimpleNamespace(task_id=task.task_id, classes=task.classes, train_x=task.train_x, train_y=task.train_y,
                           test_x=task.test_x, test_y=task.test_y)


def _agent(ctx, trained: bool = True, **overrides):
    """A tiny Split Digits agent (64 -> 10 classes, every part switched on); ``trained``: it has learned task 0
    (two steps), so its memory, optimiser, generator and counters hold something and its next step replays."""
    from helpers.agent import ContinualAgent

    agent = ContinualAgent(_agent_config(**overrides), 64, 10)
    if trained:
        agent.learn_task(_digits(ctx)[0])
    return agent


def _regression_agent(ctx):
    """A tiny regression agent for the main stream (10 -> 1), trained on its task 0."""
    from helpers.agent import ContinualAgent

    agent = ContinualAgent(_agent_config(balance="task"), 10, 1, "regression")
    agent.learn_task(_stream(ctx)[0])
    return agent


def _memory(pushed: int = 4, **settings):
    """An episodic memory of 6 items ``x (3,)``, labels of 4 classes, logits ``(4,)``, holding ``pushed`` items."""
    from helpers.agent import EpisodicMemory

    memory = EpisodicMemory(6, **{"balance": "class", "alpha": 0.6, "seed": 0, **settings})
    if pushed:
        memory.write(_randn(pushed, 3), torch.arange(pushed) % 4, _randn(pushed, 4, seed=1), 0,
                     losses=_rand(pushed, seed=2))
    return memory


def _agent_file_attacks(for_this_agent: bool = False) -> tuple:
    """Damaged, forged and hostile checkpoint files (each written over the valid one); ``for_this_agent``:
    the file is loaded into an existing agent, so another config's checkpoint is wrong too."""
    def flipped(path, ctx):
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
        return _reseal(path)

    def another_kind(path, ctx):  # intact, both digests right, but not an agent's state
        from helpers.checkpoint import save_state

        save_state(path, {"weight": torch.zeros(2, 3)})
        return path

    def impossible_adam(change):
        def make(path, ctx):  # both digests right; the next Adam step would turn every weight NaN
            from helpers.checkpoint import save_state

            state = _agent(ctx).state_dict()
            change(state["optimizer"])
            save_state(path, state)
            return path
        return make

    def nan_weights(path, ctx):
        agent = _agent(ctx)
        with torch.no_grad():
            agent.net.head.weight.fill_(NAN)
        agent.save(path)
        return path

    def other_config(path, ctx):
        _agent(ctx, seed=1).save(path)
        return path

    attacks = custom(
        ("truncated file", lambda p, ctx: _truncate(p, reseal=False)),
        ("truncated file, sidecar digest rewritten", lambda p, ctx: _truncate(p, reseal=True)),
        ("a byte flipped, sidecar digest rewritten", flipped),
        ("an intact state file of another kind", another_kind),
        ("a pickle that runs code, sidecar digest rewritten", _pickle_that_runs_code),
        ("no .sha256 sidecar", lambda p, ctx: _without_sidecar(p)))
    attacks += custom(("NaN weights, saved by save()", nan_weights), names=("path", "net"))
    attacks += custom(
        ("negative Adam second moments", impossible_adam(lambda o: o["state"][0]["exp_avg_sq"].fill_(-1.0))),
        ("Adam beta1 = 1", impossible_adam(lambda o: o["param_groups"][0].update(betas=(1.0, 0.999)))),
        ("Adam lr = 0", impossible_adam(lambda o: o["param_groups"][0].update(lr=0.0))),
        ("Adam eps = 0", impossible_adam(lambda o: o["param_groups"][0].update(eps=0.0))), names=("path", "optimizer"))
    if for_this_agent:
        attacks += custom(("another config's checkpoint", other_config), names=("path", "config"))
    return attacks


def _bool_mask(mask_kind: str = "mask") -> tuple:
    """A bool mask argument: wrong types, shapes, a float mask and the meta device (its valid value is bool)."""
    return custom(("list", lambda v, ctx: v.tolist()), ("'abc'", lambda v, ctx: "abc"),
                  ("extra leading axis", lambda v, ctx: v.unsqueeze(0)),
                  ("last axis dropped", lambda v, ctx: v[..., 0]),
                  ("one more column", lambda v, ctx: _wider(v)),
                  (f"float {mask_kind}", lambda v, ctx: v.float()),
                  ("on 'meta' device", lambda v, ctx: v.to("meta")))


def _wider(t: torch.Tensor) -> torch.Tensor:
    return torch.cat([t, t[..., :1]], dim=-1)


def agent_specs() -> list[Spec]:
    at = "helpers.agent:"

    def digit_task(ctx):
        from helpers.agent import DigitTask

        task = _digits(ctx)[1]
        return Call(DigitTask, {"task_id": 1, "classes": task.classes, "train_x": task.train_x,
                                "train_y": task.train_y, "test_x": task.test_x, "test_y": task.test_y,
                                "train_index": task.train_index, "test_index": task.test_index})

    def split_digits(ctx):
        from helpers.agent import make_split_digits

        return Call(make_split_digits, {"test_fraction": 0.25, "seed": 0})

    def config_ctor(ctx):
        from helpers.agent import AgentConfig

        return Call(AgentConfig, {"balance": "class", "read_beta": 30.0, "read_top_k": 0, "beta_start": 0.4,
                                  "replay_weight": 0.5, "scenario": "class", "lr": 1e-3, "ace": False, "meta_every": 1,
                                  **FULL_AGENT})

    def read(ctx):
        from helpers.agent import content_read

        return Call(content_read, {"query_keys": _randn(3, 4), "item_keys": _randn(5, 4, seed=1),
                                   "values": _rand(5, 2, seed=2), "beta": 10.0, "top_k": 2,
                                   "allowed": _rand(3, 5, seed=3) > 0.3})

    def class_mean(ctx):
        from helpers.agent import nearest_class_mean

        return Call(nearest_class_mean, {"query_keys": _randn(3, 4), "item_keys": _randn(5, 4, seed=1),
                                         "labels": torch.tensor([0, 1, 1, 3, 0]), "num_classes": 4})

    def memory_ctor(ctx):
        from helpers.agent import EpisodicMemory

        return Call(EpisodicMemory, {"capacity": 6, "balance": "class", "alpha": 0.6, "beta_start": 0.4,
                                     "beta_steps": 100, "seed": 0, "device": None})

    def memory_write(ctx):
        return Call(_memory().write, {"x": _randn(3, 3, seed=3), "y": torch.tensor([0, 1, 3]),
                                      "logits": _randn(3, 4, seed=4), "task": 1, "losses": _rand(3, seed=5)})

    def memory_sample(ctx):
        return Call(_memory().sample, {"batch_size": 2})

    def encoder_ctor(ctx):
        from helpers.agent import EncoderHead

        return Call(EncoderHead, {"input_dim": 10, "output_dim": 1, "hidden_size": 8})

    def encoder_forward(ctx):
        from helpers.agent import EncoderHead

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            net = EncoderHead(10, 1, 8)
        return Call(net.forward, {"x": _randn(3, 10)})

    def adaptation_ctor(ctx):
        import torch.nn.functional as F

        from helpers.agent import LocalAdaptation

        return Call(LocalAdaptation, {"steps": 1, "lr": 0.1, "loss_fn": F.mse_loss, "first_order": True})

    def adaptation(name: str):
        def setup(ctx):
            import torch.nn.functional as F

            from helpers.agent import LocalAdaptation

            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                head = torch.nn.Linear(4, 3)
            method = LocalAdaptation(1, 0.1, F.mse_loss)
            arguments = {"head": head, "queries": _randn(2, 4), "support_x": _randn(2, 3, 4, seed=1),
                         "support_y": _randn(2, 3, 3, seed=2)}
            if name == "meta_loss":
                arguments["query_targets"] = _randn(2, 3, seed=3)
            return Call(getattr(method, name), arguments)
        return setup

    def agent_run(ctx):
        from helpers.agent import AgentRun

        return Call(AgentRun, {"R": _rand(2, 2), "baseline": _rand(2, seed=1), "train_seconds": 0.1,
                               "higher_is_better": True})

    def agent_ctor(ctx):
        from helpers.agent import ContinualAgent

        return Call(ContinualAgent, {"config": _agent_config(), "input_dim": 64, "output_dim": 10,
                                     "kind": "classification", "device": None})

    def observe(ctx):
        task = _digits(ctx)[1]
        return Call(_agent(ctx).observe, {"x": task.train_x[:4], "y": task.train_y[:4], "task_id": 1,
                                          "store": True})

    def observe_regression(ctx):
        task = _stream(ctx)[1]
        return Call(_regression_agent(ctx).observe, {"x": task.train_x[:4], "y": task.train_y[:4], "task_id": 1,
                                                     "store": True})

    def predict(ctx):
        return Call(_agent(ctx).predict, {"x": _digits(ctx)[1].test_x[:3], "allowed": torch.ones(10, dtype=torch.bool),
                                          "read_weight": 0.5, "adapt": True, "readout": "agent"})

    def learn(ctx):
        return Call(_agent(ctx).learn_task, {"task": _loose(_digits(ctx)[1]), "steps": 2})

    def evaluate(ctx):
        return Call(_agent(ctx).evaluate, {"tasks": [_loose(t) for t in _digits(ctx)], "scenario": "task",
                                           "readout": "agent", "read_weight": 0.5})

    def fit_stream(ctx):
        return Call(_agent(ctx, trained=False).fit_stream, {"tasks": [_loose(t) for t in _digits(ctx)],
                                                            "until": None, "desc": "fuzz", "read_weight": 0.5})

    def trained_further(ctx):
        other = _agent(ctx)
        other.learn_task(_digits(ctx)[1])
        other.rows.append(other.evaluate(_digits(ctx)))  # as fit_stream leaves it: rows, baseline
        other.rows.append(other.evaluate(_digits(ctx)))
        other.baseline = other.evaluate(_digits(ctx))
        return other

    def load_state(ctx):
        return Call(_agent(ctx).load_state_dict, {"state": trained_further(ctx).state_dict()})

    def save(ctx):
        return Call(_agent(ctx).save, {"path": ctx.tmp / "agent.safetensors"})

    def checkpoint(ctx) -> Path:
        path = ctx.tmp / "agent.safetensors"
        trained_further(ctx).save(path)
        return path

    def load(ctx):
        return Call(_agent(ctx).load, {"path": checkpoint(ctx), "expected_sha256": None})

    def from_checkpoint(ctx):
        from helpers.agent import ContinualAgent

        return Call(ContinualAgent.from_checkpoint, {"path": checkpoint(ctx), "device": None,
                                                     "expected_sha256": None})

    def memory_item(field: str, change):
        return lambda t: {**t, field: change(t[field])}

    agent_state = (
        *obj(),
        corrupt("NaN weight", "net.0", transform=_nan_first),
        corrupt("a weight of the wrong shape", "net.0", transform=lambda t: t[:1]),
        corrupt("NaN learning rate", "optimizer.param_groups.0.lr", NAN),
        corrupt("NaN Adam moment", "optimizer.state.0.exp_avg_sq", transform=_nan_first),
        corrupt("an Adam moment of the wrong shape", "optimizer.state.0.exp_avg", transform=lambda t: t[:1]),
        corrupt("Adam step -1", "optimizer.state.0.step", transform=lambda t: t * 0 - 1),
        corrupt("negative Adam second moments", "optimizer.state.0.exp_avg_sq", transform=lambda t: t * 0 - 1),
        corrupt("Adam beta1 = 1", "optimizer.param_groups.0.betas", (1.0, 0.999)),
        corrupt("Adam beta2 = 1.5", "optimizer.param_groups.0.betas", (0.9, 1.5)),
        corrupt("Adam lr = 0", "optimizer.param_groups.0.lr", 0.0),
        corrupt("Adam lr = -1", "optimizer.param_groups.0.lr", -1.0),
        corrupt("Adam eps = 0", "optimizer.param_groups.0.eps", 0.0),
        corrupt("tasks_seen -1", "counters.tasks_seen", -1),
        corrupt("steps_done 2.5", "counters.steps_done", 2.5),
        corrupt("tasks_seen 5 (two rows of results)", "counters.tasks_seen", 5),
        corrupt("no 'memory'", "memory", delete=True),
        corrupt("memory None (this agent has one)", "memory", None),
        corrupt("NaN in a stored item", "memory.storage.x", transform=_nan_first),
        corrupt("stored items one column wider", "memory.storage.x", transform=_wider),
        corrupt("a stored label 99 (10 classes)", "memory.storage.y", transform=lambda t: t * 0 + 99),
        corrupt("stored logits one column wider", "memory.storage.logits", transform=_wider),
        corrupt("memory size > capacity", "memory.counters.size", 99),
        corrupt("NaN replay priority", "memory.priorities", transform=_nan_first),
        corrupt("another memory capacity", "memory.config.capacity", 99),
        corrupt("memory generator state 'abc'", "memory.generator", "abc"),
        corrupt("generator state 'abc'", "generator", "abc"),
        corrupt("generator state of 3 bytes", "generator", torch.zeros(3, dtype=torch.uint8)),
        corrupt("another seed in the config", "config.seed", 1),
        corrupt("another kind", "dims.kind", "regression"),
        corrupt("'seen' of 3 classes", "seen", torch.zeros(3, dtype=torch.bool)),
        corrupt("task id -1 in task_classes", "task_classes", {-1: torch.zeros(10, dtype=torch.bool)}),
        corrupt("NaN result row", "rows", transform=_nan_first),
        corrupt("baseline of 3 tasks (rows have 2)", "baseline", torch.zeros(3, dtype=torch.float64)),
    )
    digest = (const("'abc'", "abc"), const("3", 3), const("64 zeros (not the file's digest)", "0" * 64))
    config_fields = {
        "hidden_size": count(), "memory_size": count(low=0, huge=(10**20,)), "balance": choice(),
        "read_beta": positive(), "read_top_k": count(low=0, huge=(10**20,)), "read_weight": probability(),
        "replay_weight": probability(), "logit_weight": nonnegative(), "replay_batch_size": count(),
        "alpha": probability(), "beta_start": probability(), "neighbours": count(),
        "adapt_steps": (*count(low=0), const("0 (with meta_weight 0.25)", 0)), "adapt_lr": positive(),
        "meta_weight": nonnegative(), "meta_queries": count(), "scenario": choice(), "batch_size": count(),
        "steps_per_task": count(low=0), "lr": positive(), "seed": seed()}
    labels = (*tensor("int"), const("label 10 (10 classes)", torch.tensor([2, 3, 10, 2])),
              const("label -1", torch.tensor([2, 3, -1, 2])))
    def no_training_data(valid, ctx):  # a task with its test split but nothing to train on
        import copy

        task = copy.copy(valid)
        task.train_x, task.train_y = task.train_x[:0], task.train_y[:0]
        return task

    def empty_training_split(valid, ctx):
        return [valid[0], no_training_data(valid[1], ctx)]

    loose_task = {
        "task": (*obj(), *custom(("a task with an empty training split", no_training_data), names=("train_x",))),
        "task.task_id": index(), "task.train_x": tensor(),
        "task.train_y": (*tensor("int"), custom(("labels >= 10", lambda v, ctx: v + 10))[0]),
        "task.classes": (const("(2, 99)", (2, 99)), const("'ab'", "ab"), const("3", 3))}
    tasks_arg = (*obj(), const("[]", []), const("[3]", [3]),
                 *custom(("an iterator of tasks", lambda v, ctx: iter(v)), names=("tasks",)))
    stream_arg = (*tasks_arg, *custom(("task 1 with an empty training split", empty_training_split),
                                      names=("train_x",)))
    readout_settings = {"read_weight": number(0.0, 1.0, low_open=False, optional=True)}
    return [
        Spec(at + "DigitTask", digit_task, {
            "task_id": index(), "classes": (const("(2,)", (2,)), const("(2, 10)", (2, 10)), const("[2, 3]", [2, 3]),
                                            const("('a', 'b')", ("a", "b"))),
            "train_x": tensor(), "train_y": (*tensor("int"), const("labels of other digits", torch.zeros(12).long())),
            "test_index": (*tensor("int"), custom(("the train rows", lambda v, ctx: _digits(ctx)[1].train_index))[0])},
             names={"train_x": ("train_y",)}),
        Spec(at + "make_split_digits", split_digits, {"test_fraction": number(0.0, 1.0), "seed": seed()}),
        Spec(at + "AgentConfig", config_ctor, config_fields),
        Spec(at + "content_read", read, {
            "query_keys": tensor(), "item_keys": tensor(), "values": tensor(width=False), "beta": positive(),
            "top_k": count(low=0, huge=(10**20,)), "allowed": _bool_mask()},
             names={"query_keys": ("item_keys", "allowed"), "item_keys": ("values",)}),
        Spec(at + "nearest_class_mean", class_mean, {
            "query_keys": tensor(skip=("empty batch",)), "item_keys": tensor(),
            "labels": (*tensor("int", width=False), const("a label 4 (4 classes)", torch.tensor([0, 1, 1, 4, 0])),
                       const("a label -1", torch.tensor([0, 1, 1, -1, 0]))),
            "num_classes": count(huge=(10**20,))},
             names={"query_keys": ("item_keys",), "item_keys": ("labels",)}),
        Spec(at + "EpisodicMemory", memory_ctor, {
            "capacity": size(), "balance": choice(), "alpha": probability(), "beta_start": probability(),
            "beta_steps": count(huge=()), "seed": seed(), "device": device()}),
        Spec(at + "EpisodicMemory.write", memory_write, {
            "x": tensor(), "logits": tensor(),
            "y": (*tensor("int"), const("label 4 (4 logits)", torch.tensor([0, 1, 4])),
                  const("label -1", torch.tensor([0, -1, 3])),
                  const("float targets (B, d_out) into a memory of labels", _randn(3, 4))),
            "task": index(), "losses": (*tensor(skip=("None", "float64")),
                                        const("a negative loss", torch.tensor([0.5, -1.0, 0.5])))},
             names={"x": ("logits",)}),
        Spec(at + "EpisodicMemory.sample", memory_sample, {"batch_size": count()}),
        Spec(at + "EncoderHead", encoder_ctor, {"input_dim": size(), "output_dim": size(), "hidden_size": size()}),
        Spec(at + "EncoderHead.forward", encoder_forward, {  # a plain module: any leading axes, NaN in -> NaN out
            "x": tensor(finite=False, skip=("extra leading axis", "empty batch"))}),
        Spec(at + "LocalAdaptation", adaptation_ctor, {"steps": count(), "lr": positive(), "loss_fn": function(),
                                                       "first_order": flag()}),
        Spec(at + "LocalAdaptation.outputs", adaptation("outputs"), {
            "head": obj(), "queries": tensor(), "support_x": tensor(), "support_y": tensor()}),
        Spec(at + "LocalAdaptation.meta_loss", adaptation("meta_loss"), {
            "queries": tensor(), "query_targets": tensor(), "support_y": tensor()}),
        Spec(at + "AgentRun", agent_run, {"R": tensor(), "baseline": tensor(), "train_seconds": nonnegative(),
                                          "higher_is_better": flag()}),
        Spec(at + "ContinualAgent", agent_ctor, {
            "config": obj(), "input_dim": size(), "output_dim": size(),
            "kind": (*choice(), const("'regression' (config balance='class')", "regression")),
            "device": device()}),
        Spec(at + "ContinualAgent.observe", observe, {"x": tensor(), "y": labels, "task_id": index(),
                                                      "store": flag()}, names={"x": ("batch size",)}),
        Spec(at + "ContinualAgent.observe", observe_regression, {"x": tensor(), "y": tensor(), "task_id": index()},
             names={"x": ("batch size",)}, label="regression"),
        Spec(at + "ContinualAgent.predict", predict, {
            "x": tensor(), "allowed": (*_bool_mask(), const("no class allowed", torch.zeros(10, dtype=torch.bool))),
            "read_weight": number(0.0, 1.0, low_open=False, optional=True), "adapt": flag(optional=True),
            "readout": choice()}, names={"x": ("number of queries",)}),
        Spec(at + "ContinualAgent.learn_task", learn, {**loose_task, "steps": count(low=0, optional=True)},
             names={"task.train_x": ("train_y",)}),
        Spec(at + "ContinualAgent.evaluate", evaluate, {
            "tasks": tasks_arg, "tasks[1].test_x": tensor(),
            "scenario": choice(optional=True), "readout": choice(), **readout_settings},
             names={"tasks": ("task",), "tasks[1].test_x": ("test_y",)}),
        Spec(at + "ContinualAgent.fit_stream", fit_stream, {
            "tasks": stream_arg, "tasks[1].train_x": tensor(),
            "until": (*index(optional=True), const("99", 99)), **readout_settings},
             names={"tasks": ("task",), "tasks[1].train_x": ("train_y",)}),
        Spec(at + "ContinualAgent.load_state_dict", load_state, {"state": agent_state}),
        Spec(at + "ContinualAgent.save", save, {"path": path_to_write()}),
        Spec(at + "ContinualAgent.load", load, {"path": (*path_to_read(), *_agent_file_attacks(for_this_agent=True)),
                                                "expected_sha256": digest}),
        Spec(at + "ContinualAgent.from_checkpoint", from_checkpoint, {
            "path": (*path_to_read(), *_agent_file_attacks()), "device": device(), "expected_sha256": digest}),
    ]


# ================================================================================================
# 07 experiments -- written against the agent above; replace with the agent specs
# ================================================================================================


def _agent_run(seed: int):
    """A method for ``run_methods``: a made-up ``AgentRun`` of two tasks."""
    from helpers.agent import AgentRun

    return AgentRun(_rand(2, 2, seed=seed), _rand(2, seed=seed + 10), 0.1)


def _results(methods=("a",), seeds=(0, 1)):
    from helpers.experiments import run_methods

    return run_methods({name: _agent_run for name in methods}, list(seeds), desc="fuzz")


def experiments_specs() -> list[Spec]:
    at = "helpers.experiments:"

    def seeds_call(ctx):
        from helpers.experiments import check_seeds

        return Call(check_seeds, {"seeds": [0, 1]})

    def run_methods_call(ctx):
        from helpers.experiments import run_methods

        return Call(run_methods, {"methods": {"a": _agent_run}, "seeds": [0, 1], "desc": "fuzz"})

    def returning(make):
        return lambda valid, ctx: {"a": lambda seed: make()}

    def nan_run():
        from helpers.agent import AgentRun

        return AgentRun(torch.full((2, 2), NAN), _rand(2), 0.1)

    def nan_seconds_run():
        from helpers.agent import AgentRun

        return AgentRun(_rand(2, 2), _rand(2), NAN)

    def wide_run():
        from helpers.agent import AgentRun

        return AgentRun(_rand(2, 3), _rand(2), 0.1)

    def per_seed_call(ctx):
        from helpers.experiments import per_seed

        return Call(per_seed, {"results": _results(), "method": "a", "metric": "acc"})

    def summarise_call(ctx):
        from helpers.experiments import summarise

        return Call(summarise, {"results": _results(), "metrics": ("acc", "bwt")})

    def table(ctx):
        from helpers.experiments import results_table

        return Call(results_table, {"results": _results(), "metrics": ("acc", "bwt"), "digits": 3, "scale": 1.0})

    def compare_call(ctx):
        from helpers.experiments import compare

        return Call(compare, {"results": _results(("a", "b"), (0, 1, 2)), "first": "a", "second": "b",
                              "metric": "acc", "higher_is_better": True})

    def readouts(ctx):
        from helpers.experiments import fit_readouts

        return Call(fit_readouts, {"agent": _agent(ctx, trained=False), "tasks": [_loose(t) for t in _digits(ctx)],
                                   "readouts": {"ER": {}, "ER + NCM": {"readout": "ncm"}}, "desc": "fuzz"})

    def digit_config_call(ctx):
        from helpers.experiments import digit_config

        return Call(digit_config, {"method": "agent", "memory_size": 6, "seed": 0, "scenario": "class",
                                   "steps_per_task": 2, "hidden_size": 8})

    def digit_methods(ctx):
        from helpers.experiments import split_digits_methods

        return Call(split_digits_methods, {"memory_size": 6, "scenario": "class", "methods": ["ER", "ER + NCM"],
                                           "steps_per_task": 2, "joint_epochs": 1, "device": None})

    def jointly(ctx):
        from helpers.experiments import fit_jointly

        return Call(fit_jointly, {"tasks": _digits(ctx), "config": _agent_config(), "input_dim": 64,
                                  "output_dim": 10, "kind": "classification", "epochs": 1, "scenario": "class",
                                  "device": None})

    seeds = tuple(const(label, value) for label, value in (
        ("[1.7]", [1.7]), ("['3']", ["3"]), ("[-1]", [-1]), ("[True]", [True]), ("[2**64]", [2**64]),
        ("[0, 0]", [0, 0]), ("[]", []), ("'abc'", "abc"), ("3", 3), ("None", None), ("range(10**9)", range(10**9)),
        ("1001 seeds", list(range(1001))), ("10**5 seeds", list(range(10**5)))))

    def empty_training_split(valid, ctx):  # task 1 keeps its test split but has nothing to train on
        tasks = [_loose(t) for t in valid]
        tasks[1].train_x, tasks[1].train_y = tasks[1].train_x[:0], tasks[1].train_y[:0]
        return tasks

    def iterator(valid, ctx):
        return iter(valid)

    tasks_arg = (*obj(), const("[]", []), *custom(("task 1 with an empty training split", empty_training_split),
                                                   ("an iterator of tasks", iterator), names=("train_x", "tasks")))
    method_names = (const("['nope']", ["nope"]), const("'ER' (a str)", "ER"), const("3", 3), const("[]", []))
    results_arg = (*obj(), const("[]", []), const("['abc']", ["abc"]))
    return [
        Spec(at + "check_seeds", seeds_call, {"seeds": seeds}),
        Spec(at + "run_methods", run_methods_call, {
            "methods": (*obj(), const("{}", {}), const("{'a': 3}", {"a": 3}),
                        *custom(("a method whose R is NaN", returning(nan_run)),
                                ("a method whose train_seconds is NaN", returning(nan_seconds_run)),
                                ("a method whose R is (2, 3)", returning(wide_run)),
                                ("a method returning 'abc' (no AgentRun)", returning(lambda: "abc")),
                                ("a method returning {'x': 3}", returning(lambda: {"x": 3})))),
            "seeds": seeds}),
        Spec(at + "per_seed", per_seed_call, {"results": results_arg, "method": choice(), "metric": choice()}),
        Spec(at + "summarise", summarise_call, {"results": results_arg,
                                                "metrics": (const("['nope']", ["nope"]), const("'acc' (a str)", "acc"),
                                                            const("3", 3), const("None", None))}),
        Spec(at + "results_table", table, {"results": results_arg, "digits": count(low=0, huge=(10**20,)),
                                           "scale": number(low=None)}),
        Spec(at + "compare", compare_call, {"results": results_arg, "first": choice(), "second": choice(),
                                            "metric": choice(), "higher_is_better": flag()}),
        Spec(at + "fit_readouts", readouts, {
            "agent": obj(), "tasks": tasks_arg,
            "tasks[1].train_x": tensor(),
            "readouts": (*obj(), const("{}", {}), const("{'x': {'readout': 'nope'}}", {"x": {"readout": "nope"}}),
                         const("{'x': 3}", {"x": 3}), const("{'x': {'lr': 0.1}}", {"x": {"lr": 0.1}}),
                         const("{'ER': {}, 'x': {'read_weight': 1.5}} (the last bad)",
                               {"ER": {}, "x": {"read_weight": 1.5}}))},
             names={"tasks": ("task",), "tasks[1].train_x": ("train_y",), "readouts": ("readout",)}),
        Spec(at + "digit_config", digit_config_call, {
            "method": choice(), "memory_size": count(low=0, huge=(10**20,)), "seed": seed(), "scenario": choice(),
            "steps_per_task": count(low=0), "hidden_size": count()}),
        Spec(at + "split_digits_methods", digit_methods, {
            "memory_size": count(low=0, huge=(10**20,)), "scenario": choice(), "methods": method_names,
            "steps_per_task": count(low=0), "joint_epochs": count(), "device": device()},
             names={"methods": ("method",)}),
        Spec(at + "fit_jointly", jointly, {
            "tasks": tasks_arg, "config": obj(), "input_dim": size(), "output_dim": size(),
            "kind": choice(), "epochs": count(), "scenario": choice(optional=True), "device": device()},
             names={"tasks": ("task",)}),
    ]


SPECS: list[Spec] = [*foundations_specs(), *memory_specs(), *controller_specs(), *replay_specs(), *maml_specs(),
                     *agent_specs(), *experiments_specs()]
