"""`seqkeras export tflite`: a trained token-id model -> `.tflite` + vocabulary beside it."""

import pathlib

import tensorflow as tf

from export import _cli
from export.tflite import FLOAT_OUTPUT_LAYER_OPS, QUANTIZATIONS, export_tflite


def configure(parser):
    _cli.add_model_arguments(parser)
    parser.add_argument("--out", type=pathlib.Path, required=True, help="output .tflite file")
    parser.add_argument("--quantization", choices=QUANTIZATIONS, default="float32")
    parser.add_argument("--batch-size", type=int, default=1, help="static batch size (default: 1)")
    parser.add_argument("--sequence-length", type=int, default=None,
                        help="static sequence length (default: dynamic, resized per call)")
    parser.add_argument("--representative-file", type=pathlib.Path, default=None,
                        help="real texts, one per line, to calibrate int8 (required for --quantization int8)")
    parser.add_argument("--representative-count", type=int, default=200,
                        help="texts used for calibration (default: 200)")
    parser.add_argument("--float-output-layer", action="store_true",
                        help="with --quantization int8: keep the output layer (and so the logits) in float, "
                             "everything before it int8; for models with many near-tied classes, e.g. a "
                             "character LM, whose int8 logits lose argmax agreement")


def run(args):
    if args.float_output_layer and args.quantization != "int8":
        raise SystemExit(f"--float-output-layer needs --quantization int8. Received: --quantization {args.quantization}")
    model = _cli.load_model(args.model)
    vocabulary = _cli.load_vocabulary(args.vocabulary)
    labels = _cli.load_labels(args.labels)
    representative = None
    if args.quantization == "int8":
        if args.representative_file is None:
            raise SystemExit("--quantization int8 needs --representative-file (real texts, one per line)")
        tokenizer = _cli.make_tokenizer(args.tokenizer, args.lowercase)
        texts = _cli.read_lines(args.representative_file, limit=args.representative_count)
        tokens = tokenizer.tokenize(tf.constant(texts))
        if args.lowercase:
            tokens = tf.ragged.map_flat_values(tf.strings.lower, tokens, encoding="utf-8")
        ids = vocabulary.lookup(tokens)
        representative = [row for row in ids.numpy() if len(row)]
    metadata = export_tflite(
        model, args.out, vocabulary=vocabulary, labels=labels, quantization=args.quantization,
        batch_size=args.batch_size, sequence_length=args.sequence_length,
        representative_token_ids=representative, overwrite=args.overwrite,
        float_ops=FLOAT_OUTPUT_LAYER_OPS if args.float_output_layer else (),
    )
    print(f"wrote {args.out} ({metadata['model_bytes']} bytes, fused_lstm={metadata['fused_lstm']}, "
          f"ops={metadata['ops']})")
    return 0
