"""A stored design re-evaluated equals its stored metrics; front axes and the Pareto front."""

from __future__ import annotations

import numpy as np
import pytest
from dashboard_helpers import GA_RUN, NSGA_RUN, ROOT, non_dominated

from cimkit.dashboard.analysis import front_axes, pareto_front, run_view
from cimkit.dashboard.breakdown import area_constraint, design_breakdown, run_space
from cimkit.dashboard.reader import StoreReader
from cimkit.errors import CimkitError
from cimkit.search.engine import SearchConfig
from cimkit.search.objectives import COL, feasible


@pytest.fixture(scope="module")
def runs(two_runs):
    reader = StoreReader(two_runs["store"])
    return {name: reader.load_run(name) for name in (GA_RUN, NSGA_RUN)}


@pytest.mark.parametrize("name", [GA_RUN, NSGA_RUN])
def test_every_design_re_evaluates_to_its_stored_metrics(runs, name) -> None:
    run = runs[name]
    space = run_space(name, run.config)
    assert len(run.M) > 50 and (~feasible(run.M)).any() and feasible(run.M).any()
    for i in range(len(run.M)):
        b = design_breakdown(
            space, run.X[i], run.M[i, COL["accuracy"]], area_constraint(space, run.config)
        )
        np.testing.assert_allclose(b.metrics, run.M[i], rtol=1e-9, atol=0, err_msg=f"design {i}")


def test_breakdowns_add_up_to_the_design_totals(runs) -> None:
    run = runs[GA_RUN]
    space = run_space(GA_RUN, run.config)
    i = int(np.flatnonzero(feasible(run.M))[-1])
    b = design_breakdown(space, run.X[i], run.M[i, COL["accuracy"]], 800.0)
    energy_j = run.M[i, COL["energy_mj"]] * 1e-3
    # Per layer (every component) and per component: both sum to the total energy.
    assert sum(layer["energy_j"] for layer in b.layers) == pytest.approx(energy_j, rel=1e-9)
    assert sum(b.energy_by_component.values()) == pytest.approx(energy_j, rel=1e-9)
    assert sum(b.area_by_component.values()) == pytest.approx(run.M[i, COL["area_mm2"]], rel=1e-9)
    for layer in b.layers:
        assert layer["energy_j"] == pytest.approx(sum(layer["energy"].values()), rel=1e-12)
        assert layer["latency_s"] >= 0 and layer["macs"] >= 0
    # The network is the genome's: only existing layers, with the genes' bit widths.
    values = space.joint.decode(run.X[i : i + 1].astype(np.int64))
    la = space.family.layer_arrays(values)
    assert len(b.layers) == int(la.mask.sum())
    assert sum(layer["macs"] for layer in b.layers) == int(la.macs.sum())
    dw0 = next(r for r in b.layers if r["name"] == "features.2.conv.1.0")  # block 0 depthwise
    assert dw0["op"] == "dwconv" and dw0["weight_bits"] == values["dw_w_b0"][0]
    assert dw0["act_bits"] == values["dw_a_b0"][0]
    # Chip parameters: the hardware genes as decoded, the base chip for the rest.
    for g in space.hardware_names:
        assert b.chip[g] == pytest.approx(values[g][0])
    assert b.chip["device"] == "rram" and set(b.searched) == set(space.hardware_names)
    genes = {n: (v, a) for n, v, a in b.genes["quantization"]}
    assert genes["dw_w_b0"] == (values["dw_w_b0"][0], True)


def test_resnet50_family_design_re_evaluates(tmp_path) -> None:
    """The non-vectorized family (one workload per design) through the same function."""
    from cimkit.search.problem import CimnasProblem
    from cimkit.space import load_space

    text = (ROOT / "examples/spaces/cimnas_sram_resnet50_7nm.yaml").read_text()
    text = text.replace("../chips/", f"{ROOT / 'examples/chips'}/")
    p = tmp_path / "resnet.yaml"
    p.write_text(text)
    space = load_space(p)
    problem = CimnasProblem(space, accuracy_fn=lambda values, space: np.full(2, 0.75))
    X = np.stack([space.baseline_genome(), space.joint.sample(1, np.random.default_rng(1))[0]])
    M = problem.evaluate(X)
    for i in range(2):
        b = design_breakdown(space, X[i], 0.75, problem.area_constraint_mm2)
        np.testing.assert_allclose(b.metrics, M[i], rtol=1e-9, atol=0)
        assert b.layers[0]["name"] == "conv1" and b.family == "resnet50"


def test_a_run_without_a_space_path_is_a_one_line_error(runs, tmp_path) -> None:
    with pytest.raises(CimkitError, match="names no space file") as exc:
        run_space("api-run", {"search": {}})
    assert "\n" not in str(exc.value)
    with pytest.raises(CimkitError, match="not found"):
        run_space("moved", {"space": str(tmp_path / "gone.yaml")})


def test_ga_front_axes_are_the_score_terms(runs) -> None:
    run = runs[GA_RUN]
    cost, acc = front_axes(SearchConfig(objective="edap"))
    assert (cost.label, cost.sense, acc.key, acc.sense) == ("EDAP", "min", "accuracy", "max")
    np.testing.assert_allclose(cost.values(run.M), run.M[:, COL["edap"]], rtol=1e-12)
    np.testing.assert_allclose(acc.values(run.M), 100 * run.M[:, COL["accuracy"]])
    delay = front_axes(SearchConfig(objective="delay"))[0]
    assert delay.unit == "ns"
    np.testing.assert_allclose(delay.values(run.M), run.M[:, COL["delay_us"]] * 1e3, rtol=1e-12)
    ea = front_axes(SearchConfig(objective="ea"))[0]
    e_a = run.M[:, COL["energy_mj"]] * run.M[:, COL["area_mm2"]]
    np.testing.assert_allclose(ea.values(run.M), e_a, rtol=1e-12)
    # The score is monotone in both terms, so the best-scoring design is on the front.
    view = run_view(GA_RUN, run.config, run.X, run.M, run.G)
    assert int(view.top[0]) in set(view.front.tolist())
    # An accuracy-only stage (two-stage comparator) is drawn against the EDAP it ignores.
    only_acc = front_axes(SearchConfig(exponents=(0, 0, 0, 1), constrained=False))
    assert [a.key for a in only_acc] == ["edap", "accuracy"]


def test_nsga2_front_is_the_non_dominated_set_of_its_metrics(runs) -> None:
    run = runs[NSGA_RUN]
    view = run_view(NSGA_RUN, run.config, run.X, run.M, run.G)
    assert [a.key for a in view.axes] == ["accuracy", "energy_mj", "area_mm2"]
    ok = np.flatnonzero(feasible(run.M))
    F = np.stack(
        [100 * run.M[ok, COL["accuracy"]], run.M[ok, COL["energy_mj"]], run.M[ok, COL["area_mm2"]]],
        axis=1,
    )
    expected = {int(ok[i]) for i in non_dominated(F, ["max", "min", "min"])}
    assert set(view.front.tolist()) == expected and len(expected) > 1


def test_pareto_front_matches_brute_force_on_random_points() -> None:
    rng = np.random.default_rng(7)
    for k, sense in ((2, ["min", "max"]), (3, ["max", "min", "min"])):
        F = rng.random((300, k))
        F[5] = F[4]  # an exact duplicate: neither dominates the other
        ok = rng.random(300) < 0.8
        F[np.flatnonzero(ok)[0], 0] = np.inf  # non-finite rows never enter the front
        rows = np.flatnonzero(ok & np.isfinite(F).all(axis=1))
        expected = {int(rows[i]) for i in non_dominated(F[rows], sense)}
        assert set(pareto_front(F, sense, ok).tolist()) == expected


def test_compare_stage_runs_re_evaluate_under_their_area_limit(two_runs, tmp_path) -> None:
    """`cimkit compare --area` stage runs do not store the limit: it is read back from g_area."""
    from cimkit.dashboard.app import design_json
    from cimkit.search.compare import run_compare
    from cimkit.search.problem import CimnasProblem
    from cimkit.search.proxies import proxy_accuracy
    from cimkit.search.store import RunStore
    from cimkit.space import load_space

    store = tmp_path / "cmp.sqlite"
    space = load_space(two_runs["space"])
    problem = CimnasProblem(space, accuracy_fn=proxy_accuracy, area_constraint_mm2=600.0)
    st = RunStore(store)
    run_compare(problem, SearchConfig(pop_size=8, n_gen=2), store=st, study="cmp")
    st.close()
    reader = StoreReader(store)
    stages = [n for n in reader.run_names() if n.startswith("cmp/")]
    assert "cmp/cimnas" in stages and "cmp/two-stage/1" in stages
    for name in stages:
        run = reader.load_run(name)
        assert "area_constraint_mm2" not in run.config
        for i in (0, len(run.M) - 1):
            d = design_json(reader, name, i)
            assert d["max_rel_diff"] <= 1e-9, (name, i)
            chip = {p["name"]: p["value"] for p in d["chip"]}
            assert chip["area_constraint_mm2"] == pytest.approx(600.0)
