"""helpers.experiments (notebook 07): the comparison runner, the Split Digits and main-stream methods."""

import math
import sys
from pathlib import Path

import pytest
import torch

from helpers.agent import AgentConfig, AgentRun, make_split_digits
from helpers.checks import ArgumentTypeError
from helpers.experiments import (
    CONTINUAL_METHODS,
    DIGIT_METHODS,
    RunResult,
    check_seeds,
    compare,
    digit_config,
    fit_jointly,
    per_seed,
    results_table,
    run_methods,
    split_digits_methods,
    summarise,
)
from helpers.foundations import make_main_stream

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))  # bench_ablation holds main_stream_methods
try:
    from bench_ablation import main_stream_methods
finally:
    sys.path.pop(0)


def fake_run(acc: float) -> AgentRun:
    R = torch.full((2, 2), acc, dtype=torch.float64)
    return AgentRun(R, torch.zeros(2, dtype=torch.float64), 0.1)


def fake_results(gains, base=0.5) -> list[RunResult]:
    methods = {"A": lambda s: fake_run(base + gains[s]), "B": lambda s: fake_run(base)}
    return run_methods(methods, list(range(len(gains))))


def test_run_methods_reduces_each_run_to_metrics():
    results = fake_results([0.1, 0.2, 0.15])
    assert len(results) == 6 and {r.method for r in results} == {"A", "B"}
    assert per_seed(results, "A").tolist() == pytest.approx([0.6, 0.7, 0.65])
    summary = summarise(results)
    assert summary["A"]["acc"][0] == pytest.approx(0.65) and summary["A"]["acc"][2] == 3
    table = results_table(results, ("acc",), scale=100, digits=1)
    assert "| A | 65.0 ± 5.0 | 3 |" in table


def test_run_methods_accepts_several_readouts_of_one_run():
    results = run_methods({"pair": lambda s: {"x": fake_run(0.3), "y": fake_run(0.4)}}, [0, 1])
    assert sorted({r.method for r in results}) == ["x", "y"]


def test_compare_uses_the_paired_t_interval():
    result = compare(fake_results([0.1, 0.12, 0.11]), "A", "B")
    assert result["verdict"] == "better" and result["wins"] == 3
    assert result["t"] == pytest.approx(4.303, abs=1e-3)
    noisy = compare(fake_results([0.1, -0.1, 0.02]), "A", "B")
    assert noisy["verdict"] == "no reliable difference"
    worse = compare(fake_results([-0.1, -0.12, -0.11]), "A", "B")
    assert worse["verdict"] == "worse"
    errors = compare(fake_results([-0.1, -0.12, -0.11]), "A", "B", higher_is_better=False)
    assert errors["verdict"] == "better"


@pytest.mark.parametrize("seeds", [[], [0, 0], ["0"], [1.5], "012", None, [-1], range(10**9), list(range(1001))])
def test_bad_seeds_are_refused(seeds):
    with pytest.raises(ValueError, match="seeds"):
        check_seeds(seeds)


def test_a_huge_seed_count_is_refused_at_once():
    calls = []
    with pytest.raises(ValueError, match=r"number of seeds must be an int in \[1, 1000\]"):
        run_methods({"m": lambda s: calls.append(s)}, list(range(10**5)))
    assert calls == [] and len(check_seeds(list(range(1000)))) == 1000


def test_run_methods_checks_what_methods_return():
    with pytest.raises(TypeError, match=r"methods\['bad'\]\(0\): .*AgentRun"):
        run_methods({"bad": lambda s: 3}, [0])
    with pytest.raises(ArgumentTypeError):
        run_methods({"bad": 3}, [0])
    with pytest.raises(ValueError, match="compare needs"):
        compare(fake_results([0.1]), "A", "B")


def test_method_tables_are_consistent():
    assert set(CONTINUAL_METHODS) == set(DIGIT_METHODS) - {"naive"}
    for method in DIGIT_METHODS:
        assert isinstance(digit_config(method, 20, 0), AgentConfig)
    assert digit_config("agent", 20, 0).meta_weight > 0 and digit_config("ER", 20, 0).read_weight == 0
    with pytest.raises(ValueError, match="method"):
        digit_config("EWC", 20, 0)


def test_split_digits_methods_share_a_training_run_between_readouts():
    methods = split_digits_methods(10, methods=["ER", "ER + NCM"], steps_per_task=2)
    assert list(methods) == ["ER / ER + NCM"]
    results = run_methods(methods, [0])
    assert {r.method for r in results} == {"ER", "ER + NCM"}
    assert all(r.R.shape == (5, 5) for r in results)


def test_joint_training_learns_every_task():
    tasks = make_split_digits(seed=0)[:2]
    run = fit_jointly(tasks, AgentConfig(hidden_size=32, memory_size=0, replay_weight=0.0), 64, 10, epochs=2)
    assert run.R.shape == (2, 2) and run.R[-1].min() > 0.8  # both tasks known after the joint stage


def test_main_stream_methods_run():
    methods = main_stream_methods(steps_per_task=3, memory_size=10, methods=["ER", "agent"], train_size=32,
                                  test_size=16)
    results = run_methods(methods, [0])
    assert all(math.isfinite(r.metrics["acc"]) for r in results)
    assert make_main_stream(train_size=32, test_size=16).input_dim == 10


@pytest.mark.parametrize("call, match", [
    (lambda: split_digits_methods(-1), "memory_size"),
    (lambda: split_digits_methods(6, scenario="nope"), "scenario"),
    (lambda: split_digits_methods(6, methods=[]), "methods"),
    (lambda: split_digits_methods(6, methods="ER"), "methods"),
    (lambda: split_digits_methods(6, steps_per_task=1.7), "steps_per_task"),
    (lambda: split_digits_methods(6, joint_epochs=0), "joint_epochs"),
    (lambda: main_stream_methods(train_size=0), "train_size"),
    (lambda: main_stream_methods(test_size=None), "test_size"),
    (lambda: main_stream_methods(memory_size=True), "memory_size"),
    (lambda: results_table(fake_results([0.1, 0.2]), digits="3"), "digits"),
    (lambda: results_table(fake_results([0.1, 0.2]), scale=math.nan), "scale"),
    (lambda: summarise(fake_results([0.1, 0.2]), metrics="acc"), "metrics"),
    (lambda: summarise(fake_results([0.1, 0.2]), metrics=["nope"]), "metrics"),
    (lambda: summarise(fake_results([0.1, 0.2]), metrics=None), "metrics"),
    (lambda: per_seed(3, "A"), "results"),
    (lambda: compare(fake_results([0.1, 0.2]), "nope", "B"), "first"),
    (lambda: compare(fake_results([0.1, 0.2]), "A", "nope"), "second"),
    (lambda: compare(fake_results([0.1, 0.2]), "A", "B", higher_is_better=1), "higher_is_better"),
    (lambda: run_methods({"m": lambda s: AgentRun(torch.full((2, 2), math.nan), torch.zeros(2), 0.1)}, [0]),
     r"methods\['m'\]\(0\)"),
    (lambda: run_methods({"m": lambda s: AgentRun(torch.zeros(2, 3), torch.zeros(3), 0.1)}, [0]),
     r"methods\['m'\]\(0\)"),
    (lambda: fit_jointly([], AgentConfig(), 64, 10), "tasks"),
    (lambda: fit_jointly(iter(make_split_digits(seed=0)), AgentConfig(), 64, 10), "tasks"),
    (lambda: fit_jointly(make_split_digits(seed=0), AgentConfig(), 64, 10, scenario="nope"), "scenario"),
])
def test_arguments_are_checked_up_front(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("readouts", [{}, {"x": 3}, {"x": {"readout": "nope"}}, {"x": {"lr": 0.1}}])
def test_fit_readouts_checks_before_training(readouts):
    from helpers.agent import ContinualAgent
    from helpers.experiments import fit_readouts

    agent = ContinualAgent(AgentConfig(hidden_size=8, memory_size=6, steps_per_task=2), 64, 10)
    with pytest.raises(ValueError):
        fit_readouts(agent, make_split_digits(seed=0), readouts)
    assert agent.steps_done == 0 and agent.tasks_seen == 0


def _loose_tasks():
    from types import SimpleNamespace

    return [SimpleNamespace(task_id=t.task_id, classes=t.classes, train_x=t.train_x, train_y=t.train_y,
                            test_x=t.test_x, test_y=t.test_y) for t in make_split_digits(seed=0)]


def _small_agent():
    from helpers.agent import ContinualAgent

    return ContinualAgent(AgentConfig(hidden_size=8, memory_size=6, steps_per_task=2), 64, 10)


def test_fit_readouts_is_atomic_with_a_bad_second_task():
    from helpers.experiments import fit_readouts

    tasks = _loose_tasks()
    tasks[1].train_x = tasks[1].train_x.clone().fill_(math.nan)
    agent = _small_agent()
    with pytest.raises(ValueError, match="train_x"):
        fit_readouts(agent, tasks, {"ER": {}})
    assert agent.steps_done == 0 and agent.tasks_seen == 0


def test_an_empty_training_split_is_refused_before_any_training():
    from helpers.experiments import fit_readouts

    tasks = _loose_tasks()
    tasks[3].train_x, tasks[3].train_y = tasks[3].train_x[:0], tasks[3].train_y[:0]
    agent = _small_agent()
    with pytest.raises(ValueError, match="train_x"):
        fit_readouts(agent, tasks, {"ER": {}})
    assert agent.steps_done == 0 and agent.tasks_seen == 0 and len(agent.memory) == 0
    with pytest.raises(ValueError, match="train_x"):
        fit_jointly(tasks, AgentConfig(hidden_size=8), 64, 10, epochs=1)


def test_every_readout_is_checked_before_the_first_is_trained():
    from helpers.experiments import fit_readouts

    agent = _small_agent()
    readouts = {"ER": {}, "ER + NCM": {"readout": "ncm"}, "bad": {"read_weight": 1.5}}
    with pytest.raises(ValueError, match="read_weight"):
        fit_readouts(agent, make_split_digits(seed=0), readouts)
    assert agent.steps_done == 0 and agent.tasks_seen == 0 and len(agent.memory) == 0
    with pytest.raises(ValueError, match="tasks"):
        fit_readouts(agent, iter(make_split_digits(seed=0)), {"ER": {}})


def test_fit_jointly_checks_every_task_before_training_any():
    tasks = _loose_tasks()
    tasks[4].train_x = tasks[4].train_x[:, :10]
    with pytest.raises(ValueError, match="train_x"):
        fit_jointly(tasks, AgentConfig(hidden_size=8), 64, 10, epochs=1)


def test_the_shipped_fair_race_record_is_complete():
    """Notebooks 06 and 07 read this record (benchmarks/fair_race.py): every method at every budget and size."""
    import json

    from helpers.plumbing import weights_dir

    race = json.loads((weights_dir() / "fair_race.json").read_text())
    assert race["reported_seeds"] == list(range(10)) and min(race["held_out_seeds"]) >= 100
    for size in ("20", "50", "200"):
        assert set(race["report"][size]) == set(race["spaces"])
        for runs in race["report"][size].values():
            assert sorted(runs, key=int) == [str(b) for b in race["budgets"]]
            assert all(len(r["acc"]) == 10 and r["timed_seconds"] > 0 for r in runs.values())
        assert {"meta-loss off", "inner step 1e-3", "test-time adaptation off"} <= set(race["controls"][size])
    assert len(race["joint"]["acc"]) == 10 and race["goals"]["joint_gap_at_200"] is not None


def test_the_dnc_record_shipped_with_the_package_is_the_benchmarks():
    import json
    from pathlib import Path

    from helpers.plumbing import weights_dir

    root = Path(__file__).resolve().parents[1]
    shipped = json.loads((weights_dir() / "bench_dnc.json").read_text())
    assert shipped.pop("source") == "benchmarks/results/dnc.json"
    assert shipped == json.loads((root / "benchmarks/results/dnc.json").read_text())
