"""Small ONNX models built with ``onnx.helper`` (no torch, no downloads) for the model tests.

* :func:`small_cnn`: conv + bias, batch norm, relu, a residual add, a depthwise conv
  with a clamp (ONNX ``Clip``, MobileNet's ReLU6 with a bound the values reach), global
  average pooling and a dense head (Gemm).
* :func:`transformer_block`: one attention block (q/k/v matmuls, softmax, the output
  projection with a residual add, layer norm) and a feed-forward with GELU.
"""
from __future__ import annotations

import numpy as np


def _w(rng, name, *shape, scale=0.1):
    from onnx import numpy_helper

    return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)


def _model(nodes, inputs, outputs, inits, opset=17):
    import onnx
    from onnx import helper

    graph = helper.make_graph(nodes, "g", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    return model


#: The small CNN's clamp bound: low enough that some of its values are clamped.
CLIP_HI = 0.1


def small_cnn(channels: int = 16, size: int = 16, seed: int = 0):
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    c = channels
    inits = [_w(rng, "w1", c, 3, 3, 3), _w(rng, "b1", c), _w(rng, "g", c), _w(rng, "beta", c),
             _w(rng, "mean", c), numpy_helper.from_array((np.abs(rng.standard_normal(c)) + 0.5).astype(np.float32), "var"),
             _w(rng, "w2", c, c, 3, 3), _w(rng, "wd", c, 1, 3, 3), _w(rng, "fc", 10, c), _w(rng, "fcb", 10),
             numpy_helper.from_array(np.array(0.0, np.float32), "lo"),
             numpy_helper.from_array(np.array(CLIP_HI, np.float32), "hi")]
    n = helper.make_node
    nodes = [n("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             n("BatchNormalization", ["c1", "g", "beta", "mean", "var"], ["bn"]),
             n("Relu", ["bn"], ["r1"]),
             n("Conv", ["r1", "w2"], ["c2"], pads=[1, 1, 1, 1]),
             n("Add", ["c2", "r1"], ["a"]),
             n("Relu", ["a"], ["r2"]),
             n("Conv", ["r2", "wd"], ["d"], pads=[1, 1, 1, 1], group=c),
             n("Clip", ["d", "lo", "hi"], ["r3"]),
             n("GlobalAveragePool", ["r3"], ["p"]),
             n("Flatten", ["p"], ["f"]),
             n("Gemm", ["f", "fc", "fcb"], ["y"], transB=1)]
    return _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, size, size])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)


def transformer_block(seq: int = 32, hidden: int = 64, heads: int = 4, seed: int = 0):
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    s, d, h = seq, hidden, heads
    inits = [_w(rng, "wq", d, d), _w(rng, "wk", d, d), _w(rng, "wv", d, d), _w(rng, "bq", d),
             _w(rng, "wo", d, d), _w(rng, "w1", d, 4 * d), _w(rng, "b1", 4 * d), _w(rng, "w2", 4 * d, d),
             numpy_helper.from_array(np.ones(d, np.float32), "g"), numpy_helper.from_array(np.zeros(d, np.float32), "b"),
             numpy_helper.from_array(np.array([1, s, h, d // h], np.int64), "heads"),
             numpy_helper.from_array(np.array([1, s, d], np.int64), "merged")]
    n = helper.make_node
    nodes = [n("MatMul", ["x", "wq"], ["q0"]), n("Add", ["q0", "bq"], ["q"]),
             n("MatMul", ["x", "wk"], ["k"]), n("MatMul", ["x", "wv"], ["v"]),
             n("Reshape", ["q", "heads"], ["q1"]), n("Transpose", ["q1"], ["q2"], perm=[0, 2, 1, 3]),
             n("Reshape", ["k", "heads"], ["k1"]), n("Transpose", ["k1"], ["k2"], perm=[0, 2, 3, 1]),
             n("Reshape", ["v", "heads"], ["v1"]), n("Transpose", ["v1"], ["v2"], perm=[0, 2, 1, 3]),
             n("MatMul", ["q2", "k2"], ["sc"]), n("Softmax", ["sc"], ["p"], axis=-1),
             n("MatMul", ["p", "v2"], ["o"]), n("Transpose", ["o"], ["o1"], perm=[0, 2, 1, 3]),
             n("Reshape", ["o1", "merged"], ["o2"]), n("MatMul", ["o2", "wo"], ["o3"]),
             n("Add", ["o3", "x"], ["r"]), n("LayerNormalization", ["r", "g", "b"], ["ln"], axis=-1),
             n("MatMul", ["ln", "w1"], ["f0"]), n("Add", ["f0", "b1"], ["f1"]), n("Gelu", ["f1"], ["f2"]),
             n("MatMul", ["f2", "w2"], ["y"])]
    return _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, s, d])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, s, d])], inits, opset=20)


def relu_only(dynamic: bool = False):
    from onnx import TensorProto, helper

    shape = ["batch", 8] if dynamic else [1, 8]
    return _model([helper.make_node("Relu", ["x"], ["y"])],
                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)], [])


def unsupported_op():
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("NoSuchOp", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def numpy_small_cnn(model, x: np.ndarray) -> np.ndarray:
    """The small CNN computed with numpy from the model's own weights (an independent
    reference for the tests)."""
    from onnx import numpy_helper

    w = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in model.graph.initializer}
    x = x.astype(np.float64)

    def conv(a, k, groups=1, pad=1):
        n, ci, hh, ww = a.shape
        co, cig, kh, kw = k.shape
        ap = np.pad(a, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        out = np.zeros((n, co, hh, ww))
        per = co // groups
        for o in range(co):
            g = o // per
            for i in range(cig):
                src = ap[:, g * cig + i]
                for dy in range(kh):
                    for dx in range(kw):
                        out[:, o] += k[o, i, dy, dx] * src[:, dy:dy + hh, dx:dx + ww]
        return out

    c1 = conv(x, w["w1"]) + w["b1"][None, :, None, None]
    bn = (c1 - w["mean"][None, :, None, None]) / np.sqrt(w["var"][None, :, None, None] + 1e-5)
    bn = bn * w["g"][None, :, None, None] + w["beta"][None, :, None, None]
    r1 = np.maximum(bn, 0)
    r2 = np.maximum(conv(r1, w["w2"]) + r1, 0)
    r3 = np.clip(conv(r2, w["wd"], groups=r2.shape[1]), 0, CLIP_HI)
    p = r3.mean(axis=(2, 3))
    return p @ w["fc"].T + w["fcb"]
