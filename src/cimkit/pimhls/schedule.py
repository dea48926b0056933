"""Runtime weight scheduling and mapping: PIM-HLS Algorithm 1 (section IV-B).

The crossbar layers, in the topological order of :mod:`cimkit.pimhls.dfg`, are cut into
consecutive *layer groups*. A group's weights are written into the arrays, then its layers run as
a pipeline; the next group starts when the previous one has finished. Model (docs/pimhls.md):

* Latency of a group = write cycles of its members (DRAM load + row programming, summed over
  members) + compute cycles of its slowest member (the paper's pipeline assumption).
* A schedule with a single group keeps its weights resident: they are written once at deployment,
  so no write time is charged per inference (the reference implementation of PIM-HLS also charges
  writes only when there is more than one group). This affects only the interval that covers the
  whole network, so the dynamic program below stays exact.
* Area: every technology (a *pool* of interchangeable arrays) has a budget; a group may use at
  most that much of each pool. With one technology the budget is the area constraint; a
  heterogeneous design splits the constraint between SRAM and RRAM (swept by
  :func:`cimkit.pimhls.optimize.optimize`), so the chip's arrays never exceed the constraint.
* Split (Algorithm 1, lines 2-6): a layer whose single copy exceeds its pool budget is cut into
  ``ceil(area / budget)`` pieces along output channels (convolution groups for grouped convs),
  more if array granularity leaves a piece too large. Pieces are scheduled as separate items.
* Duplication: inside a group, the slowest member is duplicated (copies share its input vectors)
  while the group stays within budget. :func:`min_max_copies` computes the resulting latency
  directly as the smallest T for which every member can reach ``ceil(v / copies) * cpv <= T``
  within the pool budgets (binary search on T, vectorized over all groups). The paper's loop
  "duplicate the slowest member until the area is insufficient" reaches exactly this T (each copy
  it adds is necessary to go below the current maximum), and :func:`greedy_copies` is that loop,
  used by the exhaustive search and the tests as an independent implementation.
* DP (Eq. 2): ``Lat_0 = 0``, ``Lat_i = min_{p < i} Lat_p + F(p, i)`` over half-open item intervals
  ``[p, i)``; O(n^2) intervals, each costed once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import product

import numpy as np

from cimkit.errors import InfeasibleDesignError, SpecError
from cimkit.pimhls.dfg import fused_add_layers, schedule_order
from cimkit.pimhls.plan import LayerGroup, LayerPlacement, Schedule, TileConfig, piece_range
from cimkit.pimhls.technology import TECHS, LayerCosts, PimTechnology, technologies
from cimkit.specs.chip import ChipSpec
from cimkit.workload.layer import Layer, make_layer
from cimkit.workload.table import Workload

#: Relative tolerance of area comparisons (sums of float areas).
AREA_RTOL = 1e-9
#: Largest item count :func:`schedule_exhaustive` accepts (2^(n-1) groupings).
MAX_EXHAUSTIVE_ITEMS = 16


# --------------------------------------------------------------------------- split
def split_units(layer: Layer) -> int:
    """How many pieces a layer can be cut into: its convolution groups, else its output channels."""
    return layer.groups if layer.groups > 1 else layer.out_channels


def piece_units(layer: Layer, pieces: int) -> list[int]:
    """Units (output channels, or groups of a grouped conv) of each piece.

    Piece ``i`` of ``n`` holds units ``[i * U // n, (i + 1) * U // n)`` (sizes differ by at most
    one): the convention of :func:`cimkit.codegen.planning.piece_channels`, so the optimizer and
    the Verilog generator cut layers identically.
    """
    units = split_units(layer)
    if not 1 <= pieces <= units:
        raise SpecError(f"layer {layer.name!r} can be split into 1..{units} pieces, not {pieces}")
    return [hi - lo for lo, hi in (piece_range(units, j, pieces) for j in range(pieces))]


def piece_layer(layer: Layer, units: int) -> Layer:
    """The piece of ``layer`` holding ``units`` output channels (or convolution groups).

    A piece reads the whole input (a grouped conv: its groups' inputs) and produces a contiguous
    slice of the output channels; it keeps the layer's name.
    """
    if units == split_units(layer):
        return layer
    if layer.groups > 1:
        cin = layer.in_channels // layer.groups * units
        cout = layer.out_channels // layer.groups * units
        groups = units
    else:
        cin, cout, groups = layer.in_channels, units, 1
    return make_layer(
        layer.name,
        layer.op,
        in_channels=cin,
        out_channels=cout,
        in_h=layer.in_h,
        in_w=layer.in_w,
        out_h=layer.out_h,
        out_w=layer.out_w,
        kernel_h=layer.kernel_h,
        kernel_w=layer.kernel_w,
        stride=layer.stride,
        groups=groups,
        repeat=layer.repeat,
        weight_bits=layer.weight_bits,
        act_bits=layer.act_bits,
        inputs=layer.inputs,
    )


def split_layer(layer: Layer, pieces: int) -> tuple[Layer, ...]:
    """Cut ``layer`` into ``pieces`` layers along output channels (or groups), see
    :func:`piece_units`.

    Concatenating the pieces' outputs in order gives the layer's output.
    """
    return tuple(piece_layer(layer, n) for n in piece_units(layer, pieces))


#: Split axes: 'out' output channels (or convolution groups), 'in' input channels (partial sums).
AXES: tuple[str, ...] = ("out", "in")


def input_split_units(layer: Layer) -> int:
    """Input channels a layer can be cut along (in-features of a linear layer); 0 for a grouped
    or depthwise conv, whose groups already split the input (they are cut along groups)."""
    return layer.in_channels if layer.groups == 1 else 0


def input_piece_layer(layer: Layer, units: int) -> Layer:
    """The piece of ``layer`` reading ``units`` of its input channels (all output channels).

    Its weight matrix is ``units * kh * kw`` rows of the layer's; its output is a partial sum of
    the layer's output, which the pieces' results add up to (in the digital periphery, like a
    residual add; partial sums between groups stay in the global buffer, as residuals do).
    """
    if units == layer.in_channels:
        return layer
    return make_layer(
        layer.name,
        layer.op,
        in_channels=units,
        out_channels=layer.out_channels,
        in_h=layer.in_h,
        in_w=layer.in_w,
        out_h=layer.out_h,
        out_w=layer.out_w,
        kernel_h=layer.kernel_h,
        kernel_w=layer.kernel_w,
        stride=layer.stride,
        groups=1,
        repeat=layer.repeat,
        weight_bits=layer.weight_bits,
        act_bits=layer.act_bits,
        inputs=layer.inputs,
    )


def axis_units(layer: Layer, axis: str) -> int:
    """Units a layer can be cut into along ``axis`` ('out' or 'in'; 0: not along this axis)."""
    if axis == "out":
        return split_units(layer)
    if axis == "in":
        return input_split_units(layer)
    raise SpecError(f"split axis must be one of {AXES}, got {axis!r}")


def axis_piece(layer: Layer, units: int, axis: str = "out") -> Layer:
    """:func:`piece_layer` (axis 'out') or :func:`input_piece_layer` (axis 'in')."""
    return piece_layer(layer, units) if axis == "out" else input_piece_layer(layer, units)


def axis_piece_units(layer: Layer, pieces: int, axis: str = "out") -> list[int]:
    """Units of each piece along ``axis``: piece ``i`` of ``n`` holds ``[i*U//n, (i+1)*U//n)``."""
    units = axis_units(layer, axis)
    if not 1 <= pieces <= units:
        raise SpecError(
            f"layer {layer.name!r} can be split into 1..{units} pieces along {axis}, not {pieces}"
        )
    return [hi - lo for lo, hi in (piece_range(units, j, pieces) for j in range(pieces))]


def piece_channels(layer: Layer, pieces: int) -> list[tuple[int, int]]:
    """Output-channel range [start, stop) of each piece of :func:`split_layer`."""
    start, out = 0, []
    for p in split_layer(layer, pieces):
        out.append((start, start + p.out_channels))
        start += p.out_channels
    return out


# --------------------------------------------------------------------------- items
@dataclass(frozen=True)
class Items:
    """The n items (layer pieces) to schedule, in order; every array has shape (n,).

    Attributes:
        layers: the piece layers (a whole layer when not split).
        names: workload layer name of each item.
        piece, pieces: piece index and count.
        tile: array configuration of each item.
        pools: pool (technology) names; ``pool`` indexes them.
        arrays: arrays of one copy; array_area: mm^2 per array; vectors: input vectors;
        cpv: cycles per vector of one copy; write_cycles: cycles to load and program one copy;
        write_energy_pj: programming energy of one copy (pJ); macs: MACs of the item.
    """

    layers: tuple[Layer, ...]
    names: tuple[str, ...]
    piece: np.ndarray
    pieces: np.ndarray
    tile: tuple[TileConfig, ...]
    pools: tuple[str, ...]
    pool: np.ndarray
    arrays: np.ndarray
    array_area: np.ndarray
    vectors: np.ndarray
    cpv: np.ndarray
    write_cycles: np.ndarray
    write_energy_pj: np.ndarray
    macs: np.ndarray
    axis: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.names)

    @property
    def base_area(self) -> np.ndarray:
        """(n,) area of one copy, mm^2."""
        return self.arrays * self.array_area

    def axis_of(self, k: int) -> str:
        """Split axis of item ``k``."""
        return self.axis[k] if self.axis else "out"


def items_from_costs(
    layers: Sequence[Layer],
    names: Sequence[str],
    piece: Sequence[int],
    pieces: Sequence[int],
    techs: Sequence[str],
    costs: Sequence[tuple[LayerCosts, int, int]],
    pools: Sequence[str],
    axis: Sequence[str] = (),
) -> Items:
    """Assemble :class:`Items`; ``costs[k] = (table, config row, layer column)`` of item k;
    ``axis`` the split axis of each item (empty: all 'out')."""

    def col(attr: str) -> np.ndarray:
        return np.array([getattr(t, attr)[r, c] for t, r, c in costs])

    return Items(
        layers=tuple(layers),
        names=tuple(names),
        piece=np.asarray(piece, dtype=np.int64),
        pieces=np.asarray(pieces, dtype=np.int64),
        tile=tuple(t.configs[r] for t, r, _ in costs),
        pools=tuple(pools),
        pool=np.array([pools.index(t) for t in techs], dtype=np.int64),
        arrays=col("arrays").astype(np.int64),
        array_area=np.array([t.array_area_mm2[r] for t, r, _ in costs], dtype=np.float64),
        vectors=col("vectors").astype(np.int64),
        cpv=col("cycles_per_vector").astype(np.int64),
        write_cycles=col("write_cycles").astype(np.int64),
        write_energy_pj=col("write_energy_pj").astype(np.float64),
        macs=np.array([layer.macs for layer in layers], dtype=np.int64),
        axis=tuple(axis) if any(a != "out" for a in axis) else (),
    )


class Mapper:
    """Default-configuration costs of a network's crossbar layers per technology, with splits.

    Built once per (workload, technologies); :meth:`items` then assembles the items of any
    technology assignment and pool budgets, splitting layers as Algorithm 1 does. Split tables are
    cached, so sweeping assignments and budgets costs little.
    """

    def __init__(
        self,
        layers: Sequence[Layer],
        techs: Mapping[str, PimTechnology],
        output_only: Iterable[str] = (),
    ) -> None:
        """``output_only``: names of layers never cut along input channels (those the
        generator fuses a residual add into, :func:`cimkit.pimhls.dfg.fused_add_layers`)."""
        self.layers = tuple(layers)
        self.techs = dict(techs)
        self.output_only = frozenset(output_only)
        cycles = {t.cycle_time_ns for t in self.techs.values()}
        if len(cycles) != 1:
            raise SpecError(f"technologies must share one clock, got cycle times {sorted(cycles)}")
        self.cycle_time_ns = cycles.pop()
        self.full = {name: tech.layer_costs(self.layers) for name, tech in self.techs.items()}
        # (tech, layer, axis, units) -> (table, column) of a piece;
        # (tech, layer, budget, axes) -> (pieces, axis).
        self._units: dict[tuple[str, int, str, int], tuple[LayerCosts, int]] = {}
        self._pieces_for: dict[tuple[str, int, float, tuple[str, ...]], tuple[int, str]] = {}
        self._piece_layers: dict[tuple[int, str, int], Layer] = {}
        # (tech, layer, axis) -> (units + 1,) one-copy area of a piece of n units (NaN: not
        # costed yet), so a split's candidate sizes are looked up as one array.
        self._area_of: dict[tuple[str, int, str], np.ndarray] = {}
        self._items: dict[tuple, Items | InfeasibleDesignError] = {}

    def one_copy_area(self, tech: str) -> np.ndarray:
        """(L,) area of one copy of every layer on ``tech``'s default arrays, mm^2."""
        return self.full[tech].area_mm2[0]

    def _unit_costs(self, tech: str, j: int, units: Sequence[int], axis: str = "out") -> None:
        """Cost the pieces of layer ``j`` with the given unit counts (one cost-model call)."""
        todo = sorted({int(n) for n in units if (tech, j, axis, int(n)) not in self._units})
        if todo:
            parts = [self._piece(j, n, axis) for n in todo]
            table = self.techs[tech].layer_costs(parts)
            for col, n in enumerate(todo):
                self._units[(tech, j, axis, n)] = (table, col)
            key = (tech, j, axis)
            if key not in self._area_of:
                size = max(axis_units(self.layers[j], axis), max(todo)) + 1
                self._area_of[key] = np.full(size, np.nan)
            self._area_of[key][todo] = table.area_mm2[0, : len(todo)]

    def _piece(self, j: int, units: int, axis: str = "out") -> Layer:
        key = (j, axis, units)
        if key not in self._piece_layers:
            self._piece_layers[key] = axis_piece(self.layers[j], units, axis)
        return self._piece_layers[key]

    def _axis_pieces(self, tech: str, j: int, budget_mm2: float, axis: str) -> int | None:
        """Fewest pieces along ``axis`` whose largest fits ``budget_mm2`` (None: none fits)."""
        limit = budget_mm2 * (1 + AREA_RTOL)
        area = float(self.one_copy_area(tech)[j])
        if area <= limit:
            return 1
        units = self.units(j, axis)
        if units < 2:
            return None
        k0 = min(units, int(np.ceil(area / budget_mm2 - AREA_RTOL)))
        # The largest piece of a k-way split has ceil(units / k) units, and a piece's area
        # grows with its units, so the first k whose largest piece fits is the answer.
        ks = np.arange(k0, units + 1)
        sizes, inverse = np.unique(-(-units // ks), return_inverse=True)
        self._unit_costs(tech, j, sizes.tolist(), axis)
        areas = self._area_of[(tech, j, axis)][sizes]
        fits = areas[inverse] <= limit
        return int(ks[int(np.argmax(fits))]) if fits.any() else None

    def units(self, j: int, axis: str) -> int:
        """:func:`axis_units` of layer ``j``, 0 along 'in' for an ``output_only`` layer."""
        if axis == "in" and self.layers[j].name in self.output_only:
            return 0
        return axis_units(self.layers[j], axis)

    def split(
        self, tech: str, j: int, budget_mm2: float, axes: tuple[str, ...] = ("out",)
    ) -> tuple[int, str]:
        """(pieces, axis) layer ``j`` is cut into so each piece fits ``budget_mm2`` of ``tech``.

        Along each allowed axis: ``ceil(area / budget)`` pieces (Algorithm 1, line 4), more when
        array granularity leaves the largest piece above the budget. With both axes the one
        whose pieces take less area in total is chosen (less area left for duplication lost to
        partly used arrays), output channels on a tie; input channels also when no output
        piece fits (a layer with a large fan-in: one output channel spans many row tiles).

        Raises:
            InfeasibleDesignError: no piece of one unit along any allowed axis fits.
        """
        key = (tech, j, budget_mm2, axes)
        if key in self._pieces_for:
            return self._pieces_for[key]
        options: list[tuple[float, int, int, str]] = []
        whole = float(self.one_copy_area(tech)[j])
        for axis in axes:
            if options and options[0][0] <= whole * (1 + AREA_RTOL):
                # The output pieces waste no array area; input pieces cannot take less (their
                # row tiles sum to at least the whole layer's), so they are not costed.
                break
            k = self._axis_pieces(tech, j, budget_mm2, axis)
            if k == 1:
                options = [(0.0, 0, 1, "out")]
                break
            if k is not None:
                sizes = axis_piece_units(self.layers[j], k, axis)
                self._unit_costs(tech, j, sizes, axis)
                total = sum(self._piece_area(tech, j, n, axis) for n in sizes)
                options.append((total, AXES.index(axis), k, axis))
        if not options:
            layer = self.layers[j]
            self._unit_costs(tech, j, [1], "out")
            table, col = self._units[(tech, j, "out", 1)]
            what = "group" if layer.groups > 1 else "output channel"
            raise InfeasibleDesignError(
                f"layer {layer.name!r} does not fit the {tech} area budget of "
                f"{budget_mm2:.4g} mm^2: its smallest piece (one {what}) needs "
                f"{int(table.arrays[0, col])} arrays = {float(table.area_mm2[0, col]):.4g} mm^2"
                + (
                    ""
                    if "in" not in axes or self.units(j, "in") < 2
                    else " (input-channel pieces do not fit either)"
                )
            )
        # Piece areas are sums of float array areas: equal totals compare within AREA_RTOL.
        best_total = min(o[0] for o in options)
        choice = min(
            (o for o in options if o[0] <= best_total * (1 + AREA_RTOL)), key=lambda o: o[1]
        )
        self._pieces_for[key] = (choice[2], choice[3])
        return self._pieces_for[key]

    def pieces(self, tech: str, j: int, budget_mm2: float) -> int:
        """Pieces layer ``j`` is cut into along output channels (see :meth:`split`)."""
        return self.split(tech, j, budget_mm2)[0]

    def _piece_area(self, tech: str, j: int, units: int, axis: str = "out") -> float:
        table, col = self._units[(tech, j, axis, units)]
        return float(table.area_mm2[0, col])

    def items(
        self,
        assignment: Sequence[str],
        budgets: Mapping[str, float],
        input_splits: bool = False,
    ) -> Items:
        """Items of a per-layer technology ``assignment`` (one name per layer) under ``budgets``;
        ``input_splits`` lets oversized layers be cut along input channels (:meth:`split`).

        Cached per arguments (the greedy and DP searches of one constraint ask for the same
        ones); an infeasible budget raises the same error each time.
        """
        key = (tuple(assignment), tuple(sorted(budgets.items())), bool(input_splits))
        hit = self._items.get(key)
        if hit is None:
            try:
                hit = self._make_items(assignment, budgets, input_splits)
            except InfeasibleDesignError as exc:
                hit = exc
            self._items[key] = hit
        if isinstance(hit, InfeasibleDesignError):
            raise InfeasibleDesignError(str(hit))
        return hit

    def layer_options(
        self, assignment: Sequence[str], budgets: Mapping[str, float]
    ) -> list[list[tuple[int, str]]]:
        """Per layer, the feasible splits ``(pieces, axis)``: ``[(1, 'out')]`` for a layer that
        fits its budget, else the fewest pieces along each axis whose largest piece fits (one
        or two options). Raises :class:`InfeasibleDesignError` as :meth:`split` does."""
        out = []
        for j, tech in enumerate(assignment):
            budget = float(budgets.get(tech, 0.0))
            k, _ = self.split(tech, j, budget, AXES)  # raises when no axis fits
            if k == 1:
                out.append([(1, "out")])
                continue
            opts = []
            for axis in AXES:
                kk = self._axis_pieces(tech, j, budget, axis)
                if kk is not None:
                    opts.append((kk, axis))
            out.append(opts)
        return out

    def items_for(
        self,
        assignment: Sequence[str],
        budgets: Mapping[str, float],
        choice: Mapping[int, tuple[int, str]],
    ) -> Items:
        """Items with the split of every layer in ``choice`` (index -> (pieces, axis)) forced;
        other layers split as :meth:`items` with output channels only (cached)."""
        key = (tuple(assignment), tuple(sorted(budgets.items())), tuple(sorted(choice.items())))
        if key not in self._items:
            self._items[key] = self._make_items(assignment, budgets, False, choice)
        hit = self._items[key]
        assert isinstance(hit, Items)
        return hit

    def _make_items(
        self,
        assignment: Sequence[str],
        budgets: Mapping[str, float],
        input_splits: bool,
        choice: Mapping[int, tuple[int, str]] | None = None,
    ) -> Items:
        if len(assignment) != len(self.layers):
            raise SpecError(
                f"assignment has {len(assignment)} entries for {len(self.layers)} layers"
            )
        axes = AXES if input_splits else ("out",)
        pools = [t for t in TECHS if t in set(assignment)] + sorted(set(assignment) - set(TECHS))
        layers, names, piece, pieces, techs, costs, axis_of = [], [], [], [], [], [], []
        for j, tech in enumerate(assignment):
            if tech not in self.techs:
                raise SpecError(f"layer {self.layers[j].name!r}: unknown technology {tech!r}")
            budget = float(budgets.get(tech, 0.0))
            if budget <= 0:
                raise InfeasibleDesignError(
                    f"layer {self.layers[j].name!r} is assigned to {tech} but the {tech} area "
                    "budget is 0 mm^2"
                )
            if choice and j in choice:
                k, axis = choice[j]
            else:
                k, axis = self.split(tech, j, budget, axes)
            sizes = axis_piece_units(self.layers[j], k, axis)
            if k > 1:
                self._unit_costs(tech, j, sizes, axis)
            for p, n in enumerate(sizes):
                layers.append(self.layers[j] if k == 1 else self._piece(j, n, axis))
                names.append(self.layers[j].name)
                piece.append(p)
                pieces.append(k)
                techs.append(tech)
                axis_of.append(axis)
                if k == 1:
                    costs.append((self.full[tech], 0, j))
                else:
                    table, col = self._units[(tech, j, axis, n)]
                    costs.append((table, 0, col))
        return items_from_costs(layers, names, piece, pieces, techs, costs, pools, axis_of)


# --------------------------------------------------------------------------- duplication
def min_max_copies(
    v: np.ndarray,
    cpv: np.ndarray,
    base: np.ndarray,
    pool: np.ndarray,
    mask: np.ndarray,
    caps: np.ndarray,
    max_copies: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Duplication of R groups at once: the smallest reachable compute latency per group.

    Args:
        v, cpv, base, pool, mask: (R, W) input vectors, cycles per vector, area of one copy
            (mm^2), pool index and membership of each member slot.
        caps: (R, P) or (P,) pool budgets (mm^2).
        max_copies: most copies of one member (None: limited by its vectors only).

    Returns:
        ``(T, ok)``: (R,) int64 compute cycles (0 for an empty group) and (R,) bool, False where
        one copy of every member already exceeds a budget. Copies follow as
        ``ceil(v / (T // cpv))``, the fewest that reach T.
    """
    caps = np.broadcast_to(np.asarray(caps, dtype=np.float64), (v.shape[0], np.shape(caps)[-1]))
    limit = caps * (1 + AREA_RTOL)
    n_pools = caps.shape[1]
    v = np.where(mask, v, 1).astype(np.int64)
    cpv = np.where(mask, np.maximum(cpv, 1), 1).astype(np.int64)
    base = np.where(mask, base, 0.0)
    # Per-pool area sums as one matrix product: (R, W) x (R, W, P) -> (R, P).
    onehot = ((pool[:, :, None] == np.arange(n_pools)) & mask[:, :, None]).astype(np.float64)

    def fits(t: np.ndarray) -> np.ndarray:
        use = base * -(-v // (t[:, None] // cpv))
        if n_pools == 1:
            return use.sum(axis=1) <= limit[:, 0]
        return (np.einsum("rw,rwp->rp", use, onehot) <= limit).all(axis=1)

    # With at most c copies a member cannot go below ceil(v / c) * cpv; any T at or above that
    # bound needs at most c copies (ceil(v / ceil(v / c)) <= c).
    most = v if max_copies is None else np.minimum(v, max_copies)
    lo = np.where(mask, -(-v // most) * cpv, 0).max(axis=1)
    hi = np.where(mask, v * cpv, 0).max(axis=1)
    ok = fits(np.maximum(hi, 1))
    hi = np.where(ok, hi, lo)
    while True:
        open_ = lo < hi
        if not open_.any():
            break
        mid = (lo + hi) // 2
        good = fits(np.maximum(mid, 1))
        hi = np.where(open_ & good, mid, hi)
        lo = np.where(open_ & ~good, mid + 1, lo)
    return lo, ok


def copies_for(v: np.ndarray, cpv: np.ndarray, t: int) -> np.ndarray:
    """Fewest copies that bring every member to at most ``t`` compute cycles."""
    return -(-v // (t // np.maximum(cpv, 1)))


def greedy_copies(
    v: Sequence[int],
    cpv: Sequence[int],
    base: Sequence[float],
    pool: Sequence[int],
    caps: Sequence[float],
    max_copies: int | None = None,
) -> tuple[int, list[int]] | None:
    """The paper's duplication loop for one group, literally: copy the slowest member while the
    group's area stays within budget. Returns (compute cycles, copies), or None when one copy of
    every member does not fit."""
    most = [vi if max_copies is None else min(vi, max_copies) for vi in v]
    copies = [1] * len(v)
    use = [0.0] * len(caps)
    for b, p in zip(base, pool, strict=True):
        use[p] += b
    limit = [c * (1 + AREA_RTOL) for c in caps]
    if any(u > lim for u, lim in zip(use, limit, strict=True)):
        return None
    while True:
        lat = [-(-vi // ci) * cp for vi, ci, cp in zip(v, copies, cpv, strict=True)]
        j = max(range(len(lat)), key=lat.__getitem__)
        if copies[j] >= most[j] or use[pool[j]] + base[j] > limit[pool[j]]:
            return lat[j], copies
        copies[j] += 1
        use[pool[j]] += base[j]


# --------------------------------------------------------------------------- intervals
def _interval_ends(items: Items, caps: np.ndarray, max_members: int | None = None) -> np.ndarray:
    """(n,) for each start p, the largest end i such that one copy of items [p, i) fits (and
    the group has at most ``max_members`` items)."""
    n = len(items)
    base = items.base_area
    ends = np.full(n, n, dtype=np.int64)
    if max_members is not None:
        ends = np.minimum(ends, np.arange(n) + max(int(max_members), 1))
    for p_idx in range(len(items.pools)):
        cum = np.concatenate([[0.0], np.cumsum(np.where(items.pool == p_idx, base, 0.0))])
        limit = cum[:-1] + caps[p_idx] * (1 + AREA_RTOL)
        ends = np.minimum(ends, np.searchsorted(cum, limit, side="right") - 1)
    too_big = ends <= np.arange(n)
    if too_big.any():
        k = int(np.flatnonzero(too_big)[0])
        pool = items.pools[items.pool[k]]
        raise InfeasibleDesignError(
            f"layer {items.names[k]!r} piece {items.piece[k]} needs {base[k]:.4g} mm^2 of {pool} "
            f"arrays, more than the {pool} budget of {caps[items.pool[k]]:.4g} mm^2"
        )
    return ends


def interval_costs(
    items: Items,
    caps: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    max_copies: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """F for intervals [starts, ends): (compute cycles, write cycles, ok), each (G,).

    Write cycles are 0 for the interval that covers every item (resident weights).
    """
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    width = int((ends - starts).max()) if len(starts) else 0
    idx = starts[:, None] + np.arange(width)[None, :]
    mask = idx < ends[:, None]
    idx = np.where(mask, idx, 0)
    t, ok = min_max_copies(
        items.vectors[idx],
        items.cpv[idx],
        items.base_area[idx],
        items.pool[idx],
        mask,
        caps,
        max_copies,
    )
    cum = np.concatenate([[0], np.cumsum(items.write_cycles)])
    write = cum[ends] - cum[starts]
    write = np.where((starts == 0) & (ends == len(items)), 0, write)
    return t, write, ok


def valid_intervals(
    items: Items, caps: np.ndarray, max_members: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Every interval [p, i) whose one-copy area fits: (starts, ends), ordered by start then end."""
    n = len(items)
    lengths = _interval_ends(items, caps, max_members) - np.arange(n)
    starts = np.repeat(np.arange(n), lengths)
    offsets = np.arange(len(starts)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return starts, starts + 1 + offsets


def dp_groups(
    items: Items,
    caps: np.ndarray,
    max_copies: int | None = None,
    max_members: int | None = None,
) -> tuple[list[tuple[int, int]], int]:
    """Algorithm 1 / Eq. 2: optimal contiguous grouping; returns (intervals, total cycles).

    ``max_copies`` and ``max_members`` bound the copies of one item and the items of one group
    (e.g. the Verilog generator's ``MAX_COPIES`` and ``MAX_TILES``); None means unbounded.
    """
    n = len(items)
    starts, ends = valid_intervals(items, caps, max_members)
    t, write, ok = interval_costs(items, caps, starts, ends, max_copies)
    cost = np.where(ok, t + write, np.iinfo(np.int64).max // 4)
    lat = np.full(n + 1, np.iinfo(np.int64).max // 2, dtype=np.int64)
    lat[0] = 0
    choice = np.zeros(n + 1, dtype=np.int64)
    order = np.argsort(ends, kind="stable")  # by end, then by start (generation order)
    bounds = np.searchsorted(ends[order], np.arange(n + 2))
    for i in range(1, n + 1):
        sel = order[bounds[i] : bounds[i + 1]]
        total = lat[starts[sel]] + cost[sel]
        k = int(np.argmin(total))  # first minimum: the smallest start, i.e. the longest group
        lat[i] = total[k]
        choice[i] = starts[sel][k]
    groups, i = [], n
    while i > 0:
        groups.append((int(choice[i]), i))
        i = int(choice[i])
    return groups[::-1], int(lat[n])


def _subset(items: Items, lo: int, hi: int) -> Items:
    """Items ``lo .. hi - 1`` (a contiguous slice, same pools)."""
    sl = slice(lo, hi)
    return Items(
        layers=items.layers[sl],
        names=items.names[sl],
        piece=items.piece[sl],
        pieces=items.pieces[sl],
        tile=items.tile[sl],
        pools=items.pools,
        pool=items.pool[sl],
        arrays=items.arrays[sl],
        array_area=items.array_area[sl],
        vectors=items.vectors[sl],
        cpv=items.cpv[sl],
        write_cycles=items.write_cycles[sl],
        write_energy_pj=items.write_energy_pj[sl],
        macs=items.macs[sl],
        axis=tuple(items.axis[sl]) if items.axis else (),
    )


def dp_groups_axes(
    mapper: Mapper,
    assignment: Sequence[str],
    budgets: Mapping[str, float],
    caps: np.ndarray,
    max_copies: int | None = None,
    max_members: int | None = None,
) -> tuple[Items, list[tuple[int, int]], int]:
    """Eq. 2 with the split axis of every oversized layer chosen jointly with the grouping.

    A layer that fits neither unsplit nor along only one axis has two item sequences (output or
    input pieces). No group holds all pieces of such a *choice layer* (its pieces together
    take at least the whole layer's arrays, which exceed the budget), so a group touches at
    most two consecutive choice layers, at its two ends. The DP therefore runs over item
    boundaries on a graph: boundaries between layers are shared by every choice, boundaries
    inside a choice layer belong to its axis, and every group is costed on the *track* of its
    two end layers' axes (``interval_costs`` on that slice). The shortest path from the network
    input to its output is the best (axes, grouping) pair over all ``prod(options)`` axis
    choices and their groupings; it equals :func:`dp_groups` when no layer has a choice.

    Returns (items of the chosen axes, groups as intervals of those items, total cycles).
    """
    options = mapper.layer_options(assignment, budgets)
    choice_layers = [j for j, o in enumerate(options) if len(o) > 1]
    default = {j: o[0] for j, o in enumerate(options)}
    if not choice_layers:
        items = mapper.items_for(assignment, budgets, default)
        groups, cycles = dp_groups(items, caps, max_copies, max_members)
        return items, groups, cycles
    n_layers = len(options)
    # Tracks: from choice layer c_i (or the input) to choice layer c_{i+1} (or the output).
    bounds = [None, *choice_layers, None]
    edges: list[tuple[tuple, tuple, int, tuple[int, str] | None, tuple[int, str] | None]] = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        for oa in options[a] if a is not None else [None]:
            for ob in options[b] if b is not None else [None]:
                pick = dict(default)
                if a is not None:
                    pick[a] = oa
                if b is not None:
                    pick[b] = ob
                full = mapper.items_for(assignment, budgets, pick)
                first = {}
                for k in range(len(full) - 1, -1, -1):
                    first[full.names[k]] = k
                lo = 0 if a is None else first[mapper.layers[a].name]
                hi = len(full) if b is None else first[mapper.layers[b].name] + pick[b][0]
                track = _subset(full, lo, hi)
                starts, ends = valid_intervals(track, caps, max_members)
                t, _, ok = interval_costs(track, caps, starts, ends, max_copies)
                cum = np.concatenate([[0], np.cumsum(track.write_cycles)])
                write = cum[ends] - cum[starts]  # never the whole network: no resident rule
                index = {name: j for j, name in enumerate(mapper.layers[x].name for x in
                         range(n_layers))}  # fmt: skip

                def node(x: int, track=track, index=index) -> tuple:
                    # Boundary before track item x (x == len: after the last item).
                    if x == len(track):
                        return (index[track.names[-1]] + 1, 0, "")
                    j, q = index[track.names[x]], int(track.piece[x])
                    return (j, 0, "") if q == 0 else (j, q, track.axis_of(x))

                for s0, e0, tt, ww, good in zip(starts, ends, t, write, ok, strict=True):
                    if good:
                        edges.append((node(int(s0)), node(int(e0)), int(tt + ww), oa, ob))
    # Shortest path over boundaries ordered by (layer, piece): every edge goes forward.
    keys = sorted({e[0] for e in edges} | {e[1] for e in edges})
    pos = {k: i for i, k in enumerate(keys)}
    src = np.array([pos[e[0]] for e in edges])
    dst = np.array([pos[e[1]] for e in edges])
    cost = np.array([e[2] for e in edges], dtype=np.int64)
    big = np.iinfo(np.int64).max // 4
    lat = np.full(len(keys), big, dtype=np.int64)
    lat[pos[(0, 0, "")]] = 0
    via = np.full(len(keys), -1, dtype=np.int64)
    for e in np.argsort(dst, kind="stable"):
        total = lat[src[e]] + cost[e]
        if total < lat[dst[e]]:
            lat[dst[e]], via[dst[e]] = total, e
    end = pos[(n_layers, 0, "")]
    if lat[end] >= big:
        raise InfeasibleDesignError("no grouping fits the area budget")
    path, v = [], end
    while v != pos[(0, 0, "")]:
        e = int(via[v])
        path.append(edges[e])
        v = int(src[e])
    path.reverse()
    # The axis of each choice layer: the one of the boundaries inside it the path visits.
    pick = dict(default)
    for e in path:
        for key in (e[0], e[1]):
            j, q, axis = key
            if q > 0 and j in choice_layers:
                pick[j] = next(o for o in options[j] if o[1] == axis)
    items = mapper.items_for(assignment, budgets, pick)
    first = {}
    for k in range(len(items) - 1, -1, -1):
        first[items.names[k]] = k
    names = [layer.name for layer in mapper.layers]

    def at(key: tuple) -> int:
        j, q, _ = key
        return len(items) if j == n_layers else first[names[j]] + q

    groups = [(at(e[0]), at(e[1])) for e in path]
    return items, groups, int(lat[end])


def greedy_groups(
    items: Items, caps: np.ndarray, max_members: int | None = None
) -> list[tuple[int, int]]:
    """The 'map as many layers as fit' baseline: each group extends while one copy fits."""
    last = _interval_ends(items, caps, max_members)
    groups, p = [], 0
    while p < len(items):
        groups.append((p, int(last[p])))
        p = int(last[p])
    return groups


def exhaustive_groups(
    items: Items,
    caps: np.ndarray,
    max_items: int = MAX_EXHAUSTIVE_ITEMS,
    max_copies: int | None = None,
    max_members: int | None = None,
) -> tuple[list[tuple[int, int]], int, dict[tuple[int, int], list[int]]]:
    """Every one of the 2^(n-1) contiguous groupings, each group costed by :func:`greedy_copies`.

    Returns (best intervals, total cycles, copies of each interval of the best grouping). Meant
    for proofs on small instances.
    """
    n = len(items)
    if n > max_items:
        raise SpecError(f"exhaustive search is limited to {max_items} items, got {n}")
    base = items.base_area
    cache: dict[tuple[int, int], tuple[int, list[int]] | None] = {}

    def cost(p: int, i: int) -> tuple[int, list[int]] | None:
        if (p, i) not in cache:
            sl = slice(p, i)
            res = greedy_copies(
                items.vectors[sl].tolist(),
                items.cpv[sl].tolist(),
                base[sl].tolist(),
                items.pool[sl].tolist(),
                list(caps),
                max_copies,
            )
            if max_members is not None and i - p > max_members:
                res = None
            if res is not None and not (p == 0 and i == n):
                res = (res[0] + int(items.write_cycles[sl].sum()), res[1])
            cache[(p, i)] = res
        return cache[(p, i)]

    best: tuple[int, list[tuple[int, int]]] | None = None
    for cuts in product((False, True), repeat=n - 1):
        bounds = [0] + [k + 1 for k, c in enumerate(cuts) if c] + [n]
        groups = list(zip(bounds[:-1], bounds[1:], strict=True))
        total = 0
        for g in groups:
            c = cost(*g)
            if c is None:
                break
            total += c[0]
        else:
            if best is None or total < best[0]:
                best = (total, groups)
    if best is None:
        raise InfeasibleDesignError("no grouping fits the area budget")
    copies = {g: cost(*g)[1] for g in best[1]}  # type: ignore[index]
    return best[1], best[0], copies


# --------------------------------------------------------------------------- schedule
def make_schedule(
    items: Items,
    groups: Sequence[tuple[int, int]],
    copies: Mapping[tuple[int, int], Sequence[int]] | None,
    caps: np.ndarray,
    *,
    network: str,
    area_mm2: float,
    cycle_time_ns: float,
    notes: Mapping[str, str],
    max_copies: int | None = None,
) -> Schedule:
    """Build the plan. ``copies`` None: the fewest copies reaching each group's DP latency."""
    resident = len(groups) == 1
    out = []
    for p, i in groups:
        idx = np.arange(p, i)
        if copies is None:
            t, _ = min_max_copies(
                items.vectors[idx][None],
                items.cpv[idx][None],
                items.base_area[idx][None],
                items.pool[idx][None],
                np.ones((1, len(idx)), dtype=bool),
                caps,
                max_copies,
            )
            c = copies_for(items.vectors[idx], items.cpv[idx], int(t[0]))
        else:
            c = np.asarray(copies[(p, i)], dtype=np.int64)
        members = []
        for k, cop in zip(idx, c, strict=True):
            members.append(
                LayerPlacement(
                    layer=items.names[k],
                    piece=int(items.piece[k]),
                    pieces=int(items.pieces[k]),
                    tile=items.tile[k],
                    arrays=int(items.arrays[k]),
                    copies=int(cop),
                    vectors=int(items.vectors[k]),
                    cycles_per_vector=int(items.cpv[k]),
                    compute_cycles=int(-(-items.vectors[k] // cop) * items.cpv[k]),
                    write_cycles=0 if resident else int(items.write_cycles[k]),
                    area_mm2=float(items.arrays[k] * cop * items.array_area[k]),
                    write_energy_pj=0.0 if resident else float(items.write_energy_pj[k] * cop),
                    program_cycles=int(items.write_cycles[k]),
                    split_axis=items.axis_of(int(k)),
                )
            )
        out.append(LayerGroup(tuple(members)))
    budgets = {pool: float(cap) for pool, cap in zip(items.pools, caps, strict=True)}
    all_notes = {"tech_budgets_mm2": json.dumps(budgets), **notes}
    return Schedule(
        network=network,
        groups=tuple(out),
        area_budget_mm2=float(area_mm2),
        cycle_time_ns=float(cycle_time_ns),
        notes=all_notes,
    )


# --------------------------------------------------------------------------- public API
def _assignment(layers: Sequence[Layer], assignment: str | Mapping[str, str] | Sequence[str]):
    if isinstance(assignment, str):
        return tuple(assignment for _ in layers)
    if isinstance(assignment, Mapping):
        missing = [layer.name for layer in layers if layer.name not in assignment]
        if missing:
            raise SpecError(f"assignment lacks crossbar layers {missing[:5]}")
        return tuple(assignment[layer.name] for layer in layers)
    out = tuple(assignment)
    if len(out) != len(layers):
        raise SpecError(f"assignment has {len(out)} entries for {len(layers)} crossbar layers")
    return out


def default_budgets(mapper: Mapper, assignment: Sequence[str], area_mm2: float) -> dict[str, float]:
    """Pool budgets: the whole constraint for one technology; for several, shares proportional
    to the area of one copy of each technology's layers (the rule of the PIM-HLS reference
    implementation)."""
    used = list(dict.fromkeys(assignment))
    if len(used) == 1:
        return {used[0]: float(area_mm2)}
    need = {t: 0.0 for t in used}
    for j, t in enumerate(assignment):
        need[t] += float(mapper.one_copy_area(t)[j])
    total = sum(need.values())
    return {t: area_mm2 * need[t] / total for t in used}


def prepare(
    workload: Workload,
    area_mm2: float,
    assignment: str | Mapping[str, str] | Sequence[str] = "rram",
    tech_budgets_mm2: Mapping[str, float] | None = None,
    base: ChipSpec | None = None,
    input_splits: bool = False,
) -> tuple[Mapper, Items, np.ndarray]:
    """Topological sort, cost tables and splitting (Algorithm 1, lines 1-6).

    Returns the :class:`Mapper`, the items to schedule and the pool budgets (mm^2, one per
    ``items.pools``). Arguments as :func:`schedule_dp`.
    """
    if not area_mm2 > 0:
        raise SpecError(f"area budget must be > 0 mm^2, got {area_mm2}")
    layers = schedule_order(workload)
    techs = _assignment(layers, assignment)
    mapper = Mapper(
        layers, technologies(list(dict.fromkeys(techs)), base), fused_add_layers(workload)
    )
    budgets = (
        dict(tech_budgets_mm2) if tech_budgets_mm2 else default_budgets(mapper, techs, area_mm2)
    )
    if sum(budgets.values()) > area_mm2 * (1 + AREA_RTOL):
        raise SpecError(
            f"technology budgets {budgets} sum to more than the area budget {area_mm2} mm^2"
        )
    items = mapper.items(techs, budgets, input_splits)
    caps = np.array([budgets[p] for p in items.pools], dtype=np.float64)
    return mapper, items, caps


def min_area_mm2(
    workload: Workload,
    tech: str = "rram",
    base: ChipSpec | None = None,
    input_splits: bool = False,
) -> tuple[float, str]:
    """Smallest homogeneous ``tech`` area constraint any schedule fits, and the layer that sets it.

    A layer fits a budget iff its smallest piece does (one output channel or group; with
    ``input_splits`` also one input channel), so the answer is the largest, over layers, of the
    smallest piece area along the allowed axes (mm^2 of default arrays).
    """
    layers = schedule_order(workload)
    mapper = Mapper(layers, technologies([tech], base), fused_add_layers(workload))
    best: list[float] = []
    for j, _layer in enumerate(layers):
        areas = []
        for axis in AXES if input_splits else ("out",):
            if mapper.units(j, axis) >= 1:
                mapper._unit_costs(tech, j, [1], axis)
                areas.append(mapper._piece_area(tech, j, 1, axis))
        best.append(min(areas))
    k = int(np.argmax(best))
    return float(best[k]), layers[k].name


def _schedule(
    method: str,
    workload: Workload,
    area_mm2: float,
    assignment: str | Mapping[str, str] | Sequence[str],
    tech_budgets_mm2: Mapping[str, float] | None,
    base: ChipSpec | None,
    max_copies: int | None,
    max_members: int | None,
    max_items: int = MAX_EXHAUSTIVE_ITEMS,
    input_splits: bool = False,
) -> Schedule:
    mapper, items, caps = prepare(
        workload, area_mm2, assignment, tech_budgets_mm2, base, input_splits
    )
    copies = None
    if method == "dp":
        groups, _ = dp_groups(items, caps, max_copies, max_members)
    elif method == "greedy":
        groups = greedy_groups(items, caps, max_members)
    else:
        groups, _, copies = exhaustive_groups(items, caps, max_items, max_copies, max_members)
    return make_schedule(
        items,
        groups,
        copies,
        caps,
        network=workload.name,
        area_mm2=area_mm2,
        cycle_time_ns=mapper.cycle_time_ns,
        notes={"method": method, "tuned": "false"},
        max_copies=max_copies,
    )


def schedule_dp(
    workload: Workload,
    area_mm2: float,
    *,
    assignment: str | Mapping[str, str] | Sequence[str] = "rram",
    tech_budgets_mm2: Mapping[str, float] | None = None,
    base: ChipSpec | None = None,
    max_copies: int | None = None,
    max_members: int | None = None,
    input_splits: bool = False,
) -> Schedule:
    """Optimal runtime weight schedule by dynamic programming (PIM-HLS Algorithm 1).

    Args:
        workload: the network; its crossbar layers are scheduled in topological order.
        area_mm2: area constraint on the PIM arrays (with their peripherals), mm^2.
        assignment: technology of every crossbar layer: one name for all, a mapping from layer
            name, or one name per crossbar layer in schedule order.
        tech_budgets_mm2: area each technology may use per group (sum <= ``area_mm2``); default
            :func:`default_budgets`.
        base: spec giving node, voltage, clock and DRAM (default :class:`ChipSpec`).
        max_copies, max_members: optional bounds on the copies of one piece and the pieces of
            one group (the Verilog generator accepts at most 63 and 16); None = unbounded.
        input_splits: let an oversized layer be cut along input channels too, where its pieces
            take less area (or no output piece fits; :meth:`Mapper.split`). Off by default: the
            paper splits along output channels and the Verilog generator accepts only those.

    Returns:
        The schedule minimizing total cycles per inference under the model of this module.

    Raises:
        InfeasibleDesignError: a layer's smallest piece does not fit its budget.
    """
    return _schedule(
        "dp",
        workload,
        area_mm2,
        assignment,
        tech_budgets_mm2,
        base,
        max_copies,
        max_members,
        input_splits=input_splits,
    )


def schedule_greedy(
    workload: Workload,
    area_mm2: float,
    *,
    assignment: str | Mapping[str, str] | Sequence[str] = "rram",
    tech_budgets_mm2: Mapping[str, float] | None = None,
    base: ChipSpec | None = None,
    max_copies: int | None = None,
    max_members: int | None = None,
    input_splits: bool = False,
) -> Schedule:
    """Baseline: map as many layers as fit into each group, then duplicate as the DP does.

    Arguments as :func:`schedule_dp`.
    """
    return _schedule(
        "greedy",
        workload,
        area_mm2,
        assignment,
        tech_budgets_mm2,
        base,
        max_copies,
        max_members,
        input_splits=input_splits,
    )


def schedule_exhaustive(
    workload: Workload,
    area_mm2: float,
    *,
    assignment: str | Mapping[str, str] | Sequence[str] = "rram",
    tech_budgets_mm2: Mapping[str, float] | None = None,
    base: ChipSpec | None = None,
    max_copies: int | None = None,
    max_members: int | None = None,
    input_splits: bool = False,
    max_items: int = MAX_EXHAUSTIVE_ITEMS,
) -> Schedule:
    """Reference: the best of all 2^(n-1) contiguous groupings of the n items (after splitting),
    each group duplicated by the paper's literal loop (:func:`greedy_copies`).

    Arguments as :func:`schedule_dp`; ``max_items`` bounds n.
    """
    return _schedule(
        "exhaustive",
        workload,
        area_mm2,
        assignment,
        tech_budgets_mm2,
        base,
        max_copies,
        max_members,
        max_items,
        input_splits,
    )
