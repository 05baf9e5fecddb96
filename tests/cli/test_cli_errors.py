"""Bad input: one clear line, the right exit code, and the existing study untouched."""

import pytest
from conftest import DIGITS_SOURCE, file_digest

import sweeper.space.data
from sweeper.cli import main


@pytest.fixture(scope="module")
def existing(tmp_path_factory):
    """A results folder holding a real two-trial digits_space study."""
    results = tmp_path_factory.mktemp("results")
    assert (
        main(
            [
                "run",
                "digits_space",
                "--trials",
                "2",
                "--max-epochs",
                "1",
                "--no-retrain",
                "--results-dir",
                str(results),
            ]
        )
        == 0
    )
    return results


def broken_copy(tmp_path, old, new):
    """digits_space.py with one edit, under the same name, so it maps to the same study."""
    assert old in DIGITS_SOURCE
    path = tmp_path / "digits_space.py"
    path.write_text(DIGITS_SOURCE.replace(old, new))
    return str(path)


TRAINING = "training=Training(batch_sizes=(16, 32, 64), learning_rate=(1e-3, 3e-1))"
CASES = {
    "unknown space": (lambda tmp: "no_such_space", [], 2, "unknown search space 'no_such_space'"),
    "syntax error": (
        lambda tmp: broken_copy(
            tmp, "def build_model(params, data: Dataset):", "def build_model(params, data: Dataset:"
        ),
        [],
        1,
        "syntax error at line",
    ),
    "low > high": (
        lambda tmp: broken_copy(tmp, "learning_rate=(1e-3, 3e-1)", "learning_rate=(3e-1, 1e-3)"),
        [],
        1,
        "parameter 'learning_rate': low must not exceed high",
    ),
    "log range touching 0": (
        lambda tmp: broken_copy(tmp, "learning_rate=(1e-3, 3e-1)", "learning_rate=(0, 3e-1)"),
        [],
        1,
        "log-scale range must stay above 0",
    ),
    "unknown optimizer": (
        lambda tmp: broken_copy(
            tmp, TRAINING, TRAINING.replace("Training(", "Training(optimizers=('adam', 'lion'), ")
        ),
        [],
        1,
        "unknown optimizer 'lion'",
    ),
    "unknown schedule": (
        lambda tmp: broken_copy(
            tmp, TRAINING, TRAINING.replace("Training(", "Training(schedules=('cyclic',), ")
        ),
        [],
        1,
        "unknown schedule 'cyclic'",
    ),
    "data loader crashes": (
        lambda tmp: broken_copy(
            tmp, "digits = load_digits()", "raise FileNotFoundError('digits.csv')"
        ),
        [],
        1,
        "could not load its data (FileNotFoundError: digits.csv)",
    ),
    "unknown sampler": (
        lambda tmp: "digits_space",
        ["--sampler", "bayes"],
        2,
        "invalid choice: 'bayes'",
    ),
    "unknown pruner": (
        lambda tmp: "digits_space",
        ["--pruner", "asha"],
        2,
        "invalid choice: 'asha'",
    ),
    "zero trials": (lambda tmp: "digits_space", ["--trials", "0"], 2, "must be at least 1"),
    "malformed storage URL": (
        lambda tmp: "digits_space",
        ["--storage", "study.sqlite3"],
        2,
        "bad storage 'study.sqlite3'",
    ),
    "zero workers": (lambda tmp: "digits_space", ["--workers", "0"], 2, "must be at least 1"),
    # Checked by the library's configuration, which names the setting; the CLI names the flag.
    "negative seed": (
        lambda tmp: "digits_space",
        ["--seed", "-1"],
        2,
        "sweeper: error: --seed must be at least 0, but got -1",
    ),
    "bad GPU list": (
        lambda tmp: "digits_space",
        ["--gpus", "0,0"],
        2,
        "expected distinct GPU numbers",
    ),
    "too many workers per GPU": (
        lambda tmp: "digits_space",
        ["--gpus", "0", "--workers", "3", "--trials-per-gpu", "2"],
        2,
        "raise --trials-per-gpu to 3",
    ),
    "workers with --in-process": (
        lambda tmp: "digits_space",
        ["--in-process", "--workers", "2"],
        2,
        "--in-process runs no workers",
    ),
    # Objectives, constraints and the winner rule (accuracy against cost).
    "objective without a direction": (
        lambda tmp: "digits_space",
        ["--objective", "params"],
        2,
        "sweeper: error: objective 'params' needs a direction: params:max or params:min",
    ),
    "unknown objective": (
        lambda tmp: "digits_space",
        ["--objective", "val_accuracy:max", "--objective", "flops:min"],
        1,
        "objective 'flops' is neither a metric this space reports nor a cost sweeper measures; "
        "choose from loss, val_loss, accuracy, val_accuracy, params, size_mb",
    ),
    "a cost as the first objective": (
        lambda tmp: "digits_space",
        ["--objective", "params:min", "--objective", "val_accuracy:max"],
        1,
        "so it must be a metric, not the cost 'params'; put costs after it",
    ),
    "objective without a direction, in the space": (
        lambda tmp: broken_copy(
            tmp, 'objective="val_accuracy",', 'objectives=["val_accuracy:max", "params"],'
        ),
        [],
        1,
        "objective 'params' needs a direction: params:max or params:min",
    ),
    "constraint that does not parse": (
        lambda tmp: "digits_space",
        ["--constraint", "latency_ms < two"],
        2,
        "constraint 'latency_ms < two' does not parse; write a cost or metric, <= or >=, and a "
        "number, such as latency_ms<=2",
    ),
    "constraint on something not measured": (
        lambda tmp: "digits_space",
        ["--constraint", "latency<=2"],
        1,
        "constraint on 'latency' is neither a metric this space reports nor a cost",
    ),
    "rule that names something not measured": (
        lambda tmp: "digits_space",
        ["--winner", "min flops within 0.01 of val_accuracy"],
        1,
        "the winner rule's measure 'flops' is neither a metric this space reports nor a cost",
    ),
    "rule near something not an objective": (
        lambda tmp: "digits_space",
        ["--winner", "min params within 0.01 of val_loss"],
        1,
        "the winner rule stays near 'val_loss', which is not an objective of this sweep; name "
        "one of val_accuracy",
    ),
    "a one-objective pruner with two objectives": (
        lambda tmp: "digits_space",
        ["--objective", "val_accuracy:max", "--objective", "params:min", "--pruner", "hyperband"],
        2,
        "--pruner hyperband judges one objective (Optuna prunes single-objective studies only)",
    ),
    "CMA-ES with two objectives": (
        lambda tmp: "digits_space",
        ["--objective", "val_accuracy:max", "--objective", "params:min", "--sampler", "cmaes"],
        2,
        "--sampler cmaes optimizes one objective",
    ),
    "KerasTuner with two objectives": (
        lambda tmp: "digits_space",
        ["--objective", "val_accuracy:max", "--objective", "params:min", "--engine", "kerastuner"],
        2,
        "KerasTuner's oracles optimize one objective, and this sweep has 2",
    ),
    "resumed for other objectives": (
        lambda tmp: "digits_space",
        ["--objective", "val_accuracy:max", "--objective", "params:min"],
        1,
        "study 'digits_space' in this storage was created for val_accuracy:max, but this sweep "
        "asks for val_accuracy:max, params:min; sweep it as it was created",
    ),
    "unreachable database": (
        lambda tmp: "digits_space",
        ["--storage", "postgresql://sweeper@127.0.0.1:1/sweeps"],
        1,
        "cannot open storage postgresql://sweeper@127.0.0.1:1/sweeps",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_fails_clearly_and_leaves_the_study_alone(case, existing, tmp_path, capsys):
    space_ref, extra, code, message = CASES[case]
    journal = existing / "digits_space" / "study.journal"
    before = file_digest(journal), sorted(p.name for p in existing.iterdir())
    argv = ["run", space_ref(tmp_path), *extra, "--results-dir", str(existing)]
    assert main(argv) == code
    err = capsys.readouterr().err
    assert message in err
    assert err.strip().splitlines()[-1].startswith(("sweeper: error:", "usage:", "sweeper run:"))
    assert (file_digest(journal), sorted(p.name for p in existing.iterdir())) == before


def test_missing_mnist_without_network_fails_before_creating_anything(
    tmp_path, monkeypatch, capsys
):
    # Stands in for Keras' download so the test means "offline" on machines with a network too.
    def offline():
        raise OSError("URL fetch failure: no network")

    monkeypatch.setattr(sweeper.space.data, "_download_mnist", offline)
    empty = tmp_path / "data"
    empty.mkdir()
    results = tmp_path / "results"
    assert (
        main(["run", "mnist_space", "--data-dir", str(empty), "--results-dir", str(results)]) == 1
    )
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert f"MNIST not found: no mnist.npz in {empty}" in err
    assert "--data-dir or set SWEEPER_DATA_DIR" in err
    assert not results.exists()


def test_spaces_and_show_commands(capsys):
    assert main(["spaces"]) == 0
    out = capsys.readouterr().out
    assert "mnist_space" in out and "digits_space" in out
    assert main(["show", "mnist_space"]) == 0
    out = capsys.readouterr().out
    assert "maximize val_accuracy" in out
    assert "weight_decay" in out and "optimizer = adamw" in out
    assert "starting point 1: optimizer=adam learning_rate=0.01 " in out
    assert "starting point 2: optimizer=adam learning_rate=0.001 " in out
    assert "clipping=clipnorm clip_threshold=1 " in out
    assert "starting point 3" not in out
    assert main(["show", "nope"]) == 2


def test_usage_errors_exit_2():
    assert main([]) == 2
    assert main(["run"]) == 2
    assert main(["fly"]) == 2


def test_flags_left_out_mean_the_library_defaults():
    """`sweeper run SPACE` with no flags sweeps as `SweepConfig()` does: the CLI's defaults
    may not drift from the library's (the default pruner changed once in both by hand)."""
    from sweeper.cli.commands import _config
    from sweeper.cli.parser import DEFAULT, build_parser
    from sweeper.config import SweepConfig

    parser = build_parser()
    assert _config(parser.parse_args(["run", "digits_space"])) == SweepConfig()
    for command in (["worker", "digits_space", "--storage", "x.journal"], ["report", "x"]):
        assert parser.parse_args(command).results_dir == str(DEFAULT.results_dir)


@pytest.mark.parametrize(
    "argv, says",
    [
        (["--trials", "0"], "argument --trials: must be at least 1, but got 0"),
        (["--timeout", "abc"], "argument --timeout: expected a number, but got 'abc'"),
        (["--sampler", "nosuch"], "argument --sampler: invalid choice: 'nosuch'"),
    ],
)
def test_a_bad_flag_value_is_one_line_pointing_to_help(argv, says, capsys, tmp_path):
    assert main(["run", "digits_space", "--results-dir", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "usage:" not in err  # not argparse's usage block
    assert err.startswith(f"sweeper run: error: {says}")
    assert err.rstrip().endswith("see `sweeper run --help`")
    assert not list(tmp_path.iterdir())


def test_run_help_groups_the_options_and_shows_each_default(capsys):
    assert main(["run", "--help"]) == 0
    out = capsys.readouterr().out
    titles = [line for line in out.splitlines() if line.endswith(":") and " " not in line]
    assert titles[-5:] == ["search:", "training:", "placement:", "storage:", "output:"]
    for shown in ("(default: tpe)", "(default: epoch_behind)", "(default: 0)", "(default: 60)"):
        assert shown in " ".join(out.split()), shown
