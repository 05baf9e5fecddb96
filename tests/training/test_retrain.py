"""The winner: re-trained on train + validation, tested once, saved as model + card."""

import dataclasses
import json
import subprocess
import sys
from datetime import datetime

import keras
import pytest
from conftest import copy_results, file_digest

from sweeper.cli import main
from sweeper.storage.storages import load_existing_study
from sweeper.training.retrain import retrain

JOURNAL_NAME = "study.journal"


@pytest.fixture
def results(mixed_results, tmp_path):
    return copy_results(mixed_results, tmp_path / "results")


def load_card(results):
    return json.loads((results / "digits_space" / "winner.json").read_text())


def assert_model_scores_the_card(results, data):
    card = load_card(results)
    model = keras.saving.load_model(results / "digits_space" / "winner.keras")
    scores = model.evaluate(
        data.x_test,
        data.y_test,
        batch_size=card["params"]["batch_size"],
        return_dict=True,
        verbose=0,
    )
    assert set(scores) == set(card["test_metrics"]) == {"accuracy", "loss"}
    for name, value in scores.items():
        assert value == pytest.approx(card["test_metrics"][name], abs=1e-5)
    return card, model


def test_retrain_the_best_trial(results, digits_data, capsys):
    journal = results / "digits_space" / JOURNAL_NAME
    before = file_digest(journal)
    assert main(["retrain", "digits_space", "--results-dir", str(results)]) == 0
    out = capsys.readouterr().out

    card, _ = assert_model_scores_the_card(results, digits_data)
    best = load_existing_study("digits_space", None, results / "digits_space").best_trial
    assert card["trial"] == best.number and card["state"] == "complete"
    assert card["params"] == best.params
    assert card["epochs"] == best.user_attrs["best_epoch"]
    assert card["seed"] == best.user_attrs["seed"]
    assert card["validation_metrics"] == {
        k: v for k, v in best.user_attrs["metrics"].items() if k.startswith("val_")
    }
    assert card["validation_metrics"]["val_accuracy"] == pytest.approx(best.value)
    assert card["train_examples"] == len(digits_data.x_train) + len(digits_data.x_val)
    assert card["test_examples"] == len(digits_data.x_test)
    assert card["test_metrics"]["accuracy"] > 0.8  # real training, beyond chance (0.1)
    assert {"python", "keras", "keras_backend", "optuna", "numpy"} <= set(card["versions"])
    assert datetime.fromisoformat(card["created"]).tzinfo is not None
    assert f"winner: trial {best.number} re-trained" in out
    assert f"accuracy {card['test_metrics']['accuracy']:.4f}" in out
    assert file_digest(journal) == before  # the study is only read

    page = (results / "digits_space" / "leaderboard.html").read_text()  # written again
    assert f"test accuracy <b>{card['test_metrics']['accuracy']:.4f}</b>" in page


def test_retrain_a_named_trial_replays_its_plateau_learning_rates(results, digits_data):
    # Trial 5 used ReduceLROnPlateau, which has no validation metric to watch on train + val.
    assert main(["retrain", "digits_space", "--trial", "5", "--results-dir", str(results)]) == 0
    card, model = assert_model_scores_the_card(results, digits_data)
    trial = load_existing_study("digits_space", None, results / "digits_space").trials[5]
    assert card["trial"] == 5 and card["params"]["lr_schedule"] == "plateau"
    assert card["epochs"] == trial.user_attrs["best_epoch"]
    rates = trial.user_attrs["history"]["learning_rate"]
    assert float(model.optimizer.learning_rate) == pytest.approx(rates[card["epochs"] - 1])


def test_retrain_a_pruned_trial(results, digits_data):
    assert main(["retrain", "digits_space", "--trial", "1", "--results-dir", str(results)]) == 0
    card, _ = assert_model_scores_the_card(results, digits_data)
    assert card["trial"] == 1 and card["state"] == "pruned" and card["epochs"] == 1


@pytest.mark.parametrize(
    "argv, code, message",
    [
        (["--trial", "99"], 2, "study 'digits_space' has no trial 99; its trials are 0 to 6"),
        (["--trial", "0"], 1, "trial 0 is pruned (loss became NaN at epoch 1) and has no best"),
        (["--trial", "6"], 1, "trial 6 is running and has no best epoch"),
    ],
)
def test_bad_trial_is_a_clear_error_and_writes_nothing(results, argv, code, message, capsys):
    before = sorted(p.name for p in (results / "digits_space").iterdir())
    assert main(["retrain", "digits_space", *argv, "--results-dir", str(results)]) == code
    err = capsys.readouterr().err.strip()
    assert message in err and err.count("\n") == 0
    assert sorted(p.name for p in (results / "digits_space").iterdir()) == before


def test_no_completed_trial_is_a_clear_error(failed_results, tmp_path, capsys):
    results = copy_results(failed_results, tmp_path / "results")
    assert main(["retrain", "digits_space", "--results-dir", str(results)]) == 1
    assert capsys.readouterr().err.strip() == (
        "sweeper: error: study 'digits_space' has no completed trial yet; run more trials, "
        "or name a pruned one with --trial N"
    )
    assert not (results / "digits_space" / "winner.json").exists()
    assert not (results / "digits_space" / "winner.keras").exists()


def test_missing_study_is_a_clear_error(tmp_path, capsys):
    assert main(["retrain", "digits_space", "--results-dir", str(tmp_path)]) == 1
    assert "no study 'digits_space'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_space_without_a_test_split_saves_the_model_without_test_metrics(results, digits_space):
    def no_test(data_dir=None):
        data = digits_space.load_data(data_dir)
        return dataclasses.replace(data, x_test=data.x_test[:0], y_test=data.y_test[:0])

    space = dataclasses.replace(digits_space, load_data=no_test)
    study = load_existing_study("digits_space", None, results / "digits_space")
    winner = retrain(space, study, results / "digits_space")
    assert winner.card["test_metrics"] is None and winner.card["test_examples"] == 0
    assert isinstance(keras.saving.load_model(winner.model_path), keras.Model)


def test_run_retrains_the_winner_at_its_end(tmp_path, capsys):
    assert (
        main(
            [
                "run",
                "digits_space",
                "--trials",
                "2",
                "--max-epochs",
                "2",
                "--results-dir",
                str(tmp_path),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    card = load_card(tmp_path)
    assert "digits_space: top 2 of 2 trials" in out
    assert f"winner: trial {card['trial']} re-trained for {card['epochs']} epochs" in out
    assert (tmp_path / "digits_space" / "winner.keras").is_file()


def test_retrain_is_reproducible_from_the_card(results, digits_data):
    """Same trial, same seed, same data: the same test scores (CPU)."""
    assert main(["retrain", "digits_space", "--trial", "2", "--results-dir", str(results)]) == 0
    first = load_card(results)["test_metrics"]
    assert main(["retrain", "digits_space", "--trial", "2", "--results-dir", str(results)]) == 0
    assert load_card(results)["test_metrics"] == pytest.approx(first, abs=1e-6)


def test_replayed_rates_follow_the_sweeps_reductions(digits_space, digits_data):
    """The replay itself, on rates that did drop (a 3-epoch sweep rarely plateaus)."""
    import optuna
    from conftest import BASE_PARAMS

    from sweeper.training.build import compile_model
    from sweeper.training.retrain import _replayed_rates

    params = {**BASE_PARAMS, "lr_schedule": "plateau", "plateau_factor": 0.5}
    rates = [0.01, 0.005, 0.0025]  # as ReduceLROnPlateau logs them, one per epoch
    trial = optuna.trial.create_trial(value=0.9, user_attrs={"history": {"learning_rate": rates}})
    keras.utils.set_random_seed(0)
    model, schedule_callbacks = compile_model(digits_space, params, digits_data, len(rates))
    assert schedule_callbacks  # ReduceLROnPlateau, which would need validation data
    history = model.fit(
        digits_data.x_train,
        digits_data.y_train,
        epochs=len(rates),
        callbacks=_replayed_rates(schedule_callbacks, trial),
        verbose=0,
    )
    assert history.history["learning_rate"] == pytest.approx(rates)


@pytest.mark.parametrize("trial", ["99999", "0"])  # no such trial; a failed one
def test_a_trial_that_cannot_be_retrained_is_refused_before_keras_loads(results, trial):
    """In a fresh interpreter: the refusal comes before TensorFlow's seconds of start-up, and
    leaves no retrain log behind."""
    code = (
        "import sys\n"
        "from sweeper.cli import main\n"
        f"code = main(['retrain', 'digits_space', '--trial', {trial!r}, "
        f"'--results-dir', {str(results)!r}])\n"
        "print(code, [m for m in ('keras', 'tensorflow') if m in sys.modules])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.split("\n")[-2] == f"{2 if trial == '99999' else 1} []", done.stderr
    assert "sweeper: error: " in done.stderr
    assert not (results / "digits_space" / "workers" / "retrain.log").exists()
