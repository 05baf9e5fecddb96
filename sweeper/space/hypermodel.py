"""KerasTuner hypermodels as sweeper spaces: a ``build_model(hp)`` (or a ``HyperModel``, with its
``fit(hp, model, ...)`` override) runs unchanged, its ``hp.*`` calls answered by Optuna.

KerasTuner's own ``HyperParameters`` does the bookkeeping (names, name scopes, conditional
scopes, which parameters are active); only where a new active parameter gets its value does
``TrialHyperParameters`` ask the Optuna trial instead of taking the default. Optuna's
define-by-run search takes the space as the hypermodel reveals it, branches and loops
included, just as KerasTuner's oracles do. Replaying a trial (the winner's re-training) hands
the hypermodel a plain ``HyperParameters`` holding the trial's values.

KerasTuner (and so Keras) is imported only when a hypermodel is used, as everywhere outside
``sweeper.training``: declaring, listing and validating spaces stays fast.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import optuna

from sweeper.errors import SpaceError, describe_failure


@functools.cache
def _trial_hyperparameters() -> type:
    import keras_tuner as kt

    class TrialHyperParameters(kt.HyperParameters):
        """KerasTuner's ``hp``, each active parameter's value drawn from an Optuna trial.
        Asking the trial again for a name it has drawn returns the same value, so the ``hp``
        of a trial's build and the one of its ``fit`` agree."""

        def __init__(
            self, trial: optuna.trial.BaseTrial, known: Mapping[str, Any] | None = None
        ) -> None:
            super().__init__()
            self.trial = trial
            self.values.update(known or {})  # drawn before (the build's, for its fit)
            self.drawn: dict[str, Any] = {}  # what the trial was asked for, in order

        def _register(self, hyperparameter, overwrite=False):
            hp = hyperparameter
            if self.is_active(hp) and hp.name not in self.values:
                value = suggest(self.trial, hp)
                self.values[hp.name] = value
                if not isinstance(hp, _hp_types().Fixed):
                    self.drawn[hp.name] = value
            return super()._register(hp, overwrite=False)

    return TrialHyperParameters


def trial_hyperparameters(trial: optuna.trial.BaseTrial, known: Mapping[str, Any] | None = None):
    """KerasTuner's ``hp`` answered by ``trial`` (``known``: values drawn before)."""
    return _trial_hyperparameters()(trial, known)


def _hp_types():
    from keras_tuner.src.engine.hyperparameters import hp_types

    return hp_types


def suggest(trial: optuna.trial.BaseTrial, hp) -> Any:
    """The Optuna counterpart of one KerasTuner hyperparameter."""
    hp_types = _hp_types()
    if isinstance(hp, hp_types.Fixed):
        return hp.value
    if isinstance(hp, hp_types.Boolean):
        return trial.suggest_categorical(hp.name, [False, True])
    if isinstance(hp, hp_types.Choice):
        return trial.suggest_categorical(hp.name, list(hp.values))
    if isinstance(hp, hp_types.Int | hp_types.Float):
        return _suggest_number(trial, hp)
    raise SpaceError(
        f"hyperparameter {hp.name!r} is a {type(hp).__name__}, which sweeper cannot draw"
    )


def _suggest_number(trial: optuna.trial.BaseTrial, hp) -> Any:
    is_int = isinstance(hp, _hp_types().Int)
    low, high, step = hp.min_value, hp.max_value, hp.step
    if hp.sampling == "linear":
        if is_int:
            return trial.suggest_int(hp.name, low, high, step=step or 1)
        return trial.suggest_float(hp.name, low, high, step=step)
    if step is not None:  # a geometric grid (KerasTuner's own): its values, as choices
        grid = [hp._get_value_by_index(i) for i in range(hp._get_n_values())]
        return trial.suggest_categorical(hp.name, [int(v) if is_int else v for v in grid])
    if hp.sampling == "log":
        if is_int:
            return trial.suggest_int(hp.name, low, high, log=True)
        return trial.suggest_float(hp.name, low, high, log=True)
    raise SpaceError(
        f"hyperparameter {hp.name!r} samples {hp.sampling!r}, which Optuna has no "
        "counterpart for; use sampling='linear' or 'log', or give it a step"
    )


def sample(hypermodel: Any, trial: optuna.trial.BaseTrial) -> dict[str, Any]:
    """Draw a trial's hypermodel parameters: the hypermodel builds once with the trial's ``hp``
    and the model is dropped (the trial builds its own from the values, ``build``). One extra
    build per trial (not measured against training) keeps the one build path that
    re-training replays."""
    hp = trial_hyperparameters(trial)
    _build(hypermodel, hp)
    return hp.drawn


def fixed(params: Mapping[str, Any]):
    """A ``HyperParameters`` that answers with a trial's values (and defaults for the rest)."""
    import keras_tuner as kt

    hp = kt.HyperParameters()
    hp.values.update(params)
    return hp


def build(hypermodel: Any, params: Mapping[str, Any]):
    """The hypermodel's model for a trial's values."""
    return _build(hypermodel, fixed(params))


def fit(hypermodel: Any, hp, model, *args, **kwargs) -> None:
    """``HyperModel.fit`` when the hypermodel has one (its ``batch_size`` and the like), else
    ``model.fit``: as KerasTuner's tuners train a trial."""
    import keras_tuner as kt

    if isinstance(hypermodel, kt.HyperModel):
        hypermodel.fit(hp, model, *args, **kwargs)
    else:
        model.fit(*args, **kwargs)


def _build(hypermodel: Any, hp):
    import keras_tuner as kt

    if isinstance(hypermodel, kt.HyperModel):
        return hypermodel.build(hp)
    return hypermodel(hp)


def describe(hypermodel: Any) -> list[tuple[str, str, str, str]]:
    """(name, kind, range, active when) of each hyperparameter a default build asks for, as
    KerasTuner records them; branches the defaults do not take may ask for more."""
    import keras_tuner as kt

    hp_types = _hp_types()
    hp = kt.HyperParameters()
    try:
        _build(hypermodel, hp)
    except Exception as exc:
        raise SpaceError(
            f"the hypermodel fails to build with its defaults ({describe_failure(exc)}); fix it"
        ) from exc
    rows = []
    for param in hp.space:
        config = param.get_config()
        if isinstance(param, hp_types.Fixed):
            shown = f"fixed {param.value!r}"
        elif isinstance(param, hp_types.Boolean):
            shown = "False, True"
        elif isinstance(param, hp_types.Choice):
            shown = ", ".join(map(str, param.values))
        else:
            step = f" step {config['step']}" if config.get("step") else ""
            shown = f"{config['min_value']}..{config['max_value']}{step} {config['sampling']}"
        when = " and ".join(
            f"{c.name} in {list(c.values)}" for c in param.conditions if hasattr(c, "values")
        )
        rows.append((param.name, type(param).__name__, shown, when or "always"))
    return rows
