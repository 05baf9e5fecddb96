"""The search-efficiency benchmark's own logic: which tools a sitting runs, how a --variant
reaches sweeper, and the figures its table and plot report. Its searches themselves take
minutes each and run by hand (README: Benchmarks); here they are replaced by records whose
times and values are known."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import subprocess
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "search_efficiency.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("search_efficiency", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_default_sitting_is_sweeper_and_the_three_peers(bench):
    tools = bench.sitting_tools(bench.parse_args([]))
    assert tools == ["sweeper", "optuna", "kerastuner", "random"]


def test_before_and_variants_join_the_sitting(bench):
    variants = ["--variant", "--workers 2", "--variant=--in-process"]
    args = bench.parse_args(["--tools", "sweeper", "--before", "old", *variants])
    assert bench.sitting_tools(args) == [
        "sweeper",
        "sweeper-before",
        "sweeper --workers 2",
        "sweeper --in-process",
    ]


def test_a_sitting_of_variants_alone_runs_no_other_tool(bench, capsys):
    args = bench.parse_args(["--tools", "--variant=--no-starting-points"])
    assert bench.sitting_tools(args) == ["sweeper --no-starting-points"]
    with pytest.raises(SystemExit) as exit_info:
        bench.parse_args(["--tools"])
    assert exit_info.value.code == 2
    assert "name at least one tool, or add --before DIR or --variant" in capsys.readouterr().err


def test_a_variant_that_cannot_be_split_is_refused_before_the_sitting(bench, capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.parse_args(["--variant", "--enqueue 'my points.json"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert '--variant "--enqueue \'my points.json": No closing quotation' in error


def test_a_variant_runs_sweeper_with_its_flags(bench, monkeypatch):
    calls = []

    def fake_sweeper(task, seed, budget, folder, env, cwd=None, flags=()):
        calls.append((task, seed, flags))
        return {"events": [], "trials": 0, "epochs": 0, "winner_test": 0.5, "winner": {}}

    monkeypatch.setattr(bench, "run_sweeper", fake_sweeper)
    args = bench.parse_args(["--budget", "5"])
    run = bench.run_one("sweeper --enqueue 'my points.json' --workers 2", "mnist", 3, args)
    assert calls == [("mnist", 3, ["--enqueue", "my points.json", "--workers", "2"])]
    assert run["tool"] == "sweeper --enqueue 'my points.json' --workers 2"


def test_keep_leaves_each_run_in_a_folder_of_its_own(bench, monkeypatch, tmp_path):
    folders = []

    def fake_sweeper(task, seed, budget, folder, env, cwd=None, flags=()):
        (folder / "study.journal").write_text("kept")
        folders.append(folder)
        return {"events": [], "trials": 0, "epochs": 0, "winner_test": 0.5, "winner": {}}

    monkeypatch.setattr(bench, "run_sweeper", fake_sweeper)
    args = bench.parse_args(["--budget", "5", "--keep", str(tmp_path / "kept")])
    bench.run_one("sweeper", "mnist", 3, args)
    bench.run_one("sweeper --workers 2", "fashion", 0, args)
    assert folders == [
        tmp_path / "kept" / "mnist" / "sweeper" / "seed3",
        tmp_path / "kept" / "fashion" / "sweeper_--workers_2" / "seed0",
    ]
    assert all((folder / "study.journal").read_text() == "kept" for folder in folders)


def test_keep_refuses_a_folder_an_earlier_sitting_filled(bench, tmp_path, capsys):
    (tmp_path / "mnist").mkdir()
    with pytest.raises(SystemExit) as exit_info:
        bench.parse_args(["--keep", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "the folder is not empty; keep each sitting apart" in capsys.readouterr().err


def test_retests_re_train_each_winner_on_seeds_every_tool_shares(bench, monkeypatch):
    specs = []

    def fake_sweeper(task, seed, budget, folder, env, cwd=None, flags=()):
        winner = {"optimizer": "adam", "learning_rate": 1e-3}
        return {
            "events": [],
            "trials": 1,
            "epochs": 9,
            "winner_test": 0.98,
            "winner": winner,
            "winner_epochs": 7,
        }

    def fake_retest(command, **kwargs):  # the --retest process: here, what it was given
        spec_file = Path(command[command.index("--retest") + 1])
        spec = json.loads(spec_file.read_text())
        specs.append(spec)
        spec_file.write_text(json.dumps({**spec, "tests": [0.981, 0.983]}))
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(bench, "run_sweeper", fake_sweeper)
    monkeypatch.setattr(bench.subprocess, "run", fake_retest)
    args = bench.parse_args(["--budget", "5", "--retests", "2"])
    run = bench.run_one("sweeper", "fashion", 4, args)
    assert specs == [
        {
            "task": "fashion",
            "params": {"optimizer": "adam", "learning_rate": 1e-3},
            "seeds": [1000, 1001],
            "trained_as": "sweeper",  # as sweeper re-trains its winner
            "epochs": 7,
        }
    ]
    assert run["retests"] == [0.981, 0.983]
    unretested = {**run, "tool": "optuna", "retests": []}  # e.g. merged from another sitting
    table = bench.table([run, unretested], "fashion", (0.8,))
    assert table.splitlines()[0].endswith("| winner test | its mean over 2 re-trains |")
    assert "| 0.9800 | 0.9820 |" in table


def test_a_retest_trains_the_configuration_for_real_and_a_seed_repeats_it(
    bench, monkeypatch, tmp_path
):
    from benchmarks.spaces import tasks
    from sweeper import Dataset

    # Generated images of MNIST's shape: the real model, optimizer and fit, in seconds.
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 160)
    x = (rng.random((160, 28, 28, 1)) * 0.2 + y[:, None, None, None] / 10).astype("float32")
    data = Dataset(x[:80], y[:80], x[80:120], y[80:120], x[120:], y[120:], num_classes=10)
    mnist = dataclasses.replace(tasks.TASKS["mnist"], load=lambda data_dir=None: data)
    monkeypatch.setitem(bench.TASKS, "mnist", mnist)
    params = {"optimizer": "adam", "learning_rate": 1e-3, "batch_size": 32, "clipping": "none"}
    spec = tmp_path / "retest.json"
    seeds = [1000, 1001, 1000]
    winner = {"task": "mnist", "params": {**params, "dropout": 0.1, "filters": 16, "units": 32}}
    spec.write_text(json.dumps({**winner, "epochs": 2, "seeds": seeds}))
    bench.retest(spec)
    tests = json.loads(spec.read_text())["tests"]
    assert len(tests) == 3 and all(0.0 <= t <= 1.0 for t in tests)
    assert tests[0] == tests[2]  # the shared seeds make each tool's re-trains comparable


def test_a_kerastuner_winner_continued_by_hyperband_re_trains_for_all_its_epochs(bench):
    import keras_tuner as kt

    # KerasTuner's own trial records, as Hyperband leaves them: a first-round trial, and one
    # continued from epoch 3 (an earlier round's checkpoint) whose best was its first epoch.
    def trial(best_step, **tuner_values):
        hp = kt.HyperParameters()
        for name, value in tuner_values.items():
            hp.Fixed(f"tuner/{name}", value)
        made = kt.engine.trial.Trial(hp)
        made.best_step = best_step
        return made

    assert bench.kerastuner_best_epochs(trial(4)) == 5
    assert bench.kerastuner_best_epochs(trial(0, initial_epoch=3, epochs=9)) == 4  # was 1


def _run(tool, seed, events, test=0.97, epoch_events=None):
    return {
        "tool": tool,
        "task": "mnist",
        "seed": seed,
        "events": events,
        "epoch_events": events if epoch_events is None else epoch_events,
        "trials": len(events),
        "epochs": 9 * len(events),
        "winner_test": test,
    }


def test_time_to_a_target_is_the_first_completion_reaching_it(bench):
    events = [(12.0, 0.95), (20.0, None), (30.0, 0.961), (40.0, 0.958), (50.0, 0.972)]
    assert bench.best_curve(events) == [(12.0, 0.95), (30.0, 0.961), (50.0, 0.972)]
    assert bench.time_to(events, 0.96) == 30.0
    assert bench.time_to(events, 0.97) == 50.0
    assert math.isinf(bench.time_to(events, 0.98))
    # A float32 accuracy of exactly 84.0 % (840 of 1,000) reaches 0.84.
    assert bench.time_to([(12.0, float(np.float32(0.84)))], 0.84) == 12.0


def test_the_table_has_a_row_per_run_and_medians_per_tool(bench):
    runs = [
        _run("sweeper", 0, [(15.0, 0.961), (30.0, 0.972)]),
        _run("sweeper", 1, [(14.0, 0.963)]),
        _run("sweeper", 2, [(16.0, 0.962), (40.0, 0.971)]),
        _run("sweeper --workers 2", 0, [(20.0, 0.955)], test=0.96),
    ]
    lines = bench.table(runs, "mnist", (0.96, 0.97)).splitlines()
    assert lines[0] == (
        "| tool | seed | trials | epochs | best val | to 96.0% | to 97.0% | winner test |"
    )
    assert "| sweeper | 1 | 1 | 9 | 0.9630 | 14 s | never | 0.9700 |" in lines
    median = next(line for line in lines if line.startswith("| **sweeper** median"))
    # Times to 96 %: 15, 14, 16 -> 15 (14..16); to 97 %: 30, never, 40 -> 40, no spread.
    assert "| 15 s (14..16) | 40 s |" in median
    variant = next(line for line in lines if line.startswith("| **sweeper --workers 2** median"))
    assert "| never | never | 0.9600 (0.9600..0.9600) |" in variant


def test_a_target_is_timed_at_the_epoch_that_reached_it_or_at_its_trials_end(bench):
    # One trial ending at 30 s that passed 96 % at its epoch ending at 18 s.
    epochs = [(12.0, 0.95), (18.0, 0.965), (30.0, 0.971)]
    runs = [_run("sweeper", 0, [(30.0, 0.971)], epoch_events=epochs)]
    by_epoch = bench.table(runs, "mnist", (0.96, 0.97))
    assert "| sweeper | 0 | 1 | 9 | 0.9710 | 18 s | 30 s | 0.9700 |" in by_epoch
    by_trial = bench.table(runs, "mnist", (0.96, 0.97), clock="trial")
    assert "| sweeper | 0 | 1 | 9 | 0.9710 | 30 s | 30 s | 0.9700 |" in by_trial


def test_a_run_recorded_without_its_epochs_times_says_it_is_timed_at_trial_ends(
    bench, tmp_path, capsys
):
    older = {**_run("optuna", 0, [(25.0, 0.975)]), "epoch_events": None}
    timed = _run("sweeper", 0, [(30.0, 0.971)], epoch_events=[(18.0, 0.965), (30.0, 0.971)])
    saved = tmp_path / "runs.json"
    saved.write_text(json.dumps([timed, older]))
    bench.main(["--from-runs", str(saved), "--out", str(tmp_path / "again")])
    printed = capsys.readouterr().out
    assert "A tool reaches a target at the end of the epoch that validated at it" in printed
    assert "| sweeper | 0 | 1 | 9 | 0.9710 | 18 s | 30 s | 0.9700 |" in printed
    assert "| optuna (at trial ends) | 0 | 1 | 9 | 0.9750 | 25 s | 25 s | 0.9700 |" in printed


def test_the_plot_draws_every_tool_of_the_sitting(bench):
    runs = [
        _run("sweeper", 0, [(15.0, 0.961), (30.0, 0.972)]),
        _run("optuna", 0, [(25.0, 0.965)]),
        _run("sweeper --workers 2", 0, [(20.0, 0.955)]),
    ]
    svg = bench.plot(runs, "mnist", 45.0, (0.96, 0.97))
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    for tool in ("sweeper", "optuna", "sweeper --workers 2"):
        assert f"<title>{tool}</title>" in svg
    assert f'stroke="{bench.color("sweeper --workers 2")}"' in svg
    assert bench.color("sweeper --workers 2") not in bench.COLORS.values()
    # The legend names the sitting's tools only.
    assert '">sweeper --workers 2</text>' in svg and '">kerastuner</text>' not in svg


def test_targets_can_be_set_per_task(bench):
    args = bench.parse_args(["--target", "mnist=0.98,0.975", "--target", "friedman=0.9,1.1"])
    # The easier target first: the lower accuracy, the higher error.
    assert args.targets == {
        **bench.TARGETS,
        "mnist": (0.975, 0.98),
        "friedman": (1.1, 0.9),
    }


@pytest.mark.parametrize(
    "given", ["cifar=0.9", "mnist=", "mnist=0.9,high", "mnist=98", "friedman=-1"]
)
def test_a_target_that_is_not_a_task_and_accuracies_is_refused(bench, capsys, given):
    with pytest.raises(SystemExit) as exit_info:
        bench.parse_args(["--target", given])
    assert exit_info.value.code == 2
    assert f"--target {given!r}: give a task (mnist, fashion, " in capsys.readouterr().err


def test_on_a_task_whose_error_is_minimized_lower_is_better(bench):
    events = [(10.0, 1.5), (20.0, float("nan")), (30.0, 1.1), (40.0, 1.3), (50.0, 0.95)]
    assert bench.best_curve(events, -1) == [(10.0, 1.5), (30.0, 1.1), (50.0, 0.95)]
    assert bench.time_to(events, 1.2, -1) == 30.0
    assert bench.time_to(events, 0.9, -1) == math.inf
    runs = [_run("sweeper", 0, events, test=0.97) | {"task": "friedman"}]
    table = bench.table(runs, "friedman", (1.2, 1.0))
    assert table.splitlines()[0].startswith("| tool | seed | trials | epochs | best val | to 1.2 |")
    assert "| 0.9500 | 30 s | 50 s | 0.9700 |" in table
    assert "friedman: best val_mae so far" in bench.plot(runs, "friedman", 60.0, (1.2, 1.0))


def test_the_oracle_row_trains_the_sittings_best_configuration_once(bench, monkeypatch):
    runs = [
        _run("optuna", 0, [(30.0, 0.96)]) | {"winner": {"optimizer": "sgd"}},
        _run("sweeper", 1, [(20.0, 0.97)]) | {"winner": {"optimizer": "adam"}},
        _run("random", 0, [(40.0, 0.95)]) | {"winner": {"optimizer": "rmsprop"}},
    ]
    commands = []

    def train_once(command, **kwargs):
        commands.append(command)
        spec = Path(command[command.index("--oracle") + 1])
        trained = json.loads(spec.read_text())
        assert trained["params"] == {"optimizer": "adam"} and trained["task"] == "mnist"
        assert trained["trained_as"] == "sweeper"  # sweeper found it: its trial path trains it
        spec.write_text(json.dumps({**trained, "events": [[9.0, 0.95], [12.0, 0.968]]}))
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(bench.subprocess, "run", train_once)
    oracle = bench.run_oracle_of("mnist", runs, bench.parse_args([]))
    assert len(commands) == 1 and "--launched" in commands[0]
    assert oracle["found_by"] == "sweeper" and oracle["seed"] == 1
    table = bench.table([*runs, oracle], "mnist", (0.96, 0.965))
    assert "| **oracle** (sweeper's, seed 1) |  | 1 | 2 | 0.9680 | 12 s | 12 s |  |" in table


def test_the_oracle_trained_on_several_seeds_reports_their_medians(bench, monkeypatch):
    # One cold run at a hard target is a toss of a coin: --oracle-trainings 3 trains the
    # sitting's best three times, seeds 0, 1 and 2, each in its own timed process.
    runs = [_run("sweeper", 2, [(20.0, 0.97)]) | {"winner": {"optimizer": "adam"}}]
    curves = {0: [[9.0, 0.95], [12.0, 0.968]], 1: [[8.0, 0.961]], 2: [[10.0, 0.96], [14.0, 0.97]]}
    seeds = []

    def train_once(command, **kwargs):
        spec = Path(command[command.index("--oracle") + 1])
        trained = json.loads(spec.read_text())
        seeds.append(trained["seed"])
        spec.write_text(json.dumps({**trained, "events": curves[trained["seed"]]}))
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(bench.subprocess, "run", train_once)
    args = bench.parse_args(["--oracle-trainings", "3"])
    oracle = bench.run_oracle_of("mnist", runs, args)
    assert seeds == [0, 1, 2] and oracle["events"] == curves[0]  # seed 0: the one-run oracle
    table = bench.table([*runs, oracle], "mnist", (0.96, 0.965))
    row = "| **oracle** (sweeper's, seed 2), 3 cold trainings |  | 1 | 2 (1..2) | "
    row += "0.9680 (0.9610..0.9700) | 10 s (8..12) | 14 s |  |"  # 0.965: never at seed 1
    assert row in table


def test_an_oracle_trained_no_times_is_refused(bench, capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.parse_args(["--oracle-trainings", "0"])
    assert exit_info.value.code == 2
    assert "--oracle-trainings 0: train it at least once" in capsys.readouterr().err


def test_an_earlier_sitting_is_reported_again_with_other_targets(bench, tmp_path, capsys):
    sizes = {"budget": 60.0, "train": 6000, "val": 2000}
    runs = [
        {**_run("sweeper", 0, [(15.0, 0.961), (30.0, 0.972)]), **sizes},
        {**_run("optuna", 0, [(25.0, 0.975)]), **sizes},
    ]
    saved = tmp_path / "runs.json"
    saved.write_text(json.dumps(runs))
    out = tmp_path / "again"
    argv = ["--from-runs", str(saved), "--target", "mnist=0.97,0.975", "--out", str(out)]
    bench.main(argv)
    printed = capsys.readouterr().out
    assert (
        "60 s per search; the image tasks' subsets: 6000 train / 2000 validation images" in printed
    )
    assert "| to 97.0% | to 97.5% |" in printed
    assert "| sweeper | 0 | 2 | 18 | 0.9720 | 30 s | never | 0.9700 |" in printed
    assert "| optuna | 0 | 1 | 9 | 0.9750 | 25 s | 25 s | 0.9700 |" in printed
    assert "<title>optuna</title>" in (out / "search_efficiency.html").read_text()


def test_run_sweeper_reads_back_the_study_its_engine_named(bench, tmp_path, monkeypatch):
    # The sweep itself (minutes of training) is replaced: the fake writes what `sweeper run
    # --engine kerastuner` leaves, a results folder named after its study, and exits 0.
    import subprocess

    import optuna

    name = "mnist_subset-kerastuner-hyperband"
    commands = []

    def fake_run(command, **kwargs):
        commands.append(command)
        results = tmp_path / name
        results.mkdir()
        storage = optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(results / "study.journal"))
        )
        study = optuna.create_study(study_name=name, storage=storage, direction="maximize")
        attrs = {"epochs_run": 4, "wall_time_s": 10.0, "epoch_end_s": [4.0, 6.0, 8.0, 9.5]}
        attrs["history"] = {"loss": [1.0, 0.5, None, 0.4], "val_accuracy": [0.9, 0.97, 0.1, 0.95]}
        study.add_trial(
            optuna.trial.create_trial(params={}, distributions={}, value=0.97, user_attrs=attrs)
        )
        card = {"test_metrics": {"accuracy": 0.965}, "params": {"optimizer": "adam"}, "epochs": 3}
        (results / "winner.json").write_text(json.dumps(card))
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(bench.subprocess, "run", fake_run)
    flags = ("--engine", "kerastuner", "--algorithm", "hyperband")
    record = bench.run_sweeper("mnist", 0, 5.0, tmp_path, {}, flags=flags)
    assert commands[0][5:9] == list(flags)  # after `python -m sweeper run SPACE`
    assert record["trials"] == 1 and [value for _, value in record["events"]] == [0.97]
    assert record["epochs"] == 4
    # Each epoch at its recorded time after the trial's start (its end less its wall time),
    # up to the epoch whose loss became NaN: the broken model's 0.1 is no value.
    ((ended, _),) = record["events"]
    assert [value for _, value in record["epoch_events"]] == [0.9, 0.97]
    assert [round(ended - when, 3) for when, _ in record["epoch_events"]] == [6.0, 4.0]
    assert record["winner_test"] == 0.965
    assert record["winner"] == {"optimizer": "adam"} and record["winner_epochs"] == 3


def test_the_starting_points_say_when_another_trial_could_first_beat_them(bench):
    # Two starts end at 10 s and 14 s; trial 2 (its first epoch at 16 s) and a trial pruned
    # after one epoch (at 19 s) follow; one start diverged (no value). Times as Optuna records
    # them: each trial's start is its completion less its wall time.
    import datetime

    import optuna

    study = optuna.create_study(direction="minimize")
    t0 = datetime.datetime(2026, 12, 7, 12, 0, 0)

    def add(end, value, attrs, state=optuna.trial.TrialState.COMPLETE):
        trial = optuna.trial.create_trial(
            params={}, distributions={}, value=value, user_attrs=attrs, state=state
        )
        trial.datetime_start = t0
        trial.datetime_complete = t0 + datetime.timedelta(seconds=end)
        study.add_trial(trial)

    add(10.0, 1.7, {"starting_point": 1, "wall_time_s": 4.0, "epoch_end_s": [2.0, 4.0]})
    add(14.0, 1.2, {"starting_point": 2, "wall_time_s": 4.0, "epoch_end_s": [2.0, 4.0]})
    add(20.0, 0.9, {"wall_time_s": 6.0, "epoch_end_s": [2.0, 4.0, 6.0]})
    pruned = optuna.trial.TrialState.PRUNED
    add(21.0, None, {"wall_time_s": 3.0, "epoch_end_s": [1.0]}, state=pruned)
    starts = bench.starting_points_of(study, sign=-1)
    assert starts["end"] - t0.timestamp() == 14.0
    assert starts["best"] == 1.2  # the error minimized: the lower start's
    assert starts["next"] - t0.timestamp() == 16.0  # trial 2's first epoch, not the pruned one's
    # A sweep without starting points (--no-starting-points) has none to report.
    bare = optuna.create_study(direction="maximize")
    bare.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=0.9))
    assert bench.starting_points_of(bare, sign=1) is None


def test_the_starting_points_are_timed_from_launch_and_tabled_per_tool(
    bench, monkeypatch, tmp_path, capsys
):
    import time

    def fake_sweeper(task, seed, budget, folder, env, cwd=None, flags=()):
        now = time.time()
        starts = {"end": now + 9.0 + seed, "best": 0.68 + seed / 100, "next": now + 10.0 + seed}
        record = {"events": [], "trials": 0, "epochs": 0, "winner_test": 0.5, "winner": {}}
        return {**record, "starts": None if flags else starts}

    monkeypatch.setattr(bench, "run_sweeper", fake_sweeper)
    args = bench.parse_args(["--budget", "5"])
    runs = [bench.run_one("sweeper", "mnist", seed, args) for seed in (0, 1, 2)]
    runs.append(bench.run_one("sweeper --no-starting-points", "mnist", 0, args))
    for seed, run in enumerate(runs[:3]):
        assert 9.0 + seed - 0.5 < run["starts"]["end"] < 9.0 + seed + 1e-3  # from launch
        assert run["starts"]["next"] - run["starts"]["end"] == pytest.approx(1.0)
    # Seconds are printed whole: the medians are seed 1's (10 s and 11 s, less a launch's
    # fraction of a second at most), with every seed's spread.
    for run in runs[:3]:
        run["starts"].update(end=round(run["starts"]["end"]), next=round(run["starts"]["next"]))
    lines = bench.starts_table(runs, "mnist").splitlines()
    assert lines[0].startswith("| tool | runs | starting points end | their best |")
    assert lines[2] == "| sweeper | 3 | 10 s (9..11) | 0.6900 (0.6800..0.7000) | 11 s (10..12) |"
    assert len(lines) == 3  # the variant without starting points has no row
    # A run without another trial after its starts counts as never: the median of never,
    # 11 s and 12 s is 12 s, without a spread.
    runs[0]["starts"]["next"] = None
    assert bench.starts_table(runs, "mnist").splitlines()[2].endswith("| 12 s |")
    assert bench.starts_table(runs[3:], "mnist") == ""
    # The sitting's report prints the table under the task's own.
    bench.report(runs, {"mnist": (0.96,)}, tmp_path)
    printed = capsys.readouterr().out
    assert f"{bench.STARTS_NOTE}\n\n{bench.starts_table(runs, 'mnist')}" in printed


def test_a_sweeper_that_did_not_time_its_epochs_has_no_epoch_events(bench):
    # --before an older checkout: its trials trained epochs but recorded no epoch_end_s, so
    # its run is reported at trial ends, not as never reaching a target.
    import optuna

    study = optuna.create_study(direction="maximize")
    attrs = {"epochs_run": 2, "wall_time_s": 5.0, "history": {"val_accuracy": [0.9, 0.95]}}
    study.add_trial(
        optuna.trial.create_trial(params={}, distributions={}, value=0.95, user_attrs=attrs)
    )
    assert bench.sweeper_epoch_events(study, "val_accuracy") is None


def test_a_target_finer_than_a_tenth_of_a_percent_is_labelled_as_given(bench):
    # 98.65 % shown as "98.7%" would claim a target the table did not time.
    assert [bench.percent(t) for t in (0.96, 0.975, 0.9865, 0.8795)] == [
        "96.0%",
        "97.5%",
        "98.65%",
        "87.95%",
    ]
    table = bench.table([_run("sweeper", 0, [(15.0, 0.987)])], "mnist", (0.985, 0.9865))
    assert "| to 98.5% | to 98.65% |" in table
