"""Fuzz the series' public API with bad inputs and sort what each call does with them.

Usage, from the repository root::

    python benchmarks/fuzz_api.py [--modules foundations,replay] [--max-attacks N] [--timeout 10]
                                  [--workers 4] [--out fuzz.json] [--md fuzz.md] [--compare before.json]
    PYTHONPATH=/other/checkout python benchmarks/fuzz_api.py ...    # fuzz another checkout's helpers
    python benchmarks/fuzz_api.py --list                            # the specs and their attack counts

The API under test is whatever ``import helpers`` finds. Three files, no import circle: the specs
(``benchmarks/fuzz_specs.py``) are built from the vocabulary in ``benchmarks/fuzz_catalogue.py``, and this
runner imports both. The specs say,
for every public function, constructor and state-changing method, how to build one small valid call
and which arguments to attack with which kind of bad value (the catalogue below: wrong types, NaN and
infinities, zero, negative and huge counts, bad seeds, devices and flags, wrong tensor shapes, dtypes
and devices, corrupt state dicts and files). Every attack runs in a worker process that is killed
when the call takes longer than ``--timeout`` seconds, and is sorted into one category:

- ``clear``: a ``ValueError``/``TypeError`` whose message names the argument (or the key or field
  that is bad);
- ``obscure``: any other exception, or a ``ValueError``/``TypeError`` that does not name it;
- ``silent``: no exception: the bad value was accepted (the detail says when NaN came back);
- ``hang``: no answer within the timeout;
- ``crash``: the worker process died (a segfault, or killed by the system).

On top of that, a call that raised is **non-atomic** when it changed the objects it works on: the
bound object and every stateful argument (modules, optimisers, generators, anything with a
``state_dict``) are deep-copied before the call, with the global torch RNG, and compared bit for bit
afterwards. A spec whose target no longer exists, is left out of its module's ``__all__`` (where a
module defines one: that is how a module marks a helper internal), whose attacked argument was renamed,
or whose valid call now fails is reported as "spec skipped", never a crash of the run. Workers run with one
torch thread and a memory limit (``--memory-gb``), so a huge allocation fails instead of swapping.
Needs the ``fork`` start method (Linux, macOS).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import datetime
import importlib
import inspect
import json
import math
import multiprocessing
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import types
import warnings
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Sequence
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fuzz_catalogue import (
    INF,
    NAN,
    Bad,
    Call,
    Context,
    Spec,
    _key,
    const,
    corrupt,
    count,
)

__all__ = ["INF", "NAN", "Bad", "Call", "Context", "Spec", "const", "corrupt", "count"]

CATEGORIES = ("clear", "obscure", "silent", "hang", "crash")


# ------------------------------------------------------------------------------------------------
# Running one attack (in a worker process)
# ------------------------------------------------------------------------------------------------

_STEP = re.compile(r"\[([^\]]+)\]|\.(\w+)")


def parse_path(path: str) -> tuple[str, list[tuple[str, str]]]:
    """``"episode[query_y]"`` -> ``("episode", [("item", "query_y")])``; ``"tasks.query_y"`` -> attr step."""
    root = re.match(r"\w+", path).group(0)
    steps = [("item", item) if item else ("attr", attr) for item, attr in _STEP.findall(path[len(root):])]
    return root, steps


def get_path(kwargs: dict, path: str):
    root, steps = parse_path(path)
    value = kwargs[root]
    for kind, key in steps:
        value = value[_key(value, key)] if kind == "item" else getattr(value, key)
    return value


def _replace(value, steps, new):
    """A copy of ``value`` with the entry at ``steps`` replaced by ``new`` (records through ``_replace`` or
    ``dataclasses.replace``, so a record that validates its fields may raise here)."""
    if not steps:
        return new
    (kind, key), rest = steps[0], steps[1:]
    if kind == "item":
        key = _key(value, key)
        child = _replace(value[key], rest, new)
        if isinstance(value, dict):
            return {**value, key: child}
        items = list(value)
        items[key] = child
        return type(value)(items) if isinstance(value, tuple) and not hasattr(value, "_fields") else items
    child = _replace(getattr(value, key), rest, new)
    if hasattr(value, "_replace"):
        return value._replace(**{key: child})
    if dataclasses.is_dataclass(value):
        return dataclasses.replace(value, **{key: child})
    duplicate = copy.copy(value)
    setattr(duplicate, key, child)
    return duplicate


def names_for(spec: Spec, argument: str, bad: Bad) -> tuple[str, ...]:
    """Words any of which, in an error message, names the attacked thing."""
    root, steps = parse_path(argument)
    words = list(bad.names) or ([key for _, key in steps] if steps else [root])
    return tuple(words) + tuple(spec.names.get(argument, ()))


def names_it(message: str, words: Sequence[str], value: Any) -> bool:
    """Whether ``message`` names one of ``words`` (as a whole word) or, for a path, the file."""
    for word in words:
        if re.search(rf"(?<![A-Za-z0-9_]){re.escape(word)}(?![A-Za-z0-9_])", message, re.IGNORECASE):
            return True
    if isinstance(value, Path) and (str(value) in message or (value.name and value.name in message)):
        return True  # a file argument is named by its path
    return False


def _freeze(value, depth: int = 0):
    """A deep, comparable copy of the state of ``value``."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, torch.Generator):
        return {"<generator state>": value.get_state()}
    if isinstance(value, (int, float, str, bytes, bool, type(None), torch.device, torch.dtype)):
        return value
    if isinstance(value, dict):
        return {k: _freeze(v, depth + 1) for k, v in value.items()} if depth < 6 else "<deep dict>"
    if isinstance(value, (list, tuple)):
        return [_freeze(v, depth + 1) for v in value] if depth < 6 else "<deep list>"
    state = {}
    if callable(getattr(value, "state_dict", None)) and not isinstance(value, type):
        try:
            state["state_dict()"] = copy.deepcopy(value.state_dict())
        except Exception as err:  # a call that breaks an object so that state_dict fails has changed it
            state["state_dict()"] = f"state_dict() raised {type(err).__name__}"
    if not isinstance(value, (torch.nn.Module, torch.optim.Optimizer, type)) and hasattr(value, "__dict__") \
            and depth < 4:
        for name, item in vars(value).items():  # plain objects: every attribute (a buffer's trees too)
            if not isinstance(item, (types.FunctionType, types.MethodType, type)):
                state[f".{name}"] = _freeze(item, depth + 1)
    return state


def _same_tensor(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype or a.device != b.device:
        return False
    if a.device.type == "meta":
        return True
    return torch.equal(a.contiguous().reshape(-1).view(torch.uint8), b.contiguous().reshape(-1).view(torch.uint8))


def difference(a, b, path: str = "") -> str | None:
    """Where two frozen states first differ (bit for bit), or None when they are the same."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        same = isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and _same_tensor(a, b)
        return None if same else path or "value"
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        same = (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape
                and a.dtype == b.dtype and a.tobytes() == b.tobytes())
        return None if same else path or "value"
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):  # the order of keys is no state
            return f"{path} keys"
        for key in a:
            where = difference(a[key], b[key], f"{path}[{key!r}]" if not str(key).startswith(".") else f"{path}{key}")
            if where:
                return where
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path} length"
        for i, (x, y) in enumerate(zip(a, b)):
            where = difference(x, y, f"{path}[{i}]")
            if where:
                return where
        return None
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return None
    return None if type(a) is type(b) and a == b else path or "value"


def _stateful(value) -> bool:
    return isinstance(value, (torch.nn.Module, torch.optim.Optimizer, torch.Generator)) or (
        callable(getattr(value, "state_dict", None)) and not isinstance(value, type))


def watched(call: Call, attacked_root: str | None) -> dict:
    """The objects a call may change: its bound ``self``, its stateful arguments (not the attacked one),
    and ``call.watch``."""
    objects = dict(call.watch)
    owner = getattr(call.fn, "__self__", None)
    if owner is not None and not isinstance(owner, (types.ModuleType, type)):
        objects.setdefault("self", owner)
    for name, value in call.kwargs.items():
        if name != attacked_root and _stateful(value):
            objects.setdefault(name, value)
    return objects


def _nan_in(value, depth: int = 0) -> str | None:
    """Where ``value`` (a result or a frozen state) holds NaN or a tensor on the meta device."""
    if depth > 5:
        return None
    if isinstance(value, torch.Tensor):
        if value.device.type == "meta":
            return "a tensor on the meta device"
        return "NaN" if value.is_floating_point() and bool(torch.isnan(value).any()) else None
    if isinstance(value, np.ndarray):
        return "NaN" if value.dtype.kind == "f" and bool(np.isnan(value).any()) else None
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else None
    if isinstance(value, torch.nn.Module):
        return next((f"NaN in weight {k}" for k, p in value.state_dict().items()
                     if p.is_floating_point() and p.device.type != "meta" and bool(torch.isnan(p).any())), None)
    if isinstance(value, dict):
        items = list(value.items())[:64]
    elif isinstance(value, (list, tuple)):
        items = list(enumerate(value))[:64]
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        items = [(f.name, getattr(value, f.name)) for f in dataclasses.fields(value)]
    else:
        return None
    for key, item in items:
        found = _nan_in(item, depth + 1)
        if found:
            return f"{found} in {key}" if depth else f"{found} ({key})"
    return None


def _message(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text[:240]}"


def _classify_error(err: BaseException, words, value) -> tuple[str, str]:
    message = _message(err)
    if isinstance(err, (ValueError, TypeError)):
        if names_it(str(err), words, value):
            return "clear", message
        return "obscure", f"{message}  [does not name {' / '.join(map(repr, words[:3]))}]"
    return "obscure", message


def run_attack(spec: Spec, argument: str | None, bad_index: int | None, tmp: Path,
               started: Callable[[], None] = lambda: None) -> dict:
    """Build ``spec``'s valid call, put the bad value in (``argument`` None: the valid call itself, the
    control), run it, and classify what happened. Returns a plain dict."""
    ctx = Context(tmp)
    _reset_global_rngs()
    try:
        call = spec.setup(ctx)
    except Exception as err:
        return {"status": "setup failed", "detail": _message(err), "trace": traceback.format_exc(limit=4)}
    words, value, note = (), None, ""
    kwargs = dict(call.kwargs)
    if argument is not None:
        bad = spec.attack[argument][bad_index]
        words = names_for(spec, argument, bad)
        root, steps = parse_path(argument)
        try:
            value = bad.make(get_path(call.kwargs, argument), ctx)
        except Exception as err:
            return {"status": "not built", "detail": _message(err)}
        try:
            kwargs[root] = _replace(kwargs[root], steps, value)
        except Exception as err:  # a record that validates its fields refused the bad value: that is the API
            category, detail = _classify_error(err, words, value)
            return {"status": "ran", "category": category, "nonatomic": False, "changed": "",
                    "detail": f"{detail} (raised by the record, building the argument)", "seconds": 0.0}
    objects = watched(Call(call.fn, kwargs, call.watch), parse_path(argument)[0] if argument else None)
    before = _freeze({"torch global RNG": torch.get_rng_state(), **objects}) if objects else None
    started()
    start = time.perf_counter()
    try:
        result = call.fn(**kwargs)
        raised = None
    except Exception as err:  # RecursionError included
        raised = err
    seconds = time.perf_counter() - start
    if argument is None:
        if raised is not None:
            return {"status": "control failed", "detail": _message(raised),
                    "trace": "".join(traceback.format_exception(raised, limit=-4))}
        return {"status": "control ok", "seconds": seconds}
    changed = ""
    if raised is not None:
        category, detail = _classify_error(raised, words, value)
        if before is not None:
            changed = difference(before, _freeze({"torch global RNG": torch.get_rng_state(), **objects})) or ""
    else:
        category = "silent"
        found = _nan_in(result)
        state_nan = _nan_in(_freeze(objects)) if objects else None
        detail = (f"returned {found}" if found else f"accepted; the state now holds {state_nan}" if state_nan
                  else "accepted")
        if seconds >= 1.0:  # a slow acceptance may be a hang on a busier machine
            detail += f" (took {seconds:.1f} s)"
    if ctx.marker.exists():
        category, note = "silent", " -- PICKLED CODE RAN"
    return {"status": "ran", "category": category, "nonatomic": bool(changed), "changed": changed,
            "detail": detail + note, "seconds": seconds}


def _reset_global_rngs() -> None:
    random.seed(0)
    np.random.seed(0)  # noqa: NPY002 -- every attack starts from the same global state
    torch.manual_seed(0)


# ------------------------------------------------------------------------------------------------
# Worker processes with a timeout
# ------------------------------------------------------------------------------------------------


def _serve(conn, specs: Sequence[Spec], memory_gb: float, base_tmp: str) -> None:
    """A worker: runs jobs ``(spec_index, argument, bad_index, job_id)`` until it receives None."""
    if memory_gb > 0:
        import resource

        limit = int(memory_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    for name in ("NMA_DEVICE", "NMA_SEED"):  # they would override the device and seed arguments under attack
        os.environ.pop(name, None)
    os.environ["NMA_QUIET"] = "1"  # no progress bars
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    while True:
        job = conn.recv()
        if job is None:
            return
        spec_index, argument, bad_index, job_id = job
        tmp = Path(base_tmp) / f"attack{job_id}"
        tmp.mkdir(parents=True, exist_ok=True)

        def started(job_id=job_id):
            conn.send(("started", job_id))

        try:
            result = run_attack(specs[spec_index], argument, bad_index, tmp, started)
        except BaseException as err:  # the fuzzer's own failure: report it, keep serving
            result = {"status": "fuzzer error", "detail": _message(err), "trace": traceback.format_exc(limit=6)}
        shutil.rmtree(tmp, ignore_errors=True)
        conn.send(("done", job_id, result))


class _Worker:
    def __init__(self, context, specs, memory_gb: float, base_tmp: str):
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, specs, memory_gb, base_tmp), daemon=True)
        self.process.start()
        child.close()
        self.job = None  # (job_id, phase, deadline)

    def kill(self) -> None:
        self.process.kill()
        self.process.join(5)
        self.conn.close()


def warm_up() -> None:
    """Load, once in the parent, what torch and friends load lazily on first use: the first meta-device op
    imports ``torch._dynamo`` (seconds). Forked workers inherit it, so no attack pays it inside its timeout."""
    torch.empty(2, device="meta").mean()
    for name in ("torch.func", "scipy.stats", "sklearn.datasets"):
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def run_jobs(specs: Sequence[Spec], jobs: list[tuple], timeout: float, workers: int, memory_gb: float,
             setup_timeout: float = 120.0, progress: Callable[[int, int], None] | None = None,
             warm: bool = True) -> list[dict]:
    """Run ``jobs`` ``(spec_index, argument, bad_index)`` on ``workers`` processes; a call that takes longer
    than ``timeout`` s is a hang (its worker is killed and replaced). Returns one result per job, in order."""
    if not jobs:
        return []
    context = multiprocessing.get_context("fork")
    if warm:
        warm_up()
    base_tmp = tempfile.mkdtemp(prefix="fuzz_api_")
    pool = [_Worker(context, specs, memory_gb, base_tmp) for _ in range(max(1, min(workers, len(jobs))))]
    pending = deque(range(len(jobs)))
    results: list[dict | None] = [None] * len(jobs)
    done = 0
    try:
        while done < len(jobs):
            for worker in pool:
                if worker.job is None and pending:
                    job_id = pending.popleft()
                    worker.conn.send((*jobs[job_id], job_id))
                    worker.job = (job_id, "setup", time.monotonic() + setup_timeout)
            busy = [w for w in pool if w.job is not None]
            ready = wait([w.conn for w in busy], timeout=0.25)
            now = time.monotonic()
            for i, worker in enumerate(pool):
                if worker.job is None:
                    continue
                job_id, phase, deadline = worker.job
                finished = None
                if worker.conn in ready:
                    try:
                        while worker.conn.poll():
                            message = worker.conn.recv()
                            if message[0] == "started":
                                worker.job = (job_id, "call", time.monotonic() + timeout)
                            else:
                                finished = message[2]
                    except (EOFError, OSError):
                        worker.process.join(5)
                        code = worker.process.exitcode
                        finished = {"status": "ran", "category": "crash", "nonatomic": False, "changed": "",
                                    "detail": f"the worker process died (exit code {code})", "seconds": 0.0}
                elif now > deadline:
                    if phase == "call":
                        finished = {"status": "ran", "category": "hang", "nonatomic": False, "changed": "",
                                    "detail": f"no answer after {timeout:g} s", "seconds": timeout}
                    else:
                        finished = {"status": "setup failed", "detail": f"setup took over {setup_timeout:g} s"}
                if finished is None:
                    continue
                results[job_id] = finished
                done += 1
                if progress:
                    progress(done, len(jobs))
                stuck = finished.get("status") == "setup failed" and "took over" in finished.get("detail", "")
                if finished.get("category") in ("hang", "crash") or stuck:
                    worker.kill()
                    pool[i] = _Worker(context, specs, memory_gb, base_tmp)
                else:
                    worker.job = None
    finally:
        for worker in pool:
            try:
                worker.conn.send(None)
            except OSError:
                pass
            worker.process.join(2)
            if worker.process.is_alive():
                worker.kill()
        shutil.rmtree(base_tmp, ignore_errors=True)
    return results


# ------------------------------------------------------------------------------------------------
# The whole fuzz
# ------------------------------------------------------------------------------------------------


def resolve(target: str):
    """The object ``"package.module:Qual.name"`` names; raises LookupError saying what is missing."""
    module_name, qualname = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as err:  # ImportError, or a module broken mid-edit (SyntaxError, NameError...)
        raise LookupError(f"cannot import {module_name} ({type(err).__name__}: {err})") from None
    public = getattr(module, "__all__", None)
    head = qualname.split(".")[0]
    if public is not None and head not in public:
        raise LookupError(f"{head} is not public (not in {module_name}.__all__)")
    value = module
    for part in qualname.split("."):
        if not hasattr(value, part):
            raise LookupError(f"{module_name} has no {qualname} (no {part!r})")
        value = getattr(value, part)
    return value


def check_spec(spec: Spec) -> tuple[str | None, dict[str, str]]:
    """Why ``spec`` cannot run at all (or None), and which attacked arguments the target has lost."""
    try:
        target = resolve(spec.target)
    except LookupError as err:
        return str(err), {}
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return None, {}
    parameters = signature.parameters
    open_keywords = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    lost = {}
    for argument in spec.attack:
        root = parse_path(argument)[0]
        if root not in parameters and not open_keywords:
            lost[argument] = f"{spec.target} has no argument {root!r}"
    return None, lost


def plan(specs: Sequence[Spec], modules: Sequence[str] | None = None) -> tuple[list[int], list[dict]]:
    """Indices of the specs to run, and the skipped ones with their reasons."""
    chosen, skipped = [], []
    for index, spec in enumerate(specs):
        if modules and spec.module not in modules:
            continue
        reason, lost = check_spec(spec)
        if reason:
            skipped.append({"function": spec.function, "module": spec.module, "reason": reason})
            continue
        for argument, why in lost.items():
            skipped.append({"function": spec.function, "module": spec.module, "argument": argument, "reason": why})
        chosen.append(index)
    return chosen, skipped


def interleave(per_spec: list[list[tuple]], limit: int | None) -> list[tuple]:
    """All jobs, or ``limit`` of them taken round-robin across specs (every spec gets some)."""
    jobs = [job for group in per_spec for job in group]
    if limit is None or limit >= len(jobs):
        return jobs
    chosen, queues = [], [deque(group) for group in per_spec]
    while len(chosen) < limit:
        for queue in queues:
            if queue and len(chosen) < limit:
                chosen.append(queue.popleft())
    return chosen


def fuzz(specs: Sequence[Spec], modules: Sequence[str] | None = None, max_attacks: int | None = None,
         timeout: float = 10.0, workers: int = 4, memory_gb: float = 2.5, verbose: bool = False,
         warm: bool = True) -> dict:
    """Run every attack of the chosen specs; returns ``{"results", "skipped", "not_run", "seconds", ...}``.
    ``warm``: load torch's lazy modules before forking the workers (see ``warm_up``)."""
    start = time.perf_counter()
    chosen, skipped = plan(specs, modules)
    lost = {(s["function"], s.get("argument")) for s in skipped}

    def report(done, total, phase):
        if verbose and (done % 100 == 0 or done == total):
            print(f"  {phase}: {done}/{total} ({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)

    controls = run_jobs(specs, [(i, None, None) for i in chosen], max(timeout, 30.0), workers, memory_gb,
                        progress=lambda d, t: report(d, t, "valid calls"), warm=warm)
    runnable = []
    for index, control in zip(chosen, controls):
        if control.get("status") == "control ok":
            runnable.append(index)
        else:
            skipped.append({"function": specs[index].function, "module": specs[index].module,
                            "reason": f"valid call failed: {control.get('detail', control.get('status'))}"})
    per_spec = [[(i, argument, k) for argument, bads in specs[i].attack.items()
                 if (specs[i].function, argument) not in lost for k in range(len(bads))] for i in runnable]
    jobs = interleave(per_spec, max_attacks)
    outcomes = run_jobs(specs, jobs, timeout, workers, memory_gb, progress=lambda d, t: report(d, t, "attacks"),
                        warm=False)
    results, not_built = [], []
    for (index, argument, k), outcome in zip(jobs, outcomes):
        spec = specs[index]
        row = {"module": spec.module, "function": spec.function, "target": spec.target, "argument": argument,
               "value": spec.attack[argument][k].label}
        if outcome.get("status") == "ran":
            results.append({**row, **{key: outcome[key] for key in
                                      ("category", "nonatomic", "changed", "detail", "seconds")}})
        else:
            not_built.append({**row, "reason": f"{outcome.get('status')}: {outcome.get('detail', '')}"})
    return {"results": results, "skipped": skipped, "not_run": not_built, "specs": len(chosen),
            "seconds": time.perf_counter() - start, "timeout": timeout, "workers": workers}


# ------------------------------------------------------------------------------------------------
# Reports
# ------------------------------------------------------------------------------------------------


def tally(results: Sequence[dict]) -> dict:
    """Counts per category, plus ``nonatomic`` and ``attacks``."""
    counts = Counter(r["category"] for r in results)
    out = {c: counts.get(c, 0) for c in CATEGORIES}
    out["nonatomic"] = sum(r["nonatomic"] for r in results)
    out["attacks"] = len(results)
    return out


def _cell(n: int, total: int) -> str:
    return f"{n} ({100 * n / total:.1f} %)" if total else "0"


def category_table(results: Sequence[dict]) -> str:
    """Markdown: categories overall and per module, counts and shares of the attacks."""
    header = "| module | attacks | clear | obscure | silent | hang | crash | non-atomic |"
    lines = [header, "|---|---:|---:|---:|---:|---:|---:|---:|"]
    by_module = defaultdict(list)
    for r in results:
        by_module[r["module"]].append(r)
    for name, group in [("**all**", results), *by_module.items()]:
        t = tally(group)
        cells = [_cell(t[c], t["attacks"]) for c in (*CATEGORIES, "nonatomic")]
        lines.append(f"| {name} | {t['attacks']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def worst_table(results: Sequence[dict]) -> str:
    """Markdown: per function, its non-atomic failures, hangs and silent acceptances, with the arguments."""
    rows = defaultdict(lambda: {"nonatomic": [], "hang": [], "silent": []})
    for r in results:
        what = f"{r['argument']}={r['value']}"
        if r["nonatomic"]:
            rows[r["function"]]["nonatomic"].append(what)
        if r["category"] in ("hang", "silent"):
            rows[r["function"]][r["category"]].append(what)
    lines = ["| function | non-atomic | hang | silent |", "|---|---|---|---|"]
    order = sorted(rows, key=lambda f: (-len(rows[f]["nonatomic"]), -len(rows[f]["hang"]), -len(rows[f]["silent"]), f))
    for name in order:
        row = rows[name]
        cells = [f"{len(v)}: " + ", ".join(v) if v else "" for v in (row["nonatomic"], row["hang"], row["silent"])]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def cases_table(results: Sequence[dict]) -> str:
    """Markdown: every attack not rejected clearly, or non-atomic; worst first."""
    rank = {"crash": 0, "hang": 1, "silent": 2, "obscure": 3, "clear": 4}
    chosen = [r for r in results if r["category"] != "clear" or r["nonatomic"]]
    chosen.sort(key=lambda r: (not r["nonatomic"], rank[r["category"]], r["module"], r["function"]))
    lines = ["| category | function | argument | bad value | what happened |", "|---|---|---|---|---|"]
    for r in chosen:
        category = r["category"] + (" + **non-atomic**" if r["nonatomic"] else "")
        happened = r["detail"] + (f" (changed: {r['changed']})" if r["nonatomic"] else "")
        lines.append(f"| {category} | {r['function']} | `{_escape(r['argument'])}` | {_escape(r['value'])} | "
                     f"{_escape(happened)} |")
    return "\n".join(lines)


def compare_table(before: dict, after: dict) -> str:
    """Markdown: the categories of two runs side by side (overall)."""
    b, a = tally(before["results"]), tally(after["results"])
    lines = ["| category | before | after |", "|---|---:|---:|", f"| attacks | {b['attacks']} | {a['attacks']} |"]
    for c in (*CATEGORIES, "nonatomic"):
        label = "non-atomic" if c == "nonatomic" else c
        lines.append(f"| {label} | {_cell(b[c], b['attacks'])} | {_cell(a[c], a['attacks'])} |")
    return "\n".join(lines)


def api_under_test() -> str:
    """Where ``helpers`` was imported from, with the git commit when it is a checkout."""
    try:
        import helpers
    except Exception as err:
        return f"helpers (cannot import it: {type(err).__name__}: {err})"
    root = Path(helpers.__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "helpers"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "", ""
    where = f"{root}/helpers"
    return where + (f" (git {commit}{', with uncommitted changes' if dirty else ''})" if commit else "")


def markdown(run: dict, before: dict | None = None, cases: bool = True) -> str:
    """The report: categories, before/after (with ``before``), worst cases per function, skipped specs and
    (``cases``) every attack not rejected clearly."""
    results = run["results"]
    parts = [
        "# Fuzz of the public API",
        "",
        f"API under test: `{run['api']}`. {run['date']}. {run['specs']} specs, {len(results)} attacks, "
        f"{run['seconds']:.0f} s with {run['workers']} worker(s), hang = no answer within {run['timeout']:g} s. "
        f"Command: `{run['command']}`. {run['machine']}",
        "",
        "Categories: **clear** = ValueError/TypeError naming the argument; **obscure** = any other exception, or "
        "one that does not name it; **silent** = no exception (bad value accepted, or NaN returned); **hang** = no "
        "answer within the timeout; **crash** = the worker died. **non-atomic** = the call raised *and* changed "
        "the object it works on (state_dict, RNG states), counted on top of its category.",
        "",
        "## Categories",
        "",
        category_table(results),
    ]
    if before is not None:
        parts += ["", f"## Before and after (before: `{before.get('api', '?')}`)", "", compare_table(before, run)]
    parts += ["", "## Worst cases per function", "", worst_table(results)]
    if run["skipped"] or run["not_run"]:
        parts += ["", "## Specs skipped", ""]
        parts += [f"- spec skipped: {s['function']}{' `' + s['argument'] + '`' if s.get('argument') else ''}: "
                  f"{s['reason']}" for s in run["skipped"]]
        parts += [f"- attack not run: {s['function']} `{s['argument']}` = {s['value']}: {s['reason']}"
                  for s in run["not_run"]]
    if cases:
        parts += ["", "## Every attack not rejected clearly", "", cases_table(results)]
    return "\n".join(parts) + "\n"


def machine_line() -> str:
    load = os.getloadavg()[0]
    busy = "other work was running, times are inflated" if load > 1.5 else "little else was running"
    return (f"Machine: {platform.machine()}, {os.cpu_count()} cores, 1-minute load average {load:.1f} ({busy}); "
            f"torch {torch.__version__}, Python {platform.python_version()}.")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modules", default="", help="comma-separated helpers modules (default: all)")
    parser.add_argument("--max-attacks", type=int, default=None, help="run at most this many, spread over specs")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds after which a call is a hang")
    parser.add_argument("--workers", type=int, default=4,
                        help="worker processes; more than the cores is fine: a hang only waits out its timeout")
    parser.add_argument("--memory-gb", type=float, default=2.5, help="address-space limit per worker (0: none)")
    parser.add_argument("--out", type=Path, help="write every result as JSON here")
    parser.add_argument("--md", type=Path, help="write the Markdown report here")
    parser.add_argument("--compare", type=Path, help="an earlier --out JSON: adds a before/after table")
    parser.add_argument("--no-cases", action="store_true", help="leave the list of every case out of --md")
    parser.add_argument("--list", action="store_true", help="list the specs and their attack counts, run nothing")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from fuzz_specs import SPECS

    modules = [m.strip() for m in args.modules.split(",") if m.strip()] or None
    unknown = sorted(set(modules or ()) - {spec.module for spec in SPECS})
    if unknown:
        parser.error(f"--modules: no specs for {unknown}; modules with specs: {sorted({s.module for s in SPECS})}")
    if args.list:
        for spec in SPECS:
            if not modules or spec.module in modules:
                print(f"{spec.module:12s} {spec.function:50s} {sum(map(len, spec.attack.values())):4d} attacks")
        return 0
    print(f"fuzzing {api_under_test()}", file=sys.stderr)
    run = fuzz(SPECS, modules, args.max_attacks, args.timeout, args.workers, args.memory_gb, verbose=True)
    pythonpath = f"PYTHONPATH={os.environ['PYTHONPATH']} " if os.environ.get("PYTHONPATH") else ""
    run.update(api=api_under_test(), date=datetime.date.today().isoformat(), machine=machine_line(),
               command=f"{pythonpath}python benchmarks/fuzz_api.py "
                       + " ".join(argv if argv is not None else sys.argv[1:]))
    before = json.loads(args.compare.read_text()) if args.compare else None
    print(category_table(run["results"]))
    if before is not None:
        print()
        print(compare_table(before, run))
    for s in run["skipped"]:
        print(f"spec skipped: {s['function']}{' ' + s['argument'] if s.get('argument') else ''}: {s['reason']}")
    print(f"{len(run['results'])} attacks on {run['specs']} specs in {run['seconds']:.0f} s")
    if args.out:
        args.out.write_text(json.dumps(run, indent=1, default=str))
    if args.md:
        args.md.write_text(markdown(run, before, cases=not args.no_cases))
    return 0


if __name__ == "__main__":
    sys.exit(main())
