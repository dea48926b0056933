"""From a schedule to hardware parameters, memory layouts and the instruction stream.

Mapping rules (PIM-HLS section IV-C, Fig. 4(c)):

* Tiles: the members of every group are sorted by compute cycles (slowest first) and member ``i``
  runs on tile ``i``, so the bottleneck layers of all groups share tile 0. A tile is sized for
  the largest piece it ever hosts: ``ncopy`` copies of a grid of ``rt x ct`` pseudo-PIM arrays of
  ``rows x cols`` cells, an input buffer of two banks of ``depth`` words.
* Activations: one buffer word holds all channels of one position (``vlen`` elements). A layer
  reads its input from its tile's input-buffer bank ``group % 2``. A producer piece writes each
  output vector over the NoC directly into the buffers of consumer pieces in the same or the next
  group (bank = the consumer's group parity, multicast); any other consumer (two or more groups
  later, or a second consumer on the same tile) gets the data through the global buffer (GB) and
  a MOVE at the start of its group. The network input sits in the GB at word 0; the last layer
  writes to the GB output region.
* Per group: ``CLRV`` (clear the bank the next group will receive into), ``MOVE``s, ``LOAD_W``
  per member, ``SETIN`` per member, ``SYNC weights``, ``COMPUTE`` per member (producers first),
  ``SYNC all``. The program ends with ``HALT``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from cimkit.codegen.isa import Instruction
from cimkit.codegen.lowering import LayerGeometry, mac_chain, weight_matrix
from cimkit.codegen.planning import piece_channels, write_ops
from cimkit.errors import CimkitError
from cimkit.pimhls.plan import LayerPlacement, Schedule
from cimkit.workload import Workload

#: Limits set by the instruction fields and the NoC (see docs/codegen.md).
MAX_TILES = 16
MAX_COPIES = 63
MAX_DELAY = 65535
MAX_SIDE = 4095  # 12-bit in_h/in_w/out_h/out_w fields
MAX_POSITIONS = 65535  # positions of a tensor: 16-bit NoC positions and vector counters
MAX_GB_WORDS = 1 << 24  # 24-bit global-buffer addresses


@dataclass(frozen=True)
class TileParams:
    """Physical parameters of one generated tile.

    Attributes:
        index: tile number (0 = hosts each group's slowest member).
        ncopy: array copies (each a grid of rt x ct arrays).
        rows, cols: cells of one pseudo-PIM array.
        rt, ct: arrays per copy along input rows and output columns.
        depth: words (positions) per input-buffer bank.
        khm, kwm: largest window the tile gathers.
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

    @property
    def vin(self) -> int:
        """Input vector elements of one copy (rt * rows)."""
        return self.rt * self.rows

    @property
    def vout(self) -> int:
        """Output channels of one copy (ct * cols)."""
        return self.ct * self.cols


@dataclass(frozen=True)
class PieceMap:
    """Where and how one placement runs.

    Attributes:
        placement: the plan's placement.
        group: index of its layer group; it reads input-buffer bank ``group % 2``.
        tile: physical tile.
        geom: the layer's lowering.
        ch_start, ch_stop: its output channels.
        waddr: first off-chip weight word of its weight rows.
        wlat: cycles per row write operation (from the plan's write cycles).
    """

    placement: LayerPlacement
    group: int
    tile: int
    geom: LayerGeometry
    ch_start: int
    ch_stop: int
    waddr: int
    wlat: int

    @property
    def key(self) -> tuple[str, int]:
        return self.placement.layer, self.placement.piece

    @property
    def label(self) -> str:
        p = self.placement
        return f"{p.layer} piece {p.piece}/{p.pieces}"

    @property
    def file_stem(self) -> str:
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in self.placement.layer)
        return f"{safe}_p{self.placement.piece}"


@dataclass(frozen=True)
class HardwareConfig:
    """Design-wide parameters of the generated accelerator.

    Attributes:
        tiles: the tiles.
        vlen: elements per activation word (the most channels of any tensor).
        wbits, abits: weight and activation bits.
        wmem_cols: weights per off-chip weight word (the widest tile row).
        wmem_words: off-chip weight words used.
        gb_words: global-buffer words.
        input_base, output_base: GB word of the network input / output tensor.
        input_words, output_words: their positions.
        output_channels: channels of the output tensor.
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


@dataclass(frozen=True)
class DesignMap:
    """Everything the writers need: lowering, mapping, memories and the program."""

    chain: tuple[LayerGeometry, ...]
    pieces: tuple[PieceMap, ...]
    hardware: HardwareConfig
    program: tuple[Instruction, ...]
    gb_regions: dict[str, tuple[int, int]]
    weight_words: dict[tuple[str, int], list[int]]


def _check_schedule(schedule: Schedule, chain: dict[str, LayerGeometry]) -> None:
    """Contract checks on a schedule (see docs/codegen.md, "Input contract")."""
    placed: dict[str, dict[int, int]] = {}
    counts: dict[str, int] = {}
    for g, group in enumerate(schedule.groups):
        if not group.members:
            raise CimkitError(f"schedule group {g} is empty")
        if len(group.members) > MAX_TILES:
            raise CimkitError(f"group {g} has {len(group.members)} members; at most {MAX_TILES}")
        for m in group.members:
            if m.layer not in chain:
                raise CimkitError(
                    f"schedule places {m.layer!r}, not a linear/conv layer of the workload"
                )
            geom = chain[m.layer]
            if counts.setdefault(m.layer, m.pieces) != m.pieces:
                raise CimkitError(f"layer {m.layer!r}: placements disagree on the piece count")
            if m.piece in placed.setdefault(m.layer, {}):
                raise CimkitError(f"piece {m.piece} of layer {m.layer!r} is placed twice")
            placed[m.layer][m.piece] = g
            piece_channels(geom.out_c, m.piece, m.pieces)  # validates the index
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
    for name, geom in chain.items():
        got = placed.get(name, {})
        need = counts.get(name, 1)
        if sorted(got) != list(range(need)):
            raise CimkitError(
                f"layer {name!r}: pieces {sorted(got)} placed, expected 0..{need - 1}"
            )
        if max(geom.in_h, geom.in_w, geom.out_h, geom.out_w) > MAX_SIDE:
            raise CimkitError(f"layer {name!r}: feature maps above {MAX_SIDE} per side")
        if max(geom.in_positions, geom.vectors, geom.in_len) > MAX_POSITIONS:
            raise CimkitError(f"layer {name!r}: more than {MAX_POSITIONS} positions or weight rows")
        if geom.producer is not None:
            first = min(got.values())
            last_producer = max(placed[geom.producer].values())
            if last_producer > first:
                raise CimkitError(
                    f"layer {name!r} runs in group {first} before its producer "
                    f"{geom.producer!r} finishes (group {last_producer})"
                )


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
        weights: integer weights per layer (torch layouts).
        shifts, relu: requantization per layer (complete mappings).
        trim: size arrays to the largest weight matrix a tile hosts instead of the plan's array
            size when that is smaller (unused cells could never hold weights; timing is set by
            the plan's cycles, not by the cell count, so results and cycles are unchanged).
    """
    chain_t = mac_chain(workload)
    chain = {g.name: g for g in chain_t}
    _check_schedule(schedule, chain)
    layer_index = {name: i for i, name in enumerate(chain)}
    abits = {g.act_bits for g in chain_t}
    if len(abits) != 1:
        raise CimkitError(f"all layers must share act_bits; got {sorted(abits)}")
    wbits = max(g.weight_bits for g in chain_t)

    # ---- tiles: members sorted by compute cycles, slowest on tile 0 (paper Fig. 4(c))
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
    tiles = []
    for t, hosted in enumerate(slots):
        rows = max(m.tile.rows for _, m in hosted)
        cols = max(m.tile.cols for _, m in hosted)
        widths = [_width(chain[m.layer], m) for _, m in hosted]
        in_lens = [chain[m.layer].in_len for _, m in hosted]
        if trim:
            rows, cols = min(rows, max(in_lens)), min(cols, max(widths))
        tiles.append(
            TileParams(
                index=t,
                ncopy=max(m.copies for _, m in hosted),
                rows=rows,
                cols=cols,
                rt=max(-(-n // rows) for n in in_lens),
                ct=max(-(-w // cols) for w in widths),
                depth=max(chain[m.layer].in_positions for _, m in hosted),
                khm=max(chain[m.layer].kh for _, m in hosted),
                kwm=max(chain[m.layer].kw for _, m in hosted),
            )
        )
    wmem_cols = max(t.vout for t in tiles)

    # ---- pieces with weight-memory addresses and write latency
    pieces: list[PieceMap] = []
    weight_words: dict[tuple[str, int], list[int]] = {}
    waddr = 0
    for group in schedule.groups:
        for m in group.members:
            geom = chain[m.layer]
            lo, hi = piece_channels(geom.out_c, m.piece, m.pieces)
            ops = write_ops(geom, m.copies)
            # A resident plan charges no per-inference writes, but the program still writes
            # the weights once: time them with the plan's programming cycles.
            wlat = max(1, round(m.programming_cycles / ops))
            if wlat > MAX_DELAY:
                raise CimkitError(f"{m.layer!r}: {wlat} cycles per row write exceeds {MAX_DELAY}")
            pm = PieceMap(m, group_of[(m.layer, m.piece)], tile_of[(m.layer, m.piece)], geom,
                          lo, hi, waddr, wlat)  # fmt: skip
            mat = weight_matrix(geom, weights[m.layer])[lo:hi]  # (width, in_len)
            weight_words[pm.key] = pack_rows(mat.T, wbits)
            waddr += geom.in_len
            pieces.append(pm)
    by_key = {p.key: p for p in pieces}
    pieces_of: dict[str, list[PieceMap]] = {}
    for p in pieces:
        pieces_of.setdefault(p.placement.layer, []).append(p)

    # ---- routes: direct multicast to consumers in the same/next group, else via the GB
    vlen = max(max(g.in_c, g.out_c) for g in chain_t)
    consumers: dict[str | None, list[PieceMap]] = {}
    for p in pieces:
        consumers.setdefault(p.geom.producer, []).append(p)
    direct: dict[tuple[str, int], dict[int, int]] = {}  # producer key -> {tile: bank}
    via_gb: dict[tuple[str, int], list[PieceMap]] = {}  # consumer key -> far producer pieces
    needs_gb: set[str] = {chain_t[-1].name}
    for q in pieces:
        if q.geom.producer is None:
            continue
        for p in pieces_of[q.geom.producer]:
            dests = direct.setdefault(p.key, {})
            if q.group - p.group in (0, 1) and dests.get(q.tile, q.group % 2) == q.group % 2:
                dests[q.tile] = q.group % 2
            else:
                via_gb.setdefault(q.key, []).append(p)
                needs_gb.add(p.placement.layer)
    first = chain_t[0]
    gb_regions = {"<input>": (0, first.in_positions)}
    top = first.in_positions
    for g in chain_t:
        if g.name in needs_gb:
            gb_regions[g.name] = (top, g.vectors)
            top += g.vectors
    last = chain_t[-1]
    if top > MAX_GB_WORDS:
        raise CimkitError(f"global buffer needs {top} words; at most {MAX_GB_WORDS}")

    # ---- the instruction stream
    prog: list[Instruction] = []
    for g, group in enumerate(schedule.groups):
        members = sorted(
            (by_key[(m.layer, m.piece)] for m in group.members),
            key=lambda p: (layer_index[p.placement.layer], p.placement.piece),
        )
        bank = g % 2
        if g > 0:
            prog.append(Instruction("CLRV", {"bank": 1 - bank}, f"group {g}: clear next bank"))
        # One multicast MOVE per GB source region and channel range feeds all its consumers.
        moves: dict[tuple[int, int, int, int], list[tuple[PieceMap, str]]] = {}
        for q in members:
            if q.geom.producer is None:
                base, count = gb_regions["<input>"]
                moves.setdefault((base, count, 0, q.geom.in_c), []).append((q, "network input"))
            for p in via_gb.get(q.key, []):
                base, count = gb_regions[p.placement.layer]
                key = (base, count, p.ch_start, p.ch_stop - p.ch_start)
                moves.setdefault(key, []).append((q, p.label))
        for (base, count, choff, nch), dests in moves.items():
            prog.append(
                Instruction(
                    "MOVE",
                    {
                        "src_gb": 1,
                        "src_base": base,
                        "dst_tiles": sum(1 << q.tile for q, _ in dests),
                        "dst_bank": bank,
                        "dst_base": 0,
                        "count": count,
                        "choff": choff,
                        "nch": nch,
                    },
                    f"{dests[0][1]} -> " + ", ".join(q.label for q, _ in dests),
                )
            )
        for q in members:
            prog.append(
                Instruction(
                    "LOAD_W",
                    {
                        "tile": q.tile,
                        "copies": q.placement.copies,
                        "rows": q.geom.in_len,
                        "wlat": q.wlat,
                        "waddr": q.waddr,
                    },
                    f"{q.label}: {q.placement.write_cycles} write cycles planned",
                )
            )
        for q in members:
            geo = q.geom
            prog.append(
                Instruction(
                    "SETIN",
                    {
                        "tile": q.tile,
                        "bank": bank,
                        "in_h": geo.in_h,
                        "in_w": geo.in_w,
                        "in_c": geo.in_c,
                        "kh": geo.kh,
                        "kw": geo.kw,
                        "stride": geo.stride,
                        "pad": geo.pad,
                        "out_h": geo.out_h,
                        "out_w": geo.out_w,
                    },
                    q.label,
                )
            )
        prog.append(Instruction("SYNC", {"weights": 1}, f"group {g}: weights written"))
        for p in members:
            dests = direct.get(p.key, {})
            name = p.placement.layer
            prog.append(
                Instruction(
                    "COMPUTE",
                    {
                        "tile": p.tile,
                        "copies": p.placement.copies,
                        "delay": p.placement.cycles_per_vector,
                        "relu": int(relu[name]),
                        "shift": shifts[name],
                        "choff": p.ch_start,
                        "nch": p.ch_stop - p.ch_start,
                        "dtiles": sum(1 << t for t in dests),
                        "dbanks": sum(b << t for t, b in dests.items()),
                        "dgb": int(name in gb_regions),
                        "gbase": gb_regions.get(name, (0, 0))[0],
                    },
                    f"{p.label}: {p.placement.compute_cycles} compute cycles planned",
                )
            )
        prog.append(Instruction("SYNC", {"weights": 1, "dma": 1, "tiles": 1}, f"end of group {g}"))
    prog.append(Instruction("HALT", {}, "done"))

    hw = HardwareConfig(
        tiles=tuple(tiles),
        vlen=vlen,
        wbits=wbits,
        abits=abits.pop(),
        wmem_cols=wmem_cols,
        wmem_words=waddr,
        gb_words=top,
        input_base=0,
        input_words=first.in_positions,
        output_base=gb_regions[last.name][0],
        output_words=last.vectors,
        output_channels=last.out_c,
    )
    return DesignMap(chain_t, tuple(pieces), hw, tuple(prog), gb_regions, weight_words)


def _width(geom: LayerGeometry, m: LayerPlacement) -> int:
    lo, hi = piece_channels(geom.out_c, m.piece, m.pieces)
    return hi - lo


def pack_rows(values: np.ndarray, bits: int) -> list[int]:
    """Pack each row of a 2-D int array into one word: element i at bits [i*bits, (i+1)*bits)."""
    mask = (1 << bits) - 1
    words = []
    for row in np.asarray(values, dtype=np.int64):
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
