"""Train the character-level LSTM language model on the bundled Wikipedia markup.

    seqkeras train charlm                      # defaults: 512 units, 2,750 steps of 32 x 128 characters (<= 10 min, 2 cores)
    seqkeras train charlm --num-layers 2 --dropout 0.1 --epochs 20 --run-dir runs/charlm-big
    seqkeras train charlm --config run.json    # any TrainConfig fields as JSON
    seqkeras train charlm --resume             # continue an interrupted run (same options)
    seqkeras evaluate runs/charlm [--data article.txt]     # bits per character
    seqkeras predict runs/charlm --text "[[" --text "{{"  # continuations, JSONL

The corpus is gensim's Wikipedia XML excerpt (raw markup), split by article into train / valid /
test. Each article becomes `[BOS] text [EOS]`; the model predicts every next character. After
training it prints a generated sample and the held-out bits per character (BPC) of the test
articles next to `xz -9e` on the same text, and writes `runs/charlm/{config.json, model.keras,
metrics.json, training_curve.png, tb/, ckpt/}`. `model.keras` is self-contained: a `TextTask`
whose `TokenLookup` (character split, BOS first) carries the vocabulary, so
`seqkeras generate runs/charlm` and `seqkeras score runs/charlm` need nothing else.
"""

import dataclasses
import glob
import json
import lzma
import math
import pathlib
import sys
import time

from pipelines import common, distributed

MODES = ("tbptt", "windows")
SCHEDULES = ("constant", "cosine")
MODEL_TASK = "charlm"


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    # --- data: Wikipedia markup split by article ---
    valid_fraction: float = common.field(0.1, 'share of articles held out for validation', above=0.0, below=1.0)
    test_fraction: float = common.field(0.1, 'share of articles held out for the final BPC', above=0.0, below=1.0)
    split_seed: int = common.field(0, 'seed of the article split', minimum=0)
    max_article_characters: int = common.field(0, 'cut every article to this many characters (0: whole articles)',
                                               minimum=0)
    valid_article_characters: int = common.field(4_000, 'validation reads this prefix of each valid article per epoch',
                                                 minimum=0)
    min_character_count: int = common.field(20, 'rarer characters share the <oov> id', minimum=1)
    # --- model ---
    embedding_dim: int = common.field(64, 'size of the character embedding', minimum=1)
    hidden_dim: int = common.field(512, 'LSTM units per layer', minimum=1)
    num_layers: int = common.field(1, 'stacked LSTM layers', minimum=1)
    dropout: float = common.field(0.1, 'dropout on the embedding and after every LSTM layer',
                                  minimum=0.0, below=1.0)
    cell_clip: float = common.field(0.0, 'bound on every LSTM cell state, |c| <= cell_clip (0: unbounded)', minimum=0)
    matmul_dtype: str = common.field("auto", common.MATMUL_DTYPE_HELP, choices=common.MATMUL_DTYPES)
    parallel_rows: int = common.field(
        2, 'tbptt training runs the batch as this many independent groups of rows at the same time, each op '
        'on its share of the cores (same result up to rounding; batch_size must divide evenly; 1: one chain, '
        'every op on all cores)', minimum=1)
    # --- training ---
    mode: str = common.field("tbptt", '"tbptt": state carried across batches; "windows": independent windows',
                             choices=MODES)
    window: int = common.field(128, 'time steps per batch row = BPTT truncation length k', minimum=1)
    batch_size: int = common.field(32, 'rows per batch (tbptt: parallel streams of articles)', minimum=1)
    epochs: int = common.field(11, 'epochs of steps_per_epoch batches; validation, checkpoint and samples after each',
                               minimum=1)
    steps_per_epoch: int = common.field(250, 'batches per epoch (0: one full pass over the training text)', minimum=0)
    learning_rate: float = common.field(5e-3, 'Adam (peak of the schedule)', above=0.0)
    lr_schedule: str = common.field("cosine", '"constant" or "cosine" decay to 10% over all steps', choices=SCHEDULES)
    clipnorm: float = common.field(1.0, 'gradient norm clipping (0: none)', minimum=0)
    seed: int = common.field(0, 'weights, dropout, shuffling and sampling', minimum=0)
    # --- corpus and distribution (docs/DISTRIBUTED.md) ---
    corpus: str = common.field("wiki", '"wiki" (the bundled articles) or a glob of UTF-8 text files, plain or .gz, one document per line, streamed')
    distribute: str = common.field("none", '"none", "mirrored" (GPUs or 2 logical CPUs of this machine) or "multi-worker" (TF_CONFIG / --workers)', deployment=True,
                                   choices=("none", "mirrored", "multi-worker"))
    workers: str = common.field("", 'multi-worker cluster "host:port,host:port" (builds TF_CONFIG; empty: read TF_CONFIG)', deployment=True)
    task_index: int = common.field(0, "this process's index in --workers (0 is the chief)", deployment=True,
                                   minimum=0)
    checkpoint_every: int = common.field(50, 'steps between resume checkpoints in ckpt/steps (0: at epoch ends only)', deployment=True,
                                         minimum=0)
    # --- samples (TensorBoard every epoch, and printed at the end) ---
    sample_seed_text: str = common.field("[[", 'the prompt the samples continue')
    sample_length: int = common.field(300, 'characters per sample', minimum=1)
    sample_temperature: float = common.field(0.8, 'sampling temperature (> 0)', above=0.0)
    # --- output ---
    run_dir: str = common.field("runs/charlm", 'output folder: config.json, model.keras, metrics.json, training_curve.png, tb/, ckpt/')
    verbose: int = common.field(1, 'Keras progress: 0 silent, 1 progress bar, 2 one line per epoch',
                                choices=(0, 1, 2))

    def __post_init__(self):
        common.check_fields(self)
        if self.valid_fraction + self.test_fraction >= 1.0:
            raise ValueError("`valid_fraction + test_fraction` must be < 1. "
                             f"Received: valid_fraction={self.valid_fraction!r}, test_fraction={self.test_fraction!r}")
        if self.mode == "tbptt" and self.batch_size % self.parallel_rows:
            raise ValueError("`batch_size` must be a multiple of `parallel_rows`. "
                             f"Received: batch_size={self.batch_size!r}, parallel_rows={self.parallel_rows!r}")
        if not self.corpus:
            raise ValueError(f"`corpus` must be \"wiki\" or a file glob. Received: corpus={self.corpus!r}")
        if self.corpus != "wiki" and self.steps_per_epoch == 0:
            raise ValueError("a streamed `corpus` needs `steps_per_epoch` > 0 (its length is not known in advance). "
                             f"Received: steps_per_epoch=0, corpus={self.corpus!r}")
        if not self.sample_seed_text:
            raise ValueError(f"`sample_seed_text` must not be empty. Received: sample_seed_text={self.sample_seed_text!r}")


def load_splits(config):
    """Article texts per split: `{"train": [...], "valid": [...], "test": [...]}`."""
    from seqkeras.data.corpora import split_documents, wiki_articles

    if config.corpus != "wiki":
        return load_corpus_splits(config)
    texts = [article.text for article in wiki_articles()]
    if config.max_article_characters:
        texts = [text[: config.max_article_characters] for text in texts]
    train, valid, test = split_documents(
        texts, valid_fraction=config.valid_fraction, test_fraction=config.test_fraction, seed=config.split_seed
    )
    if config.valid_article_characters:
        valid = [text[: config.valid_article_characters] for text in valid]
    return {"train": train, "valid": valid, "test": test}


HELD_OUT_DOCUMENTS = 2_000  # valid / test documents kept in memory from a streamed --corpus ...
HELD_OUT_CHARACTERS = 500_000  # ... and characters: held-out sets do not grow with the corpus


def load_corpus_splits(config):
    """`--corpus GLOB`: the training split streamed (`TextStream`), valid / test held in memory
    (their first HELD_OUT_DOCUMENTS lines, at most HELD_OUT_CHARACTERS characters each), split by
    a keyed hash of each line."""
    from seqkeras.data import text_files

    try:
        files = text_files.corpus_files(config.corpus)
    except ValueError as error:
        raise common.UserError(f"--corpus: {error}") from None
    common.check_text_files(files, "--corpus")  # a truncated .gz would otherwise be read up to its cut, silently
    streams = {split: text_files.TextStream(files, split, config.valid_fraction, config.test_fraction,
                                            config.split_seed, config.max_article_characters)
               for split in text_files.SPLITS}
    valid = text_files.take_texts(streams["valid"].lines(), HELD_OUT_DOCUMENTS, config.valid_article_characters,
                                  total_characters=HELD_OUT_CHARACTERS)
    test = text_files.take_texts(streams["test"].lines(), HELD_OUT_DOCUMENTS, total_characters=HELD_OUT_CHARACTERS)
    if not valid or not test:
        raise common.UserError(f"--corpus {config.corpus!r}: too few lines for a valid and a test split "
                               f"(valid {len(valid)}, test {len(test)} documents)")
    return {"train": streams["train"], "valid": valid, "test": test}


def count_characters(texts):
    """Characters of a split: a list of texts, or a streamed `TextStream` (counted in-graph)."""
    if isinstance(texts, list):
        return int(sum(len(text) for text in texts))
    return texts.characters()


def build_vocabulary(config, train_texts):
    from seqkeras.data import text_files
    from seqkeras.data.vocabulary import Vocabulary
    from seqkeras.models.char_lm import datasets

    if isinstance(train_texts, text_files.TextStream):  # one streaming pass, memory flat
        return Vocabulary.build(text_files.character_dataset(train_texts.lines()), min_count=config.min_character_count)
    characters = datasets.tokenize_characters(train_texts)  # ragged (D, None)
    return Vocabulary.build(characters.to_list(), min_count=config.min_character_count)


def build_datasets(config, documents, replicas=1):
    """Training (repeated without end) and validation datasets for the configured mode.

    In tbptt mode a validation batch has one row per validation document up to `batch_size`
    (rounded up to a multiple of `replicas`): each row reads its documents from the start, so
    rows beyond the documents would be empty windows computed for nothing.
    """
    from seqkeras.models.char_lm import datasets

    if not isinstance(documents["train"], list):  # a streamed --corpus (TextStream)
        train = datasets.streamed_dataset(documents["train"].lines(), documents["vocabulary"], config.window,
                                          config.batch_size, mode=config.mode, seed=config.seed).repeat()
    elif config.mode == "tbptt":
        train = datasets.shuffled_stream_dataset(documents["train"], config.window, config.batch_size,
                                                 seed=config.seed, repeat=True)
    else:
        train = datasets.window_dataset(documents["train"], config.window, config.batch_size, shuffle=True,
                                        seed=config.seed, repeat=True)
    if config.mode == "tbptt":  # each validation document is read from its start
        rows = min(config.batch_size, max(1, -(-len(documents["valid"]) // replicas)) * replicas)
        valid = datasets.stream_dataset(documents["valid"], config.window, rows)
    else:
        valid = datasets.window_dataset(documents["valid"], config.window, config.batch_size, shuffle=False)
    return train, valid


def count_steps_per_epoch(config, documents):
    from seqkeras.models.char_lm import datasets

    if config.steps_per_epoch:
        return config.steps_per_epoch
    if config.mode == "tbptt":
        return datasets.shuffled_stream_length(documents["train"], config.window, config.batch_size)
    return math.ceil(len(datasets.window_arrays(documents["train"], config.window)[0]) / config.batch_size)


def build_model(config, vocabulary_size):
    from seqkeras.models.char_lm.char_language_model import CharLanguageModel

    return CharLanguageModel(
        vocabulary_size=vocabulary_size,
        embedding_dim=config.embedding_dim,
        hidden_dim=config.hidden_dim,
        num_layers=config.num_layers,
        dropout=config.dropout,
        cell_clip=config.cell_clip or None,  # 0: unbounded
        train_matmul_dtype=common.train_matmul_dtype(config.matmul_dtype),
        parallel_rows=config.parallel_rows,
        name="char_lm",
    )


def build_optimizer(config, total_steps):
    import keras

    learning_rate = config.learning_rate
    if config.lr_schedule == "cosine":
        learning_rate = keras.optimizers.schedules.CosineDecay(config.learning_rate, total_steps, alpha=0.1)
    return keras.optimizers.Adam(learning_rate=learning_rate, clipnorm=config.clipnorm or None)


def build_trainer(config, model):
    from seqkeras.models.char_lm.language_model_trainer import LanguageModelTrainer

    return LanguageModelTrainer(model, truncated_bptt=config.mode == "tbptt", batch_size=config.batch_size)


def xz_bits_per_character(texts):
    """`xz -9e` on `texts` joined by newlines (Python's lzma, preset 9|extreme): bits per character."""
    text = "\n".join(texts)
    compressed = lzma.compress(text.encode("utf-8"), preset=9 | lzma.PRESET_EXTREME)
    return 8 * len(compressed) / max(len(text), 1)


def open_run(config, resume=False, overwrite=False):
    """The run dir (config.json written), refusing to resume a run that already finished."""
    run_dir = pathlib.Path(config.run_dir)
    if resume and (run_dir / common.MODEL_FILE).exists():
        raise common.UserError(f"--resume: {run_dir} already finished training ({common.MODEL_FILE} exists); "
                               "nothing to resume (use --overwrite or another --run-dir to train again)")
    return common.open_run_dir(config, "charlm", resume=resume, overwrite=overwrite)


def fit_under_strategy(config, strategy, run_dir, trainer, documents, data, steps, samples, task):
    """Trains `trainer.language_model` with `seqkeras.distribute.StrategyTrainer` (one loop for the
    default, mirrored and multi-worker strategies) and resumes exactly from `ckpt/steps`.

    Every replica gets its rows of the same global batches a single process would use
    (`datasets.replica_dataset`); on the chief, each epoch end writes TensorBoard scalars, the
    samples, metrics.json's history (so it survives a kill) and `ckpt/best.keras`.

    Returns:
        (history with `.history` {metric: [...]} and `.epoch` [...], the StrategyTrainer).
    """
    import types

    from seqkeras.distribute import StrategyTrainer
    from seqkeras.models.char_lm import datasets
    from seqkeras.models.char_lm.language_model_trainer import language_model_replica_loss

    model, tbptt, batch_size = trainer.language_model, trainer.truncated_bptt, config.batch_size
    train, valid = data  # from `build_datasets`; a streamed --corpus is re-read per worker below
    replicas = strategy.num_replicas_in_sync
    valid_rows = int(valid.element_spec[1].shape[0]) if tbptt else batch_size
    if batch_size % replicas:
        raise common.UserError(f"--batch-size must be a multiple of the {replicas} replicas of --distribute "
                               f"{config.distribute}. Received: batch_size={batch_size}")
    if tbptt and (batch_size // replicas) % config.parallel_rows:
        raise common.UserError(f"--batch-size / {replicas} replicas must be a multiple of --parallel-rows. "
                               f"Received: batch_size={batch_size}, parallel_rows={config.parallel_rows}")
    if not isinstance(documents["train"], list):  # --corpus GLOB: each worker streams its documents
        from seqkeras.data.text_files import shard_documents

        def train_fn(context):
            local = replicas // context.num_input_pipelines
            lines = shard_documents(documents["train"].lines(), context.num_input_pipelines, context.input_pipeline_id)
            stream = datasets.streamed_dataset(lines, documents["vocabulary"], config.window,
                                               local * (batch_size // replicas), mode=config.mode, seed=config.seed)
            return datasets.split_rows(stream.repeat(), 0, local, batch_size // replicas)
    else:
        def train_fn(context):
            return datasets.replica_dataset(train, context, batch_size)
    engine = StrategyTrainer(
        strategy, model, trainer.optimizer, language_model_replica_loss(model, tbptt),
        checkpoint_dir=run_dir / "ckpt" / "steps", checkpoint_every=config.checkpoint_every,
        carry_shapes=[(batch_size // replicas, model.hidden_dim)] * (model.num_states if tbptt else 0),
        log_dir=run_dir / "tb", derived_metrics={"bpc": lambda nats: nats / math.log(2.0)}, monitor="val_loss",
        autograph=False,  # the step has no Python control flow on tensors
    )

    def on_epoch_end(epoch, logs):
        samples.on_epoch_end(epoch)
        # train_seconds: the epoch's training steps alone (validation, checkpoints and samples excluded)
        common.update_metrics(run_dir, history={**{key: [value] for key, value in logs.items()}, "epoch": [epoch],
                                                "train_seconds": [round(engine.epoch_seconds[-1], 3)]})
        if engine.improved:
            common.save_model(task, run_dir / "ckpt" / "best.keras")

    history = distributed.fit_engine(
        config, engine, strategy, dataset_fn=train_fn,
        epochs=config.epochs, steps_per_epoch=steps,
        valid_dataset_fn=lambda context: datasets.replica_dataset(valid, context, valid_rows),
        valid_steps=int(valid.cardinality()), valid_carry_rows=valid_rows // replicas if tbptt else None,
        on_epoch_end=on_epoch_end, verbose=config.verbose,
    )
    samples.on_train_end()
    history["train_seconds"] = [round(seconds, 3) for seconds in engine.epoch_seconds]  # this call's epochs
    epochs = history.pop("epoch")
    return types.SimpleNamespace(history=history, epoch=epochs), engine


def main(config=TrainConfig(), resume=False, overwrite=False, test=True):
    """Trains, saves, evaluates and samples; returns a dict of results (also in `metrics.json`).

    `test=False` (choosing hyper-parameters: `benchmarks/bench_charlm.py --trial`) stops after
    saving the model: the test articles are neither scored nor compressed, and no sample is drawn;
    the results hold the validation history.
    """
    distributed.setup(config)  # TF_CONFIG from --workers/--task-index, before TensorFlow starts
    if config.mode == "tbptt" and config.parallel_rows > 1:  # the row groups of `CharLanguageModel.run`
        common.split_threads()  # before TensorFlow's first op: the row groups run side by side
    if config.corpus != "wiki" and not any(pathlib.Path(path).is_file() for path in glob.iglob(config.corpus, recursive=True)):
        raise common.UserError(f"--corpus: no file matches the pattern. Received: corpus={config.corpus!r}")
    chief = distributed.is_chief(config)  # only the chief writes the run dir; other workers only log
    run_dir = open_run(config, resume=resume, overwrite=overwrite) if chief else pathlib.Path(config.run_dir)

    import keras

    from seqkeras.models.char_lm import datasets
    from seqkeras.models.char_lm.char_generator import CharGenerator
    from seqkeras.models.char_lm.evaluation import stream_bits_per_character
    from seqkeras.models.char_lm.sample_text_callback import SampleTextCallback
    from seqkeras.models.char_lm.storage import char_lm_task

    strategy = distributed.make_strategy(config)  # first TensorFlow call: collectives / logical CPUs
    keras.utils.set_random_seed(config.seed)
    started = time.time()

    # === Data ===
    texts = load_splits(config)
    vocabulary = build_vocabulary(config, texts["train"])
    documents = {split: split_texts if not isinstance(split_texts, list) else  # a streamed --corpus stays a stream
                 datasets.encode_documents(split_texts, vocabulary) for split, split_texts in texts.items()}
    documents["vocabulary"] = vocabulary
    train_data, valid_data = build_datasets(config, documents, strategy.num_replicas_in_sync)
    steps = count_steps_per_epoch(config, documents)

    # === Model ===
    with strategy.scope():  # variables mirrored on every replica / worker
        model = build_model(config, vocabulary.size)
        trainer = build_trainer(config, model)
        trainer.compile(optimizer=build_optimizer(config, steps * config.epochs))

    # === Training ===
    generator = CharGenerator(model, vocabulary)
    samples = SampleTextCallback(
        generator, run_dir / "tb" / "samples", seed_text=config.sample_seed_text, num_samples=2,
        length=config.sample_length, temperature=config.sample_temperature, seed=config.seed,
    )
    history, engine = fit_under_strategy(config, strategy, run_dir, trainer, documents, (train_data, valid_data),
                                         steps, samples, char_lm_task(model, vocabulary))
    callbacks = [engine]
    if not chief:  # a non-chief worker has done its share; the chief saves, evaluates and reports
        return {"history": history.history, "trainer": trainer, "vocabulary": vocabulary}
    common.raise_if_diverged(callbacks)  # a non-finite loss: one line, no model saved
    common.save_model(char_lm_task(model, vocabulary), run_dir / common.MODEL_FILE)
    train_seconds = time.time() - started

    if not test:
        results = {"train_seconds": round(train_seconds, 1), "steps_per_epoch": steps,
                   "vocabulary_size": vocabulary.size}
        history_values = {key: [float(v) for v in values] for key, values in history.history.items()}
        metrics = common.update_metrics(run_dir, history={**history_values, "epoch": list(history.epoch)}, **results)
        return {**results, "history": metrics["history"], "trainer": trainer, "vocabulary": vocabulary}

    # === Held-out evaluation and a sample ===
    test_bpc = stream_bits_per_character(
        model, documents["test"], window=256, batch_size=min(config.batch_size, len(documents["test"]))
    )
    sample = generator.generate(
        config.sample_seed_text, max_length=config.sample_length, temperature=config.sample_temperature,
        seed=config.seed,
    )[0]
    results = {
        "test_bpc": test_bpc,
        "test_xz_bpc": xz_bits_per_character(texts["test"]),
        **{f"{split}_characters": count_characters(split_texts) for split, split_texts in texts.items()},
        "steps_per_epoch": steps,
        "vocabulary_size": vocabulary.size,
        "train_seconds": round(train_seconds, 1),
        "sample": config.sample_seed_text + sample,
    }
    history_values = {key: [float(v) for v in values] for key, values in history.history.items()}
    metrics = common.update_metrics(run_dir, history={**history_values, "epoch": list(history.epoch)}, **results)
    common.plot_history(metrics["history"], run_dir / "training_curve.png", title="char LM")
    common.log_hparams(run_dir, config, results)
    if config.verbose:
        print(f"\n--- sample (temperature {config.sample_temperature}) ---\n{config.sample_seed_text}{sample}\n---")
        print(f"held-out test BPC: {test_bpc:.3f} (xz -9e: {results['test_xz_bpc']:.3f}) over "
              f"{results['test_characters']} characters ({len(texts['test'])} articles); "
              f"{train_seconds:.0f} s; wrote {run_dir}/{{model.keras, metrics.json, training_curve.png, tb/}}")
    results["history"] = metrics["history"]
    results["trainer"] = trainer
    results["vocabulary"] = vocabulary
    results["samples_callback"] = samples
    results["datasets"] = {"train": train_data, "valid": valid_data}
    return results


def configure(parser):
    common.add_config_arguments(parser, TrainConfig)


def run(args):
    main(common.config_from_args(TrainConfig, args), resume=args.resume, overwrite=args.overwrite)


# ----------------------------------------------------------------------------------------------
# Using a trained run: `seqkeras generate / score / evaluate / predict`
# ----------------------------------------------------------------------------------------------
def check_utf8_argument(text, flag):
    """`text` from the command line, or a UserError when it holds bytes that are not UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        shown = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        raise common.UserError(f"{flag} is not valid UTF-8. Received: {flag} '{shown}'") from None
    return text


def load_language_model(path, vocabulary=None, flag="RUN"):
    """`(CharLanguageModel, Vocabulary)` from a run dir or a `.keras` file; one-line errors.

    `vocabulary` (a `vocabulary.txt`) is only needed for char LM files saved before the
    vocabulary moved inside `model.keras`.
    """
    path = pathlib.Path(path)
    model_path = path / common.MODEL_FILE if path.is_dir() else path
    if path.is_dir() and not model_path.exists():
        raise common.UserError(f"{flag}: {path} has no {common.MODEL_FILE} (has its training finished?)")
    if vocabulary is not None and not pathlib.Path(vocabulary).is_file():
        raise common.UserError(f"--vocabulary: file not found. Received: {vocabulary}")
    loaded = common.load_model(model_path, what=f"{flag} model")
    from seqkeras.models.char_lm.storage import unpack_char_lm

    try:
        return unpack_char_lm(loaded, model_path, vocabulary)
    except (FileNotFoundError, TypeError) as error:
        raise common.UserError(f"{flag}: {error}") from None


def heldout_bits_per_character(model, vocabulary, texts, batch_size=8):
    """Bits per character of whole documents (state carried through each; one EOS per document)
    and the count of characters outside the vocabulary."""
    from seqkeras.data.vocabulary import OOV_ID
    from seqkeras.models.char_lm import datasets
    from seqkeras.models.char_lm.evaluation import stream_bits_per_character

    documents = datasets.encode_documents(texts, vocabulary)
    oov = int(sum((targets == OOV_ID).sum() for _, targets in documents))
    bpc = stream_bits_per_character(model, documents, window=256, batch_size=max(1, min(batch_size, len(documents))))
    return bpc, oov


def evaluate(run, args):
    """Bits per character on `--data` (a UTF-8 text file, one document) or on the run's held-out
    test articles; prints a table and returns the figures (`seqkeras evaluate` writes them)."""
    model, vocabulary = load_language_model(run.path, flag="RUN")
    if args.data is not None:
        texts, name = [common.read_text_file(args.data, "--data")], str(args.data)
        if not texts[0]:
            raise common.UserError(f"--data: {args.data} is empty")
    else:
        texts, name = load_splits(run.train_config())["test"], "held-out test articles"
    bpc, oov = heldout_bits_per_character(model, vocabulary, texts, batch_size=args.batch_size)
    characters = sum(len(text) for text in texts)
    metrics = {
        "data": name,
        "documents": len(texts),
        "characters": characters,
        "bits_per_character": bpc,
        "perplexity_per_character": 2.0 ** bpc,
        "oov_characters": oov,
        "xz_bits_per_character": xz_bits_per_character(texts),
    }
    print(f"{'data':<28}{name}")
    for key in ("documents", "characters", "oov_characters"):
        print(f"{key:<28}{metrics[key]}")
    for key in ("bits_per_character", "perplexity_per_character", "xz_bits_per_character"):
        print(f"{key:<28}{metrics[key]:.4f}")
    if oov:
        print(f"warning: {oov} characters are outside the model's vocabulary (scored as one <oov> symbol)",
              file=sys.stderr)
    return metrics


PREDICT_FORMATS = ("jsonl", "text")  # `predict --format` choices, the default first


def predict(run, args):
    """Continuations of every `--text` / `--file` line as a prompt: JSONL `{"prompt", "continuation"}`
    (or plain text with `--format text`); `--decoding greedy` takes the likeliest character."""
    from pipelines.predict import inputs, write_output
    from seqkeras.models.char_lm.char_generator import CharGenerator

    prompts = [check_utf8_argument(text, "--text") for text in inputs(args)]
    config = run.train_config()
    model, vocabulary = load_language_model(run.path, flag="RUN")
    generator = CharGenerator(model, vocabulary)
    try:
        continuations = generator.generate(
            prompts, max_length=config.sample_length, temperature=args.temperature,
            top_k=1 if args.decoding == "greedy" else 0, seed=args.seed,
        )
    except ValueError as error:
        raise common.UserError(f"--text: {str(error).splitlines()[0]}") from None
    if args.format == "text":
        lines = [prompt + continuation for prompt, continuation in zip(prompts, continuations)]
    else:
        lines = [json.dumps({"prompt": prompt, "continuation": continuation}, ensure_ascii=False)
                 for prompt, continuation in zip(prompts, continuations)]
    text = "\n".join(lines) + "\n"
    write_output(text, args.out)
    return 0
