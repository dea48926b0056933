#!/usr/bin/env bash
# Train the shipped 8-bit OSA-HCIM ResNet-20 on Fashion-MNIST and export it to src/cimkit/data/osa/.
#
# Two phases, both resumable (run the script again after an interruption; each phase continues from
# its run folder's checkpoint.pt):
#   1. 3 epochs, batch 128, SGD lr 0.1 (100-step warm-up, cosine), seed 0
#      (3,178 s on a 2-core machine shared with other jobs, one thread, nice 10);
#   2. 1 fine-tuning epoch from phase 1's weights, lr 0.02 (no warm-up, cosine), seed 0 (511 s).
# Phase 2 was kept because it raised the 8-bit validation accuracy (5,000 images) from 90.32 % to
# 90.68 %; the test split was not used for that choice.
# Usage: tools/train_osa_resnet20.sh [RUN_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${1:-runs/osa-resnet20}
PY=${PYTHON:-.venv/bin/python}
CMD1="nice -n 10 $PY -m cimkit.osa.train train --out $RUN --epochs 3 --threads 1"
CMD2="nice -n 10 $PY -m cimkit.osa.train train --out $RUN-ft --epochs 1 --lr 0.02 --warmup-steps 0 --threads 1 --init-from $RUN/checkpoint.pt"
mkdir -p "$RUN" "$RUN-ft"
$CMD1 2>&1 | tee -a "$RUN/train.log"
$CMD2 2>&1 | tee -a "$RUN-ft/train.log"
$PY -m cimkit.osa.train export --run "$RUN-ft" --dest src/cimkit/data/osa --command "$CMD1 && $CMD2"
