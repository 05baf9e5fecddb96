"""A search space: the ranges to sweep plus the model, data and objective they apply to.

A space author declares the model-specific parameters and a ``Training`` block for the shared
ones (optimizer, learning rate, schedule, clipping, batch size, dropout). The library expands
``Training`` into conditional parameters from the optimizer and schedule registries, so every
space gets the same, tested, Keras objects for them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from optuna.trial import BaseTrial

from sweeper.errors import SpaceError
from sweeper.space.goals import (
    COSTS,
    Constraint,
    Goal,
    WinnerRule,
    default_rule,
    parse_constraint,
    parse_goal,
    parse_rule,
)
from sweeper.space.optimizers import CLIP_THRESHOLD, CLIPPING_MODES, OPTIMIZERS
from sweeper.space.options import LOSSES, Options, loss_spec
from sweeper.space.params import Categorical, Float, Param
from sweeper.space.schedules import SCHEDULES

DIRECTIONS = ("maximize", "minimize")
# A space's name is its study's name and its results folder's: one path component.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _check_names(kind: str, names: Sequence[str], known: Mapping[str, Any] | Sequence[str]):
    if isinstance(names, str) or not names:
        raise SpaceError(f"{kind}s must be a non-empty list of names, but got {names!r}")
    for name in names:
        if name not in known:
            raise SpaceError(f"unknown {kind} {name!r}; choose from {', '.join(known)}")


def _range(name: str, bounds: Sequence[float], *, log: bool = False, **when) -> Float:
    if len(bounds) != 2:
        raise SpaceError(f"{name} must be a (low, high) pair, but got {bounds!r}")
    return Float(name, bounds[0], bounds[1], log=log, when=when or None)


@dataclass(frozen=True)
class Training:
    """The shared hyperparameters every space sweeps, with their ranges.

    ``extras`` overrides the range of a conditional extra, e.g. ``{"momentum": (0.8, 0.99)}``.

    Training options, each fixed (one value) or swept (a list of choices; for the real-valued
    ones a ``(low, high)`` pair), applied by the library to every model
    (``sweeper.space.options``): ``precision`` ("float32", "mixed_float16", "mixed_bfloat16");
    ``jit_compile`` (True, False, "auto"); ``steps_per_execution`` ("auto": sweeper's choice
    for the batch size); ``gradient_accumulation_steps``; ``weight_decay`` (every optimizer;
    AdamW's own range otherwise); ``label_smoothing`` (cross-entropy losses); ``class_weight``
    ("balanced", "none", or {class: weight}); ``losses`` (the loss as a parameter, e.g.
    ``("mse", "mae", "huber")``, in place of the space's ``loss``); ``ema`` (True: validate,
    stop early and end with the moving average of the weights; False: the weights as
    trained). A fixed value that is not the default is recorded with each trial like a swept
    one.
    """

    optimizers: Sequence[str] = tuple(OPTIMIZERS)
    learning_rate: tuple[float, float] = (1e-4, 1e-1)
    schedules: Sequence[str] = tuple(SCHEDULES)
    clipping: Sequence[str] = CLIPPING_MODES
    clip_threshold: tuple[float, float] = (CLIP_THRESHOLD.low, CLIP_THRESHOLD.high)
    batch_sizes: Sequence[int] = (32, 64, 128)
    dropout: tuple[float, float] | None = (0.0, 0.5)
    extras: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    precision: str | Sequence[str] = "float32"
    jit_compile: bool | str | Sequence[bool | str] = "auto"
    steps_per_execution: int | str | Sequence[int] = "auto"
    gradient_accumulation_steps: int | Sequence[int] = 1
    weight_decay: float | tuple[float, float] | None = None
    label_smoothing: float | tuple[float, float] = 0.0
    class_weight: str | Sequence[str] | Mapping[int, float] | None = None
    losses: Sequence[str] | None = None
    ema: bool | Sequence[bool] = True

    def __post_init__(self) -> None:
        _check_names("optimizer", self.optimizers, OPTIMIZERS)
        _check_names("schedule", self.schedules, SCHEDULES)
        _check_names("clipping mode", self.clipping, CLIPPING_MODES)
        if (
            isinstance(self.batch_sizes, int)
            or not self.batch_sizes
            or any(not isinstance(b, int) or isinstance(b, bool) or b < 1 for b in self.batch_sizes)
        ):
            raise SpaceError(
                f"batch_sizes must be a list of positive integers, but got {self.batch_sizes!r}"
            )
        specs: list[Any] = [*OPTIMIZERS.values(), *SCHEDULES.values(), *LOSSES.values()]
        known = {p.name for spec in specs for p in spec.extras}
        for name in self.extras:
            if name not in known:
                raise SpaceError(
                    f"unknown extra {name!r} in Training(extras=...); choose from "
                    f"{', '.join(sorted(known))}"
                )
        self.params()  # validates every range now, when the module is imported

    def params(self) -> list[Param]:
        """The shared parameters in sampling order, each extra conditioned on its owners."""
        options = self.options.params()
        # A weight decay declared for every optimizer replaces AdamW's own extra.
        declared = {p.name for p in options}
        params: list[Param] = [
            Categorical("optimizer", tuple(self.optimizers)),
            _range("learning_rate", self.learning_rate, log=True),
            *(
                p
                for p in self._extras("optimizer", self.optimizers, OPTIMIZERS)
                if p.name not in declared
            ),
            Categorical("lr_schedule", tuple(self.schedules)),
            *self._extras("lr_schedule", self.schedules, SCHEDULES),
            Categorical("batch_size", tuple(self.batch_sizes)),
            Categorical("clipping", tuple(self.clipping)),
        ]
        clipped = tuple(mode for mode in self.clipping if mode != "none")
        if clipped:
            params.append(_range("clip_threshold", self.clip_threshold, log=True, clipping=clipped))
        if self.dropout is not None:
            params.append(_range("dropout", self.dropout))
        return params + options

    @property
    def fixed_class_weight(self) -> Mapping[int, float] | None:
        """The space's own {class: weight}, which is not a parameter."""
        return self.class_weight if isinstance(self.class_weight, Mapping) else None

    @property
    def options(self) -> Options:
        return Options(
            precision=self.precision,
            jit_compile=self.jit_compile,
            steps_per_execution=self.steps_per_execution,
            gradient_accumulation_steps=self.gradient_accumulation_steps,
            weight_decay=self.weight_decay,
            label_smoothing=self.label_smoothing,
            class_weight=self.class_weight,
            losses=self.losses,
            extras=self.extras,
            ema=self.ema,
        )

    def _extras(self, parent: str, chosen: Sequence[str], registry: Mapping) -> list[Param]:
        owners: dict[str, list[str]] = {}
        templates: dict[str, Any] = {}
        for name in chosen:
            for extra in registry[name].extras:
                owners.setdefault(extra.name, []).append(name)
                templates[extra.name] = extra
        bounds = {
            name: tuple(self.extras.get(name, (t.low, t.high))) for name, t in templates.items()
        }
        for name, pair in bounds.items():
            if len(pair) != 2:
                raise SpaceError(f"{name} must be a (low, high) pair, but got {pair!r}")
        return [
            Float(
                name,
                bounds[name][0],
                bounds[name][1],
                log=templates[name].log,
                when={parent: tuple(owner_names)},
            )
            for name, owner_names in owners.items()
        ]


@dataclass(frozen=True)
class Space:
    """Everything a sweep needs: parameters, model builder, data loader, loss and objective.

    ``build_model(params, data)`` returns an uncompiled ``keras.Model``: the library compiles
    it with the trial's optimizer. ``load_data(data_dir)`` returns a ``sweeper.Dataset``.
    ``hypermodel`` instead of ``build_model``: a KerasTuner ``build_model(hp)`` or
    ``HyperModel``, run as it is (``sweeper.space.hypermodel``); with ``training=None`` it compiles
    its own model, loss and metrics included.
    ``name`` names its study and its results folder; a module's space may leave it out (the
    module's name is used). ``starting_points``: configurations a new sweep tries first
    ({parameter: value}, partial ones completed with each range's middle); None: two from the
    optimizer registry (Adam at 1e-2 with clipped gradients, then at 1e-3, when the space
    declares Adam); []: none, the sampler from the first trial.

    ``objective`` and ``direction``: what the sweep optimizes, a metric Keras reports. For
    several objectives, ``objectives`` lists them as ``"name:max"`` / ``"name:min"`` (or
    (name, direction) pairs): metrics, or costs sweeper measures on every trial
    (``sweeper.space.goals.COSTS``: ``params``, ``latency_ms``...). The first is the primary
    one, a metric: early stopping and pruning watch it, and ``objective`` and ``direction``
    become its. ``constraints`` bound costs or metrics (``"latency_ms<=2"``): a trial that
    breaks one is infeasible, never the winner. ``winner`` is the rule that picks the trial to
    re-train (``"min params within 0.005 of val_accuracy"``); with several objectives the
    default is the least of the first cost within 0.005 of the primary objective's best.
    """

    build_model: Callable[[Mapping[str, Any], Any], Any] | None = None
    # Required; a default only so that build_model may be left out for a hypermodel.
    load_data: Callable[[Any], Any] = None  # type: ignore[assignment]
    params: Sequence[Param] = ()
    training: Training | None = field(default_factory=Training)
    loss: Any = "sparse_categorical_crossentropy"
    metrics: Sequence[Any] = ("accuracy",)
    objective: str = "val_accuracy"
    direction: str = "maximize"
    objectives: Sequence[str | Sequence[str]] = ()
    constraints: Sequence[str] = ()
    winner: str | None = None
    max_epochs: int = 10
    patience: int = 3
    n_trials: int = 20
    starting_points: Sequence[Mapping[str, Any]] | None = None
    hypermodel: Any = None
    name: str = ""
    description: str = ""
    # Where load_space() found it (a name or a .py path): worker processes load it from there.
    source: str = ""

    def __post_init__(self) -> None:
        self._check_builder()
        if not callable(self.load_data):
            raise SpaceError(f"load_data must be a function, but got {self.load_data!r}")
        if self.training is not None and not isinstance(self.training, Training):
            raise SpaceError(f"training must be a Training(...) or None, but got {self.training!r}")
        if self.name and not (isinstance(self.name, str) and NAME.fullmatch(self.name)):
            raise SpaceError(
                f"space name {self.name!r} cannot name a study and a folder; use letters, "
                "digits, '_', '-' and '.', starting with a letter or digit"
            )
        if self.direction not in DIRECTIONS:
            raise SpaceError(
                f"direction must be 'maximize' or 'minimize', but got {self.direction!r}"
            )
        if self.objectives:  # the first of several is the primary: objective and direction
            if isinstance(self.objectives, str):
                raise SpaceError(
                    f"objectives must be a list such as ['val_accuracy:max', 'params:min'], "
                    f"not {self.objectives!r}"
                )
            primary = parse_goal(self.objectives[0])
            if primary.is_cost:
                raise SpaceError(
                    "the first objective is what early stopping and pruning watch each epoch, "
                    f"so it must be a metric, not the cost {primary.name!r}; put costs after it"
                )
            object.__setattr__(self, "objective", primary.name)
            object.__setattr__(self, "direction", primary.direction)
        for attr in ("max_epochs", "n_trials"):
            if not isinstance(getattr(self, attr), int) or getattr(self, attr) < 1:
                raise SpaceError(
                    f"{attr} must be a positive integer, but got {getattr(self, attr)!r}"
                )
        if not isinstance(self.patience, int) or self.patience < 0:
            raise SpaceError(f"patience must be an integer >= 0, but got {self.patience!r}")
        self._check_objective()
        self._check_goals()
        self._check_params()
        self._check_smoothing()
        if self.starting_points is not None:
            if isinstance(self.starting_points, Mapping) or not all(
                isinstance(point, Mapping) for point in self.starting_points
            ):
                raise SpaceError(
                    "starting_points must be a list of {parameter: value} dicts, but got "
                    f"{self.starting_points!r}"
                )
            from sweeper.space.starting import starting_points

            starting_points(self)  # a point outside the ranges fails on import, not mid-sweep

    @property
    def all_params(self) -> list[Param]:
        """The declared parameters (a hypermodel's own are known only as it runs)."""
        return [*(self.training.params() if self.training else []), *self.params]

    @property
    def goals(self) -> tuple[Goal, ...]:
        """The objectives, the primary first."""
        if self.objectives:
            return tuple(parse_goal(given) for given in self.objectives)
        return (Goal(self.objective, self.direction),)

    @property
    def constraint_list(self) -> tuple[Constraint, ...]:
        return tuple(parse_constraint(text) for text in self.constraints)

    @property
    def winner_rule(self) -> WinnerRule | None:
        """The rule that picks the trial to re-train; None: the best trial."""
        return parse_rule(self.winner) if self.winner else default_rule(self.goals)

    @property
    def keras_mode(self) -> str:
        """The objective's direction as Keras callbacks spell it."""
        return "max" if self.direction == "maximize" else "min"

    def suggest(self, trial: BaseTrial) -> dict[str, Any]:
        """Sample the trial's active parameters, in declaration order; then a hypermodel's,
        as it asks for them."""
        sampled: dict[str, Any] = {}
        for param in self.all_params:
            if param.is_active(sampled):
                sampled[param.name] = param.suggest(trial)
        if self.hypermodel is not None:
            from sweeper.space.hypermodel import sample  # KerasTuner, and so Keras, load only now

            sampled.update(sample(self.hypermodel, trial))
        return sampled

    def build(self, params: Mapping[str, Any], data: Any):
        """The model for one configuration: ``build_model``'s, or the hypermodel's."""
        if self.hypermodel is not None:
            from sweeper.space.hypermodel import build

            return build(self.hypermodel, params)
        assert self.build_model is not None  # checked when the space was made
        return self.build_model(params, data)

    def _check_builder(self) -> None:
        if (self.build_model is None) == (self.hypermodel is None):
            raise SpaceError(
                "give a space either build_model(params, data) or a KerasTuner hypermodel "
                "(build_model(hp) or HyperModel), not "
                + ("both" if self.build_model is not None else "neither")
            )
        if self.build_model is not None and not callable(self.build_model):
            raise SpaceError(f"build_model must be a function, but got {self.build_model!r}")
        model = self.hypermodel
        if model is not None and not (callable(model) or callable(getattr(model, "build", None))):
            raise SpaceError(
                "hypermodel must be a keras_tuner.HyperModel or a build_model(hp) function, "
                f"but got {model!r}"
            )

    def _check_objective(self) -> None:
        if not isinstance(self.objective, str) or not self.objective:
            raise SpaceError(f"objective must be a metric name, but got {self.objective!r}")
        reported = self._reported()
        if reported is not None and self.objective not in reported:
            raise SpaceError(
                f"objective {self.objective!r} is not a metric this space reports; choose from "
                f"{', '.join(reported)}"
            )

    def _reported(self) -> list[str] | None:
        """The metrics Keras will report, or None where only a trial can tell: a hypermodel
        compiles its own, and metric objects are named only once Keras runs them."""
        if self.training is None:
            return None
        names = [m for m in self.metrics if isinstance(m, str)]
        if len(names) < len(self.metrics):
            return None
        return ["loss", "val_loss", *names, *(f"val_{m}" for m in names)]

    def _check_goals(self) -> None:
        """Several objectives, constraints and a winner rule name metrics it reports or
        costs sweeper measures; the primary objective is a metric (watched every epoch)."""
        goals = self.goals
        reported = self._reported()
        known = [*(reported or []), *COSTS]

        def check(name: str, what: str) -> None:
            if reported is not None and name not in known:
                raise SpaceError(
                    f"{what} {name!r} is neither a metric this space reports nor a cost "
                    f"sweeper measures; choose from {', '.join(known)}"
                )

        names = [goal.name for goal in goals]
        if len(set(names)) < len(names):
            raise SpaceError(f"objectives name one metric twice: {', '.join(names)}")
        for goal in goals[1:]:
            check(goal.name, "objective")
        for constraint in self.constraint_list:
            check(constraint.name, "constraint on")
        rule = self.winner_rule
        if rule is not None:
            check(rule.by, "the winner rule's measure")
            if rule.near not in names:
                raise SpaceError(
                    f"the winner rule stays near {rule.near!r}, which is not an objective of "
                    f"this sweep; name one of {', '.join(names)}"
                )

    def _check_smoothing(self) -> None:
        if self.training is None or not self.training.label_smoothing:
            return
        for loss in self.training.options.loss_names(self.loss):
            spec = loss_spec(loss)
            if spec is None or not spec.smoothable:
                smoothable = ", ".join(n for n, s in LOSSES.items() if s.smoothable)
                raise SpaceError(
                    f"Training(label_smoothing=...) needs a cross-entropy loss, but loss "
                    f"{loss!r} takes none; use one of {smoothable}, or drop label_smoothing"
                )

    def _check_params(self) -> None:
        seen: dict[str, Param] = {}
        for param in self.all_params:
            if not isinstance(param, Param):
                raise SpaceError(
                    f"params must hold Categorical, Float or Int declarations, but got {param!r}"
                )
            if param.name in seen:
                raise SpaceError(
                    f"parameter {param.name!r} is declared twice (shared training parameters "
                    "are declared by Training); rename or remove one"
                )
            for parent, values in (param.when or {}).items():
                self._check_condition(param, seen.get(parent), parent, values)
            seen[param.name] = param

    @staticmethod
    def _check_condition(param: Param, parent: Param | None, parent_name: str, values) -> None:
        if parent is None:
            raise SpaceError(
                f"parameter {param.name!r} depends on {parent_name!r}, which is not declared "
                "before it; declare the parent first"
            )
        if isinstance(parent, Categorical):
            missing = [v for v in values if v not in parent.choices]
            if missing:
                raise SpaceError(
                    f"parameter {param.name!r} depends on {parent_name}={missing[0]!r}, which "
                    f"is not one of its choices {list(parent.choices)}"
                )
