"""Effective genes: which genes of a genome change the design, and genomes canonicalised on them.

A genome keeps every gene of the space, including genes that have no effect on the design it
encodes, so two genomes that differ only there are the same design (same network, same
quantization, same chip: same metrics and the same accuracy). For the search this is on
purpose (a later mutation of a depth gene may revive a block slot with its old genes); for
counting designs, de-duplicating an archive and picking the top-k it is not: the issue-17
archive of 11,250 evaluations held 8,150 distinct designs and its top five rows were 1 design.

What has no effect, per space (checked by brute force in tests/space/test_effective.py: every
masked gene is changed to every other value and neither the layer arrays, the cost-model
metrics nor the predicted accuracy move; every unmasked gene changes something):

* ``ofa_mobilenetv2``: the ``kernel_b{j}``, ``expand_b{j}`` and the four bit genes
  ``{dw_w,dw_a,pw_w,pw_a}_b{j}`` of every block slot ``j`` beyond its stage's depth (slot ``j``
  is in stage ``j // 4`` at position ``j % 4`` and exists when ``depth_s{j // 4} > j % 4``).
  The layer builder and the predictor's encoding both drop those slots.
* ``resnet50``: nothing (every stage has at least one block, the quantization genes are per
  stage and there are no block slots).
* hardware genes: none. Readout, device and macro kinds are categorical and cannot be genes,
  and :func:`cimkit.space.spec.build_space` refuses a parameter the base chip does not use, so
  every hardware gene of a loadable space is used by every design.

A masked gene is set to the value the space's baseline genome has there (the standard network:
kernel 3, expansion 6, 8 bits), so a canonical genome is still a valid genome and evaluates to
the same design as the original.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cimkit.errors import SpecError


def _layout(space: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """For the slot families: (depth gene positions (S,), stage of each gene (D,) or -1, position
    of each gene in its stage (D,)); None for a family without block slots.

    Rebuilt per call (a loop over the D gene names, microseconds): a SearchSpace is a mutable
    dataclass, not hashable, so it cannot key a cache.
    """
    if space.family.name != "ofa_mobilenetv2":
        return None
    from cimkit.space.families import MAX_DEPTH, N_STAGES

    names = space.joint.names
    pos = {n: i for i, n in enumerate(names)}
    depth_cols = np.array([pos[f"depth_s{s}"] for s in range(N_STAGES)], dtype=np.int64)
    stage = np.full(len(names), -1, dtype=np.int64)
    slot_pos = np.zeros(len(names), dtype=np.int64)
    for i, name in enumerate(names):
        head, sep, tail = name.rpartition("_b")
        if sep and head and tail.isdigit():  # kernel_b7, expand_b7, dw_w_b7, ...
            j = int(tail)
            stage[i], slot_pos[i] = j // MAX_DEPTH, j % MAX_DEPTH
    return depth_cols, stage, slot_pos


def _check(space: Any, X: np.ndarray) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != space.joint.n_var:
        raise SpecError(f"genomes: need shape (N, {space.joint.n_var}), got {X.shape}")
    if not np.issubdtype(X.dtype, np.integer):
        if not np.array_equal(X, np.rint(X)):
            raise SpecError("genomes: gene indices must be whole numbers")
    X = X.astype(np.int64)
    if (X < 0).any() or (X > space.joint.xu).any():
        raise SpecError("genomes: gene index outside its choices")
    return X


def effective_mask(space: Any, X: np.ndarray) -> np.ndarray:
    """(N, D) bool: True where gene ``d`` of genome ``n`` changes the design.

    Args:
        space: a loaded :class:`~cimkit.space.spec.SearchSpace`.
        X: (N, D) genomes (integer indices into each gene's choices).

    One array expression over the (N, D) genomes for the slot families (no loop over designs);
    other families answer with their ``active_mask``.
    """
    X = _check(space, X)
    layout = _layout(space)
    if layout is None:
        values = space.joint.decode(X)
        return np.asarray(space.family.active_mask(values, space.joint.names), dtype=bool)
    depth_cols, stage, slot_pos = layout
    depth_choices = [np.asarray(space.joint.dims[c].values) for c in depth_cols]
    # (N, S) depth per stage (values, not indices: the choice lists may start anywhere).
    depths = np.stack([ch[X[:, c]] for ch, c in zip(depth_choices, depth_cols, strict=True)], 1)
    in_slot = stage >= 0
    mask = np.ones(X.shape, dtype=bool)
    mask[:, in_slot] = depths[:, stage[in_slot]] > slot_pos[in_slot]
    return mask


def canonical_values(space: Any) -> np.ndarray:
    """(D,) gene index a masked gene is set to: the baseline genome's (standard network)."""
    return space.baseline_genome()


def canonicalize(space: Any, X: np.ndarray) -> np.ndarray:
    """(N, D) int64 copy of ``X`` with every gene that has no effect set to the canonical index.

    Two genomes encode the same design exactly when their canonical forms are equal (for the
    masked genes listed in the module docstring; the tests check it by brute force).
    """
    X = _check(space, X)
    return np.where(effective_mask(space, X), X, canonical_values(space)[None, :])


def distinct_designs(space: Any, X: np.ndarray) -> np.ndarray:
    """Row indices (M,) of the first genome of each distinct design in ``X`` (N, D), in order.

    ``len(distinct_designs(space, X))`` is the number of distinct designs; ``X[result]`` holds
    one genome per design (the first one seen).
    """
    return _first_rows(canonicalize(space, X))


def _first_rows(C: np.ndarray) -> np.ndarray:
    """Row indices (M,) of the first occurrence of each distinct row of ``C`` (N, D), in order."""
    if not len(C):
        return np.zeros(0, dtype=np.int64)
    C = np.ascontiguousarray(C, dtype=np.int64)
    # Row bytes as keys (the archive's own dedup rule), in order of first appearance.
    keys = C.view(np.dtype((np.void, C.dtype.itemsize * C.shape[1])))[:, 0]
    _, first = np.unique(keys, return_index=True)
    return np.sort(first).astype(np.int64)


def n_distinct(space: Any, X: np.ndarray) -> int:
    """Number of distinct designs among the genomes ``X`` (N, D)."""
    return len(distinct_designs(space, X))


def top_k_distinct(data: Any, k: int = 5, space: Any = None) -> np.ndarray:
    """Rows of the ``k`` best *distinct* designs, best first (ties: earliest row first).

    Args:
        data: one of
            * a :class:`~cimkit.search.engine.SearchResult` (its archive and ``scores()``; the
              space is the result's; a result without a space, as the dashboard loads a run
              whose space file is gone, is deduplicated by genome bytes only);
            * a pandas DataFrame with a ``score`` column and one column per gene named as the
              space's genes (gene *values*, as ``SearchResult.frame()`` and designs.csv hold
              them); a ``feasible`` column, when present, drops infeasible rows;
            * a tuple ``(X, scores)``: (N, D) genomes and (N,) scores, lower is better.
        k: how many designs (>= 1).
        space: the search space (needed for a frame or a tuple).

    Returns:
        (<= k,) int64 row positions into ``data`` (archive rows for a result, positional rows
        for a frame). Rows with a non-finite score (infeasible designs score inf) are skipped,
        and of several rows with the same canonical genome only the best is kept.
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise SpecError(f"top_k_distinct: k must be an integer >= 1, got {k!r}")
    if hasattr(data, "archive") and hasattr(data, "scores"):
        space = data.space
        X, scores = data.archive.X, data.scores()
    elif hasattr(data, "columns") and hasattr(data, "iloc"):
        if space is None:
            raise SpecError("top_k_distinct: a frame needs space= (to read its gene columns)")
        missing = [n for n in space.joint.names if n not in data.columns]
        if "score" not in data.columns or missing:
            raise SpecError(
                "top_k_distinct: the frame needs a 'score' column and every gene column "
                f"(missing: {(['score'] if 'score' not in data.columns else []) + missing[:5]})"
            )
        X = np.stack(
            [
                _indices(d.values, data[d.name].to_numpy(dtype=float), d.name)
                for d in space.joint.dims
            ],
            1,
        )
        scores = data["score"].to_numpy(dtype=float)
        if "feasible" in data.columns:
            scores = np.where(data["feasible"].to_numpy(dtype=bool), scores, np.inf)
    else:
        if space is None:
            raise SpecError("top_k_distinct: (X, scores) needs space=")
        X, scores = data
    # A result loaded without its space (the dashboard's runs whose space file is gone) cannot
    # tell unused genes: its rows are deduplicated by genome bytes, as the archive does.
    X = _check(space, X) if space is not None else np.asarray(X, dtype=np.int64)
    scores = np.asarray(scores, dtype=float).reshape(-1)
    if len(scores) != len(X):
        raise SpecError(f"top_k_distinct: {len(X)} genomes but {len(scores)} scores")
    order = np.argsort(np.where(np.isnan(scores), np.inf, scores), kind="stable")
    order = order[np.isfinite(scores[order])]
    # The first row of each design in score order is that design's best row.
    C = canonicalize(space, X[order]) if space is not None else X[order]
    best_rows = order[_first_rows(C)]
    return best_rows[: int(k)].astype(np.int64)


def _indices(choices: tuple[float, ...], values: np.ndarray, name: str) -> np.ndarray:
    """(N,) index of each of ``values`` among a gene's ``choices`` (SpecError naming the gene)."""
    ch = np.asarray(choices, dtype=float)
    idx = np.abs(values[:, None] - ch[None, :]).argmin(axis=1)
    ok = np.isclose(ch[idx], values, rtol=1e-9, atol=0)
    if not ok.all():
        bad = values[~ok][:3].tolist()
        raise SpecError(f"top_k_distinct: column {name}: {bad} are not among {list(choices)}")
    return idx
