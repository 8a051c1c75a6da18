"""Train a part-of-speech tagger on CoNLL-U files: `seqkeras train tagger`, and its evaluate / predict.

    seqkeras train tagger --train en_ewt-ud-train.conllu.gz --dev en_ewt-ud-dev.conllu.gz
    seqkeras train tagger --train T.conllu --dev D.conllu --column xpos --run-dir runs/xpos
    seqkeras train tagger ... --embeddings runs/word2vec   # word2vec-initialised words; every word2vec word gets an id
    seqkeras train tagger ... --embeddings runs/word2vec --freeze-embeddings --no-embeddings-vocabulary
    seqkeras train tagger ... --contextual runs/bilm                           # + frozen biLM layer mix (ELMo)
    seqkeras evaluate runs/tagger --data en_ewt-ud-dev.conllu.gz
    seqkeras predict runs/tagger --file sentences.txt      # one sentence per line, whitespace-tokenised
    seqkeras predict runs/tagger --file D.conllu --out tagged.conllu
    seqkeras train tagger ... --distribute multi-worker --workers h1:2222,h2:2222 --task-index I  # or TF_CONFIG
    seqkeras train tagger ... --distribute mirrored       # every GPU (or 2 logical CPUs) of this machine

The model: lower-cased word embedding (with word dropout: training words read as <oov> at
random, so the unseen-word path learns) + character CNN (+ the biLM mix), two stacked BiLSTM
layers, one linear layer per token (`TextBackbone` + `build_tagger`). Training runs
`seqkeras.distribute.StrategyTrainer`, the same loop on one device, on one machine's GPUs and on
several machines (docs/DISTRIBUTED.md):
the loss is the sum of the token losses of all replicas over all their real tokens, the accuracy
a sum of counts, and `ckpt/steps` resumes a killed run at its last step (`--checkpoint-every`).
Training holds out `--validation-fraction` of
the training *documents* (sent_id prefixes) and stops early on their token accuracy, keeping the
best epoch's weights; `--dev` is read once, for the final figures. The defaults are the benchmark
recipe (`benchmarks/bench_tasks.py` upos), chosen on that inner validation split
(`benchmarks/results/tagger_selection.json`). The run dir holds `config.json`, `model.keras` (a `TextTask`:
raw strings in, tag names inside), `training_words.txt` (for the unseen-word accuracy),
`metrics.json`, `tb/`, `ckpt/`, `training_curves.png`; `evaluate` adds `eval-<data>.json` and
`confusion-<data>.png`.
"""

import dataclasses
import json
import pathlib

from pipelines import _text_tasks, common, distributed

COLUMNS = ("upos", "xpos")
TRAINING_WORDS_FILE = "training_words.txt"


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    # --- data ---
    train: str = common.field("", "training CoNLL-U file (.conllu or .conllu.gz)")
    dev: str = common.field("", "development CoNLL-U file: the final figures (and the per-epoch validation when "
                                "--validation-fraction is 0)")
    column: str = common.field("upos", 'the tag column to learn: "upos" or "xpos"', choices=COLUMNS)
    max_train_sentences: int = common.field(0, "use only the first N training sentences (0: all)", minimum=0)
    validation_fraction: float = common.field(0.1, "share of the training documents (sent_id prefixes) held out "
                                                   "for validation and early stopping (0: validate on --dev)",
                                              minimum=0.0, below=0.5)
    # --- words ---
    min_count: int = common.field(2, "a lower-cased word needs this many training occurrences to get its own id",
                                  minimum=1)
    lowercase: bool = common.field(True, "lower-case words for the word lookup (characters keep their case)")
    max_word_length: int = common.field(16, "characters per word read by the character encoder", minimum=1)
    embeddings: str = common.field("", "word2vec run dir or word2vec text/binary file initialising the word "
                                       "embedding (its width must equal --embedding-dim)")
    freeze_embeddings: bool = common.field(False, "keep the word embedding fixed during training")
    embeddings_vocabulary: bool = common.field(True, "also give an id to every --embeddings word, so words rare or "
                                                      "unseen in training keep their pretrained vector")
    contextual: str = _text_tasks.contextual_field()
    contextual_dropout: float = _text_tasks.contextual_dropout_field()
    contextual_layer_norm: bool = _text_tasks.contextual_layer_norm_field()
    # --- model ---
    embedding_dim: int = common.field(100, "word embedding width", minimum=1)
    char_embedding_dim: int = common.field(16, "character embedding width", minimum=1)
    char_filters: int = common.field(100, "character CNN filters = character word-vector width (0: no characters)",
                                     minimum=0)
    hidden_dim: int = common.field(128, "LSTM units per direction", minimum=1)
    num_layers: int = common.field(2, "stacked BiLSTM layers", minimum=1)
    dropout: float = common.field(0.33, "dropout on the word features and after each BiLSTM layer",
                                  minimum=0.0, below=1.0)
    word_dropout: float = common.field(0.2, "probability of reading a training word as <oov> (trains the "
                                            "unseen-word path)", minimum=0.0, below=1.0)
    # --- training ---
    epochs: int = common.field(20, "most passes over the training sentences", minimum=1)
    patience: int = common.field(4, "stop after this many epochs without a better validation accuracy and keep "
                                    "the best epoch's weights (0: run every epoch, keep the last)", minimum=0)
    batching: str = common.field("token_budget", "random, sorted, bucketed or token_budget (buckets from length "
                                                 "quantiles); packed does not fit this model",
                                 choices=_text_tasks.BATCHINGS)
    batch_size: int = common.field(32, "sentences per batch (random/sorted/bucketed); sets the default token budget",
                                   minimum=1)
    token_budget: int = common.field(0, "tokens per token_budget batch (0: batch-size x mean sentence length)",
                                     minimum=0)
    num_buckets: int = common.field(16, "length buckets for bucketed/token_budget batching", minimum=1)
    learning_rate: float = common.field(2e-3, "Adam learning rate", above=0.0)
    clipnorm: float = common.field(0.0, "gradient norm clipping (0: none)", minimum=0)
    seed: int = common.field(0, "weights, dropout and batch shuffling (and which documents --validation-fraction "
                                "holds out)")
    ensemble: int = common.field(1, "train this many taggers (seeds seed, seed+1, ...; the same validation documents, "
                                    "each stopped early on them) and save one model averaging their tag "
                                    "probabilities", minimum=1)
    # --- distribution (docs/DISTRIBUTED.md) ---
    distribute: str = common.field("none", '"none", "mirrored" (GPUs or 2 logical CPUs of this machine) or '
                                           '"multi-worker" (TF_CONFIG / --workers)', deployment=True,
                                   choices=distributed.KINDS)
    workers: str = common.field("", 'multi-worker cluster "host:port,host:port" (builds TF_CONFIG; empty: read '
                                    'TF_CONFIG)', deployment=True)
    task_index: int = common.field(0, "this process's index in --workers (0 is the chief)", deployment=True,
                                   minimum=0)
    checkpoint_every: int = common.field(0, "steps between resume checkpoints in ckpt/steps (0: at epoch ends only)",
                                         deployment=True, minimum=0)
    # --- output ---
    run_dir: str = common.field("runs/tagger", "output folder (see the module docstring)")
    verbose: int = common.field(2, "Keras progress: 0 silent, 1 progress bar, 2 one line per epoch")

    def __post_init__(self):
        common.check_fields(self)
        _text_tasks.check_batching(self)
        if self.contextual and not self.char_filters:
            raise ValueError("`contextual` feeds the biLM the tagger's characters; it needs char_filters > 0. "
                             f"Received: char_filters={self.char_filters}")


# ----------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------
def read_sentences(path, column, flag):
    """CoNLL-U sentences (`seqkeras.data.conllu`), a UserError naming `flag` for a bad file."""
    from seqkeras.data.conllu import read_conllu_sentences

    try:
        sentences = read_conllu_sentences(path, column)
    except (ValueError, FileNotFoundError) as error:
        raise common.UserError(f"{flag}: {str(error).splitlines()[0]}") from None
    if not sentences:
        raise common.UserError(f"{flag}: {path} holds no CoNLL-U sentence")
    return sentences


def check_tags(sentences, column, flag):
    missing = sum(tag in (None, "_") for sentence in sentences for tag in sentence.tags)
    if missing:
        raise common.UserError(f"{flag}: {missing} words have no {column} tag (column '_'); choose another --column")


def load_data(config):
    """`(train, dev)` sentence lists."""
    train = read_sentences(config.train, config.column, "--train")
    if config.max_train_sentences:
        train = train[: config.max_train_sentences]
    dev = read_sentences(config.dev, config.column, "--dev")
    check_tags(train, config.column, "--train")
    check_tags(dev, config.column, "--dev")
    return train, dev


def document_of(sentence):
    """The document of a sentence: its sent_id without the trailing "-<number>" (EWT's convention)."""
    return (sentence.sent_id or "").rsplit("-", 1)[0]


def split_documents(sentences, fraction, seed=0):
    """`(train, validation)`: a random `fraction` of the training *documents* held out whole.

    Sentences of one document share words and topic, and dev/test come from unseen documents,
    so the validation part holds whole documents. With fewer than 10 documents (no usable
    sent_ids) every sentence counts as its own document.
    """
    import numpy as np

    documents = [document_of(sentence) for sentence in sentences]
    if len(set(documents)) < 10:
        documents = list(range(len(sentences)))
    names = sorted(set(documents))
    held = max(1, int(round(fraction * len(names))))
    if held >= len(names):
        raise common.UserError(f"--validation-fraction {fraction} leaves no training document "
                               f"({len(names)} documents in --train)")
    validation = set(np.random.default_rng(seed).permutation(len(names))[:held].tolist())
    held_names = {names[i] for i in validation}
    train = [s for s, d in zip(sentences, documents) if d not in held_names]
    return train, [s for s, d in zip(sentences, documents) if d in held_names]


def texts_of(sentences):
    return [" ".join(sentence.words) for sentence in sentences]


def build_lookup(config, train, bilm_lookup=None):
    """The tagger's `TokenLookup` (the biLM's character vocabulary with --contextual: its encoder reads them)."""
    from seqkeras.models.common import build_word_lookup

    word_lists = [sentence.words for sentence in train]
    if config.embeddings_vocabulary and config.embeddings:
        # Each pretrained word counted `min_count` times: it gets an id even if training never shows it.
        pretrained = _text_tasks.load_keyed_vectors(config.embeddings).index_to_key
        if bilm_lookup is None and config.char_filters:  # the characters stay those of the training words
            bilm_lookup = build_word_lookup(word_lists, characters=True, max_word_length=config.max_word_length)
        word_lists = word_lists + [[word] * config.min_count for word in pretrained]
    try:
        return build_word_lookup(
            word_lists, min_count=config.min_count, characters=bool(config.char_filters),
            lowercase=config.lowercase, max_word_length=config.max_word_length,
            char_vocabulary=bilm_lookup.char_vocabulary if bilm_lookup is not None else None,
        )
    except ValueError as error:  # no word reaches min_count: too little training text
        raise common.UserError(f"--train: {error} Lower --min-count or give more training sentences.") from None


def backbone_options(config, lookup, embedding_weights=None, contextual_layers=None):
    """The `TextBackbone` arguments, every model field mapped explicitly."""
    return dict(
        hidden_dim=config.hidden_dim,
        num_layers=config.num_layers,
        embedding_dim=config.embedding_dim,
        dropout=config.dropout,
        embedding_weights=embedding_weights,
        embedding_trainable=not config.freeze_embeddings,
        char_vocabulary_size=lookup.char_vocabulary.size if lookup.has_chars else None,
        char_embedding_dim=config.char_embedding_dim,
        char_filters=config.char_filters or 1,
        contextual_layers=contextual_layers,
        contextual_dropout=config.contextual_dropout,
        contextual_layer_norm=config.contextual_layer_norm,
        word_dropout=getattr(config, "word_dropout", 0.0),  # the classifier config has no word dropout
    )


def pretrained_inputs(config):
    """`(embedder or None, biLM lookup or None)`; embedding weights come later (they need the lookup)."""
    if not config.contextual:
        return None, None
    return _text_tasks.load_contextual(config.contextual)


# ----------------------------------------------------------------------------------------------
# Train
# ----------------------------------------------------------------------------------------------
def main(config, resume=False, overwrite=False):
    """Trains, saves and scores on dev; returns a dict (`metrics`, `task`, `datasets`, ...)."""
    distributed.setup(config)  # TF_CONFIG from --workers/--task-index, before TensorFlow starts
    # === Everything the user gave, checked before the run dir opens (files parsed: a corrupt one leaves no run) ===
    _text_tasks.check_input_file(config.train, "--train")
    _text_tasks.check_input_file(config.dev, "--dev")
    if config.embeddings:
        _text_tasks.vectors_path(config.embeddings)
    _text_tasks.check_contextual_path(config.contextual)
    train, dev = load_data(config)
    chief = distributed.is_chief(config)  # only the chief writes the run dir; other workers only log
    run_dir = (common.open_run_dir(config, "tagger", resume=resume, overwrite=overwrite) if chief
               else pathlib.Path(config.run_dir))

    import keras

    from seqkeras.models.common import TextTask, build_ensemble
    from seqkeras.models.tagger import build_tagger

    strategy = distributed.make_strategy(config)  # first TensorFlow call: collectives / logical CPUs
    keras.utils.set_random_seed(config.seed)

    # === The text path ===
    # Tag names: training tags, then any tag only dev has (never predicted; counted as errors).
    tags = sorted({tag for sentence in train for tag in sentence.tags})
    tags += sorted({tag for sentence in dev for tag in sentence.tags} - set(tags))
    tag_index = {tag: index for index, tag in enumerate(tags)}
    # Validation (early stopping, best checkpoint): held-out training documents, so --dev is read
    # once, at the end; with --validation-fraction 0 the old protocol validates on --dev every epoch.
    if config.validation_fraction:
        train, validation = split_documents(train, config.validation_fraction, config.seed)
    else:
        validation = dev
    embedder, bilm_lookup = pretrained_inputs(config)
    lookup = build_lookup(config, train, bilm_lookup)
    train_texts, train_targets = texts_of(train), [[tag_index[t] for t in s.tags] for s in train]
    train_data, statistics = _text_tasks.batches(config, lookup, train_texts, train_targets, train=True)
    validation_data = _text_tasks.batches(
        config, lookup, texts_of(validation), [[tag_index[t] for t in s.tags] for s in validation], train=False)

    # === Models (variables mirrored on every replica / worker), one per ensemble member ===
    members, engines, histories, steps_per_epoch = [], [], [], []
    for member in range(config.ensemble):
        member_config = dataclasses.replace(config, seed=config.seed + member)
        if member:  # the member's own weights, dropout and batch order; the same validation documents
            keras.utils.set_random_seed(member_config.seed)
            train_data, statistics = _text_tasks.batches(member_config, lookup, train_texts, train_targets,
                                                         train=True)
        weights, found = None, None
        if config.embeddings:
            weights, found = _text_tasks.load_embedding_weights(config.embeddings, lookup, config.embedding_dim,
                                                                member_config.seed)
        name = "tagger" if config.ensemble == 1 else f"tagger_{member}"
        with strategy.scope():
            network = build_tagger(lookup.vocabulary_size, len(tags), name=name,
                                   **backbone_options(config, lookup, weights, embedder))
            # Compiled for `network.evaluate`/`predict` by users; training runs the StrategyTrainer loop
            # with the compiled optimizer.
            compile_for_users(config, network)
        task = TextTask(lookup, network, labels=list(tags), task="tagger")

        # === Training ===
        history, engine = fit_under_strategy(config, strategy, run_dir, network, network.optimizer, task, train_data,
                                             statistics[0].batches_per_epoch, validation_data,
                                             member=member if config.ensemble > 1 else None)
        members.append(network)
        engines.append(engine)
        histories.append(history)
        steps_per_epoch.append(statistics[0].batches_per_epoch)  # a member's own shuffle: its own batch count
    if config.ensemble > 1:
        with strategy.scope():
            network = build_ensemble(members, name="tagger")
            compile_for_users(config, network)
            network.optimizer.build(network.trainable_variables)  # saved built, as it loads (no mismatch warning)
        task = TextTask(lookup, network, labels=list(tags), task="tagger")
    if not chief:  # a non-chief worker has done its share; the chief saves, scores and reports
        return {"history": histories[0], "task": task, "lookup": lookup, "tags": tags}
    common.raise_if_diverged(engines)  # a non-finite loss: one line, no model saved
    common.save_model(task, run_dir / common.MODEL_FILE)
    summary = training_summary(config, engines, statistics, strategy, steps_per_epoch)
    if found is not None:
        summary["embeddings_found"] = found
    summary["train_sentences"] = len(train)
    summary["validation"] = (f"{len(validation)} sentences of {len({document_of(s) for s in validation})} held-out "
                             f"training documents" if config.validation_fraction else "--dev")
    training_words = sorted({_key(word, config.lowercase) for sentence in train for word in sentence.words})
    (run_dir / TRAINING_WORDS_FILE).write_text("\n".join(training_words) + "\n", encoding="utf-8")

    if config.ensemble > 1:  # the members' figures above; the ensemble's on the same validation sentences
        summary["ensemble_validation_accuracy"] = score(task, validation, set(training_words), config.lowercase,
                                                        tags)["accuracy"]

    # === Final dev figures ===
    dev_metrics = score(task, dev, set(training_words), config.lowercase, tags)
    metrics = _text_tasks.finish_run(config, run_dir, "tagger", histories[0] if config.ensemble == 1 else None,
                                     summary, {key: dev_metrics[key] for key in ("accuracy", "unseen_accuracy",
                                                                                 "tokens", "unseen_tokens", "per_tag")})
    stopped = (f"best epoch {summary['best_epoch']} of {summary['epochs_run']}, " if "best_epoch" in summary else
               f"ensemble of {config.ensemble} (validation {summary['ensemble_validation_accuracy']:.4f}), "
               if config.ensemble > 1 else "")
    unseen = "n/a" if dev_metrics["unseen_accuracy"] is None else f"{dev_metrics['unseen_accuracy']:.4f}"
    speed = summary["real_tokens_per_second"]
    print(f"tagger: dev {config.column} accuracy {dev_metrics['accuracy']:.4f} (unseen words "
          f"{unseen}), {stopped}{speed or 0:.0f} real tokens/s, "
          f"padding {summary['padding_fraction']:.1%} ({config.batching}); run saved to {run_dir}")
    return {"metrics": metrics, "task": task, "lookup": lookup, "tags": tags, "summary": summary,
            "datasets": {"train": train_data, "validation": validation_data}, "train_sentences": train,
            "validation_sentences": validation, "trainer": engines[0], "trainers": engines}


def compile_for_users(config, network):
    """The tagger's loss, token accuracy and the configured optimizer (`_text_tasks.compile_network`)."""
    from seqkeras.losses import MaskedSparseCategoricalCrossentropy
    from seqkeras.models.common import TokenAccuracy

    _text_tasks.compile_network(config, network, MaskedSparseCategoricalCrossentropy(from_logits=True),
                                TokenAccuracy(name="accuracy"))


def fit_under_strategy(config, strategy, run_dir, network, optimizer, task, train_data, steps, validation_data,
                       member=None):
    """Trains `network` with `seqkeras.distribute.StrategyTrainer`, the one loop of the default,
    mirrored and multi-worker strategies; resumes exactly from `ckpt/steps`.

    Every worker builds the same global batches (seeded shuffles) and each replica takes its rows
    (`split_global_batches`); the loss is the sum of the token losses of all replicas over all
    their real tokens, the accuracy a sum of correct-token counts. With `--patience` training
    stops on the validation accuracy and keeps the best epoch's weights. On the chief, each epoch
    end writes metrics.json's history (so it survives a kill) and, on a better validation
    accuracy, `ckpt/best.keras`. Ensemble member `k` (`member`, None for a single tagger) keeps
    all of these apart: `ckpt/member_k/`, `tb/member_k/` and metrics.json's `members[k]` history.

    Returns:
        (history {metric: [...], "epoch": [...]} of the epochs trained in this call, the StrategyTrainer).
    """
    from seqkeras.distribute import StrategyTrainer, masked_token_replica_loss, split_global_batches

    ckpt, tb = (run_dir / "ckpt", run_dir / "tb") if member is None else (
        run_dir / "ckpt" / f"member_{member}", run_dir / "tb" / f"member_{member}")
    engine = StrategyTrainer(
        strategy, network, optimizer, masked_token_replica_loss(network),
        checkpoint_dir=ckpt / "steps", checkpoint_every=config.checkpoint_every, log_dir=tb,
        count_metrics=["accuracy"], monitor="val_accuracy", mode="max", patience=config.patience,
        autograph=False,  # the step has no Python control flow on tensors
    )
    valid_steps = int(validation_data.reduce(0, lambda count, _: count + 1))

    def on_epoch_end(epoch, logs):
        if member is None:
            common.update_metrics(run_dir, history={**{key: [value] for key, value in logs.items()}, "epoch": [epoch]})
        else:
            record_member_epoch(run_dir, member, epoch, logs)
        if engine.improved:
            common.save_model(task, ckpt / "best.keras")

    history = distributed.fit_engine(
        config, engine, strategy,
        dataset_fn=lambda context: split_global_batches(train_data.repeat(), context),
        epochs=config.epochs, steps_per_epoch=steps,
        valid_dataset_fn=lambda context: split_global_batches(validation_data, context), valid_steps=valid_steps,
        on_epoch_end=on_epoch_end, verbose=config.verbose,
    )
    return history, engine


def record_member_epoch(run_dir, member, epoch, logs):
    """Ensemble member `member`'s epoch logs into metrics.json's `members[member]["history"]` (from its
    `epoch` on, so a resumed member continues its own curve)."""
    import json

    path = pathlib.Path(run_dir) / common.METRICS_FILE
    members = json.loads(path.read_text()).get("members", []) if path.exists() else []
    members += [{"history": {}} for _ in range(member + 1 - len(members))]
    members[member]["history"] = common.merge_history(
        members[member].get("history", {}), {**{key: [value] for key, value in logs.items()}, "epoch": [epoch]})
    common.update_metrics(run_dir, members=members)


def early_stopping_summary(engine, batches_per_epoch):
    best_epoch = int(engine.best_epoch.numpy())
    return {"epochs_run": int(engine.step.numpy()) // batches_per_epoch,
            "best_epoch": best_epoch + 1 if best_epoch >= 0 else None,
            "best_validation_accuracy": float(engine.best_monitor.numpy()) if best_epoch >= 0 else None}


def training_summary(config, engines, train_statistics, strategy, steps_per_epoch):
    """Batching, throughput (real tokens/s of the training steps) and the early-stopping outcome
    (an ensemble's: per member, beside its history in `members`; `steps_per_epoch` per member)."""
    seconds = [seconds for engine in engines for seconds in engine.epoch_seconds]
    summary = {**_text_tasks.batching_summary(config, train_statistics, seconds),
               "distribute": config.distribute, "replicas": strategy.num_replicas_in_sync}
    if config.patience and len(engines) == 1:
        summary.update(early_stopping_summary(engines[0], steps_per_epoch[0]))
    elif config.patience:
        summary["members"] = [early_stopping_summary(engine, steps) for engine, steps in zip(engines, steps_per_epoch)]
    return summary


def _key(word, lowercase):
    return word.lower() if lowercase else word


def tag_sentences(task, sentences, batch_size=64):
    """Predicted tag names per sentence (`TextTask.predict_texts` on the words joined by spaces)."""
    outputs = task.predict_texts(texts_of(sentences), batch_size=batch_size)
    return [[task.labels[i] for i in logits.argmax(-1)] for logits in outputs]


def score(task, sentences, training_words, lowercase, tags, batch_size=64):
    """Token accuracy, accuracy on words not in `training_words`, per-tag table, and the flat lists."""
    import numpy as np

    predicted = [tag for tags_ in tag_sentences(task, sentences, batch_size) for tag in tags_]
    gold = [tag for sentence in sentences for tag in sentence.tags]
    unseen = np.array([_key(word, lowercase) not in training_words for s in sentences for word in s.words])
    correct = np.array([p == g for p, g in zip(predicted, gold)])
    table, macro_f1 = _text_tasks.class_report(gold, predicted, tags)
    return {
        "accuracy": float(correct.mean()),
        "unseen_accuracy": float(correct[unseen].mean()) if unseen.any() else None,
        "tokens": int(correct.size),
        "unseen_tokens": int(unseen.sum()),
        "macro_f1": round(macro_f1, 4),
        "per_tag": table,
        "gold": gold,
        "predicted": predicted,
    }


# ----------------------------------------------------------------------------------------------
# The commands
# ----------------------------------------------------------------------------------------------
def configure(parser):
    common.add_config_arguments(parser, TrainConfig)


def run(args):
    main(common.config_from_args(TrainConfig, args), resume=args.resume, overwrite=args.overwrite)


def evaluate(run, args):
    """`seqkeras evaluate RUN --data F.conllu`: accuracy, unseen-word accuracy, per-tag table, confusion PNG."""
    from pipelines.evaluate import data_name

    config = run.config
    data = args.data or config["dev"]
    sentences = read_sentences(data, config["column"], "--data")
    check_tags(sentences, config["column"], "--data")
    task = _text_tasks.load_labelled_task(run)
    words_path = run.path / TRAINING_WORDS_FILE
    training_words = set(words_path.read_text(encoding="utf-8").split("\n")) if words_path.is_file() else set()
    result = score(task, sentences, training_words, config["lowercase"], task.labels, args.batch_size)
    labels = [tag for tag in task.labels if tag in set(result["gold"]) | set(result["predicted"])]
    png = _text_tasks.save_confusion_png(result["gold"], result["predicted"], labels,
                                         run.path / f"confusion-{data_name(args.data or data)}.png",
                                         f"{config['column']} confusion (row-normalised)")
    _text_tasks.print_class_table(result["per_tag"], header=config["column"])
    unseen = "n/a" if result["unseen_accuracy"] is None else f"{result['unseen_accuracy']:.4f}"
    print(f"{config['column']} accuracy {result['accuracy']:.4f} over {result['tokens']} tokens; words unseen in "
          f"training {unseen} over {result['unseen_tokens']}; macro-F1 {result['macro_f1']:.4f}; confusion: {png}")
    return {"data": str(data), "column": config["column"],
            **{key: result[key] for key in ("accuracy", "unseen_accuracy", "tokens", "unseen_tokens", "macro_f1",
                                            "per_tag")},
            "confusion_png": str(png)}


PREDICT_FORMATS = ("jsonl", "conllu")  # `predict --format` choices (a .conllu --file defaults to conllu)


def predict(run, args):
    """`seqkeras predict RUN`: CoNLL-U with the tag column filled (default for .conllu input) or JSONL."""
    from pipelines.predict import inputs, write_output
    from seqkeras.data.conllu import sentence_from_words, write_conllu

    column = run.config["column"]
    file = str(args.file) if args.file is not None else ""
    if file.endswith((".conllu", ".conllu.gz")):
        sentences = read_sentences(args.file, column, "--file")
        sentences += [sentence_from_words(text.split()) for text in args.text if text.split()]
        fmt = args.format or "conllu"
    else:
        sentences = [sentence_from_words(text.split()) for text in inputs(args) if text.split()]
        fmt = args.format or "jsonl"
        if not sentences:
            raise common.UserError("no words to tag: every --text / --file line is blank")
    task = _text_tasks.load_labelled_task(run)
    tags = tag_sentences(task, sentences, args.batch_size)
    if fmt == "conllu":
        text = write_conllu(sentences, tags, column)
    else:
        text = "".join(json.dumps({"words": list(s.words), column: t}, ensure_ascii=False) + "\n"
                       for s, t in zip(sentences, tags))
    write_output(text, args.out)
    return 0
