"""The four task shapes on real data, each against its baseline, in one run.

Claims checked (issue 3):
1. UPOS tagging on UD English EWT (train on train, score on dev): the bidirectional LSTM
   tagger (lower-cased words + character CNN features) beats the most-frequent-tag-per-word
   baseline (unknown words -> the commonest tag) in token accuracy.
2. Genre of an EWT sentence (answers/email/newsgroup/reviews/weblog, from its id), sequence ->
   label: a BiLSTM classifier (mean+max pooling, plus a fastText-style bag of word and hashed
   bigram embeddings) vs a bag-of-words (uni+bigram tf-idf) logistic regression. Both score on
   dev. Every choice is made on 10 % of the training documents held out, never on dev: the
   classifier's epoch count (early stopping; then retrained on all of train for that many
   epochs) and the baseline's C (then refit on all of train).
3. Label -> sequence: sklearn's 8x8 digit images -> the digit's English name, character by
   character; exact match on held-out images for both conditionings (initial state, concat).
   Baselines: the commonest name, and (a strong reference) logistic regression on the pixels
   whose predicted digit is spelled out.
4. Label + sequence -> sequence: "123+45" -> "168" (problems generated from a seed); exact
   match of greedy decoding on held-out questions vs answering every question with the
   commonest training answer.

Usage:
    python benchmarks/bench_tasks.py           # full run, writes benchmarks/results/tasks.json
    python benchmarks/bench_tasks.py --quick   # small smoke run, JSON to the temp dir
    python benchmarks/bench_tasks.py --tasks genre   # rerun one task, merged into tasks.json
"""

import argparse
import collections
import json
import os
import pathlib
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import benchlib  # noqa: E402

from seqkeras.data.corpora import EWT_GENRES, ewt_genre, read_conllu  # noqa: E402
from seqkeras.losses import MaskedSparseCategoricalCrossentropy  # noqa: E402
from seqkeras.models.captioner import build_captioner  # noqa: E402
from seqkeras.models.captioner.digit_names import DIGIT_NAMES, load_digit_names  # noqa: E402
from seqkeras.models.classifier import BagOfWordsBaseline, build_classifier  # noqa: E402
from seqkeras.models.seq2seq import build_seq2seq, generate  # noqa: E402
from seqkeras.models.seq2seq.addition import addition_problems, addition_vocabulary  # noqa: E402
from seqkeras.models.seq2seq.teacher_forcing import encoder_inputs, ids_to_texts, teacher_forced  # noqa: E402
from seqkeras.models.common import WordPreprocessor  # noqa: E402
from seqkeras.models.tagger import MostFrequentTag, build_tagger  # noqa: E402

ALL_TASKS = ("upos", "genre", "digits", "addition")
REPO = benchlib.REPO
EWT_DIR = REPO.parent / "shared" / "data" / "ud-english-ewt"

# Full-run settings, grouped by task (the --quick run shrinks data and epochs).
FULL = {
    "upos": dict(train_sentences=None, epochs=6, batch_size=32, hidden_dim=128, embedding_dim=100,
                 char_filters=48, dropout=0.33, learning_rate=2e-3),
    # genre: chosen on held-out training documents (see genre_task); the baseline's C from the grid.
    "genre": dict(train_sentences=None, max_epochs=8, patience=2, batch_size=64, hidden_dim=64,
                  embedding_dim=128, char_filters=32, pooling="mean_max", bigram_buckets=50000, min_count=2,
                  dropout=0.5, learning_rate=1e-3, weight_decay=0.1, label_smoothing=0.0,
                  refit_on_all_training=True, baseline_C_grid=(1.0, 2.0, 4.0, 8.0, 16.0, 32.0)),
    "digits": dict(epochs=25, batch_size=64, hidden_dim=64, embedding_dim=16, learning_rate=3e-3),
    "addition": dict(train_problems=30000, test_problems=2000, max_digits=3, epochs=25, batch_size=128,
                     hidden_dim=128, embedding_dim=16, learning_rate=3e-3),
}
QUICK = {
    "upos": dict(FULL["upos"], train_sentences=600, epochs=1, hidden_dim=32),
    "genre": dict(FULL["genre"], train_sentences=600, max_epochs=1, hidden_dim=16, bigram_buckets=1000,
                  baseline_C_grid=(1.0, 4.0)),
    "digits": dict(FULL["digits"], epochs=2),
    "addition": dict(FULL["addition"], train_problems=1000, test_problems=100, epochs=1, hidden_dim=32),
}


def _subset(sentences, count, seed=0):
    """All sentences, or `count` of them drawn with a seed (file order is grouped by genre)."""
    if count is None or count >= len(sentences):
        return sentences
    picked = np.sort(np.random.default_rng(seed).choice(len(sentences), size=count, replace=False))
    return [sentences[i] for i in picked]


def _loss():
    return MaskedSparseCategoricalCrossentropy(from_logits=True)


def upos_task(settings, train, dev):
    tags = sorted({t for s in train for t in s.upos})
    words = [s.words for s in train]
    dev_words = [s.words for s in dev]
    gold = [t for s in dev for t in s.upos]

    baseline = MostFrequentTag().fit(words, [s.upos for s in train])
    baseline_accuracy = np.mean([p == g for p, g in zip((t for ts in baseline.predict(dev_words) for t in ts), gold)])

    prep = WordPreprocessor.build(words, min_count=2)
    keras.utils.set_random_seed(0)
    model = build_tagger(
        prep.vocabulary.size, len(tags), hidden_dim=settings["hidden_dim"], embedding_dim=settings["embedding_dim"],
        char_vocabulary_size=prep.char_vocabulary.size, char_filters=settings["char_filters"],
        dropout=settings["dropout"],
    )
    model.compile(keras.optimizers.Adam(settings["learning_rate"]), _loss())
    dataset = prep.dataset(words, [[tags.index(t) for t in s.upos] for s in train],
                           batch_size=settings["batch_size"], shuffle=True, seed=0)
    start = time.perf_counter()
    model.fit(dataset, epochs=settings["epochs"], verbose=0, shuffle=False)
    train_seconds = time.perf_counter() - start
    predicted = [tags[i] for out in prep.predict(model, dev_words) for i in out.argmax(-1)]
    accuracy = np.mean([p == g for p, g in zip(predicted, gold)])
    known = set(prep.vocabulary.tokens)
    oov = np.array([w.lower() not in known for s in dev for w in s.words])
    correct = np.array([p == g for p, g in zip(predicted, gold)])
    return {
        "metric": "dev token accuracy",
        "model": "BiLSTM tagger (words + character CNN)",
        "model_score": float(accuracy),
        "model_score_on_unknown_words": float(correct[oov].mean()) if oov.any() else None,
        "baseline": "most frequent tag per word (unknown -> commonest tag)",
        "baseline_score": float(baseline_accuracy),
        "train_sentences": len(train),
        "dev_tokens": len(gold),
        "train_seconds": round(train_seconds, 1),
        "settings": settings,
    }


def _held_out_documents(train, fraction=0.1, seed=0):
    """Indices of (fit, validation) sentences: ~`fraction` of the training *documents* held out.

    Dev sentences come from unseen documents, and sentences of one document share its words,
    so every model choice (epochs, baseline C) is made on whole held-out training documents.
    """
    documents = [s.sent_id.rsplit("-", 1)[0] for s in train]
    names = sorted(set(documents))
    held = set(np.random.default_rng(seed).permutation(names)[: max(1, int(len(names) * fraction))])
    valid_index = [i for i, d in enumerate(documents) if d in held]
    fit_index = [i for i, d in enumerate(documents) if d not in held]
    return fit_index, valid_index, len(held)


def _train_genre_classifier(settings, words, labels, epochs, validation=None):
    """Builds and trains the genre classifier; early stopping on `validation` when given."""
    prep = WordPreprocessor.build(words, min_count=settings["min_count"])
    keras.utils.set_random_seed(0)
    model = build_classifier(
        prep.vocabulary.size, len(EWT_GENRES), hidden_dim=settings["hidden_dim"],
        embedding_dim=settings["embedding_dim"], pooling=settings["pooling"], dropout=settings["dropout"],
        char_vocabulary_size=prep.char_vocabulary.size, char_filters=settings["char_filters"],
        bigram_buckets=settings["bigram_buckets"],
    )
    model.compile(
        keras.optimizers.AdamW(settings["learning_rate"], weight_decay=settings["weight_decay"]),
        keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=settings["label_smoothing"]),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )

    def one_hot(inputs, targets):
        return inputs, tf.one_hot(targets, len(EWT_GENRES))

    data = prep.dataset(words, labels, batch_size=settings["batch_size"], shuffle=True, seed=0).map(one_hot)
    callbacks, validation_data = [], None
    if validation is not None:
        validation_data = prep.dataset(*validation, batch_size=settings["batch_size"]).map(one_hot)
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_accuracy", mode="max", patience=settings["patience"], restore_best_weights=True
        ))
    history = model.fit(data, validation_data=validation_data, epochs=epochs, callbacks=callbacks,
                        verbose=0, shuffle=False)
    return model, prep, history


def genre_task(settings, train, dev):
    genres = list(EWT_GENRES)
    words = [s.words for s in train]
    labels = [genres.index(ewt_genre(s.sent_id)) for s in train]
    dev_words = [s.words for s in dev]
    dev_labels = np.array([genres.index(ewt_genre(s.sent_id)) for s in dev])
    fit_index, valid_index, held_documents = _held_out_documents(train)
    fit = ([words[i] for i in fit_index], [labels[i] for i in fit_index])
    valid = ([words[i] for i in valid_index], np.array([labels[i] for i in valid_index]))

    # The baseline is tuned like the model: its C is the one with the best accuracy on the
    # held-out training documents (ties -> the smaller C), then it is refit on all of train.
    start = time.perf_counter()
    baseline_grid = {}
    for C in settings["baseline_C_grid"]:
        candidate = BagOfWordsBaseline(C=C).fit(*fit)
        baseline_grid[C] = float(np.mean(candidate.predict(valid[0]) == valid[1]))
    best_C = max(baseline_grid, key=lambda C: (baseline_grid[C], -C))
    baseline = BagOfWordsBaseline(C=best_C).fit(words, labels)
    baseline_seconds = time.perf_counter() - start
    baseline_accuracy = np.mean(baseline.predict(dev_words) == dev_labels)

    # The classifier's epoch count is chosen by early stopping on the same held-out documents;
    # it is then retrained from the same seed on all training sentences for that many epochs.
    start = time.perf_counter()
    model, prep, history = _train_genre_classifier(settings, *fit, settings["max_epochs"], validation=valid)
    validation_curve = history.history["val_accuracy"]
    best_epochs = int(np.argmax(validation_curve)) + 1
    if settings["refit_on_all_training"]:
        model, prep, _ = _train_genre_classifier(settings, words, labels, best_epochs)
    train_seconds = time.perf_counter() - start
    predicted = np.stack(prep.predict(model, dev_words)).argmax(-1)
    return {
        "metric": "dev accuracy (5 genres)",
        "model": "BiLSTM classifier (words + character CNN), masked mean+max pooling, "
                 "fastText-style bag of word and hashed-bigram embeddings",
        "model_score": float(np.mean(predicted == dev_labels)),
        "baseline": f"bag of words (1-2 grams, tf-idf) logistic regression, C={best_C} tuned on held-out training documents",
        "baseline_score": float(baseline_accuracy),
        "majority_class_score": float(np.mean(dev_labels == np.bincount(labels).argmax())),
        "epochs_run": len(history.history["loss"]),
        "epochs_selected": best_epochs,
        "validation_documents": held_documents,
        "validation_accuracy_per_epoch": [round(v, 4) for v in validation_curve],
        "baseline_validation_accuracy_by_C": {str(C): round(v, 4) for C, v in baseline_grid.items()},
        "train_seconds": round(train_seconds, 1),
        "baseline_seconds": round(baseline_seconds, 1),
        "settings": settings,
    }


def digits_task(settings):
    from sklearn.linear_model import LogisticRegression

    (train_x, train_names, train_y), (test_x, test_names, _), vocabulary = load_digit_names(test_fraction=0.25, seed=0)
    commonest = collections.Counter(train_names).most_common(1)[0][0]
    pixels = LogisticRegression(max_iter=2000).fit(train_x, train_y)
    spelled = [DIGIT_NAMES[d] for d in pixels.predict(test_x)]
    inputs, targets = teacher_forced(vocabulary, train_names)
    inputs["label"] = train_x
    result = {
        "metric": "held-out exact match of the generated name",
        "baseline": "commonest name",
        "baseline_score": float(np.mean([n == commonest for n in test_names])),
        "reference_pixel_logistic_regression_spelled": float(np.mean([s == n for s, n in zip(spelled, test_names)])),
        "train_images": len(train_names),
        "test_images": len(test_names),
        "settings": settings,
    }
    for conditioning in ("initial_state", "concat"):
        keras.utils.set_random_seed(0)
        model = build_captioner(
            train_x.shape[1], vocabulary.size, hidden_dim=settings["hidden_dim"],
            embedding_dim=settings["embedding_dim"], conditioning=conditioning,
        )
        model.compile(keras.optimizers.Adam(settings["learning_rate"]), _loss())
        start = time.perf_counter()
        model.fit(inputs, targets, batch_size=settings["batch_size"], epochs=settings["epochs"], verbose=0)
        seconds = time.perf_counter() - start
        greedy = ids_to_texts(vocabulary, generate(model, {"label": test_x}, max_length=7))
        sampled = ids_to_texts(
            vocabulary, generate(model, {"label": test_x}, max_length=7, strategy="sample", seed=0)
        )
        result[f"model_score_{conditioning}"] = float(np.mean([g == n for g, n in zip(greedy, test_names)]))
        result[f"sampled_score_{conditioning}"] = float(np.mean([g == n for g, n in zip(sampled, test_names)]))
        result[f"train_seconds_{conditioning}"] = round(seconds, 1)
    result["model"] = "LSTM decoder conditioned on the flattened image"
    result["model_score"] = max(result["model_score_initial_state"], result["model_score_concat"])
    return result


def addition_task(settings):
    vocabulary = addition_vocabulary()
    questions, answers = addition_problems(settings["train_problems"], settings["max_digits"], seed=0)
    test_q, test_a = addition_problems(settings["test_problems"], settings["max_digits"], seed=1, exclude=questions)
    inputs, targets = teacher_forced(vocabulary, answers, prefix="decoder_")
    inputs.update(encoder_inputs(vocabulary, questions))
    commonest = collections.Counter(answers).most_common(1)[0][0]
    keras.utils.set_random_seed(0)
    model = build_seq2seq(vocabulary.size, hidden_dim=settings["hidden_dim"], embedding_dim=settings["embedding_dim"])
    model.compile(keras.optimizers.Adam(settings["learning_rate"]), _loss())
    start = time.perf_counter()
    model.fit(inputs, targets, batch_size=settings["batch_size"], epochs=settings["epochs"], verbose=0)
    seconds = time.perf_counter() - start
    max_length = settings["max_digits"] + 2
    test_inputs = encoder_inputs(vocabulary, test_q)
    greedy = ids_to_texts(vocabulary, generate(model, test_inputs, max_length=max_length))
    sampled = ids_to_texts(vocabulary, generate(model, test_inputs, max_length=max_length, strategy="sample", seed=0))
    return {
        "metric": "held-out exact match (greedy decoding)",
        "model": "BiLSTM encoder (final states) -> LSTM decoder (initial state)",
        "model_score": float(np.mean([g == a for g, a in zip(greedy, test_a)])),
        "sampled_score": float(np.mean([g == a for g, a in zip(sampled, test_a)])),
        "baseline": "commonest training answer",
        "baseline_score": float(np.mean([a == commonest for a in test_a])),
        "examples": [f"{q}={g}" for q, g in zip(test_q[:5], greedy[:5])],
        "train_seconds": round(seconds, 1),
        "settings": settings,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small data and one epoch (smoke run)")
    parser.add_argument("--output", type=pathlib.Path, default=None, help="JSON path")
    parser.add_argument("--tasks", default=",".join(ALL_TASKS),
                        help="comma-separated subset; a subset is merged into an existing JSON")
    args = parser.parse_args()
    settings = QUICK if args.quick else FULL
    output = benchlib.results_path("tasks", quick=args.quick, out=args.output)
    wanted = args.tasks.split(",")
    results = {"device": benchlib.device_description(), "quick": args.quick, "tensorflow": tf.__version__,
               "keras": keras.__version__, "tasks": {}}
    start = time.perf_counter()
    if {"upos", "genre"} & set(wanted):
        if not (EWT_DIR / "en_ewt-ud-train.conllu.gz").exists():
            raise SystemExit(f"UD English EWT not found at {EWT_DIR}; see ../shared/DATA.md")
        train = read_conllu(EWT_DIR / "en_ewt-ud-train.conllu.gz")
        dev = read_conllu(EWT_DIR / "en_ewt-ud-dev.conllu.gz")
    for task in wanted:
        task_start = time.perf_counter()
        if task == "upos":
            subset = _subset(train, settings["upos"]["train_sentences"])
            results["tasks"]["upos_tagging_ewt"] = upos_task(settings["upos"], subset, dev)
        elif task == "genre":
            subset = _subset(train, settings["genre"]["train_sentences"])
            results["tasks"]["genre_classification_ewt"] = genre_task(settings["genre"], subset, dev)
        elif task == "digits":
            results["tasks"]["digit_names"] = digits_task(settings["digits"])
        elif task == "addition":
            results["tasks"]["addition"] = addition_task(settings["addition"])
        else:
            raise SystemExit(f"Unknown task {task!r}; choose from upos, genre, digits, addition")
        print(f"[{task} done in {time.perf_counter() - task_start:.0f} s]", flush=True)
    results["total_seconds"] = round(time.perf_counter() - start, 1)

    print(f"\n{'task':<28}{'metric':<44}{'model':>8}{'baseline':>10}")
    for name, entry in results["tasks"].items():
        print(f"{name:<28}{entry['metric']:<44}{entry['model_score']:>8.4f}{entry['baseline_score']:>10.4f}")
    if "digit_names" in results["tasks"]:
        entry = results["tasks"]["digit_names"]
        print(f"  digits by conditioning: initial_state {entry['model_score_initial_state']:.4f}, "
              f"concat {entry['model_score_concat']:.4f}; pixel LR spelled (reference) "
              f"{entry['reference_pixel_logistic_regression_spelled']:.4f}")
    print(f"device: {results['device']}; total {results['total_seconds']} s")
    output.parent.mkdir(parents=True, exist_ok=True)
    if set(wanted) != set(ALL_TASKS) and output.exists():
        # A partial run (e.g. `--tasks genre`) replaces only its own entries; the other tasks'
        # measured entries and the full run's total time stay as they were.
        merged = json.loads(output.read_text())
        if merged.get("quick") != args.quick:
            raise SystemExit(f"{output} holds a quick={merged.get('quick')} run; refusing to merge a quick={args.quick} run")
        merged["tasks"].update(results["tasks"])
        merged.update(device=results["device"], tensorflow=results["tensorflow"], keras=results["keras"])
        results = merged
    output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
