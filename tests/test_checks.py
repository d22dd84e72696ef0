"""The validation vocabulary: every check names the argument, the value and what is allowed."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from helpers.checks import (
    MAX_SEED,
    ArgumentTypeError,
    check_bool,
    check_choice,
    check_count,
    check_device,
    check_finite_tensors,
    check_float,
    check_int,
    check_keys,
    check_path,
    check_probability,
    check_seed,
    check_tensor,
)


@pytest.mark.parametrize("bad", ["3", 1.7, True, None, 3.0, [3]])
def test_int_rejects_other_types_by_name(bad):
    with pytest.raises(ArgumentTypeError, match=r"steps must be an int in \[0, 10\], got"):
        check_int("steps", bad, 0, 10)


def test_type_errors_are_also_value_errors():
    with pytest.raises(TypeError):
        check_int("n", "3")
    with pytest.raises(ValueError):
        check_int("n", "3")


@pytest.mark.parametrize("bad", [-1, 11, 10**6])
def test_int_range(bad):
    with pytest.raises(ValueError, match=f"steps must be an int in \\[0, 10\\], got {bad}"):
        check_int("steps", bad, 0, 10)


def test_count_default_bounds():
    assert check_count("n", 1) == 1
    with pytest.raises(ValueError, match="n must be an int in"):
        check_count("n", 0)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_float_rejects_non_finite(bad):
    with pytest.raises(ValueError, match="lr must be a finite number"):
        check_float("lr", bad, 0, 1)


def test_float_open_ends():
    assert check_float("lr", 1, 0, 1, low_open=True) == 1.0
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        check_float("lr", 0.0, 0, 1, low_open=True)
    with pytest.raises(ArgumentTypeError):
        check_float("lr", "0.1")
    with pytest.raises(ArgumentTypeError):
        check_float("lr", True)


def test_probability():
    assert check_probability("p", 0) == 0.0
    with pytest.raises(ValueError, match=r"p must be a finite number in \[0, 1\], got 1.5"):
        check_probability("p", 1.5)


@pytest.mark.parametrize("bad", ["no", 0, 1, None, "False"])
def test_bool_is_strict(bad):
    with pytest.raises(ArgumentTypeError, match="flag must be True or False"):
        check_bool("flag", bad)


@pytest.mark.parametrize("bad", ["3", 1.7, True, -1, "abc", None, math.nan, 2**64])
def test_seed_names_seed(bad):
    with pytest.raises(ValueError, match="seed must be an int in"):
        check_seed("seed", bad)


def test_seed_range():
    assert check_seed("seed", MAX_SEED) == MAX_SEED


def test_choice_compares_types():
    assert check_choice("mode", "fifo", ("fifo", "reservoir")) == "fifo"
    with pytest.raises(ValueError, match=r"mode must be one of \('fifo', 'reservoir'\), got 'FIFO'"):
        check_choice("mode", "FIFO", ("fifo", "reservoir"))
    with pytest.raises(ValueError):
        check_choice("n", True, (1, 2))


def test_device():
    assert check_device("device", None) == torch.device("cpu")
    assert check_device("device", "cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="device must be a device of type"):
        check_device("device", "gpu")
    with pytest.raises(ArgumentTypeError):
        check_device("device", 3)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no cuda device"):
            check_device("device", "cuda")


def test_tensor_named_dims_agree():
    dims = check_tensor("memory", torch.zeros(2, 5, 3), "B N D")
    assert dims == {"B": 2, "N": 5, "D": 3}
    check_tensor("keys", torch.zeros(2, 4, 3), "B H D", dims)
    with pytest.raises(ValueError, match=r"keys must have shape \(B, H, D\) with .*D=3.*got \(2, 4, 7\)"):
        check_tensor("keys", torch.zeros(2, 4, 7), "B H D", dict(dims))


def test_tensor_shape_forms():
    check_tensor("x", torch.zeros(4, 2, 8), ("...", 8))
    check_tensor("x", torch.zeros(8), "... 8")
    check_tensor("x", torch.zeros(4, 8), "* 8")
    with pytest.raises(ValueError, match=r"x must have shape \(B, 8\), got \(4, 7\)"):
        check_tensor("x", torch.zeros(4, 7), "B 8")
    with pytest.raises(ValueError, match="got \\(4,\\)"):
        check_tensor("x", torch.zeros(4), "B 8")


def test_tensor_dtype_device_finite_range():
    with pytest.raises(ValueError, match="x must be a floating-point tensor, got dtype torch.int64"):
        check_tensor("x", torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="x must have dtype torch.float32 .*got torch.float64"):
        check_tensor("x", torch.zeros(3, dtype=torch.float64), like=torch.zeros(1))
    with pytest.raises(ValueError, match="finite"):
        check_tensor("x", torch.tensor([1.0, math.nan]), finite=True)
    with pytest.raises(ValueError, match="x must be >= 0 everywhere"):
        check_tensor("x", torch.tensor([-1.0]), low=0)
    check_tensor("i", torch.zeros(3, dtype=torch.long), dtype=torch.long)
    with pytest.raises(ArgumentTypeError, match="x must be a torch.Tensor of shape"):
        check_tensor("x", [1.0], "B")


def test_finite_tensors_walks_nested_state():
    check_finite_tensors("state", {"a": torch.zeros(2), "b": [torch.ones(1), 1.0]})
    with pytest.raises(ValueError, match=r"state\['b'\]\[0\] must hold finite"):
        check_finite_tensors("state", {"a": torch.zeros(2), "b": [torch.tensor([math.inf])]})


def test_path(tmp_path):
    assert check_path("path", tmp_path / "a.pt") == tmp_path / "a.pt"
    with pytest.raises(ValueError, match="the folder"):
        check_path("path", tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        check_path("path", tmp_path / "missing" / "a.pt")
    with pytest.raises(ValueError, match="does not exist"):
        check_path("path", tmp_path / "a.pt", must_exist=True)
    with pytest.raises(ArgumentTypeError):
        check_path("path", None)


def test_keys():
    check_keys("episode", {"x": 1, "y": 2}, ("x", "y"))
    with pytest.raises(ValueError, match=r"episode must have keys \('x', 'y'\), got \['x'\]"):
        check_keys("episode", {"x": 1}, ("x", "y"))


@given(st.one_of(st.integers(), st.floats(allow_nan=True), st.text(max_size=3), st.booleans(), st.none()))
def test_int_check_never_coerces(value):
    try:
        result = check_int("n", value, 0, 100)
    except ValueError as err:  # ArgumentTypeError is a ValueError too
        assert str(err).startswith("n must be an int in [0, 100], got")
    else:
        assert type(result) is int and result == value and not isinstance(value, bool)


def test_tensor_size_mismatch_names_the_argument_that_fixed_the_size():
    dims = check_tensor("memory", torch.zeros(0, 4, 3), "B N D")
    with pytest.raises(ValueError, match=r"keys must have shape \(B, H, D\) with B=0 \(from memory\)"):
        check_tensor("keys", torch.zeros(2, 2, 3), "B H D", dims)
