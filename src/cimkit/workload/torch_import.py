"""Import a PyTorch model as a layer table: torch.export first, torch.fx as the fallback.

:func:`from_torch` (and :func:`import_torch`, which also says which route was used) captures the
model with ``torch.export.export(model, args, strict=False)`` and maps the aten graph to rows
(:mod:`cimkit.workload.torch_export`). When export fails, it traces the model with
:func:`torch.fx.symbolic_trace`, runs :class:`torch.fx.passes.shape_prop.ShapeProp` on the example
input (in eval mode, without gradients) and maps every fx node with the tables below. The rules
(docs/workloads.md) are the ones the built-in generators and the ONNX importer follow:

* MAC rows: ``nn.Conv1d/2d``, ``F.conv1d/2d``, ``nn.Linear``, ``F.linear``; ``matmul``/``bmm``/
  ``mm``/``@`` is 'linear' when one operand is a constant (parameter or buffer) and 'matmul' when
  both are activations; ``F.scaled_dot_product_attention`` is matmul, softmax, matmul.
* BatchNorm whose input is a convolution used by nothing else is folded into it (no row); any
  other BatchNorm, LayerNorm, GroupNorm, InstanceNorm is a 'norm' row.
* Activations (ReLU, ReLU6, GELU, SiLU, Hardswish, ...) are 'act' rows; ``x * sigmoid(x)`` is
  one SiLU row. Softmax/LogSoftmax: 'softmax'. Pools and mean/sum/amax/amin reductions: 'pool'.
  add/sub/mul/div with at least one activation operand: 'eltwise', except a multiply/divide by
  a scalar constant (absorbed in the requantization scale: no row).
* Shape-only ops (flatten, view, reshape, permute, transpose, contiguous, getitem, size, cat,
  split, chunk, dropout, identity, pad, embedding lookups...) produce no row; ``inputs`` lineage
  is traced through them. Ops whose inputs are all constants are constant-folded (no row).
* Anything else raises :class:`~cimkit.errors.WorkloadError` listing every unsupported operator
  by its qualified name, with counts and the first scope.

Shapes are per sample: ``_graph.per_sample_shape`` with the batch of ``torch_export.infer_batch``.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import operator
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from cimkit.errors import MissingDependencyError, WorkloadError, clip, short_repr
from cimkit.workload._graph import (
    NETWORK_INPUT,
    RowSpec,
    constant_product_dims,
    conv_dims,
    elementwise_dims,
    linear_dims,
    matmul_dims,
    per_sample_shape,
    reduction_dims,
    spatial_pool_dims,
    to_workload,
    union,
)
from cimkit.workload.histograms import LayerHistogram
from cimkit.workload.table import Workload
from cimkit.workload.torch_export import infer_batch, qualified_name, unsupported_with_counts

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import fx, nn

_log = logging.getLogger(__name__)

#: Default example input of :func:`load_torch_factory`: one 3 x 224 x 224 image.
DEFAULT_INPUT_SHAPE: tuple[int, ...] = (1, 3, 224, 224)


def _require_torch() -> Any:
    try:
        import torch
        import torch.fx  # noqa: F401
    except ImportError as exc:  # pragma: no cover - torch is a declared dependency
        raise MissingDependencyError(
            "importing PyTorch models needs torch: pip install torch"
        ) from exc
    return torch


# --------------------------------------------------------------------------- op tables
@lru_cache(maxsize=1)
def _tables() -> tuple[dict, dict, dict]:
    """(module types, functions, tensor methods) -> (kind, tag). Built once, lazily."""
    torch = _require_torch()
    nn, F = torch.nn, torch.nn.functional
    shape, meta = ("shape", ""), ("meta", "")
    acts = {
        nn.ReLU: "relu",
        nn.ReLU6: "relu6",
        nn.Hardtanh: "clip",
        nn.LeakyReLU: "leaky_relu",
        nn.PReLU: "prelu",
        nn.GELU: "gelu",
        nn.SiLU: "silu",
        nn.Sigmoid: "sigmoid",
        nn.Tanh: "tanh",
        nn.Hardswish: "hardswish",
        nn.Hardsigmoid: "hardsigmoid",
        nn.ELU: "elu",
        nn.SELU: "selu",
        nn.Softplus: "softplus",
        nn.Mish: "mish",
    }
    modules: dict[type, tuple[str, str]] = {t: ("act", tag) for t, tag in acts.items()}
    modules.update(
        {
            nn.Conv1d: ("conv", "conv"),
            nn.Conv2d: ("conv", "conv"),
            nn.Linear: ("linear", "linear"),
            nn.BatchNorm1d: ("bn", "batch_norm"),
            nn.BatchNorm2d: ("bn", "batch_norm"),
            nn.LayerNorm: ("norm", "layer_norm"),
            nn.GroupNorm: ("norm", "group_norm"),
            nn.InstanceNorm1d: ("norm", "instance_norm"),
            nn.InstanceNorm2d: ("norm", "instance_norm"),
            nn.Softmax: ("softmax", "softmax"),
            nn.LogSoftmax: ("softmax", "log_softmax"),
            nn.MaxPool1d: ("pool", "maxpool"),
            nn.MaxPool2d: ("pool", "maxpool"),
            nn.AvgPool1d: ("pool", "avgpool"),
            nn.AvgPool2d: ("pool", "avgpool"),
            nn.AdaptiveAvgPool1d: ("apool", "avgpool"),
            nn.AdaptiveAvgPool2d: ("apool", "avgpool"),
            nn.AdaptiveMaxPool1d: ("apool", "maxpool"),
            nn.AdaptiveMaxPool2d: ("apool", "maxpool"),
            nn.Dropout: shape,
            nn.Dropout1d: shape,
            nn.Dropout2d: shape,
            nn.AlphaDropout: shape,
            nn.Identity: shape,
            nn.Flatten: shape,
            nn.Unflatten: shape,
            nn.Embedding: shape,
        }
    )
    fn_acts = {
        F.relu: "relu",
        torch.relu: "relu",
        F.relu6: "relu6",
        F.hardtanh: "clip",
        torch.clamp: "clip",
        torch.clip: "clip",
        F.leaky_relu: "leaky_relu",
        F.prelu: "prelu",
        F.gelu: "gelu",
        F.silu: "silu",
        torch.sigmoid: "sigmoid",
        F.sigmoid: "sigmoid",
        torch.tanh: "tanh",
        F.tanh: "tanh",
        F.hardswish: "hardswish",
        F.hardsigmoid: "hardsigmoid",
        F.elu: "elu",
        F.selu: "selu",
        torch.selu: "selu",
        F.softplus: "softplus",
        F.mish: "mish",
        torch.erf: "erf",
    }
    functions: dict[Any, tuple[str, str]] = {f: ("act", tag) for f, tag in fn_acts.items()}
    for tag, fns in {
        "add": (operator.add, operator.iadd, torch.add),
        "sub": (operator.sub, operator.isub, torch.sub, torch.subtract),
        "mul": (operator.mul, operator.imul, torch.mul, torch.multiply),
        "div": (operator.truediv, operator.itruediv, torch.div, torch.divide, torch.true_divide),
        "cumsum": (torch.cumsum,),
    }.items():
        functions.update({f: ("eltwise", tag) for f in fns})
    functions.update(
        {f: ("matmul", "matmul") for f in (operator.matmul, torch.matmul, torch.bmm, torch.mm)}
    )
    functions.update(
        {
            F.linear: ("flinear", "linear"),
            F.scaled_dot_product_attention: ("sdpa", "sdpa"),
            F.conv1d: ("fconv", "conv"),
            F.conv2d: ("fconv", "conv"),
            F.batch_norm: ("bn", "batch_norm"),
            F.layer_norm: ("norm", "layer_norm"),
            F.group_norm: ("norm", "group_norm"),
            F.instance_norm: ("norm", "instance_norm"),
            F.softmax: ("softmax", "softmax"),
            torch.softmax: ("softmax", "softmax"),
            F.log_softmax: ("softmax", "log_softmax"),
            torch.log_softmax: ("softmax", "log_softmax"),
            F.max_pool1d: ("fpool", "maxpool"),
            F.max_pool2d: ("fpool", "maxpool"),
            F.avg_pool1d: ("fpool", "avgpool"),
            F.avg_pool2d: ("fpool", "avgpool"),
            F.adaptive_avg_pool1d: ("apool", "avgpool"),
            F.adaptive_avg_pool2d: ("apool", "avgpool"),
            F.adaptive_max_pool1d: ("apool", "maxpool"),
            F.adaptive_max_pool2d: ("apool", "maxpool"),
            torch.mean: ("reduce", "mean"),
            torch.sum: ("reduce", "sum"),
            torch.amax: ("reduce", "amax"),
            torch.amin: ("reduce", "amin"),
            getattr: meta,
        }
    )
    for f in (
        torch.flatten,
        torch.reshape,
        torch.permute,
        torch.transpose,
        torch.squeeze,
        torch.unsqueeze,
        torch.cat,
        torch.concat,
        torch.stack,
        torch.chunk,
        torch.split,
        torch.narrow,
        torch.t,
        torch.movedim,
        torch.swapaxes,
        torch.unbind,
        operator.getitem,
        F.dropout,
        F.pad,
        F.embedding,
    ):
        functions[f] = shape
    methods: dict[str, tuple[str, str]] = {}
    for tag, names in {
        "add": ("add", "add_"),
        "sub": ("sub", "sub_"),
        "mul": ("mul", "mul_"),
        "div": ("div", "div_"),
        "cumsum": ("cumsum",),
    }.items():
        methods.update({m: ("eltwise", tag) for m in names})
    methods.update({m: ("matmul", "matmul") for m in ("matmul", "bmm", "mm")})
    methods.update(
        {
            "relu": ("act", "relu"),
            "relu_": ("act", "relu"),
            "sigmoid": ("act", "sigmoid"),
            "sigmoid_": ("act", "sigmoid"),
            "tanh": ("act", "tanh"),
            "tanh_": ("act", "tanh"),
            "clamp": ("act", "clip"),
            "clamp_": ("act", "clip"),
            "clip": ("act", "clip"),
            "softmax": ("softmax", "softmax"),
            "log_softmax": ("softmax", "log_softmax"),
            "mean": ("reduce", "mean"),
            "sum": ("reduce", "sum"),
            "amax": ("reduce", "amax"),
            "amin": ("reduce", "amin"),
            "size": meta,
            "dim": meta,
            "numel": meta,
        }
    )
    for m in (
        "view",
        "reshape",
        "flatten",
        "permute",
        "transpose",
        "contiguous",
        "unsqueeze",
        "squeeze",
        "expand",
        "expand_as",
        "repeat",
        "chunk",
        "split",
        "unbind",
        "narrow",
        "t",
        "to",
        "float",
        "half",
        "double",
        "type",
        "detach",
        "clone",
        "view_as",
        "reshape_as",
        "unflatten",
        "movedim",
        "swapaxes",
    ):
        methods[m] = shape
    return modules, functions, methods


def _module_kind(module: nn.Module) -> tuple[str, str] | None:
    modules = _tables()[0]
    for cls in type(module).__mro__:  # ReLU6 before its base Hardtanh
        if cls in modules:
            return modules[cls]
    return None


def _label(node: fx.Node, gm: fx.GraphModule) -> str:
    """A readable name of an unsupported operator (for the error message)."""
    if node.op == "call_module":
        cls = type(gm.get_submodule(node.target))
        return f"{cls.__module__}.{cls.__qualname__}"
    if node.op == "call_method":
        return f"torch.Tensor.{node.target}"
    fn = node.target
    name = getattr(fn, "__name__", None)
    module = getattr(fn, "__module__", None)
    if name and (module is None or module.startswith("torch")) and _is_torch_builtin(fn):
        return f"torch.{name}"  # C builtins such as torch.cumsum have no __module__
    return qualified_name(fn)


def _is_torch_builtin(fn: Any) -> bool:
    torch = _require_torch()
    name = getattr(fn, "__name__", "")
    return getattr(torch, name, None) is fn


def _scope(node: fx.Node) -> str:
    """Dotted module path of the innermost module running ``node`` ('' at top level).

    The k-th extra call of the same module gets the suffix ``_k`` (the ONNX exporter's scope
    naming), e.g. torchvision's BasicBlock calls ``relu`` twice: 'layer1.0.relu', '...relu_1'.
    """
    stack = node.meta.get("nn_module_stack")
    if stack:
        key, value = next(reversed(stack.items()))
        path = value[0] if isinstance(value, tuple) else str(key)
        if isinstance(key, str) and key.startswith(path + "@"):
            return f"{path}_{key[len(path) + 1 :]}"
        return str(path)
    return str(node.target) if node.op == "call_module" else ""


def _shape(arg: Any) -> tuple[int, ...] | None:
    meta = getattr(arg, "meta", {}).get("tensor_meta") if hasattr(arg, "meta") else None
    shape = getattr(meta, "shape", None)
    return None if shape is None else tuple(int(d) for d in shape)


def _arg(node: fx.Node, index: int, key: str, default: Any = None) -> Any:
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(key, default)


def _pair(value: Any, default: Any = None) -> tuple[int, int]:
    """(first, last) of an int or a 1-/2-tuple kernel or stride; None or () means ``default``."""
    if value is None or (isinstance(value, tuple | list) and len(value) == 0):
        value = default
    if isinstance(value, tuple | list):
        return int(value[0]), int(value[-1])
    return int(value), int(value)


def _clip_tag(lo: Any, hi: Any) -> str:
    """'relu6' for clip(0, 6) (what the ONNX Clip of a ReLU6 becomes), else 'clip'."""
    try:
        return "relu6" if float(lo) == 0.0 and float(hi) == 6.0 else "clip"
    except (TypeError, ValueError):
        return "clip"


# --------------------------------------------------------------------------- converter
class _FxConverter:
    """Walks a shape-propagated GraphModule and collects RowSpecs."""

    def __init__(self, gm: fx.GraphModule, network: str) -> None:
        self.gm, self.network = gm, network
        self.rows: list[RowSpec] = []
        self.lineage: dict[fx.Node, list[int]] = {}
        self.unsupported: list[str] = []
        self.folded: set[fx.Node] = set()  # BatchNorms folded into their conv
        self.fused_sigmoid: set[fx.Node] = set()  # sigmoid of a x * sigmoid(x) pair
        self.silu_mul: dict[fx.Node, fx.Node] = {}  # mul -> its fused sigmoid
        self.mac_row: dict[fx.Node, int] = {}  # node -> its conv/linear row (for bias folds)
        self.first_scope: dict[str, str] = {}
        self.batch = infer_batch(  # see torch_export.infer_batch
            gm.graph.nodes,
            lambda n: n.op == "placeholder",
            _shape,
            lambda n: n.op in ("call_module", "call_function", "call_method")
            and (self.kind(n) or ("",))[0] != "meta",
            lambda n: (self.kind(n) or ("",))[0] not in ("shape", "meta"),
        )

    # -- classification ---------------------------------------------------------------
    def kind(self, node: fx.Node) -> tuple[str, str] | None:
        _, functions, methods = _tables()
        if node.op == "call_module":
            return _module_kind(self.gm.get_submodule(node.target))
        if node.op == "call_function":
            try:
                return functions.get(node.target)
            except TypeError:  # unhashable target
                return None
        if node.op == "call_method":
            return methods.get(node.target)
        return None

    def _is(self, node: Any, kinds: tuple[str, ...], tags: tuple[str, ...] = ()) -> bool:
        if not hasattr(node, "op"):
            return False
        k = self.kind(node)
        return k is not None and k[0] in kinds and (not tags or k[1] in tags)

    def _data_users(self, node: fx.Node) -> list[fx.Node]:
        """Users that read ``node``'s values (not ``x.ndim``/``x.shape`` queries or asserts)."""
        torch = _require_torch()
        asserts = (torch._assert, getattr(torch, "_assert_async", None))
        return [
            u
            for u in node.users
            if not (
                (self.kind(u) or ("",))[0] == "meta"
                or (u.op == "call_function" and u.target in asserts)
            )
        ]

    def prepass(self) -> None:
        for node in self.gm.graph.nodes:
            if self._is(node, ("bn",)):
                src = node.args[0] if node.args else None
                if self._is(src, ("conv", "fconv")) and len(self._data_users(src)) == 1:
                    self.folded.add(node)
            if self._is(node, ("act",), ("sigmoid",)) and len(node.users) == 1:
                user = next(iter(node.users))
                x = node.args[0] if node.args else None
                if (
                    self._is(user, ("eltwise",), ("mul",))
                    and len(user.args) == 2
                    and set(user.args) == {x, node}
                    and x is not node
                ):
                    self.fused_sigmoid.add(node)
                    self.silu_mul[user] = node

    # -- rows ------------------------------------------------------------------------
    def emit(self, node: fx.Node, tag: str, op: str, dims: dict, sources: list[int]) -> None:
        self.rows.append(RowSpec(_scope(node), tag, op, dims, list(sources)))
        self.lineage[node] = [len(self.rows) - 1]
        if op in ("conv", "linear"):
            self.mac_row[node] = len(self.rows) - 1

    def per_sample(self, arg: Any, what: str, node: fx.Node) -> tuple[int, ...]:
        shape = _shape(arg)
        if shape is None or len(shape) < 1:
            raise WorkloadError(
                f"torch.fx: no tensor shape for {what} of node {node.name!r} ({node.target}); "
                "every activation needs a static shape"
            )
        return per_sample_shape(shape, self.batch, f"{_label(node, self.gm)} {what}")

    def run(self) -> list[RowSpec]:
        self.prepass()
        for node in self.gm.graph.nodes:
            self.visit(node)
        if self.unsupported:
            counts = Counter(self.unsupported)
            raise unsupported_with_counts(self.network, counts, self.first_scope, "torch.fx")
        return self.rows

    def fail(self, node: fx.Node, label: str) -> None:
        self.unsupported.append(label)
        self.first_scope.setdefault(label, _scope(node))

    def visit(self, node: fx.Node) -> None:
        if node.op == "placeholder":
            self.lineage[node] = [NETWORK_INPUT]
            return
        if node.op in ("get_attr", "output"):
            self.lineage[node] = []
            return
        sources = union(self.lineage.get(n, []) for n in node.all_input_nodes)
        kind = self.kind(node)
        if kind is not None and kind[0] == "meta":
            self.lineage[node] = []  # sizes and dtypes are metadata, not data flow
            return
        if not sources:
            self.lineage[node] = []  # constant-foldable: all inputs are constants
            return
        if kind is None:
            self.fail(node, _label(node, self.gm))
            self.lineage[node] = sources
            return
        handler: Callable[[fx.Node, str, list[int]], None] = getattr(self, f"do_{kind[0]}")
        handler(node, kind[1], sources)

    # -- handlers (one per kind) ------------------------------------------------------
    def do_shape(self, node: fx.Node, tag: str, sources: list[int]) -> None:
        name = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", "")
        if str(name).endswith("_as") and node.args:
            # view_as / reshape_as / expand_as: the second tensor gives only a shape, so its
            # producer is no input (the torch.export and ONNX routes agree).
            sources = list(self.lineage.get(node.args[0], []))
        self.lineage[node] = sources

    def do_conv(self, node: fx.Node, tag: str, sources: list[int]) -> None:
        m = self.gm.get_submodule(node.target)
        in_s = self.per_sample(node.args[0], "input", node)
        out_s = self.per_sample(node, "output", node)
        repeat = 1
        if len(in_s) == m.weight.dim():  # a leading fold dimension (patches folded into dim 0)
            repeat, in_s, out_s = in_s[0], in_s[1:], out_s[1:]
        dims = conv_dims(in_s, out_s, tuple(m.weight.shape), int(m.stride[0]), int(m.groups))
        if repeat > 1:
            dims["repeat"] = repeat
        self.emit(node, tag, "conv", dims, sources)

    def do_fconv(self, node: fx.Node, tag: str, sources: list[int]) -> None:
        x, w = node.args[0], _arg(node, 1, "weight")
        if self.lineage.get(w):
            self.fail(node, f"{_label(node, self.gm)} with an activation as weight")
            self.lineage[node] = sources
            return
        stride = _pair(_arg(node, 3, "stride", 1))[0]
        groups = int(_arg(node, 6, "groups", 1))
        dims = conv_dims(
            self.per_sample(x, "input", node),
            self.per_sample(node, "output", node),
            _shape(w) or (),
            stride,
            groups,
        )
        self.emit(node, tag, "conv", dims, self.lineage.get(x, []))

    def do_linear(self, node: fx.Node, tag: str, sources: list[int]) -> None:
        m = self.gm.get_submodule(node.target)
        out = self.per_sample(node, "output", node)
        self.emit(node, tag, "linear", linear_dims(m.in_features, m.out_features, out), sources)

    def do_flinear(self, node: fx.Node, tag: str, sources: list[int]) -> None:
        x, w = node.args[0], _arg(node, 1, "weight")
        out = self.per_sample(node, "output", node)
        w_shape = _shape(w) or ()
        if self.lineage.get(w):  # x @ w.T with two activations
            a = self.per_sample(x, "input", node)
            b = self.per_sample(w, "weight", node)
            dims = matmul_dims(a, (*b[:-2], b[-1], b[-2]) if len(b) >= 2 else b, out)
            self.emit(node, "matmul", "matmul", dims, sources)
            return
        self.emit(
            node, tag, "linear", linear_dims(w_shape[1], w_shape[0], out), self.lineage.get(x, [])
        )

    def do_matmul(self, node: fx.Node, tag: str, sources: list[int]) -> None:
        a, b = node.args[0], node.args[1]
        a_dyn, b_dyn = bool(self.lineage.get(a)), bool(self.lineage.get(b))
        out = self.per_sample(node, "output", node)
        if a_dyn and b_dyn:
            dims = matmul_dims(
                self.per_sample(a, "operand A", node), self.per_sample(b, "operand B", node), out
            )
            self.emit(node, tag, "matmul", dims, sources)
            return
        const = _shape(b if a_dyn else a) or ()
        if len(const) != 2:
            self.fail(node, f"{_label(node, self.gm)} with a constant of rank {len(const)}")
            self.lineage[node] = sources
            return
        dims = constant_product_dims(const, out, const_on_right=a_dyn)
        self.emit(node, "linear", "linear", dims, sources)

    def do_sdpa(self, node: fx.Node, tag: str, sources: list[int]) -> None:
        """Q Kᵀ matmul, [attn_mask / causal add], softmax, A V matmul (as the export route)."""
        q, k, v = node.args[0], _arg(node, 1, "key"), _arg(node, 2, "value")
        mask = _arg(node, 3, "attn_mask")
        if _shape(mask) is None:  # None at run time (e.g. an optional forward argument)
            mask = None
        causal = _arg(node, 5, "is_causal", False)
        if hasattr(causal, "op"):  # a forward argument: its default (fx keeps it in args)
            causal = causal.args[0] if causal.op == "placeholder" and causal.args else False
        causal = bool(causal)
        q_s = self.per_sample(q, "query", node)
        k_s = self.per_sample(k, "key", node)
        v_s = self.per_sample(v, "value", node)
        out = self.per_sample(node, "output", node)
        s = k_s[-2] if len(k_s) >= 2 else 1
        scores = (*q_s[:-1], s)
        qk = matmul_dims(q_s, (*k_s[:-2], q_s[-1], s), scores)
        self.emit(
            node, "matmul", "matmul", qk, union([self.lineage.get(q, []), self.lineage.get(k, [])])
        )
        last = len(self.rows) - 1
        if (mask is not None and hasattr(mask, "op")) or causal:
            src = union([[last], self.lineage.get(mask, []) if hasattr(mask, "op") else []])
            self.emit(node, "add", "eltwise", elementwise_dims(scores), src)
            last = len(self.rows) - 1
        self.emit(node, "softmax", "softmax", elementwise_dims(scores), [last])
        last = len(self.rows) - 1
        av = matmul_dims(scores, (*v_s[:-2], s, v_s[-1]), out)
        self.emit(node, "matmul", "matmul", av, union([[last], self.lineage.get(v, [])]))

    def _elementwise(self, node: fx.Node, tag: str, op: str, sources: list[int]) -> None:
        out = self.per_sample(node, "output", node)
        self.emit(node, tag, op, elementwise_dims(out), sources)

    def do_bn(self, node: fx.Node, tag: str, sources: list[int]) -> None:
        if node in self.folded:
            self.lineage[node] = self.lineage.get(node.args[0], [])
            return
        self._elementwise(node, tag, "norm", sources)

    def do_norm(self, node: fx.Node, tag: str, sources: list[int]) -> None:
        self._elementwise(node, tag, "norm", sources)

    def do_softmax(self, node: fx.Node, tag: str, sources: list[int]) -> None:
        self._elementwise(node, tag, "softmax", sources)

    def do_act(self, node: fx.Node, tag: str, sources: list[int]) -> None:
        if node in self.fused_sigmoid:  # becomes part of the SiLU row at its multiply
            self.lineage[node] = sources
            return
        if tag == "clip":
            tag = self._clip_tag(node)
        self._elementwise(node, tag, "act", sources)

    def _clip_tag(self, node: fx.Node) -> str:
        if node.op == "call_module":
            m = self.gm.get_submodule(node.target)
            return _clip_tag(m.min_val, m.max_val)
        if node.target is _require_torch().nn.functional.hardtanh:
            return _clip_tag(_arg(node, 1, "min_val", -1.0), _arg(node, 2, "max_val", 1.0))
        return _clip_tag(_arg(node, 1, "min"), _arg(node, 2, "max"))  # clamp / clip

    def do_eltwise(self, node: fx.Node, tag: str, sources: list[int]) -> None:
        if node in self.silu_mul:
            sig = self.silu_mul[node]
            x = sig.args[0]
            self._elementwise(node, "silu", "act", self.lineage.get(x, sources))
            return
        if tag in ("mul", "div") and len(node.args) == 2:
            for act, other in ((node.args[0], node.args[1]), (node.args[1], node.args[0])):
                if tag == "div" and act is node.args[1]:
                    break  # c / x is a real division
                if hasattr(act, "op") and self.lineage.get(act) and self._scalar_const(other):
                    self.lineage[node] = self.lineage.get(act, [])  # absorbed in requantization
                    return
        if tag == "add" and len(node.args) == 2 and not node.kwargs:
            for mac, other in ((node.args[0], node.args[1]), (node.args[1], node.args[0])):
                if (
                    hasattr(mac, "users")
                    and mac in self.mac_row
                    and len(mac.users) == 1
                    and not (hasattr(other, "op") and self.lineage.get(other))
                ):
                    self.lineage[node] = [self.mac_row[mac]]  # a constant bias of the layer
                    return
        self._elementwise(node, tag, "eltwise", sources)

    def _scalar_const(self, arg: Any) -> bool:
        if isinstance(arg, int | float) and not isinstance(arg, bool):
            return True
        if hasattr(arg, "op") and not self.lineage.get(arg):
            shape = _shape(arg)
            return shape is not None and int(np.prod(shape)) == 1
        return False

    def do_pool(self, node: fx.Node, tag: str, sources: list[int]) -> None:
        m = self.gm.get_submodule(node.target)
        kernel = _pair(m.kernel_size)
        stride = _pair(m.stride, m.kernel_size)[0]
        self._pool(node, tag, kernel, stride, sources)

    def do_fpool(self, node: fx.Node, tag: str, sources: list[int]) -> None:
        ks = _arg(node, 1, "kernel_size")
        kernel = _pair(ks)
        stride = _pair(_arg(node, 2, "stride"), ks)[0]
        self._pool(node, tag, kernel, stride, sources)

    def do_apool(self, node: fx.Node, tag: str, sources: list[int]) -> None:
        self._pool(node, tag, None, None, sources)

    def _pool(self, node: fx.Node, tag: str, kernel: Any, stride: Any, sources: list[int]) -> None:
        x = node.args[0]
        in_shape = self.per_sample(x, "input", node)
        out_shape = self.per_sample(node, "output", node)
        if kernel is not None and len(in_shape) == 2:
            kernel = (1, kernel[1])
        self.emit(
            node, tag, "pool", spatial_pool_dims(in_shape, out_shape, kernel, stride), sources
        )

    def do_reduce(self, node: fx.Node, tag: str, sources: list[int]) -> None:
        in_shape = self.per_sample(node.args[0], "input", node)
        out = _shape(node)
        out_shape = per_sample_shape(out, self.batch) if out else ()
        self.emit(node, tag, "pool", reduction_dims(in_shape, out_shape), sources)


# --------------------------------------------------------------------------- public API
def _as_inputs(example_input: Any) -> tuple[Any, ...]:
    return tuple(example_input) if isinstance(example_input, tuple | list) else (example_input,)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


class _EvalMode:
    """Context manager: eval mode without gradients, restoring every submodule's mode after."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def __enter__(self) -> None:
        torch = _require_torch()
        self.modes = [(m, m.training) for m in self.model.modules()]
        self.no_grad = torch.no_grad()
        self.no_grad.__enter__()
        self.model.eval()

    def __exit__(self, *exc: object) -> None:
        self.no_grad.__exit__(*exc)
        for m, training in self.modes:
            m.training = training


_CONTROL_FLOW = (
    "control flow",
    "data-dependent",
    "data dependent",
    "GuardOnDataDependent",
    "symbolically traced variables cannot be used as inputs to control flow",
)


def _is_control_flow(text: str) -> bool:
    return any(key.lower() in text.lower() for key in _CONTROL_FLOW)


def _trace(model: nn.Module, network: str) -> fx.GraphModule:
    torch = _require_torch()
    try:
        return torch.fx.symbolic_trace(model)
    except Exception as exc:  # fx raises many types (TraceError, TypeError, ...)
        raise WorkloadError(f"torch.fx cannot trace {network!r} ({_one_line(exc)})") from exc


def _fx_rows(model: nn.Module, example_input: Any, network: str) -> tuple[list[RowSpec], int]:
    from torch.fx.passes.shape_prop import ShapeProp

    with _EvalMode(model):  # trace the inference branches (dropout, DropPath, BatchNorm)
        gm = _trace(model, network)
    try:
        # ShapeProp prints its own traceback to stderr before raising; keep the CLI to one line.
        with _EvalMode(model), _EvalMode(gm), contextlib.redirect_stderr(io.StringIO()):
            ShapeProp(gm).propagate(*_as_inputs(example_input))
    except Exception as exc:
        root = exc.__cause__ or exc  # ShapeProp wraps the real error (e.g. a shape mismatch)
        shape = tuple(getattr(example_input, "shape", ()))
        raise WorkloadError(
            f"torch.fx: running {network!r} on an example input of shape {shape} failed "
            f"({_one_line(root)}); give the factory's (model, example_input), set "
            "model.example_input or pass --input-shape"
        ) from exc
    conv = _FxConverter(gm, network)
    return conv.run(), conv.batch


def _export_rows(model: nn.Module, example_input: Any, network: str) -> tuple[list[RowSpec], int]:
    from cimkit.workload.torch_export import ExportConverter, export_program

    try:
        with _EvalMode(model), contextlib.redirect_stderr(io.StringIO()):
            ep = export_program(model, _as_inputs(example_input))
    except Exception as exc:
        raise _ExportFailed(_one_line(exc)) from exc
    conv = ExportConverter(ep, network)
    return conv.run(), conv.batch


class _ExportFailed(Exception):
    """torch.export could not capture the model (the fx route is tried next)."""


@dataclass(frozen=True)
class TorchImport:
    """The result of :func:`import_torch`.

    Attributes:
        workload: the layer table.
        route: 'torch.export' (primary) or 'torch.fx' (fallback when export fails).
        seconds: wall time of the import (export/trace + conversion), s.
        batch: the batch B the rows were divided by (see ``torch_export.infer_batch``).
        export_error: why torch.export failed when the fx route was used, else None.
    """

    workload: Workload
    route: str
    seconds: float
    batch: int = 1
    export_error: str | None = None


ROUTES = ("auto", "export", "fx")


def import_torch(
    model: nn.Module,
    example_input: torch.Tensor | tuple[torch.Tensor, ...],
    name: str | None = None,
    weight_bits: int = 8,
    act_bits: int = 8,
    route: str = "auto",
) -> TorchImport:
    """Import a PyTorch model and say which route did it (see :func:`from_torch`).

    ``route``: 'auto' (torch.export, then torch.fx if export fails), 'export' or 'fx' only.
    """
    torch = _require_torch()
    if not isinstance(model, torch.nn.Module):
        raise WorkloadError(f"from_torch: expected a torch.nn.Module, got {type(model).__name__}")
    if route not in ROUTES:
        raise WorkloadError(f"from_torch: route {route!r}: allowed: {', '.join(ROUTES)}")
    network = name or type(model).__name__
    start = time.perf_counter()
    export_error: str | None = None
    if route in ("auto", "export"):
        try:
            rows, batch = _export_rows(model, example_input, network)
        except _ExportFailed as exc:
            export_error = str(exc)
            if route == "export":
                hint = _hint(export_error)
                raise WorkloadError(
                    f"torch.export cannot export {network!r} ({export_error}){hint}"
                ) from exc
        else:
            wl = to_workload(network, rows, weight_bits, act_bits)
            _log.info("%s: imported with torch.export", network)
            return TorchImport(wl, "torch.export", time.perf_counter() - start, batch)
    try:
        rows, batch = _fx_rows(model, example_input, network)
    except WorkloadError as exc:
        if export_error is None:
            raise
        raise WorkloadError(
            f"torch.export failed ({export_error}) and the torch.fx fallback failed ({exc})"
            + _hint(export_error + " " + str(exc))
        ) from exc
    wl = to_workload(network, rows, weight_bits, act_bits)
    if export_error is not None:
        _log.info("%s: torch.export failed (%s); imported with torch.fx", network, export_error)
    return TorchImport(wl, "torch.fx", time.perf_counter() - start, batch, export_error)


def _hint(text: str) -> str:
    if _is_control_flow(text):
        return (
            "; data-dependent control flow cannot be captured: make the branch depend on shapes "
            "only, or export the model to ONNX and use from_onnx"
        )
    return ""


def from_torch(
    model: nn.Module,
    example_input: torch.Tensor | tuple[torch.Tensor, ...],
    name: str | None = None,
    weight_bits: int = 8,
    act_bits: int = 8,
    route: str = "auto",
) -> Workload:
    """The layer table of a PyTorch model, captured on ``example_input``.

    The primary route is ``torch.export.export(model, args, strict=False)`` (aten-level graph,
    see :mod:`cimkit.workload.torch_export`); when export fails, torch.fx symbolic tracing with
    shape propagation is the fallback (the route used is logged on the
    ``cimkit.workload.torch_import`` logger; :func:`import_torch` returns it). Both routes give
    identical tables on the models where both work.

    Args:
        model: the network (not modified; it runs in eval mode without gradients and every
            submodule's train/eval mode is restored afterwards).
        example_input: a tensor (or tuple of tensors, one per forward argument) whose first
            dimension is the batch B, e.g. ``torch.randn(1, 3, 224, 224)``; it fixes all shapes.
            Rows are per sample (full work / B), so B = 1 and B = 2 give the same table.
        name: workload name (default: the model's class name).
        weight_bits, act_bits: quantization written into every row.
        route: 'auto', 'export' or 'fx'.

    Returns:
        The :class:`Workload`; layer names are module paths (see docs/workloads.md).

    Raises:
        WorkloadError: the model cannot be captured (both reasons in one line), or unsupported
            operators (each listed with its count and first scope).
    """
    return import_torch(model, example_input, name, weight_bits, act_bits, route).workload


def _export_bn_folds(model: nn.Module, example_input: Any) -> dict[str, nn.Module] | None:
    """Conv module path -> folded BatchNorm module, from the torch.export graph (None if the
    model does not export)."""
    from cimkit.workload.torch_export import ExportConverter, export_program, node_scope

    try:
        with _EvalMode(model), contextlib.redirect_stderr(io.StringIO()):
            ep = export_program(model, _as_inputs(example_input))
    except Exception:
        return None
    conv = ExportConverter(ep, "")
    conv.prepass()
    modules = dict(model.named_modules())
    out = {}
    for bn in conv.folded:
        c, b = node_scope(bn.args[0]), node_scope(bn)
        if (
            c in modules
            and b in modules
            and isinstance(modules[b], _require_torch().nn.modules.batchnorm._BatchNorm)
        ):
            out[c] = modules[b]
    return out


def _conv_bn_folds(model: nn.Module, example_input: Any = None) -> dict[str, nn.Module]:
    """Conv module path -> the BatchNorm module folded into it (empty if not capturable)."""
    if example_input is not None:
        folds = _export_bn_folds(model, example_input)
        if folds is not None:
            return folds
    try:
        with _EvalMode(model):
            gm = _require_torch().fx.symbolic_trace(model)
    except Exception:  # histograms then use unfolded weights; tracing errors surface elsewhere
        return {}
    conv = _FxConverter(gm, "")
    conv.prepass()
    out = {}
    for bn in conv.folded:
        src = bn.args[0]
        if bn.op == "call_module" and src.op == "call_module":
            out[str(src.target)] = gm.get_submodule(bn.target)
    return out


def collect_histograms(
    model: nn.Module,
    example_input: torch.Tensor | tuple[torch.Tensor, ...],
    workload: Workload,
) -> dict[str, LayerHistogram]:
    """Measured input/weight histograms of the conv and linear layers of ``workload``.

    Runs ``example_input`` (real data: the histograms are only as representative as it is)
    through ``model`` in eval mode with forward hooks on every ``nn.Conv1d/2d`` and ``nn.Linear``
    whose module path names a MAC row of ``workload`` (the k-th extra call of a module is row
    ``<path>_k``). Each histogram uses the layer's real input activations and its weights as
    deployed: a BatchNorm folded into the conv (see :func:`from_torch`) is folded into the
    weights too (per-output-channel scale gamma / sqrt(var + eps)). Layers computed with
    ``F.conv2d``/``F.linear``/``matmul`` have no module to hook and keep the default.

    Returns:
        Histograms keyed by layer name; pass them to ``workload.with_histograms(...)``.
    """
    torch = _require_torch()
    nn = torch.nn
    wanted = {la.name for la in workload.layers if la.op in ("conv", "dwconv", "pwconv", "linear")}
    folds = _conv_bn_folds(model, example_input)
    calls: Counter[str] = Counter()
    captured: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def hook(path: str) -> Callable[..., None]:
        def fn(module: nn.Module, inputs: tuple, output: Any) -> None:
            k = calls[path]
            calls[path] += 1
            key = path if k == 0 else f"{path}_{k}"
            if key not in wanted or not inputs:
                return
            weight = module.weight.detach().double()
            bn = folds.get(path)
            if bn is not None and bn.running_var is not None:
                gamma = bn.weight.detach().double() if bn.weight is not None else 1.0
                scale = gamma / torch.sqrt(bn.running_var.double() + bn.eps)
                weight = weight * scale.reshape(-1, *([1] * (weight.dim() - 1)))
            captured[key] = (inputs[0].detach().cpu().numpy(), weight.cpu().numpy())

        return fn

    handles = [
        m.register_forward_hook(hook(path))
        for path, m in model.named_modules()
        if isinstance(m, nn.Conv1d | nn.Conv2d | nn.Linear)
        and any(n == path or n.startswith(path + "_") for n in wanted)
    ]
    inputs = _as_inputs(example_input)
    try:
        with _EvalMode(model):
            model(*inputs)
    except Exception as exc:
        raise WorkloadError(f"collect_histograms: forward pass failed ({_one_line(exc)})") from exc
    finally:
        for h in handles:
            h.remove()
    batch = int(getattr(inputs[0], "shape", (1,))[0]) if inputs else 0
    source = f"torch:{type(model).__name__} on {batch} sample(s)"
    return {key: LayerHistogram.from_values(x, w, source) for key, (x, w) in captured.items()}


def parse_input_shape(text: str | tuple[int, ...] | list[int]) -> tuple[int, ...]:
    """``"1,3,96,96"`` (or ``1x3x96x96``) -> (1, 3, 96, 96); every dimension a positive integer.

    Raises:
        WorkloadError: an empty, non-integer or non-positive dimension.
    """
    if isinstance(text, tuple | list):
        parts = [str(p) for p in text]
    else:
        parts = [p.strip() for p in re.split(r"[,x\s]+", str(text).strip()) if p.strip()]
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        dims = ()
    if not dims or any(d < 1 for d in dims):
        raise WorkloadError(
            f"--input-shape {text!r}: expected positive integers separated by commas, "
            "batch first, e.g. 1,3,96,96 (images) or 1,128 (token ids)"
        )
    return dims


_DTYPES = ("float32", "float16", "bfloat16", "float64", "int64", "int32")


def example_tensor(shape: tuple[int, ...], dtype: str = "float32") -> torch.Tensor:
    """A deterministic example input (seed 0): ``randn`` for float dtypes, token ids in
    [0, 16) for integer dtypes (small enough for any vocabulary)."""
    torch = _require_torch()
    if dtype not in _DTYPES:
        raise WorkloadError(f"--input-dtype {dtype!r}: allowed: {', '.join(_DTYPES)}")
    gen = torch.Generator().manual_seed(0)
    if dtype.startswith("int"):
        return torch.randint(0, 16, tuple(shape), generator=gen, dtype=getattr(torch, dtype))
    return torch.randn(*shape, generator=gen).to(getattr(torch, dtype))


def load_torch_factory(
    spec: str,
    input_shape: str | tuple[int, ...] | None = None,
    input_dtype: str | None = None,
    **kwargs: Any,
) -> tuple[nn.Module, Any]:
    """Import ``"package.module:factory"`` and call it to get ``(model, example_input)``.

    ``factory`` may be a dotted attribute path (``module:Class.build``) and is called with
    ``kwargs``. It may return:

    * a ``(model, example_input)`` tuple: used as is;
    * a model: the example input is the model's ``example_input`` attribute, else the
      factory's ``example_input`` attribute, else a deterministic ``torch.randn(1, 3, 224, 224)``
      (seed 0).

    ``input_shape`` (``"1,3,96,96"`` or a tuple, batch first) and ``input_dtype`` ('float32',
    'int64' for token ids, ...) replace that example input by a deterministic one of that shape
    and dtype (see :func:`example_tensor`); ``input_dtype`` alone converts the default input.

    Raises:
        WorkloadError: malformed spec, module not importable, missing or non-callable factory,
            factory failure, a result that is not a torch.nn.Module, or a bad shape/dtype.
    """
    torch = _require_torch()
    if not isinstance(spec, str) or not re.fullmatch(r"[\w.]+:[\w.]+", spec.strip()):
        raise WorkloadError(
            f"bad model factory {spec!r}: expected 'package.module:factory' "
            "(e.g. 'mypkg.models:build_net')"
        )
    spec = spec.strip()
    module_name, attr = spec.split(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise WorkloadError(
            f"model factory {spec!r}: cannot import module {module_name!r} "
            f"({clip(_one_line(exc), 200)}); is it installed or on PYTHONPATH?"
        ) from exc
    except SystemExit as exc:  # a module that calls sys.exit() on import must not end cimkit
        raise WorkloadError(
            f"factory {spec} exited (SystemExit {short_repr(exc.code)}) while importing "
            f"module {module_name!r}"
        ) from None
    except Exception as exc:  # the user's module raised at import time
        raise WorkloadError(
            f"model factory {spec!r}: importing module {module_name!r} raised "
            f"{clip(_one_line(exc), 200)}"
        ) from exc
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise WorkloadError(
                f"model factory {spec!r}: {getattr(obj, '__name__', module_name)!r} has no "
                f"attribute {part!r}"
            )
        obj = getattr(obj, part)
    if not callable(obj):
        raise WorkloadError(f"model factory {spec!r} is not callable ({type(obj).__name__})")
    try:
        result = obj(**kwargs)
    except SystemExit as exc:  # sys.exit(0) inside would otherwise end cimkit "successfully"
        raise WorkloadError(
            f"factory {spec} exited (SystemExit {short_repr(exc.code)}) while building the model"
        ) from None
    except Exception as exc:
        raise WorkloadError(f"model factory {spec!r} failed: {clip(_one_line(exc), 200)}") from exc
    example = None
    if isinstance(result, tuple) and len(result) == 2:
        result, example = result
    if not isinstance(result, torch.nn.Module):
        raise WorkloadError(
            f"model factory {spec!r} returned {type(result).__name__}, expected a "
            "torch.nn.Module or a (model, example_input) tuple"
        )
    if example is None:
        example = getattr(result, "example_input", None)
    if example is None:
        example = getattr(obj, "example_input", None)
    if input_shape is not None:
        example = example_tensor(parse_input_shape(input_shape), input_dtype or "float32")
    elif example is None:
        example = example_tensor(DEFAULT_INPUT_SHAPE, input_dtype or "float32")
    elif input_dtype is not None:
        shape = tuple(getattr(example, "shape", ()))
        if not shape:
            raise WorkloadError("--input-dtype needs a tensor example input or --input-shape")
        example = example_tensor(shape, input_dtype)
    return result, example
