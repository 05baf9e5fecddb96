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

from sweeper.storage.record import TrialRecord

TOP_CURVES = 5  # completed trials whose learning curves are drawn in colour


class NoPlot(Exception):
    """The plot cannot be drawn from this study yet; the message says why."""


def complete_trials(study: optuna.Study) -> list[FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def objective_name(study: optuna.Study) -> str:
    return study.user_attrs.get("objective", "objective")


# Plots: one function each, a study in and a plotly figure out. -----------------------------


def _history(study: optuna.Study, frame: pd.DataFrame):
    if not complete_trials(study):
        raise NoPlot("no trial has completed yet")
    return optuna.visualization.plot_optimization_history(study, target_name=objective_name(study))


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
        importances = optuna.importance.get_param_importances(study, evaluator=evaluator)
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
    note, target = None, objective_name(study)
    if len(complete) > PARALLEL_TRIALS:
        maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
        best = sorted(complete, key=lambda t: t.value or 0.0, reverse=maximize)
        note = f"The best {PARALLEL_TRIALS} of the {len(complete)} completed trials."
        study = _in_memory(study, sorted(best[:PARALLEL_TRIALS], key=lambda t: t.number))
    figure = optuna.visualization.plot_parallel_coordinate(study, target_name=target)
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
        curve = TrialRecord.of(trials[number]).history.get(objective)
        if curve:
            fig.add_trace(
                go.Scatter(
                    x=list(range(1, len(curve) + 1)),
                    y=curve,
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
        "parallel",
        "Parameters vs objective",
        "One line per completed trial across its parameters; the colour is the objective.",
        _parallel,
        wide=True,
    ),
]
