"""Single-layer int8 TFLite models built without TensorFlow, for Vela calibration.

Uses the TFLite schema bindings that ship inside ``ethos-u-vela`` (``ethosu.vela.tflite``) and the
``flatbuffers`` builder. Each model holds one operator with its graph input(s) and output, int8
activations (per-tensor scale) and int8 weights (per-channel scale), int32 bias, the layout TFLite's
post-training quantizer writes. Weight values are pseudo-random with a fixed seed so Vela's weight
compression sees realistic (incompressible) data.
"""

from __future__ import annotations

from dataclasses import dataclass

import flatbuffers
import numpy as np
from ethosu.vela.tflite import (
    AddOptions,
    BatchMatMulOptions,
    Buffer,
    Conv2DOptions,
    DepthwiseConv2DOptions,
    FullyConnectedOptions,
    Model,
    Operator,
    OperatorCode,
    QuantizationParameters,
    SoftmaxOptions,
    SubGraph,
    Tensor,
)
from ethosu.vela.tflite.BuiltinOperator import BuiltinOperator
from ethosu.vela.tflite.BuiltinOptions import BuiltinOptions
from ethosu.vela.tflite.Padding import Padding
from ethosu.vela.tflite.TensorType import TensorType


@dataclass(frozen=True)
class LayerShape:
    """One calibration layer.

    kind: ``conv`` (k x k, groups 1), ``dw`` (depthwise k x k), ``pw`` (1 x 1), ``fc``
    (M tokens x c_in -> c_out), ``bmm`` (batch x M x K times batch x K x N, both dynamic),
    ``add`` (elementwise sum of two 1 x h x w x c_in tensors) or ``softmax`` (h rows of length
    c_in). For ``fc`` the fields are h = M (tokens), c_in, c_out; for ``bmm``: h = M, w = N,
    c_in = K, c_out = batch.
    """

    kind: str
    h: int
    w: int
    c_in: int
    c_out: int
    k: int = 1
    stride: int = 1

    @property
    def out_hw(self) -> tuple[int, int]:
        """Output height/width with SAME padding."""
        return -(-self.h // self.stride), -(-self.w // self.stride)

    @property
    def macs(self) -> int:
        """Multiply-accumulates of the layer (batch 1)."""
        if self.kind == "fc":
            return self.h * self.c_in * self.c_out
        if self.kind == "bmm":
            return self.c_out * self.h * self.w * self.c_in
        if self.kind in ("add", "softmax"):
            return 0
        ho, wo = self.out_hw
        if self.kind == "dw":
            return ho * wo * self.c_in * self.k * self.k
        return ho * wo * self.c_in * self.c_out * self.k * self.k


class _Builder:
    def __init__(self) -> None:
        self.b = flatbuffers.Builder(1 << 16)
        self.buffers: list[bytes | None] = [None]  # buffer 0 is the empty sentinel
        self.tensors: list[int] = []

    def _ivec(self, start, values: list[int]) -> int:
        start(self.b, len(values))
        for v in reversed(values):
            self.b.PrependInt32(v)
        return self.b.EndVector()

    def _fvec(self, start, values: list[float]) -> int:
        start(self.b, len(values))
        for v in reversed(values):
            self.b.PrependFloat32(v)
        return self.b.EndVector()

    def _lvec(self, start, values: list[int]) -> int:
        start(self.b, len(values))
        for v in reversed(values):
            self.b.PrependInt64(v)
        return self.b.EndVector()

    def quant(self, scales: list[float], zero_points: list[int], dim: int = 0) -> int:
        sc = self._fvec(QuantizationParameters.StartScaleVector, scales)
        zp = self._lvec(QuantizationParameters.StartZeroPointVector, zero_points)
        QuantizationParameters.Start(self.b)
        QuantizationParameters.AddScale(self.b, sc)
        QuantizationParameters.AddZeroPoint(self.b, zp)
        QuantizationParameters.AddQuantizedDimension(self.b, dim)
        return QuantizationParameters.End(self.b)

    def tensor(
        self, name: str, shape: list[int], ttype: int, q: int, data: bytes | None = None
    ) -> int:
        buf = 0
        if data is not None:
            self.buffers.append(data)
            buf = len(self.buffers) - 1
        nm = self.b.CreateString(name)
        sh = self._ivec(Tensor.StartShapeVector, shape)
        Tensor.Start(self.b)
        Tensor.AddShape(self.b, sh)
        Tensor.AddType(self.b, ttype)
        Tensor.AddBuffer(self.b, buf)
        Tensor.AddName(self.b, nm)
        Tensor.AddQuantization(self.b, q)
        self.tensors.append(Tensor.End(self.b))
        return len(self.tensors) - 1

    def finish(
        self,
        op_code: int,
        inputs: list[int],
        outputs: list[int],
        graph_inputs: list[int],
        opt_type: int,
        opt: int,
    ) -> bytes:
        b = self.b
        ins = self._ivec(Operator.StartInputsVector, inputs)
        outs = self._ivec(Operator.StartOutputsVector, outputs)
        Operator.Start(b)
        Operator.AddOpcodeIndex(b, 0)
        Operator.AddInputs(b, ins)
        Operator.AddOutputs(b, outs)
        Operator.AddBuiltinOptionsType(b, opt_type)
        Operator.AddBuiltinOptions(b, opt)
        op = Operator.End(b)
        SubGraph.StartTensorsVector(b, len(self.tensors))
        for t in reversed(self.tensors):
            b.PrependUOffsetTRelative(t)
        tv = b.EndVector()
        gi = self._ivec(SubGraph.StartInputsVector, graph_inputs)
        go = self._ivec(SubGraph.StartOutputsVector, outputs)
        SubGraph.StartOperatorsVector(b, 1)
        b.PrependUOffsetTRelative(op)
        ov = b.EndVector()
        SubGraph.Start(b)
        SubGraph.AddTensors(b, tv)
        SubGraph.AddInputs(b, gi)
        SubGraph.AddOutputs(b, go)
        SubGraph.AddOperators(b, ov)
        sg = SubGraph.End(b)
        OperatorCode.Start(b)
        OperatorCode.AddDeprecatedBuiltinCode(b, min(op_code, 127))
        OperatorCode.AddBuiltinCode(b, op_code)
        OperatorCode.AddVersion(b, 1)
        oc = OperatorCode.End(b)
        bufs = []
        for data in self.buffers:
            dv = None
            if data is not None:
                dv = b.CreateByteVector(data)
            Buffer.Start(b)
            if dv is not None:
                Buffer.AddData(b, dv)
            bufs.append(Buffer.End(b))
        Model.StartBuffersVector(b, len(bufs))
        for x in reversed(bufs):
            b.PrependUOffsetTRelative(x)
        bv = b.EndVector()
        Model.StartOperatorCodesVector(b, 1)
        b.PrependUOffsetTRelative(oc)
        ocv = b.EndVector()
        Model.StartSubgraphsVector(b, 1)
        b.PrependUOffsetTRelative(sg)
        sgv = b.EndVector()
        desc = b.CreateString("cimkit vela calibration")
        Model.Start(b)
        Model.AddVersion(b, 3)
        Model.AddOperatorCodes(b, ocv)
        Model.AddSubgraphs(b, sgv)
        Model.AddDescription(b, desc)
        Model.AddBuffers(b, bv)
        b.Finish(Model.End(b), file_identifier=b"TFL3")
        return bytes(b.Output())


def build(layer: LayerShape, seed: int = 0) -> bytes:
    """The TFLite flatbuffer of one int8 layer."""
    rng = np.random.default_rng(seed)
    bld = _Builder()
    act_q = lambda: bld.quant([0.05], [0])  # noqa: E731
    i8 = TensorType.INT8
    kind = layer.kind
    if kind == "add":
        shape = [1, layer.h, layer.w, layer.c_in]
        a = bld.tensor("a", shape, i8, act_q())
        bm = bld.tensor("b", shape, i8, bld.quant([0.07], [3]))
        out = bld.tensor("out", shape, i8, bld.quant([0.1], [0]))
        AddOptions.Start(bld.b)
        opt = AddOptions.End(bld.b)
        return bld.finish(
            BuiltinOperator.ADD, [a, bm], [out], [a, bm], BuiltinOptions.AddOptions, opt
        )
    if kind == "softmax":
        shape = [1, layer.h, layer.c_in]
        a = bld.tensor("a", shape, i8, act_q())
        # TFLite's int8 softmax output quantization is fixed: scale 1/256, zero point -128.
        out = bld.tensor("out", shape, i8, bld.quant([1.0 / 256], [-128]))
        SoftmaxOptions.Start(bld.b)
        SoftmaxOptions.AddBeta(bld.b, 1.0)
        opt = SoftmaxOptions.End(bld.b)
        return bld.finish(
            BuiltinOperator.SOFTMAX, [a], [out], [a], BuiltinOptions.SoftmaxOptions, opt
        )
    if kind == "bmm":
        bsz, m, n, kk = layer.c_out, layer.h, layer.w, layer.c_in
        a = bld.tensor("a", [bsz, m, kk], i8, act_q())
        bm = bld.tensor("b", [bsz, kk, n], i8, act_q())
        out = bld.tensor("out", [bsz, m, n], i8, bld.quant([0.5], [0]))
        BatchMatMulOptions.Start(bld.b)
        BatchMatMulOptions.AddAdjX(bld.b, False)
        BatchMatMulOptions.AddAdjY(bld.b, False)
        opt = BatchMatMulOptions.End(bld.b)
        return bld.finish(
            BuiltinOperator.BATCH_MATMUL,
            [a, bm],
            [out],
            [a, bm],
            BuiltinOptions.BatchMatMulOptions,
            opt,
        )
    if kind == "fc":
        m, ci, co = layer.h, layer.c_in, layer.c_out
        x = bld.tensor("x", [m, ci], i8, act_q())
        wdata = rng.integers(-127, 128, size=(co, ci), dtype=np.int8).tobytes()
        wsc = (0.01 + 0.001 * rng.random(co)).tolist()
        wt = bld.tensor("w", [co, ci], i8, bld.quant(wsc, [0] * co), wdata)
        bias = rng.integers(-1000, 1000, size=co, dtype=np.int32).tobytes()
        bt = bld.tensor(
            "bias", [co], TensorType.INT32, bld.quant([0.05 * s for s in wsc], [0] * co), bias
        )
        out = bld.tensor("out", [m, co], i8, bld.quant([0.2], [0]))
        FullyConnectedOptions.Start(bld.b)
        FullyConnectedOptions.AddKeepNumDims(bld.b, False)
        opt = FullyConnectedOptions.End(bld.b)
        return bld.finish(
            BuiltinOperator.FULLY_CONNECTED,
            [x, wt, bt],
            [out],
            [x],
            BuiltinOptions.FullyConnectedOptions,
            opt,
        )
    h, w, ci, co, k, s = layer.h, layer.w, layer.c_in, layer.c_out, layer.k, layer.stride
    ho, wo = layer.out_hw
    x = bld.tensor("x", [1, h, w, ci], i8, act_q())
    if kind == "dw":
        co = ci
        shape = [1, k, k, ci]
        qdim = 3
    else:
        shape = [co, k, k, ci]
        qdim = 0
    wdata = rng.integers(-127, 128, size=int(np.prod(shape)), dtype=np.int8).tobytes()
    wsc = (0.01 + 0.001 * rng.random(co)).tolist()
    wt = bld.tensor("w", shape, i8, bld.quant(wsc, [0] * co, qdim), wdata)
    bias = rng.integers(-1000, 1000, size=co, dtype=np.int32).tobytes()
    bt = bld.tensor(
        "bias", [co], TensorType.INT32, bld.quant([0.05 * v for v in wsc], [0] * co), bias
    )
    out = bld.tensor("out", [1, ho, wo, co], i8, bld.quant([0.2], [0]))
    if kind == "dw":
        DepthwiseConv2DOptions.Start(bld.b)
        DepthwiseConv2DOptions.AddPadding(bld.b, Padding.SAME)
        DepthwiseConv2DOptions.AddStrideW(bld.b, s)
        DepthwiseConv2DOptions.AddStrideH(bld.b, s)
        DepthwiseConv2DOptions.AddDepthMultiplier(bld.b, 1)
        DepthwiseConv2DOptions.AddDilationWFactor(bld.b, 1)
        DepthwiseConv2DOptions.AddDilationHFactor(bld.b, 1)
        opt = DepthwiseConv2DOptions.End(bld.b)
        return bld.finish(
            BuiltinOperator.DEPTHWISE_CONV_2D,
            [x, wt, bt],
            [out],
            [x],
            BuiltinOptions.DepthwiseConv2DOptions,
            opt,
        )
    Conv2DOptions.Start(bld.b)
    Conv2DOptions.AddPadding(bld.b, Padding.SAME)
    Conv2DOptions.AddStrideW(bld.b, s)
    Conv2DOptions.AddStrideH(bld.b, s)
    Conv2DOptions.AddDilationWFactor(bld.b, 1)
    Conv2DOptions.AddDilationHFactor(bld.b, 1)
    opt = Conv2DOptions.End(bld.b)
    return bld.finish(
        BuiltinOperator.CONV_2D, [x, wt, bt], [out], [x], BuiltinOptions.Conv2DOptions, opt
    )
