"""Issue 15 item 6: the search's per-generation evaluate, faster with identical results.

The optimised path is compared with the plain reference path on random genomes (arrays
equal to the last bit); the search path imports no pandas (checked in a fresh process).
Nothing here measures time (benchmarks/search_wall_time.py does).
"""

from __future__ import annotations

import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
SPACE = ROOT / "examples" / "spaces" / "cimnas_rram_mobilenetv2.yaml"


def test_adc_survey_grid_matches_the_pandas_reader() -> None:
    """The numpy reader of the SAR survey gives pandas' doubles, in pandas' row order."""
    from cimkit.cost.adc_survey import _grid

    text = resources.files("cimkit.data").joinpath("components/adc_survey.csv").open()
    frame = pd.read_csv(text, comment="#").sort_values(["bits", "rate_sps", "node_nm"])
    bits = np.sort(frame["bits"].unique()).astype(np.float64)
    rates = np.sort(frame["rate_sps"].unique()).astype(np.float64)
    nodes = np.sort(frame["node_nm"].unique()).astype(np.float64)
    shape = (len(bits), len(rates), len(nodes))
    ref = (
        bits,
        np.log(rates),
        np.log(nodes),
        np.log(frame["convert_energy_pj"].to_numpy() * 1e-12).reshape(shape),
        np.log(frame["area_um2"].to_numpy()).reshape(shape),
    )
    got = _grid()
    assert len(got) == 5
    for a, b in zip(got, ref, strict=True):
        assert a.dtype == np.float64 and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    assert shape[0] > 1 and shape[1] > 1  # a real grid, not one row


def test_cli_search_without_out_imports_no_pandas(tmp_path) -> None:
    """`cimkit search` with a store and no --out never imports pandas (~0.5 s per process)."""
    probe = (
        "import sys, atexit\n"
        "atexit.register(lambda: print('PANDAS', 'pandas' in sys.modules))\n"
        "from cimkit.cli import main\n"
        f"sys.argv = ['cimkit', 'search', {str(SPACE)!r}, '--pop', '8', '--gen', '2', "
        f"'--quiet', '--store', {str(tmp_path / 's.sqlite')!r}]\n"
        "main()\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert "search:" in out.stdout, out.stderr[-2000:]
    assert "PANDAS False" in out.stdout, out.stdout


# --- the evaluate path: optimised helpers vs the plain reference ------------------------------


def _ref_neighbours(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The cost model's (previous, next) valid slot before the one-sided fast versions."""
    b, n_layers = mask.shape
    idx = np.broadcast_to(np.arange(n_layers), (b, n_layers))
    prev_valid = np.maximum.accumulate(np.where(mask, idx, -1), axis=1)
    prev = np.concatenate([np.full((b, 1), -1), prev_valid[:, :-1]], axis=1)
    rev = np.minimum.accumulate(np.where(mask, idx, n_layers)[:, ::-1], axis=1)[:, ::-1]
    nxt = np.concatenate([rev[:, 1:], np.full((b, 1), n_layers)], axis=1)
    return prev, nxt


def _ref_take(a: np.ndarray, index: np.ndarray, fill: int) -> np.ndarray:
    ok = (index >= 0) & (index < a.shape[1])
    a = np.broadcast_to(a, index.shape)
    return np.where(ok, np.take_along_axis(a, np.clip(index, 0, a.shape[1] - 1), 1), fill)


def _ref_fused(la) -> np.ndarray:
    """model._fused with np.isin (before the op-code lookup tables)."""
    from cimkit.workload.table import OP_CODE

    mask = la.mask
    op = np.broadcast_to(la.op, np.broadcast_shapes(la.op.shape, mask.shape))
    mask = np.broadcast_to(mask, op.shape)
    prev, _ = _ref_neighbours(mask)
    mac_codes = [OP_CODE[o] for o in ("conv", "dwconv", "pwconv", "linear", "matmul")]
    prev_mac = np.isin(_ref_take(op, prev, -1), mac_codes)
    elementwise = np.isin(op, [OP_CODE["act"], OP_CODE["norm"]])
    return elementwise & prev_mac & mask


def _ref_fill_elastic(
    block: np.ndarray, tpl, mask_t: np.ndarray, mid: np.ndarray, kernel: np.ndarray
) -> None:
    """builtin._fill_elastic before it wrote all 20 slots at once: slot by slot.

    Writes the design-dependent entries of every elastic block slot into ``block`` (U, L, N).

    ``mid``/``kernel`` are (20, N) expanded channels and depthwise kernels. Rows of a slot:
    r0 1x1 expansion cin -> mid, r1 its activation (both masked by "expand != 1"), r2 k x k
    depthwise with the slot's stride, r3 its activation, r4 1x1 projection mid -> cout.
    """
    from cimkit.workload.builtin import _COL, OFA_N_BLOCKS

    mul, c = np.multiply, _COL

    def row(col: str, r: int) -> np.ndarray:
        return block[c[col], r]

    for j in range(OFA_N_BLOCKS):
        r0, r1, r2, r3, r4 = (int(r) for r in tpl.rows[j, :5])
        cin, cout = int(tpl.cin[j, 0]), int(tpl.cout[j, 0])
        hin2, hout2 = int(tpl.hin2[j, 0]), int(tpl.hout2[j, 0])
        me = mul(mid[j], mask_t[r0], out=row("out_channels", r0))  # 0 when inactive/expand 1
        mul(me, cin, out=row("weights", r0))
        mul(row("weights", r0), hin2, out=row("macs", r0))
        mul(me, hin2, out=row("out_elems", r0))
        row("in_channels", r1)[:] = me
        row("out_channels", r1)[:] = me
        for col in ("in_elems", "out_elems", "ops"):
            row(col, r1)[:] = row("out_elems", r0)
        m = mul(mid[j], mask_t[r2], out=row("in_channels", r2))  # 0 when inactive
        row("out_channels", r2)[:] = m
        row("groups", r2)[:] = m
        kh = mul(kernel[j], mask_t[r2], out=row("kernel_h", r2))
        w = mul(m, kh, out=row("weights", r2))
        w *= kh
        mul(w, hout2, out=row("macs", r2))
        mul(m, hin2, out=row("in_elems", r2))
        el = mul(m, hout2, out=row("out_elems", r2))
        for col in ("in_channels", "out_channels"):
            row(col, r3)[:] = m
        for col in ("in_elems", "out_elems", "ops"):
            row(col, r3)[:] = el
        row("in_channels", r4)[:] = m
        mul(m, cout, out=row("weights", r4))
        mul(row("weights", r4), hout2, out=row("macs", r4))
        row("in_elems", r4)[:] = el


def use_reference_path(monkeypatch) -> None:
    """Swap every optimised helper of the evaluate path for its plain reference."""
    from cimkit.cost import designs, model
    from cimkit.workload import builtin

    monkeypatch.setattr(builtin, "_fill_elastic", _ref_fill_elastic)
    monkeypatch.setattr(model, "_fused", _ref_fused)
    monkeypatch.setattr(model, "_take", _ref_take)
    monkeypatch.setattr(model, "_previous", lambda m: _ref_neighbours(m)[0])
    monkeypatch.setattr(model, "_next", lambda m: _ref_neighbours(m)[1])
    # The per-field loop of validate_table always runs (the stacked check never short-cuts).
    monkeypatch.setattr(designs, "_ranges_ok", lambda values: False)


def test_neighbours_match_the_reference_on_random_masks() -> None:
    from cimkit.cost.model import _next, _previous

    rng = np.random.default_rng(3)
    for n_layers in (1, 2, 3, 17, 129):
        for b in (1, 4):
            mask = rng.random((b, n_layers)) < 0.6
            mask[0] = False  # a design with no layer at all: -1 / L everywhere
            prev, nxt = _ref_neighbours(mask)
            assert _previous(mask).dtype == prev.dtype
            np.testing.assert_array_equal(_previous(mask), prev)
            np.testing.assert_array_equal(_next(mask), nxt)
            np.testing.assert_array_equal(_previous(np.broadcast_to(mask, mask.shape)), prev)


def test_search_evaluate_equals_the_reference_path(problem, monkeypatch) -> None:
    """150 random genomes (their own subnets, policies and chips), 3 draws: every metric and
    every component's energy equal to the last bit (the same floating-point operations)."""
    from cimkit.cost import DesignTable, evaluate

    space = problem.space
    rng = np.random.default_rng(11)
    draws = [space.joint.sample(150, rng) for _ in range(3)]

    def full(X: np.ndarray):
        values = space.joint.decode(np.asarray(X, dtype=np.int64))
        hw = {k: values[k] for k in space.hardware_names}
        return evaluate(DesignTable.from_arrays(space.base_chip, hw),
                        space.family.layer_arrays(values))  # fmt: skip

    fast = [(problem.evaluate(X), full(X)) for X in draws]
    with monkeypatch.context() as mp:
        use_reference_path(mp)
        ref = [(problem.evaluate(X), full(X)) for X in draws]
    for (m_fast, ev_fast), (m_ref, ev_ref) in zip(fast, ref, strict=True):
        np.testing.assert_array_equal(m_fast, m_ref)
        assert ev_fast.metrics.keys() == ev_ref.metrics.keys()
        for k in ev_ref.metrics:
            np.testing.assert_array_equal(ev_fast.metrics[k], ev_ref.metrics[k], err_msg=k)
        for k in ev_ref.energy_by_component:
            np.testing.assert_array_equal(
                ev_fast.energy_by_component[k], ev_ref.energy_by_component[k], err_msg=k
            )
        np.testing.assert_array_equal(ev_fast.feasible, ev_ref.feasible)
    # The draws exercise what the helpers decide: fused activations and pipelined designs.
    la = space.family.layer_arrays(space.joint.decode(draws[0]))
    assert _ref_fused(la).sum() > 150


def test_stacked_range_check_agrees_with_the_field_loop(space, monkeypatch) -> None:
    """Valid tables pass the stacked check; each field pushed out of its range (or to inf or
    NaN) fails it, and validate_table then raises the loop's own message."""
    from cimkit.cost import designs
    from cimkit.cost.designs import _BOUNDS, _OPTIONAL, DesignTable, _ranges_ok
    from cimkit.errors import SpecError

    rng = np.random.default_rng(5)
    values = space.joint.decode(space.joint.sample(40, rng))
    table = DesignTable.from_arrays(space.base_chip, {k: values[k] for k in space.hardware_names})
    assert _ranges_ok(table.values)
    n_bad = 0
    for name, (_, lo, hi, lo_inc, hi_inc, is_int) in _BOUNDS.items():
        cases = [np.inf, lo - 1.0 if lo_inc else lo, hi + 1.0 if hi_inc else hi]
        cases += [np.nan] if name not in _OPTIONAL else []
        cases += [lo + 0.5] if is_int and hi - lo >= 1 else []
        for bad in cases:
            vals = {k: v.copy() for k, v in table.values.items()}
            vals[name][7] = bad
            broken = DesignTable(vals, table.names)
            assert not _ranges_ok(vals), (name, bad)
            with pytest.raises(SpecError) as fast:
                designs.validate_table(broken)
            with monkeypatch.context() as mp:
                mp.setattr(designs, "_ranges_ok", lambda values: False)
                with pytest.raises(SpecError) as ref:
                    designs.validate_table(broken)
            assert str(fast.value) == str(ref.value)
            n_bad += 1
    assert n_bad > 3 * len(_BOUNDS)


def test_ofa_batch_equals_the_slot_by_slot_fill(monkeypatch) -> None:
    """Every column of the vectorized OFA batch equals the slot-by-slot reference, including
    expand-1 blocks, depth-1 stages, per-layer bit widths and another resolution."""
    from cimkit.workload import builtin

    rng = np.random.default_rng(2)
    n = 64
    depths = rng.integers(1, 5, size=(n, 5))
    kernels = rng.choice([3, 5, 7], size=(n, 20))
    expands = rng.choice([1, 3, 4, 6], size=(n, 20))
    cases = [dict(), dict(resolution=160, weight_bits=rng.integers(2, 9, size=(n, 129)))]
    for kw in cases:
        fast = builtin.mobilenetv2_ofa_batch(depths, kernels, expands, **kw)
        with monkeypatch.context() as mp:
            mp.setattr(builtin, "_fill_elastic", _ref_fill_elastic)
            ref = builtin.mobilenetv2_ofa_batch(depths, kernels, expands, **kw)
        np.testing.assert_array_equal(fast.mask, ref.mask)
        np.testing.assert_array_equal(fast.op, ref.op)
        assert fast.columns.keys() == ref.columns.keys()
        for k in ref.columns:
            assert fast.columns[k].dtype == ref.columns[k].dtype, k
            np.testing.assert_array_equal(fast.columns[k], ref.columns[k], err_msg=k)
        assert (expands == 1).any() and (depths == 1).any()
