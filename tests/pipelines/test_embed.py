"""`seqkeras embed BILM_RUN`: per-token layers (and a downstream run's mix) equal the model file's own."""

import gzip
import json
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from pipelines import common, embed, train_bilm
from pipelines import cli
from seqkeras.data import corpora
from seqkeras.data.tokenization import WordTokenizer
from seqkeras.models.common.text_task import TextTask
from seqkeras.models.elmo import ElmoEmbedder, ScalarMix, build_bidirectional_lm
from seqkeras.models.elmo.contextual_features import mix_contextual_layers

REPO = pathlib.Path(__file__).resolve().parents[2]
EWT_DEV = REPO.parent / "shared" / "data" / "ud-english-ewt" / "en_ewt-ud-dev.conllu.gz"
TEXTS = ["The cat sat on the mat.", "Hello, world"]


@pytest.fixture(scope="module")
def bilm_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("embed") / "bilm"
    config = train_bilm.TrainConfig(
        corpus=("lee",), max_sentences=80, vocabulary_size=30, hidden_dim=4, char_filters=6, char_embedding_dim=4,
        num_layers=2, epochs=1, steps_per_epoch=2, run_dir=str(run_dir), verbose=0,
    )
    results = train_bilm.main(config)
    assert results["softmax"] == "full"  # the default sample (1024) is not below 30 words: full softmax
    return run_dir


def _embed(*args):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["embed", *map(str, args)])
    return exit_info.value.code


def _reference_layers(run_dir, texts):
    """The layers from `model.keras` alone: its TokenLookup, then `ElmoEmbedder.from_bilm`."""
    task = keras.saving.load_model(pathlib.Path(run_dir, "model.keras"))
    features = task.features(texts)
    layers = ElmoEmbedder.from_bilm(task.network)({"char_ids": features["char_ids"],
                                                    "padding_mask": features["padding_mask"]})
    return [np.asarray(layer) for layer in layers], features["padding_mask"].numpy()


@pytest.mark.slow
def test_embed_writes_every_layer_and_the_tokens(bilm_run, tmp_path, capsys):
    sentences = tmp_path / "sentences.txt"
    sentences.write_text(TEXTS[1] + "\n\n", encoding="utf-8")
    out = tmp_path / "vectors.npz"
    assert _embed(bilm_run, "--text", TEXTS[0], "--file", sentences, "--out", out) == 0
    assert "2 sentences, 10 tokens, 3 layers of width 8" in capsys.readouterr().out
    stored = np.load(out)  # no pickling needed
    assert list(stored["sentences"]) == TEXTS
    assert list(stored["tokens"]) == ["The", "cat", "sat", "on", "the", "mat", ".", "Hello", ",", "world"]
    assert list(stored["row_splits"]) == [0, 7, 10]
    assert stored["layers"].shape == (3, 10, 8) and stored["layers"].dtype == np.float32
    assert "mixed" not in stored
    reference, mask = _reference_layers(bilm_run, TEXTS)
    for index, layer in enumerate(reference):
        np.testing.assert_allclose(stored["layers"][index], layer[mask], rtol=1e-5, atol=1e-6)
    # layer 0 is the context-free token layer, duplicated [x; x]
    np.testing.assert_array_equal(stored["layers"][0, :, :4], stored["layers"][0, :, 4:])


@pytest.mark.slow
def test_embed_reads_conllu_sentences(bilm_run, tmp_path):
    if not EWT_DEV.exists():
        pytest.skip(f"UD English EWT not found at {EWT_DEV}")
    blocks = gzip.decompress(EWT_DEV.read_bytes()).decode("utf-8").split("\n\n")[:12]  # 12 sentences
    conllu = tmp_path / "dev.conllu"
    conllu.write_text("\n\n".join(blocks) + "\n\n", encoding="utf-8")
    out = tmp_path / "dev.npz"
    assert _embed(bilm_run, "--file", conllu, "--out", out, "--batch-size", "5") == 0
    stored = np.load(out)
    words = [" ".join(s.words) for s in corpora.read_conllu(conllu)]
    assert list(stored["sentences"]) == words and len(words) == 12
    tokens = WordTokenizer("unicode_script").tokenize(tf.constant(words)).flat_values.numpy()  # the run's split
    assert list(stored["tokens"]) == [token.decode("utf-8") for token in tokens]
    assert stored["layers"].shape[1] == stored["row_splits"][-1]


def _downstream_run(folder, bilm_task, mix_logits, gamma, layer_norm=False):
    """A tagger-like run whose network mixes the biLM's frozen layers (as `--contextual` builds it)."""
    token_ids = keras.Input((None,), dtype="int32", name="token_ids")
    char_ids = keras.Input((None, None), dtype="int32", name="char_ids")
    padding_mask = keras.Input((None,), dtype="bool", name="padding_mask")
    words = keras.layers.Embedding(bilm_task.preprocessor.vocabulary_size, 3)(token_ids)
    features = mix_contextual_layers(words, ElmoEmbedder.from_bilm(bilm_task.network), char_ids, padding_mask,
                                     layer_norm=layer_norm)
    network = keras.Model({"token_ids": token_ids, "char_ids": char_ids, "padding_mask": padding_mask},
                          keras.layers.Dense(2)(features))
    mix = network.get_layer("contextual_mix")
    mix.scalar_weights.assign(np.asarray(mix_logits, "float32"))
    mix.gamma.assign(gamma)
    task = TextTask(bilm_task.preprocessor, network, labels=["A", "B"], task="tagger")
    task(keras.ops.convert_to_tensor(["a b"]))
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"family": "tagger"}))
    common.save_model(task, folder / "model.keras")
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("layer_norm", [False, True])
def test_downstream_mix_is_added(bilm_run, tmp_path, layer_norm):
    bilm_task = keras.saving.load_model(bilm_run / "model.keras")
    downstream = _downstream_run(tmp_path / "tagger", bilm_task, [1.0, -1.0, 0.5], 2.0, layer_norm)
    out = tmp_path / "mixed.npz"
    assert _embed(bilm_run, "--text", TEXTS[0], "--out", out, "--downstream", downstream) == 0
    stored = np.load(out)
    weights = np.exp([1.0, -1.0, 0.5]) / np.exp([1.0, -1.0, 0.5]).sum()
    np.testing.assert_allclose(stored["mix_weights"], weights, rtol=1e-5)
    layers = stored["layers"]  # (L, N, D)
    if layer_norm:  # each layer standardised per word first
        layers = (layers - layers.mean(-1, keepdims=True)) / np.sqrt(layers.var(-1, keepdims=True) + 1e-6)
    expected = 2.0 * np.einsum("l,lnd->nd", weights, layers)
    np.testing.assert_allclose(stored["mixed"], expected, rtol=1e-4, atol=1e-5)
    # the mix the saved downstream model computes
    model = keras.saving.load_model(downstream / "model.keras")
    mixes = [layer for layer in embed._all_layers(model) if isinstance(layer, ScalarMix)]
    layers, mask = _reference_layers(bilm_run, TEXTS[:1])
    np.testing.assert_allclose(np.asarray(mixes[0](layers))[mask], stored["mixed"], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_a_downstream_run_of_another_bilm_is_refused(bilm_run, tmp_path):
    bilm_task = keras.saving.load_model(bilm_run / "model.keras")
    other = build_bidirectional_lm(30, bilm_task.preprocessor.char_vocabulary.size + 4, char_embedding_dim=4,
                                   char_filters=6, hidden_dim=4, num_layers=2, name="bilm")
    other_task = TextTask(bilm_task.preprocessor, other, task="bilm")
    downstream = _downstream_run(tmp_path / "tagger", other_task, [0.0, 0.0, 0.0], 1.0)
    with pytest.raises(common.UserError, match="another biLM"):
        embed.downstream_mix(downstream, ElmoEmbedder.from_bilm(bilm_task.network))
    plain = _downstream_run(tmp_path / "plain", bilm_task, [0.0, 0.0, 0.0], 1.0)
    model = keras.saving.load_model(plain / "model.keras")
    assert embed.downstream_mix(plain, ElmoEmbedder.from_bilm(bilm_task.network)) is not None
    assert model.network.get_layer("contextual_mix").num_mixed == 3


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "pipelines.cli", "embed", *map(str, args)], capture_output=True,
                          text=True, cwd=REPO, timeout=300)


@pytest.mark.slow
def test_bad_inputs_exit_2_with_one_line(bilm_run, tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n", encoding="utf-8")
    cases = [
        ((bilm_run, "--text", "a", "--out", tmp_path / "no" / "x.npz"), "--out"),
        ((bilm_run, "--text", "a", "--out", tmp_path / "x.txt"), ".npz"),
        ((bilm_run, "--out", tmp_path / "x.npz"), "--text"),
        ((bilm_run, "--file", empty, "--out", tmp_path / "x.npz"), "--file"),
        ((bilm_run, "--file", tmp_path / "missing.txt", "--out", tmp_path / "x.npz"), "--file"),
        ((tmp_path / "no_run", "--text", "a", "--out", tmp_path / "x.npz"), "run dir not found"),
        ((bilm_run, "--text", "a", "--out", tmp_path / "x.npz", "--downstream", bilm_run), "ScalarMix"),
    ]
    for args, message in cases:
        assert _embed(*args) == 2, args
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("seqkeras: error") and message in lines[0], (args, lines)
    assert not (tmp_path / "x.npz").exists()
    # the console command itself: exit status 2, one line, no traceback
    result = _cli(bilm_run, "--out", tmp_path / "x.npz")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("seqkeras:")] == [
        "seqkeras: error: give at least one --text or a --file with non-blank lines"]
