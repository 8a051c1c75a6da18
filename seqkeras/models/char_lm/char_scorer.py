"""log p(text) under a causal character language model, by the chain rule."""

import math

import numpy as np
import tensorflow as tf

from seqkeras.data.tokenization import CharTokenizer
from seqkeras.data.vocabulary import BOS_ID, OOV_ID, PAD_ID
from seqkeras.models.char_lm.causality import check_language_model
from seqkeras.models.char_lm.datasets import tokenize_characters


class CharScorer:
    """Scores texts: log p(c_1..c_n) = sum_t log p(c_t | BOS, c_1..c_{t-1}), in nats and bits.

    One forward pass per batch gives every conditional at once (the model is causal, which is
    checked when the scorer is built). Texts of different lengths share a batch: padding is
    masked, so a text's score does not depend on what it is batched with.

    Args:
        model: a causal language model mapping `{"token_ids", "padding_mask"}` (B, T) to logits
            (B, T, V), e.g. `CharLanguageModel`.
        vocabulary: `seqkeras.data.vocabulary.Vocabulary` of the model's characters; characters
            outside it are scored as the out-of-vocabulary id.
        tokenizer: splits texts into characters; defaults to `CharTokenizer()`.

    Example:

    >>> scorer = CharScorer(model, vocabulary)
    >>> result = scorer.score(["[[Anarchism]]", "]]mhsicranA[["])
    >>> result["log_prob_bits"]  # one number per text, higher is more likely
    """

    def __init__(self, model, vocabulary, tokenizer=None):
        check_language_model(model, vocabulary, getattr(model, "vocabulary_size", vocabulary.size))
        self.model = model
        self.vocabulary = vocabulary
        self.tokenizer = tokenizer or CharTokenizer()
        self.score_ids = tf.function(
            self._score_ids,
            input_signature=[
                tf.TensorSpec([None, None], tf.int32, name="token_ids"),
                tf.TensorSpec([None, None], tf.bool, name="padding_mask"),
            ],
        )

    def _score_ids(self, token_ids, padding_mask):
        """(B, T) character ids (no BOS, right-padded) -> dict of (B,) tensors.

        `log_prob_nats` / `log_prob_bits`: sum of log p(c_t | BOS, c_<t) over real characters;
        `num_characters`: how many were scored; `num_oov` / `oov_log_prob_nats`: how many of them
        are outside the vocabulary (scored as the one `<oov>` id) and their share of the sum.
        """
        batch_size = tf.shape(token_ids)[0]
        bos = tf.fill([batch_size, 1], tf.constant(BOS_ID, tf.int32))
        inputs = tf.concat([bos, token_ids[:, :-1]], axis=1)  # (B, T): input t predicts target t
        input_mask = tf.concat([tf.ones([batch_size, 1], tf.bool), padding_mask[:, :-1]], axis=1)
        logits = self.model({"token_ids": inputs, "padding_mask": input_mask}, training=False)  # (B, T, V)
        log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1)
        target_log_probs = tf.gather(log_probs, token_ids, batch_dims=2)  # (B, T)
        weights = tf.cast(padding_mask, tf.float32)
        log_prob_nats = tf.reduce_sum(target_log_probs * weights, axis=1)  # (B,)
        oov = tf.cast(tf.logical_and(padding_mask, tf.equal(token_ids, OOV_ID)), tf.float32)  # (B, T)
        return {
            "num_oov": tf.reduce_sum(tf.cast(oov, tf.int32), axis=1),
            "oov_log_prob_nats": tf.reduce_sum(target_log_probs * oov, axis=1),
            "log_prob_nats": log_prob_nats,
            "log_prob_bits": log_prob_nats / math.log(2.0),
            "num_characters": tf.reduce_sum(tf.cast(padding_mask, tf.int32), axis=1),
        }

    def encode(self, texts):
        """Texts -> right-padded ids (B, T) and mask (B, T)."""
        characters = tokenize_characters(texts, self.tokenizer)  # ragged (B, None)
        ids = self.vocabulary.lookup(characters)
        mask = tf.ones_like(ids, dtype=tf.bool).to_tensor(default_value=False)
        return ids.to_tensor(default_value=PAD_ID), mask

    def score(self, texts, batch_size=32):
        """Scores a string or a list of strings in batches of `batch_size`.

        Returns a dict of NumPy arrays, one entry per text: `log_prob_nats`, `log_prob_bits`,
        `num_characters`, `bits_per_character` (NaN for an empty text), `num_oov` (characters
        outside the vocabulary, all scored as the one `<oov>` id) and `oov_bit_share` (their
        share of the text's bits; 0 for an empty text).
        """
        if isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size <= 0:
            raise ValueError(f"`batch_size` must be a positive integer. Received: batch_size={batch_size!r}")
        if not all(isinstance(text, str) for text in texts):
            raise TypeError("`texts` must be strings. Received: " + repr([type(t).__name__ for t in texts]))
        keys = ("log_prob_nats", "log_prob_bits", "num_characters", "num_oov", "oov_log_prob_nats")
        parts = {key: [] for key in keys}
        # Sorting by length keeps padding small; results go back in the input order.
        order = sorted(range(len(texts)), key=lambda index: len(texts[index]))
        for start in range(0, len(order), batch_size):
            chunk = [texts[index] for index in order[start:start + batch_size]]
            ids, mask = self.encode(chunk)
            if ids.shape[1] == 0:  # only empty texts: log p = 0 for zero characters
                ids = tf.zeros([len(chunk), 1], tf.int32)
                mask = tf.zeros([len(chunk), 1], tf.bool)
            result = self.score_ids(ids, mask)
            for key in keys:
                parts[key].append(result[key].numpy())
        scores = {}
        inverse = np.argsort(order)
        for key in keys:
            values = np.concatenate(parts[key]) if parts[key] else np.zeros([0])
            scores[key] = values[inverse]
        with np.errstate(invalid="ignore", divide="ignore"):
            scores["bits_per_character"] = -scores["log_prob_bits"] / scores["num_characters"]
            share = scores.pop("oov_log_prob_nats") / scores["log_prob_nats"]
        scores["oov_bit_share"] = np.where(scores["log_prob_nats"] < 0, share, 0.0) + 0.0  # no -0.0
        return scores
