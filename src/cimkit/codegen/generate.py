"""``generate()``: schedule + workload + integer weights -> a simulatable Verilog design folder."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from cimkit.codegen.isa import Instruction, encode, to_asm, to_hex
from cimkit.codegen.lowering import (
    calibrate_shifts,
    input_to_hwc,
    lower,
    mac_chain,
    random_inputs,
    reference,
    resolve_relu,
    resolve_shifts,
)
from cimkit.codegen.planning import estimate_cycles
from cimkit.codegen.program import DesignMap, HardwareConfig, build, pack_rows
from cimkit.codegen.verilog import render_rtl, render_testbench
from cimkit.errors import WorkloadError
from cimkit.pimhls.plan import Schedule
from cimkit.workload import Workload


@dataclass(frozen=True)
class GeneratedDesign:
    """A generated design folder and what it was made from.

    Attributes:
        out_dir: the folder (rtl/, program.asm/.hex, weights/, inputs.hex, tb_top.v, README.md).
        schedule, workload: the inputs.
        program: the instruction stream; ``words`` its encoding (160-bit words).
        hardware: design-wide parameters (tiles, word widths, memory sizes).
        design: the full mapping (pieces, tiles, GB regions).
        inputs: the input sample written to inputs.hex (user layout).
        shifts, relu: requantization per layer.
        expected: the golden model's output for ``inputs`` (user layout, int64).
        estimate_cycles: what the plan predicts (:func:`estimate_cycles`).
        rtl_files: paths of the Verilog sources (testbench excluded).
    """

    out_dir: Path
    schedule: Schedule
    workload: Workload
    program: tuple[Instruction, ...]
    words: tuple[int, ...]
    hardware: HardwareConfig
    design: DesignMap
    inputs: np.ndarray
    shifts: dict[str, int]
    relu: dict[str, bool]
    expected: np.ndarray
    estimate_cycles: int
    rtl_files: tuple[Path, ...]

    @property
    def testbench(self) -> Path:
        return self.out_dir / "tb_top.v"

    def count(self, op: str) -> int:
        """Instructions with opcode ``op`` in the program."""
        return sum(1 for ins in self.program if ins.op == op)


def generate(
    schedule: Schedule,
    workload: Workload,
    weights: Mapping[str, np.ndarray],
    out_dir: str | Path,
    *,
    inputs: np.ndarray | None = None,
    shifts: Mapping[str, int] | int | None = None,
    relu: Mapping[str, bool] | None = None,
    trim: bool = True,
    seed: int = 0,
) -> GeneratedDesign:
    """Generate Verilog, the instruction stream and memory images for ``schedule``.

    Args:
        schedule: the PIM-HLS plan (from the optimizer or :func:`plan_for`).
        workload: the network; a chain of linear/conv layers (:mod:`cimkit.codegen.lowering`).
        weights: integer weights per layer name, torch layouts ((K, C, kh, kw) or (K, F)).
        out_dir: folder to write (created; existing files are overwritten).
        inputs: one input sample (user layout); default a seeded random sample.
        shifts: right shift per layer or one for all; default :func:`calibrate_shifts`.
        relu: ReLU per layer; default after every layer but the last.
        trim: shrink arrays that are larger than any weight matrix they host (see
            :func:`cimkit.codegen.program.build`).
        seed: seed of the default inputs.

    Returns:
        The :class:`GeneratedDesign`; simulate it with :func:`cimkit.codegen.simulate`.
    """
    ops = lower(workload)
    chain = mac_chain(workload)
    missing = [g.name for g in chain if g.name not in weights]
    if missing:
        raise WorkloadError(f"no weights given for layers {missing}")
    relu_ = resolve_relu(ops, relu)
    x = random_inputs(workload, seed) if inputs is None else np.asarray(inputs)
    input_to_hwc(ops[0], x)  # validates shape and range
    if shifts is None:
        shifts_ = calibrate_shifts(workload, weights, x, relu_)
    else:
        shifts_ = resolve_shifts(chain, shifts)
    dm = build(schedule, workload, weights, shifts_, relu_, trim=trim)
    hw = dm.hardware
    expected = reference(workload, weights, x, shifts_, relu_)
    estimate = estimate_cycles(schedule)

    out = Path(out_dir)
    (out / "rtl").mkdir(parents=True, exist_ok=True)
    (out / "weights").mkdir(exist_ok=True)
    rtl_files = []
    for name, text in render_rtl(dm).items():
        path = out / "rtl" / name
        path.write_text(text)
        rtl_files.append(path)

    words = encode(dm.program)
    header = (
        f"cimkit.codegen program for {workload.name!r}: {len(schedule.groups)} groups, "
        f"{len(dm.program)} instructions\nplan estimate: {estimate} cycles"
    )
    (out / "program.asm").write_text(to_asm(dm.program, header))
    (out / "program.hex").write_text(to_hex(words))

    weight_files = []
    for piece in dm.pieces:
        if piece.placement is None:
            continue  # pools have no weights
        rel = f"weights/{piece.file_stem}.hex"
        data = dm.weight_words[piece.key]
        (out / rel).write_text(to_hex(data, hw.wmem_cols * hw.wbits))
        weight_files.append((rel, piece.waddr, len(data)))

    hwc = input_to_hwc(ops[0], x)
    in_words = pack_rows(hwc.reshape(-1, hwc.shape[-1]), hw.elem_bits)
    (out / "inputs.hex").write_text(to_hex(in_words, hw.vlen * hw.elem_bits))
    flat_expected = _position_major(ops[-1], expected)
    (out / "expected.txt").write_text("".join(f"{v}\n" for v in flat_expected))

    # Generous bound: plan estimate x 4 + 1000 cycles per instruction for fetch and stalls.
    max_cycles = 4 * estimate + 1000 * len(dm.program) + 10_000
    (out / "tb_top.v").write_text(render_testbench(dm, weight_files, max_cycles))
    (out / "README.md").write_text(_readme(workload, schedule, dm, estimate))
    (out / "design.json").write_text(json.dumps(_summary(dm, estimate, shifts_, relu_), indent=2))
    return GeneratedDesign(
        out_dir=out,
        schedule=schedule,
        workload=workload,
        program=dm.program,
        words=tuple(words),
        hardware=hw,
        design=dm,
        inputs=x,
        shifts=shifts_,
        relu=relu_,
        expected=expected,
        estimate_cycles=estimate,
        rtl_files=tuple(rtl_files),
    )


def _position_major(last, user_out: np.ndarray) -> np.ndarray:
    """User-layout output -> flat (position, channel) order, as the testbench dumps it."""
    if last.op == "linear":
        return np.asarray(user_out).reshape(-1)
    return np.asarray(user_out).transpose(1, 2, 0).reshape(-1)


def _summary(dm: DesignMap, estimate: int, shifts: dict, relu: dict) -> dict:
    hw = dm.hardware
    return {
        "estimate_cycles": estimate,
        "vlen": hw.vlen,
        "wbits": hw.wbits,
        "abits": hw.abits,
        "elem_bits": hw.elem_bits,
        "gb_words": hw.gb_words,
        "wmem_words": hw.wmem_words,
        "tiles": [asdict(t) for t in hw.tiles],
        "gb_regions": {k: list(v) for k, v in dm.gb_regions.items()},
        "pieces": [
            {
                "layer": p.geom.name,
                "op": p.geom.op,
                "piece": p.key[1],
                "group": p.group,
                "tile": p.tile,
                "channels": [p.ch_start, p.ch_stop],
                "copies": p.placement.copies if p.placement else 0,
                "cycles_per_vector": p.placement.cycles_per_vector if p.placement else 1,
                "steps": p.steps,
                "wlat": p.wlat,
                "waddr": p.waddr,
                "skip": p.geom.skip,
            }
            for p in dm.pieces
        ],
        "shifts": shifts,
        "relu": relu,
    }


def _readme(workload: Workload, schedule: Schedule, dm: DesignMap, estimate: int) -> str:
    hw = dm.hardware
    tiles = "\n".join(
        f"| {t.index} | {t.ncopy} | {t.rt} x {t.ct} | {t.rows} x {t.cols} | {t.depth} |"
        for t in hw.tiles
    )
    pieces = "\n".join(
        f"| {p.group} | {p.label} | {p.tile} | {p.ch_start}..{p.ch_stop - 1} | "
        f"{p.placement.copies if p.placement else '-'} | "
        f"{p.placement.cycles_per_vector if p.placement else 1} | {p.steps} x {p.wlat} |"
        for p in dm.pieces
    )
    return f"""# Generated PIM accelerator for `{workload.name}`

Made by `cimkit.codegen.generate` from a PIM-HLS schedule ({len(schedule.groups)} layer groups).
The plan predicts **{estimate} cycles** (sum over groups of weight-write cycles + the slowest
member's compute cycles). See cimkit's `docs/codegen.md` for the architecture and instruction set.

## Simulate with Icarus Verilog

Run in this folder (Debian/Ubuntu: `sudo apt-get install iverilog`):

```sh
iverilog -g2005 -Wall -s tb_top -o tb.vvp rtl/*.v tb_top.v
vvp -n tb.vvp +out=outputs.txt
diff outputs.txt expected.txt && echo bit-exact
```

`vvp` prints `CYCLES <n>`: clock edges from reset release to `HALT`. `outputs.txt` holds the
output tensor, one signed value a line in (position, channel) order; `expected.txt` is cimkit's
numpy golden model for the same input. From Python: `cimkit.codegen.simulate(design)`.

## Files

| File | Contents |
|---|---|
| `rtl/cim_top.v` | top: controller, weight loader, DMA, global buffer, NoC, tiles |
| `rtl/cim_tile.v` | tile: array copies, input buffer, window gather, requantization, residual add |
| `rtl/cim_vtile.v` | vector tile: pooling (max, average) |
| `rtl/cim_pim_array.v` | pseudo-PIM array: weight register file + delay-configurable MAC |
| `rtl/cim_noc.v`, `rtl/cim_gbuf.v` | NoC crossbar, global buffer |
| `rtl/cim_dma.v`, `rtl/cim_wload.v` | MOVE engine, LOAD_W engine (command queues) |
| `rtl/cim_ctrl.v` | controller: instruction fetch and issue |
| `program.asm`, `program.hex` | the instruction stream ({len(dm.program)} x 160-bit words) |
| `weights/*.hex` | one file per layer piece: its weight rows (off-chip memory image) |
| `inputs.hex` | the input tensor, one position a word ({hw.vlen} x {hw.elem_bits}-bit elements) |
| `tb_top.v` | testbench |
| `design.json` | mapping summary (tiles, pieces, buffers, shifts) |

## Tiles

| tile | copies | arrays per copy | array cells | words per bank |
|---|---|---|---|---|
{tiles}

## Pieces

| group | layer piece | tile | channels | copies | cycles/vector | row steps x cycles |
|---|---|---|---|---|---|---|
{pieces}
"""
