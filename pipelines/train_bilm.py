"""Train the ELMo-style character biLM on plain text: `seqkeras train bilm`.

    seqkeras train bilm                                   # the Wikipedia excerpt, a few minutes on 2 cores
    seqkeras train bilm --corpus wiki,lee,ewt:../shared/data/ud-english-ewt/en_ewt-ud-train.conllu.gz
    seqkeras train bilm --corpus my_text.txt --run-dir runs/bilm-mine
    seqkeras evaluate runs/bilm --data ../shared/data/ud-english-ewt/en_ewt-ud-dev.conllu.gz
    seqkeras embed runs/bilm --text "The cat sat on the mat ." --out vectors.npz

Corpora (`--corpus`, one or more, comma-separated): `wiki` (gensim's Wikipedia excerpt, markup
stripped), `lee` (gensim's Lee news corpus), `ewt:PATH` or any `*.conllu[.gz]` path (the words of
a CoNLL-U file's sentences), or a UTF-8 text file (one sentence or document per line). Text is
split into sentences, tokenised in-graph by the run's `TokenLookup` and sentences outside
`[min_words, max_words]` are dropped; a seeded `valid_fraction` of them is held out. `--exclude`
(the same forms) leaves out every corpus sentence whose words equal one of its sentences: a
downstream model's labelled training sentences (its frozen biLM features on them then look like
those on unseen text) or evaluation text.

One way per input kind:
- Named corpora and single files (above) are loaded into memory: a seeded permutation holds out
  the validation sentences and `batch_sequences` plans each epoch over all sentences (exact
  bucket quantiles, every sentence once per epoch). Held-out figures (EWT dev perplexity, ...)
  are those of this path.
- A file glob (`--corpus 'data/*.txt.gz'`: `*`, `?` or `[` in the entry, which must then be the
  only one; plain or gzip UTF-8 files, one sentence or document per line) is STREAMED with
  `tf.data` (`seqkeras.data.text_files`), so memory does not grow with the corpus: lines are read
  in 1 MiB blocks and split into sentences; a keyed hash of each sentence's text holds out
  `valid_fraction` of them (the first 2,000 held-out sentences are kept for validation); ONE
  streaming pass counts the word and character vocabularies (the same vocabularies as the
  in-memory path on the same training sentences) and the histogram of sentence lengths (bucket
  boundaries, batches per pass); training batches come from a bounded shuffle buffer of
  sentences, encoded by the run's `TokenLookup` in the pipeline and grouped by
  `tf.data.Dataset.bucket_by_sequence_length` (bounded per-bucket buffers): `token_budget` gives
  `token_budget // bucket width` sentences per batch, `bucketed` `batch_size`, `sorted` one
  bucket per length, `random` plain batches. The padding fraction is measured on the first 100
  training batches.

Training uses a sampled softmax by default (`--sampled-softmax 512`: that many words drawn
log-uniformly per direction and step, `seqkeras.losses.sampled_softmax_loss`: the estimator of
`tf.nn.sampled_softmax_loss`, its product in bfloat16 with `--matmul-dtype bfloat16|auto`);
validation, `evaluate` and every perplexity use the full softmax. The optimizer is Adam with each
variable's update in one kernel (`seqkeras.optimizers.FusedAdam`). `--max-minutes` bounds the wall
time of fit.

The run dir holds `model.keras`: a `TextTask(preprocessor=TokenLookup(word split, char vocabulary),
network=<the biLM>, task="bilm")`, so `ElmoEmbedder.from_bilm(task.network)` gives the layers a
downstream model mixes and `task.features(["raw text"])` the inputs it reads. `metrics.json` holds
the held-out perplexity per direction, the corpus size in words, the padding fraction of the
training batches, the training throughput (words/s of the training steps, per CPU-second, and the
load average, and the thread pools: `split_threads`) and `curve`: per epoch, wall and CPU seconds
and words since the start and held-out perplexities.

`main` first gives each op half the cores and runs two ops at a time (`split_threads`), so the
forward and backward LMs train side by side; this sets TensorFlow's thread pools for the process.
"""

import dataclasses
import math
import os
import pathlib
import re
import time

from pipelines import common

BATCHINGS = ("random", "sorted", "bucketed", "token_budget")
SPLITS = ("unicode_script", "whitespace")
BUNDLED = ("wiki", "lee")
GLOB_CHARACTERS = "*?["
HELD_OUT_SENTENCES = 2_000  # validation sentences kept from a streamed --corpus (does not grow with it)
SHUFFLE_SENTENCES = 8_192  # shuffle buffer of a streamed --corpus (raw sentences)
ENCODE_SENTENCES = 256  # sentences encoded at a time by the TokenLookup in a streamed pipeline
PADDING_SAMPLE_BATCHES = 100  # streamed: training batches the padding fraction is measured on


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    # --- data ---
    corpus: tuple = common.field(("wiki",), "corpora: wiki, lee, ewt:PATH (CoNLL-U) or a text file path "
                                            "(one sentence/document per line); or ONE file glob of plain/.gz "
                                            "text files (e.g. 'data/*.txt.gz'), streamed")
    exclude: tuple = common.field((), "corpora (the --corpus forms, not a glob) whose sentences are left out of "
                                      "pretraining: a sentence is dropped when its words equal one of theirs (e.g. "
                                      "a downstream model's labelled training set, or evaluation text)")
    max_sentences: int = common.field(0, "keep the first N sentences of each corpus (0: all)", minimum=0)
    min_words: int = common.field(3, "drop sentences with fewer words (markup leftovers)", minimum=1)
    max_words: int = common.field(50, "drop sentences with more words (lists, tables)", minimum=1)
    valid_fraction: float = common.field(0.05, "share of sentences held out for validation and perplexity",
                                         above=0.0, below=1.0)
    split_seed: int = common.field(0, "seed of the held-out split")
    split: str = common.field("unicode_script", "word split of the in-graph tokenizer: unicode_script "
                                                "(punctuation apart) or whitespace", choices=SPLITS)
    lowercase: bool = common.field(True, "lower-case words for the output vocabulary (characters keep case)")
    vocabulary_size: int = common.field(8000, "softmax width: most frequent words, reserved ids included", minimum=1)
    min_count: int = common.field(2, "rarer words are the <oov> class", minimum=1)
    max_word_length: int = common.field(16, "characters read per word", minimum=1)
    # --- model ---
    char_embedding_dim: int = common.field(16, "character embedding width", minimum=1)
    char_filters: int = common.field(128, "character CNN filters (width of the character word vector)", minimum=1)
    hidden_dim: int = common.field(128, "token layer and each LSTM, per direction", minimum=1)
    num_layers: int = common.field(2, "LSTM layers per direction", minimum=1)
    dropout: float = common.field(0.1, "dropout on what each LSTM and the softmax read", minimum=0.0, below=1.0)
    matmul_dtype: str = common.field("auto", common.MATMUL_DTYPE_HELP, choices=common.MATMUL_DTYPES)
    sampled_softmax: int = common.field(512, "words drawn (log-uniform over the frequency-sorted vocabulary) per "
                                              "direction and training step for a sampled softmax; 0 (or a sample as "
                                              "large as the vocabulary): full softmax (evaluation and perplexities "
                                              "always use the full softmax)", minimum=0)
    # --- training ---
    batching: str = common.field("token_budget", "random, sorted, bucketed or token_budget (batch_sequences)")
    batch_size: int = common.field(32, "sentences per batch (random, sorted, bucketed)", minimum=1)
    token_budget: int = common.field(1024, "words per batch for token_budget batching", minimum=1)
    num_buckets: int = common.field(16, "length buckets (from the length quantiles) for bucketed batchings",
                                    minimum=1)
    epochs: int = common.field(4, "passes over the training sentences (or of steps_per_epoch batches)", minimum=1)
    steps_per_epoch: int = common.field(0, "batches per epoch (0: one full pass)", minimum=0)
    learning_rate: float = common.field(2e-3, "Adam learning rate", above=0.0)
    clipnorm: float = common.field(1.0, "global gradient norm clipping (0: none)", minimum=0)
    seed: int = common.field(0, "weights, dropout and batch shuffling")
    max_minutes: float = common.field(0.0, "stop training after this many minutes of fit (0: no limit); the "
                                           "epoch in progress is cut short and still validated", minimum=0)
    # --- output ---
    run_dir: str = common.field("runs/bilm", "output folder")
    verbose: int = common.field(1, "Keras progress: 0 silent, 1 progress bar, 2 one line per epoch")

    def __post_init__(self):
        common.check_fields(self)
        if not self.corpus:
            raise ValueError("`corpus` must name at least one corpus. Received: corpus=()")
        if self.batching not in BATCHINGS:
            extra = " (packed batches do not fit the biLM's two directions)" if self.batching == "packed" else ""
            raise ValueError(f"`batching` must be one of {BATCHINGS}{extra}. Received: batching={self.batching!r}")
        if self.vocabulary_size <= 4:
            raise ValueError(f"`vocabulary_size` counts the 4 reserved ids and must be > 4. "
                             f"Received: vocabulary_size={self.vocabulary_size}")
        if self.max_words < self.min_words:
            raise ValueError(f"`max_words` must be >= `min_words`. Received: min_words={self.min_words}, "
                             f"max_words={self.max_words}")
        if self.token_budget < self.max_words:
            raise ValueError(f"`token_budget` must hold the longest sentence (max_words={self.max_words}). "
                             f"Received: token_budget={self.token_budget}")
        if any(is_glob(name) for name in self.corpus) and len(self.corpus) > 1:
            raise ValueError(f"a file glob must be the only `corpus` entry (it is streamed). Received: corpus={self.corpus}")
        if self.exclude and is_glob(self.corpus[0]):
            raise ValueError(f"`exclude` needs an in-memory corpus, not a streamed glob. Received: "
                             f"corpus={self.corpus}, exclude={self.exclude}")
        for flag, names in (("corpus", self.corpus), ("exclude", self.exclude)):
            for name in names:
                if name.startswith("ewt:") and not name[4:]:
                    raise ValueError(f"`{flag}` entry ewt:PATH needs a path. Received: {flag} entry {name!r}")
                if flag == "exclude" and is_glob(name):
                    raise ValueError(f"`exclude` takes files, not a glob. Received: exclude entry {name!r}")


# ------------------------------------------------------------------------------------------------
# Text in
# ------------------------------------------------------------------------------------------------
def is_glob(name):
    """A `--corpus` entry with glob characters (`*`, `?`, `[`), not an existing file's name: a streamed set of files."""
    return (not name.startswith("ewt:") and any(character in name for character in GLOB_CHARACTERS)
            and not pathlib.Path(name).is_file())


def streamed(config):
    return is_glob(config.corpus[0])


def is_conllu(path):
    name = str(path)
    return name.endswith(".conllu") or name.endswith(".conllu.gz")


def conllu_sentences(path, flag):
    """A CoNLL-U file's sentences as space-joined words, or a UserError naming `flag`."""
    from seqkeras.data.corpora import read_conllu

    path = pathlib.Path(path)
    if not path.is_file():
        raise common.UserError(f"{flag}: CoNLL-U file not found. Received: {path}")
    try:
        sentences = read_conllu(path)
    except (OSError, EOFError, UnicodeDecodeError, ValueError, KeyError) as error:
        raise common.UserError(f"{flag}: cannot read {path} as CoNLL-U ({type(error).__name__}: "
                               f"{str(error).splitlines()[0] if str(error) else ''})") from None
    texts = [" ".join(sentence.words) for sentence in sentences if sentence.words]
    if not texts:
        raise common.UserError(f"{flag}: {path} holds no sentences")
    return texts


def text_sentences(path, flag):
    """Sentences of a UTF-8 text file (each line split into sentences), or CoNLL-U sentences."""
    from seqkeras.data.corpora import split_sentences

    if is_conllu(path):
        return conllu_sentences(path, flag)
    return [sentence for line in common.read_lines(path, flag) for sentence in split_sentences(line)]


def corpus_sentences(name, flag="--corpus"):
    """Raw sentences (str) of one `--corpus` (or `--exclude`) entry."""
    from seqkeras.data import corpora

    if name == "wiki":
        return corpora.wiki_sentences()
    if name == "lee":
        return [sentence for document in corpora.lee_documents() for sentence in corpora.split_sentences(document)]
    if name.startswith("ewt:"):
        return conllu_sentences(name[4:], flag)
    if not pathlib.Path(name).exists():
        raise common.UserError(f"{flag}: not one of {BUNDLED}, ewt:PATH or an existing file. Received: {name!r}")
    return text_sentences(name, flag)


def check_corpus(config):
    """Every `--corpus` entry names a bundled corpus or an existing file (checked before the run dir opens);
    a glob matches at least one file, not all empty, whose `.gz` files are whole gzip streams of UTF-8
    (`tf.data` alone would read a gzip file cut short up to the cut, silently)."""
    if streamed(config):
        common.check_text_files(corpus_files(config.corpus[0]), "--corpus")
        return
    for flag, names in (("--corpus", config.corpus), ("--exclude", config.exclude)):
        for name in names:
            if name in BUNDLED:
                continue
            path = pathlib.Path(name[4:] if name.startswith("ewt:") else name)
            if not path.is_file():
                raise common.UserError(f"{flag}: not one of {BUNDLED}, ewt:PATH or an existing file. "
                                       f"Received: {name!r}")


def make_preprocessor(config, vocabulary, char_vocabulary):
    from seqkeras.data.token_lookup import TokenLookup

    return TokenLookup(vocabulary, split=config.split, lowercase=config.lowercase, char_vocabulary=char_vocabulary,
                       max_word_length=config.max_word_length, name="bilm_preprocessor")


def tokenize(config, texts):
    """Ragged (N, None) string tokens of texts, with the run's word split."""
    import tensorflow as tf

    from seqkeras.data.tokenization import WordTokenizer

    return WordTokenizer(config.split).tokenize(tf.constant(texts, tf.string))


def word_tuples(config, texts):
    """Each text's words (the run's split, case kept) as a tuple of bytes: what `--exclude` compares."""
    return [tuple(words) for words in tokenize(config, texts).to_list()] if texts else []


def load_corpus(config):
    """`{"train": [...], "valid": [...]}` sentences (str), per-corpus sentence counts and, per corpus, the
    sentences `--exclude` removed."""
    import numpy as np

    excluded = {words for name in config.exclude for words in word_tuples(config, corpus_sentences(name, "--exclude"))}
    sentences, sizes, removed = [], {}, {}
    for name in config.corpus:
        texts = corpus_sentences(name)
        words = word_tuples(config, texts)
        in_range = [(text, row) for text, row in zip(texts, words) if config.min_words <= len(row) <= config.max_words]
        kept = [text for text, row in in_range if row not in excluded]
        if config.exclude:
            removed[name] = len(in_range) - len(kept)
        if config.max_sentences:
            kept = kept[: config.max_sentences]
        if not kept:
            left = " left by --exclude" if excluded else ""
            raise common.UserError(f"--corpus {name}: no sentence of {config.min_words}..{config.max_words} "
                                   f"words{left}")
        sizes[name] = len(kept)
        sentences += kept
    order = np.random.default_rng(config.split_seed).permutation(len(sentences))
    num_valid = max(1, int(round(len(sentences) * config.valid_fraction)))
    if num_valid >= len(sentences):
        raise common.UserError(f"--valid-fraction {config.valid_fraction} leaves no training sentence "
                               f"out of {len(sentences)}")
    valid = [sentences[i] for i in np.sort(order[:num_valid])]
    train = [sentences[i] for i in np.sort(order[num_valid:])]
    return {"train": train, "valid": valid}, sizes, removed


def build_vocabularies(config, texts):
    """Word (lower-cased with `lowercase`) and character vocabularies of the training sentences."""
    import tensorflow as tf

    from seqkeras.data.vocabulary import Vocabulary

    words = tokenize(config, texts).flat_values  # (W,) string
    lookup_words = tf.strings.lower(words, encoding="utf-8") if config.lowercase else words
    vocabulary = Vocabulary.build(tf.data.Dataset.from_tensor_slices(lookup_words).batch(65536),
                                  min_count=config.min_count, max_size=config.vocabulary_size)
    chars = tf.strings.unicode_split(words, "UTF-8")[:, : config.max_word_length].flat_values
    char_vocabulary = Vocabulary.build(tf.data.Dataset.from_tensor_slices(chars).batch(65536))
    return vocabulary, char_vocabulary


def encode(preprocessor, texts, chunk_size=4096):
    """`(token_ids (N, None), char_ids (N, None, None))` ragged int32, through the run's `TokenLookup`."""
    import tensorflow as tf

    token_parts, char_parts = [], []
    for start in range(0, len(texts), chunk_size):
        features = preprocessor(tf.constant(texts[start: start + chunk_size], tf.string))
        lengths = tf.reduce_sum(tf.cast(features["padding_mask"], tf.int64), axis=1)  # (b,)
        token_parts.append(tf.RaggedTensor.from_tensor(features["token_ids"], lengths=lengths))  # (b, (t))
        chars = tf.RaggedTensor.from_tensor(features["char_ids"], lengths=lengths)  # (b, (t), C)
        char_parts.append(chars.with_flat_values(tf.RaggedTensor.from_tensor(chars.flat_values, padding=0)))
    return tf.concat(token_parts, axis=0), tf.concat(char_parts, axis=0)


def to_model_inputs(token_ids, char_ids):
    """A ragged batch -> the biLM's dense `{"token_ids", "char_ids", "padding_mask"}`."""
    import tensorflow as tf

    dense = token_ids.to_tensor()  # (B, T)
    return {
        "token_ids": dense,
        "char_ids": char_ids.to_tensor(),  # (B, T, C)
        "padding_mask": tf.sequence_mask(token_ids.row_lengths(), maxlen=tf.shape(dense)[1]),  # (B, T)
    }


def batches(config, encoded, *, shuffle, strategy=None, batch_size=None):
    """`(dataset of model inputs, ragged dataset, BatchingInfo)` through `batch_sequences`."""
    from seqkeras.data.batching import batch_sequences

    strategy = strategy or config.batching
    ragged, info = batch_sequences(
        encoded, strategy, batch_size=batch_size or config.batch_size, token_budget=config.token_budget,
        num_buckets=config.num_buckets, shuffle=shuffle, seed=config.seed, on_too_long="drop", return_info=True,
    )
    return ragged.map(to_model_inputs), ragged, info


def heldout_batches(preprocessor, texts, batch_size):
    """Sorted, unshuffled batches of any sentences for evaluation."""
    from seqkeras.data.batching import batch_sequences

    encoded = encode(preprocessor, texts)
    ragged = batch_sequences(encoded, "sorted", batch_size=batch_size, shuffle=False)
    return ragged.map(to_model_inputs), encoded


# ------------------------------------------------------------------------------------------------
# A streamed --corpus GLOB (module docstring): memory flat as the corpus grows
# ------------------------------------------------------------------------------------------------
def corpus_files(pattern):
    """The files of a `--corpus` glob, or a one-line UserError: no file, every file empty, or a `.gz`
    file that is not gzip."""
    from seqkeras.data import text_files

    try:
        files = text_files.corpus_files(pattern)
    except ValueError as error:
        raise common.UserError(f"--corpus: {error}") from None
    for path in files:
        if path.endswith(".gz") and os.path.getsize(path):
            with open(path, "rb") as handle:
                if handle.read(2) != b"\x1f\x8b":
                    raise common.UserError(f"--corpus: {path} is not a gzip file (the name ends in .gz). "
                                           f"Received: corpus={pattern!r}")
    if not any(os.path.getsize(path) for path in files):
        raise common.UserError(f"--corpus: every file matching the pattern is empty ({len(files)} files). "
                               f"Received: corpus={pattern!r}")
    return files


def stream_sentences(config, files):
    """The kept sentences of `files` (a dataset of scalar strings, in file order): each line split into
    sentences (`split_sentences`, as for one text file) in 1 MiB blocks, sentences outside
    `[min_words, max_words]` dropped, the first `max_sentences` (0: all)."""
    import numpy as np
    import tensorflow as tf

    from seqkeras.data import text_files
    from seqkeras.data.corpora import split_sentences
    from seqkeras.data.tokenization import WordTokenizer

    blocks = text_files.document_blocks(text_files.line_dataset(files))
    tokenizer = WordTokenizer(config.split)

    def sentence_blocks():
        for block in blocks.as_numpy_iterator():
            texts = [sentence for line in block
                     for sentence in split_sentences(line.decode("utf-8", errors="replace"))]
            if texts:
                yield np.array(texts, dtype=object)

    @tf.autograph.experimental.do_not_convert  # plain graph code: skip AutoGraph's conversion cost
    def kept(block):
        lengths = tokenizer.tokenize(block).row_lengths()
        return tf.boolean_mask(block, (lengths >= config.min_words) & (lengths <= config.max_words))

    sentences = tf.data.Dataset.from_generator(
        sentence_blocks, output_signature=tf.TensorSpec([None], tf.string)).map(kept).unbatch()
    return sentences.take(config.max_sentences) if config.max_sentences else sentences


def stream_splits(config, files):
    """`(train sentences dataset, held-out sentences list)`: a keyed hash of the sentence's text picks
    the held-out `valid_fraction` (`text_files.split_lines`); the first `HELD_OUT_SENTENCES` are kept."""
    from seqkeras.data import text_files

    sentences = stream_sentences(config, files)  # built (traced) once, read by both splits

    def split(name):
        return text_files.split_lines(sentences, name, valid_fraction=config.valid_fraction, test_fraction=0.0,
                                      seed=config.split_seed)

    valid = read_stream(lambda: text_files.take_texts(split("valid"), HELD_OUT_SENTENCES), config.corpus[0])
    if not valid:
        raise common.UserError(f"--corpus {config.corpus[0]!r}: no held-out sentence of {config.min_words}.."
                               f"{config.max_words} words (too little text, or raise --valid-fraction)")
    return split("train"), valid


def read_stream(function, pattern):
    """`function()`, with a read error of the streamed files (corrupt gzip data, ...) as a one-line UserError
    (training checks the files first: `tf.data` alone reads a gzip file cut short up to the cut)."""
    import tensorflow as tf

    try:
        return function()
    except tf.errors.OpError as error:
        common.check_text_files(corpus_files(pattern), "--corpus")  # names the file and byte when it can
        message = re.sub(r"\{\{.*?\}\}|\[Op:.*|\b\w+Error:", " ", (error.message or "").split("\n")[0])
        message = " ".join(message.split()) or type(error).__name__
        raise common.UserError(f"--corpus {pattern!r}: cannot read the files ({message})") from None


def _vocabulary(counter, min_count, max_size, what):
    """`Vocabulary.build`'s selection (count desc, ties by bytes; min_count; max_size) from counts."""
    from seqkeras.data.vocabulary import NUM_RESERVED, Vocabulary

    items = sorted(((token, count) for token, count in counter.items() if count >= min_count),
                   key=lambda item: (-item[1], item[0].encode("utf-8")))
    if not items:
        raise common.UserError(f"--corpus: no {what} occurs at least {min_count} times in the training sentences")
    if max_size is not None:
        items = items[: max_size - NUM_RESERVED]
    return Vocabulary([token for token, _ in items], counts=[count for _, count in items])


def stream_vocabularies(config, train):
    """ONE streaming pass over the training sentences: `(word vocabulary, character vocabulary, length
    histogram)` - the vocabularies `build_vocabularies` gives on the same sentences, and
    `histogram[n]` the number of sentences of n words (0..max_words)."""
    import collections

    import numpy as np
    import tensorflow as tf

    from seqkeras.data.tokenization import WordTokenizer

    tokenizer = WordTokenizer(config.split)

    @tf.autograph.experimental.do_not_convert  # plain graph code: skip AutoGraph's conversion cost
    def counts(batch):
        words = tokenizer.tokenize(batch)  # (b, None)
        flat = words.flat_values
        lookup = tf.strings.lower(flat, encoding="utf-8") if config.lowercase else flat
        word_keys, _, word_counts = tf.unique_with_counts(lookup)
        chars = tf.strings.unicode_split(flat, "UTF-8")[:, : config.max_word_length].flat_values
        char_keys, _, char_counts = tf.unique_with_counts(chars)
        histogram = tf.math.bincount(tf.cast(words.row_lengths(), tf.int32), minlength=config.max_words + 1,
                                     maxlength=config.max_words + 1, dtype=tf.int64)
        return word_keys, word_counts, char_keys, char_counts, histogram

    word_counter, char_counter = collections.Counter(), collections.Counter()
    histogram = np.zeros(config.max_words + 1, np.int64)

    def count_all():
        nonlocal histogram
        for words, word_n, chars, char_n, lengths in train.batch(4096).map(counts).as_numpy_iterator():
            for token, n in zip(words.tolist(), word_n.tolist()):
                word_counter[token.decode("utf-8", errors="replace")] += n
            for token, n in zip(chars.tolist(), char_n.tolist()):
                char_counter[token.decode("utf-8", errors="replace")] += n
            histogram += lengths

    read_stream(count_all, config.corpus[0])
    if not histogram.sum():
        raise common.UserError(f"--corpus {config.corpus[0]!r}: no training sentence of {config.min_words}.."
                               f"{config.max_words} words")
    vocabulary = _vocabulary(word_counter, config.min_count, config.vocabulary_size, "word")
    return vocabulary, _vocabulary(char_counter, 1, None, "character"), histogram


def histogram_buckets(config, histogram):
    """`(boundaries, batch sizes per bucket, batches per pass)` of a streamed corpus, from its length
    histogram: quantile boundaries of the exact histogram (as `length_quantile_boundaries` of a sample), per-bucket sizes as
    `batch_sequences` (`token_budget // longest length of the bucket`, else `batch_size`)."""
    import numpy as np

    lengths = np.flatnonzero(histogram)
    if config.batching == "random":
        boundaries = []
    elif config.batching == "sorted":
        boundaries = [int(n) for n in lengths[1:]]  # one bucket per length
    else:
        cumulative = np.cumsum(histogram)
        quantiles = [int(np.searchsorted(cumulative, q * cumulative[-1], side="left"))
                     for q in np.arange(1, config.num_buckets) / config.num_buckets]
        boundaries = sorted({q + 1 for q in quantiles if lengths[0] < q + 1 <= lengths[-1]})
    edges = [0, *boundaries, len(histogram)]
    sizes, batches_per_pass = [], 0
    for low, high in zip(edges, edges[1:]):
        count = int(histogram[low:high].sum())
        longest = int(np.flatnonzero(histogram[low:high]).max()) + low if count else max(low, 1)
        size = max(1, config.token_budget // longest) if config.batching == "token_budget" else config.batch_size
        sizes.append(size)
        batches_per_pass += -(-count // size)
    return boundaries, sizes, batches_per_pass


def stream_batches(config, train, preprocessor, boundaries, sizes, shuffle=True):
    """Training batches of a streamed corpus: `{"token_ids", "char_ids", "padding_mask"}` dense, from a
    bounded shuffle buffer of sentences, encoded `ENCODE_SENTENCES` at a time, grouped by length
    (`bucket_by_sequence_length`; bounded per-bucket buffers)."""
    import tensorflow as tf

    if shuffle:
        train = train.shuffle(SHUFFLE_SENTENCES, seed=config.seed, reshuffle_each_iteration=True)

    @tf.autograph.experimental.do_not_convert  # plain graph code: skip AutoGraph's conversion cost
    def one_sentence(features):  # one row of a padded batch -> its words and characters only
        length = tf.reduce_sum(tf.cast(features["padding_mask"], tf.int32))
        chars = features["char_ids"][:length]  # (t, C)
        width = tf.reduce_max(tf.reduce_sum(tf.cast(chars != 0, tf.int32), axis=1))
        return {"token_ids": features["token_ids"][:length], "char_ids": chars[:, :width],
                "padding_mask": features["padding_mask"][:length]}

    sentences = train.batch(ENCODE_SENTENCES).map(preprocessor).unbatch().map(one_sentence)
    if not boundaries:
        batched = sentences.padded_batch(sizes[0])
    else:
        batched = sentences.bucket_by_sequence_length(
            lambda features: tf.shape(features["token_ids"])[0], boundaries, sizes)
    return batched.prefetch(tf.data.AUTOTUNE)


def padding_statistics(dataset, num_batches=PADDING_SAMPLE_BATCHES):
    """`{"batches", "real_tokens", "cells", "padding_fraction"}` over the first batches of model inputs."""
    real = cells = batches = 0
    for batch in dataset.take(num_batches):
        mask = batch["padding_mask"].numpy()
        real, cells, batches = real + int(mask.sum()), cells + mask.size, batches + 1
    return {"batches": batches, "real_tokens": real, "cells": cells,
            "padding_fraction": 0.0 if cells == 0 else 1.0 - real / cells}


# ------------------------------------------------------------------------------------------------
# Model
# ------------------------------------------------------------------------------------------------
def build_network(config, vocabulary_size, char_vocabulary_size):
    from seqkeras.models.elmo import build_bidirectional_lm

    return build_bidirectional_lm(
        vocabulary_size, char_vocabulary_size, char_embedding_dim=config.char_embedding_dim,
        char_filters=config.char_filters, hidden_dim=config.hidden_dim, num_layers=config.num_layers,
        dropout=config.dropout, train_matmul_dtype=common.train_matmul_dtype(config.matmul_dtype), name="bilm",
    )


def build_optimizer(config):
    from seqkeras.optimizers import FusedAdam  # Keras' Adam update in one kernel per variable

    return FusedAdam(config.learning_rate, global_clipnorm=config.clipnorm or None)


def perplexities(network, dataset, encoded):
    """Held-out figures: perplexity per direction, targets and the OOV rate of the words."""
    from seqkeras.data.vocabulary import OOV_ID

    if getattr(network, "optimizer", None) is None:
        network.compile("adam")
    result = network.evaluate(dataset, verbose=0, return_dict=True)
    token_ids, _ = encoded
    flat = token_ids.flat_values.numpy()
    lengths = token_ids.row_lengths().numpy()
    return {
        "forward_perplexity": math.exp(result["forward_loss"]),
        "backward_perplexity": math.exp(result["backward_loss"]),
        "sentences": int(lengths.size),
        "words": int(flat.size),
        "targets_per_direction": int((lengths - 1).clip(min=0).sum()),
        "oov_rate": float((flat == OOV_ID).mean()) if flat.size else 0.0,
    }


def _training_clock(max_minutes, words_per_step):
    """A callback timing the training steps (validation left out) and stopping after `max_minutes`.

    `steps`, `seconds` and `cpu_seconds` count the steps after the first (which traces the graph);
    `curve` holds one row per epoch: wall and process CPU seconds and words since the start of fit,
    and the validation perplexities.
    """
    import keras

    class TrainingClock(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.started, self.cpu_started = time.perf_counter(), time.process_time()
            self.steps, self.seconds, self.cpu_seconds, self.total_steps, self.curve = 0, 0.0, 0.0, 0, []
            self.mark = None

        def on_train_batch_begin(self, batch, logs=None):
            if self.total_steps:  # the first step traces the graph: not counted
                self.mark = (time.perf_counter(), time.process_time())

        def on_train_batch_end(self, batch, logs=None):
            if self.mark is not None:
                self.seconds += time.perf_counter() - self.mark[0]
                self.cpu_seconds += time.process_time() - self.mark[1]
                self.steps += 1
                self.mark = None
            self.total_steps += 1
            if max_minutes and time.perf_counter() - self.started > 60 * max_minutes:
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            row = {"epoch": epoch + 1, "seconds": round(time.perf_counter() - self.started, 1),
                   "cpu_seconds": round(time.process_time() - self.cpu_started, 1),
                   "words": int(round(self.total_steps * words_per_step)), "load_average": os.getloadavg()[0]}
            for direction in ("forward", "backward"):
                if f"val_{direction}_loss" in logs:
                    row[f"val_{direction}_perplexity"] = math.exp(float(logs[f"val_{direction}_loss"]))
            self.curve.append(row)

        def words_per_s(self):
            return self.steps * words_per_step / self.seconds if self.seconds else float("nan")

        def words_per_cpu_s(self):
            return self.steps * words_per_step / self.cpu_seconds if self.cpu_seconds else float("nan")

    return TrainingClock()


# ------------------------------------------------------------------------------------------------
# Train
# ------------------------------------------------------------------------------------------------
def main(config=TrainConfig(), resume=False, overwrite=False, callbacks=()):
    """Trains, evaluates on the held-out sentences and saves the run; returns a results dict.

    `callbacks`: Keras callbacks given to `fit` after the pipeline's own (e.g. weight snapshots).
    """
    import keras
    import tensorflow as tf

    from seqkeras.data.batching import BatchingInfo, epoch_statistics
    from seqkeras.models.common.text_task import TextTask

    threads = common.split_threads()  # first: before TensorFlow's first op
    check_corpus(config)
    run_dir = common.open_run_dir(config, "bilm", resume=resume, overwrite=overwrite)
    keras.utils.set_random_seed(config.seed)
    started = time.time()

    # === Data ===
    if streamed(config):  # --corpus GLOB: one streaming vocabulary pass, tf.data batches (module docstring)
        train_stream, valid_texts = stream_splits(config, corpus_files(config.corpus[0]))  # checked by check_corpus
        vocabulary, char_vocabulary, histogram = stream_vocabularies(config, train_stream)
        texts = {"train": train_stream, "valid": valid_texts}
        preprocessor = make_preprocessor(config, vocabulary, char_vocabulary)
        encoded = {"valid": encode(preprocessor, valid_texts)}
        boundaries, sizes, batches_per_pass = histogram_buckets(config, histogram)
        train_data = stream_batches(config, train_stream, preprocessor, boundaries, sizes)
        padding = read_stream(lambda: padding_statistics(train_data), config.corpus[0])
        padding["real_tokens"] = int((histogram * range(len(histogram))).sum())  # the whole pass
        padding["padding_sample_batches"] = PADDING_SAMPLE_BATCHES
        info = BatchingInfo(config.batching, int(histogram.sum()), 0, 0, boundaries, sizes, [], batches_per_pass)
        train_words, train_sentences = padding["real_tokens"], int(histogram.sum())
        corpus_sizes, excluded_sizes = {config.corpus[0]: train_sentences + len(valid_texts)}, {}
    else:
        texts, corpus_sizes, excluded_sizes = load_corpus(config)
        vocabulary, char_vocabulary = build_vocabularies(config, texts["train"])
        preprocessor = make_preprocessor(config, vocabulary, char_vocabulary)
        encoded = {split: encode(preprocessor, split_texts) for split, split_texts in texts.items()}
        train_data, train_ragged, info = batches(config, encoded["train"], shuffle=True)
        padding = epoch_statistics(train_ragged)
        train_words, train_sentences = int(encoded["train"][0].flat_values.shape[0]), len(texts["train"])
    valid_data, _, _ = batches(config, encoded["valid"], shuffle=False, strategy="sorted", batch_size=64)
    if config.steps_per_epoch:
        train_data = train_data.repeat()
    if config.verbose:
        print(f"corpus {','.join(config.corpus)}: {train_sentences} training sentences ({train_words} words), "
              f"{len(texts['valid'])} held out"
              + (f" ({sum(excluded_sizes.values())} left out by --exclude)" if config.exclude else "")
              + f"; vocabulary {vocabulary.size} words, {char_vocabulary.size} "
              f"characters; {config.batching} batches: {info.batches_per_epoch} per pass, padding "
              f"{padding['padding_fraction']:.1%}", flush=True)

    # === Model ===
    network = build_network(config, vocabulary.size, char_vocabulary.size)
    num_sampled = config.sampled_softmax if config.sampled_softmax < vocabulary.size else 0  # else: the full softmax
    network.compile(build_optimizer(config), num_sampled=num_sampled)

    # === Training ===
    clock = _training_clock(config.max_minutes, padding["real_tokens"] / info.batches_per_epoch)
    load_before = os.getloadavg()[0]
    callbacks = common.standard_callbacks(run_dir) + [clock, *callbacks]
    history = network.fit(
        train_data, validation_data=valid_data, epochs=config.epochs,
        steps_per_epoch=config.steps_per_epoch or None, callbacks=callbacks, verbose=config.verbose, shuffle=False,
    )
    common.raise_if_diverged(callbacks)
    task = TextTask(preprocessor=preprocessor, network=common.inference_copy(network), task="bilm", name="bilm_task")
    task(tf.constant(texts["valid"][:1]))  # builds the task through the raw-string path
    common.save_model(task, run_dir / common.MODEL_FILE)
    train_seconds = time.time() - started

    # === Held-out perplexity, metrics, TensorBoard ===
    heldout = perplexities(network, valid_data, encoded["valid"])
    summary = {
        "heldout_forward_perplexity": heldout["forward_perplexity"],
        "heldout_backward_perplexity": heldout["backward_perplexity"],
        "heldout": heldout,
        "corpus_words": train_words + heldout["words"],
        "corpus_sentences": train_sentences + len(texts["valid"]),
        "streamed": streamed(config),
        "corpus_sentences_per_corpus": corpus_sizes,
        "excluded_sentences_per_corpus": excluded_sizes,  # removed by --exclude (before max_sentences)
        "train_words": train_words,
        "vocabulary_size": vocabulary.size,
        "char_vocabulary_size": char_vocabulary.size,
        "batching": {"strategy": config.batching, "batches_per_pass": info.batches_per_epoch,
                     "padding_fraction": padding["padding_fraction"], "boundaries": info.boundaries},
        "padding_fraction": padding["padding_fraction"],
        # words/s of the training steps after the first (validation and tracing left out); per CPU-second
        # too, and the load average, since other processes may share the cores
        "tokens_per_s": clock.words_per_s(),
        "tokens_per_cpu_s": clock.words_per_cpu_s(),
        "load_average": {"before": load_before, "after": os.getloadavg()[0]},
        "threads": threads,
        "train_matmul_dtype": network.train_matmul_dtype or "float32",
        "softmax": f"sampled ({num_sampled} per step)" if num_sampled else "full",
        "train_steps": clock.total_steps,
        "stopped_by_max_minutes": bool(config.max_minutes) and clock.total_steps < (
            config.epochs * (config.steps_per_epoch or info.batches_per_epoch)),
        "curve": clock.curve,
        "train_seconds": round(train_seconds, 1),
    }
    history_dict = {key: [float(v) for v in values] for key, values in history.history.items()}
    history_dict["epoch"] = list(history.epoch)
    metrics = common.update_metrics(run_dir, history=history_dict, **summary)
    common.log_hparams(run_dir, config, summary)
    common.plot_history(metrics["history"], run_dir / "training_curves.png", title="biLM")
    if config.verbose:
        print(f"held-out perplexity: forward {heldout['forward_perplexity']:.1f}, backward "
              f"{heldout['backward_perplexity']:.1f} over {heldout['words']} words ({heldout['oov_rate']:.1%} "
              f"<oov>); {summary['tokens_per_s']:.0f} words/s (load average {summary['load_average']['after']:.1f}), padding {summary['padding_fraction']:.1%}; "
              f"corpus {summary['corpus_words']} words; model saved to {run_dir / common.MODEL_FILE}")
    return {**summary, "task": task, "network": network, "history": history_dict, "texts": texts,
            "vocabulary": vocabulary, "char_vocabulary": char_vocabulary, "batching_info": info,
            "train_data": train_data, "run_dir": run_dir}


# ------------------------------------------------------------------------------------------------
# Later commands
# ------------------------------------------------------------------------------------------------
def load_task(run):
    """The run's `TextTask` (raw strings in), checked to hold a biLM."""
    task = common.load_model(run.model_path)
    if getattr(task, "task", None) != "bilm" or not hasattr(task, "preprocessor"):
        raise common.UserError(f"{run.model_path} is not a biLM TextTask; retrain the run")
    return task


def evaluate_texts(run, data):
    """Sentences to evaluate: `--data` (text file or CoNLL-U), else the run's held-out sentences."""
    if data is None:
        config = run.train_config()
        if streamed(config):
            return stream_splits(config, corpus_files(config.corpus[0]))[1]
        return load_corpus(config)[0]["valid"]
    texts = text_sentences(data, "--data")
    if not texts:
        raise common.UserError(f"--data: {data} holds no sentences")
    return texts


def evaluate(run, args):
    """Forward/backward perplexity on `--data`, printed as a table."""
    task = load_task(run)
    texts = evaluate_texts(run, args.data)
    dataset, encoded = heldout_batches(task.preprocessor, texts, args.batch_size)
    figures = perplexities(task.network, dataset, encoded)
    print(f"{'direction':<10} {'perplexity':>11} {'targets':>9}")
    for direction in ("forward", "backward"):
        print(f"{direction:<10} {figures[f'{direction}_perplexity']:>11.2f} {figures['targets_per_direction']:>9}")
    print(f"{figures['sentences']} sentences, {figures['words']} words, {figures['oov_rate']:.1%} <oov>")
    return {"data": str(args.data) if args.data else "heldout", **figures}


def configure(parser):
    common.add_config_arguments(parser, TrainConfig)


def run(args):
    config = common.config_from_args(TrainConfig, args)
    main(config, resume=args.resume, overwrite=args.overwrite)
