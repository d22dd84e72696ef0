"""Hand-written plumbing that no notebook teaches: one-line argument checks for the series' contracts.

Each check returns the (normalised) value and raises ``ArgumentTypeError`` (a ``TypeError`` and a
``ValueError``) for a wrong type or ``ValueError`` for a bad value, naming the argument, the value and what
is allowed. Nothing is coerced (``"3"``, ``3.0`` and ``True`` are not ints). The ``MAX_*`` bounds are sized
for a 2-core laptop, so a typo of 10**6 steps fails at once. ``finite=True`` reads every element: call it
once per public call, never per time step.
"""

from __future__ import annotations

import functools
import math
import numbers
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

MAX_STEPS = 200_000  # optimiser steps, meta-iterations, sequence lengths of one call
MAX_EPISODES = 100_000  # episodes, tasks or examples drawn in one call
MAX_BATCH = 65_536  # items in one batch
MAX_SIZE = 1 << 24  # capacities and widths (16.7 M)
MAX_SEED = 2**32 - 1  # the largest seed every generator the series uses accepts (NumPy's limit)
DEVICE_TYPES = ("cpu", "cuda", "mps")


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type: a ``TypeError`` and also a ``ValueError``."""


def describe(value) -> str:
    """A short, safe description of ``value`` for an error message (tensors by shape, dtype and device)."""
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}, dtype {value.dtype}, device {value.device}"
    if isinstance(value, (str, bytes, numbers.Number, type(None), torch.device, torch.dtype, Path)):
        text = repr(value)
        return text if len(text) <= 80 else text[:77] + "..."
    return f"a {type(value).__name__}"


def _type_error(name: str, value, allowed: str, error=ArgumentTypeError) -> Exception:
    return error(f"{name} must be {allowed}, got {describe(value)}")


def _value_error(name: str, value, allowed: str) -> ValueError:
    return _type_error(name, value, allowed, ValueError)


def _is_number(value, kind=numbers.Integral) -> bool:
    return isinstance(value, kind) and not isinstance(value, bool)


def _interval(low, high, low_open: bool = False, high_open: bool = False) -> str:
    def text(bound, infinity):
        return infinity if bound is None else f"{bound:g}" if isinstance(bound, float) else str(bound)
    return f"{'(' if low_open else '['}{text(low, '-inf')}, {text(high, 'inf')}{')' if high_open else ']'}"


def check_int(name: str, value, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an ``int`` in ``[low, high]`` (None: unbounded). bool, float and str are rejected."""
    allowed = f"an int in {_interval(low, high)}"
    if not _is_number(value):
        raise _type_error(name, value, allowed)
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise _value_error(name, value, allowed)
    return value


def check_count(name: str, value, low: int = 1, high: int = MAX_SIZE) -> int:
    """A count: an ``int`` in ``[low, high]`` (by default at least 1 and at most ``MAX_SIZE``)."""
    return check_int(name, value, low, high)


def check_float(name: str, value, low: float | None = None, high: float | None = None,
                low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a finite ``float`` in the interval (open ends where asked); ints pass, bool and str do not."""
    allowed = f"a finite number in {_interval(low, high, low_open, high_open)}"
    if not _is_number(value, numbers.Real):
        raise _type_error(name, value, allowed)
    value = float(value)
    if (not math.isfinite(value) or (low is not None and (value < low or (low_open and value == low)))
            or (high is not None and (value > high or (high_open and value == high)))):
        raise _value_error(name, value, allowed)
    return value


def check_positive(name: str, value, high: float | None = None) -> float:
    """A finite number > 0 (a learning rate, a sharpness, a scale)."""
    return check_float(name, value, low=0.0, high=high, low_open=True)


def check_probability(name: str, value) -> float:
    """A finite number in ``[0, 1]``."""
    return check_float(name, value, 0.0, 1.0)


def check_bool(name: str, value) -> bool:
    """Exactly ``True`` or ``False`` (``"no"``, 0 and 1 are rejected)."""
    if not isinstance(value, bool):
        raise _type_error(name, value, "True or False")
    return value


def check_seed(name: str, value) -> int:
    """A seed: an ``int`` in ``[0, MAX_SEED]`` (no str, float or bool)."""
    return check_int(name, value, 0, MAX_SEED)


def check_choice(name: str, value, choices: Sequence):
    """``value`` must be one of ``choices`` (compared with ``==``, types included)."""
    if not any(type(value) is type(choice) and value == choice for choice in choices):
        raise _value_error(name, value, f"one of {tuple(choices)}")
    return value


def check_instance(name: str, value, types, what: str | None = None):
    """``value`` must be an instance of ``types``; ``what`` names it in the message."""
    if not isinstance(value, types):
        if what is None:
            kinds = types if isinstance(types, tuple) else (types,)
            what = "a " + " or ".join(kind.__name__ for kind in kinds)
        raise _type_error(name, value, what)
    return value


def check_callable(name: str, value, signature: str = "callable"):
    """``value`` must be callable; ``signature`` says how it is called."""
    if not callable(value):
        raise _type_error(name, value, signature)
    return value


def device_available(kind: str) -> bool:
    """Whether this machine has a device of type ``kind`` (``cpu``, ``cuda`` or ``mps``)."""
    if kind == "mps":
        return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    return kind == "cpu" or (kind == "cuda" and torch.cuda.is_available())


def check_device(name: str, value, default: str = "cpu") -> torch.device:
    """A ``torch.device`` that exists here, from a device, a string or None (``default``); no CPU fallback."""
    value = default if value is None else value
    if not isinstance(value, (str, torch.device)):
        raise _type_error(name, value, "a torch.device, a device string like 'cpu' or 'cuda:0', or None")
    try:
        device = torch.device(value)
    except (RuntimeError, ValueError):
        raise _value_error(name, value, f"a device of type {DEVICE_TYPES}, like 'cpu' or 'cuda:0'") from None
    if device.type not in DEVICE_TYPES:
        raise _value_error(name, value, f"a device of type {DEVICE_TYPES}")
    if not device_available(device.type):
        raise ValueError(f"{name} is {str(device)!r}, but this machine has no {device.type} device "
                         f"(use 'cpu', or pick_device('auto') to choose what is here)")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"{name} is {str(device)!r}, but this machine has {torch.cuda.device_count()} CUDA devices")
    return device


FLOATING = "floating"  # any floating dtype (for check_tensor's dtype)


def _parse_shape(shape) -> list:
    return [int(t) if t.lstrip("-").isdigit() else t for t in shape.split()] if isinstance(shape, str) else list(shape)


def _shape_text(spec: list) -> str:
    return "(" + ", ".join(str(token) for token in spec) + ")"


class Dims(dict):
    """The sizes ``check_tensor`` bound (name -> size), plus ``sources``: which argument bound each size."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sources: dict[str, str] = {}


def check_tensor(name: str, value, shape=None, dims: dict | None = None, dtype=FLOATING, like=None,
                 device=None, finite: bool = False, low: float | None = None, high: float | None = None) -> dict:
    """``value`` must be a tensor that fits the contract; returns ``dims`` with the sizes it bound.

    ``shape`` like ``"B N D"`` or ``("B", None, 8)``: a name binds a size across every tensor checked with the
    same ``dims``; an int fixes it, ``None``/``"*"`` takes any, a leading ``"..."`` any leading axes. ``dtype``:
    a dtype, a tuple, ``FLOATING`` or None (any); ``like``: share its dtype and device; ``low``/``high``:
    inclusive element bounds. ``meta`` tensors are refused.
    """
    dims = Dims() if dims is None else dims
    spec = None if shape is None else _parse_shape(shape)
    what = "a torch.Tensor" + (f" of shape {_shape_text(spec)}" if spec is not None else "")
    if not isinstance(value, torch.Tensor):
        raise _type_error(name, value, what)
    if spec is not None:
        ellipsis = bool(spec) and spec[0] == "..."
        fixed = spec[1:] if ellipsis else spec
        sizes = list(value.shape)
        if (len(sizes) < len(fixed)) if ellipsis else (len(sizes) != len(fixed)):
            raise ValueError(f"{name} must have shape {_shape_text(spec)}, got {tuple(value.shape)}")
        trailing = sizes[len(sizes) - len(fixed):]
        bound = {}
        for token, size in zip(fixed, trailing):
            if token is None or token == "*":
                continue
            if isinstance(token, int):
                expected = token
            elif token in dims:
                expected = dims[token]
            elif token in bound:
                expected = bound[token]
            else:
                bound[token] = size
                continue
            if size != expected:
                sources = getattr(dims, "sources", {})
                known = ", ".join(f"{k}={v}" + (f" (from {sources[k]})" if k in sources else "")
                                  for k, v in dims.items() if k in fixed)
                raise ValueError(f"{name} must have shape {_shape_text(spec)}"
                                 f"{' with ' + known if known else ''}, got {tuple(value.shape)}")
        dims.update(bound)
        if isinstance(dims, Dims):  # remember which argument fixed each size: a later mismatch names both
            dims.sources.update(dict.fromkeys(bound, name))
    if dtype is FLOATING:
        if not value.is_floating_point():
            raise ValueError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
    elif dtype is not None:
        allowed = dtype if isinstance(dtype, tuple) else (dtype,)
        if value.dtype not in allowed:
            raise ValueError(f"{name} must have dtype {' or '.join(map(str, allowed))}, got {value.dtype}")
    if like is not None:
        if value.dtype != like.dtype and (dtype is FLOATING or dtype is None):
            raise ValueError(f"{name} must have dtype {like.dtype} (like the tensors it is used with), "
                             f"got {value.dtype}")
        if value.device != like.device:
            raise ValueError(f"{name} must be on {like.device} (like the tensors it is used with), got {value.device}")
    if device is not None and value.device != torch.device(device):
        raise ValueError(f"{name} must be on {torch.device(device)}, got {value.device}")
    if value.device.type == "meta":
        raise ValueError(f"{name} must be on a device that holds data (cpu, cuda or mps), got meta")
    if finite and value.is_floating_point() and not bool(torch.isfinite(value).all()):
        raise ValueError(f"{name} must hold finite numbers only, got NaN or infinity in {describe(value)}")
    if low is not None and value.numel() and bool((value < low).any()):
        raise ValueError(f"{name} must be >= {low} everywhere, got a minimum of {value.min().item():g}")
    if high is not None and value.numel() and bool((value > high).any()):
        raise ValueError(f"{name} must be <= {high} everywhere, got a maximum of {value.max().item():g}")
    return dims


def check_finite_tensors(name: str, tensors: Mapping) -> None:
    """Every floating tensor in ``tensors`` (a state dict, nested dicts and lists allowed) must be finite."""
    def walk(prefix: str, value) -> None:
        if isinstance(value, torch.Tensor):
            if value.device.type == "meta":
                raise ValueError(f"{prefix} must be on a device that holds data (cpu, cuda or mps), got meta")
            if value.is_floating_point() and not bool(torch.isfinite(value).all()):
                raise ValueError(f"{prefix} must hold finite numbers only, got NaN or infinity")
        elif isinstance(value, Mapping):
            for key, item in value.items():
                walk(f"{prefix}[{key!r}]", item)
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                walk(f"{prefix}[{index}]", item)
        elif isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{prefix} must be finite, got {value!r}")

    walk(name, tensors)


def check_path(name: str, value, must_exist: bool = False, kind: str = "file") -> Path:
    """A file path (``str`` or ``os.PathLike``), not a folder: existing if ``must_exist``, else in a folder that is."""
    if not isinstance(value, (str, os.PathLike)) or (isinstance(value, str) and not value.strip()):
        raise _type_error(name, value, f"a {kind} path (str or pathlib.Path)")
    path = Path(value)
    if path.is_dir():
        raise ValueError(f"{name} must be a {kind} path, got the folder {str(path)!r}")
    if must_exist and not path.is_file():
        raise ValueError(f"{name} must be an existing {kind}, got {str(path)!r}, which does not exist")
    if not must_exist and not path.parent.is_dir():
        raise ValueError(f"{name} must be a {kind} path in an existing folder, got {str(path)!r} "
                         f"(folder {str(path.parent)!r} does not exist)")
    return path


def check_keys(name: str, value, required: Sequence[str], optional: Sequence[str] = ()) -> Mapping:
    """``value`` must be a mapping with every key in ``required`` and no key outside required + optional."""
    if not isinstance(value, Mapping):
        raise _type_error(name, value, f"a dict with keys {tuple(required)}")
    missing = [key for key in required if key not in value]
    extra = [key for key in value if key not in required and key not in optional]
    if missing or extra:
        raise ValueError(f"{name} must have keys {tuple(required)}"
                         + (f" (optionally {tuple(optional)})" if optional else "")
                         + f", got {sorted(map(str, value))}")
    return value


def checked(checker):
    """Decorator: run ``checker`` (same parameters, raises on bad input) before the body; ``__wrapped__`` skips it."""
    def decorate(function):
        @functools.wraps(function)
        def run(*args, **kwargs):
            checker(*args, **kwargs)
            return function(*args, **kwargs)

        return run

    return decorate
