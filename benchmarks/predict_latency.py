"""Latency of the shipped accuracy predictors: microseconds per genome, batched.

    .venv/bin/python benchmarks/predict_latency.py [--n 10000] [--repeats 5] [--threads 0]

Scores N uniformly random genomes of the CIMNAS space (FP and quantized) and prints the best
of ``repeats`` runs as us/genome for: genome arrays -> accuracy (``predict_genomes``, what
``predict_accuracy`` and a search use), the MLP on given one-hot features (``predict``), and
one-hot encoding + ``predict``. Goal: <= 20 us/genome. Times depend on the load of the machine.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args()

    from cimkit.accuracy import encoding as enc
    from cimkit.accuracy.predictor import load_predictor

    t = time.perf_counter()
    preds = {k: load_predictor(k) for k in ("fp", "q")}
    print(f"load both predictors: {(time.perf_counter() - t) * 1e3:.0f} ms (once per process)")
    rng = np.random.default_rng(0)
    for kind, quantized in (("fp", False), ("q", True)):
        d, k, e, b = enc.random_arrays(a.n, rng, quantized)
        x = enc.encode(d, k, e, b)
        runs: dict[str, list[float]] = {"features": [], "genomes": [], "encode": []}
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            preds[kind].predict(x)
            t1 = time.perf_counter()
            preds[kind].predict_genomes(d, k, e, b)
            t2 = time.perf_counter()
            preds[kind].predict(enc.encode(d, k, e, b))
            t3 = time.perf_counter()
            runs["features"].append(t1 - t0)
            runs["genomes"].append(t2 - t1)
            runs["encode"].append(t3 - t2)
        us = {name: min(v) / a.n * 1e6 for name, v in runs.items()}
        print(
            f"{kind:>2} predictor, {a.n} genomes ({x.shape[1]} features): "
            f"genome arrays -> accuracy {us['genomes']:.2f} us/genome "
            f"({'meets' if us['genomes'] <= 20 else 'misses'} the 20 us goal); "
            f"MLP on given one-hot features {us['features']:.2f}; "
            f"one-hot encode + MLP {us['encode']:.2f}"
        )


if __name__ == "__main__":
    main()
