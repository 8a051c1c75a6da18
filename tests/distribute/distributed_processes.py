"""Launching `seqkeras train ...` processes for the fault-injection tests (forks of one zygote,
zygote.py, so TensorFlow is imported once per scenario), always reaped."""

import contextlib
import dataclasses
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

# A tiny char LM: 40 articles cut to 400 characters, hidden 8, 2 epochs of 6 steps (a resume can
# cross an epoch end), a checkpoint at every step (so a kill can land anywhere), 2 short samples.
TINY = ["--max-article-characters", "400", "--min-character-count", "2", "--embedding-dim", "4",
        "--hidden-dim", "8", "--dropout", "0", "--matmul-dtype", "float32", "--window", "16", "--batch-size", "4", "--epochs", "2", "--steps-per-epoch", "6",
        "--checkpoint-every", "1", "--sample-length", "8", "--valid-article-characters", "64", "--verbose", "0"]


def environment():
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="-1", TF_CPP_MIN_LOG_LEVEL="2", PYTHONHASHSEED="0")
    env.pop("TF_CONFIG", None)
    return env


class Forked:
    """A child of the zygote (zygote.py), with the part of `subprocess.Popen` the tests use."""

    def __init__(self, pid, log_path, status_path):
        self.pid, self.log_path, self.status_path, self.returncode = pid, log_path, status_path, None

    def poll(self):
        if self.returncode is None:
            try:
                self.returncode = int(self.status_path.read_text())  # written (atomically) once reaped
            except (FileNotFoundError, ValueError):
                return None
        return self.returncode

    def wait(self, timeout=None):
        deadline = None if timeout is None else time.time() + timeout
        while self.poll() is None:
            if deadline is not None and time.time() > deadline:
                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout)
            time.sleep(0.01)
        return self.returncode


class Processes:
    """Starts processes and kills (SIGKILL) and reaps every one still alive on exit.

    Each process is a fork of one zygote (zygote.py, started with the first process): a fresh
    `python -m pipelines.cli ARGS` would spend ~8 s of CPU importing TensorFlow, Keras and the
    pipelines before anything else; a fork has them already and starts its own TensorFlow
    runtime, cluster and seeds, as that process would.
    """

    def __init__(self, log_dir):
        self.log_dir = pathlib.Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.started = []
        self.zygote = None

    def _fork(self, request):
        if self.zygote is None:
            log = open(self.log_dir / "zygote.log", "ab")
            self.zygote = subprocess.Popen([sys.executable, str(pathlib.Path(__file__).with_name("zygote.py"))],
                                           cwd=REPO, env=environment(), stdin=subprocess.PIPE,
                                           stdout=subprocess.PIPE, stderr=log)
            log.close()
            ready = self.zygote.stdout.readline()
            assert ready, f"the zygote did not start: {(self.log_dir / 'zygote.log').read_text()[-2000:]}"
        self.zygote.stdin.write((json.dumps(request) + "\n").encode())
        self.zygote.stdin.flush()
        reply = self.zygote.stdout.readline()
        assert reply, f"the zygote ended: {(self.log_dir / 'zygote.log').read_text()[-2000:]}"
        return json.loads(reply)["pid"]

    def start(self, args, name, env=None, program=("-m", "pipelines.cli")):
        """Starts `python PROGRAM ARGS` (default: the CLI) in the repository, logging to `name`.log."""
        log_path, status_path = self.log_dir / f"{name}.log", self.log_dir / f"{name}.exit"
        status_path.unlink(missing_ok=True)
        pid = self._fork({"args": [str(arg) for arg in args], "env": env or environment(), "log": str(log_path),
                          "status": str(status_path),
                          "program": "cli" if tuple(program) == ("-m", "pipelines.cli") else program[0]})
        process = Forked(pid, log_path, status_path)
        self.started.append(process)
        return process

    def kill(self, process):
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=60)

    def reap(self):
        try:
            for process in self.started:
                with contextlib.suppress(ProcessLookupError, subprocess.TimeoutExpired):
                    self.kill(process)
        finally:
            if self.zygote is not None:  # end of its stdin: it kills and reaps what is left, then exits
                with contextlib.suppress(OSError):
                    self.zygote.stdin.close()
                try:
                    self.zygote.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    self.zygote.kill()
                    self.zygote.wait()


@contextlib.contextmanager
def processes(log_dir):
    group = Processes(log_dir)
    try:
        yield group
    finally:
        group.reap()


@contextlib.contextmanager
def reference_run(group, args, name, timeout):
    """Runs `seqkeras ARGS` (one more fork of `group`'s zygote) beside the body of the `with`, then
    waits for it; if the body fails, `group` kills and reaps it."""
    process = group.start(args, name)
    yield process
    wait(process, timeout)


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


def worker_args(args, run_dir, ports, index, resume=False):
    """`args` as task `index` of a loopback multi-worker job on `ports`."""
    workers = ",".join(f"127.0.0.1:{port}" for port in ports)
    return [*args, "--run-dir", str(run_dir), "--distribute", "multi-worker", "--workers", workers,
            "--task-index", str(index)] + (["--resume"] if resume else [])


@dataclasses.dataclass
class KilledJob:
    """What `kill_and_resume` saw; the run dirs hold the finished runs."""

    single: pathlib.Path    # one process, the reference
    mirrored: pathlib.Path  # `--distribute mirrored` (2 logical CPUs)
    run_dir: pathlib.Path   # the 2-worker job, killed and resumed
    killed_at: int          # its newest checkpoint step when killed
    files_before: set       # its files when killed (checkpoint rotation excluded)
    config_text: str        # its config.json when killed
    chiefs: set             # pids of the chief (task 0) processes


def kill_and_resume(tmp_path, args, kill_at, timeout, mirrored_args=()):
    """The fault-injection scenario of a `seqkeras train ...` command `args`.

    Starts together one process (`single`, `reference_run`), a `--distribute mirrored`
    process (`args` then `mirrored_args`: a later flag overrides) and a 2-worker loopback job;
    SIGKILLs worker 1 and then the chief once the job has checkpointed step `kill_at` (the
    scheduler restarts the whole job); restarts both workers with `--resume` and waits for
    everything. Every process is reaped, whatever happens.
    """
    single, mirrored, run_dir, ports = tmp_path / "single", tmp_path / "mirrored", tmp_path / "run", free_ports(2)
    with processes(tmp_path / "logs") as group:
        others = [group.start([*args, *mirrored_args, "--run-dir", str(mirrored), "--distribute", "mirrored"],
                              "mirrored")]
        first = [group.start(worker_args(args, run_dir, ports, index), f"first-{index}") for index in (0, 1)]
        with reference_run(group, [*args, "--run-dir", str(single)], "single", timeout):  # beside the cluster
            killed_at, before, config_text, again = _kill_and_restart(group, first, args, run_dir, ports, kill_at,
                                                                      timeout)
            for process in again + others:
                wait(process, timeout)
    kept = {path for path in before if path.parts[:2] != ("ckpt", "steps") and not path.name.startswith(".")}
    return KilledJob(single, mirrored, run_dir, killed_at, kept, config_text, {first[0].pid, again[0].pid})


def _kill_and_restart(group, first, args, run_dir, ports, kill_at, timeout):
    """Kills the first pair once it checkpointed `kill_at`, snapshots the run dir, restarts the pair."""
    assert wait_for_step(first[0], run_dir, kill_at, timeout), "the job ended before the kill"
    group.kill(first[1])  # SIGKILL one worker mid-run ...
    group.kill(first[0])  # ... and the job goes down with it
    killed_at = latest_step(run_dir)
    before = {path.relative_to(run_dir) for path in run_dir.rglob("*") if path.is_file()}
    config_text = (run_dir / "config.json").read_text()
    again = [group.start(worker_args(args, run_dir, ports, index, resume=True), f"again-{index}")
             for index in (0, 1)]
    return killed_at, before, config_text, again


def assert_resumed_without_loss(job, total_steps, kill_at):
    """The restarted job resumed from the chief's checkpoint to `total_steps`, lost no file, kept
    its config, and only chief processes wrote TensorBoard events (the file name carries the pid)."""
    assert kill_at <= job.killed_at < total_steps, (job.killed_at, total_steps)
    assert latest_step(job.run_dir) == total_steps
    after = {path.relative_to(job.run_dir) for path in job.run_dir.rglob("*") if path.is_file()}
    assert job.files_before <= after, f"lost: {sorted(job.files_before - after)}"  # old checkpoints rotate out
    assert (job.run_dir / "config.json").read_text() == job.config_text
    assert json.loads(job.config_text)["distribute"] == "multi-worker"
    writers = {int(path.name.split(".")[-3]) for path in (job.run_dir / "tb").rglob("events.*")}
    assert writers and writers <= job.chiefs, (writers, job.chiefs)


def max_weight_difference(run_dir, reference):
    """Largest absolute difference between two runs' saved weights (same names, same order)."""
    expected, got = model_weights(reference), model_weights(run_dir)
    assert [name for name, _ in got] == [name for name, _ in expected]
    return max(float(np.max(np.abs(a - b))) for (_, a), (_, b) in zip(got, expected))
