"""The shipped ResNet-20 through the OSA-HCIM simulator: fast path vs reference vs the QAT model.

Usage: .venv/bin/python benchmarks/osa_network.py [--images 8] [--repeat 4] [--threads 1]
    [--boundary 8]

Times, best of ``--repeat`` and interleaved in one process (so machine load hits all three
alike), one forward of ``--images`` Fashion-MNIST test images through

* ``qat``: the 8-bit QAT model itself (float32 convs on fake-quantized operands: what the
  simulator replaces);
* ``fast``: ``to_hcim`` layers at fixed B = ``--boundary`` with a 3-bit ADC, through
  ``cimkit.osa.bitplane.hybrid_matmul``;
* ``ref``: the same through ``hybrid_matmul_reference`` (the previous path).

It checks that ``fast`` and ``ref`` give identical logits and prints each time and the ratios.
Compare ratios from one run, not absolute times across runs.
"""

from __future__ import annotations

import argparse
import time

import torch

import cimkit.osa.bitplane as bitplane
import cimkit.osa.layers as layers_mod
from cimkit.accuracy.data import load
from cimkit.osa.analog import AnalogConfig
from cimkit.osa.resnet import to_hcim
from cimkit.osa.train import load_shipped


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--boundary", type=int, default=8)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sp = load("fashion-mnist")
    x = torch.from_numpy(sp.x_test[: args.images])
    net = load_shipped()
    sim, named = to_hcim(net)
    fs = {b: 30.0 for b in range(1, 16)}  # a fixed ADC range: speed does not depend on it
    for _, lay in named:
        lay.set_mode("fixed", boundary=args.boundary)
        lay.analog = AnalogConfig(full_scale=fs)
    paths = {"fast": bitplane.hybrid_matmul, "ref": bitplane.hybrid_matmul_reference}
    best = dict.fromkeys(("qat", "fast", "ref"), float("inf"))
    logits: dict[str, torch.Tensor] = {}
    try:
        for _ in range(args.repeat):
            for name, fn in paths.items():
                layers_mod.hybrid_matmul = fn  # the layers call the module-level name
                t0 = time.perf_counter()
                logits[name] = sim(x)
                best[name] = min(best[name], time.perf_counter() - t0)
            t0 = time.perf_counter()
            with torch.no_grad():
                net(x)
            best["qat"] = min(best["qat"], time.perf_counter() - t0)
    finally:
        layers_mod.hybrid_matmul = bitplane.hybrid_matmul
    assert torch.equal(logits["fast"], logits["ref"]), "fast and reference paths differ"
    print(f"{args.images} images, B = {args.boundary}, {args.threads} thread(s), best of "
          f"{args.repeat}; fast == reference logits: yes")  # fmt: skip
    for name, t in best.items():
        print(f"  {name:5s} {t * 1e3:9.1f} ms  {t / best['qat']:6.1f} x qat")
    print(f"  fast path speed-up over the reference: {best['ref'] / best['fast']:.2f}x")


if __name__ == "__main__":
    main()
