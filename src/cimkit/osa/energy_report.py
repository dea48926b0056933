"""``cimkit osa-energy``: the OSA-HCIM energy model's calibration and its out-of-sample predictions.

:func:`energy_report` returns the whole report as plain data (the command prints it as tables or
``--json``); :func:`osa_energy_cmd` is the typer command registered in :mod:`cimkit.cli`.

Sections, in the order printed:

1. **Preset**: every constant of ``data/osa/osa65.yaml`` resolved at 65 nm / 0.6 V, with its kind
   (paper fact, cimkit component model, measured) and source.
2. **Calibration** (in sample): the one fitted constant, the SAR scale, and the ratio it
   reproduces: fixed-boundary HCIM (B = 8) / DCIM = 1.56x.
3. **Prediction** (out of sample): for each B distribution (the measured ones of
   ``osa65_measured.json``, one per loss-constraint set, and any ``--shares`` given), OSA-HCIM /
   DCIM against the paper's 1.95x and TOPS/W against 5.33-5.79 TOPS/W, each with the +-15 %
   acceptance band (TOPS/W on the paper's energy scale, preset ``osa65-paper``: DCIM at Table
   I's 2.83 TOPS/W; the component scale's TOPS/W beside them), plus the checks the paper
   states as shares (ADC 17 %, OSE 1 % of power).
4. **Per B**: the operating points B = 5..10 alone (Fig. 5(b)'s efficiency and speed axes).
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import typer

from cimkit.cli_output import JSON_OPTION, QUIET_OPTION
from cimkit.errors import SpecError

#: Acceptance band of the issue (relative): predictions within +-15 % of the paper.
BAND = 0.15


def _band(value: float, lo: float, hi: float) -> dict[str, Any]:
    """Where ``value`` sits against the paper's [lo, hi] widened by the band."""
    return {
        "value": value,
        "paper": [lo, hi] if lo != hi else lo,
        "band": [lo * (1 - BAND), hi * (1 + BAND)],
        "within_band": bool(lo * (1 - BAND) <= value <= hi * (1 + BAND)),
        "error_pct": 0.0
        if lo <= value <= hi
        else 100.0 * ((value - hi) / hi if value > hi else (value - lo) / lo),
    }


def parse_shares(text: str, flag: str = "--shares") -> dict[int, float]:
    """``"9:0.5,10:0.5"`` -> {9: 0.5, 10: 0.5}; boundaries 5..10, shares >= 0 summing to 1."""
    out: dict[int, float] = {}
    for item in str(text).split(","):
        item = item.strip()
        if not item:
            continue
        b, sep, v = item.partition(":")
        try:
            bi, vf = int(b), float(v)
        except ValueError:
            raise SpecError(
                f"{flag}: {item!r} is not B:share; give e.g. 8:0.2,9:0.5,10:0.3"
            ) from None
        if not sep or not 5 <= bi <= 10 or not math.isfinite(vf) or vf < 0:
            raise SpecError(
                f"{flag}: {item!r}: B must be 5..10 and the share a number >= 0 "
                "(e.g. 8:0.2,9:0.5,10:0.3)"
            )
        if bi in out:
            raise SpecError(f"{flag}: B = {bi} given twice; give each boundary once")
        out[bi] = vf
    if not out:
        raise SpecError(f"{flag}: empty; give B:share pairs, e.g. 8:0.2,9:0.5,10:0.3")
    total = sum(out.values())
    if abs(total - 1.0) > 1e-3:
        raise SpecError(f"{flag}: the shares sum to {total:g}; make them sum to 1")
    return {b: v / total for b, v in out.items()}


def energy_report(
    shares: dict[str, dict[int, float]] | None = None, preset: str = "osa65"
) -> dict[str, Any]:
    """The report as data: preset, calibration, predictions per B distribution, per-B table.

    Args:
        shares: extra B distributions by name ({B: share}); the measured ones are always added.
        preset: energy preset name.
    """
    from cimkit.osa import energy as en

    p = en.load_preset(preset)
    # The paper's energy scale (a common factor, same ratios): TOPS/W are compared with the
    # paper's on it; the component scale's are reported beside them.
    paper_name = preset if preset.endswith("-paper") else f"{preset}-paper"
    pp = en.load_preset(paper_name)
    dcim_c = en.mode_counts("dcim", preset=p)
    dcim = en.osa_energy(dcim_c, preset)
    hcim_c = en.mode_counts("hcim", preset=p)
    hcim = en.osa_energy(hcim_c, preset)
    hcim_pp = en.osa_energy(hcim_c, paper_name)
    e0 = float(dcim["energy_per_mac_j"])
    t0 = float(dcim["cycles"])
    raw_preset = [{"name": k, "source": v} for k, v in p.sources.items() if k != "fit"]
    resolved = {
        "dat_fj_per_full_adder_bit": p.e_fa_j * 1e15,
        "tree_activity_floor": p.tree_floor,
        "cell_fj": p.e_cell_j * 1e15,
        "line_fj_per_row_op": p.e_line_j * 1e15,
        "add_fj_per_bit": p.e_add_j * 1e15,
        "dac_fj_per_step": p.e_dac_step_j * 1e15,
        "sar_model_fj": p.e_sar_model_j * 1e15,
        "sar_fitted_fj": p.e_sar_j * 1e15,
        "dcim_cycle_ns": p.t_dcim_s * 1e9,
        "adc_to_dat_latency": p.adc_to_dat_latency,
        "bit_density_weight": p.density_w.round(4).tolist(),
        "bit_density_activation": p.density_a.round(4).tolist(),
        "bit_density_source": p.density_source,
    }
    ratio_h = e0 / float(hcim["energy_per_mac_j"])
    calibration = {
        "fitted_constant": "sar_energy_scale",
        "value": p.sar_energy_scale,
        "meaning": "this macro's 3-bit SAR energy / cimkit's typical in-macro SAR "
        f"({p.e_sar_model_j * 1e15:.0f} fJ -> {p.e_sar_j * 1e15:.0f} fJ per conversion)",
        "hcim_boundary": p.hcim_boundary,
        "hcim_over_dcim": ratio_h,
        "paper_hcim_over_dcim": float(p.paper["hcim_over_dcim"]),
        "dcim_tops_per_w": float(dcim["tops_per_w"]),
        "hcim_tops_per_w": float(hcim["tops_per_w"]),
        "hcim_adc_share": float(hcim["adc_share"]),
        "paper_scale": {
            "preset": paper_name,
            "energy_scale": pp.energy_scale,
            "source": pp.energy_scale_source,
            "dcim_tops_per_w": float(en.osa_energy(dcim_c, paper_name)["tops_per_w"]),
            "hcim_tops_per_w": float(hcim_pp["tops_per_w"]),
        },
    }
    dists: dict[str, dict[str, Any]] = {}
    m = en.measured()
    if m is not None:
        for name, rec in m.get("sets", {}).items():
            dists[f"measured ({name})"] = {
                "shares": {int(b): float(v) for b, v in rec["share"].items()},
                "source": f"shipped ResNet-20 on Fashion-MNIST, loss constraints "
                f"{rec['constraints']} over B_0, accuracy on the search images "
                f"{100 * rec['accuracy']:.1f} % (all at B_0: {100 * rec['accuracy_ref']:.1f} %)",
            }
    for name, sh in (shares or {}).items():
        dists[name] = {"shares": sh, "source": "given"}
    lo, hi = (float(x) for x in p.paper["osa_tops_per_w"])
    predictions = []
    for name, rec in dists.items():
        oc = en.mode_counts("osa", shares=rec["shares"], preset=p)
        e = en.osa_energy(oc, preset)
        tw_paper = float(en.osa_energy(oc, paper_name)["tops_per_w"])
        r = e0 / float(e["energy_per_mac_j"])
        predictions.append(
            {
                "distribution": name,
                "source": rec["source"],
                "shares": {str(b): v for b, v in sorted(rec["shares"].items())},
                "mean_boundary": float(sum(b * v for b, v in rec["shares"].items())),
                "osa_over_dcim": _band(
                    r, float(p.paper["osa_over_dcim"]), float(p.paper["osa_over_dcim"])
                ),
                "tops_per_w": _band(tw_paper, lo, hi),
                "tops_per_w_components": float(e["tops_per_w"]),
                "speedup_over_dcim": t0 / float(e["cycles"]),
                "adc_share": float(e["adc_share"]),
                "ose_share": float(e["ose_share"]),
            }
        )
    per_b = []
    for b in p.candidates:
        for ose in (False, True):
            c = en.counts_from_shares({b: 1.0}, ose=ose, preset=p)
            e = en.osa_energy(c, preset)
            per_b.append(
                {
                    "boundary": b,
                    "ose": ose,
                    "over_dcim": e0 / float(e["energy_per_mac_j"]),
                    "tops_per_w": float(e["tops_per_w"]),
                    "tops_per_w_paper_scale": float(en.osa_energy(c, paper_name)["tops_per_w"]),
                    "speedup_over_dcim": t0 / float(e["cycles"]),
                    "adc_share": float(e["adc_share"]),
                }
            )
    return {
        "preset": {
            "name": p.name,
            "node_nm": p.node_nm,
            "voltage_v": p.voltage_v,
            "constants": raw_preset,
            "resolved": resolved,
        },  # fmt: skip
        "calibration": calibration,
        "predictions": predictions,
        "per_boundary": per_b,
        "paper": {
            "osa_over_dcim": float(p.paper["osa_over_dcim"]),
            "osa_tops_per_w": [lo, hi],
            "adc_power_share": float(p.paper["adc_power_share"]),
            "ose_power_share": float(p.paper["ose_power_share"]),
            "b_distribution": "not in the text: Fig. 8(b) (ResNet-18 / CIFAR-100) gives it only "
            "as an image",
        },
        "note": "no measured B distribution: run tools/osa_measure_shares.py"
        if m is None or not m.get("sets")
        else "",
    }


def osa_energy_cmd(
    shares: Annotated[
        str | None,
        typer.Option(
            "--shares",
            help="An extra B distribution to predict, as B:share pairs over B = 5..10 summing "
            "to 1 (e.g. 8:0.2,9:0.5,10:0.3); the measured ones are always shown.",
        ),
    ] = None,
    json_output: Annotated[bool, JSON_OPTION] = False,
    quiet: Annotated[bool, QUIET_OPTION] = False,
) -> None:
    """OSA-HCIM energy model: calibration (HCIM/DCIM = 1.56x) and predictions (OSA/DCIM, TOPS/W).

    One constant is fitted (the SAR energy scale, to the paper's fixed-boundary HCIM ratio); the
    OSA-HCIM / DCIM ratio and TOPS/W are predicted from B distributions measured on the shipped
    ResNet-20 (tools/osa_measure_shares.py) and --shares, and compared with the paper's 1.95x
    and 5.33-5.79 TOPS/W (+-15 % bands). --json prints the report (energies in fJ/ns as named).
    """
    from rich.table import Table

    from cimkit import cli_output as out_mode
    from cimkit.cli_output import emit_json, note, print_table

    out_mode.set_mode(json_output, quiet)
    extra = {"given (--shares)": parse_shares(shares)} if shares is not None else None
    rep = energy_report(extra)
    if json_output:
        emit_json(rep)
        return
    if rep["note"]:
        note(rep["note"])
    pre = rep["preset"]
    t = Table(title=f"OSA-HCIM preset {pre['name']}: {pre['node_nm']:g} nm, {pre['voltage_v']} V")
    t.add_column("constant")
    t.add_column("value", justify="right")
    for k, v in pre["resolved"].items():
        t.add_row(k, f"{v:.4g}" if isinstance(v, float) else str(v))
    print_table(t)
    cal = rep["calibration"]
    t = Table(title="Calibration (in sample): the one fitted constant")
    for col in ("quantity", "cimkit", "paper"):
        t.add_column(col, justify="right" if col != "quantity" else "left")
    t.add_row(f"{cal['fitted_constant']} (fitted)", f"{cal['value']:.4g}", "-")
    t.add_row(f"HCIM (B = {cal['hcim_boundary']}) / DCIM", f"{cal['hcim_over_dcim']:.3f}x",
              f"{cal['paper_hcim_over_dcim']:.2f}x")  # fmt: skip
    ps = cal["paper_scale"]
    t.add_row("DCIM TOPS/W, paper scale (anchor, not fitted)", f"{ps['dcim_tops_per_w']:.2f}",
              "2.83 (Table I, ISSCC'21 at 65 nm)")  # fmt: skip
    t.add_row("HCIM TOPS/W, paper scale", f"{ps['hcim_tops_per_w']:.2f}", "-")
    t.add_row("DCIM TOPS/W, component scale", f"{cal['dcim_tops_per_w']:.2f}",
              "2.73-2.97 (implied)")  # fmt: skip
    t.add_row("HCIM TOPS/W, component scale", f"{cal['hcim_tops_per_w']:.2f}", "-")
    print_table(t)
    note(
        f"paper scale = component energies x {ps['energy_scale']:.3f} ({ps['preset']}): "
        f"{ps['source']}"
    )
    t = Table(title="Prediction (out of sample): OSA-HCIM over DCIM")
    for col in ("B distribution", "mean B", "OSA/DCIM", "paper", "in band", "TOPS/W (paper scale)",
                "paper ", "in band ", "TOPS/W (components)", "speed-up", "ADC share",
                "OSE share"):  # fmt: skip
        t.add_column(col, justify="left" if col == "B distribution" else "right")
    paper = rep["paper"]
    for pr in rep["predictions"]:
        r, tw = pr["osa_over_dcim"], pr["tops_per_w"]
        t.add_row(
            pr["distribution"],
            f"{pr['mean_boundary']:.2f}",
            f"{r['value']:.3f}x",
            f"{paper['osa_over_dcim']:.2f}x",
            "yes" if r["within_band"] else "no",
            f"{tw['value']:.2f}",
            "5.33-5.79",
            "yes" if tw["within_band"] else "no",
            f"{pr['tops_per_w_components']:.2f}",
            f"{pr['speedup_over_dcim']:.2f}x",
            f"{100 * pr['adc_share']:.1f} % (17 %)",
            f"{100 * pr['ose_share']:.1f} % (1 %)",
        )
    print_table(t)
    t = Table(title="Per operating point (one B everywhere; with OSE = OSA at that B)")
    for col in ("B_D/A", "OSE", "over DCIM", "TOPS/W (paper scale)", "TOPS/W (components)",
                "speed-up", "ADC share"):  # fmt: skip
        t.add_column(col, justify="right")
    for row in rep["per_boundary"]:
        t.add_row(
            str(row["boundary"]),
            "yes" if row["ose"] else "no",
            f"{row['over_dcim']:.3f}x",
            f"{row['tops_per_w_paper_scale']:.2f}",
            f"{row['tops_per_w']:.2f}",
            f"{row['speedup_over_dcim']:.2f}x",
            f"{100 * row['adc_share']:.1f} %",
        )
    print_table(t)
    note(f"paper's B distribution: {paper['b_distribution']}")
