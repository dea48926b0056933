"""Workload: an ordered layer table with optional per-layer value histograms, and its array form.

:class:`Workload` is what importers return and what users pass to :func:`cimkit.evaluate`.
:class:`LayerArrays` is the numeric view the cost model consumes: every column is an array that
broadcasts to shape (N, L) (N designs, L layers), so one workload shared by all designs has shape
(1, L) and a batch of different networks (a search population) has shape (N, L) with a ``mask``
for padded layer slots.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from cimkit.errors import WorkloadError
from cimkit.workload.histograms import LayerHistogram
from cimkit.workload.layer import LAYER_COLUMNS, MAC_OPS, OPS, Layer, make_layer

if TYPE_CHECKING:  # pandas is imported where a frame is built (the search path never does)
    import pandas as pd

#: Integer codes of op kinds in :class:`LayerArrays` (index into :data:`cimkit.workload.layer.OPS`).
OP_CODE: dict[str, int] = {op: i for i, op in enumerate(OPS)}


@dataclass(frozen=True)
class Workload:
    """A network as an ordered table of layers.

    Attributes:
        name: network name (e.g. 'mobilenetv2').
        layers: layers in execution (topological) order.
        histograms: optional per-layer value histograms keyed by layer name, measured by running
            real data through a PyTorch model; layers without one use the default distribution.
    """

    name: str
    layers: tuple[Layer, ...]
    histograms: dict[str, LayerHistogram] | None = None

    def __post_init__(self) -> None:
        names = [layer.name for layer in self.layers]
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise WorkloadError(f"workload {self.name!r}: duplicate layer names {dup[:5]}")
        if not self.layers:
            raise WorkloadError(f"workload {self.name!r} has no layers")

    def __len__(self) -> int:
        return len(self.layers)

    @property
    def mac_layers(self) -> tuple[Layer, ...]:
        """Layers with multiply-accumulates (conv, dwconv, pwconv, linear, matmul)."""
        return tuple(layer for layer in self.layers if layer.op in MAC_OPS)

    @property
    def total_macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def total_weights(self) -> int:
        return sum(layer.weights for layer in self.layers)

    def to_frame(self) -> pd.DataFrame:
        """The layer table, one row per layer, columns :data:`LAYER_COLUMNS`."""
        import pandas as pd

        return pd.DataFrame([layer.as_row() for layer in self.layers], columns=list(LAYER_COLUMNS))

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, name: str = "workload") -> Workload:
        """Rebuild a workload from :meth:`to_frame` output (derived columns are recomputed)."""
        import pandas as pd

        missing = [c for c in ("name", "op", "in_channels", "out_channels") if c not in frame]
        if missing:
            raise WorkloadError(f"layer table lacks columns {missing}")
        layers = []
        for row in frame.to_dict("records"):
            inputs = row.get("inputs")
            inputs = tuple(str(inputs).split(";")) if isinstance(inputs, str) and inputs else ()
            keys = (
                "in_channels",
                "out_channels",
                "in_h",
                "in_w",
                "out_h",
                "out_w",
                "kernel_h",
                "kernel_w",
                "stride",
                "groups",
                "repeat",
                "weight_bits",
                "act_bits",
            )
            kwargs = {k: int(row[k]) for k in keys if k in row and not pd.isna(row[k])}
            layers.append(make_layer(str(row["name"]), str(row["op"]), inputs=inputs, **kwargs))
        return cls(name=name, layers=tuple(layers))

    def with_bits(
        self,
        weight_bits: int | Sequence[int] | None = None,
        act_bits: int | Sequence[int] | None = None,
    ) -> Workload:
        """A copy with a new quantization policy (one value for all layers, or one per layer)."""

        def per_layer(value: int | Sequence[int] | None, attr: str) -> list[int]:
            if value is None:
                return [getattr(layer, attr) for layer in self.layers]
            if isinstance(value, int | np.integer):
                return [int(value)] * len(self.layers)
            values = [int(v) for v in value]
            if len(values) != len(self.layers):
                raise WorkloadError(
                    f"{attr}: got {len(values)} values for {len(self.layers)} layers"
                )
            return values

        wb = per_layer(weight_bits, "weight_bits")
        ab = per_layer(act_bits, "act_bits")
        layers = tuple(
            replace(layer, weight_bits=w, act_bits=a)
            for layer, w, a in zip(self.layers, wb, ab, strict=True)
        )
        return replace(self, layers=layers)

    def with_histograms(self, histograms: dict[str, LayerHistogram]) -> Workload:
        """A copy carrying measured histograms (unknown layer names are an error)."""
        unknown = sorted(set(histograms) - {layer.name for layer in self.layers})
        if unknown:
            raise WorkloadError(f"histograms for unknown layers: {unknown[:5]}")
        return replace(self, histograms=dict(histograms))

    def arrays(self) -> LayerArrays:
        """The numeric (1, L) view consumed by the cost model."""
        return LayerArrays.from_workloads([self])


# Numeric columns carried by LayerArrays (all int64 except where noted).
ARRAY_COLUMNS: tuple[str, ...] = (
    "in_channels",
    "out_channels",
    "kernel_h",
    "kernel_w",
    "stride",
    "groups",
    "in_h",
    "in_w",
    "out_h",
    "out_w",
    "repeat",
    "weight_bits",
    "act_bits",
    "macs",
    "weights",
    "in_elems",
    "out_elems",
    "ops",
)


@dataclass(frozen=True)
class LayerArrays:
    """Layer columns as arrays of shape (N, L) or (1, L); padded slots have ``mask`` False.

    Attributes:
        op: int64 op codes (:data:`OP_CODE`), shape (B, L) with B in {1, N}.
        mask: bool, True where a layer exists.
        columns: the :data:`ARRAY_COLUMNS` as int64 arrays of the same shape (0 where masked).
        in_hist_index, w_hist_index: int64 index of each layer's histogram in ``hist_tables``
            (0 = the default distribution).
        names: layer names of the first workload (for per-layer tables); None for batches of
            different networks.
        workload_names: one name per row.
    """

    op: np.ndarray
    mask: np.ndarray
    columns: dict[str, np.ndarray]
    hist_index: np.ndarray
    histograms: tuple[LayerHistogram, ...]
    names: tuple[str, ...] | None
    workload_names: tuple[str, ...]

    def __getattr__(self, item: str) -> np.ndarray:
        # Columns read as attributes (la.macs); only called when normal lookup fails.
        columns = object.__getattribute__(self, "columns")
        if item in columns:
            return columns[item]
        raise AttributeError(item)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, L): rows is N when any column varies per design, else 1."""
        rows = max(
            [self.op.shape[0], self.mask.shape[0], self.hist_index.shape[0]]
            + [v.shape[0] for v in self.columns.values()]
        )
        return rows, self.op.shape[1]

    def take_cols(self, index: np.ndarray) -> LayerArrays:
        """Only the layer slots ``index`` (names kept in step)."""
        names = None if self.names is None else tuple(self.names[i] for i in index)
        return replace(
            self,
            op=self.op[:, index],
            mask=self.mask[:, index],
            hist_index=self.hist_index[:, index],
            columns={k: v[:, index] for k, v in self.columns.items()},
            names=names,
        )

    def take_rows(self, start: int, stop: int) -> LayerArrays:
        """Rows start:stop of every per-design array (arrays with one row are shared as is)."""

        def cut(a: np.ndarray) -> np.ndarray:
            return a if a.shape[0] == 1 else a[start:stop]

        names = self.workload_names
        return replace(
            self,
            op=cut(self.op),
            mask=cut(self.mask),
            hist_index=cut(self.hist_index),
            columns={k: cut(v) for k, v in self.columns.items()},
            workload_names=names if len(names) == 1 else names[start:stop],
        )

    def with_bits(self, weight_bits: np.ndarray | None, act_bits: np.ndarray | None) -> LayerArrays:
        """A copy with per-design per-layer bit widths, each broadcastable to (N, L)."""
        cols = dict(self.columns)
        if weight_bits is not None:
            cols["weight_bits"] = np.broadcast_to(
                np.asarray(weight_bits, dtype=np.int64), self._bshape(weight_bits)
            )
        if act_bits is not None:
            cols["act_bits"] = np.broadcast_to(
                np.asarray(act_bits, dtype=np.int64), self._bshape(act_bits)
            )
        return replace(self, columns=cols)

    def _bshape(self, arr: np.ndarray) -> tuple[int, ...]:
        return np.broadcast_shapes(self.op.shape, np.shape(arr))

    @classmethod
    def from_workloads(cls, workloads: Iterable[Workload]) -> LayerArrays:
        """Stack workloads row-wise, padding shorter ones (masked) to the longest."""
        wls = list(workloads)
        if not wls:
            raise WorkloadError("no workloads given")
        n, width = len(wls), max(len(w) for w in wls)
        op = np.zeros((n, width), dtype=np.int64)
        mask = np.zeros((n, width), dtype=bool)
        cols = {c: np.zeros((n, width), dtype=np.int64) for c in ARRAY_COLUMNS}
        hist_index = np.zeros((n, width), dtype=np.int64)
        histograms: list[LayerHistogram] = [LayerHistogram.default()]
        seen: dict[int, int] = {}
        for i, wl in enumerate(wls):
            for j, layer in enumerate(wl.layers):
                op[i, j] = OP_CODE[layer.op]
                mask[i, j] = True
                for c in ARRAY_COLUMNS:
                    cols[c][i, j] = getattr(layer, c)
                hist = (wl.histograms or {}).get(layer.name)
                if hist is not None:
                    if id(hist) not in seen:
                        seen[id(hist)] = len(histograms)
                        histograms.append(hist)
                    hist_index[i, j] = seen[id(hist)]
        names = tuple(layer.name for layer in wls[0].layers) if n == 1 else None
        return cls(
            op=op,
            mask=mask,
            columns=cols,
            hist_index=hist_index,
            histograms=tuple(histograms),
            names=names,
            workload_names=tuple(w.name for w in wls),
        )
