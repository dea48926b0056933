"""Accuracy predictors on one-hot genome encodings: the paper's 3-layer MLP (hidden 400,
CIMNAS III-C1) or, with ``n_layers=0``, a linear ridge model; :func:`fit_predictors` picks one
per predictor by cross-validation on the training subnets.

:class:`AccuracyPredictor` follows scikit-learn's conventions (keyword-only ``__init__`` that only
stores parameters, ``fit(X, y) -> self``, ``predict(X)``, fitted attributes ending in ``_``).
``X`` is the float one-hot encoding of :func:`cimkit.accuracy.encoding.encode` (N, F), ``y`` the
measured top-1 accuracy as a fraction (N,).

* The full-precision predictor has F = 135 architecture features.
* The quantized predictor is built from a fitted full-precision one (``init_predictor``): its
  first layer is widened with zero-initialized columns for the 240 quantization features, so it
  starts as exactly the full-precision predictor, and it is then fine-tuned on subnets x policies
  (the paper's "trained first on full-precision subnets and then extended to quantization
  policies").

Training uses torch (Adam, MSE on standardized accuracy, full batches, seeded); a linear model
(``n_layers=0``) is solved in closed form with numpy instead. Prediction is plain numpy (float32
matrix products), so scoring a batch of genomes takes microseconds each.

Why a linear candidate: with 1,600 training subnets the MLP interpolates its training labels
(train RMSE 2e-6 pp for FP) and ranks unseen subnets worse than a ridge fit on the same one-hot
features does (4-fold CV on the training subnets, tau 0.49 vs 0.50 FP, 0.82 vs 0.86 quantized):
the labels carry image-sampling noise that the MLP learns (tools/accuracy_noise_floor.py).

The shipped predictors exist twice: ``predictor_{fp,q}.pt`` (torch ``state_dict``, as trained) and
``predictor_{fp,q}.npz`` (the same float32 arrays, written by :meth:`AccuracyPredictor.save_npz`,
``tools/export_predictor_npz.py``). :func:`load_predictor` reads the ``.npz``, so the search never
imports torch (about 1.5 s per process and per pool worker).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from cimkit.accuracy import encoding as enc
from cimkit.errors import CimkitError

DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "accuracy"
PREDICTOR_FILES = {"fp": "predictor_fp.pt", "q": "predictor_q.pt"}
#: The same predictors as plain arrays (loaded without torch; see the module docstring).
NPZ_FILES = {"fp": "predictor_fp.npz", "q": "predictor_q.npz"}
#: Format tag stored in every .npz predictor (bumped if the layout changes).
NPZ_FORMAT = "cimkit-accuracy-predictor-1"


class NotFittedError(CimkitError):
    """predict() before fit()."""


class AccuracyPredictor:
    """MLP accuracy predictor: ``n_layers`` hidden ReLU layers of ``hidden_size``, linear output.

    With ``n_layers=0`` it is a linear model, fitted by ridge regression in closed form
    (``epochs``, ``lr``, ``weight_decay`` and ``hidden_size`` unused).

    Parameters (stored unchanged by ``__init__``):
        hidden_size: units per hidden layer (OFA/CIMNAS: 400).
        n_layers: hidden layers (OFA/CIMNAS: 3); 0 = linear.
        epochs: full-batch Adam steps.
        lr: Adam learning rate.
        weight_decay: L2 penalty (decoupled, AdamW).
        alpha: ridge penalty of the linear model, ``alpha * ||w||^2`` added to the sum of squared
            errors of the standardized accuracy (features centred, intercept not penalized).
        init_predictor: a fitted predictor on the first ``init_predictor.n_features_in_``
            features; ``fit`` starts from its weights (first layer widened with zeros) and its
            target scaling.
        random_state: seed of the initialization (same seed and data -> same predictor).

    Fitted attributes: ``coefs_`` / ``intercepts_`` (lists of float32 arrays, layer i maps
    (N, in_i) -> (N, out_i)), ``n_features_in_``, ``y_mean_``, ``y_std_``, ``loss_curve_``.
    """

    def __init__(
        self,
        *,
        hidden_size: int = 400,
        n_layers: int = 3,
        epochs: int = 600,
        lr: float = 1e-3,
        weight_decay: float = 1e-3,
        alpha: float = 10.0,
        init_predictor: AccuracyPredictor | None = None,
        random_state: int = 0,
    ) -> None:
        self.hidden_size = hidden_size
        self.n_layers = n_layers
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.alpha = alpha
        self.init_predictor = init_predictor
        self.random_state = random_state

    # scikit-learn's estimator protocol (without inheriting BaseEstimator)
    def get_params(self, deep: bool = True) -> dict:
        return {
            k: getattr(self, k)
            for k in (
                "hidden_size",
                "n_layers",
                "epochs",
                "lr",
                "weight_decay",
                "alpha",
                "init_predictor",
                "random_state",
            )  # fmt: skip
        }

    def set_params(self, **params: object) -> AccuracyPredictor:
        for k, v in params.items():
            setattr(self, k, v)
        return self

    def fit(self, X: np.ndarray, y: np.ndarray) -> AccuracyPredictor:
        """Fit on features X (N, F) and accuracies y (N,) in [0, 1]; returns self."""
        X = np.asarray(X, dtype=np.float32)
        y = np.asarray(y, dtype=np.float32).ravel()
        if X.ndim != 2 or len(X) != len(y) or len(y) < 2:
            raise ValueError(f"need X (N, F) and y (N,) with N >= 2, got {X.shape}, {y.shape}")
        if self.n_layers == 0:
            return self._fit_linear(X, y)
        import torch
        from torch import nn

        torch.manual_seed(self.random_state)
        init = self.init_predictor
        dims = [X.shape[1]] + [self.hidden_size] * self.n_layers + [1]
        layers: list[nn.Module] = []
        for i in range(len(dims) - 1):
            layers.append(nn.Linear(dims[i], dims[i + 1]))
            if i < len(dims) - 2:
                layers.append(nn.ReLU())
        mlp = nn.Sequential(*layers)
        if init is not None:
            _check_fitted(init)
            f0 = init.n_features_in_
            if (
                f0 > X.shape[1]
                or init.hidden_size != self.hidden_size
                or init.n_layers != self.n_layers
            ):
                raise ValueError(
                    "init_predictor must have as many or fewer features, the same width and depth"
                )
            with torch.no_grad():
                linears = [m for m in mlp if isinstance(m, nn.Linear)]
                for i, (lin, w, b) in enumerate(
                    zip(linears, init.coefs_, init.intercepts_, strict=True)
                ):
                    wt = torch.from_numpy(w.T.copy())
                    if i == 0:  # widen: new input features start with zero weights
                        lin.weight.zero_()
                        lin.weight[:, :f0] = wt
                    else:
                        lin.weight.copy_(wt)
                    lin.bias.copy_(torch.from_numpy(b))
            self.y_mean_, self.y_std_ = init.y_mean_, init.y_std_
        else:
            self.y_mean_ = float(y.mean())
            self.y_std_ = float(max(y.std(), 1e-3))
        xt = torch.from_numpy(X)
        yt = torch.from_numpy((y - self.y_mean_) / self.y_std_)
        opt = torch.optim.AdamW(mlp.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, self.epochs))
        curve = []
        for _ in range(self.epochs):
            opt.zero_grad()
            loss = ((mlp(xt).squeeze(1) - yt) ** 2).mean()
            loss.backward()
            opt.step()
            sched.step()
            curve.append(float(loss.detach()))
        linears = [m for m in mlp if isinstance(m, nn.Linear)]
        self.coefs_ = [m.weight.detach().numpy().T.astype(np.float32).copy() for m in linears]
        self.intercepts_ = [m.bias.detach().numpy().astype(np.float32).copy() for m in linears]
        self.n_features_in_ = X.shape[1]
        self.loss_curve_ = curve
        return self

    def _fit_linear(self, X: np.ndarray, y: np.ndarray) -> AccuracyPredictor:
        """Ridge regression of the standardized accuracy on X, in float64, stored as one layer."""
        if self.init_predictor is not None:
            raise ValueError("a linear predictor (n_layers=0) takes no init_predictor")
        if not self.alpha > 0:
            raise ValueError(f"alpha must be > 0, got {self.alpha}")
        self.y_mean_ = float(y.mean())
        self.y_std_ = float(max(y.std(), 1e-3))
        x64 = X.astype(np.float64)
        mean = x64.mean(axis=0)
        xc = x64 - mean
        z = (y.astype(np.float64) - self.y_mean_) / self.y_std_
        # (F, F) normal equations: F <= a few hundred one-hot features, N in the thousands.
        w = np.linalg.solve(xc.T @ xc + self.alpha * np.eye(X.shape[1]), xc.T @ z)
        self.coefs_ = [w.astype(np.float32)[:, None]]
        self.intercepts_ = [np.array([-mean @ w], dtype=np.float32)]
        self.n_features_in_ = X.shape[1]
        self.loss_curve_ = [float(np.mean((xc @ w - z) ** 2))]
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted accuracy (N,) float32 (a fraction) of features X (N, n_features_in_)."""
        _check_fitted(self)
        h = np.asarray(X, dtype=np.float32)
        if h.ndim != 2 or h.shape[1] != self.n_features_in_:
            raise ValueError(f"X: need shape (N, {self.n_features_in_}), got {h.shape}")
        last = len(self.coefs_) - 1
        for i, (w, b) in enumerate(zip(self.coefs_, self.intercepts_, strict=True)):
            h = h @ w
            h += b
            if i < last:
                np.maximum(h, 0.0, out=h)
        return h[:, 0] * np.float32(self.y_std_) + np.float32(self.y_mean_)

    def predict_genomes(
        self,
        depths: np.ndarray,
        kernels: np.ndarray,
        expands: np.ndarray,
        bits: np.ndarray | None = None,
        chunk: int = 1024,
    ) -> np.ndarray:
        """Predicted accuracy (N,) of genome arrays, without building the one-hot matrix.

        Same result as ``predict(encode(...))`` (up to float rounding), faster: a one-hot input
        times the first layer is a sum of weight rows, so per block slot the rows of every
        (kernel, expand[, 4 bit genes]) combination are summed once (tables built on first use)
        and each genome gathers 20 slot rows + 1 depth row instead of a 375 x 400 product.

        Shapes: depths (N, 5), kernels/expands (N, 20), bits (N, 20, 4) or None (as
        :func:`cimkit.accuracy.encoding.encode`; bits required iff the predictor is quantized).
        """
        _check_fitted(self)
        quantized = self.n_features_in_ == enc.ARCH_DIM + enc.QUANT_DIM
        if self.n_features_in_ not in (enc.ARCH_DIM, enc.ARCH_DIM + enc.QUANT_DIM):
            raise ValueError("predict_genomes needs the standard encoding; use predict()")
        if quantized != (bits is not None):
            raise ValueError("bits must be given exactly for the quantized predictor")
        codes, dcode = _genome_codes(depths, kernels, expands, bits)
        slot_tab, depth_tab = self._tables()
        n = len(dcode)
        out = np.empty(n, dtype=np.float32)
        for i in range(0, n, chunk):
            c = codes[i : i + chunk]
            h = depth_tab[dcode[i : i + chunk]]  # (c, hidden), includes the first bias
            for j in range(enc.N_SLOTS):  # 20 row gathers, no (c, 20, hidden) temporary
                h += slot_tab[c[:, j]]
            for j in range(1, len(self.coefs_)):
                np.maximum(h, 0.0, out=h)
                h = h @ self.coefs_[j]
                h += self.intercepts_[j]
            out[i : i + chunk] = h[:, 0]
        return out * np.float32(self.y_std_) + np.float32(self.y_mean_)

    def _tables(self) -> tuple[np.ndarray, np.ndarray]:
        """First-layer row sums: slot table (20 * C, hidden), depth table (243, hidden)."""
        cached = self.__dict__.get("_tables_cache")
        if cached is not None:
            return cached
        w = self.coefs_[0]  # (F, hidden)
        hid = w.shape[1]
        nk, ne, nb = len(enc.KERNELS), len(enc.EXPANDS), len(enc.BITS)
        quantized = self.n_features_in_ > enc.ARCH_DIM
        n_bits = nb**4 if quantized else 1
        combos = nk * ne * n_bits
        tab = np.zeros((enc.N_SLOTS, combos + 1, hid), dtype=np.float32)  # last row: inactive
        for j in range(enc.N_SLOTS):
            base = j * (nk + ne)
            ke = w[base : base + nk][:, None, :] + w[base + nk : base + nk + ne][None, :, :]
            ke = ke.reshape(nk * ne, 1, hid)
            if quantized:
                q0 = enc.ARCH_DIM + j * 4 * nb
                g = [w[q0 + t * nb : q0 + (t + 1) * nb] for t in range(4)]  # (nb, hid) each
                bits = (
                    g[0][:, None, None, None] + g[1][None, :, None, None]
                    + g[2][None, None, :, None] + g[3][None, None, None, :]
                ).reshape(1, n_bits, hid)  # fmt: skip
                tab[j, :combos] = (ke + bits).reshape(combos, hid)
            else:
                tab[j, :combos] = ke.reshape(combos, hid)
        d0 = enc.N_SLOTS * (nk + ne)
        nd = len(enc.DEPTHS)
        dtab = np.zeros((nd**enc.N_STAGES, hid), dtype=np.float32)
        for c in range(nd**enc.N_STAGES):
            for s in range(enc.N_STAGES):
                dtab[c] += w[d0 + s * nd + (c // nd ** (enc.N_STAGES - 1 - s)) % nd]
        dtab += self.intercepts_[0]
        cached = (tab.reshape(-1, hid), dtab)
        self.__dict__["_tables_cache"] = cached
        return cached

    # ----------------------------------------------------------------- persistence
    def state_dict(self) -> dict:
        """Tensors and plain values only (loadable with ``torch.load(weights_only=True)``)."""
        import torch

        _check_fitted(self)
        return {
            "params": {k: v for k, v in self.get_params().items() if k != "init_predictor"},
            "coefs": [torch.from_numpy(w) for w in self.coefs_],
            "intercepts": [torch.from_numpy(b) for b in self.intercepts_],
            "n_features_in": self.n_features_in_,
            "y_mean": self.y_mean_,
            "y_std": self.y_std_,
        }

    @classmethod
    def from_state_dict(cls, sd: dict) -> AccuracyPredictor:
        p = cls(**sd["params"])
        p.coefs_ = [np.ascontiguousarray(w.numpy(), dtype=np.float32) for w in sd["coefs"]]
        p.intercepts_ = [np.asarray(b.numpy(), dtype=np.float32) for b in sd["intercepts"]]
        p.n_features_in_ = int(sd["n_features_in"])
        p.y_mean_, p.y_std_ = float(sd["y_mean"]), float(sd["y_std"])
        p.loss_curve_ = []
        return p

    def save(self, path: Path) -> None:
        """Write the fitted predictor: ``.npz`` (numpy only) by suffix, else a torch ``.pt``."""
        if Path(path).suffix == ".npz":
            self.save_npz(path)
            return
        import torch

        torch.save(self.state_dict(), path)

    def save_npz(self, path: Path) -> None:
        """Write the fitted arrays as an uncompressed ``.npz`` (float32, no pickles).

        Keys: ``coef_i`` / ``intercept_i`` per layer, ``meta`` (a JSON string: format tag,
        ``params``, ``n_features_in``, ``y_mean``, ``y_std``). :meth:`from_npz` reads it back
        bit-exactly, without torch.
        """
        _check_fitted(self)
        meta = {
            "format": NPZ_FORMAT,
            "params": {k: v for k, v in self.get_params().items() if k != "init_predictor"},
            "n_features_in": int(self.n_features_in_),
            "y_mean": float(self.y_mean_),
            "y_std": float(self.y_std_),
        }
        arrays: dict[str, np.ndarray] = {"meta": np.array(json.dumps(meta))}
        for i, (w, b) in enumerate(zip(self.coefs_, self.intercepts_, strict=True)):
            arrays[f"coef_{i}"] = np.asarray(w, dtype=np.float32)
            arrays[f"intercept_{i}"] = np.asarray(b, dtype=np.float32)
        with open(path, "wb") as f:  # a file object: savez would append '.npz' to a str path
            np.savez(f, **arrays)

    @classmethod
    def from_npz(cls, path: Path) -> AccuracyPredictor:
        """A predictor written by :meth:`save_npz` (``allow_pickle=False``: data only)."""
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"][()]))
                n = sum(1 for k in data.files if k.startswith("coef_"))
                coefs = [np.ascontiguousarray(data[f"coef_{i}"], np.float32) for i in range(n)]
                inter = [np.asarray(data[f"intercept_{i}"], np.float32) for i in range(n)]
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CimkitError(
                f"accuracy predictor {path}: not a cimkit .npz predictor ({type(exc).__name__}); "
                "write it with AccuracyPredictor.save_npz or tools/export_predictor_npz.py"
            ) from None
        if meta.get("format") != NPZ_FORMAT or n == 0:
            raise CimkitError(
                f"accuracy predictor {path}: format {meta.get('format')!r}, expected "
                f"{NPZ_FORMAT!r}; re-export it with tools/export_predictor_npz.py"
            )
        p = cls(**meta["params"])
        p.coefs_, p.intercepts_ = coefs, inter
        p.n_features_in_ = int(meta["n_features_in"])
        p.y_mean_, p.y_std_ = float(meta["y_mean"]), float(meta["y_std"])
        p.loss_curve_ = []
        return p


def _lut(choices: tuple[int, ...]) -> np.ndarray:
    lut = np.full(17, -1, dtype=np.int64)
    lut[list(choices)] = np.arange(len(choices))
    return lut


_K_LUT, _E_LUT, _B_LUT, _D_LUT = (
    _lut(enc.KERNELS), _lut(enc.EXPANDS), _lut(enc.BITS), _lut(enc.DEPTHS)
)  # fmt: skip


def _index(lut: np.ndarray, a: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(a)
    idx = lut[np.clip(a, 0, len(lut) - 1)]
    if (idx < 0).any() or (a >= len(lut)).any():
        raise enc.GenomeError(f"{name}: value outside the search space")
    return idx


def _genome_codes(
    depths: np.ndarray, kernels: np.ndarray, expands: np.ndarray, bits: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices into the first-layer tables: slots (N, 20) and depth combination (N,)."""
    depths = np.asarray(depths)
    n = len(depths)
    for name, a, shape in (("depths", depths, (n, 5)), ("kernels", kernels, (n, 20)),
                           ("expands", expands, (n, 20))):  # fmt: skip
        if np.shape(a) != shape:
            raise enc.GenomeError(f"{name}: need shape {shape}, got {np.shape(a)}")
    di = _index(_D_LUT, depths, "depths")
    code = _index(_K_LUT, kernels, "kernels") * len(enc.EXPANDS)
    code += _index(_E_LUT, expands, "expands")
    if bits is not None:
        if np.shape(bits) != (n, 20, 4):
            raise enc.GenomeError(f"bits: need shape {(n, 20, 4)}, got {np.shape(bits)}")
        bi = _index(_B_LUT, bits, "bits")
        nb = len(enc.BITS)
        code = code * nb**4 + ((bi[..., 0] * nb + bi[..., 1]) * nb + bi[..., 2]) * nb + bi[..., 3]
        combos = len(enc.KERNELS) * len(enc.EXPANDS) * nb**4
    else:
        combos = len(enc.KERNELS) * len(enc.EXPANDS)
    code[~enc.active_slots(depths)] = combos  # the inactive row (zeros)
    code += np.arange(enc.N_SLOTS) * (combos + 1)
    nd = len(enc.DEPTHS)
    dcode = di @ (nd ** np.arange(enc.N_STAGES - 1, -1, -1))
    return code, dcode


def _check_fitted(p: AccuracyPredictor) -> None:
    if not hasattr(p, "coefs_"):
        raise NotFittedError("this AccuracyPredictor is not fitted yet: call fit() first")


def load_predictor(kind: str = "q", path: Path | None = None) -> AccuracyPredictor:
    """The shipped predictor ``kind`` ('fp' or 'q'), or the one at ``path``.

    The shipped ``.npz`` (and any ``path`` ending in ``.npz``) is read with numpy alone; a
    ``.pt`` file (or the shipped one when its ``.npz`` is missing) with ``torch.load(...,
    weights_only=True)``. Neither runs code from the file.
    """
    if path is None:
        if kind not in PREDICTOR_FILES:
            raise CimkitError(f"predictor kind must be 'fp' or 'q', got {kind!r}")
        npz = DATA_DIR / NPZ_FILES[kind]
        path = npz if npz.is_file() else DATA_DIR / PREDICTOR_FILES[kind]
    if not Path(path).is_file():
        raise CimkitError(
            f"accuracy predictor {path} missing: reinstall cimkit or run tools/train_accuracy.sh"
        )
    if Path(path).suffix == ".npz":
        return AccuracyPredictor.from_npz(path)
    import torch

    return AccuracyPredictor.from_state_dict(
        torch.load(path, map_location="cpu", weights_only=True)
    )


def predict_accuracy(
    depths: np.ndarray,
    kernels: np.ndarray,
    expands: np.ndarray,
    bits: np.ndarray | None = None,
    predictors: dict[str, AccuracyPredictor] | None = None,
) -> np.ndarray:
    """Predicted top-1 accuracy (N,) of a batch of genomes (FP predictor when ``bits`` is None).

    Shapes: depths (N, 5), kernels/expands (N, 20), bits (N, 20, 4) in {4, 6, 8} or None.
    """
    kind = "fp" if bits is None else "q"
    pred = (predictors or {}).get(kind) or _cached(kind)
    return pred.predict_genomes(depths, kernels, expands, bits)


_CACHE: dict[str, AccuracyPredictor] = {}


def _cached(kind: str) -> AccuracyPredictor:
    if kind not in _CACHE:
        _CACHE[kind] = load_predictor(kind)
    return _CACHE[kind]


# --------------------------------------------------------------------------- metrics / fitting
def metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """RMSE (percentage points), Kendall tau and Spearman rho of predictions vs measurements."""
    from scipy.stats import kendalltau, spearmanr

    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    return {
        "rmse_pp": float(np.sqrt(np.mean((y_true - y_pred) ** 2)) * 100),
        "kendall_tau": float(kendalltau(y_true, y_pred).statistic),
        "spearman": float(spearmanr(y_true, y_pred).statistic),
        "n": len(y_true),
    }


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _arch_key(g: enc.Genome) -> tuple:
    """(depths, kernels, expands) of a genome: its network without the policy, genes of unused
    block slots masked (0), so one network always gives one key."""
    act = g.active()
    return (
        g.depths,
        tuple(int(v) if a else 0 for v, a in zip(g.kernels, act, strict=True)),
        tuple(int(v) if a else 0 for v, a in zip(g.expands, act, strict=True)),
    )


def _arrays(
    records: list[dict], quantized: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple]]:
    """(X, y, subnet id, networks) from measurement records; the subnet id groups policies of
    one subnet, and ``networks[sid[i]]`` is row i's :func:`_arch_key`."""
    gs = [enc.Genome.from_dict(r["genome"]) for r in records]
    d, k, e, b = enc.stack(gs)
    x = enc.encode(d, k, e, b if quantized else None)
    keys: dict[tuple, int] = {}
    sid = np.array([keys.setdefault(_arch_key(g), len(keys)) for g in gs], dtype=np.int64)
    return x, np.array([r["acc"] for r in records], dtype=np.float32), sid, list(keys)


#: Ridge penalties of the linear candidates that :func:`fit_predictors` cross-validates.
LINEAR_ALPHAS = (1.0, 10.0, 100.0)


def group_folds(sid: np.ndarray, k: int, seed: int) -> list[np.ndarray]:
    """``k`` boolean test masks (N,) that split the subnet ids ``sid`` (N,) into disjoint groups:
    all rows of one subnet (its quantization policies) fall in the same fold."""
    ids = np.unique(sid)
    np.random.default_rng(seed).shuffle(ids)
    return [np.isin(sid, ids[i::k]) for i in range(k)]


def select_predictor(
    candidates: dict[str, Callable[[], AccuracyPredictor]],
    X: np.ndarray,
    y: np.ndarray,
    sid: np.ndarray,
    k: int = 4,
    seed: int = 0,
    extra: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[str, dict[str, dict[str, float]]]:
    """Pick the candidate with the best mean Kendall tau over ``k`` subnet-grouped folds.

    ``candidates`` maps a name to a factory of unfitted predictors; X (N, F), y (N,) and the
    subnet ids sid (N,) are the *training* split only (the held-out split plays no part).
    ``extra`` = (X (M, F), y (M,)): rows added to every fold's training part, never scored
    (the search-chosen labels: the folds score generalization to random subnets).
    Ties in tau go to the lower RMSE, then to the earlier candidate. Returns the chosen name and
    every candidate's ``{"cv_tau", "cv_rmse_pp"}``.
    """
    k = min(k, len(np.unique(sid)))
    if k < 2:
        raise ValueError("cross-validation needs at least 2 distinct subnets")
    scores: dict[str, dict[str, float]] = {}
    for name, make in candidates.items():
        taus, rmses = [], []
        for test in group_folds(sid, k, seed):
            xa, ya = X[~test], y[~test]
            if extra is not None and len(extra[1]):
                xa, ya = np.concatenate([xa, extra[0]]), np.concatenate([ya, extra[1]])
            m = metrics(y[test], make().fit(xa, ya).predict(X[test]))
            taus.append(0.0 if np.isnan(m["kendall_tau"]) else m["kendall_tau"])
            rmses.append(m["rmse_pp"])
        scores[name] = {"cv_tau": float(np.mean(taus)), "cv_rmse_pp": float(np.mean(rmses))}
    best = max(scores, key=lambda n: (scores[n]["cv_tau"], -scores[n]["cv_rmse_pp"]))
    return best, scores


def _candidates(
    seed: int, mlp: dict, init: AccuracyPredictor | None = None
) -> dict[str, Callable[[], AccuracyPredictor]]:
    """The paper's MLP (``mlp`` keyword arguments) and the linear ridge models."""
    out: dict[str, Callable[[], AccuracyPredictor]] = {
        "mlp": lambda: AccuracyPredictor(init_predictor=init, random_state=seed, **mlp)
    }
    for a in LINEAR_ALPHAS:
        out[f"linear_alpha{a:g}"] = lambda a=a: AccuracyPredictor(n_layers=0, alpha=a)
    return out


def fit_predictors(
    out: Path,
    seed: int = 0,
    holdout: float = 0.2,
    log: Callable[[str], None] = print,
    select: bool = True,
    mlp: dict | None = None,
    test_offset: bool = True,
    arrays: Callable[[list[dict], bool], tuple[np.ndarray, np.ndarray, np.ndarray, list]]
    | None = None,
    offsets: dict[str, dict[str, float]] | None = None,
    arch_dim: int = enc.ARCH_DIM,
) -> dict:
    """Fit the FP and the quantized predictor on ``out``/measure_{fp,q}.jsonl; write
    ``out``/predictor_{fp,q}.pt and .npz; return held-out metrics.

    Held-out = a seeded ``holdout`` fraction of the *subnets* (for the quantized data, all
    policies of a held-out subnet are held out): the predictors never see these architectures.
    The largest and smallest subnets always stay in the training split.

    Model choice (``select``): each predictor is the candidate -- the paper's MLP or a linear
    ridge model (``LINEAR_ALPHAS``) -- with the best 4-fold cross-validated Kendall tau on the
    training split (:func:`select_predictor`); the result records every candidate's CV scores,
    the chosen one, and the MLP's held-out metrics as a reference (not used in the choice).
    The quantized MLP starts from the FP MLP (widened first layer), as in the paper. ``mlp``:
    keyword arguments for both MLPs (default: the paper's 3 x 400; FP 600, quantized 400 epochs).

    Search-chosen labels: ``out``/measure_q_search.jsonl, when present (written by
    tools/measure_search_designs.py: the networks searches pick, measured the same way), are
    added to the quantized predictor's training split; never to the held-out split or a CV
    fold's scored part, and a row whose architecture is a held-out subnet's is dropped, so the
    held-out metrics stay those of unseen random subnets.

    Test-split offset (``test_offset``): the labels are validation-split accuracies, and the
    5,000 validation images are easier than the 10,000 test images by about half a point for
    every subnet (one draw of image sampling, common to all). When ``out``/summary.json holds
    the pipeline's ``final`` stage (the largest and smallest subnet measured on both splits),
    each shipped predictor's output is shifted by the mean (test - val) of those reference
    subnets -- FP ones for the FP predictor, 8/4-bit ones for the quantized -- so it predicts
    what re-measurement on the test split reports. A calibration on those 2 / 4 stated subnets
    only; every metric in the result (held-out, CV) is of the unshifted fit against validation
    labels, and the shift is recorded (``test_offset_pp``, ``test_offset_from``).

    Other families (the ``resnet50`` proxy): ``arrays(records, quantized)`` -> (X, y, subnet id,
    networks) replaces the MobileNetV2 encoding (:func:`_arrays`; subnet id 0/1 = largest and
    smallest, the first two records), ``offsets`` = {"fp"/"q": {reference: test - val}} replaces
    the reading of summary.json (used only with ``test_offset``), and ``arch_dim`` is the number
    of leading architecture columns of the quantized features (the FP-only reference metric).
    """
    t0 = time.time()
    res: dict = {}
    rng = np.random.default_rng(seed)

    def split(sid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ids = np.unique(sid)
        cand = ids[ids >= 2]  # 0 = largest, 1 = smallest (measured first)
        n_out = max(1, round(holdout * len(ids)))
        test_ids = rng.choice(cand, size=min(n_out, len(cand)), replace=False)
        test = np.isin(sid, test_ids)
        return ~test, test

    def fit_one(
        kind: str, x: np.ndarray, y: np.ndarray, sid: np.ndarray, mlp: dict,
        init: AccuracyPredictor | None, nets: list[tuple], extra: list[dict] | None = None,
    ) -> tuple[AccuracyPredictor, AccuracyPredictor, dict, np.ndarray]:  # fmt: skip
        tr, te = split(sid)
        ex: tuple[np.ndarray, np.ndarray] | None = None
        n_dropped = 0
        if extra:
            xe, ye, sid_e, nets_e = to_arrays(extra, True)
            held = {nets[i] for i in np.unique(sid[te])}
            keep = np.array([nets_e[i] not in held for i in sid_e], dtype=bool)
            n_dropped = int((~keep).sum())
            if keep.any():
                ex = (xe[keep], ye[keep])
        xt, yt = x[tr], y[tr]
        if ex is not None:
            xt, yt = np.concatenate([xt, ex[0]]), np.concatenate([yt, ex[1]])
        cands = _candidates(seed, mlp, init)
        mlp_fit = cands["mlp"]().fit(xt, yt)
        info: dict = {}
        if select and len(np.unique(sid[tr])) >= 2:
            chosen, info["selection"] = select_predictor(
                cands, x[tr], y[tr], sid[tr], seed=seed, extra=ex
            )
        else:
            chosen = "mlp"
        pred = mlp_fit if chosen == "mlp" else cands[chosen]().fit(xt, yt)
        if extra is not None:
            info["n_search_labels"] = 0 if ex is None else len(ex[1])
            info["n_search_labels_dropped"] = n_dropped  # architecture of a held-out subnet
        info = {
            "model": chosen,
            "heldout": metrics(y[te], pred.predict(x[te])),
            "train": metrics(y[tr], pred.predict(x[tr])),
            "n_train": int(tr.sum()),
            "acc_range": [float(y.min()), float(y.max())],
            **info,
        }
        if chosen != "mlp":  # reference only: the paper's model on the same held-out points
            info["heldout_mlp"] = metrics(y[te], mlp_fit.predict(x[te]))
        refs = offsets.get(kind, {})
        if refs:
            shift = float(np.mean(list(refs.values())))
            pred.y_mean_ += shift
            info["test_offset_pp"] = 100 * shift
            info["test_offset_from"] = {k: round(100 * v, 4) for k, v in refs.items()}
        pred.save(out / f"predictor_{kind}.pt")
        pred.save_npz(out / f"predictor_{kind}.npz")  # what load_predictor reads (no torch)
        return pred, mlp_fit, info, te

    to_arrays = arrays or _arrays
    if not test_offset:
        offsets = {}  # kind -> {reference subnet: test - val}
    elif offsets is None:
        offsets = {}
        summary = out / "summary.json"
        final = (json.loads(summary.read_text()).get("final") or {}) if summary.is_file() else {}
        for name, v in final.items():
            if isinstance(v, dict) and "test" in v and "val" in v:
                kind = "fp" if name.endswith("_fp") else "q"
                offsets.setdefault(kind, {})[name] = float(v["test"]) - float(v["val"])

    x, y, sid, nets = to_arrays(_read_jsonl(out / "measure_fp.jsonl"), False)
    fp, fp_mlp, res["fp"], _ = fit_one("fp", x, y, sid, mlp or {}, None, nets)
    log(f"FP predictor ({res['fp']['model']}): held-out {res['fp']['heldout']}")

    xq, yq, sidq, nets_q = to_arrays(_read_jsonl(out / "measure_q.jsonl"), True)
    search_file = out / "measure_q_search.jsonl"
    extra = _read_jsonl(search_file) if search_file.is_file() else None
    _, _, res["q"], teq = fit_one(
        "q", xq, yq, sidq, {"epochs": 400, **(mlp or {})}, fp_mlp, nets_q, extra
    )
    # Reference: the FP predictor alone (ignores the policy) on the same held-out points.
    fp_val = fp.predict(xq[teq][:, :arch_dim]) - res["fp"].get("test_offset_pp", 0.0) / 100
    res["q"]["heldout_fp_predictor_only"] = metrics(yq[teq], fp_val)
    log(f"quantized predictor ({res['q']['model']}): held-out {res['q']['heldout']}")
    res["fit_s"] = round(time.time() - t0, 1)
    return res
