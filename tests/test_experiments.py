"""helpers.experiments: Split Digits, the ablation runner and its tables, the playground's experiment."""

import dataclasses
import math

import pytest
import torch

from helpers.agent import AgentConfig
from helpers.experiments import (
    ABLATION_VARIANTS,
    DIGIT_PAIRS,
    SCENARIOS,
    FixedReadSharpness,
    MethodRun,
    ablation_methods,
    active_classes,
    agent_digit_accuracies,
    compare,
    confusion_matrix,
    fit_equal_budget,
    fit_jointly,
    make_split_digits,
    per_seed,
    quick_experiment,
    results_table,
    run_methods,
    summarise,
    train_agent_on_digits,
    train_split_digits,
    variant_config,
)
from helpers.foundations import make_main_stream

TINY = AgentConfig(steps_per_task=3, batch_size=4, replay_batch_size=4, replay_capacity=8, context_size=4,
                   query_size=2, memory_size=4, hidden_size=16, meta_steps=1, meta_shots=4)


@pytest.fixture(scope="module")
def digits():
    return make_split_digits(test_fraction=0.25, seed=0)


# --- Split Digits -------------------------------------------------------------------------------------

def test_split_digits_train_and_test_never_overlap(digits):
    train = torch.cat([t.train_index for t in digits])
    test = torch.cat([t.test_index for t in digits])
    assert len(set(train.tolist()) & set(test.tolist())) == 0
    assert len(set(train.tolist())) == len(train) and len(set(test.tolist())) == len(test)  # no repeats
    assert len(train) + len(test) == 1797  # every image used exactly once


def test_split_digits_class_pairs_shapes_and_range(digits):
    assert len(digits) == 5
    for k, task in enumerate(digits):
        assert task.task_id == k and task.classes == DIGIT_PAIRS[k] == (2 * k, 2 * k + 1)
        for x, y in ((task.train_x, task.train_y), (task.test_x, task.test_y)):
            assert x.ndim == 2 and x.shape[1] == 64 and x.dtype == torch.float32
            assert y.shape == (len(x),) and y.dtype == torch.long
            assert 0.0 <= x.min() and x.max() <= 1.0
            assert set(y.unique().tolist()) == set(task.classes)
        # each digit contributes about a quarter of its images to the test part
        for digit in task.classes:
            n_test, n_train = (task.test_y == digit).sum().item(), (task.train_y == digit).sum().item()
            assert abs(n_test / (n_test + n_train) - 0.25) < 0.01


def test_split_digits_depends_only_on_its_seed(digits):
    again = make_split_digits(test_fraction=0.25, seed=0)
    other = make_split_digits(test_fraction=0.25, seed=1)
    for a, b in zip(digits, again):
        assert torch.equal(a.test_index, b.test_index) and torch.equal(a.train_x, b.train_x)
    assert not all(torch.equal(a.test_index.sort().values, c.test_index.sort().values) for a, c in zip(digits, other))


def test_active_classes_per_scenario():
    ids = torch.tensor([0, 2, 4])
    task_il = active_classes("task", ids, seen_tasks=5)
    assert task_il.shape == (3, 10) and task_il.sum(1).tolist() == [2, 2, 2]
    assert task_il[1].nonzero().squeeze(1).tolist() == [4, 5]
    class_il = active_classes("class", ids, seen_tasks=2)
    assert class_il.shape == (3, 10) and (class_il.sum(1) == 4).all() and class_il[:, :4].all()


def test_train_split_digits_is_deterministic_and_masks_future_classes(digits):
    a = train_split_digits(digits, "class", "replay", steps_per_task=5, buffer_capacity=20, seed=3)
    b = train_split_digits(digits, "class", "replay", steps_per_task=5, buffer_capacity=20, seed=3)
    assert isinstance(a, MethodRun) and a.R.shape == (5, 5) and a.baseline.shape == (5,)
    assert torch.equal(a.R, b.R)
    assert ((a.R >= 0) & (a.R <= 1)).all()
    # class-IL: after task i the model may only answer digits it has seen, so later tasks score 0
    assert (torch.triu(a.R, diagonal=1) == 0).all()


def test_agent_on_digits_runs_and_its_evaluation_is_pure(digits):
    run = train_agent_on_digits(digits, "task", dataclasses.replace(TINY, alpha=0.0), exemplars_per_class=3)
    again = train_agent_on_digits(digits, "task", dataclasses.replace(TINY, alpha=0.0), exemplars_per_class=3)
    assert run.R.shape == (5, 5) and torch.equal(run.R, again.R)
    assert torch.equal(agent_digit_accuracies(run.model, digits, "task", 5, per_class=3, seed=4), run.R[-1])
    from helpers.agent import ContinualAgent

    agent = ContinualAgent(TINY, 64, 10)
    before = {k: v.clone() for k, v in agent.net.state_dict().items()}
    first = agent_digit_accuracies(agent, digits, "class", 5, per_class=3, seed=1)
    second = agent_digit_accuracies(agent, digits, "class", 5, per_class=3, seed=1)
    assert torch.equal(first, second)
    assert all(torch.equal(before[k], v) for k, v in agent.net.state_dict().items())


def test_confusion_matrix_counts_answers_per_true_digit(digits):
    truth = [t.test_y for t in digits]
    perfect = confusion_matrix(truth, digits)
    assert perfect.shape == (10, 10) and torch.equal(perfect, torch.diag(perfect.diagonal()))
    assert perfect.sum() == sum(len(t) for t in truth)
    always_nine = confusion_matrix([torch.full_like(t, 9) for t in truth], digits)
    assert (always_nine[:, 9] == perfect.diagonal()).all() and always_nine[:, :9].sum() == 0
    with pytest.raises(ValueError, match="answers"):
        confusion_matrix(truth[:-1], digits)


# --- the ablation runner ------------------------------------------------------------------------------

def _fake(seed: int) -> MethodRun:
    g = torch.Generator().manual_seed(seed)
    return MethodRun(torch.rand(3, 3, generator=g), torch.rand(3, generator=g), 0.1 * (seed + 1))


def test_run_methods_summarise_and_table():
    results = run_methods({"a": _fake, "b": lambda s: _fake(s + 10)}, [0, 1, 2])
    assert [(r.method, r.seed) for r in results] == [(m, s) for s in (0, 1, 2) for m in ("a", "b")]
    assert torch.allclose(per_seed(results, "a", "seconds"), torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64))
    mean, std, n = summarise(results)["a"]["acc"]
    values = torch.stack([_fake(s).R.double()[-1].mean() for s in (0, 1, 2)])
    assert n == 3 and math.isclose(mean, values.mean().item()) and math.isclose(std, values.std().item())
    table = results_table(results)
    assert table.splitlines()[0] == "| method | ACC | BWT | forgetting | time (s) | seeds |"
    assert "±" in table and table.splitlines()[2].endswith("| 3 |")


def test_compare_pairs_seeds_and_gives_a_verdict():
    def shifted(offset):
        return lambda s: MethodRun(_fake(s).R + offset, _fake(s).baseline, 0.0)

    results = run_methods({"a": shifted(0.0), "b": shifted(0.1), "c": _fake}, [0, 1, 2])
    up = compare(results, "b", "a")  # b is a + 0.1 on every seed: better, whatever the seed spread
    assert up["verdict"] == "better" and up["wins"] == 3 and math.isclose(up["gain"], 0.1, rel_tol=1e-5)
    assert compare(results, "b", "a", higher_is_better=False)["verdict"] == "worse"
    assert compare(results, "a", "c")["verdict"] == "no reliable difference" and compare(results, "a", "c")["gain"] == 0
    with pytest.raises(ValueError, match="same >= 2 seeds"):
        compare(results + run_methods({"a": _fake}, [5]), "a", "c")


def _constant(values):
    """A method whose ACC on seed s is ``values[s]`` (R's last row constant)."""
    return lambda s: MethodRun(torch.full((2, 2), values[s]), torch.zeros(2), 0.0)


def test_compare_uses_the_student_t_interval_not_two_standard_errors():
    # gains 0.2, 0.3, 0.7: mean 0.4, SE 0.153; 2 SE = 0.31 < 0.4 < t(0.975, 2) SE = 4.30 * 0.153 = 0.66
    results = run_methods({"a": _constant([0.2, 0.3, 0.7]), "zero": _constant([0.0, 0.0, 0.0])}, [0, 1, 2])
    c = compare(results, "a", "zero")
    assert math.isclose(c["gain"], 0.4, rel_tol=1e-6) and c["n"] == 3 and c["wins"] == 3
    assert math.isclose(c["t"], 4.302652729749464, rel_tol=1e-9)
    assert 2 * c["se"] < c["gain"] < c["t"] * c["se"]
    assert c["verdict"] == "no reliable difference"  # a 2-SE rule would have called this "better"
    half_width = c["t"] * c["se"]
    assert math.isclose(c["ci"][0], c["gain"] - half_width) and math.isclose(c["ci"][1], c["gain"] + half_width)
    # with 10 seeds the quantile shrinks to 2.26 and the same spread of gains is a finding
    ten = run_methods({"a": _constant([0.2, 0.3, 0.7] * 3 + [0.4]), "zero": _constant([0.0] * 10)}, list(range(10)))
    c10 = compare(ten, "a", "zero")
    assert math.isclose(c10["t"], 2.2621571627409915, rel_tol=1e-9) and c10["verdict"] == "better"


def test_ablation_runner_is_deterministic_per_seed():
    methods = ablation_methods(TINY, variants=["naive", "replay (prioritised)", "full agent + meta"],
                               num_tasks=2, train_size=16, test_size=16, eval_episodes=4)
    first = run_methods(methods, [0, 1], higher_is_better=False)
    second = run_methods(methods, [0, 1], higher_is_better=False)
    for a, b in zip(first, second):
        assert (a.method, a.seed) == (b.method, b.seed) and torch.equal(a.R, b.R)
        assert {k: v for k, v in a.metrics.items() if "seconds" not in k} == \
               {k: v for k, v in b.metrics.items() if "seconds" not in k}
    assert not torch.equal(first[0].R, first[3].R)  # naive on seed 0 versus seed 1


def test_ablation_variants_see_the_same_examples():
    methods = ablation_methods(TINY, num_tasks=3, train_size=16, test_size=16, eval_episodes=4)
    results = run_methods(methods, [0], higher_is_better=False)
    seen = {r.method: r.metrics["examples"] for r in results}
    per_step = (TINY.batch_size + TINY.replay_batch_size) * (TINY.context_size + TINY.query_size)
    budget = 3 * TINY.steps_per_task * per_step
    hook = (3 - 1) * TINY.meta_steps * TINY.meta_shots  # the meta variant's boundary steps, counted on top
    assert seen == {name: budget + (hook if name == "full agent + meta" else 0) for name in ABLATION_VARIANTS}
    table = results_table(results, ("acc", "examples"))
    assert table.splitlines()[0] == "| method | ACC | examples seen | seeds |" and f"| {budget:,} |" in table


def test_equal_budget_replay_step_trains_on_fewer_current_episodes(monkeypatch):
    from helpers.agent import ContinualAgent

    sizes = []
    original = ContinualAgent.train_step

    def spy(self, episode, task_id):
        sizes.append((task_id, episode["query_x"].shape[0]))
        return original(self, episode, task_id)

    monkeypatch.setattr(ContinualAgent, "train_step", spy)
    stream = make_main_stream(2, 16, 16, seed=0)
    fit_equal_budget(variant_config(TINY, "replay (uniform)", 0), stream, episodes=4)
    B, R = TINY.batch_size, TINY.replay_batch_size
    # first task: no replay yet, so all B + R episodes are current; then B current + R replayed
    assert sizes == [(0, B + R)] * TINY.steps_per_task + [(1, B)] * TINY.steps_per_task


def test_joint_variant_trains_on_all_tasks_seen():
    stream = make_main_stream(2, 16, 16, seed=0)
    run = fit_jointly(variant_config(TINY, "joint", 0), stream, episodes=4)
    assert run.R.shape == (2, 2) and torch.isfinite(run.R).all() and run.train_seconds >= 0


def test_variants_switch_components():
    assert variant_config(TINY, "memory only", 5) == dataclasses.replace(
        TINY, seed=5, use_memory=True, use_replay=False, use_meta=False)
    assert variant_config(TINY, "replay (uniform)", 0).alpha == 0.0
    assert set(ABLATION_VARIANTS) >= {"naive", "joint", "replay (uniform)", "replay (prioritised)", "memory only",
                                      "replay + memory", "full agent + meta"}


# --- the playground ---------------------------------------------------------------------------------

def test_fixed_read_sharpness_gives_beta_after_softplus():
    for beta in (0.1, 1.0, 10.0, 100.0):
        raw = FixedReadSharpness(beta, heads=2)(torch.zeros(3, 5, 7))
        assert raw.shape == (3, 5, 2)
        assert torch.allclose(torch.nn.functional.softplus(raw), torch.full((3, 5, 2), beta), rtol=1e-5)


def test_quick_experiment_is_deterministic():
    kwargs = {"beta": 3.0, "alpha": 0.0, "memory_size": 4, "replay_weight": 0.5, "steps_per_task": 2,
              "config": TINY, "num_tasks": 2, "train_size": 16, "test_size": 16, "eval_episodes": 4}
    a, b = quick_experiment(**kwargs), quick_experiment(**kwargs)
    assert a.R.shape == (2, 2) and torch.equal(a.R, b.R)


# --- bad input ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    ({"test_fraction": 0.0}, "test_fraction"),
    ({"test_fraction": 1.5}, "test_fraction"),
    ({"test_fraction": "0.2"}, "test_fraction"),
    ({"test_fraction": 0.001}, "empty"),
    ({"seed": -1}, "seed"),
])
def test_make_split_digits_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_split_digits(**kwargs)


def test_training_functions_reject_bad_input(digits):
    with pytest.raises(ValueError, match="scenario"):
        active_classes("domain", torch.tensor([0]), 1)
    with pytest.raises(ValueError, match="scenario"):
        train_split_digits(digits, "domain")
    with pytest.raises(ValueError, match="method"):
        train_split_digits(digits, "class", "ewc")
    with pytest.raises(ValueError, match="steps_per_task"):
        train_split_digits(digits, "class", "naive", steps_per_task=0)
    with pytest.raises(ValueError, match="tasks"):
        train_split_digits([], "class")
    with pytest.raises(ValueError, match="use_meta"):
        train_agent_on_digits(digits, "class", dataclasses.replace(TINY, use_meta=True))
    with pytest.raises(ValueError, match="exemplars_per_class"):
        train_agent_on_digits(digits, "class", TINY, exemplars_per_class=0)
    with pytest.raises(ValueError, match="use_replay"):
        fit_jointly(TINY, make_main_stream(2, 16, 16))
    with pytest.raises(ValueError, match="joint"):
        fit_equal_budget(TINY, make_main_stream(2, 16, 16), joint=True)
    assert SCENARIOS == ("task", "class")


def test_runner_rejects_bad_input():
    with pytest.raises(ValueError, match="methods"):
        run_methods({}, [0])
    with pytest.raises(TypeError, match=r"methods\['broken'\].*MethodRun.*NoneType"):
        run_methods({"a": _fake, "broken": lambda s: None}, [0])
    with pytest.raises(TypeError, match="broken.*dict"):
        run_methods({"broken": lambda s: {"R": torch.zeros(2, 2), "baseline": torch.zeros(2)}}, [0])
    with pytest.raises(ValueError, match="results"):
        results_table([])
    with pytest.raises(ValueError, match="results"):
        summarise([], ("acc",))
    with pytest.raises(TypeError, match="callable"):
        run_methods({"a": 3}, [0])
    for seeds in ([], [0, 0], [-1], [1.5], "01", [True]):
        with pytest.raises(ValueError, match="seeds"):
            run_methods({"a": _fake}, seeds)
    results = run_methods({"a": _fake}, [0])
    with pytest.raises(ValueError, match="no runs of method"):
        per_seed(results, "b", "acc")
    with pytest.raises(ValueError, match="metric"):
        per_seed(results, "a", "accuracy")
    with pytest.raises(ValueError, match="variant"):
        variant_config(TINY, "everything", 0)
    with pytest.raises(ValueError, match="variant"):
        ablation_methods(TINY, variants=["naive", "ewc"])


@pytest.mark.parametrize("kwargs, message", [
    ({"per_class": 0}, "per_class"),
    ({"per_class": 2.5}, "per_class"),
    ({"seen_tasks": 0}, "seen_tasks"),
    ({"seen_tasks": 6}, "seen_tasks"),
    ({"scenario": "domain"}, "scenario"),
])
def test_agent_digit_accuracies_rejects_bad_input(digits, kwargs, message):
    from helpers.agent import ContinualAgent

    agent = ContinualAgent(TINY, 64, 10)
    arguments = {"scenario": "class", "seen_tasks": 5, "per_class": 3} | kwargs
    with pytest.raises(ValueError, match=message):
        agent_digit_accuracies(agent, digits, **arguments)


@pytest.mark.parametrize("beta", [0.0, -1.0, float("nan"), float("inf"), True])
def test_playground_rejects_bad_beta(beta):
    with pytest.raises(ValueError, match="beta"):
        FixedReadSharpness(beta, heads=1)


def test_playground_rejects_bad_settings_through_the_agent_config():
    with pytest.raises(ValueError, match="alpha"):
        quick_experiment(alpha=1.5, config=TINY)
    with pytest.raises(ValueError, match="memory_size"):
        quick_experiment(memory_size=0, config=TINY)
    with pytest.raises(ValueError, match="replay_weight"):
        quick_experiment(replay_weight=-0.1, config=TINY)
