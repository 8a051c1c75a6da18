"""`seqkeras export savedmodel` / `seqkeras export tflite` end to end on a saved `.keras` file."""

import keras
import numpy as np
import pytest

from seqkeras.data.token_file import write_token_file
from seqkeras.cli import COMMANDS, build_parser

pytestmark = pytest.mark.slow

EXPORT_COMMANDS = [command for command in COMMANDS if command[0][0] == "export"]


def _run(argv):
    args = build_parser(EXPORT_COMMANDS).parse_args(argv)
    return args._run(args)


def test_export_commands_write_savedmodel_models_config_and_tflite(tmp_path, classifier_bundle, capsys):
    prep = classifier_bundle.prep
    token_ids = keras.Input((None,), dtype="int32", name="token_ids")
    padding_mask = keras.Input((None,), dtype="bool", name="padding_mask")
    x = keras.layers.Embedding(prep.vocabulary.size, 4)(token_ids)
    x = keras.layers.GlobalAveragePooling1D()(x, mask=padding_mask)
    model = keras.Model({"token_ids": token_ids, "padding_mask": padding_mask},
                        keras.layers.Dense(len(classifier_bundle.labels))(x))
    model.save(tmp_path / "model.keras")
    prep.vocabulary.save(tmp_path / "vocabulary.txt")
    write_token_file(tmp_path / "labels.txt", classifier_bundle.labels)
    (tmp_path / "texts.txt").write_text("\n".join(classifier_bundle.texts[:6]))
    common = ["--model", str(tmp_path / "model.keras"), "--vocabulary", str(tmp_path / "vocabulary.txt"),
              "--labels", str(tmp_path / "labels.txt"), "--lowercase"]

    code = _run(["export", "savedmodel", *common, "--task", "classifier", "--base-dir", str(tmp_path / "serving"),
                 "--name", "genre", "--warmup-file", str(tmp_path / "texts.txt"),
                 "--models-config", str(tmp_path / "serving" / "models.config")])
    assert code == 0
    assert (tmp_path / "serving" / "genre" / "1" / "assets.extra" / "tf_serving_warmup_requests").exists()
    assert 'base_path: "/models/genre"' in (tmp_path / "serving" / "models.config").read_text()
    with pytest.raises(FileExistsError):
        _run(["export", "savedmodel", *common, "--task", "classifier", "--base-dir", str(tmp_path / "serving"),
              "--name", "genre", "--version", "1"])

    code = _run(["export", "tflite", *common, "--out", str(tmp_path / "genre.tflite"), "--quantization", "int8",
                 "--representative-file", str(tmp_path / "texts.txt")])
    assert code == 0 and (tmp_path / "genre.tflite").exists() and (tmp_path / "genre.vocabulary.txt").exists()
    assert "wrote" in capsys.readouterr().out

    with pytest.raises(FileNotFoundError, match="vocabulary"):
        _run(["export", "tflite", "--model", str(tmp_path / "model.keras"), "--vocabulary",
              str(tmp_path / "missing.txt"), "--out", str(tmp_path / "other.tflite")])
    assert np.isfinite((tmp_path / "genre.tflite").stat().st_size)
