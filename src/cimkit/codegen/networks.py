"""Reduced versions of the paper's networks and the designs the code generator is measured on.

Reductions for simulation time (Icarus Verilog runs the behavioural RTL at ~1-3 us per MAC):

* VGG-8: conv widths x0.125 (16-16-32-32-64-64), 16 x 16 input, fc 256 -> 32 -> 10.
* ResNet-18: widths x0.125 (stem 8, stages 8/16/32/64), 32 x 32 input, 10 classes.
* MobileNetV2: the OFA-layout MobileNetV2 with the torchvision blocks (depths 2-3-4-3-3, 3x3
  depthwise kernels, expand 6) at width 0.25 with the feature-mix conv scaled too (1280 x 0.25 =
  320 channels; torchvision keeps 1280), 16 x 16 input (maps 8 x 8 down to 1 x 1), 10 classes.

``python -m cimkit.codegen.networks`` simulates every design and prints its cycle error
(docs/codegen.md, "Measured").
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from cimkit.pimhls.plan import Schedule
from cimkit.workload import Workload, make_layer

#: name -> (built-in network, its arguments)
REDUCED: dict[str, tuple[str, dict]] = {
    "vgg8": ("vgg8", dict(width=0.125, resolution=16, fc_width=32)),
    "resnet18": ("resnet18", dict(width=0.125, resolution=32, num_classes=10)),
    "mobilenetv2": (
        "mobilenetv2_ofa",
        dict(
            depths=(2, 3, 4, 3, 3), kernels=3, expands=6, width=0.25, resolution=16, num_classes=10
        ),
    ),  # fmt: skip
}

#: Layer-name prefixes that start a new layer group (the stages) in the measured schedules.
STAGES: dict[str, list[str]] = {
    "vgg8": [],  # one group: resident
    "resnet18": ["layer2", "layer3", "layer4"],
    "mobilenetv2": ["features.4.", "features.8.", "features.12.", "features.15."],
}


def reduced(name: str) -> Workload:
    """The reduced network ``name`` (a key of :data:`REDUCED`)."""
    from cimkit.workload.builtin import get_network

    builtin, args = REDUCED[name]
    return get_network(builtin, **args)


def stage_groups(workload: Workload, prefixes: Sequence[str]) -> list[list[str]]:
    """MAC layers in order, a new group at the first layer starting with each next prefix."""
    from cimkit.codegen.lowering import mac_chain

    out: list[list[str]] = []
    cur: list[str] = []
    todo = list(prefixes)
    for g in mac_chain(workload):
        if todo and g.name.startswith(todo[0]) and cur:
            out.append(cur)
            cur = []
            todo.pop(0)
        cur.append(g.name)
    return out + [cur]


def chain(c: int = 32, h: int = 8, fc: int = 64) -> Workload:
    """conv 3x3 -> conv 3x3 -> pwconv -> flatten fc -> fc on an ``h`` x ``h`` map (issue 12's
    rescheduled design at 1.5 mm^2)."""

    def conv(name: str, op: str, cin: int, cout: int, k: int):
        return make_layer(name, op, in_channels=cin, out_channels=cout, kernel_h=k, kernel_w=k,
                          in_h=h, in_w=h, out_h=h, out_w=h)  # fmt: skip

    return Workload(
        "chain",
        (
            conv("conv1", "conv", 3, c, 3),
            conv("conv2", "conv", c, c, 3),
            conv("pw", "pwconv", c, c // 2, 1),
            make_layer("fc1", "linear", in_channels=c // 2 * h * h, out_channels=fc),
            make_layer("fc2", "linear", in_channels=fc, out_channels=10),
        ),
    )


#: Optimizer designs with input-channel pieces: name -> (reduced network or 'chain', techs,
#: area mm^2). VGG-8 on 0.3 mm^2 of RRAM: 12 groups, features.7/.10 in 2 and features.12 in 3
#: input pieces (one output channel of them does not fit); the chain on 0.3 mm^2 of SRAM: 11
#: groups, fc1 in 8 input pieces, one a group.
INPUT_PIECE_DESIGNS: dict[str, tuple[str, tuple[str, ...], float]] = {
    "vgg8@0.3mm2-rram": ("vgg8", ("rram",), 0.3),
    "chain@0.3mm2": ("chain", ("sram",), 0.3),
}


def optimized(name: str, techs: Sequence[str], area_mm2: float) -> tuple[Workload, Schedule]:
    """A reduced network (or 'chain') optimized by PIM-HLS for the generator: copies <= 63, at
    most 16 pieces a group, input-channel pieces where they help (``optimize``'s default, as
    ``cimkit generate``)."""
    from cimkit.pimhls.optimize import optimize

    wl = chain() if name == "chain" else reduced(name)
    return wl, optimize(wl, area_mm2, tuple(techs), True, None, max_copies=63, max_members=16)


def designs() -> dict[str, tuple[Workload, Schedule]]:
    """Every measured design: the reduced networks (plan_for, 64 x 16 arrays, stage groups), the
    chain optimized by PIM-HLS on SRAM at 1.5 mm^2 (rescheduled) and 40 mm^2 (resident), and
    the optimizer designs with input-channel pieces (:data:`INPUT_PIECE_DESIGNS`)."""
    from cimkit.codegen.planning import plan_for

    out = {}
    for name in REDUCED:
        wl = reduced(name)
        out[name] = (wl, plan_for(wl, stage_groups(wl, STAGES[name]), rows=64, cols=16))
    for area in (1.5, 40.0):
        out[f"chain@{area:g}mm2"] = optimized("chain", ("sram",), area)
    for key, (name, techs, area) in INPUT_PIECE_DESIGNS.items():
        out[key] = optimized(name, techs, area)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Simulate the designs named in ``argv`` (default all); print plan, simulated cycles, error."""
    from cimkit import codegen

    table = designs()
    names = list(argv) if argv else list(table)
    print(f"{'design':<18} {'groups':>6} {'in-pieces':>9} {'plan':>8} {'simulated':>10} "
          f"{'error':>8}  bit-exact  s")  # fmt: skip
    for name in names:
        wl, sched = table[name]
        weights = codegen.random_weights(wl, 0)
        x = codegen.random_inputs(wl, 1)
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            design = codegen.generate(sched, wl, weights, Path(tmp), inputs=x)
            res = codegen.simulate(design)
        exact = bool((res.outputs == design.expected).all())
        err = codegen.cycle_error(res.cycles, design.estimate_cycles)
        n_in = sum(m.split_axis == "in" for g in sched.groups for m in g.members)
        print(f"{name:<18} {len(sched.groups):>6} {n_in:>9} {design.estimate_cycles:>8} "
              f"{res.cycles:>10} {err:>+8.2%}  {str(exact):<9}  "
              f"{time.perf_counter() - t0:.0f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
