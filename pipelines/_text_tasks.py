"""What the tagger and classifier pipelines share (private): pretrained inputs, the fit, the reports.

- `contextual_field` / `contextual_dropout_field` / `contextual_layer_norm_field`: the
  `--contextual*` config fields of both pipelines;
- `check_input_file` / `load_embedding_weights` / `load_contextual`: `--train/--dev` files,
  `--embeddings` (a word2vec run dir or a word2vec text/binary file, read by gensim's
  `KeyedVectors`) and `--contextual` (a biLM run dir, whose `model.keras` is a `TextTask`
  around the bidirectional LM), checked before any data loads;
- `fit_task`: compile, batches through `text_batches`, fit with the standard callbacks, the
  throughput (real tokens/s, padding fraction), save the `TextTask`, metrics.json, hparams, curves;
- `class_report` / `save_confusion_png`: per-class precision/recall/F1 and a confusion-matrix PNG.

No TensorFlow at import time (`seqkeras train tagger --help` stays fast).
"""

import pathlib
import time

from pipelines import common

BATCHINGS = ("random", "sorted", "bucketed", "token_budget", "packed")


# ----------------------------------------------------------------------------------------------
# Config fields both pipelines declare (one definition, one help text)
# ----------------------------------------------------------------------------------------------
def contextual_field():
    return common.field("", "biLM run dir: its layers, frozen, are mixed into the word features (ELMo)")


def contextual_dropout_field():
    return common.field(0.0, "dropout on the mixed biLM layers (--contextual); 0 and the layer norm were chosen on "
                             "held-out training documents of a 4,000-sentence tagger (README, bench_elmo)",
                        minimum=0.0, below=1.0)


def contextual_layer_norm_field():
    return common.field(True, "normalise each biLM layer per word before the mix (--contextual)")


# ----------------------------------------------------------------------------------------------
# Inputs, checked before any data loads
# ----------------------------------------------------------------------------------------------
def check_input_file(path, flag):
    """A UserError naming `flag` unless `path` is a non-empty file."""
    if not path:
        raise common.UserError(f"{flag} is required (a file path)")
    path = pathlib.Path(path)
    if not path.is_file():
        raise common.UserError(f"{flag}: file not found. Received: {path}")
    if path.stat().st_size == 0:
        raise common.UserError(f"{flag}: {path} is empty")
    return path


def check_batching(config):
    """Refuses packed batches (the TrainConfig's declared bounds are checked by `common.check_fields`)."""
    if config.batching == "packed":
        raise ValueError("`batching`='packed' gives PackedSequence batches, which the tagger and classifier "
                         "(dense ids + padding mask) cannot read; use token_budget, bucketed, sorted or random. "
                         "Received: batching='packed'")


def vectors_path(embeddings):
    """The word2vec file of `--embeddings`: the file itself, or a word2vec run dir's vectors file."""
    path = pathlib.Path(embeddings)
    if path.is_dir():
        for name in ("vectors.bin", "vectors.txt"):
            if (path / name).is_file():
                return path / name
        raise common.UserError(f"--embeddings: {path} is a folder without vectors.bin or vectors.txt (not a word2vec run)")
    return check_input_file(path, "--embeddings")


def load_keyed_vectors(embeddings):
    """gensim `KeyedVectors` of `--embeddings` (binary when the file is not text)."""
    from gensim.models import KeyedVectors

    path = vectors_path(embeddings)
    with open(path, "rb") as handle:
        head = handle.read(4096)
    binary = path.suffix == ".bin" or b"\0" in head
    try:
        return KeyedVectors.load_word2vec_format(str(path), binary=binary)
    except (ValueError, UnicodeDecodeError, EOFError, OSError, IndexError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise common.UserError(f"--embeddings: {path} is not a word2vec text or binary file ({first})") from None


def load_embedding_weights(embeddings, lookup, embedding_dim, seed=0):
    """`[vocabulary_size, dim]` initial embedding: a word's vector where the file has it (the
    word, else its lower-cased form), small random values elsewhere; and the hit count."""
    import numpy as np

    vectors = load_keyed_vectors(embeddings)
    if vectors.vector_size != embedding_dim:
        raise common.UserError(f"--embedding-dim {embedding_dim} differs from the width of the --embeddings vectors "
                               f"({vectors.vector_size}); pass --embedding-dim {vectors.vector_size}")
    rng = np.random.default_rng(seed)
    scale = float(np.std(vectors.vectors)) or 0.1
    weights = rng.normal(0.0, scale, size=(lookup.vocabulary_size, embedding_dim)).astype("float32")
    weights[0] = 0.0  # padding
    found = 0
    for index, token in enumerate(lookup.tokens):
        for key in (token, token.lower()):
            if index >= 4 and key in vectors.key_to_index:
                weights[index] = vectors[key]
                found += 1
                break
    return weights, found


def load_contextual(contextual):
    """`(ElmoEmbedder, biLM TokenLookup)` from a biLM run dir (or its model.keras)."""
    from seqkeras.models.common import TextTask
    from seqkeras.models.elmo import ElmoEmbedder

    path = pathlib.Path(contextual)
    model_path = path / common.MODEL_FILE if path.is_dir() else path
    task = common.load_model(model_path, what="--contextual model")
    if not isinstance(task, TextTask) or getattr(task.preprocessor, "char_vocabulary", None) is None:
        raise common.UserError(f"--contextual: {model_path} is not a biLM run's model (a TextTask whose preprocessor "
                               f"gives char_ids). Received: {type(task).__name__}")
    try:
        embedder = ElmoEmbedder.from_bilm(task.network)
    except ValueError as error:
        raise common.UserError(f"--contextual: {model_path} holds no biLM ({str(error).splitlines()[0]})") from None
    return embedder, task.preprocessor


def check_contextual_path(contextual):
    if not contextual:
        return
    path = pathlib.Path(contextual)
    model_path = path / common.MODEL_FILE if path.is_dir() else path
    if not model_path.is_file():
        raise common.UserError(f"--contextual: no biLM model found. Received: {contextual} (expected a run dir "
                               f"with {common.MODEL_FILE})")


# ----------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------
def throughput_callback():
    """Seconds spent training (validation excluded), per epoch."""
    import keras

    class TrainingSeconds(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds, self._start = [], None

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def _stop(self):
            if self._start is not None:
                self.seconds.append(time.perf_counter() - self._start)
                self._start = None

        def on_test_begin(self, logs=None):
            self._stop()

        def on_epoch_end(self, epoch, logs=None):
            self._stop()

    return TrainingSeconds()


def batches(config, lookup, texts, targets, *, train):
    """Training batches (the configured strategy, shuffled) or evaluation batches (sorted, fixed)."""
    from seqkeras.models.common import text_batches

    try:
        if train:
            return text_batches(lookup, texts, targets, batching=config.batching, batch_size=config.batch_size,
                                token_budget=config.token_budget or None, num_buckets=config.num_buckets,
                                shuffle=True, seed=config.seed, return_info=True)
        return text_batches(lookup, texts, targets, batching="sorted", batch_size=config.batch_size, shuffle=False)
    except ValueError as error:
        raise common.UserError(f"{'--train' if train else '--dev'}: {str(error).splitlines()[0]}") from None


def batching_summary(config, train_statistics, epoch_seconds):
    """metrics.json's batching and throughput block: real tokens/s over the training steps of each epoch."""
    info, statistics = train_statistics
    seconds = sum(epoch_seconds)
    return {
        "batching": config.batching,
        "batches_per_epoch": info.batches_per_epoch,
        "bucket_boundaries": list(info.boundaries),
        "padding_fraction": round(statistics["padding_fraction"], 4),
        "real_tokens_per_epoch": statistics["real_tokens"],
        "train_seconds": round(seconds, 1),
        "real_tokens_per_second": (round(statistics["real_tokens"] * len(epoch_seconds) / seconds, 1)
                                   if seconds else None),
    }


def compile_network(config, network, loss, accuracy=None):
    """Compiles `network` with the configured optimizer (AdamW with `weight_decay`, else Adam; `clipnorm`),
    `loss` and an "accuracy" metric (see `fit_task`)."""
    import keras

    weight_decay = getattr(config, "weight_decay", 0.0)
    if weight_decay:
        optimizer = keras.optimizers.AdamW(config.learning_rate, weight_decay=weight_decay,
                                           clipnorm=config.clipnorm or None)
    else:
        optimizer = keras.optimizers.Adam(config.learning_rate, clipnorm=config.clipnorm or None)
    network.compile(
        optimizer=optimizer,
        loss=loss,
        metrics=[] if accuracy else [keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        weighted_metrics=[accuracy] if accuracy else None,  # Keras gives sample weights to these only
    )


def fit_task(config, run_dir, network, lookup, labels, family, train_data, dev_data, loss, train_statistics,
             accuracy=None):
    """Compiles and fits `network`, saves the `TextTask`; returns `(task, fit_summary)`.

    `accuracy`: the "accuracy" metric (default `SparseCategoricalAccuracy`; taggers pass
    `TokenAccuracy`, which counts real tokens exactly; it is compiled as a weighted metric). With `config.patience` the fit stops
    early on the validation accuracy and keeps the best epoch's weights.
    """
    import keras

    from seqkeras.models.common import TextTask

    compile_network(config, network, loss, accuracy)
    timer = throughput_callback()
    callbacks = common.standard_callbacks(run_dir) + [timer]
    patience = getattr(config, "patience", 0)
    stopper = None
    if patience:
        # Early stopping on the validation accuracy; the best epoch's weights are the ones saved.
        stopper = keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=patience,
                                                restore_best_weights=True)
        callbacks.append(stopper)
    history = network.fit(train_data, validation_data=dev_data, epochs=config.epochs, callbacks=callbacks,
                          verbose=config.verbose, shuffle=False)
    common.raise_if_diverged(callbacks)
    task = TextTask(lookup, network, labels=list(labels), task=family)
    common.save_model(task, pathlib.Path(run_dir) / common.MODEL_FILE)
    summary = batching_summary(config, train_statistics, timer.seconds)
    if stopper is not None:
        accuracies = [float(value) for value in history.history.get("val_accuracy", [])]
        summary["epochs_run"] = len(accuracies)
        summary["best_epoch"] = int(max(range(len(accuracies)), key=accuracies.__getitem__)) + 1 if accuracies else None
        summary["best_validation_accuracy"] = max(accuracies) if accuracies else None
    history_dict = {"epoch": list(history.epoch), **{k: [float(v) for v in vs] for k, vs in history.history.items()}}
    return task, summary, history_dict


def finish_run(config, run_dir, family, history, summary, dev_metrics):
    """metrics.json (history + final dev + throughput), the HParams dashboard and the curve PNG
    (`history` None: an ensemble, whose members' histories metrics.json already holds)."""
    metrics = common.update_metrics(run_dir, history=history, training=summary, dev=dev_metrics)
    scalars = {f"dev_{key}": value for key, value in dev_metrics.items() if isinstance(value, (int, float))}
    scalars.update(padding_fraction=summary["padding_fraction"],
                   real_tokens_per_second=summary["real_tokens_per_second"] or 0.0)
    common.log_hparams(run_dir, config, scalars)
    curves = metrics.get("history") or {  # an ensemble: every member's curves, side by side
        (f"val_member_{k}_{key[4:]}" if key.startswith("val_") else f"member_{k}_{key}"): values
        for k, member in enumerate(metrics.get("members", [])) for key, values in member["history"].items()
        if key != "epoch"}
    common.plot_history(curves, pathlib.Path(run_dir) / "training_curves.png", title=family)
    return metrics


# ----------------------------------------------------------------------------------------------
# Reports
# ----------------------------------------------------------------------------------------------
def load_labelled_task(run):
    """A tagger or classifier run's `TextTask` (raw strings in, label names inside), or a UserError."""
    from seqkeras.models.common import TextTask

    task = common.load_model(run.model_path)
    if not isinstance(task, TextTask) or not task.labels:
        raise common.UserError(f"{run.model_path} is not a {run.family} TextTask (raw strings in, label names inside)")
    return task


def class_report(gold, predicted, labels):
    """`{label: {"precision", "recall", "f1", "support"}}` and macro-F1 over the labels present in `gold`."""
    import numpy as np
    from sklearn.metrics import precision_recall_fscore_support

    present = [label for label in labels if label in set(gold)]
    precision, recall, f1, support = precision_recall_fscore_support(
        gold, predicted, labels=present, zero_division=0
    )
    table = {label: {"precision": round(float(p), 4), "recall": round(float(r), 4), "f1": round(float(f), 4),
                     "support": int(s)}
             for label, p, r, f, s in zip(present, precision, recall, f1, support)}
    return table, float(np.mean(f1)) if len(f1) else 0.0


def print_class_table(table, header="label"):
    width = max([len(header)] + [len(str(label)) for label in table])
    print(f"{header:<{width}}  {'precision':>9} {'recall':>7} {'f1':>7} {'support':>8}")
    for label, row in table.items():
        print(f"{label:<{width}}  {row['precision']:>9.4f} {row['recall']:>7.4f} {row['f1']:>7.4f} {row['support']:>8}")


def save_confusion_png(gold, predicted, labels, path, title):
    """A row-normalised confusion matrix (gold rows, predicted columns) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    size = max(4.0, 0.45 * len(labels) + 2)
    figure, axis = plt.subplots(figsize=(size, size))
    ConfusionMatrixDisplay.from_predictions(gold, predicted, labels=labels, normalize="true", ax=axis,
                                            values_format=".2f", colorbar=False, xticks_rotation="vertical",
                                            include_values=len(labels) <= 20)
    axis.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return pathlib.Path(path)

