"""LSTM speed: seqkeras.layers.LSTM vs keras.layers.LSTM, and PackedRNN vs padded + masked.

Claims checked (issue 3):
1. `ratio` = seqkeras tokens/s / keras tokens/s for one training step (batch 64,
   length 100, one-hot vocabulary of 96 characters, hidden 512), >= 1.0 on CPU.
   Both models are identical apart from the LSTM layer (same weights, optimizer, loss,
   data: character windows of the gensim Wikipedia excerpt). Timing interleaves the two
   models round by round so background load hits both alike; medians are reported.
2. `packed_vs_padded_ratio` = real tokens/s of `PackedRNN(LSTMCell)` over
   `keras.layers.RNN(LSTMCell)` on the same right-padded + masked batches, both a
   forward + backward step, on REAL skewed lengths (UD English EWT sentence lengths,
   or Wikipedia sentences if EWT is absent), >= 1.5.

Usage:
    python benchmarks/bench_lstm.py            # full run, writes benchmarks/results/lstm.json
    python benchmarks/bench_lstm.py --quick    # small smoke run, JSON to the temp dir
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import benchlib  # noqa: E402

from seqkeras.data import corpora  # noqa: E402
from seqkeras.data.packing import pack_padded  # noqa: E402
from seqkeras.layers.lstm import LSTM  # noqa: E402
from seqkeras.layers.lstm_cell import LSTMCell  # noqa: E402
from seqkeras.layers.packed_rnn import PackedRNN  # noqa: E402

REPO = benchlib.REPO
EWT_TRAIN = REPO.parent / "shared" / "data" / "ud-english-ewt" / "en_ewt-ud-train.conllu.gz"


# ----------------------------------------------------------------------------------------
# 1. Train step, seqkeras LSTM vs keras LSTM
# ----------------------------------------------------------------------------------------


def char_windows(batch, length, vocab, num_batches, seed):
    """One-hot character windows `(B, T, vocab)` and next-char targets from Wikipedia."""
    text = "".join(article.text for article in corpora.wiki_articles()[:200])
    code_points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    chars, counts = np.unique(code_points, return_counts=True)
    top = chars[np.argsort(-counts)][: vocab - 1]  # id 0 = any other character
    table = {int(c): i + 1 for i, c in enumerate(top)}
    ids = np.array([table.get(ord(ch), 0) for ch in text[: 2_000_000]], dtype=np.int32)
    rng = np.random.default_rng(seed)
    eye = np.eye(vocab, dtype="float32")
    data = []
    for _ in range(num_batches):
        starts = rng.integers(0, len(ids) - length - 1, size=batch)
        windows = np.stack([ids[s : s + length + 1] for s in starts])  # (B, T + 1)
        data.append((eye[windows[:, :-1]], windows[:, 1:]))
    return data


def build_char_model(layer, length, vocab):
    inputs = keras.Input((length, vocab))
    logits = keras.layers.Dense(vocab)(layer(inputs))  # (B, T, vocab)
    model = keras.Model(inputs, logits)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def bench_train_step(batch, length, vocab, hidden, rounds, steps_per_round, seed):
    keras.utils.set_random_seed(seed)
    data = char_windows(batch, length, vocab, num_batches=4, seed=seed)
    models = {
        "keras": build_char_model(keras.layers.LSTM(hidden, return_sequences=True), length, vocab),
        "seqkeras": build_char_model(LSTM(hidden, return_sequences=True), length, vocab),
    }
    models["seqkeras"].set_weights(models["keras"].get_weights())  # same layout, same start
    for model in models.values():  # trace + warm up
        for x, y in data[:2]:
            model.train_on_batch(x, y)
    times = {name: [] for name in models}
    cpu_times = {name: [] for name in models}  # process CPU seconds, less load-sensitive
    for r in range(rounds):
        order = list(models) if r % 2 == 0 else list(models)[::-1]
        for name in order:
            for s in range(steps_per_round):
                x, y = data[(r * steps_per_round + s) % len(data)]
                start, start_cpu = time.perf_counter(), time.process_time()
                models[name].train_on_batch(x, y)
                times[name].append(time.perf_counter() - start)
                cpu_times[name].append(time.process_time() - start_cpu)
    tokens = batch * length
    result = {name: tokens / statistics.median(t) for name, t in times.items()}
    cpu = {name: tokens / statistics.median(t) for name, t in cpu_times.items()}
    return {
        "seqkeras_tokens_per_s": result["seqkeras"],
        "keras_tokens_per_s": result["keras"],
        "ratio": result["seqkeras"] / result["keras"],
        "seqkeras_step_s_median": statistics.median(times["seqkeras"]),
        "keras_step_s_median": statistics.median(times["keras"]),
        "seqkeras_step_s_min": min(times["seqkeras"]),
        "keras_step_s_min": min(times["keras"]),
        "seqkeras_tokens_per_cpu_s": cpu["seqkeras"],
        "keras_tokens_per_cpu_s": cpu["keras"],
        "cpu_ratio": cpu["seqkeras"] / cpu["keras"],
        "load_average_1min_at_end": os.getloadavg()[0],
    }


# ----------------------------------------------------------------------------------------
# 2. Packed vs padded on real skewed lengths
# ----------------------------------------------------------------------------------------


def real_lengths():
    """Sentence lengths in words: UD English EWT train, else Wikipedia sentences."""
    if EWT_TRAIN.exists():
        sentences = corpora.read_conllu(EWT_TRAIN)
        return "ud-english-ewt train", np.array([len(s.words) for s in sentences])
    sentences = corpora.wiki_sentences()
    return "wikipedia sentences", np.array([len(s.split()) for s in sentences if s.split()])


def bench_packed(batch, features, hidden, num_batches, rounds, seed, max_length):
    source, lengths = real_lengths()
    lengths = np.minimum(lengths, max_length)
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(num_batches):
        lens = rng.choice(lengths, size=batch, replace=False)
        width = int(lens.max())
        x = rng.normal(size=(batch, width, features)).astype("float32")
        mask = np.arange(width)[None, :] < lens[:, None]  # right padded
        batches.append((tf.constant(x), tf.constant(mask), int(lens.sum())))

    keras.utils.set_random_seed(seed)
    cell = LSTMCell(hidden)
    padded_rnn = keras.layers.RNN(cell, return_sequences=True)
    packed_rnn = PackedRNN(cell)  # the same cell: same weights
    fused = LSTM(hidden, return_sequences=True)

    @tf.function(reduce_retracing=True)
    def padded_step(x, mask):
        with tf.GradientTape() as tape:
            y = padded_rnn(x, mask=mask)  # (B, T, H)
            loss = tf.reduce_sum(tf.where(mask[..., None], y * y, 0.0))
        return tape.gradient(loss, cell.trainable_weights)

    @tf.function(reduce_retracing=True)
    def packed_step(x, mask):
        packed = pack_padded(x, mask)
        with tf.GradientTape() as tape:
            out, _ = packed_rnn(packed)
            loss = tf.reduce_sum(out.data * out.data)
        return tape.gradient(loss, cell.trainable_weights)

    @tf.function(reduce_retracing=True)
    def fused_step(x, mask):
        with tf.GradientTape() as tape:
            y = fused(x, mask=mask, training=True)
            loss = tf.reduce_sum(tf.where(mask[..., None], y * y, 0.0))
        return tape.gradient(loss, fused.trainable_weights)

    steps = {"padded": padded_step, "packed": packed_step, "fused_lstm_padded": fused_step}
    for fn in steps.values():  # trace / warm up on every batch shape
        for x, mask, _ in batches:
            fn(x, mask)
    times = {name: 0.0 for name in steps}
    cpu_times = {name: 0.0 for name in steps}
    for r in range(rounds):
        for name in (list(steps) if r % 2 == 0 else list(steps)[::-1]):
            start, start_cpu = time.perf_counter(), time.process_time()
            for x, mask, _ in batches:
                [g.numpy() for g in steps[name](x, mask)]
            times[name] += time.perf_counter() - start
            cpu_times[name] += time.process_time() - start_cpu
    real_tokens = rounds * sum(n for _, _, n in batches)
    padded_tokens = rounds * sum(int(np.prod(x.shape[:2])) for x, _, _ in batches)
    rates = {name: real_tokens / t for name, t in times.items()}
    return {
        "lengths_source": source,
        "mean_length": float(np.mean(lengths)),
        "padding_fraction": 1.0 - real_tokens / padded_tokens,
        "packed_real_tokens_per_s": rates["packed"],
        "padded_real_tokens_per_s": rates["padded"],
        "fused_lstm_padded_real_tokens_per_s": rates["fused_lstm_padded"],
        "packed_vs_padded_ratio": rates["packed"] / rates["padded"],
        "packed_vs_padded_cpu_ratio": cpu_times["padded"] / cpu_times["packed"],
        "note": "packed timings include packing the padded batch inside the step",
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, smoke run only")
    parser.add_argument(
        "--out", default=None, help="JSON path (default benchmarks/results/lstm.json)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    if args.quick:
        config = dict(batch=8, length=20, vocab=96, hidden=32, rounds=2, steps_per_round=2,
                      packed_batch=16, packed_features=16, packed_hidden=32, packed_batches=2,
                      packed_rounds=1, max_length=60)
    else:
        config = dict(batch=64, length=100, vocab=96, hidden=512, rounds=5, steps_per_round=2,
                      packed_batch=64, packed_features=128, packed_hidden=256, packed_batches=8,
                      packed_rounds=3, max_length=100)
    train = bench_train_step(config["batch"], config["length"], config["vocab"], config["hidden"],
                             config["rounds"], config["steps_per_round"], args.seed)
    packed = bench_packed(
        config["packed_batch"], config["packed_features"], config["packed_hidden"],
        config["packed_batches"], config["packed_rounds"], args.seed, config["max_length"],
    )
    result = {
        **{k: train[k] for k in ("seqkeras_tokens_per_s", "keras_tokens_per_s", "ratio")},
        "packed_vs_padded_ratio": packed["packed_vs_padded_ratio"],
        "device": benchlib.device_description(),
        "config": {**config, "quick": args.quick, "seed": args.seed,
                   "train_step": "Adam, sparse CE on next-char logits, one-hot inputs",
                   "tensorflow": tf.__version__, "keras": keras.__version__},
        "train_step_details": train,
        "packed_details": packed,
    }
    print(f"device: {result['device']}")
    print(f"{'measure':44s} {'seqkeras':>12s} {'anchor':>12s} {'ratio':>7s}")
    print(f"{'train step tokens/s (anchor keras LSTM)':44s} {train['seqkeras_tokens_per_s']:12.0f} "
          f"{train['keras_tokens_per_s']:12.0f} {train['ratio']:7.2f}")
    print(f"{'train step tokens per CPU-second':44s} {train['seqkeras_tokens_per_cpu_s']:12.0f} "
          f"{train['keras_tokens_per_cpu_s']:12.0f} {train['cpu_ratio']:7.2f}")
    print(f"{'real tokens/s packed vs padded RNN(LSTMCell)':44s} "
          f"{packed['packed_real_tokens_per_s']:12.0f} "
          f"{packed['padded_real_tokens_per_s']:12.0f} {packed['packed_vs_padded_ratio']:7.2f}")
    print(f"{'real tokens/s fused LSTM, padded (info)':44s} "
          f"{packed['fused_lstm_padded_real_tokens_per_s']:12.0f}")
    print(f"lengths: {packed['lengths_source']}, "
          f"padding {packed['padding_fraction']:.0%} of the padded batch")
    benchlib.write_results(result, benchlib.results_path("lstm", quick=args.quick, out=args.out))


if __name__ == "__main__":
    main()
