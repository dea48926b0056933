"""``cimkit runs list | show | delete``: the runs of a store, as tables (data in, rows out).

Each function returns plain rows so the CLI only prints; nothing here writes except
:func:`delete`, which refuses a run a live process is writing (the store's writers table) and
deletes only when asked explicitly (``--yes``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from cimkit.errors import CimkitError
from cimkit.search.objectives import COL, feasible


def _objective(config: dict[str, Any]) -> str:
    s = config.get("search", {})
    if s.get("algorithm") == "nsga2":
        return "Pareto " + ",".join(s.get("pareto") or ())
    if s.get("exponents") is not None:
        a, b, c, d = s["exponents"]
        return f"E^{a:g} D^{b:g} A^{c:g}/Acc^{d:g}"
    return str(s.get("objective", "?"))


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def list_rows(store: Any) -> list[dict[str, Any]]:
    """One row per run (oldest first), plain values for ``runs list`` and its ``--json``.

    Keys: ``run``; ``status`` (``running`` only with a live writer, else ``interrupted``;
    ``done``); ``gen``, the last committed generation (0 = the initial population; None before
    any) of ``n_gen``; ``designs``; ``algorithm``; ``objective``; ``pop_size``; ``space`` (the
    space file's name, no folder); ``created``, UTC, ISO 8601 (``2026-12-02T04:18:00Z``).
    """
    rows = []
    for r in store.run_summaries():
        s = r["config"].get("search", {})
        status = r["status"]
        if status == "running" and r["writer"] is None:
            status = "interrupted"  # killed without finishing: no live writer holds it
        rows.append(
            {
                "run": r["name"],
                "status": status,
                "gen": int(r["gen"]) if r["gen"] >= 0 else None,
                "n_gen": _int_or_none(s.get("n_gen")),
                "designs": int(r["designs"]),
                "algorithm": str(s.get("algorithm", "?")),
                "objective": _objective(r["config"]),
                "pop_size": _int_or_none(s.get("pop_size")),
                "space": Path(str(r["config"].get("space") or "-")).name,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(r["created"] or 0)),
            }
        )
    return rows


def list_table_row(row: dict[str, Any]) -> dict[str, str]:
    """A :func:`list_rows` row as the cells of the ``runs list`` table (display text)."""
    n_gen = "?" if row["n_gen"] is None else str(row["n_gen"])
    return {
        "run": row["run"],
        "status": row["status"],
        "gen": "-" if row["gen"] is None else f"{row['gen']}/{n_gen}",
        "designs": f"{row['designs']:,}",
        "algorithm": row["algorithm"],
        "objective": row["objective"],
        "P": "?" if row["pop_size"] is None else str(row["pop_size"]),
        "space": row["space"],
        "created": row["created"].replace("T", " ")[:16],  # minutes are enough to read
    }


#: Metrics of a ``runs show`` design row: data-file columns (SI, :mod:`cimkit.columns`) and the
#: metrics-matrix column each comes from.
SHOW_METRICS: tuple[str, ...] = ("accuracy", "energy_mj", "delay_us", "area_mm2", "edap")


def show(store: Any, run: str, top: int = 5) -> dict[str, Any]:
    """A run's settings and its best ``top`` designs (and Pareto set size for NSGA-II).

    Returns ``{"settings": [(key, value)], "designs": [row], "note": str, "score": objective}``
    (``score`` only when the designs could be scored). A design row holds ``design`` (archive
    index), ``score`` (the run's objective, its units) and the data-file columns of
    :data:`cimkit.columns.METRIC_MATRIX` in SI: ``accuracy_pct`` (%), ``energy_j`` (J),
    ``latency_s`` (s), ``area_m2`` (m^2), ``edap_j_s_m2`` (J*s*m^2). Designs need the run's
    space file (to decode genomes), so without it ``note`` says why they are missing.
    """
    from cimkit.runs.design import run_space
    from cimkit.search.engine import load_result

    info = store.run_info(run)
    cfg = info["config"]
    s = cfg.get("search", {})
    summary = next(r for r in store.run_summaries() if r["name"] == run)
    area = cfg.get("area_constraint_mm2")
    # The same settings as plain values (``runs show --json``); the list below is their text.
    facts: dict[str, Any] = {
        "run": run,
        "status": info["status"],
        "writer_pid": summary["writer"],
        "gen": max(int(info["gen"]), 0),
        "n_gen": _int_or_none(s.get("n_gen")),
        "designs": int(summary["designs"]),
        "algorithm": str(s.get("algorithm", "?")),
        "objective": _objective(cfg),
        "pop_size": _int_or_none(s.get("pop_size")),
        "seed": _int_or_none(s.get("seed")),
        "space": Path(str(cfg.get("space") or "-")).name,
        "area_constraint_mm2": area,
        "study": cfg.get("study"),
    }
    settings = [
        ("status", info["status"] + (f" (pid {summary['writer']})" if summary["writer"] else "")),
        ("generations", f"{max(info['gen'], 0)} of {s.get('n_gen', '?')} committed"),
        ("designs", f"{summary['designs']:,}"),
        ("algorithm", str(s.get("algorithm", "?"))),
        ("objective", _objective(cfg)),
        ("population, seed", f"{s.get('pop_size', '?')}, {s.get('seed', '?')}"),
        ("space", Path(str(cfg.get("space") or "-")).name),
        ("area constraint", str(area or "the space's")),
    ]
    if cfg.get("study"):
        settings.append(("comparison", str(cfg["study"])))
    try:
        space = run_space(run, cfg)
    except CimkitError as exc:
        return {"facts": facts, "settings": settings, "designs": [], "note": str(exc)}
    res = load_result(store, run, space)
    M = res.archive.M
    facts["feasible"] = int(feasible(M).sum()) if len(M) else 0
    settings.append(("feasible", f"{facts['feasible']:,}"))
    scores = res.scores()
    if s.get("algorithm") == "nsga2":
        facts["pareto_size"] = len(res.pareto())  # one non-dominated sort serves both
        settings.append(("Pareto set", f"{facts['pareto_size']} designs ({','.join(s['pareto'])})"))
    from cimkit.columns import METRIC_MATRIX

    designs = []
    for i in res.top(top):
        row: dict[str, Any] = {"design": int(i), "score": float(scores[i])}
        for k in SHOW_METRICS:  # matrix units (mJ, us, mm^2, fraction) -> the files' SI units
            _, name, factor = METRIC_MATRIX[k]
            row[name] = float(M[i, COL[k]]) * factor
        designs.append(row)
    note = "" if designs else "no feasible design"
    return {
        "facts": facts,
        "settings": settings,
        "designs": designs,
        "note": note,
        "score": res.objective,
    }


def delete(store: Any, name: str, yes: bool) -> list[str]:
    """Delete run ``name``, or comparison ``name`` with its stage runs; returns what went.

    Without ``yes`` nothing is deleted: a CimkitError says what would be and how to confirm.
    Every run is checked for a live writer before any is deleted.
    """
    runs = {r["name"]: r for r in store.run_summaries()}
    study = name in store.study_names()
    targets = [n for n in runs if n == name or (study and n.startswith(name + "/"))]
    if not targets and not study:
        known = list(runs)[-10:]
        raise CimkitError(f"no run {name!r} in {store.path}; runs: {known}")
    busy = [n for n in targets if runs[n]["writer"] is not None]
    if busy:
        w = runs[busy[0]]["writer"]
        raise CimkitError(
            f"run {busy[0]!r} is being written by a live process (pid {w}); stop it or wait "
            "for it to finish, then delete"
        )
    what = ", ".join(f"{n} ({runs[n]['designs']:,} designs)" for n in targets) + (
        " and its comparison result" if study else ""
    )
    if not yes:
        raise CimkitError(f"runs delete {name}: would delete {what}; add --yes to delete")
    for n in targets:
        store.remove_run(n)
    if study:
        store.remove_study(name)
    return targets + ([f"comparison {name}"] if study else [])
