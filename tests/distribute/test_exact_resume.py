"""Fault injection: kill -9 `seqkeras train charlm` at 3 random steps, resume each time, and get
the uninterrupted run's final weights bit for bit (CPU) and its metrics history.

The uninterrupted reference runs beside the killed processes (`reference_run`), a fork of the
same zygote."""

import random

import numpy as np
import pytest

from distributed_processes import (
    TINY, latest_step, metrics, model_weights, processes, reference_run, wait, wait_for_step,
)

TOTAL_STEPS = 2 * 6  # TINY: --epochs 2 --steps-per-epoch 6


@pytest.mark.slow
def test_kill_at_three_random_steps_then_resume_gives_the_same_weights(tmp_path):
    """Truncated BPTT (carried state, cosine schedule, dropout); windows mode's shuffled stream is
    covered in-process by test_strategy_trainer.py. Bit-identical: same ops, same inputs, one CPU."""
    rng = random.Random()
    kill_steps = sorted(rng.sample(range(1, TOTAL_STEPS - 1), 3))
    reference, interrupted = tmp_path / "reference", tmp_path / "interrupted"
    args = ["train", "charlm", *TINY, "--mode", "tbptt", "--dropout", "0.1", "--seed", "5"]
    with processes(tmp_path / "logs") as group, reference_run(group, [*args, "--run-dir", str(reference)],
                                                              "reference", 180):
        killed_at = []  # meanwhile the reference trains
        for index, step in enumerate(kill_steps):
            process = group.start([*args, "--run-dir", str(interrupted)] + (["--resume"] if index else []),
                                  f"killed-{index}")
            if wait_for_step(process, interrupted, step, timeout=120):
                group.kill(process)  # SIGKILL: no handler, no flush, possibly mid-checkpoint
            killed_at.append(latest_step(interrupted))
        last = group.start([*args, "--run-dir", str(interrupted), "--resume"], "resumed")
        wait(last, timeout=180)

    assert killed_at[0] >= 1 and any(step < TOTAL_STEPS for step in killed_at), (kill_steps, killed_at)
    expected, resumed = model_weights(reference), model_weights(interrupted)
    assert [name for name, _ in expected] == [name for name, _ in resumed]
    for (name, want), (_, got) in zip(expected, resumed):
        np.testing.assert_array_equal(got, want, err_msg=f"{name} (killed at steps {killed_at})")
    # The per-epoch history (written at every epoch end) survives the kills, value for value.
    # (train_seconds, the per-epoch training time, is a measurement: only its length is compared.)
    want, got = metrics(reference), metrics(interrupted)
    seconds = got["history"].pop("train_seconds"), want["history"].pop("train_seconds")
    assert got["history"] == want["history"] and len(got["history"]["loss"]) == 2
    assert [len(values) for values in seconds] == [2, 2] and min(seconds[0] + seconds[1]) > 0
    assert got["test_bpc"] == want["test_bpc"]
