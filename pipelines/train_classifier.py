"""Train a sentence classifier: `seqkeras train classifier`, and its evaluate / predict.

    seqkeras train classifier --train train.tsv --dev dev.tsv          # label<TAB>text per line
    seqkeras train classifier --train en_ewt-ud-train.conllu.gz --dev en_ewt-ud-dev.conllu.gz \\
        --label-from sent-id-prefix                                    # EWT genre from the sentence id
    seqkeras train classifier ... --embeddings runs/word2vec --contextual runs/bilm
    seqkeras evaluate runs/classifier --data dev.tsv
    seqkeras predict runs/classifier --text "Thanks for the quick reply!"

The model: word embedding + character CNN (+ the biLM mix), a BiLSTM pooled over the real words
(`TextBackbone` + `build_classifier`); with `--wide-buckets N` (the default) a linear tf-idf bag
of word and character n-grams is added to its logits (`build_wide_and_deep_classifier`, the genre
benchmark's model). The run dir holds `config.json`, `model.keras` (a `TextTask`: raw strings in,
label names inside), `metrics.json`, `tb/`, `ckpt/`, `training_curves.png`; `evaluate` adds
`eval-<data>.json` and `confusion-<data>.png`.
"""

import dataclasses
import json

from pipelines import _text_tasks, common

LABEL_SOURCES = ("", "sent-id-prefix")
SPLITS = ("auto", "whitespace", "unicode_script")
POOLINGS = ("mean", "max", "sum", "mean_max")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    # --- data ---
    train: str = common.field("", "training file: TSV (label<TAB>text per line) or CoNLL-U with --label-from")
    dev: str = common.field("", "development file (same format): validation after each epoch, final figures")
    label_from: str = common.field("", 'CoNLL-U input: "sent-id-prefix" takes the label from the sentence id '
                                       '(the part before the first "-", e.g. EWT genres)', choices=LABEL_SOURCES)
    split: str = common.field("auto", 'how texts split into words: "whitespace", "unicode_script" (punctuation '
                                      'apart), or "auto" (whitespace for CoNLL-U, unicode_script for TSV)',
                              choices=SPLITS)
    max_train_sentences: int = common.field(0, "use only the first N training examples (0: all)", minimum=0)
    # --- words ---
    min_count: int = common.field(2, "a lower-cased word needs this many training occurrences to get its own id",
                                  minimum=1)
    lowercase: bool = common.field(True, "lower-case words for the word lookup (characters keep their case)")
    max_word_length: int = common.field(16, "characters per word read by the character encoder", minimum=1)
    embeddings: str = common.field("", "word2vec run dir or word2vec text/binary file initialising the word "
                                       "embedding (its width must equal --embedding-dim)")
    freeze_embeddings: bool = common.field(False, "keep the word embedding fixed during training")
    contextual: str = _text_tasks.contextual_field()
    contextual_dropout: float = _text_tasks.contextual_dropout_field()
    contextual_layer_norm: bool = _text_tasks.contextual_layer_norm_field()
    # --- model ---
    # Defaults: the genre benchmark's choice by 4-fold cross-validation over EWT training documents
    # (bench_tasks "wide_and_small_deep", best out-of-fold accuracy at 2 epochs); dev played no part.
    embedding_dim: int = common.field(64, "word embedding width", minimum=1)
    char_embedding_dim: int = common.field(16, "character embedding width", minimum=1)
    char_filters: int = common.field(16, "character CNN filters = character word-vector width (0: no characters)",
                                     minimum=0)
    hidden_dim: int = common.field(32, "LSTM units per direction", minimum=1)
    num_layers: int = common.field(1, "stacked BiLSTM layers", minimum=1)
    pooling: str = common.field("mean_max", "mean, max, sum or mean_max over the real words", choices=POOLINGS)
    dropout: float = common.field(0.5, "dropout on the word features, after each BiLSTM layer and on the bag",
                                  minimum=0.0, below=1.0)
    wide_buckets: int = common.field(200_000, "wide & deep: word-bigram buckets of the linear n-gram branch "
                                              "added to the logits (0: no wide branch)", minimum=0)
    wide_char_buckets: int = common.field(2**18, "wide branch: character 2-5-gram buckets (0: words only)", minimum=0)
    wide_scale: float = common.field(5.0, "wide branch output scale (multiplies its effective learning rate)",
                                     above=0.0)
    bigram_buckets: int = common.field(0, "wide & deep: hashed bigram-embedding bag beside the pooled "
                                               "encoder (0: none)", minimum=0)
    # --- training ---
    epochs: int = common.field(2, "passes over the training examples", minimum=1)
    # Sorted (length-sorted batches of batch_size sentences, batch order shuffled), not the token budget of
    # the token-level pipelines: the loss is one per sentence, and a token budget packs hundreds of short
    # sentences into one step. Genre cross-validation on EWT training documents (benchmarks/genre_experiment,
    # same folds and candidates): pooled out-of-fold accuracy 0.633 sorted vs 0.616 token budget.
    batching: str = common.field("sorted", "sorted (length-sorted batches of batch-size examples, order shuffled), "
                                           "random, bucketed or token_budget (buckets from length quantiles); "
                                           "packed does not fit this model", choices=_text_tasks.BATCHINGS)
    batch_size: int = common.field(64, "examples per batch (random/sorted/bucketed); sets the default token budget",
                                   minimum=1)
    token_budget: int = common.field(0, "tokens per token_budget batch (0: batch-size x mean text length)", minimum=0)
    num_buckets: int = common.field(16, "length buckets for bucketed/token_budget batching", minimum=1)
    learning_rate: float = common.field(1e-3, "AdamW learning rate", above=0.0)
    weight_decay: float = common.field(0.1, "AdamW decoupled weight decay (0: Adam)", minimum=0)
    clipnorm: float = common.field(0.0, "gradient norm clipping (0: none)", minimum=0)
    seed: int = common.field(0, "weights, dropout and batch shuffling")
    # --- output ---
    run_dir: str = common.field("runs/classifier", "output folder (see the module docstring)")
    verbose: int = common.field(2, "Keras progress: 0 silent, 1 progress bar, 2 one line per epoch")

    def __post_init__(self):
        common.check_fields(self)
        _text_tasks.check_batching(self)
        if self.wide_buckets == 1 or self.bigram_buckets == 1:
            raise ValueError("hash buckets must be 0 (off) or >= 2. "
                             f"Received: wide_buckets={self.wide_buckets}, bigram_buckets={self.bigram_buckets}")
        if self.wide_char_buckets and self.wide_buckets and not self.char_filters:
            raise ValueError("`wide_char_buckets` reads the characters; it needs char_filters > 0 "
                             f"(or wide_char_buckets=0). Received: char_filters={self.char_filters}")
        if self.contextual and not self.char_filters:
            raise ValueError("`contextual` feeds the biLM the classifier's characters; it needs char_filters > 0. "
                             f"Received: char_filters={self.char_filters}")


# ----------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------
def is_conllu(path):
    return str(path).endswith((".conllu", ".conllu.gz"))


def read_examples(path, label_from, flag):
    """`(texts, labels)` of a TSV or (with `label_from`) CoNLL-U file; UserErrors name `flag`."""
    if is_conllu(path):
        if label_from != "sent-id-prefix":
            raise common.UserError(f"{flag}: {path} is CoNLL-U; pass --label-from sent-id-prefix to label its "
                                   "sentences by their id prefix (or give a TSV file)")
        from seqkeras.data.conllu import read_conllu_sentences

        try:
            sentences = read_conllu_sentences(path, "upos")
        except (ValueError, FileNotFoundError) as error:
            raise common.UserError(f"{flag}: {str(error).splitlines()[0]}") from None
        if not sentences:
            raise common.UserError(f"{flag}: {path} holds no CoNLL-U sentence")
        no_prefix = [s.sent_id for s in sentences if "-" not in str(s.sent_id)]
        if no_prefix:
            raise common.UserError(f"{flag}: sentence id {no_prefix[0]!r} has no '-'-separated prefix to label it with")
        return [" ".join(s.words) for s in sentences], [str(s.sent_id).split("-", 1)[0] for s in sentences]
    if label_from:
        raise common.UserError(f"{flag}: --label-from {label_from} applies to CoNLL-U files (.conllu, .conllu.gz). "
                               f"Received: {path}")
    texts, labels = [], []
    for number, line in enumerate(common.read_text_file(path, flag).splitlines(), start=1):
        if not line.strip():
            continue
        label, tab, text = line.partition("\t")
        if not tab or not label.strip() or not text.strip():
            raise common.UserError(f"{flag}: {path} line {number} is not 'label<TAB>text'. Received: {line[:60]!r}")
        texts.append(text.strip())
        labels.append(label.strip())
    if not texts:
        raise common.UserError(f"{flag}: {path} has no 'label<TAB>text' lines")
    return texts, labels


def resolved_split(config):
    if config.split != "auto":
        return config.split
    return "whitespace" if is_conllu(config.train) else "unicode_script"


def build_lookup(config, texts, bilm_lookup=None):
    """The classifier's `TokenLookup`: its word vocabulary from the training texts, split as configured."""
    import tensorflow as tf

    from seqkeras.data.tokenization import WordTokenizer
    from seqkeras.models.common import build_word_lookup

    split = resolved_split(config)
    words = [[w.decode("utf-8") for w in row] for row in WordTokenizer(split).tokenize(tf.constant(texts)).to_list()]
    try:
        return build_word_lookup(
            words, min_count=config.min_count, characters=bool(config.char_filters), lowercase=config.lowercase,
            max_word_length=config.max_word_length, split=split,
            char_vocabulary=bilm_lookup.char_vocabulary if bilm_lookup is not None else None,
        )
    except ValueError as error:  # no word reaches min_count: too little training text
        raise common.UserError(f"--train: {error} Lower --min-count or give more training texts.") from None


def build_network(config, lookup, num_classes, embedding_weights=None, contextual_layers=None, name=None):
    """`build_classifier`, or `build_wide_and_deep_classifier` with `wide_buckets`; every field mapped
    (`name`: the model's name, default the builder's)."""
    from pipelines.train_tagger import backbone_options
    from seqkeras.models.classifier import build_classifier, build_wide_and_deep_classifier
    from seqkeras.models.common import TextBackbone

    backbone = TextBackbone(lookup.vocabulary_size,
                            **backbone_options(config, lookup, embedding_weights, contextual_layers))
    named = {"name": name} if name else {}
    if not config.wide_buckets:
        return build_classifier(num_classes=num_classes, pooling=config.pooling, backbone=backbone, **named)
    return build_wide_and_deep_classifier(
        num_classes=num_classes, pooling=config.pooling, backbone=backbone, wide_buckets=config.wide_buckets,
        wide_scale=config.wide_scale, wide_char_buckets=config.wide_char_buckets or None,
        bigram_buckets=config.bigram_buckets or None, head_dropout=config.dropout, **named,
    )


def prepared_network(config, lookup, num_classes, train_data, embedding_weights=None, contextual_layers=None,
                     name=None):
    """`build_network`, with the wide branch's n-gram idf adapted on `train_data` (the training texts)."""
    network = build_network(config, lookup, num_classes, embedding_weights, contextual_layers, name)
    if config.wide_buckets:
        network.get_layer("wide_ngram_logits").adapt(train_data)
    return network


def loss():
    import keras

    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


# ----------------------------------------------------------------------------------------------
# Train
# ----------------------------------------------------------------------------------------------
def train_network(config, texts, label_ids, num_classes, lookup=None, callbacks=(), name=None):
    """The pipeline's model and training, without a run directory: for cross-validation.

    The same lookup, batches, network, optimizer and loss as `seqkeras train classifier` (no
    `--embeddings`/`--contextual`, no validation); `config.train`/`config.dev` are not read.

    Args:
        config: a `TrainConfig`; its `epochs`, `seed`, model and batching fields apply.
        texts: training texts (split as `config.split` resolves).
        label_ids: int class of each text, in `[0, num_classes)`.
        num_classes: output width.
        lookup: a `TokenLookup` to use (default: `build_lookup(config, texts)`).
        callbacks: Keras callbacks for `fit` (e.g. held-out probabilities after every epoch).
        name: the network's name (distinct names let `build_ensemble` wrap several).

    Returns:
        `(network, lookup)`; `TextTask(lookup, network)` turns raw texts into logits.

    Example:
        >>> config = TrainConfig(split="whitespace", epochs=2)   # doctest: +SKIP
        >>> network, lookup = train_network(config, ["good day", "bad day"], [1, 0], 2)   # doctest: +SKIP
    """
    import keras

    keras.utils.set_random_seed(config.seed)
    lookup = lookup if lookup is not None else build_lookup(config, texts)
    train_data, _ = _text_tasks.batches(config, lookup, texts, list(label_ids), train=True)
    network = prepared_network(config, lookup, num_classes, train_data, name=name)
    _text_tasks.compile_network(config, network, loss())
    network.fit(train_data, epochs=config.epochs, callbacks=list(callbacks), verbose=0, shuffle=False)
    return network, lookup


def main(config, resume=False, overwrite=False):
    """Trains, saves and scores on dev; returns a dict (`metrics`, `task`, `datasets`, ...)."""
    # === Everything the user gave, checked before the run dir opens (files parsed: a corrupt one leaves no run) ===
    _text_tasks.check_input_file(config.train, "--train")
    _text_tasks.check_input_file(config.dev, "--dev")
    if config.embeddings:
        _text_tasks.vectors_path(config.embeddings)
    _text_tasks.check_contextual_path(config.contextual)
    texts, labels = read_examples(config.train, config.label_from, "--train")
    if config.max_train_sentences:
        texts, labels = texts[: config.max_train_sentences], labels[: config.max_train_sentences]
    dev_texts, dev_labels = read_examples(config.dev, config.label_from, "--dev")
    run_dir = common.open_run_dir(config, "classifier", resume=resume, overwrite=overwrite)

    import keras

    keras.utils.set_random_seed(config.seed)

    # === The text path ===
    names = sorted(set(labels))
    dev_only = {name: dev_labels.count(name) for name in sorted(set(dev_labels) - set(names))}
    names += list(dev_only)  # dev-only labels: never trained on, so their examples count as errors
    if dev_only:
        print(f"note: --dev has {len(dev_only)} label(s) never seen in --train, {dev_only} of {len(dev_labels)} "
              f"examples; they are scored as errors")
    index = {name: i for i, name in enumerate(names)}
    embedder, bilm_lookup = _text_tasks.load_contextual(config.contextual) if config.contextual else (None, None)
    lookup = build_lookup(config, texts, bilm_lookup)
    train_data, statistics = _text_tasks.batches(config, lookup, texts, [index[x] for x in labels], train=True)
    dev_data = _text_tasks.batches(config, lookup, dev_texts, [index[x] for x in dev_labels], train=False)

    # === Model ===
    weights, found = None, None
    if config.embeddings:
        weights, found = _text_tasks.load_embedding_weights(config.embeddings, lookup, config.embedding_dim,
                                                            config.seed)
    network = prepared_network(config, lookup, len(names), train_data, weights, embedder)

    # === Training ===
    task, summary, history = _text_tasks.fit_task(
        config, run_dir, network, lookup, names, "classifier", train_data, dev_data, loss(), statistics,
    )
    if found is not None:
        summary["embeddings_found"] = found
    summary["dev_only_labels"] = dev_only

    # === Final dev figures ===
    result = score(task, dev_texts, dev_labels)
    metrics = _text_tasks.finish_run(config, run_dir, "classifier", history, summary,
                                     {key: result[key] for key in ("accuracy", "macro_f1", "examples", "per_class")})
    print(f"classifier: dev accuracy {result['accuracy']:.4f}, macro-F1 {result['macro_f1']:.4f} over "
          f"{result['examples']} examples, {summary['real_tokens_per_second']:.0f} real tokens/s, padding "
          f"{summary['padding_fraction']:.1%} ({config.batching}); run saved to {run_dir}")
    return {"metrics": metrics, "task": task, "lookup": lookup, "labels": names, "summary": summary,
            "datasets": {"train": train_data, "dev": dev_data}, "train_texts": texts}


def probabilities(task, texts, batch_size=64):
    """Class probabilities `(N, C)` of raw texts."""
    import numpy as np

    logits = np.stack(task.predict_texts(texts, batch_size=batch_size))  # (N, C)
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def score(task, texts, gold, batch_size=64):
    import numpy as np

    predicted = [task.labels[i] for i in probabilities(task, texts, batch_size).argmax(-1)]
    table, macro_f1 = _text_tasks.class_report(gold, predicted, task.labels)
    return {"accuracy": float(np.mean([p == g for p, g in zip(predicted, gold)])), "macro_f1": round(macro_f1, 4),
            "examples": len(gold), "per_class": table, "gold": gold, "predicted": predicted}


# ----------------------------------------------------------------------------------------------
# The commands
# ----------------------------------------------------------------------------------------------
def configure(parser):
    common.add_config_arguments(parser, TrainConfig)


def run(args):
    main(common.config_from_args(TrainConfig, args), resume=args.resume, overwrite=args.overwrite)


def evaluate(run, args):
    """`seqkeras evaluate RUN --data F`: accuracy, macro-F1, per-class table, confusion PNG."""
    from pipelines.evaluate import data_name

    data = args.data or run.config["dev"]
    texts, gold = read_examples(data, run.config["label_from"], "--data")
    task = _text_tasks.load_labelled_task(run)
    result = score(task, texts, gold, args.batch_size)
    labels = [name for name in task.labels if name in set(gold) | set(result["predicted"])]
    png = _text_tasks.save_confusion_png(gold, result["predicted"], labels,
                                         run.path / f"confusion-{data_name(data)}.png", "confusion (row-normalised)")
    _text_tasks.print_class_table(result["per_class"])
    print(f"accuracy {result['accuracy']:.4f}, macro-F1 {result['macro_f1']:.4f} over {result['examples']} "
          f"examples; confusion: {png}")
    return {"data": str(data), **{key: result[key] for key in ("accuracy", "macro_f1", "examples", "per_class")},
            "confusion_png": str(png)}


PREDICT_FORMATS = ("jsonl",)  # `predict --format` choices, the default first


def predict(run, args):
    """`seqkeras predict RUN (--text T | --file F)`: one JSON line per text, label and probabilities."""
    import tensorflow as tf

    from pipelines.predict import write_output

    from pipelines.predict import inputs

    texts = inputs(args)
    task = _text_tasks.load_labelled_task(run)
    split = task.preprocessor.tokenizer.tokenize(tf.constant(texts)).row_lengths().numpy()
    empty = [text for text, length in zip(texts, split) if length == 0]
    if empty:
        raise common.UserError(f"--text/--file: a text has no words. Received: {empty[0]!r}")
    rows = probabilities(task, texts, args.batch_size)
    lines = []
    for text, row in zip(texts, rows):
        lines.append(json.dumps({"text": text, "label": task.labels[int(row.argmax())],
                                 "probabilities": {name: round(float(p), 6) for name, p in zip(task.labels, row)}},
                                ensure_ascii=False) + "\n")
    write_output("".join(lines), args.out)
    return 0
