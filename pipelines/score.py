"""`seqkeras score`: log-probability of texts under a trained character-level language model.

    seqkeras score runs/charlm --text "[[Anarchism]]" --text "]]msihcranA[["
    seqkeras score runs/charlm --file article.txt --json

Every text is scored as a whole: log p(text) = sum over its characters of log p(c_t | c_<t),
starting from the beginning-of-document state. Prints nats, bits and bits per character, and how
many characters fall outside the model's vocabulary (all scored as one `<oov>` symbol) with
their share of the bits. An empty text has no bits per character: `null` and a message.
`--json` writes one strict JSON object per text (the text itself cut to 80 characters).
"""

import json
import math
import pathlib
import sys

SHOWN_CHARACTERS = 80


def configure(parser):
    parser.add_argument("run", type=pathlib.Path, nargs="?", default=None, metavar="RUN",
                        help="a run dir written by `seqkeras train charlm`, or its model.keras")
    parser.add_argument("--model", type=pathlib.Path, default=None, help="a model.keras file (instead of RUN)")
    parser.add_argument("--vocabulary", type=pathlib.Path, default=None,
                        help="vocabulary.txt of a char LM saved before the vocabulary moved into model.keras")
    parser.add_argument("--text", action="append", default=[], help="a text to score (repeatable)")
    parser.add_argument("--file", action="append", type=pathlib.Path, default=[],
                        help="a UTF-8 file scored as one text (repeatable)")
    parser.add_argument("--batch-size", type=int, default=16, help="texts per forward pass (default: 16)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per text")


def _shown(text, limit=SHOWN_CHARACTERS):
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _finite(value):
    value = float(value)
    return value if math.isfinite(value) else None


def rows(texts, labels, scores):
    """One JSON-ready dict per text (no NaN: an empty text has `bits_per_character: null`)."""
    result = []
    for index, (text, label) in enumerate(zip(texts, labels)):
        row = {
            label[0]: _shown(label[1]),
            "characters": int(scores["num_characters"][index]),
            "log_prob_nats": _finite(scores["log_prob_nats"][index]),
            "log_prob_bits": _finite(scores["log_prob_bits"][index]),
            "bits_per_character": _finite(scores["bits_per_character"][index]),
            "oov_characters": int(scores["num_oov"][index]),
            "oov_bit_share": _finite(scores["oov_bit_share"][index]),
        }
        if label[0] == "text" and len(text) > SHOWN_CHARACTERS:
            row["text_length"] = len(text)
        if not text:
            row["message"] = "empty text: nothing to score, no bits per character"
        result.append(row)
    return result


def run(args):
    from pipelines import common
    from pipelines.generate import model_path
    from pipelines.train_charlm import check_utf8_argument, load_language_model

    path = model_path(args)
    texts = [check_utf8_argument(text, "--text") for text in args.text]
    texts += [common.read_text_file(file, "--file") for file in args.file]
    if not texts:
        raise common.UserError("give at least one --text or --file")
    if args.batch_size < 1:
        raise common.UserError(f"--batch-size must be >= 1. Received: --batch-size {args.batch_size}")
    model, vocabulary = load_language_model(path, args.vocabulary, flag="RUN" if args.run is not None else "--model")
    from seqkeras.models.char_lm.char_scorer import CharScorer  # TensorFlow starts here, inputs checked

    scores = CharScorer(model, vocabulary).score(texts, batch_size=args.batch_size)
    labels = [("text", text) for text in args.text] + [("file", str(file)) for file in args.file]
    for text, label, row in zip(texts, labels, rows(texts, labels, scores)):
        if args.json:
            print(json.dumps(row, allow_nan=False, ensure_ascii=False))
        elif not text:
            print(f"{'n/a':>12} nats {'n/a':>12} bits {'n/a':>7} bpc {0:7d} chars  {_shown(label[1], 40)!r}  "
                  f"({row['message']})")
        else:
            print(f"{row['log_prob_nats']:12.3f} nats {row['log_prob_bits']:12.3f} bits "
                  f"{row['bits_per_character']:7.3f} bpc {row['characters']:7d} chars  {_shown(label[1], 40)!r}")
        if row["oov_characters"]:
            print(f"warning: {label[0]} {_shown(label[1], 40)!r}: {row['oov_characters']} of {row['characters']} "
                  f"characters are outside the model's vocabulary (one <oov> symbol), "
                  f"{100 * row['oov_bit_share']:.1f}% of its bits", file=sys.stderr)
    return 0
