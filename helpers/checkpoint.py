"""Hand-written plumbing that no notebook teaches: the one file format every saver and loader of the
series uses (controller and MAML weights, memory bank, replay buffer, agent).

    digest = save_state(path, state, recipe={"steps": 3000})   # writes path and path.sha256
    state, recipe = load_state(path)                              # checks both digests first

A file is a `safetensors <https://huggingface.co/docs/safetensors>`_ file: a JSON header, then raw tensor
bytes. No pickle is involved, so loading a hostile file cannot run code. ``state`` may nest dicts (str or
int keys), lists and tuples of tensors and plain values (int, float, str, bool, None), as
``module.state_dict()`` and ``optimizer.state_dict()`` do; the tensors go into the body, the rest of the
structure (the "skeleton") and the ``recipe`` (how the state was made) into the header's metadata, with
a SHA-256 over skeleton and tensors. A second SHA-256, of the whole file, goes to ``<path>.sha256``
(``sha256sum`` format): the digest the reader keeps. Every failure to read is a ``ValueError`` naming the
file. What a loaded state *means* (shapes that fit a model, finite values, counters in range) is the
loader's to check: ``load_state`` only guarantees an intact file of this format.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import torch
from safetensors.torch import load as _load_tensors
from safetensors.torch import save as _save_tensors

from helpers.checks import check_path

FORMAT, VERSION = "nma-state", "2"
__all__ = ["FORMAT", "VERSION", "load_state", "save_state", "sidecar_path"]


def sidecar_path(path) -> Path:
    """Where a file's SHA-256 is recorded: ``<path>.sha256``."""
    path = check_path("path", path)
    return path.with_name(path.name + ".sha256")


def _encode(value, tensors: dict, where: str):
    """The JSON skeleton of ``value``; its tensors are moved into ``tensors`` under their path."""
    if isinstance(value, torch.Tensor):
        tensors[where] = value.detach().to("cpu", copy=True).contiguous()
        return {"T": where}
    if isinstance(value, dict):
        if not all(isinstance(k, (str, int)) and not isinstance(k, bool) for k in value):
            raise ValueError(f"state at {where or 'top'}: dict keys must be str or int, got {list(value)[:4]}")
        return {"D": [[k, _encode(v, tensors, f"{where}/{k}")] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        items = [_encode(v, tensors, f"{where}/{i}") for i, v in enumerate(value)]
        return {"L" if isinstance(value, list) else "U": items}
    if value is None or isinstance(value, (bool, int, float, str)):
        return {"V": value}
    raise ValueError(f"state at {where or 'top'}: cannot save a {type(value).__name__} (tensors, dicts, "
                     "lists, tuples, int, float, str, bool and None only)")


def _decode(node, tensors: dict, path: Path):
    if not isinstance(node, dict) or len(node) != 1:
        raise ValueError(f"{path}: malformed state skeleton")
    (kind, body), = node.items()
    if kind == "T" and body in tensors:
        return tensors[body]
    if kind == "D" and isinstance(body, list) and all(isinstance(p, list) and len(p) == 2 for p in body):
        return {k: _decode(v, tensors, path) for k, v in body}
    if kind in ("L", "U") and isinstance(body, list):
        items = [_decode(v, tensors, path) for v in body]
        return items if kind == "L" else tuple(items)
    if kind == "V" and (body is None or isinstance(body, (bool, int, float, str))):
        return body
    raise ValueError(f"{path}: malformed state skeleton (entry {kind!r})")


def _inner_digest(skeleton: str, recipe: str, tensors: dict) -> str:
    sha = hashlib.sha256(skeleton.encode() + b"\0" + recipe.encode())
    for name in sorted(tensors):
        value = tensors[name]
        sha.update(f"\0{name}\0{value.dtype}\0{tuple(value.shape)}\0".encode())
        sha.update(value.reshape(-1).view(torch.uint8).numpy().tobytes() if value.numel() else b"")
    return sha.hexdigest()


def save_state(path, state, recipe: dict | None = None) -> str:
    """Write ``state`` (and the JSON-able ``recipe``) to ``path``, its SHA-256 to ``<path>.sha256``; return it.

    Nothing is written when ``state`` cannot be saved (a ``ValueError`` names the bad entry)."""
    path = check_path("path", path)
    tensors: dict[str, torch.Tensor] = {}
    skeleton = json.dumps(_encode(state, tensors, ""))
    try:
        recipe_text = json.dumps({} if recipe is None else recipe, sort_keys=True)
    except (TypeError, ValueError) as err:
        raise ValueError(f"recipe must be JSON-serialisable, got {recipe!r} ({err})") from None
    header = {"format": FORMAT, "version": VERSION, "skeleton": skeleton, "recipe": recipe_text,
              "sha256": _inner_digest(skeleton, recipe_text, tensors)}
    # one metadata entry: safetensors writes several in no fixed order, and equal states must give equal bytes
    data = _save_tensors(tensors, metadata={FORMAT: json.dumps(header, sort_keys=True)})
    path.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    sidecar_path(path).write_text(f"{digest}  {path.name}\n")
    return digest


def _recorded_digest(path: Path, expected_sha256) -> tuple[str, str]:
    if expected_sha256 is None:
        sidecar = sidecar_path(path)
        if not sidecar.is_file():
            raise ValueError(f"{path} has no recorded SHA-256: {sidecar} is missing (save_state writes it); "
                             "pass expected_sha256=<the digest you trust> to load this file")
        words = sidecar.read_text().split()
        recorded, source = (words[0] if words else ""), str(sidecar)
    else:
        recorded, source = expected_sha256, "expected_sha256"
    if not isinstance(recorded, str) or len(recorded) != 64 or not set(recorded.lower()) <= set("0123456789abcdef"):
        raise ValueError(f"the SHA-256 from {source} must be 64 hex digits, got {recorded!r}")
    return recorded.lower(), source


def load_state(path, expected_sha256: str | None = None) -> tuple[object, dict]:
    """``(state, recipe)`` from a file ``save_state`` wrote, after checking the file's SHA-256 against
    ``expected_sha256`` (or, when None, the sidecar), the header, and the inner SHA-256. Tensors come back
    on the CPU. Raises ``ValueError`` naming ``path`` for a missing, truncated, damaged, tampered or foreign
    file."""
    path = check_path("path", path, must_exist=True)
    data = path.read_bytes()
    recorded, source = _recorded_digest(path, expected_sha256)
    digest = hashlib.sha256(data).hexdigest()
    if digest != recorded:
        raise ValueError(f"{path} has SHA-256 {digest}, but {source} records {recorded}: the file was modified, "
                         "truncated or damaged")
    try:
        (size,) = struct.unpack("<Q", data[:8])
        metadata = json.loads((json.loads(data[8:8 + size]).get("__metadata__") or {}).get(FORMAT, "{}"))
        tensors = _load_tensors(data)
    except Exception as err:  # safetensors and json raise several types for a damaged header
        raise ValueError(f"{path} is not a readable state file (truncated or damaged?): {err}") from None
    if not isinstance(metadata, dict):
        raise ValueError(f"{path}: malformed metadata")
    if metadata.get("format") != FORMAT or metadata.get("version") != VERSION:
        raise ValueError(f"{path} is not a state file of format {FORMAT!r} version {VERSION} (got "
                         f"{metadata.get('format')!r} version {metadata.get('version')!r})")
    skeleton, recipe = metadata.get("skeleton", ""), metadata.get("recipe", "")
    if _inner_digest(skeleton, recipe, tensors) != metadata.get("sha256"):
        raise ValueError(f"{path} failed its inner checksum: its tensors or metadata were modified")
    try:
        state, recipe = _decode(json.loads(skeleton), tensors, path), json.loads(recipe)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: malformed metadata ({err})") from None
    return state, recipe
