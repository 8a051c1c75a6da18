"""word2vec on `StrategyTrainer`: the same update as `Word2Vec.fit`, per-step resume, and
`seqkeras train word2vec --distribute mirrored | multi-worker` against one process.

Tolerance: `Word2Vec.train_step` (hand-written gradients, XLA) and the replica loss (autodiff,
`tf.IndexedSlices` applied by Keras' `SGD` as scatters) compute the same sums in a different
order, and 2 replicas add their rows' updates as two partial lists (concatenated by the
all-reduce) instead of one: float32 rounding, ~1e-7 relative per step. Plain SGD does not
amplify it (no Adam normalisation; rates <= 0.025), so after a few dozen steps of 16-dim tables
of magnitude <= ~1 the tables agree far below ATOL = 1e-5 (measured: see the asserts' messages;
~1e-8). A real bug (a mean instead of the sum, a replica reading the wrong rows or groups of
negatives, the schedule off by a step, data not skipped on resume) moves rows by 1e-4 or more.
"""

import json

import numpy as np
import pytest
import tensorflow as tf

import keras
from distributed_processes import assert_resumed_without_loss, kill_and_resume, latest_step, metrics, model_weights
from seqkeras.data.corpora import lee_documents
from seqkeras.data.skipgrams import skipgram_dataset
from seqkeras.data.vocabulary import NUM_RESERVED, Vocabulary
from seqkeras.distribute import CorruptCheckpointError, StrategyTrainer
from seqkeras.models.word2vec import (
    Word2Vec,
    documents_to_ids,
    sgns_replica_loss,
    shard_skipgram_batches,
    tokenize_documents,
    word2vec_learning_rate,
)

ATOL = 1e-5
EPOCHS = 2
TIMEOUT = 600  # per run (a bound for failures): ~15 s on an idle 2-core machine


@pytest.fixture(scope="module")
def lee_batches():
    """Skip-gram batches of 30 Lee documents: 256 pairs, 8 groups of shared negatives.

    Returns `(vocabulary_size, make, steps)`: `make()` builds a fresh dataset. Each pass over ONE
    dataset object draws anew (`rerandomize_each_iteration`), so every consumer needs its own
    object to see the same batches (pass k of a fresh object, or of its `repeat()`, is the same).
    """
    documents = tokenize_documents(lee_documents()[:30])
    vocabulary = Vocabulary.build(documents, min_count=3)
    counts = np.zeros(vocabulary.size, np.int64)
    counts[NUM_RESERVED:] = [vocabulary.counts[word] for word in vocabulary.tokens[NUM_RESERVED:]]
    ids = documents_to_ids(documents, vocabulary)

    def make():
        return skipgram_dataset(ids, counts, window=3, negative=4, batch_size=256, seed=5, negative_group_size=32)

    return vocabulary.size, lambda: make()[0], make()[1]["steps"]


def _model(vocabulary_size):
    return Word2Vec(vocabulary_size, vector_size=16, alpha=0.025, min_alpha=0.0001, epochs=EPOCHS, seed=3)


def _tables(model):
    return [model.target_embedding.embeddings.numpy(), model.context_embedding.embeddings.numpy()]


def _strategy_engine(vocabulary_size, steps, checkpoint_dir):
    model = _model(vocabulary_size)
    optimizer = keras.optimizers.SGD(word2vec_learning_rate(0.025, 0.0001, EPOCHS * steps))
    engine = StrategyTrainer(tf.distribute.get_strategy(), model, optimizer, sgns_replica_loss(model, optimizer),
                             checkpoint_dir=checkpoint_dir, checkpoint_every=1, count_metrics=["alpha"],
                             loss_reduction="sum")
    return model, engine


def test_strategy_trainer_gives_word2vec_fits_vectors_resumes_at_any_step_refuses_a_corrupt_checkpoint(lee_batches, tmp_path):
    vocabulary_size, make, steps = lee_batches
    reference = _model(vocabulary_size)
    reference.compile(jit_compile=True, steps_per_execution=4)  # the `--distribute none` trainer
    history = reference.fit(make(), epochs=EPOCHS, verbose=0).history

    model, engine = _strategy_engine(vocabulary_size, steps, tmp_path / "whole")
    np.testing.assert_array_equal(_tables(model)[0], _tables(_model(vocabulary_size))[0])  # same start
    logs = engine.fit(lambda context: shard_skipgram_batches(make().repeat(), context), epochs=EPOCHS,
                      steps_per_epoch=steps)
    worst = max(float(np.max(np.abs(a - b))) for a, b in zip(_tables(model), _tables(reference)))
    print(f"loop vs Word2Vec.fit: max abs table difference {worst:.2e} after {EPOCHS * steps} steps")
    assert worst <= ATOL, f"max abs difference {worst} after {EPOCHS * steps} steps"
    assert np.max(np.abs(_tables(model)[1])) > 1e-2  # the tables did move
    np.testing.assert_allclose(logs["loss"], history["loss"], rtol=1e-5)
    np.testing.assert_allclose(logs["alpha"], history["alpha"], rtol=1e-6)

    # Per-step resume: stopped mid-epoch at step steps + 3, a fresh process restores and finishes.
    first, engine = _strategy_engine(vocabulary_size, steps, tmp_path / "resumed")
    engine.fit(lambda context: shard_skipgram_batches(make().repeat(), context), epochs=1, steps_per_epoch=steps + 3)
    resumed, engine = _strategy_engine(vocabulary_size, steps, tmp_path / "resumed")
    engine.fit(lambda context: shard_skipgram_batches(make().repeat(), context), epochs=EPOCHS, steps_per_epoch=steps)
    assert int(engine.step.numpy()) == EPOCHS * steps
    for got, want in zip(_tables(resumed), _tables(model)):
        np.testing.assert_array_equal(got, want)

    # A truncated checkpoint: one line naming the file (the pipeline's fit_engine makes it a UserError).
    data_file = sorted((tmp_path / "resumed").glob("ckpt-*.data-*"))[-1]
    data_file.write_bytes(data_file.read_bytes()[:10])
    _, engine = _strategy_engine(vocabulary_size, steps, tmp_path / "resumed")
    with pytest.raises(CorruptCheckpointError, match=f"checkpoint {data_file} is corrupt"):
        engine.fit(lambda context: shard_skipgram_batches(make().repeat(), context), epochs=EPOCHS,
                   steps_per_epoch=steps)


def test_shard_skipgram_batches_splits_pairs_and_their_groups(lee_batches):
    _, make, _ = lee_batches
    data = make().take(1).cache()  # one draw, replayed (a fresh dataset would draw the same, at a cost)
    (batch,) = list(data)
    for pipeline, (replicas, pipelines) in enumerate([(2, 1), (2, 2)]):
        context = tf.distribute.InputContext(num_input_pipelines=pipelines, input_pipeline_id=pipelines - 1,
                                             num_replicas_in_sync=replicas)
        parts = list(shard_skipgram_batches(data, context))
        first = (pipelines - 1) * (replicas // pipelines)
        assert len(parts) == replicas // pipelines
        for offset, part in enumerate(parts):
            replica = first + offset
            np.testing.assert_array_equal(part["target"], batch["target"][replica * 128:(replica + 1) * 128])
            np.testing.assert_array_equal(part["negatives"], batch["negatives"][replica * 4:(replica + 1) * 4])
    with pytest.raises(ValueError, match="split evenly"):
        shard_skipgram_batches(data, tf.distribute.InputContext(1, 0, 3))


# The pipeline, one round of runs started together and one restart: `--distribute none` (the
# threaded `Word2Vec.fit`) on the bundled Lee documents,
# `--distribute mirrored` (2 logical CPUs) on the SAME documents written to sharded files and
# streamed (`--corpus GLOB`), and a 2-worker loopback job SIGKILLed once it checkpointed step
# KILL_AT and restarted with --resume (processes: forks of one zygote, distributed_processes.py).
# The streamed batches equal the in-memory ones (tests/pipelines/test_train_word2vec_stream.py),
# so all three train the same updates: the tolerance above applies to each.
PIPELINE_ARGS = ["train", "word2vec", "--corpus", "lee", "--max-documents", "30", "--min-count", "3",
                 "--vector-size", "16", "--window", "3", "--negative", "4", "--batch-size", "256",
                 "--negative-group-size", "32", "--epochs", str(EPOCHS), "--seed", "5", "--checkpoint-every", "2",
                 "--verbose", "0"]
KILL_AT = 20  # of 2 x 39 steps


def _embeddings(run_dir):
    return [(name, array) for name, array in model_weights(run_dir) if "embedding" in name]


@pytest.mark.slow
def test_streamed_mirrored_and_a_killed_two_worker_job_equal_one_process(tmp_path):
    import gzip

    shards = tmp_path / "shards"
    shards.mkdir()
    texts = lee_documents()[:30]
    (shards / "part0.txt").write_text("\n".join(texts[:12]) + "\n", encoding="utf-8")
    with gzip.open(shards / "part1.txt.gz", "wt", encoding="utf-8") as file:
        file.write("\n".join(texts[12:]) + "\n")
    job = kill_and_resume(tmp_path, PIPELINE_ARGS, KILL_AT, TIMEOUT,
                          mirrored_args=["--corpus", f"{shards}/part*.txt*"])
    total_steps = latest_step(job.mirrored)  # the last step's checkpoint
    assert total_steps > KILL_AT and total_steps % EPOCHS == 0
    assert_resumed_without_loss(job, total_steps, KILL_AT)

    expected = _embeddings(job.single)
    assert len(expected) == 2
    assert metrics(job.single)["training"] == {"distribute": "none", "replicas": 1, "trainer": "Word2Vec.fit"}
    assert json.loads((job.mirrored / "config.json").read_text())["corpus"].endswith("part*.txt*")
    for run_dir, kind in ((job.mirrored, "mirrored"), (job.run_dir, "multi-worker")):
        got = _embeddings(run_dir)
        assert [name for name, _ in got] == [name for name, _ in expected]
        worst = max(float(np.max(np.abs(a - b))) for (_, a), (_, b) in zip(got, expected))
        print(f"{kind}: max abs table difference vs --distribute none: {worst:.2e}")
        assert worst <= ATOL, f"{kind}: max abs difference {worst} > {ATOL}"
        history, want = metrics(run_dir)["history"], metrics(job.single)["history"]
        assert history["epoch"] == want["epoch"] == [0, 1]
        np.testing.assert_allclose(history["loss"], want["loss"], rtol=1e-5)
        np.testing.assert_allclose(history["alpha"], want["alpha"], rtol=1e-6)
        assert metrics(run_dir)["training"] == {"distribute": kind, "replicas": 2, "trainer": "StrategyTrainer"}
        for name in ("config.json", "model.keras", "vectors.txt", "vectors.bin", "training_curve.png"):
            assert (run_dir / name).is_file(), (kind, name)
