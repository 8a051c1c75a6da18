"""Nested cross-validation of the genre result on EWT *training* documents only (dev is never read).

Why: `bench_tasks.py --tasks genre` scores its genre ensemble on EWT dev, but dev was read once
before that procedure was finalised, so its dev figure is not a clean held-out number, and there
is no offline EWT test split. This script estimates how the *whole procedure* does on documents it
has never seen, without touching dev:

1. The training documents are dealt to 3 outer folds (whole documents, seeded, via
   `genre_experiment.document_folds`).
2. For each outer fold, the other two thirds go through exactly the genre procedure of
   `genre_experiment.genre_task` (it is called, not copied): grouped inner k-fold selection of each
   candidate's epoch count, of the candidate combination averaged in the ensemble and of the
   baseline's C (`select_genre_configuration`), then the selected ensemble and the selected
   tf-idf logistic-regression baseline are trained on those two thirds and both score the held-out
   third's sentences (passed where `genre_task` expects dev).
3. Per outer fold and pooled over all training sentences (each held out exactly once): model
   accuracy, baseline accuracy, their difference, sentence-level wins/losses (sentences exactly
   one of the two gets right) with the exact sign test, document-level wins/losses (held-out
   documents where one scores higher) with the sign test, fold-level wins, and a document
   bootstrap interval of the pooled difference (`genre_experiment.paired_comparison`).

The per-sentence predictions come from `genre_experiment.genre_experiment`, the function behind
`genre_task`, so the numbers here come from the same code path as the dev figure.

Usage:
    python benchmarks/genre_nested_cv.py           # full run -> benchmarks/results/genre_nested_cv.json
    python benchmarks/genre_nested_cv.py --quick   # tiny smoke run (few documents, 1 epoch), JSON to temp dir
    python benchmarks/genre_nested_cv.py --ensemble-size 4 --inner-folds 3   # cheaper, same for every outer fold
"""

import argparse
import os
import pathlib
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import benchlib  # noqa: E402
import genre_experiment  # noqa: E402

from seqkeras.data.corpora import EWT_GENRES, ewt_genre, read_conllu  # noqa: E402

OUTER_FOLDS = 3
OUTER_SEED = 1          # outer document folds (the inner folds keep bench_tasks' own seed 0)
QUICK_DOCUMENTS = 18    # --quick: this many whole training documents, drawn with OUTER_SEED
# --quick: bench_tasks' QUICK genre settings cut to its small candidate and one member, so the
# smoke run (3 outer folds x 3 tiny fits) takes about 100 s on 2 cores.
QUICK_SETTINGS = dict(genre_experiment.QUICK_SETTINGS, ensemble_size=1,
                      candidates=genre_experiment.QUICK_SETTINGS["candidates"][1:])


def _document_of(sentences):
    return np.array([s.sent_id.rsplit("-", 1)[0] for s in sentences])


def _pick_documents(train, count, seed):
    """The sentences of `count` whole training documents drawn with `seed`, in file order."""
    documents = _document_of(train)
    names = np.random.default_rng(seed).permutation(np.unique(documents))[:count]
    keep = np.isin(documents, names)
    return [s for s, k in zip(train, keep) if k]


def _document_sign_test(predicted, baseline_predicted, labels, sentences):
    """Held-out documents where the model's accuracy is higher / lower / equal, and the sign test."""
    documents = _document_of(sentences)
    right, baseline_right = predicted == labels, baseline_predicted == labels
    wins = losses = ties = 0
    for name in np.unique(documents):
        rows = documents == name
        difference = right[rows].mean() - baseline_right[rows].mean()
        wins, losses, ties = wins + (difference > 0), losses + (difference < 0), ties + (difference == 0)
    return {"document_wins": int(wins), "document_losses": int(losses), "document_ties": int(ties),
            "document_sign_test_p": round(genre_experiment.two_sided_sign_test(int(wins), int(losses)), 4)}


def _summary(predicted, baseline_predicted, labels, sentences):
    """Accuracies, difference, sentence- and document-level wins/losses with sign tests, bootstrap interval."""
    paired = genre_experiment.paired_comparison(predicted, baseline_predicted, labels, sentences)
    return {
        "sentences": len(labels),
        "documents": paired["dev_documents"],
        "model_accuracy": round(float(np.mean(predicted == labels)), 4),
        "baseline_accuracy": round(float(np.mean(baseline_predicted == labels)), 4),
        "difference": paired["accuracy_difference"],
        "sentence_wins": paired["only_model_right"],
        "sentence_losses": paired["only_baseline_right"],
        "sentence_sign_test_p": paired["mcnemar_exact_p"],
        **_document_sign_test(predicted, baseline_predicted, labels, sentences),
        "document_bootstrap_95_interval": paired["document_bootstrap_95_interval"],
    }


def outer_fold(settings, train, fold_of, fold):
    """Runs `genre_experiment` on the other folds' documents, scoring outer fold `fold`; returns record + arrays."""
    fit = [s for s, f in zip(train, fold_of) if f != fold]
    held = [s for s, f in zip(train, fold_of) if f == fold]
    print(f"outer fold {fold}: selecting and training on {len(fit)} sentences, "
          f"scoring {len(held)} held-out sentences", flush=True)
    keras.backend.clear_session()
    wall, cpu = time.perf_counter(), time.process_time()
    entry, predicted, baseline_predicted, labels, reference_predicted = genre_experiment.genre_experiment(
        settings, fit, held
    )
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    arrays = (predicted, baseline_predicted, labels, held, reference_predicted)
    selection = entry["selection"]
    record = {
        "fold": fold,
        "fit_sentences": len(fit),
        **_summaries(*arrays),
        "majority_class_accuracy": round(entry["majority_class_score"], 4),
        "single_member_accuracies": entry["single_model_scores"],
        "single_member_candidates": entry["single_model_candidates"],
        "ensemble_accuracy_by_size": entry["ensemble_scores_by_size"],
        "model": entry["model"],
        "baseline": entry["baseline"],
        "reference": entry["reference"],
        "chosen_candidates": selection["chosen_candidates"],
        "chosen_epochs": {name: c["chosen_epochs"] for name, c in selection["candidates"].items()},
        "baseline_C": selection["baseline_C"],
        "inner_selection": selection,
        "selection_seconds": entry["selection_seconds"],
        "train_seconds": entry["train_seconds"],
        "wall_seconds": round(wall, 1),
        "process_cpu_seconds": round(cpu, 1),
    }
    return record, arrays


def _summaries(predicted, baseline_predicted, labels, sentences, reference_predicted):
    """The model against the baseline, and under `versus_reference` against the word + character
    reference (there `baseline_accuracy` is the reference's accuracy)."""
    return dict(_summary(predicted, baseline_predicted, labels, sentences),
                versus_reference=_summary(predicted, reference_predicted, labels, sentences))


def _pooled(fold_arrays):
    """`_summaries` over all outer folds' held-out sentences together (each training sentence once)."""
    predicted, baseline_predicted, labels, sentences, reference_predicted = zip(*fold_arrays)
    return _summaries(np.concatenate(predicted), np.concatenate(baseline_predicted), np.concatenate(labels),
                      [s for fold in sentences for s in fold], np.concatenate(reference_predicted))


def _note(settings, quick, complete):
    """What the JSON holds, how it was made, and how to read it."""
    full = genre_experiment.FULL_SETTINGS
    changed = []
    if not quick and settings["ensemble_size"] != full["ensemble_size"]:
        changed.append(f"ensemble_size {settings['ensemble_size']} (bench_tasks: {full['ensemble_size']})")
    if not quick and settings["folds"] != full["folds"]:
        changed.append(f"inner folds {settings['folds']} (bench_tasks: {full['folds']})")
    if quick:
        settings_line = "QUICK SMOKE RUN: tiny data and models, 1 epoch; the numbers mean nothing."
    elif changed:
        settings_line = ("Settings differ from bench_tasks FULL, for all outer folds alike and for the model only: "
                         + "; ".join(changed) + ".")
    else:
        settings_line = "Settings are bench_tasks FULL genre settings, unchanged."
    parts = [
        "Nested cross-validation on UD English EWT TRAINING documents only; dev is never read.",
        (f"{OUTER_FOLDS} outer folds of whole documents (seed {OUTER_SEED}); for each, genre_experiment.genre_task "
         "runs unchanged on the other two thirds (inner grouped cross-validation selects each candidate's epochs, "
         "the averaged candidate combination and the baseline's C; then the selected ensemble and the selected "
         "tf-idf logistic-regression baseline are trained on those two thirds) and both score the held-out third. "
         "The word + character n-gram logistic regression (bench_tasks' reference, its C selected the same way) is "
         "scored beside them under versus_reference."),
        ("Pooled figures cover every training sentence exactly once. Models here train on 2/3 of the training "
         "documents, so absolute accuracies are not comparable with the dev figure in tasks.json; the paired "
         "model-vs-baseline difference is the point. Sentences of one document are correlated: prefer the "
         "document-level sign test and the document bootstrap interval over the sentence-level sign test."),
        settings_line,
    ]
    if not complete:
        parts.append("INCOMPLETE: only the outer folds listed finished; no pooled figures.")
    return " ".join(parts)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_DOCUMENTS} documents, 1 epoch, tiny models (smoke run, JSON to the temp dir)")
    parser.add_argument("--ensemble-size", type=int, default=None,
                        help="members of the final ensemble (every outer fold)")
    parser.add_argument("--inner-folds", type=int, default=None, help="inner selection folds (every outer fold)")
    parser.add_argument("--output", type=pathlib.Path, default=None, help="JSON path")
    args = parser.parse_args()
    settings = dict(QUICK_SETTINGS if args.quick else genre_experiment.FULL_SETTINGS)
    if args.ensemble_size is not None:
        settings["ensemble_size"] = args.ensemble_size
    if args.inner_folds is not None:
        settings["folds"] = args.inner_folds
    output = benchlib.results_path("genre_nested_cv", quick=args.quick, out=args.output)
    train_path = genre_experiment.EWT_DIR / "en_ewt-ud-train.conllu.gz"
    if not train_path.exists():
        raise SystemExit(f"UD English EWT not found at {genre_experiment.EWT_DIR}; see ../shared/DATA.md")

    train = read_conllu(train_path)
    if args.quick:
        train = _pick_documents(train, QUICK_DOCUMENTS, OUTER_SEED)
    fold_of, documents = genre_experiment.document_folds(train, OUTER_FOLDS, seed=OUTER_SEED)
    genres = list(EWT_GENRES)
    results = {
        "device": benchlib.device_description(),
        "quick": args.quick,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "outer_folds": OUTER_FOLDS,
        "outer_seed": OUTER_SEED,
        "training_documents": documents,
        "training_sentences": len(train),
        "genre_counts": {g: int(sum(ewt_genre(s.sent_id) == g for s in train)) for g in genres},
        "settings": {key: value for key, value in settings.items() if key != "candidates"},
        "candidates": [c["name"] for c in settings["candidates"]],
        "folds": [],
    }
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    fold_arrays = []
    for fold in range(OUTER_FOLDS):
        record, arrays = outer_fold(settings, train, fold_of, fold)
        results["folds"].append(record)
        fold_arrays.append(arrays)
        print(f"outer fold {fold}: model {record['model_accuracy']:.4f} baseline {record['baseline_accuracy']:.4f} "
              f"({record['wall_seconds']:.0f} s)", flush=True)
        complete = fold == OUTER_FOLDS - 1
        results["note"] = _note(settings, args.quick, complete)
        results["complete"] = complete
        if complete:
            fold_wins = sum(r["difference"] > 0 for r in results["folds"])
            fold_losses = sum(r["difference"] < 0 for r in results["folds"])
            fold_p = round(genre_experiment.two_sided_sign_test(fold_wins, fold_losses), 4)
            results["pooled"] = dict(_pooled(fold_arrays), fold_wins=fold_wins, fold_losses=fold_losses,
                                     fold_sign_test_p=fold_p)
        results["total_wall_seconds"] = round(time.perf_counter() - start_wall, 1)
        results["total_process_cpu_seconds"] = round(time.process_time() - start_cpu, 1)
        benchlib.write_results(results, output)  # after every outer fold, so a cut-short run keeps what finished

    print(f"\n{'outer fold':<12}{'sentences':>10}{'model':>8}{'baseline':>10}{'diff':>8}"
          f"{'sent W/L':>12}{'p':>8}{'doc W/L/T':>12}{'p':>8}  chosen")
    rows = [(str(r["fold"]), r, "+".join(r["chosen_candidates"]) + f" C={r['baseline_C']}") for r in results["folds"]]
    rows.append(("pooled", results["pooled"], f"folds won {results['pooled']['fold_wins']}/{OUTER_FOLDS}"))
    for name, r, chosen in rows:
        print(f"{name:<12}{r['sentences']:>10}{r['model_accuracy']:>8.4f}{r['baseline_accuracy']:>10.4f}"
              f"{r['difference']:>+8.4f}{r['sentence_wins']:>6}/{r['sentence_losses']:<5}"
              f"{r['sentence_sign_test_p']:>8.4f}{r['document_wins']:>5}/{r['document_losses']}/"
              f"{r['document_ties']:<4}{r['document_sign_test_p']:>8.4f}  {chosen}")
    print(f"pooled difference, document bootstrap 95 % interval: {results['pooled']['document_bootstrap_95_interval']}")
    versus = results["pooled"]["versus_reference"]
    print(f"against the word + character n-gram reference: reference {versus['baseline_accuracy']:.4f}, "
          f"difference {versus['difference']:+.4f}, document sign test p {versus['document_sign_test_p']:.4f}, "
          f"bootstrap 95 % interval {versus['document_bootstrap_95_interval']}")
    print(f"device: {results['device']}; total {results['total_wall_seconds']} s wall, "
          f"{results['total_process_cpu_seconds']} s process CPU")


if __name__ == "__main__":
    main()
