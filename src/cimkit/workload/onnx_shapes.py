"""Static shapes of every tensor of an ONNX model, without relying on perfect shape inference.

:func:`resolve_shapes` is the one entry point of :func:`cimkit.workload.onnx_import.from_onnx`:

1. **Concrete inputs.** Every graph input (initializers excluded) gets a concrete shape: the
   caller's ``input_shape`` (one tuple for the first input, or a mapping name -> shape), the
   declared static dims otherwise, a symbolic dimension bound by name from another input (two
   inputs sharing ``batch`` / ``sequence`` dims), and 1 for a symbolic leading (batch) dim. A
   symbolic dimension that none of these fixes is a :class:`~cimkit.errors.WorkloadError` that
   names the input and the dimension and says to pass ``input_shape``.
2. **Shape inference** (``onnx.shape_inference.infer_shapes(..., data_prop=True)``) on the model
   with those input shapes written into it.
3. **One run** when any node output still has no static shape (a Reshape/Expand/Pad whose shape
   input is computed in the graph, contrib operators such as ``com.microsoft::FastGelu``): every
   tensor without a shape is exposed as a graph output, the model runs once on a dummy input
   (onnxruntime, CPU, graph optimizations off; ``onnx.reference.ReferenceEvaluator`` when
   onnxruntime cannot load or run the model) and the shape of every recorded tensor is kept.

Only shapes (and the values of tiny tensors, at most :data:`SMALL_VALUE` elements, e.g. Clip
bounds computed in the graph) are returned; the dummy input's numbers never reach the table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from cimkit.errors import WorkloadError

if TYPE_CHECKING:  # pragma: no cover
    import onnx

#: Tensors with at most this many elements keep their recorded value (Clip bounds, scales).
SMALL_VALUE = 16

InputShape = Sequence[int] | Mapping[str, Sequence[int]] | None


@dataclass
class ShapeInfo:
    """What :func:`resolve_shapes` found.

    Attributes:
        model: the model with concrete input shapes and inferred ``value_info``.
        shapes: tensor name -> full static shape (batch included) for every tensor whose shape
            is known (inputs, initializers, node outputs).
        inputs: graph input name -> the concrete shape used (initializers excluded).
        values: tensor name -> value of small tensors recorded by the run (empty without a run).
        method: how the last shapes were obtained: 'inference', 'onnxruntime' or 'reference'.
        run_error: why the shape run failed ('' when it was not needed or succeeded).
    """

    model: Any
    shapes: dict[str, tuple[int, ...]]
    inputs: dict[str, tuple[int, ...]]
    values: dict[str, np.ndarray] = field(default_factory=dict)
    method: str = "inference"
    run_error: str = ""


def _dims(vi: onnx.ValueInfoProto) -> list[int | str | None] | None:
    tt = vi.type.tensor_type
    if not tt.HasField("shape"):
        return None
    out: list[int | str | None] = []
    for d in tt.shape.dim:
        if d.HasField("dim_value"):
            out.append(int(d.dim_value))
        elif d.HasField("dim_param") and d.dim_param:
            out.append(str(d.dim_param))
        else:
            out.append(None)
    return out


def graph_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """The real inputs of the graph (initializers listed as inputs excluded)."""
    inits = {i.name for i in model.graph.initializer}
    return [vi for vi in model.graph.input if vi.name not in inits]


def concrete_input_shapes(
    model: onnx.ModelProto, input_shape: InputShape = None
) -> dict[str, tuple[int, ...]]:
    """A concrete shape for every graph input (rules in the module docstring).

    Args:
        model: the ONNX model.
        input_shape: one shape (for the first graph input; batch first, e.g. ``(1, 3, 96, 96)``)
            or a mapping input name -> shape; None to use the declared shapes.

    Raises:
        WorkloadError: a given shape does not fit the input's rank or static dims, names an
            input the model does not have, or a symbolic dim stays unbound.
    """
    inputs = graph_inputs(model)
    if not inputs:
        raise WorkloadError("ONNX: the graph has no inputs (only initializers)")
    given: dict[str, tuple[int, ...]] = {}
    if isinstance(input_shape, Mapping):
        names = {vi.name for vi in inputs}
        unknown = sorted(set(input_shape) - names)
        if unknown:
            raise WorkloadError(
                f"ONNX: input_shape names inputs {unknown} that the model does not have; "
                f"its inputs are {sorted(names)}"
            )
        given = {k: tuple(int(d) for d in v) for k, v in input_shape.items()}
    elif input_shape is not None:
        given = {inputs[0].name: tuple(int(d) for d in input_shape)}
    bound: dict[str, int] = {}
    declared: dict[str, list[int | str | None]] = {}
    for vi in inputs:
        dims = _dims(vi)
        if dims is None:
            if vi.name not in given:
                raise WorkloadError(
                    f"ONNX: input {vi.name!r} has no declared shape; pass input_shape "
                    "(e.g. from_onnx(path, input_shape=(1, 3, 224, 224)) or --input-shape)"
                )
            dims = [None] * len(given[vi.name])
        declared[vi.name] = dims
        if vi.name in given:
            shape = given[vi.name]
            if len(shape) != len(dims):
                raise WorkloadError(
                    f"ONNX: input_shape {shape} for input {vi.name!r} has rank {len(shape)}, "
                    f"the model declares rank {len(dims)} ({_fmt(dims)})"
                )
            for d, s in zip(dims, shape, strict=True):
                if s < 1:
                    raise WorkloadError(f"ONNX: input_shape {shape} has a dimension < 1")
                if isinstance(d, int) and d != s:
                    raise WorkloadError(
                        f"ONNX: input_shape {shape} for input {vi.name!r} does not match its "
                        f"static dims {_fmt(dims)}"
                    )
                if isinstance(d, str):
                    bound.setdefault(d, s)
    out: dict[str, tuple[int, ...]] = {}
    for vi in inputs:
        if vi.name in given:
            out[vi.name] = given[vi.name]
            continue
        dims = declared[vi.name]
        shape: list[int] = []
        for axis, d in enumerate(dims):
            if isinstance(d, int) and d > 0:
                shape.append(d)
            elif isinstance(d, str) and d in bound:
                shape.append(bound[d])
            elif axis == 0:  # a symbolic batch: one sample
                shape.append(1)
                if isinstance(d, str):
                    bound[d] = 1
            else:
                raise WorkloadError(
                    f"ONNX: input {vi.name!r} has symbolic dimension {axis} "
                    f"({d if d else '?'!s}) in shape {_fmt(dims)}; pass the input shape "
                    "(from_onnx(path, input_shape=(1, 3, 224, 224)) or --input-shape 1,3,224,224)"
                )
        out[vi.name] = tuple(shape)
    return out


def _fmt(dims: Sequence[int | str | None]) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in dims) + ")"


def _with_input_shapes(
    model: onnx.ModelProto, shapes: Mapping[str, tuple[int, ...]]
) -> onnx.ModelProto:
    import onnx

    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    for vi in fixed.graph.input:
        if vi.name not in shapes:
            continue
        tt = vi.type.tensor_type
        tt.ClearField("shape")
        for d in shapes[vi.name]:
            tt.shape.dim.add().dim_value = int(d)
    # Output shapes declared with other (symbolic) dims would conflict with the concrete ones.
    for vi in fixed.graph.output:
        vi.type.tensor_type.ClearField("shape")
    return fixed


def _static(vi: onnx.ValueInfoProto) -> tuple[int, ...] | None:
    dims = _dims(vi)
    if dims is None or any(not isinstance(d, int) or d < 0 for d in dims):
        return None
    return tuple(int(d) for d in dims)  # type: ignore[arg-type]


_NP_OF_ONNX = {
    1: np.float32,
    2: np.uint8,
    3: np.int8,
    4: np.uint16,
    5: np.int16,
    6: np.int32,
    7: np.int64,
    9: np.bool_,
    10: np.float16,
    11: np.float64,
    12: np.uint32,
    13: np.uint64,
}


def dummy_inputs(
    model: onnx.ModelProto,
    shapes: Mapping[str, tuple[int, ...]],
    input_dtype: str | None = None,
) -> dict[str, np.ndarray]:
    """Deterministic dummy feeds: standard normal floats (seed 0), ones for integer inputs
    (valid token ids and attention masks), True for booleans.

    ``input_dtype`` (a numpy dtype name) overrides the declared element type of every input.
    """
    rng = np.random.default_rng(0)
    feeds: dict[str, np.ndarray] = {}
    for vi in graph_inputs(model):
        shape = shapes[vi.name]
        if input_dtype is not None:
            try:
                dtype = np.dtype(input_dtype)
            except TypeError as exc:
                raise WorkloadError(
                    f"ONNX: unknown input_dtype {input_dtype!r} (a numpy dtype name such as "
                    "'float32' or 'int64')"
                ) from exc
        else:
            dtype = np.dtype(_NP_OF_ONNX.get(vi.type.tensor_type.elem_type, np.float32))
        if dtype.kind == "f":
            feeds[vi.name] = rng.standard_normal(shape).astype(dtype)
        elif dtype.kind == "b":
            feeds[vi.name] = np.ones(shape, dtype=dtype)
        else:
            feeds[vi.name] = np.ones(shape, dtype=dtype)
    return feeds


def _run_onnxruntime(
    model: onnx.ModelProto, names: Sequence[str], feeds: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    import onnx
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    present = {o.name for o in probe.graph.output}
    for name in names:
        if name not in present:
            probe.graph.output.append(onnx.ValueInfoProto(name=name))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    session = ort.InferenceSession(
        probe.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    outputs = [o.name for o in session.get_outputs()]
    results = session.run(outputs, dict(feeds))
    return dict(zip(outputs, results, strict=True))


def _run_reference(
    model: onnx.ModelProto, feeds: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    from onnx.reference import ReferenceEvaluator

    evaluator = ReferenceEvaluator(model)
    results = evaluator.run(None, dict(feeds), intermediate=True)
    return {k: v for k, v in results.items() if isinstance(v, np.ndarray | np.generic)}


def run_once(
    model: onnx.ModelProto,
    names: Sequence[str],
    feeds: Mapping[str, np.ndarray],
    network: str = "onnx_model",
) -> tuple[dict[str, np.ndarray], str]:
    """Run ``model`` once and return the values of ``names`` (and the graph outputs), and the
    runtime used ('onnxruntime' or 'reference').

    Raises:
        WorkloadError: neither onnxruntime nor the reference evaluator can run the model.
    """
    errors: list[str] = []
    try:
        return _run_onnxruntime(model, names, feeds), "onnxruntime"
    except ImportError:
        errors.append("onnxruntime is not installed")
    except Exception as exc:  # InvalidGraph, NotImplemented, Fail... of onnxruntime
        errors.append(f"onnxruntime: {type(exc).__name__}: {str(exc)[:300]}")
    try:
        return _run_reference(model, feeds), "reference"
    except Exception as exc:
        errors.append(f"onnx.reference: {type(exc).__name__}: {str(exc)[:300]}")
    raise WorkloadError(
        f"ONNX: shape inference left tensors of {network!r} without a static shape and running "
        f"the model once to record them failed ({'; '.join(errors)}); export with static "
        "shapes or pass input_shape"
    )


def resolve_shapes(
    model: onnx.ModelProto,
    input_shape: InputShape = None,
    input_dtype: str | None = None,
    network: str = "onnx_model",
    force_run: bool = False,
) -> ShapeInfo:
    """Concrete input shapes, shape inference, and one run if any node output lacks a shape.

    Args:
        model: the ONNX model (not modified).
        input_shape: see :func:`concrete_input_shapes`.
        input_dtype: numpy dtype name of the dummy input (default: the declared type).
        network: name for error messages.
        force_run: run the model even when inference found every shape (tests).

    Raises:
        WorkloadError: unbound symbolic dims, shape inference errors, or a failed run.
    """
    import onnx
    import onnx.shape_inference

    inputs = concrete_input_shapes(model, input_shape)
    fixed = _with_input_shapes(model, inputs)
    try:
        inferred = onnx.shape_inference.infer_shapes(fixed, data_prop=True)
    except Exception as exc:
        raise WorkloadError(f"ONNX shape inference failed for {network!r}: {exc}") from exc
    graph = inferred.graph
    shapes: dict[str, tuple[int, ...]] = dict(inputs)
    for init in graph.initializer:
        shapes[init.name] = tuple(int(d) for d in init.dims)
    for vi in [*graph.value_info, *graph.output]:
        shape = _static(vi)
        if shape is not None:
            shapes.setdefault(vi.name, shape)
    for node in graph.node:  # Constant nodes: their shape is their value's
        if node.op_type == "Constant" and node.output and node.output[0] not in shapes:
            for a in node.attribute:
                if a.name == "value" and a.t is not None:
                    shapes[node.output[0]] = tuple(int(d) for d in a.t.dims)
    missing = [out for node in graph.node for out in node.output if out and out not in shapes]
    info = ShapeInfo(model=inferred, shapes=shapes, inputs=inputs)
    if not missing and not force_run:
        return info
    feeds = dummy_inputs(model, inputs, input_dtype)
    names = missing if not force_run else [o for n in graph.node for o in n.output if o]
    try:
        results, method = run_once(fixed, names, feeds, network)
    except WorkloadError as exc:  # keep what inference found; the importer reports the rest
        info.run_error = str(exc)
        return info
    for name, value in results.items():
        arr = np.asarray(value)
        shapes[name] = tuple(int(d) for d in arr.shape)
        if arr.size <= SMALL_VALUE:
            info.values[name] = arr
    info.method = method
    return info
