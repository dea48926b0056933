"""Predictor loading without torch (issue 15 item 6): shipped .npz == shipped .pt == torch MLP."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cimkit.accuracy import encoding as enc
from cimkit.accuracy.predictor import (
    DATA_DIR,
    NPZ_FILES,
    PREDICTOR_FILES,
    AccuracyPredictor,
    load_predictor,
)
from cimkit.errors import CimkitError

ROOT = Path(__file__).resolve().parents[2]
shipped = pytest.mark.skipif(
    not all((DATA_DIR / f).is_file() for f in (*NPZ_FILES.values(), *PREDICTOR_FILES.values())),
    reason="predictor artifacts not shipped",
)


def _torch_forward(pt: Path, x: np.ndarray) -> np.ndarray:
    """The .pt predictor run as a torch nn.Sequential (independent of the numpy forward)."""
    import torch
    from torch import nn

    sd = torch.load(pt, map_location="cpu", weights_only=True)
    layers: list[nn.Module] = []
    for i, (w, b) in enumerate(zip(sd["coefs"], sd["intercepts"], strict=True)):
        lin = nn.Linear(w.shape[0], w.shape[1])
        with torch.no_grad():
            lin.weight.copy_(w.T)
            lin.bias.copy_(b)
        layers += [lin] if i == len(sd["coefs"]) - 1 else [lin, nn.ReLU()]
    with torch.no_grad():
        h = nn.Sequential(*layers)(torch.from_numpy(x)).squeeze(1).numpy()
    return h * np.float32(sd["y_std"]) + np.float32(sd["y_mean"])


@shipped
@pytest.mark.parametrize("kind", ["fp", "q"])
def test_shipped_npz_matches_the_torch_forward(kind: str) -> None:
    quantized = kind == "q"
    d, k, e, b = enc.random_arrays(300, np.random.default_rng(1), quantized)
    x = enc.encode(d, k, e, b).astype(np.float32)
    ref = _torch_forward(DATA_DIR / PREDICTOR_FILES[kind], x)
    pred = load_predictor(kind)  # the .npz
    assert np.abs(pred.predict(x) - ref).max() < 1e-6
    # The fast genome path sums first-layer rows in another order: float32 rounding only.
    assert np.abs(pred.predict_genomes(d, k, e, b) - ref).max() < 1e-5
    pt = load_predictor(kind, DATA_DIR / PREDICTOR_FILES[kind])
    for a, c in zip(pred.coefs_ + pred.intercepts_, pt.coefs_ + pt.intercepts_, strict=True):
        assert a.dtype == np.float32 and np.array_equal(a, c)
    assert (pred.y_mean_, pred.y_std_) == (pt.y_mean_, pt.y_std_)


def test_save_npz_round_trip_and_bad_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.random((50, 8), dtype=np.float32)
    p = AccuracyPredictor(hidden_size=6, epochs=3).fit(x, rng.random(50).astype(np.float32))
    p.save(tmp_path / "p.npz")  # by suffix
    q = load_predictor(path=tmp_path / "p.npz")
    assert np.array_equal(q.predict(x), p.predict(x)) and q.get_params()["hidden_size"] == 6
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(CimkitError, match="other.npz: not a cimkit .npz predictor"):
        load_predictor(path=tmp_path / "other.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(CimkitError, match="junk.npz"):
        load_predictor(path=tmp_path / "junk.npz")


@shipped
def test_search_path_never_imports_torch() -> None:
    code = (
        "import sys\n"
        "from cimkit.search import CimnasProblem, Search, SearchConfig\n"
        "from cimkit.space import load_space\n"
        f"space = load_space({str(ROOT / 'examples/spaces/cimnas_rram_mobilenetv2.yaml')!r})\n"
        "r = Search(CimnasProblem(space), SearchConfig(pop_size=6, n_gen=2, seed=0)).run()\n"
        "assert len(r.archive) > 0\n"
        "print('torch' in sys.modules, sorted(m for m in sys.modules if 'torch' in m)[:5])\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.startswith("False []"), res.stdout
