"""The API fuzzer (benchmarks/fuzz_api.py) sorts known behaviours into the right categories.

Runs the fuzzer on a toy module whose functions each fail in one known way, so the categories it reports
for the real API can be trusted. Takes a few seconds (one toy call hangs until the 1-second timeout).
The full fuzz of ``helpers`` is a benchmark, not a test: ``python benchmarks/fuzz_api.py``.
"""

import multiprocessing
import sys
import types
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from fuzz_api import Call, Spec, category_table, const, corrupt, count, difference, fuzz, markdown

pytestmark = pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(),
                                reason="the fuzzer forks its workers (Linux, macOS)")


class Counter:
    """A stateful toy: ``bump`` changes its state before it checks (non-atomic), ``safe_bump`` after."""

    def __init__(self):
        self.count = 0

    def state_dict(self) -> dict:
        return {"count": self.count}

    def bump(self, n):
        self.count += 1
        if not isinstance(n, int) or n < 0:
            raise ValueError(f"n must be an int >= 0, got {n!r}")

    def safe_bump(self, n):
        if not isinstance(n, int) or n < 0:
            raise ValueError(f"n must be an int >= 0, got {n!r}")
        self.count += n


def clear(n):
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be an int >= 0, got {n!r}")
    return n


def vague(n):
    if n != 1:
        raise ValueError("bad input")  # the right type of error, but it does not say which argument
    return n


def breaks(n):
    return [0, 1][n]  # a TypeError that names nothing from deep inside; [0, 1][-1] works


def accepts(n):
    return float(n) * float("nan") if n == -1 else n


def spins(n):
    while n != 1:
        pass
    return n


@pytest.fixture(scope="module")
def toy_run():
    module = types.ModuleType("fuzz_toy")
    for value in (Counter, clear, vague, breaks, accepts, spins):
        setattr(module, value.__name__, value)
    sys.modules["fuzz_toy"] = module
    bad = (const("'3'", "3"), const("-1", -1))

    def call(name):
        return lambda ctx: Call(getattr(module, name), {"n": 1})

    def method(name):
        return lambda ctx: Call(getattr(Counter(), name), {"n": 1})

    specs = [Spec(f"fuzz_toy:{name}", call(name), {"n": bad}) for name in ("clear", "vague", "breaks", "accepts")]
    specs += [
        Spec("fuzz_toy:spins", call("spins"), {"n": bad[:1]}),
        Spec("fuzz_toy:Counter.bump", method("bump"), {"n": bad}),
        Spec("fuzz_toy:Counter.safe_bump", method("safe_bump"), {"n": bad}),
        Spec("fuzz_toy:renamed", call("clear"), {"n": bad}),  # the target no longer exists
        Spec("fuzz_toy:clear", call("clear"), {"n": bad, "gone": bad}, label="lost argument"),
        Spec("fuzz_toy:breaks", lambda ctx: Call(breaks, {"n": 5}), {"n": bad}, label="valid call fails"),
    ]
    try:
        yield fuzz(specs, timeout=1.0, workers=2, memory_gb=0, warm=False)
    finally:
        del sys.modules["fuzz_toy"]


def outcome(run, function):
    return {r["value"]: (r["category"], r["nonatomic"]) for r in run["results"] if r["function"] == function}


def test_categories(toy_run):
    assert outcome(toy_run, "clear") == {"'3'": ("clear", False), "-1": ("clear", False)}
    assert outcome(toy_run, "vague") == {"'3'": ("obscure", False), "-1": ("obscure", False)}
    assert outcome(toy_run, "breaks") == {"'3'": ("obscure", False), "-1": ("silent", False)}  # [0][-1] works
    assert outcome(toy_run, "accepts") == {"'3'": ("silent", False), "-1": ("silent", False)}
    assert outcome(toy_run, "spins") == {"'3'": ("hang", False)}


def test_atomicity(toy_run):
    assert outcome(toy_run, "Counter.bump") == {"'3'": ("clear", True), "-1": ("clear", True)}
    assert outcome(toy_run, "Counter.safe_bump") == {"'3'": ("clear", False), "-1": ("clear", False)}
    changed = {r["changed"] for r in toy_run["results"] if r["function"] == "Counter.bump"}
    assert changed == {"['self']['state_dict()']['count']"}


def test_details_and_skips(toy_run):
    details = {r["value"]: r["detail"] for r in toy_run["results"] if r["function"] == "accepts"}
    assert details == {"'3'": "accepted", "-1": "returned NaN"}
    reasons = {(s["function"], s.get("argument")): s["reason"] for s in toy_run["skipped"]}
    assert "no 'renamed'" in reasons[("renamed", None)]
    assert "no argument 'gone'" in reasons[("clear (lost argument)", "gone")]
    assert reasons[("breaks (valid call fails)", None)].startswith("valid call failed: IndexError")
    assert not any(r["function"] == "renamed" or r["argument"] == "gone" for r in toy_run["results"])


def test_reports(toy_run):
    table = category_table(toy_run["results"])
    assert "| **all** | 15 | 8 (53.3 %) | 3 (20.0 %) | 3 (20.0 %) | 1 (6.7 %) | 0 (0.0 %) | 2 (13.3 %) |" in table
    toy_run.update(api="toy", date="today", machine="", command="pytest")
    text = markdown(toy_run, before=toy_run)
    assert "spec skipped: renamed" in text and "## Before and after" in text


def test_corrupt_and_difference():
    state = {"counters": {"size": 2}, "net": {"w": 1.0}}
    bad = corrupt("size too big", "counters.size", 99)
    assert bad.make(state, None) == {"counters": {"size": 99}, "net": {"w": 1.0}} and bad.names == ("counters", "size")
    assert state["counters"]["size"] == 2  # the valid state is not touched
    assert corrupt("no net", "net", delete=True).make(state, None) == {"counters": {"size": 2}}
    assert difference({"a": [1.0, float("nan")]}, {"a": [1.0, float("nan")]}) is None
    assert difference({"a": 1, "b": 2}, {"b": 2, "a": 1}) is None  # key order is no state
    assert difference({"a": [1, 2]}, {"a": [1, 3]}) == "['a'][1]"
    assert count(huge=()) and len(count()) == len(count(huge=())) + 2


def test_the_memory_and_controller_refuse_bad_input_clearly_and_atomically():
    """The real fuzz of two modules (about a thousand bad inputs): nearly all refused with an error that
    names the argument, none hangs, none changes the objects it was given when it raises."""
    from fuzz_api import tally
    from fuzz_specs import SPECS

    run = fuzz(SPECS, modules=["memory", "controller"], timeout=60.0, workers=1)
    counts = tally(run["results"])
    assert counts["attacks"] > 900, counts
    assert counts["clear"] >= 0.95 * counts["attacks"], counts
    assert counts["hang"] == counts["crash"] == counts["nonatomic"] == 0, counts
