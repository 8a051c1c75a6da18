"""The four task shapes on real data, each against its baseline, in one run.

Claims checked (issue 3):
1. UPOS tagging on UD English EWT (train on train, score on dev): the bidirectional LSTM
   tagger (lower-cased words + character CNN features) beats the most-frequent-tag-per-word
   baseline (unknown words -> the commonest tag) in token accuracy.
2. Genre of an EWT sentence (answers/email/newsgroup/reviews/weblog, from its id), sequence ->
   label: a BiLSTM classifier with masked mean pooling vs a bag-of-words (uni+bigram tf-idf)
   logistic regression. Both score on dev; the classifier's epoch count is chosen on 10 % of
   the training documents held out (early stopping), never on dev.
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
"""

import argparse
import collections
import json
import os
import pathlib
import platform
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from seqkeras.data.corpora import EWT_GENRES, ewt_genre, read_conllu  # noqa: E402
from seqkeras.losses import MaskedSparseCategoricalCrossentropy  # noqa: E402
from seqkeras.models.captioner import build_captioner  # noqa: E402
from seqkeras.models.captioner.digit_names import DIGIT_NAMES, load_digit_names  # noqa: E402
from seqkeras.models.classifier import BagOfWordsBaseline, build_classifier  # noqa: E402
from seqkeras.models.seq2seq import build_seq2seq, generate  # noqa: E402
from seqkeras.models.seq2seq.addition import addition_problems, addition_vocabulary  # noqa: E402
from seqkeras.models.seq2seq.teacher_forcing import encoder_inputs, ids_to_texts, teacher_forced  # noqa: E402
from seqkeras.models.tagger import MostFrequentTag, WordPreprocessor, build_tagger  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
EWT_DIR = REPO.parent / "shared" / "data" / "ud-english-ewt"

# Full-run settings, grouped by task (the --quick run shrinks data and epochs).
FULL = {
    "upos": dict(train_sentences=None, epochs=6, batch_size=32, hidden_dim=128, embedding_dim=100,
                 char_filters=48, dropout=0.33, learning_rate=2e-3),
    "genre": dict(train_sentences=None, max_epochs=8, patience=2, batch_size=64, hidden_dim=128,
                  embedding_dim=128, char_filters=32, dropout=0.5, learning_rate=5e-4, weight_decay=0.05),
    "digits": dict(epochs=25, batch_size=64, hidden_dim=64, embedding_dim=16, learning_rate=3e-3),
    "addition": dict(train_problems=30000, test_problems=2000, max_digits=3, epochs=25, batch_size=128,
                     hidden_dim=128, embedding_dim=16, learning_rate=3e-3),
}
QUICK = {
    "upos": dict(FULL["upos"], train_sentences=600, epochs=1, hidden_dim=32),
    "genre": dict(FULL["genre"], train_sentences=600, max_epochs=1, hidden_dim=16),
    "digits": dict(FULL["digits"], epochs=2),
    "addition": dict(FULL["addition"], train_problems=1000, test_problems=100, epochs=1, hidden_dim=32),
}


def device_description():
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return f"GPU: {details.get('device_name', gpus[0].name)}"
    name = platform.processor() or "CPU"
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU: {name}, {os.cpu_count()} cores"


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


def genre_task(settings, train, dev):
    genres = list(EWT_GENRES)
    words = [s.words for s in train]
    labels = [genres.index(ewt_genre(s.sent_id)) for s in train]
    dev_words = [s.words for s in dev]
    dev_labels = np.array([genres.index(ewt_genre(s.sent_id)) for s in dev])

    start = time.perf_counter()
    baseline = BagOfWordsBaseline().fit(words, labels)
    baseline_seconds = time.perf_counter() - start
    baseline_accuracy = np.mean(baseline.predict(dev_words) == dev_labels)

    # Hold out ~10 % of the training *documents* (seeded) to pick the number of epochs: dev
    # sentences come from unseen documents, and sentences of a seen document share its words.
    documents = [s.sent_id.rsplit("-", 1)[0] for s in train]
    names = sorted(set(documents))
    held = set(np.random.default_rng(0).permutation(names)[: max(1, len(names) // 10)])
    valid_index = [i for i, d in enumerate(documents) if d in held]
    fit_index = [i for i, d in enumerate(documents) if d not in held]
    prep = WordPreprocessor.build([words[i] for i in fit_index], min_count=2)
    keras.utils.set_random_seed(0)
    model = build_classifier(
        prep.vocabulary.size, len(genres), hidden_dim=settings["hidden_dim"],
        embedding_dim=settings["embedding_dim"], pooling="mean", dropout=settings["dropout"],
        char_vocabulary_size=prep.char_vocabulary.size, char_filters=settings["char_filters"],
    )
    model.compile(
        keras.optimizers.AdamW(settings["learning_rate"], weight_decay=settings["weight_decay"]),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    fit_data = prep.dataset([words[i] for i in fit_index], [labels[i] for i in fit_index],
                            batch_size=settings["batch_size"], shuffle=True, seed=0)
    valid_data = prep.dataset([words[i] for i in valid_index], [labels[i] for i in valid_index],
                              batch_size=settings["batch_size"])
    stopper = keras.callbacks.EarlyStopping(
        monitor="val_accuracy", mode="max", patience=settings["patience"], restore_best_weights=True
    )
    start = time.perf_counter()
    history = model.fit(fit_data, validation_data=valid_data, epochs=settings["max_epochs"],
                        callbacks=[stopper], verbose=0, shuffle=False)
    train_seconds = time.perf_counter() - start
    predicted = np.stack(prep.predict(model, dev_words)).argmax(-1)
    return {
        "metric": "dev accuracy (5 genres)",
        "model": "BiLSTM classifier (words + character CNN), masked mean pooling",
        "model_score": float(np.mean(predicted == dev_labels)),
        "baseline": "bag of words (1-2 grams, tf-idf) logistic regression",
        "baseline_score": float(baseline_accuracy),
        "majority_class_score": float(np.mean(dev_labels == np.bincount(labels).argmax())),
        "epochs_run": len(history.history["loss"]),
        "validation_documents": len(held),
        "validation_accuracy_per_epoch": [round(v, 4) for v in history.history["val_accuracy"]],
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
    parser.add_argument("--tasks", default="upos,genre,digits,addition", help="comma-separated subset")
    args = parser.parse_args()
    settings = QUICK if args.quick else FULL
    output = args.output or (
        pathlib.Path(tempfile.gettempdir()) / "tasks_quick.json" if args.quick else REPO / "benchmarks" / "results" / "tasks.json"
    )
    wanted = args.tasks.split(",")
    results = {"device": device_description(), "quick": args.quick, "tensorflow": tf.__version__,
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
    output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
