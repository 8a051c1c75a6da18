"""word2vec: seqkeras skip-gram vs gensim on the same corpus and hyper-parameters, plus a tagger.

Claims checked (issue 5):
1. Same corpus (gensim's Wikipedia excerpt, markup stripped with `strip_wiki_markup`, lower-cased,
   tokenised once by `tokenize_documents`), same hyper-parameters (skip-gram, vector_size 100,
   window 5, negative 5, sample 1e-3, min_count 5, 5 epochs):
   - `wordsim353_spearman` within 0.03 of gensim's (or better), analogies not worse;
   - `words_per_s` >= 0.5x gensim with 2 workers on CPU (>= 3x on a GPU).
   Both tools' vectors are scored by the same code (gensim's `KeyedVectors.evaluate_*`);
   gensim's own evaluator is also run on gensim's vectors as a cross-check of that code.
   gensim drops words past 10,000 per sentence, so both tools get the articles cut into
   10,000-word pieces. `train_seconds` is wall time from token lists to vectors (vocabulary
   included) for both; `cpu_seconds` is the process CPU time over the same span. gensim uses
   2 worker threads (`workers=2`); seqkeras shards its SGD step over `seqkeras_workers` (default
   1: one XLA computation per step, its `tf.data` pipeline on the other core). Each tool runs `--repeats` times with seeds 0, 1, ... (alternating
   which tool goes first, because the CPU may be shared): the ratios are medians over the
   back-to-back pairs (all listed under `timings`), the headline quality is seed 0's, and
   `quality_over_seeds` gives the mean and spread over the seeds.
   seqkeras shares each draw of negatives among `negative_group_size` pairs (default 32, a
   negative equal to a pair's context is masked for that pair); the same runs with
   `negative_group_size=1` (every pair its own negatives, gensim's scheme) are reported under
   `seqkeras_independent_negatives`, so the default is checked against both.
   `input_pipeline` gives the process CPU-seconds of the skip-gram `tf.data` pipeline alone (one
   epoch consumed in-graph, as `fit` does) next to the training's, per word.
2. Bias probe: occupation words on the gender direction (first principal component of
   Bolukbasi et al.'s definitional pairs), with a 90% bootstrap interval over the pairs, the
   spread over the seeds' vectors, sanity checks (king vs queen, actor vs actress) and the
   single-pair he - she table for comparison.
3. POS tagger (UD English EWT: first 4,000 training sentences, 5 epochs, BiLSTM 64, full dev set)
   accuracy with a random token embedding vs one initialised from the seqkeras vectors trained
   above on the Wikipedia corpus (frozen and trainable, centred by default, plus uncentred
   trainable), and a frozen random control; same sentences, batches, epochs and optimizer for
   every variant, dev accuracy after each epoch, mean and spread over 3 seeds.
   Out-of-vocabulary rows follow `seqkeras.models.word2vec.embedding_matrix`.

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
from pipelines.train_word2vec import word_analogies, word_pairs  # noqa: E402
from seqkeras.models.word2vec import bias_probe, bias_projection, embedding_matrix, format_bias_table  # noqa: E402
from seqkeras.models.word2vec import tokenize_documents, train_word2vec  # noqa: E402

REPO = benchlib.REPO
EWT_DIR = REPO.parent / "shared" / "data" / "ud-english-ewt"
MAX_SENTENCE = 10000  # gensim's MAX_WORDS_IN_BATCH: longer sentences are truncated by gensim
QUALITY_KEYS = ("wordsim353_spearman", "simlex999_spearman", "analogy_accuracy")
SEQKERAS_ONLY = ("negative_group_size", "batch_size", "seqkeras_workers")  # params gensim does not take
SANITY_PAIRS = (("king", "queen"), ("actor", "actress"))  # the first should lean male of the second


def load_corpus(quick):
    articles = corpora.wiki_articles()
    if quick:
        articles = articles[:8]
    documents = tokenize_documents([corpora.strip_wiki_markup(a.text) for a in articles], lowercase=True)
    pieces = [doc[i:i + MAX_SENTENCE] for doc in documents for i in range(0, len(doc), MAX_SENTENCE)]
    return [piece for piece in pieces if piece]


def evaluate(vectors):
    """gensim's `evaluate_word_pairs` / `evaluate_word_analogies` (through the pipeline's wrappers)."""
    wordsim = word_pairs(vectors, corpora.gensim_test_data("wordsim353.tsv"))
    simlex = word_pairs(vectors, corpora.gensim_test_data("simlex999.txt"))
    analogies = word_analogies(vectors, corpora.gensim_test_data("questions-words.txt"))
    return {
        "wordsim353_spearman": wordsim["spearman"],
        "wordsim353_pairs": wordsim["pairs"],
        "simlex999_spearman": simlex["spearman"],
        "analogy_accuracy": analogies["accuracy"],
        "analogy_answered": analogies["correct"] + analogies["incorrect"],
        "analogy_skipped": analogies["skipped"],
    }


def run_seqkeras(documents, params, raw_words):
    """Trains seqkeras once (timed), then evaluates: `(result dict, TrainedWord2Vec)`."""
    keywords = {key: value for key, value in params.items() if key != "seqkeras_workers"}
    keywords["workers"] = params["seqkeras_workers"]
    load = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), time.process_time()
    trained = train_word2vec(documents, **keywords)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    result = {
        "seed": params["seed"],
        "train_seconds": wall,
        "cpu_seconds": cpu,
        "words_per_s": raw_words * params["epochs"] / wall,
        "loss_per_epoch": [float(v) for v in trained.history.history["loss"]],
        "vocabulary_size": len(trained.vectors),
        "steps_per_epoch": trained.info["steps"],
        "negative_group_size": trained.info["negative_group_size"],
        "workers": params["seqkeras_workers"],
        "load_average_before": load,
        "load_average_after": os.getloadavg()[0],
    }
    result.update(evaluate(trained.vectors))
    return result, trained


def run_gensim(documents, params, raw_words):
    """Trains gensim once (skip-gram, negative sampling; timed), then evaluates: `(result, vectors)`."""
    from gensim.models import Word2Vec as GensimWord2Vec

    load = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), time.process_time()
    model = GensimWord2Vec(
        documents, sg=1, hs=0, workers=params["workers"], vector_size=params["vector_size"], window=params["window"],
        negative=params["negative"], sample=params["sample"], min_count=params["min_count"],
        ns_exponent=params["ns_exponent"], alpha=params["alpha"], min_alpha=params["min_alpha"],
        epochs=params["epochs"], seed=params["seed"],
    )
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    vectors = model.wv  # gensim's KeyedVectors, frequency order
    result = {
        "seed": params["seed"],
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
    return result, vectors


def compare(documents, params, raw_words, repeats):
    """Both tools (and seqkeras with independent negatives) once per seed 0..repeats-1.

    Which tool goes first alternates; each pair of runs is back to back, so each ratio compares
    runs under about the same load. Returns `(runs, vectors)` with `vectors[tool]` the list of
    gensim `KeyedVectors` (one per seed) and `vectors["trained"]` seed 0's `TrainedWord2Vec`.
    """
    runs, vectors = [], {"seqkeras": [], "gensim": [], "seqkeras_independent_negatives": [], "trained": None}
    for seed in range(repeats):
        seeded = dict(params, seed=seed)
        run = {"seed": seed}
        for tool in (("gensim", "seqkeras") if seed % 2 == 0 else ("seqkeras", "gensim")):
            if tool == "gensim":
                run["gensim"], kv = run_gensim(documents, seeded, raw_words)
            else:
                run["seqkeras"], trained = run_seqkeras(documents, seeded, raw_words)
                kv = trained.vectors
                if seed == 0:
                    vectors["trained"] = trained
            vectors[tool].append(kv)
        independent, trained = run_seqkeras(documents, dict(seeded, negative_group_size=1), raw_words)
        run["seqkeras_independent_negatives"] = independent
        vectors["seqkeras_independent_negatives"].append(trained.vectors)
        run["load_average"] = os.getloadavg()[0]
        print(f"seed {seed}: " + ", ".join(
            f"{tool} {run[tool]['train_seconds']:.2f} s wordsim {run[tool]['wordsim353_spearman']:.3f}"
            for tool in ("seqkeras", "gensim", "seqkeras_independent_negatives")
        ), flush=True)
        runs.append(run)
    return runs, vectors


def summarise(runs, raw_words, epochs):
    """Timing ratios per back-to-back pair and their medians; quality mean and spread over seeds."""
    speed = [run["gensim"]["train_seconds"] / run["seqkeras"]["train_seconds"] for run in runs]
    cpu = [run["seqkeras"]["cpu_seconds"] / run["gensim"]["cpu_seconds"] for run in runs]
    independent = [run["gensim"]["train_seconds"] / run["seqkeras_independent_negatives"]["train_seconds"] for run in runs]
    timings = {
        "runs": [{
            "seed": run["seed"],
            **{f"{tool}_seconds": run[tool]["train_seconds"] for tool in ("gensim", "seqkeras", "seqkeras_independent_negatives")},
            **{f"{tool}_cpu_seconds": run[tool]["cpu_seconds"] for tool in ("gensim", "seqkeras", "seqkeras_independent_negatives")},
            "load_average": run["load_average"],
        } for run in runs],
        "words_per_s_ratio": speed,
        "cpu_seconds_ratio": cpu,
        "independent_negatives_words_per_s_ratio": independent,
        "median_words_per_s_ratio": float(np.median(speed)),
        "median_cpu_seconds_ratio": float(np.median(cpu)),
        "median_independent_negatives_words_per_s_ratio": float(np.median(independent)),
    }
    for tool in ("seqkeras", "gensim", "seqkeras_independent_negatives"):
        timings[f"median_{tool}_words_per_s"] = float(np.median([raw_words * epochs / run[tool]["train_seconds"] for run in runs]))
    quality = {
        tool: {
            key: {
                "values": [run[tool][key] for run in runs],
                "mean": float(np.mean([run[tool][key] for run in runs])),
                "std": float(np.std([run[tool][key] for run in runs])),
            }
            for key in QUALITY_KEYS
        }
        for tool in ("seqkeras", "gensim", "seqkeras_independent_negatives")
    }
    return timings, quality


def measure_input_pipeline(documents, trained, params, passes=2):
    """Process CPU-seconds of the skip-gram `tf.data` pipeline alone, per epoch and per word.

    Rebuilds the dataset `train_word2vec` used (same vocabulary, counts and settings) and
    consumes whole epochs inside a `tf.function` (as `fit` does, no Python per batch), after one
    warm-up pass; the minimum over `passes` is kept.
    """
    import tensorflow as tf

    from seqkeras.data.skipgrams import skipgram_dataset
    from seqkeras.data.vocabulary import NUM_RESERVED
    from seqkeras.models.word2vec import documents_to_ids

    counts = np.zeros(trained.vocabulary.size, np.int64)
    counts[NUM_RESERVED:] = [trained.vectors.get_vecattr(word, "count") for word in trained.vectors.index_to_key]
    dataset, info = skipgram_dataset(
        documents_to_ids(documents, trained.vocabulary), counts, window=params["window"], negative=params["negative"], sample=params["sample"],
        ns_exponent=params["ns_exponent"], batch_size=params["batch_size"], seed=params["seed"],
        negative_group_size=params["negative_group_size"],
    )

    @tf.function
    def consume():
        pairs = tf.constant(0.0)
        for batch in dataset:
            pairs += tf.reduce_sum(batch["weight"])
        return pairs

    consume()
    seconds = []
    for _ in range(passes):
        start = time.process_time()
        consume()
        seconds.append(time.process_time() - start)
    return min(seconds), info


TAGGER_VARIANTS = (
    # name, embedding rows, trainable
    ("random", "keras", True),  # Keras' default initialiser, trained
    ("random_frozen", "random", False),  # random rows on the word2vec matrix's scale, frozen
    ("word2vec_frozen", "word2vec", False),
    ("word2vec_trainable", "word2vec", True),
    ("word2vec_uncentred_trainable", "word2vec_uncentred", True),
)


def bias_report(seed_vectors, bootstrap):
    """The bias probe on seed 0's vectors (bootstrap over the pairs), its spread over the seeds'
    vectors, sanity checks, and the single-pair he - she table it replaces."""
    probe = bias_probe(seed_vectors[0], bootstrap=bootstrap, seed=0)
    per_seed = [{row["word"]: row["projection"] for row in bias_probe(kv, bootstrap=0)["rows"]} for kv in seed_vectors]
    for row in probe["rows"]:
        values = [projections[row["word"]] for projections in per_seed if row["word"] in projections]
        row["seeds"] = values
        row["seed_std"] = float(np.std(values))
    single_rows, _ = bias_projection(seed_vectors[0])
    single_per_seed = [dict(bias_projection(kv)[0]) for kv in seed_vectors]
    probe["sanity"] = {
        f"{a}-{b}": {
            "gender_direction": [p[a] - p[b] for p in per_seed if a in p and b in p],
            "he_she": [p[a] - p[b] for p in single_per_seed if a in p and b in p],
        }
        for a, b in SANITY_PAIRS
    }
    words = [row["word"] for row in probe["rows"]]
    probe["mean_seed_std"] = {
        "gender_direction": float(np.mean([row["seed_std"] for row in probe["rows"]])),
        "he_she": float(np.mean([np.std([p[w] for p in single_per_seed if w in p]) for w in words])),
    }
    probe["intervals_spanning_zero"] = int(sum(row.get("low", 0) < 0 < row.get("high", 0) for row in probe["rows"]))
    probe["single_pair_he_she"] = {"rows": single_rows}
    return probe


def run_tagger(vectors, quick, epochs=None, train_sentences=4000, seeds=(0,)):
    """EWT UPOS dev accuracy: random token embedding vs one initialised from `vectors`.

    Every variant is the same BiLSTM trained on the same sentences, batches (same shuffle seed)
    and number of epochs with the same optimizer and loss (`from_logits=True`: the tagger
    gives logits); only the token embedding's initial rows and whether it trains differ. The
    vocabulary is the training sentences' lower-cased words; rows of words missing from
    `vectors` follow `embedding_matrix`. `random_frozen` is the control for the
    frozen word2vec run: random rows with the word2vec matrix's per-dimension scale. Dev
    accuracy is recorded after every epoch, for every seed.
    """
    train_file = EWT_DIR / "en_ewt-ud-train.conllu.gz"
    dev_file = EWT_DIR / "en_ewt-ud-dev.conllu.gz"
    if not train_file.exists():
        return {"skipped": f"UD English EWT not found at {EWT_DIR}"}
    import keras

    from seqkeras.losses import MaskedSparseCategoricalCrossentropy
    from seqkeras.models.common import build_word_lookup, text_batches
    from seqkeras.models.tagger import build_tagger

    train = corpora.read_conllu(train_file)
    dev = corpora.read_conllu(dev_file)
    train, dev = (train[:300], dev[:100]) if quick else (train[:train_sentences], dev)
    epochs = epochs or (1 if quick else 5)
    tags = sorted({tag for sentence in train for tag in sentence.upos})
    tag_index = {tag: i for i, tag in enumerate(tags)}
    preprocessor = build_word_lookup([list(s.words) for s in train], min_count=1, characters=False, lowercase=True)
    train_data = text_batches(
        preprocessor, [" ".join(s.words) for s in train], [[tag_index[t] for t in s.upos] for s in train],
        batching="sorted", batch_size=32, shuffle=True, seed=0,
    )
    # A dev tag never seen in training counts as an error (-1 matches no prediction).
    dev_data = text_batches(
        preprocessor, [" ".join(s.words) for s in dev], [[tag_index.get(t, -1) for t in s.upos] for s in dev],
        batching="sorted", batch_size=64, shuffle=False,
    )

    tokens = preprocessor.vocabulary.tokens
    matrix, found = embedding_matrix(vectors, tokens, seed=0)
    uncentred, _ = embedding_matrix(vectors, tokens, center=False, seed=0)
    scale = matrix[found].std(axis=0) if found.any() else np.full(matrix.shape[1], 0.05, "float32")
    random_rows = (np.random.default_rng(0).standard_normal(matrix.shape) * scale).astype("float32")
    random_rows[0] = 0.0  # padding, as in embedding_matrix
    rows = {"keras": None, "random": random_rows, "word2vec": matrix, "word2vec_uncentred": uncentred}

    def dev_accuracy(model):
        correct = total = 0
        for features, targets, _ in dev_data:
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
        help="runs of each tool with seeds 0..N-1, alternating which goes first (default 3, 1 with --quick)",
    )
    parser.add_argument("--negative-group-size", type=int, default=32, help="seqkeras pairs sharing negatives")
    parser.add_argument("--seqkeras-workers", type=int, default=1, help="shards of seqkeras' SGD step")
    parser.add_argument("--bootstrap", type=int, default=200, help="bootstrap rounds of the bias probe")
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
        negative_group_size=args.negative_group_size, batch_size=4096, seqkeras_workers=args.seqkeras_workers,
    )
    gensim_params = {key: params[key] for key in params if key not in SEQKERAS_ONLY}
    print(f"device: {benchlib.device_description()}; corpus: {len(documents)} pieces, {raw_words} words; "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)

    runs, vectors = compare(documents, params, raw_words, args.repeats or (1 if args.quick else 3))
    timings, quality = summarise(runs, raw_words, params["epochs"])
    seqkeras_result, gensim_result = runs[0]["seqkeras"], runs[0]["gensim"]
    trained = vectors["trained"]

    pipeline_seconds, pipeline_info = measure_input_pipeline(documents, trained, params)
    input_pipeline = {
        "dataset_cpu_seconds_per_epoch": pipeline_seconds,
        "dataset_cpu_us_per_word": 1e6 * pipeline_seconds / raw_words,
        "training_cpu_us_per_word": 1e6 * seqkeras_result["cpu_seconds"] / (raw_words * params["epochs"]),
        "gensim_cpu_us_per_word": 1e6 * gensim_result["cpu_seconds"] / (raw_words * params["epochs"]),
        "dataset_share_of_training_cpu": pipeline_seconds * params["epochs"] / seqkeras_result["cpu_seconds"],
        "steps_per_epoch": pipeline_info["steps"],
    }

    bias = bias_report(vectors["seqkeras"], args.bootstrap)
    tagger = {"skipped": "--no-tagger"} if args.no_tagger else run_tagger(
        trained.vectors, args.quick, epochs=args.tagger_epochs, train_sentences=args.tagger_sentences,
        seeds=tuple(range(args.tagger_seeds)),
    )

    ratios = {
        "words_per_s_ratio": timings["median_words_per_s_ratio"],
        "cpu_seconds_ratio": timings["median_cpu_seconds_ratio"],
        "wordsim353_difference": seqkeras_result["wordsim353_spearman"] - gensim_result["wordsim353_spearman"],
        "wordsim353_mean_difference": quality["seqkeras"]["wordsim353_spearman"]["mean"]
        - quality["gensim"]["wordsim353_spearman"]["mean"],
        "analogy_mean_difference": quality["seqkeras"]["analogy_accuracy"]["mean"]
        - quality["gensim"]["analogy_accuracy"]["mean"],
    }
    report = {
        "device": benchlib.device_description(),
        "quick": args.quick,
        "corpus": {"pieces": len(documents), "raw_words": raw_words},
        "params": params,
        "gensim_params": dict(gensim_params, sg=1, hs=0),
        "seqkeras": seqkeras_result,
        "gensim": gensim_result,
        "seqkeras_independent_negatives": runs[0]["seqkeras_independent_negatives"],
        **ratios,
        "quality_over_seeds": quality,
        "timings": timings,
        "input_pipeline": input_pipeline,
        "goals": {
            "wordsim353_within_0.03": ratios["wordsim353_difference"] >= -0.03,
            "wordsim353_mean_within_0.03": ratios["wordsim353_mean_difference"] >= -0.03,
            "analogy_mean_not_worse": ratios["analogy_mean_difference"] >= 0.0,
            "words_per_s_at_least_0.5x": ratios["words_per_s_ratio"] >= 0.5,
        },
        "bias_probe": bias,
        "tagger": tagger,
    }

    print(f"{'':26}{'seqkeras':>12}{'gensim':>12}{'seqkeras G=1':>14}")
    for key in ("train_seconds", "cpu_seconds", "words_per_s", *QUALITY_KEYS):
        print(f"{key:26}{seqkeras_result[key]:>12.4g}{gensim_result[key]:>12.4g}"
              f"{runs[0]['seqkeras_independent_negatives'][key]:>14.4g}")
    for key in QUALITY_KEYS:
        cells = "".join(f"{quality[tool][key]['mean']:>8.4f}+-{quality[tool][key]['std']:.4f}"
                        for tool in ("seqkeras", "gensim", "seqkeras_independent_negatives"))
        print(f"{key + ' (seeds)':26}{cells}")
    print(f"words/s ratio per run {[round(r, 2) for r in timings['words_per_s_ratio']]}, "
          f"CPU-seconds ratio per run {[round(r, 2) for r in timings['cpu_seconds_ratio']]} (medians used)")
    print(f"words/s ratio {ratios['words_per_s_ratio']:.2f}, wordsim difference {ratios['wordsim353_difference']:+.3f} "
          f"(mean over seeds {ratios['wordsim353_mean_difference']:+.3f})")
    print(f"input pipeline: {input_pipeline['dataset_cpu_us_per_word']:.2f} CPU-us per word per epoch alone, "
          f"training {input_pipeline['training_cpu_us_per_word']:.2f}, gensim {input_pipeline['gensim_cpu_us_per_word']:.2f}")
    print(f"seqkeras loss per epoch: {[round(v, 4) for v in seqkeras_result['loss_per_epoch']]}")
    print(f"gender direction from {len(bias['direction']['pairs'])} pairs, explained variance "
          f"{[round(v, 3) for v in bias['direction']['explained_variance_ratio']]}")
    print(format_bias_table(bias["rows"], pair=("male", "female")))
    print(f"sanity (first minus second, per seed): {bias['sanity']}")
    if "variants" in tagger:
        print(f"tagger ({tagger['train_sentences']} EWT sentences, {tagger['epochs']} epochs, seeds {tagger['seeds']}): dev accuracy")
        for name, variant in tagger["variants"].items():
            print(f"  {name:30}{variant['dev_accuracy_mean']:>10.4f} +- {variant['dev_accuracy_std']:.4f}")
    else:
        print("tagger:", json.dumps(tagger))

    benchlib.write_results(report, benchlib.results_path("word2vec", quick=args.quick, out=args.output))


if __name__ == "__main__":
    main()
