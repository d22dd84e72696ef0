"""The vocabulary of the API fuzzer: what a spec is (``Spec``, ``Call``, ``Bad``, ``Context``) and the
catalogue of bad values (wrong types, NaN and infinities, zero, negative and huge counts, bad seeds,
devices and flags, wrong tensor shapes, dtypes and devices, damaged files and state dicts).

``fuzz_specs.py`` builds its specs from these; ``fuzz_api.py`` runs them. Neither imports the other's
internals: specs -> catalogue <- runner, no import circle.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

# ------------------------------------------------------------------------------------------------
# Specs: how to make a valid call, and what to attack
# ------------------------------------------------------------------------------------------------


class Context:
    """What a spec's ``setup`` and a bad value's ``make`` get: ``tmp``, an empty folder of this attack;
    ``marker``, a file that must never appear (a pickle that runs code creates it); ``cached(key,
    factory)``, a per-worker cache for expensive inputs that calls never modify (data sets, streams)."""

    _cache: dict = {}

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.marker = tmp / "PICKLED_CODE_RAN"
        self.keep: dict = {}  # objects a setup shares with the bad values of its attacks

    def cached(self, key: str, factory: Callable[[], Any]) -> Any:
        if key not in Context._cache:
            Context._cache[key] = factory()
        return Context._cache[key]


@dataclass(frozen=True)
class Bad:
    """One bad value: ``label`` (as the report shows it), ``make(valid, ctx)`` builds it from the valid
    value of the argument. ``names``: words that name the problem in an error message (default: the
    attacked argument and the keys on its path); use it when ``make`` corrupts something nested."""

    label: str
    make: Callable[[Any, Context], Any]
    names: tuple[str, ...] = ()


@dataclass
class Call:
    """A valid call: ``fn(**kwargs)``. ``watch``: objects (beyond the bound ``self`` and the stateful
    arguments, which are watched anyway) that must be left unchanged when the call raises."""

    fn: Callable
    kwargs: dict
    watch: dict = field(default_factory=dict)


@dataclass
class Spec:
    """``target``: ``"helpers.<module>:<qualified name>"``, what must exist for the spec to run.
    ``setup(ctx) -> Call``: a small, fast, valid call. ``attack``: argument -> bad values. An argument
    is a keyword of the call, or a path into one: ``"episode[query_y]"`` (a dict key), ``"tasks.query_y"``
    (a field of a record). ``names``: extra words per argument that count as naming it. ``label``
    tells apart two specs of one target."""

    target: str
    setup: Callable[[Context], Call]
    attack: dict[str, Sequence[Bad]]
    names: dict[str, tuple[str, ...]] = field(default_factory=dict)
    label: str = ""

    @property
    def module(self) -> str:
        return self.target.split(":")[0].split(".")[-1]

    @property
    def function(self) -> str:
        name = self.target.split(":")[1]
        return f"{name} ({self.label})" if self.label else name


# ------------------------------------------------------------------------------------------------
# The catalogue of bad values, per kind of argument
# ------------------------------------------------------------------------------------------------


def const(label: str, value: Any) -> Bad:
    """A fixed bad value (deep-copied for every attack)."""
    return Bad(label, lambda valid, ctx: copy.deepcopy(value))


NAN, INF = float("nan"), float("inf")


def _kinds(pairs, optional: bool) -> tuple[Bad, ...]:
    """``const`` of every ``(label, value)``; ``optional``: None is a valid value, so it is not attacked."""
    return tuple(const(label, value) for label, value in pairs if not (optional and value is None))


def count(low: int = 1, huge: Sequence[int] = (10**6, 10**20), optional: bool = False) -> tuple[Bad, ...]:
    """An int >= ``low``: wrong types (str, float, bool, None, list, NaN, inf), too small, and ``huge``
    (values no 2-core learner means: a typo of 10**6 steps should fail at once, not hang)."""
    pairs = [("'3'", "3"), ("None", None), ("[3]", [3]), ("1.7", 1.7), ("True", True), ("nan", NAN), ("inf", INF)]
    pairs += [(str(v), v) for v in sorted({low - 1, min(low - 1, -1)})]
    pairs += [(f"10**{round(math.log10(v))}", v) for v in huge]
    return _kinds(pairs, optional)


def steps(optional: bool = False) -> tuple[Bad, ...]:
    """A number of steps, iterations or an interval (>= 0): huge values hang when they are not bounded."""
    return count(low=0, optional=optional)


def size(low: int = 1) -> tuple[Bad, ...]:
    """A width, capacity or number of slots: only 10**20 is surely too big (capacities of 10**6 are fine)."""
    return count(low, huge=(10**20,))


def index(optional: bool = False) -> tuple[Bad, ...]:
    """An int >= 0 naming something (a task id, a position)."""
    return _kinds([("'1'", "1"), ("1.7", 1.7), ("True", True), ("-1", -1), ("None", None)], optional)


def seed(optional: bool = False) -> tuple[Bad, ...]:
    """A seed: an int in [0, 2**32 - 1]."""
    return _kinds([("'3'", "3"), ("1.7", 1.7), ("True", True), ("-1", -1), ("'abc'", "abc"), ("None", None),
                   ("nan", NAN), ("2**64", 2**64)], optional)


def number(low: float | None = 0.0, high: float | None = None, low_open: bool = True, huge: bool = True,
           optional: bool = False) -> tuple[Bad, ...]:
    """A finite real number in an interval: wrong types, NaN, +-inf, just outside the ends, and 1e308
    where no upper end is given (``huge``: a finite value so large the arithmetic overflows)."""
    pairs = [("'0.5'", "0.5"), ("True", True), ("None", None), ("[0.5]", [0.5]), ("nan", NAN), ("inf", INF),
             ("-inf", -INF)]
    if low is not None:
        pairs.append((repr(float(low)), float(low)) if low_open else (repr(low - 1.0), low - 1.0))
    if high is not None:
        pairs.append((repr(high + 0.5), high + 0.5))
    elif huge:
        pairs.append(("1e308", 1e308))
    return _kinds(pairs, optional)


def positive(huge: bool = True, optional: bool = False) -> tuple[Bad, ...]:
    """A finite number > 0 (learning rates, eps, sharpness)."""
    return number(0.0, None, low_open=True, huge=huge, optional=optional)


def nonnegative() -> tuple[Bad, ...]:
    return number(0.0, None, low_open=False)


def probability() -> tuple[Bad, ...]:
    """A finite number in [0, 1]."""
    return number(0.0, 1.0, low_open=False)


def flag(optional: bool = False) -> tuple[Bad, ...]:
    """Exactly True or False (``optional``: None allowed too)."""
    return _kinds([("'no'", "no"), ("1", 1), ("[]", []), ("None", None)], optional)


def choice(optional: bool = False) -> tuple[Bad, ...]:
    """One of a few strings."""
    return _kinds([("'nope'", "nope"), ("3", 3), ("''", ""), ("None", None)], optional)


def device() -> tuple[Bad, ...]:
    """A device: 'gpu' is no torch device, 'cuda' is absent here (or a missing index where present),
    'meta' holds no data, and an int means a CUDA index to torch."""
    absent = "cuda:99" if torch.cuda.is_available() else "cuda"
    return _kinds([("'gpu'", "gpu"), (repr(absent), absent), ("'meta'", "meta"), ("3", 3)], False)


def obj(optional: bool = False) -> tuple[Bad, ...]:
    """An object of the wrong kind (a model, config, stream, generator, record)."""
    return _kinds([("'abc'", "abc"), ("3", 3), ("None", None)], optional)


generator = obj
function = obj  # a callable argument: something that cannot be called


def _with_entry(valid: torch.Tensor, value: float) -> torch.Tensor:
    bad = valid.detach().clone()
    bad.view(-1)[0] = value
    return bad


def _wider(valid: torch.Tensor) -> torch.Tensor:
    return torch.cat([valid, valid[..., :1]], dim=-1)


def tensor(kind: str = "float", types: bool = True, shapes: bool = True, dtypes: bool = True,
           finite: bool = True, devices: bool = True, width: bool = True, skip: Sequence[str] = ()) -> tuple[Bad, ...]:
    """A tensor argument; bad values are built from the valid one. ``kind``: ``float`` or ``int`` (index
    tensors). ``types``: a list, None, a str. ``shapes``: an extra leading axis, the last axis dropped,
    an empty batch and (``width``) one more column (the silent-broadcast case; switch it off where the
    last size is free). ``dtypes``: float64, int64 and bool for a float tensor; float32 for an int one.
    ``finite``: a NaN and an inf entry. ``devices``: the tensor on the 'meta' device (stands in for "on
    another device" on a CPU-only machine). ``skip``: labels of bad values that are valid for this
    argument (e.g. ``"empty batch"`` where B = 0 is fine, ``"bool"`` for a mask)."""
    bads: list[Bad] = []
    if types:
        bads += [Bad("list", lambda v, ctx: v.tolist()), const("None", None), const("'abc'", "abc")]
    if shapes:
        bads += [Bad("extra leading axis", lambda v, ctx: v.unsqueeze(0)),
                 Bad("last axis dropped", lambda v, ctx: v[..., 0]),
                 Bad("empty batch", lambda v, ctx: v[:0])]
        if width:
            bads.append(Bad("one more column", lambda v, ctx: _wider(v)))
    if dtypes:
        if kind == "float":
            bads += [Bad("float64", lambda v, ctx: v.double()), Bad("int64", lambda v, ctx: v.round().long()),
                     Bad("bool", lambda v, ctx: v > 0)]
        else:
            bads.append(Bad("float32", lambda v, ctx: v.float()))
    if finite and kind == "float":
        bads += [Bad("NaN entry", lambda v, ctx: _with_entry(v, NAN)),
                 Bad("inf entry", lambda v, ctx: _with_entry(v, INF))]
    if devices:
        bads.append(Bad("on 'meta' device", lambda v, ctx: v.to("meta")))
    unknown = set(skip) - {bad.label for bad in bads}
    if unknown:
        raise ValueError(f"skip names no bad value of this tensor: {sorted(unknown)}")
    return tuple(bad for bad in bads if bad.label not in skip)


def path_to_read() -> tuple[Bad, ...]:
    """A file a function reads: a folder, None, an int, a missing file and a file in a missing folder."""
    return (Bad("a folder", lambda v, ctx: ctx.tmp), const("None", None), const("3", 3),
            Bad("missing file", lambda v, ctx: ctx.tmp / "absent.pt"),
            Bad("missing parent folder", lambda v, ctx: ctx.tmp / "absent" / "file.pt"))


def path_to_write(missing_parent: bool = True) -> tuple[Bad, ...]:
    """A file a function writes: a folder, None, an int, and (``missing_parent``) a missing folder."""
    bads = [Bad("a folder", lambda v, ctx: ctx.tmp), const("None", None), const("3", 3)]
    if missing_parent:
        bads.append(Bad("missing parent folder", lambda v, ctx: ctx.tmp / "absent" / "file.pt"))
    return tuple(bads)


def custom(*pairs: tuple[str, Callable[[Any, Context], Any]], names: tuple[str, ...] = ()) -> tuple[Bad, ...]:
    """Bad values written for one argument: ``(label, make(valid, ctx))`` pairs."""
    return tuple(Bad(label, make, names) for label, make in pairs)


def corrupt(label: str, path: str, value: Any = None, *, delete: bool = False,
            transform: Callable[[Any], Any] | None = None) -> Bad:
    """A state dict with one entry changed: ``path`` like ``"counters.size"`` or ``"net.0"`` (the first
    key of a dict). The entry becomes ``value``, or ``transform(entry)``, or is deleted. The keys on the
    path are the words that name the problem."""
    keys = path.split(".")

    def make(valid, ctx):
        state = copy.deepcopy(valid)
        parent = state
        for key in keys[:-1]:
            parent = parent[_key(parent, key)]
        last = _key(parent, keys[-1])
        if delete:
            del parent[last]
        else:
            parent[last] = transform(parent[last]) if transform is not None else copy.deepcopy(value)
        return state

    names = tuple(str(k) for k in keys if not k.isdigit())
    return Bad(label, make, names)


def _key(container, key: str):
    """``key`` as it appears in ``container``: a digit string indexes a list, or picks a dict's n-th key
    when the dict has no such key (``"net.0"`` = the first parameter)."""
    if isinstance(container, (list, tuple)):
        return int(key)
    if key in container:
        return key
    if key.isdigit():
        return list(container)[int(key)]
    return key
