"""The dashboard's JSON API through Starlette's TestClient (no browser, no server)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from dashboard_helpers import GA_RUN, NSGA_RUN, make_run, non_dominated

from cimkit.dashboard.app import create_app
from cimkit.search.engine import load_result
from cimkit.search.objectives import COL, METRIC_NAMES, feasible
from cimkit.search.store import RunStore

pytest.importorskip("starlette", reason="the dashboard extra is not installed")
pytest.importorskip("httpx", reason="starlette's TestClient needs httpx (dashboard-test extra)")


@pytest.fixture(scope="module")
def client(two_runs):
    from starlette.testclient import TestClient

    return TestClient(create_app(two_runs["store"]))


@pytest.fixture(scope="module")
def stored(two_runs):
    """The runs as the search package reads them back (an independent path to the same rows)."""
    from cimkit.space import load_space

    st = RunStore(two_runs["store"], readonly=True)
    space = load_space(two_runs["space"])
    out = {name: load_result(st, name, space) for name in (GA_RUN, NSGA_RUN)}
    st.close()
    return out


def get(client, path: str, **params) -> dict:
    r = client.get(path, params=params)
    assert r.status_code == 200, r.text
    # Strict JSON: a NaN or Infinity in an answer would fail here.
    return json.loads(r.text, parse_constant=lambda c: pytest.fail(f"{c} in {path}"))


def test_runs_lists_both_runs_with_progress(client, stored) -> None:
    data = get(client, "/api/runs")
    runs = {r["name"]: r for r in data["runs"]}
    assert list(runs) == [GA_RUN, NSGA_RUN]
    for name, res in stored.items():
        r = runs[name]
        assert r["status"] == "done" and r["gen"] == r["n_gen"] == 3
        assert r["n_designs"] == len(res.archive) and r["n_evals"] == res.history[-1][1]
        assert r["best"] == pytest.approx(float(res.scores()[res.best()]), rel=1e-12)
    assert runs[NSGA_RUN]["objective"]["pareto"] == ["accuracy", "energy", "area"]


def test_run_has_history_front_and_top_five(client, stored) -> None:
    res = stored[GA_RUN]
    data = get(client, "/api/run", name=GA_RUN)
    assert data["history"]["gen"] == [h[0] for h in res.history]
    assert data["history"]["best"] == pytest.approx([h[2] for h in res.history], rel=1e-12)
    assert data["top"] == res.top(5).tolist()
    assert data["best"]["design"] == res.best()
    M = res.archive.M
    ok = np.flatnonzero(feasible(M))
    F = np.stack([M[ok, COL["edap"]], 100 * M[ok, COL["accuracy"]]], axis=1)
    expected = sorted(int(ok[i]) for i in non_dominated(F, ["min", "max"]))
    front = data["front"]
    assert [a["label"] for a in front["axes"]] == ["EDAP", "accuracy"]
    on = [d for d, flag in zip(front["design"], front["on_front"], strict=True) if flag]
    assert on == expected and front["n_front"] == len(expected)
    # The front chart gets every feasible design here (fewer than MAX_CLOUD_POINTS).
    assert front["design"] == ok.tolist()
    row = front["design"].index(expected[0])
    assert front["values"][row] == pytest.approx(F[list(ok).index(expected[0])].tolist())


def test_design_table_has_one_row_per_design(client, stored, two_runs) -> None:
    from cimkit.space import load_space

    res = stored[NSGA_RUN]
    data = get(client, "/api/designs", run=NSGA_RUN)
    keys = [c["key"] for c in data["columns"]]
    space = load_space(two_runs["space"])
    assert keys[:2] == ["design", "gen"] and keys[-len(space.hardware_names) :] == list(
        space.hardware_names
    )
    rows = data["rows"]
    assert len(rows) == len(res.archive)
    M = res.archive.M
    scores = res.scores()
    values = space.joint.decode(res.archive.X.astype(np.int64))
    for i in (0, len(rows) // 2, len(rows) - 1):
        r = dict(zip(keys, rows[i], strict=True))
        assert r["design"] == i and r["gen"] == int(res.archive.gen[i])
        assert r["accuracy"] == pytest.approx(100 * M[i, COL["accuracy"]])
        assert r["edap"] == M[i, COL["edap"]] and r["feasible"] == bool(feasible(M[i : i + 1])[0])
        assert r["score"] == (None if not np.isfinite(scores[i]) else pytest.approx(scores[i]))
        assert r["voltage_v"] == values["voltage_v"][i]
    n_front = get(client, "/api/run", name=NSGA_RUN)["front"]["n_front"]
    assert sum(r[keys.index("front")] for r in rows) == n_front > 1
    assert sorted(r[keys.index("top")] for r in rows if r[keys.index("top")]) == [1, 2, 3, 4, 5]


def test_design_breakdown_endpoint(client, stored, two_runs) -> None:
    res = stored[GA_RUN]
    i = res.best()
    d = get(client, "/api/design", run=GA_RUN, idx=i)
    assert d["design"] == i and d["feasible"] and d["reason"] == ""
    assert d["max_rel_diff"] <= 1e-9
    for k in ("energy_mj", "delay_us", "area_mm2", "edap"):
        assert d["evaluated"][k] == pytest.approx(res.archive.M[i, COL[k]], rel=1e-9)
    chip = {p["name"]: p for p in d["chip"]}
    assert chip["rows"]["searched"] and not chip["device"]["searched"]
    assert chip["device"]["value"] == "rram"
    net = d["network"]
    assert net["n_layers"] == len(net["layers"]) > 50 and net["family"] == "ofa_mobilenetv2"
    assert sum(layer["energy_j"] for layer in net["layers"]) == pytest.approx(
        res.archive.M[i, COL["energy_mj"]] * 1e-3, rel=1e-9
    )
    assert sum(d["area_by_component_mm2"].values()) == pytest.approx(
        res.archive.M[i, COL["area_mm2"]], rel=1e-9
    )
    used = sum(layer["xbars"] for layer in net["layers"])
    assert 0 < used <= net["xbars_available"]  # weight-stationary and feasible: it fits
    ratios = d["constraints"]
    assert 0 < ratios["g_area"] <= 1 and 0 < ratios["g_fit"] <= 1  # feasible design
    infeasible = int(np.flatnonzero(~feasible(res.archive.M))[0])
    bad = get(client, "/api/design", run=GA_RUN, idx=infeasible)
    assert not bad["feasible"] and bad["score"] is None and bad["reason"]


def test_compare_puts_both_fronts_in_run_a_objectives(client) -> None:
    d = get(client, "/api/compare", a=GA_RUN, b=NSGA_RUN)
    assert [a["label"] for a in d["axes"]] == ["EDAP", "accuracy"] and d["axes_from"] == GA_RUN
    assert [r["name"] for r in d["runs"]] == [GA_RUN, NSGA_RUN]
    run_a = get(client, "/api/run", name=GA_RUN)["front"]
    on_a = [x for x, f in zip(run_a["design"], run_a["on_front"], strict=True) if f]
    assert d["fronts"][0]["design"] == on_a
    b = d["fronts"][1]
    assert b["run"] == NSGA_RUN and len(b["design"]) >= 1
    # Swapped: the fronts are in NSGA-II's three metrics.
    d2 = get(client, "/api/compare", a=NSGA_RUN, b=GA_RUN)
    assert [a["key"] for a in d2["axes"]] == ["accuracy", "energy_mj", "area_mm2"]


@pytest.mark.parametrize(
    ("path", "params", "status", "text"),
    [
        ("/api/run", {"name": "nope"}, 404, "run 'nope': not in"),
        ("/api/run", {}, 400, "query parameter 'name' is required"),
        ("/api/designs", {"run": "nope"}, 404, "run 'nope'"),
        ("/api/design", {"run": GA_RUN, "idx": "x"}, 400, "idx: give a design number"),
        ("/api/design", {"run": GA_RUN, "idx": 100000}, 404, "has designs 0.."),
        ("/api/design", {"run": GA_RUN, "idx": -1}, 404, "has designs 0.."),
        ("/api/compare", {"a": GA_RUN}, 400, "'b' is required"),
    ],
)
def test_errors_are_one_line_json(client, path, params, status, text) -> None:
    r = client.get(path, params=params)
    assert r.status_code == status
    msg = r.json()["error"]
    assert text in msg and "\n" not in msg


def test_run_made_without_a_space_path_still_lists_and_tables(tmp_path, two_runs) -> None:
    from starlette.testclient import TestClient

    store = tmp_path / "api.sqlite"
    make_run(store, two_runs["space"], "api-run", meta={})
    c = TestClient(create_app(store))
    table = get(c, "/api/designs", run="api-run")
    assert table["rows"] and "names no space file" in table["genes_note"]
    assert [col["key"] for col in table["columns"]][-1] == "top"  # no gene columns
    r = c.get("/api/design", params={"run": "api-run", "idx": 0})
    assert r.status_code == 400 and "names no space file" in r.json()["error"]


def test_page_and_assets_are_served_locally(client) -> None:
    page = client.get("/")
    assert page.status_code == 200 and 'id="front"' in page.text and 'id="designs"' in page.text
    # Offline: every script and stylesheet comes from this server, none from a CDN.
    assert "http://" not in page.text and "https://" not in page.text
    js = client.get("/static/plotly.min.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000
    assert js.headers["content-type"].startswith("text/javascript")
    assert b"plotly" in js.content[:2000].lower()
    own = client.get("/static/dashboard.js")
    assert own.status_code == 200 and "/api/runs" in own.text
    assert client.get("/static/missing.js").status_code == 404
    assert client.get("/api/health").json()["ok"] is True


def test_metric_columns_decode_in_store_order(client, stored) -> None:
    # The reader decodes blobs itself: its rows must equal what the search package reads.
    res = stored[GA_RUN]
    rows = get(client, "/api/designs", run=GA_RUN)["rows"]
    keys = [c["key"] for c in get(client, "/api/designs", run=GA_RUN)["columns"]]
    for k in ("energy_mj", "delay_us", "area_mm2", "tops_per_w", "utilization"):
        j = keys.index(k)
        assert [r[j] for r in rows] == res.archive.M[:, METRIC_NAMES.index(k)].tolist()
