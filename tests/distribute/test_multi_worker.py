"""`seqkeras train charlm --distribute multi-worker`: two worker processes on 127.0.0.1, one of
them SIGKILLed mid-run and the job restarted with --resume, and `--distribute mirrored` on two
logical CPUs, against one process with the same global batch and seed.

One cluster job checks both claims (it is the slow part, so it runs once): after the kill the
restarted workers resume from the chief's checkpoint with the right step count and nothing lost,
and the final weights equal the uninterrupted single-process run (a resume bug and a distribution
bug would each break that equality). The single-process, mirrored and cluster runs start
together, so the test costs two rounds of process start-up, not five.

Tolerance: both runs compute the same global batch (each worker gets its rows, the loss is the
sum over all real characters divided by their global count), so they differ only in the order
of floating-point additions: per-worker partial sums all-reduced instead of one sum over the
batch. That is ~1e-7 relative per step in float32; Adam's update then moves each weight by at
most ~learning_rate per step, so after 18 steps the weights agree to far better than
ATOL = 1e-5 (measured: ~1e-7). A bug (a mean of per-worker means, a worker reading the wrong
rows, a missing all-reduce, data not skipped on resume) shows up at 1e-3 or more.
"""

import json

import numpy as np
import pytest

from distributed_processes import TINY, free_ports, latest_step, metrics, model_weights, processes, wait, wait_for_step

ATOL = 1e-5
ARGS = ["train", "charlm", *TINY, "--mode", "tbptt", "--seed", "7"]
TOTAL_STEPS = 3 * 6
KILL_AT = 8
TIMEOUT = 600  # per process (a bound for failures): ~15 s on an idle 2-core machine, minutes at load 15


def worker_args(run_dir, ports, index, resume=False):
    workers = ",".join(f"127.0.0.1:{port}" for port in ports)
    return [*ARGS, "--run-dir", str(run_dir), "--distribute", "multi-worker", "--workers", workers,
            "--task-index", str(index)] + (["--resume"] if resume else [])


def assert_close_weights(run_dir, reference):
    expected, got = model_weights(reference), model_weights(run_dir)
    assert [name for name, _ in got] == [name for name, _ in expected]
    worst = max(float(np.max(np.abs(a - b))) for (_, a), (_, b) in zip(got, expected))
    assert worst <= ATOL, f"{run_dir.name}: max abs weight difference {worst} > {ATOL}"
    return worst


@pytest.mark.slow
def test_killed_two_worker_job_resumes_and_equals_one_process_as_does_mirrored(tmp_path):
    single, mirrored, run_dir, ports = tmp_path / "single", tmp_path / "mirrored", tmp_path / "run", free_ports(2)
    with processes(tmp_path / "logs") as group:
        others = [group.start([*ARGS, "--run-dir", str(single)], "single"),
                  group.start([*ARGS, "--run-dir", str(mirrored), "--distribute", "mirrored"], "mirrored")]
        first = [group.start(worker_args(run_dir, ports, index), f"first-{index}") for index in (0, 1)]
        assert wait_for_step(first[0], run_dir, KILL_AT, TIMEOUT), "the job ended before the kill"
        group.kill(first[1])  # SIGKILL one worker mid-run ...
        group.kill(first[0])  # ... and the job goes down with it (the scheduler restarts all)
        killed_at = latest_step(run_dir)
        before = {path.relative_to(run_dir) for path in run_dir.rglob("*") if path.is_file()}
        config_text = (run_dir / "config.json").read_text()
        again = [group.start(worker_args(run_dir, ports, index, resume=True), f"again-{index}") for index in (0, 1)]
        for process in again + others:
            wait(process, TIMEOUT)

    # The resume: from the chief's last checkpoint, to the right step count, nothing lost.
    assert KILL_AT <= killed_at < TOTAL_STEPS
    assert latest_step(run_dir) == TOTAL_STEPS
    after = {path.relative_to(run_dir) for path in run_dir.rglob("*") if path.is_file()}
    kept = {path for path in before if path.parts[:2] != ("ckpt", "steps") and not path.name.startswith(".")}
    assert kept <= after, f"lost: {sorted(kept - after)}"  # old checkpoints rotate out; nothing else goes
    assert (run_dir / "config.json").read_text() == config_text
    assert json.loads(config_text)["distribute"] == "multi-worker"
    # Only the chief processes wrote the run dir's TensorBoard events (the file name ends in pid.n.v2).
    writers = {int(path.name.split(".")[-3]) for path in (run_dir / "tb").rglob("events.*")}
    assert writers and writers <= {first[0].pid, again[0].pid}, writers
    # The same training as one process: weights and the per-epoch history.
    assert_close_weights(run_dir, single)
    assert_close_weights(mirrored, single)
    history, reference = metrics(run_dir)["history"], metrics(single)["history"]
    assert len(history["loss"]) == 3
    np.testing.assert_allclose(history["loss"], reference["loss"], rtol=1e-5)
    np.testing.assert_allclose(metrics(mirrored)["history"]["loss"], reference["loss"], rtol=1e-5)
