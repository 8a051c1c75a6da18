"""Batching strategies on real text: padding fraction and real tokens/s of the input pipeline.

Claims checked (issue 2), on the sentences of gensim's Wikipedia excerpt (markup stripped,
split into sentences, lower-cased Unicode-script words -> ids; natural, skewed lengths):
1. `token_budget` and `packed` padding <= 5 % while `random` is far higher.
2. Every `seqkeras.data.batching.batch_sequences` strategy delivers >= 1 M real tokens/s
   on this 2-core machine (iterating batches from Python, prefetch + AUTOTUNE).

Anchor, in the same run: the plain `tf.data` way - `shuffle` + `ragged_batch`, and
`Dataset.bucket_by_sequence_length` with the same boundaries and per-bucket batch sizes -
element-wise pipelines over the same ids.

Timing: one warm-up epoch, then `--epochs` timed epochs per pipeline, interleaved round by
round so background load hits all pipelines alike; the median epoch is reported. Padding is
the share of computed cells that are padding (a ragged batch is padded to its longest row;
a packed batch has none).

Usage:
    python benchmarks/bench_batching.py           # full run, writes benchmarks/results/batching.json
    python benchmarks/bench_batching.py --quick   # small smoke run, JSON to the temp dir
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

import benchlib  # noqa: E402

from seqkeras.data import corpora  # noqa: E402
from seqkeras.data.batching import STRATEGIES, batch_sequences, epoch_statistics  # noqa: E402
from pipelines.inspect import sentence_word_ids  # noqa: E402

REPO = benchlib.REPO


def anchor_pipelines(ids, info, batch_size, seed):
    """Element-wise tf.data pipelines over the same examples, same boundaries and batch sizes."""
    lengths = ids.row_lengths()
    examples = tf.data.Dataset.from_tensor_slices(tf.gather(ids, tf.where(lengths > 0)[:, 0]))

    def length(sequence):
        return tf.shape(sequence)[0]

    random = examples.shuffle(20_000, seed=seed).ragged_batch(batch_size).prefetch(tf.data.AUTOTUNE)
    bucketed = examples.shuffle(20_000, seed=seed).bucket_by_sequence_length(
        length, info["bucketed"].boundaries, [batch_size] * (len(info["bucketed"].boundaries) + 1),
        no_padding=True,
    ).prefetch(tf.data.AUTOTUNE)
    budget_info = info["token_budget"]
    token_budget = examples.shuffle(20_000, seed=seed).bucket_by_sequence_length(
        length, budget_info.boundaries, budget_info.bucket_batch_sizes, no_padding=True,
    ).prefetch(tf.data.AUTOTUNE)
    return {
        "tf.data shuffle+ragged_batch": random,
        "tf.data bucket_by_sequence_length": bucketed,
        "tf.data bucket_by_sequence_length (token budget sizes)": token_budget,
    }


def time_epoch(dataset):
    start = time.perf_counter()
    for _ in dataset:
        pass
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3,000 sentences, 2 timed epochs: a smoke run")
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs per pipeline (default 5)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--token-budget", type=int, default=4096)
    parser.add_argument("--num-buckets", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="JSON path (default benchmarks/results/batching.json)")
    args = parser.parse_args()
    epochs = 2 if args.quick else args.epochs
    load_at_start = os.getloadavg()

    sentences = corpora.wiki_sentences()
    if args.quick:
        sentences = sentences[:3000]
    ids, vocabulary = sentence_word_ids(sentences)
    real_total = int(tf.size(ids.flat_values))

    pipelines, info, build_seconds, padding, batches, real_tokens = {}, {}, {}, {}, {}, {}
    for strategy in STRATEGIES:
        start = time.perf_counter()
        dataset, info[strategy] = batch_sequences(
            ids, strategy, batch_size=args.batch_size, token_budget=args.token_budget,
            num_buckets=args.num_buckets, seed=args.seed, on_too_long="drop", return_info=True,
        )
        build_seconds[strategy] = time.perf_counter() - start
        pipelines[strategy] = dataset
    pipelines.update(anchor_pipelines(ids, info, args.batch_size, args.seed))

    for name, dataset in pipelines.items():  # warm-up epoch, also measures padding
        stats = epoch_statistics(dataset)
        padding[name], batches[name] = stats["padding_fraction"], stats["batches"]
        real_tokens[name] = stats["real_tokens"]
    epoch_seconds = {name: [] for name in pipelines}
    for _ in range(epochs):
        for name, dataset in pipelines.items():
            epoch_seconds[name].append(time_epoch(dataset))

    rows = {}
    for name in pipelines:
        seconds = statistics.median(epoch_seconds[name])
        rows[name] = {
            "padding_fraction": padding[name],
            "real_tokens_per_s": real_tokens[name] / seconds,  # tokens actually delivered per epoch
            "batches": batches[name],
            "epoch_seconds_median": seconds,
        }
    result = {
        "strategies": {name: rows[name] for name in STRATEGIES},
        "anchor_tf_data": {name: rows[name] for name in pipelines if name not in STRATEGIES},
        "plan": {
            name: {
                "build_seconds": build_seconds[name],
                "boundaries": info[name].boundaries,
                "bucket_batch_sizes": info[name].bucket_batch_sizes,
                "dropped_empty": info[name].dropped_empty,
                "dropped_too_long": info[name].dropped_too_long,
            }
            for name in STRATEGIES
        },
        "corpus": {
            "source": "gensim enwiki excerpt, markup stripped, sentences, unicode_script words, lower-cased",
            "sentences": len(sentences),
            "real_tokens": real_total,
            "vocabulary_size": vocabulary.size,
        },
        "config": {
            "quick": args.quick, "epochs_timed": epochs, "batch_size": args.batch_size,
            "token_budget": args.token_budget, "num_buckets": args.num_buckets, "seed": args.seed,
        },
        "device": benchlib.device_description(),
        "tensorflow": tf.__version__,
        "load_average_at_start": list(load_at_start),
    }

    header = f"{'pipeline':<56}{'padding':>9}{'real tok/s':>14}{'batches':>9}"
    print(header)
    print("-" * len(header))
    for name, row in rows.items():
        print(f"{name:<56}{row['padding_fraction']:>8.1%}{row['real_tokens_per_s']:>14,.0f}{row['batches']:>9}")
    print(f"\n{result['device']}; TF {tf.__version__}; load average at start {load_at_start[0]:.1f}")

    benchlib.write_results(result, benchlib.results_path("batching", quick=args.quick, out=args.out))


if __name__ == "__main__":
    main()
