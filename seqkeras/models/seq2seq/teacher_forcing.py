"""Character targets for the generators: texts -> teacher-forced decoder inputs and back."""

import numpy as np
import tensorflow as tf

from seqkeras.data.batching import to_model_inputs
from seqkeras.data.windows import shift_by_one


def char_ids(vocabulary, texts):
    """Ragged int32 `[N, (chars)]` ids of each text's characters in a character `Vocabulary`."""
    texts = list(texts)
    if not texts:
        raise ValueError("`texts` is empty.")
    empty = [i for i, text in enumerate(texts) if not text]
    if empty:
        raise ValueError(f"Texts must be non-empty. Received an empty text at index {empty[0]}.")
    return vocabulary.lookup(tf.strings.unicode_split(tf.constant(texts), "UTF-8"))


def teacher_forced(vocabulary, texts, prefix=""):
    """Decoder inputs and targets for texts: `[BOS] + chars -> chars + [EOS]`.

    Args:
        vocabulary: character `Vocabulary`.
        texts: the target strings.
        prefix: input key prefix, `""` (captioner) or `"decoder_"` (seq2seq).

    Returns:
        `(inputs, targets)`: `inputs` a dict of numpy arrays `{prefix + "token_ids": int32
        [N, T], prefix + "padding_mask": bool [N, T]}`, `targets` int32 `[N, T]` (0 on padding).
    """
    previous, following = shift_by_one(char_ids(vocabulary, texts))
    model_inputs = to_model_inputs(previous)
    inputs = {prefix + key: value.numpy() for key, value in model_inputs.items()}
    targets = following.to_tensor(0).numpy().astype("int32")
    return inputs, targets


def encoder_inputs(vocabulary, texts):
    """`{"encoder_token_ids", "encoder_padding_mask"}` numpy arrays of texts' characters."""
    model_inputs = to_model_inputs(char_ids(vocabulary, texts))
    return {"encoder_" + key: value.numpy() for key, value in model_inputs.items()}


def ids_to_texts(vocabulary, ids):
    """Generated ids `[N, T]` -> list of str (reserved ids dropped; stops at each row's EOS)."""
    return [text.decode("utf-8") for text in np.asarray(vocabulary.detokenize(np.asarray(ids)))]
