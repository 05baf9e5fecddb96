"""Starting points: the configurations a new sweep of a space tries first.

The space's own (``Space.starting_points``), else two built from the optimizer registry's
well-worn settings (Adam at 1e-3, or the next optimizer of ``START_ORDER`` the space
declares): first that optimizer at ten times the rate with clipped gradients and no dropout,
the quicker learner, then the well-worn setting itself, a model that trains where the bolder
one does not. Both train to their end (``sweeper.search.pruners``) and together set the bar
for the trials after them.
Users add their own (``enqueue``). Partial configurations are completed with each range's
middle.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sweeper.errors import SpaceError
from sweeper.space.optimizers import OPTIMIZERS, START_ORDER
from sweeper.space.params import Categorical

if TYPE_CHECKING:
    from sweeper.space.space import Space, Training

# The bolder start: the well-worn rate times this (Adam 1e-2; SGD with momentum 0.1, as
# ImageNet's ResNets train), its gradients clipped to norm 1 (the rate's risk is a diverging
# step). It takes the dropout range's low end, where the well-worn start takes the middle:
# the two starts differ in regularization as well as rate. Every tool's winners in the search
# benchmark used little dropout, and on its regression task this start reaches a validation
# MAE of 0.85 to 0.87 at dropout 0 against 1.57 to 1.81 at the middle's 0.25. It goes first:
# in benchmarks/search_efficiency.py (120 s) it reaches the targets of the CNN, recurrent and
# regression tasks in its first epochs, 3 to 5 s sooner than behind the well-worn start (the
# recurrent task's 90 %: 8 s against 13 s), and the MLP task's lower one as soon.
BOLDER_RATE = 10
BOLDER_CLIPPING = ("clipnorm", "global_clipnorm", "clipvalue")
BOLDER_CLIP_THRESHOLD = 1.0


def registry_points(training: Training) -> list[dict[str, Any]]:
    """The optimizer registry's starting settings for a space's training block, partial
    (model parameters are filled in by ``complete``): the first declared optimizer of
    ``START_ORDER`` bolder than its well-worn setting (ten times the rate, clipped gradients,
    the least dropout), then at that setting."""
    name = next((name for name in START_ORDER if name in training.optimizers), None)
    if name is None:
        return []
    well_worn = {
        "optimizer": name,
        "lr_schedule": "constant" if "constant" in training.schedules else training.schedules[0],
        "clipping": "none" if "none" in training.clipping else training.clipping[0],
        # The middle batch size: the smallest train slowly, the largest take few steps.
        "batch_size": sorted(training.batch_sizes)[(len(training.batch_sizes) - 1) // 2],
        **OPTIMIZERS[name].start,
    }
    rate = float(f"{well_worn['learning_rate'] * BOLDER_RATE:.2g}")  # 0.01, not 0.010000..2
    bolder = {**well_worn, "learning_rate": rate}
    clipping = next((mode for mode in BOLDER_CLIPPING if mode in training.clipping), None)
    if clipping is not None:
        bolder.update(clipping=clipping, clip_threshold=BOLDER_CLIP_THRESHOLD)
    if training.dropout is not None:
        bolder["dropout"] = training.dropout[0]
    return [bolder, well_worn]


def complete(space: Space, point: Mapping[str, Any], origin: str | None = None) -> dict[str, Any]:
    """A full configuration from a partial one: each active parameter it does not name takes
    its range's middle. ``origin`` names where a user's point came from, for the error that
    refuses a value out of range; None: the registry's own point, whose values are moved into
    the space's ranges instead."""
    params = {p.name: p for p in space.all_params}
    unknown = sorted(set(point) - set(params))
    if unknown and origin is not None:
        raise SpaceError(
            f"{origin}: unknown parameter {unknown[0]!r}; the space has {', '.join(params)}"
        )
    full: dict[str, Any] = {}
    for param in space.all_params:
        if not param.is_active(full):
            continue
        value = point.get(param.name, param.center())
        problem = param.problem_with(value)
        if problem is not None and origin is None:
            value = _nearest(param, value)
        elif problem is not None:
            raise SpaceError(f"{origin}: {param.name}={value!r} {problem}")
        full[param.name] = value
    return full


def _nearest(param: Any, value: Any) -> Any:
    if isinstance(param, Categorical):
        return param.center()
    return type(param.center())(min(max(value, param.low), param.high))


def starting_points(space: Space) -> list[dict[str, Any]]:
    """The configurations a new study of this space tries first."""
    if space.starting_points is not None:
        return [
            complete(space, point, f"starting point {i + 1} of space {space.name!r}")
            for i, point in enumerate(space.starting_points)
        ]
    if space.training is None:  # a hypermodel compiling its own: the registry has no say
        return []
    points: list[dict[str, Any]] = []
    for point in registry_points(space.training):
        full = complete(space, point)
        if full not in points:  # a range too narrow for both rates moves them onto one
            points.append(full)
    return points
