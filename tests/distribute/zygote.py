"""A fork server for the fault-injection tests: `python zygote.py` imports TensorFlow, Keras and
the pipelines once (~8 s of CPU), then forks one child per request, each running
`seqkeras ARGS` (or a script) as a fresh `python -m pipelines.cli ARGS` process would.

Forking is safe here because nothing in this process has started TensorFlow's runtime (no
eager context, no op run: the imports only load libraries), so every child initialises its
own runtime, devices and cluster, reads its own environment (TF_CONFIG) and seeds itself.

Protocol (one JSON object per line): stdin `{"args": [...], "program": "cli" | "path/to/script.py",
"env": {...}, "log": "...", "status": "..."}` -> stdout `{"pid": ...}`. The child's stdout and
stderr go to `log`; when it ends, this process reaps it and writes its exit code to `status`
(negative: the signal, as `subprocess` reports it). End of stdin: every child still alive is
killed and reaped, then this process exits. Children die with this process (PR_SET_PDEATHSIG),
and this process with its parent, so nothing outlives a test.
"""

import atexit
import ctypes
import json
import os
import select
import signal
import sys
import traceback


def die_with_parent():
    """PR_SET_PDEATHSIG: SIGKILL this process when its parent ends (Linux; elsewhere a no-op)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def preload():
    """What every child would import: TensorFlow, Keras, the pipelines and what they load lazily."""
    import h5py  # noqa: F401
    import keras  # noqa: F401
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401
    import sklearn.metrics  # noqa: F401
    import tensorflow  # noqa: F401

    import seqkeras.distribute  # noqa: F401
    import seqkeras.losses  # noqa: F401
    import seqkeras.models.char_lm.char_generator  # noqa: F401
    import seqkeras.models.char_lm.datasets  # noqa: F401
    import seqkeras.models.char_lm.evaluation  # noqa: F401
    import seqkeras.models.char_lm.sample_text_callback  # noqa: F401
    import seqkeras.models.char_lm.storage  # noqa: F401
    import seqkeras.models.common  # noqa: F401
    import seqkeras.models.tagger  # noqa: F401
    import seqkeras.models.word2vec  # noqa: F401
    from pipelines import cli, common, distributed, train_charlm, train_tagger, train_word2vec  # noqa: F401


def child(request):
    """Runs in the forked child; never returns."""
    code = 1
    try:
        die_with_parent()
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.close(null)
        os.environ.clear()
        os.environ.update(request["env"])
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        program = request.get("program", "cli")
        try:
            if program == "cli":
                from pipelines import cli

                sys.argv = ["seqkeras", *request["args"]]
                cli.main(request["args"])
            else:
                import runpy

                sys.argv = [program, *request["args"]]
                sys.path.insert(0, os.path.dirname(os.path.abspath(program)))
                runpy.run_path(program, run_name="__main__")
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        except BaseException:  # noqa: BLE001  (reported in the log, as an uncaught error would be)
            traceback.print_exc()
            code = 1
        atexit._run_exitfuncs()  # what interpreter exit runs (e.g. the chief's final barrier)
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def reap(children):
    """Writes the exit code of every ended child to its status file."""
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        path = children.pop(pid, None)
        if path is not None:
            code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            with open(path + ".tmp", "w") as file:
                file.write(str(code))
            os.replace(path + ".tmp", path)


def main():
    die_with_parent()
    sys.path[0] = os.getcwd()  # the repository, as for `python -m pipelines.cli` (not this file's folder)
    out = os.fdopen(os.dup(1), "w")  # the replies; anything else printed here goes to stderr (the log)
    os.dup2(2, 1)
    preload()
    children = {}
    out.write(json.dumps({"ready": True}) + "\n")
    out.flush()
    buffer = b""
    while True:
        readable, _, _ = select.select([0], [], [], 0.02)
        reap(children)
        if not readable:
            continue
        data = os.read(0, 65536)
        if not data:  # end of stdin: the test is done
            break
        buffer += data
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            request = json.loads(line)
            pid = os.fork()
            if pid == 0:
                out.close()
                child(request)
            children[pid] = request["status"]
            out.write(json.dumps({"pid": pid}) + "\n")
            out.flush()
    for pid in list(children):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    while children:
        pid, status = os.waitpid(-1, 0)
        children.pop(pid, None)


if __name__ == "__main__":
    main()
