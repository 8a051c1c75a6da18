"""Train skip-gram word2vec with negative sampling and write the vectors in every useful form.

    seqkeras train word2vec                          # Wikipedia excerpt, gensim's defaults, 5 epochs
    seqkeras train word2vec --corpus lee --epochs 10 --run-dir runs/w2v-lee
    seqkeras train word2vec --corpus my_docs.txt     # one document per line
    seqkeras train word2vec --config run.json        # any TrainConfig fields as JSON

Hyper-parameters carry gensim's names. The corpus is lower-cased and split into words with the
tensorflow-text Unicode-script tokenizer (punctuation dropped). Writes
`runs/word2vec/{config.json, tb/, ckpt/, model.keras, vocabulary.txt, vectors.txt, vectors.bin,
tb/projector/, results.json}`: word2vec text and binary files (gensim's `load_word2vec_format`
reads them), TensorBoard projector files, and the evaluation (WordSim-353, SimLex-999, analogies,
occupations on the gender direction with a bootstrap over the definitional pairs).
"""

import dataclasses
import json
import pathlib
import time

from pipelines import common
from seqkeras.data import corpora
from seqkeras.models.word2vec import bias_probe, format_bias_table, tokenize_documents, train_word2vec

CORPORA = ("wiki", "lee")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    # --- data ---
    corpus: str = "wiki"  # "wiki" (gensim's Wikipedia excerpt, markup stripped), "lee", or a text file, one document per line
    max_documents: int = 0  # use only the first N documents (0: all)
    lowercase: bool = True
    # --- vocabulary (gensim names) ---
    min_count: int = 5  # drop words seen fewer times
    max_vocab_size: int = 0  # keep the N most frequent words (0: no limit)
    # --- skip-gram sampling (gensim names) ---
    window: int = 5  # maximum context distance; the effective window is uniform in 1..window
    sample: float = 1e-3  # subsampling threshold of frequent words (0: off)
    negative: int = 5  # negatives per (target, context) pair
    negative_group_size: int = 32  # pairs sharing one draw of negatives (1: every pair its own, as gensim)
    ns_exponent: float = 0.75  # negatives ~ count ** ns_exponent
    # --- model and SGD (gensim names) ---
    vector_size: int = 100
    alpha: float = 0.025  # initial learning rate
    min_alpha: float = 0.0001  # final learning rate (linear decay over all epochs)
    epochs: int = 5
    seed: int = 0
    # --- throughput ---
    batch_size: int = 4096  # pairs per SGD step
    steps_per_execution: int = 16
    jit_compile: bool = True
    workers: int = 1  # shards of each SGD step computed in parallel (gensim's name; tf.data uses other threads)
    # --- output ---
    run_dir: str = "runs/word2vec"
    verbose: int = 2  # Keras progress: 0 silent, 1 progress bar, 2 one line per epoch

    def __post_init__(self):
        if self.corpus not in CORPORA and not pathlib.Path(self.corpus).is_file():
            raise ValueError(f"`corpus` must be one of {CORPORA} or an existing text file. Received: corpus={self.corpus!r}")
        for name in ("min_count", "window", "negative", "vector_size", "epochs", "batch_size", "steps_per_execution",
                     "workers", "negative_group_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be >= 1. Received: {name}={getattr(self, name)!r}")
        for name in ("max_documents", "max_vocab_size", "sample"):
            if getattr(self, name) < 0:
                raise ValueError(f"`{name}` must be >= 0. Received: {name}={getattr(self, name)!r}")
        if self.batch_size % self.negative_group_size:
            raise ValueError(
                "`negative_group_size` must divide `batch_size`. "
                f"Received: negative_group_size={self.negative_group_size}, batch_size={self.batch_size}"
            )


def load_texts(config):
    """The plain-text documents of the configured corpus (first `max_documents` if set)."""
    if config.corpus == "wiki":
        articles = corpora.wiki_articles()
        if config.max_documents:
            articles = articles[: config.max_documents]
        texts = [corpora.strip_wiki_markup(article.text) for article in articles]
    elif config.corpus == "lee":
        texts = corpora.lee_documents()
    else:
        texts = [line for line in pathlib.Path(config.corpus).read_text(encoding="utf-8").splitlines() if line.strip()]
    return texts[: config.max_documents] if config.max_documents else texts


def train(config, documents, callbacks=()):
    """`train_word2vec` with every config field mapped explicitly."""
    return train_word2vec(
        documents,
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
        workers=config.workers,
        negative_group_size=config.negative_group_size,
        batch_size=config.batch_size,
        steps_per_execution=config.steps_per_execution,
        jit_compile=config.jit_compile,
        callbacks=list(callbacks),
        verbose=config.verbose,
    )


def evaluate(vectors):
    """WordSim-353, SimLex-999 (Spearman) and questions-words (accuracy), skips counted."""
    results = {}
    for name, file in (("wordsim353", "wordsim353.tsv"), ("simlex999", "simlex999.txt")):
        scores = vectors.evaluate_word_pairs(corpora.gensim_test_data(file))
        results[name] = {key: scores[key] for key in ("spearman", "pearson", "pairs", "skipped")}
    analogies = vectors.evaluate_word_analogies(corpora.gensim_test_data("questions-words.txt"))
    results["analogies"] = {key: analogies[key] for key in ("accuracy", "correct", "incorrect", "skipped")}
    return results


def main(config=TrainConfig()):
    """Trains, saves the vectors and projector files, evaluates; returns the results dict."""
    run_dir = common.prepare_run_dir(config)
    documents = tokenize_documents(load_texts(config), lowercase=config.lowercase)
    raw_words = sum(len(doc) for doc in documents)
    start = time.perf_counter()
    trained = train(config, documents, callbacks=common.standard_callbacks(run_dir, checkpoint_monitor="loss"))
    seconds = time.perf_counter() - start

    trained.model.save(run_dir / "model.keras")
    trained.vocabulary.save(run_dir / "vocabulary.txt")
    trained.vectors.save_word2vec_format(run_dir / "vectors.txt")
    trained.vectors.save_word2vec_format(run_dir / "vectors.bin", binary=True)
    trained.vectors.save_projector(run_dir / "tb" / "projector")

    results = {
        "words": raw_words,
        "vocabulary_size": len(trained.vectors),
        "train_seconds": seconds,
        "words_per_s": raw_words * config.epochs / seconds,
        "loss_per_epoch": [float(v) for v in trained.history.history["loss"]],
    }
    results.update(evaluate(trained.vectors))
    try:  # occupations on the gender direction of Bolukbasi et al.'s definitional pairs
        results["bias_probe"] = bias_probe(trained.vectors, bootstrap=200, seed=config.seed)
        print(format_bias_table(results["bias_probe"]["rows"], pair=("male", "female")))
    except KeyError as error:  # a corpus without any of the pairs
        results["bias_probe"] = {"skipped": str(error)}
    (run_dir / "results.json").write_text(json.dumps(results, indent=2))
    print(json.dumps({key: results[key] for key in ("words_per_s", "loss_per_epoch", "wordsim353", "analogies")}, indent=2))
    return results


def configure(parser):
    common.add_config_arguments(parser, TrainConfig)


def run(args):
    main(common.config_from_args(TrainConfig, args))
