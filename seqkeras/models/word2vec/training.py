"""One call from tokenised documents to trained word vectors: vocabulary, tf.data, `fit`.

One entry point, two inputs: `train_word2vec(documents)` takes token lists held in memory (the
bundled corpora) or a `tf.data` stream of documents (a glob of plain/gzip files,
`seqkeras.data.text_files`), which it never holds: one streaming pass
counts the vocabulary, one more counts the words and the expected pairs of each 10,000-word chunk
(the epoch length, `steps`, and the learning-rate decay need them), and every epoch then
tokenises, looks up, subsamples and pairs the corpus block by block (1 MiB of text a block, one
chunk of pairs at a time in the shuffle). On the same text both give the same vocabulary and the
same batches (tested), so the streamed path is exact, not an approximation.
"""

import collections

import numpy as np
import tensorflow as tf

from seqkeras.data.skipgrams import id_chunks, skipgram_dataset, streamed_skipgram_dataset
from seqkeras.data.text_files import BLOCK_BYTES, document_blocks
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
    words = _words(WordTokenizer(method="unicode_script", lowercase=lowercase), tf.constant(texts))
    return [[token.decode("utf-8") for token in row] for row in words.to_list()]


def _words(tokenizer, texts):
    """(N,) strings -> (N, None) words: tokens with a letter or a digit."""
    tokens = tokenizer.tokenize(texts)  # (N, None)
    return tf.ragged.boolean_mask(tokens, tf.strings.regex_full_match(tokens, r".*[\pL\pN].*"))


def word_blocks(lines, lowercase=True, max_bytes=BLOCK_BYTES):
    """Ragged `(documents, words)` string batches of a stream of documents, one per block of at most
    `max_bytes` bytes (`document_blocks`), tokenised as `tokenize_documents` does."""
    tokenizer = WordTokenizer(method="unicode_script", lowercase=lowercase)
    return document_blocks(lines, max_bytes).map(lambda block: _words(tokenizer, block),
                                                 num_parallel_calls=tf.data.AUTOTUNE)


def stream_vocabulary(lines, min_count=5, max_vocab_size=None, lowercase=True, max_bytes=BLOCK_BYTES):
    """`(vocabulary, raw_words)` from one streaming pass: equal to `Vocabulary.build` on
    `tokenize_documents` of the same texts (same counts, same order), and the number of words."""
    if int(min_count) != min_count or min_count < 1:
        raise ValueError(f"`min_count` must be an integer >= 1. Received: min_count={min_count}")
    every = Vocabulary.build(word_blocks(lines, lowercase, max_bytes), min_count=1)  # raises on an empty corpus
    tokens, counts = every.tokens[NUM_RESERVED:], every.counts
    kept = [token for token in tokens if counts[token] >= min_count]  # a prefix: decreasing counts
    if max_vocab_size is not None:
        kept = kept[: int(max_vocab_size)]
    if not kept:
        raise ValueError(f"No token occurs at least min_count={min_count} times (most frequent: "
                         f"{(tokens[0], counts[tokens[0]])!r}).")
    return Vocabulary(kept, counts=[counts[token] for token in kept]), sum(counts[token] for token in tokens)


def stream_id_chunks(lines, vocabulary, lowercase=True, chunk_size=10000, max_bytes=BLOCK_BYTES):
    """The `(ids, doc_ids)` chunks of `streamed_skipgram_dataset` from a stream of documents:
    blocks tokenised and looked up in-graph, out-of-vocabulary words removed, laid end to end."""
    block_rows = 1 << 21  # > documents of a block (each non-blank line has >= 1 byte)

    def flat_ids(index, words):
        ids = vocabulary.lookup(words)
        ids = tf.ragged.boolean_mask(ids, ids != OOV_ID)  # (N, None)
        # A document number unique among the few consecutive blocks a chunk can span.
        doc_ids = tf.cast(index % 512, tf.int32) * block_rows + tf.cast(ids.value_rowids(), tf.int32)
        return ids.flat_values, doc_ids

    words = word_blocks(lines, lowercase, max_bytes)
    return id_chunks(words.enumerate().map(flat_ids, num_parallel_calls=tf.data.AUTOTUNE), chunk_size)


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
    strategy=None,
    checkpoint_dir=None,
    checkpoint_every=0,
    log_dir=None,
    run_trainer=None,
    lowercase=True,
    max_bytes=BLOCK_BYTES,
):
    """Trains skip-gram word2vec with negative sampling on tokenised documents or a text stream.

    Parameters carry gensim's names and meanings (`sg=1`); the extra ones set the batching.

    Two inputs, one way each. Token lists are held in memory. A `tf.data.Dataset` of documents
    (one scalar string each, e.g. `seqkeras.data.text_files.line_dataset` of a glob of plain/gzip
    files) is streamed in memory bounded by a block, not by the corpus: two passes before training
    (vocabulary; words and expected pairs, which fix `info["steps"]`, the batches per epoch, and so
    the learning-rate decay), then every epoch reads the stream again. On the same texts both give
    the same vocabulary and batches (a stream of texts equals `tokenize_documents(texts, lowercase)`).

    Args:
        documents: iterable of token lists (a window never crosses a document), or a re-iterable
            `tf.data.Dataset` of scalar strings, one document each (streamed, see above).
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
        strategy: None trains with `Word2Vec.fit` (the threaded sparse SGD above, one machine);
            a `tf.distribute.Strategy` trains the same update with `StrategyTrainer` under it
            (`sgns_replica_loss` + Keras `SGD` with `word2vec_learning_rate`; every replica of
            every worker gets its share of each global batch of `batch_size` pairs, so
            `batch_size / negative_group_size` must be a multiple of the replicas). `workers`,
            `steps_per_execution`, `jit_compile` and `callbacks` do not apply there.
        checkpoint_dir: with `strategy`: the chief's `StrategyTrainer` checkpoint folder (the run
            resumes from its newest checkpoint at that step); required with `strategy`.
        checkpoint_every: with `strategy`: steps between checkpoints (0: epoch ends only).
        log_dir: with `strategy`: TensorBoard folder (chief only), or None.
        run_trainer: with `strategy`: `fn(trainer, **fit_options) -> history` that runs
            `trainer.fit(**fit_options)` (default: exactly that); a pipeline passes its own
            (one-line errors, workers leaving together). `fit_options` include `on_epoch_end`.
        lowercase: with a stream: lower-case before splitting into words (token lists are used as
            they are).
        max_bytes: with a stream: bytes of text per block (`document_blocks`).

    Returns:
        `TrainedWord2Vec(vectors, model, vocabulary, history, info)`; with `strategy`,
        `history.history` holds `loss` and `alpha` per epoch trained in this call,
        `history.epoch` their indices, and `info["trainer"]` the `StrategyTrainer`.

    Example:

    >>> trained = train_word2vec(tokenize_documents(texts), vector_size=16, min_count=2, epochs=1)
    >>> from seqkeras.data import text_files
    >>> lines = text_files.line_dataset(text_files.corpus_files("data/*.txt.gz"))
    >>> trained = train_word2vec(lines, vector_size=16, min_count=2, epochs=1)  # streamed

    Raises:
        ValueError: empty corpus, no word reaching `min_count`, `window < 1`, fewer distinct words
            than `negative + 1`, bad sizes.
    """
    _check_sizes(window=window, negative=negative, epochs=epochs, vector_size=vector_size, workers=workers)
    pairs = dict(window=window, negative=negative, sample=sample, ns_exponent=ns_exponent, batch_size=batch_size,
                 seed=seed, negative_group_size=negative_group_size)
    if isinstance(documents, tf.data.Dataset):  # streamed: the corpus is never held
        vocabulary, raw_words = stream_vocabulary(documents, min_count, max_vocab_size, lowercase, max_bytes)
        counts = _id_counts(vocabulary)
        chunks = stream_id_chunks(documents, vocabulary, lowercase, max_bytes=max_bytes)
        dataset, info = streamed_skipgram_dataset(chunks, counts, **pairs)
    else:
        documents = [list(doc) for doc in documents]
        if not any(documents):
            raise ValueError("The corpus is empty: no tokens in any document.")
        max_size = None if max_vocab_size is None else int(max_vocab_size) + NUM_RESERVED
        vocabulary = Vocabulary.build(documents, min_count=min_count, max_size=max_size)
        counts = _id_counts(vocabulary)
        dataset, info = skipgram_dataset(documents_to_ids(documents, vocabulary), counts, **pairs)
        raw_words = sum(len(doc) for doc in documents)
    info = dict(info, raw_words=raw_words, vocabulary_size=vocabulary.size - NUM_RESERVED)
    return _fit_vectors(
        vocabulary, counts, dataset, info, vector_size, alpha, min_alpha, epochs, seed, workers, steps_per_execution,
        jit_compile, callbacks, verbose, strategy, checkpoint_dir, checkpoint_every, log_dir, run_trainer,
    )


def _check_sizes(**sizes):
    for name, value in sizes.items():
        if int(value) != value or value < 1:
            raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value}")


def _id_counts(vocabulary):
    """int64 `(vocabulary.size,)`: each word's corpus count at its id (0 for the reserved ids)."""
    counts = np.zeros(vocabulary.size, np.int64)
    counts[NUM_RESERVED:] = [vocabulary.counts[word] for word in vocabulary.tokens[NUM_RESERVED:]]
    return counts


def _fit_vectors(vocabulary, counts, dataset, info, vector_size, alpha, min_alpha, epochs, seed, workers,
                 steps_per_execution, jit_compile, callbacks, verbose, strategy, checkpoint_dir, checkpoint_every,
                 log_dir, run_trainer):
    """The model trained on the skip-gram `dataset`, with `Word2Vec.fit` or under `strategy`."""
    words = vocabulary.tokens[NUM_RESERVED:]

    def build_model():
        return Word2Vec(
            vocabulary.size, vector_size=vector_size, alpha=alpha, min_alpha=min_alpha, epochs=epochs, seed=seed,
            workers=workers, words=words, counts=counts[NUM_RESERVED:].tolist(),
        )

    if strategy is not None:
        model, history, trainer = _train_under_strategy(
            strategy, build_model, dataset, info["steps"], epochs, alpha, min_alpha, checkpoint_dir, checkpoint_every,
            log_dir, run_trainer, verbose,
        )
        info["trainer"] = trainer
        return TrainedWord2Vec(model.keyed_vectors(), model, vocabulary, history, info)
    model = build_model()
    model.compile(jit_compile=jit_compile, steps_per_execution=steps_per_execution)
    history = model.fit(dataset, epochs=epochs, callbacks=callbacks, verbose=verbose)
    return TrainedWord2Vec(model.keyed_vectors(), model, vocabulary, history, info)


def _train_under_strategy(strategy, build_model, dataset, steps, epochs, alpha, min_alpha, checkpoint_dir,
                          checkpoint_every, log_dir, run_trainer, verbose):
    """`StrategyTrainer` with word2vec's update: `(model, history, trainer)`."""
    import types

    import keras

    from seqkeras.distribute import StrategyTrainer
    from seqkeras.models.word2vec.strategy_training import (
        sgns_replica_loss,
        shard_skipgram_batches,
        word2vec_learning_rate,
    )

    if checkpoint_dir is None:
        raise ValueError("Training under a strategy needs a `checkpoint_dir`. Received: checkpoint_dir=None")
    groups = dataset.element_spec["negatives"].shape[0]
    replicas = strategy.num_replicas_in_sync
    if groups % replicas:
        raise ValueError(f"batch_size / negative_group_size = {groups} groups of negatives per batch must be a "
                         f"multiple of the {replicas} replicas. Received: {groups} groups")
    with strategy.scope():
        model = build_model()
        optimizer = keras.optimizers.SGD(word2vec_learning_rate(alpha, min_alpha, epochs * steps))
    trainer = StrategyTrainer(
        strategy, model, optimizer, sgns_replica_loss(model, optimizer), checkpoint_dir=checkpoint_dir,
        checkpoint_every=checkpoint_every, log_dir=log_dir, count_metrics=["alpha"], loss_reduction="sum",
        autograph=False,  # the step has no Python control flow on tensors
    )
    run_trainer = run_trainer or (lambda engine, **options: engine.fit(**options))
    logs = run_trainer(
        trainer, dataset_fn=lambda context: shard_skipgram_batches(dataset.repeat(), context), epochs=epochs,
        steps_per_epoch=steps, verbose=verbose,
    )
    history = types.SimpleNamespace(history={key: logs.get(key, []) for key in ("loss", "alpha")},
                                    epoch=list(logs["epoch"]))
    return model, history, trainer
