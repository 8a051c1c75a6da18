"""Export reliability (issue 14): atomic versions, permissions, scratch clean-up, request limits, bad requests.

Bad requests go through the real signatures (in process), `serving_client` and the TFLite runner, and
the CLI's user errors through one child process that runs every case (exit 2, one line on its
stderr, no traceback).
"""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text  # noqa: F401  the raw-string signatures use its ops

from export import serving_client as client
from export.from_run import export_run_saved_model, export_run_tflite
from export.tflite import TFLiteRunner
from export.versioning import existing_versions, write_version_atomically

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-c", "from pipelines.cli import main; main()"]


def _tree_modes(root):
    modes = {}
    for path in [root, *root.rglob("*")]:
        modes[path] = oct(path.stat().st_mode & 0o777)
    return modes


# ----------------------------------------------------------------------------------------------
# Versions
# ----------------------------------------------------------------------------------------------
def test_concurrent_cli_exports_claim_distinct_versions_and_replace_nothing(pooled_run, tmp_path):
    base = tmp_path / "serving"
    processes = [subprocess.Popen([*CLI, "export", "savedmodel", str(pooled_run), "--base-dir", str(base)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}) for _ in range(2)]
    results = [(process.wait(timeout=600), process.stdout.read(), process.stderr.read()) for process in processes]
    written = []
    for code, out, err in results:
        if code == 0:
            written.append(out.strip().splitlines()[-1].split("wrote ")[-1])
        else:  # a loser must fail loudly, in one line
            assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert written and len(set(written)) == len(written)  # never the same version twice
    assert existing_versions(base / "classifier") == list(range(1, len(written) + 1))
    for version in existing_versions(base / "classifier"):
        assert (base / "classifier" / str(version) / "saved_model.pb").is_file()
    assert not (base / "classifier" / ".tmp").exists()


def test_a_version_claimed_during_an_export_is_never_replaced(tmp_path):
    def marker(text, claim=None):
        def write(directory):
            if claim is not None:  # another export finishes this number while we are still writing
                other = tmp_path / "classifier" / str(claim)
                other.mkdir(parents=True)
                (other / "saved_model.pb").write_text("the other export")
            (directory / "saved_model.pb").write_text(text)
        return write

    assert write_version_atomically(tmp_path, "classifier", None, marker("ours", claim=1)).name == "2"
    assert (tmp_path / "classifier" / "1" / "saved_model.pb").read_text() == "the other export"
    with pytest.raises(FileExistsError, match="appeared at .* during this export"):
        write_version_atomically(tmp_path, "classifier", 3, marker("ours", claim=3))
    assert (tmp_path / "classifier" / "3" / "saved_model.pb").read_text() == "the other export"
    replaced = write_version_atomically(tmp_path, "classifier", 3, marker("replacement"), overwrite=True)
    assert (replaced / "saved_model.pb").read_text() == "replacement"
    assert existing_versions(tmp_path / "classifier") == [1, 2, 3]
    assert not (tmp_path / "classifier" / ".tmp").exists()


def test_version_dirs_are_0755_and_files_0644_whatever_the_umask(pooled_run, tmp_path):
    old = os.umask(0o077)
    try:
        path = export_run_saved_model(pooled_run, tmp_path / "serving")
        metadata = export_run_tflite(pooled_run, tmp_path / "tflite" / "model.tflite")
    finally:
        os.umask(old)
    modes = _tree_modes(path)
    assert {mode for p, mode in modes.items() if p.is_dir()} == {"0o755"}
    assert {mode for p, mode in modes.items() if p.is_file()} == {"0o644"}
    assert oct((tmp_path / "tflite" / "model.tflite").stat().st_mode & 0o777) == "0o644"
    assert metadata["id_ranges"]["token_ids"] > 4


def test_stale_scratch_of_killed_exports_is_cleaned_by_the_next_export(pooled_run, tmp_path):
    model_dir = tmp_path / "serving" / "classifier"
    dead = model_dir / ".tmp" / "999999999-killed"  # no such process
    (dead / "version").mkdir(parents=True)
    (dead / "version" / "saved_model.pb").write_bytes(b"half")
    legacy = model_dir / ".tmp-4-abc123"  # left by the older exporter
    legacy.mkdir()
    live = model_dir / ".tmp" / f"{os.getpid()}-running"  # a live export's folder is left alone
    live.mkdir()
    path = export_run_saved_model(pooled_run, tmp_path / "serving")
    assert path.name == "1" and not dead.exists() and not legacy.exists() and live.is_dir()
    live.rmdir()

    tflite_dead = tmp_path / "tflite" / ".tmp" / "999999999-killed"
    tflite_dead.mkdir(parents=True)
    export_run_tflite(pooled_run, tmp_path / "tflite" / "model.tflite")
    assert not (tmp_path / "tflite" / ".tmp").exists()
    assert sorted(p.name for p in (tmp_path / "tflite").iterdir()) == [
        "model.json", "model.labels.txt", "model.tflite", "model.vocabulary.txt"]


# ----------------------------------------------------------------------------------------------
# Bad requests: signatures, serving_client, TFLite
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def limited(pooled_run, tmp_path_factory):
    """The pooled classifier exported with small limits: 4 rows, 30 characters."""
    base = tmp_path_factory.mktemp("limited")
    path = export_run_saved_model(pooled_run, base, max_batch_size=4, max_text_chars=30)
    tflite_path = base / "model.tflite"
    export_run_tflite(pooled_run, tflite_path)
    return path, tf.saved_model.load(str(path)), tflite_path


def _ids(rows):
    return {"token_ids": np.array(rows, np.int32), "padding_mask": np.ones(np.shape(rows), bool)}


def test_request_limits_are_recorded_in_the_savedmodel(limited):
    path, loaded, _ = limited
    recorded = {key: int(value) for key, value in loaded.signatures["request_limits"]().items()}
    stored = client.read_request_limits(path)
    assert recorded["max_batch_size"] == stored["max_batch_size"] == 4
    assert recorded["max_text_chars"] == stored["max_text_chars"] == 30
    assert recorded["token_ids_range"] == stored["id_ranges"]["token_ids"] > 4


def bad_requests(vocabulary_size):
    """(signature, inputs, the message the graph and the client give)."""
    text = "classify_text"
    ids = "classify_token_ids"
    return [
        (text, {"text": np.array([], dtype=object)}, "empty batch|1 to 4 rows"),
        (text, {"text": np.array([["a b"]], dtype=object)}, "rank 1"),
        (text, {"text": np.array(["a"] * 5, dtype=object)}, "5 rows"),
        (text, {"text": np.array(["x" * 31], dtype=object)}, "31 characters"),
        (ids, _ids(np.zeros((1, 0))), "zero-length|1 to 3\\d positions"),
        (ids, _ids([[4, -1]]), "-1"),
        (ids, _ids([[4, -vocabulary_size]]), f"-{vocabulary_size}"),
        (ids, _ids([[4, vocabulary_size]]), f"max {vocabulary_size}|={vocabulary_size}"),
        (ids, _ids([4, 5]), "rank 2"),
        (ids, _ids(np.full((5, 2), 4)), "5 rows"),
        (ids, {"token_ids": np.array([[4, 5]], np.int32), "padding_mask": np.ones((1, 3), bool)}, "shape"),
    ]


def test_bad_requests_are_refused_by_the_signatures_and_the_client(limited):
    path, loaded, _ = limited
    limits = client.read_request_limits(path)
    specs = client.signature_specs(path)
    for signature, inputs, message in bad_requests(limits["id_ranges"]["token_ids"]):
        tensors = {key: tf.constant(value, dtype=tf.string if value.dtype == object else None)
                   for key, value in inputs.items()}
        with pytest.raises(tf.errors.InvalidArgumentError, match=message) as graph_error:
            loaded.signatures[signature](**tensors)
        assert "could not correctly convert string: " in str(graph_error.value) and "Received:" in str(graph_error.value)
        with pytest.raises(ValueError, match=message) as client_error:
            client.build_predict_request(specs[signature], inputs, form="inputs", limits=limits)
        assert "\n" not in str(client_error.value)
    good = loaded.signatures["classify_text"](text=tf.constant(["a b", "c"]))
    assert good["probabilities"].shape[0] == 2


def test_client_refuses_null_partial_bodies_and_huge_num_chars(limited, exports, loaded):
    path, loaded_limited, _ = limited
    specs = client.signature_specs(path)
    spec = specs["classify_text"]
    for body in (None, {}, {"instances": None}, {"inputs": {"txt": ["a"]}}, {"inputs": {"text": None}},
                 {"signature_name": "classify_token_ids", "instances": [{"token_ids": [4]}]}):
        with pytest.raises(ValueError) as error:
            client.simulate_predict(loaded_limited, body)
        assert "\n" not in str(error.value)
    for response in (None, "null", "{", {"predictions": None}, {"outputs": None},
                     {"predictions": [{"label": "email"}]}):
        with pytest.raises(ValueError) as error:
            client.parse_predict_response(spec, response)
        assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="null"):
        client.build_predict_request(spec, {"text": None})

    generate = client.signature_specs(exports[1]["char_lm"])["generate"]
    limits = client.read_request_limits(exports[1]["char_lm"])
    request = {"prompt": np.array(["The"], dtype=object), "num_chars": 2**40, "temperature": np.float32(1.0),
               "top_k": np.int32(0), "top_p": np.float32(1.0), "seed": np.int32(0)}
    with pytest.raises(ValueError, match="num_chars=1099511627776"):
        client.build_predict_request(generate, request, form="inputs")
    with pytest.raises(ValueError, match="max_new_chars"):
        client.build_predict_request(generate, {**request, "num_chars": 5000}, form="inputs", limits=limits)
    with pytest.raises(ValueError, match="num_chars"):
        client.build_predict_request(generate, {**request, "num_chars": 0}, form="inputs", limits=limits)
    arguments = {key: tf.constant(value) for key, value in request.items() if key not in ("prompt", "num_chars")}
    for num_chars in (0, limits["max_new_chars"] + 1):  # the graph refuses them too (no silent clipping)
        with pytest.raises(tf.errors.InvalidArgumentError, match=f"num_chars={num_chars}"):
            loaded["char_lm"].signatures["generate"](prompt=tf.constant(["The"]), num_chars=tf.constant(num_chars),
                                                     **arguments)


def test_savedmodel_and_tflite_refuse_the_same_bad_ids(limited, exports, loaded, char_lm_bundle, tmp_path):
    path, loaded_limited, tflite_path = limited
    size = client.read_request_limits(path)["id_ranges"]["token_ids"]
    runner = TFLiteRunner(tflite_path)  # reads the id ranges from the metadata beside the model
    assert runner.id_ranges == {"token_ids": size}
    for bad in (-1, -size, size):
        with pytest.raises(tf.errors.InvalidArgumentError, match="token_ids"):
            loaded_limited.signatures["classify_token_ids"](**{k: tf.constant(v) for k, v in _ids([[4, bad]]).items()})
        with pytest.raises(ValueError, match=f"token_ids\\[0, 1\\]={bad}"):
            runner(np.array([[4, bad]], np.int32))
    logits = runner(np.array([[4, 5]], np.int32))  # valid ids still run: the same class as the SavedModel
    served = loaded_limited.signatures["classify_token_ids"](**{k: tf.constant(v) for k, v in _ids([[4, 5]]).items()})
    np.testing.assert_allclose(tf.nn.softmax(logits).numpy(), served["probabilities"].numpy(), atol=1e-5)

    # The char LM case of issue 14: TFLite used to map -1 .. -V to id + V silently.
    from export.tflite import export_tflite

    lm_path = tmp_path / "charlm.tflite"
    export_tflite(char_lm_bundle.model, lm_path, vocabulary=char_lm_bundle.vocabulary)
    lm_runner = TFLiteRunner(lm_path)
    vocabulary_size = char_lm_bundle.vocabulary.size
    for bad in (-1, -vocabulary_size, vocabulary_size):
        with pytest.raises(ValueError, match="must be ids in"):
            lm_runner(np.array([[2, 5, bad]], np.int32))
        with pytest.raises(tf.errors.InvalidArgumentError, match="token_ids"):
            loaded["char_lm"].signatures["score_token_ids"](
                token_ids=tf.constant([[5, bad]]), padding_mask=tf.constant([[True, True]]))


# ----------------------------------------------------------------------------------------------
# The CLI: one line, exit 2
# ----------------------------------------------------------------------------------------------
def test_cli_user_errors_are_one_line_with_exit_2(pooled_run, tmp_path, cli_cases):
    word2vec = tmp_path / "w2v"
    word2vec.mkdir()
    (word2vec / "config.json").write_text('{"family": "word2vec"}')
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "config.json").write_text('{"family": "classifier"}')
    (corrupt / "model.keras").write_bytes(b"")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes(b"caf\xe9 au lait\n")
    base = tmp_path / "serving"
    folder_named_tflite = tmp_path / "model.tflite"
    folder_named_tflite.mkdir()
    first = ["export", "savedmodel", pooled_run, "--base-dir", base, "--version", "1"]
    cases = [
        (["export", "savedmodel", word2vec], "model file not found"),
        (["export", "tflite", word2vec], "model file not found"),
        (["export", "tflite", tmp_path], "config.json"),  # not a run dir
        (["export", "savedmodel", tmp_path / "missing"], "run dir not found"),
        (["export", "savedmodel", corrupt, "--base-dir", base], "empty, truncated or not a .keras archive"),
        (["export", "savedmodel", pooled_run, "--warmup-file", latin1], "--warmup-file: .*latin1.txt is not valid UTF-8"),
        (["export", "tflite", pooled_run, "--quantization", "int8", "--representative-file", latin1],
         "--representative-file: .*latin1.txt is not valid UTF-8"),
        (["export", "savedmodel", pooled_run, "--base-dir", base, "--version", "1"], "Version 1 .* already exists"),
        (["export", "savedmodel", pooled_run, "--base-dir", base, "--overwrite"], "--overwrite needs --version"),
        (["export", "savedmodel", pooled_run, "--base-dir", latin1 / "serving"],
         "--base-dir: .*latin1.txt is a file, not a folder"),
        (["export", "tflite", pooled_run, "--out", latin1 / "model.tflite"], "--out: .*latin1.txt is a file, not a folder"),
        (["export", "tflite", pooled_run, "--out", folder_named_tflite], "is a folder; name the .tflite file"),
    ]
    import re

    # One child process runs them all through `pipelines.cli.main` (the first exports version 1):
    # each case's fd-level stderr is checked, as a separate `seqkeras` process's would be.
    (code, _, err), *results = cli_cases([first] + [argv for argv, _ in cases])
    assert code == 0, err[-2000:]
    for (argv, message), (code, _, err) in zip(cases, results):
        lines = err.strip().splitlines()
        assert code == 2, (argv, err[-2000:])
        assert len(lines) == 1 and re.search(message, lines[0]), (argv, lines)
    assert existing_versions(base / "classifier") == [1]
    assert pathlib.Path(base / "classifier" / "1" / "saved_model.pb").is_file()
