#!/usr/bin/env bash
# Train the shipped 8-bit OSA-HCIM ResNet-20 on Fashion-MNIST and export it to src/cimkit/data/osa/.
#
# Resumable: run it again after an interruption and it continues from runs/osa-resnet20/checkpoint.pt.
# Recipe of the shipped model: 3 epochs, batch 128, SGD lr 0.1, seed 0, one CPU thread, nice 10
# (about 25 minutes on one free core, about an hour on the shared 2-core machine).
# Usage: tools/train_osa_resnet20.sh [RUN_DIR] [EPOCHS]
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${1:-runs/osa-resnet20}
EPOCHS=${2:-3}
PY=${PYTHON:-.venv/bin/python}
CMD="nice -n 10 $PY -m cimkit.osa.train train --out $RUN --epochs $EPOCHS --threads 1"
mkdir -p "$RUN"
$CMD 2>&1 | tee -a "$RUN/train.log"
$PY -m cimkit.osa.train export --run "$RUN" --dest src/cimkit/data/osa --command "$CMD"
