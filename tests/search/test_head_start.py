"""What a new study starts from: starting points, --enqueue files and --warm-start."""

import dataclasses
import json

import fakes
import optuna
import pytest

from sweeper import Categorical, Float, Int, SpaceError, run_sweep
from sweeper.cli import main
from sweeper.cli.values import load_points
from sweeper.errors import UsageError
from sweeper.search.head_start import enqueue
from sweeper.space.loader import load_space
from sweeper.space.space import Space, Training
from sweeper.space.starting import complete, registry_points, starting_points
from sweeper.storage.record import STARTING_POINT, TrialRecord, counted


def test_a_range_middle_and_its_limits():
    assert Float("lr", 1e-4, 1e-2, log=True).center() == pytest.approx(1e-3)
    assert Float("dropout", 0.0, 0.5).center() == 0.25
    assert Int("filters", 16, 48, step=16).center() == 32
    assert Int("units", 32, 256, log=True).center() == 91
    assert Categorical("act", ("relu", "tanh")).center() == "relu"
    assert Float("dropout", 0.0, 0.5).problem_with(0.7) == "must lie in [0, 0.5]"
    assert (
        Int("filters", 16, 48, step=16).problem_with(20) == "must lie on the grid [16, 48] step 16"
    )
    assert Int("units", 1, 4).problem_with(2.0) == "must be a whole number in [1, 4]"
    assert Categorical("act", ("relu",)).problem_with("gelu") == "must be one of {relu}"
    assert Int("filters", 16, 48, step=16).problem_with(48) is None


def test_the_registry_starts_bolder_with_clipping_and_no_dropout_then_at_adams_setting():
    mnist = load_space("mnist_space")
    middle = {
        "lr_schedule": "constant",
        "batch_size": 128,  # the middle of (64, 128, 256)
        "dropout": 0.25,
        "filters": 32,
        "convs_per_block": 1,
        "batch_norm": False,
        "augment": True,
        "units": 91,
    }
    assert starting_points(mnist) == [
        {
            "optimizer": "adam",
            "learning_rate": 1e-2,
            "clipping": "clipnorm",
            "clip_threshold": 1.0,
            **middle,
            "dropout": 0.0,  # the range's low end: the bolder start regularizes least
        },
        {"optimizer": "adam", "learning_rate": 1e-3, "clipping": "none", **middle},
    ]
    # Without Adam, the next dependable optimizer the space declares, at its own setting.
    sgd = dataclasses.replace(mnist, training=Training(optimizers=("sgd", "nesterov")))
    bolder, well_worn = starting_points(sgd)
    assert well_worn["optimizer"] == bolder["optimizer"] == "nesterov"
    assert (well_worn["learning_rate"], well_worn["momentum"]) == (1e-2, 0.9)
    assert (bolder["learning_rate"], bolder["momentum"]) == (0.1, 0.9)
    # Clipping by another mode where the space has no clipnorm; none where it has no clipping.
    by_value = Training(clipping=("none", "clipvalue"))
    assert registry_points(by_value)[0]["clipping"] == "clipvalue"
    assert "clip_threshold" not in registry_points(Training(clipping=("none",)))[0]
    # The least dropout the space allows; none named where the space sweeps no dropout.
    assert registry_points(Training(dropout=(0.1, 0.4)))[0]["dropout"] == 0.1
    assert "dropout" not in registry_points(Training(dropout=None))[0]
    # Registry values outside the space's range move inside it; points that meet are one.
    narrow = Training(optimizers=("rmsprop", "sgd"), learning_rate=(1e-4, 5e-4), clipping=("none",))
    assert [p["optimizer"] for p in registry_points(narrow)] == ["rmsprop", "rmsprop"]
    first, second = starting_points(dataclasses.replace(mnist, training=narrow))
    assert first["learning_rate"] == second["learning_rate"] == 5e-4
    assert (first["dropout"], second["dropout"]) == (0.0, 0.25)  # they differ in dropout alone
    no_dropout = dataclasses.replace(narrow, dropout=None)
    (point,) = starting_points(dataclasses.replace(mnist, training=no_dropout))
    assert point["learning_rate"] == 5e-4


def test_a_space_declares_its_own_starting_points_or_none():
    mnist = load_space("mnist_space")
    own = dataclasses.replace(mnist, starting_points=[{"optimizer": "rmsprop", "units": 64}])
    (point,) = starting_points(own)
    assert point["optimizer"] == "rmsprop" and point["units"] == 64
    assert point["learning_rate"] == pytest.approx(10**-2.5)  # the middle of the log range
    assert starting_points(dataclasses.replace(mnist, starting_points=[])) == []
    with pytest.raises(SpaceError, match=r"units=1000 must lie in \[32, 256\] log"):
        dataclasses.replace(mnist, starting_points=[{"units": 1000}])
    with pytest.raises(SpaceError, match="unknown parameter 'layers'"):
        dataclasses.replace(mnist, starting_points=[{"layers": 2}])
    with pytest.raises(SpaceError, match="must be a list of"):
        dataclasses.replace(mnist, starting_points={"units": 64})
    # Queued, a space's own points are marked as the registry's are (the pruner lets them
    # train); a user's --enqueue point is not, even one that repeats a starting point.
    study = optuna.create_study(direction="maximize")
    enqueue(study, own, [{"units": 32}, {"optimizer": "rmsprop", "units": 64}], auto=True)
    assert [t.user_attrs for t in study.trials] == [{}, {}]
    study = optuna.create_study(direction="maximize")
    enqueue(study, own, [], auto=True)
    assert [t.user_attrs for t in study.trials] == [{STARTING_POINT: 1}]


def test_a_new_sweep_tries_the_starting_points_first(tmp_path):
    result = run_sweep(
        fakes.SPACE, n_trials=3, workers=None, results_dir=tmp_path, make_objective=fakes.quick
    )
    trials = result.study.trials
    # The fake space's middle, at a bolder rate than Adam's well-worn one, then at it; then
    # the sampler (the fake objective suggests x alone: the rates are in the queued values).
    assert [t.params["x"] for t in trials] == [0.5, 0.5, trials[2].params["x"]] != [0.5] * 3
    queued = [t.system_attrs["fixed_params"]["learning_rate"] for t in trials[:2]]
    assert queued == [1e-2, 1e-3]
    # Each marked with its number, which the default pruner reads: starting points train.
    assert [t.user_attrs.get(STARTING_POINT) for t in trials] == [1, 2, None]

    plain = run_sweep(
        fakes.SPACE,
        n_trials=3,
        workers=None,
        results_dir=tmp_path / "plain",
        starting_points=False,
        enqueue=[{"x": 0.125}],
        make_objective=fakes.quick,
    )
    assert plain.study.trials[0].params["x"] == 0.125
    assert STARTING_POINT not in plain.study.trials[0].user_attrs  # the user's: judged
    assert 0.5 not in [t.params["x"] for t in plain.study.trials]


def test_a_one_trial_sweep_queues_one_starting_point(tmp_path):
    result = run_sweep(
        fakes.SPACE, n_trials=1, workers=None, results_dir=tmp_path, make_objective=fakes.quick
    )
    (trial,) = result.study.trials  # no second start left queued behind the budget
    assert trial.system_attrs["fixed_params"]["learning_rate"] == 1e-2


def test_resuming_enqueues_nothing_again(tmp_path):
    run_sweep(
        fakes.SPACE, n_trials=2, workers=None, results_dir=tmp_path, make_objective=fakes.quick
    )
    resumed = run_sweep(
        fakes.SPACE, n_trials=4, workers=None, results_dir=tmp_path, make_objective=fakes.quick
    )
    # Both starts ran before; neither is queued again.
    queued = [t.system_attrs.get("fixed_params") for t in resumed.study.trials]
    assert [q["learning_rate"] for q in queued if q] == [1e-2, 1e-3]


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_enqueue_file_from_the_command_line(tmp_path, suffix):
    points = [{"optimizer": "sgd", "learning_rate": 0.05, "hidden_layers": 2}]
    path = tmp_path / f"points{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(points))
    else:
        path.write_text("- optimizer: sgd\n  learning_rate: 0.05\n  hidden_layers: 2\n")
    assert load_points(path) == points
    args = ["run", "digits_space", "--trials", "1", "--max-epochs", "1", "--in-process"]
    args += ["--no-retrain", "--results-dir", str(tmp_path / "r"), "--enqueue", str(path)]
    assert main(args) == 0
    study = optuna.load_study(study_name="digits_space", storage=_journal(tmp_path / "r"))
    first = study.trials[0].params
    assert (first["optimizer"], first["learning_rate"], first["hidden_layers"]) == (
        "sgd",
        0.05,
        2,
    )


def _journal(results):
    from sweeper.storage.storages import open_storage

    return open_storage(None, results / "digits_space")


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "is not valid JSON or YAML"),
        ('{"optimizer": "adam"}', "must hold a list of {parameter: value} objects"),
        ('[{"learning_rate": 5.0}]', "--enqueue entry 1: learning_rate=5.0 must lie in"),
        ('[{"optimizr": "adam"}]', "--enqueue entry 1: unknown parameter 'optimizr'"),
    ],
)
def test_a_bad_enqueue_file_is_one_line_and_writes_nothing(tmp_path, capsys, content, message):
    path = tmp_path / "points.json"
    path.write_text(content)
    results = tmp_path / "results"
    code = main(["run", "digits_space", "--results-dir", str(results), "--enqueue", str(path)])
    err = capsys.readouterr().err.strip()
    assert code != 0 and message in err and len(err.splitlines()) == 1
    assert not results.exists()


def test_warm_start_seeds_a_new_sweep_with_an_earlier_one(tmp_path):
    earlier = run_sweep(
        fakes.SPACE,
        n_trials=5,
        workers=None,
        results_dir=tmp_path / "earlier",
        make_objective=fakes.quick,
    )
    later = run_sweep(
        fakes.SPACE,
        n_trials=2,
        workers=None,
        results_dir=tmp_path / "later",
        warm_start=tmp_path / "earlier",
        make_objective=fakes.quick,
    )
    trials = later.study.trials
    warm = [t for t in trials if TrialRecord.of(t).warm_start_from]
    assert [t.params for t in warm] == [t.params for t in earlier.study.trials]
    assert [t.value for t in warm] == [t.value for t in earlier.study.trials]
    assert len(trials) == 7 and counted(trials) == 2  # the earlier trials cost no budget
    assert TrialRecord.of(warm[0]).warm_start_from == str(tmp_path / "earlier")
    # The earlier best is known from the start; new trials come after the warm ones.
    assert later.study.best_value >= earlier.study.best_value
    assert all(t.number >= 5 for t in trials if not TrialRecord.of(t).warm_start_from)


def test_warm_start_keeps_only_trials_that_fit_the_ranges(tmp_path):
    run_sweep(
        fakes.SPACE,
        n_trials=6,
        workers=None,
        results_dir=tmp_path / "a",
        make_objective=fakes.quick,
    )
    narrow = dataclasses.replace(fakes.SPACE, params=[Float("x", 0.0, 0.5)], starting_points=[])
    later = run_sweep(
        narrow,
        n_trials=1,
        workers=None,
        results_dir=tmp_path / "b",
        warm_start=tmp_path / "a",
        make_objective=fakes.quick,
    )
    warm = [t for t in later.study.trials if TrialRecord.of(t).warm_start_from]
    assert warm and all(t.params["x"] <= 0.5 for t in warm)
    assert all(t.distributions["x"].high == 0.5 for t in warm)


@pytest.mark.parametrize("source", ["missing", "itself"])
def test_a_bad_warm_start_is_refused_before_anything_is_written(tmp_path, source):
    where = tmp_path / "nowhere" if source == "missing" else tmp_path
    message = "no study 'fake_space'" if source == "missing" else "this sweep's own study"
    with pytest.raises(UsageError, match=message):
        run_sweep(
            fakes.SPACE,
            n_trials=1,
            workers=None,
            results_dir=tmp_path,
            warm_start=where,
            make_objective=fakes.quick,
        )
    assert not (tmp_path / "fake_space").exists()


def test_registry_points_follow_the_declared_optimizers():
    space = Space(
        build_model=fakes.build_model,
        load_data=fakes.load_data,
        training=Training(optimizers=("adagrad", "momentum"), schedules=("cosine",)),
    )
    point = starting_points(space)[0]
    assert (point["optimizer"], point["lr_schedule"]) == ("momentum", "cosine")
    assert complete(space, {})["optimizer"] == "adagrad"  # the first choice
