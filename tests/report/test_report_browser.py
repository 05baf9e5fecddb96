"""leaderboard.html in a real headless Chromium (Debian's package), with the network off.

The screenshot is kept as a test artifact in tests/artifacts/ (not in git).
"""

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from conftest import MARKUP_REASON, MIXED_TRIALS, copy_results, weighed_params

from sweeper.cli import main
from sweeper.storage.storages import load_existing_study

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).parents[1] / "artifacts"  # tests/artifacts
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
)


@pytest.fixture(scope="module")
def browser():
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        message = "apt-get install chromium chromium-driver (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(f"Chromium is missing in CI: {message}")
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="sweeper-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # The Debian driver, named explicitly: selenium-manager never tries to download one.
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def open_report(browser, swept, folder):
    """`report` on a copy of the ``swept`` results in ``folder``, opened in the browser once
    its plots are drawn; returns the copy's study folder."""
    results = copy_results(swept, folder / "results")
    assert main(["report", "digits_space", "--results-dir", str(results)]) == 0
    browser.get((results / "digits_space" / "leaderboard.html").as_uri())
    wait_for_plots(browser)
    return results / "digits_space"


@pytest.fixture(scope="module")
def page(browser, mixed_results, tmp_path_factory):
    study = open_report(browser, mixed_results, tmp_path_factory.mktemp("browser"))
    return browser, load_existing_study("digits_space", None, study)


def wait_for_plots(browser):
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 30).until(
        lambda driver: driver.execute_script(
            "return [...document.querySelectorAll('.plotly-graph-div')]"
            ".every(div => div._fullLayout && div.querySelector('svg.main-svg'))"
        )
    )


def js(browser, script, *args):
    return browser.execute_script(script, *args)


def test_page_loads_offline_and_fetches_nothing(page):
    browser, _ = page
    assert js(browser, "return typeof Plotly") == "object"  # embedded, not from a CDN
    fetched = js(browser, "return performance.getEntriesByType('resource').map(e => e.name)")
    assert fetched == []
    linked = js(
        browser,
        "return [...document.querySelectorAll('[src],[href]')]"
        ".map(e => e.getAttribute('src') || e.getAttribute('href'))",
    )
    assert linked == []
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []


def test_table_has_one_row_per_trial_and_sorts_numerically(page):
    browser, study = page
    assert len(study.trials) == len(MIXED_TRIALS) + 1
    assert js(browser, "return document.querySelectorAll('#trials tbody tr').length") == len(
        study.trials
    )
    headers = js(
        browser, "return [...document.querySelectorAll('#trials th')].map(th => th.textContent)"
    )
    column = headers.index("seed")
    header = browser.find_elements("css selector", "#trials th")[column]

    def seeds():
        return js(
            browser,
            "return [...document.querySelectorAll('#trials tbody tr')]"
            ".map(tr => tr.cells[arguments[0]].textContent)",
            column,
        )

    expected = sorted(t.user_attrs["seed"] for t in study.trials if "seed" in t.user_attrs)
    header.click()
    assert seeds() == [str(s) for s in expected] + [""]  # numbers by value; empty last
    header.click()
    assert seeds() == [str(s) for s in reversed(expected)] + [""]


def test_plots_render_with_the_study_data(page):
    browser, study = page
    plots = js(
        browser,
        """
        return Object.fromEntries([...document.querySelectorAll('.plotly-graph-div')].map(d => {
          const box = d.getBoundingClientRect();
          return [d.id, {traces: d.data.length, width: box.width, height: box.height,
                         svg: d.querySelectorAll('svg.main-svg').length,
                         marks: d.querySelectorAll('.scatterlayer .trace path, .bars path,'
                                                   + ' .point').length,
                         first_y: d.data[0].y}];
        }));""",
    )
    assert set(plots) == {
        "plot-history",
        "plot-importance",
        "plot-curves",
        "plot-pareto",
        "plot-parallel",
    }
    for plot in plots.values():
        assert plot["svg"] > 0 and plot["marks"] > 0
        assert plot["width"] > 300 and plot["height"] > 300
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    # The history's points are the completed trials' values.
    assert sorted(plots["plot-history"]["first_y"]) == pytest.approx(
        sorted(t.value for t in complete)
    )
    # Curves: every completed trial (fewer than the top five) and the pruned one.
    assert plots["plot-curves"]["traces"] == len(complete) + 1
    assert plots["plot-importance"]["traces"] >= 1
    assert plots["plot-parallel"]["traces"] >= len(complete)


def test_failures_show_their_reasons_as_text(page):
    browser, _ = page
    items = js(
        browser, "return [...document.querySelectorAll('#failures li')].map(li => li.textContent)"
    )
    assert items == [f"trial 4: model could not be built: ValueError: {MARKUP_REASON}"]


@pytest.fixture(scope="module")
def weighed_page(browser, weighed_results, tmp_path_factory):
    """The page of a sweep with two objectives (val_accuracy, params) and a constraint."""
    study = open_report(browser, weighed_results, tmp_path_factory.mktemp("weighed"))
    import pandas as pd

    return browser, pd.read_csv(study / "leaderboard.csv")


def test_the_front_is_drawn_and_hovering_a_point_shows_its_trial(weighed_page):
    from selenium.webdriver.common.action_chains import ActionChains

    browser, board = weighed_page
    front = board[board["pareto_rank"] == 1].sort_values("params")
    summary = js(browser, "return document.querySelector('#summary').innerText")
    assert f"Pareto front\t{len(front)} trial" in summary
    assert "constraints\tparams<=5000 (1 trials break them)" in summary
    traces = js(
        browser,
        """const d = document.getElementById('plot-pareto');
        return d._fullData.map(t => ({name: t.name, x: Array.from(t.x), axis: t.xaxis}));""",
    )
    first_panel = {t["name"]: t["x"] for t in traces if t["axis"] == "x"}
    assert first_panel["on the front"] == front["params"].tolist()  # the staircase, in order
    assert first_panel["infeasible"] == [weighed_params(128)]
    assert len(first_panel["pruned"]) == 1  # behind the front: the trial the pruner stopped
    # A real mouse over the front's first point: the hover box names its trial.
    point = js(
        browser,
        """const d = document.getElementById('plot-pareto');
        const i = d.data.findIndex(t => t.name === 'on the front' && (t.xaxis || 'x') === 'x');
        const el = d.querySelectorAll('.scatterlayer .trace')[i].querySelector('.point');
        el.scrollIntoView({block: 'center'});
        return el;""",
    )
    ActionChains(browser).move_to_element(point).perform()
    hover = js(browser, "return document.querySelector('#plot-pareto .hoverlayer').textContent")
    first = front.iloc[0]
    assert f"trial {first['trial']} (complete)" in hover
    assert f"params {first['params']:.4g}" in hover
    marked = js(browser, "return document.querySelectorAll('#trials tr.infeasible').length")
    assert marked == 1


def test_screenshot(page):
    browser, _ = page
    browser.refresh()  # as first opened: unsorted, scrolled to the top
    wait_for_plots(browser)
    height = js(browser, "return document.documentElement.scrollHeight")
    browser.set_window_size(1400, height)
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "leaderboard.png"
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 50_000  # a rendered page, not a blank one
    print(f"screenshot: {shot}")
    # The top of the page as a reader first sees it (README's picture is made from this one).
    browser.set_window_size(1400, 1000)  # the same width: the plots keep their layout
    browser.execute_script("window.scrollTo(0, 0)")
    top = ARTIFACTS / "leaderboard-top.png"
    assert browser.save_screenshot(str(top)) and top.stat().st_size > 20_000
