"""`seqkeras generate`: sample text from a trained character-level language model.

    seqkeras generate runs/charlm --prompt "[[" --length 500 --temperature 0.8
    seqkeras generate runs/charlm --prompt "<ref>" --num-samples 3 --top-p 0.9 --stop "\\n" --seed 7
    seqkeras generate --model runs/charlm/model.keras --prompt "[["

RUN is a run dir written by `seqkeras train charlm` (or its model.keras); the model file carries
its vocabulary. Generation runs in-graph and carries the LSTM state, one step per new character.
The same `--seed` gives the same samples.
"""

import pathlib


def _character(text):
    """Lets `--stop '\\n'` mean a newline on the command line."""
    return text.encode("utf-8").decode("unicode_escape") if text.startswith("\\") else text


def configure(parser):
    parser.add_argument("run", type=pathlib.Path, nargs="?", default=None, metavar="RUN",
                        help="a run dir written by `seqkeras train charlm`, or its model.keras")
    parser.add_argument("--model", type=pathlib.Path, default=None, help="a model.keras file (instead of RUN)")
    parser.add_argument("--vocabulary", type=pathlib.Path, default=None,
                        help="vocabulary.txt of a char LM saved before the vocabulary moved into model.keras")
    parser.add_argument("--prompt", required=True, help="text to continue (non-empty)")
    parser.add_argument("--length", type=int, default=300,
                        help="new characters per sample (default: 300; --length x --num-samples <= 10,000,000)")
    parser.add_argument("--num-samples", type=int, default=1, help="samples to draw (default: 1)")
    parser.add_argument("--temperature", type=float, default=0.8, help="> 0 (default: 0.8)")
    parser.add_argument("--top-k", type=int, default=0, help="sample among the k likeliest characters; 0: all")
    parser.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling threshold in (0, 1] (default: 1)")
    parser.add_argument("--stop", type=_character, default=None, help="a character that ends a sample, e.g. '\\n'")
    parser.add_argument("--seed", type=int, default=0, help="random seed: same seed, same samples (default: 0)")


def model_path(args):
    """RUN or --model (exactly one), as a path; a UserError otherwise."""
    from pipelines.common import UserError

    if (args.run is None) == (args.model is None):
        raise UserError("give a RUN (run dir or model.keras) or --model, not both" if args.run is not None
                        else "give a RUN (run dir or model.keras) or --model")
    return args.run if args.run is not None else args.model


MAX_CHARACTERS = 10_000_000  # new characters per command (~1 hour of sampling on 2 CPU cores)


def check_arguments(args):
    from pipelines.common import UserError
    from pipelines.train_charlm import check_utf8_argument

    check_utf8_argument(args.prompt, "--prompt")
    if not args.prompt:
        raise UserError("--prompt must not be empty (the model continues it). Received: --prompt ''")
    checks = (
        ("--length", args.length, args.length >= 1, ">= 1"),
        ("--num-samples", args.num_samples, args.num_samples >= 1, ">= 1"),
        ("--temperature", args.temperature, args.temperature > 0 and args.temperature != float("inf"), "a finite number > 0"),
        ("--top-k", args.top_k, args.top_k >= 0, ">= 0"),
        ("--top-p", args.top_p, 0 < args.top_p <= 1, "in (0, 1]"),
    )
    for flag, value, ok, wanted in checks:
        if not ok:
            raise UserError(f"{flag} must be {wanted}. Received: {flag} {value}")
    if args.length * args.num_samples > MAX_CHARACTERS:  # one in-graph buffer holds them all
        raise UserError(f"--length x --num-samples must be at most {MAX_CHARACTERS:,} characters. Received: "
                        f"--length {args.length} --num-samples {args.num_samples}")
    if args.stop is not None and len(args.stop) != 1:
        raise UserError(f"--stop must be one character. Received: --stop {args.stop!r}")


def run(args):
    from pipelines.common import UserError
    from pipelines.train_charlm import load_language_model

    path = model_path(args)
    check_arguments(args)  # every argument checked before TensorFlow starts
    model, vocabulary = load_language_model(path, args.vocabulary, flag="RUN" if args.run is not None else "--model")
    from seqkeras.models.char_lm.char_generator import CharGenerator

    generator = CharGenerator(model, vocabulary)
    try:
        samples = generator.generate(
            args.prompt, num_samples=args.num_samples, max_length=args.length, temperature=args.temperature,
            top_k=args.top_k, top_p=args.top_p, stop_character=args.stop, seed=args.seed,
        )
    except ValueError as error:  # a prompt or stop character outside the vocabulary
        raise UserError(str(error).splitlines()[0]) from None
    for index, sample in enumerate(samples):
        if len(samples) > 1:
            print(f"--- sample {index + 1} ---")
        print(args.prompt + sample)
    return 0
