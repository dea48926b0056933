"""ONNX importer: identical tables to the built-ins and torch.fx, op mapping, names, errors.

ONNX files are generated into tmp_path with torch's TorchScript exporter or onnx.helper; nothing
is downloaded.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from cimkit.errors import WorkloadError  # noqa: E402
from cimkit.workload import builtin as B  # noqa: E402
from cimkit.workload.onnx_import import from_onnx, module_scope  # noqa: E402


def _export(model, x, path, **kwargs):
    """torch.onnx.export with the TorchScript exporter (no onnxscript needed) into ``path``."""
    torch = pytest.importorskip("torch")
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter is deprecated but still shipped
        torch.onnx.export(model, x, str(path), dynamo=False, **kwargs)
    return path


def _tables_equal(a, b):
    fa, fb = a.to_frame(), b.to_frame()
    assert list(fa["name"]) == list(fb["name"])
    assert fa.equals(fb)


# ---------------------------------------------------------------- scope names
@pytest.mark.parametrize(
    "node, scope",
    [
        ("/features/features.1/conv/conv.0/conv.0.2/Clip", "features.1.conv.0.2"),
        ("/features/features.0/features.0.0/Conv", "features.0.0"),
        ("/layer1/layer1.0/relu_1/Relu", "layer1.0.relu_1"),
        ("/layer2/layer2.0/downsample/downsample.0/Conv", "layer2.0.downsample.0"),
        ("/classifier/classifier.1/Gemm", "classifier.1"),
        ("/block/conv/conv/Conv", "block.conv.conv"),
        ("/GlobalAveragePool", ""),
        ("Conv_12", None),
    ],
)
def test_module_scope_from_exporter_names(node, scope):
    assert module_scope(node) == scope


# ---------------------------------------------------------------- torch exports
@pytest.fixture(scope="module")
def torch_mods():
    torch = pytest.importorskip("torch")
    from cimkit.workload import torch_models

    return torch, torch_models


OFA_SUBNET = dict(depths=(2, 3, 4, 2, 3), kernels=[3, 5, 7, 3] * 5, expands=[3, 4, 6, 6] * 5)


@pytest.mark.parametrize(
    "case",
    [
        "mobilenetv2",
        "ofa_subnet",
        "resnet18",
        "vgg8",
        pytest.param("resnet50", marks=pytest.mark.slow),
    ],
)
def test_onnx_table_equals_builtin_and_fx(case, tmp_path, torch_mods):
    torch, TM = torch_mods
    from cimkit.workload.torch_import import from_torch

    builtin, model, shape = {
        "mobilenetv2": lambda: (
            B.mobilenetv2_standard(),
            TM.mobilenetv2_standard(),
            (1, 3, 224, 224),
        ),
        "ofa_subnet": lambda: (
            B.mobilenetv2(**OFA_SUBNET, resolution=160),
            TM.mobilenetv2(**OFA_SUBNET),
            (1, 3, 160, 160),
        ),
        "resnet18": lambda: (B.resnet18(), TM.resnet18(), (1, 3, 224, 224)),
        "vgg8": lambda: (B.vgg8(), TM.vgg8(), (1, 3, 32, 32)),
        "resnet50": lambda: (B.resnet50(), TM.resnet50(), (1, 3, 224, 224)),
    }[case]()
    x = torch.randn(*shape)
    wl = from_onnx(_export(model, x, tmp_path / f"{case}.onnx"))
    assert wl.name == case  # the file stem
    _tables_equal(builtin, wl)
    _tables_equal(from_torch(model, x), wl)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(input_names=["x"], dynamic_axes={"x": {0: "batch"}}),  # symbolic batch
        dict(keep_initializers_as_inputs=True),  # weights listed as graph inputs
        dict(do_constant_folding=False),  # BatchNormalization left after each Conv
        dict(opset_version=13),
    ],
    ids=["dynamic-batch", "initializers-as-inputs", "unfolded-bn", "opset13"],
)
def test_export_variants_give_the_same_table(kwargs, tmp_path, torch_mods):
    torch, TM = torch_mods
    model = TM.resnet18(depths=(1, 1, 1, 1), width=0.25)
    path = _export(model, torch.randn(1, 3, 64, 64), tmp_path / "r.onnx", **kwargs)
    if kwargs.get("do_constant_folding") is False:
        ops = {n.op_type for n in onnx.load(str(path)).graph.node}
        assert "BatchNormalization" in ops
    ref = B.resnet18(depths=(1, 1, 1, 1), width=0.25, resolution=64)
    _tables_equal(ref, from_onnx(path, name="resnet18"))


def test_small_models_match_fx(tmp_path, torch_mods):
    torch, _ = torch_mods
    # Reuse the attention block of the fx tests: matmul, softmax, LayerNorm, GELU, SiLU fusion,
    # Linear on 3-D input (exported as MatMul + bias Add), a parameter matmul + bias, mean.
    from test_torch_import import Attention, Mixed, Pools

    from cimkit.workload.torch_import import from_torch

    for model, x in (
        (Attention(), torch.randn(1, 8, 32)),
        (Mixed(), torch.randn(2, 3, 16, 16)),
        (Pools(), torch.randn(1, 4, 16, 16)),
    ):
        path = _export(model, x, tmp_path / "m.onnx")
        _tables_equal(from_torch(model, x), from_onnx(path))


def test_unsupported_torch_ops_are_all_listed(tmp_path, torch_mods):
    torch, _ = torch_mods
    from test_torch_import import Unsupported

    path = _export(Unsupported(), torch.randn(1, 3, 8, 8), tmp_path / "bad.onnx")
    with pytest.raises(WorkloadError) as err:
        from_onnx(path)
    # Resize (nn.Upsample) is a 'resize' eltwise row and CumSum a 'cumsum' row, as on torch.
    assert (
        "unsupported operators: DepthToSpace x1 (first in 'shuffle'), TopK x1 (first at top level)"
    ) in str(err.value)


# ---------------------------------------------------------------- hand-built graphs
def _init(name, shape, rng):
    return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)


def _cnn(input_shape=("N", 3, 8, 8), extra_nodes=()):
    """Conv -> Relu -> GlobalAveragePool -> Flatten -> Gemm, with non-torch node names."""
    rng = np.random.default_rng(0)
    nodes = [
        helper.make_node(
            "Conv", ["x", "w1"], ["c1"], name="stem", pads=[1, 1, 1, 1], strides=[2, 2]
        ),
        helper.make_node("Relu", ["c1"], ["r1"], name="stem_relu"),
        helper.make_node("GlobalAveragePool", ["r1"], ["p"], name=""),
        helper.make_node("Flatten", ["p"], ["f"], name="flat", axis=1),
        helper.make_node("Gemm", ["f", "w2", "b2"], ["y0"], name="head", transB=1),
        *extra_nodes,
    ]
    last = extra_nodes[-1].output[0] if extra_nodes else "y0"
    graph = helper.make_graph(
        nodes,
        "tiny_cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(input_shape))],
        [helper.make_tensor_value_info(last, TensorProto.FLOAT, None)],
        initializer=[
            _init("w1", (16, 3, 3, 3), rng),
            _init("w2", (10, 16), rng),
            _init("b2", (10,), rng),
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_hand_built_graph_rows_and_names(tmp_path):
    model = _cnn()
    onnx.save(model, str(tmp_path / "tiny.onnx"))
    wl = from_onnx(tmp_path / "tiny.onnx", weight_bits=4)
    assert wl.name == "tiny"
    assert [(la.name, la.op) for la in wl.layers] == [
        ("stem", "conv"),
        ("stem_relu", "act"),
        ("avgpool", "pool"),
        ("head", "linear"),
    ]
    stem, _, pool, head = wl.layers
    assert (stem.out_h, stem.stride, stem.macs) == (4, 2, 16 * 3 * 9 * 16)
    assert (pool.kernel_h, pool.kernel_w, pool.stride, pool.inputs) == (4, 4, 4, ("stem_relu",))
    assert (head.in_channels, head.out_channels, head.inputs) == (16, 10, ("avgpool",))
    assert {la.weight_bits for la in wl.layers} == {4}
    assert from_onnx(model).name == "tiny_cnn"  # a ModelProto is accepted too


def test_hand_built_unsupported_ops_listed_once():
    extra = (
        helper.make_node("Softsign", ["y0"], ["s"], name="s1"),
        helper.make_node("Softsign", ["s"], ["s2"], name="s2"),
        helper.make_node("Hardmax", ["s2"], ["h"], name="h"),
        helper.make_node("MyOp", ["h"], ["z"], name="z", domain="com.example"),
    )
    model = _cnn(extra_nodes=extra)
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    with pytest.raises(
        WorkloadError,
        match=r"unsupported operators: Hardmax x1 \(first in 'h'\), Softsign x2 \(first in "
        r"'s1'\), com\.example::MyOp x1",
    ):
        from_onnx(model)
    # a supported op after an op with unknown output shape still lists the unsupported one
    extra = (
        helper.make_node("MyOp", ["y0"], ["z"], name="z", domain="com.example"),
        helper.make_node("Relu", ["z"], ["r"], name="r"),
    )
    model = _cnn(extra_nodes=extra)
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    with pytest.raises(WorkloadError, match=r"unsupported operators: com\.example::MyOp x1"):
        from_onnx(model)


def test_symbolic_spatial_dims_need_input_shape():
    with pytest.raises(WorkloadError, match="input 'x' has symbolic dimension 2 .H.*input_shape"):
        from_onnx(_cnn(input_shape=("N", 3, "H", "W")))
    wl = from_onnx(_cnn(input_shape=("N", 3, "H", "W")), input_shape=(1, 3, 16, 16))
    assert (wl.layers[0].in_h, wl.layers[0].out_h) == (16, 8)
    with pytest.raises(WorkloadError, match="does not match its static dims"):
        from_onnx(_cnn(), input_shape=(1, 4, 8, 8))


def test_file_errors(tmp_path):
    with pytest.raises(WorkloadError, match="ONNX file not found"):
        from_onnx(tmp_path / "missing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"\x00not a protobuf\xff" * 10)
    with pytest.raises(WorkloadError, match="cannot read ONNX file"):
        from_onnx(tmp_path / "junk.onnx")


# ---------------------------------------------------------------- shapes by running, new ops
def _model(nodes, inputs, output, inits=(), opset=17):
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)],
        initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in inits],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def test_reshape_with_in_graph_shape_is_resolved_by_running_the_model():
    # The target shape goes through a float Cast and Div: shape inference cannot follow it.
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Cast", ["s"], ["sf"], to=TensorProto.FLOAT),
        helper.make_node("Div", ["sf", "half"], ["sd"]),
        helper.make_node("Cast", ["sd"], ["si"], to=TensorProto.INT64),
        helper.make_node("Slice", ["si", "s0", "s1"], ["c"]),
        helper.make_node("Concat", ["one", "c", "m1"], ["ns"], axis=0),
        helper.make_node("Reshape", ["x", "ns"], ["y"]),
        helper.make_node("MatMul", ["y", "w"], ["z"], name="fc"),
    ]
    inits = [
        ("half", np.array([0.5], np.float32)),
        ("s0", np.array([1], np.int64)),
        ("s1", np.array([2], np.int64)),
        ("one", np.array([1], np.int64)),
        ("m1", np.array([-1], np.int64)),
        ("w", np.ones((3, 5), np.float32)),
    ]
    model = _model(nodes, [("x", ["N", 4, 6])], "z", inits)
    from cimkit.workload.onnx_shapes import resolve_shapes

    assert resolve_shapes(model).method == "onnxruntime"  # inference alone leaves y unknown
    wl = from_onnx(model)  # x (1, 4, 6) -> reshape (1, 8, 3) -> 8 tokens x (3 -> 5)
    (fc,) = wl.layers
    assert (fc.op, fc.in_channels, fc.out_channels, fc.out_h, fc.macs) == (
        "linear",
        3,
        5,
        8,
        8 * 3 * 5,
    )


@pytest.mark.parametrize(
    "op, tag, n_in",
    [
        ("IsNaN", "isnan", 1),
        ("IsInf", "isinf", 1),
        ("Neg", "neg", 1),
        ("Sqrt", "sqrt", 1),
        ("Reciprocal", "reciprocal", 1),
        ("Abs", "abs", 1),
        ("Exp", "exp", 1),
        ("Log", "log", 1),
        ("Floor", "floor", 1),
        ("Pow", "pow", 2),
        ("Max", "max", 2),
        ("Min", "min", 2),
        ("Resize", "resize", 0),
        ("ReduceL2", "reducel2", 0),
        ("ReduceSumSquare", "sum_square", 0),
        ("ArgMax", "argmax", 0),
    ],
)
def test_new_operators_are_rows(op, tag, n_in):
    if op == "Resize":
        node = helper.make_node(op, ["x", "", "sc"], ["y"], name="n", mode="nearest")
        inits = [("sc", np.array([1, 1, 2, 2], np.float32))]
        out_elems = 2 * 4 * 4 * 4 * 4
    elif op.startswith("Reduce") or op == "ArgMax":
        node = helper.make_node(op, ["x"], ["y"], name="n", keepdims=0, axis=3)
        if op != "ArgMax":
            node = helper.make_node(op, ["x", "ax"], ["y"], name="n", keepdims=0)
        inits = [("ax", np.array([3], np.int64))]
        out_elems = 2 * 4 * 4
    else:
        node = helper.make_node(op, ["x"] * n_in, ["y"], name="n")
        inits = []
        out_elems = 2 * 4 * 4 * 4
    wl = from_onnx(_model([node], [("x", [2, 4, 4, 4])], "y", inits, opset=18))
    (row,) = wl.layers
    assert row.name == "n" and row.out_elems * 2 == out_elems  # per sample: batch 2
    assert row.op == ("pool" if tag in ("reducel2", "sum_square", "argmax") else "eltwise")
    assert row.inputs == ("",)


def test_scalar_mul_div_fold_and_where_is_a_row():
    nodes = [
        helper.make_node("Mul", ["x", "c"], ["a"]),
        helper.make_node("Div", ["a", "c"], ["b"]),
        helper.make_node("Div", ["c", "b"], ["d"], name="recip"),  # c / x: a real division
        helper.make_node("Where", ["m", "d", "c"], ["y"], name="mask"),
    ]
    inits = [("c", np.array(2.0, np.float32)), ("m", np.ones((4, 4), bool))]
    wl = from_onnx(_model(nodes, [("x", [1, 4, 4])], "y", inits))
    assert [(la.name, la.op) for la in wl.layers] == [("recip", "eltwise"), ("mask", "eltwise")]


def test_patches_folded_into_dim0_keep_full_macs():
    # MobileViT unfolds 2x2 patches into dimension 0: (1, 16, 8) -> (4, 4, 8) then attention
    # and a conv over the fold. MACs must be the full count, not 1/4 of it.
    rng = np.random.default_rng(0)
    nodes = [
        helper.make_node("Reshape", ["x", "fold"], ["p"]),
        helper.make_node("MatMul", ["p", "w"], ["q"], name="qk_proj"),
        helper.make_node("Transpose", ["q"], ["qt"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["q", "qt"], ["s"], name="scores"),
        helper.make_node("Reshape", ["s", "img"], ["im"]),
        helper.make_node("Conv", ["im", "cw"], ["y"], name="conv"),
    ]
    inits = [
        ("fold", np.array([4, 4, 8], np.int64)),
        ("img", np.array([4, 1, 4, 4], np.int64)),
        ("w", rng.standard_normal((8, 8)).astype(np.float32)),
        ("cw", rng.standard_normal((2, 1, 1, 1)).astype(np.float32)),
    ]
    wl = from_onnx(_model(nodes, [("x", [1, 16, 8])], "y", inits))
    rows = {la.name: la for la in wl.layers}
    assert rows["qk_proj"].macs == 16 * 8 * 8  # 4 patches x 4 tokens, 8 -> 8
    assert (rows["scores"].repeat, rows["scores"].macs) == (4, 4 * 4 * 8 * 4)
    assert (rows["conv"].repeat, rows["conv"].macs) == (4, 4 * 2 * 16)


def test_einsum_linear_and_matmul():
    rng = np.random.default_rng(0)
    nodes = [
        helper.make_node("Einsum", ["x", "w"], ["h"], name="proj", equation="btc,cd->btd"),
        helper.make_node("Einsum", ["h", "h"], ["y"], name="gram", equation="bid,bjd->bij"),
    ]
    inits = [("w", rng.standard_normal((8, 6)).astype(np.float32))]
    wl = from_onnx(_model(nodes, [("x", [1, 5, 8])], "y", inits))
    proj, gram = wl.layers
    assert (proj.op, proj.macs, proj.weights) == ("linear", 5 * 8 * 6, 48)
    assert (gram.op, gram.macs) == ("matmul", 5 * 5 * 6)


def test_contrib_gelu_and_rmsnorm_are_single_rows():
    nodes = [
        helper.make_node("FastGelu", ["x"], ["g"], name="act", domain="com.microsoft"),
        helper.make_node("SimplifiedLayerNormalization", ["g", "s"], ["y"], name="norm"),
    ]
    model = _model(nodes, [("x", [1, 4, 8])], "y", [("s", np.ones(8, np.float32))])
    model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    wl = from_onnx(model)
    assert [(la.name, la.op, la.out_elems) for la in wl.layers] == [
        ("act", "act", 32),
        ("norm", "norm", 32),
    ]


@pytest.mark.parametrize("opset", [13, 17])
def test_decomposed_gelu_and_layernorm_give_the_fused_rows(opset, tmp_path, torch_mods):
    # opset 13: nn.LayerNorm is exported as ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div/Mul/Add
    # and nn.GELU (both opsets) as Div/Erf/Add/Mul/Mul: each collapses to its one fused row.
    torch, _ = torch_mods
    from test_torch_import import Attention

    from cimkit.workload.torch_import import from_torch

    model, x = Attention(), torch.randn(1, 8, 32)
    path = _export(model, x, tmp_path / "a.onnx", opset_version=opset)
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert "Erf" in ops and ("LayerNormalization" in ops) == (opset >= 17)
    _tables_equal(from_torch(model, x), from_onnx(path))


def test_tanh_gelu_addcmul_and_cumsum_match_torch(tmp_path, torch_mods):
    """GPT-2's tanh GELU (written out), timm's Affine (addcmul) and RoBERTa-style position ids
    (cumsum): the torch.export table and the ONNX table of the same model are identical."""
    import math

    torch, _ = torch_mods
    from cimkit.workload.torch_import import from_torch

    class Block(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(16, 32)
            self.out = torch.nn.Linear(32, 8)
            self.alpha = torch.nn.Parameter(torch.ones(32))
            self.beta = torch.nn.Parameter(torch.zeros(32))

        def forward(self, x):
            h = self.fc(x)
            c = math.sqrt(2.0 / math.pi)
            h = 0.5 * h * (1.0 + torch.tanh(c * (h + 0.044715 * torch.pow(h, 3.0))))
            h = torch.addcmul(self.beta, self.alpha, h)
            return self.out(torch.cumsum(h, dim=1))

    model, x = Block().eval(), torch.randn(1, 4, 16)
    wl_torch = from_torch(model, x)
    wl_onnx = from_onnx(_export(model, (x,), tmp_path / "block.onnx"))
    _tables_equal(wl_torch, wl_onnx)
    rows = [(la.op, la.name) for la in wl_onnx.layers]
    assert rows == [
        ("linear", "fc"),
        ("act", "gelu"),
        ("eltwise", "mul"),
        ("eltwise", "add"),
        ("eltwise", "cumsum"),
        ("linear", "out"),
    ]


def test_adding_a_literal_zero_is_no_row_on_both_paths(tmp_path, torch_mods):
    """timm's MobileOne adds a literal 0 for an absent branch: an identity on both paths, while
    0 - x stays a real subtraction."""
    torch, _ = torch_mods
    from cimkit.workload.torch_import import from_torch

    class Zero(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(8, 8)

        def forward(self, x):
            h = self.fc(x)
            return 0 - (h + 0)

    model, x = Zero().eval(), torch.randn(1, 3, 8)
    wl_torch = from_torch(model, x)
    wl_onnx = from_onnx(_export(model, (x,), tmp_path / "zero.onnx"))
    _tables_equal(wl_torch, wl_onnx)
    assert [la.op for la in wl_onnx.layers] == ["linear", "eltwise"]
