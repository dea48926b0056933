"""Speed of the OSA-HCIM bit-plane simulator on ResNet-20-sized convs, as a ratio to int8 matmul.

Usage: .venv/bin/python benchmarks/osa_simulator.py [--batch 4] [--repeat 3] [--threads 2]

For each distinct conv of a CIFAR-style ResNet-20 (32x32 input: 3->16 at 32x32, 16->16 at
32x32, 32->32 at 16x16, 64->64 at 8x8; 3x3, padding 1) it builds the integer im2col rows of
``--batch`` random 8-bit post-ReLU-like activations and random 8-bit weights and times, best of
``--repeat``, in the same process:

* ``int8``: the integer matmul the macro replaces, ``A @ W.T`` on the integers as one exact
  float32 GEMM (torch has no int8 GEMM on CPU; float32 is exact for these sums and is the
  fastest exact integer product torch offers there);
* ``dcim``: ``hybrid_matmul`` at B = 0 (all digital; every weight plane is then all-digital,
  so the simulator merges them by linearity into one matmul: close to ``int8`` by design);
* ``fixed``: B = 8 with the 3-bit ADC (HCIM without OSA);
* ``osa``: the OSE saliency, B chosen per pixel from {6, 8, 10}, then the hybrid MAC;
* ``fixed_ref`` / ``osa_ref``: the same through ``hybrid_matmul_reference`` (one weight bit at a
  time), the path the fast one replaced; the two are checked equal bit for bit first, and the
  ratio ``fixed_ref / fixed`` is the speed-up of the fast path.

It prints one-bit MACs per second (64 per 8b x 8b MAC) and the time ratio to ``int8``, per layer
and for the whole network (each layer weighted by how often ResNet-20 has it). Figures depend on
the machine and its load: compare ratios from one run, not absolute times across runs.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from cimkit.osa.analog import AnalogConfig
from cimkit.osa.bitplane import BitConfig, hybrid_matmul, hybrid_matmul_reference
from cimkit.osa.ose import OSEConfig, saliency, select_boundary

# (name, C_in, C_out, H=W, count in ResNet-20)
LAYERS = [
    ("conv1 3->16 @32", 3, 16, 32, 1),
    ("stage1 16->16 @32", 16, 16, 32, 6),
    ("stage2 32->32 @16", 32, 32, 16, 5),
    ("stage3 64->64 @8", 64, 64, 8, 5),
]


def best_of(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def rows_for(cin: int, hw: int, batch: int, gen: torch.Generator) -> torch.Tensor:
    """(batch x hw x hw, cin x 9) integer rows of sparse 8-bit activations (half zeros)."""
    x = torch.randint(0, 256, (batch, cin, hw, hw), generator=gen).float()
    x = x * (torch.rand(x.shape, generator=gen) < 0.5) * torch.rand(x.shape, generator=gen)
    cols = torch.nn.functional.unfold(torch.floor(x), 3, padding=1)
    return cols.transpose(1, 2).reshape(-1, cin * 9).to(torch.int64)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    cfg = BitConfig()
    analog = AnalogConfig(full_scale={b: 30.0 for b in (6, 8, 10)})
    ose = OSEConfig(norm=30.0)
    totals = dict.fromkeys(("int8", "dcim", "fixed", "osa", "fixed_ref", "osa_ref"), 0.0)
    one_bit_total = 0
    print(f"batch {args.batch}, {args.threads} torch threads, best of {args.repeat}")
    print(
        f"{'layer':20s} {'MACs':>10s} {'mode':6s} {'time ms':>9s} {'1b-MAC/s':>10s} {'x int8':>7s}"
    )
    for name, cin, cout, hw, count in LAYERS:
        a = rows_for(cin, hw, args.batch, gen)
        w = torch.randint(-128, 128, (cout, cin * 9), generator=gen)
        af, wf = a.float(), w.float().T.contiguous()

        def osa(a=a, w=w, mm=hybrid_matmul) -> torch.Tensor:
            s = saliency(a, w, cfg, ose)
            b = select_boundary(s, [6, 8, 10], [float(s.median()) * 1.5, float(s.median())])
            return mm(a, w, b, cfg, analog, check=False)

        fns = {
            "int8": lambda af=af, wf=wf: af @ wf,
            "dcim": lambda a=a, w=w: hybrid_matmul(a, w, 0, cfg, check=False),
            "fixed": lambda a=a, w=w: hybrid_matmul(a, w, 8, cfg, analog, check=False),
            "osa": osa,
            "fixed_ref": lambda a=a, w=w: hybrid_matmul_reference(
                a, w, 8, cfg, analog, check=False
            ),
            "osa_ref": lambda a=a, w=w: osa(a, w, hybrid_matmul_reference),
        }
        assert torch.equal((af @ wf).double(), fns["dcim"]())  # the baseline is exact
        assert torch.equal(fns["fixed"](), fns["fixed_ref"]())  # the fast path is exact
        assert torch.equal(fns["osa"](), fns["osa_ref"]())
        macs = a.shape[0] * a.shape[1] * cout
        one_bit_total += 64 * macs * count
        t = {k: best_of(f, args.repeat) for k, f in fns.items()}
        for k, tk in t.items():
            totals[k] += tk * count
            print(
                f"{name:20s} {macs:10,d} {k:6s} {tk * 1e3:9.2f} {64 * macs / tk:10.3g} "
                f"{tk / t['int8']:7.1f}"
            )
    print("ResNet-20 (all 17 3x3 convs, each layer x its count):")
    for k, tk in totals.items():
        print(
            f"  {k:6s} {tk * 1e3:9.1f} ms  {one_bit_total / tk:10.3g} one-bit MACs/s  "
            f"{tk / totals['int8']:7.1f} x int8"
        )
    print(
        "fast path speed-up over the reference: "
        f"fixed {totals['fixed_ref'] / totals['fixed']:.2f}x, "
        f"osa {totals['osa_ref'] / totals['osa']:.2f}x"
    )


if __name__ == "__main__":
    main()
