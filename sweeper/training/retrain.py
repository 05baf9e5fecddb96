"""The winner: re-train the best trial (or a chosen one) on train + validation data, test it,
save it.

The configuration is rebuilt through the sweep's own path (``objective.compile_model``), seeded
with the trial's recorded seed, and trained for the epochs at which that trial was best, with
no pruning or early stopping: there is no validation data left to watch. Then it is evaluated,
once, on the held-out test set. ``winner.keras`` and ``winner.json`` (the card) go to
``results/<space>/``.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import math
import platform
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import keras
import optuna
from optuna.trial import FrozenTrial

from sweeper.errors import SweeperError, TrialFailed
from sweeper.files import atomic_path, write_text
from sweeper.results import ResultsDir, as_results
from sweeper.space.data import load_dataset
from sweeper.space.space import Space
from sweeper.storage.record import TrialRecord
from sweeper.storage.standing import StudyGoals, pick_trial
from sweeper.training.build import compile_model, fit_model
from sweeper.training.callbacks import StopOnNaN

VERSIONED = ("sweeper", "keras", "tensorflow", "jax", "torch", "optuna", "numpy")


@dataclass(frozen=True)
class Winner:
    model_path: Path
    card_path: Path
    card: dict[str, Any]


def _params(space: Space, trial: FrozenTrial) -> dict[str, Any]:
    """The trial's parameters, sampled again through the space: they must still fit it."""
    try:
        return space.suggest(optuna.trial.FixedTrial(trial.params, number=trial.number))
    except ValueError as exc:
        raise SweeperError(
            f"trial {trial.number}'s parameters no longer fit search space {space.name!r} "
            f"({exc}); re-train it with the space module it was swept with"
        ) from exc


def _replayed_rates(callbacks: list, trial: FrozenTrial) -> list:
    """The build path's callbacks for re-training. A schedule that watches a validation
    metric (ReduceLROnPlateau) has none to watch here: it is replaced by a replay, epoch by
    epoch, of the learning rates it chose during the sweep."""
    plateau = [cb for cb in callbacks if isinstance(cb, keras.callbacks.ReduceLROnPlateau)]
    kept = [cb for cb in callbacks if cb not in plateau]
    if not plateau:
        return kept
    rates = TrialRecord.of(trial).history.get("learning_rate")
    if not rates:
        raise SweeperError(
            f"trial {trial.number} recorded no per-epoch learning rate to replay; "
            "re-train another trial with {trial_number}"
        )
    return [*kept, keras.callbacks.LearningRateScheduler(lambda epoch: float(rates[epoch] or 0.0))]


def _rule(study: optuna.Study, trial_number: int | None) -> str:
    if trial_number is not None:
        return "the trial named (trial_number)"
    goals = StudyGoals.of(study)
    primary = goals.primary
    rule = str(goals.rule) if goals.rule else f"best {primary.name} ({primary.direction})"
    kept = " and ".join(str(c) for c in goals.constraints)
    return f"{rule}, among the trials that keep {kept}" if kept else rule


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "keras_backend": keras.backend.backend()}
    for package in VERSIONED:  # those installed: a jax machine may have no tensorflow
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[package] = importlib.metadata.version(package)
    return versions


def retrain(
    space: Space,
    study: optuna.Study,
    folder: ResultsDir | Path,
    *,
    trial_number: int | None = None,
    data_dir: str | Path | None = None,
) -> Winner:
    """Re-train the trial the study's rule picks (the best one, unless a winner rule says
    otherwise) or ``trial_number``, test it and save model and card into the space's results
    folder."""
    choice = pick_trial(study, trial_number)
    trial = choice.trial
    record, results = TrialRecord.of(trial), as_results(folder)
    params = _params(space, trial)
    epochs, seed = record.best_epoch, record.seed
    if seed is None or epochs is None:
        raise SweeperError(
            f"trial {trial.number} recorded no seed, so it was not run by "
            "sweeper and cannot be reproduced; choose another with {trial_number}"
        )
    data = load_dataset(space, data_dir)
    full = data.train_and_validation()

    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)  # as the trial was seeded
    try:
        model, build_callbacks = compile_model(space, params, full, epochs)
    except TrialFailed as exc:
        raise SweeperError(f"trial {trial.number} cannot be re-trained: {exc}") from exc
    started = time.perf_counter()
    history = keras.callbacks.History()
    fit_model(
        space,
        optuna.trial.FixedTrial(trial.params, number=trial.number),
        params,
        model,
        full.x_train,
        full.y_train,
        epochs=epochs,
        callbacks=[history, StopOnNaN(), *_replayed_rates(build_callbacks, trial)],
        verbose=0,
    )
    fit_time = time.perf_counter() - started
    losses = history.history.get("loss", [])
    if len(losses) < epochs or not all(math.isfinite(v) for v in losses):
        raise SweeperError(
            f"re-training trial {trial.number} diverged (the loss became NaN); "
            "re-train another trial with {trial_number}"
        )

    test_metrics = None
    if len(data.x_test):
        scores = model.evaluate(
            data.x_test,
            data.y_test,
            batch_size=params.get("batch_size"),
            return_dict=True,
            verbose=0,
        )
        test_metrics = {name: float(value) for name, value in scores.items()}

    results.path.mkdir(parents=True, exist_ok=True)
    model_path, card_path = results.winner_model, results.winner_card
    with atomic_path(model_path) as tmp:  # the model first: a card never names a missing one
        model.save(tmp)
    card = {
        "space": space.name,
        "trial": trial.number,
        "state": trial.state.name.lower(),
        "objective": space.objective,
        "direction": space.direction,
        # Which rule chose the trial, and why it was this one.
        "rule": _rule(study, trial_number),
        "why": choice.why,
        "params": trial.params,
        "validation_metrics": {k: v for k, v in record.metrics.items() if k.startswith("val_")},
        "test_metrics": test_metrics,
        "epochs": epochs,
        "seed": seed,
        "train_examples": len(full.x_train),
        "test_examples": len(data.x_test),
        "costs": dict(record.costs),  # as measured in the sweep
        "fit_time_s": round(fit_time, 3),
        "model": model_path.name,
        "versions": _versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_text(card_path, json.dumps(card, indent=2) + "\n")
    return Winner(model_path, card_path, card)
