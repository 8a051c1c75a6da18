"""ELMo: ScalarMix, the character-based biLM (causality, padding, loss), its embedder, the tagger mix.

Models that take one or two `fit`/`evaluate` steps on the tiny arrays below are compiled with
`run_eagerly=True`: the same train/test step runs op by op instead of being traced into a graph
first, which on these models costs far more than the steps (the traced path is exercised by the
real-text fit below, by `test_compile_and_fit_refuse_outside_targets` and by the pipelines).
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from seqkeras.losses import MaskedSparseCategoricalCrossentropy
from seqkeras.models.common import text_batches
from seqkeras.models.common.word_lookup import build_word_lookup
from seqkeras.models.elmo import (
    BidirectionalLanguageModel,
    ElmoEmbedder,
    ScalarMix,
    build_bidirectional_lm,
    tagger_preprocessor,
    word_sentences,
)
from seqkeras.models.elmo import _bilm_graph
from seqkeras.models.classifier import build_classifier, build_wide_and_deep_classifier
from seqkeras.models.tagger import build_tagger
from helpers import assert_causal, conllu_slice, reload_keras, run_layer_test

VOCAB = 20  # output word vocabulary
CHARS = 12  # character vocabulary
IDS = np.array([[5, 6, 7, 0, 0], [8, 9, 10, 11, 12]], dtype="int32")
MASK = IDS != 0


def _char_ids(mask=MASK, width=3, seed=0):
    """Random real characters for the real words, 0 (padding) elsewhere: (B, T, C)."""
    rng = np.random.default_rng(seed)
    chars = rng.integers(1, CHARS, size=mask.shape + (width,)).astype("int32")
    chars[..., -1] = np.where(rng.random(mask.shape) < 0.5, 0, chars[..., -1])  # some shorter words
    return np.where(mask[..., None], chars, 0).astype("int32")


CHAR_IDS = _char_ids()


def _inputs(ids=IDS, chars=CHAR_IDS, mask=None):
    return {"token_ids": ids, "char_ids": chars, "padding_mask": ids != 0 if mask is None else mask}


@pytest.fixture(scope="module")
def bilm():
    keras.utils.set_random_seed(0)
    return build_bidirectional_lm(
        VOCAB, CHARS, char_embedding_dim=4, char_filters=6, hidden_dim=8, num_layers=2, dropout=0.0
    )


# ------------------------------------------------------------------------------------------------
# ScalarMix
# ------------------------------------------------------------------------------------------------
def test_scalar_mix_matches_numpy():
    rng = np.random.default_rng(0)
    layers = [rng.normal(size=(2, 5, 4)).astype("float32") for _ in range(3)]
    mix = ScalarMix()
    np.testing.assert_allclose(mix(layers).numpy(), np.mean(layers, axis=0), atol=1e-6)  # s = 0, gamma = 1
    s, gamma = np.array([0.5, -1.0, 2.0], "float32"), np.float32(1.5)
    mix.set_weights([s, gamma])
    weights = np.exp(s) / np.exp(s).sum()
    expected = gamma * sum(w * h for w, h in zip(weights, layers))
    np.testing.assert_allclose(mix(layers).numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(mix(np.stack(layers, axis=-2)).numpy(), expected, atol=1e-5)  # [B, T, L, D]
    np.testing.assert_allclose(mix.mix_weights(), weights, atol=1e-6)


def test_scalar_mix_with_layer_norm_mixes_standardised_layers():
    rng = np.random.default_rng(2)
    layers = [scale * rng.normal(size=(2, 5, 4)).astype("float32") + shift
              for scale, shift in ((1.0, 0.0), (10.0, 3.0), (0.1, -2.0))]
    mix = ScalarMix(layer_norm=True)
    mix(layers)
    s, gamma = np.array([0.5, -1.0, 2.0], "float32"), np.float32(1.5)
    mix.set_weights([s, gamma])
    weights = np.exp(s) / np.exp(s).sum()
    standardised = [(h - h.mean(-1, keepdims=True)) / np.sqrt(h.var(-1, keepdims=True) + 1e-6) for h in layers]
    expected = gamma * sum(w * h for w, h in zip(weights, standardised))
    np.testing.assert_allclose(mix(layers).numpy(), expected, atol=1e-4)
    padding = np.zeros((1, 2, 4), "float32")  # all-zero (padded) positions stay zero, not NaN
    np.testing.assert_array_equal(mix([padding] * 3).numpy(), padding[..., :4])
    assert ScalarMix.from_config(mix.get_config()).layer_norm is True


@pytest.mark.parametrize("layer_norm", [False, True])
def test_scalar_mix_layer_contract(layer_norm):
    stacked = np.random.default_rng(1).normal(size=(2, 5, 3, 4)).astype("float32")  # (B, T, L, D)
    run_layer_test(
        ScalarMix, {"layer_norm": layer_norm}, stacked, expected_output_shape=(2, 5, 4), mask=MASK,
        expected_num_trainable_weights=2,
    )


def test_scalar_mix_of_a_list_keeps_the_first_mask():
    ids = keras.Input((None,), dtype="int32", name="ids")
    layers = [keras.layers.Embedding(VOCAB, 4, mask_zero=True, name=f"layer_{j}")(ids) for j in range(2)]
    mixed = ScalarMix()(layers)  # (B, T, 4), masked where ids == 0
    assert tuple(mixed.shape) == (None, None, 4)
    model = keras.Model(ids, mixed)
    assert model(IDS)._keras_mask is not None
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model(IDS)._keras_mask), MASK)
    x = np.ones((2, 5, 4), "float32")
    eager = ScalarMix()([x, x], mask=[MASK, ~MASK])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(eager._keras_mask), MASK)


def test_scalar_mix_rejects_bad_inputs():
    with pytest.raises(ValueError, match="`layer_norm` must be a bool. Received: layer_norm='yes'"):
        ScalarMix(layer_norm="yes")
    with pytest.raises(ValueError, match="`epsilon` must be a positive finite number. Received: epsilon=0"):
        ScalarMix(epsilon=0)
    with pytest.raises(ValueError, match="`epsilon` must be a positive finite number. Received: epsilon='1e-6'"):
        ScalarMix(epsilon="1e-6")
    with pytest.raises(ValueError, match="at least one layer.*Received: input_shape=None"):
        ScalarMix()([])
    with pytest.raises(ValueError, match=r"one shape. Received: shapes=\[\(1, 2, 3\), \(1, 2, 4\)\]"):
        ScalarMix()([np.zeros((1, 2, 3), "float32"), np.zeros((1, 2, 4), "float32")])
    with pytest.raises(ValueError, match=r"Received: shape=\(2, 3\)"):
        ScalarMix()(np.zeros((2, 3), "float32"))
    mix = ScalarMix()
    mix([np.zeros((1, 2, 3), "float32")] * 3)
    with pytest.raises(ValueError, match="built for 3 layers. Received: 2 layers"):
        mix([np.zeros((1, 2, 3), "float32")] * 2)


# ------------------------------------------------------------------------------------------------
# The biLM
# ------------------------------------------------------------------------------------------------
def test_bilm_shapes_masks_and_shared_layers(bilm):
    outputs = bilm(_inputs())
    assert sorted(outputs) == ["backward_logits", "forward_logits"]
    for logits in outputs.values():
        assert tuple(logits.shape) == (2, 5, VOCAB)
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(logits._keras_mask), MASK)
    names = [layer.name for layer in bilm.layers]
    assert names.count("word_logits") == 1 and names.count("char_encoder") == 1  # shared by both directions
    assert {"forward_lstm_1", "backward_lstm_1"} <= set(names) and "forward_lstm_2" not in names
    assert "token_ids" in {tensor.name for tensor in bilm.inputs}


def test_each_distinct_word_is_encoded_once_and_lands_at_every_position(bilm):
    """The token layer and its gradients equal the character encoder's run on every position."""
    chars = CHAR_IDS.copy()
    chars[1, 3] = chars[0, 0]  # one word in both rows
    chars[1, 1] = chars[1, 0]  # and twice in a row
    distinct, positions = _bilm_graph.DistinctWords()(chars)  # (1, U, C), (B, T)
    rows = {tuple(row) for row in chars.reshape(-1, chars.shape[2])}  # padded steps: one all-zero row
    assert distinct.shape == (1, len(rows), chars.shape[2]) and len(rows) < chars.shape[0] * chars.shape[1]
    np.testing.assert_array_equal(distinct.numpy()[0][positions.numpy()], chars)

    token = keras.Model(bilm.input, bilm.get_layer("token_projection").output)
    encoder, projection = bilm.get_layer("char_encoder"), bilm.get_layer("token_projection")
    weights = tf.constant(np.random.default_rng(0).normal(size=(2, 5, 8)), "float32")
    variables = encoder.trainable_variables
    with tf.GradientTape(persistent=True) as tape:
        got = token(_inputs(chars=chars))  # (B, T, H)
        expected = projection(encoder(chars))  # every position through the encoder
        got_sum, expected_sum = tf.reduce_sum(got * weights), tf.reduce_sum(expected * weights)
    np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-6)
    for got_grad, expected_grad in zip(tape.gradient(got_sum, variables), tape.gradient(expected_sum, variables)):
        np.testing.assert_allclose(tf.convert_to_tensor(got_grad).numpy(), tf.convert_to_tensor(expected_grad).numpy(),
                                   atol=1e-5)


def _ids_from(values):
    """Arbitrary floats -> valid character ids 1..CHARS-1, position by position."""
    return (np.floor(np.abs(values) * 7.0) % (CHARS - 1) + 1).astype("int32")


def _logits_of(bilm, direction, chars_from_values):
    """`call(values, mask)` for `assert_causal`: values (B, T, C) floats read as character ids."""

    def call(values, mask):
        chars = _ids_from(chars_from_values(values))
        ids = np.full(chars.shape[:2], 5, "int32")
        return bilm(_inputs(ids, chars, np.ones(chars.shape[:2], bool)))[f"{direction}_logits"]

    return call


@pytest.mark.parametrize("step", [0, 2, 4])
def test_forward_lm_ignores_later_words(bilm, step):
    values = np.random.default_rng(step).normal(size=(2, 6, 3)).astype("float32")
    assert_causal(_logits_of(bilm, "forward", lambda v: v), values, step)


@pytest.mark.parametrize("step", [0, 2, 4])
def test_backward_lm_ignores_earlier_words(bilm, step):
    """The mirror image: reversed in time, the backward LM must be causal."""
    values = np.random.default_rng(step).normal(size=(2, 6, 3)).astype("float32")
    forward_in_time = _logits_of(bilm, "backward", lambda v: v[:, ::-1])
    assert_causal(lambda v, m: np.asarray(forward_in_time(v, m))[:, ::-1], values, step)


def test_each_direction_reads_its_own_side(bilm):
    """Non-vacuous causality: word t + 1 moves the forward LM at t + 1 and the backward LM at t."""
    chars = CHAR_IDS[1:].copy()  # the row with five real words
    edited = chars.copy()
    edited[0, 3] = [7, 8, 9]
    a, b = bilm(_inputs(IDS[1:], chars)), bilm(_inputs(IDS[1:], edited))
    for direction, moved, kept in (("forward", 3, 2), ("backward", 2, 4)):
        before, after = a[f"{direction}_logits"].numpy()[0], b[f"{direction}_logits"].numpy()[0]
        assert not np.allclose(before[moved], after[moved]), direction
        np.testing.assert_allclose(before[kept], after[kept], atol=1e-5)


def test_extra_padding_changes_no_real_step(bilm):
    padded_ids = np.pad(IDS, ((0, 0), (0, 3)))  # three more padded steps
    padded_chars = np.pad(CHAR_IDS, ((0, 0), (0, 3), (0, 4)))  # and four more character slots
    base, padded = bilm(_inputs()), bilm(_inputs(padded_ids, padded_chars))
    alone = bilm(_inputs(IDS[:1, :3], CHAR_IDS[:1, :3]))  # row 0 without any padding
    for key in base:
        np.testing.assert_allclose(padded[key].numpy()[:, :5][MASK], base[key].numpy()[MASK], atol=1e-5)
        np.testing.assert_allclose(base[key].numpy()[0, :3], alone[key].numpy()[0], atol=1e-5)


def _numpy_nll(logits, targets):
    log_probabilities = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True))
    log_probabilities -= logits.max(-1, keepdims=True)
    return -np.take_along_axis(log_probabilities, targets[..., None], axis=-1)[..., 0]


def _numpy_direction_losses(outputs, ids, mask):
    """Mean NLL per direction over the real targets only, and the number of targets."""
    forward_nll = _numpy_nll(outputs["forward_logits"][:, :-1], ids[:, 1:])  # t predicts t + 1
    forward_real = mask[:, :-1] & mask[:, 1:]
    backward_nll = _numpy_nll(outputs["backward_logits"][:, 1:], ids[:, :-1])  # t predicts t - 1
    backward_real = mask[:, 1:] & mask[:, :-1]
    return {
        "forward": (forward_nll[forward_real].sum(), forward_real.sum()),
        "backward": (backward_nll[backward_real].sum(), backward_real.sum()),
    }


def test_loss_averages_real_targets_only(bilm):
    x = _inputs()
    outputs = {key: value.numpy() for key, value in bilm(x).items()}
    sums = _numpy_direction_losses(outputs, IDS, MASK)
    assert sums["forward"][1] == sums["backward"][1] == 2 + 4  # rows of 3 and 5 words
    expected = sum(total / count for total, count in sums.values())
    np.testing.assert_allclose(float(bilm.compute_loss(x, y_pred=bilm(x))), expected, rtol=1e-5)
    # Ids at padded positions are no target of anything.
    junk = IDS.copy()
    junk[~MASK] = 13
    np.testing.assert_allclose(
        float(bilm.compute_loss(_inputs(junk, mask=MASK), y_pred=bilm(x))), expected, rtol=1e-5
    )
    targets = BidirectionalLanguageModel.language_model_targets(IDS, MASK)
    np.testing.assert_array_equal(targets["forward"][0].numpy()[0], [6, 7, 0, 0, 0])
    np.testing.assert_array_equal(targets["backward"][0].numpy()[1], [0, 8, 9, 10, 11])
    np.testing.assert_array_equal(targets["backward"][1].numpy()[0], [0, 1, 1, 0, 0])


def test_zero_softmax_gives_log_vocabulary_per_direction():
    """Constant weights: all-zero logits cost exactly log(V) per target in each direction."""
    model = build_bidirectional_lm(VOCAB, CHARS, char_filters=4, hidden_dim=4, num_layers=1, dropout=0.0)
    head = model.get_layer("word_logits")
    head.set_weights([np.zeros_like(w) for w in head.get_weights()])
    model.compile("sgd", run_eagerly=True)
    result = model.evaluate(_inputs(), verbose=0, return_dict=True)
    np.testing.assert_allclose(result["forward_loss"], np.log(VOCAB), rtol=1e-6)
    np.testing.assert_allclose(result["backward_loss"], np.log(VOCAB), rtol=1e-6)
    np.testing.assert_allclose(result["loss"], 2 * np.log(VOCAB), rtol=1e-6)


def test_evaluate_weights_every_target_equally(bilm):
    """`forward_loss` over several batches is the corpus mean per target (perplexity-ready)."""
    batches = [_inputs(IDS[:1, :3], CHAR_IDS[:1, :3]), _inputs(IDS[1:], CHAR_IDS[1:])]  # 2 and 4 targets
    signature = {
        "token_ids": tf.TensorSpec((None, None), tf.int32),
        "char_ids": tf.TensorSpec((None, None, None), tf.int32),
        "padding_mask": tf.TensorSpec((None, None), tf.bool),
    }
    data = tf.data.Dataset.from_generator(lambda: iter(batches), output_signature=signature)
    data = data.apply(tf.data.experimental.assert_cardinality(len(batches)))
    bilm.compile("sgd", run_eagerly=True)
    result = bilm.evaluate(data, verbose=0, return_dict=True)
    totals = {"forward": [0.0, 0], "backward": [0.0, 0]}
    for batch in batches:
        outputs = {key: value.numpy() for key, value in bilm(batch).items()}
        for direction, (total, count) in _numpy_direction_losses(outputs, batch["token_ids"], batch["padding_mask"]).items():
            totals[direction][0] += total
            totals[direction][1] += count
    for direction, (total, count) in totals.items():
        np.testing.assert_allclose(result[f"{direction}_loss"], total / count, rtol=1e-5)


def test_compile_and_fit_refuse_outside_targets(bilm):
    with pytest.raises(ValueError, match="compile it without a loss. Received: loss='mse'"):
        bilm.compile("adam", "mse")
    bilm.compile("sgd")
    with pytest.raises(ValueError, match=r"pass inputs only.*Received: y with shape \(None, 5\)"):
        bilm.fit(_inputs(), IDS, verbose=0)


@pytest.mark.parametrize("num_sampled", [VOCAB, -1, True, 2.5])
def test_compile_refuses_a_bad_sample_size(bilm, num_sampled):
    with pytest.raises(ValueError, match=rf"vocabulary_size=20\).*Received: num_sampled={num_sampled!r}"):
        bilm.compile("sgd", num_sampled=num_sampled)


@pytest.mark.slow
def test_sampled_softmax_trains_the_same_layers_and_round_trips():
    """The sampled softmax changes training only: same weights, same outputs, saved with its setting."""
    keras.utils.set_random_seed(2)
    model = build_bidirectional_lm(VOCAB, CHARS, char_filters=4, hidden_dim=4, num_layers=2, dropout=0.1)
    names = [w.path for w in model.weights]
    model.compile(keras.optimizers.Adam(1e-2), num_sampled=5, run_eagerly=True)
    before = {w.path: w.numpy().copy() for w in model.weights}
    model.fit(_inputs(), verbose=0)
    assert [w.path for w in model.weights] == names  # the helper model adds no weights
    changed = {w.path for w in model.weights if not np.array_equal(before[w.path], w.numpy())}
    assert {"word_logits/kernel", "forward_lstm_0/cell/kernel", "backward_lstm_1/cell/kernel",
            "char_encoder/char_embedding/embeddings"} <= changed  # the softmax and both stacks learn
    reloaded = reload_keras(model)
    assert reloaded.num_sampled == 5 and [w.path for w in reloaded.weights] == names
    for key, value in model(_inputs()).items():
        np.testing.assert_allclose(reloaded(_inputs())[key].numpy(), value.numpy(), atol=1e-6)
    reloaded.fit(_inputs(), verbose=0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"hidden_dim": 0}, "Received: hidden_dim=0"),
        ({"num_layers": -1}, "Received: num_layers=-1"),
        ({"char_vocabulary_size": None}, "Received: char_vocabulary_size=None"),
        ({"dropout": 1.0}, "Received: dropout=1.0"),
        ({"train_matmul_dtype": "float16"}, "Received: train_matmul_dtype='float16'"),
    ],
)
def test_bad_arguments(kwargs, message):
    arguments = {"vocabulary_size": VOCAB, "char_vocabulary_size": CHARS, **kwargs}
    with pytest.raises(ValueError, match=message):
        build_bidirectional_lm(**arguments)


@pytest.mark.slow
def test_bilm_round_trip_keeps_outputs_and_compilation():
    keras.utils.set_random_seed(2)
    model = build_bidirectional_lm(VOCAB, CHARS, char_filters=4, hidden_dim=4, num_layers=1, dropout=0.1)
    model.compile(keras.optimizers.Adam(1e-2), run_eagerly=True)
    model.fit(_inputs(), verbose=0)
    reloaded = reload_keras(model)
    assert isinstance(reloaded, BidirectionalLanguageModel) and reloaded.compiled
    assert int(reloaded.optimizer.iterations.numpy()) == 1
    for key, value in model(_inputs()).items():
        np.testing.assert_allclose(reloaded(_inputs())[key].numpy(), value.numpy(), atol=1e-6)
    reloaded.fit(_inputs(), verbose=0)  # trains on inputs alone after loading too


# ------------------------------------------------------------------------------------------------
# The embedder
# ------------------------------------------------------------------------------------------------
def test_embedder_layers_are_the_bilm_states(bilm):
    embedder = ElmoEmbedder.from_bilm(bilm)
    x = {"char_ids": CHAR_IDS, "padding_mask": MASK}
    layers = [layer.numpy() for layer in embedder(x)]
    assert [layer.shape for layer in layers] == [(2, 5, 16)] * 3  # L + 1 = 3 layers of 2 * hidden_dim
    assert "distinct_words" in {layer.name for layer in bilm.layers}  # the embedder: no UniqueV2, which TFLite lacks
    assert "distinct_words" not in {layer.name for layer in embedder.layers}
    names = ["token_projection", "forward_lstm_0", "backward_lstm_0", "forward_lstm_1", "backward_lstm_1"]
    probe = keras.Model(bilm.inputs, [bilm.get_layer(name).output for name in names])
    token, forward_0, backward_0, forward_1, backward_1 = [s.numpy() for s in probe(_inputs())]

    def aligned(backward):  # the backward LSTM runs over reversed real steps: undo per row
        out = backward.copy()
        for row, length in enumerate(MASK.sum(axis=1)):
            out[row, :length] = backward[row, :length][::-1]
        return out

    np.testing.assert_allclose(layers[0], np.concatenate([token, token], -1), atol=1e-6)
    for layer, forward, backward in ((layers[1], forward_0, backward_0), (layers[2], forward_1, backward_1)):
        np.testing.assert_allclose(layer[MASK], np.concatenate([forward, aligned(backward)], -1)[MASK], atol=1e-6)


def test_bfloat16_products_train_the_bilm_and_the_embedder_computes_in_float32():
    """`train_matmul_dtype="bfloat16"` reaches every LSTM of the biLM, survives saving, and leaves the
    embedder's copies in float32: a downstream model trains on the features it is served."""
    keras.utils.set_random_seed(3)
    model = build_bidirectional_lm(VOCAB, CHARS, char_filters=4, hidden_dim=4, num_layers=2, dropout=0.0,
                                   train_matmul_dtype="bfloat16")
    lstms = [_bilm_graph.forward_name(0), _bilm_graph.backward_name(0), _bilm_graph.forward_name(1),
             _bilm_graph.backward_name(1)]
    assert [model.get_layer(name).train_matmul_dtype for name in lstms] == ["bfloat16"] * 4
    model.compile(keras.optimizers.Adam(1e-2), num_sampled=5, run_eagerly=True)
    before = model.get_layer("forward_lstm_1").cell.kernel.numpy().copy()
    logs = model.fit(_inputs(), verbose=0).history
    assert np.isfinite(logs["loss"][0]) and not np.array_equal(before, model.get_layer("forward_lstm_1").cell.kernel.numpy())
    assert [reload_keras(model).get_layer(name).train_matmul_dtype for name in lstms] == ["bfloat16"] * 4
    embedder = ElmoEmbedder.from_bilm(model)
    assert [embedder.get_layer(name).train_matmul_dtype for name in lstms] == [None] * 4
    x = {"char_ids": CHAR_IDS, "padding_mask": MASK}
    for trained, served in zip(embedder(x, training=True), embedder(x, training=False)):
        np.testing.assert_array_equal(trained.numpy(), served.numpy())


def test_embedder_is_a_frozen_copy(bilm):
    embedder = ElmoEmbedder.from_bilm(bilm)
    assert not embedder.trainable and embedder.trainable_weights == []
    assert len(embedder.non_trainable_weights) == 3 + 2 + 4 * 3  # characters, projection, 4 LSTMs
    assert bilm.get_layer("forward_lstm_0").trainable  # the biLM itself is left alone
    assert ElmoEmbedder.from_bilm(bilm, trainable=True).trainable_weights
    with pytest.raises(ValueError, match="Expected a model from `build_bidirectional_lm`.*Received: model 'tagger'"):
        ElmoEmbedder.from_bilm(build_tagger(VOCAB, 3, hidden_dim=4, embedding_dim=4))


@pytest.mark.slow
def test_embedder_exports_and_serves(tmp_path):
    keras.utils.set_random_seed(1)  # one LSTM layer per direction: a cheaper export than the 2-layer fixture's
    bilm = build_bidirectional_lm(VOCAB, CHARS, char_embedding_dim=4, char_filters=6, hidden_dim=8, num_layers=1)
    embedder = ElmoEmbedder.from_bilm(bilm)
    embedder.export(str(tmp_path / "elmo"), verbose=False)
    loaded = tf.saved_model.load(str(tmp_path / "elmo"))
    served = loaded.serve({"char_ids": tf.constant(CHAR_IDS), "padding_mask": tf.constant(MASK)})
    expected = embedder({"char_ids": CHAR_IDS, "padding_mask": MASK})
    assert len(served) == len(expected) == 2  # L + 1 layers: the token layer and the LSTM layer
    for got, want in zip(served, expected):
        np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-5)


# ------------------------------------------------------------------------------------------------
# Data and a short fit on real text
# ------------------------------------------------------------------------------------------------
def test_word_sentences_keeps_punctuation_and_case():
    assert word_sentences(["The cat, sadly, sat.", "Hi"], min_words=2) == [
        ["The", "cat", ",", "sadly", ",", "sat", "."]
    ]
    assert word_sentences(["a b c d"], max_words=3) == []
    with pytest.raises(ValueError, match="Received: min_words=0"):
        word_sentences(["a"], min_words=0)


def test_tagger_preprocessor_shares_the_bilm_characters():
    bilm_lookup = build_word_lookup([["The", "cat", "sat"]], min_count=1, max_word_length=5)
    lookup = tagger_preprocessor([["A", "dog", "sat"], ["a", "dog"]], bilm_lookup, min_count=2)
    assert lookup.char_vocabulary.tokens == bilm_lookup.char_vocabulary.tokens and lookup.max_word_length == 5
    assert lookup.tokens[4:] == ["a", "dog"]
    chars = lookup(tf.constant(["Tax"]))["char_ids"].numpy()[0, 0]
    np.testing.assert_array_equal(chars, bilm_lookup.char_vocabulary.lookup(["T", "a", "x"]).numpy())
    with pytest.raises(ValueError, match="Received: bilm_preprocessor"):
        tagger_preprocessor([["a"]], build_word_lookup([["a"]], min_count=1, characters=False))


@pytest.fixture(scope="module")
def real_sentences(ewt_dir, tmp_path_factory):
    pytest.importorskip("gensim", reason="the Wikipedia excerpt ships with gensim")
    from seqkeras.data.corpora import read_conllu, wiki_sentences

    wiki = word_sentences(wiki_sentences()[:400], min_words=4, max_words=30)[:100]
    # the first 100 EWT training sentences (parsed from a slice: the whole file takes seconds)
    first = conllu_slice(ewt_dir / "en_ewt-ud-train.conllu.gz", tmp_path_factory.mktemp("ewt") / "train.conllu", 100)
    ewt = [list(s.words) for s in read_conllu(first)]
    assert len(ewt) == 100
    return wiki + ewt


@pytest.mark.slow
def test_bilm_learns_from_real_sentences(real_sentences):
    """Ten Adam steps on 200 Wikipedia + EWT sentences lower both directions' full-softmax loss,
    also when training with a sampled softmax (40 of the 200 words per step). Both runs start
    from the same weights, so the loss before training is evaluated once."""
    lookup = build_word_lookup(real_sentences, min_count=1, max_size=200)
    assert lookup.vocabulary_size == 200
    data = text_batches(lookup, [" ".join(words) for words in real_sentences], batching="sorted", batch_size=40,
                        shuffle=True, seed=0)
    keras.utils.set_random_seed(0)
    model = build_bidirectional_lm(
        lookup.vocabulary_size, lookup.char_vocabulary.size, char_filters=16, hidden_dim=8, num_layers=1, dropout=0.0
    )
    initial = model.get_weights()
    model.compile(keras.optimizers.Adam(3e-2))
    before = model.evaluate(data, verbose=0, return_dict=True)
    for num_sampled in (0, 40):
        if num_sampled:
            keras.utils.set_random_seed(0)
            model = build_bidirectional_lm(lookup.vocabulary_size, lookup.char_vocabulary.size, char_filters=16,
                                           hidden_dim=8, num_layers=1, dropout=0.0)
            model.set_weights(initial)
            model.compile(keras.optimizers.Adam(3e-2), num_sampled=num_sampled)
        history = model.fit(data, epochs=2, verbose=0, shuffle=False)
        after = model.evaluate(data, verbose=0, return_dict=True)
        if num_sampled:  # the training loss is the sampled one: below the full loss of the same weights
            assert history.history["forward_loss"][-1] < after["forward_loss"]
        for key in ("forward_loss", "backward_loss"):
            assert after[key] < before[key] - 0.5, (num_sampled, key, before, after)


# ------------------------------------------------------------------------------------------------
# The tagger with ELMo layers
# ------------------------------------------------------------------------------------------------
def _tagger(embedder, char_vocabulary_size=CHARS, **options):
    keras.utils.set_random_seed(3)
    return build_tagger(
        VOCAB, 4, hidden_dim=4, embedding_dim=4, char_vocabulary_size=char_vocabulary_size, char_filters=4,
        contextual_layers=embedder, dropout=0.1, **options,
    )


def test_the_mix_takes_its_own_dropout_and_layer_norm(bilm):
    embedder = ElmoEmbedder.from_bilm(bilm)
    default = _tagger(embedder)  # the mix: the model's dropout, no normalisation
    assert default.get_layer("contextual_dropout").rate == 0.1 and not default.get_layer("contextual_mix").layer_norm
    assert "contextual_dropout" not in [layer.name for layer in _tagger(embedder, contextual_dropout=0.0).layers]
    tagger = _tagger(embedder, contextual_dropout=0.3, contextual_layer_norm=True)
    assert tagger.get_layer("contextual_dropout").rate == 0.3 and tagger.get_layer("contextual_mix").layer_norm
    backbone = tagger.get_layer("backbone")
    assert (backbone.contextual_dropout, backbone.contextual_layer_norm) == (0.3, True)
    reloaded = reload_keras(tagger)
    assert reloaded.get_layer("contextual_mix").layer_norm and reloaded.get_layer("contextual_dropout").rate == 0.3
    np.testing.assert_allclose(reloaded(_inputs()).numpy(), tagger(_inputs()).numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="`contextual_dropout`.*Received: contextual_dropout=1.5"):
        _tagger(embedder, contextual_dropout=1.5)


@pytest.mark.slow
def test_tagger_with_elmo_trains_the_mix_and_round_trips(bilm):
    embedder = ElmoEmbedder.from_bilm(bilm)
    tagger = _tagger(embedder)
    frozen = [w.numpy().copy() for w in embedder.weights]
    assert not any(w.path.startswith(("forward_lstm", "backward_lstm", "token_projection"))
                   for w in tagger.trainable_weights)
    mix = tagger.get_layer("contextual_mix")
    tagger.compile(keras.optimizers.Adam(1e-2), MaskedSparseCategoricalCrossentropy(from_logits=True), run_eagerly=True)
    tagger.fit(_inputs(), IDS % 4, verbose=0)
    assert not np.allclose(mix.get_weights()[0], 0.0)  # the mix learned
    for before, weight in zip(frozen, embedder.weights):
        np.testing.assert_array_equal(weight.numpy(), before)  # the biLM did not

    reloaded = reload_keras(tagger)
    np.testing.assert_allclose(reloaded(_inputs()).numpy(), tagger(_inputs()).numpy(), atol=1e-6)
    assert len(reloaded.trainable_weights) == len(tagger.trainable_weights)  # still frozen after loading
    reloaded.fit(_inputs(), IDS % 4, verbose=0)
    np.testing.assert_array_equal(reloaded.get_layer("elmo_embedder").weights[0].numpy(), frozen[0])


def test_tagger_without_contextual_layers_is_unchanged():
    keras.utils.set_random_seed(0)
    model = build_tagger(VOCAB, 4, hidden_dim=4, embedding_dim=4)
    assert "contextual_mix" not in [layer.name for layer in model.layers]
    assert sorted(tensor.name for tensor in model.inputs) == ["padding_mask", "token_ids"]


def test_tagger_rejects_a_character_vocabulary_the_bilm_does_not_read(bilm):
    embedder = ElmoEmbedder.from_bilm(bilm)
    with pytest.raises(ValueError, match=f"must be its character vocabulary size, {CHARS}.*Received: char_vocabulary_size=13"):
        _tagger(embedder, char_vocabulary_size=13)
    with pytest.raises(ValueError, match="Received: char_vocabulary_size=None"):
        _tagger(embedder, char_vocabulary_size=None)
    with pytest.raises(ValueError, match=r"inputs `char_ids` and `padding_mask`. Received: a model with inputs"):
        _tagger(bilm)
    with pytest.raises(ValueError, match="causal model cannot use them. Received: causal=True"):
        build_tagger(VOCAB, 4, char_vocabulary_size=CHARS, contextual_layers=embedder, causal=True)


def test_classifier_with_elmo_layers_trains_the_mix_and_round_trips(bilm):
    keras.utils.set_random_seed(4)
    classifier = build_wide_and_deep_classifier(
        VOCAB, 3, hidden_dim=4, embedding_dim=4, char_vocabulary_size=CHARS, char_filters=4,
        contextual_layers=ElmoEmbedder.from_bilm(bilm), wide_buckets=11, wide_char_buckets=32,
    )
    classifier.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                       run_eagerly=True)
    classifier.fit(_inputs(), np.arange(len(IDS)) % 3, verbose=0)
    assert not np.allclose(classifier.get_layer("contextual_mix").get_weights()[0], 0.0)  # the mix learned
    reloaded = reload_keras(classifier)
    np.testing.assert_allclose(reloaded(_inputs()).numpy(), classifier(_inputs()).numpy(), atol=1e-6)
    assert len(reloaded.trainable_weights) == len(classifier.trainable_weights)
    with pytest.raises(ValueError, match="causal model cannot use them"):
        build_classifier(VOCAB, 3, char_vocabulary_size=CHARS, contextual_layers=ElmoEmbedder.from_bilm(bilm),
                         causal=True, pooling="last")


@pytest.mark.slow
def test_tagger_with_elmo_serves_raw_text(tmp_path):
    """The SavedModel exporter's text signature runs the frozen biLM inside the tagger."""
    from export.saved_model import export_saved_model, text_task_arguments
    from seqkeras.models.common.text_task import TextTask

    texts = ["The cat sat on the mat .", "Dogs bark", "A bird sang"]
    words = [text.split() for text in texts]
    bilm_lookup = build_word_lookup(words, min_count=1)
    keras.utils.set_random_seed(5)
    bilm = build_bidirectional_lm(bilm_lookup.vocabulary_size, bilm_lookup.char_vocabulary.size, hidden_dim=4,
                                  char_filters=4, num_layers=1)
    lookup = tagger_preprocessor(words, bilm_lookup, min_count=1)
    tagger = build_tagger(lookup.vocabulary_size, 3, hidden_dim=4, embedding_dim=4,
                          char_vocabulary_size=lookup.char_vocabulary.size, char_filters=4,
                          contextual_layers=ElmoEmbedder.from_bilm(bilm))
    task = TextTask(lookup, tagger, labels=["A", "B", "C"], task="tagger")
    path = export_saved_model(base_dir=str(tmp_path), task="tagger", **text_task_arguments(task))
    served = tf.saved_model.load(str(path)).signatures["tag_text"](text=tf.constant(texts))
    expected = tf.nn.softmax(task(tf.constant(texts))).numpy()  # (B, T, 3), the TextTask's own raw-text path
    for row, sentence in enumerate(words):
        np.testing.assert_allclose(served["tag_probabilities"][row, : len(sentence)].numpy(),
                                   expected[row, : len(sentence)], atol=1e-5)