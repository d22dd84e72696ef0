"""Feed bad input to every public function of helpers.memory and helpers.controller and classify what happens.

Usage: python benchmarks/fuzz_memory_controller.py [--limit 10] [--markdown]

Each attempt calls one public function or method with one argument replaced by a bad value (wrong type,
None, NaN or infinity, a wrong dtype, rank, size or device, an out-of-range or absurd count, a bad path or
a damaged file). Every attempt is classified as:

- clear: a ValueError or TypeError whose message names the argument (or, for a mismatch between two
  arguments, another argument of the same call; for a file, its path);
- obscure: any other exception, or a message that names none of them;
- silent: no exception (a bad value accepted, or NaN/garbage returned);
- hang: still running after ``--limit`` seconds (interrupted);
- non-atomic (counted on top of the above): the call raised, but the model, its optimiser, the memory
  state passed in, or the global RNG changed.

Only functions whose names and signatures are shared by the series' history are called, so the same
script measures an older checkout (run it with that checkout's ``helpers`` first on ``PYTHONPATH``).
"""

from __future__ import annotations

import argparse
import collections
import copy
import hashlib
import resource
import signal
import tempfile
from pathlib import Path

import torch

from helpers import controller as ctl
from helpers import memory as mem
from helpers.foundations import MemoryConfig, make_generator

NAN, INF = float("nan"), float("inf")


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang


def tensor_attacks(good: torch.Tensor, unit: bool = False, positive: bool = False):
    """Bad replacements for a floating tensor argument (name -> value)."""
    attacks = {
        "a list": good.tolist(),
        "None": None,
        "NaN inside": good.clone().fill_(NAN),
        "inf inside": good.clone().fill_(INF),
        "float64": good.double(),
        "int64": good.long(),
        "bool": good.bool(),
        "one axis fewer": good[0],
        "one axis more": good.unsqueeze(0),
        "last axis + 1": torch.cat([good, good[..., :1]], dim=-1),
        "first axis + 1": torch.cat([good, good[:1]], dim=0),
        "meta device": torch.empty_like(good, device="meta"),
    }
    if unit:
        attacks["values of 2"] = torch.full_like(good, 2.0)
        attacks["values of -1"] = torch.full_like(good, -1.0)
    if positive:
        attacks["values of -1"] = torch.full_like(good, -1.0)
    return attacks


COUNT = {"'3'": "3", "3.0": 3.0, "True": True, "-1": -1, "0": 0, "10**9": 10**9, "NaN": NAN, "None": None}
NUMBER = {"NaN": NAN, "inf": INF, "-1": -1.0, "'x'": "x", "None": None}
FLAG = {"'no'": "no", "1": 1, "None": None}
SEED = {"-1": -1, "'3'": "3", "1.7": 1.7, "2**64": 2**64, "None": None}


class Fuzz:
    def __init__(self, limit: float):
        self.limit = limit
        self.rows = []  # (target, argument, attack, outcome, atomic)
        self.folder = Path(tempfile.mkdtemp())

    def attempt(self, target, argument, attack, call, watch=(), names=()):
        """Run ``call()``; ``watch``: objects whose state must not change if it raises (models, optimisers,
        tensors); ``names``: the call's other arguments, which a mismatch error may name instead."""
        before = [_state(obj) for obj in watch]
        rng = torch.random.get_rng_state()
        signal.setitimer(signal.ITIMER_REAL, self.limit)
        try:
            call()
            outcome, message = "silent", ""
        except Hang:
            outcome, message = "hang", ""
        except (ValueError, TypeError) as err:
            message = str(err)
            outcome = "clear" if any(_names(message, name) for name in (argument, *names)) else "obscure"
        except Exception as err:  # everything else is obscure by definition
            outcome, message = "obscure", f"{type(err).__name__}: {err}"
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        atomic = True
        if outcome in ("clear", "obscure"):
            atomic = all(_same(a, _state(obj)) for a, obj in zip(before, watch))
            atomic = atomic and torch.equal(rng, torch.random.get_rng_state())
        torch.random.set_rng_state(rng)
        self.rows.append((target, argument, attack, outcome, atomic, message[:160]))

    def tensors(self, target, argument, good, make_call, watch=(), unit=False, positive=False, names=(), valid=()):
        """Every tensor attack on ``argument`` except those in ``valid`` (changes that are allowed there, such as
        another batch size for a function of one tensor)."""
        for attack, value in tensor_attacks(good, unit, positive).items():
            if attack not in valid:
                self.attempt(target, argument, attack, lambda v=value: make_call(v), watch, names)

    def values(self, target, argument, attacks, make_call, watch=(), names=()):
        for attack, value in attacks.items():
            self.attempt(target, argument, attack, lambda v=value: make_call(v), watch, names)


def _names(message: str, argument: str) -> bool:
    """Whether an error message names the argument (or, for a field like state.usage, its field)."""
    return any(part and part in message for part in (argument, argument.split(".")[-1]))


FREE = ("float64", "last axis + 1", "first axis + 1")  # allowed for a tensor no other argument constrains


def _state(obj):
    if isinstance(obj, torch.nn.Module):
        return ({k: v.detach().clone() for k, v in obj.state_dict().items()}, [m.training for m in obj.modules()])
    if isinstance(obj, torch.optim.Optimizer):
        return copy.deepcopy(obj.state_dict())
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, tuple):
        return tuple(_state(t) for t in obj)
    return None


def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def fuzz_memory(f: Fuzz) -> None:
    gen = make_generator(0)
    B, N, D, H = 2, 6, 4, 2
    memory, keys = torch.randn(B, N, D, generator=gen), torch.randn(B, H, D, generator=gen)
    strengths, weights = torch.rand(B, H, generator=gen) * 3, torch.softmax(torch.randn(B, 1, N, generator=gen), -1)
    erase, add = torch.rand(B, 1, D, generator=gen), torch.randn(B, 1, D, generator=gen)
    usage, gates = torch.rand(B, N, generator=gen), torch.rand(B, 1, generator=gen)
    link, precedence = torch.zeros(B, 1, N, N), torch.zeros(B, 1, N)
    args = dict(memory=memory, keys=keys, strengths=strengths)
    for name in args:
        f.tensors("content_weights", name, args[name],
                  lambda v, n=name: mem.content_weights(**{**args, n: v}), positive=name == "strengths", names=args)
    f.values("cosine_similarity", "eps", NUMBER, lambda v: mem.cosine_similarity(memory, keys, v))
    args = dict(memory=memory, weights=weights, erase=erase, add=add)
    for name in args:
        f.tensors("erase_and_add", name, args[name], lambda v, n=name: mem.erase_and_add(**{**args, n: v}),
                  names=args, unit=name in ("weights", "erase"))
    args = dict(memory=memory, weights=weights)
    for name in args:
        f.tensors("read_memory", name, args[name], lambda v, n=name: mem.read_memory(**{**args, n: v}),
                  names=args, unit=name == "weights", valid=("last axis + 1",) if name == "memory" else ())
    args = dict(usage=usage, read_weights=weights, free_gates=gates)
    for name in args:
        f.tensors("usage_after_free", name, args[name], lambda v, n=name: mem.usage_after_free(**{**args, n: v}),
                  names=args, unit=True)
    args = dict(usage=usage, write_weights=weights)
    for name in args:
        f.tensors("usage_after_write", name, args[name], lambda v, n=name: mem.usage_after_write(**{**args, n: v}),
                  names=args, unit=True)
    f.tensors("allocation_weights", "usage", usage, lambda v: mem.allocation_weights(v), unit=True, valid=FREE)
    args = dict(memory=memory, usage=usage, keys=keys[:, :1], strengths=strengths[:, :1], allocation_gates=gates,
                write_gates=gates)
    for name in args:
        f.tensors("write_weighting", name, args[name], lambda v, n=name: mem.write_weighting(**{**args, n: v}),
                  names=args, unit=name in ("usage", "allocation_gates", "write_gates"), positive=name == "strengths")
    args = dict(link=link, precedence=precedence, write_weights=weights)
    for name in args:
        f.tensors("update_links", name, args[name], lambda v, n=name: mem.update_links(**{**args, n: v}),
                  names=args, unit=True)
    args = dict(link=link, read_weights=weights)
    for name in args:
        f.tensors("directional_weights", name, args[name],
                  lambda v, n=name: mem.directional_weights(**{**args, n: v}), names=args, unit=True)

    config = MemoryConfig(memory_size=N, memory_dim=D, num_read_heads=1, num_write_heads=1)
    f.values("MemoryBank", "config", {"a dict": {"memory_size": 4}, "None": None}, lambda v: mem.MemoryBank(v))
    f.values("MemoryBank", "temporal_links", FLAG, lambda v: mem.MemoryBank(config, temporal_links=v))
    bank = mem.MemoryBank(config, temporal_links=True)
    f.values("MemoryBank.initial_state", "batch_size", COUNT, lambda v: bank.initial_state(v))
    f.values("MemoryBank.initial_state", "device", {"'gpu'": "gpu", "'cuda:7'": "cuda:7", "3": 3},
             lambda v: bank.initial_state(2, device=v))
    f.values("MemoryBank.initial_state", "dtype", {"int64": torch.int64, "'float'": "float"},
             lambda v: bank.initial_state(2, dtype=v))
    f.values("MemoryBank.initial_state", "generator", {"7": 7, "'seed'": "seed"},
             lambda v: bank.initial_state(2, generator=v))
    state = bank.initial_state(B, generator=gen)
    raw = torch.randn(B, bank.interface_size, generator=gen)
    f.tensors("MemoryBank.parse_interface", "raw", raw, lambda v: bank.parse_interface(v),
              valid=("float64", "first axis + 1"))
    interface = bank.parse_interface(raw)
    for field in state._fields:
        f.tensors("MemoryBank.step", f"state.{field}", getattr(state, field),
                  lambda v, n=field: bank.step(state._replace(**{n: v}), interface), watch=(tuple(state),),
                  unit=field != "memory", names=[f"state.{name}" for name in state._fields])
    for field in interface._fields:
        f.tensors("MemoryBank.step", f"interface.{field}", getattr(interface, field),
                  lambda v, n=field: bank.step(state, interface._replace(**{n: v})), watch=(tuple(state),),
                  unit=field in ("erase", "free_gates", "allocation_gates", "write_gates", "read_modes"),
                  positive=field.endswith("strengths"))
    f.values("MemoryBank.step", "state", {"a tuple": tuple(state), "None": None}, lambda v: bank.step(v, interface))
    f.values("MemoryBank.step", "interface", {"a tuple": tuple(interface), "None": None}, lambda v: bank.step(state, v))
    f.tensors("MemoryBank.read", "keys", interface.read_keys,
              lambda v: bank.read(state, v, interface.read_strengths, interface.read_modes), watch=(tuple(state),))
    f.tensors("MemoryBank.read", "strengths", interface.read_strengths,
              lambda v: bank.read(state, interface.read_keys, v, interface.read_modes), watch=(tuple(state),),
              positive=True)
    f.tensors("MemoryBank.read", "modes", interface.read_modes,
              lambda v: bank.read(state, interface.read_keys, interface.read_strengths, v), watch=(tuple(state),),
              unit=True, valid=("None",))
    f.values("MemoryBank.write", "state", {"a tuple": tuple(state), "None": None}, lambda v: bank.write(v, interface))


def fuzz_controller(f: Fuzz) -> None:
    gen = make_generator(1)
    config = MemoryConfig(memory_size=6, memory_dim=4, num_read_heads=1, num_write_heads=1, controller_hidden_size=8)
    torch.manual_seed(0)
    model = ctl.MemoryController(5, 3, config, temporal_links=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, mask = torch.randn(2, 6, 5, generator=gen), torch.ones(2, 6)
    y = (torch.rand(2, 6, 3, generator=gen) > 0.5).float()
    ctl.train_step(model, optimizer, x, y, mask)  # so that the optimiser has state to protect
    watch = (model, optimizer)
    f.values("MemoryController", "input_size", COUNT, lambda v: ctl.MemoryController(v, 3, config))
    f.values("MemoryController", "output_size", COUNT, lambda v: ctl.MemoryController(5, v, config))
    f.values("MemoryController", "config", {"a dict": {}, "None": None}, lambda v: ctl.MemoryController(5, 3, v))
    f.values("MemoryController", "input_to_interface", FLAG,
             lambda v: ctl.MemoryController(5, 3, config, input_to_interface=v))
    f.tensors("MemoryController.forward", "x", x, lambda v: model(v), watch=watch, valid=("first axis + 1",))
    f.values("MemoryController.forward", "x", {"empty time axis": torch.zeros(2, 0, 5)}, lambda v: model(v), watch)
    f.values("MemoryController.forward", "state", {"a tuple": (x, x), "another batch": model.initial_state(3)},
             lambda v: model(x, v), watch)
    f.values("MemoryController.forward", "generator", {"7": 7}, lambda v: model(x, generator=v), watch)
    f.values("MemoryController.initial_state", "batch_size", COUNT, lambda v: model.initial_state(v))
    baseline = ctl.LSTMBaseline(5, 3, 8)
    f.values("LSTMBaseline", "hidden_size", COUNT, lambda v: ctl.LSTMBaseline(5, 3, v))
    f.tensors("LSTMBaseline.forward", "x", x, lambda v: baseline(v), watch=(baseline,), valid=("first axis + 1",))
    f.values("count_parameters", "model", {"a list": [1], "None": None}, lambda v: ctl.count_parameters(v))
    for name, index in (("input_size", 0), ("output_size", 1), ("target_parameters", 2)):
        attacks = {**COUNT, "inf": INF, "1e20": 1e20}
        f.values("matched_lstm_hidden", name, attacks,
                 lambda v, i=index: ctl.matched_lstm_hidden(*[v if j == i else (5, 3, 1000)[j] for j in range(3)]))
    for name in ("key_dim", "value_dim", "num_queries"):
        f.values("RecallTask", name, COUNT, lambda v, n=name: ctl.RecallTask(**{n: v}))
    task = ctl.RecallTask(key_dim=3, value_dim=3, num_queries=2)
    f.values("RecallTask.sample", "batch_size", COUNT, lambda v: task.sample(v, 3, make_generator(0)))
    f.values("RecallTask.sample", "num_pairs", COUNT, lambda v: task.sample(2, v, make_generator(0)))
    f.values("RecallTask.sample", "generator", {"7": 7, "None": None}, lambda v: task.sample(2, 3, v))
    f.values("CopyTask", "bits", COUNT, lambda v: ctl.CopyTask(bits=v))
    copy_task = ctl.CopyTask(bits=3)
    f.values("CopyTask.sample", "length", COUNT, lambda v: copy_task.sample(2, v, make_generator(0)))
    f.values("CopyTask.sampler", "min_length", COUNT, lambda v: copy_task.sampler(2, v, 4, seed=0))
    f.values("CopyTask.sampler", "seed", SEED, lambda v: copy_task.sampler(2, 1, 4, seed=v)(0))
    f.values("CopyTask.sampler", "device", {"'gpu'": "gpu"}, lambda v: copy_task.sampler(2, 1, 4, seed=0, device=v)(0))
    logits = torch.randn(2, 6, 3, generator=gen)
    for name, good in (("outputs", logits), ("targets", y), ("mask", mask)):
        f.tensors("masked_loss", name, good, lambda v, n=name: ctl.masked_loss(
            **{**dict(outputs=logits, targets=y, mask=mask), n: v}), unit=name != "outputs",
            names=("outputs", "targets", "mask"))
    f.values("masked_loss", "kind", {"'l1'": "l1", "None": None}, lambda v: ctl.masked_loss(logits, y, mask, v))
    for name, good in (("x", x), ("y", y), ("mask", mask)):
        f.tensors("train_step", name, good, lambda v, n=name: ctl.train_step(
            **{**dict(model=model, optimizer=optimizer, x=x, y=y, mask=mask), n: v}), watch=watch, unit=name != "x",
            names=("x", "y", "mask"))
    f.values("train_step", "truncation", {**COUNT, "'3'": "3"}, lambda v: ctl.train_step(
        model, optimizer, x, y, mask, truncation=v if v is not None else 0), watch)
    f.values("train_step", "optimizer", {"None": None, "a list": []}, lambda v: ctl.train_step(model, v, x, y, mask),
             watch)
    f.values("train_step", "max_grad_norm", NUMBER, lambda v: ctl.train_step(model, optimizer, x, y, mask,
                                                                             max_grad_norm=v), watch)
    y_huge = y.clone()
    y_huge[:, 3:] = 1e30
    f.values("train_step", "y", {"finite, overflowing MSE in the 2nd chunk": y_huge},
             lambda v: ctl.train_step(model, optimizer, x, v, mask, kind="mse", truncation=3), watch, names=("loss",))

    def sample(step):
        return x, y, mask

    steps = {k: v for k, v in COUNT.items() if k != "0"}  # 0 steps is allowed (an empty run)
    f.values("fit", "steps", {**steps, "10**6": 10**6}, lambda v: ctl.fit(model, sample, v), (model,))
    f.values("fit", "lr", NUMBER, lambda v: ctl.fit(model, sample, 1, lr=v), (model,))
    f.values("fit", "sample_batch", {"3": 3, "returns None": lambda s: None}, lambda v: ctl.fit(model, v, 2), (model,))
    f.values("fit", "eval_every", {"-1": -1, "'2'": "2"}, lambda v: ctl.fit(model, sample, 1, eval_every=v), (model,))
    f.values("fit", "evaluate", {"3": 3, "returns NaN": lambda m: NAN},
             lambda v: ctl.fit(model, sample, 2, evaluate=v, eval_every=1), (model,))
    recall_model = ctl.MemoryController(task.input_size, task.output_size, config)
    f.values("recall_errors", "num_pairs", COUNT, lambda v: ctl.recall_errors(recall_model, task, v, 4, 0),
             (recall_model,))
    f.values("recall_errors", "episodes", COUNT, lambda v: ctl.recall_errors(recall_model, task, 2, v, 0),
             (recall_model,))
    f.values("recall_errors", "seed", SEED, lambda v: ctl.recall_errors(recall_model, task, 2, 4, v), (recall_model,))
    copy_model = ctl.MemoryController(copy_task.input_size, copy_task.output_size, config)
    f.values("copy_errors", "length", COUNT, lambda v: ctl.copy_errors(copy_model, copy_task, v, 4, 0), (copy_model,))
    f.values("with_memory_size", "memory_size", COUNT, lambda v: ctl.with_memory_size(model, v))
    f.values("with_memory_size", "model", {"an LSTMBaseline": baseline}, lambda v: ctl.with_memory_size(v, 8))
    episode = {"context_x": torch.randn(2, 3, 4, generator=gen), "context_y": torch.randn(2, 3, 1, generator=gen),
               "query_x": torch.randn(2, 2, 4, generator=gen), "query_y": torch.randn(2, 2, 1, generator=gen)}
    for key in episode:
        f.tensors("episode_to_sequence", key, episode[key], lambda v, k=key: ctl.episode_to_sequence({**episode, k: v}),
                  names=tuple(episode))
    f.values("episode_to_sequence", "episode", {"missing query_y": {k: v for k, v in episode.items() if k != "query_y"},
                                                 "None": None}, lambda v: ctl.episode_to_sequence(v))
    fuzz_files(f, model, optimizer, baseline)


def fuzz_files(f: Fuzz, model, optimizer, baseline) -> None:
    folder = f.folder
    good = folder / "good.pt"
    ctl.save_weights(model, good)
    f.values("save_weights", "path", {"None": None, "a folder": folder, "missing parent": folder / "no" / "w.pt"},
             lambda v: ctl.save_weights(model, v))

    def variant(name: str, damage) -> Path:
        path = folder / f"{name}.pt"
        data = damage(good.read_bytes())
        path.write_bytes(data)
        path.with_name(path.name + ".sha256").write_text(f"{hashlib.sha256(data).hexdigest()}  {path.name}\n")
        return path

    other = folder / "other.pt"
    ctl.save_weights(baseline, other)
    tampered = folder / "tampered.pt"
    data = bytearray(good.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tampered.write_bytes(bytes(data))
    tampered.with_name("tampered.pt.sha256").write_text(good.with_name("good.pt.sha256").read_text())
    attacks = {
        "None": None, "a folder": folder, "missing file": folder / "missing.pt",
        "truncated (sidecar updated)": variant("truncated", lambda d: d[: len(d) // 2]),
        "empty file": variant("empty", lambda d: b""),
        "tampered (sidecar kept)": tampered,
        "another architecture": other,
    }
    for attack, value in attacks.items():
        f.attempt("load_weights", "path", attack, lambda v=value: ctl.load_weights(model, v), (model,),
                  names=("path",) if value is None else ("path", str(value)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=float, default=10.0, help="seconds before an attempt counts as a hang")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--details", action="store_true", help="list every attempt that was not a clear rejection")
    parser.add_argument("--memory-gb", type=float, default=4.0, help="address space allowed on top of what is in use")
    args = parser.parse_args()
    torch.set_num_threads(1)
    signal.signal(signal.SIGALRM, _alarm)
    # an absurd size must fail as an allocation error here, not take the machine's memory (the OOM killer)
    in_use = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
    limit = in_use + int(args.memory_gb * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    fuzz = Fuzz(args.limit)
    fuzz_memory(fuzz)
    fuzz_controller(fuzz)
    counts = collections.Counter(row[3] for row in fuzz.rows)
    non_atomic = sum(1 for row in fuzz.rows if not row[4])
    total = len(fuzz.rows)
    order = ("clear", "obscure", "silent", "hang")
    if args.markdown:
        print("| outcome | attempts | share |\n|---|---:|---:|")
        for outcome in order:
            print(f"| {outcome} | {counts[outcome]} | {counts[outcome] / total:.1%} |")
        print(f"| non-atomic (raised, but changed state) | {non_atomic} | {non_atomic / total:.1%} |")
        print(f"| **total** | {total} | |")
    else:
        print(f"{total} attempts: " + ", ".join(f"{o} {counts[o]} ({counts[o] / total:.1%})" for o in order)
              + f"; non-atomic {non_atomic}")
    if args.details:
        for target, argument, attack, outcome, atomic, message in fuzz.rows:
            if outcome != "clear" or not atomic:
                print(f"{outcome:>8}{'' if atomic else ' NON-ATOMIC'}: {target}({argument} = {attack}) {message}")


if __name__ == "__main__":
    main()
