"""--tensorboard: per-trial TensorBoard logs, each trial's hyperparameters as HParams, read
back with TensorBoard's own event-file reader and HParams plugin parsers."""

import dataclasses

import pytest
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from tensorboard.plugins.hparams import metadata

import sweeper
from sweeper.cli import main
from sweeper.config import SweepConfig
from sweeper.errors import SettingError


def summaries(folder):
    """(tag, plugin name, plugin content) of every summary value in a folder's event files."""
    found = []
    for path in sorted(folder.glob("events.out.tfevents.*")):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                plugin = value.metadata.plugin_data
                found.append((value.tag, plugin.plugin_name, plugin.content))
    return found


def hparams_of(trial_folder):
    [info] = [
        metadata.parse_session_start_info_plugin_data(content)
        for tag, plugin, content in summaries(trial_folder)
        if plugin == metadata.PLUGIN_NAME and tag == metadata.SESSION_START_INFO_TAG
    ]
    return {name: getattr(value, value.WhichOneof("kind")) for name, value in info.hparams.items()}


def test_each_trial_logs_its_curves_and_hparams(tmp_path, capsys):
    argv = ["run", "digits_space", "--trials", "2", "--max-epochs", "2", "--in-process"]
    argv += ["--results-dir", str(tmp_path), "--tensorboard", "--no-retrain"]
    assert main(argv) == 0
    root = tmp_path / "digits_space" / "tensorboard"
    trials = sorted(p.name for p in root.iterdir() if p.is_dir())
    assert trials == ["trial-0000", "trial-0001"]

    [experiment] = [
        metadata.parse_experiment_plugin_data(content)
        for tag, plugin, content in summaries(root)
        if tag == metadata.EXPERIMENT_TAG
    ]
    columns = {h.name for h in experiment.hparam_infos}
    assert {"optimizer", "learning_rate", "units", "activation"} <= columns
    [metric] = experiment.metric_infos
    assert (metric.name.group, metric.name.tag) == ("validation", "epoch_accuracy")

    study = sweeper.load("digits_space", results_dir=tmp_path).study
    for trial in study.trials:
        logged = hparams_of(root / f"trial-{trial.number:04d}")
        assert logged.keys() == trial.params.keys()
        for name, value in trial.params.items():
            assert (
                logged[name] == pytest.approx(value)
                if isinstance(value, float)
                else logged[name] == value
            )
        # Keras' TensorBoard callback wrote the validation curve the metric names.
        validation = summaries(root / f"trial-{trial.number:04d}" / "validation")
        assert any(tag == "epoch_accuracy" for tag, _, _ in validation)


def test_no_logs_unless_asked(tmp_path):
    argv = ["run", "digits_space", "--trials", "1", "--max-epochs", "1", "--in-process"]
    assert main([*argv, "--results-dir", str(tmp_path), "--no-retrain"]) == 0
    assert not (tmp_path / "digits_space" / "tensorboard").exists()


def test_tensorboard_without_tensorflow_is_one_clear_line(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    # A JAX-only machine has no TensorFlow; this one has, so the lookup is made to miss it.
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "tensorflow" else real(name, *a),
    )
    with pytest.raises(SettingError, match="tensorboard.*needs tensorflow, not installed here"):
        SweepConfig(tensorboard=True)
    assert dataclasses.replace(SweepConfig(), tensorboard=False).tensorboard is False
