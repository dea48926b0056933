"""From a schedule to hardware parameters, memory layouts and the instruction stream.

Mapping rules (PIM-HLS section IV-C, Fig. 4(c)):

* MAC tiles: the members of every group are sorted by compute cycles (slowest first) and member
  ``i`` runs on tile ``i``, so the bottleneck layers of all groups share tile 0. A tile is sized
  for the largest piece it ever hosts: ``ncopy`` copies of a grid of ``rt x ct`` pseudo-PIM arrays
  of ``rows x cols`` cells (``rows`` = the plan's array rows, the smallest among the pieces it
  hosts, so that row steps match the plan), an input buffer of two banks of ``depth`` words.
* Vector tiles (after the MAC tiles): the pools of a group, in table order, run on vector tiles
  ``0, 1, ...`` of that group, pipelined with the group's MAC pieces. A pool runs in the group
  where its input tensor is complete. Residual adds run inside the MAC tile of the layer they
  are fused into (:mod:`cimkit.codegen.lowering`), which reads the other operand from the skip
  region of its input buffer.
* Activations: one buffer word holds all channels of one position (``vlen`` elements). An op
  reads its input from its tile's input-buffer bank ``group % 2`` (input region, skip region
  for the add operand). A producer writes each output vector over the NoC directly into the
  buffers of consumers in the same or the next group (bank = the consumer's group parity,
  multicast); any other consumer (two or more groups later, or a second consumer on the same
  tile needing another bank or region) gets the data through the global buffer (GB) and a MOVE
  at the start of its group. The network input sits in the GB at word 0; the last op writes to
  the GB output region.
* Weights: a piece is written in ``steps = min(in_len, rows)`` row steps; step ``s`` writes row
  ``s`` of every array of every copy at once (one off-chip word holds the step's rows of all row
  tiles), ``wlat`` cycles a step, ``wlat`` = the plan's programming cycles / the plan's steps
  (``min(in_len, plan rows)``), so the hardware's write time is the plan's.
* Per group: ``LOAD_W`` per MAC member (queued), ``CLRV`` (clear the bank the next group will
  receive into), ``MOVE``s, ``SETIN`` per op, ``COMPUTE``/``POOL`` per op (table order; each
  waits until the group's weights are written), ``SYNC all``. The program ends with ``HALT``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from cimkit.codegen.isa import Instruction
from cimkit.codegen.lowering import (
    LayerGeometry,
    PieceSlice,
    input_split_units,
    lower,
    piece_matrix,
    piece_slice,
)
from cimkit.errors import CimkitError
from cimkit.pimhls.plan import LayerPlacement, Schedule
from cimkit.workload import Workload

#: Limits set by the instruction fields and the NoC (see docs/codegen.md).
MAX_TILES = 16
MAX_COPIES = 63
MAX_DELAY = 65535
MAX_SIDE = 4095  # 12-bit in_h/in_w/out_h/out_w fields
MAX_WINDOW = 255  # 8-bit kh/kw fields
MAX_POSITIONS = 65535  # positions of a tensor: 16-bit NoC positions and vector counters
MAX_GB_WORDS = 1 << 24  # 24-bit global-buffer addresses


@dataclass(frozen=True)
class TileParams:
    """Physical parameters of one generated tile.

    Attributes:
        index: tile number (MAC tile 0 hosts each group's slowest member; vector tiles follow
            the MAC tiles).
        ncopy: array copies (each a grid of rt x ct arrays); 0 for a vector tile.
        rows, cols: cells of one pseudo-PIM array (0 for a vector tile).
        rt, ct: arrays per copy along input rows and output columns.
        depth: words per input-buffer bank (input region + skip region).
        khm, kwm: largest window the tile gathers.
        di: words of the input region of a bank (the skip region follows it).
        cinm: most input channels of an op it hosts.
        kind: 'mac' (arrays) or 'vector' (pooling).
        amask: arrays of the rt x ct grid some hosted piece uses, bit ``gr * ct + gc`` (all for
            dense layers; those a grouped conv's groups reach); 0 = all.
    """

    index: int
    ncopy: int
    rows: int
    cols: int
    rt: int
    ct: int
    depth: int
    khm: int
    kwm: int
    di: int = 0
    cinm: int = 1
    kind: str = "mac"
    amask: int = 0

    @property
    def vin(self) -> int:
        """Input vector elements of one copy (rt * rows)."""
        return self.rt * self.rows

    @property
    def vout(self) -> int:
        """Output channels of one copy (ct * cols)."""
        return self.ct * self.cols

    @property
    def step_weights(self) -> int:
        """Weights written per row step (one row of every array of a copy): rt * vout."""
        return self.rt * self.vout


@dataclass(frozen=True)
class PieceMap:
    """Where and how one op (a layer piece, or a pool) runs.

    Attributes:
        placement: the plan's placement; None for a pool (pools are not in the plan).
        group: index of its layer group; it reads input-buffer bank ``group % 2``.
        tile: physical tile.
        geom: the op's lowering.
        ch_start, ch_stop: its output channels.
        waddr: first off-chip weight word of its row steps.
        wlat: cycles per row step (the plan's programming cycles / the plan's steps).
        steps: row steps the hardware takes to write the piece (``min(in_len, tile rows)``).
        slice: the piece's channels and weight rows (None for a pool).
        psin, psout: an input-channel piece that adds the partial sum of the layer's earlier
            pieces (from its skip region) / sends its partial sum on to the next piece instead
            of the requantized output (every piece of an input-split layer but the first / the
            last, in execution order).
    """

    placement: LayerPlacement | None
    group: int
    tile: int
    geom: LayerGeometry
    ch_start: int
    ch_stop: int
    waddr: int
    wlat: int
    steps: int = 0
    slice: PieceSlice | None = None
    psin: bool = False
    psout: bool = False

    @property
    def key(self) -> tuple[str, int]:
        p = self.placement
        return (self.geom.name, 0) if p is None else (p.layer, p.piece)

    @property
    def label(self) -> str:
        p = self.placement
        if p is None:
            return f"{self.geom.name} ({self.geom.pool} pool)"
        return f"{p.layer} piece {p.piece}/{p.pieces}"

    @property
    def file_stem(self) -> str:
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in self.geom.name)
        return f"{safe}_p{self.key[1]}"

    @property
    def inputs(self) -> list[tuple[str | None, int]]:
        """(tensor, region) it reads: its window input (region 0) and skip operand (region 1)."""
        out = [(self.geom.producer, 0)]
        if self.geom.skip is not None:
            out.append((self.geom.skip, 1))
        return out


@dataclass(frozen=True)
class HardwareConfig:
    """Design-wide parameters of the generated accelerator.

    Attributes:
        tiles: the tiles (MAC tiles, then vector tiles).
        vlen: elements per activation word (the most channels of any tensor).
        wbits, abits: weight and activation bits.
        wmem_cols: weights per off-chip weight word (the widest tile's row step).
        wmem_words: off-chip weight words used.
        gb_words: global-buffer words.
        input_base, output_base: GB word of the network input / output tensor.
        input_words, output_words: their positions.
        output_channels: channels of the output tensor.
        ports: words a NoC source sends (and a buffer accepts) per cycle: enough for the
            busiest piece, ``max ceil(copies / cycles_per_vector)``, so that duplication is not
            throttled by the interconnect (the plan assumes it is not).
        ebits: bits of one buffer / NoC element when wider than ``abits``: a design with
            input-channel pieces carries their partial sums at full precision in the same words
            (``wbits + abits + clog2(in_len) + 1`` of the widest such layer); 0 = ``abits``.
    """

    tiles: tuple[TileParams, ...]
    vlen: int
    wbits: int
    abits: int
    wmem_cols: int
    wmem_words: int
    gb_words: int
    input_base: int
    input_words: int
    output_base: int
    output_words: int
    output_channels: int
    ports: int = 1
    ebits: int = 0

    @property
    def elem_bits(self) -> int:
        """Bits of one element of an activation word (buffers, NoC, global buffer)."""
        return self.ebits or self.abits


@dataclass(frozen=True)
class DesignMap:
    """Everything the writers need: lowering, mapping, memories and the program.

    ``chain`` holds every op (MAC and pool) in execution order; ``pieces`` every placed unit.
    """

    chain: tuple[LayerGeometry, ...]
    pieces: tuple[PieceMap, ...]
    hardware: HardwareConfig
    program: tuple[Instruction, ...]
    gb_regions: dict[str, tuple[int, int]]
    weight_words: dict[tuple[str, int], list[int]]


def _check_schedule(schedule: Schedule, ops: dict[str, LayerGeometry]) -> dict[str, int]:
    """Contract checks on a schedule (docs/codegen.md, "Input contract"); returns the group in
    which each tensor is complete (MAC ops: their last piece; pools: their producer's)."""
    placed: dict[str, dict[int, int]] = {}
    counts: dict[str, int] = {}
    axes: dict[str, str] = {}
    for g, group in enumerate(schedule.groups):
        if not group.members:
            raise CimkitError(f"schedule group {g} is empty")
        if len(group.members) > MAX_TILES:
            raise CimkitError(f"group {g} has {len(group.members)} members; at most {MAX_TILES}")
        for m in group.members:
            if m.layer not in ops or not ops[m.layer].is_mac:
                raise CimkitError(
                    f"schedule places {m.layer!r}, not a linear/conv layer of the workload"
                )
            geom = ops[m.layer]
            if m.split_axis not in ("out", "in"):
                raise CimkitError(
                    f"{m.layer!r} piece {m.piece}: split_axis={m.split_axis!r}; use 'out' or 'in'"
                )
            if counts.setdefault(m.layer, m.pieces) != m.pieces:
                raise CimkitError(f"layer {m.layer!r}: placements disagree on the piece count")
            if axes.setdefault(m.layer, m.split_axis) != m.split_axis:
                raise CimkitError(f"layer {m.layer!r}: placements disagree on the split axis")
            if m.piece in placed.setdefault(m.layer, {}):
                raise CimkitError(f"piece {m.piece} of layer {m.layer!r} is placed twice")
            placed[m.layer][m.piece] = g
            if m.split_axis == "in" and m.pieces > 1:
                units = input_split_units(geom)
                if not 0 <= m.piece < m.pieces or m.pieces > units:
                    raise CimkitError(
                        f"input piece {m.piece} of {m.pieces} is invalid for layer {m.layer!r} "
                        f"({units} input channels{'; grouped conv' if geom.groups > 1 else ''})"
                    )
                if geom.skip is not None:
                    # Both would need the skip region: the add's operand and the partial sum.
                    raise CimkitError(
                        f"layer {m.layer!r} (fused residual add of {geom.skip!r}) is split "
                        "along input channels; the generator builds that layer's split along "
                        "output channels only (the optimizer plans it so: "
                        "cimkit.pimhls.dfg.fused_add_layers)"
                    )
            elif not 0 <= m.piece < m.pieces or m.pieces > geom.split_units:
                raise CimkitError(
                    f"piece {m.piece} of {m.pieces} is invalid for layer {m.layer!r} "
                    f"({geom.split_units} {'groups' if geom.groups > 1 else 'channels'})"
                )
            if m.vectors != geom.vectors:
                raise CimkitError(
                    f"{m.layer!r} piece {m.piece}: plan has {m.vectors} vectors, the layer has "
                    f"{geom.vectors} output positions"
                )
            if not 1 <= m.copies <= MAX_COPIES:
                raise CimkitError(f"{m.layer!r}: copies={m.copies} outside 1..{MAX_COPIES}")
            if not 1 <= m.cycles_per_vector <= MAX_DELAY:
                raise CimkitError(
                    f"{m.layer!r}: cycles_per_vector={m.cycles_per_vector} outside 1..{MAX_DELAY}"
                )
    ready: dict[str | None, int] = {None: 0}
    for name, geom in ops.items():
        if max(geom.in_h, geom.in_w, geom.out_h, geom.out_w) > MAX_SIDE:
            raise CimkitError(f"layer {name!r}: feature maps above {MAX_SIDE} per side")
        if max(geom.kh, geom.kw) > MAX_WINDOW:
            raise CimkitError(f"layer {name!r}: window above {MAX_WINDOW} per side")
        if max(geom.in_positions, geom.vectors, geom.in_len) > MAX_POSITIONS:
            raise CimkitError(f"layer {name!r}: more than {MAX_POSITIONS} positions or weight rows")
        srcs = [geom.producer] + ([geom.skip] if geom.skip is not None else [])
        if not geom.is_mac:
            ready[name] = max(ready[s] for s in srcs)
            continue
        got = placed.get(name, {})
        need = counts.get(name, 1)
        if sorted(got) != list(range(need)):
            raise CimkitError(
                f"layer {name!r}: pieces {sorted(got)} placed, expected 0..{need - 1}"
            )
        first = min(got.values())
        for s in srcs:
            if ready[s] > first:
                raise CimkitError(
                    f"layer {name!r} runs in group {first} before its input {s!r} is complete "
                    f"(group {ready[s]})"
                )
        ready[name] = max(got.values())
    return ready  # type: ignore[return-value]


def build(
    schedule: Schedule,
    workload: Workload,
    weights: Mapping[str, np.ndarray],
    shifts: Mapping[str, int],
    relu: Mapping[str, bool],
    *,
    trim: bool = True,
) -> DesignMap:
    """Map a schedule onto tiles and produce memory images and the instruction stream.

    Args:
        schedule: the plan.
        workload: its network.
        weights: integer weights per MAC layer (torch layouts).
        shifts: right shift per MAC layer; relu: ReLU per op (complete mappings).
        trim: size arrays to the largest weight matrix a tile hosts instead of the plan's array
            size when that is smaller (unused cells could never hold weights; timing is set by
            the plan's cycles and row steps, which trimming does not change).
    """
    ops_t = lower(workload)
    ops = {g.name: g for g in ops_t}
    ready = _check_schedule(schedule, ops)
    order = {name: i for i, name in enumerate(ops)}
    abits = ops_t[0].act_bits
    wbits = max(g.weight_bits for g in ops_t if g.is_mac)

    # ---- MAC tiles: members sorted by compute cycles, slowest on tile 0 (paper Fig. 4(c))
    slots: list[list[tuple[int, LayerPlacement]]] = []
    tile_of: dict[tuple[str, int], int] = {}
    group_of: dict[tuple[str, int], int] = {}
    for g, group in enumerate(schedule.groups):
        ranked = sorted(group.members, key=lambda m: -m.compute_cycles)
        for t, m in enumerate(ranked):
            if len(slots) <= t:
                slots.append([])
            slots[t].append((g, m))
            tile_of[(m.layer, m.piece)] = t
            group_of[(m.layer, m.piece)] = g
    slices = {
        (m.layer, m.piece): piece_slice(ops[m.layer], m.piece, m.pieces, m.split_axis)
        for grp in schedule.groups
        for m in grp.members
    }
    # Input-channel pieces: a chain in execution order (group, piece); each but the first adds
    # the partial sum of those before it, each but the last sends its sum on to the next, and
    # the last requantizes and sends the layer's output (adding before the shift, in the
    # accumulator's precision, as the row tiles of one array column are added).
    chains: dict[str, list[tuple[str, int]]] = {}
    for g, grp in enumerate(schedule.groups):
        for m in grp.members:
            if m.split_axis == "in" and m.pieces > 1:
                chains.setdefault(m.layer, []).append((g, m.piece))
    psum_next: dict[tuple[str, int], tuple[str, int]] = {}
    for name, chain in chains.items():
        keys = [(name, pc) for _, pc in sorted(chain)]
        psum_next.update(zip(keys[:-1], keys[1:], strict=True))
    psum_prev = {v: k for k, v in psum_next.items()}
    final_of = {name: (name, sorted(chain)[-1][1]) for name, chain in chains.items()}
    tiles: list[TileParams] = []
    for t, hosted in enumerate(slots):
        sl = [slices[(m.layer, m.piece)] for _, m in hosted]
        geoms = [ops[m.layer] for _, m in hosted]
        # The plan's smallest array height: row steps equal the plan's for those pieces.
        rows = min(m.tile.rows for _, m in hosted)
        cols = max(m.tile.cols for _, m in hosted)
        if trim:
            rows, cols = min(rows, max(s.in_len for s in sl)), min(cols, max(s.width for s in sl))
        di = max(g.in_positions for g in geoms)
        ds = max(
            (
                ops[m.layer].vectors
                for _, m in hosted
                if ops[m.layer].skip is not None or (m.layer, m.piece) in psum_prev
            ),
            default=0,
        )
        rt = max(-(-s.in_len // rows) for s in sl)
        ct = max(-(-s.width // cols) for s in sl)
        tiles.append(
            TileParams(
                index=t,
                ncopy=max(m.copies for _, m in hosted),
                rows=rows,
                cols=cols,
                rt=rt,
                ct=ct,
                amask=_array_mask(zip(geoms, sl, strict=True), rows, cols, rt, ct),
                depth=di + ds,
                khm=max(g.kh for g in geoms),
                kwm=max(g.kw for g in geoms),
                di=di,
                cinm=max(s.in_hi - s.in_lo for s in sl),
            )
        )
    n_mac = len(tiles)

    # ---- pools: vector tiles per group, in table order
    pool_group = {g.name: ready[g.name] for g in ops_t if not g.is_mac}
    vslots: list[list[LayerGeometry]] = []
    pool_tile: dict[str, int] = {}
    for g in range(len(schedule.groups)):
        mine = [ops[n] for n in sorted(pool_group, key=order.get) if pool_group[n] == g]
        for i, geom in enumerate(mine):
            if len(vslots) <= i:
                vslots.append([])
            vslots[i].append(geom)
            pool_tile[geom.name] = n_mac + i
    for i, hosted_p in enumerate(vslots):
        di = max(g.in_positions for g in hosted_p)
        tiles.append(
            TileParams(
                index=n_mac + i, ncopy=0, rows=0, cols=0, rt=0, ct=0, depth=di,
                khm=max(g.kh for g in hosted_p), kwm=max(g.kw for g in hosted_p), di=di,
                cinm=max(g.in_c for g in hosted_p), kind="vector",
            )
        )  # fmt: skip
    if len(tiles) > MAX_TILES:
        raise CimkitError(
            f"the design needs {n_mac} MAC tiles and {len(tiles) - n_mac} vector tiles (pools); "
            f"at most {MAX_TILES} in all: schedule fewer members per group"
        )
    mac_tiles = tiles[:n_mac]
    wmem_cols = max(t.step_weights for t in mac_tiles)

    # ---- pieces with weight-memory addresses and write timing
    pieces: list[PieceMap] = []
    weight_words: dict[tuple[str, int], list[int]] = {}
    waddr = 0
    for group in schedule.groups:
        for m in group.members:
            geom, key = ops[m.layer], (m.layer, m.piece)
            sl, tile = slices[key], tiles[tile_of[key]]
            steps = min(sl.in_len, tile.rows)
            # The plan programs min(in_len, rows) rows per array, all arrays in parallel, each
            # step taking the same time: that time is the hardware's step latency. A resident
            # plan charges no per-inference writes, but the program still writes the weights
            # once: time them with the plan's programming cycles.
            # (a flattening linear's input piece: the plan's rows are its in-features)
            plan_rows = sl.f_hi - sl.f_lo if sl.f_hi > sl.f_lo else sl.in_len
            plan_steps = min(plan_rows, m.tile.rows)
            wlat = max(1, round(m.programming_cycles / plan_steps))
            if wlat > MAX_DELAY:
                raise CimkitError(f"{m.layer!r}: {wlat} cycles per row step exceeds {MAX_DELAY}")
            pm = PieceMap(m, group_of[key], tile_of[key], geom, sl.out_lo, sl.out_hi, waddr,
                          wlat, steps, sl, key in psum_prev, key in psum_next)  # fmt: skip
            mat = piece_matrix(geom, weights[m.layer], sl)  # (width, in_len)
            weight_words[key] = step_words(mat, tile, wbits)
            waddr += steps
            pieces.append(pm)
    for name, g in sorted(pool_group.items(), key=lambda kv: order[kv[0]]):
        geom = ops[name]
        pieces.append(PieceMap(None, g, pool_tile[name], geom, 0, geom.out_c, 0, 0))
    by_key = {p.key: p for p in pieces}
    units_of: dict[str, list[PieceMap]] = {}
    for p in pieces:
        units_of.setdefault(p.geom.name, []).append(p)

    # ---- routes: direct multicast to consumers in the same/next group, else via the GB
    vlen = max(max(g.in_c, g.out_c) for g in ops_t)
    direct: dict[
        tuple[str, int], dict[int, tuple[int, int]]
    ] = {}  # producer -> {tile: (bank, region)}
    via_gb: dict[tuple[str, int], list[tuple[str | None, PieceMap | None, int]]] = {}
    last = ops_t[-1]
    needs_gb: set[str] = {last.name}
    for q in pieces:
        for tensor, region in q.inputs:
            want = (q.group % 2, region)
            if tensor is None:
                via_gb.setdefault(q.key, []).append((None, None, region))
                continue
            # an input-split layer's output leaves its last piece only
            producers = [by_key[final_of[tensor]]] if tensor in final_of else units_of[tensor]
            for p in producers:
                dests = direct.setdefault(p.key, {})
                if q.group - p.group in (0, 1) and dests.get(q.tile, want) == want:
                    dests[q.tile] = want
                elif q.group == p.group:
                    # A global-buffer copy is made at the start of a group: too early here.
                    raise CimkitError(
                        f"{q.label} reads {tensor!r} into two places of tile {q.tile} in the "
                        f"group that computes it (group {q.group}); schedule them apart"
                    )
                else:
                    via_gb.setdefault(q.key, []).append((tensor, p, region))
                    needs_gb.add(tensor)
    # Partial sums: into the next piece's skip region, directly when it runs in the same or
    # the next group, else through a global-buffer region of their own and a MOVE.
    psum_gb: dict[tuple[str, int], str] = {}
    for pk, qk in psum_next.items():
        p, q = by_key[pk], by_key[qk]
        if q.group - p.group in (0, 1):
            direct.setdefault(pk, {})[q.tile] = (q.group % 2, 1)
        else:
            psum_gb[pk] = f"{pk[0]}#psum{pk[1]}"
            via_gb.setdefault(qk, []).append((psum_gb[pk], p, 1))
    first = ops_t[0]
    gb_regions = {"<input>": (0, first.in_positions)}
    top = first.in_positions
    for g in ops_t:
        if g.name in needs_gb:
            gb_regions[g.name] = (top, g.vectors)
            top += g.vectors
        for pk in (k for k in psum_gb if k[0] == g.name):
            gb_regions[psum_gb[pk]] = (top, g.vectors)
            top += g.vectors
    if top > MAX_GB_WORDS:
        raise CimkitError(f"global buffer needs {top} words; at most {MAX_GB_WORDS}")

    # ---- the instruction stream
    prog: list[Instruction] = []
    for g, group in enumerate(schedule.groups):
        members = sorted(
            [by_key[(m.layer, m.piece)] for m in group.members]
            + [p for p in pieces if p.placement is None and p.group == g],
            key=lambda p: (order[p.geom.name], p.key[1]),
        )
        bank = g % 2
        # Weight loads first: queued, they start at once and hide the other set-up.
        for q in members:
            if q.placement is None:
                continue
            prog.append(
                Instruction(
                    "LOAD_W",
                    {
                        "tile": q.tile,
                        "copies": q.placement.copies,
                        "steps": q.steps,
                        "wlat": q.wlat,
                        "waddr": q.waddr,
                    },
                    f"{q.label}: {q.placement.programming_cycles} write cycles planned",
                )
            )
        if g > 0:
            prog.append(Instruction("CLRV", {"bank": 1 - bank}, f"group {g}: clear next bank"))
        # One multicast MOVE per GB source region, channel range and region feeds its consumers.
        moves: dict[tuple[int, int, int, int, int], list[tuple[PieceMap, str]]] = {}
        for q in members:
            for tensor, p, region in via_gb.get(q.key, []):
                if tensor is None:
                    base, count = gb_regions["<input>"]
                    key = (base, count, 0, first.in_c, region)
                    moves.setdefault(key, []).append((q, "network input"))
                else:
                    base, count = gb_regions[tensor]
                    key = (base, count, p.ch_start, p.ch_stop - p.ch_start, region)
                    moves.setdefault(key, []).append((q, p.label))
        for (base, count, choff, nch, region), dests in moves.items():
            prog.append(
                Instruction(
                    "MOVE",
                    {
                        "src_gb": 1,
                        "src_base": base,
                        "dst_tiles": sum(1 << t for t in {q.tile for q, _ in dests}),
                        "dst_bank": bank,
                        "dst_base": 0,
                        "count": count,
                        "choff": choff,
                        "nch": nch,
                        "dst_skip": region,
                    },
                    f"{dests[0][1]} -> "
                    + ", ".join(q.label for q, _ in dests)
                    + (" (skip)" if region else ""),
                )
            )
        for q in members:
            geo, sl = q.geom, q.slice
            prog.append(
                Instruction(
                    "SETIN",
                    {
                        "tile": q.tile,
                        "bank": bank,
                        "in_h": geo.in_h,
                        "in_w": geo.in_w,
                        "in_c": geo.in_c if sl is None else sl.in_hi - sl.in_lo,
                        "kh": geo.kh,
                        "kw": geo.kw,
                        "stride": geo.stride,
                        "pad": geo.pad,
                        "out_h": geo.out_h,
                        "out_w": geo.out_w,
                        "in_choff": 0 if sl is None else sl.in_lo,
                    },
                    q.label,
                )
            )
        for p in members:
            dests = direct.get(p.key, {})
            name = p.geom.name
            # GB copy: the layer's output (from its last piece when split along input
            # channels), or this piece's partial sum
            gb_name = psum_gb.get(p.key) if p.psout else name
            route = {
                "dtiles": sum(1 << t for t in dests),
                "dbanks": sum(b << t for t, (b, _) in dests.items()),
                "dskips": sum(r << t for t, (_, r) in dests.items()),
                "dgb": int(gb_name in gb_regions),
                "gbase": gb_regions.get(gb_name, (0, 0))[0] if gb_name else 0,
            }
            if p.placement is None:
                prog.append(
                    Instruction(
                        "POOL",
                        {
                            "tile": p.tile,
                            "avg": int(p.geom.pool == "avg"),
                            "relu": int(relu[name]),
                            "mul": p.geom.pool_mul,
                            "shift": p.geom.pool_shift,
                            "nch": p.geom.out_c,
                            **route,
                        },
                        f"{p.label}: not in the plan (runs pipelined with group {g})",
                    )
                )
                continue
            prog.append(
                Instruction(
                    "COMPUTE",
                    {
                        "tile": p.tile,
                        "copies": p.placement.copies,
                        "delay": p.placement.cycles_per_vector,
                        "relu": int(relu[name] and not p.psout),
                        "shift": 0 if p.psout else shifts[name],
                        "choff": p.ch_start,
                        "nch": p.ch_stop - p.ch_start,
                        "skip": int(p.geom.skip is not None),
                        "psin": int(p.psin),
                        "psout": int(p.psout),
                        **route,
                    },
                    f"{p.label}: {p.placement.compute_cycles} compute cycles planned"
                    + (f", + {p.geom.skip} ({p.geom.add})" if p.geom.skip else "")
                    + (" + partial sum" if p.psin else "")
                    + (" -> partial sum" if p.psout else ""),
                )
            )
        prog.append(Instruction("SYNC", {"weights": 1, "dma": 1, "tiles": 1}, f"end of group {g}"))
    prog.append(Instruction("HALT", {}, "done"))

    hw = HardwareConfig(
        tiles=tuple(tiles),
        vlen=vlen,
        wbits=wbits,
        abits=abits,
        wmem_cols=wmem_cols,
        wmem_words=waddr,
        gb_words=top,
        input_base=0,
        input_words=first.in_positions,
        output_base=gb_regions[last.name][0],
        output_words=last.vectors,
        output_channels=last.out_c,
        ebits=max([abits] + [wbits + abits + ops[n].in_len.bit_length() + 1 for n in chains])
        if chains
        else 0,
        ports=max(
            -(-p.placement.copies // p.placement.cycles_per_vector)
            for p in pieces
            if p.placement is not None
        ),
    )
    return DesignMap(ops_t, tuple(pieces), hw, tuple(prog), gb_regions, weight_words)


def _array_mask(hosted, rows: int, cols: int, rt: int, ct: int) -> int:
    """Bit ``gr * ct + gc`` set when a hosted piece can hold weights in array (gr, gc) (from the
    layer's structure, not the values: a grouped conv is zero outside its groups)."""
    used = np.zeros((rt, ct), dtype=bool)
    for geom, sl in hosted:
        if geom.groups == 1:
            used[: -(-sl.in_len // rows), : -(-sl.width // cols)] = True
            continue
        cg, kg, n = geom.cin_group, geom.cout_group, sl.in_hi - sl.in_lo
        # row (window element e, input channel c) x column j is structural iff same group
        c = np.arange(sl.in_len) % n // cg
        j = np.arange(sl.width) // kg
        struct = c[:, None] == j[None, :]
        pad = np.zeros((rt * rows, ct * cols), dtype=bool)
        pad[: sl.in_len, : sl.width] = struct
        used |= pad.reshape(rt, rows, ct, cols).any(axis=(1, 3))
    bits = used.reshape(-1)
    return sum(1 << i for i, b in enumerate(bits) if b)


def step_words(mat: np.ndarray, tile: TileParams, bits: int) -> list[int]:
    """Off-chip words of a piece's row steps: word ``s`` holds row ``s`` of every row tile.

    Args:
        mat: the piece's (width, in_len) weight matrix.
        tile: the tile it is written to.
        bits: weight bits.

    Returns:
        ``min(in_len, tile.rows)`` words; row tile ``gr``'s weight row ``gr * rows + s`` sits at
        elements ``[gr * vout, gr * vout + width)`` (zeros past the matrix).
    """
    width, in_len = mat.shape
    steps = min(in_len, tile.rows)
    block = np.zeros((tile.rt * tile.rows, tile.vout), dtype=np.int64)
    block[:in_len, :width] = mat.T
    # (rt, rows, vout) -> (rows, rt, vout): step s gathers row s of every row tile.
    per_step = block.reshape(tile.rt, tile.rows, tile.vout).transpose(1, 0, 2)[:steps]
    return pack_rows(per_step.reshape(steps, -1), bits)


def pack_rows(values: np.ndarray, bits: int) -> list[int]:
    """Pack each row of a 2-D int array into one word: element i at bits [i*bits, (i+1)*bits)."""
    arr = np.asarray(values, dtype=np.int64)
    if arr.ndim != 2:
        arr = arr.reshape(len(arr), -1)
    mask = (1 << bits) - 1
    if bits % 8 == 0:
        # Little-endian bytes of the masked two's complement values: element 0 in the low bits.
        raw = (arr & mask).astype(f"<u{bits // 8}" if bits in (8, 16, 32) else "<u8")
        if bits in (8, 16, 32):
            return [int.from_bytes(row.tobytes(), "little") for row in raw]
    words = []
    for row in arr:
        word = 0
        for i, v in enumerate(row.tolist()):
            word |= (int(v) & mask) << (i * bits)
        words.append(word)
    return words


def unpack_word(word: int, count: int, bits: int) -> list[int]:
    """Inverse of :func:`pack_rows` for one word: ``count`` signed elements."""
    out = []
    for i in range(count):
        v = (word >> (i * bits)) & ((1 << bits) - 1)
        out.append(v - (1 << bits) if v >> (bits - 1) else v)
    return out
