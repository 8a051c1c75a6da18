"""`generate`: decode sequences from a captioner or seq2seq model."""

import keras
import numpy as np

from seqkeras.data.vocabulary import BOS_ID, EOS_ID, NUM_RESERVED, OOV_ID, PAD_ID

# Inputs read only by the decoder; every other model input feeds the conditioning vector.
DECODER_INPUTS = ("token_ids", "padding_mask", "decoder_token_ids", "decoder_padding_mask")


def shifted_targets(preprocessor, texts):
    """Ragged `(previous, following)` int32 ids of target strings `(B,)` through `preprocessor` (which
    adds BOS and EOS): `[BOS] + tokens` and `tokens + [EOS]`, the decoder's teacher-forcing pair."""
    import tensorflow as tf

    features = preprocessor(texts)
    lengths = tf.reduce_sum(tf.cast(features["padding_mask"], tf.int64), axis=1)
    full = tf.RaggedTensor.from_tensor(features["token_ids"], lengths=lengths)  # (B, (n + 2))
    return full[:, :-1], full[:, 1:]


def generated_text(ids, preprocessor):
    """Generated ids `[B, T]` -> string tensor `(B,)`: `preprocessor`'s tokens up to the first EOS,
    joined (an OOV id reads "<oov>", as `Vocabulary.detokenize` writes it; PAD and BOS are dropped)."""
    import tensorflow as tf

    ids = tf.cast(ids, tf.int32)
    before_end = tf.equal(tf.cumsum(tf.cast(tf.equal(ids, EOS_ID), tf.int32), axis=-1), 0)  # (B, T)
    keep = tf.logical_and(before_end, tf.logical_or(ids >= NUM_RESERVED, tf.equal(ids, OOV_ID)))
    tokens = preprocessor.ids_to_tokens(ids)  # (B, T) string
    return tf.strings.reduce_join(tf.where(keep, tokens, ""), axis=-1)


def context_model(model):
    """The part of `model` that maps its conditioning inputs to the decoder's context vector."""
    context_inputs = {key: tensor for key, tensor in model.input.items() if key not in DECODER_INPUTS}
    return keras.Model(context_inputs, model.get_layer("context").output, name=f"{model.name}_context")


def generate(
    model, inputs, max_length, strategy="greedy", temperature=1.0, seed=0, bos_id=BOS_ID, eos_id=EOS_ID
):
    """Generates one sequence per example from a `build_captioner` / `build_seq2seq` model.

    The conditioning inputs (`label`, or `encoder_token_ids` + `encoder_padding_mask` [+ `label`])
    are encoded once; the model's `ConditionalDecoder` then decodes in a compiled
    `tf.while_loop` carrying its RNN states.

    Args:
        model: a model built by `build_captioner` or `build_seq2seq`.
        inputs: dict holding at least the conditioning inputs (decoder inputs are ignored).
        max_length: decoding steps.
        strategy: `"greedy"` or `"sample"`.
        temperature: sampling temperature.
        seed: sampling seed (same seed, same output).
        bos_id, eos_id: start and end ids.

    Returns:
        int32 numpy array `[B, max_length]`, `eos_id` included, `PAD_ID` after it.
    """
    encoder = context_model(model)
    missing = sorted(set(encoder.input) - set(inputs))
    if missing:
        raise ValueError(f"`generate` needs the conditioning inputs {missing}. Received keys: {sorted(inputs)}")
    context_inputs = {key: inputs[key] for key in encoder.input}
    if isinstance(model, keras.Model) and hasattr(model, "_check_inputs"):
        model._check_inputs({**context_inputs, **_dummy_decoder_inputs(model, context_inputs)})
    context = encoder(context_inputs, training=False)
    ids = model.get_layer("decoder").generate(
        context, max_length, strategy=strategy, temperature=temperature, seed=seed,
        bos_id=bos_id, eos_id=eos_id, pad_id=PAD_ID,
    )
    return np.asarray(ids)


def _dummy_decoder_inputs(model, context_inputs):
    """One-step decoder inputs of the right batch size, so the model's input checks can run."""
    batch_size = len(next(iter(context_inputs.values())))
    dummy = {}
    for key in model.input:
        if key.endswith("token_ids") and key in DECODER_INPUTS:
            dummy[key] = np.full((batch_size, 1), BOS_ID, dtype="int32")
        elif key.endswith("padding_mask") and key in DECODER_INPUTS:
            dummy[key] = np.ones((batch_size, 1), dtype=bool)
    return dummy
