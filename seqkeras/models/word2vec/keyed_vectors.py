"""Trained word vectors as gensim's own `KeyedVectors`, plus what gensim lacks.

gensim (a dependency) already does the queries (`most_similar`, `similarity`, analogies), the
standard evaluations (`evaluate_word_pairs`, `evaluate_word_analogies`) and the word2vec text and
binary files (`save_word2vec_format` / `load_word2vec_format`); this module only builds them from
seqkeras' tables and adds:

- `keyed_vectors(words, vectors, counts)`: a gensim `KeyedVectors` (frequency order, counts kept
  as gensim's `count` attribute);
- `load_keyed_vectors(path)`: from a `seqkeras train word2vec` run dir, its `model.keras`, or a
  word2vec text / binary file;
- `embedding_matrix` / `to_embedding`: rows for a downstream vocabulary (known words copied,
  optional centring, the rest drawn at the vectors' scale) and a built Keras `Embedding`;
- `save_projector`: TensorBoard projector files that TensorBoard finds from the run's `tb/`.
"""

import pathlib

import numpy as np

VECTORS_BINARY = "vectors.bin"
VECTORS_TEXT = "vectors.txt"


def keyed_vectors(words, vectors, counts=None):
    """A gensim `KeyedVectors` holding `vectors` (one row per word, in the given order).

    Args:
        words: unique strings, most frequent first (gensim's `restrict_vocab` relies on it).
        vectors: float array `(len(words), vector_size)`.
        counts: optional training counts, one per word (gensim's `count` attribute).

    Example:

    >>> kv = keyed_vectors(["king", "queen"], np.eye(2, 3), counts=[7, 5])
    >>> kv.most_similar("king", topn=1)[0][0], kv.get_vecattr("queen", "count")
    ('queen', 5)
    """
    from gensim.models import KeyedVectors

    words = [str(word) for word in words]
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(words):
        raise ValueError(
            f"`vectors` must have shape (len(words), vector_size) = ({len(words)}, D). Received: {vectors.shape}"
        )
    if len(set(words)) != len(words):
        raise ValueError("`words` must be unique.")
    result = KeyedVectors(vectors.shape[1], count=0, dtype=np.float32)
    result.add_vectors(words, vectors)
    if counts is not None:
        if len(counts) != len(words):
            raise ValueError(f"`counts` needs one entry per word: {len(counts)} for {len(words)} words.")
        result.allocate_vecattrs(["count"], [np.int64])
        result.expandos["count"][:] = np.asarray(counts, np.int64)
    return result


def load_keyed_vectors(path):
    """gensim `KeyedVectors` from a word2vec run dir, its `model.keras`, or a word2vec file.

    A run dir is read from its `vectors.bin` (or `model.keras` when that is missing); a file ending
    in `.bin` is word2vec's binary format, `.keras` a saved `Word2Vec`, anything else the text
    format.

    Raises:
        FileNotFoundError: nothing to read at `path`.
    """
    from gensim.models import KeyedVectors

    path = pathlib.Path(path)
    if path.is_dir():
        for name in (VECTORS_BINARY, "model.keras"):
            if (path / name).is_file():
                return load_keyed_vectors(path / name)
        raise FileNotFoundError(f"{path} holds neither {VECTORS_BINARY} nor model.keras (not a word2vec run?)")
    if not path.is_file():
        raise FileNotFoundError(f"No word vectors at {path}.")
    if path.suffix == ".keras":
        import keras

        from seqkeras.models.word2vec.word2vec import Word2Vec

        model = keras.saving.load_model(str(path), compile=False)
        if not isinstance(model, Word2Vec):
            raise TypeError(f"{path} holds a {type(model).__name__}, not a Word2Vec model.")
        return model.keyed_vectors()
    return KeyedVectors.load_word2vec_format(str(path), binary=path.suffix == ".bin")


def embedding_matrix(vectors, tokens, lowercase_fallback=True, center=True, padding_tokens=("<pad>",), seed=0):
    """Rows for a downstream vocabulary: known words copied, the rest initialised sensibly.

    A token found as is (or, with `lowercase_fallback`, lower-cased) gets its vector; a padding
    token gets zeros; any other token gets a random vector drawn from a normal with the
    per-dimension mean and standard deviation of the known vectors, so it sits among them in scale.

    With `center`, the mean word vector is subtracted first. SGNS vectors share a large common
    component; removing it (the first step of Mu & Viswanath's "all-but-the-top") keeps every
    similarity ranking and spares a downstream network a constant input offset.

    Args:
        vectors: a gensim `KeyedVectors`.
        tokens: the downstream tokens in id order (e.g. `Vocabulary.tokens`).
        lowercase_fallback: also look a token up lower-cased (vectors trained lower-cased).
        center: subtract the mean of these vectors from every row.
        padding_tokens: tokens whose row is zero.
        seed: seed of the out-of-vocabulary rows.

    Returns:
        `(matrix, found)`: float32 `(len(tokens), vector_size)` and a bool mask of the rows
        copied from these vectors.

    Example:

    >>> matrix, found = embedding_matrix(kv, ["<pad>", "<oov>", "King"])  # doctest: +SKIP
    """
    tokens = list(tokens)
    rng = np.random.default_rng(seed)
    table = np.asarray(vectors.vectors, np.float32)
    source = table - table.mean(axis=0) if center else table
    std = source.std(axis=0)
    matrix = (source.mean(axis=0) + std * rng.standard_normal((len(tokens), table.shape[1]))).astype(np.float32)
    found = np.zeros(len(tokens), bool)
    index = vectors.key_to_index
    for row, token in enumerate(tokens):
        token = str(token)
        if token in padding_tokens:
            matrix[row] = 0.0
            continue
        position = index.get(token)
        if position is None and lowercase_fallback:
            position = index.get(token.lower())
        if position is not None:
            matrix[row] = source[position]
            found[row] = True
    return matrix, found


def to_embedding(vectors, tokens, trainable=False, lowercase_fallback=True, center=True, seed=0,
                 name="word2vec_embedding"):
    """A built `keras.layers.Embedding` for a downstream vocabulary, frozen or trainable.

    Rows come from `embedding_matrix(vectors, tokens, ...)` (same arguments).
    """
    import keras

    matrix, _ = embedding_matrix(vectors, tokens, lowercase_fallback=lowercase_fallback, center=center, seed=seed)
    layer = keras.layers.Embedding(matrix.shape[0], matrix.shape[1], trainable=trainable, name=name)
    layer.build((None,))
    layer.set_weights([matrix])
    return layer


def save_projector(vectors, log_dir, name="word_vectors"):
    """TensorBoard projector files in `log_dir`: `vectors.tsv`, `metadata.tsv`, a checkpoint of
    the table, `projector_config.pbtxt`, and one text summary so `log_dir` is a TensorBoard run.

    Pointing TensorBoard at the parent folder (a run's `tb/`) shows the embedding in its
    Projector tab: the projector plugin reads the config of every run folder, and a folder
    becomes a run by holding an event file. The TSV files also load into projector.tensorflow.org.
    """
    import tensorflow as tf
    from tensorboard.plugins import projector

    log_dir = pathlib.Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    table = np.asarray(vectors.vectors, np.float32)
    with open(log_dir / "vectors.tsv", "w", encoding="utf-8") as stream:
        for vector in table.tolist():
            stream.write("\t".join(f"{value:.6g}" for value in vector) + "\n")
    with open(log_dir / "metadata.tsv", "w", encoding="utf-8") as stream:
        for word in vectors.index_to_key:
            stream.write(word.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n") + "\n")
    checkpoint = tf.train.Checkpoint(embedding=tf.Variable(table, name=name))
    checkpoint.save(str(log_dir / "embedding.ckpt"))
    config = projector.ProjectorConfig()
    embedding = config.embeddings.add()
    embedding.tensor_name = "embedding/.ATTRIBUTES/VARIABLE_VALUE"
    embedding.metadata_path = "metadata.tsv"
    projector.visualize_embeddings(str(log_dir), config)
    writer = tf.summary.create_file_writer(str(log_dir))
    with writer.as_default():
        tf.summary.text("embedding", f"{len(table)} word vectors of size {table.shape[1]}; see the Projector tab",
                        step=0)
    writer.close()
    return log_dir
