"""Found designs re-measured: accuracy of a search's best designs on the supernet, cached.

The search scores every genome with the accuracy *predictor*; the predictor is fitted on a few
hundred measured subnets and is optimistic on the designs a search picks (issue 17). This module
measures what the report claims: for the top-k distinct designs of a run (and baseline 1) it

1. maps the search genome to the supernet's :class:`~cimkit.accuracy.encoding.Genome` (network
   and per-block quantization policy; genes of unused block slots canonicalised, so two genomes
   of one design are one measurement),
2. selects that subnet and policy on the shipped quantization-aware supernet
   (``src/cimkit/data/accuracy/supernet_q.pt``), re-estimates its BatchNorm statistics and
   activation clips on a fixed calibration split (the first ``n_calib`` images of the seeded
   training split, no augmentation), and
3. measures top-1 accuracy on the official Fashion-MNIST test split (all 10,000 images by
   default), in inference mode, batches of 500, on ``threads`` CPU threads (1 by default: the
   same number on every machine, and no slower on a loaded 2-core machine).

Optionally (``finetune_steps > 0``) the design is first fine-tuned alone from the supernet's
weights with its quantization policy (quantization-aware, straight-through; AdamW, the
supernet QAT phase's learning rate), as the paper fine-tunes its final designs, and measured
the same way: a separate number.

Results are cached in a JSON-lines file (by default beside the run store:
``runs/cimkit.sqlite`` -> ``runs/cimkit.remeasure.jsonl``), keyed by the SHA-256 of the
supernet file, the measurement settings and the canonical genome, so a second report of the
same run costs nothing and a retrained supernet is never confused with the old one. torch,
the data and the supernet are loaded only on a cache miss.

Only spaces whose accuracy comes from a shipped predictor with a supernet can be re-measured
(the supernet is that predictor's ground truth): ``ofa_mobilenetv2`` and, once
``tools/train_accuracy.sh --family resnet50`` has shipped one, ``resnet50`` (its elastic ResNet,
:mod:`cimkit.accuracy.resnet_supernet`, in ``src/cimkit/data/accuracy/resnet50/``); others
raise :class:`RemeasureUnavailable`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cimkit.errors import CimkitError, SpecError

#: Designs re-measured per method by default (``cimkit report`` / ``cimkit compare``).
DEFAULT_K = 5
#: Most designs per method one report may re-measure (each costs ~10-35 s on one core).
MAX_K = 50
#: Most fine-tuning steps (one step = one batch of 128 training images; ~1 s on one core).
MAX_FINETUNE_STEPS = 100_000
#: The paper's Table III: CIMNAS's accuracy change vs baseline 1 (pp, ImageNet, fine-tuned),
#: per objective (EDAP: "a 0.81% gain", delay: "+0.71%", E x A: "only a 1.5% reduction").
PAPER_ACC_CHANGE_PP: dict[str, float] = {"edap": 0.81, "delay": 0.71, "ea": -1.5}

Log = Callable[[str], None]


class RemeasureUnavailable(CimkitError):
    """The space's accuracy has no supernet to measure on (not the shipped predictor)."""


@dataclass(frozen=True)
class MeasureSettings:
    """How a design is measured (part of every cache key).

    Attributes:
        dataset: data set of :func:`cimkit.accuracy.data.load` ('fashion-mnist' for every
            reported number; 'synthetic' only in tests).
        n_calib: calibration images: the first ``n_calib`` of the seeded training split.
        n_test: test images (the first ``n_test`` of the official test split); 0 = all.
        seed: seed of the train/validation split (the supernet's: 0).
        threads: torch CPU threads while measuring (results can differ in the last image
            between thread counts: float summation order).
        finetune_lr: peak learning rate of the optional fine-tune (cosine, 2-step warm-up).
        finetune_batch: images per fine-tuning step.
    """

    dataset: str = "fashion-mnist"
    n_calib: int = 2048
    n_test: int = 0
    seed: int = 0
    threads: int = 1
    finetune_lr: float = 5e-4
    finetune_batch: int = 128

    def key(self, finetune_steps: int = 0) -> str:
        """Settings part of a cache key (fine-tune settings only when fine-tuning)."""
        k = (
            f"{self.dataset}/seed{self.seed}/calib{self.n_calib}/"
            f"test{self.n_test or 'all'}/threads{self.threads}"
        )
        if finetune_steps:
            k += f"/ft{finetune_steps}x{self.finetune_batch}@{self.finetune_lr:g}"
        return k

    def describe(self) -> str:
        test = "all 10,000" if not self.n_test else f"the first {self.n_test:,}"
        return (
            f"{self.dataset}: BN statistics and activation clips recalibrated on the first "
            f"{self.n_calib:,} training images, top-1 on {test} test images, "
            f"{self.threads} CPU thread{'s' if self.threads > 1 else ''}"
        )


#: Families with a supernet to re-measure on (the ground truth of their shipped predictor).
SUPERNET_FAMILIES: tuple[str, ...] = ("ofa_mobilenetv2", "resnet50")


def default_supernet(family: str = "ofa_mobilenetv2") -> Path:
    """The shipped quantization-aware supernet of ``family`` (``src/cimkit/data/accuracy``,
    resnet50: its ``resnet50/`` folder)."""
    if family == "resnet50":
        from cimkit.accuracy import resnet_pipeline

        return resnet_pipeline.SHIP_DIR / "supernet_q.pt"
    from cimkit.accuracy.predictor import DATA_DIR

    return DATA_DIR / "supernet_q.pt"


def cache_path_for(store: Path | str) -> Path:
    """The cache beside a run store: ``runs/cimkit.sqlite`` -> ``runs/cimkit.remeasure.jsonl``."""
    p = Path(store)
    return p.with_name(p.stem + ".remeasure.jsonl")


_HASHES: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of ``path`` (memoised per path, size and mtime: a replaced file re-hashes)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _HASHES[key] = h.hexdigest()
    return _HASHES[key]


# --------------------------------------------------------------------------- genomes
def check_space(space: Any) -> None:
    """Raise :class:`RemeasureUnavailable` unless ``space`` uses the shipped MobileNetV2
    predictor (whose ground truth the supernet is)."""
    fam = getattr(space.family, "name", "?")
    src = space.spec.accuracy.source
    if fam not in SUPERNET_FAMILIES or src != "predictor":
        what = f"accuracy source {src!r}" if src != "predictor" else f"family {fam}"
        raise RemeasureUnavailable(
            f"{Path(str(space.source)).name}: {what} has no supernet to re-measure on (only "
            "ofa_mobilenetv2 / resnet50 spaces with accuracy.source: predictor); use "
            "--remeasure 0"
        )


def genomes_of(space: Any, X: np.ndarray) -> list[Any]:
    """Supernet genomes (network + policy) of search genomes ``X`` (N, D) gene indices.

    Genes of block slots a design does not use are set to kernel 3, expansion 6, 8 bits, so
    every genome of one design maps to the same :class:`~cimkit.accuracy.encoding.Genome`
    (the supernet never runs those slots: the same measurement).
    """
    from cimkit.accuracy.encoding import Genome, active_slots

    check_space(space)
    X = np.asarray(X, dtype=np.int64).reshape(-1, space.joint.n_var)
    values = space.joint.decode(X)
    if space.family.name == "resnet50":  # every gene is active: no canonicalisation
        from cimkit.accuracy.resnet_space import genome_from_values

        return [genome_from_values(values, i) for i in range(len(X))]
    d, k, e, b = (np.asarray(a, dtype=np.int64) for a in space.family.predictor_inputs(values))
    act = active_slots(d)
    k = np.where(act, k, 3)
    e = np.where(act, e, 6)
    b = np.where(act[:, :, None], b, 8)
    return [
        Genome(
            tuple(int(v) for v in d[i]),
            tuple(int(v) for v in k[i]),
            tuple(int(v) for v in e[i]),
            tuple(tuple(int(v) for v in r) for r in b[i]),
        )
        for i in range(len(d))
    ]


def genome_key(genome: Any) -> str:
    """Compact canonical text of a genome (the design part of a cache key)."""
    return json.dumps(genome.to_dict(), separators=(",", ":"))


# --------------------------------------------------------------------------- cache
class AccuracyCache:
    """Measured accuracies in a JSON-lines file (one record per line, appended).

    A record: ``{"key", "supernet" (sha256), "settings", "finetune_steps", "genome",
    "accuracy" (fraction), "n_test", "seconds", "measured_at" (UTC)}``. Lines that do not
    parse are skipped (a line cut by a crash is re-measured, never misread). ``path=None``
    keeps the cache in memory only.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = None if path is None else Path(path)
        self._records: dict[str, dict[str, Any]] | None = None

    def _load(self) -> dict[str, dict[str, Any]]:
        if self._records is None:
            self._records = {}
            if self.path is not None and self.path.is_file():
                for line in self.path.read_text(errors="replace").splitlines():
                    try:
                        rec = json.loads(line)
                        acc = float(rec["accuracy"])
                        key = str(rec["key"])
                    except (ValueError, KeyError, TypeError):
                        continue
                    if 0.0 <= acc <= 1.0:
                        self._records[key] = rec
        return self._records

    def get(self, key: str) -> dict[str, Any] | None:
        return self._load().get(key)

    def put(self, rec: dict[str, Any]) -> None:
        self._load()[rec["key"]] = rec
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # One write of one line in append mode: concurrent writers interleave whole lines.
            with open(self.path, "a") as f:
                f.write(json.dumps(rec, separators=(",", ":")) + "\n")
        except OSError as exc:
            raise CimkitError(
                f"re-measurement cache {self.path}: cannot write ({exc.strerror}); give a "
                "writable store folder"
            ) from None

    def __len__(self) -> int:
        return len(self._load())


# --------------------------------------------------------------------------- measuring
@dataclass
class Remeasurer:
    """Measures genomes on the supernet, through the cache (torch loaded on the first miss).

    Attributes:
        cache: where results are kept (:class:`AccuracyCache` or a path; None: memory only).
        settings: calibration / test split and threads.
        supernet: the quantization-aware supernet file (default: the shipped one).
        log: progress sink (one line per measured design).
        hits, misses: cache lookups answered / measured in this object's life.
    """

    cache: AccuracyCache | Path | str | None = None
    settings: MeasureSettings = field(default_factory=MeasureSettings)
    supernet: Path | None = None
    log: Log | None = None
    hits: int = 0
    misses: int = 0
    family: str = "ofa_mobilenetv2"

    def __post_init__(self) -> None:
        if not isinstance(self.cache, AccuracyCache):
            self.cache = AccuracyCache(None if self.cache is None else Path(self.cache))
        self.supernet = Path(self.supernet) if self.supernet else default_supernet(self.family)
        if not self.supernet.is_file():
            how = "tools/train_accuracy.sh (cimkit train supernet --ship)"
            if self.family == "resnet50":
                how = "tools/train_accuracy.sh --family resnet50"
            raise CimkitError(f"supernet {self.supernet} missing: reinstall cimkit or run {how}")
        self._net: Any = None
        self._splits: Any = None
        self.loads = 0  # times the supernet was read (tests: 0 on a warm cache)

    @property
    def supernet_sha256(self) -> str:
        return file_sha256(self.supernet)  # type: ignore[arg-type]

    def key(self, genome: Any, finetune_steps: int = 0) -> str:
        return (
            f"{self.supernet_sha256[:16]}|{self.settings.key(finetune_steps)}|{genome_key(genome)}"
        )

    def measure(self, genomes: Sequence[Any], finetune_steps: int = 0) -> np.ndarray:
        """(N,) top-1 accuracy (fractions) of ``genomes``; measured on a miss, then cached.

        ``finetune_steps > 0``: each design is fine-tuned alone first (see the module
        docstring); its own cache entry.
        """
        out = np.empty(len(genomes), dtype=np.float64)
        cache: AccuracyCache = self.cache  # type: ignore[assignment]
        for i, g in enumerate(genomes):
            key = self.key(g, finetune_steps)
            rec = cache.get(key)
            if rec is not None:
                self.hits += 1
                out[i] = float(rec["accuracy"])
                continue
            self.misses += 1
            t0 = time.time()
            acc = self._measure_one(g, finetune_steps)
            sec = time.time() - t0
            cache.put(
                {
                    "key": key,
                    "supernet": self.supernet_sha256,
                    "settings": self.settings.key(finetune_steps),
                    "finetune_steps": int(finetune_steps),
                    "genome": g.to_dict(),
                    "accuracy": acc,
                    "n_test": self._n_test(),
                    "seconds": round(sec, 2),
                    "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                }
            )
            out[i] = acc
            if self.log is not None:
                what = f"fine-tuned {finetune_steps} steps, " if finetune_steps else ""
                self.log(
                    f"measured design {i + 1}/{len(genomes)}: {what}{100 * acc:.2f} % ({sec:.0f} s)"
                )
        return out

    # -- the torch side (imported only here) -----------------------------------------------
    def _n_test(self) -> int:
        s = self._data()
        n = len(s.y_test)
        return min(self.settings.n_test, n) if self.settings.n_test else n

    def _data(self) -> Any:
        if self._splits is None:
            from cimkit.accuracy import data

            self._splits = data.load(self.settings.dataset, seed=self.settings.seed)
        return self._splits

    def _load_net(self) -> Any:
        if self.family == "resnet50":
            return self._load_resnet()
        import torch

        from cimkit.accuracy.predictor import DATA_DIR
        from cimkit.accuracy.supernet import Supernet, SupernetConfig, load_state

        manifest = self.supernet.parent / "manifest.json"  # type: ignore[union-attr]
        if not manifest.is_file():
            manifest = DATA_DIR / "manifest.json"
        try:
            cfg = SupernetConfig.from_dict(json.loads(manifest.read_text())["config"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CimkitError(
                f"{manifest}: no supernet config ({type(exc).__name__}); the manifest written "
                "with the supernet (tools/train_accuracy.sh) is needed"
            ) from None
        net = Supernet(cfg)
        try:
            sd = torch.load(self.supernet, map_location="cpu", weights_only=True)
            load_state(net, sd)
        except Exception as exc:  # noqa: BLE001 - a bad file is a one-line error
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            raise CimkitError(
                f"supernet {self.supernet}: cannot load it into the manifest's config ({first})"
            ) from None
        self.loads += 1
        return net

    def _load_resnet(self) -> Any:
        """The elastic ResNet supernet beside its manifest (``config`` of the pipeline)."""
        import torch

        from cimkit.accuracy.resnet_supernet import ResNetSupernet, ResNetSupernetConfig
        from cimkit.accuracy.supernet import load_state

        manifest = self.supernet.parent / "manifest.json"  # type: ignore[union-attr]
        try:
            cfg = ResNetSupernetConfig.from_dict(json.loads(manifest.read_text())["config"])
            net = ResNetSupernet(cfg)
            load_state(net, torch.load(self.supernet, map_location="cpu", weights_only=True))
        except Exception as exc:  # noqa: BLE001 - a bad file is a one-line error
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            raise CimkitError(
                f"supernet {self.supernet}: cannot load it with {manifest} ({first}); rerun "
                "tools/train_accuracy.sh --family resnet50"
            ) from None
        self.loads += 1
        return net

    def _measure_one(self, genome: Any, finetune_steps: int) -> float:
        import torch

        from cimkit.accuracy.train import accuracy, recalibrate

        torch.set_num_threads(max(1, int(self.settings.threads)))
        s = self._data()
        n_test = self._n_test()
        x_calib = s.x_train[: self.settings.n_calib]
        if finetune_steps:
            net = self._finetuned(genome, finetune_steps)
        else:
            if self._net is None:
                self._net = self._load_net()
            net = self._net
        dev = next(net.parameters()).device
        with torch.inference_mode():
            recalibrate(net, genome, x_calib)
            acc = accuracy(net, s.x_test[:n_test], s.y_test[:n_test], batch_size=500)
        if dev.type != "cpu":
            net.to("cpu")
        return float(acc)

    def _finetuned(self, genome: Any, steps: int) -> Any:
        """A fresh copy of the supernet fine-tuned for ``steps`` on ``genome`` alone."""
        from cimkit.accuracy.train import TrainArgs, train_supernet

        net = self._load_net()  # a fresh copy: the shared weights stay untouched
        s = self._data()
        args = TrainArgs(
            steps=int(steps),
            batch_size=self.settings.finetune_batch,
            lr=self.settings.finetune_lr,
            warmup=min(2, int(steps)),
            distill=0.0,
            quantized=True,
            seed=self.settings.seed + 1,
            ckpt_every=max(1, int(steps)),
        )
        # Only this design, with its policy: quantization-aware fine-tuning of one subnet.
        train_supernet(
            net, s.x_train, s.y_train, args, ckpt=None, log=lambda m: None,
            sample=lambda rng: [genome],
        )  # fmt: skip
        return net


# --------------------------------------------------------------------------- statistics
def error_stats(predicted_pct: Sequence[float], measured_pct: Sequence[float]) -> dict[str, Any]:
    """Bias and RMSE of predicted vs measured accuracy, both in percent (pp results).

    ``bias_pp`` = mean(predicted - measured): positive = the predictor is optimistic;
    ``rmse_pp`` = sqrt(mean((predicted - measured)^2)); ``n`` pairs (NaN pairs dropped).
    """
    p = np.asarray(predicted_pct, dtype=float)
    m = np.asarray(measured_pct, dtype=float)
    ok = np.isfinite(p) & np.isfinite(m)
    if not ok.any():
        return {"bias_pp": math.nan, "rmse_pp": math.nan, "n": 0}
    d = p[ok] - m[ok]
    return {
        "bias_pp": float(d.mean()),
        "rmse_pp": float(np.sqrt(np.mean(d**2))),
        "n": int(ok.sum()),
    }


# --------------------------------------------------------------------------- runs
@dataclass
class Remeasured:
    """Re-measured designs of a run or comparison.

    Attributes:
        table: one row per design: ``method`` (Table III label), ``rank`` (1 = the method's
            winner; 0 for baseline 1), ``design`` (archive row; -1 for baseline 1),
            ``accuracy_pct`` (predicted, as the search saw it), ``accuracy_measured_pct``,
            ``accuracy_finetuned_pct`` (NaN unless fine-tuned), ``accuracy_error_pp``
            (predicted - measured).
        stats: :func:`error_stats` over the distinct networks + policies of the search-chosen
            designs (baseline 1 excluded; designs differing only in hardware count once).
        settings, supernet_sha256, finetune_steps: how it was measured.
        measured_now, cached: designs measured in this call / answered by the cache.
    """

    table: Any
    stats: dict[str, Any]
    settings: MeasureSettings
    supernet_sha256: str
    finetune_steps: int = 0
    measured_now: int = 0
    cached: int = 0
    supernet_name: str = "supernet_q.pt"

    def by_method(self) -> dict[str, dict[str, float]]:
        """Method label -> measured / fine-tuned accuracy (%) of its winner (rank 0 or 1)."""
        out: dict[str, dict[str, float]] = {}
        for _, r in self.table.iterrows():
            if int(r["rank"]) <= 1:
                out[str(r["method"])] = {
                    "accuracy_measured_pct": float(r["accuracy_measured_pct"]),
                    "accuracy_finetuned_pct": float(r["accuracy_finetuned_pct"]),
                }
        return out


BASELINE1_LABEL = "Baseline 1 (median hardware, 8-bit)"
BASELINE2_LABEL = "Baseline 2 (mean of random hardware)"


def remeasure(
    space: Any,
    designs: Sequence[tuple[str, int, int, np.ndarray, float]],
    *,
    remeasurer: Remeasurer | None = None,
    finetune_steps: int = 0,
) -> Remeasured:
    """Measure ``designs``: (method label, rank, archive row, genome (D,), predicted fraction).

    Baseline 1 is measured by the caller passing it with rank 0. Fine-tuning (``finetune_steps``)
    applies to each method's winner (rank 1) and baseline 1 (rank 0).
    """
    import pandas as pd

    r = remeasurer or Remeasurer(family=space.family.name)
    before_h, before_m = r.hits, r.misses
    X = np.stack([np.asarray(d[3], dtype=np.int64) for d in designs]) if designs else None
    genomes = genomes_of(space, X) if X is not None else []
    meas = r.measure(genomes) if genomes else np.zeros(0)
    ft = np.full(len(genomes), np.nan)
    if finetune_steps:
        sel = [i for i, d in enumerate(designs) if d[1] <= 1]
        if sel:
            ft[sel] = r.measure([genomes[i] for i in sel], finetune_steps)
    rows = []
    for i, (label, rank, row, _, pred) in enumerate(designs):
        rows.append(
            {
                "method": label,
                "rank": int(rank),
                "design": int(row),
                "accuracy_pct": 100.0 * float(pred),
                "accuracy_measured_pct": 100.0 * float(meas[i]),
                "accuracy_finetuned_pct": 100.0 * float(ft[i]),
                "accuracy_error_pp": 100.0 * (float(pred) - float(meas[i])),
            }
        )
    table = pd.DataFrame(
        rows,
        columns=[
            "method",
            "rank",
            "design",
            "accuracy_pct",
            "accuracy_measured_pct",
            "accuracy_finetuned_pct",
            "accuracy_error_pp",
        ],
    )
    # Bias and RMSE over distinct networks + policies: designs that differ only in hardware
    # (two-stage's second stage) are one accuracy measurement and count once.
    seen: set[str] = set()
    rows_once = []
    for i, g in enumerate(genomes):
        key = genome_key(g)
        if designs[i][1] > 0 and key not in seen:
            seen.add(key)
            rows_once.append(i)
    chosen = table.iloc[rows_once]
    stats = error_stats(chosen["accuracy_pct"], chosen["accuracy_measured_pct"])
    return Remeasured(
        table,
        stats,
        r.settings,
        r.supernet_sha256,
        int(finetune_steps),
        r.misses - before_m,
        r.hits - before_h,
        Path(str(r.supernet)).name,
    )


def check_k(k: int, flag: str = "--remeasure") -> int:
    """``k`` if 0..MAX_K, else a one-line SpecError naming ``flag``."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 0 <= k <= MAX_K:
        raise SpecError(
            f"{flag} {k!r}: give an integer in [0, {MAX_K}] (designs re-measured per method, "
            "~10-35 s each on one core; 0 = predicted accuracy only)"
        )
    return int(k)


def check_finetune_steps(n: int, flag: str = "--finetune-steps") -> int:
    if (
        isinstance(n, bool)
        or not isinstance(n, int | np.integer)
        or not 0 <= n <= MAX_FINETUNE_STEPS
    ):
        raise SpecError(
            f"{flag} {n!r}: give an integer in [0, {MAX_FINETUNE_STEPS:,}] (batches of 128 "
            "training images; 0 = no fine-tune)"
        )
    return int(n)


def run_designs(
    result: Any, k: int, label: str, baseline: tuple[np.ndarray, np.ndarray] | None
) -> list[tuple[str, int, int, np.ndarray, float]]:
    """The (label, rank, row, genome, predicted) list of a result's ``k`` best distinct designs,
    baseline 1 (genome, metrics) first when given."""
    from cimkit.search.objectives import COL

    out: list[tuple[str, int, int, np.ndarray, float]] = []
    if baseline is not None:
        x, m = baseline
        out.append((BASELINE1_LABEL, 0, -1, np.asarray(x), float(m[COL["accuracy"]])))
    if result is None or k <= 0:
        return out
    X, M = result.archive.X, result.archive.M
    for rank, i in enumerate(result.top(k), start=1):
        out.append((label, rank, int(i), X[i], float(M[i, COL["accuracy"]])))
    return out


def annotate_rows(
    rows: list[dict[str, Any]],
    rem: Remeasured,
    objective: Any,
    metrics: dict[str, np.ndarray],
    base2_M: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """Table III rows with measured accuracy beside the predicted one.

    Per row with a re-measured design (``metrics``: label -> that design's metrics row, baseline
    1 under :data:`BASELINE1_LABEL`): ``accuracy_measured_pct``, ``accuracy_finetuned_pct`` and
    ``accuracy_used`` ('measured' or 'predicted'); ``acc_change_pp`` and ``score`` are recomputed
    from the measured accuracies (of the row and of baseline 1, the change's and the priority
    score's reference), the predicted ones kept as ``acc_change_predicted_pp`` and
    ``score_predicted``. Baseline 2 is baseline 1's network: its measured accuracy is baseline
    1's, and its score the mean over ``base2_M`` with that accuracy. A row without a measured
    design keeps the predicted numbers and says so.
    """
    from cimkit.search.objectives import COL

    meas = rem.by_method()
    b1 = meas.get(BASELINE1_LABEL)
    b1m = metrics.get(BASELINE1_LABEL)
    out = []
    for row in rows:
        row = dict(row)
        label = row.get("method", "")
        src = meas.get(BASELINE1_LABEL if label == BASELINE2_LABEL else label)
        if "error" in row or src is None or b1 is None or b1m is None:
            row["accuracy_used"] = "predicted"
            out.append(row)
            continue
        acc = src["accuracy_measured_pct"]
        row["accuracy_measured_pct"] = acc
        if math.isfinite(src["accuracy_finetuned_pct"]):
            row["accuracy_finetuned_pct"] = src["accuracy_finetuned_pct"]
        row["accuracy_used"] = "measured"
        ref = np.array(b1m, dtype=float)
        ref[COL["accuracy"]] = b1["accuracy_measured_pct"] / 100.0
        if "acc_change_pp" in row:
            row["acc_change_predicted_pp"] = row["acc_change_pp"]
            row["acc_change_pp"] = acc - b1["accuracy_measured_pct"]
        if "score" in row:
            row["score_predicted"] = row["score"]
            if label == BASELINE2_LABEL:
                if base2_M is not None:
                    M2 = np.array(base2_M, dtype=float)
                    M2[:, COL["accuracy"]] = acc / 100.0
                    row["score"] = float(np.mean(objective.score(M2, ref)))
                else:
                    row["accuracy_used"] = "measured (score: predicted)"
            else:
                m = np.array(metrics.get(label, b1m), dtype=float)
                m[COL["accuracy"]] = acc / 100.0
                row["score"] = float(objective.score(m[None], ref)[0])
        out.append(row)
    return out


def cimnas_vs_paper(
    rows: list[dict[str, Any]], objective_name: str, label_prefix: str = "CIMNAS"
) -> dict[str, Any] | None:
    """The CIMNAS row's measured (and predicted) change vs baseline 1 beside the paper's.

    Returns ``{"method", "measured_pp", "predicted_pp", "finetuned_pp", "paper_pp"}`` (None
    where unknown) or None when there is no CIMNAS row.
    """
    b1 = next((r for r in rows if r.get("method") == BASELINE1_LABEL), None)
    for r in rows:
        if str(r.get("method", "")).startswith(label_prefix) and "error" not in r:
            measured = r.get("acc_change_pp") if r.get("accuracy_used") == "measured" else None
            predicted = r.get("acc_change_predicted_pp", r.get("acc_change_pp"))
            ft = None
            if b1 is not None and "accuracy_finetuned_pct" in r and "accuracy_finetuned_pct" in b1:
                ft = r["accuracy_finetuned_pct"] - b1["accuracy_finetuned_pct"]
            return {
                "method": r["method"],
                "measured_pp": measured,
                "predicted_pp": predicted,
                "finetuned_pp": ft,
                "paper_pp": PAPER_ACC_CHANGE_PP.get(objective_name),
            }
    return None


def paper_sentence(cmp: dict[str, Any] | None) -> str:
    """One line: the CIMNAS row's change vs baseline 1, measured and predicted, and the paper's."""
    if cmp is None:
        return ""
    parts = []
    if cmp["measured_pp"] is not None:
        parts.append(f"measured {cmp['measured_pp']:+.2f} pp")
    if cmp["predicted_pp"] is not None:
        parts.append(f"predicted {cmp['predicted_pp']:+.2f} pp")
    if cmp["finetuned_pp"] is not None:
        parts.append(f"fine-tuned {cmp['finetuned_pp']:+.2f} pp")
    paper = (
        f"the paper's Table III: {cmp['paper_pp']:+.2f} pp (ImageNet, fine-tuned designs)"
        if cmp["paper_pp"] is not None
        else "the paper gives no figure for this objective"
    )
    return f"{cmp['method']} accuracy vs baseline 1: {', '.join(parts)}; {paper}."


def stats_sentence(rem: Remeasured) -> str:
    s = rem.stats
    if not s["n"]:
        return "No search-chosen design was re-measured."
    return (
        f"Predicted - measured over the {s['n']} distinct networks (with their policies) "
        "among the re-measured search-chosen designs: bias "
        f"{s['bias_pp']:+.2f} pp (positive: the predictor is optimistic), RMSE "
        f"{s['rmse_pp']:.2f} pp."
    )


def _env_int(name: str, default: int, lo: int) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        v = int(text)
    except ValueError:
        v = lo - 1
    if v < lo:
        raise SpecError(f"{name}={text!r}: give an integer >= {lo} (unset it for {default})")
    return v


def env_settings() -> MeasureSettings:
    """Measurement settings of the CLI: the defaults, or quick-check overrides from
    ``CIMKIT_MEASURE_IMAGES`` (test images, 0 = all), ``CIMKIT_MEASURE_CALIB`` (calibration
    images) and ``CIMKIT_MEASURE_THREADS``. The settings are part of the cache key and named
    in the report, so a quick number is never shown as a full one."""
    d = MeasureSettings()
    return MeasureSettings(
        n_calib=_env_int("CIMKIT_MEASURE_CALIB", d.n_calib, 1),
        n_test=_env_int("CIMKIT_MEASURE_IMAGES", d.n_test, 0),
        threads=_env_int("CIMKIT_MEASURE_THREADS", d.threads, 1),
    )


# --------------------------------------------------------------------------- stored runs
#: Labels of the compare methods (as in the Table III rows of cimkit.search.compare).
METHOD_LABELS = {
    "cimnas": "CIMNAS (joint)",
    "two-stage": "Two-stage search",
    "xpert-like": "XPert-like search",
}


def ranked_like_compare(result: Any, main: Any) -> Any:
    """``result`` (a method's final stage) ranked by the comparison's main objective, exactly
    as :func:`cimkit.search.compare.run_compare` ranks it (``main``: the study's SearchConfig)."""
    from dataclasses import replace

    if main.exponents is not None:
        return replace(result, config=replace(result.config, exponents=main.exponents))
    return replace(
        result,
        config=replace(
            result.config, exponents=None, objective=main.objective, priority=main.priority
        ),
    )


@dataclass
class Plan:
    """What to re-measure for one report: designs (as :func:`remeasure` takes them) and each
    Table III label's metrics row (the winner's; baseline 1's under BASELINE1_LABEL)."""

    designs: list[tuple[str, int, int, np.ndarray, float]]
    metrics: dict[str, np.ndarray]


def plan_run(problem: Any, result: Any, k: int, label: str) -> Plan:
    """Baseline 1 and the ``k`` best distinct designs of a single run."""
    from cimkit.search.compare import baseline1

    x, m = baseline1(problem)
    designs = run_designs(result, k, label, (x, m))
    metrics = {BASELINE1_LABEL: m}
    top = result.top(1)
    if len(top):
        metrics[label] = result.archive.M[top[0]]
    return Plan(designs, metrics)


def plan_comparison(
    st: Any, problem: Any, study_cfg: dict[str, Any], res: dict[str, Any], k: int
) -> Plan:
    """Baseline 1 and the ``k`` best distinct designs of every method of a stored comparison
    (each method's final stage, ranked by the comparison's objective)."""
    from cimkit.search.compare import baseline1
    from cimkit.search.engine import SearchConfig, load_result

    x, m = baseline1(problem)
    designs = run_designs(None, 0, "", (x, m))
    metrics = {BASELINE1_LABEL: m}
    main = SearchConfig.from_dict(study_cfg["search"])
    for method, stages in res.get("runs", {}).items():
        label = METHOD_LABELS.get(method, method)
        if not stages or not res.get("top", {}).get(method):
            continue
        r = ranked_like_compare(load_result(st, stages[-1], problem.space), main)
        designs += run_designs(r, k, label, None)
        top = r.top(1)
        if len(top):
            metrics[label] = r.archive.M[top[0]]
    return Plan(designs, metrics)


def plan_compare_result(cr: Any, k: int) -> Plan:
    """As :func:`plan_comparison` for an in-memory :class:`~cimkit.search.compare.CompareResult`."""
    x = cr.space.baseline_genome()  # baseline 1's genome; its metrics are cr.base1
    designs = run_designs(None, 0, "", (x, cr.base1))
    metrics = {BASELINE1_LABEL: cr.base1}
    for method, mr in cr.methods.items():
        if mr.result is None or not len(mr.top):
            continue
        label = METHOD_LABELS.get(method, method)
        r = ranked_like_compare(mr.result, cr.config)
        designs += run_designs(r, k, label, None)
        metrics[label] = r.archive.M[r.top(1)[0]]
    return Plan(designs, metrics)


def measure_plan(
    space: Any,
    plan: Plan,
    rows: list[dict[str, Any]],
    objective: Any,
    *,
    cache: Path | None,
    finetune_steps: int = 0,
    base2_M: np.ndarray | None = None,
    log: Log | None = None,
    settings: MeasureSettings | None = None,
) -> tuple[list[dict[str, Any]], Remeasured]:
    """Measure ``plan`` (through the cache file ``cache``) and annotate Table III ``rows``."""
    r = Remeasurer(cache, settings or env_settings(), log=log, family=space.family.name)
    rem = remeasure(space, plan.designs, remeasurer=r, finetune_steps=finetune_steps)
    return annotate_rows(rows, rem, objective, plan.metrics, base2_M), rem


def summary_json(rem: Remeasured, paper: dict[str, Any] | None) -> dict[str, Any]:
    """The --json document of a re-measurement (accuracy in %, NaN as null)."""
    records = json.loads(rem.table.to_json(orient="records"))
    return {
        "designs": records,
        "bias_pp": rem.stats["bias_pp"],
        "rmse_pp": rem.stats["rmse_pp"],
        "n": rem.stats["n"],
        "supernet_sha256": rem.supernet_sha256,
        "settings": rem.settings.key(rem.finetune_steps),
        "finetune_steps": rem.finetune_steps,
        "measured_now": rem.measured_now,
        "cached": rem.cached,
        "cimnas_vs_paper": paper,
    }
