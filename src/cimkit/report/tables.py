"""Table III-style rows and Markdown/rich tables (one place for both the CLI and the reports);
column names, units and headers come from :mod:`cimkit.columns`."""

from __future__ import annotations

from typing import Any

import numpy as np

from cimkit.columns import COLUMNS, header, metrics_frame, upgrade_row
from cimkit.search.objectives import COL, Objective


def _head(key: str) -> str:
    h = header(key)
    return h[:1].upper() + h[1:]  # "Energy (mJ)": units as defined, the first letter a capital


#: Table III columns: key -> (header, format). Keys are the data columns of
#: :mod:`cimkit.columns` (values in files' SI units, so ``search --json`` rows match designs.csv);
#: cells show them in display units under headers with those units.
TABLE3: dict[str, tuple[str, str]] = {
    "method": ("Method", "{}"),
    "accuracy_pct": ("Top-1 (%)", "{:.2f}"),
    "accuracy_measured_pct": ("Measured (%)", "{:.2f}"),
    "accuracy_finetuned_pct": ("Fine-tuned (%)", "{:.2f}"),
    "acc_change_pp": ("Change (pp)", "{:+.2f}"),
    "accuracy_used": ("Accuracy used", "{}"),
    "energy_j": (_head("energy_j"), "{:.3g}"),
    "latency_s": (_head("latency_s"), "{:.3g}"),
    "area_m2": (_head("area_m2"), "{:.4g}"),
    "edap_j_s_m2": (_head("edap_j_s_m2"), "{:.3g}"),
    "score": ("Score", "{:.4g}"),
    "tops_per_w": ("TOPS/W", "{:.3g}"),
    "tops_per_mm2": ("TOPS/mm^2", "{:.3g}"),
    "utilization": ("Utilization", "{:.2f}"),
    "diversity": ("Diversity (top 5)", "{:.2f}"),
    "evals": ("Evaluations", "{:,}"),
}
#: Columns shown only when some row has them (re-measured accuracy: cimkit.search.remeasure).
OPTIONAL = ("accuracy_measured_pct", "accuracy_finetuned_pct", "accuracy_used")


def table_keys(rows: list[dict[str, Any]]) -> list[str]:
    """TABLE3 keys of ``rows``' table: every column, the optional ones only if a row has them."""
    have = {k for r in rows for k in r}
    return [k for k in TABLE3 if k not in OPTIONAL or k in have]


def table_row(label: str, m: np.ndarray, obj: Objective, ref: np.ndarray) -> dict[str, Any]:
    """One Table III row from a metrics row ``m`` (K,); ``ref`` normalises priority scores.

    Values are in the data columns' units (SI; accuracy in %): :func:`cells` shows them in
    display units.
    """
    si = metrics_frame(np.asarray(m, dtype=float)[None])
    row: dict[str, Any] = {"method": label}
    for key in ("accuracy_pct", "energy_j", "latency_s", "area_m2", "edap_j_s_m2"):
        row[key] = float(si[key][0])
    row["score"] = float(obj.score(m[None], ref)[0])
    for key in ("tops_per_w", "tops_per_mm2", "utilization"):
        row[key] = float(m[COL[key]])
    return row


def fmt(key: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    if key in COLUMNS and isinstance(value, int | float) and not isinstance(value, bool):
        value = COLUMNS[key].display(value)  # file unit -> the header's display unit
    try:
        return TABLE3[key][1].format(value)
    except (ValueError, TypeError):
        return str(value)


def cells(row: dict[str, Any], keys: list[str] | None = None) -> list[str]:
    """Formatted cells of a row in TABLE3 order ('-' where absent) for the columns ``keys``
    (default: every non-optional one); rows of comparisons stored before the naming convention
    are read with the new names (:func:`~cimkit.columns.upgrade_row`).
    """
    keys = keys if keys is not None else table_keys([])
    row = upgrade_row(row)
    if "error" in row:
        return [row["method"], f"failed: {row['error']}"] + ["-"] * (len(keys) - 2)
    out = []
    for key in keys:
        v = row.get(key)
        s = fmt(key, v)
        if key == "diversity" and v is not None:
            s += f" ({row.get('diversity_label', '')})"
        out.append(s)
    return out


def _cell(text: Any) -> str:
    # A '|' inside a cell would end it; a newline would end the table row.
    return " ".join(str(text).split()).replace("|", "\\|")


def md_table(head: list[str], rows: list[list[Any]]) -> str:
    """A Markdown (GFM) table of ``rows`` under ``head``, cells escaped."""
    lines = ["| " + " | ".join(_cell(h) for h in head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def markdown_table(rows: list[dict[str, Any]], score_label: str) -> str:
    """Table III as Markdown; the score column is headed with the objective it scores."""
    keys = table_keys(rows)
    heads = [TABLE3[k][0] if k != "score" else f"Score {score_label}" for k in keys]
    return md_table(heads, [cells(r, keys) for r in rows])


def rich_table(rows: list[dict[str, Any]], score_label: str, title: str = "") -> Any:
    from rich.table import Table

    t = Table(title=title)
    keys = table_keys(rows)
    for k in keys:
        h = TABLE3[k][0]
        t.add_column(
            h if k != "score" else f"Score\n{score_label}",
            justify="left" if k in ("method", "accuracy_used") else "right",
        )
    for r in rows:
        t.add_row(*cells(r, keys))
    return t
