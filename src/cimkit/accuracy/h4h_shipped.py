"""The shipped H4H-NAS artifacts: the trained search supernet, its measured subnets and the
accuracy predictor fitted on them, with a manifest (package data ``cimkit/data/h4h/``).

Written by ``cimkit h4h-report --ship DIR`` from a finished report (docs/h4h-network.md);
read by :func:`load_supernet` / :func:`load_predictor` and by ``cimkit h4h-report --shipped``
(which searches the shipped supernet instead of a run under ``--runs``; its measured subnets
seed the report's cache, so a fresh install searches without training or measuring).

Files: ``supernet_<recipe>.pt`` (weights, float16, with the proxy config), ``predictor.npz``
(what :class:`~cimkit.accuracy.predictor.AccuracyPredictor` loads, torch-free),
``measure.jsonl.gz`` (the predictor's training records: validation accuracy per subnet) and
``manifest.json`` (data, command, commit, hardware, training steps / wall time, min / max
test accuracy, the predictor's held-out metrics, and each file's bytes and SHA-256).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from cimkit.errors import CimkitError

#: Where the package's shipped artifacts live.
SHIP_DIR = Path(__file__).resolve().parents[1] / "data" / "h4h" / "shipped"
MANIFEST = "manifest.json"
PREDICTOR = "predictor.npz"
MEASURE = "measure.jsonl.gz"


def supernet_name(recipe: str) -> str:
    return f"supernet_{recipe}.pt"


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def manifest(ship_dir: Path | None = None) -> dict:
    """The manifest of the shipped artifacts (``CimkitError`` when none are shipped)."""
    m = Path(ship_dir or SHIP_DIR) / MANIFEST
    if not m.is_file():
        raise CimkitError(
            f"{m} missing: no H4H-NAS artifacts are shipped here; train them "
            "(tools/h4h_train_all.sh) and write them with `cimkit h4h-report --ship DIR`"
        )
    return json.loads(m.read_text())


def verify(ship_dir: Path | None = None) -> list[str]:
    """Files whose bytes or SHA-256 differ from the manifest (empty when all match)."""
    d = Path(ship_dir or SHIP_DIR)
    bad = []
    for name, meta in manifest(d)["files"].items():
        f = d / name
        if not f.is_file() or f.stat().st_size != meta["bytes"] or sha256(f) != meta["sha256"]:
            bad.append(name)
    return bad


def load_supernet(ship_dir: Path | None = None) -> Any:
    """The shipped search supernet (an :class:`~cimkit.accuracy.h4h_supernet.H4HSupernet`)."""
    from cimkit.accuracy import h4h_train

    d = Path(ship_dir or SHIP_DIR)
    return h4h_train.load_weights(d / supernet_name(manifest(d)["recipe"]))


def load_predictor(ship_dir: Path | None = None) -> Any:
    """The shipped accuracy predictor (features: :func:`cimkit.accuracy.h4h_space.encode`)."""
    from cimkit.accuracy.predictor import AccuracyPredictor

    d = Path(ship_dir or SHIP_DIR)
    manifest(d)
    return AccuracyPredictor.from_npz(d / PREDICTOR)


def records(ship_dir: Path | None = None) -> list[dict]:
    """The shipped measured subnets (``key``, ``genome``, ``acc``: validation accuracy)."""
    d = Path(ship_dir or SHIP_DIR)
    manifest(d)
    with gzip.open(d / MEASURE, "rt") as f:
        return [json.loads(line) for line in f if line.strip()]


def _phase1(run: Path, recipe: str, seed: int) -> dict | None:
    from cimkit.accuracy import h4h_train

    if recipe not in h4h_train.PHASE2:
        return None
    f = h4h_train.run_dir(run.parent, "cnn_only", seed) / "result.json"
    if not f.is_file():
        return {"recipe": "cnn_only", "result": "missing"}
    r = json.loads(f.read_text())
    return {
        "recipe": "cnn_only",
        **{k: r.get(k) for k in ("steps", "wall_s", "min_net", "max_net")},
    }


def ship(run: Path, report: Path, dest: Path, recipe: str, seed: int, command: str) -> dict:
    """Copy the supernet of ``run`` (a finished ``cimkit train h4h`` run folder) and the
    predictor and measurements of ``report`` (a finished ``cimkit h4h-report`` folder) into
    ``dest`` and write the manifest. Returns the manifest."""
    from cimkit.accuracy.h4h_predictor import read_records
    from cimkit.accuracy.pipeline import _git_commit, ship_copy
    from cimkit.accuracy.train import hardware

    result_f = Path(run) / "result.json"
    for f in (Path(run) / "final.pt", result_f, report / "predictor.npz", report / "measure.jsonl",
              report / "predictor.json"):  # fmt: skip
        if not f.is_file():
            raise CimkitError(f"--ship: {f} missing (finish the training run and the report)")
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(Path(run) / "final.pt", dest / supernet_name(recipe))
    shutil.copy2(report / "predictor.npz", dest / PREDICTOR)
    ship_copy(report / "measure.jsonl", dest)  # gzipped, no time stamp: same records, same bytes
    result = json.loads(result_f.read_text())
    pred = json.loads((report / "predictor.json").read_text())
    n_rec = len(read_records(report / "measure.jsonl"))
    files = [supernet_name(recipe), PREDICTOR, MEASURE]
    m = {
        "what": "H4H-NAS search supernet (proxy: Fashion-MNIST, widths x 0.5, resolution / 8), "
        "its measured subnets and the accuracy predictor fitted on them",
        "data": "Fashion-MNIST (Debian dataset-fashion-mnist): 55k train / 5k val (seeded split "
        "of the official 60k) / official 10k test",
        "recipe": recipe,
        "seed": seed,
        "command": command,
        "commit": _git_commit(),
        "python": sys.version.split()[0],
        "hardware": result.get("hardware", hardware()),
        "training": {k: result.get(k) for k in ("steps", "wall_s", "data")},
        # a phase-2 recipe continues the cnn_only run of the same seed (TPI phase 1)
        "phase1": _phase1(Path(run), recipe, seed),
        "test_accuracy": {"min_net": result.get("min_net"), "max_net": result.get("max_net")},
        "predictor": {
            "model": pred.get("model"),
            "heldout": pred.get("heldout"),
            "n_train": pred.get("n_train"),
            "measured_subnets": n_rec,
            "acc_range": pred.get("acc_range"),
        },  # fmt: skip
        "files": {
            f: {"bytes": (dest / f).stat().st_size, "sha256": sha256(dest / f)} for f in files
        },  # fmt: skip
    }
    (dest / MANIFEST).write_text(json.dumps(m, indent=2) + "\n")
    return m
