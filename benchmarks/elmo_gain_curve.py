"""Where the ELMo gain stalls: the low-resource UPOS gain at snapshots of one biLM pretraining run.

Issue #15 asks for a +3-point gain from the frozen layer mix (4,000 EWT sentences, mean of 3 seeds)
and, for a goal not met, the curves that show where it stalls. This script pretrains the headline
biLM once (`bench_elmo.Config`, its corpus less the tagger's sentences, `seqkeras train bilm`),
copies the network's weights at the end of chosen epochs, and for each copy (and the end of the run)
trains `bench_elmo`'s tagger recipe with the frozen mix (seeds 0-2) and scores it on EWT dev; the
tagger without the mix does not depend on the biLM and is trained once. Each point pairs the gain
with the words pretrained and the held-out perplexity (1% of the corpus) at that epoch.

Nothing is chosen from these readings: they are a diagnostic curve, and every dev reading is
recorded in the JSON (`benchmarks/results/elmo_gain_curve.json`).

Usage:
    python benchmarks/elmo_gain_curve.py            # ~54 min: 38 min of pretraining, 18 taggers
    python benchmarks/elmo_gain_curve.py --quick    # slices of the data, JSON to the temp dir
"""

import argparse
import dataclasses
import os
import pathlib
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

import bench_elmo  # noqa: E402
import benchlib  # noqa: E402
from pipelines import common  # noqa: E402
from seqkeras.data import corpora  # noqa: E402

SNAPSHOT_EPOCHS = (6, 12, 24, 48)  # of 250 batches (~1/4 pass each); the 38-minute runs end at epoch 72-78
QUICK_SNAPSHOT_EPOCHS = (1,)


class Snapshots(keras.callbacks.Callback):
    """Copies of the model's weights at the end of the given (1-based) epochs."""

    def __init__(self, epochs):
        super().__init__()
        self.epochs, self.weights = set(epochs), {}

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 in self.epochs:
            self.weights[epoch + 1] = [value.copy() for value in self.model.get_weights()]




def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="slices of the data, one minute; JSON to the temp dir")
    parser.add_argument("--output", type=pathlib.Path, default=None)
    args = parser.parse_args()
    config = bench_elmo.Config()
    started = time.perf_counter()
    print(f"device: {benchlib.device_description()}; load average {os.getloadavg()[0]:.2f}", flush=True)
    train = corpora.read_conllu(bench_elmo.EWT_DIR / "en_ewt-ud-train.conllu.gz")
    dev = corpora.read_conllu(bench_elmo.EWT_DIR / "en_ewt-ud-dev.conllu.gz")
    tagger_train, tagger_dev = train[: config.tagger_sentences], dev
    epochs, seeds, minutes, snapshot_epochs = (config.tagger_epochs, config.tagger_seeds, config.pretrain_minutes,
                                               SNAPSHOT_EPOCHS)
    if args.quick:
        tagger_train, tagger_dev = train[: config.quick_tagger_sentences], dev[: config.quick_dev_sentences]
        epochs, seeds, minutes, snapshot_epochs = 2, seeds[:1], config.quick_pretrain_minutes, QUICK_SNAPSHOT_EPOCHS

    with tempfile.TemporaryDirectory() as scratch:
        corpus = bench_elmo.pretraining_corpora(scratch)
        exclude = (bench_elmo.tagger_sentences_file(scratch, len(tagger_train)),)
        snapshots = Snapshots(snapshot_epochs)
        results, pretrain_seconds = bench_elmo.pretrain(
            config, corpus, pathlib.Path(scratch) / "bilm", minutes,
            config.quick_sentences_per_corpus if args.quick else 0, exclude, callbacks=[snapshots])
    weights = snapshots.weights
    curve = {row["epoch"]: row for row in results["curve"]}
    final_epoch = results["curve"][-1]["epoch"]
    weights[final_epoch] = results["network"].get_weights()
    preprocessor = results["task"].preprocessor

    baseline = bench_elmo.tagger_report(config, None, preprocessor, tagger_train, tagger_dev, epochs, seeds,
                                        variants=("no_elmo",))["variants"]["no_elmo"]
    points = []
    for epoch in sorted(weights):
        bilm = common.inference_copy(results["network"])  # the run's configuration, with this epoch's weights
        bilm.set_weights(weights[epoch])
        elmo = bench_elmo.tagger_report(config, bilm, preprocessor, tagger_train, tagger_dev, epochs, seeds,
                                        variants=("elmo",))["variants"]["elmo"]
        row = curve[epoch]
        points.append({
            "epoch": epoch, "words_pretrained": row["words"], "pretrain_seconds": row["seconds"],
            "heldout_perplexity": {d: row.get(f"val_{d}_perplexity") for d in ("forward", "backward")},
            "elmo": elmo, "gain": elmo["accuracy_mean"] - baseline["accuracy_mean"],
            "unseen_gain": elmo["unseen_accuracy_mean"] - baseline["unseen_accuracy_mean"],
        })

    print(f"\nUPOS gain of the frozen mix against biLM pretraining ({len(tagger_train)} sentences, {epochs} epochs, "
          f"seeds {list(seeds)}; without the mix: {baseline['accuracy_mean']:.4f} +-{baseline['accuracy_std']:.4f})")
    print(f"{'epoch':>6}{'words':>12}{'held-out ppl fwd/bwd':>24}{'with mix':>18}{'gain':>9}{'unseen gain':>13}")
    for p in points:
        ppl = p["heldout_perplexity"]
        print(f"{p['epoch']:>6}{p['words_pretrained']:>12}{ppl['forward']:>12.1f} / {ppl['backward']:<9.1f}"
              f"{p['elmo']['accuracy_mean']:>10.4f} +-{p['elmo']['accuracy_std']:.4f}"
              f"{100 * p['gain']:>+9.2f}{100 * p['unseen_gain']:>+13.2f}")
    report = {
        "device": benchlib.device_description(), "quick": args.quick, "date": time.strftime("%Y-%m-%d"),
        "config": dataclasses.asdict(config), "snapshot_epochs": list(snapshot_epochs),
        "protocol": "diagnostic: nothing is chosen from these dev readings; every one is recorded",
        "pretraining": {key: results[key] for key in (
            "corpus_words", "train_words", "tokens_per_s", "train_steps", "train_seconds", "heldout", "curve")},
        "pretrain_seconds": pretrain_seconds,
        "tagger": {"train_sentences": len(tagger_train), "dev_sentences": len(tagger_dev), "epochs": epochs,
                   "seeds": list(seeds)},
        "no_elmo": baseline, "points": points, "total_seconds": time.perf_counter() - started,
    }
    benchlib.write_results(report, benchlib.results_path("elmo_gain_curve", quick=args.quick, out=args.output))


if __name__ == "__main__":
    main()
