"""Where trials stand when a sweep weighs accuracy against cost: the Pareto ranks, the
constraints and the winner rule, on studies built by hand so every answer is known."""

import math

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from sweeper.errors import SweeperError
from sweeper.report.leaderboard import COST_COLUMNS, leaderboard
from sweeper.report.view import SweepView
from sweeper.results import ResultsDir
from sweeper.space.goals import Goal, parse_constraint, parse_goal, parse_rule
from sweeper.storage.standing import StudyGoals, pick_trial

# (val_accuracy, params) by trial number. The front (no trial at least as accurate and as
# small): 0, 1, 2, 5, 4. Trial 3 is beaten by 1 on both, 6 by 0: rank 2.
POINTS = {
    0: (0.95, 1000),
    1: (0.97, 3000),
    2: (0.98, 8000),
    3: (0.96, 4000),
    4: (0.99, 20000),
    5: (0.985, 9000),
    6: (0.94, 1500),
}
FRONT = {0, 1, 2, 4, 5}


def weighed_study(constraints=(), rule=None, directions=("maximize", "minimize")):
    """An in-memory study of the trials above, recorded as sweeper records them: values,
    metrics at the best epoch, measured costs; then a pruned and a failed trial."""
    study = optuna.create_study(directions=list(directions))
    goals = StudyGoals(
        (Goal("val_accuracy", "maximize"), Goal("params", "minimize"))[: len(directions)],
        tuple(parse_constraint(c) for c in constraints),
        parse_rule(rule) if rule else None,
    )
    if goals.several and rule is None:
        goals = StudyGoals(goals.goals, goals.constraints, parse_rule(DEFAULT_RULE))
    for key, value in {**goals.record(), "objective": "val_accuracy"}.items():
        study.set_user_attr(key, value)
    for accuracy, params in POINTS.values():
        study.add_trial(
            create_trial(
                values=[accuracy, params][: len(directions)],
                params={"units": params // 100},
                distributions={"units": optuna.distributions.IntDistribution(1, 1000)},
                user_attrs={
                    "metrics": {"val_accuracy": accuracy},
                    "costs": {"params": params, "latency_ms": params / 10000},
                    "best_epoch": 3,
                },
            )
        )
    study.add_trial(  # pruned at 0.5 (its history: Optuna records no values with several)
        create_trial(
            state=TrialState.PRUNED,
            params={"units": 5},
            distributions={"units": optuna.distributions.IntDistribution(1, 1000)},
            user_attrs={
                "history": {"val_accuracy": [0.3, 0.5]},
                "costs": {"params": 500},
                "best_epoch": 2,
            },
        )
    )
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={"fail_reason": "boom"}))
    return study


DEFAULT_RULE = "min params within 0.005 of val_accuracy"


def test_the_front_of_a_hand_built_study_is_exactly_the_undominated_trials():
    study = weighed_study()
    ranks = StudyGoals.of(study).pareto_ranks(study.trials)
    assert {n for n, rank in ranks.items() if rank == 1} == FRONT
    assert ranks[3] == ranks[6] == 2
    assert 7 not in ranks and 8 not in ranks  # pruned and failed trials are not ranked
    # Optuna's own front agrees.
    assert {t.number for t in study.best_trials} == FRONT

    frame = leaderboard(study)
    front = frame[frame["pareto_rank"] == 1]
    assert set(front["trial"]) == FRONT
    # Ranked by Pareto rank, then accuracy; then the pruned trial (its best reported value,
    # from its history) and the failed one.
    assert frame["trial"].tolist() == [4, 5, 2, 1, 0, 3, 6, 7, 8]
    assert frame.loc[frame["trial"] == 7, "value"].item() == 0.5
    assert frame.loc[frame["trial"] == 4, "params"].item() == 20000
    assert list(frame.columns[4:5]) == ["pareto_rank"]
    assert set(COST_COLUMNS) <= set(frame.columns)


def test_the_default_rule_picks_the_smallest_within_half_a_point_of_the_best():
    study = weighed_study()
    choice = pick_trial(study)
    # Within 0.005 of 0.99 (trial 4, 20,000 parameters): trial 5, 0.985 with 9,000. The
    # difference is 0.005 to the last bit of a float (0.0050000000000000044): inside.
    assert choice.trial.number == 5
    assert choice.why == (
        "least params (9,000) of the 2 trials within 0.005 of the best val_accuracy (0.99, trial 4)"
    )


@pytest.mark.parametrize(
    ("rule", "chosen"),
    [
        ("min params within 0.02 of val_accuracy", 1),  # 0.97 and up: trials 1, 2, 4, 5
        ("min params within 0 of val_accuracy", 4),  # the best alone
        ("max params within 0.02 of val_accuracy", 4),
        ("min latency_ms within 0.011 of val_accuracy", 2),  # 0.979 and up: 2, 4, 5
    ],
)
def test_a_stated_rule_picks_as_it_says(rule, chosen):
    assert pick_trial(weighed_study(rule=rule)).trial.number == chosen


def test_a_constraint_keeps_a_trial_off_the_front_and_out_of_the_winners():
    study = weighed_study(constraints=["params<=10000"])
    goals = StudyGoals.of(study)
    assert [goals.feasible(t) for t in study.trials[:7]] == [True] * 4 + [False] + [True] * 2
    # Without trial 4 the best accuracy is 0.985 (trial 5): within 0.005, trials 2 and 5.
    assert pick_trial(study).trial.number == 2
    frame = leaderboard(study)
    # Kept on the leaderboard, marked, after every trial that keeps the constraints.
    assert frame["trial"].tolist() == [5, 2, 1, 0, 3, 6, 4, 7, 8]
    row = frame[frame["trial"] == 4].iloc[0]
    assert not row["feasible"] and pd_isna(row["pareto_rank"])
    assert frame.loc[frame["trial"] == 5, "feasible"].item()
    assert SweepView(study, ResultsDir.of("unused", "x")).best_trial.number == 5


def test_no_feasible_trial_is_one_line_that_names_the_constraint():
    study = weighed_study(constraints=["params<=100"])
    with pytest.raises(SweeperError, match=r"no completed trial of study .* keeps params<=100"):
        pick_trial(study)
    assert SweepView(study, ResultsDir.of("unused", "x")).winner_trial is None


def test_one_objective_picks_the_best_and_a_constraint_the_best_that_keeps_it():
    study = weighed_study(directions=("maximize",))
    assert pick_trial(study).trial.number == 4
    assert "pareto_rank" not in leaderboard(study)
    study = weighed_study(constraints=["latency_ms<=1"], directions=("maximize",))
    choice = pick_trial(study)
    assert choice.trial.number == 5
    assert choice.why == "the best val_accuracy (0.985), of the trials that keep latency_ms<=1"
    # With one objective, the library's front is the best trial.
    view = SweepView(weighed_study(directions=("maximize",)), ResultsDir.of("unused", "x"))
    assert view.pareto_front["trial"].tolist() == [4]


def tied_study(trials):
    """A one-objective study of (val_accuracy, val_loss, params) trials, recorded as sweeper
    records them."""
    study = optuna.create_study(direction="maximize")
    study.set_user_attr("objective", "val_accuracy")
    distributions = {
        "optimizer": optuna.distributions.CategoricalDistribution(["adam", "sgd"]),
        "learning_rate": optuna.distributions.FloatDistribution(1e-5, 1.0, log=True),
    }
    for accuracy, loss, params in trials:
        metrics = {"val_accuracy": accuracy, "val_loss": loss}
        study.add_trial(
            create_trial(
                value=accuracy,
                params=params,
                distributions={name: distributions[name] for name in params},
                user_attrs={"metrics": metrics, "best_epoch": 2},
            )
        )
    return study


def test_trials_tied_on_the_objective_go_to_the_gentlest_rate_for_their_optimizer():
    # Measured on the benchmark's tasks: among trials tied at the top, the one at the highest
    # rate re-trained worst from other seeds (recurrent task: Adam at 6e-2, the least
    # validation loss, re-tested at 0.26-0.51 where a gentler tied trial did at 0.998).
    study = tied_study(
        [
            (0.9, 0.1, {"optimizer": "adam", "learning_rate": 1e-4}),  # gentlest, not tied
            (1.0, 0.001, {"optimizer": "adam", "learning_rate": 6e-2}),  # least loss: 60x
            (1.0, 0.3, {"optimizer": "adam", "learning_rate": 1e-2}),  # 10x Adam's 1e-3
            (1.0, 0.2, {"optimizer": "sgd", "learning_rate": 2e-2}),  # 2x SGD's 1e-2
        ]
    )
    choice = pick_trial(study)
    assert choice.trial.number == 3
    assert choice.why == "the best val_accuracy (1); the gentlest learning rate of the 3 tied"
    # The leaderboard ranks the tie as the winner is chosen: rank 1 is the winner.
    assert leaderboard(study)["trial"].tolist() == [3, 2, 1, 0]


def test_tied_trials_without_a_learning_rate_go_to_the_earliest_not_the_least_loss():
    study = tied_study([(0.9, 0.1, {}), (1.0, 0.3, {}), (1.0, 0.001, {})])
    choice = pick_trial(study)
    assert choice.trial.number == 1
    assert choice.why == "the best val_accuracy (1); the earliest of the 2 tied"
    assert leaderboard(study)["trial"].tolist() == [1, 2, 0]


def test_a_winner_rule_breaks_its_ties_by_the_gentlest_rate_too():
    study = tied_study(
        [
            (1.0, 0.2, {"optimizer": "adam", "learning_rate": 1e-2}),
            (1.0, 0.2, {"optimizer": "sgd", "learning_rate": 2e-2}),
            (0.95, 0.2, {"optimizer": "adam", "learning_rate": 1e-4}),  # tied, less accurate
        ]
    )
    study.set_user_attr("winner_rule", "min val_loss within 0.1 of val_accuracy")
    assert pick_trial(study).trial.number == 1


def test_an_untied_best_trial_wins_whatever_its_rate():
    study = tied_study(
        [
            (1.0, 0.1, {"optimizer": "adam", "learning_rate": 6e-2}),
            (0.99, 0.1, {"optimizer": "adam", "learning_rate": 1e-4}),
        ]
    )
    assert pick_trial(study).why == "the best val_accuracy (1)"
    assert pick_trial(study).trial.number == 0


def test_the_library_view_gives_the_front_and_the_winner():
    view = SweepView(weighed_study(), ResultsDir.of("unused", "x"))
    assert set(view.pareto_front["trial"]) == FRONT
    assert view.winner_trial.number == 5
    assert view.best_trial.number == 4
    assert math.isclose(view.pareto_front["value"].max(), 0.99)


def test_a_study_without_recorded_goals_reads_as_its_one_objective():
    study = optuna.create_study(direction="minimize")
    study.set_user_attr("objective", "val_loss")
    goals = StudyGoals.of(study)
    assert goals.goals == (Goal("val_loss", "minimize"),)
    assert goals.constraints == () and goals.rule is None


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (parse_goal, "params", "objective 'params' needs a direction: params:max or params:min"),
        (parse_goal, "params:smallest", "not 'smallest'"),
        (parse_constraint, "latency_ms < two", "constraint 'latency_ms < two' does not parse"),
        (parse_constraint, "latency_ms=2", "write a cost or metric, <= or >=, and a number"),
        (parse_rule, "smallest params", "winner rule 'smallest params' does not parse"),
    ],
)
def test_bad_goals_are_one_line_each(parse, text, message):
    with pytest.raises(SweeperError, match=message):
        parse(text)


def test_constraints_and_rules_read_as_written():
    assert str(parse_constraint(" latency_ms <= 2 ")) == "latency_ms<=2"
    assert str(parse_constraint("val_accuracy>0.98")) == "val_accuracy>=0.98"
    assert parse_constraint("size_mb<=1.5").violation(2.0) == pytest.approx(0.5)
    assert parse_constraint("size_mb<=1.5").violation(None) == math.inf
    assert str(parse_rule("smallest size_mb within 1e-3 of val_loss")) == (
        "min size_mb within 0.001 of val_loss"
    )


def pd_isna(value) -> bool:
    import pandas as pd

    return bool(pd.isna(value))
