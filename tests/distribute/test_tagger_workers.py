"""`seqkeras train tagger --distribute multi-worker`: two worker processes on 127.0.0.1, one of
them SIGKILLed mid-run, the job restarted with --resume, and `--distribute mirrored` (two logical
CPUs: both replicas in one input pipeline), against one process with the same global batches and
seed.

One cluster job checks all of it: the kill lands after a checkpoint at step >= KILL_AT, the
restarted workers resume from the chief's checkpoint (the same step count, nothing lost), and the
final weights equal the uninterrupted single-process run (beside the others:
`distributed_processes.kill_and_resume`).

Tolerance: every global batch (token-budget batches of varying size, padded with empty rows to a
multiple of the 2 replicas) is split by rows, and the loss is the sum of the token losses of both
workers over all their real tokens, so the two runs differ only in the order of floating-point
additions (two partial sums all-reduced instead of one sum): ~1e-7 relative per step in float32.
Adam moves a weight by at most ~learning_rate per step, and a gradient that is exactly zero (an
embedding row no word of the batch uses) stays exactly zero on both sides, so after ~12 steps
the weights agree far below ATOL = 1e-5 (measured: ~1e-7). A real bug (a mean of per-worker
means, a worker reading the wrong rows, padding rows counted, a missing all-reduce, data not
skipped on resume) moves weights by 1e-3 or more. Dropout is off: each replica draws its own
dropout masks, which one process cannot reproduce.
"""

import numpy as np
import pytest

from distributed_processes import (
    assert_resumed_without_loss, kill_and_resume, latest_step, max_weight_difference, metrics,
)
from helpers import conllu_slice

ATOL = 1e-5
TIMEOUT = 600  # per run (a bound for failures): ~20 s each on an idle 2-core machine, minutes at load 15
KILL_AT = 4


@pytest.fixture(scope="module")
def tagger_args(ewt_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tagger_workers_data")
    train = conllu_slice(ewt_dir / "en_ewt-ud-train.conllu.gz", folder / "train.conllu", 60, stride=97)
    dev = conllu_slice(ewt_dir / "en_ewt-ud-dev.conllu.gz", folder / "dev.conllu", 10, stride=1)
    return ["train", "tagger", "--train", str(train), "--dev", str(dev), "--validation-fraction", "0.25",
            "--embedding-dim", "8", "--char-embedding-dim", "4", "--char-filters", "6", "--max-word-length", "8",
            "--hidden-dim", "6", "--num-layers", "1", "--dropout", "0", "--word-dropout", "0", "--epochs", "2",
            "--batch-size", "8",
            "--num-buckets", "4", "--learning-rate", "0.01", "--seed", "3", "--checkpoint-every", "1",
            "--verbose", "0"]


@pytest.mark.slow
def test_two_workers_killed_and_resumed_equal_one_process(tagger_args, tmp_path):
    job = kill_and_resume(tmp_path, tagger_args, KILL_AT, TIMEOUT)
    assert_resumed_without_loss(job, latest_step(job.single), KILL_AT)
    for other in (job.run_dir, job.mirrored):
        worst = max_weight_difference(other, job.single)
        print(f"{other.name}: max abs weight difference vs one process {worst:.1e}")
        assert worst <= ATOL, f"{other.name}: max abs weight difference {worst} > {ATOL}"
    history, want = metrics(job.run_dir)["history"], metrics(job.single)["history"]
    assert history["epoch"] == want["epoch"] == [0, 1]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(history[key], want[key], rtol=1e-5, err_msg=key)
    for other, kind in ((job.run_dir, "multi-worker"), (job.mirrored, "mirrored")):
        summary = metrics(other)["training"]
        assert (summary["distribute"], summary["replicas"]) == (kind, 2)
    assert metrics(job.run_dir)["dev"]["accuracy"] == pytest.approx(metrics(job.single)["dev"]["accuracy"], abs=0.02)
