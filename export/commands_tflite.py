"""`seqkeras export tflite RUN`: a trained run's network -> `.tflite` + vocabulary/labels/metadata.

Every family: tagger, classifier, char LM (`export/from_run.py`), forecast (`export/forecast.py`),
word2vec, biLM and seq2seq (`export/task_tflite.py`; seq2seq as an encode + decode-step model).

int8 calibrates on `--representative-file` texts run through the run's own preprocessing (characters
for a char LM). No TensorFlow import until `run`.
"""

import pathlib

from pipelines import common

QUANTIZATIONS = ("float32", "dynamic_range", "float16", "int8")  # export.tflite.QUANTIZATIONS
OOV_WARNING = 0.2  # warn when more of the calibration tokens than this are out of the vocabulary


def configure(parser):
    parser.add_argument("run", type=pathlib.Path, help="trained run directory (holds config.json and model.keras)")
    parser.add_argument("--out", type=pathlib.Path, default=None,
                        help="output .tflite file (default: RUN/tflite/model.tflite)")
    parser.add_argument("--quantization", choices=QUANTIZATIONS, default="float32")
    parser.add_argument("--batch-size", type=int, default=1, help="static batch size (default: 1)")
    parser.add_argument("--sequence-length", type=int, default=None,
                        help="static sequence length (default: dynamic, resized per call)")
    parser.add_argument("--representative-file", type=pathlib.Path, default=None,
                        help="real texts, one per line (UTF-8), to calibrate int8 (required for --quantization int8)")
    parser.add_argument("--representative-count", type=int, default=200,
                        help="texts used for calibration (default: 200)")
    parser.add_argument("--float-output-layer", action="store_true",
                        help="with --quantization int8: keep the output layer (and so the logits) in float, "
                             "everything before it int8; for models with many near-tied classes, e.g. a "
                             "character LM, whose int8 logits lose argmax agreement")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")


def run(args):
    if args.float_output_layer and args.quantization != "int8":
        raise common.UserError(f"--float-output-layer needs --quantization int8. Received: --quantization {args.quantization}")
    if args.batch_size < 1:
        raise common.UserError(f"--batch-size must be a positive integer. Received: --batch-size {args.batch_size}")
    if args.sequence_length is not None and args.sequence_length < 1:
        raise common.UserError(f"--sequence-length must be a positive integer. Received: {args.sequence_length}")
    if args.representative_count < 1:
        raise common.UserError(f"--representative-count must be positive. Received: {args.representative_count}")
    out = args.out or args.run / "tflite" / "model.tflite"
    if out.suffix != ".tflite":
        raise common.UserError(f"--out must end in .tflite. Received: --out {out}")
    common.check_writable_folder(out.parent, "--out", received=out)
    if out.is_dir():
        raise common.UserError(f"--out {out} is a folder; name the .tflite file")
    if out.exists() and not args.overwrite:
        raise common.UserError(f"--out {out} already exists; pass --overwrite to replace it")
    if common.load_run(args.run).family == "forecast":  # one float window in, float32, batch 1
        ignored = [flag for flag, given in (
            (f"--quantization {args.quantization}", args.quantization != "float32"),
            (f"--batch-size {args.batch_size}", args.batch_size != 1),
            (f"--sequence-length {args.sequence_length}", args.sequence_length is not None),
            ("--representative-file", args.representative_file is not None),
            ("--float-output-layer", args.float_output_layer)) if given]
        if ignored:
            raise common.UserError(f"{', '.join(ignored)}: not for forecast runs (their TFLite file is float32, "
                                   f"batch 1, the run's window length)")
    common.make_output_folder(out.parent, "--out")
    texts = None
    if args.quantization == "int8":
        if args.representative_file is None:
            raise common.UserError("--quantization int8 needs --representative-file (real texts, one per line)")
        texts = common.read_lines(args.representative_file, "--representative-file")[: args.representative_count]
    from export.from_run import export_run_tflite
    from export.tflite import FLOAT_OUTPUT_LAYER_OPS

    metadata = export_run_tflite(
        args.run, out, quantization=args.quantization, representative_texts=texts, batch_size=args.batch_size,
        sequence_length=args.sequence_length, float_ops=FLOAT_OUTPUT_LAYER_OPS if args.float_output_layer else (),
        overwrite=args.overwrite,
    )
    calibration = metadata.get("calibration") if isinstance(metadata, dict) else None
    if calibration and calibration.get("oov_fraction") is not None and calibration["oov_fraction"] > OOV_WARNING:
        print(f"warning: {calibration['oov_fraction']:.0%} of the calibration tokens are out of the vocabulary; "
              "is --representative-file the kind of text the model was trained on?")
    summary = ", ".join(f"{key}={metadata[key]}" for key in ("model_bytes", "fused_lstm", "ops") if key in metadata)
    if calibration:
        summary += f", calibration={calibration['examples']} texts, {calibration['tokens']} tokens, " \
                   f"{calibration['oov_fraction']:.1%} <oov>"
    print(f"wrote {out} ({summary})")
    return 0
