"""LSTM export: fused TFLite op, and a SavedModel that names the portable function.

No GPU runs these tests. What they check on CPU: the TFLite converter fuses our LSTM
into `UNIDIRECTIONAL_SEQUENCE_LSTM` (no WHILE) with outputs equal to Keras; the
SavedModel's serving graph reaches no cuDNN op while its function library carries the
cuDNN alternative under the same `api_implements` name for Grappler to pick on a GPU.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from seqkeras.layers import LSTM

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated"),
]

FUNCTION_ATTRS = ("f", "then_branch", "else_branch", "body", "cond", "branches")


def tflite_run(blob, *arrays):
    interpreter = tf.lite.Interpreter(model_content=blob)
    ops = {detail["op_name"] for detail in interpreter._get_ops_details()}
    interpreter.allocate_tensors()
    for detail, array in zip(interpreter.get_input_details(), arrays):
        interpreter.set_tensor(detail["index"], array)
    interpreter.invoke()
    return ops, interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


@pytest.fixture(scope="module")
def sunspot_window(sunspot_batch):
    inputs, _ = sunspot_batch
    return inputs[:1]  # (1, 6, 2), a real unpadded sequence, static batch 1


@pytest.mark.parametrize("go_backwards, return_sequences", [(False, True), (True, False)])
def test_tflite_fuses_lstm(sunspot_window, go_backwards, return_sequences):
    keras.utils.set_random_seed(0)
    inputs = keras.Input(sunspot_window.shape[1:], batch_size=1)
    hidden = LSTM(4, return_sequences=return_sequences, go_backwards=go_backwards)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(hidden))
    with LSTM.tflite_fusion():
        blob = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    ops, got = tflite_run(blob, sunspot_window)
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in ops, sorted(ops)
    assert "WHILE" not in ops, sorted(ops)
    np.testing.assert_allclose(got, np.asarray(model(sunspot_window)), atol=1e-5)


def test_tflite_fusion_drops_the_mask_input():
    """A masked model (ids + Embedding(mask_zero)) fuses inside the scope; without it the
    mask keeps the portable loop (WHILE)."""
    keras.utils.set_random_seed(0)
    ids = keras.Input((6,), batch_size=1, dtype="int32")
    embedded = keras.layers.Embedding(10, 3, mask_zero=True)(ids)
    model = keras.Model(ids, LSTM(4, return_sequences=True)(embedded))
    tokens = np.array([[1, 2, 3, 4, 5, 6]], "int32")
    with LSTM.tflite_fusion():
        fused_blob = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    fused_ops, got = tflite_run(fused_blob, tokens)
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in fused_ops and "WHILE" not in fused_ops
    np.testing.assert_allclose(got, np.asarray(model(tokens)), atol=1e-5)
    loop_ops, _ = tflite_run(tf.lite.TFLiteConverter.from_keras_model(model).convert(), tokens)
    assert "WHILE" in loop_ops and "UNIDIRECTIONAL_SEQUENCE_LSTM" not in loop_ops


def test_tflite_fusion_refuses_return_state(sunspot_window):
    layer = LSTM(4, return_state=True)
    with LSTM.tflite_fusion(), pytest.raises(ValueError, match="return_state=True"):
        layer(sunspot_window)


def reachable_ops(nodes, library):
    """Op types (and function names) reachable from `nodes` through function attributes."""
    seen_functions, op_types = set(), set()
    pending = [nodes]
    while pending:
        for node in pending.pop():
            op_types.add(node.op)
            for key in FUNCTION_ATTRS:
                if key not in node.attr:
                    continue
                value = node.attr[key]
                if value.HasField("func"):
                    names = [value.func.name]
                else:
                    names = [f.name for f in value.list.func]
                for name in names:
                    if name and name not in seen_functions:
                        seen_functions.add(name)
                        pending.append(library[name].node_def)
    return op_types, seen_functions


def test_saved_model_calls_portable_function(tmp_path, sunspot_batch):
    inputs, mask = sunspot_batch
    keras.utils.set_random_seed(0)
    x = keras.Input((None, 2))
    m = keras.Input((None,), dtype="bool")
    model = keras.Model([x, m], LSTM(4, return_sequences=True)(x, mask=m))
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serve",
        lambda x, m: model([x, m]),
        input_signature=[tf.TensorSpec([None, None, 2]), tf.TensorSpec([None, None], tf.bool)],
    )
    archive.write_out(str(tmp_path / "lstm"))

    loaded = tf.saved_model.load(str(tmp_path / "lstm"))
    np.testing.assert_allclose(
        np.asarray(loaded.serve(inputs, mask)), np.asarray(model([inputs, mask])), atol=1e-6
    )
    graph_def = loaded.signatures["serve"].graph.as_graph_def()
    library = {f.signature.name: f for f in graph_def.library.function}
    op_types, called = reachable_ops(graph_def.node, library)
    assert not any(op.startswith("Cudnn") for op in op_types), sorted(op_types)

    def tag(function, key):
        return function.attr[key].s.decode() if key in function.attr else None

    portable = [
        library[name]
        for name in called
        if (tag(library[name], "api_implements") or "").startswith("lstm_")
    ]
    assert len(portable) == 1 and tag(portable[0], "api_preferred_device") == "CPU"
    api_name = tag(portable[0], "api_implements")
    # The alternative is not called, so look for it in the library stored on disk.
    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((tmp_path / "lstm" / "saved_model.pb").read_bytes())
    library = {f.signature.name: f for f in saved.meta_graphs[0].graph_def.library.function}
    alternatives = [
        f for f in library.values()
        if tag(f, "api_implements") == api_name and tag(f, "api_preferred_device") == "GPU"
    ]
    assert alternatives, "the cuDNN alternative is missing from the function library"
    # The forward alternative runs cuDNN (its backward twin carries the same tags).
    gpu_ops = set()
    for function in alternatives:
        gpu_ops |= reachable_ops(function.node_def, library)[0]
    assert "CudnnRNNV3" in gpu_ops


def test_tflite_clipped_lstm_converts_as_a_loop_with_the_clip(sunspot_window):
    """The converter's fused op would set its own clip of 10 and drop ours, so a clipped layer is
    left untagged: it converts as WHILE and keeps `cell_clip` exactly."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input(sunspot_window.shape[1:], batch_size=1)
    layer = LSTM(4, return_sequences=True, cell_clip=0.5)
    model = keras.Model(inputs, layer(inputs))
    kernel, recurrent, bias = layer.get_weights()
    bias[:8] = 3.0  # input and forget gates open: the cell states pass the clip
    layer.set_weights([kernel, recurrent, bias])
    unclipped = keras.Model(inputs, LSTM(4, return_sequences=True)(inputs))
    unclipped.set_weights(model.get_weights())
    want = np.asarray(model(sunspot_window))
    assert not np.allclose(want, np.asarray(unclipped(sunspot_window)), atol=1e-3)
    with LSTM.tflite_fusion():
        blob = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    ops, got = tflite_run(blob, sunspot_window)
    assert "WHILE" in ops and "UNIDIRECTIONAL_SEQUENCE_LSTM" not in ops, sorted(ops)
    np.testing.assert_allclose(got, want, atol=1e-5)
