"""An independent MAC count of a PyTorch model, to check an imported layer table against.

:func:`count_macs` runs the model once, eagerly, under a ``TorchDispatchMode`` that sees every
aten operator after autograd and dispatching (so none of the importers' graph code is involved)
and counts the multiply-accumulates of the compute kernels:

* ``aten.convolution`` (every conv1d/conv2d lowers to it): out elements x (C/groups) x R x S;
* ``aten.mm`` / ``aten.addmm``: M x K x N; ``aten.bmm`` / ``aten.baddbmm``: B x M x K x N
  (``nn.Linear``, ``matmul``, ``einsum`` and the math attention all lower to these);
* fused attention kernels (``_scaled_dot_product_*_attention*``): Q Kᵀ plus A V, i.e.
  batch x heads x L x S x (E + Ev); ``_native_multi_head_attention`` (the inference fast path
  of ``nn.MultiheadAttention``) also counts its q/k/v and output projections.

Each count is attributed to the innermost module running at the time (forward pre/post hooks),
named like the importers' scopes. Kernels whose operands do not depend on the inputs (a
positional encoding computed from the grid size) are constant-folded, as in the importers.
Scopes are the dotted module path, '' at top level, ``<path>_k`` for the k-th extra call of a
module. Counts are per sample: the full count divided by the batch (the
leading dimension of the first input). :func:`check_macs` compares them with a
:class:`~cimkit.workload.table.Workload`.
"""

from __future__ import annotations

import weakref
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cimkit.errors import WorkloadError

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

    from cimkit.workload.table import Workload


@dataclass(frozen=True)
class MacCount:
    """MACs per sample, by module scope.

    Attributes:
        total: all MACs of one inference of one sample.
        by_scope: scope -> MACs counted while that module was the innermost one running.
        scopes: every scope that ran (also those with no MACs), for matching row names.
        batch: the batch the model ran at (the count is divided by it).
    """

    total: int
    by_scope: dict[str, int]
    scopes: frozenset[str] = field(default_factory=frozenset)
    batch: int = 1


def _numel(shape: Any) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def _op_macs(func: Any, args: tuple, kwargs: dict, out: Any) -> int:
    """MACs of one aten call (0 for operators that are not MAC kernels)."""
    name = func.overloadpacket.__name__ if hasattr(func, "overloadpacket") else ""
    if name in ("convolution", "_convolution", "convolution_overrideable", "mkldnn_convolution"):
        x, w = args[0], args[1]
        transposed = bool(args[6]) if len(args) > 6 else False
        if transposed:  # every input element meets every kernel tap of its group
            return _numel(x.shape) * _numel(w.shape[1:])
        return _numel(out.shape) * _numel(w.shape[1:])
    if name == "mm":
        return int(args[0].shape[0]) * int(args[0].shape[1]) * int(args[1].shape[1])
    if name == "addmm":
        a, b = args[1], args[2]
        return int(a.shape[0]) * int(a.shape[1]) * int(b.shape[1])
    if name == "bmm":
        a, b = args[0], args[1]
        return int(a.shape[0]) * int(a.shape[1]) * int(a.shape[2]) * int(b.shape[2])
    if name == "baddbmm":
        a, b = args[1], args[2]
        return int(a.shape[0]) * int(a.shape[1]) * int(a.shape[2]) * int(b.shape[2])
    if name == "_native_multi_head_attention":  # nn.MultiheadAttention's inference fast path
        q, k = args[0], args[1]
        lead = _numel(q.shape[:-2])
        length, e, s = int(q.shape[-2]), int(q.shape[-1]), int(k.shape[-2])
        projections = length * e * e + 2 * s * e * e + length * e * e  # q, k, v, out
        return lead * (projections + 2 * length * s * e)  # + Q K^T and A V over all heads
    if name.startswith("_scaled_dot_product") and "backward" not in name:
        q, k, v = args[0], args[1], args[2]
        lead = _numel(q.shape[:-2])
        length, e = int(q.shape[-2]), int(q.shape[-1])
        s, ev = int(k.shape[-2]), int(v.shape[-1])
        return lead * length * s * (e + ev)
    return 0


def count_macs(
    model: nn.Module,
    example_input: torch.Tensor | tuple[torch.Tensor, ...],
    batch: int | None = None,
) -> MacCount:
    """Count the MACs of ``model`` on ``example_input`` by dispatch-level counting.

    The model runs once in eval mode without gradients (train/eval modes are restored).
    ``batch`` (default: the leading dimension of the first input) divides the count; pass the
    importer's batch (:attr:`~cimkit.workload.torch_import.TorchImport.batch`) for seq-first
    models, whose input is (T, B, C).

    Raises:
        WorkloadError: the forward pass fails, or the count is not a multiple of the batch.
    """
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    from cimkit.workload.torch_import import _as_inputs, _EvalMode, _one_line

    inputs = _as_inputs(example_input)
    if batch is None:
        batch = 1
        for x in inputs:
            if isinstance(x, torch.Tensor) and x.dim() > 0:
                batch = max(1, int(x.shape[0]))
                break
    stack: list[str] = [""]
    calls: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    scopes: set[str] = {""}

    # Tensors computed from the inputs: a MAC kernel whose operands are all constants (e.g. a
    # positional encoding computed from the grid size) is constant-folded, as in the importers.
    tainted: weakref.WeakValueDictionary = weakref.WeakValueDictionary(
        {id(x): x for x in inputs if isinstance(x, torch.Tensor)}
    )  # by identity (Tensor == is element-wise)

    def _tensors(obj: Any) -> list:
        return [t for t in torch.utils._pytree.tree_leaves(obj) if isinstance(t, torch.Tensor)]

    class _Counter(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            if not any(tainted.get(id(t)) is t for t in _tensors((args, kwargs))):
                return out
            for t in _tensors(out):
                tainted[id(t)] = t
            macs = _op_macs(func, args, kwargs, out[0] if isinstance(out, tuple) else out)
            if macs:
                counts[stack[-1]] += macs
            return out

    def pre(path: str) -> Any:
        def fn(module: nn.Module, args: Any) -> None:
            k = calls[path]
            calls[path] += 1
            scope = path if k == 0 else f"{path}_{k}"
            scopes.add(scope)
            stack.append(scope)

        return fn

    def post(module: nn.Module, args: Any, output: Any) -> None:
        if len(stack) > 1:
            stack.pop()

    handles = []
    for path, m in model.named_modules():
        if path:
            handles.append(m.register_forward_pre_hook(pre(path)))
            handles.append(m.register_forward_hook(post, always_call=True))
    try:
        with _EvalMode(model), _Counter():
            model(*inputs)
    except Exception as exc:
        raise WorkloadError(f"count_macs: forward pass failed ({_one_line(exc)})") from exc
    finally:
        for h in handles:
            h.remove()
    by_scope: dict[str, int] = {}
    for scope, macs in counts.items():
        if macs % batch:
            raise WorkloadError(
                f"count_macs: {macs} MACs in scope {scope!r} are not a multiple of the batch "
                f"{batch}; count with a batch-1 input"
            )
        by_scope[scope] = macs // batch
    return MacCount(sum(by_scope.values()), by_scope, frozenset(scopes), batch)


def row_scope(name: str, scopes: frozenset[str] | set[str]) -> str:
    """The module scope a row name belongs to: the longest scope equal to ``name`` or a dotted
    prefix of it ('' when none)."""
    best = ""
    for scope in scopes:
        if scope and len(scope) > len(best) and (name == scope or name.startswith(scope + ".")):
            best = scope
    if not best and "." not in name:
        return ""
    if not best:  # a scope with no module call seen (should not happen): drop the tag
        return name.rsplit(".", 1)[0]
    return best


def workload_macs_by_scope(workload: Workload, scopes: frozenset[str] | set[str]) -> dict:
    """Sum the MACs of ``workload``'s rows per module scope (see :func:`row_scope`)."""
    out: Counter[str] = Counter()
    for layer in workload.layers:
        if layer.macs:
            out[row_scope(layer.name, scopes)] += int(layer.macs)
    return dict(out)


def check_macs(workload: Workload, counted: MacCount, limit: int = 8) -> None:
    """Raise :class:`WorkloadError` when ``workload``'s MACs differ from ``counted``.

    Compared per module scope and in total; the message names every differing scope (up to
    ``limit``, largest difference first) with both counts and the table's rows in it.
    """
    table = workload_macs_by_scope(workload, counted.scopes)
    keys = set(table) | set(counted.by_scope)
    diffs = [
        (scope, table.get(scope, 0), counted.by_scope.get(scope, 0))
        for scope in keys
        if table.get(scope, 0) != counted.by_scope.get(scope, 0)
    ]
    if not diffs and workload.total_macs == counted.total:
        return
    diffs.sort(key=lambda d: -abs(d[1] - d[2]))
    parts = []
    for scope, got, want in diffs[:limit]:
        rows = [
            la.name
            for la in workload.layers
            if la.macs and row_scope(la.name, counted.scopes) == scope
        ]
        label = scope or "<top level>"
        parts.append(
            f"{label}: table {got:,} vs counted {want:,}"
            + (f" (rows {', '.join(rows[:4])}{', ...' if len(rows) > 4 else ''})" if rows else "")
        )
    more = f", and {len(diffs) - limit} more" if len(diffs) > limit else ""
    raise WorkloadError(
        f"MAC check failed for {workload.name!r}: table {workload.total_macs:,} MACs vs "
        f"independent count {counted.total:,}; differing scopes: {'; '.join(parts)}{more}"
    )
