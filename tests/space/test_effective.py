"""Effective genes: masked genes change nothing (brute force), canonical genomes, distinct designs.

The "no effect" proof is by brute force over the space's choices: every masked gene of a sample of
random genomes is set to every other value it can take, and the layer arrays (the network), the
cost-model metrics and the shipped predictor's accuracy must be exactly those of the original.
The converse is checked too (every unmasked gene changes something), so an over-eager mask that
hid a real gene would fail as well as one that missed an unused gene.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cimkit.errors import SpecError
from cimkit.search.problem import CimnasProblem
from cimkit.space import load_space
from cimkit.space.effective import (
    canonicalize,
    distinct_designs,
    effective_mask,
    n_distinct,
    top_k_distinct,
)

ROOT = Path(__file__).resolve().parents[2]
OFA = ROOT / "examples" / "spaces" / "cimnas_rram_mobilenetv2.yaml"
RESNET = ROOT / "examples" / "spaces" / "cimnas_sram_resnet50_7nm.yaml"
#: Metrics-matrix columns compared: every metric and constraint (the matrix is all of them).
ALL_COLUMNS = slice(None)


@pytest.fixture(scope="module")
def ofa():
    return load_space(OFA)


@pytest.fixture(scope="module")
def resnet():
    return load_space(RESNET)


def _neighbours(space, x: np.ndarray, genes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every genome that differs from ``x`` in one of ``genes`` (all other values), and the gene."""
    rows, which = [], []
    for g in genes:
        for v in range(space.joint.xu[g] + 1):
            if v != x[g]:
                y = x.copy()
                y[g] = v
                rows.append(y)
                which.append(g)
    return np.array(rows, dtype=np.int64), np.array(which, dtype=np.int64)


def _layers_equal(a, b, i: int, j: int) -> bool:
    """Whether row ``i`` of layer arrays ``a`` and row ``j`` of ``b`` are the same network."""
    pick = lambda arr, r: arr[r if arr.shape[0] > 1 else 0]  # noqa: E731 - (1, L) broadcasts
    if not np.array_equal(pick(a.op, i), pick(b.op, j)):
        return False
    if not np.array_equal(pick(a.mask, i), pick(b.mask, j)):
        return False
    return all(np.array_equal(pick(a.columns[c], i), pick(b.columns[c], j)) for c in a.columns)


def test_mask_is_the_family_rule_and_depth_genes_are_always_effective(ofa) -> None:
    X = ofa.joint.sample(800, np.random.default_rng(3))
    mask = effective_mask(ofa, X)
    ref = ofa.family.active_mask(ofa.joint.decode(X), ofa.joint.names)
    assert np.array_equal(mask, ref)
    names = ofa.joint.names
    hw_or_depth = [i for i, n in enumerate(names) if n.startswith("depth_s") or "_b" not in n]
    assert mask[:, hw_or_depth].all()
    # Hand check: slot 2 of stage 0 (kernel_b2) exists only with depth_s0 >= 3.
    d0 = ofa.joint.decode(X)["depth_s0"]
    assert np.array_equal(mask[:, names.index("kernel_b2")], d0 >= 3)
    assert np.array_equal(mask[:, names.index("pw_a_b3")], d0 >= 4)
    assert mask[:, names.index("dw_w_b1")].all()  # depth >= 2 in this space


def test_masked_genes_change_nothing_and_every_other_gene_changes_something(ofa) -> None:
    """Brute force with the shipped predictor and the real cost model (3 random genomes)."""
    problem = CimnasProblem(ofa)  # the space's own accuracy source: the shipped predictor
    rng = np.random.default_rng(17)
    X = ofa.joint.sample(3, rng)
    X[:, ofa.joint.names.index("depth_s1")] = 0  # depth 2: slots 6, 7 unused in every sample
    base_M = problem.evaluate(X)
    base_la = ofa.family.layer_arrays(ofa.joint.decode(X))
    n_masked = 0
    for n, x in enumerate(X):
        mask = effective_mask(ofa, x[None])[0]
        masked, used = np.flatnonzero(~mask), np.flatnonzero(mask)
        assert len(masked) >= 12  # stage 1 alone leaves 2 slots x 6 genes unused
        Y, _ = _neighbours(ofa, x, masked)
        M = problem.evaluate(Y)
        np.testing.assert_array_equal(M, np.repeat(base_M[n : n + 1], len(Y), axis=0))
        la = ofa.family.layer_arrays(ofa.joint.decode(Y))
        assert all(_layers_equal(la, base_la, i, n) for i in range(len(Y)))
        n_masked += len(Y)
        Z, gene = _neighbours(ofa, x, used)
        MZ = problem.evaluate(Z)
        moved = ~np.all(MZ[:, ALL_COLUMNS] == base_M[n], axis=1)
        changed_genes = set(gene[moved].tolist())
        assert changed_genes == set(used.tolist()), [
            ofa.joint.names[g] for g in sorted(set(used.tolist()) - changed_genes)
        ]
    assert n_masked > 60


def test_resnet50_has_no_masked_gene_and_every_gene_matters(resnet) -> None:
    X = resnet.joint.sample(50, np.random.default_rng(0))
    assert effective_mask(resnet, X).all()
    assert np.array_equal(canonicalize(resnet, X), X)
    problem = CimnasProblem(resnet)
    x = X[0]
    Z, gene = _neighbours(resnet, x, np.arange(resnet.joint.n_var))
    M = problem.evaluate(np.vstack([x[None], Z]))
    moved = ~np.all(M[1:] == M[0], axis=1)
    assert set(gene[moved].tolist()) == set(range(resnet.joint.n_var))


def test_canonical_genomes_are_the_same_designs(ofa) -> None:
    X = ofa.joint.sample(200, np.random.default_rng(5))
    C = canonicalize(ofa, X)
    mask = effective_mask(ofa, X)
    assert np.array_equal(C[mask], X[mask])  # effective genes untouched
    base = ofa.baseline_genome()
    assert np.array_equal(C[~mask], np.broadcast_to(base, X.shape)[~mask])
    assert np.array_equal(canonicalize(ofa, C), C)  # idempotent
    problem = CimnasProblem(ofa)  # shipped predictor: it ignores unused slots, as the cost does
    np.testing.assert_array_equal(problem.evaluate(C), problem.evaluate(X))


def test_distinct_designs_by_hand(ofa) -> None:
    names = ofa.joint.names
    a = ofa.baseline_genome()  # depths 2-3-4-3-3: slot 2 of stage 0 is unused
    same = a.copy()
    same[names.index("kernel_b2")] = 2  # k7 in an unused slot: the same design
    other = a.copy()
    other[names.index("kernel_b1")] = 2  # k7 in a used slot: another design
    X = np.stack([a, same, other, same, a])
    assert distinct_designs(ofa, X).tolist() == [0, 2]
    assert n_distinct(ofa, X) == 2
    # Genome bytes see three different genomes.
    assert len(np.unique(X, axis=0)) == 3
    assert n_distinct(ofa, np.zeros((0, ofa.joint.n_var), dtype=np.int64)) == 0


def test_top_k_distinct_arrays_skip_repeats_and_infeasible(ofa) -> None:
    names = ofa.joint.names
    a = ofa.baseline_genome()
    a2 = a.copy()
    a2[names.index("expand_b2")] = 0  # unused slot: same design as a
    b = a.copy()
    b[names.index("rows")] = 0
    c = a.copy()
    c[names.index("cols")] = 0
    X = np.stack([a, a2, b, c, a])
    scores = np.array([3.0, 1.0, 2.0, np.inf, 0.5])
    # a (rows 0, 1, 4) is one design; its best row is 4; c is infeasible (inf).
    assert top_k_distinct((X, scores), 5, ofa).tolist() == [4, 2]
    assert top_k_distinct((X, scores), 1, ofa).tolist() == [4]
    with pytest.raises(SpecError, match="k must be"):
        top_k_distinct((X, scores), 0, ofa)
    with pytest.raises(SpecError, match="needs space"):
        top_k_distinct((X, scores), 2)
    with pytest.raises(SpecError, match="2 scores"):
        top_k_distinct((X, scores[:2]), 2, ofa)


def test_top_k_distinct_on_a_search_result_and_its_frame(ofa) -> None:
    """A real (small) search with the shipped predictor: the distinct top five are five designs,
    each at its best score, in score order, and no other design scores better."""
    from cimkit.search.engine import Search, SearchConfig

    res = Search(CimnasProblem(ofa), SearchConfig(pop_size=24, n_gen=8, seed=1)).run()
    space = res.space
    rows = top_k_distinct(res, 5)
    assert len(rows) == 5
    C = canonicalize(space, res.archive.X[rows])
    assert len(np.unique(C, axis=0)) == 5
    s = res.scores()
    assert np.all(np.diff(s[rows]) >= 0) and np.isfinite(s[rows]).all()
    # Each chosen row is the best row of its design, and no unchosen design beats the 5th.
    keys = [canonicalize(space, res.archive.X[i : i + 1])[0].tobytes() for i in range(len(s))]
    best_of = {}
    for i, k in enumerate(keys):
        best_of[k] = min(best_of.get(k, np.inf), s[i])
    assert all(s[r] == best_of[keys[r]] for r in rows)
    others = [v for k, v in best_of.items() if k not in {keys[r] for r in rows}]
    assert min(others) >= s[rows[-1]]
    # The frame (gene values, score, feasible) gives the same rows.
    assert top_k_distinct(res.frame(), 5, space).tolist() == rows.tolist()
    # SearchResult.top is that rule, so every top-k table (report, compare, runs show,
    # dashboard) lists distinct designs; best() is its first row.
    assert res.top(5).tolist() == rows.tolist() and res.best() == rows[0]


def test_frame_errors_name_the_missing_column(ofa) -> None:
    import pandas as pd

    with pytest.raises(SpecError, match="missing"):
        top_k_distinct(pd.DataFrame({"score": [1.0]}), 1, ofa)
    with pytest.raises(SpecError, match="needs space"):
        top_k_distinct(pd.DataFrame({"score": [1.0]}), 1)


def test_bad_genomes_are_refused(ofa) -> None:
    with pytest.raises(SpecError, match="shape"):
        effective_mask(ofa, np.zeros((2, 3), dtype=np.int64))
    X = ofa.joint.sample(2, np.random.default_rng(0))
    X[0, 0] = 99
    with pytest.raises(SpecError, match="outside"):
        canonicalize(ofa, X)


def test_a_result_without_its_space_is_deduplicated_by_genome_bytes(ofa) -> None:
    """The dashboard loads runs whose space file is gone with ``space=None``: no mask is
    known, so only byte-identical genomes are one design (unused-slot variants stay apart)."""
    from types import SimpleNamespace

    names = ofa.joint.names
    a = ofa.baseline_genome()
    a2 = a.copy()
    a2[names.index("kernel_b2")] = 2  # same design with a space, another genome without
    X = np.stack([a, a2, a, a2])
    scores = np.array([4.0, 3.0, 1.0, 2.0])
    res = SimpleNamespace(archive=SimpleNamespace(X=X), scores=lambda: scores, space=None)
    assert top_k_distinct(res, 5).tolist() == [2, 3]
    with_space = SimpleNamespace(archive=SimpleNamespace(X=X), scores=lambda: scores, space=ofa)
    assert top_k_distinct(with_space, 5).tolist() == [2]
