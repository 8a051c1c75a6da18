"""Tiny models trained for a few steps on real data slices, exported once per test session (the
export files using these fixtures run on one xdist worker: tests/conftest.py GROUPS).

- tagger: UPOS on the first 120 EWT dev-file sentences (BiLSTM + character features; the small dev
  file keeps reading fast, the next 20 sentences are the held-out examples);
- classifier: EWT genre from the sentence id, same sentences;
- char LM: `CharLanguageModel` on three Lee corpus documents (gensim's test data);
- bilm, seq2seq, word2vec: tiny runs trained once through their pipelines' `main` (`task_runs`),
  shared by the SavedModel and TFLite tests of those families.
"""

import dataclasses
import pathlib

import keras
import pytest

from seqkeras.data.corpora import ewt_genre, lee_documents, read_conllu
from seqkeras.data.vocabulary import Vocabulary


class Bundle:
    """A trained model with what its export needs."""

    def __init__(self, **fields):
        self.__dict__.update(fields)


@pytest.fixture(scope="session")
def ewt_slice(ewt_dir):
    sentences = read_conllu(pathlib.Path(ewt_dir) / "en_ewt-ud-dev.conllu.gz")
    return sentences[:120], sentences[120:140]


@pytest.fixture(scope="session")
def tagger_bundle(ewt_slice):
    from seqkeras.models.common import build_word_lookup, text_batches
    from seqkeras.models.tagger import build_tagger

    train, held_out = ewt_slice
    keras.utils.set_random_seed(0)
    tags = sorted({tag for sentence in train + held_out for tag in sentence.upos})
    tag_ids = {tag: index for index, tag in enumerate(tags)}
    words = [list(sentence.words) for sentence in train]
    lookup = build_word_lookup(words, min_count=1, max_word_length=8)
    model = build_tagger(
        lookup.vocabulary_size, len(tags), hidden_dim=8, embedding_dim=8,
        char_vocabulary_size=lookup.char_vocabulary.size, char_embedding_dim=4, char_filters=4,
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    targets = [[tag_ids[tag] for tag in sentence.upos] for sentence in train]
    texts = [" ".join(sentence.words) for sentence in train]
    model.fit(text_batches(lookup, texts, targets, batching="sorted", batch_size=40, shuffle=False),
              epochs=1, verbose=0)
    return Bundle(model=model, lookup=lookup, labels=tags,
                  texts=[" ".join(sentence.words) for sentence in held_out],
                  words=[list(sentence.words) for sentence in held_out])


@pytest.fixture(scope="session")
def classifier_bundle(ewt_slice):
    from seqkeras.models.classifier import build_classifier
    from seqkeras.models.common import build_word_lookup, text_batches

    train, held_out = ewt_slice
    keras.utils.set_random_seed(0)
    genres = ["answers", "email", "newsgroup", "reviews", "weblog"]
    words = [list(sentence.words) for sentence in train]
    lookup = build_word_lookup(words, min_count=1, characters=False)
    model = build_classifier(lookup.vocabulary_size, len(genres), hidden_dim=8, embedding_dim=8, pooling="mean")
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    labels = [genres.index(ewt_genre(sentence.sent_id)) for sentence in train]
    texts = [" ".join(sentence.words) for sentence in train]
    model.fit(text_batches(lookup, texts, labels, batching="sorted", batch_size=40, shuffle=False),
              epochs=1, verbose=0)
    return Bundle(model=model, lookup=lookup, labels=genres,
                  texts=[" ".join(sentence.words) for sentence in held_out],
                  words=[list(sentence.words) for sentence in held_out])


@pytest.fixture(scope="session")
def char_lm_bundle():
    from seqkeras.models.char_lm import CharLanguageModel, LanguageModelTrainer
    from seqkeras.models.char_lm.datasets import encode_documents, window_dataset

    documents = lee_documents()
    train, held_out = documents[:3], documents[3:6]
    keras.utils.set_random_seed(0)
    vocabulary = Vocabulary.build([list(document) for document in train])
    model = CharLanguageModel(vocabulary.size, embedding_dim=8, hidden_dim=16)
    trainer = LanguageModelTrainer(model)
    trainer.compile(optimizer=keras.optimizers.Adam(0.01))
    trainer.fit(window_dataset(encode_documents(train, vocabulary), window=32, batch_size=16), epochs=2, verbose=0)
    return Bundle(model=model, vocabulary=vocabulary, texts=[doc[:60] for doc in held_out])


@pytest.fixture(scope="session")
def exports(served):
    """SavedModels of the tagger, classifier and char LM runs (`served`: exported through the CLI
    from their run directories) under one TF Serving base directory, keyed by task."""
    paths = {"tagger": served["tagger"], "classifier": served["classifier"], "char_lm": served["charlm"]}
    return paths["tagger"].parents[1], paths


@pytest.fixture(scope="session")
def loaded(exports):
    """`tf.saved_model.load` of each export, once per session."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    return {task: tf.saved_model.load(str(path)) for task, path in exports[1].items()}


# ----------------------------------------------------------------------------------------------
# Run directories (config.json + a self-contained model.keras), as `seqkeras train <family>` writes.
# ----------------------------------------------------------------------------------------------
def write_run(run_dir, family, model):
    """A minimal run directory: config.json naming the family, the model saved as model.keras."""
    import json

    from pipelines import common

    run_dir = pathlib.Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps({"family": family, "run_dir": str(run_dir)}))
    common.save_model(model, run_dir / "model.keras")
    return run_dir


def word_task(bundle, task):
    """The bundle's token-id network with its preprocessing attached (a TextTask)."""
    from seqkeras.data.token_lookup import TokenLookup
    from seqkeras.models.common.text_task import TextTask

    trained = bundle.lookup  # the training lookup, capped at the exports' 24 tokens
    lookup = TokenLookup(trained.vocabulary, split="whitespace", lowercase=trained.lowercase,
                         char_vocabulary=trained.char_vocabulary, max_word_length=trained.max_word_length,
                         sequence_length=24, pad_to_sequence_length=False)
    return TextTask(lookup, bundle.model, labels=bundle.labels, task=task)


@pytest.fixture(scope="session")
def runs(tmp_path_factory, tagger_bundle, classifier_bundle, char_lm_bundle):
    """Run directories of every exportable text family (plus a char LM saved the older way)."""
    from seqkeras.models.char_lm.storage import save_char_lm

    root = tmp_path_factory.mktemp("runs")
    charlm = root / "charlm"  # as `seqkeras train charlm` writes it (a TextTask)
    save_char_lm(char_lm_bundle.model, char_lm_bundle.vocabulary, charlm / "model.keras")
    (charlm / "config.json").write_text('{"family": "charlm"}')
    legacy = root / "charlm_legacy"  # the older pair: a bare CharLanguageModel + vocabulary.txt
    legacy.mkdir()
    char_lm_bundle.model.save(legacy / "model.keras")
    char_lm_bundle.vocabulary.save(legacy / "vocabulary.txt")
    (legacy / "config.json").write_text('{"family": "charlm"}')
    return {
        "tagger": write_run(root / "tagger", "tagger", word_task(tagger_bundle, "tagger")),
        "classifier": write_run(root / "classifier", "classifier", word_task(classifier_bundle, "classifier")),
        "charlm": charlm,
        "charlm_legacy": legacy,
    }


@pytest.fixture(scope="session")
def served(runs, tmp_path_factory, tagger_bundle):
    """Every text-family run exported through `seqkeras export savedmodel RUN` (no vocabulary or labels
    flags: all from the run's model.keras) under one base directory, keyed by run; the char LM's
    TextTask run is served as `char_lm`. Also the SavedModels of test_saved_model.py and friends."""
    from pipelines.cli import COMMANDS, build_parser

    parser = build_parser([command for command in COMMANDS if command[0][0] == "export"])
    base = tmp_path_factory.mktemp("served")
    warmup = tmp_path_factory.mktemp("warmup") / "texts.txt"
    warmup.write_text("\n".join(tagger_bundle.texts[:3]), encoding="utf-8")
    paths = {}
    for family, name in (("tagger", "tagger"), ("classifier", "classifier"), ("charlm", "char_lm"),
                         ("charlm_legacy", "charlm_legacy")):
        args = parser.parse_args([
            "export", "savedmodel", str(runs[family]), "--base-dir", str(base), "--name", name, "--warmup-file",
            str(warmup), "--max-length", "24" if family in ("tagger", "classifier") else "81", "--max-batch-size",
            "8", "--max-text-chars", "400"])
        assert args._run(args) == 0
        paths[family] = base / name / "1"
    return paths


@pytest.fixture(scope="session")
def served_in_a_fresh_process(served, tagger_bundle, classifier_bundle, char_lm_bundle):
    """The `served` SavedModels called in ONE new process that imports only TensorFlow and TF Text
    (`export.verify.call_in_fresh_process`): `({name: outputs}, info)`, for test_from_run.py (each run's
    text signature) and test_saved_model.py (every kind of signature, token ids and scalars too)."""
    import numpy as np
    import tensorflow as tf

    from export import verify

    def texts(values):
        return {"text": np.array(values, dtype=object)}

    batch = tagger_bundle.lookup(tf.constant(tagger_bundle.texts[:3]))
    calls = {
        "tagger": (served["tagger"], "tag_text", texts(tagger_bundle.texts[:4])),
        "classifier": (served["classifier"], "classify_text", texts(classifier_bundle.texts[:4])),
        "charlm": (served["charlm"], "score_text", texts(char_lm_bundle.texts[:3])),
        "charlm_legacy": (served["charlm_legacy"], "score_text", texts(char_lm_bundle.texts[:3])),
        "tag_text": (served["tagger"], "tag_text", texts(tagger_bundle.texts[:3])),
        "tag_token_ids": (served["tagger"], "tag_token_ids", {k: v.numpy() for k, v in batch.items()}),
        "score_text": (served["charlm"], "score_text", texts(char_lm_bundle.texts[:2])),
        "generate": (served["charlm"], "generate", {
            "prompt": np.array(["The"], dtype=object), "num_chars": np.int32(5), "temperature": np.float32(1.0),
            "top_k": np.int32(3), "top_p": np.float32(0.9), "seed": np.int32(1)}),
    }
    outputs, info = verify.call_in_fresh_process(served["tagger"], list(calls.values()))
    return dict(zip(calls, outputs)), info


@pytest.fixture(scope="session")
def pooled_run(tmp_path_factory, classifier_bundle):
    """A recurrence-free classifier run: cheap to export many times (versions, limits, bad requests)."""
    from seqkeras.data.token_lookup import TokenLookup
    from seqkeras.models.common.text_task import TextTask

    trained = classifier_bundle.lookup
    keras.utils.set_random_seed(1)
    token_ids = keras.Input((None,), dtype="int32", name="token_ids")
    padding_mask = keras.Input((None,), dtype="bool", name="padding_mask")
    x = keras.layers.Embedding(trained.vocabulary_size, 4)(token_ids)
    x = keras.layers.GlobalAveragePooling1D()(x, mask=padding_mask)
    network = keras.Model({"token_ids": token_ids, "padding_mask": padding_mask},
                          keras.layers.Dense(len(classifier_bundle.labels))(x))
    lookup = TokenLookup(trained.vocabulary, split="whitespace", lowercase=trained.lowercase)
    task = TextTask(lookup, network, labels=classifier_bundle.labels, task="classifier")
    return write_run(tmp_path_factory.mktemp("pooled") / "run", "classifier", task)


# ----------------------------------------------------------------------------------------------
# biLM, seq2seq and word2vec runs, trained once per session through their pipelines.
# ----------------------------------------------------------------------------------------------
BILM = dict(
    corpus=("lee",), max_sentences=25, min_words=4, max_words=30, valid_fraction=0.2, split_seed=3,
    split="whitespace", lowercase=False, vocabulary_size=40, min_count=3, max_word_length=7, char_embedding_dim=5,
    char_filters=6, hidden_dim=4, num_layers=1, dropout=0.2, batching="bucketed", batch_size=7, token_budget=300,
    num_buckets=3, epochs=1, steps_per_epoch=1, learning_rate=0.004, clipnorm=0.5, seed=11, verbose=0,
)
SEQ2SEQ = dict(
    pairs="addition", num_problems=80, heldout_problems=10, max_digits=2, valid_fraction=0.25, split_seed=3,
    max_target_length=6, embedding_dim=5, hidden_dim=8, num_layers=1, pooling="mean", conditioning="concat",
    cell="elman", dropout=0.1, batching="sorted", batch_size=16, epochs=1, steps_per_epoch=2, learning_rate=0.01,
    clipnorm=0.5, seed=5, num_samples=2, verbose=0,
)
WORD2VEC = dict(corpus="lee", max_documents=30, min_count=3, vector_size=8, epochs=1, batch_size=512, verbose=0)


@pytest.fixture(scope="session")
def task_runs(tmp_path_factory):
    """`{"bilm", "seq2seq", "word2vec"}` run directories, each trained through `pipelines.train_<family>.main`."""
    from pipelines import train_bilm, train_seq2seq, train_word2vec

    root = tmp_path_factory.mktemp("task_runs")
    runs = {}
    bilm = dict(BILM)
    if "sampled_softmax" in {field.name for field in dataclasses.fields(train_bilm.TrainConfig)}:
        bilm["sampled_softmax"] = 0  # a full softmax over the 40-word vocabulary
    for family, module, fields in (("bilm", train_bilm, bilm), ("seq2seq", train_seq2seq, SEQ2SEQ),
                                   ("word2vec", train_word2vec, WORD2VEC)):
        runs[family] = root / family
        module.main(module.TrainConfig(**fields, run_dir=str(runs[family])))
    return runs
