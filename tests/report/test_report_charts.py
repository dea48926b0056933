"""Reports say what they show (issue 15 item 4): each measured defect, checked from the data
the charts drew and the text the reports hold (never from pixels)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cimkit.search.objectives import COL

ROOT = Path(__file__).resolve().parents[2]
SPACE = ROOT / "examples" / "spaces" / "cimnas_rram_mobilenetv2.yaml"
SMALL = {"pop_size": 12, "n_gen": 4, "seed": 2}


@pytest.fixture(scope="module")
def problem():
    from cimkit.search.problem import CimnasProblem
    from cimkit.search.proxies import proxy_accuracy
    from cimkit.space import load_space

    return CimnasProblem(load_space(SPACE), accuracy_fn=proxy_accuracy)


@pytest.fixture(scope="module")
def study(problem, tmp_path_factory):
    from cimkit.search.compare import run_compare
    from cimkit.search.engine import SearchConfig
    from cimkit.search.store import RunStore

    st = RunStore(tmp_path_factory.mktemp("cmp") / "s.sqlite")
    cr = run_compare(problem, SearchConfig(**SMALL), store=st, study="c")
    yield st, cr
    st.close()


def test_compare_convergence_never_puts_another_objective_on_the_main_axis(
    problem, study, tmp_path
) -> None:
    from cimkit.report import plots
    from cimkit.search.cli import _study_convergence
    from cimkit.search.engine import load_result

    st, cr = study
    _, res = st.load_study("c")
    result = load_result(st, "c/cimnas", problem.space)
    hist, objectives, main = _study_convergence(st, problem, result, res)
    assert main == "EDAP/Acc"
    chart = plots.render_convergence(
        plots.convergence_data(hist, objectives), tmp_path / "c.png", main
    )
    axes = {ax["ylabel"]: ax for ax in chart.axes}
    # One objective per axis; XPert-like stage 2 (E/Acc) has its own axis, labelled so.
    assert axes["best EDAP/Acc"]["title"].startswith("all methods in EDAP/Acc")
    assert "XPert-like search, stage 2" not in axes["best EDAP/Acc"]["lines"]
    assert "XPert-like search, stage 2" in axes["best E^1 D^0 A^0/Acc^1"]["lines"]
    # Each method's last point on the EDAP/Acc axis is the score the table reports for it.
    rows = {r["method"]: r for r in cr.rows()}
    for method in ("CIMNAS (joint)", "Two-stage search", "XPert-like search"):
        _, y = axes["best EDAP/Acc"]["lines"][method]
        assert y[-1] == pytest.approx(rows[method]["score"], rel=1e-12), method


@pytest.fixture(scope="module")
def nsga(problem, tmp_path_factory):
    from cimkit.search.engine import Search, SearchConfig

    cfg = SearchConfig(algorithm="nsga2", pareto=("accuracy", "energy", "delay"), **SMALL)
    return Search(problem, cfg).run()


def test_nsga2_report_names_its_objectives_and_tables_the_pareto_set(nsga, tmp_path) -> None:
    from cimkit.report.summary import write_report

    files = write_report(
        tmp_path / "r", nsga, [], {"run": nsga.history}, title="t", command="cimkit search x"
    )
    md = files["md"].read_text()
    assert "Objective: EDAP/Acc" not in md
    assert "Objectives (NSGA-II Pareto front): accuracy (maximised), energy (minimised), " in md
    assert "## Pareto set (accuracy, energy, delay)" in md
    # The Pareto-set table lists exactly the non-dominated feasible designs.
    section = md.split("## Pareto set")[1].split("##")[0]
    rows = [ln for ln in section.splitlines() if ln.startswith("| ") and ln[2].isdigit()]
    front = nsga.pareto(("accuracy", "energy", "delay"))
    assert sorted(int(r.split("|")[1]) for r in rows) == sorted(front.tolist())


def test_nsga2_plots_each_pair_of_its_objectives(nsga, tmp_path) -> None:
    from cimkit.report import plots

    metrics = ("accuracy", "energy", "delay")
    top = nsga.top(5)
    chart = plots.render_pareto(
        plots.pareto_data(nsga, top, metrics=metrics), tmp_path / "p.png", {}, metrics
    )
    labels = [(ax["ylabel"], ax["xlabel"]) for ax in chart.axes]
    assert labels == [
        ("top-1 accuracy (%)", "energy (mJ)"),
        ("top-1 accuracy (%)", "delay (us)"),
        ("energy (mJ)", "delay (us)"),
    ]
    # The blue points of the energy-vs-delay panel are the Pareto set's own values.
    x, y = chart.axes[2]["points"]["Pareto set"]
    front = nsga.pareto(metrics)
    M = nsga.archive.M[front]
    assert sorted(x) == pytest.approx(sorted(M[:, COL["delay_us"]]))
    assert sorted(y) == pytest.approx(sorted(M[:, COL["energy_mj"]]))
    # Convergence: one panel per objective, accuracy titled higher-is-better.
    from cimkit.report.summary import _pareto_convergence

    hist, objs, main = _pareto_convergence(nsga, metrics)
    conv = plots.render_convergence(
        plots.convergence_data(hist, objs),
        tmp_path / "c.png",
        main,
        higher_better={"top-1 accuracy (%)"},
    )
    assert [ax["ylabel"] for ax in conv.axes] == [
        "best top-1 accuracy (%)",
        "best energy (mJ)",
        "best delay (us)",
    ]
    assert "higher is better" in conv.axes[0]["title"]
    acc = conv.axes[0]["lines"]["accuracy"][1]
    assert np.all(np.diff(acc) >= 0)  # best-so-far accuracy never drops


def test_html_is_rendered_markdown_without_machine_paths(nsga, tmp_path) -> None:
    from cimkit.report.summary import write_report

    space_dir = str(SPACE.parent)
    cmd = f"cimkit search {SPACE} --store {tmp_path}/runs/s.sqlite --report={tmp_path}/rep"
    files = write_report(tmp_path / "r", nsga, [], {"run": nsga.history}, title="t", command=cmd)
    page = files["html"].read_text()
    md = files["md"].read_text()
    assert "`" not in page  # backticks became <code>
    assert (
        "<code>cimkit search cimnas_rram_mobilenetv2.yaml --store s.sqlite --report=rep</code>"
        in page
    )
    assert "<table>" in page and "<th>design</th>" in page
    assert '<img src="convergence.png"' in page
    for text in (page, md):
        assert str(tmp_path) not in text and space_dir not in text


def test_params_bar_of_the_smallest_choice_has_length(problem, tmp_path) -> None:
    from cimkit.report import plots
    from cimkit.search.archive import Archive
    from cimkit.search.engine import SearchConfig, SearchResult

    sp = problem.space
    # Two designs: every gene at its smallest choice, and every gene at its largest.
    lo = np.zeros(sp.joint.n_var, dtype=np.int64)
    hi = np.array([len(d.values) - 1 for d in sp.joint.dims], dtype=np.int64)
    X = np.stack([lo, hi])
    arch = Archive(sp.joint.n_var)
    arch.add(X, problem.evaluate(X), np.zeros(2, dtype=int))
    res = SearchResult(arch, SearchConfig(**SMALL), sp)
    df = plots.params_data(res, np.array([0, 1]))
    small, large = df[df["rank"] == 1], df[df["rank"] == 2]
    n = {d.name: len(d.values) for d in sp.joint.dims}
    hw = small[small["parameter"].isin(sp.hardware_names)]
    assert (hw["position"] == [1 / n[p] for p in hw["parameter"]]).all()
    assert (small["position"] > 0).all() and (large["position"] == 1).all()
    chart = plots.render_params(df, tmp_path / "p.png")
    bars = chart.axes[0]["bars"]
    assert (bars["#1"] > 0).all()
    assert bars["#1"] == pytest.approx(small["position"].to_numpy())


def test_relative_command_cuts_absolute_paths() -> None:
    from cimkit.report.summary import relative_command

    assert relative_command("cimkit report r --store /a/b/s.sqlite --out=/x/y") == (
        "cimkit report r --store s.sqlite --out=y"
    )
    assert relative_command("cimkit search rel/space.yaml") == "cimkit search rel/space.yaml"
