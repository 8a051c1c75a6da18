"""Choosing a `tf.distribute` strategy and asking it who the chief is.

One training loop (`StrategyTrainer`) serves three strategies:

- `"none"`: TensorFlow's default strategy (one device, no cluster).
- `"mirrored"`: `tf.distribute.MirroredStrategy` over the GPUs of one machine or, without GPUs,
  over `num_logical_cpus` logical CPU devices carved out of the one physical CPU.
- `"multi-worker"`: `tf.distribute.MultiWorkerMirroredStrategy`, collective all-reduce over the
  cluster described by the `TF_CONFIG` environment variable (one process per worker).
"""

import json
import os

import tensorflow as tf

KINDS = ("none", "mirrored", "multi-worker")


def _logical_cpus(count):
    """Splits the physical CPU into `count` logical devices (must run before TensorFlow starts)."""
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError:  # already initialised: keep what exists
        pass
    return [device.name for device in tf.config.list_logical_devices("CPU")][:count]


def make_strategy(kind="none", num_logical_cpus=2):
    """Returns the strategy for `kind` (one of `KINDS`).

    Args:
        kind: `"none"`, `"mirrored"` or `"multi-worker"` (reads `TF_CONFIG`).
        num_logical_cpus: replicas of `"mirrored"` on a machine without GPUs.

    Example:

    >>> strategy = make_strategy("none")
    >>> strategy.num_replicas_in_sync
    1
    """
    if kind not in KINDS:
        raise ValueError(f"`kind` must be one of {KINDS}. Received: kind={kind!r}")
    if kind == "none":
        return tf.distribute.get_strategy()
    if kind == "mirrored":
        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            return tf.distribute.MirroredStrategy()
        devices = _logical_cpus(num_logical_cpus)
        # On CPUs the NCCL default does not exist: reduce on the host.
        return tf.distribute.MirroredStrategy(devices, cross_device_ops=tf.distribute.ReductionToOneDevice())
    if "TF_CONFIG" not in os.environ:
        raise ValueError("`kind='multi-worker'` needs the TF_CONFIG environment variable (the cluster and this "
                         "worker's task). Received: TF_CONFIG unset")
    options = tf.distribute.experimental.CommunicationOptions(
        implementation=tf.distribute.experimental.CommunicationImplementation.RING
    )
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)


def is_chief(strategy):
    """True for the one process that writes checkpoints, summaries and results."""
    return bool(strategy.extended.should_checkpoint)


def worker_index(strategy):
    """This worker's index in the cluster (0 outside multi-worker training)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return 0
    return int(resolver.task_id or 0)


def cluster_spec_from_env():
    """`TF_CONFIG` as a dict, or None when it is not set."""
    text = os.environ.get("TF_CONFIG")
    return json.loads(text) if text else None


def barrier(strategy):
    """Blocks until every worker reaches the same barrier (a tiny all-reduce); a no-op alone.

    A multi-worker job must not lose a worker while another still runs (TensorFlow's coordination
    service then aborts the survivors), so a worker that finished its share waits here for the
    chief, which calls it once its own work (saving, evaluation) is done.
    """
    if strategy.num_replicas_in_sync > 1:
        strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(lambda: tf.constant(1.0)), axis=None)
