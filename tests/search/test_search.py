"""CIMNAS search: problem, objectives, determinism, resume, constraints, NSGA-II, compare."""

from __future__ import annotations

import numpy as np
import pytest

from cimkit.errors import InfeasibleDesignError, SpecError
from cimkit.search.engine import Search, SearchConfig
from cimkit.search.objectives import COL, OBJECTIVES, get_objective
from cimkit.search.store import RunStore

SMALL = {"pop_size": 24, "n_gen": 6}


def test_bit_genes_land_on_dw_and_pw_slots(space) -> None:
    from cimkit.space.families import _ofa_rows

    x = space.baseline_genome()[None].repeat(1, 0)
    names = space.joint.names
    x[0, names.index("dw_w_b0")] = 0  # 4 bits
    x[0, names.index("pw_a_b0")] = 1  # 6 bits
    la = space.family.layer_arrays(space.joint.decode(x))
    rows, _ = _ofa_rows(224, 1000)
    assert la.weight_bits[0, rows[0, 2]] == 4 and la.act_bits[0, rows[0, 2]] == 8
    assert la.act_bits[0, rows[0, 0]] == 6 and la.act_bits[0, rows[0, 4]] == 6
    assert la.weight_bits[0, rows[0, 0]] == 8 and la.weight_bits[0, 0] == 8


def test_objectives_match_table_iii_units(problem, space) -> None:
    M = problem.evaluate(space.baseline_genome()[None])
    e, d, a, acc = (M[0, COL[c]] for c in ("energy_mj", "delay_us", "area_mm2", "accuracy"))
    assert OBJECTIVES["edap"].score(M)[0] == pytest.approx(e * d * 1e-3 * a / (100 * acc))
    assert OBJECTIVES["delay"].score(M)[0] == pytest.approx(d * 1e3 / (100 * acc))
    assert OBJECTIVES["ea"].score(M)[0] == pytest.approx(e * a / (100 * acc))
    pr = get_objective("priority", (1, 1, 1, 1))
    assert pr.score(M, M[0])[0] == pytest.approx(1.0)
    with pytest.raises(SpecError, match="priority"):
        get_objective("priority", (1, 2, 1, 1))


def _run(problem, store=None, name=None, **kw):
    cfg = SearchConfig(**{**SMALL, **kw})
    return Search(problem, cfg, store=store, name=name).run()


def test_same_seed_same_archive_and_report(problem, tmp_path) -> None:
    from cimkit.report.summary import write_report

    outs = []
    for k in range(2):
        r = _run(problem, RunStore(tmp_path / f"s{k}.sqlite"), "run", seed=3)
        files = write_report(
            tmp_path / f"rep{k}", r, [], {"run": r.history}, title="t", command="c"
        )
        outs.append((r, files))
    (a, fa), (b, fb) = outs
    assert np.array_equal(a.archive.X, b.archive.X) and np.array_equal(a.archive.M, b.archive.M)
    for key in ("md", "csv", "html", "pareto", "params", "convergence"):
        assert fa[key].read_bytes() == fb[key].read_bytes(), key
    c = _run(problem, seed=4)
    assert not np.array_equal(a.archive.X[:24], c.archive.X[:24])


def test_archive_has_each_design_once_and_best_from_whole_archive(problem) -> None:
    r = _run(problem)
    assert len(np.unique(r.archive.X, axis=0)) == len(r.archive) == r.n_evals
    s = r.scores()
    assert r.scores()[r.best()] == s[np.isfinite(s)].min()
    assert [h[0] for h in r.history] == list(range(SMALL["n_gen"] + 1))
    assert all(b1 >= b2 for (_, _, b1), (_, _, b2) in zip(r.history, r.history[1:], strict=False))


def test_interrupted_run_resumes_to_the_same_result(problem, tmp_path) -> None:
    st = RunStore(tmp_path / "r.sqlite")
    full = _run(problem, st, "full")

    def boom(gen: int) -> None:
        if gen == 3:  # mid-generation: evaluated, not committed
            raise KeyboardInterrupt

    cfg = SearchConfig(**SMALL)
    with pytest.raises(KeyboardInterrupt):
        Search(problem, cfg, store=st, name="cut", on_evaluated=boom).run()
    info = st.run_info("cut")
    assert info["status"] == "interrupted" and info["gen"] == 2
    n_before = len(st.load_archive("cut", problem.n_var))
    calls: list[int] = []

    class Counting:
        vectorized = True
        space = problem.space

        def evaluate(self, X):
            calls.append(len(X))
            return problem.evaluate(X)

    res = Search(Counting(), cfg, store=st, name="cut").run(resume=True)
    assert np.array_equal(res.archive.X, full.archive.X)
    assert np.array_equal(res.archive.M, full.archive.M)
    assert sum(calls) == len(full.archive) - n_before  # nothing committed is re-evaluated
    assert st.run_info("cut")["status"] == "done"


def test_unmeetable_area_constraint_is_a_clear_error(space, problem) -> None:
    from cimkit.search.problem import CimnasProblem

    p = CimnasProblem(space, accuracy_fn=problem.accuracy_fn, area_constraint_mm2=1.0)
    with pytest.raises(InfeasibleDesignError, match=r"area_constraint_mm2 \(or --area\) = 1 mm"):
        Search(p, SearchConfig(pop_size=10, n_gen=1, max_init_batches=3)).run()


def test_nsga2_gives_a_pareto_front(problem) -> None:
    r = _run(problem, algorithm="nsga2", pareto=("accuracy", "edap"))
    front = r.pareto()
    assert len(front) >= 2
    M = r.archive.M[front]
    order = np.argsort(M[:, COL["edap"]])
    assert np.all(np.diff(M[order, COL["accuracy"]]) >= 0)  # more EDAP buys accuracy


def test_compare_runs_every_method_with_the_same_budget(problem, tmp_path) -> None:
    from cimkit.search.compare import run_compare

    st = RunStore(tmp_path / "c.sqlite")
    cr = run_compare(problem, SearchConfig(**SMALL), store=st, study="cmp")
    rows = cr.rows()
    assert [r["method"].split()[0] for r in rows] == [
        "Baseline",
        "Baseline",
        "CIMNAS",
        "Two-stage",
        "XPert-like",
    ]
    for r in rows[2:]:
        assert "error" not in r and 0 <= r["diversity"] <= 1 and r["evals"] > 0
    assert st.load_study("cmp") is not None
    # Two-stage stage 2 searched hardware only: its top designs share model and bits.
    ts = cr.methods["two-stage"]
    X = ts.result.archive.X[ts.top]
    mq = problem.space.joint.indices(("model", "quantization"))
    assert (X[:, mq] == X[0, mq]).all()


def test_process_pool_backend_matches_vectorized(problem, space) -> None:
    from cimkit.search.backends import ProcessPoolBackend

    X = space.joint.sample(40, np.random.default_rng(1))
    be = ProcessPoolBackend(workers=2)
    try:
        np.testing.assert_allclose(be.evaluate(problem, X), problem.evaluate(X), rtol=1e-12)
    finally:
        be.close()


def test_ray_backend_on_a_local_instance(problem, space) -> None:
    pytest.importorskip("ray", reason="install the 'ray' extra: pip install 'cimkit[ray]'")
    from cimkit.search.backends import RayBackend

    X = space.joint.sample(30, np.random.default_rng(2))
    from pathlib import Path

    here = str(Path(__file__).parent)  # the stub accuracy lives in tests/search
    be = RayBackend(workers=2, num_cpus=2, runtime_env={"env_vars": {"PYTHONPATH": here}})
    try:
        np.testing.assert_allclose(be.evaluate(problem, X), problem.evaluate(X), rtol=1e-12)
        r = Search(problem, SearchConfig(pop_size=10, n_gen=2), backend=be).run()
        ref = Search(problem, SearchConfig(pop_size=10, n_gen=2)).run()
        assert np.array_equal(r.archive.X, ref.archive.X)
    finally:
        be.close()
