"""`seqkeras train charlm --distribute multi-worker`: two worker processes on 127.0.0.1, one of
them SIGKILLed mid-run and the job restarted with --resume, and `--distribute mirrored` on two
logical CPUs, against one process with the same global batch and seed.

One cluster job checks both claims (it is the slow part, so it runs once): after the kill the
restarted workers resume from the chief's checkpoint with the right step count and nothing lost,
and the final weights equal the uninterrupted single-process run (a resume bug and a distribution
bug would each break that equality). The single-process run, the mirrored and the cluster runs start together; every process is a fork
of one zygote that imported TensorFlow once (distributed_processes.py).

Tolerance: both runs compute the same global batch (each worker gets its rows, the loss is the
sum over all real characters divided by their global count), so they differ only in the order
of floating-point additions: per-worker partial sums all-reduced instead of one sum over the
batch. That is ~1e-7 relative per step in float32; Adam's update then moves each weight by at
most ~learning_rate per step, so after 12 steps the weights agree to far better than
ATOL = 1e-5 (measured: 3e-8). A bug (a mean of per-worker means, a worker reading the wrong
rows, a missing all-reduce, data not skipped on resume) shows up at 1e-3 or more.
"""

import numpy as np
import pytest

from distributed_processes import TINY, assert_resumed_without_loss, kill_and_resume, max_weight_difference, metrics

ATOL = 1e-5
ARGS = ["train", "charlm", *TINY, "--mode", "tbptt", "--seed", "7"]
TOTAL_STEPS = 2 * 6  # TINY: --epochs 2 --steps-per-epoch 6
KILL_AT = 8  # in epoch 2: the resume keeps epoch 1's history, best model and TensorBoard events
TIMEOUT = 600  # per run (a bound for failures): ~15 s on an idle 2-core machine, minutes at load 15


@pytest.mark.slow
def test_killed_two_worker_job_resumes_and_equals_one_process_as_does_mirrored(tmp_path):
    job = kill_and_resume(tmp_path, ARGS, KILL_AT, TIMEOUT)
    # The resume: from the chief's last checkpoint, to the right step count, nothing lost.
    assert_resumed_without_loss(job, TOTAL_STEPS, KILL_AT)
    # The same training as one process: weights and the per-epoch history.
    for other in (job.run_dir, job.mirrored):
        worst = max_weight_difference(other, job.single)
        print(f"{other.name}: max abs weight difference vs one process {worst:.1e}")
        assert worst <= ATOL, f"{other.name}: max abs weight difference {worst} > {ATOL}"
    history, reference = metrics(job.run_dir)["history"], metrics(job.single)["history"]
    assert len(history["loss"]) == 2
    np.testing.assert_allclose(history["loss"], reference["loss"], rtol=1e-5)
    np.testing.assert_allclose(metrics(job.mirrored)["history"]["loss"], reference["loss"], rtol=1e-5)
