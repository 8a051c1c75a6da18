"""`WordPreprocessor`: tokenised sentences -> model inputs (word ids, character ids), batched."""

import numpy as np
import tensorflow as tf

from seqkeras.data.vocabulary import Vocabulary
from seqkeras.models.common._validation import check_positive_int


def _ragged_strings(word_lists):
    lengths = [len(words) for words in word_lists]
    if any(length == 0 for length in lengths):
        empty = lengths.index(0)
        raise ValueError(f"Sentences must have at least one word. Received an empty sentence at index {empty}.")
    flat = tf.constant([word for words in word_lists for word in words], dtype=tf.string)
    return tf.RaggedTensor.from_row_lengths(flat, tf.constant(lengths, dtype=tf.int64))  # [N, (T)]


class WordPreprocessor:
    """Turns tokenised sentences into the inputs of the word-level task models.

    Words are (optionally) lower-cased and looked up in a word `Vocabulary` (unknown -> OOV id);
    with a character vocabulary each word's characters (original case, the first
    `max_word_length`) become `char_ids`. `dataset()` batches sentences of similar length
    together (sorted by length, batch order shuffled with a seed) so little padding is computed.

    Args:
        vocabulary: a `seqkeras.data.vocabulary.Vocabulary` of (lower-cased) words.
        char_vocabulary: optional `Vocabulary` of characters; adds the `char_ids` input.
        lowercase: lower-case words before the word lookup.
        max_word_length: characters kept per word.

    Example:
    >>> prep = WordPreprocessor.build([["The", "cat"], ["A", "cat", "sat"]], min_count=1)
    >>> batch = next(iter(prep.dataset([["The", "cat"]], batch_size=1)))
    >>> sorted(batch)
    ['char_ids', 'padding_mask', 'token_ids']
    """

    def __init__(self, vocabulary, char_vocabulary=None, lowercase=True, max_word_length=16):
        self.vocabulary = vocabulary
        self.char_vocabulary = char_vocabulary
        self.lowercase = bool(lowercase)
        self.max_word_length = check_positive_int("max_word_length", max_word_length)

    @classmethod
    def build(cls, word_lists, min_count=2, max_size=None, characters=True, lowercase=True, max_word_length=16):
        """Builds the vocabularies from training sentences (lists of words).

        `min_count=2` leaves words seen once out, so the OOV embedding is trained on real rare words.
        """
        words = [[w.lower() for w in ws] if lowercase else list(ws) for ws in word_lists]
        vocabulary = Vocabulary.build(words, min_count=min_count, max_size=max_size)
        char_vocabulary = None
        if characters:
            char_vocabulary = Vocabulary.build(
                [list(word[:max_word_length]) for ws in word_lists for word in ws], min_count=1
            )
        return cls(vocabulary, char_vocabulary, lowercase=lowercase, max_word_length=max_word_length)

    def features(self, word_lists):
        """Ragged features of a list of sentences: `token_ids` `[N, (T)]`, `char_ids` `[N, (T), (C)]`."""
        words = _ragged_strings(word_lists)
        lookup_words = tf.strings.lower(words, encoding="utf-8") if self.lowercase else words
        features = {"token_ids": self.vocabulary.lookup(lookup_words)}
        if self.char_vocabulary is not None:
            chars = tf.strings.unicode_split(words.flat_values, "UTF-8")[:, : self.max_word_length]  # [W, (C)]
            char_ids = self.char_vocabulary.lookup(chars)
            features["char_ids"] = words.with_flat_values(char_ids)  # [N, (T), (C)]
        return features

    def dataset(self, word_lists, targets=None, batch_size=32, shuffle=False, seed=0):
        """A `tf.data.Dataset` of dense batches, length-sorted.

        Args:
            word_lists: list of sentences, each a non-empty list of words.
            targets: None, one int per sentence (classification), or one list of ints per
                sentence with a value per word (tagging; padded with 0 and masked).
            batch_size: sentences per batch.
            shuffle: shuffle the order of the batches every epoch (seeded).
            seed: shuffle seed.

        Returns:
            Batches of `inputs` (dict: `token_ids` int32 `[B, T]`, `padding_mask` bool `[B, T]`,
            `char_ids` int32 `[B, T, C]`) or `(inputs, targets)`.
        """
        order = self._length_order(word_lists)
        features = self.features([word_lists[i] for i in order])
        if targets is not None:
            targets = [targets[i] for i in order]
            if isinstance(targets[0], (list, tuple, np.ndarray)):
                features["targets"] = tf.ragged.constant(targets, dtype=tf.int32)
            else:
                features["targets"] = tf.constant(targets, dtype=tf.int32)
        dataset = tf.data.Dataset.from_tensor_slices(features).ragged_batch(batch_size)
        dataset = dataset.map(self._to_dense, num_parallel_calls=tf.data.AUTOTUNE).cache()
        if shuffle:
            num_batches = -(-len(word_lists) // batch_size)
            dataset = dataset.shuffle(num_batches, seed=seed, reshuffle_each_iteration=True)
        return dataset.prefetch(tf.data.AUTOTUNE)

    def predict(self, model, word_lists, batch_size=64):
        """Runs `model` over sentences; returns one output per sentence, in the given order.

        Per-token outputs `[B, T, ...]` are cut to each sentence's length; per-sentence
        outputs `[B, ...]` are returned as they are.
        """
        order = self._length_order(word_lists)
        results = [None] * len(word_lists)
        position = 0
        for inputs in self.dataset(word_lists, batch_size=batch_size):
            outputs = np.asarray(model.predict_on_batch(inputs))
            lengths = inputs["padding_mask"].numpy().sum(axis=1)
            per_token = outputs.ndim >= 3 and outputs.shape[1] == inputs["padding_mask"].shape[1]
            for row in range(outputs.shape[0]):
                index = order[position]
                results[index] = outputs[row, : lengths[row]] if per_token else outputs[row]
                position += 1
        return results

    @staticmethod
    def _length_order(word_lists):
        return sorted(range(len(word_lists)), key=lambda i: (len(word_lists[i]), i))

    @staticmethod
    def _to_dense(batch):
        token_ids = batch["token_ids"]  # [B, (T)]
        inputs = {
            "token_ids": token_ids.to_tensor(0),
            "padding_mask": tf.sequence_mask(token_ids.row_lengths(), dtype=tf.bool),
        }
        if "char_ids" in batch:
            inputs["char_ids"] = batch["char_ids"].to_tensor(0)  # (B, T, C)
        if "targets" not in batch:
            return inputs
        targets = batch["targets"]
        if isinstance(targets, tf.RaggedTensor):
            targets = targets.to_tensor(0)
        return inputs, targets
