"""`seqkeras score`: log-probability of texts under a trained character-level language model.

    seqkeras score --model runs/charlm/model.keras --text "[[Anarchism]]" --text "]]msihcranA[["
    seqkeras score --model runs/charlm/model.keras --file article.txt --json

Every text is scored as a whole: log p(text) = sum over its characters of log p(c_t | c_<t),
starting from the beginning-of-document state. Prints nats, bits and bits per character.
"""

import json
import pathlib
import sys

from seqkeras.models.char_lm.char_scorer import CharScorer
from seqkeras.models.char_lm.storage import load_char_lm


def configure(parser):
    parser.add_argument("--model", type=pathlib.Path, required=True, help="a model.keras written by `train charlm`")
    parser.add_argument("--vocabulary", type=pathlib.Path, default=None, help="default: vocabulary.txt beside the model")
    parser.add_argument("--text", action="append", default=[], help="a text to score (repeatable)")
    parser.add_argument("--file", action="append", type=pathlib.Path, default=[],
                        help="a UTF-8 file scored as one text (repeatable)")
    parser.add_argument("--batch-size", type=int, default=16, help="texts per forward pass (default: 16)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per text")


def run(args):
    texts = list(args.text) + [path.read_text(encoding="utf-8") for path in args.file]
    if not texts:
        print("seqkeras score: give at least one --text or --file", file=sys.stderr)
        return 2
    model, vocabulary = load_char_lm(args.model, args.vocabulary)
    scores = CharScorer(model, vocabulary).score(texts, batch_size=args.batch_size)
    labels = list(args.text) + [str(path) for path in args.file]
    for index, label in enumerate(labels):
        row = {
            "text": label,
            "characters": int(scores["num_characters"][index]),
            "log_prob_nats": float(scores["log_prob_nats"][index]),
            "log_prob_bits": float(scores["log_prob_bits"][index]),
            "bits_per_character": float(scores["bits_per_character"][index]),
        }
        if args.json:
            print(json.dumps(row))
        else:
            shown = label if len(label) <= 40 else label[:37] + "..."
            print(f"{row['log_prob_nats']:12.3f} nats {row['log_prob_bits']:12.3f} bits "
                  f"{row['bits_per_character']:7.3f} bpc {row['characters']:7d} chars  {shown!r}")
    return 0
