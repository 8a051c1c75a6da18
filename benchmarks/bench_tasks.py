"""The four task shapes on real data, each against its baseline, in one run.

Claims checked (issue 3):
1. UPOS tagging on UD English EWT (train on train, score on dev): the bidirectional LSTM
   tagger (lower-cased words + character CNN features) beats the most-frequent-tag-per-word
   baseline (unknown words -> the commonest tag) in token accuracy.
2. Genre of an EWT sentence (answers/email/newsgroup/reviews/weblog, from its id), sequence ->
   label (the protocol lives in genre_experiment.py, shared with genre_nested_cv.py): an ensemble of independently seeded BiLSTM classifiers (probabilities averaged) vs a
   bag-of-words (uni+bigram tf-idf) logistic regression; both score on dev. Every choice is
   made on the training documents only, by group k-fold cross-validation (whole documents held
   out, pooled out-of-fold accuracy): each candidate architecture's epoch count, which
   candidates make up the ensemble (every combination's averaged out-of-fold probabilities are
   scored), and the baseline's C. The ensemble size is fixed in advance. Dev is read once per
   run, for the chosen configuration; the JSON records every cross-validated number, the
   single members' dev scores and the ensemble's.
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
import datetime
import json
import os
import pathlib
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import benchlib  # noqa: E402
import genre_experiment  # noqa: E402

from seqkeras.data.corpora import read_conllu  # noqa: E402
from seqkeras.models.tagger import MostFrequentTag  # noqa: E402
from pipelines import train_tagger  # noqa: E402

ALL_TASKS = ("upos", "genre", "digits", "addition")
REPO = benchlib.REPO
EWT_DIR = REPO.parent / "shared" / "data" / "ud-english-ewt"

# Full-run settings, grouped by task (the --quick run shrinks data and epochs).
FULL = {
    # upos: `seqkeras train word2vec` on the bundled text + EWT train, then `seqkeras train tagger`
    # with its defaults, `--embeddings` from that run and `--ensemble 3` (the README's recipe; the
    # ensemble was chosen on held-out training documents, tagger_selection.json candidates_2026_12_03).
    "upos": dict(ensemble=3, word2vec=dict(min_count=3, epochs=10)),
    "genre": genre_experiment.FULL_SETTINGS,  # see benchmarks/genre_experiment.py
    "digits": dict(epochs=25, batch_size=64, hidden_dim=64, embedding_dim=16, learning_rate=3e-3),
    # addition: `seqkeras train seq2seq --pairs addition` with these overrides of its defaults.
    "addition": dict(num_problems=30000, heldout_problems=2000, max_digits=3, epochs=25, batching="random",
                     batch_size=128, hidden_dim=128, embedding_dim=16, learning_rate=3e-3),
}
QUICK = {
    "upos": dict(max_train_sentences=600, epochs=1, hidden_dim=32, ensemble=2,
                 word2vec=dict(min_count=3, epochs=1, max_documents=2000)),
    "genre": genre_experiment.QUICK_SETTINGS,
    "digits": dict(FULL["digits"], epochs=2),
    "addition": dict(FULL["addition"], num_problems=1000, heldout_problems=100, epochs=1, hidden_dim=32),
}


def _subset(sentences, count, seed=0):
    """All sentences, or `count` of them drawn with a seed (file order is grouped by genre)."""
    if count is None or count >= len(sentences):
        return sentences
    picked = np.sort(np.random.default_rng(seed).choice(len(sentences), size=count, replace=False))
    return [sentences[i] for i in picked]


def upos_task(settings, run_dir):
    """`seqkeras train word2vec` (wiki + lee + EWT train), then `seqkeras train tagger` (TrainConfig defaults
    + `settings`, `--embeddings` = that run) on EWT, against the most-frequent-tag baseline."""
    from pipelines import train_word2vec

    settings = dict(settings)
    w2v_config = train_word2vec.TrainConfig(
        corpus=f"wiki,lee,ewt:{EWT_DIR / 'en_ewt-ud-train.conllu.gz'}", run_dir=f"{run_dir}_word2vec", verbose=0,
        **settings.pop("word2vec"))
    w2v_start = time.perf_counter()
    w2v_metrics = train_word2vec.main(w2v_config, overwrite=True)
    w2v_seconds = time.perf_counter() - w2v_start
    config = train_tagger.TrainConfig(
        train=str(EWT_DIR / "en_ewt-ud-train.conllu.gz"), dev=str(EWT_DIR / "en_ewt-ud-dev.conllu.gz"),
        run_dir=str(run_dir), verbose=0, embeddings=w2v_config.run_dir, **settings,
    )
    train, dev = train_tagger.load_data(config)
    baseline = MostFrequentTag().fit([s.words for s in train], [s.tags for s in train])
    gold = [t for s in dev for t in s.tags]
    predicted = [t for tags in baseline.predict([s.words for s in dev]) for t in tags]
    baseline_accuracy = float(np.mean([p == g for p, g in zip(predicted, gold)]))

    result = train_tagger.main(config, overwrite=True)
    dev_metrics, summary = result["metrics"]["dev"], result["metrics"]["training"]
    members = {}
    if config.ensemble > 1:  # each member alone on dev: recorded beside the ensemble, nothing chosen from them
        from seqkeras.models.common import TextTask

        training_words = {w.lower() if config.lowercase else w for s in result["train_sentences"] for w in s.words}
        for k in range(config.ensemble):
            member = TextTask(result["lookup"], result["task"].network.get_layer(f"tagger_{k}"),
                              labels=result["tags"], task="tagger")
            scored = train_tagger.score(member, dev, training_words, config.lowercase, result["tags"])
            members[f"seed_{config.seed + k}"] = {"dev_accuracy": scored["accuracy"],
                                                  "dev_unseen_accuracy": scored["unseen_accuracy"],
                                                  **summary["members"][k]}
    return {
        "metric": "dev token accuracy",
        "model": "2-layer BiLSTM tagger (words + character CNN, word dropout): `seqkeras train tagger` defaults "
                 "(early stopping on 10% of the training documents; dev read once, at the end) with "
                 "`--embeddings` from `seqkeras train word2vec --corpus wiki,lee,ewt:TRAIN`"
                 + (f" and `--ensemble {config.ensemble}` (mean tag probabilities of {config.ensemble} taggers, "
                    f"seeds {config.seed}..{config.seed + config.ensemble - 1})" if config.ensemble > 1 else ""),
        "members": members,
        "word2vec": {"settings": {key: value for key, value in vars(w2v_config).items() if key != "run_dir"},
                     "words": w2v_metrics.get("words"), "vocabulary_size": w2v_metrics.get("vocabulary_size"),
                     "wordsim353": w2v_metrics.get("wordsim353"), "seconds": round(w2v_seconds, 1)},
        "model_score": dev_metrics["accuracy"],
        "model_score_on_words_unseen_in_training": dev_metrics["unseen_accuracy"],
        "baseline": "most frequent tag per word (unknown -> commonest tag)",
        "baseline_score": baseline_accuracy,
        "train_sentences": len(train),
        "dev_tokens": len(gold),
        "train_seconds": summary["train_seconds"],
        "validation": summary["validation"],
        "model_train_sentences": summary["train_sentences"],
        "best_epoch": summary.get("best_epoch"),
        "epochs_run": summary.get("epochs_run"),
        "ensemble_validation_accuracy": summary.get("ensemble_validation_accuracy"),
        "real_tokens_per_second": summary["real_tokens_per_second"],
        "padding_fraction": summary["padding_fraction"],
        "settings": {key: value for key, value in vars(config).items() if key not in ("train", "dev", "run_dir")},
    }


def digits_task(settings):
    """`seqkeras train captioner` (TrainConfig + `settings`) once per conditioning, against the commonest
    training name and logistic regression on the pixels whose predicted name is the answer."""
    from sklearn.linear_model import LogisticRegression

    from pipelines import train_captioner

    result = {"metric": "held-out exact match of the generated name", "baseline": "commonest name",
              "settings": dict(settings)}
    for conditioning in ("initial_state", "concat"):
        config = train_captioner.TrainConfig(conditioning=conditioning, verbose=0, **settings,
                                             run_dir=str(REPO / "runs" / f"bench_tasks_digits_{conditioning}"))
        run = train_captioner.main(config, overwrite=True)
        result[f"model_score_{conditioning}"] = run["heldout_exact_match"]
        result[f"sampled_score_{conditioning}"] = run["heldout_exact_match_sampled"]
        result[f"train_seconds_{conditioning}"] = run["fit_seconds"]
    (train_x, train_names), (test_x, test_names) = run["data"]["train"], run["data"]["test"]
    spelled = LogisticRegression(max_iter=2000).fit(train_x / 16.0, train_names).predict(test_x / 16.0)
    result.update(
        baseline_score=run["baseline_exact_match"], train_images=run["train_images"], test_images=run["heldout_images"],
        reference_pixel_logistic_regression_spelled=float(np.mean([s == n for s, n in zip(spelled, test_names)])),
        model="`seqkeras train captioner`: LSTM decoder conditioned on the flattened image",
        model_score=max(result["model_score_initial_state"], result["model_score_concat"]),
    )
    return result


def addition_task(settings, run_dir):
    """`seqkeras train seq2seq --pairs addition` (TrainConfig + `settings`) against the commonest answer."""
    from pipelines import train_seq2seq

    config = train_seq2seq.TrainConfig(pairs="addition", run_dir=str(run_dir), verbose=0, **settings)
    result = train_seq2seq.main(config, overwrite=True)
    questions, answers = result["pairs"]["valid"]
    commonest = collections.Counter(result["pairs"]["train"][1]).most_common(1)[0][0]
    sampled, _ = train_seq2seq.exact_match(result["task"], questions, answers, strategy="sample", seed=0)
    return {
        "metric": "held-out exact match (greedy decoding)",
        "model": "`seqkeras train seq2seq --pairs addition`: BiLSTM encoder (final states) -> LSTM decoder "
                 "(initial state)",
        "model_score": result["heldout_exact_match"],
        "sampled_score": sampled,
        "baseline": "commonest training answer",
        "baseline_score": float(np.mean([a == commonest for a in answers])),
        "train_pairs": result["train_pairs"],
        "heldout_pairs": result["heldout_pairs"],
        "examples": result["examples"],
        "train_seconds": result["train_seconds"],
        "settings": dict(settings),
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
            run_dir = benchlib.REPO / "runs" / ("bench_tasks_upos_quick" if args.quick else "bench_tasks_upos")
            results["tasks"]["upos_tagging_ewt"] = upos_task(settings["upos"], run_dir)
        elif task == "genre":
            subset = _subset(train, settings["genre"]["train_sentences"])
            results["tasks"]["genre_classification_ewt"] = genre_experiment.genre_task(settings["genre"], subset, dev)
        elif task == "digits":
            results["tasks"]["digit_names"] = digits_task(settings["digits"])
        elif task == "addition":
            run_dir = benchlib.REPO / "runs" / ("bench_tasks_addition_quick" if args.quick else "bench_tasks_addition")
            results["tasks"]["addition"] = addition_task(settings["addition"], run_dir)
        else:
            raise SystemExit(f"Unknown task {task!r}; choose from upos, genre, digits, addition")
        finished = next(reversed(results["tasks"].values()))
        finished["date"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        print(f"[{task} done in {time.perf_counter() - task_start:.0f} s]", flush=True)
    results["total_seconds"] = round(time.perf_counter() - start, 1)

    print(f"\n{'task':<28}{'metric':<44}{'model':>8}{'baseline':>10}")
    for name, entry in results["tasks"].items():
        print(f"{name:<28}{entry['metric']:<44}{entry['model_score']:>8.4f}{entry['baseline_score']:>10.4f}")
    if "genre_classification_ewt" in results["tasks"]:
        entry = results["tasks"]["genre_classification_ewt"]
        selection = entry["selection"]
        print(f"  genre: chose {'+'.join(selection['chosen_candidates'])} "
              f"(out-of-fold {selection['chosen_out_of_fold_accuracy']:.4f}; baseline out-of-fold "
              f"{max(selection['baseline_out_of_fold_accuracy_by_C'].values()):.4f}); single members on dev "
              f"{entry['single_model_mean']:.4f} +- {entry['single_model_std']:.4f}")
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
        for name, entry in results["tasks"].items():
            previous = merged["tasks"].get(name)
            if previous and "model_score" in previous:  # the readings this one follows, kept beside it
                entry["previous_readings"] = previous.get("previous_readings", []) + [
                    {key: previous[key] for key in ("model_score", "single_model_mean", "single_model_std", "date",
                                                    "pipeline") if key in previous}]
        merged["tasks"].update(results["tasks"])
        merged.update(device=results["device"], tensorflow=results["tensorflow"], keras=results["keras"])
        results = merged
    output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
