"""Per-trial TensorBoard logs (``--tensorboard``), with each trial's hyperparameters written
as TensorBoard HParams, so the HParams dashboard compares the trials side by side.

``results/<space>/tensorboard/`` holds the experiment's declaration (every declared
parameter's domain and the objective) and one folder per trial, where Keras' TensorBoard
callback writes the curves and ``TrialHParams`` the trial's values. Writing HParams takes
TensorFlow's summary writer (Keras' TensorBoard callback needs TensorFlow too), so this
module is imported only for a sweep that asks for the logs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf
from tensorboard.plugins.hparams import api as hp

from sweeper.space.params import Categorical, Float, Int, Param
from sweeper.space.space import Space


def trial_dir(root: Path, trial_number: int) -> Path:
    return root / f"trial-{trial_number:04d}"


def _value(value: Any) -> Any:
    """A value as the HParams plugin stores it: bool, number or string (None as "None")."""
    return "None" if value is None else value


def _domain(param: Param) -> Any:
    if isinstance(param, Int):
        return hp.IntInterval(int(param.low), int(param.high))
    if isinstance(param, Float):
        return hp.RealInterval(float(param.low), float(param.high))
    if isinstance(param, Categorical):
        values = [_value(c) for c in param.choices]
        if len({type(v) for v in values}) == 1:  # the plugin takes one type per column
            return hp.Discrete(values)
    return None


def write_experiment(root: Path, space: Space) -> None:
    """The experiment's declaration: the dashboard's columns (every declared parameter, with
    its domain) and its metric (the objective, as Keras' TensorBoard callback logs it)."""
    hparams = [hp.HParam(p.name, _domain(p)) for p in space.all_params]
    validation = space.objective.startswith("val_")
    tag = "epoch_" + (space.objective[4:] if validation else space.objective)
    metric = hp.Metric(tag, group="validation" if validation else "train")
    root.mkdir(parents=True, exist_ok=True)
    with tf.summary.create_file_writer(str(root)).as_default():
        hp.hparams_config(hparams=hparams, metrics=[metric])


class TrialHParams(keras.callbacks.Callback):
    """Writes the trial's hyperparameters into its folder as training starts."""

    def __init__(self, folder: Path, params: Mapping[str, Any]) -> None:
        super().__init__()
        self.folder = folder
        self.params_ = {name: _value(value) for name, value in params.items()}

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        with tf.summary.create_file_writer(str(self.folder)).as_default():
            hp.hparams(self.params_, trial_id=self.folder.name)


def trial_callbacks(root: Path, trial_number: int, params: Mapping[str, Any]) -> list:
    """Keras' TensorBoard callback and the trial's HParams, both into its own folder."""
    folder = trial_dir(root, trial_number)
    return [keras.callbacks.TensorBoard(log_dir=str(folder)), TrialHParams(folder, params)]
