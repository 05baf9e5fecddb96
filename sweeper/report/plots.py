"""The report's plots: one function each, a study in and a plotly figure out (``PLOTS``).

A plot that cannot be drawn from a study (no completed trial yet, too few for importances)
raises ``NoPlot`` saying why; the page shows that line in its place.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from sweeper.space.goals import COSTS
from sweeper.storage.record import TrialRecord, before_divergence
from sweeper.storage.standing import StudyGoals, nondominated_ranks

TOP_CURVES = 5  # completed trials whose learning curves are drawn in colour


class NoPlot(Exception):
    """The plot cannot be drawn from this study yet; the message says why."""


def complete_trials(study: optuna.Study) -> list[FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def objective_name(study: optuna.Study) -> str:
    return study.user_attrs.get("objective", "objective")


def _primary(study: optuna.Study) -> dict[str, Any]:
    """What Optuna's plots need to draw the primary objective: with several objectives they
    must be told which value to draw."""
    if len(study.directions) == 1:
        return {"target_name": objective_name(study)}
    return {"target": lambda trial: trial.values[0], "target_name": objective_name(study)}


# Plots: one function each, a study in and a plotly figure out. -----------------------------


def _history(study: optuna.Study, frame: pd.DataFrame):
    if not complete_trials(study):
        raise NoPlot("no trial has completed yet")
    return optuna.visualization.plot_optimization_history(study, **_primary(study))


# fANOVA's forests grow with the trials and the parameters: on a 1,000-trial study of
# mnist_space (18 parameters) it took 14 s of the report, and 3.8 s on a sample of 200
# (benchmarks/report_time.py). Past this many completed trials the page uses PED-ANOVA
# instead (Optuna's: which parameters set the top 10% of trials apart, in 0.05 s on the
# same study), and its caption says so.
FANOVA_TRIALS = 100


def _importances(study: optuna.Study, frame: pd.DataFrame):
    complete = complete_trials(study)
    if len(complete) < 2:
        raise NoPlot("parameter importances need at least two completed trials")
    if len(complete) <= FANOVA_TRIALS:
        evaluator: Any = optuna.importance.FanovaImportanceEvaluator(seed=0)  # the same page
        note = None
    else:
        evaluator = optuna.importance.PedAnovaImportanceEvaluator()
        note = (
            f"With {len(complete)} completed trials, by PED-ANOVA (which parameters set the "
            "top 10% apart) instead: fANOVA would take most of the report's time."
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        target = _primary(study).get("target")
        importances = optuna.importance.get_param_importances(
            study, evaluator=evaluator, target=target
        )
    return _importance_bars(importances, objective_name(study)), note


def _importance_bars(importances: dict[str, float], objective: str):
    """Optuna's plot_param_importances, drawn here: its hover text deep-copies every trial
    once per parameter, 4 of a 1,000-trial report's seconds (18 parameters)."""
    import plotly.graph_objects as go

    names = list(importances)[::-1]  # the most important at the top
    values = [importances[name] for name in names]
    return go.Figure(
        go.Bar(
            x=values,
            y=names,
            orientation="h",
            text=[f"{v:.2f}" if v >= 0.01 else "<0.01" for v in values],
            textposition="outside",
            hovertemplate="%{y}: %{x:.3f}<extra></extra>",
        ),
        layout={"xaxis_title": f"importance for {objective}", "yaxis_title": "parameter"},
    )


# Optuna draws one line object per trial: 1,000 trials took a second of the report and most
# of its page. The best this many are the lines worth reading anyway.
PARALLEL_TRIALS = 300


def _parallel(study: optuna.Study, frame: pd.DataFrame):
    complete = complete_trials(study)
    if not complete:
        raise NoPlot("no trial has completed yet")
    note, target = None, _primary(study)
    if len(complete) > PARALLEL_TRIALS:
        primary = StudyGoals.of(study).primary
        best = sorted(complete, key=lambda t: -primary.better(TrialRecord.of(t).value or 0.0))
        note = f"The best {PARALLEL_TRIALS} of the {len(complete)} completed trials."
        study = _in_memory(study, sorted(best[:PARALLEL_TRIALS], key=lambda t: t.number))
    figure = optuna.visualization.plot_parallel_coordinate(study, **target)
    return figure, note


def _in_memory(study: optuna.Study, trials: list[FrozenTrial]) -> optuna.Study:
    """A quiet in-memory study of some of ``study``'s trials, for a plot of them alone."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "new study created" line
    try:
        subset = optuna.create_study(directions=study.directions)
    finally:
        optuna.logging.set_verbosity(verbosity)
    subset.add_trials(trials)
    return subset


def _learning_curves(study: optuna.Study, frame: pd.DataFrame):
    import plotly.graph_objects as go

    objective = objective_name(study)
    top = frame[frame["state"] == "complete"]["trial"].head(TOP_CURVES).tolist()
    pruned = frame[frame["state"] == "pruned"]["trial"].tolist()
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    fig = go.Figure()
    for number in pruned:  # drawn first, so the top trials lie on top of them
        history = TrialRecord.of(trials[number]).history
        trained = before_divergence(history.get(objective, []), history)
        if trained:
            fig.add_trace(
                go.Scatter(
                    x=list(range(1, len(trained) + 1)),
                    y=trained,
                    mode="lines+markers",
                    name="pruned",
                    legendgroup="pruned",
                    showlegend=number == pruned[0],
                    line={"color": "#9aa0a6", "width": 1, "dash": "dot"},
                    marker={"size": 6},
                    opacity=0.7,
                    hovertemplate=f"trial {number} (pruned)<br>epoch %{{x}}: "
                    "%{y:.4g}<extra></extra>",
                )
            )
    for rank, number in enumerate(top, start=1):
        curve = TrialRecord.of(trials[number]).history.get(objective)
        if curve:
            fig.add_trace(
                go.Scatter(
                    x=list(range(1, len(curve) + 1)),
                    y=curve,
                    mode="lines+markers",
                    name=f"#{rank}: trial {number}",
                    line={"width": 2.5},
                    hovertemplate=f"trial {number}<br>epoch %{{x}}: %{{y:.4g}}<extra></extra>",
                )
            )
    if not fig.data:
        raise NoPlot("no trial has finished an epoch yet")
    epochs = max(len(trace.x) for trace in fig.data)
    fig.update_layout(
        xaxis_title="epoch",
        yaxis_title=objective,  # whole epochs on the axis
        xaxis={"tick0": 1, "dtick": max(1, round(epochs / 10))},
    )
    return fig


def _pareto(study: optuna.Study, frame: pd.DataFrame):
    """The primary objective against each measured cost, a panel each (the sweep's own cost
    objectives first). Every complete and pruned trial is drawn behind the front: with
    several objectives the sweep's Pareto front, with one the trials no other beats on both
    the objective and that panel's cost."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    goals = StudyGoals.of(study)
    shown = frame[frame["state"].isin(["complete", "pruned"]) & frame["value"].notna()]
    ordered = [g.name for g in goals.goals[1:] if g.is_cost] + list(COSTS)
    costs = [c for c in dict.fromkeys(ordered) if c in shown and shown[c].notna().any()]
    if shown.empty or not costs:
        raise NoPlot("no trial has both a value and a measured cost yet")
    front_of_study = set(frame.loc[frame["pareto_rank"] == 1, "trial"]) if goals.several else set()
    # The front is a staircase where it is two-dimensional: one objective against each cost,
    # or two objectives against their cost. Beyond that it is a set of points in the panel.
    staircase = {c for c in costs if not goals.several or [g.name for g in goals.goals[1:]] == [c]}
    figure = make_subplots(rows=1, cols=len(costs), shared_yaxes=True, horizontal_spacing=0.03)
    for column, cost in enumerate(costs, start=1):
        rows = shown[shown[cost].notna()]
        front = front_of_study if goals.several else _front_2d(rows, goals, cost)
        feasible = _infeasible(rows, False)
        on_front = rows["trial"].isin(front)
        layers: dict[str, tuple[pd.DataFrame, dict[str, Any]]] = {  # the front drawn last
            "pruned": (
                rows[rows["state"] == "pruned"],
                {"color": "#c4c9cf", "symbol": "circle-open"},
            ),
            "infeasible": (_infeasible(rows, True), {"color": "#e5a5a5", "symbol": "x"}),
            "complete": (feasible[~feasible["trial"].isin(front)], {"color": "#9aa0a6"}),
            "on the front": (rows[on_front].sort_values(cost), {"color": "#0969da", "size": 10}),
        }
        for label, (part, style) in layers.items():
            if part.empty:
                continue
            is_front = label == "on the front" and cost in staircase
            figure.add_trace(
                go.Scatter(
                    x=part[cost],
                    y=part["value"],
                    mode="lines+markers" if is_front else "markers",
                    line={"shape": "hv", "color": "#0969da", "width": 1.5} if is_front else None,
                    marker={"size": 7, **style},
                    name=label,
                    legendgroup=label,
                    showlegend=column == 1,
                    text=[_hover(row, goals, cost) for row in part.to_dict("records")],
                    hovertemplate="%{text}<extra></extra>",
                ),
                row=1,
                col=column,
            )
        spread = rows[cost][rows[cost] > 0]
        log = len(spread) > 1 and spread.max() / spread.min() > 20
        figure.update_xaxes(title_text=cost, type="log" if log else "linear", row=1, col=column)
    figure.update_yaxes(title_text=goals.primary.name, row=1, col=1)
    # Scaled to the completed trials: a pruned trial stopped at 0.1 would squash them into a
    # line. Those below stay one zoom-out (double-click) away.
    complete = shown.loc[shown["state"] == "complete", "value"]
    if len(complete) > 1 and complete.max() > complete.min():
        pad = 0.08 * (complete.max() - complete.min())
        figure.update_yaxes(range=[complete.min() - pad, complete.max() + pad])
    figure.update_layout(legend={"orientation": "h", "y": -0.25})
    count = len(front_of_study) if goals.several else None
    note = None if count is None else f"{count} trial{'s' if count != 1 else ''} on the front."
    return figure, note


def _infeasible(rows: pd.DataFrame, infeasible: bool) -> pd.DataFrame:
    complete = rows[rows["state"] == "complete"]
    if "feasible" not in rows:
        return complete.iloc[0:0] if infeasible else complete
    broken = complete["feasible"].eq(False).fillna(False)
    return complete[broken] if infeasible else complete[~broken]


def _front_2d(rows: pd.DataFrame, goals: StudyGoals, cost: str) -> set[int]:
    """The complete feasible trials no other beats on both the primary objective and
    ``cost`` (costs: less is better)."""
    pool = _infeasible(rows, False)
    points = {
        int(t): [goals.primary.better(v), -c]
        for t, v, c in zip(pool["trial"], pool["value"], pool[cost], strict=True)
    }
    return {t for t, rank in nondominated_ranks(points).items() if rank == 1}


def _hover(row: dict, goals: StudyGoals, cost: str) -> str:
    params = " ".join(
        f"{k.removeprefix('params_')}={v:.3g}"
        if isinstance(v, float)
        else f"{k.removeprefix('params_')}={v}"
        for k, v in row.items()
        if k.startswith("params_") and v is not None and not (isinstance(v, float) and pd.isna(v))
    )
    return (
        f"trial {row['trial']} ({row['state']})<br>{goals.primary.name} {row['value']:.4g}"
        f"<br>{cost} {row[cost]:.4g}<br>{params}"
    )


class Plot(NamedTuple):
    key: str  # the plot's element id is plot-<key>
    title: str
    caption: str
    # A plotly figure (or the figure and a note for its caption), or raises NoPlot.
    build: Callable[[optuna.Study, pd.DataFrame], Any]
    wide: bool = False  # spans the page's width

    def draw(self, study: optuna.Study, frame: pd.DataFrame) -> tuple[Any, str]:
        """The figure and its caption, with what the build noted (e.g. a sample's size)."""
        drawn = self.build(study, frame)
        figure, note = drawn if isinstance(drawn, tuple) else (drawn, None)
        return figure, self.caption + (f" {note}" if note else "")


PLOTS = [
    Plot(
        "history",
        "Optimization history",
        "The objective of each completed trial, and the best so far.",
        _history,
    ),
    Plot(
        "importance",
        "Parameter importances",
        "fANOVA over the parameters every completed trial has (conditional ones are left out).",
        _importances,
    ),
    Plot(
        "curves",
        "Learning curves",
        f"The objective per epoch of the top {TOP_CURVES} completed trials (colour) and of "
        "the pruned trials (grey, dotted).",
        _learning_curves,
        wide=True,
    ),
    Plot(
        "pareto",
        "Accuracy against cost",
        "The objective against each measured cost: the front in blue (the trials no other "
        "beats on every objective; with one objective, on the objective and that panel's "
        "cost), every other trial behind it, scaled to the completed ones (double-click for "
        "all). Hover a point for its trial.",
        _pareto,
        wide=True,
    ),
    Plot(
        "parallel",
        "Parameters vs objective",
        "One line per completed trial across its parameters; the colour is the objective.",
        _parallel,
        wide=True,
    ),
]
