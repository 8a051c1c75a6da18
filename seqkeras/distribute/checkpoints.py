"""Chief-only checkpoints: `tf.train.CheckpointManager` in the run dir, scratch dirs elsewhere.

Under `MultiWorkerMirroredStrategy` every worker must take part in a save (saving may need
collectives), but only the chief's files are kept: the other workers write to a temporary
folder that is deleted right after, as TensorFlow's multi-worker guide recommends. Every worker
restores from the chief's folder (a path all workers can read: a shared or network file system
on a real cluster).
"""

import pathlib
import shutil
import tempfile

import tensorflow as tf


class CorruptCheckpointError(ValueError):
    """A checkpoint file that cannot be read; the message names it and how to discard it."""


class ChiefCheckpointManager:
    """Saves and restores a `tf.train.Checkpoint`, written by the chief only.

    Args:
        checkpoint: the `tf.train.Checkpoint` to save.
        directory: the chief's folder (e.g. `runs/<name>/ckpt/steps`).
        is_chief: whether this process keeps its files.
        max_to_keep: checkpoints kept in `directory`.

    Example:

    >>> manager = ChiefCheckpointManager(tf.train.Checkpoint(step=step), "runs/x/ckpt/steps", True)
    >>> manager.restore()  # None when there is nothing to restore
    >>> manager.save(step=10)
    """

    def __init__(self, checkpoint, directory, is_chief, max_to_keep=2):
        self.checkpoint = checkpoint
        self.directory = pathlib.Path(directory)
        self.is_chief = is_chief
        self.max_to_keep = max_to_keep
        if is_chief:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._manager = tf.train.CheckpointManager(checkpoint, str(self.directory), max_to_keep=max_to_keep)

    @property
    def latest(self):
        """Path prefix of the newest complete checkpoint in the chief's folder, or None."""
        if not self.directory.is_dir():
            return None
        try:
            return tf.train.latest_checkpoint(str(self.directory))
        except (tf.errors.OpError, ValueError) as error:
            raise self._corrupt(self.directory / "checkpoint", error) from None

    def restore(self):
        """Restores the newest checkpoint; returns its path, or None when there is none."""
        path = self.latest
        if path is None:
            if (self.directory / "checkpoint").exists():
                raise self._corrupt(self.directory / "checkpoint", "it names no readable checkpoint")
            return None
        for suffix in (".index",):
            if not pathlib.Path(path + suffix).is_file():
                raise self._corrupt(pathlib.Path(path + suffix), "file missing")
        try:
            self.checkpoint.restore(path).assert_existing_objects_matched()
        except (tf.errors.OpError, ValueError, AssertionError, IndexError, KeyError, RuntimeError) as error:
            raise self._corrupt(self._data_file(path), error) from None
        return path

    def save(self, step):
        """Saves at `step` (every worker must call it; only the chief's files stay)."""
        if self.is_chief:
            return self._manager.save(checkpoint_number=int(step))
        scratch = tempfile.mkdtemp(prefix="seqkeras-worker-ckpt-")
        try:
            tf.train.CheckpointManager(self.checkpoint, scratch, max_to_keep=1).save(checkpoint_number=int(step))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return None

    def _data_file(self, path):
        files = sorted(pathlib.Path(path).parent.glob(pathlib.Path(path).name + ".data-*"))
        return files[0] if files else pathlib.Path(path + ".index")

    def _corrupt(self, file, error):
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return CorruptCheckpointError(
            f"checkpoint {file} is corrupt or unreadable ({first[:160]}); delete {self.directory} to restart that "
            "run from its beginning, or pass --overwrite"
        )
