"""Train a character encoder-decoder on source/target pairs: `seqkeras train seq2seq`.

    seqkeras train seq2seq --pairs addition                 # the bundled "123+45" -> "168" task
    seqkeras train seq2seq --pairs pairs.tsv --epochs 30    # source<TAB>target per line
    seqkeras evaluate runs/seq2seq                          # exact match on the held-out pairs
    seqkeras predict runs/seq2seq --text "12+345" --decoding sample --temperature 0.5 --seed 1

`--pairs addition` generates `num_problems` distinct problems (operands of 1..`max_digits` digits)
and `heldout_problems` others; a TSV file is split by a seeded `valid_fraction`. The model reads
the source characters with a bidirectional LSTM, reduces them to one vector and decodes the target
characters with a teacher-forced LSTM (`build_seq2seq`). `model.keras` is a `Seq2SeqTask` holding
both character vocabularies, so `load_model("model.keras").generate(["12+345"])` works alone.
"""

import dataclasses
import json
import pathlib
import time

from pipelines import common

BATCHINGS = ("random", "sorted", "bucketed", "token_budget")
POOLINGS = ("last", "mean", "max")
CONDITIONINGS = ("initial_state", "concat")
CELLS = ("lstm", "elman")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    # --- data ---
    pairs: str = common.field("addition", "'addition' (generated) or a UTF-8 TSV file: source<TAB>target per line")
    num_problems: int = common.field(20000, "--pairs addition: training problems", minimum=1)
    heldout_problems: int = common.field(1000, "--pairs addition: held-out problems (never in training)", minimum=1)
    max_digits: int = common.field(3, "--pairs addition: digits of the largest operand", minimum=1)
    valid_fraction: float = common.field(0.1, "TSV pairs: share held out for validation and exact match",
                                         above=0.0, below=1.0)
    split_seed: int = common.field(0, "seed of the problems / the held-out split")
    max_target_length: int = common.field(0, "decoding steps, end mark included (0: longest training target + 1)",
                                          minimum=0)
    # --- model ---
    embedding_dim: int = common.field(16, "character embedding width (both sides)", minimum=1)
    hidden_dim: int = common.field(128, "LSTM units (per direction in the encoder)", minimum=1)
    num_layers: int = common.field(1, "RNN layers in the encoder and in the decoder", minimum=1)
    pooling: str = common.field("last", "encoder summary: last (final states), mean or max", choices=POOLINGS)
    conditioning: str = common.field("initial_state", "how the summary enters the decoder: initial_state or concat",
                                     choices=CONDITIONINGS)
    cell: str = common.field("lstm", "lstm or elman", choices=CELLS)
    dropout: float = common.field(0.0, "dropout in the encoder and the decoder", minimum=0.0, below=1.0)
    # --- training ---
    batching: str = common.field("token_budget", "random, sorted, bucketed or token_budget (batch_sequences)",
                                 choices=BATCHINGS)
    batch_size: int = common.field(128, "pairs per batch (random, sorted, bucketed)", minimum=1)
    token_budget: int = common.field(512, "source characters per batch for token_budget batching", minimum=1)
    num_buckets: int = common.field(8, "length buckets for bucketed batchings", minimum=1)
    epochs: int = common.field(20, "passes over the training pairs (or of steps_per_epoch batches)", minimum=1)
    steps_per_epoch: int = common.field(0, "batches per epoch (0: one full pass)", minimum=0)
    learning_rate: float = common.field(3e-3, "Adam learning rate", above=0.0)
    clipnorm: float = common.field(1.0, "global gradient norm clipping (0: none)", minimum=0)
    seed: int = common.field(0, "weights, dropout and batch shuffling")
    num_samples: int = common.field(5, "held-out sources decoded into TensorBoard text after every epoch", minimum=0)
    # --- output ---
    run_dir: str = common.field("runs/seq2seq", "output folder")
    verbose: int = common.field(1, "Keras progress: 0 silent, 1 progress bar, 2 one line per epoch")

    def __post_init__(self):
        common.check_fields(self)
        if not self.pairs:
            raise ValueError("`pairs` must be 'addition' or a TSV path. Received: pairs=''")
        if self.max_digits > 9:
            raise ValueError(f"`max_digits` must be <= 9. Received: max_digits={self.max_digits}")


# ------------------------------------------------------------------------------------------------
# Pairs
# ------------------------------------------------------------------------------------------------
def read_pairs(path, flag):
    """`(sources, targets)` of a TSV file, `source<TAB>target` per non-blank line."""
    sources, targets = [], []
    for number, line in enumerate(common.read_text_file(path, flag).splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 2 or not parts[0] or not parts[1]:
            raise common.UserError(f"{flag}: {path} line {number} is not source<TAB>target with both non-empty. "
                                   f"Received: {line[:60]!r}")
        sources.append(parts[0])
        targets.append(parts[1])
    if not sources:
        raise common.UserError(f"{flag}: {path} has no pairs")
    return sources, targets


def load_pairs(config):
    """`{"train": (sources, targets), "valid": (sources, targets)}`."""
    import numpy as np

    if config.pairs == "addition":
        from seqkeras.data.addition import addition_problems

        try:
            train = addition_problems(config.num_problems, config.max_digits, seed=config.split_seed)
            valid = addition_problems(config.heldout_problems, config.max_digits, seed=config.split_seed + 1,
                                      exclude=train[0])
        except ValueError as error:
            raise common.UserError(f"--num-problems/--heldout-problems: {error}") from None
        return {"train": train, "valid": valid}
    if not pathlib.Path(config.pairs).exists():
        raise common.UserError(f"--pairs: not 'addition' nor an existing TSV file. Received: {config.pairs!r}")
    sources, targets = read_pairs(config.pairs, "--pairs")
    order = np.random.default_rng(config.split_seed).permutation(len(sources))
    num_valid = max(1, int(round(len(sources) * config.valid_fraction)))
    if num_valid >= len(sources):
        raise common.UserError(f"--pairs: {config.pairs} has {len(sources)} pairs; too few to hold out "
                               f"--valid-fraction {config.valid_fraction}")
    valid, train = np.sort(order[:num_valid]), np.sort(order[num_valid:])
    return {"train": ([sources[i] for i in train], [targets[i] for i in train]),
            "valid": ([sources[i] for i in valid], [targets[i] for i in valid])}


def build_preprocessors(sources, targets):
    """Character `TokenLookup`s of the training sources and targets (every character seen)."""
    from seqkeras.data.token_lookup import TokenLookup
    from seqkeras.data.vocabulary import Vocabulary

    source = TokenLookup(Vocabulary.build([list(text) for text in sources]), split="char", name="source_preprocessor")
    target = TokenLookup(Vocabulary.build([list(text) for text in targets]), split="char", add_bos=True,
                         add_eos=True, name="target_preprocessor")
    return source, target


def encode(task, sources, targets, chunk_size=8192):
    """Ragged int32 `(source ids, decoder inputs, decoder targets)` through the task's lookups."""
    import tensorflow as tf

    source_parts, previous_parts, following_parts = [], [], []
    for start in range(0, len(sources), chunk_size):
        features = task.source_features(sources[start: start + chunk_size])
        lengths = tf.reduce_sum(tf.cast(features["encoder_padding_mask"], tf.int64), axis=1)
        source_parts.append(tf.RaggedTensor.from_tensor(features["encoder_token_ids"], lengths=lengths))
        previous, following = task.target_sequences(targets[start: start + chunk_size])
        previous_parts.append(previous)
        following_parts.append(following)
    return tuple(tf.concat(parts, axis=0) for parts in (source_parts, previous_parts, following_parts))


def to_model_inputs(source, previous, following):
    """A ragged batch -> `(network inputs, targets)`, dense and right-padded."""
    from seqkeras.data.batching import to_model_inputs as dense

    encoder, decoder = dense(source), dense(previous)
    inputs = {"encoder_token_ids": encoder["token_ids"], "encoder_padding_mask": encoder["padding_mask"],
              "decoder_token_ids": decoder["token_ids"], "decoder_padding_mask": decoder["padding_mask"]}
    return inputs, dense(following)["token_ids"]


def batches(config, encoded, *, shuffle, strategy=None):
    from seqkeras.data.batching import batch_sequences

    ragged, info = batch_sequences(
        encoded, strategy or config.batching, batch_size=config.batch_size, token_budget=config.token_budget,
        num_buckets=config.num_buckets, shuffle=shuffle, seed=config.seed, on_too_long="drop", return_info=True,
    )
    return ragged.map(to_model_inputs), ragged, info


# ------------------------------------------------------------------------------------------------
# Model
# ------------------------------------------------------------------------------------------------
def build_task(config, source, target, max_target_length):
    from seqkeras.models.seq2seq import Seq2SeqTask, build_seq2seq

    network = build_seq2seq(
        source.vocabulary_size, target.vocabulary_size, hidden_dim=config.hidden_dim, num_layers=config.num_layers,
        embedding_dim=config.embedding_dim, pooling=config.pooling, conditioning=config.conditioning,
        cell=config.cell, dropout=config.dropout, name="seq2seq",
    )
    return Seq2SeqTask(source, target, network, max_target_length, name="seq2seq_task")

def build_optimizer(config):
    import keras

    return keras.optimizers.Adam(config.learning_rate, global_clipnorm=config.clipnorm or None)


def exact_match(task, sources, targets, **decoding):
    generated = task.generate(sources, **decoding)
    return sum(g == t for g, t in zip(generated, targets)) / len(targets), generated


def _samples_callback(task, sources, targets, folder, num_samples):
    """After every epoch: held-out exact match (greedy) in the logs, a few decodings as TensorBoard text."""
    import keras
    import tensorflow as tf

    class HeldoutDecoding(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.writer = tf.summary.create_file_writer(str(folder))

        def on_epoch_end(self, epoch, logs=None):
            score, generated = exact_match(task, sources, targets)
            if logs is not None:
                logs["val_exact_match"] = score
            lines = [f"    {s} -> {g}   (target {t})" for s, g, t in zip(sources, generated, targets)][:num_samples]
            # record_if(True): Keras' TensorBoard callback records only every `update_freq` steps.
            with self.writer.as_default(), tf.summary.record_if(True):
                tf.summary.scalar("val_exact_match", score, step=epoch)
                if lines:
                    tf.summary.text("samples", "\n".join(lines), step=epoch)
            self.writer.flush()

    return HeldoutDecoding()


# ------------------------------------------------------------------------------------------------
# Train
# ------------------------------------------------------------------------------------------------
def main(config=TrainConfig(), resume=False, overwrite=False):
    """Trains, saves and scores the held-out pairs; returns a results dict."""
    import keras

    from seqkeras.data.batching import epoch_statistics
    from seqkeras.data.vocabulary import PAD_ID
    from seqkeras.losses import MaskedSparseCategoricalCrossentropy

    started = time.time()
    pairs = load_pairs(config)  # cheap: a bad file is reported before the run dir opens
    run_dir = common.open_run_dir(config, "seq2seq", resume=resume, overwrite=overwrite)
    keras.utils.set_random_seed(config.seed)

    # === Data ===
    source, target = build_preprocessors(*pairs["train"])
    max_target_length = config.max_target_length or max(len(text) for text in pairs["train"][1]) + 1
    task = build_task(config, source, target, max_target_length)
    encoded = {split: encode(task, *split_pairs) for split, split_pairs in pairs.items()}
    train_data, train_ragged, info = batches(config, encoded["train"], shuffle=True)
    valid_data, _, _ = batches(config, encoded["valid"], shuffle=False, strategy="sorted")
    padding = epoch_statistics(train_ragged)
    if config.steps_per_epoch:
        train_data = train_data.repeat()
    if config.verbose:
        print(f"pairs {config.pairs}: {len(pairs['train'][0])} training, {len(pairs['valid'][0])} held out; "
              f"{source.vocabulary_size} source / {target.vocabulary_size} target ids; {config.batching} batches: "
              f"{info.batches_per_epoch} per pass, padding {padding['padding_fraction']:.1%}", flush=True)

    # === Model ===
    network = task.network
    network.compile(build_optimizer(config), MaskedSparseCategoricalCrossentropy(from_logits=True, ignore_class=PAD_ID))

    # === Training ===
    valid_sources, valid_targets = pairs["valid"]
    sample_count = min(len(valid_sources), 200)
    samples = _samples_callback(task, valid_sources[:sample_count], valid_targets[:sample_count],
                                pathlib.Path(run_dir) / "tb" / "samples", config.num_samples)
    callbacks = [samples] + common.standard_callbacks(run_dir)
    epoch_started = time.perf_counter()
    history = network.fit(
        train_data, validation_data=valid_data, epochs=config.epochs, steps_per_epoch=config.steps_per_epoch or None,
        callbacks=callbacks, verbose=config.verbose, shuffle=False,
    )
    fit_seconds = time.perf_counter() - epoch_started
    common.raise_if_diverged(callbacks)
    task = type(task)(task.source_preprocessor, task.target_preprocessor, common.inference_copy(network),
                      task.max_target_length, name=task.name)
    task(keras.ops.convert_to_tensor(valid_sources[:1]))  # builds the task through the raw-string path
    common.save_model(task, run_dir / common.MODEL_FILE)
    train_seconds = time.time() - started

    # === Held-out exact match, metrics, TensorBoard ===
    score, generated = exact_match(task, valid_sources, valid_targets)
    batches_run = config.steps_per_epoch * config.epochs or info.batches_per_epoch * len(history.epoch)
    summary = {
        "heldout_exact_match": score,
        "heldout_pairs": len(valid_sources),
        "train_pairs": len(pairs["train"][0]),
        "source_vocabulary_size": source.vocabulary_size,
        "target_vocabulary_size": target.vocabulary_size,
        "max_target_length": max_target_length,
        "batching": {"strategy": config.batching, "batches_per_pass": info.batches_per_epoch,
                     "padding_fraction": padding["padding_fraction"], "boundaries": info.boundaries},
        "padding_fraction": padding["padding_fraction"],
        "tokens_per_s": padding["real_tokens"] / info.batches_per_epoch * batches_run / fit_seconds,
        "train_seconds": round(train_seconds, 1),
        "examples": [f"{s} -> {g}" for s, g in zip(valid_sources[:5], generated[:5])],
    }
    history_dict = {key: [float(v) for v in values] for key, values in history.history.items()}
    history_dict["epoch"] = list(history.epoch)
    metrics = common.update_metrics(run_dir, history=history_dict, **summary)
    common.log_hparams(run_dir, config, summary)
    common.plot_history(metrics["history"], run_dir / "training_curves.png", title="seq2seq")
    if config.verbose:
        print("\n".join(summary["examples"]))
        print(f"held-out exact match (greedy): {score:.1%} of {len(valid_sources)} pairs; "
              f"{summary['tokens_per_s']:.0f} source chars/s, padding {summary['padding_fraction']:.1%}; "
              f"model saved to {run_dir / common.MODEL_FILE}")
    return {**summary, "task": task, "network": network, "history": history_dict, "pairs": pairs,
            "batching_info": info, "train_data": train_data, "run_dir": run_dir, "samples_callback": samples}


# ------------------------------------------------------------------------------------------------
# Later commands
# ------------------------------------------------------------------------------------------------
def load_task(run):
    from seqkeras.models.seq2seq import Seq2SeqTask

    task = common.load_model(run.model_path)
    if not isinstance(task, Seq2SeqTask):
        raise common.UserError(f"{run.model_path} is not a Seq2SeqTask; retrain the run")
    return task


def evaluate(run, args):
    """Exact match (greedy decoding) on `--data` pairs (default: the run's held-out pairs)."""
    task = load_task(run)
    if args.data is None:
        sources, targets = load_pairs(run.train_config())["valid"]
    else:
        sources, targets = read_pairs(args.data, "--data")
    score, generated = exact_match(task, sources, targets, batch_size=args.batch_size)
    wrong = sum(g != t for g, t in zip(generated, targets))
    print(f"{'pairs':<12} {'exact match':>12} {'wrong':>7}")
    print(f"{len(targets):<12} {score:>12.2%} {wrong:>7}")
    for source_text, output, target_text in list(zip(sources, generated, targets))[:5]:
        print(f"  {source_text} -> {output}" + ("" if output == target_text else f"   (target {target_text})"))
    return {"data": str(args.data) if args.data else "heldout", "pairs": len(targets), "exact_match": score,
            "wrong": wrong}


PREDICT_FORMATS = ("jsonl", "text")  # `predict --format` choices, the default first


def predict(run, args):
    """Generated targets of `--text` / `--file` sources, as JSONL (default) or plain text lines."""
    from pipelines.predict import inputs, write_output

    task = load_task(run)
    sources = inputs(args)
    check_sources(sources, task.source_preprocessor.tokens)
    generated = task.generate(sources, strategy=args.decoding, temperature=args.temperature, seed=args.seed,
                              batch_size=args.batch_size)
    if args.format == "text":
        lines = generated
    else:
        lines = [json.dumps({"source": s, "target": g}, ensure_ascii=False) for s, g in zip(sources, generated)]
    text = "".join(line + "\n" for line in lines)
    write_output(text, args.out)
    return 0


def check_sources(sources, tokens):
    """A one-line UserError for an empty source or one with characters the training sources never had
    (the encoder would read them as one unknown symbol and still answer)."""
    known = set(tokens)
    for source in sources:
        if not source:
            raise common.UserError("--text/--file: a source is empty")
        unknown = sorted(set(source) - known)
        if unknown:
            raise common.UserError(f"--text/--file: source {source[:60]!r} has characters the model never saw in "
                                   f"training: {unknown[:10]}")


def configure(parser):
    common.add_config_arguments(parser, TrainConfig)


def run(args):
    config = common.config_from_args(TrainConfig, args)
    main(config, resume=args.resume, overwrite=args.overwrite)
