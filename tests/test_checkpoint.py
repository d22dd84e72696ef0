"""helpers.checkpoint: one file format (safetensors + metadata + digests) for every saved state."""

import hashlib
import json
import struct

import pytest
import torch

from helpers.checkpoint import load_state, save_state, sidecar_path
from helpers.plumbing import weights_dir


def _state():
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    counters = {"steps": 3, "name": "x", "none": None, "flag": True}
    return {"net": model.state_dict(), "optimizer": optimizer.state_dict(), "generator": torch.Generator().get_state(),
            "counters": counters, "pair": (1, 2.5), "empty": torch.empty(0)}


def test_round_trip_keeps_structure_types_and_values(tmp_path):
    state = _state()
    digest = save_state(tmp_path / "a.safetensors", state, recipe={"seed": 0})
    assert sidecar_path(tmp_path / "a.safetensors").read_text().split()[0] == digest
    loaded, recipe = load_state(tmp_path / "a.safetensors")
    assert recipe == {"seed": 0}
    assert loaded["pair"] == (1, 2.5) and loaded["counters"] == state["counters"]
    assert list(loaded["optimizer"]["state"]) == [0, 1]  # int keys survive
    assert loaded["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    for name, value in state["net"].items():
        assert torch.equal(loaded["net"][name], value)
    torch.optim.Adam(torch.nn.Linear(3, 2).parameters()).load_state_dict(loaded["optimizer"])


def test_identical_state_gives_identical_bytes(tmp_path):
    state = _state()
    assert save_state(tmp_path / "a.safetensors", state) == save_state(tmp_path / "b.safetensors", state)


def _resign(path):
    """Record the file's current SHA-256 in its sidecar, as a forger who edits the file would."""
    sidecar_path(path).write_text(hashlib.sha256(path.read_bytes()).hexdigest() + "  " + path.name + "\n")


@pytest.mark.parametrize("damage", ["flip", "truncate", "forge_sidecar", "edit_metadata", "no_sidecar", "empty"])
def test_damaged_files_raise_a_value_error_naming_the_file(tmp_path, damage):
    path = tmp_path / "a.safetensors"
    save_state(path, _state())
    data = bytearray(path.read_bytes())
    if damage == "flip":  # a flipped tensor byte, sidecar re-signed: the inner digest catches it
        data[-1] ^= 1
    elif damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "empty":
        data = bytearray()
    elif damage == "edit_metadata":  # a changed recipe, sidecar re-signed: the inner digest catches it
        size = struct.unpack("<Q", data[:8])[0]
        header = json.loads(data[8 : 8 + size])
        inner = json.loads(header["__metadata__"]["nma-state"])
        inner["recipe"] = json.dumps({"seed": 1})
        header["__metadata__"]["nma-state"] = json.dumps(inner)
        text = json.dumps(header).encode()
        data = bytearray(struct.pack("<Q", len(text))) + text + data[8 + size :]
    path.write_bytes(bytes(data))
    if damage in ("flip", "truncate", "empty", "edit_metadata"):
        _resign(path)
    elif damage == "forge_sidecar":
        sidecar_path(path).write_text("0" * 64 + "\n")
    elif damage == "no_sidecar":
        sidecar_path(path).unlink()
    with pytest.raises(ValueError, match="a.safetensors"):
        load_state(path)


def test_a_pickle_is_refused(tmp_path):
    path = tmp_path / "a.safetensors"
    torch.save({"x": torch.ones(1)}, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(ValueError, match="not a readable state file"):
        load_state(path, expected_sha256=digest)


def test_unsaveable_state_writes_nothing(tmp_path):
    with pytest.raises(ValueError, match="cannot save a object"):
        save_state(tmp_path / "a.safetensors", {"x": object()})
    assert not (tmp_path / "a.safetensors").exists()


def test_shipped_weights_load_and_are_package_data():
    files = sorted(weights_dir().glob("*.safetensors"))
    assert len(files) >= 9, files
    for path in files:
        state, _ = load_state(path)
        assert all(torch.isfinite(v).all() for v in state.values())
