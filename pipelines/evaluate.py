"""`seqkeras evaluate RUN [--data FILE]`: a trained run's figures on data, as a table and JSON.

    seqkeras evaluate runs/tagger --data ../shared/data/ud-english-ewt/en_ewt-ud-dev.conllu.gz
    seqkeras evaluate runs/forecast            # a forecast run: the walk-forward comparison table

The run's family (from its config.json) decides what is measured; the figures are printed and
written to `RUN/eval-<data name>.json` (plots beside it where the family makes them). Without
`--data` a family evaluates on the held-out data named in its config.
"""

import pathlib

from pipelines import common


def configure(parser):
    parser.add_argument("run", type=pathlib.Path, metavar="RUN", help="a run dir written by `seqkeras train`")
    parser.add_argument("--data", default=None,
                        help="data to evaluate on, in the family's training format (default: the run's held-out data)")
    parser.add_argument("--batch-size", type=int, default=64, help="examples per forward pass (default: 64)")


def data_name(data):
    """`eval-<name>.json`'s name for a `--data` value: the file name without its extensions."""
    if data is None:
        return "heldout"
    name = pathlib.Path(str(data)).name
    for suffix in (".gz", ".conllu", ".tsv", ".txt", ".csv"):
        name = name.removesuffix(suffix)
    return name or "data"


def run(args):
    if args.batch_size < 1:
        raise common.UserError(f"--batch-size must be >= 1. Received: --batch-size {args.batch_size}")
    run_info = common.load_run(args.run)
    module = run_info.module()
    if not hasattr(module, "evaluate"):
        raise common.UserError(f"`evaluate` does not apply to {run_info.family} runs")
    metrics = module.evaluate(run_info, args)
    path = run_info.path / f"eval-{data_name(args.data)}.json"
    common.write_json_atomically(path, metrics)
    print(f"wrote {path}")
    return 0
