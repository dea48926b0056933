"""CIMNAS baseline 1 under the paper's own (CiMLoop) definitions, against Table III.

Krestinskaya et al. report for baseline 1 (standard 8-bit MobileNetV2 on the median hardware):
delay 6.94 us, TOPS/W 1.36, TOPS/mm^2 0.71. Their definitions (docs/search.md): delay is the sum
of per-layer latencies with every layer's weights copied over the whole chip (cimkit's
``chip.execution: layerwise``); TOPS/W and TOPS/mm^2 are unweighted means over the MAC layers of
2 x MACs / layer energy and 2 x MACs / layer latency / full chip area.
"""

from __future__ import annotations

import numpy as np

from cimkit.cost import evaluate
from cimkit.specs import ChipSpec
from cimkit.workload import Workload

#: Table III, baseline 1: delay (us), TOPS/W, TOPS/mm^2.
PAPER_BASELINE1: dict[str, float] = {"delay_us": 6.94, "tops_per_w": 1.36, "tops_per_mm2": 0.71}


def paper_figures(spec: ChipSpec, workload: Workload) -> dict[str, float]:
    """The paper's three hardware figures of ``spec`` running ``workload`` (one design).

    Returns delay_us (us), tops_per_w and tops_per_mm2 (means over MAC layers), plus area_mm2
    and the network-level tops_per_w_network (total ops / total energy) for comparison.
    """
    ev = evaluate(spec, workload, breakdown=True)
    assert ev.layer_energy is not None and ev.layer_latency is not None
    mac = np.array([layer.is_mac for layer in workload.layers])
    ops = 2.0 * np.array([layer.macs for layer in workload.layers], dtype=np.float64)[mac]
    energy = sum(ev.layer_energy[k][0] for k in ev.layer_energy.keys())[mac]
    latency = ev.layer_latency[0][mac]
    area_mm2 = float(ev.metrics["area_mm2"][0])
    return {
        "delay_us": float(ev.metrics["latency_s"][0]) * 1e6,
        "tops_per_w": float(np.mean(ops / energy)) / 1e12,
        "tops_per_mm2": float(np.mean(ops / latency / area_mm2)) / 1e12,
        "area_mm2": area_mm2,
        "tops_per_w_network": float(ev.metrics["tops_per_w"][0]),
    }
