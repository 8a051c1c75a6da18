"""`seqkeras predict RUN (--text T ... | --file F | --csv F)`: use a trained run.

    seqkeras predict runs/tagger --file sentences.txt --format conllu   # one sentence per line
    seqkeras predict runs/classifier --text "Thanks for the quick reply!"
    seqkeras predict runs/seq2seq --text "12+345" --decoding greedy
    seqkeras predict runs/forecast --csv recent.csv                    # the next H values

What comes out depends on the run's family (its config.json): tags, labels with probabilities,
generated targets, forecasts. Output goes to stdout, or to `--out FILE`.
"""

import pathlib

from pipelines import common


def configure(parser):
    parser.add_argument("run", type=pathlib.Path, metavar="RUN", help="a run dir written by `seqkeras train`")
    parser.add_argument("--text", action="append", default=[], help="an input text (repeatable)")
    parser.add_argument("--file", type=pathlib.Path, default=None,
                        help="UTF-8 inputs, one per line (a tagger also reads .conllu)")
    parser.add_argument("--csv", type=pathlib.Path, default=None, help="forecast runs: the recent history, as CSV")
    parser.add_argument("--out", type=pathlib.Path, default=None, help="write here instead of stdout")
    parser.add_argument("--format", choices=("jsonl", "conllu", "text"), default=None,
                        help="output format (default: the family's own: conllu for .conllu input, else jsonl)")
    parser.add_argument("--batch-size", type=int, default=64, help="inputs per forward pass (default: 64)")
    parser.add_argument("--decoding", choices=("greedy", "sample"), default="greedy",
                        help="seq2seq: greedy or sampled decoding (default: greedy)")
    parser.add_argument("--temperature", type=float, default=1.0, help="sampled decoding temperature (a finite number > 0)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of sampled decoding")


def inputs(args):
    """The texts given by `--text` and `--file` (non-blank lines), or a UserError if none."""
    texts = list(args.text)
    if args.file is not None:
        texts += common.read_lines(args.file, "--file")
    if not texts:
        raise common.UserError("give at least one --text or a --file with non-blank lines")
    return texts


def write_output(text, out):
    """Every family's `predict` output: to `--out` (an unwritable path is a one-line error), or stdout."""
    if out is None:
        print(text, end="" if text.endswith("\n") else "\n")
        return
    try:
        pathlib.Path(out).write_text(text, encoding="utf-8")
    except OSError as error:
        raise common.UserError(f"--out: cannot write {out}: {error.strerror}") from None
    print(f"wrote {out}")


def run(args):
    if args.batch_size < 1:
        raise common.UserError(f"--batch-size must be >= 1. Received: --batch-size {args.batch_size}")
    if not 0 < args.temperature < float("inf"):
        raise common.UserError(f"--temperature must be a finite number > 0. Received: --temperature {args.temperature}")
    run_info = common.load_run(args.run)
    module = run_info.module()
    if not hasattr(module, "predict"):
        raise common.UserError(f"`predict` does not apply to {run_info.family} runs")
    reads_csv = getattr(module, "PREDICT_READS_CSV", False)  # forecast and captioner runs read --csv
    if reads_csv and (args.text or args.file is not None):
        raise common.UserError(f"{run_info.family} runs read --csv, not --text/--file")
    if not reads_csv and args.csv is not None:
        raise common.UserError(f"--csv is for forecast and captioner runs; a {run_info.family} run reads --text/--file")
    formats = module.PREDICT_FORMATS  # what the family writes
    if args.format is not None and args.format not in formats:
        raise common.UserError(f"--format: a {run_info.family} run writes {' or '.join(formats)}. "
                               f"Received: --format {args.format}")
    return module.predict(run_info, args)
