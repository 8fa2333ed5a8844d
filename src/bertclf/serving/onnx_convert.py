"""A traced TensorFlow function to an ONNX model with tf2onnx, large tables kept out of its way.

tf2onnx copies a graph's constants at several of its passes. Multilingual e5's word
embeddings (250,037 x 384 float32, 384 MB) took its conversion of an e5 classifier past
24 GB of memory (killed; 2026-12-06). Here the function is frozen first, every constant
larger than `LARGE_CONSTANT_BYTES` is swapped for a two-row stand-in of the same width,
tf2onnx converts the light graph, and the tables go back in as the ONNX initializers the
stand-ins became: a whole `bertclf export` of an e5 run then peaks at 7.9 GB, 3.2 GB of it
the run's SavedModel and float32 classifier held in memory. A table is only gathered from
(embeddings), so its first dimension never reaches the graph's shapes; the export's checks
(`serving.onnx_checks`) compare the result with TensorFlow.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# ONNX opset: 17 has LayerNormalization-era ops every ONNX Runtime of the last years runs.
OPSET = 17
# Larger constants leave the graph while tf2onnx converts it (MiniLM's 47 MB word embeddings
# stay: they convert in seconds).
LARGE_CONSTANT_BYTES = 64 * 2**20


def convert_to_onnx(function, path: Path, large_constant_bytes: int = LARGE_CONSTANT_BYTES) -> None:
    """Writes `function` (a tf.function with an input signature) as an ONNX model to `path`.

    The output is named `probabilities` whatever its TensorFlow name; TensorFlow's `Erfc`
    (the exact GELU) becomes 1 - Erf.

    Args:
        function: The traced function; one output.
        path: Where the model goes.
        large_constant_bytes: Float tables larger than this are kept out of tf2onnx's way.
    """
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
    from tf2onnx import tf_loader
    from tf2onnx.convert import _convert_common, tensor_names_from_structed

    concrete = function.get_concrete_function(*function.input_signature)
    input_names = [tensor.name for tensor in concrete.inputs if tensor.dtype != tf.resource]
    output_names = [tensor.name for tensor in concrete.outputs if tensor.dtype != tf.resource]
    renames = tensor_names_from_structed(concrete, input_names, output_names)
    # tf2onnx.convert.from_function's steps (tf2onnx 1.17, the lock's), with the tables taken out
    # between TensorFlow's freezing and its graph optimizer: freeze (variables to constants,
    # functions inlined), optimize with grappler, convert. (`from_graph_def` instead freezes and
    # imports the graph again: MiniLM's export then peaked at 9.2 GB instead of 6.4.)
    frozen = convert_variables_to_constants_v2(concrete, lower_control_flow=False, aggressive_inlining=True)
    graph_def = tf_loader.fix_freezing_errors_part2(frozen.graph.as_graph_def(add_shapes=True))
    del frozen
    tables = _take_out_large_constants(graph_def, large_constant_bytes)
    with tf.Graph().as_default() as graph, tf_loader.tf_session(graph=graph) as session:
        tf.import_graph_def(graph_def, name="")
        input_names = tf_loader.inputs_without_resource(session, input_names)
        graph_def = tf_loader.tf_optimize(input_names, output_names, graph_def)
    with tf.device("/cpu:0"):
        proto, _ = _convert_common(graph_def, name=concrete.name, continue_on_error=True, opset=OPSET,
                                   custom_op_handlers={"Erfc": (_erfc, [])}, input_names=input_names,
                                   output_names=output_names, tensors_to_rename=renames)
    del graph_def
    _put_back(proto, tables)
    # The output keeps its TensorFlow name; the contract's name is `probabilities`.
    (output,) = proto.graph.output
    for node in proto.graph.node:
        node.output[:] = ["probabilities" if name == output.name else name for name in node.output]
    output.name = "probabilities"
    path.write_bytes(proto.SerializeToString())


def _take_out_large_constants(graph_def, limit: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Swaps each large float constant for a stand-in; returns (stand-in, table) pairs."""
    import tensorflow as tf

    tables = []
    for node in graph_def.node:
        if node.op != "Const" or len(node.attr["value"].tensor.tensor_content) <= limit:
            continue
        table = tf.make_ndarray(node.attr["value"].tensor)
        if table.ndim != 2 or table.dtype != np.float32:
            continue  # only embedding tables are known to be gathered from alone
        # Values no trained weight has, different for each table: the stand-in is found again by them.
        stand_in = (np.arange(2 * table.shape[1], dtype=np.float32).reshape(2, -1) + 0.5 + 1e6 * (len(tables) + 1))
        node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(stand_in))
        node.attr.pop("_output_shapes", None)  # it still says the table's shape
        tables.append((stand_in, table))
    return tables


def _put_back(proto, tables: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """Gives each stand-in's ONNX initializer its table's values."""
    from onnx import numpy_helper

    for stand_in, table in tables:
        found = [initializer for initializer in proto.graph.initializer
                 if tuple(initializer.dims) == stand_in.shape
                 and np.array_equal(numpy_helper.to_array(initializer), stand_in)]
        if len(found) != 1:
            raise RuntimeError(f"tf2onnx kept {len(found)} copies of a {table.shape} table's stand-in (one "
                               f"expected); this is a bug in bertclf's ONNX export")
        found[0].CopyFrom(numpy_helper.from_array(table, found[0].name))


def _erfc(ctx, node, name, args):
    """tf2onnx has no converter for `Erfc`; erfc(x) = 1 - erf(x), exact to float32 rounding
    where GELU uses it (erfc(-x/sqrt(2)) for x of ordinary size)."""
    from tf2onnx import utils

    dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(node.input[0]))
    node.type = "Erf"
    one = ctx.make_const(utils.make_name(f"{node.name}_one"), np.array(1, dtype))
    ctx.insert_new_node_on_output("Sub", node.output[0], name=utils.make_name(f"{node.name}_erfc"),
                                  inputs=[one.output[0], node.output[0]])
