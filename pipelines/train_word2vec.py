"""Train skip-gram word2vec with negative sampling and write the vectors in every useful form.

    seqkeras train word2vec                          # Wikipedia excerpt, gensim's defaults, 5 epochs
    seqkeras train word2vec --corpus lee --epochs 10 --run-dir runs/w2v-lee
    seqkeras train word2vec --corpus my_docs.txt     # one document per line (UTF-8)
    seqkeras train word2vec --corpus 'data/*.txt.gz' # a glob of plain/gzip files, streamed
    seqkeras train word2vec --corpus wiki,lee,ewt:../shared/data/ud-english-ewt/en_ewt-ud-train.conllu.gz
    seqkeras train word2vec --config run.json        # any TrainConfig fields as JSON
    seqkeras train word2vec --distribute mirrored    # every GPU (or 2 logical CPUs) of this machine
    seqkeras train word2vec --distribute multi-worker --workers h1:2222,h2:2222 --task-index I  # or TF_CONFIG
    seqkeras evaluate runs/word2vec [--data pairs.tsv | --data analogies.txt]
    seqkeras predict runs/word2vec --text king --text "king -man woman"   # nearest neighbours, JSONL

Hyper-parameters carry gensim's names. The corpus is lower-cased and split into words with the
tensorflow-text Unicode-script tokenizer (punctuation dropped). Writes `runs/word2vec/{config.json,
model.keras, vectors.txt, vectors.bin, metrics.json, training_curve.png, tb/, ckpt/}`:
`model.keras` is a `Word2Vec` that keeps its words, `vectors.txt/.bin` word2vec's text and binary
files, `tb/projector/` the TensorBoard projector files, and metrics.json the evaluation
(WordSim-353, SimLex-999, analogies through gensim's `KeyedVectors.evaluate_*`, and occupations on
the gender direction with a bootstrap over the definitional pairs). In Python,
`seqkeras.models.word2vec.load_keyed_vectors("runs/word2vec")` gives gensim's `KeyedVectors`.

Corpora: the bundled ones ("wiki", "lee"), `ewt:PATH` (a CoNLL-U file's sentences, one document
each) and comma-separated lists of these and text files are tokenised in memory; one file or a
glob of files (plain or `.gz`, one document per line) is streamed (`train_word2vec` on a `tf.data` stream: one
pass counts the vocabulary, one counts the words and expected pairs that fix the steps per epoch
and the learning-rate decay, then each epoch pairs the corpus block by block), so memory does not
grow with the corpus. Both give the same batches on the same text. With `--distribute`, every
worker reads all the files and keeps its rows of each global batch (`shard_skipgram_batches`).

Training: `--distribute none` (default) runs `Word2Vec.fit`, word2vec's sparse SGD sharded over
`--threads` on one machine (resume: at epoch ends, ckpt/backup). `--distribute mirrored |
multi-worker` runs the same update with `seqkeras.distribute.StrategyTrainer` (the loop of the
char LM and tagger): a summed SGNS loss whose table gradients are `tf.IndexedSlices`, Keras `SGD`
with word2vec's linear decay over the global step; the chief writes the run dir and ckpt/steps
(resume at any step, `--checkpoint-every`). See docs/DISTRIBUTED.md.
"""

import dataclasses
import glob
import json
import pathlib
import time

from pipelines import common, distributed

CORPORA = ("wiki", "lee")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    # --- data ---
    corpus: str = common.field("wiki", '"wiki" (gensim\'s Wikipedia excerpt, markup stripped), "lee" (Lee news '
                                       'corpus), "ewt:PATH" (a CoNLL-U file\'s sentences), UTF-8 text files (one '
                                       'document per line), or a comma-separated list of these, read in memory; '
                                       'one path or glob alone (quoted: \'data/*.txt.gz\', plain or .gz) is streamed')
    max_documents: int = common.field(0, 'use only the first N documents (0: all)', minimum=0)
    lowercase: bool = common.field(True, 'lower-case the corpus before splitting it into words')
    # --- vocabulary (gensim names) ---
    min_count: int = common.field(5, 'drop words seen fewer times', minimum=1)
    max_vocab_size: int = common.field(0, 'keep the N most frequent words (0: no limit)', minimum=0)
    # --- skip-gram sampling (gensim names) ---
    window: int = common.field(5, 'maximum context distance; the effective window is uniform in 1..window', minimum=1)
    sample: float = common.field(1e-3, 'subsampling threshold of frequent words (0: off)', minimum=0)
    negative: int = common.field(5, 'negatives per (target, context) pair', minimum=1)
    negative_group_size: int = common.field(32, 'pairs sharing one draw of negatives (1: every pair its own, as '
                                                'gensim); must divide batch_size', minimum=1)
    ns_exponent: float = common.field(0.75, 'negatives are drawn with probability ~ count ** ns_exponent', minimum=0)
    # --- model and SGD (gensim names) ---
    vector_size: int = common.field(100, 'dimension of the word vectors', minimum=1)
    alpha: float = common.field(0.025, 'initial learning rate', above=0.0)
    min_alpha: float = common.field(0.0001, 'final learning rate (linear decay over all epochs)')
    epochs: int = common.field(5, 'passes over the corpus', minimum=1)
    seed: int = common.field(0, 'seed of initialisation, subsampling, windows and negatives', minimum=0)
    # --- throughput ---
    batch_size: int = common.field(4096, '(target, context) pairs per SGD step', minimum=1)
    steps_per_execution: int = common.field(16, 'SGD steps per call of the compiled training function', minimum=1)
    jit_compile: bool = common.field(True, 'compile the SGD step with XLA')
    threads: int = common.field(1, 'shards of each SGD step computed in parallel with --distribute none (gensim\'s '
                                   '`workers`; tf.data uses other threads)', minimum=1,
                                deployment=True)
    # --- distribution (docs/DISTRIBUTED.md) ---
    distribute: str = common.field("none", '"none" (the threaded trainer), "mirrored" (GPUs or 2 logical CPUs of '
                                           'this machine) or "multi-worker" (TF_CONFIG / --workers)', deployment=True,
                                   choices=distributed.KINDS)
    workers: str = common.field("", 'multi-worker cluster "host:port,host:port" (builds TF_CONFIG; empty: read '
                                    'TF_CONFIG)', deployment=True)
    task_index: int = common.field(0, "this process's index in --workers (0 is the chief)", deployment=True,
                                   minimum=0)
    checkpoint_every: int = common.field(0, "steps between resume checkpoints in ckpt/steps with --distribute "
                                            "mirrored/multi-worker (0: at epoch ends only)", deployment=True, minimum=0)
    # --- output ---
    run_dir: str = common.field("runs/word2vec", 'output folder: config.json, model.keras, vectors.txt/.bin, '
                                                 'metrics.json, tb/ (with tb/projector), ckpt/')
    verbose: int = common.field(2, 'Keras progress: 0 silent, 1 progress bar, 2 one line per epoch',
                                choices=(0, 1, 2))

    def __post_init__(self):
        common.check_fields(self)
        entries = corpus_entries(self.corpus)
        if entries is None and not corpus_files(self.corpus):
            raise ValueError(f"`corpus` must be one of {CORPORA}, ewt:PATH, a file or glob matching files, or a "
                             f"comma-separated list of these. Received: corpus={self.corpus!r}")
        for entry in entries or ():
            if entry not in CORPORA and not pathlib.Path(entry.removeprefix("ewt:")).is_file():
                raise ValueError(f"`corpus` entries must be one of {CORPORA}, ewt:PATH or a file. "
                                 f"Received: corpus entry {entry!r} (not found)")
        if not 0 <= self.min_alpha <= self.alpha:
            raise ValueError(f"`min_alpha` must be in [0, alpha]. Received: min_alpha={self.min_alpha!r}, alpha={self.alpha!r}")
        if self.batch_size % self.negative_group_size:
            raise ValueError(
                "`negative_group_size` must divide `batch_size`. "
                f"Received: negative_group_size={self.negative_group_size}, batch_size={self.batch_size}"
            )


def corpus_files(pattern):
    """Sorted files matching `pattern` (a path or a glob, `**` allowed), without TensorFlow; an
    existing file whose name has glob characters (`[`, `*`) is that file."""
    if pathlib.Path(pattern).is_file():
        return [str(pattern)]
    return sorted(path for path in glob.glob(str(pattern), recursive=True) if pathlib.Path(path).is_file())


def corpus_entries(corpus):
    """`corpus` as the entries read in memory (bundled names, ewt:PATH, text files), or None when it
    is one file or glob, which is streamed."""
    if pathlib.Path(corpus).is_file() or ("," not in corpus and corpus not in CORPORA and not corpus.startswith("ewt:")):
        return None
    return [entry.strip() for entry in corpus.split(",")]


def corpus_lines(config):
    """The streamed documents of a file corpus (first `max_documents` if set): a `tf.data` stream."""
    from seqkeras.data import text_files

    files = corpus_files(config.corpus)
    common.check_text_files(files, "--corpus")  # a truncated .gz would otherwise be read up to its cut, silently
    lines = text_files.line_dataset(files)
    return lines.take(config.max_documents) if config.max_documents else lines


def load_texts(config):
    """The plain-text documents of the in-memory corpus entries, in order (first `max_documents` if set)."""
    from seqkeras.data import corpora
    from pipelines.train_bilm import conllu_sentences

    texts = []
    for entry in corpus_entries(config.corpus):
        if entry == "wiki":  # markup stripped only from the articles kept
            articles = corpora.wiki_articles()[: config.max_documents - len(texts) if config.max_documents else None]
            texts += [corpora.strip_wiki_markup(article.text) for article in articles]
        elif entry == "lee":
            texts += corpora.lee_documents()
        elif entry.startswith("ewt:"):
            texts += conllu_sentences(entry[4:], "--corpus")
        else:
            texts += common.read_lines(entry, "--corpus")
        if config.max_documents and len(texts) >= config.max_documents:
            break
    return texts[: config.max_documents] if config.max_documents else texts


def train(config, documents, callbacks=(), **strategy_options):
    """`train_word2vec` with every config field mapped explicitly (`strategy_options`: its
    `strategy`, `checkpoint_dir`, `log_dir`, `run_trainer` for the StrategyTrainer path)."""
    from seqkeras.models import word2vec

    if strategy_options:
        strategy_options["checkpoint_every"] = config.checkpoint_every
    return word2vec.train_word2vec(
        documents,  # token lists of a bundled corpus, or the stream of `corpus_lines`
        vector_size=config.vector_size,
        window=config.window,
        min_count=config.min_count,
        max_vocab_size=config.max_vocab_size or None,
        sample=config.sample,
        negative=config.negative,
        ns_exponent=config.ns_exponent,
        alpha=config.alpha,
        min_alpha=config.min_alpha,
        epochs=config.epochs,
        seed=config.seed,
        workers=config.threads,
        negative_group_size=config.negative_group_size,
        batch_size=config.batch_size,
        steps_per_execution=config.steps_per_execution,
        jit_compile=config.jit_compile,
        callbacks=list(callbacks),
        verbose=config.verbose,
        lowercase=config.lowercase,
        **strategy_options,
    )


# ----------------------------------------------------------------------------------------------
# Evaluation: gensim's KeyedVectors.evaluate_* on the bundled sets, plus the bias probe
# ----------------------------------------------------------------------------------------------
BENCHMARKS = {"wordsim353": "wordsim353.tsv", "simlex999": "simlex999.txt", "analogies": "questions-words.txt"}


def _is_analogy_file(lines):
    """questions-words format (`: section` lines, 4 words a line) rather than word pairs."""
    body = [line for line in lines if line.strip() and not line.startswith("#")]
    return any(line.startswith(":") for line in body) or (bool(body) and all(len(line.split()) == 4 for line in body))


def word_pairs(vectors, path):
    """gensim's `evaluate_word_pairs` (Spearman, Pearson) with the pair counts it leaves out."""
    lines = common.read_text_file(path, "--data").splitlines()
    total = sum(1 for line in lines if line.strip() and not line.startswith("#"))
    try:
        pearson, spearman, oov_percent = vectors.evaluate_word_pairs(str(path))
    except (ValueError, IndexError) as error:
        raise common.UserError(f"--data: {path} is not a word-pair file (word1<TAB>word2<TAB>score): {error}") from None
    skipped = int(round(oov_percent * total / 100.0))
    return {"spearman": float(spearman[0]), "pearson": float(pearson[0]), "pairs": total - skipped,
            "skipped": skipped}


def word_analogies(vectors, path):
    """gensim's `evaluate_word_analogies` (3CosAdd among the 300k most frequent words)."""
    lines = common.read_text_file(path, "--data").splitlines()
    questions = sum(1 for line in lines if line.strip() and not line.startswith(":"))
    try:
        accuracy, sections = vectors.evaluate_word_analogies(str(path))
    except ValueError as error:  # gensim needs a `: section` line before the questions
        raise common.UserError(f"--data: {path} is not an analogy file (': section' lines, then 4 words a line): "
                               f"{str(error).splitlines()[0]}") from None
    total = sections[-1]
    correct, incorrect = len(total["correct"]), len(total["incorrect"])
    return {"accuracy": float(accuracy), "correct": correct, "incorrect": incorrect,
            "skipped": questions - correct - incorrect,
            "sections": [{"section": s["section"], "correct": len(s["correct"]), "incorrect": len(s["incorrect"])}
                         for s in sections[:-1]]}


def evaluate_vectors(vectors, bootstrap=200, seed=0):
    """WordSim-353, SimLex-999 (Spearman) and questions-words (accuracy) through gensim, and the
    occupations on the gender direction (`bias_probe`; skipped when no definitional pair is known)."""
    from seqkeras.data import corpora
    from seqkeras.models.word2vec import bias_probe

    results = {}
    for name, file in BENCHMARKS.items():
        path = corpora.gensim_test_data(file)
        results[name] = word_analogies(vectors, path) if name == "analogies" else word_pairs(vectors, path)
    try:  # occupations on the gender direction of Bolukbasi et al.'s definitional pairs
        results["bias_probe"] = bias_probe(vectors, bootstrap=bootstrap, seed=seed)
    except KeyError as error:  # a corpus without any of the pairs
        results["bias_probe"] = {"skipped": str(error)}
    return results


def _summary_rows(results):
    rows = []
    for name, row in results.items():
        if isinstance(row, dict) and "spearman" in row:
            rows.append((f"{name} Spearman", f"{row['spearman']:.4f}", f"{row['pairs']} pairs, {row['skipped']} skipped"))
        elif isinstance(row, dict) and "accuracy" in row:
            rows.append(("analogy accuracy", f"{row['accuracy']:.4f}",
                         f"{row['correct'] + row['incorrect']} answered, {row['skipped']} skipped"))
    return rows


def print_table(rows):
    for name, value, note in rows:
        print(f"{name:<22}{value:>10}  {note}")


def open_run(config, resume=False, overwrite=False):
    run_dir = pathlib.Path(config.run_dir)
    if resume and (run_dir / common.MODEL_FILE).exists():
        raise common.UserError(f"--resume: {run_dir} already finished training ({common.MODEL_FILE} exists); "
                               "nothing to resume (use --overwrite or another --run-dir to train again)")
    return common.open_run_dir(config, "word2vec", resume=resume, overwrite=overwrite)


def tf_errors():
    import tensorflow as tf

    return (tf.errors.OpError,)


def read_error(error):
    """The telling line of a TensorFlow read error (the first that names the failure, not a trace)."""
    lines = [line.strip() for line in str(getattr(error, "message", error)).splitlines()]
    telling = [line for line in lines if line and not line.startswith(("Traceback", "File ", "^", "[["))]
    return (telling[-1] if telling else type(error).__name__)[:200]


def uses_strategy_trainer(config, run_dir):
    """`--distribute mirrored|multi-worker`, or a run with step checkpoints resumed on one device."""
    return config.distribute != "none" or (pathlib.Path(run_dir) / "ckpt" / "steps").is_dir()


def main(config=TrainConfig(), resume=False, overwrite=False):
    """Trains, saves the vectors and projector files, evaluates; returns the results dict
    (a non-chief worker of a multi-worker job only trains and returns `{"trained": ...}`)."""
    distributed.setup(config)  # TF_CONFIG from --workers/--task-index, before TensorFlow starts
    chief = distributed.is_chief(config)  # only the chief writes the run dir; other workers only log
    # validated config; before any data loads
    run_dir = open_run(config, resume=resume, overwrite=overwrite) if chief else pathlib.Path(config.run_dir)
    strategy_trainer = uses_strategy_trainer(config, run_dir)
    if resume and strategy_trainer and (run_dir / "ckpt" / "backup").is_dir():
        raise common.UserError(f"--resume: {run_dir} was started with --distribute none (epoch checkpoints in "
                               "ckpt/backup); resume it with --distribute none")

    streamed = corpus_entries(config.corpus) is None
    texts = None if streamed else load_texts(config)
    strategy = distributed.make_strategy(config) if strategy_trainer else None  # first TensorFlow call
    import keras

    # Every process the same global seed, whatever ran before it in the process (`Dataset.random`'s
    # stream depends on it): the same batches on every worker and in every trainer.
    keras.utils.set_random_seed(config.seed)
    if strategy is not None and (config.batch_size // config.negative_group_size) % strategy.num_replicas_in_sync:
        raise common.UserError(
            f"--batch-size / --negative-group-size (groups of shared negatives per batch) must be a multiple of the "
            f"{strategy.num_replicas_in_sync} replicas of --distribute {config.distribute}. Received: "
            f"batch_size={config.batch_size}, negative_group_size={config.negative_group_size}")

    from seqkeras.models.word2vec import format_bias_table, save_projector, tokenize_documents
    from seqkeras.models.word2vec.keyed_vectors import VECTORS_BINARY, VECTORS_TEXT

    if streamed:  # read during training: a bad file (gzip, UTF-8) fails in the vocabulary pass
        documents = corpus_lines(config)
    else:
        documents = tokenize_documents(texts, lowercase=config.lowercase)
        if not any(documents):
            raise common.UserError(f"--corpus: {config.corpus} holds no words")
    start = time.perf_counter()
    callbacks, options = [], {}
    if strategy_trainer:
        def on_epoch_end(epoch, logs):  # chief: metrics.json's history survives a kill
            common.update_metrics(run_dir, history={"loss": [logs["loss"]], "alpha": [logs["alpha"]], "epoch": [epoch]})

        options = dict(strategy=strategy, checkpoint_dir=run_dir / "ckpt" / "steps", log_dir=run_dir / "tb",
                       run_trainer=lambda engine, **fit: distributed.fit_engine(config, engine, strategy,
                                                                                on_epoch_end=on_epoch_end, **fit))
    else:
        callbacks = common.standard_callbacks(run_dir, checkpoint_monitor="loss")
    try:
        trained = train(config, documents, callbacks=callbacks, **options)
    except ValueError as error:  # corpus too small for min_count / negative, batch not divisible by replicas
        raise common.UserError(f"--corpus {config.corpus}: {str(error).splitlines()[0]}") from None
    except tf_errors() as error:  # a streamed file that is not gzip or not UTF-8
        common.check_text_files(corpus_files(config.corpus), "--corpus")  # names the file and byte
        raise common.UserError(f"--corpus {config.corpus}: cannot read the files (not gzip, or not UTF-8?): "
                               f"{read_error(error)}") from None
    raw_words = trained.info["raw_words"] if streamed else sum(len(doc) for doc in documents)
    seconds = time.perf_counter() - start
    if not chief:  # a non-chief worker has done its share; the chief saves, evaluates and reports
        return {"trained": trained}
    common.raise_if_diverged([trained.info["trainer"]] if strategy_trainer else callbacks)

    common.save_model(trained.model, run_dir / common.MODEL_FILE)
    trained.vectors.save_word2vec_format(str(run_dir / VECTORS_TEXT))
    trained.vectors.save_word2vec_format(str(run_dir / VECTORS_BINARY), binary=True)
    save_projector(trained.vectors, run_dir / "tb" / "projector")

    results = {
        "words": raw_words,
        "vocabulary_size": len(trained.vectors),
        "train_seconds": seconds,
        "words_per_s": raw_words * config.epochs / seconds,
        "training": {"distribute": config.distribute, "replicas": strategy.num_replicas_in_sync if strategy else 1,
                     "trainer": "StrategyTrainer" if strategy_trainer else "Word2Vec.fit"},
    }
    results.update(evaluate_vectors(trained.vectors, seed=config.seed))
    history = {key: [float(v) for v in values] for key, values in trained.history.history.items()}
    metrics = common.update_metrics(run_dir, history={**history, "epoch": list(trained.history.epoch)}, **results)
    common.plot_history(metrics["history"], run_dir / "training_curve.png", title="word2vec")
    common.log_hparams(run_dir, config, {
        "words_per_s": results["words_per_s"], "wordsim353_spearman": results["wordsim353"]["spearman"],
        "simlex999_spearman": results["simlex999"]["spearman"], "analogy_accuracy": results["analogies"]["accuracy"],
    })
    if config.verbose:
        if "rows" in results["bias_probe"]:
            print(format_bias_table(results["bias_probe"]["rows"], pair=("male", "female")))
        print_table([("words/s", f"{results['words_per_s']:.0f}", f"{raw_words} words x {config.epochs} epochs"),
                     *_summary_rows(results)])
        print(f"wrote {run_dir}/{{model.keras, vectors.txt, vectors.bin, metrics.json, tb/projector}}")
    results["loss_per_epoch"] = metrics["history"].get("loss", [])
    results["trained"] = trained
    return results


def configure(parser):
    common.add_config_arguments(parser, TrainConfig)


def run(args):
    main(common.config_from_args(TrainConfig, args), resume=args.resume, overwrite=args.overwrite)


# ----------------------------------------------------------------------------------------------
# Using a trained run: `seqkeras evaluate / predict`
# ----------------------------------------------------------------------------------------------
def load_vectors(run):
    from seqkeras.models.word2vec import load_keyed_vectors

    path = run.path / "vectors.bin"
    if path.is_file():
        try:
            return load_keyed_vectors(path)
        except (ValueError, EOFError, UnicodeDecodeError) as error:
            raise common.UserError(f"{path} is truncated or corrupt ({type(error).__name__}); retrain the run") from None
    model = common.load_model(run.model_path, what="RUN model")
    return model.keyed_vectors()


def evaluate(run, args):
    """`--data`: a word-pair file (Spearman/Pearson) or an analogy file (accuracy), detected from
    its lines; without it, WordSim-353, SimLex-999, the Google analogies and the bias probe."""
    vectors = load_vectors(run)
    if args.data is None:
        results = evaluate_vectors(vectors, seed=run.config.get("seed", 0))
    else:
        lines = common.read_text_file(args.data, "--data").splitlines()
        name = pathlib.Path(args.data).stem
        if _is_analogy_file(lines):
            results = {"analogies": word_analogies(vectors, args.data)}
        else:
            results = {name: word_pairs(vectors, args.data)}
    print_table(_summary_rows(results))
    return results


PREDICT_FORMATS = ("jsonl",)  # `predict --format` choices, the default first


def predict(run, args):
    """Nearest neighbours (cosine, gensim's `most_similar`) of every `--text` / `--file` line, one
    JSON object per line: words are added, words written `-word` subtracted (`king -man woman`)."""
    from pipelines.predict import inputs, write_output

    vectors = load_vectors(run)
    lowercase = run.config.get("lowercase", True)
    lines = []
    for text in inputs(args):
        words = text.split()
        positive = [word.lower() if lowercase else word for word in words if not word.startswith("-")]
        negative = [word[1:].lower() if lowercase else word[1:] for word in words if word.startswith("-") and len(word) > 1]
        missing = [word for word in positive + negative if word not in vectors.key_to_index]
        row = {"text": text}
        if not positive and not negative:
            row["error"] = "no words"
        elif missing:
            row["error"] = f"not in the vocabulary: {missing}"
        else:
            row["neighbours"] = [[word, round(float(score), 6)]
                                 for word, score in vectors.most_similar(positive=positive, negative=negative, topn=10)]
        lines.append(json.dumps(row, ensure_ascii=False))
    text = "\n".join(lines) + "\n"
    write_output(text, args.out)
    return 0
