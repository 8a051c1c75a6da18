"""Label -> sequence: both conditionings, decoding, causality, bad input, digits -> names."""


import hypothesis
import hypothesis.strategies as st
import keras
import numpy as np
import pytest

from seqkeras.data.vocabulary import EOS_ID, PAD_ID
from seqkeras.losses import MaskedSparseCategoricalCrossentropy
from seqkeras.models.captioner import build_captioner
from seqkeras.data.digit_names import DIGIT_NAMES, load_digit_names
from seqkeras.models.seq2seq import ConditionalDecoder, generate
from seqkeras.models.seq2seq.teacher_forcing import ids_to_texts, teacher_forced
from helpers import reload_keras

LABEL = np.linspace(-1, 1, 8, dtype="float32").reshape(2, 4)
IDS = np.array([[2, 5, 6, 0], [2, 7, 8, 9]], dtype="int32")


def _inputs(label=LABEL, ids=IDS):
    return {"label": label, "token_ids": ids, "padding_mask": ids != 0}


@pytest.fixture(scope="module", params=["initial_state", "concat"])
def captioner(request):
    keras.utils.set_random_seed(0)
    return build_captioner(4, 12, hidden_dim=6, embedding_dim=4, conditioning=request.param)


def test_shapes_mask_and_label_dependence(captioner):
    logits = captioner(_inputs())
    assert tuple(logits.shape) == (2, 4, 12)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(logits._keras_mask), IDS != 0)
    other = captioner(_inputs(label=LABEL[::-1])).numpy()
    assert not np.allclose(logits.numpy()[0, 0], other[0, 0])  # the label conditions step 0


@hypothesis.settings(max_examples=6, deadline=None, derandomize=True)
@hypothesis.given(changed=st.lists(st.integers(4, 11), min_size=4, max_size=4), t=st.integers(0, 2))
def test_decoder_is_causal(captioner, changed, t):
    edited = IDS.copy()
    edited[1, t + 1 :] = changed[t + 1 :]
    a = captioner(_inputs()).numpy()
    b = captioner(_inputs(ids=edited)).numpy()
    np.testing.assert_allclose(a[1, : t + 1], b[1, : t + 1], atol=1e-5)


def test_greedy_generation_agrees_with_teacher_forcing(captioner):
    ids = generate(captioner, {"label": LABEL}, max_length=5)
    assert ids.shape == (2, 5) and ids.dtype == np.int32
    previous = np.concatenate([np.full((2, 1), 2, "int32"), ids[:, :-1]], axis=1)
    logits = captioner({"label": LABEL, "token_ids": previous, "padding_mask": np.ones((2, 5), bool)}).numpy()
    for row in range(2):
        stop = list(ids[row]).index(EOS_ID) + 1 if EOS_ID in ids[row] else 5
        np.testing.assert_array_equal(logits[row, :stop].argmax(-1), ids[row, :stop])
        assert np.all(ids[row, stop:] == PAD_ID)


def test_sampling_is_seeded(captioner):
    a = generate(captioner, {"label": LABEL}, max_length=6, strategy="sample", seed=7)
    b = generate(captioner, {"label": LABEL}, max_length=6, strategy="sample", seed=7)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="needs the conditioning inputs \\['label'\\]"):
        generate(captioner, {"image": LABEL}, max_length=6)
    with pytest.raises(ValueError, match="Received: strategy='beam'"):
        generate(captioner, {"label": LABEL}, max_length=6, strategy="beam")
    for temperature in (0, float("inf"), float("nan")):  # NaN and inf passed a `<= 0` check
        with pytest.raises(ValueError, match=f"finite number > 0. Received: temperature={temperature}"):
            generate(captioner, {"label": LABEL}, max_length=6, strategy="sample", temperature=temperature)


def test_label_and_sequence_batch_sizes_must_agree(captioner):
    with pytest.raises(ValueError, match="batch sizes: .*'label': 1"):
        captioner(_inputs(label=LABEL[:1]))
    decoder = captioner.get_layer("decoder")
    with pytest.raises(ValueError, match="context batch size=1, token_ids batch size=2"):
        decoder(IDS, LABEL[:1])


def test_bad_label_dtype_and_rank(captioner):
    with pytest.raises(TypeError, match="label with shape=\\(2, 4\\), dtype=string"):
        captioner(_inputs(label=np.full((2, 4), "x")))
    with pytest.raises(ValueError, match="label.*Received: label with shape=\\(2, 4, 1\\)"):
        captioner(_inputs(label=LABEL[..., None]))


def test_bad_arguments():
    with pytest.raises(ValueError, match="Received: conditioning='both'"):
        build_captioner(4, 12, conditioning="both")
    with pytest.raises(ValueError, match="Received: label_dim=0"):
        build_captioner(0, 12)


def test_digit_names_split():
    (train_x, train_names, train_y), (test_x, test_names, _), vocabulary = load_digit_names(test_fraction=0.25)
    assert train_x.shape[1] == 64 and len(train_x) + len(test_x) == 1797
    assert 0.0 <= train_x.min() and train_x.max() <= 1.0
    assert all(DIGIT_NAMES[d] == n for d, n in zip(train_y, train_names))
    inputs, targets = teacher_forced(vocabulary, ["one", "three"])
    assert ids_to_texts(vocabulary, targets) == ["one", "three"]
    assert targets[0, 3] == EOS_ID and not inputs["padding_mask"][0, 4]


def test_captioner_learns_digit_names():
    """A tiny decoder on 500 real digit images names held-out images far above chance."""
    (train_x, train_names, _), (test_x, test_names, _), vocabulary = load_digit_names(test_fraction=0.25, seed=0)
    train_x, train_names = train_x[:500], train_names[:500]
    test_x, test_names = test_x[:200], test_names[:200]
    inputs, targets = teacher_forced(vocabulary, train_names)
    inputs["label"] = train_x
    for conditioning in ("initial_state", "concat"):
        keras.utils.set_random_seed(0)
        model = build_captioner(64, vocabulary.size, hidden_dim=24, embedding_dim=8, conditioning=conditioning, cell="elman")
        model.compile(keras.optimizers.Adam(1e-2), MaskedSparseCategoricalCrossentropy(from_logits=True))
        model.fit(inputs, targets, batch_size=50, epochs=12, verbose=0)
        predicted = ids_to_texts(vocabulary, generate(model, {"label": test_x}, max_length=7))
        exact = np.mean([p == g for p, g in zip(predicted, test_names)])
        assert exact > 0.5, (conditioning, exact)  # one name each: chance is ~0.1


@pytest.mark.slow
def test_captioner_save_load_and_decoder_config(captioner):
    decoder = captioner.get_layer("decoder")
    revived = ConditionalDecoder.from_config(decoder.get_config())
    assert revived.get_config() == decoder.get_config()
    reloaded = reload_keras(captioner)
    np.testing.assert_allclose(reloaded(_inputs()).numpy(), captioner(_inputs()).numpy(), atol=1e-6)
    np.testing.assert_array_equal(
        generate(reloaded, {"label": LABEL}, max_length=5), generate(captioner, {"label": LABEL}, max_length=5)
    )
