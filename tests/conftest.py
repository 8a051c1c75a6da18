import os
import pathlib

import pytest
from hypothesis import settings

# Shared CPU runners make timings noisy: no per-example deadline, and a fixed example sequence
# so that a CI run is repeatable (per-test @settings override only what they name).
settings.register_profile("seqkeras", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("seqkeras")

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = pathlib.Path(__file__).resolve().parents[1]
EWT_DIR = REPO.parent / "shared" / "data" / "ud-english-ewt"


# ----------------------------------------------------------------------------------------------
# Spreading the suite over the two CI workers (`./dev.sh test`: -n 2 --dist loadfile).
# Every test file is one unit of work (so its module fixtures are built once), except the export
# files below, which share session fixtures (tiny runs and their exports, tests/export/conftest.py):
# each group is one unit, so those fixtures are built on one worker only. (xdist's own `loadgroup`
# cannot do this under pytest 9: it relabels node ids by assigning `item._nodeid`, which pytest 9
# no longer reads.) Units are handed out longest first (SECONDS: rough seconds per unit under
# `./dev.sh test`; unlisted files count as short and keep xdist's order), so the workers end together.
# ----------------------------------------------------------------------------------------------
GROUPS = {
    "tests/export (bundles and their exports)": (
        "tests/export/test_saved_model.py", "tests/export/test_from_run.py", "tests/export/test_reliability.py",
        "tests/export/test_serving_client.py", "tests/export/test_tflite.py", "tests/export/test_commands.py"),
    "tests/export (biLM, seq2seq and word2vec runs)": (
        "tests/export/test_task_tflite.py", "tests/export/test_task_archives.py"),
}
SECONDS = {  # from the 2026-12-01 CI run's --durations and single-file runs; refresh as files change
    # (2026-12-02: the export group, test_elmo and test_classifier scaled by their measured CPU cuts;
    # test_train_forecast and test_train_captioner: single-file runs x1.3, 33 and 23 s)
    "tests/export (bundles and their exports)": 215, "tests/export (biLM, seq2seq and word2vec runs)": 110,
    "tests/distribute/test_exact_resume.py": 94, "tests/models/test_elmo.py": 40,
    "tests/pipelines/test_train_classifier.py": 110, "tests/pipelines/test_train_tagger.py": 76,
    "tests/pipelines/test_train_forecast.py": 45, "tests/distribute/test_tagger_workers.py": 77,
    "tests/distribute/test_multi_worker.py": 49, "tests/models/test_tagger.py": 45, "tests/models/test_classifier.py": 48,
    "tests/distribute/test_word2vec_workers.py": 36, "tests/distribute/test_strategy_trainer.py": 39,
    "tests/pipelines/test_embed.py": 45, "tests/pipelines/test_train_bilm_streamed.py": 45,
    "tests/pipelines/test_train_charlm.py": 40, "tests/test_cli.py": 40, "tests/pipelines/test_train_captioner.py": 30,
}


def _unit_of(nodeid):
    path = nodeid.split("::")[0]
    return next((group for group, files in GROUPS.items() if path in files), path)


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist: unknown when it is not loaded
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadfile` with the GROUPS above as units, longest unit first."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class GroupedFileScheduling(LoadScopeScheduling):
        _ordered = False

        def _split_scope(self, nodeid):
            return _unit_of(nodeid)

        def _assign_work_unit(self, node):
            if not self._ordered:  # the queue is complete at the first assignment
                units = sorted(self.workqueue.items(), key=lambda unit: -SECONDS.get(unit[0], 0))  # stable
                self.workqueue.clear()
                self.workqueue.update(units)
                self._ordered = True
            super()._assign_work_unit(node)

    return GroupedFileScheduling(config, log)


@pytest.fixture(scope="session")
def ewt_dir():
    """UD English EWT CoNLL-U files shipped beside the checkout (see ../shared/DATA.md)."""
    if not (EWT_DIR / "en_ewt-ud-train.conllu.gz").exists():
        pytest.skip(f"UD English EWT not found at {EWT_DIR}")
    return EWT_DIR


# ----------------------------------------------------------------------------------------------
# Many `seqkeras` command lines in one child process: one Python + TensorFlow start (~5 s on the
# 2-core CI machine) instead of one per case. Each case runs `pipelines.cli.main(argv)`, the console
# script's own entry point, and is judged as a separate `seqkeras` process would be: its exit code
# (from SystemExit) and what it wrote to file descriptors 1 and 2 (Python and native writes alike).
# ----------------------------------------------------------------------------------------------
_CLI_CASES_SCRIPT = r'''
import json, os, sys, tempfile, traceback
from pipelines.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    files = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    sys.stdout.flush(); sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    os.dup2(files[0].fileno(), 1); os.dup2(files[1].fileno(), 2)
    try:
        try:
            code = main(argv)
        except SystemExit as error:
            code = error.code if isinstance(error.code, int) else (0 if error.code is None else 1)
        except BaseException:
            traceback.print_exc()
            code = "uncaught exception"
    finally:
        sys.stdout.flush(); sys.stderr.flush()
        os.dup2(saved[0], 1); os.dup2(saved[1], 2)
        os.close(saved[0]); os.close(saved[1])
    texts = []
    for handle in files:
        handle.seek(0)
        texts.append(handle.read().decode("utf-8", "replace"))
        handle.close()
    results.append({"code": code, "stdout": texts[0], "stderr": texts[1]})
print("@@RESULT@@" + json.dumps(results))
'''


@pytest.fixture(scope="session")
def cli_cases():
    """`run(list of argv, cwd=None) -> [(exit code, stdout, stderr)]`: every command line run by
    `pipelines.cli.main` in ONE fresh process. A `bytes` argument reaches `main` as `sys.argv` would
    hold it (`os.fsdecode`: undecodable bytes as surrogates)."""
    import json
    import subprocess
    import sys

    def run(cases, cwd=None, timeout=600):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        env.pop("SEQKERAS_TF_LOGS", None)
        argvs = [[os.fsdecode(arg) if isinstance(arg, bytes) else str(arg) for arg in argv] for argv in cases]
        process = subprocess.run([sys.executable, "-c", _CLI_CASES_SCRIPT, json.dumps(argvs)], capture_output=True,
                                 text=True, timeout=timeout, env=env, cwd=cwd or REPO)
        marker = [line for line in process.stdout.splitlines() if line.startswith("@@RESULT@@")]
        assert process.returncode == 0 and marker, process.stderr[-3000:]
        return [(case["code"], case["stdout"], case["stderr"]) for case in json.loads(marker[-1][len("@@RESULT@@"):])]

    return run
