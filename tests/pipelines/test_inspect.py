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
    assert _parse(["data/*.txt.gz"]).corpus == "data/*.txt.gz"  # a file corpus is a glob, checked when run
    assert _parse(["lee"]).max_documents == inspect_command.MAX_DOCUMENTS


def test_inspect_a_file_corpus_and_its_errors(tmp_path, capsys):
    """The user's own files (one document per line, plain and gzip) get the same report as the
    bundled corpora; a name that is neither a bundled corpus nor a file, or a damaged gzip file,
    is a one-line error."""
    import gzip

    from pipelines import common

    documents = corpora.lee_documents()[:40]
    (tmp_path / "part-0.txt").write_text("\n".join(documents[:20]) + "\n\n", encoding="utf-8")
    with gzip.open(tmp_path / "part-1.txt.gz", "wt", encoding="utf-8") as handle:
        handle.write("\n".join(documents[20:]) + "\n")
    args = _parse([str(tmp_path / "part-*"), "--out", str(tmp_path / "inspect"), "--max-documents", "30"])
    assert inspect_command.run(args) == 0
    summary = json.loads((tmp_path / "inspect" / "inspect.json").read_text())
    assert summary["documents"] == 30 and summary["documents_capped"]  # the first 30 lines, in file order
    assert summary["raw_characters"] == sum(len(d) for d in documents[:30])
    assert "(the first 30: --max-documents)" in capsys.readouterr().out
    whole = (tmp_path / "part-1.txt.gz").read_bytes()
    (tmp_path / "cut.txt.gz").write_bytes(whole[: len(whole) // 2])
    for argv, message in [
        (["imdb"], "corpus: expected one of ('wiki', 'lee') or a path/glob of text files; no file matches"),
        ([str(tmp_path / "cut.txt.gz")], "cut.txt.gz is not a valid gzip file"),
        (["lee", "--max-documents", "0"], "--max-documents must be >= 1"),
        (["lee", "--num-buckets", "0"], "--num-buckets must be >= 1. Received: --num-buckets 0"),
        (["lee", "--batch-size", "0"], "--batch-size must be >= 1. Received: --batch-size 0"),
        (["lee", "--token-budget", "1"], "--token-budget 1 is shorter than every sentence"),
    ]:
        with pytest.raises(common.UserError, match=message.replace("(", "\\(").replace(")", "\\)")):
            inspect_command.run(_parse([*argv, "--out", str(tmp_path / "refused")]))
    assert not (tmp_path / "refused").exists()
    with pytest.raises(common.UserError, match="--out: cannot write into /proc/seqkeras-inspect"):  # not writable
        inspect_command.run(_parse(["lee", "--max-documents", "5", "--out", "/proc/seqkeras-inspect"]))


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
