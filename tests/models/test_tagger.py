"""Sequence -> sequence tagging: the head on `TextBackbone`, masks, causality, bad input, learning on EWT."""


import hypothesis
import hypothesis.strategies as st
import keras
import numpy as np
import pytest

from seqkeras.losses import MaskedSparseCategoricalCrossentropy
from seqkeras.models.common import (
    CharacterWordEncoder,
    ReverseValidSteps,
    TextBackbone,
    TextTask,
    TokenAccuracy,
    WordDropout,
    build_word_lookup,
    text_batches,
)
from seqkeras.models.tagger import MostFrequentTag, build_tagger
from helpers import conllu_slice, run_layer_test, reload_keras

IDS = np.array([[4, 5, 6, 0, 0], [7, 8, 9, 10, 11]], dtype="int32")
MASK = IDS != 0


def _inputs(ids=IDS, mask=None):
    return {"token_ids": ids, "padding_mask": ids != 0 if mask is None else mask}


@pytest.fixture(scope="module")
def bidirectional():
    keras.utils.set_random_seed(0)
    return build_tagger(vocabulary_size=20, num_tags=5, hidden_dim=6, embedding_dim=4)


def test_reverse_valid_steps_matches_numpy():
    x = np.arange(10, dtype="float32").reshape(2, 5, 1)
    out = ReverseValidSteps()(x, mask=MASK).numpy()[..., 0]
    expected = x[..., 0].copy()
    for row, length in enumerate(MASK.sum(axis=1)):
        expected[row, :length] = x[row, :length, 0][::-1]
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(ReverseValidSteps()(out[..., None], mask=MASK).numpy(), x)


def test_character_word_encoder_layer_contract():
    char_ids = np.array([[[3, 4, 0], [5, 0, 0], [0, 0, 0]]], dtype="int32")
    out = run_layer_test(
        CharacterWordEncoder,
        {"char_vocabulary_size": 8, "char_embedding_dim": 3, "filters": 4, "kernel_size": 2},
        char_ids,
        expected_output_shape=(1, 3, 4),
        mask=np.array([[True, True, False]]),
        expected_num_trainable_weights=3,
    )
    np.testing.assert_array_equal(np.asarray(out)[0, 2], np.zeros(4))  # an all-pad word


def test_word_dropout_replaces_real_words_by_oov_in_training_only():
    ids = np.tile(np.array([[4, 5, 6, 7, 8, 1, 2, 3, 0, 0]], dtype="int32"), (400, 1))
    layer = WordDropout(0.3, seed=1)
    np.testing.assert_array_equal(layer(ids, training=False).numpy(), ids)
    dropped = layer(ids, training=True).numpy()
    np.testing.assert_array_equal(dropped[:, 5:], ids[:, 5:])  # <oov>, <bos>, <eos>, padding kept
    changed = dropped[:, :5] != ids[:, :5]
    assert np.all(dropped[:, :5][changed] == 1)  # only ever to OOV_ID
    assert 0.27 < changed.mean() < 0.33
    assert WordDropout.from_config(layer.get_config()).rate == 0.3


def test_backbone_word_dropout_trains_the_oov_row_and_round_trips():
    """A tagger whose training text never holds <oov> still updates the <oov> embedding with word dropout."""
    keras.utils.set_random_seed(0)
    outputs = {}
    for rate in (0.0, 0.5):
        model = build_tagger(vocabulary_size=20, num_tags=5, hidden_dim=4, embedding_dim=4, word_dropout=rate)
        model.compile(keras.optimizers.Adam(1e-2), MaskedSparseCategoricalCrossentropy(from_logits=True),
                      run_eagerly=True)  # 3 steps on 2 rows: op by op is cheaper than tracing the step
        before = model.get_layer("backbone").get_layer("token_embedding").get_weights()[0][1].copy()
        model.fit(_inputs(), IDS % 5, epochs=3, verbose=0)
        after = model.get_layer("backbone").get_layer("token_embedding").get_weights()[0][1]
        outputs[rate] = not np.allclose(before, after)
    assert outputs == {0.0: False, 0.5: True}
    assert model.get_layer("backbone").word_dropout == 0.5
    reloaded = reload_keras(model)
    assert reloaded.get_layer("backbone").word_dropout == 0.5
    np.testing.assert_allclose(reloaded(_inputs()).numpy(), model(_inputs()).numpy(), atol=1e-6)  # inference: identity


def test_token_accuracy_counts_real_tokens_over_batches_of_any_width():
    """Two batches padded to different widths: the figure is correct tokens / real tokens (3/5)."""
    batches = [(np.array([[1, 2]]), np.eye(3)[[[1, 0]]], np.array([[1.0, 1.0]])),  # 1 of 2 right
               (np.array([[1, 2, 0, 0, 0, 0]]), np.eye(3)[[[1, 2, 0, 0, 0, 0]]], np.array([[1.0, 1, 1, 0, 0, 0]]))]
    metric = TokenAccuracy()
    for y, p, w in batches:
        metric.update_state(y, p, sample_weight=w)
    assert float(metric.result()) == pytest.approx(0.8)  # 4 of 5 real tokens right
    keras_mean = keras.metrics.SparseCategoricalAccuracy()
    for y, p, w in batches:
        keras_mean.update_state(y, p, sample_weight=w)
    assert float(keras_mean.result()) != pytest.approx(0.8)  # averages each row over its padded width first
    metric.reset_state()
    assert float(metric.result()) == 0.0 and TokenAccuracy.from_config(metric.get_config()).name == "accuracy"


def test_frozen_character_word_encoder_stays_frozen_after_reload():
    char_ids = keras.Input((None, None), dtype="int32")
    frozen = keras.Model(char_ids, CharacterWordEncoder(10, filters=4)(char_ids), name="frozen")
    frozen.trainable = False
    outer_ids = keras.Input((None, None), dtype="int32")
    model = keras.Model(outer_ids, keras.layers.Dense(2)(frozen(outer_ids)))
    assert len(reload_keras(model).trainable_weights) == len(model.trainable_weights) == 2


def test_character_word_encoder_ignores_how_far_characters_are_padded():
    keras.utils.set_random_seed(3)
    encoder = CharacterWordEncoder(char_vocabulary_size=12, char_embedding_dim=4, filters=5, kernel_size=3)
    words = np.array([[[3, 4, 5, 6], [6, 7, 0, 0]]], dtype="int32")  # (1, 2, 4); word 0 fills the axis
    wider = np.pad(words, ((0, 0), (0, 0), (0, 12)))  # the same words, 16 character slots
    np.testing.assert_allclose(encoder(words).numpy(), encoder(wider).numpy(), atol=1e-6)


def test_output_shape_and_mask(bidirectional):
    logits = bidirectional(_inputs())
    assert tuple(logits.shape) == (2, 5, 5)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(logits._keras_mask), MASK)


def test_padding_does_not_change_real_steps(bidirectional):
    padded = bidirectional(_inputs()).numpy()[0, :3]
    alone = bidirectional(_inputs(IDS[:1, :3])).numpy()[0]
    np.testing.assert_allclose(padded, alone, atol=1e-5)


@pytest.fixture(scope="module")
def causal():
    keras.utils.set_random_seed(1)
    return build_tagger(vocabulary_size=20, num_tags=5, hidden_dim=6, embedding_dim=4, causal=True, num_layers=2)


@hypothesis.settings(max_examples=8, deadline=None, derandomize=True)
@hypothesis.given(
    tokens=st.lists(st.integers(4, 19), min_size=6, max_size=6),
    changed=st.lists(st.integers(4, 19), min_size=6, max_size=6),
    t=st.integers(0, 5),
)
def test_causal_tagger_ignores_the_future(causal, tokens, changed, t):
    original = np.array([tokens], dtype="int32")
    edited = original.copy()
    edited[0, t + 1 :] = changed[t + 1 :]
    a = causal(_inputs(original)).numpy()
    b = causal(_inputs(edited)).numpy()
    np.testing.assert_allclose(a[0, : t + 1], b[0, : t + 1], atol=1e-5)


def test_bidirectional_tagger_sees_the_future(bidirectional):
    edited = IDS.copy()
    edited[1, 4] = 12
    a, b = bidirectional(_inputs()).numpy(), bidirectional(_inputs(edited)).numpy()
    assert not np.allclose(a[1, 0], b[1, 0])


def test_embedding_weights_and_freezing():
    weights = np.random.default_rng(0).normal(size=(20, 3)).astype("float32")
    model = build_tagger(20, 4, hidden_dim=4, embedding_weights=weights, embedding_trainable=False, causal=True)
    np.testing.assert_array_equal(model.get_layer("token_embedding").get_weights()[0], weights)
    assert not any("token_embedding" in w.path for w in model.trainable_weights)
    with pytest.raises(ValueError, match=r"embedding_weights.shape=\(19, 3\)"):
        build_tagger(20, 4, embedding_weights=weights[:19])
    with pytest.raises(ValueError, match="Received: embedding_dim=5"):
        build_tagger(20, 4, embedding_weights=weights, embedding_dim=5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"hidden_dim": -1}, "Received: hidden_dim=-1"),
        ({"num_tags": 0}, "Received: num_tags=0"),
        ({"cell": "gru"}, "Received: cell='gru'"),
        ({"dropout": 1.5}, "Received: dropout=1.5"),
    ],
)
def test_bad_arguments(kwargs, message):
    arguments = {"vocabulary_size": 20, "num_tags": 5, **kwargs}
    with pytest.raises(ValueError, match=message):
        build_tagger(**arguments)


def test_bad_inputs_name_the_value(bidirectional):
    with pytest.raises(TypeError, match="token_ids with shape=\\(2, 5\\), dtype=float32"):
        bidirectional({"token_ids": IDS.astype("float32"), "padding_mask": MASK})
    with pytest.raises(ValueError, match="must have rank 2.*shape=\\(2, 5, 1\\)"):
        bidirectional({"token_ids": IDS[..., None], "padding_mask": MASK})
    with pytest.raises(ValueError, match="padding_mask with shape=\\(2, 4\\)"):
        bidirectional({"token_ids": IDS, "padding_mask": MASK[:, :4]})
    with pytest.raises(ValueError, match="batch sizes: .*'padding_mask': 1"):
        bidirectional({"token_ids": IDS, "padding_mask": MASK[:1]})
    with pytest.raises(ValueError, match="zero time steps"):
        bidirectional({"token_ids": IDS[:, :0], "padding_mask": MASK[:, :0]})


def test_most_frequent_tag():
    baseline = MostFrequentTag().fit([["the", "dog", "runs"], ["the", "runs"]], [["DET", "NOUN", "VERB"], ["DET", "NOUN"]])
    # "runs" is VERB once and NOUN once: ties go to the alphabetically first tag.
    assert baseline.predict([["the", "runs", "cat"]]) == [["DET", "NOUN", "DET"]]
    with pytest.raises(ValueError, match="Received: 2 words, 1 tags"):
        MostFrequentTag().fit([["a", "b"]], [["X"]])


def test_a_tagger_head_on_a_given_backbone_shares_its_weights():
    keras.utils.set_random_seed(0)
    backbone = TextBackbone(20, hidden_dim=4, embedding_dim=4)
    first, second = build_tagger(num_tags=3, backbone=backbone), build_tagger(num_tags=5, backbone=backbone, name="t2")
    assert tuple(first(_inputs()).shape) == (2, 5, 3) and tuple(second(_inputs()).shape) == (2, 5, 5)
    shared = {id(w) for w in backbone.weights}
    assert shared <= {id(w) for w in first.weights} and shared <= {id(w) for w in second.weights}
    with pytest.raises(ValueError, match="either `backbone`"):
        build_tagger(20, 3, backbone=backbone)


@pytest.fixture(scope="module")
def ewt_slice(ewt_dir, tmp_path_factory):
    from seqkeras.data.corpora import read_conllu

    # the first 400 training and 150 dev sentences, parsed from slices (the whole files take seconds)
    folder = tmp_path_factory.mktemp("ewt")
    train = read_conllu(conllu_slice(ewt_dir / "en_ewt-ud-train.conllu.gz", folder / "train.conllu", 400))
    dev = read_conllu(conllu_slice(ewt_dir / "en_ewt-ud-dev.conllu.gz", folder / "dev.conllu", 150))
    assert len(train) == 400 and len(dev) == 150
    return train, dev


def test_tagger_learns_ewt_upos(ewt_slice):
    """A tiny BiLSTM on 400 EWT sentences, fed raw text through its TokenLookup, beats the commonest tag."""
    train, dev = ewt_slice
    tags = sorted({t for s in train for t in s.upos})
    lookup = build_word_lookup([s.words for s in train], min_count=1)
    keras.utils.set_random_seed(0)
    model = build_tagger(
        lookup.vocabulary_size, len(tags), hidden_dim=16, embedding_dim=16,
        char_vocabulary_size=lookup.char_vocabulary.size, char_filters=16,
    )
    model.compile(keras.optimizers.Adam(1e-2), MaskedSparseCategoricalCrossentropy(from_logits=True))
    dataset = text_batches(lookup, [" ".join(s.words) for s in train], [[tags.index(t) for t in s.upos] for s in train],
                           batching="sorted", batch_size=32)
    history = model.fit(dataset, epochs=3, verbose=0, shuffle=False)
    assert history.history["loss"][-1] < 0.6 * history.history["loss"][0]
    task = TextTask(lookup, model, labels=tags, task="tagger")
    outputs = task.predict_texts([" ".join(s.words) for s in dev])
    gold = [np.array([tags.index(t) if t in tags else -1 for t in s.upos]) for s in dev]
    accuracy = np.mean(np.concatenate([o.argmax(-1) == g for o, g in zip(outputs, gold)]))
    commonest = max(tags, key=lambda tag: sum(s.upos.count(tag) for s in train))
    majority = np.mean([t == commonest for s in dev for t in s.upos])
    assert accuracy > majority + 0.4, (accuracy, majority)


def test_frozen_random_embedding_still_learns(ewt_slice):
    """Regression: freezing the token embedding must not stop the rest of the tagger learning.

    A frozen random matrix on word2vec's scale (mean row norm ~1.5) stands in for pretrained
    vectors: the loss falls clearly within a few steps and only the embedding stays put.
    """
    train, _ = ewt_slice
    sentences = train[:64]
    tags = sorted({t for s in train for t in s.upos})
    lookup = build_word_lookup([s.words for s in sentences], min_count=1, characters=False)
    weights = np.random.default_rng(0).uniform(-0.45, 0.45, (lookup.vocabulary_size, 32)).astype("float32")
    keras.utils.set_random_seed(0)
    model = build_tagger(
        lookup.vocabulary_size, len(tags), hidden_dim=32, embedding_weights=weights, embedding_trainable=False
    )
    model.compile(keras.optimizers.Adam(3e-2), MaskedSparseCategoricalCrossentropy(from_logits=True))
    dataset = text_batches(lookup, [" ".join(s.words) for s in sentences],
                           [[tags.index(t) for t in s.upos] for s in sentences], batching="sorted", shuffle=False)
    before = {w.path: w.numpy().copy() for w in model.weights}
    loss = model.fit(dataset, epochs=8, verbose=0).history["loss"]  # 2 batches: 16 steps
    assert loss[0] > 0.8 * np.log(len(tags)), loss  # the first epoch starts near chance
    assert loss[-1] < 0.6 * loss[0], loss
    for weight in model.weights:
        frozen = "token_embedding" in weight.path
        assert np.array_equal(weight.numpy(), before[weight.path]) == frozen, weight.path


@pytest.mark.parametrize(
    "loss",
    [
        MaskedSparseCategoricalCrossentropy(),
        keras.losses.SparseCategoricalCrossentropy(),
        "sparse_categorical_crossentropy",
        keras.losses.sparse_categorical_crossentropy,
        {"tag_logits": "sparse_categorical_crossentropy"},
    ],
    ids=["masked", "keras", "name", "function", "dict"],
)
def test_compile_rejects_losses_expecting_probabilities(bidirectional, loss):
    """The tagger outputs logits; a `from_logits=False` cross-entropy clips them and stalls training."""
    with pytest.raises(ValueError, match="outputs logits.*from_logits=True"):
        bidirectional.compile("adam", loss)


def test_compile_accepts_logit_losses():
    model = build_tagger(vocabulary_size=20, num_tags=5, hidden_dim=4, embedding_dim=4)
    for loss in (MaskedSparseCategoricalCrossentropy(from_logits=True), "mse", None):
        model.compile("adam", loss)
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))


@pytest.mark.slow
def test_tagger_save_load_round_trip(bidirectional):
    reloaded = reload_keras(bidirectional)
    np.testing.assert_allclose(reloaded(_inputs()).numpy(), bidirectional(_inputs()).numpy(), atol=1e-6)


@pytest.mark.slow
def test_compiled_tagger_reloads_compiled():
    """`compile` is overridden (loss check), so the model recompiles itself on load."""
    keras.utils.set_random_seed(0)
    model = build_tagger(vocabulary_size=20, num_tags=5, hidden_dim=4, embedding_dim=4)
    model.compile(keras.optimizers.Adam(1e-2), MaskedSparseCategoricalCrossentropy(from_logits=True),
                  run_eagerly=True)  # one step: op by op is cheaper than tracing it
    model.fit(_inputs(), IDS % 5, verbose=0)
    reloaded = reload_keras(model)
    assert reloaded.compiled and int(reloaded.optimizer.iterations.numpy()) == 1
    assert reloaded.loss.from_logits
    np.testing.assert_allclose(reloaded(_inputs()).numpy(), model(_inputs()).numpy(), atol=1e-6)


def test_ensemble_of_taggers_averages_per_token_probabilities():
    """`build_ensemble` on taggers: [B, T, num_tags] logits whose softmax is the members' mean, per token;
    padding-independent like a member, and it reloads."""
    from seqkeras.models.common import build_ensemble

    members = []
    for k in range(3):
        keras.utils.set_random_seed(k)
        members.append(build_tagger(vocabulary_size=20, num_tags=5, hidden_dim=6, embedding_dim=4, name=f"member_{k}"))
    ensemble = build_ensemble(members, name="tagger_ensemble")
    logits = ensemble(_inputs())
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(logits._keras_mask), MASK)  # the members' mask
    out = logits.numpy()
    assert out.shape == (2, 5, 5)
    expected = np.mean([keras.ops.softmax(m(_inputs())).numpy() for m in members], axis=0)
    np.testing.assert_allclose(keras.ops.softmax(out).numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(ensemble(_inputs(IDS[:1, :3])).numpy(), out[:1, :3], atol=1e-5)  # real steps only
    np.testing.assert_allclose(reload_keras(ensemble)(_inputs()).numpy(), out, atol=1e-6)
    other = build_tagger(vocabulary_size=20, num_tags=6, hidden_dim=6, embedding_dim=4, name="wider")
    with pytest.raises(ValueError, match="one shape.*\\(None, None, 5\\).*\\(None, None, 6\\)"):
        build_ensemble([members[0], other])
