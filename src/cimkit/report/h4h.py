"""H4H-NAS report (`cimkit h4h-report`): Table 2, the predictor, the constrained searches, their
re-measurement, Figs. 7 / 8 / 9 / 11 analogues and the paper's headline numbers beside cimkit's.

Stages (each cached in the output folder, so an interrupted report resumes):

1. ``table2.csv``: min_net / max_net test accuracy per training recipe (mean, standard error
   over the seeds found under ``--runs``) and the paper's claims about them, checked.
2. predictor: ``measure.jsonl`` (validation accuracy of random subnets of the search's
   supernet, default the ``tpi_freeze`` run of ``--seed``), ``predictor.npz`` and its held-out
   Kendall tau / RMSE in ``predictor.json``.
3. searches (``search.csv``): latency-constrained on NPU-only and NPU + 1/4/8 macros;
   energy-constrained on those and on the 4-CU systems; common budgets per objective (a
   geometric grid over random genomes' costs on the NPU-only system). A system with more
   macros starts from the genomes found with fewer (they stay feasible: latency never grows
   with macros), so search noise cannot order the frontiers backwards.
4. ``remeasure.jsonl``: every searched genome measured on the supernet's *test* images (BN
   recalibrated); the frontiers and headline numbers use these, not the predictor.
5. Fig. 8 analogue: the NPU-only latency frontier's genomes and random ones, measured on each
   recipe's supernet (validation images); per recipe, its best-accuracy frontier.
6. figures (PNG) and ``headline.csv``: the paper's numbers beside cimkit's, with the
   definition of "average reduction" (:func:`cimkit.search.h4h.reductions`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from cimkit.accuracy import h4h_train
from cimkit.accuracy.h4h_predictor import read_records
from cimkit.accuracy.h4h_space import H4HGenome, H4HSupernetConfig, SpaceChoices
from cimkit.errors import CimkitError
from cimkit.search import h4h as S

Log = Callable[[str], None]

#: The paper's numbers (§5, §6.3; notes A8): metric -> (value, what it compares).
PAPER: dict[str, tuple[float, str]] = {
    "latency: acc gain at equal latency, 8 macros vs NPU (max)": (1.341, "pp"),
    "latency: reduction at equal accuracy, 8 macros vs NPU (mean)": (21.99, "%"),
    "latency: reduction at equal accuracy, 8 macros vs NPU (max)": (56.08, "%"),
    "energy: acc gain at equal energy, 8 macros vs NPU (max)": (0.614, "pp"),
    "energy: reduction at equal accuracy, 8 macros vs NPU (mean)": (11.80, "%"),
    "energy: reduction at equal accuracy, 8 macros vs NPU (max)": (33.13, "%"),
    "energy: reduction at equal accuracy, 1 macro x 4 CUs vs NPU (mean)": (19.11, "%"),
    "energy: reduction at equal accuracy, 1 macro x 4 CUs vs NPU (max)": (41.72, "%"),
    "energy: reduction at equal accuracy, 1 macro x 4 CUs vs 1 macro x 1 CU (mean)": (9.34, "%"),
}
LATENCY_SYSTEMS = ["npu", "npu+1", "npu+4", "npu+8"]
ENERGY_SYSTEMS = LATENCY_SYSTEMS + ["npu+1x4cu", "npu+4x4cu", "npu+8x4cu"]


def table2_frame(runs: Path) -> Any:
    """Table 2 analogue (percent) and the claims' checks (rows ``claim: ...``)."""
    import pandas as pd

    rows = h4h_train.table2(runs)
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    for k in ("min_net", "max_net", "min_net_se", "max_net_se"):
        # 10,000 test images resolve 0.01 pp; the rounding only drops float noise
        df[k] = (100 * df[k]).round(4)
    df["seeds"] = df["seeds"].map(lambda s: " ".join(map(str, s)))
    return df


def table2_claims(df: Any) -> list[tuple[str, bool | None, str]]:
    """The paper's Table 2 claims (notes A2) on the analogue: (claim, holds, evidence)."""
    get = {r.recipe: r for r in df.itertuples()} if len(df) else {}
    out: list[tuple[str, bool | None, str]] = []

    def cmp(claim: str, a: str, b: str, col: str, strict: bool = False) -> None:
        if a not in get or b not in get:
            out.append((claim, None, f"needs {a} and {b}"))
            return
        ra, rb = get[a], get[b]
        va, vb = getattr(ra, col), getattr(rb, col)
        se = math.hypot(getattr(ra, f"{col}_se"), getattr(rb, f"{col}_se"))
        # Whether the seeds resolve the sign: a difference within two combined standard
        # errors could flip with more seeds, so the evidence says so (NaN SE: one seed).
        if math.isnan(se):
            verdict = "one seed: no standard error"
        elif abs(va - vb) > 2 * se:
            verdict = "beyond 2 SE"
        else:
            verdict = "within 2 SE: not resolved by these seeds"
        holds = va > vb if strict else va >= vb  # "beats" / ">" claims are strict
        out.append((claim, bool(holds), f"{va:.2f} vs {vb:.2f} % (difference "
                    f"{va - vb:+.2f} pp, combined SE {se:.2f} pp; {verdict})"))  # fmt: skip

    cmp("CNN-only min_net beats vanilla hybrid min_net (the gradient conflict)",
        "cnn_only", "vanilla", "min_net", strict=True)  # fmt: skip
    cmp("TPI (freeze) min_net >= CNN-only min_net", "tpi_freeze", "cnn_only", "min_net")
    cmp("TPI (freeze) min_net > vanilla hybrid min_net", "tpi_freeze", "vanilla", "min_net",
        strict=True)  # fmt: skip
    cmp("TPI (freeze) max_net >= vanilla hybrid max_net", "tpi_freeze", "vanilla", "max_net")
    cmp("freezing helps: TPI freeze min_net >= unfreeze", "tpi_freeze", "tpi_unfreeze", "min_net")
    cmp("hybrid max_net (TPI) beats CNN-only max_net", "tpi_freeze", "cnn_only", "max_net",
        strict=True)  # fmt: skip
    return out


def run_report(
    runs: Path,
    out: Path,
    system: Any,
    seed: int = 0,
    recipe: str = "tpi_freeze",
    n_measure: int = 300,
    budgets: int = 6,
    cycles: int = 400,
    population: int = 48,
    top: int = 6,
    data: str = "fashion-mnist",
    log: Log = print,
    space: SpaceChoices | None = None,
    shipped: bool = False,
) -> dict:
    """The whole report (module docstring); returns a summary (paths, predictor metrics,
    headline rows, claims). ``space``: the sub-space searched (default Table 1); ``shipped``:
    search the supernet shipped with cimkit (:mod:`cimkit.accuracy.h4h_shipped`) instead of
    the run under ``runs``."""
    import pandas as pd

    from cimkit.accuracy import h4h_predictor as P
    from cimkit.accuracy.data import load

    out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"out": str(out)}
    # 1. Table 2
    t2 = table2_frame(runs)
    t2.to_csv(out / "table2.csv", index=False)
    summary["table2"] = t2.to_dict(orient="records")
    summary["table2_claims"] = [
        {"claim": c, "holds": h, "evidence": e} for c, h, e in table2_claims(t2)
    ]
    # 2. predictor on the search's supernet
    src = h4h_train.run_dir(runs, recipe, seed) / "final.pt"
    if shipped:
        from cimkit.accuracy import h4h_shipped

        m = h4h_shipped.manifest()
        if (m["recipe"], m["seed"]) != (recipe, seed):
            raise CimkitError(
                f"--shipped: the shipped supernet is {m['recipe']} seed {m['seed']}, not "
                f"{recipe} seed {seed}; pass --recipe {m['recipe']} --seed {m['seed']}"
            )
        src = h4h_shipped.SHIP_DIR / h4h_shipped.supernet_name(recipe)
        log(f"searching the shipped supernet {src}")
        summary["supernet"] = "shipped"
        _seed_cache(out / "measure.jsonl", h4h_shipped.records())
    elif not src.is_file():
        raise CimkitError(
            f"{src} missing: train it with `cimkit train h4h --recipe {recipe} --seed {seed} "
            f"--out {runs}` (tools/h4h_train_all.sh trains the whole matrix), or search the "
            "shipped supernet with --shipped"
        )
    net = h4h_train.load_weights(src)
    cfg: H4HSupernetConfig = net.config
    splits = load(data)
    genomes = P.sample_genomes(cfg, n_measure, seed, space)
    log(f"measuring {len(genomes)} subnets of {src} (validation images)")
    recs = P.measure(net, genomes, splits, out / "measure.jsonl", log)
    pred, info = P.fit(recs, seed)
    pred.save_npz(out / "predictor.npz")
    (out / "predictor.json").write_text(json.dumps(info, indent=1) + "\n")
    summary["predictor"] = {"model": info["model"], "heldout": info["heldout"]}
    log(f"predictor ({info['model']}): held-out {info['heldout']}")

    def fitness(gs: list[H4HGenome]) -> np.ndarray:
        return P.predict(pred, gs)

    # 3. searches
    hw = S.HardwareCache(system, ENERGY_SYSTEMS)
    search_csv, search_fp = out / "search.csv", out / "search.json"
    # The searches depend on the predictor and the search settings: a cached search.csv is
    # reused only when both are the same (more measured subnets -> a new predictor -> new runs).
    import hashlib

    fp = hashlib.sha256((out / "predictor.npz").read_bytes()).hexdigest()[:16]
    fp += f"/{budgets}/{cycles}/{population}/{top}/{seed}/{system.model_dump_json()}/{space}"
    cached = search_fp.is_file() and json.loads(search_fp.read_text()).get("fingerprint") == fp
    if search_csv.is_file() and cached:
        raw = pd.read_csv(search_csv)
    else:
        rng = np.random.default_rng(seed)
        # budgets: quantiles of random genomes' costs (40; fewer for a tiny population)
        probe = [cfg.random(rng, space=space) for _ in range(min(40, 4 * population))]
        rows = []
        for objective, systems in (("latency", LATENCY_SYSTEMS), ("energy", ENERGY_SYSTEMS)):
            i = 0 if objective == "latency" else 1
            base_costs = np.array([hw.metrics(g, objective)[i][0] for g in probe])
            bud = S.budgets_for(base_costs, budgets)
            found: list[H4HGenome] = []
            for s in systems:
                res = S.sweep(hw, fitness, cfg, [s], objective, bud, seed, log, cycles=cycles,
                              population=population, seeds=list(found), space=space, top=top)  # type: ignore[arg-type]  # fmt: skip
                if "x4cu" not in s:
                    found += [r.genome for r in res if r.genome is not None]
                for r in res:
                    if r.genome is None:
                        continue
                    rows.append({
                        "objective": objective, "system": s, "budget": r.budget,
                        "genome_json": json.dumps(r.genome.to_dict()),
                        "predicted_acc": r.fitness, "infeasible": r.infeasible,
                        "cycles": r.cycles,
                        "candidates_json": json.dumps(
                            [[g.to_dict(), f] for g, f in r.candidates]),
                    })  # fmt: skip
        raw = pd.DataFrame(rows)
        raw.to_csv(search_csv, index=False)
        search_fp.write_text(json.dumps({"fingerprint": fp}) + "\n")

    # 4. each answer chosen among the candidates by measured validation accuracy
    # (validate.jsonl, resumable), then re-measured on the test images (remeasure.jsonl)
    def val_score(gs: list[H4HGenome]) -> np.ndarray:
        recs = P.measure(net, gs, splits, out / "validate.jsonl", log)
        return np.array([r["acc"] for r in recs])

    sel_rows = []
    for objective in ("latency", "energy"):
        results = [
            S.SearchResult(r.system, objective, float(r.budget),
                           H4HGenome.from_dict(json.loads(r.genome_json)), r.predicted_acc,
                           math.nan, int(r.cycles), int(r.infeasible), [],
                           [(H4HGenome.from_dict(d), f) for d, f in json.loads(r.candidates_json)])
            for r in raw[raw.objective == objective].itertuples()
        ]  # fmt: skip
        if not results:
            continue
        pred_of = {(r.system, r.budget): r.fitness for r in results}
        for sel in S.select(results, val_score, lambda g, s, o=objective: hw.cost(g, s, o), log):
            lat, en = hw.metrics(sel.genome, objective)
            k = hw.names.index(sel.system)
            sel_rows.append({
                "objective": objective, "system": sel.system, "budget": sel.budget,
                "genome_json": json.dumps(sel.genome.to_dict()),
                "predicted_acc": float(P.predict(pred, [sel.genome])[0]),
                "search_predicted_acc": pred_of[sel.system, sel.budget],
                "val_acc": sel.val_acc, "search_val_acc": sel.search_val_acc,
                "source": sel.source, "pool": sel.pool,
                "latency_s": lat[k], "energy_j": en[k],
                "vit_blocks": sel.genome.vit_blocks, "mb_blocks": sel.genome.mb_blocks,
            })  # fmt: skip
    sdf = pd.DataFrame(sel_rows)
    test_path = out / "remeasure.jsonl"
    done = {r["key"]: r for r in read_records(test_path)}
    answers = list(dict.fromkeys(sdf["genome_json"]))
    with test_path.open("a") as f:
        for i, gj in enumerate(answers):
            g = H4HGenome.from_dict(json.loads(gj))
            if g.key() in done:
                continue
            rec = {"key": g.key(), "test_acc": h4h_train.test_accuracy(net, g, splits)}
            f.write(json.dumps(rec) + "\n")
            f.flush()
            done[g.key()] = rec
            if (i + 1) % 10 == 0:
                log(f"re-measured {i + 1}/{len(answers)} answers on the test images")
    sdf["test_acc"] = [
        done[H4HGenome.from_dict(json.loads(gj)).key()]["test_acc"] for gj in sdf["genome_json"]
    ]
    sdf.to_csv(out / "frontiers.csv", index=False)
    # 5. Fig. 8: recipes on one candidate set
    fig8 = _fig8(runs, out, sdf, cfg, splits, seed, hw, log)
    # 6. headline numbers and figures
    head = headline(sdf)
    head.to_csv(out / "headline.csv", index=False)
    summary["headline"] = head.to_dict(orient="records")
    summary["ordering"] = ordering(sdf)
    from cimkit.report import h4h_plots

    summary["figures"] = h4h_plots.write_all(out, sdf, fig8)
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    return summary


def _seed_cache(path: Path, recs: list[dict]) -> None:
    """Add measured records (same supernet, same protocol) missing from the jsonl cache."""
    have = {r["key"] for r in read_records(path)}
    with path.open("a") as f:
        for r in recs:
            if r["key"] not in have:
                f.write(json.dumps(r) + "\n")


def _fig8(runs: Path, out: Path, sdf: Any, cfg: H4HSupernetConfig, splits: Any, seed: int,
          hw: S.HardwareCache, log: Log) -> Any:  # fmt: skip
    """Measured validation accuracy of one candidate set (the NPU-only latency frontier's
    genomes and random ones; for ``cnn_only`` their CNN-only views) on each recipe's
    supernet, with each genome's NPU-only latency."""
    import pandas as pd

    from cimkit.accuracy.h4h_predictor import N_CALIB
    from cimkit.accuracy.train import measure

    base = sdf[(sdf.objective == "latency") & (sdf.system == "npu")]
    cands = [H4HGenome.from_dict(json.loads(g)) for g in dict.fromkeys(base["genome_json"])]
    rng = np.random.default_rng([seed, 8])
    cands += [cfg.random(rng) for _ in range(max(0, 24 - len(cands)))]
    path = out / "fig8.jsonl"
    done = {(r["recipe"], r["key"]): r for r in read_records(path)}
    rows = []
    with path.open("a") as f:
        for recipe in ("cnn_only", "vanilla", "tpi_freeze"):
            src = h4h_train.run_dir(runs, recipe, seed) / "final.pt"
            if not src.is_file():
                log(f"Fig. 8: {src} missing, {recipe} left out")
                continue
            net = None
            # the CNN-only space has no ViT block: its candidates are the CNN-only views (the
            # same MBConv stages, every ViT depth 0)
            pool = cands if recipe != "cnn_only" else [g.cnn_only() for g in cands]
            for g in dict((g.key(), g) for g in pool).values():
                k = (recipe, g.key())
                if k not in done:
                    net = net or h4h_train.load_weights(src)
                    acc = measure(net, g, splits.x_train[:N_CALIB], splits.x_val, splits.y_val)
                    done[k] = {"recipe": recipe, "key": g.key(), "genome": g.to_dict(),
                               "val_acc": acc}  # fmt: skip
                    f.write(json.dumps(done[k]) + "\n")
                    f.flush()
                rows.append(done[k])
    df = pd.DataFrame(rows)
    if len(df):
        k = hw.names.index("npu")
        lat = {r["key"]: float(hw.metrics(H4HGenome.from_dict(r["genome"]), "latency")[0][k])
               for r in rows}  # fmt: skip
        df["latency_s"] = df["key"].map(lat)
        df = df.drop(columns=["genome"])
    df.to_csv(out / "fig8.csv", index=False)
    return df


def headline(sdf: Any) -> Any:
    """The paper's headline numbers beside cimkit's (measured test accuracy, searched costs)."""
    import pandas as pd

    def f(objective: str, system: str) -> tuple[np.ndarray, np.ndarray]:
        d = sdf[(sdf.objective == objective) & (sdf.system == system)]
        col = "latency_s" if objective == "latency" else "energy_j"
        return S.frontier(d[col].to_numpy(), d["test_acc"].to_numpy())

    # (objective, baseline system, compared system, [(metric of PAPER, key of reductions())])
    comparisons = (
        ("latency", "npu", "npu+8", [
            ("latency: acc gain at equal latency, 8 macros vs NPU (max)", "acc_gain_max"),
            ("latency: reduction at equal accuracy, 8 macros vs NPU (mean)", "reduction_mean"),
            ("latency: reduction at equal accuracy, 8 macros vs NPU (max)", "reduction_max"),
        ]),
        ("energy", "npu", "npu+8", [
            ("energy: acc gain at equal energy, 8 macros vs NPU (max)", "acc_gain_max"),
            ("energy: reduction at equal accuracy, 8 macros vs NPU (mean)", "reduction_mean"),
            ("energy: reduction at equal accuracy, 8 macros vs NPU (max)", "reduction_max"),
        ]),
        ("energy", "npu", "npu+1x4cu", [
            ("energy: reduction at equal accuracy, 1 macro x 4 CUs vs NPU (mean)",
             "reduction_mean"),
            ("energy: reduction at equal accuracy, 1 macro x 4 CUs vs NPU (max)", "reduction_max"),
        ]),
        ("energy", "npu+1", "npu+1x4cu", [
            ("energy: reduction at equal accuracy, 1 macro x 4 CUs vs 1 macro x 1 CU (mean)",
             "reduction_mean"),
        ]),
    )  # fmt: skip
    rows = []
    for objective, base, new, metrics in comparisons:
        d = sdf[sdf.objective == objective]
        if not ((d.system == base).any() and (d.system == new).any()):
            continue
        r = S.reductions(f(objective, base), f(objective, new))
        for metric, key in metrics:
            paper, unit = PAPER[metric]
            rows.append({"metric": metric, "cimkit": 100 * r.get(key, math.nan),
                         "paper": paper, "unit": unit})  # fmt: skip
    return pd.DataFrame(rows)


def ordering(sdf: Any, tol_pp: float = 0.7) -> dict:
    """Fig. 7's claim: at each latency budget, measured accuracy non-decreasing in macros
    (0 -> 1 -> 4 -> 8) within ``tol_pp`` (two standard errors of a 10,000-image accuracy near
    85 %). Returns the violations and whether the claim holds."""
    d = sdf[sdf.objective == "latency"]
    bad = []
    for b, g in d.groupby("budget"):
        acc = {r.system: 100 * r.test_acc for r in g.itertuples()}
        for sa, sb in zip(LATENCY_SYSTEMS[:-1], LATENCY_SYSTEMS[1:], strict=True):
            a, c = acc.get(sa), acc.get(sb)
            if a is not None and c is not None and c < a - tol_pp:
                bad.append({"budget_s": b, "fewer": sa, "more": sb, "acc_fewer": a, "acc_more": c})
    return {"holds": not bad, "tolerance_pp": tol_pp, "violations": bad}
