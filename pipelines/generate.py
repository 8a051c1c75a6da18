"""`seqkeras generate`: sample text from a trained character-level language model.

    seqkeras generate --model runs/charlm/model.keras --seed "[[" --length 500 --temperature 0.8
    seqkeras generate --model runs/charlm/model.keras --seed "<ref>" --num-samples 3 --top-p 0.9 --stop "\\n"

The vocabulary is read from `vocabulary.txt` beside the model unless `--vocabulary` is given.
Generation runs in-graph and carries the LSTM state, one step per new character.
"""

import pathlib
import sys

from seqkeras.models.char_lm.char_generator import CharGenerator
from seqkeras.models.char_lm.storage import load_char_lm


def _character(text):
    """Lets `--stop '\\n'` mean a newline on the command line."""
    return text.encode("utf-8").decode("unicode_escape") if text.startswith("\\") else text


def configure(parser):
    parser.add_argument("--model", type=pathlib.Path, required=True, help="a model.keras written by `train charlm`")
    parser.add_argument("--vocabulary", type=pathlib.Path, default=None, help="default: vocabulary.txt beside the model")
    parser.add_argument("--seed", dest="seed_text", required=True, help="text to continue (non-empty)")
    parser.add_argument("--length", type=int, default=300, help="new characters per sample (default: 300)")
    parser.add_argument("--num-samples", type=int, default=1, help="samples to draw (default: 1)")
    parser.add_argument("--temperature", type=float, default=0.8, help="> 0 (default: 0.8)")
    parser.add_argument("--top-k", type=int, default=0, help="sample among the k likeliest characters; 0: all")
    parser.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling threshold in (0, 1] (default: 1)")
    parser.add_argument("--stop", type=_character, default=None, help="a character that ends a sample, e.g. '\\n'")
    parser.add_argument("--random-seed", type=int, default=0, help="same seed, same samples (default: 0)")


def run(args):
    model, vocabulary = load_char_lm(args.model, args.vocabulary)
    generator = CharGenerator(model, vocabulary)
    try:
        samples = generator.generate(
            args.seed_text, num_samples=args.num_samples, max_length=args.length, temperature=args.temperature,
            top_k=args.top_k, top_p=args.top_p, stop_character=args.stop, seed=args.random_seed,
        )
    except ValueError as error:
        print(f"seqkeras generate: {error}", file=sys.stderr)
        return 2
    for index, sample in enumerate(samples):
        if len(samples) > 1:
            print(f"--- sample {index + 1} ---")
        print(args.seed_text + sample)
    return 0
