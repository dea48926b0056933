"""Calibrate cimkit's Ethos-U55 NPU engine against ethos-u-vela (optional dependency).

Compiles single-layer int8 TFLite models (``tools/vela_tflite.py``, no TensorFlow) with Vela's
in-process compiler for the U55-64/128/256 configurations and the two memory modes of Arm's
``Ethos_U55_High_End_Embedded`` system (500 MHz; SRAM on AXI0, off-chip flash at 1/8 clock on
AXI1): ``Shared_Sram`` (weights in flash, feature maps in SRAM) and ``Sram_Only``. Each row is
one (layer, accelerator, memory mode) with Vela's summary figures: cycles per kind, bytes per
memory, MACs.

Three sets of layers (``set`` column):

* ``grid``  the calibration grid the engine interpolates (powers of two per axis);
* ``profile`` one-dimensional sweeps through a reference layer along each axis at every value a
  layer can take there (channels in steps of 8, sides and tokens in steps of 1): Vela's block
  choices make cycles jump with channel counts (a 24-channel input costs more than a 32-channel
  one), and the engine corrects the grid's interpolation by these profiles, one factor per axis;
* ``dev``   random off-grid shapes used to choose the engine's interpolation scheme;
* ``test``  random off-grid shapes from a different seed, reported as predictions and never
  used to choose anything (docs/npu.md).

Usage (needs ``pip install -e '.[npu]'``)::

    python tools/vela_calibrate.py --out src/cimkit/data/npu/u55_vela.csv --workers 2

(then ``gzip -9n`` the CSV). Writes the CSV and ``<out>.json`` (provenance: Vela version,
system config, command, date).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as _dt
import io
import itertools
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vela_tflite import LayerShape, build  # noqa: E402

ACCELERATORS = (64, 128, 256)
MODES = ("Shared_Sram", "Sram_Only")
SYSTEM = "Ethos_U55_High_End_Embedded"
FIELDS_FROM_VELA = (
    "core_clock",
    "nn_macs",
    "cycles_total",
    "cycles_npu",
    "cycles_sram_access",
    "cycles_off_chip_flash_access",
    "sram_total_bytes",
    "sram_feature_map_read_bytes",
    "sram_feature_map_write_bytes",
    "sram_weight_read_bytes",
    "off_chip_flash_total_bytes",
    "off_chip_flash_weight_read_bytes",
    "total_original_weights",
    "total_npu_encoded_weights",
    "passes_after_fusing",
)
SHAPE_FIELDS = ("kind", "h", "w", "c_in", "c_out", "k", "stride")

P2_HW = (4, 8, 16, 32, 64, 128)
P2_C = (8, 16, 32, 64, 128, 256, 512, 1024, 2048)
P2_M = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
BMM_BATCH = (1, 4, 16, 32)
BMM_DIM = (4, 16, 64, 256, 1024)
BMM_K = (8, 16, 64, 256, 1024)
SOFTMAX_ROWS = (1, 4, 16, 64, 256, 1024, 4096, 16384)
SOFTMAX_LEN = (4, 16, 64, 256, 1024)


def grid() -> list[LayerShape]:
    """The calibration grid (powers of two per axis; conv channels to 512)."""
    out: list[LayerShape] = []
    for h, ci, co, s in itertools.product(P2_HW, P2_C[:7], P2_C[:7], (1, 2)):
        out.append(LayerShape("conv", h, h, ci, co, 3, s))
    for h, ci, co in itertools.product(P2_HW, P2_C, P2_C):
        out.append(LayerShape("pw", h, h, ci, co, 1, 1))
    for h, c, s in itertools.product(P2_HW, P2_C, (1, 2)):
        out.append(LayerShape("dw", h, h, c, c, 3, s))
    for m, ci, co in itertools.product(P2_M, P2_C, P2_C):
        out.append(LayerShape("fc", m, 1, ci, co))
    for b, m, kk, n in itertools.product(BMM_BATCH, BMM_DIM, BMM_K, BMM_DIM):
        out.append(LayerShape("bmm", m, n, kk, b))
    for h, c in itertools.product(P2_HW, P2_C):
        out.append(LayerShape("add", h, h, c, c))
    for rows, n in itertools.product(SOFTMAX_ROWS, SOFTMAX_LEN):
        out.append(LayerShape("softmax", rows, 1, n, n))
    return out


#: Per kind: the reference layer of its profiles, and for each axis (a LayerShape field) the
#: values swept. Strided kinds are swept at both strides.
def _ints(lo: int, hi: int) -> list[int]:
    return list(range(lo, hi + 1))


def _steps(lo: int, hi: int, step: int) -> list[int]:
    return list(range(lo, hi + 1, step))


def _fine(lo: int, hi: int) -> list[int]:
    """Every integer to 64, then multiples of 8 (tokens and matrix sides)."""
    return sorted(set(_ints(lo, min(hi, 64)) + _steps(72, hi, 8)))


PROFILES: dict[str, tuple[LayerShape, dict[str, list[int]]]] = {
    "conv": (
        LayerShape("conv", 16, 16, 64, 64, 3, 1),
        {"h": _ints(4, 128), "c_in": _steps(8, 512, 8), "c_out": _steps(8, 512, 8)},
    ),
    "pw": (
        LayerShape("pw", 16, 16, 64, 64, 1, 1),
        {"h": _ints(4, 128), "c_in": _steps(8, 2048, 8), "c_out": _steps(8, 2048, 8)},
    ),
    "dw": (
        LayerShape("dw", 16, 16, 64, 64, 3, 1),
        {"h": _ints(4, 128), "c_in": _steps(8, 2048, 8)},
    ),
    "fc": (
        LayerShape("fc", 16, 1, 256, 256),
        {"h": _ints(1, 1024), "c_in": _steps(8, 2048, 8), "c_out": _steps(8, 2048, 8)},
    ),
    "bmm": (
        LayerShape("bmm", 64, 64, 64, 4),
        {
            "c_out": _ints(1, 32),
            "h": _fine(4, 1024),
            "c_in": _steps(8, 1024, 8),
            "w": _fine(4, 1024),
        },
    ),
    "softmax": (LayerShape("softmax", 256, 1, 64, 64), {"c_in": _fine(4, 1024)}),
}
STRIDED = ("conv", "dw")


def profiles() -> list[tuple[str, LayerShape]]:
    """(axis, layer) for every profile point; the reference layer appears once per axis."""
    out: list[tuple[str, LayerShape]] = []
    for kind, (ref, axes) in PROFILES.items():
        for stride in (1, 2) if kind in STRIDED else (1,):
            for axis, values in axes.items():
                for v in values:
                    kw = {axis: v}
                    if axis == "h" and kind in ("conv", "pw", "dw", "add"):
                        kw["w"] = v
                    if kind in ("dw", "softmax") and axis == "c_in":
                        kw["c_out"] = v
                    out.append((axis, replace(ref, stride=stride, **kw)))
    return out


def _log_uniform_int(rng: np.random.Generator, lo: int, hi: int, multiple: int = 1) -> int:
    v = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    v = max(lo, min(hi, int(round(v / multiple)) * multiple))
    return max(v, multiple)


def random_shapes(n_per_kind: int, seed: int) -> list[LayerShape]:
    """Off-grid shapes: channels multiples of 8, sides and tokens any integer, log-uniform.

    Shapes that land exactly on a grid point are redrawn, so every row is a prediction.
    """
    rng = np.random.default_rng(seed)
    on_grid = set(grid())
    out: list[LayerShape] = []
    draws = {
        "conv": lambda: LayerShape(
            "conv",
            h := _log_uniform_int(rng, 4, 128),
            h,
            _log_uniform_int(rng, 8, 512, 8),
            _log_uniform_int(rng, 8, 512, 8),
            3,
            int(rng.integers(1, 3)),
        ),
        "pw": lambda: LayerShape(
            "pw",
            h := _log_uniform_int(rng, 4, 128),
            h,
            _log_uniform_int(rng, 8, 2048, 8),
            _log_uniform_int(rng, 8, 2048, 8),
            1,
            1,
        ),
        "dw": lambda: LayerShape(
            "dw",
            h := _log_uniform_int(rng, 4, 128),
            h,
            c := _log_uniform_int(rng, 8, 2048, 8),
            c,
            3,
            int(rng.integers(1, 3)),
        ),
        "fc": lambda: LayerShape(
            "fc",
            _log_uniform_int(rng, 1, 1024),
            1,
            _log_uniform_int(rng, 8, 2048, 8),
            _log_uniform_int(rng, 8, 2048, 8),
        ),
        "bmm": lambda: LayerShape(
            "bmm",
            _log_uniform_int(rng, 4, 1024),
            _log_uniform_int(rng, 4, 1024),
            _log_uniform_int(rng, 8, 1024, 8),
            _log_uniform_int(rng, 1, 32),
        ),
        "add": lambda: LayerShape(
            "add", h := _log_uniform_int(rng, 4, 128), h, c := _log_uniform_int(rng, 8, 2048, 8), c
        ),
        "softmax": lambda: LayerShape(
            "softmax", _log_uniform_int(rng, 1, 16384), 1, n := _log_uniform_int(rng, 4, 1024), n
        ),
    }
    for draw in draws.values():
        got = 0
        while got < n_per_kind:
            shape = draw()
            if shape in on_grid:
                continue
            # Keep the compile time of the biggest layers bounded (~1 s).
            if shape.macs > 2**34:
                continue
            out.append(shape)
            got += 1
    return out


_WORKDIR: str | None = None


def _compile(job: tuple[str, LayerShape, int, str, str]) -> dict[str, object]:
    """Compile one layer for one accelerator and memory mode; Vela's summary as a dict."""
    global _WORKDIR
    from ethosu.vela import vela

    if _WORKDIR is None:
        _WORKDIR = tempfile.mkdtemp(prefix="vela_cal_")
    set_name, shape, macs, mode, axis = job
    path = os.path.join(_WORKDIR, "layer.tflite")
    with open(path, "wb") as fh:
        fh.write(build(shape))
    row: dict[str, object] = {
        "set": set_name,
        "axis": axis,
        **{f: getattr(shape, f) for f in SHAPE_FIELDS},
    }
    row.update(accelerator_macs=macs, memory_mode=mode, macs=shape.macs)
    buf = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        rc = vela.main(
            [
                path,
                "--accelerator-config",
                f"ethos-u55-{macs}",
                "--config",
                "Arm/vela.ini",
                "--system-config",
                SYSTEM,
                "--memory-mode",
                mode,
                "--output-dir",
                _WORKDIR,
            ]
        )
    row["compile_s"] = round(time.perf_counter() - t0, 4)
    summary = os.path.join(_WORKDIR, f"layer_summary_{SYSTEM}.csv")
    if rc != 0 or not os.path.exists(summary):
        row["status"] = "error: " + buf.getvalue().strip().splitlines()[-1][:200]
        return row
    with open(summary) as fh:
        vrow = next(csv.DictReader(fh))
    os.remove(summary)
    for f in FIELDS_FROM_VELA:
        value = vrow.get(f, "")
        # Vela's summary counts are int32 and wrap for the largest layers (a 128 x 128 x 2048 x
        # 2048 pointwise layer on U55-64); a negative count is a wrapped one.
        if value and float(value) < 0:
            value = str(int(float(value)) + 2**32)
        row[f] = value
    # Vela runs an op it cannot map on the CPU: such a layer has no NPU cycles to calibrate on.
    row["status"] = "ok" if int(vrow.get("passes_after_fusing") or 0) > 0 else "cpu"
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("src/cimkit/data/npu/u55_vela.csv"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--n-dev", type=int, default=60, help="random dev shapes per layer kind")
    ap.add_argument("--n-test", type=int, default=100, help="random test shapes per layer kind")
    ap.add_argument("--limit", type=int, default=0, help="only the first N jobs (smoke test)")
    args = ap.parse_args(argv)
    from ethosu.vela import vela

    sets = [
        ("grid", grid()),
        ("dev", random_shapes(args.n_dev, seed=1)),
        ("test", random_shapes(args.n_test, seed=2)),
    ]
    jobs = [
        (name, s, macs, mode, "")
        for name, shapes in sets
        for s in shapes
        for macs in ACCELERATORS
        for mode in MODES
    ]
    prof = profiles()
    jobs += [
        ("profile", s, macs, mode, axis)
        for axis, s in prof
        for macs in ACCELERATORS
        for mode in MODES
    ]
    if args.limit:
        jobs = jobs[: args.limit]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cols = [
        "set",
        "axis",
        *SHAPE_FIELDS,
        "accelerator_macs",
        "memory_mode",
        "macs",
        *FIELDS_FROM_VELA,
    ]
    t0 = time.time()
    rows = []
    with mp.get_context("fork").Pool(args.workers) as pool:
        for i, row in enumerate(pool.imap(_compile, jobs, chunksize=8)):
            rows.append(row)
            if (i + 1) % 500 == 0 or i + 1 == len(jobs):
                print(f"{i + 1}/{len(jobs)} compiled, {time.time() - t0:.0f} s", flush=True)
    with open(args.out, "w", newline="") as fh:
        wr = csv.DictWriter(fh, fieldnames=cols)
        wr.writeheader()
        for row in rows:
            wr.writerow({c: row.get(c, "") for c in cols})
    prov = {
        "tool": "tools/vela_calibrate.py",
        "command": "python " + " ".join(sys.argv),
        "vela_version": getattr(vela, "__version__", None) or _vela_version(),
        "compiler_core": "regor (Vela 5 default)",
        "config_file": "Arm/vela.ini (shipped with ethos-u-vela)",
        "system_config": SYSTEM,
        "memory_modes": list(MODES),
        "accelerators": [f"ethos-u55-{m}" for m in ACCELERATORS],
        "date": _dt.date.today().isoformat(),
        "rows": len(rows),
        "errors": sum(1 for r in rows if str(r.get("status")) != "ok"),
        "compile_s_total": round(sum(float(r.get("compile_s", 0)) for r in rows), 1),
        "wall_s": round(time.time() - t0, 1),
        "sets": {**{name: len(shapes) for name, shapes in sets}, "profile": len(prof)},
        "note": "Vela's performance estimate, not measured silicon (Vela README).",
    }
    args.out.with_suffix(".json").write_text(json.dumps(prov, indent=2) + "\n")
    print(json.dumps(prov, indent=2))
    return 0


def _vela_version() -> str:
    from importlib.metadata import version

    return version("ethos-u-vela")


if __name__ == "__main__":
    raise SystemExit(main())
