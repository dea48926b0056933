#!/usr/bin/env bash
# The H4H-NAS Table 2 training matrix (docs/h4h-network.md): per seed, cnn_only (TPI phase 1),
# its two phase-2 runs, and vanilla. Every run resumes where it stopped, so this script can be
# killed and rerun; finished runs are skipped (their result.json exists).
# Usage: bash tools/h4h_train_all.sh [OUT=runs/h4h] [SEEDS="0 1"]
set -euo pipefail
OUT=${OUT:-runs/h4h}
SEEDS=${SEEDS:-"0 1"}
CIMKIT=${CIMKIT:-.venv/bin/cimkit}
for seed in $SEEDS; do
  for recipe in cnn_only tpi_freeze tpi_unfreeze vanilla; do
    if [ -f "$OUT/$recipe-s$seed/result.json" ]; then
      echo "skip $recipe seed $seed (done)"
      continue
    fi
    "$CIMKIT" train h4h --recipe "$recipe" --seed "$seed" --out "$OUT" --quiet
    echo "done $recipe seed $seed"
  done
done
