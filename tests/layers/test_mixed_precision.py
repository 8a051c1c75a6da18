"""Every general layer runs under a mixed-precision policy (float16 compute, float32 weights)."""

import keras
import numpy as np
import pytest

from seqkeras.layers import (
    ElmanCell,
    LastValidStep,
    MaskedPooling,
    SelfAttentionBlock,
    TemporalConvStack,
)
from seqkeras.losses import MaskedSparseCategoricalCrossentropy

LAYERS = {
    "conv_stack": lambda dtype: TemporalConvStack(4, dilation_rates=(1, 2), dtype=dtype),
    "attention": lambda dtype: SelfAttentionBlock(2, 2, causal=True, dtype=dtype),
    "max_pool": lambda dtype: MaskedPooling("max", dtype=dtype),
    "mean_pool": lambda dtype: MaskedPooling("mean", dtype=dtype),
    "last_step": lambda dtype: LastValidStep(dtype=dtype),
    "elman": lambda dtype: keras.layers.RNN(ElmanCell(3, dtype=dtype), dtype=dtype),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_mixed_float16_matches_float32_roughly(name):
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(2, 4, 4)).astype("float32")
    mask = np.array([[True, True, True, False], [True, True, False, False]])
    layer = LAYERS[name]("mixed_float16")
    low = layer(x, mask=mask)
    assert keras.backend.standardize_dtype(low.dtype) == "float16"
    assert all(w.dtype == "float32" for w in layer.weights)
    # The same weights in float32 compute give nearly the same result.
    full = LAYERS[name]("float32")
    full(x, mask=mask)
    full.set_weights(layer.get_weights())
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(low).astype("float32"),
        keras.ops.convert_to_numpy(full(x, mask=mask)),
        atol=2e-2,
    )


def test_loss_accepts_float16_predictions():
    loss = MaskedSparseCategoricalCrossentropy(from_logits=True)
    value = loss(np.array([[1, 2]]), np.zeros((1, 2, 3), "float16"))
    np.testing.assert_allclose(float(value), np.log(3.0), rtol=1e-3)
