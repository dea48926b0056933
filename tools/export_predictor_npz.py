"""Write ``predictor_{fp,q}.npz`` beside the shipped ``predictor_{fp,q}.pt`` (no retraining).

Usage: .venv/bin/python tools/export_predictor_npz.py [--dir src/cimkit/data/accuracy]

The .pt files are read with ``torch.load(weights_only=True)`` and their float32 arrays written
unchanged with :meth:`cimkit.accuracy.predictor.AccuracyPredictor.save_npz`, so loading the
predictor (the search does, in every process and pool worker) needs numpy only. The script
checks that both files give the same predictions and records the .npz sizes in manifest.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from cimkit.accuracy import encoding as enc
from cimkit.accuracy.predictor import DATA_DIR, NPZ_FILES, PREDICTOR_FILES, load_predictor


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, default=DATA_DIR)
    args = ap.parse_args()
    manifest_path = args.dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    for kind, pt in PREDICTOR_FILES.items():
        pred = load_predictor(kind, args.dir / pt)
        npz = args.dir / NPZ_FILES[kind]
        pred.save_npz(npz)
        back = load_predictor(kind, npz)
        d, k, e, b = enc.random_arrays(512, np.random.default_rng(0), kind == "q")
        x = enc.encode(d, k, e, b)
        if not np.array_equal(pred.predict(x), back.predict(x)):
            raise SystemExit(f"{npz}: predictions differ from {pt}")
        manifest.setdefault("files", {})[npz.name] = {"bytes": npz.stat().st_size}
        print(f"wrote {npz} ({npz.stat().st_size:,} bytes), identical predictions")
    if manifest:
        manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
