"""Faults injected into real runs: each ends with one line naming the problem and the fix, the
right exit code, no traceback, no process left behind, and nothing written that should not be.

Read-only folders are real read-only mounts (a tmpfs, as CI runs as root, which ignores mode
bits); those tests are skipped where mounting is not allowed.
"""

import multiprocessing
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

import optuna
import psutil
import pytest
from conftest import BASE_PARAMS, DIGITS_SOURCE, NAN_PARAMS, file_digest
from optuna.trial import TrialState

from sweeper.cli import main
from sweeper.errors import describe_failure
from sweeper.storage.storages import open_storage

RUN = ["run", "digits_space", "--trials", "2", "--max-epochs", "1", "--no-retrain"]


def one_line_error(capsys, code, got, *fragments):
    err = capsys.readouterr().err.strip()
    assert got == code, err
    assert err.count("\n") == 0 and "Traceback" not in err, err
    assert err.startswith("sweeper: error: ")
    for fragment in fragments:
        assert fragment in err, err
    return err


def no_process_left():
    workers = multiprocessing.active_children()  # also reaps those that have exited
    others = [
        p
        for p in psutil.Process().children(recursive=True)
        if "resource_tracker" not in " ".join(p.cmdline())
    ]
    assert not workers and not others, (workers, others)


@contextmanager
def read_only(folder: Path, contents: Path | None = None):
    """``folder`` as a read-only mount, holding a copy of ``contents``."""
    folder.mkdir(parents=True, exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(folder)]).returncode != 0:
        pytest.skip("mounting a tmpfs needs root")
    try:
        if contents is not None:
            shutil.copytree(contents, folder, dirs_exist_ok=True)
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """A results folder with a real two-trial digits_space study, run by one worker."""
    results = tmp_path_factory.mktemp("swept")
    assert main([*RUN, "--results-dir", str(results)]) == 0
    return results


def copy(swept, tmp_path):
    return Path(shutil.copytree(swept, tmp_path / "results"))


def test_a_read_only_results_folder_for_a_new_study(tmp_path, capsys):
    with read_only(tmp_path / "ro") as folder:
        code = main([*RUN, "--results-dir", str(folder)])
        one_line_error(capsys, 1, code, f"cannot write to {folder / 'digits_space'}", "writable")
        assert not any(folder.iterdir())
    no_process_left()


def test_a_read_only_folder_holding_an_existing_study(swept, tmp_path, capsys):
    before = file_digest(swept / "digits_space" / "study.journal")
    with read_only(tmp_path / "ro", swept) as folder:
        code = main([*RUN, "--trials", "4", "--results-dir", str(folder)])
        one_line_error(capsys, 1, code, "cannot write to", "Read-only file system")
        assert file_digest(folder / "digits_space" / "study.journal") == before
    no_process_left()


def test_report_into_a_read_only_folder(swept, tmp_path, capsys):
    with read_only(tmp_path / "ro", swept) as folder:
        code = main(["report", "digits_space", "--results-dir", str(folder)])
        one_line_error(capsys, 1, code, "cannot write to", "Read-only file system")


def test_an_unreachable_database_ends_the_run_at_once(tmp_path, capsys):
    url = "postgresql://nobody@127.0.0.1:1/db"
    code = main([*RUN, "--storage", url, "--results-dir", str(tmp_path)])
    one_line_error(capsys, 1, code, "cannot open storage postgresql://nobody@127.0.0.1:1/db")
    no_process_left()


def cut_last_record(journal: Path) -> int:
    """A crash mid-write: the last record loses its end and newline. Returns its line."""
    data = journal.read_bytes()
    journal.write_bytes(data[:-20])
    return data.count(b"\n")


def test_a_cut_journal_stops_the_run_and_repair_keeps_every_intact_record(swept, tmp_path, capsys):
    results = copy(swept, tmp_path)
    journal = results / "digits_space" / "study.journal"
    line = cut_last_record(journal)
    cut = file_digest(journal)
    args = [*RUN, "--trials", "3", "--results-dir", str(results)]

    code = main(args)
    one_line_error(
        capsys, 1, code, f"{journal} is damaged at line {line}", "sweeper repair digits_space"
    )
    assert file_digest(journal) == cut  # nothing written
    no_process_left()

    assert main(["report", "digits_space", "--results-dir", str(results)]) == 0
    warning = capsys.readouterr().err
    assert f"warning: study journal {journal} is damaged at line {line}" in warning

    assert main(["repair", "digits_space", "--results-dir", str(results)]) == 0
    assert f"dropped damaged line(s) {line}" in capsys.readouterr().out
    [aside] = (results / "digits_space").glob("study.journal.damaged-*")
    assert file_digest(aside) == cut  # the user's file, kept as it was

    assert main(args) == 0  # and the sweep goes on from the intact records
    study = optuna.load_study(
        study_name="digits_space", storage=open_storage(None, results / "digits_space")
    )
    assert not study.get_trials(states=(TrialState.RUNNING,))


MISFIT = DIGITS_SOURCE.replace(
    "keras.layers.Dense(data.num_classes, activation", "keras.layers.Dense(3, activation"
)


def test_a_model_whose_output_does_not_fit_the_classes_stops_before_any_trial(tmp_path, capsys):
    assert MISFIT != DIGITS_SOURCE
    space = tmp_path / "digits_space.py"
    space.write_text(MISFIT)
    results = tmp_path / "results"
    code = main(["run", str(space), "--trials", "2", "--results-dir", str(results)])
    one_line_error(capsys, 1, code, "the model outputs 3 units", "10 classes", "10 units")
    assert not results.exists()
    no_process_left()


def test_a_tensorflow_error_keeps_the_line_that_says_why(tmp_path, digits_data):
    """The objective alone (the pre-check bypassed): a real graph error from a misfit model."""
    import keras

    from sweeper.errors import TrialFailed
    from sweeper.space.loader import load_space
    from sweeper.training.objective import KerasObjective

    if keras.backend.backend() != "tensorflow":
        pytest.skip("the graph error is TensorFlow's")
    (tmp_path / "misfit.py").write_text(MISFIT)
    objective = KerasObjective(load_space(str(tmp_path / "misfit.py")), digits_data, max_epochs=1)
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial(BASE_PARAMS)
    with pytest.raises(TrialFailed) as failed:
        objective(study.ask())
    reason = str(failed.value)
    assert reason.startswith("InvalidArgumentError: Received a label value of "), reason
    assert reason.endswith("which is outside the valid range of [0, 3)."), reason


def test_out_of_memory_reasons_keep_the_tensor_and_device():
    # TensorFlow's own wording (its ResourceExhaustedError), as a string: a real OOM cannot
    # be had on a CPU test machine without taking it down.
    class ResourceExhaustedError(Exception):
        pass

    message = (
        "Graph execution error:\n\nDetected at node conv2d/Conv2D defined at (most recent "
        'call last):\n  File "train.py", line 3\n\nOOM when allocating tensor with '
        "shape[256,64,512,512] and type float on /job:localhost/replica:0/task:0/device:GPU:0 "
        "by allocator GPU_0_bfc\n\t [[{{node conv2d/Conv2D}}]]"
    )
    assert describe_failure(ResourceExhaustedError(message)) == (
        "out of memory allocating a float tensor of shape [256,64,512,512] on GPU:0"
    )


def test_nan_trials_print_no_keras_lines_and_the_log_says_only_what_happened(
    tmp_path, capsys, digits_space
):
    study = optuna.create_study(
        study_name="digits_space",
        direction="maximize",
        storage=open_storage(None, tmp_path / "digits_space"),
    )
    study.enqueue_trial(NAN_PARAMS)
    assert main([*RUN, "--in-process", "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "pruned   diverged (loss became NaN at epoch 1)" in out and "Invalid loss" not in out
    log = (tmp_path / "digits_space" / "sweep.log").read_text()
    assert "now failed: []" not in log and "queued for a retry: []" not in log


def test_the_no_study_hint_keeps_the_path_the_user_gave(tmp_path, capsys):
    space = tmp_path / "my_digits.py"
    space.write_text(DIGITS_SOURCE)
    code = main(["report", str(space), "--results-dir", str(tmp_path / "none")])
    one_line_error(capsys, 1, code, f"run `python -m sweeper run {space}` first")
