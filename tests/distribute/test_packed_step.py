"""The dense step of `StrategyTrainer` is ONE all-reduce (gradients, real tokens and metric sums
packed together), and it trains exactly what one device trains: one process, `mirrored` (2
logical CPUs) and two loopback workers run packed_step.py's tiny model (an embedding with
sparse gradients, a kernel and an activity regulariser, AdamW with weight decay and clipnorm).

Tolerance: the same global batches and the same global mean loss; the runs differ only in the
order of float32 additions (two partial sums all-reduced), ~1e-7 relative per step, and 4 Adam
steps of rate 0.05 keep that far below ATOL = 1e-5 (measured: 6e-8). A regulariser counted once
per replica instead of once, a mean of per-replica means, a gradient summed twice (the
optimizer's own all-reduce left on) or clipping of one replica's part each move weights by 1e-3
or more.
"""

import json
import os

import numpy as np
import pytest

import packed_step
from distributed_processes import environment, free_ports, processes, wait

ATOL = 1e-5
TIMEOUT = 600  # per process (a bound for failures): ~10 s on an idle 2-core machine


@pytest.mark.slow
def test_one_collective_per_step_and_the_same_weights_as_one_device(tmp_path):
    ports = free_ports(2)
    script = (os.path.join("tests", "distribute", "packed_step.py"),)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    with processes(tmp_path / "logs") as group:
        started = [group.start(["mirrored", str(tmp_path / "mirrored.json")], "mirrored", program=script)]
        for index in (0, 1):
            env = dict(environment(), TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
            started.append(group.start(["multi-worker", str(tmp_path / "workers.json")], f"worker-{index}", env=env,
                                       program=script))
        single = packed_step.main("none", str(tmp_path / "single.json"))  # meanwhile, in this process
        for process in started:
            wait(process, TIMEOUT)

    assert single["replicas"] == 1 and single["collectives"] == 0
    for kind in ("mirrored", "workers"):
        got = json.loads((tmp_path / f"{kind}.json").read_text())
        assert got["replicas"] == 2
        worst = max(float(np.max(np.abs(np.array(a) - np.array(b)))) for a, b in zip(got["weights"], single["weights"]))
        print(f"{kind}: max abs weight difference vs one device {worst:.1e}")
        assert worst <= ATOL, f"{kind}: max abs weight difference {worst} > {ATOL}"
        np.testing.assert_allclose(got["loss"], single["loss"], rtol=1e-6)
    # Across workers the all-reduce is a collective op: exactly one in the traced step (the
    # dataset is declared infinite, so not even the iterator's "has a value" all-reduce).
    assert json.loads((tmp_path / "workers.json").read_text())["collectives"] == 1
