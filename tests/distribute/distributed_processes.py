"""Launching `seqkeras train ...` subprocesses for the fault-injection tests, always reaped."""

import contextlib
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[2]

# A tiny char LM: 40 articles cut to 400 characters, hidden 8, 3 epochs of 6 steps, a checkpoint
# at every step (so a kill can land anywhere), 2 short samples.
TINY = ["--max-article-characters", "400", "--min-character-count", "2", "--embedding-dim", "4",
        "--hidden-dim", "8", "--window", "16", "--batch-size", "4", "--epochs", "3", "--steps-per-epoch", "6",
        "--checkpoint-every", "1", "--sample-length", "8", "--valid-article-characters", "64", "--verbose", "0"]


def environment():
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="-1", TF_CPP_MIN_LOG_LEVEL="2", PYTHONHASHSEED="0")
    env.pop("TF_CONFIG", None)
    return env


class Processes:
    """Starts processes and kills (SIGKILL) and reaps every one still alive on exit."""

    def __init__(self, log_dir):
        self.log_dir = pathlib.Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.started = []

    def start(self, args, name, env=None):
        log = open(self.log_dir / f"{name}.log", "ab")
        process = subprocess.Popen([sys.executable, "-m", "pipelines.cli", *args], cwd=REPO, env=env or environment(),
                                   stdout=log, stderr=subprocess.STDOUT)
        process.log_path = self.log_dir / f"{name}.log"
        log.close()
        self.started.append(process)
        return process

    def kill(self, process):
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait()

    def reap(self):
        for process in self.started:
            with contextlib.suppress(ProcessLookupError):
                self.kill(process)


@contextlib.contextmanager
def processes(log_dir):
    group = Processes(log_dir)
    try:
        yield group
    finally:
        group.reap()


def wait(process, timeout):
    """Waits for `process`; returns its exit code, or fails with the tail of its log."""
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"timed out after {timeout} s: {tail(process)}") from None
    assert code == 0, f"exit {code}: {tail(process)}"
    return code


def tail(process, lines=15):
    return "\n".join(pathlib.Path(process.log_path).read_text(errors="replace").splitlines()[-lines:])


def latest_step(run_dir):
    """The step of the newest complete checkpoint in RUN/ckpt/steps (0: none)."""
    state = pathlib.Path(run_dir, "ckpt", "steps", "checkpoint")
    try:
        text = state.read_text()
    except (FileNotFoundError, OSError):
        return 0
    for line in text.splitlines():
        if line.startswith("model_checkpoint_path:"):
            return int(line.split('"')[1].rsplit("-", 1)[1])
    return 0


def wait_for_step(process, run_dir, step, timeout):
    """Polls the checkpoint state until it reaches `step`; False when the process ended first."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if latest_step(run_dir) >= step:
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.01)
    raise AssertionError(f"step {step} not reached in {timeout} s: {tail(process)}")


def model_weights(run_dir):
    """The weights of RUN/model.keras, in order (read from the archive, no TensorFlow needed)."""
    import h5py
    import io
    import zipfile

    with zipfile.ZipFile(pathlib.Path(run_dir, "model.keras")) as archive:
        data = archive.read("model.weights.h5")
    arrays = []
    with h5py.File(io.BytesIO(data), "r") as weights:
        weights.visititems(lambda name, item: arrays.append((name, np.array(item))) if hasattr(item, "shape") else None)
    return arrays


def metrics(run_dir):
    return json.loads(pathlib.Path(run_dir, "metrics.json").read_text())


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
