#!/usr/bin/env bash
# The H4H-NAS Table 2 training matrix (docs/h4h-network.md): per seed, cnn_only (TPI phase 1),
# its two phase-2 runs, and vanilla. Every run resumes where it stopped, so this script can be
# killed and rerun; finished runs are skipped (their result.json exists).
# KEEP (default checkpoints/h4h, committed to git) receives a compact checkpoint while a run
# trains and the final weights and result when it ends, so a later session resumes from git.
# Usage: [OUT=runs/h4h] [KEEP=checkpoints/h4h] [SEEDS="0 1"] bash tools/h4h_train_all.sh
set -euo pipefail
OUT=${OUT:-runs/h4h}
SEEDS=${SEEDS:-"0 1"}
KEEP=${KEEP:-checkpoints/h4h}
CIMKIT=${CIMKIT:-.venv/bin/cimkit}
for seed in $SEEDS; do
  for recipe in cnn_only tpi_freeze tpi_unfreeze vanilla; do
    if [ -f "$OUT/$recipe-s$seed/result.json" ] || [ -f "$KEEP/$recipe-s$seed/result.json" ]; then
      echo "skip $recipe seed $seed (done)"
      continue
    fi
    "$CIMKIT" train h4h --recipe "$recipe" --seed "$seed" --out "$OUT" --keep "$KEEP" --quiet
    echo "done $recipe seed $seed"
  done
done
