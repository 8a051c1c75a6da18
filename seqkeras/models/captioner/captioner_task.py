"""`CaptionerTask`: a `build_captioner` network with its pixel scaling and caption vocabulary attached."""

import keras
import numpy as np
import tensorflow as tf

from seqkeras.data.vocabulary import BOS_ID, EOS_ID, PAD_ID
from seqkeras.models.seq2seq.generation import context_model, generated_text, shifted_targets


@keras.saving.register_keras_serializable(package="seqkeras")
class CaptionerTask(keras.Model):
    """Raw pixel vectors in, caption strings out: the captioner's self-contained `.keras` file.

    The task divides the raw pixels by `pixel_max` (the network's `label` input, in [0, 1]) and
    holds the caption characters in `target_preprocessor` (a character `TokenLookup` with
    `add_bos` / `add_eos`), so `keras.saving.load_model` of the file alone, with `import
    seqkeras`, turns pixels into captions.

    - `task(feature_dict)` runs the network teacher-forced: `{"label", "token_ids",
      "padding_mask"}` -> logits `[B, T, V]` (what `fit` trains).
    - `task(pixels)` decodes greedily in the graph: float `[B, label_dim]` raw pixels -> int32 ids
      `[B, max_caption_length]` (EOS included, `PAD_ID` after it); `task.detokenize(ids)` gives
      the strings.
    - `task.caption(pixels, strategy=..., temperature=..., seed=...)` returns a list of str.

    Args:
        target_preprocessor: a character `TokenLookup` of the captions with `add_bos=True` and
            `add_eos=True`.
        network: a model from `build_captioner` whose vocabulary is the lookup's.
        max_caption_length: decoding steps (EOS included) when none are given.
        pixel_max: the raw pixel value that maps to 1.0 (16 for scikit-learn's 8x8 digits).

    Example:

    >>> task = keras.saving.load_model("runs/captioner/model.keras")  # doctest: +SKIP
    >>> task.caption(sklearn.datasets.load_digits().data[:3])          # doctest: +SKIP
    ['zero', 'one', 'two']
    """

    def __init__(self, target_preprocessor, network, max_caption_length, pixel_max=16.0, **kwargs):
        super().__init__(**kwargs)
        if not (target_preprocessor.add_bos and target_preprocessor.add_eos):
            raise ValueError("`target_preprocessor` must add bos and eos (the decoder's start and end). Received: "
                             f"add_bos={target_preprocessor.add_bos}, add_eos={target_preprocessor.add_eos}")
        if isinstance(max_caption_length, bool) or int(max_caption_length) != max_caption_length \
                or max_caption_length < 1:
            raise ValueError(f"`max_caption_length` must be a positive integer. "
                             f"Received: max_caption_length={max_caption_length!r}")
        if isinstance(pixel_max, bool) or not isinstance(pixel_max, (int, float)) or not pixel_max > 0:
            raise ValueError(f"`pixel_max` must be a positive number. Received: pixel_max={pixel_max!r}")
        self.target_preprocessor = target_preprocessor
        self.network = network
        self.max_caption_length = int(max_caption_length)
        self.pixel_max = float(pixel_max)
        self.label_dim = int(network.input["label"].shape[-1])

    def build(self, input_shape=None):
        self.built = True  # the parts arrive built (a TokenLookup has no weights)

    # ------------------------------------------------------------------------------------------
    # Pixels / captions <-> features
    # ------------------------------------------------------------------------------------------
    def label(self, pixels):
        """The network's `label` input: raw pixels `[B, label_dim]` scaled into [0, 1]."""
        return tf.cast(pixels, tf.float32) / self.pixel_max  # (B, label_dim)

    def target_sequences(self, captions):
        """Ragged `(previous, following)` int32 ids of captions: `[BOS] + chars` and `chars + [EOS]`."""
        return shifted_targets(self.target_preprocessor, tf.constant(list(captions), tf.string))

    def detokenize(self, ids):
        """Generated ids `[B, T]` -> string tensor `(B,)` (`generated_text`: up to the first EOS)."""
        return generated_text(ids, self.target_preprocessor)

    # ------------------------------------------------------------------------------------------
    # Running
    # ------------------------------------------------------------------------------------------
    def call(self, inputs, training=None):
        if isinstance(inputs, dict):
            return self.network(inputs, training=training)
        return self.decode(inputs, self.max_caption_length)

    def decode(self, pixels, max_length, strategy="greedy", temperature=1.0, seed=0):
        """Caption ids `[B, max_length]` of raw pixels `[B, label_dim]` (EOS included, PAD after it)."""
        context = context_model(self.network)({"label": self.label(pixels)}, training=False)  # (B, label_dim)
        return self.network.get_layer("decoder").generate(
            context, max_length, strategy=strategy, temperature=temperature, seed=seed,
            bos_id=BOS_ID, eos_id=EOS_ID, pad_id=PAD_ID,
        )  # (B, max_length)

    def caption(self, pixels, strategy="greedy", temperature=1.0, seed=0, max_length=None, batch_size=256):
        """Captions of raw pixel rows, as a list of str.

        Args:
            pixels: float array `[N, label_dim]` of raw pixel values (0..`pixel_max`).
            strategy: `"greedy"` or `"sample"` (seeded: the same seed gives the same captions).
            temperature: sampling temperature (> 0).
            seed: sampling seed.
            max_length: decoding steps (default `max_caption_length`).
            batch_size: rows per decoding pass.
        """
        pixels = np.asarray(pixels, np.float32)
        if pixels.ndim != 2 or pixels.shape[1] != self.label_dim:
            raise ValueError(f"`pixels` must have shape [N, {self.label_dim}]. Received: shape={pixels.shape}")
        captions = []
        for start in range(0, len(pixels), batch_size):
            ids = self.decode(pixels[start: start + batch_size], max_length or self.max_caption_length,
                              strategy, temperature, seed)
            captions += [text.decode("utf-8") for text in np.asarray(self.detokenize(ids))]
        return captions

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "target_preprocessor": keras.saving.serialize_keras_object(self.target_preprocessor),
            "network": keras.saving.serialize_keras_object(self.network),
            "max_caption_length": self.max_caption_length,
            "pixel_max": self.pixel_max,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("target_preprocessor", "network"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
