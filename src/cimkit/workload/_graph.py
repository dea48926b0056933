"""Helpers shared by the torch.fx and ONNX importers (no torch or onnx imports here).

Both importers walk a graph, decide for every node whether it becomes a layer row, and collect
:class:`RowSpec` records. The naming rule and the conversion of tensor shapes to the layer table's
(C, H, W) convention live here, so the two importers name and size rows identically by
construction.

Naming rule (see docs/workloads.md): every row has a *scope* (the dotted PyTorch module path of the
innermost module that executed it, '' for the top-level forward) and a *tag* (a short canonical op
name such as 'conv', 'add', 'relu'). A row is named by its scope when it is the only row produced
inside that module (a leaf module such as ``features.0.0``); otherwise it is named
``<scope>.<tag>`` with ``_1``, ``_2``... appended to repeated (scope, tag) pairs (e.g. the residual
add of a block is ``features.2.add``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cimkit.errors import WorkloadError
from cimkit.workload.layer import Layer, make_layer
from cimkit.workload.table import Workload

#: Source index that stands for the network input in :attr:`RowSpec.sources` ("" in ``inputs``).
NETWORK_INPUT = -1


@dataclass
class RowSpec:
    """A layer row before naming.

    Attributes:
        scope: dotted module path of the innermost module that ran the op ('' at top level).
        tag: canonical op name used when the scope alone does not identify the row.
        op: layer op kind passed to :func:`make_layer`.
        dims: keyword arguments of :func:`make_layer` (channels, sizes, kernel, stride, ...).
        sources: indices of the rows whose outputs this row reads (NETWORK_INPUT for the input).
    """

    scope: str
    tag: str
    op: str
    dims: dict[str, int]
    sources: list[int] = field(default_factory=list)


def union(lists: Iterable[Sequence[int]]) -> list[int]:
    """Ordered, de-duplicated union of lineage lists (producer row indices)."""
    out: list[int] = []
    seen: set[int] = set()
    for items in lists:
        for item in items:
            if item not in seen:
                seen.add(item)
                out.append(item)
    return out


def chw(shape: Sequence[int]) -> tuple[int, int, int]:
    """Map a per-sample tensor shape (batch dimension removed) to the table's (C, H, W).

    * rank >= 3 (channels first, e.g. C x H x W, or heads x T x T): C = shape[0],
      H = product of the middle dims, W = shape[-1];
    * rank 2 (tokens x features): C = features, H = tokens, W = 1 (the linear-layer convention);
    * rank 1 (features): C = features, H = W = 1;
    * rank 0: 1 x 1 x 1.

    Only the element count C*H*W matters for non-MAC layers; the split keeps sizes readable.
    """
    dims = [max(1, int(d)) for d in shape]
    if len(dims) >= 3:
        h = 1
        for d in dims[1:-1]:
            h *= d
        return dims[0], h, dims[-1]
    if len(dims) == 2:
        return dims[1], dims[0], 1
    if len(dims) == 1:
        return dims[0], 1, 1
    return 1, 1, 1


def per_sample_shape(
    full_shape: Sequence[int], batch: int, what: str = "tensor"
) -> tuple[int, ...]:
    """The per-sample view of a full intermediate tensor shape, given the network-input batch.

    The batch is the leading dimension of the network input; an intermediate tensor's dimension 0
    is *not* assumed to be that batch (MobileViT folds image patches into dimension 0, seq-first
    attention puts tokens there). The rule both importers follow: dimension 0 of the full shape
    is divided by ``batch``; a resulting leading 1 is dropped, any other quotient stays as a
    leading *fold* dimension, which the MAC helpers turn into ``repeat`` (conv, matmul) or tokens
    (linear, element-wise). Work per sample is therefore always full work / batch.

    Args:
        full_shape: the tensor's full shape as traced (batch included), e.g. (B*P, N, C).
        batch: the network input's batch size B (>= 1).
        what: a label for the error message (the operator or tensor name).

    Raises:
        WorkloadError: dimension 0 is not a multiple of ``batch`` (the work cannot be split per
            sample; trace with batch 1).
    """
    dims = tuple(int(d) for d in full_shape)
    if not dims:
        return ()
    if batch < 1 or dims[0] % batch:
        raise WorkloadError(
            f"{what}: leading dimension {dims[0]} of shape {dims} is not a multiple of the input "
            f"batch {batch}; import with a batch-1 input shape (e.g. --input-shape 1,3,224,224)"
        )
    lead = dims[0] // batch
    return dims[1:] if lead == 1 else (lead, *dims[1:])


def numel(shape: Sequence[int]) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def elementwise_dims(out_shape: Sequence[int]) -> dict[str, int]:
    """make_layer dimensions of an element-wise row (act, eltwise, norm, softmax).

    Sized by the per-sample output shape: operands broadcast to it.
    """
    c, h, w = chw(out_shape)
    return dict(in_channels=c, out_channels=c, in_h=h, in_w=w, out_h=h, out_w=w)


def reduction_dims(in_shape: Sequence[int], out_shape: Sequence[int]) -> dict[str, int]:
    """make_layer dimensions of a reduction (mean/sum/max over axes) as a 'pool' row.

    The window is the number of input elements per output element, as kernel_h x 1, stride =
    window (non-overlapping).
    """
    ci, hi, wi = chw(in_shape)
    co, ho, wo = chw(out_shape)
    window = max(1, numel(in_shape) // max(1, numel(out_shape)))
    return dict(
        in_channels=ci,
        out_channels=co,
        in_h=hi,
        in_w=wi,
        out_h=ho,
        out_w=wo,
        kernel_h=window,
        kernel_w=1,
        stride=window,
    )


def spatial_pool_dims(
    in_shape: Sequence[int],
    out_shape: Sequence[int],
    kernel: tuple[int, int] | None,
    stride: int | None,
) -> dict[str, int]:
    """make_layer dimensions of a 1-D/2-D pooling row from per-sample shapes (C, [H,] W).

    ``kernel`` None means an adaptive/global pool: the window is in/out per axis and the stride
    equals the window height (non-overlapping windows).
    """
    if len(in_shape) == 3:
        c, hi, wi = in_shape
        co, ho, wo = out_shape
    elif len(in_shape) == 2:
        (c, wi), (co, wo) = in_shape, out_shape
        hi = ho = 1
    else:
        raise WorkloadError(f"pooling expects a (C, H, W) or (C, L) input, got {tuple(in_shape)}")
    if kernel is None:
        kh, kw = max(1, hi // max(1, ho)), max(1, wi // max(1, wo))
        stride = kh if len(in_shape) == 3 else kw
    else:
        kh, kw = kernel
    return dict(
        in_channels=int(c),
        out_channels=int(co),
        in_h=int(hi),
        in_w=int(wi),
        out_h=int(ho),
        out_w=int(wo),
        kernel_h=int(kh),
        kernel_w=int(kw),
        stride=int(stride or 1),
    )


def linear_dims(in_features: int, out_features: int, out_shape: Sequence[int]) -> dict[str, int]:
    """make_layer dimensions of a linear row; tokens = product of per-sample dims but the last."""
    tokens = numel(out_shape[:-1]) if len(out_shape) >= 1 else 1
    return dict(
        in_channels=int(in_features),
        out_channels=int(out_features),
        in_h=tokens,
        in_w=1,
        out_h=tokens,
        out_w=1,
    )


def matmul_dims(a_shape: Sequence[int], b_shape: Sequence[int], out_shape: Sequence[int]) -> dict:
    """make_layer dimensions of A[..., M, K] x B[..., K, N] with two dynamic operands.

    Shapes are per sample (batch removed). ``repeat`` = product of the remaining batch dims
    (attention heads), ``out_h`` = M (1 when the per-sample output is a vector).
    """
    k = int(a_shape[-1]) if a_shape else 1
    n = int(b_shape[-1]) if len(b_shape) >= 2 else 1
    m = int(out_shape[-2]) if len(out_shape) >= 2 else 1
    repeat = numel(out_shape[:-2]) if len(out_shape) >= 3 else 1
    return dict(in_channels=k, out_channels=n, in_h=m, in_w=1, out_h=m, out_w=1, repeat=repeat)


def constant_product_dims(
    const_shape: Sequence[int], out_shape: Sequence[int], const_on_right: bool
) -> dict[str, int]:
    """make_layer dimensions of a matmul with one constant 2-D operand, as a 'linear' row.

    ``x @ W`` (``const_on_right``): W is (in, out); ``W @ x``: W is (out, in) and the tokens are
    the columns of x (output elements / out features). ``out_shape`` is per sample.
    """
    if const_on_right:
        return linear_dims(const_shape[0], const_shape[1], out_shape)
    tokens = numel(out_shape) // int(const_shape[0])
    return dict(
        in_channels=int(const_shape[1]),
        out_channels=int(const_shape[0]),
        in_h=tokens,
        in_w=1,
        out_h=tokens,
        out_w=1,
    )


def einsum_dims(
    equation: str,
    operand_shapes: Sequence[Sequence[int]],
    out_shape: Sequence[int],
    two_activations: bool,
) -> tuple[str, dict[str, int]]:
    """(op, make_layer dimensions) of a two-operand einsum such as ``'bhqd,bhkd->bhqk'``.

    The reduction is the product of the contracted letters' sizes. Two activation operands give
    a 'matmul' row (M, N from the output's last two dims, leading dims -> ``repeat``), one
    constant operand a 'linear' row. ``equation`` has no spaces and an explicit ``->``;
    ``operand_shapes`` are full shapes (letters map to dims), ``out_shape`` is per sample.
    """
    lhs, out_letters = equation.split("->")
    in_letters = lhs.split(",")
    sizes: dict[str, int] = {}
    for letters, shape in zip(in_letters, operand_shapes, strict=True):
        for letter, dim in zip(letters, shape, strict=False):
            sizes[letter] = int(dim)
    contracted = {c for c in "".join(in_letters) if c not in out_letters}
    k = numel([sizes.get(c, 1) for c in contracted])
    out = out_shape
    if not two_activations:
        return "linear", linear_dims(k, out[-1] if out else 1, out)
    m = int(out[-2]) if len(out) >= 2 else 1
    n = int(out[-1]) if out else 1
    repeat = numel(out[:-2]) if len(out) >= 3 else 1
    dims = dict(in_channels=k, out_channels=n, in_h=m, in_w=1, out_h=m, out_w=1, repeat=repeat)
    return "matmul", dims


def conv_dims(
    in_shape: Sequence[int],
    out_shape: Sequence[int],
    weight_shape: Sequence[int],
    stride: int,
    groups: int,
) -> dict[str, int]:
    """make_layer dimensions of a 1-D or 2-D conv (per-sample shapes, weight K x C/g x R x S)."""
    if len(in_shape) == 3 and len(weight_shape) == 4:
        c, hi, wi = in_shape
        k, ho, wo = out_shape
        kh, kw = weight_shape[2], weight_shape[3]
    elif len(in_shape) == 2 and len(weight_shape) == 3:
        (c, wi), (k, wo) = in_shape, out_shape
        hi = ho = kh = 1
        kw = weight_shape[2]
    else:
        raise WorkloadError(
            f"only 1-D and 2-D convolutions are supported, got input {tuple(in_shape)} "
            f"and weight {tuple(weight_shape)}"
        )
    return dict(
        in_channels=int(c),
        out_channels=int(k),
        in_h=int(hi),
        in_w=int(wi),
        out_h=int(ho),
        out_w=int(wo),
        kernel_h=int(kh),
        kernel_w=int(kw),
        stride=int(stride),
        groups=int(groups),
    )


def assign_names(rows: Sequence[RowSpec]) -> list[str]:
    """Row names by the module-scope rule of the module docstring (unique within the list)."""
    deep: Counter[str] = Counter()
    for row in rows:
        if row.scope:
            parts = row.scope.split(".")
            for i in range(1, len(parts) + 1):
                deep[".".join(parts[:i])] += 1
    names: list[str] = []
    used: set[str] = set()
    per_tag: Counter[tuple[str, str]] = Counter()
    for row in rows:
        if row.scope and deep[row.scope] == 1:
            name = row.scope
        else:
            # A generated name can collide with a module path (a top-level module named 'silu'
            # next to a functional silu): take the next free counter.
            base = f"{row.scope}.{row.tag}" if row.scope else row.tag
            k = per_tag[(row.scope, row.tag)]
            while (base if k == 0 else f"{base}_{k}") in used:
                k += 1
            per_tag[(row.scope, row.tag)] = k + 1
            name = base if k == 0 else f"{base}_{k}"
        # A module path can still collide with an earlier generated name; keep names unique.
        candidate, n = name, 1
        while candidate in used:
            candidate, n = f"{name}__{n}", n + 1
        used.add(candidate)
        names.append(candidate)
    return names


def to_workload(name: str, rows: Sequence[RowSpec], weight_bits: int, act_bits: int) -> Workload:
    """Name the rows, resolve their sources to names and build the :class:`Workload`."""
    if not rows:
        raise WorkloadError(f"network {name!r} has no supported compute operators")
    names = assign_names(rows)
    layers: list[Layer] = []
    for row, row_name in zip(rows, names, strict=True):
        inputs = tuple("" if s == NETWORK_INPUT else names[s] for s in row.sources)
        layers.append(
            make_layer(
                row_name,
                row.op,
                weight_bits=weight_bits,
                act_bits=act_bits,
                inputs=inputs,
                **row.dims,
            )
        )
    return Workload(name=name, layers=tuple(layers))


def unsupported_error(network: str, ops: Iterable[str], importer: str) -> WorkloadError:
    """The one-line error listing every unsupported operator (sorted, de-duplicated)."""
    listed = ", ".join(sorted(set(ops)))
    return WorkloadError(
        f"{importer}: network {network!r} uses unsupported operators: {listed} "
        "(see docs/workloads.md for the supported set)"
    )


def _out_elems(row: RowSpec) -> int:
    d = row.dims
    return int(
        d.get("out_channels", 1) * d.get("out_h", 1) * d.get("out_w", 1) * d.get("repeat", 1)
    )


def collapse_decomposed(rows: Sequence[RowSpec]) -> list[RowSpec]:
    """Collapse decomposed GELU (erf, tanh forms) and LayerNorm row chains into the fused row.

    Works on rows only (both importers can call it after scalar Mul/Div folding):

    * GELU, erf form: ``act erf (X) -> eltwise add (erf) -> eltwise mul (add, X)``; tanh form:
      ``pow (X) -> add (X, pow) -> act tanh -> add -> mul (add, X)`` -> one ``act`` row tagged
      ``gelu`` reading X;
    * LayerNorm: ``pool mean (X) -> sub (X, mean) -> pow|mul (sub) -> pool mean -> [add eps] ->
      sqrt -> div (sub, sqrt) -> [mul gamma] -> [add beta]`` -> one ``norm`` row tagged
      ``layer_norm`` reading X.

    Internal rows must feed only the next row of the chain; the fused row takes the first row's
    position and scope and the last row's size. Rows reading the chain's last row read the
    fused row.
    """
    consumers: dict[int, list[int]] = {}
    for i, row in enumerate(rows):
        for s in row.sources:
            consumers.setdefault(s, []).append(i)

    def sole(i: int) -> int | None:
        users = consumers.get(i, [])
        return users[0] if len(users) == 1 else None

    def is_(i: int | None, op: str, tag: str | tuple[str, ...]) -> bool:
        tags = (tag,) if isinstance(tag, str) else tag
        return i is not None and rows[i].op == op and rows[i].tag in tags

    used: set[int] = set()
    chains: dict[int, tuple[list[int], RowSpec]] = {}
    for i, row in enumerate(rows):
        if i in used:
            continue
        x = set(row.sources)
        members: list[int] | None = None
        tag = op = ""
        if is_(i, "act", "erf"):
            a = sole(i)
            m = sole(a) if is_(a, "eltwise", "add") and set(rows[a].sources) == {i} else None
            if is_(m, "eltwise", "mul") and set(rows[m].sources) == {a} | x:
                members, tag, op = [i, a, m], "gelu", "act"  # type: ignore[list-item]
        elif is_(i, "eltwise", "pow") and row.sources:
            # tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))); the scalar multiplies
            # are folded, leaving pow (X) -> add (X, pow) -> tanh -> add (1) -> mul (X, add).
            a = sole(i)
            t = sole(a) if is_(a, "eltwise", "add") and set(rows[a].sources) == x | {i} else None
            a2 = sole(t) if is_(t, "act", "tanh") and set(rows[t].sources) == {a} else None
            m = sole(a2) if is_(a2, "eltwise", "add") and set(rows[a2].sources) == {t} else None
            if is_(m, "eltwise", "mul") and set(rows[m].sources) == {a2} | x:
                members, tag, op = [i, a, t, a2, m], "gelu", "act"  # type: ignore[list-item]
        elif is_(i, "pool", "mean") and row.sources:
            d = sole(i)
            if is_(d, "eltwise", "sub") and set(rows[d].sources) == x | {i}:
                users = consumers.get(d, [])
                p = next((u for u in users if set(rows[u].sources) == {d}), None)
                chain = [i, d]
                if is_(p, "eltwise", ("pow", "mul")) and len(users) == 2:
                    m2 = sole(p)
                    if is_(m2, "pool", "mean") and set(rows[m2].sources) == {p}:
                        chain += [p, m2]
                        nxt = sole(m2)
                        if is_(nxt, "eltwise", "add") and set(rows[nxt].sources) == {m2}:
                            chain.append(nxt)
                            nxt = sole(nxt)
                        if is_(nxt, "eltwise", "sqrt") and set(rows[nxt].sources) == {chain[-1]}:
                            s = nxt
                            n = sole(s)
                            if is_(n, "eltwise", "div") and set(rows[n].sources) == {d, s}:
                                chain += [s, n]
                                if set(users) == {p, n}:
                                    last = n
                                    g = sole(last)
                                    if is_(g, "eltwise", "mul") and set(rows[g].sources) == {last}:
                                        chain.append(g)
                                        last = g
                                    b = sole(last)
                                    if is_(b, "eltwise", "add") and set(rows[b].sources) == {last}:
                                        chain.append(b)
                                    members, tag, op = chain, "layer_norm", "norm"
        if members is None:
            continue
        last_row = rows[members[-1]]
        if _out_elems(last_row) != _out_elems(rows[members[1]]):
            continue
        used.update(members)
        fused = RowSpec(row.scope, tag, op, dict(last_row.dims), list(row.sources))
        chains[i] = (members, fused)
    if not chains:
        return list(rows)
    alias: dict[int, int] = {}
    for first, (members, _) in chains.items():
        for m in members:
            alias[m] = first
    out: list[RowSpec] = []
    new_index: dict[int, int] = {}
    for i, row in enumerate(rows):
        if i in alias and alias[i] != i:
            continue
        spec = chains[i][1] if i in chains else row
        mapped = []
        for s in spec.sources:
            t = alias.get(s, s)
            mapped.append(new_index[t] if t in new_index else t)
        new_index[i] = len(out)
        out.append(RowSpec(spec.scope, spec.tag, spec.op, spec.dims, union([mapped])))
    return out
