"""The tie benchmark reads the sweeper runs a sitting kept, finds the trials tied at the top
and re-trains the earliest and the rule's pick for real (a tiny generated regression, a few
seconds); here the kept runs are studies written by hand, so which trials tie is known."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import create_trial

from benchmarks import tied_winners
from tests.benchmarks.test_peers import TINY

ADAM = {"optimizer": "adam", "lr_schedule": "constant", "batch_size": 32, "clipping": "none"}
ADAM |= {"dropout": 0.0, "layers": 1, "units": 16}


def kept_run(kept, seed: int, trials: list[tuple[float, float]], history=None) -> None:
    """A sweeper run of the regression task as ``--keep`` leaves it: its study journal,
    with trials of (validation MAE, Adam's learning rate), recorded with ``history`` (each
    epoch's validation MAE) where one is given."""
    folder = kept / "friedman" / "sweeper" / f"seed{seed}" / "friedman_subset"
    folder.mkdir(parents=True)
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(folder / "study.journal"))
    )
    study = optuna.create_study(study_name=folder.name, storage=storage, direction="minimize")
    study.set_user_attr("objective", "val_mae")
    for mae, rate in trials:
        params = {**ADAM, "learning_rate": rate}
        distributions = {
            name: optuna.distributions.CategoricalDistribution([value])
            for name, value in params.items()
        }
        study.add_trial(
            create_trial(
                value=mae,
                params=params,
                distributions=distributions,
                user_attrs={"metrics": {"val_mae": mae}, "best_epoch": 2}
                | ({"history": {"val_mae": history}} if history else {}),
            )
        )


def friedman_row(out: str) -> list[str]:
    """The cells of the one table row the script printed for the regression task."""
    (row,) = [line for line in out.splitlines() if line.startswith("| friedman")]
    return [cell.strip() for cell in row.strip("|").split("|")]


def test_the_earliest_and_the_rules_pick_of_a_tie_are_re_trained_and_compared(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setitem(tied_winners.TASKS, "friedman", TINY)
    kept = tmp_path / "kept"
    kept_run(kept, 0, [(0.9, 1e-4), (0.5, 3e-2), (0.5, 1e-2), (0.5, 2e-2)])  # ties: 1, 2, 3
    kept_run(kept, 1, [(0.5, 3e-2), (0.6, 1e-3)])  # no tie
    tied_winners.main([str(kept), "--retests", "2"])
    out = capsys.readouterr().out
    cells = friedman_row(out)
    assert cells[:3] == ["friedman", "kept/sweeper seed 0", "3"]
    assert cells[3].startswith("1, adam at 0.03: ") and cells[4].startswith("2, adam at 0.01: ")
    earliest, rule = (float(cell.rsplit(": ", 1)[1]) for cell in cells[3:5])
    assert earliest > 0 and rule > 0  # re-trained for real: a test MAE each
    assert float(cells[5]) == pytest.approx(earliest - rule, abs=2e-4)  # lower MAE is better
    assert "friedman: 1 of 2 kept runs tie at the top; the rule picks another trial than " in out


def test_a_winner_tied_over_epochs_is_re_trained_to_the_first_and_the_latest(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setitem(tied_winners.TASKS, "friedman", TINY)
    kept = tmp_path / "kept"
    kept_run(kept, 0, [(0.5, 3e-2)], history=[0.9, 0.5, 0.7, 0.5, None])  # epochs 2 and 4
    tied_winners.main([str(kept), "--retests", "2"])
    out = capsys.readouterr().out
    cells = friedman_row(out)
    assert cells[:3] == ["friedman", "kept/sweeper seed 0", "0"]
    assert cells[3].startswith("2: ") and cells[4].startswith("4: ")
    first, latest = (float(cell.split(": ")[1]) for cell in cells[3:5])
    assert first > 0 and latest > 0 and first != latest  # re-trained for real, 2 and 4 epochs
    assert float(cells[5]) == pytest.approx(first - latest, abs=2e-4)  # lower MAE is better
    assert "friedman: the winner ties over several epochs at 1 of 1 kept runs; " in out


def test_a_task_without_ties_says_so(tmp_path, capsys):
    kept = tmp_path / "kept"
    kept_run(kept, 0, [(0.5, 3e-2), (0.6, 1e-3)], history=[0.7, 0.5, 0.6])
    tied_winners.main([str(kept), "--retests", "1"])
    out = capsys.readouterr().out
    assert "friedman: none of 1 kept runs ties at the top" in out
    assert "friedman: no winner of 1 kept runs ties over several epochs" in out


def test_a_folder_without_kept_sweeper_runs_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        tied_winners.main([str(tmp_path)])
    assert exit_info.value.code == 2
    assert "no kept sweeper run; fill it with search_efficiency.py --keep" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize("retests", ["0", "101"])
def test_a_number_of_re_trains_outside_the_shared_seeds_is_refused(tmp_path, capsys, retests):
    kept = tmp_path / "kept"
    kept_run(kept, 0, [(0.5, 3e-2), (0.5, 1e-3)])
    with pytest.raises(SystemExit) as exit_info:
        tied_winners.main([str(kept), "--retests", retests])
    assert exit_info.value.code == 2
    assert f"--retests {retests}: between 1 and 100" in capsys.readouterr().err
