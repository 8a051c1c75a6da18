"""word2vec: seqkeras skip-gram vs gensim on the same corpus and hyper-parameters, plus a tagger.

Claims checked (issue 5):
1. Same corpus (gensim's Wikipedia excerpt, markup stripped with `strip_wiki_markup`, lower-cased,
   tokenised once by `tokenize_documents`), same hyper-parameters (skip-gram, vector_size 100,
   window 5, negative 5, sample 1e-3, min_count 5, 5 epochs), one run of each tool:
   - `wordsim353_spearman` within 0.03 of gensim's (or better);
   - `words_per_s` >= 0.5x gensim with 2 workers on CPU (>= 3x on a GPU).
   Both tools' vectors are scored by the same code (`KeyedVectors.evaluate_*`, gensim's protocol);
   gensim's own evaluator is also run on gensim's vectors as a cross-check of that code.
   gensim drops words past 10,000 per sentence, so both tools get the articles cut into
   10,000-word pieces. `train_seconds` is wall time from token lists to vectors (vocabulary
   included) for both; `cpu_seconds` is the process CPU time over the same span. Both tools use
   2 workers (`workers=2`). Timing is repeated (`--repeats`, alternating which tool goes first)
   because the CPU is shared: the reported ratios are medians over back-to-back pairs, each pair
   listed under `timings`.
2. POS tagger (UD English EWT: first 4,000 training sentences, 5 epochs, BiLSTM 64, full dev set)
   accuracy with a random token embedding vs one initialised from the seqkeras vectors trained
   above on the Wikipedia corpus (frozen and trainable, centred by default, plus uncentred
   trainable), and a frozen random control; same sentences, batches, epochs and optimizer for
   every variant, dev accuracy after each epoch, mean and spread over 3 seeds.
   Out-of-vocabulary rows follow `KeyedVectors.embedding_matrix`.

Usage:
    python benchmarks/bench_word2vec.py           # full run -> benchmarks/results/word2vec.json
    python benchmarks/bench_word2vec.py --quick   # small smoke run, JSON to the temp dir
"""

import argparse
import json
import os
import pathlib
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import benchlib  # noqa: E402

from seqkeras.data import corpora  # noqa: E402
from seqkeras.models.word2vec import KeyedVectors, bias_projection, format_bias_table  # noqa: E402
from seqkeras.models.word2vec import tokenize_documents, train_word2vec  # noqa: E402

REPO = benchlib.REPO
EWT_DIR = REPO.parent / "shared" / "data" / "ud-english-ewt"
MAX_SENTENCE = 10000  # gensim's MAX_WORDS_IN_BATCH: longer sentences are truncated by gensim


def load_corpus(quick):
    articles = corpora.wiki_articles()
    if quick:
        articles = articles[:8]
    documents = tokenize_documents([corpora.strip_wiki_markup(a.text) for a in articles], lowercase=True)
    pieces = [doc[i:i + MAX_SENTENCE] for doc in documents for i in range(0, len(doc), MAX_SENTENCE)]
    return [piece for piece in pieces if piece]


def evaluate(vectors):
    wordsim = vectors.evaluate_word_pairs(corpora.gensim_test_data("wordsim353.tsv"))
    simlex = vectors.evaluate_word_pairs(corpora.gensim_test_data("simlex999.txt"))
    analogies = vectors.evaluate_word_analogies(corpora.gensim_test_data("questions-words.txt"))
    return {
        "wordsim353_spearman": wordsim["spearman"],
        "wordsim353_pairs": wordsim["pairs"],
        "simlex999_spearman": simlex["spearman"],
        "analogy_accuracy": analogies["accuracy"],
        "analogy_answered": analogies["correct"] + analogies["incorrect"],
        "analogy_skipped": analogies["skipped"],
    }


def time_seqkeras(documents, params):
    """Trains seqkeras once: `(wall seconds, process CPU seconds, TrainedWord2Vec)`."""
    wall, cpu = time.perf_counter(), time.process_time()
    trained = train_word2vec(documents, **params)
    return time.perf_counter() - wall, time.process_time() - cpu, trained


def time_gensim(documents, params):
    """Trains gensim once (skip-gram, negative sampling): `(wall seconds, process CPU seconds, model)`."""
    from gensim.models import Word2Vec as GensimWord2Vec

    wall, cpu = time.perf_counter(), time.process_time()
    model = GensimWord2Vec(
        documents, sg=1, hs=0, workers=params["workers"], vector_size=params["vector_size"], window=params["window"],
        negative=params["negative"], sample=params["sample"], min_count=params["min_count"],
        ns_exponent=params["ns_exponent"], alpha=params["alpha"], min_alpha=params["min_alpha"],
        epochs=params["epochs"], seed=params["seed"],
    )
    return time.perf_counter() - wall, time.process_time() - cpu, model


def run_seqkeras(documents, params, raw_words):
    load = os.getloadavg()[0]
    wall, cpu, trained = time_seqkeras(documents, params)
    result = {
        "train_seconds": wall,
        "cpu_seconds": cpu,
        "words_per_s": raw_words * params["epochs"] / wall,
        "loss_per_epoch": [float(v) for v in trained.history.history["loss"]],
        "vocabulary_size": len(trained.vectors),
        "steps_per_epoch": trained.info["steps"],
        "load_average_before": load,
        "load_average_after": os.getloadavg()[0],
    }
    result.update(evaluate(trained.vectors))
    return result, trained


def run_gensim(documents, params, raw_words):
    load = os.getloadavg()[0]
    wall, cpu, model = time_gensim(documents, params)
    vectors = KeyedVectors(list(model.wv.index_to_key), model.wv.vectors)
    result = {
        "train_seconds": wall,
        "cpu_seconds": cpu,
        "words_per_s": raw_words * params["epochs"] / wall,
        "vocabulary_size": len(vectors),
        "load_average_before": load,
        "load_average_after": os.getloadavg()[0],
    }
    result.update(evaluate(vectors))
    own_pairs = model.wv.evaluate_word_pairs(str(corpora.gensim_test_data("wordsim353.tsv")))
    own_analogy, _ = model.wv.evaluate_word_analogies(str(corpora.gensim_test_data("questions-words.txt")))
    result["gensim_own_eval"] = {"wordsim353_spearman": float(own_pairs[1][0]), "analogy_accuracy": float(own_analogy)}
    return result


TAGGER_VARIANTS = (
    # name, embedding rows, trainable
    ("random", "keras", True),  # Keras' default initialiser, trained
    ("random_frozen", "random", False),  # random rows on the word2vec matrix's scale, frozen
    ("word2vec_frozen", "word2vec", False),
    ("word2vec_trainable", "word2vec", True),
    ("word2vec_uncentred_trainable", "word2vec_uncentred", True),
)


def time_repeats(documents, params, raw_words, gensim_result, seqkeras_result, repeats):
    """Timing of both tools over `repeats` runs (the first given, the rest alternating which goes first).

    The CPU is shared with other jobs, so one run's wall times drift with the load; the ratio of
    each back-to-back pair and the medians over the pairs are reported, with the process CPU
    seconds (the same work whatever the load).
    """
    runs = [{
        "gensim_seconds": gensim_result["train_seconds"], "seqkeras_seconds": seqkeras_result["train_seconds"],
        "gensim_cpu_seconds": gensim_result["cpu_seconds"], "seqkeras_cpu_seconds": seqkeras_result["cpu_seconds"],
        "load_average": os.getloadavg()[0],
    }]
    for repeat in range(1, repeats):
        run = {}
        for tool in (("seqkeras", "gensim") if repeat % 2 else ("gensim", "seqkeras")):
            wall, cpu, _ = (time_seqkeras if tool == "seqkeras" else time_gensim)(documents, params)
            run[f"{tool}_seconds"], run[f"{tool}_cpu_seconds"] = wall, cpu
        run["load_average"] = os.getloadavg()[0]
        runs.append(run)
    speed = [run["gensim_seconds"] / run["seqkeras_seconds"] for run in runs]
    cpu = [run["seqkeras_cpu_seconds"] / run["gensim_cpu_seconds"] for run in runs]
    return {
        "runs": runs,
        "words_per_s_ratio": speed,
        "cpu_seconds_ratio": cpu,
        "median_words_per_s_ratio": float(np.median(speed)),
        "median_cpu_seconds_ratio": float(np.median(cpu)),
        "median_seqkeras_words_per_s": float(np.median([raw_words * params["epochs"] / r["seqkeras_seconds"] for r in runs])),
        "median_gensim_words_per_s": float(np.median([raw_words * params["epochs"] / r["gensim_seconds"] for r in runs])),
    }


def run_tagger(vectors, quick, epochs=None, train_sentences=4000, seeds=(0,)):
    """EWT UPOS dev accuracy: random token embedding vs one initialised from `vectors`.

    Every variant is the same BiLSTM trained on the same sentences, batches (same shuffle seed)
    and number of epochs with the same optimizer and loss (`from_logits=True`: the tagger
    gives logits); only the token embedding's initial rows and whether it trains differ. The
    vocabulary is the training sentences' lower-cased words; rows of words missing from
    `vectors` follow `KeyedVectors.embedding_matrix`. `random_frozen` is the control for the
    frozen word2vec run: random rows with the word2vec matrix's per-dimension scale. Dev
    accuracy is recorded after every epoch, for every seed.
    """
    train_file = EWT_DIR / "en_ewt-ud-train.conllu.gz"
    dev_file = EWT_DIR / "en_ewt-ud-dev.conllu.gz"
    if not train_file.exists():
        return {"skipped": f"UD English EWT not found at {EWT_DIR}"}
    import keras

    from seqkeras.losses import MaskedSparseCategoricalCrossentropy
    from seqkeras.models.common import WordPreprocessor
    from seqkeras.models.tagger import build_tagger

    train = corpora.read_conllu(train_file)
    dev = corpora.read_conllu(dev_file)
    train, dev = (train[:300], dev[:100]) if quick else (train[:train_sentences], dev)
    epochs = epochs or (1 if quick else 5)
    tags = sorted({tag for sentence in train for tag in sentence.upos})
    tag_index = {tag: i for i, tag in enumerate(tags)}
    preprocessor = WordPreprocessor.build([list(s.words) for s in train], min_count=1, characters=False, lowercase=True)
    train_data = preprocessor.dataset(
        [list(s.words) for s in train], [[tag_index[t] for t in s.upos] for s in train], batch_size=32,
        shuffle=True, seed=0,
    )
    # A dev tag never seen in training counts as an error (-1 matches no prediction).
    dev_data = preprocessor.dataset(
        [list(s.words) for s in dev], [[tag_index.get(t, -1) for t in s.upos] for s in dev], batch_size=64
    )

    tokens = preprocessor.vocabulary.tokens
    matrix, found = vectors.embedding_matrix(tokens, seed=0)
    uncentred, _ = vectors.embedding_matrix(tokens, center=False, seed=0)
    scale = matrix[found].std(axis=0) if found.any() else np.full(matrix.shape[1], 0.05, "float32")
    random_rows = (np.random.default_rng(0).standard_normal(matrix.shape) * scale).astype("float32")
    random_rows[0] = 0.0  # padding, as in embedding_matrix
    rows = {"keras": None, "random": random_rows, "word2vec": matrix, "word2vec_uncentred": uncentred}

    def dev_accuracy(model):
        correct = total = 0
        for features, targets in dev_data:
            predicted = np.argmax(model.predict_on_batch(features), axis=-1)
            mask = np.asarray(features["padding_mask"])
            correct += int(np.sum((predicted == np.asarray(targets)) & mask))
            total += int(mask.sum())
        return correct / total

    class DevAccuracy(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.history = []

        def on_epoch_end(self, epoch, logs=None):
            self.history.append(dev_accuracy(self.model))

    results = {
        "train_sentences": len(train), "dev_sentences": len(dev), "epochs": epochs, "seeds": list(seeds),
        "vocabulary_size": preprocessor.vocabulary.size, "vocabulary_coverage": float(found.mean()),
        "model": "BiLSTM hidden 64, embedding 100, Adam 2e-3, batch 32, from_logits=True",
        "variants": {},
    }
    for name, source, trainable in TAGGER_VARIANTS:
        runs = []
        for seed in seeds:
            keras.utils.set_random_seed(seed)
            model = build_tagger(
                preprocessor.vocabulary.size, len(tags), hidden_dim=64, embedding_dim=matrix.shape[1],
                embedding_weights=rows[source], embedding_trainable=trainable,
            )
            model.compile(optimizer=keras.optimizers.Adam(2e-3), loss=MaskedSparseCategoricalCrossentropy(from_logits=True))
            curve = DevAccuracy()
            start = time.perf_counter()
            history = model.fit(train_data, epochs=epochs, verbose=0, callbacks=[curve])
            runs.append({
                "seed": seed, "dev_accuracy_per_epoch": curve.history,
                "train_loss_per_epoch": [float(v) for v in history.history["loss"]],
                "seconds": time.perf_counter() - start,
            })
        final = [run["dev_accuracy_per_epoch"][-1] for run in runs]
        results["variants"][name] = {
            "embedding": source, "trainable": trainable, "runs": runs,
            "dev_accuracy_mean": float(np.mean(final)), "dev_accuracy_std": float(np.std(final)),
        }
        results[f"{name}_accuracy"] = float(np.mean(final))
        print(f"tagger {name:30} dev accuracy {np.mean(final):.4f} "
              f"(per epoch, seed {seeds[0]}: {[round(a, 3) for a in runs[0]['dev_accuracy_per_epoch']]})", flush=True)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small corpus, 1 epoch; JSON to the temp dir")
    parser.add_argument("--no-tagger", action="store_true", help="skip the POS tagger comparison")
    parser.add_argument(
        "--repeats", type=int, default=None,
        help="timed runs of each tool, alternating (default 3, 1 with --quick); quality from the first",
    )
    parser.add_argument("--tagger-epochs", type=int, default=None, help="tagger epochs (default 5; 1 with --quick)")
    parser.add_argument("--tagger-sentences", type=int, default=4000, help="EWT training sentences for the tagger")
    parser.add_argument("--tagger-seeds", type=int, default=3, help="tagger runs per variant (seeds 0..N-1)")
    parser.add_argument("--output", type=pathlib.Path, default=None)
    args = parser.parse_args()

    documents = load_corpus(args.quick)
    raw_words = sum(len(doc) for doc in documents)
    params = dict(
        vector_size=100, window=5, negative=5, sample=1e-3, min_count=5, ns_exponent=0.75,
        alpha=0.025, min_alpha=0.0001, epochs=1 if args.quick else 5, seed=0, workers=2,
    )
    print(f"device: {benchlib.device_description()}; corpus: {len(documents)} pieces, {raw_words} words")

    gensim_result = run_gensim(documents, params, raw_words)
    seqkeras_result, trained = run_seqkeras(documents, params, raw_words)
    timings = time_repeats(documents, params, raw_words, gensim_result, seqkeras_result, args.repeats or (1 if args.quick else 3))
    rows, missing = bias_projection(trained.vectors)
    tagger = {"skipped": "--no-tagger"} if args.no_tagger else run_tagger(
        trained.vectors, args.quick, epochs=args.tagger_epochs, train_sentences=args.tagger_sentences,
        seeds=tuple(range(args.tagger_seeds)),
    )

    ratios = {
        "words_per_s_ratio": timings["median_words_per_s_ratio"],
        "cpu_seconds_ratio": timings["median_cpu_seconds_ratio"],
        "wordsim353_difference": seqkeras_result["wordsim353_spearman"] - gensim_result["wordsim353_spearman"],
    }
    report = {
        "device": benchlib.device_description(),
        "quick": args.quick,
        "corpus": {"pieces": len(documents), "raw_words": raw_words},
        "params": params,
        "seqkeras": seqkeras_result,
        "gensim": gensim_result,
        **ratios,
        "timings": timings,
        "goals": {
            "wordsim353_within_0.03": ratios["wordsim353_difference"] >= -0.03,
            "words_per_s_at_least_0.5x": ratios["words_per_s_ratio"] >= 0.5,
        },
        "bias_probe": {"rows": rows, "missing": missing},
        "tagger": tagger,
    }

    keys = ["train_seconds", "cpu_seconds", "words_per_s", "wordsim353_spearman", "simlex999_spearman", "analogy_accuracy"]
    print(f"{'':24}{'seqkeras':>14}{'gensim':>14}")
    for key in keys:
        print(f"{key:24}{seqkeras_result[key]:>14.4g}{gensim_result[key]:>14.4g}")
    print(f"words/s ratio per run {[round(r, 2) for r in timings['words_per_s_ratio']]}, "
          f"CPU-seconds ratio per run {[round(r, 2) for r in timings['cpu_seconds_ratio']]} (medians used)")
    print(f"words/s ratio {ratios['words_per_s_ratio']:.2f}, wordsim difference {ratios['wordsim353_difference']:+.3f}")
    print(f"seqkeras loss per epoch: {[round(v, 4) for v in seqkeras_result['loss_per_epoch']]}")
    print(format_bias_table(rows))
    if "variants" in tagger:
        print(f"tagger ({tagger['train_sentences']} EWT sentences, {tagger['epochs']} epochs, seeds {tagger['seeds']}): dev accuracy")
        for name, variant in tagger["variants"].items():
            print(f"  {name:30}{variant['dev_accuracy_mean']:>10.4f} +- {variant['dev_accuracy_std']:.4f}")
    else:
        print("tagger:", json.dumps(tagger))

    benchlib.write_results(report, benchlib.results_path("word2vec", quick=args.quick, out=args.output))


if __name__ == "__main__":
    main()
