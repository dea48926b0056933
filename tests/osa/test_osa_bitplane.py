"""Bit-plane simulator: all-digital = integer matmul, the allocation table, fast = brute force."""

from __future__ import annotations

import pytest
import torch

from cimkit.errors import SpecError
from cimkit.osa.analog import AnalogConfig
from cimkit.osa.bitplane import (
    DCIM,
    BitConfig,
    allocation,
    allocation_counts,
    bit_planes,
    hybrid_matmul,
    int_matmul,
    mac_from_order_sums,
    order_sums,
)

MODES = [(8, 8, True), (4, 4, True), (8, 4, True), (4, 8, True), (8, 8, False), (4, 4, False)]
SHAPES = [(1, 1, 1), (7, 9, 3), (33, 144, 8), (20, 145, 17), (5, 600, 16), (3, 1000, 2)]


def _rand(cfg: BitConfig, n: int, k: int, m: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    a = torch.randint(0, 2**cfg.a_bits, (n, k), generator=g)
    lo, hi = cfg.w_range
    w = torch.randint(lo, hi + 1, (m, k), generator=g)
    # The extremes, where two's complement and the sign plane matter most.
    a[0, 0], w[0, 0] = 2**cfg.a_bits - 1, lo
    if k > 1:
        a[0, 1], w[0, 1] = 2**cfg.a_bits - 1, hi
    return a, w


@pytest.mark.parametrize("a_bits,w_bits,signed", MODES)
@pytest.mark.parametrize("n,k,m", SHAPES)
def test_all_digital_equals_integer_matmul(a_bits, w_bits, signed, n, k, m):
    cfg = BitConfig(a_bits, w_bits, signed)
    a, w = _rand(cfg, n, k, m, seed=n * 1000 + k + m)
    ref = int_matmul(a, w)
    out = hybrid_matmul(a, w, DCIM, cfg)
    assert out.dtype == torch.float64
    assert torch.equal(out.to(torch.int64), ref)
    assert torch.equal(out, ref.to(torch.float64))


def test_all_digital_worst_case_magnitude_is_exact():
    # K * 255 * 128 = 33.4 M > 2^24: the accumulation must not lose bits.
    cfg = BitConfig()
    a = torch.full((2, 1024), 255)
    w = torch.full((3, 1024), -128)
    w[1] = 127
    assert torch.equal(hybrid_matmul(a, w, 0, cfg).to(torch.int64), int_matmul(a, w))
    assert int(int_matmul(a, w)[0, 0]) == -1024 * 255 * 128


def test_integer_dtypes_and_integral_floats_accepted():
    a, w = _rand(BitConfig(), 4, 10, 3, 0)
    ref = int_matmul(a, w)
    assert torch.equal(hybrid_matmul(a.to(torch.uint8), w.to(torch.int8)).long(), ref)
    assert torch.equal(hybrid_matmul(a.float(), w.double()).long(), ref)


@pytest.mark.parametrize("a_bits,w_bits,signed", MODES)
def test_order_sums_rebuild_the_product_and_stay_in_chunk_range(a_bits, w_bits, signed):
    cfg = BitConfig(a_bits, w_bits, signed)
    a, w = _rand(cfg, 6, 300, 5, 1)
    p = order_sums(a, w, cfg)
    assert p.shape == (3, w_bits, a_bits, 6, 5)  # 300 rows -> 3 chunks of 144
    assert int(p.min()) >= 0 and int(p.max()) <= 144
    sign = torch.tensor(cfg.plane_weights())
    k = 2.0 ** torch.arange(a_bits, dtype=torch.float64)
    total = torch.einsum("cijnm,i,j->nm", p.double(), sign, k)
    assert torch.equal(total, int_matmul(a, w).double())


def test_order_sums_brute_force_loop():
    cfg = BitConfig(4, 4)
    a, w = _rand(cfg, 3, 150, 2, 2)
    p = order_sums(a, w, cfg)
    au, wu = a % 16, w % 16  # two's complement bit patterns
    for c in range(2):
        for i in range(4):
            for j in range(4):
                for n in range(3):
                    for m in range(2):
                        rows = range(c * 144, min(150, (c + 1) * 144))
                        want = sum(((int(wu[m, r]) >> i) & 1) * ((int(au[n, r]) >> j) & 1)
                                   for r in rows)  # fmt: skip
                        assert int(p[c, i, j, n, m]) == want


def test_bit_planes_twos_complement():
    planes = bit_planes(torch.tensor([-1, -128, 127, 5]), 8)
    assert planes[:, 0].tolist() == [1] * 8
    assert planes[:, 1].tolist() == [0] * 7 + [1]
    assert planes[:, 2].tolist() == [1] * 7 + [0]
    assert planes[:, 3].tolist() == [1, 0, 1, 0, 0, 0, 0, 0]


# Fig. 5(a): digital, analog, discarded one-bit MACs of one 8b x 8b MAC, and ACIM conversions
# with their DAC bits (weight bit 0 first), as h4h-osa-notes.md B1 tabulates the paper's rules.
PAPER_TABLE = {
    5: (49, 14, 1, 5, (4, 4, 3, 2, 1)),
    6: (43, 18, 3, 6, (4, 4, 4, 3, 2, 1)),
    7: (36, 22, 6, 7, (4, 4, 4, 4, 3, 2, 1)),
    8: (28, 26, 10, 8, (4, 4, 4, 4, 4, 3, 2, 1)),
    9: (21, 28, 15, 8, (3, 4, 4, 4, 4, 4, 3, 2)),
    10: (15, 28, 21, 8, (2, 3, 4, 4, 4, 4, 4, 3)),
    0: (64, 0, 0, 0, ()),  # DCIM
}


@pytest.mark.parametrize("b", sorted(PAPER_TABLE))
def test_allocation_table_exact(b):
    al = allocation(b)
    assert (al.digital, al.analog, al.discarded, al.acim_ops, al.dac_bits) == PAPER_TABLE[b]
    assert al.digital + al.analog + al.discarded == 64


def test_allocation_table_from_the_simulated_decomposition():
    # Count, with the simulator itself, where each one-bit MAC (i, j) goes: one row with
    # a = 2^j and w = 2^i isolates it. Ideal analog keeps digital + analog MACs; an ADC whose
    # full scale is far above any input outputs code 0, so only the digital MACs survive.
    cfg = BitConfig(8, 8, signed_weights=False)
    blind_adc = AnalogConfig(full_scale=1e9)
    for b, (n_dig, n_ana, n_dis, _, _) in PAPER_TABLE.items():
        kept = dig = 0
        for i in range(8):
            for j in range(8):
                a, w = torch.tensor([[2**j]]), torch.tensor([[2**i]])
                kept += int(hybrid_matmul(a, w, b, cfg).item() == 2 ** (i + j))
                dig += int(hybrid_matmul(a, w, b, cfg, blind_adc).item() == 2 ** (i + j))
        assert (dig, kept - dig, 64 - kept) == (n_dig, n_ana, n_dis)


def test_allocation_counts_vectorised_matches_scalar():
    b = torch.tensor([[0, 5, 6], [7, 8, 9], [10, 11, 15]])
    c = allocation_counts(b)
    for idx in [(0, 0), (0, 1), (1, 1), (2, 0), (2, 2)]:
        al = allocation(int(b[idx]))
        assert int(c["digital"][idx]) == al.digital
        assert int(c["analog"][idx]) == al.analog
        assert int(c["discarded"][idx]) == al.discarded
        assert int(c["acim_ops"][idx]) == al.acim_ops


def test_allocation_4bit_mode():
    cfg = BitConfig(4, 4)
    assert (allocation(0, cfg).digital, allocation(0, cfg).analog) == (16, 0)
    al = allocation(4, cfg)  # k >= 4 digital: (1,3)..(3,3) = 6; k 0..3 analog = 10
    assert (al.digital, al.analog, al.discarded, al.acim_ops) == (6, 10, 0, 4)
    al = allocation(6, cfg)  # k = 6 digital (1); k 2..5 analog (12); k 0, 1 discarded (3)
    assert (al.digital, al.analog, al.discarded) == (1, 12, 3)


@pytest.mark.parametrize("a_bits,w_bits,signed", [(8, 8, True), (4, 4, True), (8, 4, False)])
def test_ideal_analog_equals_masked_order_sum(a_bits, w_bits, signed):
    # Independent of both implementations: sum s_i 2^(i+j) P over the orders k >= B - window.
    cfg = BitConfig(a_bits, w_bits, signed)
    a, w = _rand(cfg, 9, 290, 11, 3)
    p = order_sums(a, w, cfg).double().sum(0)  # (w, a, N, M)
    sign = torch.tensor(cfg.plane_weights())
    for b in range(0, cfg.max_order + 2):
        kk = torch.arange(w_bits)[:, None] + torch.arange(a_bits)[None, :]
        keep = (kk >= b - cfg.window).double() * sign[:, None] * 2.0 ** torch.arange(a_bits)
        want = torch.einsum("ijnm,ij->nm", p, keep)
        assert torch.equal(hybrid_matmul(a, w, b, cfg), want), b


def test_hand_values_of_the_analog_shift():
    # w = 2 (bit 1), a = 1 (bit 0): order 1. B = 2: analog (ideal) -> 2; B = 6: discarded.
    a, w = torch.tensor([[1]]), torch.tensor([[2]])
    assert hybrid_matmul(a, w, 2).item() == 2.0
    assert hybrid_matmul(a, w, 5).item() == 2.0
    assert hybrid_matmul(a, w, 6).item() == 0.0
    # w = -1 (all eight bits), a = 3: exact -3; B = 5 drops order 0 only: -3 - (1 * 1) = -4.
    a, w = torch.tensor([[3]]), torch.tensor([[-1]])
    assert hybrid_matmul(a, w, 0).item() == -3.0
    assert hybrid_matmul(a, w, 5).item() == -4.0


@pytest.mark.parametrize("a_bits,w_bits,signed", [(8, 8, True), (4, 4, True), (4, 8, False)])
def test_fast_path_equals_reference_with_adc(a_bits, w_bits, signed):
    cfg = BitConfig(a_bits, w_bits, signed)
    a, w = _rand(cfg, 23, 300, 19, 4)
    g = -(-19 // cfg.hmus)
    b = torch.randint(0, cfg.max_order + 2, (23, g), generator=torch.Generator().manual_seed(5))
    p = order_sums(a, w, cfg)
    fs = {int(x): 20.0 + 3 * int(x) for x in range(0, cfg.max_order + 2)}
    for an in (None, AnalogConfig(full_scale=fs), AnalogConfig(full_scale=9.0, adc_bits=2)):
        assert torch.equal(hybrid_matmul(a, w, b, cfg, an), mac_from_order_sums(p, b, cfg, an))
    # per-row boundary (N,) and scalar
    assert torch.equal(hybrid_matmul(a, w, b[:, 0], cfg), mac_from_order_sums(p, b[:, 0], cfg))


def test_unsigned_weights_error_grows_with_boundary():
    # Unsigned weights: every dropped order removes a non-negative amount, so with ideal
    # analog the result can only fall as B rises (elementwise), and is exact for B <= window.
    cfg = BitConfig(8, 8, signed_weights=False)
    a, w = _rand(cfg, 12, 200, 6, 6)
    prev = int_matmul(a, w).double()
    for b in range(0, 16):
        cur = hybrid_matmul(a, w, b, cfg)
        assert bool(torch.all(cur <= prev))
        if b <= cfg.window:
            assert torch.equal(cur, prev)
        prev = cur


def test_bad_inputs_raise_one_line_spec_errors():
    with pytest.raises(SpecError, match="a_bits=6"):
        BitConfig(a_bits=6)
    with pytest.raises(SpecError, match="chunk"):
        BitConfig(chunk=0)
    cfg = BitConfig()
    with pytest.raises(SpecError, match="activations holds values in \\[-1, "):
        hybrid_matmul(torch.tensor([[-1]]), torch.tensor([[1]]))
    with pytest.raises(SpecError, match="weights holds values"):
        hybrid_matmul(torch.tensor([[1]]), torch.tensor([[200]]), 0, cfg)
    with pytest.raises(SpecError, match="integers"):
        hybrid_matmul(torch.tensor([[0.5]]), torch.tensor([[1]]))
    with pytest.raises(SpecError, match="must be \\(N, K\\) and \\(M, K\\)"):
        hybrid_matmul(torch.ones(2, 3, dtype=torch.int64), torch.ones(2, 4, dtype=torch.int64))
    with pytest.raises(SpecError, match="boundary shape"):
        hybrid_matmul(torch.ones(2, 3, dtype=torch.int64), torch.ones(2, 3, dtype=torch.int64),
                      torch.zeros(2, 5, dtype=torch.int64))  # fmt: skip


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    cfg = BitConfig()
    a, w = _rand(cfg, 64, 576, 32, 7)
    b = torch.randint(5, 11, (64, 4))
    an = AnalogConfig(full_scale=30.0)
    cpu = hybrid_matmul(a, w, b, cfg, an)
    gpu = hybrid_matmul(a.cuda(), w.cuda(), b.cuda(), cfg, an)
    assert torch.equal(gpu.cpu(), cpu)
    assert torch.equal(hybrid_matmul(a.cuda(), w.cuda()).cpu().long(), int_matmul(a, w))


def test_boundary_out_of_range_is_refused():
    a, w = torch.ones(2, 3, dtype=torch.int64), torch.ones(2, 3, dtype=torch.int64)
    with pytest.raises(SpecError, match="boundary holds values in \\[-1, -1\\], outside 0..15"):
        hybrid_matmul(a, w, -1)
    with pytest.raises(SpecError, match="outside 0..7"):
        hybrid_matmul(a, w, torch.tensor([3, 8]), BitConfig(4, 4))
    assert hybrid_matmul(a, w, 15).tolist() == [[0.0, 0.0], [0.0, 0.0]]  # all 1-bit MACs of
    # order < 11 discarded, orders 11..14 analog: a = w = 1 has only order 0 -> 0
