"""Chooses bench_elmo's low-resource tagger recipe on held-out training documents (never EWT dev).

The first 4,000 EWT training sentences (bench_elmo's tagger data) are split by document
(`train_tagger.split_documents`, 15%, seed 0); every candidate recipe trains both variants (without
and with the frozen biLM mix) on the inner-training part, seeds 0 and 1, and is scored on the
held-out documents. The recipe with the best mean of the two variants' accuracies becomes
`bench_elmo.Config`'s; results go to the JSON given (resumable: finished candidates are skipped).

`--other-genres` is a diagnostic, not a selection: each candidate trains on all 4,000 sentences
(email and weblog) and is scored on every later EWT training sentence (reviews, answers,
newsgroup, email: dev's genres, whose words the biLM was pretrained on).

Usage (after `python benchmarks/bench_elmo.py --keep-bilm runs/bench_elmo_bilm`):
    python benchmarks/elmo_tagger_selection.py runs/bench_elmo_bilm /tmp/elmo_tagger_selection.json
    python benchmarks/elmo_tagger_selection.py runs/bench_elmo_bilm /tmp/s.json c6_c5_hidden128 c7_c5_epochs15
    (names after the JSON: only those candidates; the JSON may hold earlier candidates' results on the same biLM)
    python benchmarks/elmo_tagger_selection.py --other-genres runs/bench_elmo_bilm /tmp/g.json c9_c6 c13_c6_mixdropout0_layernorm
"""

import dataclasses
import json
import pathlib
import sys
import time

import bench_elmo
from pipelines import common, train_tagger
from seqkeras.data import corpora

FORMER = dict(tagger_epochs=5, tagger_dropout=0.2, tagger_word_dropout=0.0,  # the recipe before this selection
              tagger_contextual_dropout=None, tagger_contextual_layer_norm=False)
C5 = {"tagger_dropout": 0.5, "tagger_epochs": 10, "tagger_word_dropout": 0.2}  # round 1's choice
C6 = {**C5, "tagger_hidden_dim": 128}  # round 2's choice
CANDIDATES = {
    "c0_current": {},
    "c2_dropout50": {"tagger_dropout": 0.5},
    "c3_dropout50_epochs10": {"tagger_dropout": 0.5, "tagger_epochs": 10},
    "c4_hidden128_dropout50_epochs10": {"tagger_dropout": 0.5, "tagger_epochs": 10, "tagger_hidden_dim": 128},
    "c5_worddropout20_dropout50_epochs10": C5,
    # second round (2026-12-03, same kept biLM), from c5:
    "c6_c5_hidden128": {**C5, "tagger_hidden_dim": 128},
    "c7_c5_epochs15": {**C5, "tagger_epochs": 15},
    "c8_c5_charfilters64": {**C5, "tagger_char_filters": 64},
    # third round (2026-12-03 evening, the biLM runs/bench_elmo_bilm_b4096_s256), from c6: options of the mix alone
    "c9_c6": C6,
    "c10_c6_mixdropout0": {**C6, "tagger_contextual_dropout": 0.0},
    "c11_c6_mixdropout20": {**C6, "tagger_contextual_dropout": 0.2},
    "c12_c6_layernorm": {**C6, "tagger_contextual_layer_norm": True},
    "c13_c6_mixdropout0_layernorm": {**C6, "tagger_contextual_dropout": 0.0, "tagger_contextual_layer_norm": True},
}


def main(bilm_dir, out, names=(), other_genres=False):
    task = common.load_model(pathlib.Path(bilm_dir) / common.MODEL_FILE)
    every = corpora.read_conllu(bench_elmo.EWT_DIR / "en_ewt-ud-train.conllu.gz")
    train = every[: bench_elmo.Config().tagger_sentences]
    if other_genres:
        inner_train, inner_valid = train, every[len(train):]
    else:
        inner_train, inner_valid = train_tagger.split_documents(train, 0.15, 0)
    base = dataclasses.replace(bench_elmo.Config(), **FORMER)
    out = pathlib.Path(out)
    results = json.loads(out.read_text()) if out.exists() else {}
    unknown = sorted(set(names) - set(CANDIDATES))
    if unknown:
        raise SystemExit(f"unknown candidates {unknown}; known: {sorted(CANDIDATES)}")
    for name, overrides in CANDIDATES.items():
        if name in results or (names and name not in names):
            continue
        config = dataclasses.replace(base, **overrides)
        start = time.time()
        report = bench_elmo.tagger_report(config, task.network, task.preprocessor, inner_train, inner_valid,
                                          config.tagger_epochs, (0, 1))
        results[name] = {"overrides": overrides, "seconds": round(time.time() - start, 1), **{
            variant: {"accuracy_mean": r["accuracy_mean"], "unseen_accuracy_mean": r["unseen_accuracy_mean"],
                      "accuracies": [run["accuracy"] for run in r["runs"]]}
            for variant, r in report["variants"].items()}}
        print(name, json.dumps(results[name]), flush=True)
        out.write_text(json.dumps(results, indent=1))
    best = max(results, key=lambda n: results[n]["no_elmo"]["accuracy_mean"] + results[n]["elmo"]["accuracy_mean"])
    print(f"inner split: {len(inner_train)} / {len(inner_valid)} sentences; best mean of both variants: {best}")


if __name__ == "__main__":
    flag = "--other-genres" in sys.argv[1:]
    positional = [arg for arg in sys.argv[1:] if arg != "--other-genres"]
    main(positional[0], positional[1], tuple(positional[2:]), other_genres=flag)
