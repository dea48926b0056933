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


def list_rows(store: Any) -> list[dict[str, Any]]:
    """One row per run: name, status (``running`` only with a live writer, else
    ``interrupted``), generations committed, designs, algorithm, objective, P, G, space file
    name and creation time (UTC)."""
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
                # gen is the last committed generation (0 = the initial population).
                "gen": f"{r['gen']}/{s.get('n_gen', '?')}" if r["gen"] >= 0 else "-",
                "designs": r["designs"],
                "algorithm": str(s.get("algorithm", "?")),
                "objective": _objective(r["config"]),
                "P": s.get("pop_size", "?"),
                "space": Path(str(r["config"].get("space") or "-")).name,
                "created": time.strftime("%Y-%m-%d %H:%M", time.gmtime(r["created"] or 0)),
            }
        )
    return rows


def show(store: Any, run: str, top: int = 5) -> dict[str, Any]:
    """A run's settings and its best ``top`` designs (and Pareto set size for NSGA-II).

    Returns ``{"settings": [(key, value)], "designs": [row], "note": str}``; designs need the
    run's space file (to decode genomes), so without it ``note`` says why they are missing.
    """
    from cimkit.runs.design import run_space
    from cimkit.search.engine import load_result

    info = store.run_info(run)
    cfg = info["config"]
    s = cfg.get("search", {})
    summary = next(r for r in store.run_summaries() if r["name"] == run)
    settings = [
        ("status", info["status"] + (f" (pid {summary['writer']})" if summary["writer"] else "")),
        ("generations", f"{max(info['gen'], 0)} of {s.get('n_gen', '?')} committed"),
        ("designs", f"{summary['designs']:,}"),
        ("algorithm", str(s.get("algorithm", "?"))),
        ("objective", _objective(cfg)),
        ("population, seed", f"{s.get('pop_size', '?')}, {s.get('seed', '?')}"),
        ("space", Path(str(cfg.get("space") or "-")).name),
        ("area constraint", str(cfg.get("area_constraint_mm2") or "the space's")),
    ]
    if cfg.get("study"):
        settings.append(("comparison", str(cfg["study"])))
    try:
        space = run_space(run, cfg)
    except CimkitError as exc:
        return {"settings": settings, "designs": [], "note": str(exc)}
    res = load_result(store, run, space)
    M = res.archive.M
    settings.append(("feasible", f"{int(feasible(M).sum()):,}" if len(M) else "0"))
    scores = res.scores()
    if s.get("algorithm") == "nsga2":
        settings.append(("Pareto set", f"{len(res.pareto())} designs ({','.join(s['pareto'])})"))
    designs = []
    for i in res.top(top):
        designs.append(
            {
                "design": int(i),
                "score": float(scores[i]),
                "accuracy_pct": 100 * float(M[i, COL["accuracy"]]),
                "energy_mj": float(M[i, COL["energy_mj"]]),
                "delay_us": float(M[i, COL["delay_us"]]),
                "area_mm2": float(M[i, COL["area_mm2"]]),
                "edap": float(M[i, COL["edap"]]),
            }
        )
    note = "" if designs else "no feasible design"
    return {"settings": settings, "designs": designs, "note": note, "score": res.objective}


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
