"""CIMNAS baseline 1 under the paper's (CiMLoop) definitions: cimkit vs Table III.

Usage: .venv/bin/python tools/cimnas_baseline1.py [chip.yaml]

Evaluates the standard 8-bit MobileNetV2 (depths 2-3-4-3-3, kernel 3, expand 6; CIFAR-10-sized
as in the paper's search) on examples/chips/cimnas_baseline1_cimloop.yaml and prints the paper's
three hardware figures with their definitions (docs/search.md): delay = sum of per-layer latency
(execution layerwise), TOPS/W and TOPS/mm^2 = unweighted means over the MAC layers of
2 x MACs / energy and 2 x MACs / latency / chip area.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from cimkit.cost import evaluate
from cimkit.specs import load_chip
from cimkit.workload.builtin import get_network

PAPER = {"delay_us": 6.94, "tops_per_w": 1.36, "tops_per_mm2": 0.71}
DEFAULT = Path(__file__).resolve().parents[1] / "examples/chips/cimnas_baseline1_cimloop.yaml"


def main() -> None:
    spec = load_chip(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT)
    wl = get_network("mobilenetv2")
    ev = evaluate(spec, wl, breakdown=True)
    mac = np.array([la.is_mac for la in wl.layers])
    macs = np.array([la.macs for la in wl.layers], dtype=np.float64)[mac]
    energy = sum(v[0] for v in (ev.layer_energy[k] for k in ev.layer_energy.keys()))[mac]
    latency = ev.layer_latency[0][mac]
    area_mm2 = float(ev.metrics["area_mm2"][0])
    got = {
        "delay_us": float(ev.metrics["latency_s"][0]) * 1e6,
        "tops_per_w": float(np.mean(2 * macs / energy) / 1e12),
        "tops_per_mm2": float(np.mean(2 * macs / latency / area_mm2) / 1e12),
    }
    print(f"{spec.name} on {wl.name}: area {area_mm2:.1f} mm^2, feasible {bool(ev.feasible[0])}")
    for k, v in got.items():
        print(f"  {k:13s} cimkit {v:9.4g}   paper {PAPER[k]:7.4g}   ratio {v / PAPER[k]:6.2f}")
    print(f"  network-level TOPS/W {float(ev.metrics['tops_per_w'][0]):.4g}")


if __name__ == "__main__":
    main()
