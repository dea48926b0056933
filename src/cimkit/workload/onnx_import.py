"""Import an ONNX model as a layer table.

Shapes come from :mod:`cimkit.workload.onnx_shapes` (concrete input shapes, onnx shape inference,
and one onnxruntime/reference run when inference leaves tensors unknown). Counts are per sample:
dimension 0 of every tensor is divided by the input batch (``_graph.per_sample_shape``); a
leftover fold dimension becomes ``repeat`` or tokens. The full operator list is in
docs/workloads.md ("Importing ONNX files"); decomposed GELU/LayerNorm chains are collapsed by
``_graph.collapse_decomposed``.

The mapping follows the rules of :mod:`cimkit.workload.torch_import` (docs/workloads.md), so a
PyTorch model and its ONNX export give the same table:

* Conv; Gemm and MatMul ('linear' when one operand is a constant initializer, 'matmul' when both
  are activations). An Add of a constant to a Conv/Gemm/MatMul output used only by that Add is the
  layer's bias (the exporter splits ``nn.Linear`` on 3-D inputs into MatMul + Add): no row.
* BatchNormalization whose input is a Conv used by nothing else is folded (the exporter usually
  folds it already); other norms (BatchNormalization, LayerNormalization, GroupNormalization,
  InstanceNormalization) are 'norm' rows.
* Relu, Clip (ReLU6/hardtanh), LeakyRelu, PRelu, Gelu, Sigmoid, Tanh, HardSwish, HardSigmoid,
  Elu, Selu, Softplus, Mish, Erf: 'act'; ``Mul(x, Sigmoid(x))`` is one SiLU row. Softmax,
  LogSoftmax: 'softmax'. MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool, ReduceMean/
  Sum/Max/Min: 'pool'. Add/Sub/Mul/Div with an activation operand: 'eltwise'.
* Shape and data-movement ops (Reshape, Flatten, Transpose, Squeeze, Unsqueeze, Identity,
  Constant, Shape, Gather, Concat, Slice, Split, Expand, Pad, Cast, Dropout, ...) produce no row;
  lineage is traced through them. Nodes whose inputs are all constants are constant-folded.
* Any other operator raises :class:`~cimkit.errors.WorkloadError` listing all of them.

Layer names: the PyTorch TorchScript exporter (``torch.onnx.export(..., dynamo=False)``) names
nodes ``/features/features.1/conv/conv.0/conv.0.0/Conv``; the module path
(``features.1.conv.0.0``) is recovered from these scopes and rows are named exactly like
:func:`~cimkit.workload.torch_import.from_torch` names them. Nodes of other producers are named
by their ONNX node name (or ``<op>`` with a counter when unnamed).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cimkit.errors import MissingDependencyError, WorkloadError
from cimkit.workload._graph import (
    NETWORK_INPUT,
    RowSpec,
    collapse_decomposed,
    conv_dims,
    einsum_dims,
    elementwise_dims,
    linear_dims,
    matmul_dims,
    numel,
    per_sample_shape,
    reduction_dims,
    spatial_pool_dims,
    to_workload,
    union,
)
from cimkit.workload.onnx_shapes import InputShape, ShapeInfo, resolve_shapes
from cimkit.workload.table import Workload
from cimkit.workload.torch_export import unsupported_with_counts

if TYPE_CHECKING:  # pragma: no cover
    import onnx

_SHAPE_OPS = frozenset(
    {
        "Reshape",
        "Flatten",
        "Transpose",
        "Squeeze",
        "Unsqueeze",
        "Identity",
        "Gather",
        "GatherElements",
        "GatherND",
        "Concat",
        "Slice",
        "Split",
        "Expand",
        "Tile",
        "Pad",
        "Cast",
        "CastLike",
        "Dropout",
        "ConstantOfShape",
        "Range",
        "ScatterND",
        "ScatterElements",
        "Trilu",
    }
)
_META_OPS = frozenset({"Shape", "Size"})
_ACT = {
    "Relu": "relu",
    "Clip": "clip",
    "LeakyRelu": "leaky_relu",
    "PRelu": "prelu",
    "Gelu": "gelu",
    "Sigmoid": "sigmoid",
    "Tanh": "tanh",
    "HardSwish": "hardswish",
    "HardSigmoid": "hardsigmoid",
    "Elu": "elu",
    "Selu": "selu",
    "Softplus": "softplus",
    "Mish": "mish",
    "Erf": "erf",
    "Celu": "celu",
}
_NORM = {
    "BatchNormalization": "batch_norm",
    "LayerNormalization": "layer_norm",
    "GroupNormalization": "group_norm",
    "InstanceNormalization": "instance_norm",
}
_SOFTMAX = {"Softmax": "softmax", "LogSoftmax": "log_softmax"}
_ELTWISE = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div"}
#: other element-wise operators on activations: one eltwise row each (tags as the torch path)
_ELTWISE_MORE = {
    "Where": "where",
    "Neg": "neg",
    "Sqrt": "sqrt",
    "Pow": "pow",
    "Exp": "exp",
    "Log": "log",
    "Abs": "abs",
    "IsNaN": "isnan",
    "IsInf": "isinf",
    "Reciprocal": "reciprocal",
    "Max": "max",
    "Min": "min",
    "Sin": "sin",
    "Cos": "cos",
    "Floor": "floor",
    "Ceil": "ceil",
    "Round": "round",
    "Sign": "sign",
    "Mod": "mod",
    "CumSum": "cumsum",  # a running sum over one axis: one op per output element, as on torch
    "Not": "not",
    "And": "and",
    "Or": "or",
    "Equal": "equal",
    "Less": "less",
    "LessOrEqual": "less_or_equal",
    "Greater": "greater",
    "GreaterOrEqual": "greater_or_equal",
}
_RESIZE = frozenset({"Resize", "Upsample"})
_POOL = {"MaxPool": "maxpool", "AveragePool": "avgpool"}
_GLOBAL_POOL = {"GlobalAveragePool": "avgpool", "GlobalMaxPool": "maxpool"}
_REDUCE = {
    "ReduceMean": "mean",
    "ReduceSum": "sum",
    "ReduceMax": "amax",
    "ReduceMin": "amin",
    "ReduceProd": "prod",
    "ReduceL2": "reducel2",
    "ReduceL1": "reducel1",
    "ReduceSumSquare": "sum_square",
    "ReduceLogSumExp": "logsumexp",
    "ArgMax": "argmax",
    "ArgMin": "argmin",
}
#: contrib / newer-opset activations and norms (domain, op) -> (row op, tag)
_CONTRIB = {
    ("com.microsoft", "FastGelu"): ("act", "gelu"),
    ("com.microsoft", "Gelu"): ("act", "gelu"),
    ("com.microsoft", "BiasGelu"): ("act", "gelu"),
    ("com.microsoft", "QuickGelu"): ("act", "gelu"),
    ("", "SimplifiedLayerNormalization"): ("norm", "rms_norm"),
    ("com.microsoft", "SimplifiedLayerNormalization"): ("norm", "rms_norm"),
    ("", "RMSNormalization"): ("norm", "rms_norm"),
}
_WEIGHTED = ("Conv", "Gemm", "MatMul")


def _require_onnx() -> Any:
    try:
        import onnx
        import onnx.numpy_helper  # noqa: F401
        import onnx.shape_inference  # noqa: F401
    except ImportError as exc:  # pragma: no cover - onnx is a declared dependency
        raise MissingDependencyError("importing ONNX models needs onnx: pip install onnx") from exc
    return onnx


def module_scope(node_name: str) -> str | None:
    """The PyTorch module path encoded in a TorchScript-exporter node name, else None.

    ``/features/features.1/conv/conv.0/conv.0.2/Clip`` -> ``features.1.conv.0.2``: each scope
    component is a child name relative to the previous custom module, and children of a
    container (Sequential, ModuleList) repeat the container's component as prefix.
    ``/Add_1`` (top-level forward) -> ''.
    """
    if not node_name.startswith("/"):
        return None
    components = node_name.split("/")[1:-1]
    full, prev = "", ""
    for comp in components:
        if prev and comp.startswith(prev + "."):
            full += comp[len(prev) :]
        else:
            full = f"{full}.{comp}" if full else comp
        prev = comp
    return full


def _attr(node: onnx.NodeProto, name: str, default: Any = None) -> Any:
    onnx = _require_onnx()
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


class _OnnxConverter:
    """Walks a shape-inferred ONNX graph and collects RowSpecs."""

    def __init__(self, info: ShapeInfo, network: str) -> None:
        onnx = _require_onnx()
        model = info.model
        self.network = network
        self.graph = model.graph
        self.rows: list[RowSpec] = []
        self.unsupported: Counter[str] = Counter()
        self.first_scope: dict[str, str] = {}
        self.shapes: dict[str, tuple[int | None, ...]] = dict(info.shapes)
        self.values: dict[str, np.ndarray] = dict(info.values)
        self.batch = 1
        self.run_error = info.run_error
        # lineage: producer row indices per tensor; [] = constant, [-1] = network input
        self.lineage: dict[str, list[int]] = {}
        for init in self.graph.initializer:
            self.shapes[init.name] = tuple(init.dims)
            self.lineage[init.name] = []
            if int(np.prod(init.dims)) <= 16:  # small constants only (Clip bounds); weights
                self.values[init.name] = onnx.numpy_helper.to_array(init)  # are never read
        for inp in self.graph.input:
            if inp.name not in self.lineage:
                self.lineage[inp.name] = [NETWORK_INPUT]
        self.producer: dict[str, onnx.NodeProto] = {}
        self.consumers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
        for node in self.graph.node:
            for out in node.output:
                self.producer[out] = node
            for inp in node.input:
                if inp:
                    self.consumers[inp].append(node)
        self.graph_outputs = {o.name for o in self.graph.output}
        self.mac_row: dict[str, int] = {}  # tensor -> row of the Conv/linear producing it
        self.folded: set[int] = set()  # id() of folded BatchNorms
        self.fused_sigmoid: set[int] = set()
        self.silu_mul: dict[int, str] = {}  # id() of the Mul -> the SiLU input tensor
        self.batch = self._infer_batch(info)

    def _infer_batch(self, info: ShapeInfo) -> int:
        """B: the gcd of dim 0 of the network inputs and of every computing node's output that
        depends on them (the torch path's rule, torch_export.infer_batch), >= 1."""
        batch = 0
        for shape in info.inputs.values():
            if shape:
                batch = math.gcd(batch, int(shape[0]))
        dyn = set(info.inputs)
        for node in self.graph.node:
            if node.op_type in _META_OPS or not any(t in dyn for t in node.input if t):
                continue
            dyn.update(o for o in node.output if o)
            if node.op_type in _SHAPE_OPS or node.op_type == "Constant":
                continue
            shape = self.shapes.get(node.output[0]) if node.output else None
            if shape and shape[0]:
                batch = math.gcd(batch, int(shape[0]))
        return max(1, batch)

    # -- helpers ---------------------------------------------------------------------
    def sole_consumer(self, tensor: str) -> onnx.NodeProto | None:
        users = self.consumers.get(tensor, [])
        if len(users) == 1 and tensor not in self.graph_outputs:
            return users[0]
        return None

    def is_static(self, tensor: str) -> bool:
        return not self.lineage.get(tensor, [])

    def per_sample(self, tensor: str, node: onnx.NodeProto) -> tuple[int, ...]:
        """Per-sample shape of ``tensor`` (dim 0 divided by the input batch, see
        :func:`~cimkit.workload._graph.per_sample_shape`)."""
        shape = self.shapes.get(tensor)
        if shape is None or any(d is None for d in shape):
            raise WorkloadError(
                f"ONNX: unknown shape of tensor {tensor!r} (input/output of node "
                f"{node.name or node.op_type!r}); pass input_shape or export with static shapes"
                + (f" [{self.run_error}]" if self.run_error else "")
            )
        return per_sample_shape(shape, self.batch, f"ONNX {node.op_type} {tensor!r}")

    def fail(self, node: onnx.NodeProto, label: str) -> None:
        self.unsupported[label] += 1
        self.first_scope.setdefault(label, self.scope(node))

    def is_scalar_const(self, tensor: str) -> bool:
        shape = self.shapes.get(tensor)
        return self.is_static(tensor) and shape is not None and numel(shape) == 1

    def const_shape(self, tensor: str) -> tuple[int, ...]:
        shape = self.shapes.get(tensor)
        if shape is None or any(d is None for d in shape):
            raise WorkloadError(f"ONNX: unknown shape of constant {tensor!r}")
        return tuple(int(d) for d in shape)

    def scope(self, node: onnx.NodeProto) -> str:
        scope = module_scope(node.name)
        if scope is None:  # not a TorchScript-exporter name: the node name is the scope
            return node.name.replace("/", ".").strip(".")
        return scope

    def emit(self, node: onnx.NodeProto, tag: str, op: str, dims: dict, sources: list[int]) -> int:
        self.rows.append(RowSpec(self.scope(node), tag, op, dims, list(sources)))
        index = len(self.rows) - 1
        for out in node.output:
            self.lineage[out] = [index]
        return index

    def pass_through(self, node: onnx.NodeProto, sources: list[int]) -> None:
        for out in node.output:
            self.lineage[out] = list(sources)

    # -- walk ------------------------------------------------------------------------
    def prepass(self) -> None:
        for node in self.graph.node:
            if node.op_type == "BatchNormalization" and node.input:
                conv = self.producer.get(node.input[0])
                if (
                    conv is not None
                    and conv.op_type == "Conv"
                    and self.sole_consumer(node.input[0]) is node
                ):
                    self.folded.add(id(node))
            if node.op_type == "Sigmoid" and node.input:
                user = self.sole_consumer(node.output[0])
                if (
                    user is not None
                    and user.op_type == "Mul"
                    and len(user.input) == 2
                    and set(user.input) == {node.input[0], node.output[0]}
                ):
                    self.fused_sigmoid.add(id(node))
                    self.silu_mul[id(user)] = node.input[0]

    def run(self) -> list[RowSpec]:
        self.prepass()
        for node in self.graph.node:
            try:
                self.visit(node)
            except WorkloadError:
                # Shapes downstream of an unsupported op may be unknown: keep walking so the
                # final error lists every unsupported operator, not the first missing shape.
                if not self.unsupported:
                    raise
                self.pass_through(node, union(self.lineage.get(t, []) for t in node.input if t))
        if self.unsupported:
            raise unsupported_with_counts(self.network, self.unsupported, self.first_scope, "ONNX")
        return self.rows

    def visit(self, node: onnx.NodeProto) -> None:
        op = node.op_type
        if op == "Constant":
            self.values[node.output[0]] = self._constant_value(node)
            self.pass_through(node, [])
            return
        sources = union(self.lineage.get(t, []) for t in node.input if t)
        if op in _META_OPS or not sources:
            self.pass_through(node, [])  # metadata, or constant-foldable
            return
        domain = "" if node.domain in ("", "ai.onnx") else node.domain
        if (domain, op) in _CONTRIB:
            kind, tag = _CONTRIB[(domain, op)]
            self._elementwise(node, tag, kind, self.lineage.get(node.input[0], sources))
            return
        if domain:
            self.fail(node, f"{domain}::{op}")
        elif op in _SHAPE_OPS:
            self.pass_through(node, sources)
            return
        elif op == "Conv":
            self.do_conv(node, sources)
            return
        elif op in ("Gemm", "MatMul"):
            self.do_gemm(node, sources)
            return
        elif op in _ELTWISE:
            self.do_eltwise(node, sources)
            return
        elif op in _ACT:
            self.do_act(node, sources)
            return
        elif op in _ELTWISE_MORE:
            self._elementwise(node, _ELTWISE_MORE[op], "eltwise", sources)
            return
        elif op in _RESIZE:
            self._elementwise(node, "resize", "eltwise", sources)
            return
        elif op == "Einsum":
            self.do_einsum(node, sources)
            return
        elif op in _NORM:
            if id(node) in self.folded:
                self.pass_through(node, self.lineage.get(node.input[0], []))
            else:
                self._elementwise(node, _NORM[op], "norm", sources)
            return
        elif op in _SOFTMAX:
            self._elementwise(node, _SOFTMAX[op], "softmax", sources)
            return
        elif op in _POOL or op in _GLOBAL_POOL:
            self.do_pool(node, sources)
            return
        elif op in _REDUCE:
            full = self.shapes.get(node.output[0])
            if full and full[0] is not None and full[0] % self.batch == 0:
                out_s = self.per_sample(node.output[0], node)
            else:  # a full reduction also reduces the batch: per sample, in elements -> 1
                out_s = ()
            dims = reduction_dims(self.per_sample(node.input[0], node), out_s)
            self.emit(node, _REDUCE[op], "pool", dims, sources)
            return
        else:
            self.fail(node, op)
        self.pass_through(node, sources)

    def _constant_value(self, node: onnx.NodeProto) -> np.ndarray:
        onnx = _require_onnx()
        for a in node.attribute:
            value = onnx.helper.get_attribute_value(a)
            if isinstance(value, onnx.TensorProto):
                arr = onnx.numpy_helper.to_array(value)
            else:
                arr = np.asarray(value)
            self.shapes.setdefault(node.output[0], tuple(arr.shape))
            return arr
        return np.zeros(0)

    # -- handlers --------------------------------------------------------------------
    def do_conv(self, node: onnx.NodeProto, sources: list[int]) -> None:
        x, w = node.input[0], node.input[1]
        if not self.is_static(w):
            self.fail(node, "Conv with an activation as weight")
            self.pass_through(node, sources)
            return
        strides = _attr(node, "strides", [1])
        w_shape = self.const_shape(w)
        in_s, out_s = self.per_sample(x, node), self.per_sample(node.output[0], node)
        repeat = 1
        if len(in_s) == len(w_shape):  # a leading fold dimension (patches folded into dim 0)
            repeat, in_s, out_s = in_s[0], in_s[1:], out_s[1:]
        dims = conv_dims(in_s, out_s, w_shape, int(strides[0]), int(_attr(node, "group", 1)))
        if repeat > 1:
            dims["repeat"] = repeat
        self.mac_row[node.output[0]] = self.emit(
            node, "conv", "conv", dims, self.lineage.get(x, [])
        )

    def do_gemm(self, node: onnx.NodeProto, sources: list[int]) -> None:
        a, b = node.input[0], node.input[1]
        out = self.per_sample(node.output[0], node)
        a_dyn, b_dyn = not self.is_static(a), not self.is_static(b)
        if a_dyn and b_dyn:
            b_shape = self.per_sample(b, node)
            if node.op_type == "Gemm" and _attr(node, "transB", 0):
                b_shape = (*b_shape[:-2], b_shape[-1], b_shape[-2])
            dims = matmul_dims(self.per_sample(a, node), b_shape, out)
            self.emit(node, "matmul", "matmul", dims, sources)
            return
        const = self.const_shape(b if a_dyn else a)
        if len(const) != 2:
            self.fail(node, f"{node.op_type} with a constant of rank {len(const)}")
            self.pass_through(node, sources)
            return
        if a_dyn:
            k, n = const
            if node.op_type == "Gemm" and _attr(node, "transB", 0):
                n, k = const
            dims = linear_dims(k, n, out)
        else:  # W @ x
            m, k = const
            tokens = int(np.prod(out)) // m
            dims = dict(in_channels=k, out_channels=m, in_h=tokens, in_w=1, out_h=tokens, out_w=1)
        self.mac_row[node.output[0]] = self.emit(node, "linear", "linear", dims, sources)

    def _elementwise(self, node: onnx.NodeProto, tag: str, op: str, sources: list[int]) -> None:
        out = self.per_sample(node.output[0], node)
        self.emit(node, tag, op, elementwise_dims(out), sources)

    def do_eltwise(self, node: onnx.NodeProto, sources: list[int]) -> None:
        if id(node) in self.silu_mul:
            x = self.silu_mul[id(node)]
            self._elementwise(node, "silu", "act", self.lineage.get(x, sources))
            return
        if node.op_type in ("Mul", "Div") and len(node.input) == 2:
            a, b = node.input
            for act, other in ((a, b), (b, a)):
                if not self.is_static(act) and self.is_scalar_const(other):
                    if node.op_type == "Div" and act == b:
                        break  # c / x is a real division
                    self.pass_through(node, self.lineage.get(act, []))  # requantization scale
                    return
        if node.op_type in ("Add", "Sub") and len(node.input) == 2:
            # x + 0 / x - 0 (an absent branch written as a literal 0): an identity, as on torch.
            a, b = node.input
            pairs = [(a, b)] if node.op_type == "Sub" else [(a, b), (b, a)]
            for act, other in pairs:
                zero = self.values.get(other)
                if (
                    not self.is_static(act)
                    and self.is_scalar_const(other)
                    and zero is not None
                    and np.all(np.asarray(zero) == 0)
                ):
                    self.pass_through(node, self.lineage.get(act, []))
                    return
        if node.op_type == "Add" and len(node.input) == 2:
            for mac, other in ((node.input[0], node.input[1]), (node.input[1], node.input[0])):
                if (
                    mac in self.mac_row
                    and self.is_static(other)
                    and self.sole_consumer(mac) is node
                ):
                    self.pass_through(node, [self.mac_row[mac]])  # the layer's bias
                    return
        self._elementwise(node, _ELTWISE[node.op_type], "eltwise", sources)

    def do_act(self, node: onnx.NodeProto, sources: list[int]) -> None:
        if id(node) in self.fused_sigmoid:
            self.pass_through(node, sources)
            return
        tag = _ACT[node.op_type]
        if tag == "clip":
            tag = self._clip_tag(node)
        self._elementwise(node, tag, "act", sources)

    def _clip_tag(self, node: onnx.NodeProto) -> str:
        lo, hi = _attr(node, "min"), _attr(node, "max")  # opset < 11
        if len(node.input) > 1 and node.input[1] in self.values:
            lo = self.values[node.input[1]]
        if len(node.input) > 2 and node.input[2] in self.values:
            hi = self.values[node.input[2]]
        try:
            is_relu6 = float(np.asarray(lo)) == 0.0 and float(np.asarray(hi)) == 6.0
        except (TypeError, ValueError):
            is_relu6 = False
        return "relu6" if is_relu6 else "clip"

    def do_einsum(self, node: onnx.NodeProto, sources: list[int]) -> None:
        """Two-operand einsum: 'matmul' with two activations, else 'linear' (the torch rule)."""
        equation = str(_attr(node, "equation", b"")).replace(" ", "")
        if isinstance(_attr(node, "equation"), bytes):
            equation = _attr(node, "equation").decode().replace(" ", "")
        if len(node.input) != 2 or "->" not in equation or "." in equation:
            self.fail(node, f"Einsum {equation!r}")
            self.pass_through(node, sources)
            return
        out = self.per_sample(node.output[0], node)
        a, b = node.input
        # Unknown dims count as 1 (the shapes table may hold None for a symbolic dim).
        shapes = [tuple(int(d or 1) for d in self.shapes.get(o) or ()) for o in node.input]
        op, dims = einsum_dims(
            equation, shapes, out, not self.is_static(a) and not self.is_static(b)
        )
        index = self.emit(node, op, op, dims, sources)
        if op == "linear":
            self.mac_row[node.output[0]] = index

    def do_pool(self, node: onnx.NodeProto, sources: list[int]) -> None:
        in_shape = self.per_sample(node.input[0], node)
        out_shape = self.per_sample(node.output[0], node)
        if len(in_shape) == 4:  # a leading fold dimension: fold it into the channels
            in_shape = (in_shape[0] * in_shape[1], *in_shape[2:])
            out_shape = (out_shape[0] * out_shape[1], *out_shape[2:])
        kernel: tuple[int, int] | None = None
        stride: int | None = None
        if node.op_type in _POOL:
            ks = [int(k) for k in _attr(node, "kernel_shape", [1])]
            kernel = (1, ks[0]) if len(ks) == 1 else (ks[0], ks[1])
            stride = int(_attr(node, "strides", [1])[0])
        tag = _POOL.get(node.op_type) or _GLOBAL_POOL[node.op_type]
        self.emit(
            node, tag, "pool", spatial_pool_dims(in_shape, out_shape, kernel, stride), sources
        )


def _load(path_or_model: str | Path | onnx.ModelProto) -> tuple[onnx.ModelProto, str]:
    onnx = _require_onnx()
    if isinstance(path_or_model, onnx.ModelProto):
        return path_or_model, path_or_model.graph.name or "onnx_model"
    path = Path(path_or_model)
    if not path.is_file():
        raise WorkloadError(f"ONNX file not found: {str(path)!r}")
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf DecodeError and friends
        raise WorkloadError(f"cannot read ONNX file {str(path)!r}: {type(exc).__name__}") from exc
    return model, path.stem


def from_onnx(
    path_or_model: str | Path | onnx.ModelProto,
    name: str | None = None,
    weight_bits: int = 8,
    act_bits: int = 8,
    input_shape: InputShape = None,
    input_dtype: str | None = None,
) -> Workload:
    """The layer table of an ONNX model.

    Args:
        path_or_model: a ``.onnx`` file or a loaded ``onnx.ModelProto``. Shapes must be static
            except the batch dimension (the first dimension of every activation, dropped: counts
            are per sample).
        name: workload name (default: the file stem, or the graph name of a ModelProto).
        weight_bits, act_bits: quantization written into every row.
        input_shape: concrete shape of the first graph input, batch first (e.g.
            ``(1, 3, 96, 96)``), or a mapping input name -> shape; needed when an input has
            symbolic non-batch dims (a symbolic batch alone becomes 1).
        input_dtype: numpy dtype name of the dummy input of the shape run (default: the
            declared element type).

    Raises:
        WorkloadError: unreadable file, unknown shapes, or unsupported operators (all listed).
    """
    _require_onnx()
    model, default_name = _load(path_or_model)
    network = name or default_name
    info = resolve_shapes(model, input_shape, input_dtype, network)
    rows = collapse_decomposed(_OnnxConverter(info, network).run())
    return to_workload(network, rows, weight_bits, act_bits)
