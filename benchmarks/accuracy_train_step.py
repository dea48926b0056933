"""Seconds per supernet training step and per subnet measurement (CPU or GPU), by layout.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/accuracy_train_step.py [--steps 3]

Times, on Fashion-MNIST with the shipped geometry (width 1.0, stem stride 2): one sandwich
step (largest + smallest + 2 random subnets, in-place distillation as in training) and one
largest-only step (the baseline) for batch 128 / 256 in NCHW and channels-last layout, then
one subnet measurement (BN recalibration on 1,024 images + the 10k test split). Prints
seconds per step, ms per image and minutes per 55k-image epoch; ratios are against NCHW
batch 128 measured in the same process.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from cimkit.accuracy import data
from cimkit.accuracy.encoding import Genome
from cimkit.accuracy.supernet import SupernetConfig
from cimkit.accuracy.train import (
    _sandwich,
    accuracy,
    augment,
    device,
    new_supernet,
    recalibrate,
    sandwich_loss,
)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=3, help="timed steps per setting (after 1)")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    s = data.load("fashion-mnist")
    dev = device()
    xt, yt = torch.from_numpy(s.x_train), torch.from_numpy(s.y_train)
    ref: dict[str, float] = {}
    for bs, cl in ((128, False), (128, True), (256, True)):
        net = new_supernet(SupernetConfig(width=1.0, stem_stride=2), False, lambda m: None)
        net.to(dev)
        fmt = torch.channels_last if cl else torch.contiguous_format
        net.to(memory_format=fmt)
        opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
        rng = np.random.default_rng(0)
        gen = torch.Generator().manual_seed(0)
        net.train()

        def step(gs: list[Genome], bs: int = bs, fmt=fmt, net=net, opt=opt, rng=rng, gen=gen):
            idx = torch.from_numpy(rng.integers(0, len(yt), bs))
            x = augment(xt[idx], gen).to(dev).contiguous(memory_format=fmt)
            y = yt[idx].to(dev)
            opt.zero_grad()
            teacher = None
            for i, g in enumerate(gs):
                net.set_active(g)
                logits = net(x)
                (sandwich_loss(logits, y, teacher, 0.5, 0.1) / len(gs)).backward()
                if i == 0 and len(gs) > 1:
                    teacher = torch.softmax(logits.detach(), 1)
            opt.step()

        for name, fn in (
            ("sandwich", lambda rng=rng: _sandwich(rng, False)),
            ("largest", lambda: [Genome.largest()]),
        ):
            step(fn())
            t = time.time()
            for _ in range(a.steps):
                step(fn())
            dt = (time.time() - t) / a.steps
            ms = dt / bs * 1000
            ref.setdefault(name, ms)
            print(
                f"{name:8s} batch {bs} {'channels-last' if cl else 'NCHW         '}: "
                f"{dt:.2f} s/step, {ms:.2f} ms/image, {dt * 55000 / bs / 60:.1f} min/epoch, "
                f"x{ref[name] / ms:.2f} vs NCHW batch 128",
                flush=True,
            )
    g = Genome.largest()
    t = time.time()
    recalibrate(net, g, s.x_train[:1024])
    t1 = time.time() - t
    t = time.time()
    accuracy(net, s.x_test, s.y_test)
    print(f"measure largest: recalibrate 1,024 images {t1:.2f} s, 10k test {time.time() - t:.2f} s")


if __name__ == "__main__":
    main()
