import optuna
import pytest

from sweeper import Categorical, Float, Int, Space, SpaceError, Training
from sweeper.space.optimizers import OPTIMIZERS
from sweeper.space.schedules import SCHEDULES


def _space(**kwargs):
    defaults = dict(build_model=lambda params, data: None, load_data=lambda data_dir: None)
    return Space(**{**defaults, **kwargs})


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(optimizers=("adam", "adamax")), "unknown optimizer 'adamax'; choose from sgd"),
        (dict(schedules=("cosine", "cyclic")), "unknown schedule 'cyclic'; choose from constant"),
        (dict(clipping=("clipall",)), "unknown clipping mode 'clipall'"),
        (dict(learning_rate=(0.1, 1e-4)), "low must not exceed high"),
        (dict(learning_rate=(0.0, 0.1)), "log-scale range must stay above 0"),
        (dict(batch_sizes=(32, 0)), "batch_sizes must be a list of positive integers"),
        (dict(extras={"momentum": (0.99, 0.5)}), "low must not exceed high"),
        (dict(extras={"betas": (0.9, 0.99)}), "unknown extra 'betas'"),
        (dict(optimizers="adam"), "must be a non-empty list"),
    ],
)
def test_training_rejects_bad_declarations(kwargs, message):
    with pytest.raises(SpaceError, match=message):
        Training(**kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(direction="up"), "direction must be 'maximize' or 'minimize'"),
        (dict(objective="val_acc"), "objective 'val_acc' is not a metric this space reports"),
        (dict(max_epochs=0), "max_epochs must be a positive integer"),
        (dict(params=[Float("dropout", 0, 0.5)]), "'dropout' is declared twice"),
        (
            dict(params=[Float("x", 0, 1, when={"y": "a"}), Categorical("y", ("a",))]),
            "depends on 'y', which is not declared before it",
        ),
        (
            dict(params=[Float("beta", 0, 1, when={"optimizer": "adamax"})]),
            "depends on optimizer='adamax', which is not one of its choices",
        ),
        (dict(build_model="model.keras"), "build_model must be a function"),
        (dict(params=[{"name": "units"}]), "params must hold Categorical, Float or Int"),
    ],
)
def test_space_rejects_bad_declarations(kwargs, message):
    with pytest.raises(SpaceError, match=message):
        _space(**kwargs)


def test_extras_exist_only_for_declared_owners():
    names = [
        p.name
        for p in Training(
            optimizers=("adam", "sgd"), schedules=("constant",), clipping=("none",)
        ).params()
    ]
    assert names == [
        "optimizer",
        "learning_rate",
        "lr_schedule",
        "batch_size",
        "clipping",
        "dropout",
    ]


def test_extra_range_override_keeps_its_condition():
    params = {p.name: p for p in Training(extras={"momentum": (0.8, 0.95)}).params()}
    assert (params["momentum"].low, params["momentum"].high) == (0.8, 0.95)
    assert params["momentum"].when == {"optimizer": ("momentum", "nesterov")}


def test_conditional_parameters_are_sampled_only_when_their_condition_holds():
    space = _space(
        params=[
            Int("units", 8, 64),
            Categorical("act", ("relu", "tanh")),
            Float("slope", 0.01, 0.3, when={"act": "relu"}),
        ]
    )
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    seen_optimizers, seen_schedules, seen_clipping = set(), set(), set()
    for _ in range(300):
        trial = study.ask()
        params = space.suggest(trial)
        study.tell(trial, 0.0)
        assert params == trial.params  # nothing sampled that was not returned, or vice versa
        seen_optimizers.add(params["optimizer"])
        seen_schedules.add(params["lr_schedule"])
        seen_clipping.add(params["clipping"])
        assert ("momentum" in params) == (params["optimizer"] in ("momentum", "nesterov"))
        assert ("weight_decay" in params) == (params["optimizer"] == "adamw")
        assert ("clip_threshold" in params) == (params["clipping"] != "none")
        assert ("warmup_fraction" in params) == (params["lr_schedule"] == "warmup_cosine")
        assert ("lr_decay_rate" in params) == (params["lr_schedule"] == "exponential")
        assert ("piecewise_drop" in params) == (params["lr_schedule"] == "piecewise")
        assert ("plateau_factor" in params) == (params["lr_schedule"] == "plateau")
        assert ("slope" in params) == (params["act"] == "relu")
    assert seen_optimizers == set(OPTIMIZERS)
    assert seen_schedules == set(SCHEDULES)
    assert len(seen_clipping) == 4
