"""Label + sequence -> sequence: encoder reduction, conditioning, bad input, learning addition."""


import keras
import numpy as np
import pytest
import tensorflow as tf

from seqkeras.losses import MaskedSparseCategoricalCrossentropy
from seqkeras.models.seq2seq import build_seq2seq, context_model, generate
from seqkeras.data.addition import addition_problems, addition_vocabulary
from seqkeras.models.seq2seq.teacher_forcing import encoder_inputs, ids_to_texts, teacher_forced
from helpers import reload_keras

ENC = np.array([[4, 5, 6, 0], [7, 8, 9, 10]], dtype="int32")
DEC = np.array([[2, 5, 0], [2, 6, 7]], dtype="int32")


def _inputs(enc=ENC, dec=DEC, label=None):
    inputs = {
        "encoder_token_ids": enc,
        "encoder_padding_mask": enc != 0,
        "decoder_token_ids": dec,
        "decoder_padding_mask": dec != 0,
    }
    if label is not None:
        inputs["label"] = label
    return inputs


@pytest.fixture(scope="module")
def labelled():
    keras.utils.set_random_seed(0)
    return build_seq2seq(16, 12, hidden_dim=5, embedding_dim=4, label_dim=3, conditioning="concat", pooling="mean")


@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
def test_context_ignores_encoder_padding(pooling):
    keras.utils.set_random_seed(0)
    model = build_seq2seq(16, hidden_dim=5, embedding_dim=4, pooling=pooling, cell="elman")
    encode = context_model(model)
    padded = encode({"encoder_token_ids": ENC, "encoder_padding_mask": ENC != 0}).numpy()[:1]
    alone = encode({"encoder_token_ids": ENC[:1, :3], "encoder_padding_mask": ENC[:1, :3] != 0}).numpy()
    assert padded.shape == (1, 10)  # both directions
    np.testing.assert_allclose(padded, alone, atol=1e-5)
    logits = model(_inputs())
    assert tuple(logits.shape) == (2, 3, 16)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(logits._keras_mask), DEC != 0)


def test_the_whole_input_conditions_the_first_answer_step():
    keras.utils.set_random_seed(0)
    model = build_seq2seq(16, hidden_dim=5, embedding_dim=4)
    edited = ENC.copy()
    edited[1, 0] = 12  # the first question token changes the answer's first step
    assert not np.allclose(model(_inputs()).numpy()[1, 0], model(_inputs(enc=edited)).numpy()[1, 0])


def test_label_input(labelled):
    label = np.ones((2, 3), "float32")
    logits = labelled(_inputs(label=label)).numpy()
    assert logits.shape == (2, 3, 12)
    assert not np.allclose(logits, labelled(_inputs(label=-label)).numpy())
    assert generate(labelled, _inputs(label=label), max_length=4).shape == (2, 4)


def test_batch_sizes_must_agree(labelled):
    with pytest.raises(ValueError, match="batch sizes: .*'label': 1"):
        labelled(_inputs(label=np.ones((1, 3), "float32")))
    with pytest.raises(ValueError, match="batch sizes: .*'decoder_token_ids': 1"):
        labelled(_inputs(dec=DEC[:1], label=np.ones((2, 3), "float32")))
    with pytest.raises(ValueError, match="batch sizes: .*'label': 3"):
        generate(labelled, _inputs(label=np.ones((3, 3), "float32")), max_length=4)


def test_bad_inputs(labelled):
    with pytest.raises(TypeError, match="encoder_token_ids with shape=\\(2, 4\\), dtype=float64"):
        labelled(_inputs(enc=ENC.astype("float64"), label=np.ones((2, 3), "float32")))
    with pytest.raises(ValueError, match="Received: encoder_padding_mask with shape=\\(2, 3\\)"):
        labelled({**_inputs(label=np.ones((2, 3), "float32")), "encoder_padding_mask": ENC[:, :3] != 0})
    with pytest.raises(ValueError, match="Received: pooling='first'"):
        build_seq2seq(16, pooling="first")


def test_addition_problems():
    questions, answers = addition_problems(200, max_digits=3, seed=0)
    assert len(set(questions)) == 200
    for question, answer in zip(questions, answers):
        a, b = question.split("+")
        assert int(a) + int(b) == int(answer)
    held_out, _ = addition_problems(50, seed=1, exclude=questions)
    assert not set(held_out) & set(questions)
    assert addition_problems(20, seed=3) == addition_problems(20, seed=3)


def test_seq2seq_learns_addition():
    """Two-digit sums: after a short run the model answers held-out questions by reading them."""
    vocabulary = addition_vocabulary()
    questions, answers = addition_problems(2500, max_digits=2, seed=0)
    test_q, test_a = addition_problems(200, max_digits=2, seed=1, exclude=questions)
    inputs, targets = teacher_forced(vocabulary, answers, prefix="decoder_")
    inputs.update(encoder_inputs(vocabulary, questions))
    keras.utils.set_random_seed(0)
    model = build_seq2seq(vocabulary.size, hidden_dim=48, embedding_dim=8, cell="elman")
    model.compile(keras.optimizers.Adam(1e-2), MaskedSparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(inputs, targets, batch_size=64, epochs=10, verbose=0)
    assert history.history["loss"][-1] < 0.6 * history.history["loss"][0]
    predicted = ids_to_texts(vocabulary, generate(model, encoder_inputs(vocabulary, test_q), max_length=5))
    exact = np.mean([p == a for p, a in zip(predicted, test_a)])
    commonest = max(set(answers), key=answers.count)
    assert exact > np.mean([a == commonest for a in test_a]) + 0.1, exact
    sampled = generate(model, encoder_inputs(vocabulary, test_q[:8]), max_length=5, strategy="sample", seed=1)
    np.testing.assert_array_equal(
        sampled, generate(model, encoder_inputs(vocabulary, test_q[:8]), max_length=5, strategy="sample", seed=1)
    )


@pytest.mark.slow
def test_seq2seq_save_load_round_trip(labelled):
    inputs = _inputs(label=np.ones((2, 3), "float32"))
    reloaded = reload_keras(labelled)
    np.testing.assert_allclose(reloaded(inputs).numpy(), labelled(inputs).numpy(), atol=1e-6)


def _addition_task():
    from seqkeras.data.token_lookup import TokenLookup
    from seqkeras.models.seq2seq import Seq2SeqTask

    keras.utils.set_random_seed(0)
    vocabulary = addition_vocabulary()
    source = TokenLookup(vocabulary, split="char")
    target = TokenLookup(vocabulary, split="char", add_bos=True, add_eos=True)
    network = build_seq2seq(vocabulary.size, hidden_dim=6, embedding_dim=4)
    return Seq2SeqTask(source, target, network, max_target_length=5), vocabulary


def test_seq2seq_task_features_match_teacher_forcing():
    task, vocabulary = _addition_task()
    previous, following = task.target_sequences(["12", "7"])
    inputs, targets = teacher_forced(vocabulary, ["12", "7"], prefix="decoder_")
    np.testing.assert_array_equal(previous.to_tensor().numpy(), inputs["decoder_token_ids"])
    np.testing.assert_array_equal(following.to_tensor().numpy(), targets)
    features = task.source_features(["1+2", "34+5"])
    np.testing.assert_array_equal(features["encoder_token_ids"].numpy(),
                                  encoder_inputs(vocabulary, ["1+2", "34+5"])["encoder_token_ids"])


def test_seq2seq_task_generates_from_raw_strings_for_any_batch_size():
    task, vocabulary = _addition_task()
    sources = ["1+2", "34+5", "999+1"]
    expected = ids_to_texts(vocabulary, generate(task.network, encoder_inputs(vocabulary, sources), max_length=5))
    assert task.generate(sources) == expected
    assert task.generate(sources[:1]) == expected[:1]  # a batch of one (static batch 1) decodes too
    ids = task(tf.constant(sources))  # the in-graph greedy call
    assert ids.shape == (3, 5)
    assert [text.decode() for text in task.detokenize(ids).numpy()] == expected
    sampled = task.generate(sources, strategy="sample", temperature=1.5, seed=3)
    assert sampled == task.generate(sources, strategy="sample", temperature=1.5, seed=3)


@pytest.mark.slow
def test_seq2seq_task_save_load_round_trip(tmp_path):
    task, _ = _addition_task()
    task(tf.constant(["1+1"]))
    path = tmp_path / "task.keras"
    task.save(path)
    loaded = keras.saving.load_model(path)
    sources = ["1+2", "34+5", "999+1"]
    assert loaded.generate(sources) == task.generate(sources)
    assert loaded.max_target_length == 5
    assert loaded.target_preprocessor.tokens == task.target_preprocessor.tokens


def test_seq2seq_task_needs_bos_and_eos_on_targets():
    from seqkeras.data.token_lookup import TokenLookup
    from seqkeras.models.seq2seq import Seq2SeqTask

    vocabulary = addition_vocabulary()
    lookup = TokenLookup(vocabulary, split="char")
    with pytest.raises(ValueError, match="add_bos=False"):
        Seq2SeqTask(lookup, lookup, build_seq2seq(vocabulary.size, hidden_dim=4), max_target_length=3)
    target = TokenLookup(vocabulary, split="char", add_bos=True, add_eos=True)
    with pytest.raises(ValueError, match="max_target_length=0"):
        Seq2SeqTask(lookup, target, build_seq2seq(vocabulary.size, hidden_dim=4), max_target_length=0)
