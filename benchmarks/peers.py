"""The search-efficiency benchmark's peers, each written as its own docs show, on a task of
``benchmarks/spaces/tasks.py``: the same model family, ranges, epochs and patience as sweeper.

- ``optuna``: the hand-written loop: TPE, HyperbandPruner, KerasPruningCallback and
  EarlyStopping in ``study.optimize(timeout=B)``;
- ``random``: the same loop with RandomSampler and no pruning: the floor;
- ``kerastuner``: ``keras_tuner.Hyperband`` over a HyperModel (batch size in ``fit``);
- ``ray``: Ray Tune's ``Tuner`` with ``OptunaSearch`` (TPE, define-by-run) and the
  ``ASHAScheduler``, trials in parallel as Ray runs them (one CPU each);
- ``dehb``: DEHB (differential evolution + Hyperband) over a ConfigSpace, epochs as its
  fidelity.

Each records ``events``: (time, value) as each trial (or evaluation at a fidelity) ends with
its best validation value, and ``Epochs.ends``: (time, value) at every epoch of every trial;
it returns its best configuration and that configuration's best epoch count, to be re-trained
and tested the same way for every tool (``retrain_and_test``).
"""

from __future__ import annotations

import functools
import math
import os
import time
from typing import Any

from benchmarks.spaces import tasks as t
from sweeper import Categorical, Int
from sweeper.space.params import Param

PEERS = ("optuna", "kerastuner", "random", "ray", "dehb")
# A diverged model's value for the peers that need a number (DEHB): the worst there is.
WORST = 1e9


class Epochs:
    """Every epoch a peer trained in this process: how many, and (time, validation value)
    at each one's end, when that value was known."""

    total = 0
    ends: list[tuple[float, float]] = []

    @classmethod
    def ended(cls, when: float, value: float | None) -> None:
        cls.total += 1
        if value is not None and math.isfinite(value):
            cls.ends.append((when, float(value)))


def make_optimizer(keras, params):
    clip = {"clipnorm": params["clip_threshold"]} if params["clipping"] == "clipnorm" else {}
    name, lr = params["optimizer"], params["learning_rate"]
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, **clip)
    if name == "momentum":
        return keras.optimizers.SGD(learning_rate=lr, momentum=params["momentum"], **clip)
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=lr, **clip)
    if name == "adamw":
        return keras.optimizers.AdamW(learning_rate=lr, weight_decay=params["weight_decay"], **clip)
    return keras.optimizers.RMSprop(learning_rate=lr, **clip)


def compiled(keras, task: t.Task, params, data):
    model = task.build_model(params, data)
    model.compile(optimizer=make_optimizer(keras, params), loss=task.loss, metrics=[task.metric])
    return model


def best_of(task: t.Task, scores: list[float]) -> tuple[float | None, int]:
    """The best finite value of a history and its (1-based) epoch; None if none is finite."""
    finite = [(task.sign * v, -i) for i, v in enumerate(scores, start=1) if math.isfinite(v)]
    if not finite:
        return None, len(scores) or 1
    value, epoch = max(finite)
    return task.sign * value, -epoch


def training_callbacks(keras, task: t.Task) -> list:
    """What every peer trains with: the epochs' log, Keras' stop on NaN, and early stopping
    on the validation metric."""

    class LogEpochs(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            Epochs.ended(time.time(), (logs or {}).get(task.objective))

    stop = keras.callbacks.EarlyStopping(
        task.objective, patience=task.patience, mode=task.direction[:3]
    )
    return [LogEpochs(), keras.callbacks.TerminateOnNaN(), stop]


def fit(keras, task: t.Task, params, data, epochs: int, callbacks=()):
    """One model trained as every peer trains it (``training_callbacks``)."""
    keras.backend.clear_session()
    model = compiled(keras, task, params, data)
    history = model.fit(
        data.x_train,
        data.y_train,
        validation_data=(data.x_val, data.y_val),
        batch_size=params["batch_size"],
        epochs=epochs,
        callbacks=[*training_callbacks(keras, task), *callbacks],
        verbose=0,
    )
    return history.history.get(task.objective, [])


# --- Optuna (and Ray Tune's OptunaSearch, which takes the same define-by-run function) ------


def _suggest(trial, param: Param):
    if isinstance(param, Categorical):
        return trial.suggest_categorical(param.name, param.choices)
    if isinstance(param, Int):
        step = int(param.step or 1)
        return trial.suggest_int(
            param.name, int(param.low), int(param.high), step=step, log=param.log
        )
    return trial.suggest_float(param.name, param.low, param.high, log=param.log)


def optuna_params(trial, task: t.Task) -> dict[str, Any]:
    params = {
        "optimizer": trial.suggest_categorical("optimizer", t.OPTIMIZERS),
        "learning_rate": trial.suggest_float("learning_rate", *task.learning_rate, log=True),
    }
    if params["optimizer"] == "momentum":
        params["momentum"] = trial.suggest_float("momentum", *t.MOMENTUM)
    if params["optimizer"] == "adamw":
        params["weight_decay"] = trial.suggest_float("weight_decay", *t.WEIGHT_DECAY, log=True)
    params["batch_size"] = trial.suggest_categorical("batch_size", t.BATCH_SIZES)
    params["clipping"] = trial.suggest_categorical("clipping", ("none", "clipnorm"))
    if params["clipping"] == "clipnorm":
        params["clip_threshold"] = trial.suggest_float(
            "clip_threshold", *t.CLIP_THRESHOLD, log=True
        )
    params["dropout"] = trial.suggest_float("dropout", *t.DROPOUT)
    for param in task.model_params:
        params[param.name] = _suggest(trial, param)
    return params


def optuna_peer(task: t.Task, data, seed: int, budget: float, sampler: str, events: list) -> dict:
    import keras
    import optuna
    from optuna_integration.keras import KerasPruningCallback

    def objective(trial: optuna.Trial) -> float:
        params = optuna_params(trial, task)
        pruning = [KerasPruningCallback(trial, task.objective)] if sampler == "tpe" else []
        scores = fit(keras, task, params, data, task.epochs, pruning)
        value, epoch = best_of(task, scores)
        trial.set_user_attr("best_epoch", epoch)
        return math.nan if value is None else value  # Optuna fails a NaN trial

    def record(study, frozen):
        if frozen.state == optuna.trial.TrialState.COMPLETE:
            events.append((time.time(), frozen.value))

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if sampler == "tpe":
        study = optuna.create_study(
            direction=task.direction,
            sampler=optuna.samplers.TPESampler(seed=seed),
            pruner=optuna.pruners.HyperbandPruner(
                min_resource=1, max_resource=task.epochs, reduction_factor=3
            ),
        )
    else:
        study = optuna.create_study(
            direction=task.direction, sampler=optuna.samplers.RandomSampler(seed=seed)
        )
    study.optimize(objective, timeout=budget, callbacks=[record], catch=(Exception,))
    best = study.best_trial
    return {
        "trials": len(study.trials),
        "params": best.params,
        "epochs": best.user_attrs["best_epoch"],
    }


# --- KerasTuner ----------------------------------------------------------------------------


def _hp(hp, param: Param):
    if isinstance(param, Categorical):
        return hp.Choice(param.name, list(param.choices))
    sampling = "log" if param.log else "linear"
    if isinstance(param, Int):
        # KerasTuner reads a log range's step as a factor: none, as sweeper's log Int has.
        step = None if param.log else int(param.step or 1)
        return hp.Int(param.name, int(param.low), int(param.high), step=step, sampling=sampling)
    return hp.Float(param.name, param.low, param.high, sampling=sampling)


def kerastuner_peer(task: t.Task, data, seed: int, budget: float, events: list, folder) -> dict:
    import keras
    import keras_tuner as kt

    class Model(kt.HyperModel):
        def build(self, hp):
            params = {
                "optimizer": hp.Choice("optimizer", t.OPTIMIZERS),
                "learning_rate": hp.Float("learning_rate", *task.learning_rate, sampling="log"),
            }
            with hp.conditional_scope("optimizer", ["momentum"]):
                if params["optimizer"] == "momentum":
                    params["momentum"] = hp.Float("momentum", *t.MOMENTUM)
            with hp.conditional_scope("optimizer", ["adamw"]):
                if params["optimizer"] == "adamw":
                    params["weight_decay"] = hp.Float(
                        "weight_decay", *t.WEIGHT_DECAY, sampling="log"
                    )
            params["clipping"] = hp.Choice("clipping", ["none", "clipnorm"])
            with hp.conditional_scope("clipping", ["clipnorm"]):
                if params["clipping"] == "clipnorm":
                    params["clip_threshold"] = hp.Float(
                        "clip_threshold", *t.CLIP_THRESHOLD, sampling="log"
                    )
            params["dropout"] = hp.Float("dropout", *t.DROPOUT)
            for param in task.model_params:
                params[param.name] = _hp(hp, param)
            return compiled(keras, task, params, data)

        def fit(self, hp, model, *args, **kwargs):
            return model.fit(
                *args, batch_size=hp.Choice("batch_size", list(t.BATCH_SIZES)), **kwargs
            )

    deadline = time.time() + budget

    class TimedHyperband(kt.Hyperband):
        # KerasTuner has no wall-clock budget: end the search between trials once it is spent.
        def pre_create_trial(self):
            if time.time() >= deadline:
                self.oracle.max_trials = len(self.oracle.trials)

        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            if trial.score is not None and math.isfinite(trial.score):
                events.append((time.time(), float(trial.score)))

    tuner = TimedHyperband(
        Model(),
        objective=kt.Objective(task.objective, direction=task.direction[:3]),
        max_epochs=task.epochs,
        factor=3,
        hyperband_iterations=1000,
        seed=seed,
        directory=folder,
        project_name="kt",
        max_consecutive_failed_trials=1000,
    )
    tuner.search(
        data.x_train,
        data.y_train,
        validation_data=(data.x_val, data.y_val),
        epochs=task.epochs,
        callbacks=training_callbacks(keras, task),
        verbose=0,
    )
    best = tuner.oracle.get_best_trials(1)[0]
    return {
        "trials": len(tuner.oracle.trials),
        "params": dict(best.hyperparameters.values),
        "epochs": kerastuner_best_epochs(best),
    }


def kerastuner_best_epochs(trial) -> int:
    """The epochs a KerasTuner trial's best model had trained. Hyperband continues a trial
    from an earlier round's checkpoint at ``tuner/initial_epoch``, and ``best_step`` counts
    from there: KerasTuner reads it off this round's History alone."""
    return int(trial.hyperparameters.values.get("tuner/initial_epoch", 0)) + trial.best_step + 1


# --- Ray Tune --------------------------------------------------------------------------------


def ray_peer(task: t.Task, data, seed: int, budget: float, events: list, folder) -> dict:
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    def train(config, data):
        import keras

        class Report(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                value = (logs or {}).get(task.objective, math.nan)
                # The wall clock: Ray's own timestamp is whole seconds.
                tune.report({"score": value, "epoch": epoch + 1, "clock": time.time()})

        fit(keras, task, config, data, task.epochs, [Report()])

    ray.init(include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    mode = task.direction[:3]
    search = OptunaSearch(
        # Ray checkpoints the searcher by pickling it: a partial, not a closure.
        space=functools.partial(optuna_params, task=task),
        metric="score",
        mode=mode,
        seed=seed,
    )
    tuner = tune.Tuner(
        tune.with_parameters(train, data=data),
        tune_config=tune.TuneConfig(
            metric="score",
            mode=mode,
            search_alg=search,
            scheduler=ASHAScheduler(max_t=task.epochs, grace_period=1, reduction_factor=3),
            num_samples=-1,
            time_budget_s=budget,
        ),
        run_config=tune.RunConfig(storage_path=str(folder), name="ray", verbose=0),
    )
    try:  # Ray stays up for the sitting's next tool unless shut down, whatever happens here
        grid = tuner.fit()
    finally:
        ray.shutdown()
    best_params, best_epochs, best_value = None, 1, None
    for result in grid:
        frame = result.metrics_dataframe
        if frame is None or "score" not in frame:
            continue
        scores = [float(v) for v in frame["score"]]
        for when, score in zip(frame["clock"], scores, strict=True):  # epochs in Ray's workers
            Epochs.ended(float(when), score)
        value, epoch = best_of(task, scores)
        if value is None:
            continue
        events.append((float(frame["clock"].iloc[-1]), value))
        if best_value is None or task.sign * value > task.sign * best_value:
            best_params, best_epochs, best_value = result.config, epoch, value
    if best_params is None and grid.errors:  # every trial failed: say why, not "no winner"
        raise RuntimeError(f"every Ray Tune trial failed; the first: {grid.errors[0]}")
    return {"trials": len(grid), "params": best_params, "epochs": best_epochs}


# --- DEHB ------------------------------------------------------------------------------------


def configspace(task: t.Task, seed: int):
    """The tools' ranges as a ConfigSpace, its conditions as DEHB's docs declare them."""
    import ConfigSpace as CS

    def declared(param: Param):
        if isinstance(param, Categorical):
            return CS.CategoricalHyperparameter(param.name, list(param.choices))
        if isinstance(param, Int) and (param.step or 1) > 1:  # ConfigSpace ints have no step
            values = list(range(int(param.low), int(param.high) + 1, int(param.step)))
            return CS.OrdinalHyperparameter(param.name, values)
        if isinstance(param, Int):
            return CS.UniformIntegerHyperparameter(
                param.name, int(param.low), int(param.high), log=param.log
            )
        return CS.UniformFloatHyperparameter(param.name, param.low, param.high, log=param.log)

    space = CS.ConfigurationSpace(seed=seed)
    optimizer = CS.CategoricalHyperparameter("optimizer", list(t.OPTIMIZERS))
    momentum = CS.UniformFloatHyperparameter("momentum", *t.MOMENTUM)
    decay = CS.UniformFloatHyperparameter("weight_decay", *t.WEIGHT_DECAY, log=True)
    clipping = CS.CategoricalHyperparameter("clipping", ["none", "clipnorm"])
    threshold = CS.UniformFloatHyperparameter("clip_threshold", *t.CLIP_THRESHOLD, log=True)
    space.add(
        [
            optimizer,
            CS.UniformFloatHyperparameter("learning_rate", *task.learning_rate, log=True),
            momentum,
            decay,
            CS.OrdinalHyperparameter("batch_size", list(t.BATCH_SIZES)),
            clipping,
            threshold,
            CS.UniformFloatHyperparameter("dropout", *t.DROPOUT),
            *(declared(param) for param in task.model_params),
        ]
    )
    space.add(
        [
            CS.EqualsCondition(momentum, optimizer, "momentum"),
            CS.EqualsCondition(decay, optimizer, "adamw"),
            CS.EqualsCondition(threshold, clipping, "clipnorm"),
        ]
    )
    return space


def dehb_peer(task: t.Task, data, seed: int, budget: float, events: list, folder) -> dict:
    import keras
    from dehb import DEHB

    epochs_of: dict[tuple, int] = {}

    def objective(config, fidelity, **kwargs):
        started = time.time()
        params = dict(config)
        scores = fit(keras, task, params, data, max(1, round(fidelity)))
        value, epoch = best_of(task, scores)
        if value is not None:
            events.append((time.time(), value))
            epochs_of[tuple(sorted(params.items()))] = epoch
        # DEHB minimizes its fitness; a diverged model gets the worst.
        fitness = WORST if value is None else -task.sign * value
        return {"fitness": fitness, "cost": time.time() - started}

    dehb = DEHB(
        f=objective,
        cs=configspace(task, seed),
        min_fidelity=1,
        max_fidelity=task.epochs,
        eta=3,
        n_workers=1,
        output_path=str(folder),
        seed=seed,
    )
    dehb.run(total_cost=budget)
    best = dict(dehb.vector_to_configspace(dehb.inc_config))
    return {
        "trials": len(dehb.history),
        "params": best,
        "epochs": epochs_of.get(tuple(sorted(best.items())), task.epochs),
    }


# --- re-training and the oracle --------------------------------------------------------------


def retrain_and_test(task: t.Task, data, params: dict, epochs: int, seed: int) -> float:
    """A winner, trained on train + validation for its best epoch count, and tested."""
    import keras
    import numpy as np

    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model = compiled(keras, task, params, data)
    model.fit(
        np.concatenate([data.x_train, data.x_val]),
        np.concatenate([data.y_train, data.y_val]),
        batch_size=params["batch_size"],
        epochs=epochs,
        verbose=0,
    )
    scores = model.evaluate(data.x_test, data.y_test, verbose=0, return_dict=True)
    return float(scores[task.metric])


def sweeper_retrain_and_test(task: t.Task, data, params: dict, epochs: int, seed: int) -> float:
    """As ``retrain_and_test``, for a configuration sweeper found: re-trained as sweeper
    re-trains its winner (``sweeper.training.retrain``: the sweep's build path, weight
    averaging, steps per call), so a re-test scores the configuration as it was validated.
    In plain Keras, sweeper's friedman winners tested at MAE 1.04 where sweeper's own
    re-training of them tested at 0.84 (600 s, three seeds)."""
    import keras
    import optuna

    from sweeper.training.build import compile_model, fit_model

    space, full = task.space(), data.train_and_validation()
    trial = optuna.trial.FixedTrial(params)
    chosen = space.suggest(trial)
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model, callbacks = compile_model(space, chosen, full, epochs)  # constant rates: no replay
    x, y = full.x_train, full.y_train
    fit_model(space, trial, chosen, model, x, y, epochs=epochs, callbacks=callbacks, verbose=0)
    scores = model.evaluate(data.x_test, data.y_test, verbose=0, return_dict=True)
    return float(scores[task.metric])


def oracle(task: t.Task, data, params: dict, launched: float, seed: int) -> list:
    """The best configuration of a sitting, trained once from a cold start as a peer trains
    it (plain ``model.fit``): (seconds since the process launched, validation value) at each
    epoch's end."""
    import keras

    events: list = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            _clock(events, task, launched, logs or {})

    keras.utils.set_random_seed(seed)
    fit(keras, task, params, data, task.epochs, [Clock()])
    return events


def sweeper_oracle(task: t.Task, data, params: dict, launched: float, seed: int) -> list:
    """As ``oracle``, for a configuration sweeper found: trained as sweeper trained and
    validated it, one trial of its own trial path (weight averaging, steps per call, early
    stopping), so the oracle reaches what sweeper's trial reached."""
    import optuna

    from sweeper import KerasObjective

    events: list = []
    objective = KerasObjective(
        task.space(),
        data,
        max_epochs=task.epochs,
        patience=task.patience,
        seed=seed,
        on_epoch=lambda trial, epoch, logs: _clock(events, task, launched, logs),
    )
    objective(optuna.trial.FixedTrial(params))
    return events


def _clock(events: list, task: t.Task, launched: float, logs) -> None:
    value = logs.get(task.objective, math.nan)
    if math.isfinite(value):
        events.append((time.time() - launched, float(value)))


def run(tool: str, task: t.Task, data, seed: int, budget: float, events: list, folder) -> dict:
    """One peer's search; its record without the re-trained winner."""
    if tool == "kerastuner":
        return kerastuner_peer(task, data, seed, budget, events, folder)
    if tool == "ray":
        return ray_peer(task, data, seed, budget, events, folder)
    if tool == "dehb":
        return dehb_peer(task, data, seed, budget, events, folder)
    return optuna_peer(task, data, seed, budget, "tpe" if tool == "optuna" else "random", events)


def data_dir() -> str | None:
    return os.environ.get("SWEEPER_DATA_DIR")
