"""CIMNAS baseline 1 under the paper's (CiMLoop) definitions: cimkit vs Table III.

Usage: .venv/bin/python tools/cimnas_baseline1.py [chip.yaml]

Evaluates the standard 8-bit MobileNetV2 (depths 2-3-4-3-3, kernel 3, expand 6) on
examples/chips/cimnas_baseline1_cimloop.yaml (or the given chip) and prints the paper's three
hardware figures with their definitions (cimkit.search.baseline, docs/search.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

from cimkit.search.baseline import PAPER_BASELINE1, paper_figures
from cimkit.specs import load_chip
from cimkit.workload.builtin import get_network

DEFAULT = Path(__file__).resolve().parents[1] / "examples/chips/cimnas_baseline1_cimloop.yaml"


def main() -> None:
    spec = load_chip(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT)
    got = paper_figures(spec, get_network("mobilenetv2"))
    print(f"{spec.name} on mobilenetv2: area {got['area_mm2']:.1f} mm^2 (paper 3691)")
    for k, paper in PAPER_BASELINE1.items():
        print(f"  {k:13s} cimkit {got[k]:9.4g}   paper {paper:7.4g}   ratio {got[k] / paper:6.2f}")
    print(f"  network-level TOPS/W {got['tops_per_w_network']:.4g}")


if __name__ == "__main__":
    main()
