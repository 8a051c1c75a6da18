"""The one text path: `build_word_lookup`, `text_batches` (batch_sequences + TokenLookup), `TextTask`."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from seqkeras.data.batching import length_quantile_boundaries
from seqkeras.data.conllu import read_conllu_sentences, sentence_from_words, write_conllu
from seqkeras.models.common import TextTask, build_word_lookup, text_batches
from seqkeras.models.common import text_task as text_task_module
from seqkeras.models.common.text_batches import matched_token_budget
from seqkeras.models.tagger import build_tagger
from helpers import reload_keras


@pytest.fixture(scope="module")
def sentences(ewt_dir):
    return read_conllu_sentences(ewt_dir / "en_ewt-ud-dev.conllu.gz")[:120]


def test_word_lookup_lowercases_words_and_keeps_the_case_of_characters():
    lookup = build_word_lookup([["The", "cat"], ["the", "Cat", "sat"]], min_count=2, max_word_length=2)
    features = lookup(tf.constant(["THE cat sat", "Cat"]))
    the, cat = lookup.tokens.index("the"), lookup.tokens.index("cat")
    np.testing.assert_array_equal(features["token_ids"].numpy(), [[the, cat, 1], [cat, 0, 0]])  # "sat": once -> OOV
    chars = lookup.char_vocabulary
    np.testing.assert_array_equal(features["char_ids"].numpy()[1, 0], chars.lookup(["C", "a"]).numpy())
    with pytest.raises(ValueError, match="min_count=3"):
        build_word_lookup([["a"]], min_count=3)


def test_text_batches_align_tags_with_tokens_and_weight_only_real_ones(sentences):
    lookup = build_word_lookup([s.words for s in sentences], min_count=1)
    texts = [" ".join(s.words) for s in sentences]
    tags = [[len(word) for word in s.words] for s in sentences]  # a per-word target we can check
    seen = 0
    for features, targets, weights in text_batches(lookup, texts, tags, batching="sorted", batch_size=16,
                                                   shuffle=False):
        mask = features["padding_mask"].numpy()
        np.testing.assert_array_equal(weights.numpy(), mask.astype("float32"))
        words = lookup.ids_to_tokens(features["token_ids"]).numpy()
        for row in range(mask.shape[0]):
            length = int(mask[row].sum())
            assert targets.numpy()[row, length:].sum() == 0
            assert list(targets.numpy()[row, :length]) == [len(w.decode()) for w in words[row, :length]]
        seen += mask.shape[0]
    assert seen == len(texts)
    with pytest.raises(ValueError, match="Text 0 splits into 2 tokens but has 1 tags"):
        text_batches(lookup, ["a b"], [[1]])
    with pytest.raises(ValueError, match="packed"):
        text_batches(lookup, texts, batching="packed")
    with pytest.raises(ValueError, match="has no tokens"):
        text_batches(lookup, ["a", "  "])


def test_matched_token_budget_gives_as_many_batches_as_fixed_size_batches(sentences):
    lengths = np.array([len(s.words) for s in sentences])
    boundaries = length_quantile_boundaries(lengths, 4)
    budget = matched_token_budget(lengths, boundaries, 16)
    lookup = build_word_lookup([s.words for s in sentences], min_count=1, characters=False)
    _, (info, statistics) = text_batches(lookup, [" ".join(s.words) for s in sentences], batching="token_budget",
                                         batch_size=16, num_buckets=4, return_info=True)
    assert info.batches_per_epoch <= -(-len(sentences) // 16)
    assert all(size * width <= budget for size, width in zip(info.bucket_batch_sizes, info.bucket_widths))
    assert statistics["real_tokens"] == lengths.sum() and statistics["padding_fraction"] < 0.5
    assert matched_token_budget(lengths, boundaries, 16) - 1 < budget  # the smallest such budget
    smaller = matched_token_budget(lengths, boundaries, 8)
    assert smaller <= budget


@pytest.mark.slow
def test_text_task_saves_one_file_that_tags_raw_strings(sentences, tmp_path):
    tags = sorted({t for s in sentences for t in s.tags})
    lookup = build_word_lookup([s.words for s in sentences], min_count=1, max_word_length=8)
    keras.utils.set_random_seed(0)
    network = build_tagger(lookup.vocabulary_size, len(tags), hidden_dim=4, embedding_dim=4,
                           char_vocabulary_size=lookup.char_vocabulary.size, char_filters=4)
    task = TextTask(lookup, network, labels=tags, task="tagger")
    texts = [" ".join(s.words) for s in sentences[:5]]
    per_text = task.predict_texts(texts)
    assert [len(row) for row in per_text] == [len(s.words) for s in sentences[:5]]
    _, compiled = text_task_module._PREDICT_FUNCTIONS[task]
    traces = compiled.experimental_get_tracing_count()
    again = task.predict_texts(texts)  # a second call reuses the compiled function and its traces
    assert compiled.experimental_get_tracing_count() == traces
    for first, second in zip(per_text, again):
        np.testing.assert_array_equal(first, second)
    reloaded = reload_keras(task)
    assert reloaded.labels == tags and reloaded.task == "tagger" and reloaded.preprocessor.tokens == lookup.tokens
    together = reloaded(tf.constant(texts)).numpy()  # (5, T, tags), padded to the longest
    for row, expected in zip(together, per_text):
        np.testing.assert_allclose(row[: len(expected)], expected, atol=1e-5)  # padding changes nothing


def test_conllu_round_trip_fills_the_column(sentences):
    text = write_conllu(sentences[:2], [["X"] * len(s.words) for s in sentences[:2]], "xpos")
    blocks = text.strip().split("\n\n")
    assert len(blocks) == 2 and all(line.split("\t")[4] == "X" for line in blocks[0].splitlines() if line[0].isdigit())
    assert all(line.split("\t")[3] != "X" for line in blocks[0].splitlines() if line[0].isdigit())  # upos kept
    built = write_conllu([sentence_from_words(["New", "York"])], [["PROPN", "PROPN"]])
    assert built.splitlines()[1:3] == ["1\tNew\t_\tPROPN\t_\t_\t_\t_\t_\t_", "2\tYork\t_\tPROPN\t_\t_\t_\t_\t_\t_"]
