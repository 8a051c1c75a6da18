"""One call from tokenised documents to trained word vectors: vocabulary, tf.data, `fit`."""

import collections

import numpy as np
import tensorflow as tf

from seqkeras.data.skipgrams import skipgram_dataset
from seqkeras.data.tokenization import WordTokenizer
from seqkeras.data.vocabulary import NUM_RESERVED, OOV_ID, Vocabulary
from seqkeras.models.word2vec.word2vec import Word2Vec

TrainedWord2Vec = collections.namedtuple("TrainedWord2Vec", ["vectors", "model", "vocabulary", "history", "info"])
TrainedWord2Vec.__doc__ = (
    "Result of `train_word2vec`: `vectors` (gensim `KeyedVectors`, frequency order, with counts), the Keras "
    "`model` (a `Word2Vec` that keeps its words: `model.keyed_vectors()` gives the same vectors), the "
    "`vocabulary`, the Keras `history` (loss and alpha per epoch) and `info` (corpus and timing figures)."
)


def tokenize_documents(texts, lowercase=True):
    """Word lists from plain texts: tensorflow-text Unicode-script split, punctuation-only tokens dropped.

    Args:
        texts: iterable of str.
        lowercase: lower-case first (as the word2vec benchmark corpus is).

    Returns:
        list of lists of str, one per text.
    """
    texts = list(texts)
    if not texts:
        return []
    tokens = WordTokenizer(method="unicode_script", lowercase=lowercase).tokenize(tf.constant(texts))  # (N, None)
    words = tf.ragged.boolean_mask(tokens, tf.strings.regex_full_match(tokens, r".*[\pL\pN].*"))  # a letter or digit
    return [[token.decode("utf-8") for token in row] for row in words.to_list()]


def documents_to_ids(documents, vocabulary):
    """Id arrays of token lists through `vocabulary.lookup`, out-of-vocabulary words removed."""
    documents = [list(doc) for doc in documents]
    lengths = [len(doc) for doc in documents]
    flat = tf.constant([token for doc in documents for token in doc], dtype=tf.string, shape=[sum(lengths)])
    ids = vocabulary.lookup(tf.RaggedTensor.from_row_lengths(flat, lengths))  # (N, None)
    ids = tf.ragged.boolean_mask(ids, ids != OOV_ID)
    return [np.asarray(row, np.int32) for row in ids.numpy()] if ids.shape[0] else []


def train_word2vec(
    documents,
    vector_size=100,
    window=5,
    min_count=5,
    max_vocab_size=None,
    sample=1e-3,
    negative=5,
    ns_exponent=0.75,
    alpha=0.025,
    min_alpha=0.0001,
    epochs=5,
    seed=0,
    batch_size=4096,
    steps_per_execution=16,
    jit_compile=True,
    workers=1,
    negative_group_size=32,
    callbacks=None,
    verbose=0,
):
    """Trains skip-gram word2vec with negative sampling on tokenised documents.

    Parameters carry gensim's names and meanings (`sg=1`); the extra ones set the batching.

    Args:
        documents: iterable of token lists (a window never crosses a document).
        vector_size: embedding dimension.
        window: maximum distance between target and context words (>= 1).
        min_count: ignore words seen fewer times.
        max_vocab_size: keep at most this many (most frequent) words; None keeps all.
        sample: subsampling threshold for frequent words (0 disables it).
        negative: negatives per pair (>= 1).
        ns_exponent: exponent of the negative-sampling distribution.
        alpha, min_alpha: learning rate at the start and the end (linear decay).
        epochs: passes over the corpus.
        seed: seed of every random draw (initialisation, subsampling, windows, negatives).
        batch_size: (target, context) pairs per SGD step.
        steps_per_execution: steps per call of the compiled training function.
        jit_compile: compile the step with XLA.
        workers: shards of each batch whose updates are computed concurrently (gensim's worker
            threads; the update is that of the whole batch either way, see `Word2Vec`). The
            `tf.data` pipeline runs on other threads whatever this is. With shared negatives
            the step is cheap enough that `1` (one XLA computation per step, on one core, the
            pipeline on the others) was faster and used less CPU than `2` on the 2-core
            benchmark machine.
        negative_group_size: pairs sharing one draw of `negative` words (must divide
            `batch_size`); a shared negative equal to a pair's context word is masked for that
            pair. `1` gives every pair its own negatives (gensim's scheme). The default, 32, makes
            the SGD step about twice as cheap and matched or beat `1` (and gensim) on
            WordSim-353 and the analogies in the Wikipedia benchmark (see
            `benchmarks/bench_word2vec.py`); see `skipgram_dataset`.
        callbacks: extra Keras callbacks for `fit`.
        verbose: Keras `fit` verbosity.

    Returns:
        `TrainedWord2Vec(vectors, model, vocabulary, history, info)`.

    Raises:
        ValueError: empty corpus, no word reaching `min_count`, `window < 1`, fewer distinct words
            than `negative + 1`, bad sizes.
    """
    for name, value in (
        ("window", window), ("negative", negative), ("epochs", epochs), ("vector_size", vector_size), ("workers", workers)
    ):
        if int(value) != value or value < 1:
            raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value}")
    documents = [list(doc) for doc in documents]
    if not any(documents):
        raise ValueError("The corpus is empty: no tokens in any document.")
    max_size = None if max_vocab_size is None else int(max_vocab_size) + NUM_RESERVED
    vocabulary = Vocabulary.build(documents, min_count=min_count, max_size=max_size)
    words = vocabulary.tokens[NUM_RESERVED:]
    word_counts = vocabulary.counts
    counts = np.zeros(vocabulary.size, np.int64)
    counts[NUM_RESERVED:] = [word_counts[word] for word in words]
    ids = documents_to_ids(documents, vocabulary)
    dataset, info = skipgram_dataset(
        ids, counts, window=window, negative=negative, sample=sample, ns_exponent=ns_exponent,
        batch_size=batch_size, seed=seed, negative_group_size=negative_group_size,
    )
    model = Word2Vec(
        vocabulary.size, vector_size=vector_size, alpha=alpha, min_alpha=min_alpha, epochs=epochs, seed=seed,
        workers=workers, words=words, counts=counts[NUM_RESERVED:].tolist(),
    )
    model.compile(jit_compile=jit_compile, steps_per_execution=steps_per_execution)
    history = model.fit(dataset, epochs=epochs, callbacks=callbacks, verbose=verbose)
    info = dict(info, raw_words=sum(len(doc) for doc in documents), vocabulary_size=len(words))
    return TrainedWord2Vec(model.keyed_vectors(), model, vocabulary, history, info)
