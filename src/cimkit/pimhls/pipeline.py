"""Pipeline timing of a plan: fill, drain, non-MAC ops and the controller, per layer group.

PIM-HLS (section IV-C) charges a layer group ``writes + max(member compute)``: every member runs
at once, as if a consumer never waited for its producer. The generated hardware (docs/codegen.md)
pipelines the members through per-element valid bits instead: a consumer's output position
starts once every input position of its window has arrived, so after the bottleneck finishes,
every later stage still computes the positions that depend on the bottleneck's last ones
(drain), and a stage fed by a slower one waits for its first window (fill). Pools (vector tiles,
one position a cycle) and the global-buffer copies (``MOVE``, one word a cycle) sit in the same
pipeline.

:func:`group_cycles` replays that schedule position by position from the layer geometry, the
copies and the cycles per vector (no fitted constant: the small latencies below are the
generated controller's and NoC's, fixed by its RTL):

* controller: one instruction a cycle; per group ``LOAD_W`` per MAC member, ``CLRV`` (group >
  0), one ``MOVE`` per global-buffer source, ``SETIN`` per op, then ``COMPUTE``/``POOL`` per op
  in table order; these wait for the weight loader, which finishes
  :data:`WRITE_START` cycles after the first ``LOAD_W`` plus the summed programming cycles;
* a MAC copy takes its vectors ``k, k + copies, ...`` one after another, ``cycles_per_vector``
  each; a result reaches the consumers' buffers :data:`NOC_LATENCY` cycles after it is computed;
* a pool emits one position a cycle once its window is valid;
* input-channel pieces of a layer (``split_axis == 'in'``) form a chain in (group, piece)
  order: each but the first starts a position only once its predecessor's partial sum for that
  position has arrived (directly in the same group, at once from the previous group, through
  its own global-buffer ``MOVE`` from further back), and only the last piece's results are the
  layer's output;
* a ``MOVE`` writes one word a cycle, the DMA runs its moves one after another;
* the group ends when its last result is delivered (``SYNC``), the next group's first
  instruction issues the cycle after.

Inputs produced in the previous group were delivered into this group's bank while that group
ran, so they are ready at once.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from cimkit.errors import CimkitError
from cimkit.pimhls.plan import Schedule
from cimkit.workload import Workload

#: Cycles from the first ``LOAD_W``'s issue to the write port's first row step (queue + read).
WRITE_START = 2
#: Cycles from a result leaving an array copy to its word being valid in a consumer buffer.
NOC_LATENCY = 2
#: Cycles from a ``MOVE``'s start to its first word being valid in the destination.
MOVE_LATENCY = 2
#: Cycles from the last delivered result to the ``SYNC``'s issue (it issues in that cycle).
SYNC_CYCLES = 0


def _window_ready(t_in: np.ndarray, geom) -> np.ndarray:
    """(out_h * out_w,) the cycle each output position's window is complete: the latest
    arrival over its in-bounds input positions (``t_in``: (in_h * in_w,), raster order)."""
    if geom.op == "linear" and not geom.flatten:
        return t_in.copy()  # tokens: one input vector per output vector
    h, w, p = geom.in_h, geom.in_w, geom.pad
    img = np.full((h + 2 * p + geom.kh, w + 2 * p + geom.kw), -1, dtype=np.int64)
    img[p : p + h, p : p + w] = t_in.reshape(h, w)  # padding is never waited for
    win = np.lib.stride_tricks.sliding_window_view(img, (geom.kh, geom.kw))
    win = win[:: geom.stride, :: geom.stride][: geom.out_h, : geom.out_w]
    return win.max(axis=(2, 3)).reshape(-1)


def _serve(ready: np.ndarray, free: int, d: int) -> np.ndarray:
    """Finish cycles of jobs served in order by one unit free from cycle ``free``, ``d`` cycles
    each, job ``j`` not before ``ready[j]``: ``f_j = max(ready_j, f_{j-1}) + d``, as the max-plus
    scan ``(j + 1) d + max_{i <= j} (max(ready_i, free) - i d)``."""
    j = np.arange(len(ready), dtype=np.int64)
    return np.maximum.accumulate(np.maximum(ready, free) - j * d) + (j + 1) * d


def group_cycles(schedule: Schedule, workload: Workload) -> list[int]:
    """Cycles of each layer group as the generated hardware runs it (module docstring).

    Returns one int per group; their sum is the whole inference, from reset to ``HALT``.
    """
    from cimkit.codegen.lowering import lower

    ops_t = lower(workload)
    ops = {g.name: g for g in ops_t}
    order = {n: i for i, n in enumerate(ops)}
    # group in which each tensor is complete (pools: their input's), as the generator
    done: dict[str | None, int] = {None: -1}
    placed: dict[str, list[int]] = {}
    for g, grp in enumerate(schedule.groups):
        for m in grp.members:
            placed.setdefault(m.layer, []).append(g)
    pool_group: dict[str, int] = {}
    for name, geom in ops.items():
        srcs = [geom.producer] + ([geom.skip] if geom.skip is not None else [])
        if geom.is_mac:
            if name not in placed:
                raise CimkitError(f"layer {name!r} is in no group of the schedule; place it")
            done[name] = max(placed[name])
        else:
            done[name] = max(done[s] for s in srcs)
            pool_group[name] = done[name]
    # Input-channel pieces: a chain in execution order (group, piece), as the generator builds
    # it; each but the first waits per position for its predecessor's partial sum (in its skip
    # region), and only the last sends the layer's output.
    chains: dict[str, list[tuple[int, int]]] = {}
    for g, grp in enumerate(schedule.groups):
        for m in grp.members:
            if m.split_axis == "in" and m.pieces > 1:
                chains.setdefault(m.layer, []).append((g, m.piece))
    psum_prev: dict[tuple[str, int], tuple[int, int]] = {}  # piece -> (group, piece) before it
    final_piece: dict[str, int] = {}
    for name, chain in chains.items():
        chain.sort()
        for (g0, p0), (_, p1) in zip(chain[:-1], chain[1:], strict=True):
            psum_prev[(name, p1)] = (g0, p0)
        final_piece[name] = chain[-1][1]

    out: list[int] = []
    t = 1  # cycle the first instruction issues (reset release is cycle 0)
    for g, grp in enumerate(schedule.groups):
        members = sorted(
            [(order[m.layer], m.piece, m) for m in grp.members]
            + [(order[n], 0, None) for n, pg in pool_group.items() if pg == g],
            key=lambda x: (x[0], x[1]),
        )
        n_mac = len(grp.members)
        # global-buffer sources: the network input, or a tensor from two or more groups back
        moves: list[tuple[str | None, int]] = []
        move_key: dict[tuple[str | None, int, int], int] = {}
        for oi, _, mm in members:
            geom = ops_t[oi]
            srcs = [(geom.producer, 0)] + ([(geom.skip, 1)] if geom.skip is not None else [])
            for tensor, region in srcs:
                if tensor is None or g - done[tensor] >= 2:
                    if tensor is None:
                        pieces: list[int | None] = [None]
                    elif tensor in final_piece:  # an input-split layer's output: its last piece
                        pieces = [final_piece[tensor]]
                    else:
                        pieces = list(_producer_pieces(schedule, tensor, ops))
                    for pc in pieces:
                        key = (tensor, -1 if pc is None else pc, region)
                        if key not in move_key:
                            move_key[key] = len(moves)
                            moves.append((tensor, region))
            prev_pc = None if mm is None else psum_prev.get((mm.layer, mm.piece))
            if prev_pc is not None and g - prev_pc[0] >= 2:
                # a partial sum from two or more groups back: its own GB region and MOVE
                psum = f"{mm.layer}#psum{prev_pc[1]}"
                move_key[(psum, prev_pc[1], 1)] = len(moves)
                moves.append((psum, 1))
        pc_first_compute = n_mac + (g > 0) + len(moves) + len(members)
        w_done = t + WRITE_START + sum(m.programming_cycles for m in grp.members)
        # DMA: moves one after another, one word a cycle, in background from their issue
        gb_ready: dict[str | None, np.ndarray] = {}
        dma_free = 0
        for k, (tensor, _) in enumerate(moves):
            issue = t + n_mac + (g > 0) + k
            if tensor is None:
                count = ops_t[0].in_positions
            else:
                count = ops[tensor.split("#psum")[0]].vectors
            start = max(issue, dma_free)
            arr = start + MOVE_LATENCY + np.arange(count, dtype=np.int64)
            dma_free = start + count + MOVE_LATENCY
            prev = gb_ready.get(tensor)
            gb_ready[tensor] = arr if prev is None else np.maximum(prev, arr)
        arrive: dict[str, np.ndarray] = {}  # tensor -> (positions,) delivery cycle in group g
        piece_arrive: dict[tuple[str, int], np.ndarray] = {}  # partial sums delivered in group g
        issue_prev = -1
        end = 0
        for k, (oi, _, m) in enumerate(members):
            geom = ops_t[oi]
            issue = max(t + pc_first_compute + k, issue_prev + 1, w_done)
            issue_prev = issue

            ready = _window_ready(
                _arrival(geom.producer, geom.in_positions, g, done, arrive, gb_ready), geom
            )
            if geom.skip is not None:
                skip = _arrival(geom.skip, geom.vectors, g, done, arrive, gb_ready)
                ready = np.maximum(ready, skip)
            prev_pc = None if m is None else psum_prev.get((m.layer, m.piece))
            if prev_pc is not None:  # the partial sum of the pieces before it, per position
                pg, pp = prev_pc
                if pg == g:
                    ready = np.maximum(ready, piece_arrive[(m.layer, pp)])
                elif g - pg >= 2:
                    ready = np.maximum(ready, gb_ready[f"{m.layer}#psum{pp}"])
                # (from the previous group: delivered into this group's bank while it ran)
            res = np.empty(geom.vectors, dtype=np.int64)
            if m is None:  # pool: one position a cycle, reduced in the cycle it starts
                res = _serve(ready, issue + 1, 1) - 1
            else:  # copy k serves positions k, k + c, ..., cycles_per_vector each
                c, d = m.copies, m.cycles_per_vector
                res = np.empty(geom.vectors, dtype=np.int64)
                for k2 in range(min(c, geom.vectors)):
                    res[k2::c] = _serve(ready[k2::c], issue + 1, d)
            res += NOC_LATENCY
            if m is not None:
                piece_arrive[(m.layer, m.piece)] = res
            prev = arrive.get(geom.name)
            arrive[geom.name] = res if prev is None else np.maximum(prev, res)
            end = max(end, int(res.max()))
        sync = max(end, w_done, dma_free) + SYNC_CYCLES  # the SYNC's issue cycle
        # the group lasts to the next group's first issue (or HALT); CYCLES counts to the edge
        # after HALT from reset release, two more than the first group's first issue cycle
        out.append(sync + 1 - t + (2 if g == 0 else 0))
        t = sync + 1
    return out


def _arrival(tensor, positions, g, done, arrive, gb_ready) -> np.ndarray:
    """(positions,) cycles a tensor's words are valid in group ``g``'s buffers: as produced in
    this group, as a ``MOVE`` copies them from the global buffer, or at once (delivered into
    this group's bank while the previous group ran)."""
    if tensor is not None and tensor in arrive and done[tensor] == g:
        return arrive[tensor]
    if tensor in gb_ready and (tensor is None or g - done[tensor] >= 2):
        return gb_ready[tensor]
    return np.zeros(positions, dtype=np.int64)


def _producer_pieces(schedule: Schedule, tensor: str, ops) -> list[int]:
    pieces = sorted({m.piece for g in schedule.groups for m in g.members if m.layer == tensor})
    return pieces or [0]


def with_pipeline(schedule: Schedule, workload: Workload) -> Schedule:
    """``schedule`` with each group's ``fill_cycles`` set: the cycles :func:`group_cycles`
    counts beyond the group's programming and slowest compute (fill, drain, pools, ``MOVE``s,
    controller). A workload the generator cannot lower (attention, concatenation) keeps 0 and
    says so in ``notes['pipeline']``."""
    try:
        cyc = group_cycles(schedule, workload)
    except CimkitError as exc:
        return replace(schedule, notes={**schedule.notes, "pipeline": f"not modelled: {exc}"})
    groups = tuple(
        replace(g, fill_cycles=c - sum(m.programming_cycles for m in g.members) - g.compute_cycles)
        for g, c in zip(schedule.groups, cyc, strict=True)
    )
    return replace(schedule, groups=groups, notes={**schedule.notes, "pipeline": "modelled"})
