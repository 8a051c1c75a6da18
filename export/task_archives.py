"""SavedModel archives of the biLM, seq2seq and word2vec runs (raw strings in, no side files).

Each run's `model.keras` carries its own preprocessing, so the archive is built from it alone:

- bilm: `embed_text(text)` -> `layers` float32 `[B, L + 1, T, 2H]` (layer 0 the character token
  layer `[x; x]`, layer j `[forward_j; backward_j]`, what `seqkeras embed` writes per token),
  `tokens` string `[B, T]`, `padding_mask` bool `[B, T]`, `num_tokens` int32 `[B]`, `truncated`
  bool `[B]`. Padded positions hold zeros and token "".
- seq2seq: `generate_text(text)` -> `target` string `[B]` (greedy decoding, at most the run's
  `max_target_length` steps, as `seqkeras predict RUN --text ...`).
- word2vec: `vectors(words)` -> `vectors` float32 `[B, dim]`, `known` bool `[B]`. Words are
  lower-cased first when the run was (its `lowercase`); a word outside the vocabulary gets an
  all-zero vector and `known` False.

Each family's request signature is also `serving_default` (one traced function) and checks its input in the graph
as the other exports do (`export.saved_model.validated_text`: rank 1, 1..`max_batch_size` rows, at
most `max_text_chars` characters per string); `request_limits()` returns the limits, also written
to `assets.extra/request_limits.json`. Versions are written atomically (`export/versioning.py`).

Example:
```python
from export.task_archives import build_bilm_archive
archive = build_bilm_archive(keras.saving.load_model("runs/bilm/model.keras"))
archive.write_out("serving/bilm/1")
```
"""

import keras
import numpy as np
import tensorflow as tf

from export.archive import write_archive
from export.saved_model import RequestLimits, validated_text, write_request_limits
from export.versioning import write_version_atomically
from seqkeras.data.vocabulary import NUM_RESERVED

SIGNATURES = {"bilm": ("embed_text", "text"), "seq2seq": ("generate_text", "text"), "word2vec": ("vectors", "words")}
FAMILIES = tuple(SIGNATURES)


class _Resources(tf.Module):
    """Tables and variables the serving functions use, so the archive saves them."""


def _archive(tracked, family, function, limits):
    """An ExportArchive tracking `tracked`, with the family's validated string endpoint as the
    default signature and the `request_limits` endpoint."""
    signature, input_name = SIGNATURES[family]

    def endpoint(strings):
        return function(validated_text(input_name, strings, limits))

    archive = keras.export.ExportArchive()
    for item in tracked:
        archive.track(item)
    spec = [tf.TensorSpec(None, tf.string, name=input_name)]
    archive.add_endpoint(signature, endpoint, input_signature=spec)  # the first endpoint is also serving_default
    archive.add_endpoint("request_limits", limits.endpoint(), input_signature=[])
    return archive


def _at_least_one_step(features, keys):
    """Pads the time axis of `features[keys]` to one step when a batch holds no token at all (every
    text empty), so the network always sees a sequence; the padding mask keeps those steps out."""
    time = tf.shape(features["padding_mask"])[1]
    extra = tf.maximum(1 - time, 0)
    padded = dict(features)
    for key in keys + ("padding_mask",):
        value = features[key]
        paddings = tf.concat([[[0, 0], [0, extra]], tf.zeros([tf.rank(value) - 2, 2], tf.int32)], axis=0)
        padded[key] = tf.pad(value, paddings)
    return padded


def build_bilm_archive(task, limits=None):
    """ExportArchive of a biLM run's `TextTask`: `embed_text` (default) and `request_limits`.

    Args:
        task: the run's `TextTask(preprocessor=TokenLookup, network=biLM)`.
        limits: `RequestLimits` (default limits when None).
    """
    from seqkeras.models.elmo import ElmoEmbedder

    limits = limits or RequestLimits()
    lookup = task.preprocessor
    embedder = ElmoEmbedder.from_bilm(task.network)

    def embed_text(text):
        features = lookup(text, return_tokens=True)
        inputs = _at_least_one_step(features, ("char_ids",))
        mask = inputs["padding_mask"]
        outputs = embedder({"char_ids": inputs["char_ids"], "padding_mask": mask}, training=False)
        layers = tf.stack([tf.cast(output, tf.float32) for output in outputs], axis=1)  # (B, L + 1, T, D)
        layers = layers * tf.cast(mask, tf.float32)[:, None, :, None]
        time = tf.shape(features["padding_mask"])[1]
        tokens = tf.where(features["padding_mask"], features["tokens"], "")
        return {"layers": layers[:, :, :time], "tokens": tokens, "padding_mask": features["padding_mask"],
                "num_tokens": features["num_tokens"], "truncated": features["truncated"]}

    resources = _Resources()
    resources.lookup = lookup
    return _archive([embedder, resources], "bilm", embed_text, limits)


def build_seq2seq_archive(task, limits=None):
    """ExportArchive of a seq2seq run's `Seq2SeqTask`: `generate_text` (default, greedy) and
    `request_limits`."""
    from seqkeras.data.vocabulary import BOS_ID, EOS_ID, PAD_ID
    from seqkeras.models.seq2seq.generation import context_model

    limits = limits or RequestLimits()
    context = context_model(task.network)
    decoder = task.network.get_layer("decoder")

    def generate_text(text):
        features = task.source_preprocessor(text)
        features = _at_least_one_step(features, ("token_ids",))
        inputs = {"encoder_token_ids": features["token_ids"], "encoder_padding_mask": features["padding_mask"]}
        ids = decoder.generate(context(inputs, training=False), task.max_target_length, strategy="greedy",
                               temperature=1.0, seed=0, bos_id=BOS_ID, eos_id=EOS_ID, pad_id=PAD_ID)
        return {"target": task.detokenize(ids)}

    resources = _Resources()
    resources.source_preprocessor = task.source_preprocessor
    resources.target_preprocessor = task.target_preprocessor
    return _archive([task.network, context, resources], "seq2seq", generate_text, limits)


def build_word2vec_archive(model, lowercase=True, limits=None):
    """ExportArchive of a word2vec run's `Word2Vec`: `vectors` (default) and `request_limits`.

    Only the target table (the word vectors) is saved, not the context table.

    Args:
        model: the run's `Word2Vec` (with its `words`).
        lowercase: lower-case the words first (the run's `lowercase`).
        limits: `RequestLimits` (default limits when None).
    """
    if not model.words:
        raise ValueError(f"The Word2Vec model holds no words; retrain the run. Received: words={model.words!r}")
    limits = limits or RequestLimits()
    table = np.asarray(keras.ops.convert_to_numpy(model.target_embedding.embeddings), np.float32)
    resources = _Resources()
    # Row 0 is all zeros (unknown words); words are rows 1.. (their ids minus the reserved ones, plus one).
    rows = np.concatenate([np.zeros((1, table.shape[1]), np.float32), table[NUM_RESERVED:]], axis=0)
    resources.table = tf.Variable(rows, trainable=False, name="word_vectors")
    resources.index = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(list(model.words), tf.string),
                                            tf.range(1, len(model.words) + 1, dtype=tf.int64)),
        default_value=0)

    def vectors(words):
        if lowercase:
            words = tf.strings.lower(words, encoding="utf-8")
        index = resources.index.lookup(words)  # (B,) 0 = unknown
        return {"vectors": tf.gather(resources.table, index), "known": index > 0}

    return _archive([resources], "word2vec", vectors, limits)


def build_task_archive(run, model, limits):
    """The archive of a loaded bilm / seq2seq / word2vec run (`pipelines.common.Run`, its model)."""
    if run.family == "bilm":
        return build_bilm_archive(model, limits)
    if run.family == "seq2seq":
        return build_seq2seq_archive(model, limits)
    if run.family == "word2vec":
        return build_word2vec_archive(model, lowercase=bool(run.config.get("lowercase", True)), limits=limits)
    raise ValueError(f"`family` must be one of {FAMILIES}. Received: family={run.family!r}")


def check_model(run, model):
    """A one-line reason when `model` is not what a current run of its family saves, else None."""
    from seqkeras.models.common.text_task import TextTask
    from seqkeras.models.seq2seq.seq2seq_task import Seq2SeqTask
    from seqkeras.models.word2vec.word2vec import Word2Vec

    expected = {"bilm": TextTask, "seq2seq": Seq2SeqTask, "word2vec": Word2Vec}[run.family]
    if not isinstance(model, expected) or (run.family == "bilm" and getattr(model, "task", None) != "bilm"):
        return (f"{run.model_path} is a {type(model).__name__}, not the {expected.__name__} a {run.family} run "
                f"saves; retrain the run with the current pipeline")
    return None


def export_task_run(run, model, base_dir, name, *, version=None, overwrite=False, warmup_texts=None,
                    max_batch_size=None, max_text_chars=None):
    """Writes `<base_dir>/<name>/<version>/` for a bilm / seq2seq / word2vec run; returns the path.

    `warmup_texts` (texts, or words for word2vec) become `assets.extra/tf_serving_warmup_requests`
    (batches of up to 4 on the default signature); each must fit `max_text_chars`.
    """
    limits = RequestLimits(**{key: value for key, value in (("max_batch_size", max_batch_size),
                                                           ("max_text_chars", max_text_chars)) if value is not None})
    if warmup_texts is not None:
        warmup_texts = [str(text) for text in warmup_texts]
        for index, text in enumerate(warmup_texts):
            if len(text) > limits.max_text_chars:
                raise ValueError(f"Warm-up text {index + 1} has {len(text)} characters, over max_text_chars="
                                 f"{limits.max_text_chars}; TF Serving would refuse to load the version. "
                                 f"Received: {text[:40]!r}...")
    archive = build_task_archive(run, model, limits)

    def write(tmp_dir):
        write_archive(archive, str(tmp_dir))
        write_request_limits(tmp_dir, limits)
        if warmup_texts:
            from export.warmup import predict_request, write_warmup_requests

            input_name = SIGNATURES[run.family][1]
            size = min(4, limits.max_batch_size)
            requests = [predict_request(name, "serving_default",
                                        {input_name: np.array(warmup_texts[start: start + size], dtype=object)})
                        for start in range(0, len(warmup_texts), size)]
            write_warmup_requests(tmp_dir, requests)

    return write_version_atomically(base_dir, name, version, write, overwrite=overwrite)
