"""The `seqkeras` command: lazy parser, --version, fast --help, and one-line user errors.

The bad-input table runs the console command's entry point (`pipelines.cli.main`) in a fresh
process, all cases in one child (issue 14), and one case also as its own `python -m pipelines.cli`
process: every user error must exit 2 with one line on stderr naming the flag or file and the value,
and no traceback.
"""

import gzip
import json
import os
import pathlib
import subprocess
import sys

import pytest

from pipelines import cli
from seqkeras import __version__

TIMEOUT = 300


def _all_command_words():
    return [words for words, _, _ in cli._available(cli.COMMANDS)]


def _run(*argv, cwd=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *argv], capture_output=True, timeout=TIMEOUT,
                          env=env, cwd=cwd)


def _error_lines(stderr):
    """stderr without TensorFlow's native start-up log lines."""
    text = stderr.decode("utf-8", "replace")
    native = ("WARNING: All log messages before absl", "I0000", "W0000", "E0000")
    return [line for line in text.splitlines() if line.strip() and not line.startswith(native)]


@pytest.mark.parametrize("words", _all_command_words(), ids=" ".join)
def test_every_command_help_exits_0(words, capsys):
    argv = [*words, "--help"]
    parser = cli.build_parser(argv=argv)  # only this command's module is imported
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(argv)
    assert exit_info.value.code == 0
    assert f"usage: seqkeras {' '.join(words)}" in capsys.readouterr().out


def test_top_level_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.build_parser(argv=["--help"]).parse_args(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for words in _all_command_words():
        assert words[0] in out


def test_help_in_a_fresh_process_imports_no_tensorflow():
    code = ("import sys\nfrom pipelines import cli\ntry:\n    cli.main(['--help'])\nexcept SystemExit as e:\n"
            "    assert e.code == 0\nprint(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert "usage: seqkeras" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_every_command_help_imports_no_tensorflow():
    """Each command's --help in turn, in one fresh process: after each, neither TensorFlow nor Keras
    is imported (a command whose module imports them is named by the first failing line)."""
    commands = [list(words) for words, _, _ in cli.COMMANDS]
    code = ("import json, sys\nfrom pipelines import cli\n"
            f"for words in {commands!r}:\n"
            "    try:\n        cli.main([*words, '--help'])\n    except SystemExit as e:\n"
            "        assert e.code == 0, (words, e.code)\n"
            "    print(json.dumps([words, sorted(m for m in ('tensorflow', 'keras') if m in sys.modules)]))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    imported = [json.loads(line) for line in result.stdout.splitlines() if line.startswith('[["')]
    assert [words for words, _ in imported] == commands
    assert [(words, modules) for words, modules in imported if modules] == []


def test_version():
    result = _run("--version")
    assert result.returncode == 0
    assert result.stdout.decode().strip() == f"seqkeras {__version__}"


def test_missing_command_is_an_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.build_parser(argv=[]).parse_args([])
    assert exit_info.value.code == 2


# ----------------------------------------------------------------------------------------------
# Bad input through the real command (issue 14, cases 2, 3, 8, 9, 10, 12, 15)
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny self-contained char LM run and broken inputs beside it."""
    import keras

    from pipelines import common
    from seqkeras.data.vocabulary import Vocabulary
    from seqkeras.models.char_lm import CharLanguageModel, char_lm_task

    root = tmp_path_factory.mktemp("cli")
    keras.utils.set_random_seed(0)
    vocabulary = Vocabulary(list("abc[]{} "))
    model = CharLanguageModel(vocabulary_size=vocabulary.size, embedding_dim=4, hidden_dim=6)
    run = root / "run"
    run.mkdir()
    common.save_model(char_lm_task(model, vocabulary), run / "model.keras")
    (run / "config.json").write_text(json.dumps({"family": "charlm", "run_dir": str(run)}))
    data = (run / "model.keras").read_bytes()
    (root / "empty.keras").write_bytes(b"")
    (root / "truncated.keras").write_bytes(data[: len(data) // 2])
    (root / "zeroed.keras").write_bytes(bytes(len(data)))
    (root / "bad-utf8.txt").write_bytes(b"fine line\nbad \xff\xfe byte\n")
    whole = gzip.compress("".join(f"line {i} of a corpus\n" for i in range(2000)).encode())
    (root / "cut.txt.gz").write_bytes(whole[: len(whole) // 2])  # tf.data alone reads up to the cut, silently
    (root / "broken.json").write_text('{"hidden_dim": 12,')
    (root / "list.json").write_text("[1, 2]")
    (root / "types.json").write_text('{"hidden_dim": "big"}')
    existing = root / "existing"
    from pipelines import train_charlm

    train_charlm.open_run(train_charlm.TrainConfig(run_dir=str(existing)))
    return root


# (argv with {root} filled in, text the one error line must contain)
BAD_INPUTS = {
    "charlm config broken JSON": (["train", "charlm", "--config", "{root}/broken.json"], "broken.json is not valid JSON"),
    "charlm config not an object": (["train", "charlm", "--config", "{root}/list.json"], "must hold a JSON object"),
    "charlm config wrong type": (["train", "charlm", "--config", "{root}/types.json", "--run-dir", "{root}/r1"],
                                 "must be an integer. Received: hidden_dim='big'"),
    "charlm dropout out of range": (["train", "charlm", "--dropout", "1.5", "--run-dir", "{root}/r2"], "dropout=1.5"),
    "charlm infinite learning rate": (["train", "charlm", "--learning-rate", "inf", "--run-dir", "{root}/r3"],
                                      "must be finite. Received: learning_rate=inf"),
    "charlm existing run dir": (["train", "charlm", "--run-dir", "{root}/existing"], "already exists; pass --resume"),
    "charlm resume with a changed option": (["train", "charlm", "--run-dir", "{root}/existing", "--resume",
                                             "--hidden-dim", "64"], "hidden_dim: 512 -> 64"),
    "word2vec missing corpus": (["train", "word2vec", "--corpus", "{root}/nope.txt", "--run-dir", "{root}/w1"],
                                "corpus='"),
    "word2vec invalid UTF-8 corpus": (["train", "word2vec", "--corpus", "{root}/bad-utf8.txt", "--run-dir", "{root}/w2"],
                                      "--corpus: {root}/bad-utf8.txt is not valid UTF-8 (byte 14, line 2)"),
    "charlm truncated gzip corpus": (["train", "charlm", "--corpus", "{root}/cut.txt.gz", "--run-dir", "{root}/c1"],
                                     "--corpus: {root}/cut.txt.gz is not a valid gzip file (Compressed file ended"),
    "word2vec negative window": (["train", "word2vec", "--window", "-1", "--run-dir", "{root}/w3"], "window=-1"),
    "generate invalid UTF-8 prompt": (["generate", "{root}/run", "--prompt", b"[[\xff"], "--prompt is not valid UTF-8"),
    "generate empty prompt": (["generate", "{root}/run", "--prompt", ""], "--prompt must not be empty"),
    "generate bad top-p": (["generate", "{root}/run", "--prompt", "[[", "--top-p", "1.5"], "--top-p must be in (0, 1]"),
    "predict NaN temperature": (["predict", "{root}/run", "--text", "a", "--temperature", "nan"],
                                "--temperature must be a finite number > 0. Received: --temperature nan"),
    "predict format the family does not write": (["predict", "{root}/run", "--text", "a", "--format", "conllu"],
                                                 "--format: a charlm run writes jsonl or text. Received: --format conllu"),
    "predict --csv for a text family": (["predict", "{root}/run", "--csv", "{root}/run/config.json"],
                                        "--csv is for forecast and captioner runs; a charlm run reads --text/--file"),
    "generate over-long": (["generate", "{root}/run", "--prompt", "[[", "--length", "99999999999"],
                           "--length x --num-samples must be at most 10,000,000 characters. Received: --length "
                           "99999999999 --num-samples 1"),
    "generate too many samples": (["generate", "{root}/run", "--prompt", "[[", "--length", "300", "--num-samples",
                                   "99999999999"], "--length 300 --num-samples 99999999999"),
    "generate missing run": (["generate", "{root}/nothing", "--prompt", "[["], "{root}/nothing"),
    "generate zeroed model": (["generate", "{root}/zeroed.keras", "--prompt", "[["], "zeroed.keras is empty, truncated"),
    "score empty model file": (["score", "{root}/empty.keras", "--text", "a"], "empty.keras is empty, truncated"),
    "score truncated model": (["score", "{root}/truncated.keras", "--text", "a"], "truncated.keras"),
    "score invalid UTF-8 file": (["score", "{root}/run", "--file", "{root}/bad-utf8.txt"],
                                 "--file: {root}/bad-utf8.txt is not valid UTF-8"),
    "score no texts": (["score", "{root}/run"], "give at least one --text or --file"),
    "score RUN and --model": (["score", "{root}/run", "--model", "{root}/run/model.keras", "--text", "a"], "not both"),
}


def _argv(case, root):
    argv, _ = BAD_INPUTS[case]
    return [arg.replace("{root}", root) if isinstance(arg, str) else arg for arg in argv]


@pytest.fixture(scope="module")
def bad_input_results(files, cli_cases):
    """Every BAD_INPUTS case through `pipelines.cli.main` (the console script's entry point), all in
    one fresh process started in the cases' folder: {case: (exit code, stdout, stderr)}."""
    cases = sorted(BAD_INPUTS)
    return dict(zip(cases, cli_cases([_argv(case, str(files)) for case in cases], cwd=files)))


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_user_errors_are_one_line_and_exit_2(case, files, bad_input_results):
    root = str(files)
    code, _, stderr = bad_input_results[case]
    lines = _error_lines(stderr.encode())
    assert code == 2, (case, stderr[-2000:])
    assert "Traceback" not in stderr
    assert len(lines) == 1 and lines[0].startswith("seqkeras: error: "), lines
    assert BAD_INPUTS[case][1].replace("{root}", root) in lines[0]


@pytest.mark.slow
def test_a_user_error_from_a_separate_seqkeras_process_is_the_same(files, bad_input_results):
    """The real command (`python -m pipelines.cli`, argv bytes decoded by the interpreter) gives the
    same exit code and stderr as the shared child process, for an undecodable argument."""
    case = "generate invalid UTF-8 prompt"
    result = _run(*_argv(case, str(files)), cwd=files)
    code, _, stderr = bad_input_results[case]
    assert result.returncode == code == 2
    assert _error_lines(result.stderr) == _error_lines(stderr.encode())


@pytest.mark.slow
def test_rejected_configs_leave_no_run_dir(files):
    for name in ("r1", "r2", "r3", "w1", "w2", "w3", "c1"):  # w2, c1: refused after the run dir opened
        assert not (pathlib.Path(files) / name).exists(), name
    existing = pathlib.Path(files) / "existing" / "config.json"
    assert json.loads(existing.read_text())["hidden_dim"] == 512  # the refused resume rewrote nothing
