"""`seqkeras export savedmodel RUN` / `seqkeras export tflite RUN`: warm-up, models.config, int8, --help."""

import json
import subprocess
import sys

import pytest

from export.warmup import read_warmup_requests
from pipelines.cli import COMMANDS, build_parser

EXPORT_COMMANDS = [command for command in COMMANDS if command[0][0] == "export"]


def _run(argv):
    args = build_parser(EXPORT_COMMANDS).parse_args(argv)
    return args._run(args)


def test_export_help_is_fast_and_imports_no_tensorflow():
    code = ("import sys; from pipelines.cli import build_parser; "
            "import contextlib, io\n"
            "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
            "    build_parser(argv=['export', 'savedmodel', '--help']).parse_args(['export', 'savedmodel', '--help'])\n"
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert out.strip() == "False"


@pytest.mark.slow
def test_export_commands_write_warmup_models_config_and_int8_tflite(tmp_path, pooled_run, classifier_bundle, capsys):
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(classifier_bundle.texts[:6]), encoding="utf-8")
    base = tmp_path / "serving"
    code = _run(["export", "savedmodel", str(pooled_run), "--base-dir", str(base), "--name", "genre",
                 "--warmup-file", str(texts), "--models-config", str(base / "models.config")])
    assert code == 0
    version = base / "genre" / "1"
    requests = read_warmup_requests(version)
    assert {request.model_spec.signature_name for request in requests} == {"classify_text", "classify_token_ids"}
    assert 'base_path: "/models/genre"' in (base / "models.config").read_text()
    assert f"wrote {version}" in capsys.readouterr().out

    code = _run(["export", "tflite", str(pooled_run), "--out", str(tmp_path / "genre.tflite"), "--quantization",
                 "int8", "--representative-file", str(texts)])
    assert code == 0
    metadata = json.loads((tmp_path / "genre.json").read_text())
    assert metadata["quantization"] == "int8" and metadata["calibration"]["examples"] == 6
    assert metadata["calibration"]["oov_fraction"] < 0.5  # held-out words, looked up as in training
    assert (tmp_path / "genre.labels.txt").read_text().split() == classifier_bundle.labels
    assert "calibration=6 texts" in capsys.readouterr().out
