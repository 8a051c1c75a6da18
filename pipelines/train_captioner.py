"""Train an image captioner (vector -> character sequence): `seqkeras train captioner`.

    seqkeras train captioner                                 # sklearn's 8x8 digits -> "zero".."nine"
    seqkeras train captioner --conditioning concat --run-dir runs/captioner_concat
    seqkeras evaluate runs/captioner                         # exact match on the held-out images
    seqkeras evaluate runs/captioner --data digits.csv       # 64 pixel columns + label per row
    seqkeras predict runs/captioner --csv pixels.csv --format text
    seqkeras export savedmodel runs/captioner                # `caption_pixels`: float [B, 64] -> strings

`--data digits` reads scikit-learn's 1,797 real 8x8 digit images (pixel values 0..16) and their
English names, split by image with a seeded permutation (`seqkeras.data.digit_names`, the split of
the task benchmark); `--data F.csv` reads rows of `num_pixels` values in 0..`pixel_max` and a label
(a digit 0-9 reads as its name, any other text is the caption itself). The network is
`build_captioner`: the scaled pixel vector conditions an LSTM decoder (as its initial state or
concatenated to every step's input) that is trained teacher-forced and decodes greedily.
`model.keras` is a `CaptionerTask` holding the pixel scale and the caption characters, so
`keras.saving.load_model("model.keras").caption(pixels)` works alone (with `import seqkeras`).
"""

import collections
import csv
import dataclasses
import io
import json
import math
import pathlib
import time

from pipelines import common

CONDITIONINGS = ("initial_state", "concat")
CELLS = ("lstm", "elman")
DIGITS = "digits"


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    # --- data ---
    data: str = common.field(DIGITS, "'digits' (sklearn's 8x8 images) or a CSV: num_pixels values + a label per row")
    num_pixels: int = common.field(64, "pixel columns per CSV row (the image vector's width)", minimum=1)
    pixel_max: float = common.field(16.0, "largest raw pixel value; pixels are divided by it (0..16 for digits)",
                                    above=0.0)
    test_fraction: float = common.field(0.25, "share of images held out for exact match (never trained on)",
                                        above=0.0, below=1.0)
    split_seed: int = common.field(0, "seed of the held-out split")
    max_caption_length: int = common.field(0, "decoding steps, end mark included (0: longest training caption + 1)",
                                           minimum=0)
    # --- model ---
    embedding_dim: int = common.field(16, "character embedding width", minimum=1)
    hidden_dim: int = common.field(64, "decoder LSTM units", minimum=1)
    num_layers: int = common.field(1, "decoder RNN layers", minimum=1)
    conditioning: str = common.field("initial_state", "how the image enters the decoder: initial_state or concat",
                                     choices=CONDITIONINGS)
    cell: str = common.field("lstm", "lstm or elman", choices=CELLS)
    dropout: float = common.field(0.0, "decoder dropout", minimum=0.0, below=1.0)
    # --- training ---
    epochs: int = common.field(25, "passes over the training images", minimum=1)
    batch_size: int = common.field(64, "images per batch", minimum=1)
    learning_rate: float = common.field(3e-3, "Adam learning rate", above=0.0)
    clipnorm: float = common.field(0.0, "global gradient norm clipping (0: none)", minimum=0.0)
    seed: int = common.field(0, "weights, dropout, batch shuffling and sampled decoding")
    num_samples: int = common.field(5, "held-out captions written to TensorBoard text after every epoch", minimum=0)
    # --- output ---
    run_dir: str = common.field("runs/captioner", "output folder")
    verbose: int = common.field(1, "Keras progress: 0 silent, 1 progress bar, 2 one line per epoch")

    def __post_init__(self):
        common.check_fields(self)
        if not self.data:
            raise ValueError("`data` must be 'digits' or a CSV path. Received: data=''")


# ------------------------------------------------------------------------------------------------
# Pixels and captions
# ------------------------------------------------------------------------------------------------
def _caption_of(cell):
    """A label cell -> its caption: a digit 0-9 (also "7.0") reads as its English name."""
    from seqkeras.data.digit_names import DIGIT_NAMES

    text = cell.strip()
    try:
        number = float(text)
    except ValueError:
        return text
    if number.is_integer() and 0 <= number <= 9:
        return DIGIT_NAMES[int(number)]
    return None


def read_pixel_csv(path, flag, *, num_pixels=64, pixel_max=16.0, labelled=True):
    """`(pixels float32 [N, num_pixels], captions or None)` of a CSV file of pixel rows.

    Each non-blank row holds `num_pixels` numbers in `0..pixel_max` (plus a label when
    `labelled`); a first row with no number among them is a header and skipped. A wrong column
    count, a non-number, NaN/Inf or a value out of range is a UserError naming the file, row
    and value.
    """
    import numpy as np

    text = common.read_text_file(path, flag)
    expected = num_pixels + int(labelled)
    what = f"{num_pixels} pixel values" + (" and a label" if labelled else "")
    pixels, captions, header_checked = [], [], False
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not any(cell.strip() for cell in row):
            continue
        if not header_checked:
            header_checked = True
            if not any(_is_number(cell) for cell in row[:num_pixels]):
                continue
        if len(row) != expected:
            raise common.UserError(f"{flag}: {path} row {number} has {len(row)} columns; expected {expected} "
                                   f"({what})")
        values = []
        for column, cell in enumerate(row[:num_pixels], start=1):
            try:
                value = float(cell)
            except ValueError:
                raise common.UserError(f"{flag}: {path} row {number} column {column} is not a number. "
                                       f"Received: {cell.strip()[:30]!r}") from None
            if not math.isfinite(value):
                raise common.UserError(f"{flag}: {path} row {number} column {column} is NaN or infinite. "
                                       f"Received: {cell.strip()!r}")
            if not 0 <= value <= pixel_max:
                raise common.UserError(f"{flag}: {path} row {number} column {column} is outside 0..{pixel_max:g}. "
                                       f"Received: {value:g}")
            values.append(value)
        pixels.append(values)
        if labelled:
            caption = _caption_of(row[num_pixels])
            if not caption:
                raise common.UserError(f"{flag}: {path} row {number}: the label must be a digit 0-9 or a non-empty "
                                       f"caption. Received: {row[num_pixels].strip()[:30]!r}")
            captions.append(caption)
    if not pixels:
        raise common.UserError(f"{flag}: {path} has no pixel rows")
    return np.asarray(pixels, np.float32), (captions if labelled else None)


def _is_number(cell):
    try:
        float(cell)
    except ValueError:
        return False
    return True


def load_data(config):
    """`{"train": (pixels, captions), "test": (pixels, captions)}`, raw pixels float32 `[N, num_pixels]`."""
    import numpy as np

    if config.data == DIGITS:
        from seqkeras.data.digit_names import load_digit_names

        if config.num_pixels != 64 or config.pixel_max != 16.0:
            raise common.UserError(f"--data digits has 64 pixels of 0..16. Received: --num-pixels "
                                   f"{config.num_pixels} --pixel-max {config.pixel_max:g}")
        (train_x, train_names, _), (test_x, test_names, _), _ = load_digit_names(config.test_fraction,
                                                                              seed=config.split_seed)
        return {"train": (train_x * 16.0, train_names), "test": (test_x * 16.0, test_names)}  # back to 0..16
    if not pathlib.Path(config.data).exists():
        raise common.UserError(f"--data: not 'digits' nor an existing CSV file. Received: {config.data!r}")
    pixels, captions = read_pixel_csv(config.data, "--data", num_pixels=config.num_pixels,
                                      pixel_max=config.pixel_max)
    order = np.random.default_rng(config.split_seed).permutation(len(captions))
    num_test = max(1, int(round(len(captions) * config.test_fraction)))
    if num_test >= len(captions):
        raise common.UserError(f"--data: {config.data} has {len(captions)} rows; too few to hold out "
                               f"--test-fraction {config.test_fraction}")
    test, train = order[:num_test], order[num_test:]
    return {"train": (pixels[train], [captions[i] for i in train]),
            "test": (pixels[test], [captions[i] for i in test])}


def teacher_forced(task, pixels, captions):
    """`(inputs, targets)` numpy arrays of the network: `{"label", "token_ids", "padding_mask"}`
    and the next-character ids (PAD where the caption has ended)."""
    previous, following = task.target_sequences(captions)
    token_ids = previous.to_tensor(0).numpy().astype("int32")  # (N, T)
    inputs = {"label": task.label(pixels).numpy(), "token_ids": token_ids, "padding_mask": token_ids != 0}
    return inputs, following.to_tensor(0).numpy().astype("int32")


# ------------------------------------------------------------------------------------------------
# Model
# ------------------------------------------------------------------------------------------------
def build_task(config, captions, max_caption_length):
    from seqkeras.data.token_lookup import TokenLookup
    from seqkeras.data.vocabulary import Vocabulary
    from seqkeras.models.captioner import CaptionerTask, build_captioner

    target = TokenLookup(Vocabulary.build([list(text) for text in captions]), split="char", add_bos=True,
                         add_eos=True, name="caption_preprocessor")
    network = build_captioner(
        config.num_pixels, target.vocabulary_size, hidden_dim=config.hidden_dim, num_layers=config.num_layers,
        embedding_dim=config.embedding_dim, conditioning=config.conditioning, cell=config.cell,
        dropout=config.dropout, name="captioner",
    )
    return CaptionerTask(target, network, max_caption_length, pixel_max=config.pixel_max, name="captioner_task")


def build_optimizer(config):
    import keras

    return keras.optimizers.Adam(config.learning_rate, global_clipnorm=config.clipnorm or None)


def _edit_distance(first, second):
    row = list(range(len(second) + 1))
    for i, a in enumerate(first, start=1):
        previous, row[0] = row[0], i
        for j, b in enumerate(second, start=1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (a != b))
    return row[-1]


def caption_scores(generated, captions):
    """Exact match, per-character figures and the per-caption exact match of generated captions."""
    exact = [g == c for g, c in zip(generated, captions)]
    characters = sum(len(c) for c in captions)
    right = sum(sum(a == b for a, b in zip(g, c)) for g, c in zip(generated, captions))
    by_caption = collections.defaultdict(list)
    for hit, caption in zip(exact, captions):
        by_caption[caption].append(hit)
    return {
        "exact_match": sum(exact) / len(captions),
        "char_accuracy": right / characters,  # position by position
        "char_error_rate": sum(_edit_distance(g, c) for g, c in zip(generated, captions)) / characters,
        "per_caption": {caption: sum(hits) / len(hits) for caption, hits in sorted(by_caption.items())},
        "wrong": len(exact) - sum(exact),
    }


def _samples_callback(task, pixels, captions, folder, num_samples):
    """After every epoch: held-out exact match (greedy) in the logs, a few captions as TensorBoard text."""
    import keras
    import tensorflow as tf

    class HeldoutCaptions(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.writer = tf.summary.create_file_writer(str(folder))

        def on_epoch_end(self, epoch, logs=None):
            generated = task.caption(pixels)
            score = caption_scores(generated, captions)["exact_match"]
            if logs is not None:
                logs["val_exact_match"] = score
            lines = [f"    image {i}: {g}   (target {c})" for i, (g, c) in enumerate(zip(generated, captions))]
            with self.writer.as_default(), tf.summary.record_if(True):
                tf.summary.scalar("val_exact_match", score, step=epoch)
                if num_samples:
                    tf.summary.text("samples", "\n".join(lines[:num_samples]), step=epoch)
            self.writer.flush()

    return HeldoutCaptions()


# ------------------------------------------------------------------------------------------------
# Train
# ------------------------------------------------------------------------------------------------
def main(config=TrainConfig(), resume=False, overwrite=False):
    """Trains, saves and scores the held-out images; returns the metrics dict (plus the task,
    network, data and history under their own keys)."""
    import keras

    from seqkeras.data.vocabulary import PAD_ID
    from seqkeras.losses import MaskedSparseCategoricalCrossentropy

    started = time.time()
    data = load_data(config)  # cheap: a bad file is reported before the run dir opens
    run_dir = common.open_run_dir(config, "captioner", resume=resume, overwrite=overwrite)
    keras.utils.set_random_seed(config.seed)

    # === Data and model ===
    (train_x, train_captions), (test_x, test_captions) = data["train"], data["test"]
    max_caption_length = config.max_caption_length or max(len(text) for text in train_captions) + 1
    task = build_task(config, train_captions, max_caption_length)
    train_inputs, train_targets = teacher_forced(task, train_x, train_captions)
    test_inputs, test_targets = teacher_forced(task, test_x, test_captions)
    if config.verbose:
        print(f"data {config.data}: {len(train_captions)} training images, {len(test_captions)} held out; "
              f"{task.target_preprocessor.vocabulary_size} caption ids, up to {max_caption_length} steps", flush=True)
    network = task.network
    network.compile(build_optimizer(config), MaskedSparseCategoricalCrossentropy(from_logits=True, ignore_class=PAD_ID))

    # === Training ===
    samples = _samples_callback(task, test_x, test_captions, pathlib.Path(run_dir) / "tb" / "samples",
                                config.num_samples)
    callbacks = [samples] + common.standard_callbacks(run_dir)
    fit_started = time.perf_counter()
    history = network.fit(train_inputs, train_targets, validation_data=(test_inputs, test_targets),
                          batch_size=config.batch_size, epochs=config.epochs, callbacks=callbacks,
                          verbose=config.verbose, shuffle=True)
    fit_seconds = time.perf_counter() - fit_started
    common.raise_if_diverged(callbacks)
    task = type(task)(task.target_preprocessor, common.inference_copy(network), task.max_caption_length,
                      pixel_max=task.pixel_max, name=task.name)
    task(keras.ops.convert_to_tensor(test_x[:1]))  # builds the task through the raw-pixel path
    common.save_model(task, run_dir / common.MODEL_FILE)

    # === Held-out figures, metrics, TensorBoard ===
    generated = task.caption(test_x)
    scores = caption_scores(generated, test_captions)
    sampled_captions = task.caption(test_x, strategy="sample", seed=config.seed)
    sampled = caption_scores(sampled_captions, test_captions)
    commonest = collections.Counter(train_captions).most_common(1)[0][0]
    summary = {
        "heldout_exact_match": scores["exact_match"],
        "heldout_exact_match_sampled": sampled["exact_match"],
        "heldout_char_accuracy": scores["char_accuracy"],
        "heldout_char_error_rate": scores["char_error_rate"],
        "heldout_per_caption": scores["per_caption"],
        "baseline_commonest_caption": commonest,
        "baseline_exact_match": sum(c == commonest for c in test_captions) / len(test_captions),
        "heldout_images": len(test_captions),
        "train_images": len(train_captions),
        "caption_vocabulary_size": task.target_preprocessor.vocabulary_size,
        "max_caption_length": max_caption_length,
        "fit_seconds": round(fit_seconds, 1),
        "train_seconds": round(time.time() - started, 1),
        "examples": [f"{c} -> {g}" for c, g in zip(test_captions[:5], generated[:5])],
        "examples_sampled": [f"{c} -> {s}" for c, s in zip(test_captions[:5], sampled_captions[:5])],
    }
    history_dict = {key: [float(v) for v in values] for key, values in history.history.items()}
    history_dict["epoch"] = list(history.epoch)
    metrics = common.update_metrics(run_dir, history=history_dict, **summary)
    common.log_hparams(run_dir, config, summary)
    common.plot_history(metrics["history"], run_dir / "training_curves.png", title="captioner")
    if config.verbose:
        print("\n".join(summary["examples"]))
        print(f"held-out exact match (greedy): {scores['exact_match']:.1%} of {len(test_captions)} images "
              f"(sampled {sampled['exact_match']:.1%}, commonest caption {summary['baseline_exact_match']:.1%}); "
              f"character error rate {scores['char_error_rate']:.2%}; {fit_seconds:.1f} s fit; "
              f"model saved to {run_dir / common.MODEL_FILE}")
    return {**summary, "task": task, "network": network, "history": history_dict, "data": data,
            "run_dir": run_dir, "samples_callback": samples}


# ------------------------------------------------------------------------------------------------
# Later commands
# ------------------------------------------------------------------------------------------------
def load_task(run):
    from seqkeras.models.captioner import CaptionerTask

    task = common.load_model(run.model_path)
    if not isinstance(task, CaptionerTask):
        raise common.UserError(f"{run.model_path} is a {type(task).__name__}, not a CaptionerTask; retrain the run")
    return task


def evaluate(run, args):
    """Exact match (greedy) on `--data` (a CSV of pixels + label; default: the run's held-out images)."""
    config = run.train_config()
    if args.data is None:
        pixels, captions = load_data(config)["test"]
    else:
        pixels, captions = read_pixel_csv(args.data, "--data", num_pixels=config.num_pixels,
                                          pixel_max=config.pixel_max)
    task = load_task(run)
    generated = task.caption(pixels, batch_size=args.batch_size)
    scores = caption_scores(generated, captions)
    print(f"{'images':<10} {'exact match':>12} {'char accuracy':>14} {'char error rate':>16} {'wrong':>7}")
    print(f"{len(captions):<10} {scores['exact_match']:>12.2%} {scores['char_accuracy']:>14.2%} "
          f"{scores['char_error_rate']:>16.2%} {scores['wrong']:>7}")
    print(f"{'caption':<12} {'images':>7} {'exact match':>12}")
    counts = collections.Counter(captions)
    for caption, score in scores["per_caption"].items():
        print(f"{caption:<12} {counts[caption]:>7} {score:>12.2%}")
    return {"data": str(args.data) if args.data else "heldout", "images": len(captions), **scores}


PREDICT_READS_CSV = True  # `predict` reads --csv rows, not --text/--file
PREDICT_FORMATS = ("jsonl", "text")  # `predict --format` choices, the default first


def predict(run, args):
    """Captions of `--csv` pixel rows, as JSONL (default: {"row", "caption"}) or one caption per line."""
    from pipelines.predict import write_output

    if args.csv is None:
        raise common.UserError("give --csv F: rows of pixel values (0..16 for digits), one image per row")
    config = run.train_config()
    pixels, _ = read_pixel_csv(args.csv, "--csv", num_pixels=config.num_pixels, pixel_max=config.pixel_max,
                               labelled=False)
    task = load_task(run)
    captions = task.caption(pixels, strategy=args.decoding, temperature=args.temperature, seed=args.seed,
                            batch_size=args.batch_size)
    if args.format == "text":
        lines = captions
    else:
        lines = [json.dumps({"row": row, "caption": caption}) for row, caption in enumerate(captions, start=1)]
    write_output("".join(line + "\n" for line in lines), args.out)
    return 0


def configure(parser):
    common.add_config_arguments(parser, TrainConfig)


def run(args):
    config = common.config_from_args(TrainConfig, args)
    main(config, resume=args.resume, overwrite=args.overwrite)
