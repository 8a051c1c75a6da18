"""Two `seqkeras train charlm --distribute multi-worker` processes on 127.0.0.1 (and `--distribute
mirrored` on two logical CPUs) against one process.

Tolerance: both runs compute the same global batch (each worker gets its rows, the loss is the
sum over all real characters divided by their global count), so they differ only in the order
of floating-point additions: per-worker partial sums all-reduced instead of one sum over the
batch. That is ~1e-7 relative per step in float32; Adam's update then moves each weight by at
most ~learning_rate per step, so after 12 steps the weights agree to far better than
ATOL = 1e-5 (measured: ~1e-7). A bug (a mean of per-worker means, a worker reading the wrong
rows, a missing all-reduce) shows up at 1e-3 or more.
"""

import json
import pathlib

import numpy as np
import pytest

from distributed_processes import (
    TINY, environment, free_ports, latest_step, metrics, model_weights, processes, wait, wait_for_step,
)

ATOL = 1e-5
ARGS = ["train", "charlm", *TINY, "--mode", "tbptt", "--seed", "7"]
TOTAL_STEPS = 3 * 6
TIMEOUT = 240  # per process; a tiny run takes ~15 s on an idle 2-core machine


def worker_args(run_dir, ports, index, resume=False):
    workers = ",".join(f"127.0.0.1:{port}" for port in ports)
    return [*ARGS, "--run-dir", str(run_dir), "--distribute", "multi-worker", "--workers", workers,
            "--task-index", str(index)] + (["--resume"] if resume else [])


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """The same run in one process (default strategy), as the reference."""
    root = tmp_path_factory.mktemp("single")
    with processes(root / "logs") as group:
        wait(group.start([*ARGS, "--run-dir", str(root / "run")], "single"), TIMEOUT)
    return root / "run"


def assert_close_weights(run_dir, reference):
    expected, got = model_weights(reference), model_weights(run_dir)
    assert [name for name, _ in got] == [name for name, _ in expected]
    worst = max(float(np.max(np.abs(a - b))) for (_, a), (_, b) in zip(got, expected))
    assert worst <= ATOL, f"max abs weight difference {worst} > {ATOL}"
    return worst


@pytest.mark.slow
def test_two_workers_equal_one_process_with_the_same_global_batch(tmp_path, single):
    run_dir, ports = tmp_path / "run", free_ports(2)
    with processes(tmp_path / "logs") as group:
        workers = [group.start(worker_args(run_dir, ports, index), f"worker-{index}") for index in (0, 1)]
        for worker in workers:
            wait(worker, TIMEOUT)
    assert_close_weights(run_dir, single)
    # Only the chief wrote the run dir: one TensorBoard writer per folder, one set of checkpoints.
    assert len(list((run_dir / "tb" / "train").glob("events.*"))) == 1
    assert latest_step(run_dir) == TOTAL_STEPS
    history, reference = metrics(run_dir)["history"], metrics(single)["history"]
    np.testing.assert_allclose(history["loss"], reference["loss"], rtol=1e-5)
    assert json.loads((run_dir / "config.json").read_text())["distribute"] == "multi-worker"


@pytest.mark.slow
def test_a_killed_worker_job_resumes_from_the_last_checkpoint(tmp_path, single):
    run_dir, ports = tmp_path / "run", free_ports(2)
    with processes(tmp_path / "logs") as group:
        workers = [group.start(worker_args(run_dir, ports, index), f"first-{index}") for index in (0, 1)]
        assert wait_for_step(workers[0], run_dir, 8, TIMEOUT), "the job ended before the kill"
        group.kill(workers[1])  # SIGKILL one worker mid-run ...
        group.kill(workers[0])  # ... and the job goes down with it (the scheduler restarts all)
        killed_at = latest_step(run_dir)
        before = {path.relative_to(run_dir) for path in run_dir.rglob("*") if path.is_file()}
        config_text = (run_dir / "config.json").read_text()
        workers = [group.start(worker_args(run_dir, ports, index, resume=True), f"again-{index}") for index in (0, 1)]
        for worker in workers:
            wait(worker, TIMEOUT)
    assert 8 <= killed_at < TOTAL_STEPS
    assert latest_step(run_dir) == TOTAL_STEPS
    after = {path.relative_to(run_dir) for path in run_dir.rglob("*") if path.is_file()}
    kept = {path for path in before if path.parts[:2] != ("ckpt", "steps") and not path.name.startswith(".")}
    assert kept <= after, f"lost: {sorted(kept - after)}"  # old checkpoints rotate out; nothing else goes
    assert (run_dir / "config.json").read_text() == config_text
    assert len(metrics(run_dir)["history"]["loss"]) == 3
    assert_close_weights(run_dir, single)


@pytest.mark.slow
def test_mirrored_on_two_logical_cpus_equals_one_process(tmp_path, single):
    with processes(tmp_path / "logs") as group:
        wait(group.start([*ARGS, "--run-dir", str(tmp_path / "run"), "--distribute", "mirrored"], "mirrored"), TIMEOUT)
    assert_close_weights(tmp_path / "run", single)
