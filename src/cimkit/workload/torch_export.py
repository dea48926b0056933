"""The torch.export route of :func:`cimkit.workload.torch_import.from_torch` (aten-level graph).

:func:`export_rows` exports the model with ``torch.export.export(model, args, strict=False)``
(no decompositions: the graph holds aten operators such as ``aten.conv2d``, ``aten.linear``,
``aten.layer_norm``, ``aten.scaled_dot_product_attention``) and maps every node to layer rows
with the rules of docs/workloads.md ("Rules"), identical to the torch.fx route and the ONNX
importer:

* shapes come from ``node.meta['val']`` (fake tensors), module scopes from
  ``node.meta['nn_module_stack']``;
* the batch B is the leading dimension of the first tensor input; every activation's per-sample
  shape is :func:`~cimkit.workload._graph.per_sample_shape` (dimension 0 divided by B, a leftover
  fold dimension kept), so the table is the same at batch 1 and batch 2 and MobileViT-style
  patch folding into dimension 0 is counted in full;
* ``scaled_dot_product_attention`` becomes matmul (Q Kᵀ), [add (attn_mask)], softmax,
  matmul (A V);
* operators without a rule are collected and raised as one error listing each qualified name
  (``aten.cumsum.default``) with its count and the first scope it occurs in.
"""

from __future__ import annotations

import math
import operator
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cimkit.errors import WorkloadError
from cimkit.workload._graph import (
    NETWORK_INPUT,
    RowSpec,
    constant_product_dims,
    conv_dims,
    einsum_dims,
    elementwise_dims,
    linear_dims,
    matmul_dims,
    numel,
    per_sample_shape,
    reduction_dims,
    spatial_pool_dims,
    union,
)

if TYPE_CHECKING:  # pragma: no cover
    from torch import fx, nn

# ---------------------------------------------------------------- the aten operator table
# kind -> aten overload packet names (``aten.<name>``); every overload of a packet maps the same.
_KINDS: dict[str, tuple[str, ...]] = {
    "conv": ("conv1d", "conv2d", "convolution", "_convolution"),
    "linear": ("linear",),
    "matmul": ("matmul", "mm", "bmm"),
    "addmm": ("addmm", "baddbmm"),
    "einsum": ("einsum",),
    "sdpa": ("scaled_dot_product_attention",),
    "bn": ("batch_norm", "_native_batch_norm_legit_no_training", "native_batch_norm"),
    "norm": (
        "layer_norm",
        "native_layer_norm",
        "group_norm",
        "native_group_norm",
        "instance_norm",
        "rms_norm",
    ),
    "softmax": ("softmax", "_softmax", "log_softmax", "_log_softmax"),
    "pool": ("max_pool1d", "max_pool2d", "max_pool2d_with_indices", "avg_pool1d", "avg_pool2d"),
    "apool": (
        "adaptive_avg_pool1d",
        "adaptive_avg_pool2d",
        "_adaptive_avg_pool2d",
        "adaptive_max_pool1d",
        "adaptive_max_pool2d",
    ),
    "resize": (
        "upsample_nearest1d",
        "upsample_nearest2d",
        "upsample_linear1d",
        "upsample_bilinear2d",
        "upsample_bicubic2d",
        "_upsample_bilinear2d_aa",
        "_upsample_bicubic2d_aa",
        "_upsample_nearest_exact1d",
        "_upsample_nearest_exact2d",
        "grid_sampler",
        "grid_sampler_2d",
    ),
    "reduce": (
        "mean",
        "sum",
        "amax",
        "amin",
        "max",
        "min",
        "prod",
        "var",
        "std",
        "var_mean",
        "std_mean",
        "logsumexp",
        "norm",
        "linalg_vector_norm",
        "argmax",
        "argmin",
        "all",
        "any",
    ),
    "shape": (
        "view",
        "_unsafe_view",
        "reshape",
        "permute",
        "transpose",
        "t",
        "contiguous",
        "clone",
        "unsqueeze",
        "squeeze",
        "flatten",
        "unflatten",
        "expand",
        "expand_as",
        "repeat",
        "repeat_interleave",
        "tile",
        "slice",
        "select",
        "narrow",
        "split",
        "split_with_sizes",
        "tensor_split",
        "chunk",
        "unbind",
        "cat",
        "concat",
        "stack",
        "hstack",
        "vstack",
        "pad",
        "constant_pad_nd",
        "reflection_pad1d",
        "reflection_pad2d",
        "replication_pad1d",
        "replication_pad2d",
        "roll",
        "flip",
        "movedim",
        "swapaxes",
        "transpose_",
        "dropout",
        "dropout_",
        "native_dropout",
        "alpha_dropout",
        "feature_dropout",
        "feature_alpha_dropout",
        "_to_copy",
        "to",
        "type_as",
        "detach",
        "alias",
        "lift_fresh_copy",
        "embedding",
        "index",
        "index_select",
        "gather",
        "masked_select",
        "diagonal",
        "tril",
        "triu",
        "as_strided",
        "unfold",
        "view_as",
        "reshape_as",
        "copy",
        "copy_",
        "float",
        "half",
        "double",
        "int",
        "long",
        "bool",
        "fill_",
        "zero_",
    ),
    # creators and metadata: outputs do not depend on activation values
    "meta": (
        "sym_size",
        "sym_numel",
        "sym_stride",
        "size",
        "dim",
        "numel",
        "zeros_like",
        "ones_like",
        "full_like",
        "empty_like",
        "rand_like",
        "randn_like",
        "new_zeros",
        "new_ones",
        "new_full",
        "new_empty",
        "_assert_async",
        "_assert_scalar",
        "_assert_tensor_metadata",
        "sym_constrain_range",
        "sym_constrain_range_for_size",
        "_functional_assert_async",
        "item",
        "_local_scalar_dense",
        "scalar_tensor",
        "arange",
        "zeros",
        "ones",
        "full",
        "empty",
    ),
}
_ACTS: dict[str, str] = {
    "relu": "relu",
    "relu_": "relu",
    "relu6": "relu6",
    "hardtanh": "clip",
    "hardtanh_": "clip",
    "clamp": "clip",
    "clamp_": "clip",
    "clip": "clip",
    "clamp_min": "clip",
    "clamp_max": "clip",
    "leaky_relu": "leaky_relu",
    "leaky_relu_": "leaky_relu",
    "prelu": "prelu",
    "_prelu_kernel": "prelu",
    "gelu": "gelu",
    "gelu_": "gelu",
    "silu": "silu",
    "silu_": "silu",
    "sigmoid": "sigmoid",
    "sigmoid_": "sigmoid",
    "tanh": "tanh",
    "tanh_": "tanh",
    "hardswish": "hardswish",
    "hardswish_": "hardswish",
    "hardsigmoid": "hardsigmoid",
    "hardsigmoid_": "hardsigmoid",
    "elu": "elu",
    "elu_": "elu",
    "selu": "selu",
    "selu_": "selu",
    "celu": "celu",
    "softplus": "softplus",
    "mish": "mish",
    "mish_": "mish",
    "erf": "erf",
    "glu": "glu",
    "quick_gelu": "gelu",
}
#: element-wise operators -> canonical tag (one eltwise row each)
_ELTWISE: dict[str, str] = {
    "add": "add",
    "add_": "add",
    "sub": "sub",
    "sub_": "sub",
    "rsub": "sub",
    "mul": "mul",
    "mul_": "mul",
    "div": "div",
    "div_": "div",
    "true_divide": "div",
    "floor_divide": "div",
    "where": "where",
    "neg": "neg",
    "sqrt": "sqrt",
    "rsqrt": "rsqrt",
    "pow": "pow",
    "square": "pow",
    "exp": "exp",
    "log": "log",
    "abs": "abs",
    "isnan": "isnan",
    "isinf": "isinf",
    "reciprocal": "reciprocal",
    "maximum": "max",
    "minimum": "min",
    "sin": "sin",
    "cos": "cos",
    "floor": "floor",
    "ceil": "ceil",
    "round": "round",
    "sign": "sign",
    "masked_fill": "where",
    "masked_fill_": "where",
    "eq": "equal",
    "ne": "not_equal",
    "lt": "less",
    "le": "less_or_equal",
    "gt": "greater",
    "ge": "greater_or_equal",
    "logical_not": "not",
    "logical_and": "and",
    "logical_or": "or",
    "bitwise_not": "not",
    "bitwise_and": "and",
    "bitwise_or": "or",
    "addcmul": "addcmul",  # x + v * a * b: a mul row and an add row (as exporters write it)
    "lerp": "lerp",
    "fmod": "mod",
    "remainder": "mod",
    "nan_to_num": "where",
    "sgn": "sign",
    "cumsum": "cumsum",
    "cumprod": "cumprod",
}
_SCALAR_FOLDED = ("mul", "div")  # x * c, x / c with a scalar constant: absorbed in requantization


def _packet_table() -> dict[str, tuple[str, str]]:
    table: dict[str, tuple[str, str]] = {}
    for kind, names in _KINDS.items():
        for name in names:
            table.setdefault(name, (kind, name))
    for name, tag in _ACTS.items():
        table[name] = ("act", tag)
    for name, tag in _ELTWISE.items():
        table[name] = ("eltwise", tag)
    return table


_TABLE = _packet_table()
_REDUCE_TAGS = {"max": "amax", "min": "amin", "linalg_vector_norm": "reducel2", "norm": "reducel2"}
_NORM_TAGS = {
    "native_layer_norm": "layer_norm",
    "native_group_norm": "group_norm",
    "_native_batch_norm_legit_no_training": "batch_norm",
    "native_batch_norm": "batch_norm",
}


def qualified_name(target: Any) -> str:
    """The real qualified name of a graph node's target: ``aten.cumsum.default``, ``operator.add``,
    ``mylib.layers.fn`` (never a made-up ``torch.`` prefix)."""
    packet = getattr(target, "overloadpacket", None)  # OpOverload: aten.cumsum.default
    namespace = getattr(target, "namespace", None)
    if packet is not None and namespace:
        overload = getattr(target, "_overloadname", None) or "default"
        return f"{namespace}.{packet.__name__}.{overload}"
    module = getattr(target, "__module__", None) or ""
    qual = getattr(target, "__qualname__", None) or getattr(target, "__name__", None)
    if qual is None:
        return repr(target)
    if module in ("_operator", "operator"):
        module = "operator"
    return f"{module}.{qual}" if module else str(qual)


def _packet(target: Any) -> str | None:
    """The aten overload packet name of ``target`` ('conv2d' for aten.conv2d.default)."""
    packet = getattr(target, "overloadpacket", None)
    if packet is not None and getattr(target, "namespace", None) == "aten":
        return str(packet.__name__)
    if target is operator.getitem:
        return "getitem"
    if getattr(target, "__module__", "") in ("_operator", "operator"):
        return {"add": "add", "sub": "sub", "mul": "mul", "truediv": "div", "neg": "neg"}.get(
            getattr(target, "__name__", ""), "sym"
        )
    return None


def node_scope(node: fx.Node) -> str:
    """Dotted module path of the innermost module running ``node`` ('' at top level); the k-th
    extra call of a module is ``<path>_k`` (the ONNX exporter's scope naming)."""
    stack = node.meta.get("nn_module_stack")
    if not stack:
        return ""
    key, value = next(reversed(stack.items()))
    path = str(value[0]) if isinstance(value, tuple) else str(key)
    if path.startswith("L__self__"):
        path = path[len("L__self__") :].lstrip("_.")
    key = str(key)
    if "@" in key and key.rsplit("@", 1)[1].isdigit():
        return f"{path}_{key.rsplit('@', 1)[1]}"
    return path


def _val(arg: Any) -> Any:
    return arg.meta.get("val") if hasattr(arg, "meta") else None


def _shape(arg: Any) -> tuple[int, ...] | None:
    val = _val(arg)
    if isinstance(val, tuple | list):  # multi-output op: the first tensor
        val = val[0] if val else None
    shape = getattr(val, "shape", None)
    if shape is None:
        return None
    try:
        return tuple(int(d) for d in shape)
    except (TypeError, ValueError):  # unbacked symbolic size
        return None


def _arg(node: fx.Node, index: int, key: str, default: Any = None) -> Any:
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(key, default)


def _ints(value: Any, default: int) -> tuple[int, ...]:
    if value is None or (isinstance(value, tuple | list) and not value):
        return (default,)
    if isinstance(value, tuple | list):
        return tuple(int(v) for v in value)
    return (int(value),)


def _clip_tag(lo: Any, hi: Any) -> str:
    try:
        return "relu6" if float(lo) == 0.0 and float(hi) == 6.0 else "clip"
    except (TypeError, ValueError):
        return "clip"


class ExportConverter:
    """Walks an exported program's graph and collects :class:`RowSpec` rows."""

    def __init__(self, ep: Any, network: str) -> None:
        self.ep, self.network = ep, network
        self.graph = ep.graph_module.graph
        sig = ep.graph_signature
        self.user_inputs = set(sig.user_inputs)
        self.rows: list[RowSpec] = []
        self.lineage: dict[Any, list[int]] = {}
        self.unsupported: Counter[str] = Counter()
        self.first_scope: dict[str, str] = {}
        self.mac_row: dict[Any, int] = {}
        self.folded: set[Any] = set()
        self.fused_sigmoid: set[Any] = set()
        self.silu_mul: dict[Any, Any] = {}
        self.gelu_skip: set[Any] = set()  # pieces of a written-out GELU (no rows)
        self.gelu_out: dict[Any, Any] = {}  # last node of a written-out GELU -> its input x
        self.batch = infer_batch(
            self.graph.nodes,
            lambda n: n.op == "placeholder" and n.name in self.user_inputs,
            _shape,
            lambda n: n.op == "call_function" and (self.kind(n) or ("",))[0] != "meta",
            lambda n: (self.kind(n) or ("",))[0] not in ("shape", "meta"),
        )

    # -- helpers -----------------------------------------------------------------------
    def kind(self, node: Any) -> tuple[str, str] | None:
        if not hasattr(node, "op") or node.op != "call_function":
            return None
        packet = _packet(node.target)
        if packet == "getitem":
            return ("shape", "getitem")
        if packet == "sym":
            return ("meta", "sym")
        return _TABLE.get(packet) if packet else None

    def dyn(self, arg: Any) -> bool:
        return hasattr(arg, "op") and bool(self.lineage.get(arg))

    def per_sample(self, arg: Any, what: str, node: fx.Node) -> tuple[int, ...]:
        shape = _shape(arg)
        if shape is None:
            raise WorkloadError(
                f"torch.export: no static shape for {what} of node {node.name!r} "
                f"({qualified_name(node.target)}); give a concrete example input"
            )
        return per_sample_shape(shape, self.batch, f"{qualified_name(node.target)} {what}")

    def emit(self, node: Any, tag: str, op: str, dims: dict, sources: list[int]) -> int:
        self.rows.append(RowSpec(node_scope(node), tag, op, dims, list(sources)))
        index = len(self.rows) - 1
        self.lineage[node] = [index]
        if op in ("conv", "linear"):
            self.mac_row[node] = index
        return index

    def fail(self, node: Any, label: str | None = None) -> None:
        label = label or qualified_name(node.target)
        self.unsupported[label] += 1
        self.first_scope.setdefault(label, node_scope(node))

    def _is_scalar_const(self, arg: Any) -> bool:
        if isinstance(arg, int | float | bool):
            return True
        if hasattr(arg, "op") and not self.lineage.get(arg):
            shape = _shape(arg)
            return shape is not None and numel(shape) == 1
        return False

    # -- passes ------------------------------------------------------------------------
    def prepass(self) -> None:
        self.depends: set[Any] = set()  # nodes computed from a network input
        for node in self.graph.nodes:
            if node.op == "placeholder":
                if node.name in self.user_inputs:
                    self.depends.add(node)
            elif (self.kind(node) or ("",))[0] != "meta" and any(
                a in self.depends for a in node.all_input_nodes
            ):
                self.depends.add(node)
        for node in self.graph.nodes:
            k = self.kind(node)
            if k is None:
                continue
            if k[0] == "bn":
                src = node.args[0] if node.args else None
                if self.kind(src) is not None and self.kind(src)[0] == "conv":
                    if len(src.users) == 1:
                        self.folded.add(node)
            if k == ("act", "sigmoid") and len(node.users) == 1:
                user = next(iter(node.users))
                x = node.args[0] if node.args else None
                if (
                    self.kind(user) == ("eltwise", "mul")
                    and len(user.args) == 2
                    and set(user.args) == {x, node}
                    and x is not node
                ):
                    self.fused_sigmoid.add(node)
                    self.silu_mul[user] = node
            if k in (("act", "erf"), ("act", "tanh")):
                self._gelu_pattern(node)

    _ARITH = ("add", "sub", "mul", "div", "pow")

    def _arith(self, node: Any) -> bool:
        k = self.kind(node)
        return k is not None and k[0] == "eltwise" and k[1] in self._ARITH

    def _gelu_pattern(self, e: Any) -> None:
        """Collapse GELU written out (erf form x/2 (1 + erf(x/sqrt2)), tanh form
        x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))) into one 'gelu' act row (rules: one act
        row fused or decomposed)."""
        inner: set[Any] = set()
        leaves: set[Any] = set()
        todo = [a for a in e.all_input_nodes if self.dyn_node(a)]
        while todo:  # the argument of erf/tanh: arithmetic on one activation x and constants
            n = todo.pop()
            if n in inner or n in leaves:
                continue
            if self._arith(n) and all(u in inner or u is e or u in todo for u in n.users):
                inner.add(n)
                todo.extend(a for a in n.all_input_nodes if self.dyn_node(a))
            else:
                leaves.add(n)
        if len(leaves) != 1 or not inner:
            return
        (x,) = leaves
        x_like = {x}  # x and x times a scalar constant (the 0.5 factor)
        for u in x.users:
            if self.kind(u) in (("eltwise", "mul"), ("eltwise", "div")) and any(
                self._scalar_const_static(a) for a in u.args if a is not x
            ):
                x_like.add(u)
        chain, cur, saw_x = [], e, False
        while len(cur.users) == 1:
            u = next(iter(cur.users))
            if not self._arith(u) or len(u.args) != 2:
                break
            other = u.args[1] if u.args[0] is cur else u.args[0]
            tag = self.kind(u)[1]
            if other in x_like and tag == "mul" and not saw_x:
                saw_x = True
            elif saw_x and not (tag in ("mul", "div") and self._scalar_const_static(other)):
                break
            elif not saw_x and not self._scalar_const_static(other):
                break
            chain.append(u)
            cur = u
        if not saw_x:
            return
        helpers = {n for n in x_like - {x} if set(n.users) <= set(chain)}
        self.gelu_skip.update(inner | {e} | set(chain[:-1]) | helpers)
        self.gelu_out[chain[-1]] = x

    def dyn_node(self, arg: Any) -> bool:
        """Static check (before lineage exists): a graph node computed from the input."""
        return hasattr(arg, "op") and arg in self.depends

    def _scalar_const_static(self, arg: Any) -> bool:
        if isinstance(arg, int | float) and not isinstance(arg, bool):
            return True
        if hasattr(arg, "op") and arg not in self.depends:
            shape = _shape(arg)
            return shape is not None and numel(shape) == 1
        return False

    def run(self) -> list[RowSpec]:
        self.prepass()
        for node in self.graph.nodes:
            self.visit(node)
        if self.unsupported:
            raise unsupported_with_counts(
                self.network, self.unsupported, self.first_scope, "torch.export"
            )
        return self.rows

    def visit(self, node: fx.Node) -> None:
        if node.op == "placeholder":
            self.lineage[node] = [NETWORK_INPUT] if node.name in self.user_inputs else []
            return
        if node.op in ("get_attr", "output"):
            self.lineage[node] = []
            return
        kind = self.kind(node)
        if kind is not None and kind[0] == "meta":
            self.lineage[node] = []
            return
        sources = union(self.lineage.get(n, []) for n in node.all_input_nodes)
        if not sources:
            self.lineage[node] = []  # constant-foldable
            return
        if node in self.gelu_out:
            self._elementwise(node, "gelu", "act", self.lineage.get(self.gelu_out[node], []))
            return
        if node in self.gelu_skip:
            self.lineage[node] = sources
            return
        if kind is None:
            self.fail(node)
            self.lineage[node] = sources
            return
        handler: Callable[[fx.Node, str, list[int]], None] = getattr(self, f"do_{kind[0]}")
        handler(node, kind[1], sources)

    # -- handlers ----------------------------------------------------------------------
    def do_shape(self, node: fx.Node, tag: str, sources: list[int]) -> None:
        if (_packet(node.target) or "").endswith("_as") and node.args:
            # view_as / reshape_as / expand_as: the second tensor gives only a shape, so its
            # producer is no input (ONNX exports it as Shape, which carries no data).
            sources = list(self.lineage.get(node.args[0], []))
        self.lineage[node] = sources  # data movement (and lookups): lineage passes through

    def do_conv(self, node: fx.Node, tag: str, sources: list[int]) -> None:
        x, w = node.args[0], node.args[1]
        if self.dyn(w):
            self.fail(node, f"{qualified_name(node.target)} with an activation as weight")
            self.lineage[node] = sources
            return
        packet = _packet(node.target)
        if packet in ("convolution", "_convolution"):
            if bool(_arg(node, 6, "transposed", False)):
                self.fail(node, f"{qualified_name(node.target)} (transposed)")
                self.lineage[node] = sources
                return
            groups = int(_arg(node, 8, "groups", 1))
        else:
            groups = int(_arg(node, 6, "groups", 1))
        stride = _ints(_arg(node, 3, "stride", 1), 1)[0]
        w_shape = _shape(w) or ()
        in_s = self.per_sample(x, "input", node)
        out_s = self.per_sample(node, "output", node)
        repeat = 1
        if len(in_s) == len(w_shape):  # a leading fold dimension (patches folded into dim 0)
            repeat, in_s, out_s = in_s[0], in_s[1:], out_s[1:]
        dims = conv_dims(in_s, out_s, w_shape, stride, groups)
        if repeat > 1:
            dims["repeat"] = repeat
        self.emit(node, "conv", "conv", dims, self.lineage.get(x, []))

    def _linear(self, node: Any, x: Any, in_f: int, out_f: int) -> None:
        out = self.per_sample(node, "output", node)
        self.emit(node, "linear", "linear", linear_dims(in_f, out_f, out), self.lineage.get(x, []))

    def do_linear(self, node: fx.Node, tag: str, sources: list[int]) -> None:
        x, w = node.args[0], node.args[1]
        w_shape = _shape(w) or ()
        if self.dyn(w):  # x @ w.T with two activations
            a = self.per_sample(x, "input", node)
            b = self.per_sample(w, "weight", node)
            out = self.per_sample(node, "output", node)
            dims = matmul_dims(a, (*b[:-2], b[-1], b[-2]) if len(b) >= 2 else b, out)
            self.emit(node, "matmul", "matmul", dims, sources)
            return
        if len(w_shape) != 2:
            self.fail(node, f"{qualified_name(node.target)} with a weight of rank {len(w_shape)}")
            self.lineage[node] = sources
            return
        self._linear(node, x, w_shape[1], w_shape[0])

    def _product(self, node: Any, a: Any, b: Any, sources: list[int]) -> None:
        out = self.per_sample(node, "output", node)
        if self.dyn(a) and self.dyn(b):
            a_s = self.per_sample(a, "operand A", node)
            b_s = self.per_sample(b, "operand B", node)
            self.emit(node, "matmul", "matmul", matmul_dims(a_s, b_s, out), sources)
            return
        const = _shape(b if self.dyn(a) else a) or ()
        if len(const) != 2:
            self.fail(node, f"{qualified_name(node.target)} with a constant of rank {len(const)}")
            self.lineage[node] = sources
            return
        dims = constant_product_dims(const, out, const_on_right=self.dyn(a))
        self.emit(node, "linear", "linear", dims, sources)

    def do_matmul(self, node: fx.Node, tag: str, sources: list[int]) -> None:
        self._product(node, node.args[0], node.args[1], sources)

    def do_addmm(self, node: fx.Node, tag: str, sources: list[int]) -> None:
        bias, a, b = node.args[0], node.args[1], node.args[2]
        before = len(self.rows)
        self._product(node, a, b, union(self.lineage.get(n, []) for n in (a, b)))
        if self.dyn(bias) and len(self.rows) > before:  # an activation added: its own add row
            out = self.per_sample(node, "output", node)
            row = self.rows[-1]
            src = union([[len(self.rows) - 1], self.lineage.get(bias, [])])
            self.rows.append(RowSpec(row.scope, "add", "eltwise", elementwise_dims(out), src))
            self.lineage[node] = [len(self.rows) - 1]

    def do_einsum(self, node: fx.Node, tag: str, sources: list[int]) -> None:
        equation = str(node.args[0]).replace(" ", "")
        operands = list(node.args[1])
        if len(operands) != 2 or "->" not in equation or "." in equation:
            self.fail(node, f"{qualified_name(node.target)} {equation!r}")
            self.lineage[node] = sources
            return
        out = self.per_sample(node, "output", node)
        a, b = operands
        shapes = [_shape(operand) or () for operand in operands]
        op, dims = einsum_dims(equation, shapes, out, self.dyn(a) and self.dyn(b))
        self.emit(node, op, op, dims, sources)

    def do_sdpa(self, node: fx.Node, tag: str, sources: list[int]) -> None:
        q, k, v = node.args[0], node.args[1], node.args[2]
        mask = _arg(node, 3, "attn_mask")
        causal = bool(_arg(node, 5, "is_causal", False))
        q_s = self.per_sample(q, "query", node)
        k_s = self.per_sample(k, "key", node)
        v_s = self.per_sample(v, "value", node)
        out = self.per_sample(node, "output", node)
        lead = q_s[:-2]
        length, e = (q_s[-2], q_s[-1]) if len(q_s) >= 2 else (1, q_s[-1])
        s = k_s[-2] if len(k_s) >= 2 else 1
        scores = (*lead, length, s)
        qk = matmul_dims(q_s, (*k_s[:-2], e, s), scores)
        i_qk = self.emit(
            node, "matmul", "matmul", qk, union([self.lineage.get(q, []), self.lineage.get(k, [])])
        )
        last = i_qk
        if mask is not None and hasattr(mask, "op") or causal:
            src = union([[last], self.lineage.get(mask, []) if hasattr(mask, "op") else []])
            last = self.emit(node, "add", "eltwise", elementwise_dims(scores), src)
        last = self.emit(node, "softmax", "softmax", elementwise_dims(scores), [last])
        av = matmul_dims(scores, (*v_s[:-2], s, v_s[-1]), out)
        self.emit(node, "matmul", "matmul", av, union([[last], self.lineage.get(v, [])]))

    def _elementwise(self, node: Any, tag: str, op: str, sources: list[int]) -> None:
        out = self.per_sample(node, "output", node)
        self.emit(node, tag, op, elementwise_dims(out), sources)

    def do_bn(self, node: fx.Node, tag: str, sources: list[int]) -> None:
        if node in self.folded:
            self.lineage[node] = self.lineage.get(node.args[0], [])
            return
        self._elementwise(node, "batch_norm", "norm", self.lineage.get(node.args[0], sources))

    def do_norm(self, node: fx.Node, tag: str, sources: list[int]) -> None:
        tag = _NORM_TAGS.get(tag, tag)
        self._elementwise(node, tag, "norm", self.lineage.get(node.args[0], sources))

    def do_softmax(self, node: fx.Node, tag: str, sources: list[int]) -> None:
        self._elementwise(node, tag.lstrip("_"), "softmax", sources)

    def do_act(self, node: fx.Node, tag: str, sources: list[int]) -> None:
        if node in self.fused_sigmoid:
            self.lineage[node] = sources
            return
        if tag == "clip":
            packet = _packet(node.target)
            if packet and packet.startswith("hardtanh"):
                tag = _clip_tag(_arg(node, 1, "min_val", -1.0), _arg(node, 2, "max_val", 1.0))
            elif packet in ("clamp_min", "clamp_max"):
                tag = "clip"
            else:
                tag = _clip_tag(_arg(node, 1, "min"), _arg(node, 2, "max"))
        self._elementwise(node, tag, "act", self.lineage.get(node.args[0], sources))

    def do_eltwise(self, node: fx.Node, tag: str, sources: list[int]) -> None:
        if node in self.silu_mul:
            x = self.silu_mul[node].args[0]
            self._elementwise(node, "silu", "act", self.lineage.get(x, sources))
            return
        if tag == "addcmul":
            # Two elementary operations, two rows (rule 5), so the ONNX export (Mul, Add) gives
            # the same table.
            def lin(a: Any) -> list[int]:
                return list(self.lineage.get(a, [])) if hasattr(a, "users") else []

            base, t1, t2 = (list(node.args) + [None, None, None])[:3]
            mul = self.emit(node, "mul", "eltwise", elementwise_dims(self.per_sample(
                node, "output", node)), union([lin(t1), lin(t2)]))  # fmt: skip
            self._elementwise(node, "add", "eltwise", union([lin(base), [mul]]))
            return
        args = [a for a in node.args[:2]]
        if tag in _SCALAR_FOLDED and len(args) == 2:
            for act, other in ((args[0], args[1]), (args[1], args[0])):
                if self.dyn(act) and self._is_scalar_const(other):
                    if tag == "div" and act is args[1]:
                        break  # c / x is a real division
                    self.lineage[node] = self.lineage.get(act, [])
                    return
        if tag in ("add", "sub") and len(args) == 2:
            # x + 0 (timm's MobileOne adds a literal 0 for an absent branch): an identity, which
            # exporters drop too.
            if "rsub" in str(node.target):  # aten.rsub(x, c) = c - x: never an identity
                pairs = []
            elif tag == "sub":
                pairs = [(args[0], args[1])]  # x - 0 only (0 - x is a negation)
            else:
                pairs = [(args[0], args[1]), (args[1], args[0])]
            for act, other in pairs:
                if self.dyn(act) and isinstance(other, int | float) and other == 0:
                    self.lineage[node] = self.lineage.get(act, [])
                    return
        if tag == "add" and len(args) == 2:
            for mac, other in ((args[0], args[1]), (args[1], args[0])):
                if (
                    hasattr(mac, "users")
                    and mac in self.mac_row
                    and len(mac.users) == 1
                    and not self.dyn(other)
                ):
                    self.lineage[node] = [self.mac_row[mac]]  # a constant bias of the layer
                    return
        self._elementwise(node, tag, "eltwise", sources)

    def do_pool(self, node: fx.Node, tag: str, sources: list[int]) -> None:
        x = node.args[0]
        kernel = _ints(_arg(node, 1, "kernel_size"), 1)
        stride = _ints(_arg(node, 2, "stride"), 0)
        if not stride or stride == (0,):
            stride = kernel
        in_s = self.per_sample(x, "input", node)
        out_s = self.per_sample(node, "output", node)
        tag = "maxpool" if tag.startswith("max") else "avgpool"
        kern = (kernel[0], kernel[-1])
        if len(in_s) == 2:
            kern = (1, kernel[-1])
        self._pool(node, tag, in_s, out_s, kern, stride[0], sources)

    def do_apool(self, node: fx.Node, tag: str, sources: list[int]) -> None:
        in_s = self.per_sample(node.args[0], "input", node)
        out_s = self.per_sample(node, "output", node)
        tag = "maxpool" if "max" in tag else "avgpool"
        self._pool(node, tag, in_s, out_s, None, None, sources)

    def _pool(
        self,
        node: Any,
        tag: str,
        in_s: Any,
        out_s: Any,
        kernel: Any,
        stride: Any,
        sources: list[int],
    ) -> None:
        if len(in_s) == 4:  # a leading fold dimension: fold it into the channels
            in_s = (in_s[0] * in_s[1], *in_s[2:])
            out_s = (out_s[0] * out_s[1], *out_s[2:])
        if len(in_s) not in (2, 3):
            self.emit(node, tag, "pool", reduction_dims(in_s, out_s), sources)
            return
        self.emit(node, tag, "pool", spatial_pool_dims(in_s, out_s, kernel, stride), sources)

    def do_resize(self, node: fx.Node, tag: str, sources: list[int]) -> None:
        self._elementwise(node, "resize", "eltwise", sources)

    def do_reduce(self, node: fx.Node, tag: str, sources: list[int]) -> None:
        in_s = self.per_sample(node.args[0], "input", node)
        full = _shape(node)
        if full is None:
            raise WorkloadError(f"torch.export: no shape for the output of {node.name!r}")
        # A full reduction (no dim) removes the batch too: per sample it is in elements -> 1.
        if full and full[0] % self.batch == 0 and len(full) > 0:
            out_s = per_sample_shape(full, self.batch)
        else:
            out_s = ()
        self.emit(node, _REDUCE_TAGS.get(tag, tag), "pool", reduction_dims(in_s, out_s), sources)


def infer_batch(
    nodes: Any,
    is_input: Callable[[Any], bool],
    shape_of: Callable[[Any], tuple[int, ...] | None],
    computes: Callable[[Any], bool],
    counts: Callable[[Any], bool],
) -> int:
    """The batch B of a traced graph: the greatest common divisor of dimension 0 of the network
    input and of the output of every computing operator (``counts``: not shape-only ops, whose
    leading dimension is arbitrary, e.g. an ``unsqueeze(0)``) that depends on the input.

    For a batch-first model this is the input's leading dimension (folds such as MobileViT's
    patches in dimension 0 are multiples of it); for a seq-first model, whose input is
    (T, B, C), attention reshapes put B (or B x heads) first and the divisor is B, so a
    seq-first model at batch 1 is not mistaken for a batch of T samples.
    """
    dyn: set[Any] = set()
    batch = 0
    for node in nodes:
        if is_input(node):
            dyn.add(node)
        elif computes(node) and any(n in dyn for n in node.all_input_nodes):
            dyn.add(node)
            if not counts(node):
                continue
        else:
            continue
        shape = shape_of(node)
        if shape and int(shape[0]) > 0:
            batch = math.gcd(batch, int(shape[0]))
    return max(1, batch)


def unsupported_with_counts(
    network: str, counts: Counter[str], first_scope: dict[str, str], importer: str
) -> WorkloadError:
    """One-line error: every unsupported operator with its count and first scope."""
    parts = []
    for label in sorted(counts):
        scope = first_scope.get(label, "")
        where = f"first in {scope!r}" if scope else "first at top level"
        parts.append(f"{label} x{counts[label]} ({where})")
    return WorkloadError(
        f"{importer}: network {network!r} uses unsupported operators: {', '.join(parts)} "
        "(see docs/workloads.md for the supported set)"
    )


def export_program(model: nn.Module, inputs: tuple[Any, ...]) -> Any:
    """``torch.export.export(model, inputs, strict=False)`` in eval mode without gradients."""
    import torch

    with torch.no_grad():
        return torch.export.export(model, inputs, strict=False)


def export_rows(ep: Any, network: str) -> list[RowSpec]:
    """The rows of an exported program (see the module docstring)."""
    return ExportConverter(ep, network).run()
