"""Does the low-resource tagger gain more when the biLM never saw the tagger's sentences?

The biLM of `bench_elmo.py` is pretrained on every EWT training sentence's words, the tagger's
4,000 included: on those sentences its perplexity is far lower than on unseen text (runs of
2026-12-03: 94.6 / 106.1 forward / backward on the 4,000, 156.6 / 169.9 on EWT dev), so the tagger
learns from sharper features than those it meets at test time. This experiment decides, on training
data only (EWT dev is never read), whether to leave the tagger's sentences out of pretraining:

- a scoring set S: a quarter of the *later* EWT training documents (sentences after the first
  4,000, `train_tagger.split_documents(later, 0.25, seed 0)`: dev's genres), left out of both biLMs;
- biLM "with_tagger_sentences": every bundled English text minus S (bench_elmo's corpus otherwise);
- biLM "without_tagger_sentences": the same minus the tagger's 4,000 sentences;
- each pretrained for the same minutes with bench_elmo's Config, then bench_elmo's tagger recipe
  (both variants, seeds 0 and 1) trains on the 4,000 sentences and is scored on S.

Rule (fixed before the run): leave the tagger's sentences out of bench_elmo's pretraining if its
gain on S is higher. Results go to the JSON given (resumable: a finished biLM's part is skipped).

Usage:
    python benchmarks/elmo_unseen_pretraining.py /tmp/unseen.json [--minutes 15] [--quick]
"""

import argparse
import dataclasses
import gzip
import json
import pathlib
import tempfile
import time

import bench_elmo
from pipelines import train_tagger
from seqkeras.data import corpora

TRAIN_FILE = bench_elmo.EWT_DIR / "en_ewt-ud-train.conllu.gz"


def write_conllu_without(path, excluded_ids):
    """A copy of EWT train without the sentences whose sent_id is in `excluded_ids`; returns the count kept."""
    with gzip.open(TRAIN_FILE, "rt", encoding="utf-8") as source:
        blocks = [block for block in source.read().split("\n\n") if block.strip()]
    kept = []
    for block in blocks:
        ids = [line.split("=", 1)[1].strip() for line in block.splitlines() if line.startswith("# sent_id")]
        if not ids or ids[0] not in excluded_ids:
            kept.append(block)
    pathlib.Path(path).write_text("\n\n".join(kept) + "\n\n", encoding="utf-8")
    return len(kept)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output", type=pathlib.Path)
    parser.add_argument("--minutes", type=float, default=15.0, help="pretraining minutes per biLM")
    parser.add_argument("--quick", action="store_true", help="200 sentences per corpus, 0.5 minute, 300 in S")
    args = parser.parse_args()
    config = bench_elmo.Config()
    minutes = 0.5 if args.quick else args.minutes
    every = corpora.read_conllu(TRAIN_FILE)
    tagger_train = every[: config.tagger_sentences]
    _, scoring = train_tagger.split_documents(every[config.tagger_sentences:], 0.25, 0)
    if args.quick:
        tagger_train, scoring = tagger_train[:500], scoring[:300]
    results = json.loads(args.output.read_text()) if args.output.exists() else {
        "protocol": __doc__.split("\n\n")[1].replace("\n", " "), "config": dataclasses.asdict(config),
        "pretrain_minutes": minutes, "quick": args.quick, "tagger_sentences": len(tagger_train),
        "scoring_sentences": len(scoring), "scoring_words": sum(len(s.words) for s in scoring), "variants": {}}
    scoring_ids = {s.sent_id for s in scoring}
    with tempfile.TemporaryDirectory() as scratch:
        small = bench_elmo.pretraining_corpora(scratch)[3:]  # wiki, lee, EWT, then the small files
        for name, excluded in (("with_tagger_sentences", scoring_ids),
                               ("without_tagger_sentences", scoring_ids | {s.sent_id for s in tagger_train})):
            if name in results["variants"]:
                continue
            ewt = pathlib.Path(scratch) / f"ewt_{name}.conllu"
            kept = write_conllu_without(ewt, excluded)
            corpus = ("wiki", "lee", f"ewt:{ewt}", *small)
            start = time.time()
            pretraining, _ = bench_elmo.pretrain(config, corpus, pathlib.Path(scratch) / name, minutes,
                                                 max_sentences=config.quick_sentences_per_corpus if args.quick else 0)
            tagger = bench_elmo.tagger_report(config, pretraining["network"], pretraining["task"].preprocessor,
                                              tagger_train, scoring, config.tagger_epochs, (0, 1))
            variants = {variant: {"accuracy_mean": r["accuracy_mean"], "unseen_accuracy_mean": r["unseen_accuracy_mean"],
                                  "accuracies": [run["accuracy"] for run in r["runs"]]}
                        for variant, r in tagger["variants"].items()}
            results["variants"][name] = {
                "ewt_sentences_in_pretraining": kept, "corpus_words": pretraining["corpus_words"],
                "train_steps": pretraining["train_steps"], "words_per_s": pretraining["tokens_per_s"],
                "heldout": pretraining["heldout"], **variants,
                "gain": variants["elmo"]["accuracy_mean"] - variants["no_elmo"]["accuracy_mean"],
                "seconds": round(time.time() - start, 1)}
            print(name, json.dumps(results["variants"][name]), flush=True)
            args.output.write_text(json.dumps(results, indent=1))
    rows = results["variants"]
    for name, row in rows.items():
        print(f"{name:26} pretraining {row['corpus_words']:>8} words, {row['train_steps']:>6} steps; on S: "
              f"no mix {row['no_elmo']['accuracy_mean']:.4f}, mix {row['elmo']['accuracy_mean']:.4f}, "
              f"gain {row['gain']:+.4f}")
    if len(rows) == 2:
        results["chosen"] = max(rows, key=lambda name: rows[name]["gain"])
        args.output.write_text(json.dumps(results, indent=1))
        print("higher gain on S:", results["chosen"])


if __name__ == "__main__":
    main()
