"""leaderboard.html: a whole study on one page that a person reads in a browser, offline.

The page carries everything it needs: plotly.js is embedded once, the sortable table is a
small inline script, and there is no link to a network resource. Text that comes from trials
(failure reasons, parameter values) is escaped. A plot that cannot be drawn (no completed
trial yet, too few for importances, degenerate data) becomes a line saying why: the page is
always written.
"""

from __future__ import annotations

import html
from datetime import datetime, timezone
from typing import Any

import numpy as np
import optuna
import pandas as pd

from sweeper.errors import SweeperError
from sweeper.report.live import format_duration
from sweeper.report.plots import PLOTS, NoPlot, complete_trials
from sweeper.space.goals import COSTS
from sweeper.storage.record import TrialRecord, count_queued
from sweeper.storage.standing import StudyGoals


def _plot_section(study: optuna.Study, frame: pd.DataFrame) -> tuple[str, bool]:
    """The plots' HTML, and whether any was drawn (and so needs plotly.js)."""
    parts, drawn = [], False
    for plot in PLOTS:
        caption = plot.caption
        try:
            fig, caption = plot.draw(study, frame)
        except NoPlot as exc:
            body = f'<p class="noplot">{html.escape(str(exc))}.</p>'
        except Exception as exc:  # noqa: BLE001 - one bad plot must not lose the whole report
            body = (
                f'<p class="noplot">could not be drawn from this study: '
                f"{html.escape(type(exc).__name__)}: {html.escape(str(exc))}</p>"
            )
        else:
            fig.update_layout(
                template="plotly_white",
                title=None,
                height=400,
                margin={"l": 60, "r": 20, "t": 20, "b": 50},
            )
            body = fig.to_html(
                full_html=False,
                include_plotlyjs=False,
                div_id=f"plot-{plot.key}",
                config={"displaylogo": False, "responsive": True},
            )
            drawn = True
        parts.append(
            f'<figure class="plot{" wide" if plot.wide else ""}"><h3>{plot.title}</h3>'
            f"<figcaption>{caption}</figcaption>{body}</figure>"
        )
    return "\n".join(parts), drawn


# Text parts. ------------------------------------------------------------------------------


def _cell(value: Any) -> tuple[str, str | None]:
    """What a table cell shows, and the raw number it sorts by (None: sort by the text)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "", None
    if isinstance(value, bool | np.bool_):
        return str(value), None
    if isinstance(value, int | np.integer):  # seeds, epochs: every digit
        return str(value), str(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        shown = str(int(number)) if number.is_integer() and abs(number) < 1e15 else f"{number:.4g}"
        return shown, repr(number)
    return str(value), None


def _table(frame: pd.DataFrame) -> str:
    columns = list(frame.columns)

    def label(column: str) -> str:  # parameters without their prefix, unless a metric has
        short = column.removeprefix("params_")  # that name (learning_rate, from a plateau)
        return column if short != column and short in columns else short

    head = "".join(
        f'<th title="{html.escape(c)}" class="{"param" if c.startswith("params_") else ""}">'
        f"{html.escape(label(c))}</th>"
        for c in columns
    )
    rows = []
    for record in frame.to_dict("records"):
        cells = []
        for column in columns:
            shown, key = _cell(record[column])
            sort = f' data-sort="{key}"' if key is not None else ""
            cells.append(f"<td{sort}>{html.escape(shown)}</td>")
        state = f"state-{html.escape(str(record['state']))}"
        if _breaks_constraint(record):
            rows.append(f'<tr class="{state} infeasible" title="breaks a constraint">')
        else:
            rows.append(f'<tr class="{state}">')
        rows[-1] += f"{''.join(cells)}</tr>"
    return (
        f'<div class="scroll"><table id="trials" class="sortable"><thead><tr>{head}</tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _breaks_constraint(row: dict) -> bool:
    feasible = row.get("feasible")
    return feasible is not None and not pd.isna(feasible) and not bool(feasible)


def _failures(frame: pd.DataFrame) -> str:
    failed = frame[frame["state"] == "fail"]
    if failed.empty:
        return '<p class="muted">No trial failed.</p>'
    items = "".join(
        f"<li><b>trial {int(number)}</b>: "
        f"{html.escape(str(reason) if pd.notna(reason) else 'no reason')}"
        f"</li>"
        for number, reason in zip(failed["trial"], failed["fail_reason"], strict=True)
    )
    return f'<ul id="failures">{items}</ul>'


def _times(study: optuna.Study, frame: pd.DataFrame) -> str:
    trials = study.get_trials(deepcopy=False)
    starts = [t.datetime_start for t in trials if t.datetime_start]
    ends = [t.datetime_complete for t in trials if t.datetime_complete]
    elapsed = (max(ends) - min(starts)).total_seconds() if starts and ends else 0.0
    total = frame["wall_time_s"].sum(skipna=True) if len(frame) else 0.0
    fit = frame["fit_time_s"].sum(skipna=True) if len(frame) else 0.0
    return (
        f"{format_duration(elapsed)} from first start to last finish; "
        f"{format_duration(total)} in trials, {format_duration(fit)} of it training"
    )


def _metrics(metrics: dict) -> str:
    return ", ".join(
        f"{html.escape(k)} <b>{v:.4f}</b>"
        if isinstance(v, float)
        else f"{html.escape(k)} {html.escape(str(v))}"
        for k, v in sorted(metrics.items())
    )


def _costs(record: TrialRecord) -> str:
    """A trial's measured costs as a line, or nothing for a trial from before costs."""
    shown = [
        f"{name} {_cell(record.costs[name])[0]}"
        for name in COSTS
        if record.costs.get(name) is not None
    ]
    return f'<p class="muted">{html.escape(" · ".join(shown))}</p>' if shown else ""


def _best(study: optuna.Study) -> str:
    goals = StudyGoals.of(study)
    best = goals.best(study.get_trials(deepcopy=False))
    if best is None:
        if complete_trials(study):
            return f'<p class="warn">No completed trial keeps {html.escape(_kept(goals))}.</p>'
        return '<p class="muted">No trial has completed yet.</p>'
    record = TrialRecord.of(best)
    params = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(_cell(v)[0])}</td></tr>"
        for k, v in best.params.items()
    )
    return (
        f'<p class="big">{html.escape(goals.primary.name)} <b>{record.value:.4f}</b></p>'
        f"<p>trial {best.number}, best at epoch {record.best_epoch} of "
        f"{record.epochs_run}, seed {record.seed}</p>{_costs(record)}"
        f'<table class="params">{params}</table>'
    )


def _kept(goals: StudyGoals) -> str:
    return " and ".join(str(c) for c in goals.constraints)


def _winner(study: optuna.Study, winner: dict | None) -> str:
    space = html.escape(str(study.user_attrs.get("space", study.study_name)))
    if winner is None:
        return (
            f'<p class="muted">Not re-trained yet: <code>python -m sweeper retrain '
            f"{space}</code> trains the winning trial on train + validation data and tests "
            "it.</p>"
        )
    if not winner.get("test_metrics"):
        tested = '<p class="muted">The space has no test split: no test metrics.</p>'
    else:
        tested = f'<p class="big">test {_metrics(winner["test_metrics"])}</p>'
    why = (
        f'<p id="why">chosen by {html.escape(str(winner["rule"]))}: '
        f"{html.escape(str(winner.get('why', '')))}</p>"
        if winner.get("rule")
        else ""
    )
    note = ""
    try:
        now: Any = StudyGoals.of(study).choose(study).trial.number
    except SweeperError:  # nothing to pick now: no note
        now = winner.get("trial")
    if now != winner.get("trial") and "named" not in str(winner.get("rule", "")):
        note = (
            f'<p class="warn">The rule now picks trial {now}: '
            f"<code>python -m sweeper retrain {space}</code> to re-train it.</p>"
        )
    return (
        f"{tested}<p>trial {winner.get('trial')}, re-trained for {winner.get('epochs')} "
        f"epochs on {winner.get('train_examples')} examples (seed {winner.get('seed')}), "
        f"{html.escape(str(winner.get('created', '')))}</p>{why}"
        f"<p>sweep validation: {_metrics(winner.get('validation_metrics', {}))}</p>{note}"
    )


def _summary(study: optuna.Study, frame: pd.DataFrame) -> str:
    attrs = study.user_attrs
    counts = {str(k): int(v) for k, v in frame["state"].value_counts().items()}
    states = " · ".join(
        f'<span class="state-{s}">{counts.get(s, 0)} {label}</span>'
        for s, label in (
            ("complete", "complete"),
            ("pruned", "pruned"),
            ("fail", "failed"),
            ("running", "running"),
        )
    )
    waiting = count_queued(study)
    if waiting:
        states += f" · {waiting} queued, not yet begun (the sweep's next run tries them first)"
    goals = StudyGoals.of(study)
    objectives = ", ".join(f"{g.direction} {g.name}" for g in goals.goals)
    rows = [("objectives" if goals.several else "objective", objectives)]
    if goals.constraints:
        broken = sum(_breaks_constraint(row) for row in frame.to_dict("records"))
        rows.append(("constraints", f"{_kept(goals)} ({broken} trials break them)"))
    if goals.rule is not None:
        rows.append(("winner rule", str(goals.rule)))
    if goals.several:
        on_front = int((frame["pareto_rank"] == 1).sum()) if "pareto_rank" in frame else 0
        rows.append(("Pareto front", f"{on_front} trial{'s' if on_front != 1 else ''}"))
    rows += [
        ("sampler", attrs.get("sampler", "?")),
        ("pruner", attrs.get("pruner", "?")),
        ("seed", attrs.get("seed", "?")),
        ("epoch budget", attrs.get("max_epochs", "?")),
    ]
    settings = "".join(f"<tr><th>{k}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    return (
        f'<table class="params">{settings}<tr><th>trials</th><td>{states}</td></tr>'
        f"<tr><th>time</th><td>{_times(study, frame)}</td></tr></table>"
    )


STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0;
       color: #1f2328; background: #f6f8fa; }
header { background: #24292f; color: #fff; padding: 14px 24px; }
header h1 { margin: 0; font-size: 20px; } header p { margin: 2px 0 0; color: #c9d1d9; }
main { padding: 16px 24px; max-width: 1500px; }
h2 { font-size: 17px; margin: 24px 0 8px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 16px; }
.card, .plot { background: #fff; border: 1px solid #d0d7de; border-radius: 6px; padding: 12px 16px;
               margin: 0; }
.card h2, .plot h3 { margin: 0 0 6px; font-size: 15px; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 16px; }
.plot { min-width: 0; } .plot.wide { grid-column: 1 / -1; }
figcaption, .muted { color: #656d76; } .noplot { color: #656d76; font-style: italic; }
.warn { color: #9a6700; } .big { font-size: 18px; margin: 4px 0; }
table.params th { text-align: left; font-weight: 600; padding: 1px 12px 1px 0; color: #424a53; }
table.params td { padding: 1px 0; }
.scroll { overflow-x: auto; background: #fff; border: 1px solid #d0d7de; border-radius: 6px; }
#trials { border-collapse: collapse; white-space: nowrap; font-size: 13px; }
#trials th { position: sticky; top: 0; background: #eaeef2; cursor: pointer; padding: 6px 8px;
             text-align: left; user-select: none; }
#trials th.param { background: #ddf4ff; }
#trials th[data-order=asc]::after { content: " \\25B2"; }
#trials th[data-order=desc]::after { content: " \\25BC"; }
#trials td { padding: 4px 8px; border-top: 1px solid #eaeef2; }
#trials td[data-sort] { text-align: right; font-variant-numeric: tabular-nums; }
#trials tr:hover td { background: #f6f8fa; }
.state-complete { color: #1a7f37; } .state-pruned { color: #9a6700; }
.state-fail { color: #cf222e; } .state-running { color: #0969da; }
#trials tr td { color: #1f2328; } #trials tr td:nth-child(3) { font-weight: 600; }
#trials tr.state-complete td:nth-child(3) { color: #1a7f37; }
#trials tr.state-pruned td:nth-child(3) { color: #9a6700; }
#trials tr.state-fail td:nth-child(3) { color: #cf222e; }
#trials tr.state-running td:nth-child(3) { color: #0969da; }
#trials tr.infeasible td { color: #8c959f; font-style: italic; }
#failures li { margin: 2px 0; }
"""

# Click a header to sort by it; again to reverse. Numbers sort as numbers, empty cells last.
SORT_SCRIPT = """
// Plots are drawn while the page loads; fit them to their final boxes once it has.
window.addEventListener("load", function () {
  if (window.Plotly) {
    document.querySelectorAll(".plotly-graph-div").forEach(function (div) {
      Plotly.Plots.resize(div);
    });
  }
});
document.querySelectorAll("table.sortable").forEach(function (table) {
  var headers = table.tHead.rows[0].cells;
  Array.prototype.forEach.call(headers, function (th, column) {
    th.addEventListener("click", function () {
      var ascending = th.dataset.order !== "asc";
      Array.prototype.forEach.call(headers, function (h) { delete h.dataset.order; });
      th.dataset.order = ascending ? "asc" : "desc";
      var key = function (row) {
        var cell = row.cells[column];
        return cell.dataset.sort !== undefined ? cell.dataset.sort : cell.textContent.trim();
      };
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === "" || y === "") { return (x === "") - (y === ""); }
        var nx = Number(x), ny = Number(y);
        var order = !isNaN(nx) && !isNaN(ny) ? nx - ny
          : x.localeCompare(y, undefined, {numeric: true});
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def render_html(study: optuna.Study, frame: pd.DataFrame, winner: dict | None) -> str:
    """The whole page for ``study``; ``frame`` is its ``leaderboard()``, ``winner`` the card
    ``retrain`` wrote (or None)."""
    from plotly.offline import get_plotlyjs

    space = html.escape(str(study.user_attrs.get("space", study.study_name)))
    plots, drawn = _plot_section(study, frame)
    plotly_js = f"<script>{get_plotlyjs()}</script>" if drawn else ""
    created = datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{space}: sweeper leaderboard</title>
<style>{STYLE}</style>{plotly_js}</head>
<body>
<header><h1>{space}: leaderboard</h1>
<p>{len(frame)} trials · written {created} · <code>python -m sweeper report {space}</code>
writes it again</p>
</header>
<main>
<section class="cards">
<div class="card" id="summary"><h2>Sweep</h2>{_summary(study, frame)}</div>
<div class="card" id="best"><h2>Best trial</h2>{_best(study)}</div>
<div class="card" id="winner"><h2>Winner on the test set</h2>{_winner(study, winner)}</div>
</section>
<h2>Plots</h2>
<section class="plots">{plots}</section>
<h2>All trials</h2>
<p class="muted">Ranked: completed trials by the objective (with several objectives, by
Pareto rank first; trials that break a constraint after the rest), then pruned ones by the
best value they reported, then failed and running ones. Click a column to sort.
Blue columns are parameters; empty where a condition left one inactive. The costs (params,
size_mb, latency_ms, latency_ms_batch, train_s) are measured on every trial's model.</p>
{_table(frame)}
<h2>Failures</h2>
{_failures(frame)}
</main>
<script>{SORT_SCRIPT}</script>
</body></html>
"""
