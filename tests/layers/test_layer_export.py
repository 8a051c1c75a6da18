"""The general layers export: Keras vs SavedModel vs TFLite, dynamic batch and time."""

import doctest
import importlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from seqkeras.layers import (
    ElmanCell,
    LastValidStep,
    MaskedPooling,
    SelfAttentionBlock,
    TemporalConvStack,
)

DOCUMENTED_MODULES = [
    "seqkeras.layers.elman_cell",
    "seqkeras.layers.temporal_conv_stack",
    "seqkeras.layers.self_attention_block",
    "seqkeras.layers.masked_pooling",
    "seqkeras.layers.last_valid_step",
    "seqkeras.losses",
]


@pytest.mark.parametrize("module_name", DOCUMENTED_MODULES)
def test_docstring_examples_run(module_name):
    module = importlib.import_module(module_name)
    result = doctest.testmod(
        module,
        extraglobs={"np": np, "keras": keras},
        optionflags=doctest.NORMALIZE_WHITESPACE,
    )
    assert result.attempted > 0 and result.failed == 0, result


def _sequence_model():
    keras.utils.set_random_seed(0)
    features = keras.Input((None, 3), name="features")
    padding_mask = keras.Input((None,), dtype="bool", name="padding_mask")
    x = TemporalConvStack(4, kernel_size=2, dilation_rates=(1, 2))(features, mask=padding_mask)
    x = SelfAttentionBlock(num_heads=2, key_dim=2, causal=True)(x, mask=padding_mask)
    pooled = MaskedPooling("max")(x, mask=padding_mask)
    last = LastValidStep()(x, mask=padding_mask)
    outputs = keras.layers.Concatenate()([pooled, last])
    return keras.Model({"features": features, "padding_mask": padding_mask}, outputs)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning")
def test_savedmodel_and_tflite_match_keras(tmp_path):
    model = _sequence_model()
    signature = [
        tf.TensorSpec((None, None, 3), tf.float32, name="features"),
        tf.TensorSpec((None, None), tf.bool, name="padding_mask"),
    ]
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serve",
        lambda features, padding_mask: model({"features": features, "padding_mask": padding_mask}),
        input_signature=signature,
    )
    archive.write_out(str(tmp_path), verbose=False)
    reloaded = tf.saved_model.load(str(tmp_path))
    interpreter = tf.lite.Interpreter(
        model_content=tf.lite.TFLiteConverter.from_saved_model(
            str(tmp_path), signature_keys=["serve"]
        ).convert()
    )
    runner = interpreter.get_signature_runner("serve")

    rng = np.random.default_rng(0)
    for batch, steps in [(2, 5), (3, 2)]:  # one export, any batch and length
        features = rng.normal(size=(batch, steps, 3)).astype("float32")
        lengths = rng.integers(1, steps + 1, size=batch)
        mask = np.arange(steps)[None, :] < lengths[:, None]
        expected = model.predict_on_batch({"features": features, "padding_mask": mask})
        served = reloaded.serve(tf.constant(features), tf.constant(mask)).numpy()
        lite = np.array(next(iter(runner(features=features, padding_mask=mask).values())))
        np.testing.assert_allclose(served, expected, atol=1e-5)
        np.testing.assert_allclose(lite, expected, atol=1e-5)

    # The run-time mask checks survive in the SavedModel.
    with pytest.raises(tf.errors.InvalidArgumentError, match="right-padded"):
        reloaded.serve(tf.ones((1, 3, 3)), tf.constant([[False, True, True]]))


@pytest.mark.slow
def test_elman_rnn_savedmodel_matches_keras(tmp_path):
    keras.utils.set_random_seed(0)
    features = keras.Input((None, 3), name="features")
    padding_mask = keras.Input((None,), dtype="bool", name="padding_mask")
    states = keras.layers.RNN(ElmanCell(4, output_dim=2), return_sequences=True)(
        features, mask=padding_mask
    )
    model = keras.Model([features, padding_mask], LastValidStep()(states, mask=padding_mask))
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serve",
        lambda x, m: model([x, m]),
        input_signature=[
            tf.TensorSpec((None, None, 3), tf.float32, name="features"),
            tf.TensorSpec((None, None), tf.bool, name="padding_mask"),
        ],
    )
    archive.write_out(str(tmp_path), verbose=False)
    reloaded = tf.saved_model.load(str(tmp_path))
    x = np.random.default_rng(1).normal(size=(2, 4, 3)).astype("float32")
    mask = np.array([[True, True, True, False], [True, False, False, False]])
    np.testing.assert_allclose(
        reloaded.serve(tf.constant(x), tf.constant(mask)).numpy(),
        model.predict_on_batch([x, mask]),
        atol=1e-6,
    )

