import argparse
import json

import numpy as np
import pytest

from seqkeras.data import corpora
from pipelines import inspect as inspect_command
from seqkeras.data.batching import STRATEGIES


def _parse(argv):
    parser = argparse.ArgumentParser()
    inspect_command.configure(parser)
    return parser.parse_args(argv)


def test_arguments_and_defaults(tmp_path):
    args = _parse(["wiki"])
    assert args.corpus == "wiki" and str(args.out) == "runs/inspect"
    assert (args.batch_size, args.token_budget, args.num_buckets) == (64, 4096, 64)
    with pytest.raises(SystemExit):
        _parse(["imdb"])


@pytest.mark.slow
def test_inspect_lee_writes_report(tmp_path, capsys):
    args = _parse(["lee", "--out", str(tmp_path / "inspect"), "--batch-size", "32", "--token-budget", "1024"])
    assert inspect_command.run(args) == 0
    printed = capsys.readouterr().out
    summary = json.loads((tmp_path / "inspect" / "inspect.json").read_text())
    png = (tmp_path / "inspect" / "length_histogram.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert summary["documents"] == 300 == len(corpora.lee_documents())
    assert summary["sentences"] > 2000 and summary["words"] > 50_000
    assert set(summary["padding_fraction"]) == set(STRATEGIES)
    fractions = summary["padding_fraction"]
    assert fractions["packed"] == 0.0 and fractions["token_budget"] < fractions["random"]
    assert np.all(np.diff(summary["bucket_boundaries"]) > 0)
    for strategy in STRATEGIES:
        assert strategy in printed
    assert "words/sentence" in printed and "bucket boundaries" in printed
