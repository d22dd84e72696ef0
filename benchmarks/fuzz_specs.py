"""What ``benchmarks/fuzz_api.py`` attacks: one ``Spec`` per public function, constructor and
state-changing method of ``helpers``, grouped by module, one function per module.

A spec is a target (``"helpers.<module>:<name>"``), a ``setup(ctx) -> Call`` that builds one small,
fast, valid call, and ``attack``: argument -> bad values from the catalogue in ``fuzz_api``
(``count()``, ``seed()``, ``tensor()``, ``flag()``, ``corrupt(...)``...). To cover a new function, add a
``Spec`` to its module's list; to follow an API that changed, edit (or replace) that module's function:
the agent and experiments specs are written to be replaced whole when notebook 06's agent is redesigned.

Setups import ``helpers`` when they run, so a renamed or removed function skips its spec ("spec skipped:
<reason>") instead of breaking the run. Sizes are tiny on purpose: every attack rebuilds its call.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import torch
from fuzz_api import (
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
        Spec(at + "pick_device", pick, {"setting": (*device(), const("None", None)), "verbose": flag()}),
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
            "cue_dim": size(), "frequency": nonnegative(), "noise_std": nonnegative(), "seed": seed()}),
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

    def check_sequence_call(ctx):
        from helpers.controller import check_sequence

        return Call(check_sequence, {"x": _randn(B, 4, 3), "input_size": 3, "like": _randn(1)})

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

    def sha(ctx):
        from helpers.controller import sha256_of

        path = ctx.tmp / "file.bin"
        path.write_bytes(b"weights")
        return Call(sha256_of, {"path": path})

    def save(ctx):
        from helpers.controller import save_weights

        return Call(save_weights, {"model": _controller(), "path": ctx.tmp / "w.pt"})

    def load(ctx):
        from helpers.controller import load_weights, save_weights

        path = ctx.tmp / "w.pt"
        save_weights(_controller(seed=1), path)  # same architecture, other weights
        return Call(load_weights, {"model": _controller(), "path": path})

    def other_architecture(path, ctx):
        from helpers.controller import save_weights

        save_weights(_controller(output_size=5, seed=1), path)  # same LSTM and interface, another output layer
        return path

    def nan_weights(path, ctx):
        state = torch.load(path, weights_only=True)
        torch.save({k: torch.full_like(v, NAN) if v.is_floating_point() else v for k, v in state.items()}, path)
        return _reseal(path)

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
        Spec(at + "check_sequence", check_sequence_call, {"x": tensor(finite=False), "input_size": size(),
                                                          "like": obj()}),
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
        Spec(at + "sha256_of", sha, {"path": path_to_read()}),
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

    def last_writes_call(ctx):
        from helpers.replay import last_writes

        return Call(last_writes, {"indices": np.array([0, 1, 0])})

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

    def replay_step_call(ctx):
        from helpers.replay import regression_losses, replay_step

        model = _mlp(2)
        return Call(replay_step, {"model": model, "optimizer": torch.optim.Adam(model.parameters(), lr=1e-3),
                                  "loss_fn": regression_losses, "current": {"x": _randn(3, 2, seed=2),
                                                                            "y": _randn(3, 1, seed=3)},
                                  "buffer": _buffer(), "replay_batch_size": 2, "replay_weight": 0.5})

    def losses(ctx):
        from helpers.replay import regression_losses

        return Call(regression_losses, {"model": _mlp(2), "items": {"x": _randn(3, 2), "y": _randn(3, 1, seed=1)}})

    def train_with_replay_call(ctx):
        from helpers.replay import train_with_replay

        return Call(train_with_replay, {"model": _mlp(), "stream": _stream(ctx), "buffer": _buffer(0, 16),
                                        "steps_per_task": 2, "batch_size": 4, "replay_batch_size": 2,
                                        "replay_weight": 0.5, "lr": 1e-3, "seed": 0, "device": None})

    def renormalising(ctx):
        from helpers.replay import RenormalisingSampler

        return Call(RenormalisingSampler, {"priorities": torch.tensor([1.0, 2.0, 3.0]), "alpha": 0.6, "beta": 0.4,
                                           "eps": 1e-3})

    def renormalising_method(method: str):
        def setup(ctx):
            from helpers.replay import RenormalisingSampler

            sampler = RenormalisingSampler(torch.tensor([1.0, 2.0, 3.0, 4.0]))
            if method == "sample":
                return Call(sampler.sample, {"batch_size": 2, "generator": _gen()})
            return Call(sampler.update_priorities, {"indices": torch.tensor([0, 2]),
                                                    "losses": torch.tensor([0.5, 1.0])})
        return setup

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
        Spec(at + "last_writes", last_writes_call, {"indices": (*obj(), const("floats", np.array([0.5, 1.5])))}),
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
        Spec(at + "replay_step", replay_step_call, {
            "current[x]": tensor(), "current[y]": tensor(), "replay_batch_size": count(),
            "replay_weight": probability(), "loss_fn": function(), "buffer": obj(optional=True), "optimizer": obj()}),
        Spec(at + "regression_losses", losses, {"model": obj(), "items[x]": tensor(), "items[y]": tensor()}),
        Spec(at + "train_with_replay", train_with_replay_call, {
            "model": obj(), "stream": obj(), "buffer": obj(optional=True), "steps_per_task": count(),
            "batch_size": count(), "replay_batch_size": count(), "replay_weight": probability(), "lr": positive(),
            "seed": seed(), "device": device()}),
        Spec(at + "RenormalisingSampler", renormalising, {
            "priorities": tensor(dtypes=False, width=False, skip=("list",)), "alpha": probability(),
            "beta": probability(), "eps": positive()}),
        Spec(at + "RenormalisingSampler.sample", renormalising_method("sample"), {
            "batch_size": count(), "generator": generator()}),
        Spec(at + "RenormalisingSampler.update_priorities", renormalising_method("update"), {
            "indices": (*tensor("int", skip=("list",)), const("[99]", torch.tensor([99]))),
            "losses": tensor(skip=("list", "float64"))}),
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
    at = "helpers.maml:"

    def batch_record(ctx):
        from helpers.maml import TaskBatch

        tasks = _sine_tasks()
        return Call(TaskBatch, {"support_x": tasks.support_x, "support_y": tasks.support_y,
                                "query_x": tasks.query_x, "query_y": tasks.query_y,
                                "amplitude": tasks.amplitude, "phase": tasks.phase})

    def select(ctx):
        return Call(_sine_tasks().select, {"index": 1})

    def targets(ctx):
        from helpers.maml import sine_targets

        return Call(sine_targets, {"amplitude": _rand(3) + 0.1, "phase": _rand(3, seed=1), "x": _randn(3, 4, 1)})

    def sample(ctx):
        from helpers.maml import sample_sine_tasks

        return Call(sample_sine_tasks, {"num_tasks": 3, "k_support": 4, "k_query": 5, "generator": _gen()})

    def sine_mlp(ctx):
        from helpers.maml import make_sine_mlp

        return Call(make_sine_mlp, {"hidden": 8, "seed": 0})

    def inner(ctx):
        import torch.nn.functional as F

        from helpers.maml import inner_loop

        model = _sine_model()
        tasks = _sine_tasks()
        return Call(inner_loop, {"model": model, "params": dict(model.named_parameters()), "buffers": {},
                                 "x": tasks.support_x[0], "y": tasks.support_y[0], "steps": 1, "lr": 0.01,
                                 "first_order": False, "loss_fn": F.mse_loss, "functional": True})

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
                           "first_order": False, "meta_sgd": False, "batched": "auto", "reset": None})

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
        Spec(at + "TaskBatch.select", select, {"index": (const("'abc'", "abc"), const("99", 99), const("1.7", 1.7),
                                                         const("None", None))}),
        Spec(at + "sine_targets", targets, {"amplitude": tensor(), "phase": tensor(), "x": tensor()}),
        Spec(at + "sample_sine_tasks", sample, {"num_tasks": count(), "k_support": count(), "k_query": count(),
                                                "generator": generator()}),
        Spec(at + "make_sine_mlp", sine_mlp, {"hidden": size(), "seed": seed()}),
        Spec(at + "inner_loop", inner, {"x": tensor(), "y": tensor(), "steps": steps(), "lr": positive(),
                                        "first_order": flag(), "functional": flag(), "params": obj()}),
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

TINY_AGENT = {"hidden_size": 8, "memory_size": 4, "memory_dim": 4, "num_read_heads": 1, "context_size": 4,
              "query_size": 2, "batch_size": 2, "steps_per_task": 2, "replay_capacity": 8, "replay_batch_size": 2,
              "beta_steps": 10, "meta_steps": 1, "meta_shots": 4, "seed": 0}


def _agent_config(**overrides):
    from helpers.agent import AgentConfig

    return AgentConfig(**{**TINY_AGENT, **overrides})


def _agent(ctx, trained: bool = True, input_dim: int = 10, output_dim: int = 1, **overrides):
    """A tiny agent for the main stream; ``trained``: two steps on task 0 and past its boundary, so its next
    step replays (and its buffer, optimiser and counters hold something)."""
    from helpers.agent import ContinualAgent

    agent = ContinualAgent(_agent_config(**overrides), input_dim, output_dim)
    if trained:
        task = _stream(ctx)[0]
        for _ in range(2):
            agent.train_step(agent.episodes(task, 2), 0)
        agent.tasks_seen = 1
    return agent


def _episode(ctx, batch: int = 2, task: int = 1) -> dict:
    return _stream(ctx)[task].sample_episodes(batch, TINY_AGENT["context_size"], TINY_AGENT["query_size"], _gen())


def _agent_file_attacks(for_this_agent: bool = False) -> tuple:
    """Damaged, forged and hostile checkpoint files (each written over the valid one); ``for_this_agent``:
    the file is loaded into an existing agent, so another config's checkpoint is wrong too."""
    def flipped(path, ctx):
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
        return _reseal(path)

    def hostile_payload(path, ctx):
        envelope = torch.load(path, weights_only=True)
        payload = io.BytesIO()
        torch.save({"net": _RunsCode(ctx.marker)}, payload)
        data = payload.getvalue()
        envelope["payload"] = torch.frombuffer(bytearray(data), dtype=torch.uint8)
        envelope["sha256"] = hashlib.sha256(data).hexdigest()
        torch.save(envelope, path)
        return _reseal(path)

    def nan_weights(path, ctx):
        agent = _agent(ctx)
        with torch.no_grad():
            next(agent.net.parameters()).fill_(NAN)
        agent.save(path)
        return path

    def other_config(path, ctx):
        _agent(ctx, seed=1).save(path)
        return path

    attacks = [
        ("truncated file", lambda p, ctx: _truncate(p, reseal=False)),
        ("truncated file, sidecar digest rewritten", lambda p, ctx: _truncate(p, reseal=True)),
        ("a byte flipped, sidecar digest rewritten", flipped),
        ("a payload that runs code, both digests rewritten", hostile_payload),
        ("a pickle that runs code, sidecar digest rewritten", _pickle_that_runs_code),
        ("NaN weights, saved by save()", nan_weights),
        ("no .sha256 sidecar", lambda p, ctx: _without_sidecar(p)),
    ]
    if for_this_agent:
        attacks.append(("another config's checkpoint", other_config))
    return custom(*attacks)


def agent_specs() -> list[Spec]:
    at = "helpers.agent:"

    def config_ctor(ctx):
        from helpers.agent import AgentConfig

        return Call(AgentConfig, {"use_memory": True, "use_replay": True, "use_meta": False,
                                  "controller": "feedforward", "lr": 3e-3, "replay_weight": 0.5, "alpha": 0.6,
                                  "beta_start": 0.4, "meta_lr": 0.01, **TINY_AGENT})

    def net_ctor(ctx):
        from helpers.agent import EpisodicMemoryNet

        return Call(EpisodicMemoryNet, {"input_dim": 10, "output_dim": 1, "config": _agent_config()})

    def net_forward(controller: str):
        def setup(ctx):
            episode = _episode(ctx)
            net = _agent(ctx, trained=False, controller=controller, use_meta=False).net
            arguments = {"query_x": episode["query_x"], "context_x": episode["context_x"],
                         "context_y": episode["context_y"], "return_trace": False}
            return Call(net.forward, arguments)
        return setup

    def split_context(ctx):
        from helpers.agent import SplitContext

        agent = _agent(ctx, trained=False)
        return Call(SplitContext(agent.net, 10).forward, {"pairs": _randn(4, 11)})

    def losses(ctx):
        from helpers.agent import episode_losses

        return Call(episode_losses, {"prediction": _randn(2, 2, 1), "target": _randn(2, 2, 1, seed=1)})

    def agent_ctor(ctx):
        from helpers.agent import ContinualAgent

        return Call(ContinualAgent, {"config": _agent_config(), "input_dim": 10, "output_dim": 1, "device": None})

    def episodes(ctx):
        return Call(_agent(ctx, trained=False).episodes, {"task": _stream(ctx)[0], "batch_size": 2, "split": "train",
                                                          "generator": None})

    def predict(ctx):
        return Call(_agent(ctx, trained=False).predict, {"episode": _episode(ctx), "params": None})

    def train_step(ctx):
        return Call(_agent(ctx).train_step, {"episode": _episode(ctx), "task_id": 1})

    def support(ctx):
        return Call(_agent(ctx, trained=False).support_problem, {"x": _randn(4, 10), "y": _randn(4, 1, seed=1),
                                                                 "with_memory": None})

    def adapt_to(ctx):
        return Call(_agent(ctx, use_meta=True).adapt_to, {"task": _stream(ctx)[1]})

    def nan_task(valid, ctx):
        from dataclasses import replace

        return replace(valid, train_x=_nan_first(valid.train_x), train_y=_nan_first(valid.train_y))

    def learn(ctx):
        return Call(_agent(ctx).learn_task, {"task": _stream(ctx)[1], "steps": 2})

    def evaluate(ctx):
        return Call(_agent(ctx).evaluate, {"tasks": list(_stream(ctx)), "episodes": 2, "seed": None,
                                           "adapt_steps": 0, "adapt_lr": None, "use_memory": None})

    def fit_stream(ctx):
        return Call(_agent(ctx, trained=False).fit_stream, {"stream": _stream(ctx), "eval_every": 0, "episodes": 2,
                                                            "until": None, "desc": "fuzz"})

    def load_state(ctx):
        other = _agent(ctx)
        other.train_step(other.episodes(_stream(ctx)[1], 2), 1)
        return Call(_agent(ctx).load_state_dict, {"state": other.state_dict()})

    def save(ctx):
        return Call(_agent(ctx).save, {"path": ctx.tmp / "agent.pt"})

    def checkpoint(ctx) -> Path:
        path = ctx.tmp / "agent.pt"
        other = _agent(ctx)
        other.train_step(other.episodes(_stream(ctx)[1], 2), 1)
        other.save(path)
        return path

    def load(ctx):
        return Call(_agent(ctx).load, {"path": checkpoint(ctx), "expected_sha256": None})

    def from_checkpoint(ctx):
        from helpers.agent import ContinualAgent

        return Call(ContinualAgent.from_checkpoint, {"path": checkpoint(ctx), "device": None, "expected_sha256": None})

    def sidecar(ctx):
        from helpers.agent import sidecar_path

        return Call(sidecar_path, {"path": ctx.tmp / "agent.pt"})

    def read(ctx):
        from helpers.agent import read_checkpoint

        return Call(read_checkpoint, {"path": checkpoint(ctx), "expected_sha256": None})

    def original_stream(ctx):
        from helpers.agent import make_original_stream

        return Call(make_original_stream, {"train_size": 4, "test_size": 4, "seed": 0})

    def schedule(ctx):
        from helpers.agent import original_schedule_config

        return Call(original_schedule_config, {"seed": 0, "lr": 3e-3})

    def run(ctx):
        from helpers.agent import run_agent

        return Call(run_agent, {"config": _agent_config(), "stream": _stream(ctx), "eval_every": 0, "episodes": 2,
                                "device": None, "desc": "fuzz"})

    agent_state = (
        *obj(),
        corrupt("NaN weight", "net.0", transform=_nan_first),
        corrupt("a weight of the wrong shape", "net.0", transform=lambda t: t[:1]),
        corrupt("NaN learning rate", "optimizer.param_groups.0.lr", NAN),
        corrupt("NaN Adam moment", "optimizer.state.0.exp_avg_sq", transform=_nan_first),
        corrupt("an Adam moment of the wrong shape", "optimizer.state.0.exp_avg", transform=lambda t: t[:1]),
        corrupt("tasks_seen -1", "counters.tasks_seen", -1),
        corrupt("steps_done 2.5", "counters.steps_done", 2.5),
        corrupt("no 'buffer'", "buffer", delete=True),
        corrupt("NaN replay priority", "buffer.priorities", transform=_nan_first),
        corrupt("replay size > capacity", "buffer.counters.size", 99),
        corrupt("generator state 'abc'", "generator", "abc"),
        corrupt("generator state of 3 bytes", "generator", torch.zeros(3, dtype=torch.uint8)),
        corrupt("another seed in the config", "config.seed", 1),
        corrupt("NaN train_seconds", "run.train_seconds", NAN),
    )
    digest = (const("'abc'", "abc"), const("3", 3), const("64 zeros (not the file's digest)", "0" * 64))
    episode_tensors = {f"episode[{k}]": tensor() for k in ("context_x", "context_y", "query_x", "query_y")}
    config_fields = {
        "use_memory": flag(), "use_replay": flag(), "use_meta": flag(), "controller": choice(),
        "hidden_size": size(), "memory_size": size(), "memory_dim": size(), "num_read_heads": size(),
        "context_size": size(), "query_size": size(), "batch_size": count(), "steps_per_task": count(low=0),
        "lr": positive(), "replay_capacity": size(), "replay_batch_size": count(), "replay_weight": probability(),
        "alpha": probability(), "beta_start": probability(), "beta_steps": count(huge=()),
        "meta_steps": count(low=0), "meta_lr": positive(), "meta_shots": count(), "seed": seed()}
    return [
        Spec(at + "AgentConfig", config_ctor, config_fields),
        Spec(at + "EpisodicMemoryNet", net_ctor, {"input_dim": size(), "output_dim": size(), "config": obj()}),
        Spec(at + "EpisodicMemoryNet.forward", net_forward("feedforward"), {
            "query_x": tensor(), "context_x": tensor(), "context_y": tensor(), "return_trace": flag()}),
        Spec(at + "LSTMEpisodeNet.forward", net_forward("lstm"), {"query_x": tensor(), "context_x": tensor()}),
        Spec(at + "SplitContext.forward", split_context, {"pairs": tensor()}),
        Spec(at + "episode_losses", losses, {"prediction": tensor(), "target": tensor()}),
        Spec(at + "ContinualAgent", agent_ctor, {"config": obj(), "input_dim": size(), "output_dim": size(),
                                                 "device": device()}),
        Spec(at + "ContinualAgent.episodes", episodes, {"task": obj(), "batch_size": count(), "split": choice(),
                                                        "generator": generator(optional=True)}),
        Spec(at + "ContinualAgent.predict", predict, {"episode[query_x]": tensor(), "episode[context_y]": tensor(),
                                                      "params": obj(optional=True)}),
        Spec(at + "ContinualAgent.train_step", train_step, {"episode": obj(), **episode_tensors,
                                                            "task_id": index()}),
        Spec(at + "ContinualAgent.support_problem", support, {"x": tensor(), "y": tensor(),
                                                              "with_memory": flag(optional=True)}),
        Spec(at + "ContinualAgent.adapt_to", adapt_to, {"task": (*obj(), *custom(("a task with NaN data",
                                                                                    nan_task)))}),
        Spec(at + "ContinualAgent.learn_task", learn, {"task": obj(), "steps": count(low=0, optional=True)}),
        Spec(at + "ContinualAgent.evaluate", evaluate, {
            "tasks": (*obj(), const("[]", [])), "episodes": count(), "seed": seed(optional=True),
            "adapt_steps": steps(), "adapt_lr": positive(optional=True), "use_memory": flag(optional=True)}),
        Spec(at + "ContinualAgent.fit_stream", fit_stream, {
            "stream": obj(), "eval_every": steps(), "episodes": count(),
            "until": (*index(optional=True), const("99", 99))}),
        Spec(at + "ContinualAgent.load_state_dict", load_state, {"state": agent_state}),
        Spec(at + "ContinualAgent.save", save, {"path": path_to_write()}),
        Spec(at + "ContinualAgent.load", load, {"path": (*path_to_read(), *_agent_file_attacks(for_this_agent=True)),
                                                "expected_sha256": digest}),
        Spec(at + "ContinualAgent.from_checkpoint", from_checkpoint, {
            "path": (*path_to_read(), *_agent_file_attacks()), "device": device()}),
        Spec(at + "sidecar_path", sidecar, {"path": (const("None", None), const("3", 3))}),
        Spec(at + "read_checkpoint", read, {"path": (*path_to_read(), *_agent_file_attacks()),
                                            "expected_sha256": digest}),
        Spec(at + "make_original_stream", original_stream, {"train_size": count(), "test_size": count(),
                                                            "seed": seed()}),
        Spec(at + "original_schedule_config", schedule, {"seed": seed(), "lr": positive()}),
        Spec(at + "run_agent", run, {"config": obj(), "stream": obj(), "eval_every": steps(), "episodes": count(),
                                     "device": device()}),
    ]


# ================================================================================================
# 07 experiments -- also written against the current agent; replace with the agent specs
# ================================================================================================


def _digits(ctx, count: int = 2):
    from helpers.experiments import make_split_digits

    return ctx.cached("digits", lambda: make_split_digits(seed=0))[:count]


def _method_run(seed: int):
    from helpers.experiments import MethodRun

    return MethodRun(_rand(2, 2, seed=seed), _rand(2, seed=seed + 10), 0.1)


def _results(methods=("a",), seeds=(0, 1)):
    from helpers.experiments import run_methods

    return run_methods({name: _method_run for name in methods}, list(seeds), desc="fuzz")


def experiments_specs() -> list[Spec]:
    at = "helpers.experiments:"

    def run_result(ctx):
        from helpers.experiments import RunResult

        return Call(RunResult, {"method": "a", "seed": 0, "R": _rand(2, 2), "metrics": {"acc": 0.5}})

    def method_run(ctx):
        from helpers.experiments import MethodRun

        return Call(MethodRun, {"R": _rand(2, 2), "baseline": _rand(2), "train_seconds": 0.1, "model": None,
                                "examples_seen": None})

    def run_methods_call(ctx):
        from helpers.experiments import run_methods

        return Call(run_methods, {"methods": {"a": _method_run}, "seeds": [0, 1], "higher_is_better": True,
                                  "desc": "fuzz"})

    def nan_method(valid, ctx):
        from helpers.experiments import MethodRun

        return {"a": lambda seed: MethodRun(torch.full((2, 2), NAN), _rand(2), 0.1)}

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
                              "higher_is_better": True, "metric": "acc"})

    def variant(ctx):
        from helpers.experiments import variant_config

        return Call(variant_config, {"config": _agent_config(), "name": "naive", "seed": 0})

    def equal_budget(ctx):
        from helpers.experiments import fit_equal_budget

        return Call(fit_equal_budget, {"config": _agent_config(), "stream": _stream(ctx), "episodes": 2,
                                       "device": None, "joint": False, "desc": "fuzz"})

    def jointly(ctx):
        from helpers.experiments import fit_jointly

        return Call(fit_jointly, {"config": _agent_config(use_replay=False), "stream": _stream(ctx), "episodes": 2,
                                  "device": None})

    def ablation(ctx):
        from helpers.experiments import ablation_methods

        return Call(ablation_methods, {"config": _agent_config(), "variants": ["naive"], "num_tasks": 2,
                                       "train_size": 16, "test_size": 16, "eval_episodes": 2, "device": None})

    def split_digits(ctx):
        from helpers.experiments import make_split_digits

        return Call(make_split_digits, {"test_fraction": 0.25, "seed": 0})

    def active(ctx):
        from helpers.experiments import active_classes

        return Call(active_classes, {"scenario": "class", "task_ids": torch.tensor([0, 1]), "seen_tasks": 2})

    def masked(ctx):
        from helpers.experiments import masked_logits

        task = _digits(ctx)[0]
        return Call(masked_logits, {"model": _mlp(64, 10), "x": task.test_x[:4],
                                    "task_ids": torch.zeros(4, dtype=torch.long), "scenario": "task", "seen_tasks": 1})

    def accuracies(ctx):
        from helpers.experiments import digit_accuracies

        return Call(digit_accuracies, {"model": _mlp(64, 10), "tasks": _digits(ctx), "scenario": "class",
                                       "seen_tasks": 2})

    def digit_loss(ctx):
        from helpers.experiments import digit_losses

        return Call(digit_losses, {"scenario": "class", "seen_tasks": 2})

    def split_training(ctx):
        from helpers.experiments import train_split_digits

        return Call(train_split_digits, {
            "tasks": _digits(ctx), "scenario": "class", "method": "replay", "steps_per_task": 2, "batch_size": 8,
            "replay_batch_size": 4, "replay_weight": 0.5, "buffer_capacity": 16, "alpha": 0.0, "hidden": 8,
            "lr": 1e-3, "seed": 0, "device": None})

    def episodes(ctx):
        from helpers.experiments import digit_episodes

        task = _digits(ctx)[0]
        return Call(digit_episodes, {"task": task, "pool_x": task.train_x[:6], "pool_y": task.train_y[:6],
                                     "batch_size": 2, "context_size": 3, "query_size": 2, "generator": _gen()})

    def predictions(name: str):
        def setup(ctx):
            import helpers.experiments as experiments

            agent = _agent(ctx, trained=False, input_dim=64, output_dim=10)
            return Call(getattr(experiments, name), {"agent": agent, "tasks": _digits(ctx), "scenario": "class",
                                                     "seen_tasks": 2, "per_class": 2, "seed": 0})
        return setup

    def confusion(ctx):
        from helpers.experiments import confusion_matrix

        tasks = _digits(ctx)
        return Call(confusion_matrix, {"predictions": [t.test_y for t in tasks], "tasks": tasks})

    def agent_digits(ctx):
        from helpers.experiments import train_agent_on_digits

        return Call(train_agent_on_digits, {"tasks": _digits(ctx), "scenario": "task",
                                            "config": _agent_config(steps_per_task=1), "exemplars_per_class": 2,
                                            "device": None})

    def sharpness(ctx):
        from helpers.experiments import FixedReadSharpness

        return Call(FixedReadSharpness, {"beta": 10.0, "heads": 1})

    def quick(ctx):
        from helpers.experiments import quick_experiment

        return Call(quick_experiment, {
            "beta": 10.0, "alpha": 0.6, "memory_size": 4, "replay_weight": 0.5, "steps_per_task": 1, "seed": 0,
            "config": _agent_config(), "num_tasks": 2, "train_size": 16, "test_size": 16, "eval_episodes": 2,
            "device": None})

    seeds = tuple(const(label, value) for label, value in (
        ("[1.7]", [1.7]), ("['3']", ["3"]), ("[-1]", [-1]), ("[True]", [True]), ("[2**64]", [2**64]),
        ("[0, 0]", [0, 0]), ("[]", []), ("'abc'", "abc"), ("3", 3), ("None", None)))
    predictions_attacks = {"agent": obj(), "tasks": obj(), "scenario": choice(), "seen_tasks": count(),
                           "per_class": count(), "seed": seed()}
    return [
        Spec(at + "RunResult", run_result, {"seed": seed(), "R": tensor(), "metrics": obj()}),
        Spec(at + "MethodRun", method_run, {"R": tensor(), "baseline": tensor(), "train_seconds": nonnegative(),
                                            "examples_seen": count(low=0, huge=(), optional=True)}),
        Spec(at + "run_methods", run_methods_call, {
            "methods": (*obj(), const("{}", {}), const("{'a': 3}", {"a": 3}),
                        *custom(("a method whose R is NaN", nan_method))),
            "seeds": seeds, "higher_is_better": flag()}),
        Spec(at + "per_seed", per_seed_call, {"results": obj(), "method": choice(), "metric": choice()}),
        Spec(at + "summarise", summarise_call, {"results": (*obj(), const("[]", [])),
                                                "metrics": (const("['nope']", ["nope"]), const("'acc' (a str)", "acc"),
                                                            const("3", 3), const("None", None))}),
        Spec(at + "results_table", table, {"results": obj(), "digits": count(low=0, huge=(10**20,)),
                                           "scale": number(low=None)}),
        Spec(at + "compare", compare_call, {"results": obj(), "first": choice(), "second": choice(),
                                            "higher_is_better": flag(), "metric": choice()}),
        Spec(at + "variant_config", variant, {"config": obj(), "name": choice(), "seed": seed()}),
        Spec(at + "fit_equal_budget", equal_budget, {"config": obj(), "stream": obj(), "episodes": count(),
                                                     "device": device(), "joint": flag()}),
        Spec(at + "fit_jointly", jointly, {"config": obj(), "stream": obj(), "episodes": count(), "device": device()}),
        Spec(at + "ablation_methods", ablation, {
            "config": obj(),
            "variants": (const("['nope']", ["nope"]), const("'naive' (a str)", "naive"), const("3", 3)),
            "num_tasks": count(), "train_size": count(), "test_size": count(), "eval_episodes": count(),
            "device": device()}),
        Spec(at + "make_split_digits", split_digits, {"test_fraction": number(0.0, 1.0), "seed": seed()}),
        Spec(at + "active_classes", active, {"scenario": choice(),
                                             "task_ids": tensor("int", width=False, skip=("empty batch",)),
                                             "seen_tasks": count()}),
        Spec(at + "masked_logits", masked, {"model": obj(), "x": tensor(), "task_ids": tensor("int"),
                                            "scenario": choice(), "seen_tasks": count()}),
        Spec(at + "digit_accuracies", accuracies, {"model": obj(), "tasks": obj(), "scenario": choice(),
                                                   "seen_tasks": count()}),
        Spec(at + "digit_losses", digit_loss, {"scenario": choice(), "seen_tasks": count()}),
        Spec(at + "train_split_digits", split_training, {
            "tasks": obj(), "scenario": choice(), "method": choice(), "steps_per_task": count(),
            "batch_size": count(), "replay_batch_size": count(), "replay_weight": probability(),
            "buffer_capacity": size(), "alpha": probability(), "hidden": size(), "lr": positive(), "seed": seed(),
            "device": device()}),
        Spec(at + "digit_episodes", episodes, {
            "task": obj(), "pool_x": tensor(),
            "pool_y": (*tensor("int"), const("labels >= 10", torch.tensor([12] * 6))),
            "batch_size": count(), "context_size": count(), "query_size": count(), "generator": generator()}),
        Spec(at + "agent_digit_predictions", predictions("agent_digit_predictions"), predictions_attacks),
        Spec(at + "agent_digit_accuracies", predictions("agent_digit_accuracies"),
             {"scenario": choice(), "seen_tasks": count()}),
        Spec(at + "confusion_matrix", confusion, {
            "predictions": (*obj(), const("['a']", ["a"]),
                            *custom(("labels >= 10", lambda v, ctx: [p + 10 for p in v]),
                                    ("one task's answers missing", lambda v, ctx: v[:1]))),
            "tasks": obj()}),
        Spec(at + "train_agent_on_digits", agent_digits, {
            "tasks": obj(), "scenario": choice(), "config": obj(), "exemplars_per_class": count(),
            "device": device()}),
        Spec(at + "FixedReadSharpness", sharpness, {"beta": positive(), "heads": size()}),
        Spec(at + "quick_experiment", quick, {
            "beta": positive(), "alpha": probability(), "memory_size": size(), "replay_weight": probability(),
            "steps_per_task": count(low=0), "seed": seed(), "config": obj(optional=True), "num_tasks": count(),
            "train_size": count(), "test_size": count(), "eval_episodes": count(), "device": device()}),
    ]


SPECS: list[Spec] = [*foundations_specs(), *memory_specs(), *controller_specs(), *replay_specs(), *maml_specs(),
                     *agent_specs(), *experiments_specs()]
