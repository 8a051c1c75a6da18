"""In-graph text generation from a `CharLanguageModel`, carrying the LSTM state between steps."""

import tensorflow as tf

from seqkeras import sampling
from seqkeras.data.tokenization import CharTokenizer
from seqkeras.data.vocabulary import BOS_ID, EOS_ID, OOV_ID, PAD_ID
from seqkeras.models.char_lm.causality import check_language_model

_NO_STOP = -1


class CharGenerator:
    """Samples continuations of seed texts, one model step per new character.

    Inside one `tf.function`, a first `tf.while_loop` reads the seed one character per step
    (masked, so seeds of different lengths share a batch); a second one alternates "sample one
    id" and "advance the recurrent state by that id" (`model.step`). Nothing is re-read, so a
    sample of n characters costs n steps.

    Args:
        model: a causal language model with `run(token_ids, padding_mask, states)`,
            `step(token_ids, states)` and `initial_states(batch_size)` (e.g. `CharLanguageModel`).
            Models without a carried state, or that are not causal, are rejected.
        vocabulary: `seqkeras.data.vocabulary.Vocabulary` of the model's characters.
        tokenizer: splits seed texts into characters; defaults to `CharTokenizer()`.

    Example:

    >>> generator = CharGenerator(model, vocabulary)
    >>> texts = generator.generate("[[", num_samples=2, max_length=40, temperature=0.8, seed=1)
    """

    def __init__(self, model, vocabulary, tokenizer=None):
        missing = [name for name in ("step", "initial_states") if not callable(getattr(model, name, None))]
        if missing:
            raise TypeError(
                "CharGenerator needs a recurrent language model that carries its state "
                f"(methods step/initial_states); {type(model).__name__} lacks {missing}."
            )
        check_language_model(model, vocabulary, model.vocabulary_size)
        self.model = model
        self.vocabulary = vocabulary
        self.tokenizer = tokenizer or CharTokenizer()
        self.generate_ids = tf.function(
            self._generate_ids,
            input_signature=[
                tf.TensorSpec([None, None], tf.int32, name="seed_ids"),
                tf.TensorSpec([None, None], tf.bool, name="seed_mask"),
                tf.TensorSpec([], tf.int32, name="max_length"),
                tf.TensorSpec([], tf.float32, name="temperature"),
                tf.TensorSpec([], tf.int32, name="top_k"),
                tf.TensorSpec([], tf.float32, name="top_p"),
                tf.TensorSpec([], tf.int32, name="stop_id"),
                tf.TensorSpec([2], tf.int32, name="seed"),
            ],
        )

    def _generate_ids(self, seed_ids, seed_mask, max_length, temperature, top_k, top_p, stop_id, seed):
        """Token-level generation; returns `(ids int32 (B, N), lengths int32 (B,))`, N <= max_length.

        `seed_ids` are right-padded (B, S) with `seed_mask` marking real positions (each row has at
        least one). Row b's sample is `ids[b, :lengths[b]]`; after a row draws `stop_id` or EOS (not
        included) it is finished and padded with PAD; the loop ends early once all rows are.
        Use `stop_id = -1` for no stop character.
        """
        tf.debugging.assert_positive(max_length, message="max_length must be > 0")
        tf.debugging.assert_positive(temperature, message="temperature must be a finite number > 0")
        tf.debugging.assert_all_finite(temperature, message="temperature must be a finite number > 0")
        tf.debugging.assert_non_negative(top_k, message="top_k must be >= 0")
        tf.debugging.assert_positive(top_p, message="top_p must be in (0, 1]")
        tf.debugging.assert_less_equal(top_p, 1.0, message="top_p must be in (0, 1]")
        seed_lengths = tf.reduce_sum(tf.cast(seed_mask, tf.int32), axis=1)  # (B,)
        tf.debugging.assert_positive(seed_lengths, message="every seed needs at least one character")

        # Prefill: read the seeds once, step by step; a row's state and logits only advance at
        # its real (masked-in) positions, so each row ends at its own last seed character.
        batch_size = tf.shape(seed_ids)[0]

        def read_seed(position, logits, states):
            step_logits, step_states = self.model.step(seed_ids[:, position], states)
            real = seed_mask[:, position][:, tf.newaxis]  # (B, 1)
            states = [tf.where(real, new, old) for new, old in zip(step_states, states)]
            return position + 1, tf.where(real, step_logits, logits), states

        _, logits, states = tf.while_loop(
            lambda position, logits, states: position < tf.shape(seed_ids)[1],
            read_seed,
            loop_vars=(
                tf.constant(0),
                tf.zeros([batch_size, self.model.vocabulary_size]),
                self.model.initial_states(batch_size),
            ),
        )  # logits (B, V)
        # PAD, OOV and BOS are never drawn; EOS (end of document) ends a sample like `stop_id`.
        never_drawn = tf.reduce_any(
            tf.equal(tf.range(self.model.vocabulary_size)[:, tf.newaxis], [[PAD_ID, OOV_ID, BOS_ID]]), axis=1
        )  # (V,)

        def keep_going(step, logits, states, finished, lengths, outputs):
            return tf.logical_and(step < max_length, tf.logical_not(tf.reduce_all(finished)))

        def one_step(step, logits, states, finished, lengths, outputs):
            step_seed = tf.random.experimental.stateless_fold_in(seed, step)
            logits = tf.where(never_drawn, tf.constant(-1e9, logits.dtype), logits)
            next_ids = sampling.sample_next_ids(logits, step_seed, temperature, top_k, top_p)  # (B,)
            ended = tf.logical_or(tf.equal(next_ids, stop_id), tf.equal(next_ids, EOS_ID))
            stopped = tf.logical_or(finished, ended)
            outputs = outputs.write(step, tf.where(stopped, tf.constant(PAD_ID, tf.int32), next_ids))
            lengths = lengths + tf.cast(tf.logical_not(stopped), tf.int32)
            logits, states = self.model.step(next_ids, states)  # (B, V)
            return step + 1, logits, states, stopped, lengths, outputs

        _, _, _, _, lengths, outputs = tf.while_loop(
            keep_going,
            one_step,
            loop_vars=(
                tf.constant(0),
                logits,
                states,
                tf.zeros([batch_size], tf.bool),
                tf.zeros([batch_size], tf.int32),
                tf.TensorArray(tf.int32, size=0, dynamic_size=True, element_shape=tf.TensorShape([None])),
            ),
        )
        ids = tf.transpose(outputs.stack())  # (B, N)
        ids = tf.reshape(ids, [batch_size, -1])  # N = 0 keeps a known rank
        return ids, lengths

    def encode_seeds(self, seed_texts, prepend_bos=True):
        """Checks and encodes seed texts -> (ids int32 (B, S), mask bool (B, S)) right-padded."""
        if isinstance(seed_texts, str):
            seed_texts = [seed_texts]
        seed_texts = list(seed_texts)
        if not seed_texts:
            raise ValueError("At least one seed text is needed. Received: seed_texts=[]")
        for index, text in enumerate(seed_texts):
            if not isinstance(text, str) or not text:
                raise ValueError(
                    f"Seed texts must be non-empty strings (the model continues them). "
                    f"Received: seed_texts[{index}]={text!r}"
                )
        characters = self.tokenizer.tokenize(tf.constant(seed_texts))  # ragged (B, None) strings
        ids = self.vocabulary.lookup(characters)  # ragged (B, None) int32
        for index, (row_chars, row_ids) in enumerate(zip(characters.to_list(), ids.to_list())):
            unknown = sorted({c.decode("utf-8", "backslashreplace") for c, i in zip(row_chars, row_ids) if i == OOV_ID})
            if unknown:
                raise ValueError(
                    f"The seed text has characters outside the model's vocabulary: {unknown}. "
                    f"Received: seed_texts[{index}]={seed_texts[index]!r}"
                )
        if prepend_bos:
            bos = tf.fill([ids.nrows(), 1], tf.constant(BOS_ID, tf.int32))
            ids = tf.concat([bos, ids], axis=1)
        mask = tf.ones_like(ids, dtype=tf.bool).to_tensor(default_value=False)
        return ids.to_tensor(default_value=PAD_ID), mask

    def generate(self, seed_texts, num_samples=1, max_length=200, temperature=1.0, top_k=0, top_p=1.0,
                 stop_character=None, seed=0, prepend_bos=True):
        """Generates continuations (seed not included) as a list of strings.

        Args:
            seed_texts: a string or a list of strings; each is continued `num_samples` times.
            num_samples: int > 0, samples per seed text.
            max_length: int > 0, at most this many new characters per sample.
            temperature: float > 0; below 1 sharpens, above 1 flattens the distribution.
            top_k: int >= 0, sample among the k most likely characters (0: all).
            top_p: float in (0, 1], nucleus sampling threshold (1: all).
            stop_character: a single character in the vocabulary that ends a sample (not
                included), or None. A sampled end-of-document id also ends a sample.
            seed: int, the random seed; the same seed gives the same samples.
            prepend_bos: condition on a beginning-of-document id before the seed text.

        Returns:
            list of `len(seed_texts) * num_samples` strings, samples of a seed are adjacent.
        """
        sampling.validate_sampling_arguments(temperature, top_k, top_p, max_length)
        if isinstance(num_samples, bool) or int(num_samples) != num_samples or num_samples <= 0:
            raise ValueError(f"`num_samples` must be a positive integer. Received: num_samples={num_samples!r}")
        stop_id = _NO_STOP
        if stop_character is not None:
            if not isinstance(stop_character, str) or len(stop_character) != 1:
                raise ValueError(f"`stop_character` must be one character. Received: stop_character={stop_character!r}")
            stop_id = int(self.vocabulary.lookup(tf.constant([stop_character]))[0])
            if stop_id == OOV_ID:
                raise ValueError(
                    f"`stop_character` is not in the vocabulary. Received: stop_character={stop_character!r}"
                )
        seed_ids, seed_mask = self.encode_seeds(seed_texts, prepend_bos=prepend_bos)
        seed_ids = tf.repeat(seed_ids, num_samples, axis=0)
        seed_mask = tf.repeat(seed_mask, num_samples, axis=0)
        ids, lengths = self.generate_ids(
            seed_ids, seed_mask, tf.constant(int(max_length)), tf.constant(float(temperature)),
            tf.constant(int(top_k)), tf.constant(float(top_p)), tf.constant(stop_id),
            tf.constant([int(seed) & 0x7FFFFFFF, (int(seed) >> 31) & 0x7FFFFFFF], tf.int32),
        )
        ragged = tf.RaggedTensor.from_tensor(ids, lengths=lengths)
        return [text.decode("utf-8", "replace") for text in self.vocabulary.detokenize(ragged).numpy().tolist()]
