"""Acceptance: the dashboard in a real headless browser (Debian's chromium driven by playwright).

On a store with two small real runs: the runs list shows both, the front chart renders (plotly
draws its svg), the design table has rows, clicking a row renders the design's breakdown
charts and chip table (values asserted against the API), the comparison view renders both
fronts; then a third search writes to the same store (another process, paused mid-run with an
open write transaction) and the page, reloaded and polling, lists it as running and then done.

Screenshots go to tmp_path; set CIMKIT_DASHBOARD_FIGURES=docs/figures to (re)write the ones the
docs show (docs/figures/dashboard-run.png, dashboard-compare.png).
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from pathlib import Path

import pytest
from dashboard_helpers import GA_RUN, NSGA_RUN, ROOT, paused_writer

CHROMIUM = Path("/usr/bin/chromium")
FIGURES_ENV = "CIMKIT_DASHBOARD_FIGURES"
# Without the background-networking flags chromium misbehaves on a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 30_000  # upper bound of each DOM wait (the machine is shared; typical: < 1 s)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.is_file(),
        reason="Debian chromium not installed at /usr/bin/chromium (make sysdeps installs it)",
    ),
]


def api(url: str, path: str) -> dict:
    with urllib.request.urlopen(url + path, timeout=30) as r:
        return json.load(r)


def save(page, tmp_path: Path, name: str) -> Path:
    shot = tmp_path / name
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    target = os.environ.get(FIGURES_ENV)
    if target:
        dest = Path(target) if Path(target).is_absolute() else ROOT / target
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, dest / name)
    return shot


def test_dashboard_in_chromium(two_runs, tmp_path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    from cimkit.dashboard.server import running

    store = tmp_path / "runs.sqlite"
    store.write_bytes(two_runs["store"].read_bytes())  # this test adds a run: its own copy
    errors: list[str] = []
    with running(store) as url, sync_api.sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"),  # a fresh profile
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1500, "height": 1000},
        )
        try:
            page = ctx.new_page()
            page.set_default_timeout(WAIT_MS)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

            # The runs list shows both runs.
            page.goto(url)
            page.wait_for_selector(f'#runs tr[data-run="{NSGA_RUN}"]')
            assert page.locator("#runs tbody tr").count() == 2
            assert page.locator(f'#runs tr[data-run="{GA_RUN}"] .badge').inner_text() == "done"

            # One run: convergence and front rendered by plotly, table rows present.
            page.click(f'#runs tr[data-run="{GA_RUN}"]')
            page.wait_for_selector("#front .main-svg")
            page.wait_for_selector("#convergence .main-svg")
            run = api(url, f"api/run?name={GA_RUN}")
            n_front = page.evaluate(
                "() => document.getElementById('front').data"
                ".find((t) => t.name === 'Pareto front').x.length"
            )
            assert n_front == run["front"]["n_front"] > 0
            assert page.locator("#front .main-svg .scatterlayer .point").count() >= n_front
            page.wait_for_selector("#designs tbody tr")
            assert page.locator("#designs tbody tr").count() == min(25, run["n_designs"])

            # Sort by EDAP (ascending): the first row is the run's smallest EDAP.
            page.click('#designs thead th[data-key="edap"]')
            table = api(url, f"api/designs?run={GA_RUN}")
            j = [c["key"] for c in table["columns"]].index("edap")
            smallest = min(table["rows"], key=lambda r: (r[j], r[0]))[0]
            assert page.locator("#designs tbody tr").first.get_attribute("data-design") == str(
                smallest
            )
            # Filter to feasible designs, select the best one by clicking its row.
            page.check("#only-feasible")
            best = run["best"]["design"]
            page.fill('#designs thead input[data-key="design"]', f"={best}")
            page.wait_for_selector(f'#designs tbody tr[data-design="{best}"]')
            assert page.locator("#designs tbody tr").count() == 1
            page.click(f'#designs tbody tr[data-design="{best}"]')

            # The design's breakdown: five charts, chip parameters, layers.
            charts = ("layer-energy", "layer-latency", "layer-xbars", "component-energy")
            for chart in (*charts, "component-area"):
                page.wait_for_selector(f"#breakdown-{chart} .main-svg")
            design = api(url, f"api/design?run={GA_RUN}&idx={best}")
            rows_param = next(p for p in design["chip"] if p["name"] == "rows")
            cell = page.locator('#chip-params tr[data-param="rows"] td').nth(2)
            assert cell.inner_text() == f"{rows_param['value']:g}"
            assert page.locator("#layers tbody tr").count() == design["network"]["n_layers"]
            bars = page.evaluate(
                "() => document.getElementById('breakdown-layer-energy').data"
                ".reduce((n, t) => n + t.y.length, 0)"
            )
            assert bars > 0 and bars % design["network"]["n_layers"] == 0
            assert f"Design {best} of {GA_RUN}" in page.inner_text("#design-title")
            assert "design=" in page.url  # deep link to the selection
            save(page, tmp_path, "dashboard-run.png")

            # Two runs side by side.
            page.goto(f"{url}#compare={GA_RUN}&b={NSGA_RUN}")
            page.reload()
            page.wait_for_selector("#compare-front .main-svg")
            page.wait_for_selector("#compare-convergence .main-svg")
            fronts = page.evaluate(
                "() => document.getElementById('compare-front').data"
                ".filter((t) => t.name.endsWith(' front')).map((t) => t.name)"
            )
            assert fronts == [f"{GA_RUN} front", f"{NSGA_RUN} front"]
            assert page.locator("#compare-table thead th").count() == 3
            save(page, tmp_path, "dashboard-compare.png")

            # A third search writes to the store: paused after generation 2 with an open write
            # transaction; the page reloads and lists it, then polls until it is done.
            with paused_writer(store, two_runs["space"], "third", 12, 5, 2) as writer:
                page.goto(f"{url}#run=third")
                page.reload()
                page.wait_for_selector('#runs tr[data-run="third"][data-status="running"]')
                page.wait_for_selector("#front .main-svg")
                assert page.locator("#runs tbody tr").count() == 3
                assert "generation 2 of 5" in page.inner_text("#run-summary")
                page.wait_for_selector("#designs tbody tr")
                writer.finish()
            # Live refresh (every 3 s) picks up the finished run without a reload.
            page.wait_for_selector('#runs tr[data-run="third"][data-status="done"]')
            page.wait_for_function(
                "() => document.getElementById('run-summary').textContent"
                ".includes('generation 5 of 5')"
            )
        finally:
            ctx.close()
    assert errors == []
