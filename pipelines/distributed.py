"""Where a training process stands in a cluster: TF_CONFIG, chief detection, the strategy.

    seqkeras train charlm --distribute multi-worker --workers 10.0.0.1:2222,10.0.0.2:2222 --task-index 0
    seqkeras train charlm --distribute multi-worker        # TF_CONFIG already set (Kubernetes, Vertex AI)
    seqkeras train charlm --distribute mirrored            # all GPUs (or 2 logical CPUs) of one machine

`--workers host:port,...` and `--task-index I` build `TF_CONFIG` for this process (every worker runs
the same command with its own index); without `--workers`, `TF_CONFIG` must come from the
environment. Worker 0 (or the task of type "chief") is the chief: it writes the run dir
(config.json, checkpoints, TensorBoard, model, metrics); the other workers write nothing there,
only their own log on stdout/stderr.

No TensorFlow is imported at module level (`--help` stays fast).
"""

import json
import os

from pipelines import common

KINDS = ("none", "mirrored", "multi-worker")


def parse_workers(workers):
    """`"host:port,host:port"` -> list of `"host:port"`, or a UserError naming --workers."""
    addresses = [part.strip() for part in str(workers).split(",") if part.strip()]
    for address in addresses:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise common.UserError(f"--workers: expected host:port[,host:port...]. Received: workers={workers!r}")
    if not addresses:
        raise common.UserError(f"--workers: expected host:port[,host:port...]. Received: workers={workers!r}")
    return addresses


def tf_config(workers, task_index):
    """The TF_CONFIG dict of worker `task_index` in the cluster `workers`."""
    addresses = parse_workers(workers)
    if not 0 <= task_index < len(addresses):
        raise common.UserError(f"--task-index must be in [0, {len(addresses)}) for {len(addresses)} --workers. "
                               f"Received: task_index={task_index}")
    return {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": task_index}}


def check(config):
    """Validates the distribution fields of a TrainConfig (before any data loads)."""
    if config.distribute not in KINDS:
        raise common.UserError(f"--distribute must be one of {KINDS}. Received: distribute={config.distribute!r}")
    if config.distribute != "multi-worker":
        if config.workers:
            raise common.UserError(f"--workers needs --distribute multi-worker. Received: distribute={config.distribute!r}")
        return
    if config.workers:
        tf_config(config.workers, config.task_index)
        return
    text = os.environ.get("TF_CONFIG")
    if not text:
        raise common.UserError("--distribute multi-worker needs --workers host:port,... and --task-index, or the "
                               "TF_CONFIG environment variable. Received: neither")
    try:
        values = json.loads(text)
        values["cluster"], values["task"]["type"], int(values["task"]["index"])
    except (ValueError, KeyError, TypeError):
        raise common.UserError(f"TF_CONFIG must be JSON with cluster and task.type/task.index. Received: {text[:200]!r}") from None


def setup(config):
    """Sets TF_CONFIG from `--workers`/`--task-index` (multi-worker); call before TensorFlow starts."""
    check(config)
    if config.distribute == "multi-worker" and config.workers:
        os.environ["TF_CONFIG"] = json.dumps(tf_config(config.workers, config.task_index))


def is_chief(config):
    """True unless this process is a non-chief worker of a multi-worker cluster (from TF_CONFIG)."""
    if config.distribute != "multi-worker":
        return True
    values = json.loads(os.environ["TF_CONFIG"]) if not config.workers else tf_config(config.workers, config.task_index)
    task, cluster = values["task"], values["cluster"]
    if "chief" in cluster:
        return task["type"] == "chief"
    return task["type"] == "worker" and int(task["index"]) == 0


def make_strategy(config, num_logical_cpus=2):
    """The `tf.distribute` strategy of `config.distribute` (after :func:`setup`)."""
    from seqkeras.distribute import make_strategy as _make

    return _make(config.distribute, num_logical_cpus=num_logical_cpus)


def fit_engine(config, engine, strategy, **fit_options):
    """`engine.fit(**fit_options)` (a `StrategyTrainer`) as every pipeline runs it: a corrupt
    checkpoint is a UserError, and the workers of a multi-worker job leave together (the others
    wait here until the chief has finished, at its exit). Returns the fit's history."""
    import atexit

    from seqkeras.distribute import CorruptCheckpointError, barrier

    try:
        history = engine.fit(**fit_options)
    except CorruptCheckpointError as error:
        raise common.UserError(str(error)) from None
    if config.distribute == "multi-worker":
        if engine.is_chief:
            atexit.register(barrier, strategy)
        else:
            barrier(strategy)
    return history
