import subprocess
import sys

import pytest

from seqkeras import cli


def _all_command_words():
    return [words for words, _, _ in cli.COMMANDS]


def test_parser_builds_with_every_command():
    parser = cli.build_parser()
    for words in _all_command_words():
        # Parsing `--help` for each command exits 0 after printing its own usage.
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args([*words, "--help"])
        assert exit_info.value.code == 0


def test_top_level_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.build_parser().parse_args(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for words in _all_command_words():
        assert words[0] in out


def test_console_script_help_runs_in_a_fresh_process():
    result = subprocess.run(
        [sys.executable, "-m", "seqkeras.cli", "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "usage: seqkeras" in result.stdout


def test_missing_command_is_an_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.build_parser().parse_args([])
    assert exit_info.value.code == 2
