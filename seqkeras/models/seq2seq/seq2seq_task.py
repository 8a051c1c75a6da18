"""`Seq2SeqTask`: a character encoder-decoder with its source and target vocabularies attached."""

import keras
import numpy as np
import tensorflow as tf

from seqkeras.data.vocabulary import BOS_ID, EOS_ID, PAD_ID
from seqkeras.models.seq2seq.generation import context_model, generated_text, shifted_targets


@keras.saving.register_keras_serializable(package="seqkeras")
class Seq2SeqTask(keras.Model):
    """A `build_seq2seq` network plus the `TokenLookup`s of its source and target text, in one file.

    keras-hub's task split for generation: `source_preprocessor` turns raw source strings into the
    encoder's ids, `target_preprocessor` (with `add_bos` and `add_eos`) turns target strings into
    the teacher-forced decoder inputs and targets and maps generated ids back to characters. Both
    vocabularies are part of the config, so `keras.saving.load_model` of the `.keras` file alone
    generates from raw strings.

    - `task(feature_dict)` runs the network (teacher forcing): `{"encoder_token_ids",
      "encoder_padding_mask", "decoder_token_ids", "decoder_padding_mask"}` -> logits
      `[B, T_dec, V_target]` (what `fit` trains).
    - `task(strings)` decodes greedily in the graph: int32 ids `[B, max_target_length]` (EOS
      included, `PAD_ID` after it); `task.detokenize(ids)` gives the strings.
    - `task.generate(texts, strategy=..., temperature=..., seed=...)` returns a list of str.

    Args:
        source_preprocessor: a `TokenLookup` (the encoder's characters).
        target_preprocessor: a `TokenLookup` of the target characters with `add_bos=True` and
            `add_eos=True`.
        network: a model from `build_seq2seq` whose decoder vocabulary is the target lookup's.
        max_target_length: decoding steps (EOS included) when none are given.

    Example:

    >>> task = keras.saving.load_model("runs/seq2seq/model.keras")  # doctest: +SKIP
    >>> task.generate(["12+345"])                                   # doctest: +SKIP
    ['357']
    """

    def __init__(self, source_preprocessor, target_preprocessor, network, max_target_length, **kwargs):
        super().__init__(**kwargs)
        if not (target_preprocessor.add_bos and target_preprocessor.add_eos):
            raise ValueError("`target_preprocessor` must add bos and eos (the decoder's start and end). Received: "
                             f"add_bos={target_preprocessor.add_bos}, add_eos={target_preprocessor.add_eos}")
        if isinstance(max_target_length, bool) or int(max_target_length) != max_target_length or max_target_length < 1:
            raise ValueError(f"`max_target_length` must be a positive integer. Received: max_target_length={max_target_length!r}")
        self.source_preprocessor = source_preprocessor
        self.target_preprocessor = target_preprocessor
        self.network = network
        self.max_target_length = int(max_target_length)

    def build(self, input_shape=None):
        self.built = True  # the parts arrive built (a TokenLookup has no weights)

    # ------------------------------------------------------------------------------------------
    # Text <-> features
    # ------------------------------------------------------------------------------------------
    def source_features(self, texts):
        """`{"encoder_token_ids", "encoder_padding_mask"}` of raw source strings `(B,)`."""
        features = self.source_preprocessor(_strings(texts))
        return {"encoder_token_ids": features["token_ids"], "encoder_padding_mask": features["padding_mask"]}

    def target_sequences(self, texts):
        """Ragged `(previous, following)` int32 ids of targets: `[BOS] + chars` and `chars + [EOS]`."""
        return shifted_targets(self.target_preprocessor, _strings(texts))

    def detokenize(self, ids):
        """Generated ids `[B, T]` -> string tensor `(B,)` (`generated_text`: up to the first EOS)."""
        return generated_text(ids, self.target_preprocessor)

    # ------------------------------------------------------------------------------------------
    # Running
    # ------------------------------------------------------------------------------------------
    def call(self, inputs, training=None):
        if isinstance(inputs, dict):
            return self.network(inputs, training=training)
        return self._decode(self.source_features(inputs), self.max_target_length, "greedy", 1.0, 0)

    def _decode(self, features, max_length, strategy, temperature, seed):
        context = context_model(self.network)(features, training=False)  # (B, C)
        return self.network.get_layer("decoder").generate(
            context, max_length, strategy=strategy, temperature=temperature, seed=seed,
            bos_id=BOS_ID, eos_id=EOS_ID, pad_id=PAD_ID,
        )  # (B, max_length)

    def generate(self, texts, strategy="greedy", temperature=1.0, seed=0, max_length=None, batch_size=256):
        """Generated targets of raw source strings, as a list of str.

        Args:
            texts: list of source strings.
            strategy: `"greedy"` or `"sample"` (seeded: the same seed gives the same outputs).
            temperature: sampling temperature (> 0).
            seed: sampling seed.
            max_length: decoding steps (default `max_target_length`).
            batch_size: sources per decoding pass.
        """
        texts = [texts] if isinstance(texts, str) else list(texts)
        outputs = []
        for start in range(0, len(texts), batch_size):
            features = self.source_features(texts[start: start + batch_size])
            ids = self._decode(features, max_length or self.max_target_length, strategy, temperature, seed)
            outputs += [text.decode("utf-8") for text in np.asarray(self.detokenize(ids))]
        return outputs

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "source_preprocessor": keras.saving.serialize_keras_object(self.source_preprocessor),
            "target_preprocessor": keras.saving.serialize_keras_object(self.target_preprocessor),
            "network": keras.saving.serialize_keras_object(self.network),
            "max_target_length": self.max_target_length,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("source_preprocessor", "target_preprocessor", "network"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


def _strings(texts):
    if isinstance(texts, str):
        texts = [texts]
    return tf.constant(texts, tf.string) if isinstance(texts, (list, tuple)) else texts
