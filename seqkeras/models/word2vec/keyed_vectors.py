"""Trained word vectors: similarity queries, standard evaluations, file formats, Keras embeddings."""

import pathlib

import keras
import numpy as np


def _unit_rows(matrix):
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)


def _ranks(values):
    """1-based ranks, ties get the average of their ranks (as Spearman's rho needs)."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(values.size, np.float64)
    sorted_values = values[order]
    start = 0
    while start < values.size:
        stop = start
        while stop + 1 < values.size and sorted_values[stop + 1] == sorted_values[start]:
            stop += 1
        ranks[order[start:stop + 1]] = (start + stop) / 2.0 + 1.0
        start = stop + 1
    return ranks


def _pearson(x, y):
    x = np.asarray(x, np.float64) - np.mean(x)
    y = np.asarray(y, np.float64) - np.mean(y)
    denominator = np.sqrt(np.sum(x * x) * np.sum(y * y))
    return float(np.sum(x * y) / denominator) if denominator > 0 else float("nan")


def spearman(x, y):
    """Spearman's rank correlation (Pearson correlation of tie-averaged ranks)."""
    return _pearson(_ranks(x), _ranks(y))


class KeyedVectors:
    """Word vectors with gensim-compatible queries, evaluations and file formats.

    Words are kept in frequency order (most frequent first) when they come from training, which
    is what `restrict_vocab` relies on: "the first N words" are the N most frequent ones.

    Args:
        words: list of str, unique, no whitespace inside a word if it will be saved in word2vec
            format.
        vectors: float array `(len(words), vector_size)`.
        counts: optional training counts, one per word.

    Example:

    >>> kv = KeyedVectors(["king", "queen", "man", "woman"], np.eye(4, 3))
    >>> kv.similarity("king", "king")
    1.0
    """

    def __init__(self, words, vectors, counts=None):
        words = [str(word) for word in words]
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(words):
            raise ValueError(
                f"`vectors` must have shape (len(words), vector_size) = ({len(words)}, D). Received: {vectors.shape}"
            )
        if len(set(words)) != len(words):
            raise ValueError("`words` must be unique.")
        if counts is not None and len(counts) != len(words):
            raise ValueError(f"`counts` needs one entry per word: {len(counts)} for {len(words)} words.")
        self.words = words
        self.vectors = vectors
        self.counts = None if counts is None else [int(c) for c in counts]
        self.index = {word: i for i, word in enumerate(words)}
        self._unit = None

    # ---------------------------------------------------------------------------------------
    # Lookups
    # ---------------------------------------------------------------------------------------
    def __len__(self):
        return len(self.words)

    def __contains__(self, word):
        return word in self.index

    @property
    def vector_size(self):
        return self.vectors.shape[1]

    @property
    def unit_vectors(self):
        """Rows scaled to unit length (cached)."""
        if self._unit is None:
            self._unit = _unit_rows(self.vectors)
        return self._unit

    def __getitem__(self, word):
        return self.vectors[self._require(word)]

    def _require(self, word):
        if word not in self.index:
            raise KeyError(f"Word not in vocabulary. Received: {word!r}")
        return self.index[word]

    def similarity(self, first, second):
        """Cosine similarity of two words."""
        unit = self.unit_vectors
        return float(np.dot(unit[self._require(first)], unit[self._require(second)]))

    def most_similar(self, positive=(), negative=(), topn=10, restrict_vocab=None):
        """Words closest (cosine) to the mean of unit `positive` vectors minus `negative` ones.

        This is 3CosAdd for analogies (`positive=[b, c], negative=[a]`: a is to b as c is to ?).
        The query words themselves are never returned.

        Args:
            positive, negative: words (str) or vectors.
            topn: number of results.
            restrict_vocab: search only the first (most frequent) N words.

        Returns:
            list of `(word, cosine)` pairs, best first.
        """
        if isinstance(positive, str):
            positive = [positive]
        if isinstance(negative, str):
            negative = [negative]
        if not positive and not negative:
            raise ValueError("`most_similar` needs at least one positive or negative word.")
        unit = self.unit_vectors
        query, exclude = np.zeros(self.vector_size, np.float64), set()
        for items, sign in ((positive, 1.0), (negative, -1.0)):
            for item in items:
                if isinstance(item, str):
                    index = self._require(item)
                    exclude.add(index)
                    query += sign * unit[index]
                else:
                    query += sign * _unit_rows(np.asarray(item, np.float64))
        query /= max(np.linalg.norm(query), 1e-12)
        limit = len(self.words) if restrict_vocab is None else min(int(restrict_vocab), len(self.words))
        scores = unit[:limit] @ query.astype(np.float32)  # (limit,)
        order = np.argsort(-scores, kind="stable")
        results = []
        for index in order:
            if index in exclude:
                continue
            results.append((self.words[index], float(scores[index])))
            if len(results) == topn:
                break
        return results

    def analogy(self, a, b, c, topn=1, restrict_vocab=30000):
        """3CosAdd: `a` is to `b` as `c` is to ? among the `restrict_vocab` most frequent words."""
        return self.most_similar(positive=[b, c], negative=[a], topn=topn, restrict_vocab=restrict_vocab)

    # ---------------------------------------------------------------------------------------
    # Evaluations (gensim's protocol)
    # ---------------------------------------------------------------------------------------
    def _restricted_index(self, restrict_vocab, case_insensitive):
        limit = min(int(restrict_vocab), len(self.words))
        if not case_insensitive:
            return {self.words[i]: i for i in range(limit)}
        index = {}
        for i in reversed(range(limit)):  # the most frequent spelling wins
            index[self.words[i].upper()] = i
        return index

    def evaluate_word_pairs(self, path, delimiter="\t", restrict_vocab=300000, case_insensitive=True):
        """Correlation of cosine similarities with human judgements (WordSim-353, SimLex-999, ...).

        Lines starting with `#` are comments; each other line is `word1 <delimiter> word2
        <delimiter> score`. Pairs with a word outside the `restrict_vocab` most frequent words are
        skipped and counted, as in gensim.

        Returns:
            dict with `spearman`, `pearson`, `pairs` (used), `skipped`, `oov_ratio` (percent).
        """
        known = self._restricted_index(restrict_vocab, case_insensitive)
        unit = self.unit_vectors
        gold, predicted, skipped = [], [], 0
        for line in pathlib.Path(path).read_text(encoding="utf-8").splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            first, second, score = line.split(delimiter)[:3]
            if case_insensitive:
                first, second = first.upper(), second.upper()
            if first not in known or second not in known:
                skipped += 1
                continue
            gold.append(float(score))
            predicted.append(float(np.dot(unit[known[first]], unit[known[second]])))
        if len(gold) < 2:
            raise ValueError(f"Fewer than 2 pairs of {path} are in the vocabulary ({skipped} skipped).")
        return {
            "spearman": spearman(gold, predicted),
            "pearson": _pearson(gold, predicted),
            "pairs": len(gold),
            "skipped": skipped,
            "oov_ratio": 100.0 * skipped / (len(gold) + skipped),
        }

    def evaluate_word_analogies(self, path, restrict_vocab=300000, case_insensitive=True):
        """Accuracy on an analogy file in the `questions-words.txt` format (3CosAdd).

        `: section` lines start a section; each other line is `a b c d` (a is to b as c is to d).
        Questions with a word outside the `restrict_vocab` most frequent words are skipped and
        counted; the prediction is the best word among those, excluding a, b and c (gensim's
        protocol). Accuracy is over the questions answered.

        Returns:
            dict with `accuracy`, `correct`, `incorrect`, `skipped` and `sections` (list of dicts
            with `section`, `correct`, `incorrect`, `skipped`).
        """
        known = self._restricted_index(restrict_vocab, case_insensitive)
        limit = min(int(restrict_vocab), len(self.words))
        unit = self.unit_vectors[:limit]
        sections = []
        for line in pathlib.Path(path).read_text(encoding="utf-8").splitlines():
            if line.startswith(":"):
                sections.append({"section": line[1:].strip(), "correct": 0, "incorrect": 0, "skipped": 0})
                continue
            parts = line.split()
            if len(parts) != 4:
                continue
            if not sections:
                sections.append({"section": "", "correct": 0, "incorrect": 0, "skipped": 0})
            words = [p.upper() for p in parts] if case_insensitive else parts
            if any(w not in known for w in words):
                sections[-1]["skipped"] += 1
                continue
            a, b, c, expected = (known[w] for w in words)
            query = unit[b] + unit[c] - unit[a]
            scores = unit @ (query / max(np.linalg.norm(query), 1e-12))
            scores[[a, b, c]] = -np.inf
            sections[-1]["correct" if int(np.argmax(scores)) == expected else "incorrect"] += 1
        correct = sum(s["correct"] for s in sections)
        incorrect = sum(s["incorrect"] for s in sections)
        return {
            "accuracy": correct / (correct + incorrect) if correct + incorrect else 0.0,
            "correct": correct,
            "incorrect": incorrect,
            "skipped": sum(s["skipped"] for s in sections),
            "sections": sections,
        }

    # ---------------------------------------------------------------------------------------
    # Files
    # ---------------------------------------------------------------------------------------
    def _check_saveable(self):
        for word in self.words:
            if not word or any(ch.isspace() for ch in word):
                raise ValueError(f"The word2vec format cannot store empty words or words with whitespace. Received: {word!r}")

    def save_word2vec_format(self, path, binary=False):
        """Writes word2vec.c's text or binary format (read by gensim's `load_word2vec_format`).

        Text values are written with 9 significant digits, enough to read back the same float32.
        """
        self._check_saveable()
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        header = f"{len(self.words)} {self.vector_size}\n".encode("utf-8")
        with open(path, "wb") as stream:
            stream.write(header)
            for word, vector in zip(self.words, self.vectors):
                if binary:
                    stream.write(word.encode("utf-8") + b" " + vector.astype("<f4").tobytes() + b"\n")
                else:
                    values = " ".join(f"{value:.9g}" for value in vector.tolist())
                    stream.write(f"{word} {values}\n".encode("utf-8"))
        return path

    @classmethod
    def load_word2vec_format(cls, path, binary=False):
        """Reads word2vec.c's text or binary format."""
        with open(path, "rb") as stream:
            count, size = (int(v) for v in stream.readline().split())
            words, vectors = [], np.zeros((count, size), np.float32)
            for row in range(count):
                if binary:
                    word = bytearray()
                    while True:
                        char = stream.read(1)
                        if char == b" ":
                            break
                        if not char:
                            raise ValueError(f"{path}: file ends inside word {row}.")
                        if char != b"\n":
                            word += char
                    vectors[row] = np.frombuffer(stream.read(4 * size), dtype="<f4")
                    words.append(word.decode("utf-8"))
                else:
                    parts = stream.readline().decode("utf-8").rstrip("\n").split(" ")
                    words.append(parts[0])
                    vectors[row] = np.asarray(parts[1:size + 1], dtype=np.float32)
        return cls(words, vectors)

    def save_projector(self, log_dir, name="word_vectors"):
        """TensorBoard projector files: `vectors.tsv`, `metadata.tsv`, a checkpoint and its config.

        The two TSV files load into projector.tensorflow.org; the checkpoint plus
        `projector_config.pbtxt` make the embedding appear in TensorBoard's Projector tab for
        `tensorboard --logdir <log_dir>`.
        """
        import tensorflow as tf
        from tensorboard.plugins import projector

        log_dir = pathlib.Path(log_dir)
        log_dir.mkdir(parents=True, exist_ok=True)
        with open(log_dir / "vectors.tsv", "w", encoding="utf-8") as stream:
            for vector in self.vectors:
                stream.write("\t".join(f"{value:.6g}" for value in vector.tolist()) + "\n")
        with open(log_dir / "metadata.tsv", "w", encoding="utf-8") as stream:
            for word in self.words:
                stream.write(word.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n") + "\n")
        checkpoint = tf.train.Checkpoint(embedding=tf.Variable(self.vectors, name=name))
        checkpoint.save(str(log_dir / "embedding.ckpt"))
        config = projector.ProjectorConfig()
        embedding = config.embeddings.add()
        embedding.tensor_name = "embedding/.ATTRIBUTES/VARIABLE_VALUE"
        embedding.metadata_path = "metadata.tsv"
        projector.visualize_embeddings(str(log_dir), config)
        return log_dir

    # ---------------------------------------------------------------------------------------
    # Downstream models
    # ---------------------------------------------------------------------------------------
    def embedding_matrix(self, tokens, lowercase_fallback=True, center=True, padding_tokens=("<pad>",), seed=0):
        """Rows for a downstream vocabulary: known words copied, the rest initialised sensibly.

        A token found as is (or, with `lowercase_fallback`, lower-cased) gets its vector; a
        padding token gets zeros; any other token gets a random vector drawn from a normal with
        the per-dimension mean and standard deviation of the known vectors, so it sits among
        them in scale.

        With `center`, the mean word vector is subtracted first. SGNS vectors share a large
        common component; removing it (the first step of Mu & Viswanath's "all-but-the-top")
        keeps every similarity ranking and spares a downstream network a constant input offset.
        (On the EWT tagger benchmark, trained with a logits loss, centred and uncentred vectors
        end within noise of each other; an earlier "uncentred is much worse" reading came from
        a loss that treated the tagger's logits as probabilities.)

        Args:
            tokens: the downstream tokens in id order (e.g. `Vocabulary.tokens`).
            lowercase_fallback: also look a token up lower-cased (vectors trained lower-cased).
            center: subtract the mean of these vectors from every row.
            padding_tokens: tokens whose row is zero.
            seed: seed of the out-of-vocabulary rows.

        Returns:
            `(matrix, found)`: float32 `(len(tokens), vector_size)` and a bool mask of the rows
            copied from these vectors.
        """
        tokens = list(tokens)
        rng = np.random.default_rng(seed)
        mean = self.vectors.mean(axis=0)
        source = self.vectors - mean if center else self.vectors
        std = source.std(axis=0)
        matrix = (source.mean(axis=0) + std * rng.standard_normal((len(tokens), self.vector_size))).astype(np.float32)
        found = np.zeros(len(tokens), bool)
        for row, token in enumerate(tokens):
            token = str(token)
            if token in padding_tokens:
                matrix[row] = 0.0
                continue
            index = self.index.get(token)
            if index is None and lowercase_fallback:
                index = self.index.get(token.lower())
            if index is not None:
                matrix[row] = source[index]
                found[row] = True
        return matrix, found

    def to_embedding(self, tokens, trainable=False, lowercase_fallback=True, center=True, seed=0, name="word2vec_embedding"):
        """A built `keras.layers.Embedding` for a downstream vocabulary, frozen or trainable.

        Rows come from `embedding_matrix` (same arguments).
        """
        matrix, _ = self.embedding_matrix(tokens, lowercase_fallback=lowercase_fallback, center=center, seed=seed)
        layer = keras.layers.Embedding(matrix.shape[0], matrix.shape[1], trainable=trainable, name=name)
        layer.build((None,))
        layer.set_weights([matrix])
        return layer
