"""Export parity and speed: Keras vs SavedModel vs TFLite (float32, dynamic range, float16, int8).

For the UPOS tagger and the genre classifier (UD English EWT: trained on the train file, measured
on dev sentences) and the character LM (gensim's Wikipedia excerpt, split by article, measured on
test articles), this script trains each model briefly, exports it, and reports on held-out data:

- `max_abs_diff` / `argmax_agreement` of each export against Keras (real positions only);
- `tflite_ops` and `fused_lstm` (UNIDIRECTIONAL_SEQUENCE_LSTM present, no WHILE) per variant;
- `model_bytes` per variant (SavedModel: saved_model.pb + variables);
- batch-1 latency (median ms) of the SavedModel token-id signature vs the float32 TFLite model.

Variants: float32, dynamic_range, float16, int8 (full integer, calibrated on 200 training
sentences, or 1,000 training windows for the char LM), int8_float_logits (int8 with the output
layer kept in float: `FLOAT_OUTPUT_LAYER_OPS`) and int16x8 (16-bit activations; recorded as an
error where the converter refuses it).

Where full-int8 agreement is lost (`int8_diagnosis` per task): the int8 output grid (scale of
the int8 logits), the share of held-out positions whose two best Keras logits are closer than one
step, and the agreement of the exact Keras logits rounded onto that grid (what the output grid
alone leaves) next to the int8 and int8_float_logits agreements. For the char LM,
`int8_calibration_study` repeats the int8 conversion with 50 to all training windows.

Goals (issue 6): float TFLite argmax agreement 100 %, int8 >= 99 %, fused LSTM present,
TFLite batch-1 latency <= 0.5x SavedModel.

    python benchmarks/bench_export.py           # full run, writes benchmarks/results/export.json
    python benchmarks/bench_export.py --quick   # small smoke run (writes export_quick.json)
"""

import argparse
import json
import os
import pathlib
import platform
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_text  # noqa: E402,F401

from export import verify  # noqa: E402
from export.saved_model import export_saved_model, preprocessing_arguments  # noqa: E402
from export.tflite import (  # noqa: E402
    FLOAT_OUTPUT_LAYER_OPS, QUANTIZATIONS, TFLiteRunner, convert, int8_output_grid,
)

# TFLite variants: (name, quantization, ops kept in float). "int8_float_logits" is selective
# int8: the output layer (FULLY_CONNECTED, its RESHAPEs, the bias ADD) stays float, so the
# logits are not quantised. "int16x8" (16-bit activations) is its own variant, never counted as
# int8.
VARIANTS = [(q, q, ()) for q in QUANTIZATIONS] + [
    ("int8_float_logits", "int8", FLOAT_OUTPUT_LAYER_OPS),
    ("int16x8", "int16x8", ()),
]

EWT_DIR = REPO.parent / "shared" / "data" / "ud-english-ewt"
GENRES = ["answers", "email", "newsgroup", "reviews", "weblog"]

# === Sizes: (quick, full) ===
SIZES = {
    "train_sentences": (300, 4000),
    "eval_sentences": (40, 400),
    "epochs": (1, 3),
    "hidden_dim": (16, 64),
    "embedding_dim": (16, 64),
    "charlm_train_chars": (20_000, 300_000),
    "charlm_eval_windows": (20, 200),
    "charlm_hidden_dim": (32, 128),
    "latency_calls": (30, 200),
    "representative": (50, 200),
    "charlm_representative": (50, 1000),  # 100-character training windows (see int8_calibration_study)
    "charlm_calibration_sizes": ((20, 50), (50, 200, 1000, None)),  # None: every training window
}


def size(name, quick):
    return SIZES[name][0 if quick else 1]


def saved_model_bytes(path):
    path = pathlib.Path(path)
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and "assets.extra" not in p.parts)


def median_ms(fn, calls):
    fn()  # warm-up
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def pad_chars(example, width=16):
    if "char_ids" in example:
        chars = example["char_ids"][..., :width]
        example = dict(example, char_ids=np.pad(chars, [(0, 0), (0, 0), (0, width - chars.shape[2])]))
    return example


def probs(logits):  # all three models output logits
    return np.asarray(tf.nn.softmax(logits, axis=-1))


def int8_diagnosis(keras_logits, masks, content):
    """How much of the full-int8 argmax agreement the int8 output grid alone costs.

    `grid_only_argmax_agreement` rounds the exact Keras logits onto the int8 model's output grid
    (same scale, zero point and [-128, 127] clamp) and compares argmaxes, ties going to the first
    index as they do for the TFLite output: the agreement left by quantising the logits alone.
    """
    grid = int8_output_grid(content)
    if grid is None:
        return {"output_scale": None}
    scale, zero_point = grid
    near, snapped_agree = [], []
    for logits, mask in zip(keras_logits, masks):
        top2 = np.sort(logits, axis=-1)[..., -2:]  # (..., 2)
        gap = top2[..., 1] - top2[..., 0]
        snapped = (np.clip(np.round(logits / scale) + zero_point, -128, 127) - zero_point) * scale
        valid = np.ones(gap.shape, bool) if mask is None else np.asarray(mask, bool)
        near.append(gap[valid] < scale)
        snapped_agree.append((np.argmax(snapped, -1) == np.argmax(logits, -1))[valid])
    return {
        "output_scale": scale,
        "output_zero_point": zero_point,
        "near_tie_fraction": float(np.mean(np.concatenate(near))),
        "grid_only_argmax_agreement": float(np.mean(np.concatenate(snapped_agree))),
    }


def evaluate(task, model, signature, examples, representative, quick, scratch):
    """Parity and latency for one model; `examples` are batch-1 dicts of model inputs (numpy)."""
    keras_logits = [np.asarray(model(e, training=False)) for e in examples]
    keras_out = [probs(logits) for logits in keras_logits]
    masks = [e["padding_mask"] if task != "classifier" else None for e in examples]
    result = {"examples": len(examples), "variants": {}}

    # SavedModel token-id signature (probabilities for every task).
    def saved_probs(example):
        out = signature(**{k: tf.constant(v) for k, v in example.items()})
        key = {"tagger": "tag_probabilities", "classifier": "probabilities"}.get(task)
        return out[key].numpy()

    if task == "char_lm":
        saved = None  # the char LM's SavedModel exposes scores, compared in `score_check`
    else:
        saved = [saved_probs(e) for e in examples]
        result["variants"]["saved_model"] = {
            "max_abs_diff": max(verify.max_abs_diff(k, s) for k, s in zip(keras_out, saved)),
            "argmax_agreement": float(np.mean([verify.argmax_agreement(k, s, m) for k, s, m in zip(keras_out, saved, masks)])),
        }

    for name, quantization, float_ops in VARIANTS:
        started = time.perf_counter()
        try:
            content, info = convert(model, quantization=quantization, representative_token_ids=representative,
                                    float_ops=float_ops)
        except RuntimeError as error:
            if quantization != "int16x8":
                raise
            result["variants"][f"tflite_{name}"] = {"error": str(error)}  # measured: the converter refuses it
            continue
        runner = TFLiteRunner(content)
        outs = [probs(runner({k: v for k, v in e.items() if k != "padding_mask"})) for e in examples]
        result["variants"][f"tflite_{name}"] = {
            "max_abs_diff": max(verify.max_abs_diff(k, o) for k, o in zip(keras_out, outs)),
            "argmax_agreement": float(np.mean([verify.argmax_agreement(k, o, m) for k, o, m in zip(keras_out, outs, masks)])),
            "tflite_ops": info["ops"],
            "fused_lstm": info["fused_lstm"],
            "int8_float_ops": info["int8_float_ops"],
            "lstm_cell_clip_removed": info["cell_clip_removed"],
            "model_bytes": len(content),
            "convert_s": round(time.perf_counter() - started, 1),
        }
        if quantization == "float32":
            float_runner = runner
        if name == "int8":
            result["int8_diagnosis"] = int8_diagnosis(keras_logits, masks, content)
    calls = size("latency_calls", quick)
    example = examples[len(examples) // 2]
    tfl_input = {k: v for k, v in example.items() if k != "padding_mask"}
    if task == "char_lm":
        score_input = {"token_ids": example["token_ids"][:, 1:], "padding_mask": example["padding_mask"][:, 1:]}
        saved_call = lambda: signature(**{k: tf.constant(v) for k, v in score_input.items()})  # noqa: E731
    else:
        saved_call = lambda: signature(**{k: tf.constant(v) for k, v in example.items()})  # noqa: E731
    result["latency_ms_batch1"] = {
        "tokens": int(example["token_ids"].shape[1]),
        "saved_model": median_ms(saved_call, calls),
        "tflite_float32": median_ms(lambda: float_runner(tfl_input), calls),
    }
    result["latency_ms_batch1"]["tflite_over_saved_model"] = (
        result["latency_ms_batch1"]["tflite_float32"] / result["latency_ms_batch1"]["saved_model"]
    )
    diagnosis = result.get("int8_diagnosis", {})
    for name in ("int8", "int8_float_logits"):
        diagnosis[f"{name}_argmax_agreement"] = result["variants"][f"tflite_{name}"]["argmax_agreement"]
    result["fused_lstm"] = all(v.get("fused_lstm", True) for v in result["variants"].values() if "error" not in v)
    return result


def word_task(task, quick, scratch):
    from seqkeras.data.corpora import ewt_genre, read_conllu
    from seqkeras.models.classifier import build_classifier
    from seqkeras.models.common import build_word_lookup, text_batches
    from seqkeras.models.tagger import build_tagger

    train = read_conllu(EWT_DIR / "en_ewt-ud-train.conllu.gz")[: size("train_sentences", quick)]
    dev = read_conllu(EWT_DIR / "en_ewt-ud-dev.conllu.gz")[: size("eval_sentences", quick)]
    keras.utils.set_random_seed(0)
    words = [list(s.words) for s in train]
    if task == "tagger":
        labels = sorted({t for s in train + dev for t in s.upos})
        targets = [[labels.index(t) for t in s.upos] for s in train]
        lookup = build_word_lookup(words, min_count=2, characters=True)
        model = build_tagger(lookup.vocabulary_size, len(labels), hidden_dim=size("hidden_dim", quick),
                             embedding_dim=size("embedding_dim", quick), char_vocabulary_size=lookup.char_vocabulary.size)
    else:
        labels = GENRES
        targets = [labels.index(ewt_genre(s.sent_id)) for s in train]
        lookup = build_word_lookup(words, min_count=2, characters=False)
        model = build_classifier(lookup.vocabulary_size, len(labels), hidden_dim=size("hidden_dim", quick),
                                 embedding_dim=size("embedding_dim", quick))
    model.compile(keras.optimizers.Adam(0.005), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    started = time.perf_counter()
    texts = [" ".join(s.words) for s in train]
    model.fit(text_batches(lookup, texts, targets, batching="sorted", batch_size=32, shuffle=True),
              epochs=size("epochs", quick), verbose=0)
    train_s = time.perf_counter() - started
    path = export_saved_model(model, scratch, task=task, labels=labels, max_length=128, overwrite=True, version=1,
                              warmup_texts=[" ".join(s.words) for s in dev[:4]], **preprocessing_arguments(lookup))
    loaded = tf.saved_model.load(str(path))
    signature = loaded.signatures["tag_token_ids" if task == "tagger" else "classify_token_ids"]
    batches = [lookup(tf.constant([" ".join(s.words)])) for s in dev]  # one sentence each, as served
    examples = [pad_chars({k: v.numpy() for k, v in b.items()}) for b in batches]
    representative = [{k: v[0] for k, v in pad_chars({k: v.numpy() for k, v in lookup(tf.constant([t])).items()}).items()
                       if k != "padding_mask"} for t in texts[: size("representative", quick)]]
    result = evaluate(task, model, signature, examples, representative, quick, scratch)
    result.update({"train_sentences": len(train), "eval_sentences": len(dev), "train_s": round(train_s, 1),
                   "saved_model_bytes": saved_model_bytes(path)})
    result["portable_ops"] = verify.assert_portable_ops(loaded)
    return result


def char_lm_task(quick, scratch):
    from seqkeras.data.corpora import split_documents, wiki_articles
    from seqkeras.data.vocabulary import Vocabulary
    from seqkeras.models.char_lm import CharLanguageModel, CharScorer, LanguageModelTrainer
    from seqkeras.models.char_lm.datasets import encode_documents, window_arrays, window_dataset

    articles = [article.text for article in wiki_articles()]
    train, _, test = split_documents(articles, seed=0)
    budget = size("charlm_train_chars", quick)
    train_text, used = [], 0
    for text in train:
        if used >= budget:
            break
        train_text.append(text[: budget - used])
        used += len(train_text[-1])
    vocabulary = Vocabulary.build([list(text) for text in train_text])
    keras.utils.set_random_seed(0)
    model = CharLanguageModel(vocabulary.size, embedding_dim=32, hidden_dim=size("charlm_hidden_dim", quick))
    trainer = LanguageModelTrainer(model)
    trainer.compile(optimizer=keras.optimizers.Adam(0.005))
    started = time.perf_counter()
    encoded_train = encode_documents(train_text, vocabulary)
    trainer.fit(window_dataset(encoded_train, window=100, batch_size=32), epochs=1, verbose=0)
    train_s = time.perf_counter() - started
    path = export_saved_model(model, scratch, task="char_lm", vocabulary=vocabulary, max_length=512, overwrite=True,
                              version=1, warmup_texts=[t[:80] for t in test[:2]])
    loaded = tf.saved_model.load(str(path))
    inputs, _, mask = window_arrays(encode_documents(test[:20], vocabulary), 100)
    rows = [i for i in range(len(inputs)) if mask[i].all()][: size("charlm_eval_windows", quick)]
    examples = [{"token_ids": inputs[i: i + 1], "padding_mask": mask[i: i + 1]} for i in rows]
    # int8 calibration draws from the training text, never from the held-out windows.
    train_inputs, _, train_mask = window_arrays(encoded_train, 100)
    step = max(len(train_inputs) // size("charlm_representative", quick), 1)
    representative = [{"token_ids": train_inputs[i]} for i in range(0, len(train_inputs), step)
                      if train_mask[i].all()][: size("charlm_representative", quick)]
    result = evaluate("char_lm", model, loaded.signatures["score_token_ids"], examples, representative, quick, scratch)
    result["int8_calibration_study"] = calibration_study(model, examples, train_inputs[train_mask.all(axis=1)], quick)
    # SavedModel parity for the char LM: score_text vs CharScorer (the Python chain-rule scorer).
    texts = [t[:200] for t in test[:16]]
    scorer = CharScorer(model, vocabulary).score(texts)
    served = loaded.signatures["score_text"](text=tf.constant(texts))
    result["variants"]["saved_model"] = {
        "max_abs_diff": verify.max_abs_diff(scorer["log_prob_nats"], served["log_prob_nats"].numpy()),
        "what": "log p(text) in nats, score_text vs CharScorer, 16 held-out texts of 200 characters",
    }
    result.update({"train_characters": used, "eval_windows": len(examples), "train_s": round(train_s, 1),
                   "saved_model_bytes": saved_model_bytes(path), "portable_ops": verify.assert_portable_ops(loaded)})
    return result


def calibration_study(model, examples, windows, quick):
    """Full-int8 argmax agreement of the char LM against the number of calibration windows.

    Windows are drawn evenly from the training text (never from the held-out windows); the
    held-out examples and the metric are those of the main table.
    """
    keras_logits = [np.asarray(model(e, training=False)) for e in examples]
    rows = []
    for count in size("charlm_calibration_sizes", quick):
        count = len(windows) if count is None else min(count, len(windows))
        chosen = windows[np.linspace(0, len(windows) - 1, count).astype(int)]
        started = time.perf_counter()
        content, _ = convert(model, quantization="int8", representative_token_ids=list(chosen))
        convert_s = time.perf_counter() - started
        runner = TFLiteRunner(content)
        outs = [runner(e["token_ids"]) for e in examples]
        rows.append({
            "calibration_windows": int(count),
            "argmax_agreement": float(np.mean([verify.argmax_agreement(k, o) for k, o in zip(keras_logits, outs)])),
            "output_scale": int8_output_grid(content)[0],
            "convert_s": round(convert_s, 1),
        })
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--tasks", default="tagger,classifier,char_lm")
    args = parser.parse_args()
    results = {
        "device": {"tensorflow": tf.__version__, "keras": keras.__version__, "platform": platform.platform(),
                   "cpu_count": os.cpu_count(), "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
                   "interpreter": "ai_edge_litert.interpreter.Interpreter (XNNPACK), 1 thread"},
        "config": {name: size(name, args.quick) for name in SIZES},
        "quick": args.quick,
        "tasks": {},
    }
    with tempfile.TemporaryDirectory() as scratch:
        for task in args.tasks.split(","):
            started = time.perf_counter()
            if task == "char_lm":
                results["tasks"][task] = char_lm_task(args.quick, scratch)
            else:
                results["tasks"][task] = word_task(task, args.quick, scratch)
            results["tasks"][task]["total_s"] = round(time.perf_counter() - started, 1)
            print_table(task, results["tasks"][task])
    out = REPO / "benchmarks" / "results" / ("export_quick.json" if args.quick else "export.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=float))
    print(f"wrote {out}")


def print_table(task, result):
    print(f"\n== {task} ({result['examples']} held-out examples) ==")
    print(f"{'variant':<26}{'max_abs_diff':>14}{'argmax_agree':>14}{'bytes':>12}{'fused_lstm':>12}")
    for name, row in result["variants"].items():
        if "error" in row:
            print(f"{name:<26}  failed: {row['error'][:90]}")
            continue
        agree = row.get("argmax_agreement")
        print(f"{name:<26}{row['max_abs_diff']:>14.3g}{(f'{agree:.4f}' if agree is not None else '-'):>14}"
              f"{row.get('model_bytes', result['saved_model_bytes']):>12}{str(row.get('fused_lstm', '-')):>12}")
    diagnosis = result.get("int8_diagnosis", {})
    if diagnosis.get("output_scale"):
        print(f"int8 output step {diagnosis['output_scale']:.4f}: {diagnosis['near_tie_fraction']:.2%} of positions have "
              f"their two best logits closer; Keras logits rounded onto that grid agree {diagnosis['grid_only_argmax_agreement']:.4f} "
              f"(int8 {diagnosis['int8_argmax_agreement']:.4f}, int8 float output layer {diagnosis['int8_float_logits_argmax_agreement']:.4f})")
    for row in result.get("int8_calibration_study", []):
        print(f"int8 calibrated on {row['calibration_windows']:>5} training windows: agreement {row['argmax_agreement']:.4f}, "
              f"output step {row['output_scale']:.4f}, convert {row['convert_s']} s")
    lat = result["latency_ms_batch1"]
    print(f"batch-1 latency ({lat['tokens']} tokens): SavedModel {lat['saved_model']:.2f} ms, "
          f"TFLite float32 {lat['tflite_float32']:.2f} ms (ratio {lat['tflite_over_saved_model']:.2f})")


if __name__ == "__main__":
    main()
