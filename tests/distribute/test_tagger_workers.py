"""`seqkeras train tagger --distribute multi-worker`: two worker processes on 127.0.0.1, one of
them SIGKILLed mid-run, the job restarted with --resume, and `--distribute mirrored` (two logical
CPUs: both replicas in one input pipeline), against one process with the same global batches and
seed.

One cluster job checks all of it: the kill lands after a checkpoint at step >= KILL_AT, the
restarted workers resume from the chief's checkpoint (the same step count, nothing lost), and the
final weights equal the uninterrupted single-process run.

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

import json

import numpy as np
import pytest

from distributed_processes import free_ports, latest_step, metrics, model_weights, processes, wait, wait_for_step
from helpers import conllu_slice

ATOL = 1e-5
TIMEOUT = 600  # per process (a bound for failures): ~20 s each on an idle 2-core machine, minutes at load 15
KILL_AT = 4


@pytest.fixture(scope="module")
def tagger_args(ewt_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tagger_workers_data")
    train = conllu_slice(ewt_dir / "en_ewt-ud-train.conllu.gz", folder / "train.conllu", 60, stride=97)
    dev = conllu_slice(ewt_dir / "en_ewt-ud-dev.conllu.gz", folder / "dev.conllu", 10, stride=1)
    return ["train", "tagger", "--train", str(train), "--dev", str(dev), "--validation-fraction", "0.25",
            "--embedding-dim", "8", "--char-embedding-dim", "4", "--char-filters", "6", "--max-word-length", "8",
            "--hidden-dim", "6", "--dropout", "0", "--word-dropout", "0", "--epochs", "2", "--batch-size", "8",
            "--num-buckets", "4", "--learning-rate", "0.01", "--seed", "3", "--checkpoint-every", "1",
            "--verbose", "0"]


def _workers(args, run_dir, ports, index, resume=False):
    workers = ",".join(f"127.0.0.1:{port}" for port in ports)
    return [*args, "--run-dir", str(run_dir), "--distribute", "multi-worker", "--workers", workers,
            "--task-index", str(index)] + (["--resume"] if resume else [])


@pytest.mark.slow
def test_two_workers_killed_and_resumed_equal_one_process(tagger_args, tmp_path):
    single, mirrored, run_dir, ports = tmp_path / "single", tmp_path / "mirrored", tmp_path / "run", free_ports(2)
    with processes(tmp_path / "logs") as group:
        others = [group.start([*tagger_args, "--run-dir", str(single)], "single"),  # run beside the cluster
                  group.start([*tagger_args, "--run-dir", str(mirrored), "--distribute", "mirrored"], "mirrored")]
        first = [group.start(_workers(tagger_args, run_dir, ports, index), f"first-{index}") for index in (0, 1)]
        assert wait_for_step(first[0], run_dir, KILL_AT, TIMEOUT), "the job ended before the kill"
        group.kill(first[1])  # SIGKILL one worker mid-run ...
        group.kill(first[0])  # ... and the job goes down with it (the scheduler restarts all)
        killed_at = latest_step(run_dir)
        before = {path.relative_to(run_dir) for path in run_dir.rglob("*") if path.is_file()}
        config_text = (run_dir / "config.json").read_text()
        again = [group.start(_workers(tagger_args, run_dir, ports, index, resume=True), f"again-{index}")
                 for index in (0, 1)]
        for process in again + others:
            wait(process, TIMEOUT)

    total = latest_step(single)
    assert KILL_AT <= killed_at < total and latest_step(run_dir) == total, (killed_at, total)
    after = {path.relative_to(run_dir) for path in run_dir.rglob("*") if path.is_file()}
    kept = {path for path in before if path.parts[:2] != ("ckpt", "steps") and not path.name.startswith(".")}
    assert kept <= after, f"lost: {sorted(kept - after)}"  # old checkpoints rotate out; nothing else goes
    assert (run_dir / "config.json").read_text() == config_text
    # Only the chief processes wrote TensorBoard events (the file name carries the writer's pid).
    chiefs = {first[0].pid, again[0].pid}
    writers = {int(path.name.split(".")[-3]) for path in (run_dir / "tb").rglob("events.*")}
    assert writers and writers <= chiefs, (writers, chiefs)

    expected = model_weights(single)
    for other in (run_dir, mirrored):
        got = model_weights(other)
        assert [name for name, _ in got] == [name for name, _ in expected]
        worst = max(float(np.max(np.abs(a - b))) for (_, a), (_, b) in zip(got, expected))
        assert worst <= ATOL, f"{other.name}: max abs weight difference {worst} > {ATOL}"
    history, want = metrics(run_dir)["history"], metrics(single)["history"]
    assert history["epoch"] == want["epoch"] == [0, 1]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(history[key], want[key], rtol=1e-5, err_msg=key)
    for other, kind in ((run_dir, "multi-worker"), (mirrored, "mirrored")):
        summary = metrics(other)["training"]
        assert (summary["distribute"], summary["replicas"]) == (kind, 2)
    assert metrics(run_dir)["dev"]["accuracy"] == pytest.approx(metrics(single)["dev"]["accuracy"], abs=0.02)
    assert json.loads((run_dir / "config.json").read_text())["distribute"] == "multi-worker"
