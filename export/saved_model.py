"""SavedModel export for TF Serving: versioned, atomic, with raw-string and token-id signatures.

Layout written (what TF Serving scans)::

    <base_dir>/<name>/<version>/saved_model.pb
                                variables/
                                assets/vocabulary.txt, assets/labels.txt
                                assets.extra/tf_serving_warmup_requests

A version is built in a hidden temporary sibling (`<base_dir>/<name>/.tmp-<version>-<pid>`, a name TF
Serving ignores) and renamed into place when complete, so a polling server never loads half a model.
An existing version is refused unless `overwrite=True`.

Signatures (inputs and outputs are named; `serving_default` is the raw-string one):

- tagger: `tag_text(text)` -> `tokens`, `tags`, `tag_ids`, `tag_probabilities`, `num_tokens`,
  `truncated`; `tag_token_ids(token_ids, padding_mask)` -> `tags`, `tag_ids`, `tag_probabilities`.
- classifier: `classify_text(text)` -> `probabilities`, `label`, `label_id`, `num_tokens`,
  `truncated`; `classify_token_ids(token_ids, padding_mask)` -> `probabilities`, `label`, `label_id`.
- char LM: `score_text(text)` -> `log_prob_nats`, `log_prob_bits`, `num_chars`, `truncated`;
  `score_token_ids(token_ids, padding_mask)` -> `log_prob_nats`, `log_prob_bits`;
  `generate(prompt, num_chars, temperature, seed)` -> `text`, `prompt_truncated`.

Padded positions get tag "" and tag id -1; a row without tokens (empty text) gets label "", label id
-1 and all-zero probabilities; text beyond `max_length` tokens is truncated (`truncated` is True).
"""

import os
import pathlib
import shutil
import tempfile

import keras
import numpy as np
import tensorflow as tf

from export.preprocessing import TextPreprocessor
from seqkeras.data.vocabulary import NUM_RESERVED, OOV_ID, PAD_ID
from export.token_files import write_token_file
from export.warmup import build_warmup_requests, write_warmup_requests

TAGGER = "tagger"
CLASSIFIER = "classifier"
CHAR_LM = "char_lm"


# ----------------------------------------------------------------------------------------------
# Versioned, atomic directories.
# ----------------------------------------------------------------------------------------------
def existing_versions(model_dir):
    """Integer version directories under `<base_dir>/<name>`, sorted."""
    model_dir = pathlib.Path(model_dir)
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def next_version(model_dir):
    """One more than the newest existing version, or 1."""
    versions = existing_versions(model_dir)
    return versions[-1] + 1 if versions else 1


def write_version_atomically(base_dir, name, version, write_fn, overwrite=False):
    """Runs `write_fn(tmp_dir)` then renames `tmp_dir` to `<base_dir>/<name>/<version>`.

    Args:
        base_dir: the directory TF Serving is pointed at holds one folder per model name.
        name: model name (a folder name; no path separators).
        version: positive integer, or None for the next free version.
        write_fn: writes a complete SavedModel into the directory it is given.
        overwrite: replace an existing version (the old one is moved aside first, then deleted).

    Returns:
        The final version directory.
    """
    if not name or os.sep in str(name) or str(name).startswith("."):
        raise ValueError(f"`name` must be a plain folder name. Received: name={name!r}")
    model_dir = pathlib.Path(base_dir) / str(name)
    model_dir.mkdir(parents=True, exist_ok=True)
    if version is None:
        version = next_version(model_dir)
    if isinstance(version, bool) or not isinstance(version, (int, np.integer)) or int(version) < 1:
        raise ValueError(f"`version` must be a positive integer. Received: version={version!r}")
    final_dir = model_dir / str(int(version))
    if final_dir.exists() and not overwrite:
        raise FileExistsError(
            f"Version {int(version)} of model {name!r} already exists at {final_dir}. "
            "Pass overwrite=True (--overwrite) to replace it, or choose another version."
        )
    tmp_dir = pathlib.Path(tempfile.mkdtemp(prefix=f".tmp-{int(version)}-", dir=model_dir))
    try:
        write_fn(tmp_dir)
        if final_dir.exists():
            trash = pathlib.Path(tempfile.mkdtemp(prefix=f".old-{int(version)}-", dir=model_dir))
            os.rename(final_dir, trash / "old")
            os.rename(tmp_dir, final_dir)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.rename(tmp_dir, final_dir)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    return final_dir


# ----------------------------------------------------------------------------------------------
# Model-output helpers.
# ----------------------------------------------------------------------------------------------
def outputs_are_probabilities(model):
    """True when the model's last layer ends in a softmax (else its outputs are logits)."""
    last = model.layers[-1]
    activation = getattr(last, "activation", None)
    return getattr(activation, "__name__", "") == "softmax"


def _probabilities(model, inputs, from_logits):
    outputs = model(inputs, training=False)
    if isinstance(outputs, dict):
        raise ValueError(f"Expected a model with one output tensor. Received outputs: {sorted(outputs)}")
    outputs = tf.cast(outputs, tf.float32)
    return tf.nn.softmax(outputs, axis=-1) if from_logits else outputs


def _guard_empty_rows(token_ids, padding_mask):
    """Rows without any real token get one OOV token so every row reaches the model.

    Returns the new ids and mask, and `has_tokens` (B,) bool to blank those rows' outputs.
    """
    has_tokens = tf.reduce_any(padding_mask, axis=1)  # (B,)
    first = tf.one_hot(tf.zeros_like(has_tokens, tf.int32), tf.shape(token_ids)[1], on_value=True,
                       off_value=False, dtype=tf.bool)  # (B, T)
    fix = first & ~has_tokens[:, None]
    token_ids = tf.where(fix, tf.constant(OOV_ID, token_ids.dtype), token_ids)
    return token_ids, padding_mask | fix, has_tokens


def model_input_specs(model):
    """Named `tf.TensorSpec`s of the token-id signature, one per model input (dynamic B and T)."""
    try:
        inputs = model.input
    except (AttributeError, ValueError):
        inputs = None
    if not isinstance(inputs, dict) or "token_ids" not in inputs or "padding_mask" not in inputs:
        names = sorted(inputs) if isinstance(inputs, dict) else inputs
        raise ValueError(
            "Exported models take a dict with `token_ids` and `padding_mask` (STYLE.md). "
            f"Received: a model with inputs {names}"
        )
    specs = {}
    for key, tensor in inputs.items():
        dtype = tf.bool if key.endswith("mask") else tf.int32
        specs[key] = tf.TensorSpec([None] * len(tensor.shape), dtype, name=key)
    return specs


def _check_inputs_match(model, preprocessor):
    specs = model_input_specs(model)
    extra = sorted(set(specs) - {"token_ids", "padding_mask", "char_ids"})
    if extra:
        raise ValueError(f"Cannot build model inputs {extra} from raw text. Received: a model with inputs {sorted(specs)}")
    if ("char_ids" in specs) != preprocessor.has_chars:
        raise ValueError(
            "The model's `char_ids` input and the export's character vocabulary must go together. "
            f"Received: model inputs {sorted(specs)}, char_vocabulary given={preprocessor.has_chars}"
        )
    return specs


def _check_vocabulary(vocabulary, model_vocabulary_size=None):
    if vocabulary is None:
        raise ValueError(
            "A vocabulary is required to export raw-string signatures. Received: vocabulary=None"
        )
    tokens = list(vocabulary.tokens) if hasattr(vocabulary, "tokens") else list(vocabulary)
    if not tokens:
        raise ValueError("The vocabulary is empty. Received: vocabulary with 0 tokens")
    if model_vocabulary_size is not None and len(tokens) > model_vocabulary_size:
        raise ValueError(
            f"The vocabulary has {len(tokens)} tokens but the model's embedding only "
            f"{model_vocabulary_size} rows. Received: vocabulary of size {len(tokens)}"
        )
    return tokens


def _embedding_rows(model):
    """Rows of the first Embedding found (breadth first through nested models), or None."""
    pending = list(getattr(model, "layers", []))
    while pending:
        layer = pending.pop(0)
        if isinstance(layer, keras.layers.Embedding):
            return int(layer.input_dim)
        pending.extend(getattr(layer, "layers", []))
    return None


def _label_table(labels_file, labels):
    """int id -> label string, read from the labels asset."""
    asset = tf.saved_model.Asset(str(labels_file))
    table = tf.lookup.StaticHashTable(
        tf.lookup.TextFileInitializer(
            asset,
            key_dtype=tf.int64,
            key_index=tf.lookup.TextFileIndex.LINE_NUMBER,
            value_dtype=tf.string,
            value_index=tf.lookup.TextFileIndex.WHOLE_LINE,
        ),
        default_value="",
    )
    return asset, table


class _Resources(tf.Module):
    """Holds the tables and assets the serving functions use, so ExportArchive saves them."""


def _check_labels(labels, what):
    labels = [str(label) for label in (labels or [])]
    if not labels:
        raise ValueError(f"`{what}` must list the output classes in id order. Received: {what}={labels}")
    for label in labels:
        if "\n" in label or "\r" in label or label == "":
            raise ValueError(f"Each of `{what}` must be a non-empty single-line string. Received: {label!r}")
    return labels


# ----------------------------------------------------------------------------------------------
# Archives per task.
# ----------------------------------------------------------------------------------------------
def build_tagger_archive(model, preprocessor, labels_file, from_logits=None):
    """ExportArchive with `tag_text` (default) and `tag_token_ids` signatures."""
    if from_logits is None:
        from_logits = not outputs_are_probabilities(model)
    resources = _Resources()
    resources.preprocessor = preprocessor
    resources.labels_asset, resources.labels = _label_table(labels_file, None)

    specs = _check_inputs_match(model, preprocessor)

    def tag_token_ids(inputs):
        padding_mask = inputs["padding_mask"]
        probabilities = _probabilities(model, inputs, from_logits)  # (B, T, C)
        mask = tf.cast(padding_mask, probabilities.dtype)[..., None]  # (B, T, 1)
        tag_ids = tf.argmax(probabilities, axis=-1, output_type=tf.int32)  # (B, T)
        tag_ids = tf.where(padding_mask, tag_ids, -1)
        tags = tf.where(padding_mask, resources.labels.lookup(tf.cast(tf.maximum(tag_ids, 0), tf.int64)), "")
        return {"tags": tags, "tag_ids": tag_ids, "tag_probabilities": probabilities * mask}

    def tag_text(text):
        inputs, tokens, full_lengths = resources.preprocessor(text)
        outputs = tag_token_ids(inputs)
        num_tokens = tf.cast(tokens.row_lengths(), tf.int32)
        outputs["tokens"] = tokens.to_tensor(default_value="", shape=tf.shape(inputs["token_ids"]))
        outputs["num_tokens"] = num_tokens
        outputs["truncated"] = full_lengths > num_tokens
        return outputs

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.track(resources)
    archive.add_endpoint("tag_text", tag_text, input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    archive.add_endpoint("tag_token_ids", tag_token_ids, input_signature=[specs])
    return archive


def build_classifier_archive(model, preprocessor, labels_file, from_logits=None):
    """ExportArchive with `classify_text` (default) and `classify_token_ids` signatures."""
    if from_logits is None:
        from_logits = not outputs_are_probabilities(model)
    resources = _Resources()
    resources.preprocessor = preprocessor
    resources.labels_asset, resources.labels = _label_table(labels_file, None)

    specs = _check_inputs_match(model, preprocessor)

    def classify_token_ids(inputs):
        inputs = dict(inputs)
        inputs["token_ids"], inputs["padding_mask"], has_tokens = _guard_empty_rows(
            inputs["token_ids"], inputs["padding_mask"]
        )
        probabilities = _probabilities(model, inputs, from_logits)  # (B, C)
        probabilities = probabilities * tf.cast(has_tokens, probabilities.dtype)[:, None]
        label_id = tf.where(has_tokens, tf.argmax(probabilities, axis=-1, output_type=tf.int32), -1)  # (B,)
        label = tf.where(has_tokens, resources.labels.lookup(tf.cast(tf.maximum(label_id, 0), tf.int64)), "")
        return {"probabilities": probabilities, "label": label, "label_id": label_id}

    def classify_text(text):
        inputs, tokens, full_lengths = resources.preprocessor(text)
        outputs = classify_token_ids(inputs)
        num_tokens = tf.cast(tokens.row_lengths(), tf.int32)
        outputs["num_tokens"] = num_tokens
        outputs["truncated"] = full_lengths > num_tokens
        return outputs

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.track(resources)
    archive.add_endpoint(
        "classify_text", classify_text, input_signature=[tf.TensorSpec([None], tf.string, name="text")]
    )
    archive.add_endpoint("classify_token_ids", classify_token_ids, input_signature=[specs])
    return archive


def check_causal(model, vocabulary_size, length=6, seed=0):
    """Raises ValueError unless changing tokens after step t leaves outputs at steps <= t unchanged.

    A probe, not a proof: two random batches that agree on the first half are compared.
    """
    rng = np.random.default_rng(seed)
    half = length // 2
    first = rng.integers(4, max(vocabulary_size, 5), size=(2, length)).astype("int32")
    second = first.copy()
    second[:, half:] = rng.integers(4, max(vocabulary_size, 5), size=(2, length - half))
    mask = np.ones((2, length), bool)
    out_a = np.asarray(model({"token_ids": first, "padding_mask": mask}, training=False))
    out_b = np.asarray(model({"token_ids": second, "padding_mask": mask}, training=False))
    if out_a.ndim != 3:
        raise ValueError(
            "`generate` needs a causal language model returning per-step scores (B, T, V). "
            f"Received: a model with output shape {out_a.shape}"
        )
    leak = float(np.max(np.abs(out_a[:, :half] - out_b[:, :half])))
    if leak > 1e-5:
        raise ValueError(
            "The model is not causal: changing tokens after step t changed its outputs at earlier "
            f"steps (max change {leak:.3g}), so it cannot export `generate`. Received: model={model.name!r}"
        )


def build_char_lm_archive(model, preprocessor, from_logits=None, max_new_chars=2000):
    """ExportArchive with `score_text` (default), `score_token_ids` and `generate` signatures.

    Scoring: log p(text) = sum over characters of log p(char | BOS, previous chars) (the chain
    rule; no end token is scored, so it is the log-probability of the text as a prefix).

    Generation re-runs the model on the (growing) window of the last `preprocessor.max_length`
    characters at every step inside one `tf.while_loop`, sampling with a stateless RNG seeded by
    `seed`, so identical requests give identical text.
    """
    if from_logits is None:
        from_logits = not outputs_are_probabilities(model)
    check_causal(model, preprocessor.vocabulary_size)
    if not preprocessor.add_bos:
        raise ValueError(
            "A char LM preprocessor must prepend BOS (add_bos=True) so the first character is scored. "
            f"Received: add_bos={preprocessor.add_bos}"
        )
    resources = _Resources()
    resources.preprocessor = preprocessor
    window = preprocessor.max_length

    def log_probs(token_ids, padding_mask):
        probabilities = _probabilities(model, {"token_ids": token_ids, "padding_mask": padding_mask}, from_logits)
        return tf.math.log(tf.maximum(probabilities, 1e-30))  # (B, T, V)

    def score_token_ids(token_ids, padding_mask):
        # Inputs are [BOS, c1..cn, PAD...]; position t predicts token t + 1.
        logp = log_probs(token_ids, padding_mask)[:, :-1]  # (B, T-1, V)
        targets = token_ids[:, 1:]  # (B, T-1)
        target_mask = tf.cast(padding_mask[:, 1:], tf.float32)  # (B, T-1)
        picked = tf.gather(logp, targets, axis=2, batch_dims=2)  # (B, T-1)
        nats = tf.reduce_sum(picked * target_mask, axis=1)  # (B,)
        return {"log_prob_nats": nats, "log_prob_bits": nats / tf.math.log(2.0)}

    def score_text(text):
        inputs, tokens, full_lengths = resources.preprocessor(text)
        outputs = score_token_ids(inputs["token_ids"], inputs["padding_mask"])
        num_chars = tf.cast(tokens.row_lengths(), tf.int32)
        outputs["num_chars"] = num_chars
        outputs["truncated"] = full_lengths > num_chars
        return outputs

    def generate(prompt, num_chars, temperature, seed):
        tf.debugging.assert_positive(temperature, message="temperature must be > 0")
        tf.debugging.assert_non_negative(num_chars, message="num_chars must be >= 0")
        num_chars = tf.minimum(num_chars, max_new_chars)
        inputs, tokens, full_lengths = resources.preprocessor(prompt)
        ids = inputs["token_ids"]  # (B, T0) [BOS, prompt..., PAD]
        lengths = tf.reduce_sum(tf.cast(inputs["padding_mask"], tf.int32), axis=1)  # (B,)
        batch = tf.shape(ids)[0]
        total = tf.shape(ids)[1] + num_chars
        buffer = tf.concat([ids, tf.zeros([batch, num_chars], tf.int32)], axis=1)  # (B, T0 + N)

        def step(i, buffer, lengths):
            # Window of the last `window` tokens of each row, right-aligned at its length.
            starts = tf.maximum(lengths - window, 0)  # (B,)
            positions = starts[:, None] + tf.range(window)[None, :]  # (B, W)
            valid = positions < lengths[:, None]
            window_ids = tf.gather(buffer, tf.minimum(positions, total - 1), axis=1, batch_dims=1)
            window_ids = tf.where(valid, window_ids, PAD_ID)
            logp = log_probs(window_ids, valid)  # (B, W, V)
            last = tf.gather(logp, tf.minimum(lengths - starts, window) - 1, axis=1, batch_dims=1)  # (B, V)
            # Never sample reserved ids (pad/oov/bos/eos) as characters.
            reserved = tf.one_hot(tf.range(NUM_RESERVED), tf.shape(last)[-1], on_value=-1e9, dtype=last.dtype)
            scaled = last / temperature + tf.reduce_sum(reserved, axis=0)[None, :]
            sample = tf.random.stateless_categorical(
                scaled, 1, seed=tf.stack([seed, i]), dtype=tf.int32
            )[:, 0]  # (B,)
            buffer = tf.tensor_scatter_nd_update(
                buffer, tf.stack([tf.range(batch), lengths], axis=1), sample
            )
            return i + 1, buffer, lengths + 1

        _, buffer, _ = tf.while_loop(
            lambda i, *_: i < num_chars, step, [tf.constant(0), buffer, lengths],
            shape_invariants=[tf.TensorShape([]), tf.TensorShape([None, None]), tf.TensorShape([None])],
        )
        positions = lengths[:, None] + tf.range(num_chars)[None, :]  # (B, N)
        new_ids = tf.gather(buffer, positions, axis=1, batch_dims=1)
        chars = resources.preprocessor.ids_to_tokens(new_ids)  # (B, N)
        text = tf.strings.reduce_join(chars, axis=1)
        num_prompt = tf.cast(tokens.row_lengths(), tf.int32)
        return {"text": text, "prompt_truncated": full_lengths > num_prompt}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.track(resources)
    text_spec = [tf.TensorSpec([None], tf.string, name="text")]
    archive.add_endpoint("score_text", score_text, input_signature=text_spec)
    archive.add_endpoint("score_token_ids", score_token_ids, input_signature=_model_input_signature())
    archive.add_endpoint(
        "generate",
        tf.function(generate, autograph=False),
        input_signature=[
            tf.TensorSpec([None], tf.string, name="prompt"),
            tf.TensorSpec([], tf.int32, name="num_chars"),
            tf.TensorSpec([], tf.float32, name="temperature"),
            tf.TensorSpec([], tf.int32, name="seed"),
        ],
    )
    return archive


# ----------------------------------------------------------------------------------------------
# The one entry point.
# ----------------------------------------------------------------------------------------------
def export_saved_model(
    model,
    base_dir,
    *,
    task,
    tokenizer,
    vocabulary,
    labels=None,
    name=None,
    version=None,
    max_length=128,
    from_logits=None,
    warmup_texts=None,
    overwrite=False,
):
    """Exports a Keras model for TF Serving under `<base_dir>/<name>/<version>/`.

    Args:
        model: a Keras model taking `{"token_ids": int32 (B, T), "padding_mask": bool (B, T)}`.
        base_dir: TF Serving's model base directory (one folder per model name inside).
        task: "tagger" (per-token classes), "classifier" (one class per sequence) or "char_lm".
        tokenizer: object with `tokenize(strings) -> RaggedTensor[string]` made of TF /
            tensorflow-text ops (`seqkeras.data.tokenization.WordTokenizer` / `CharTokenizer`).
        vocabulary: `seqkeras.data.vocabulary.Vocabulary` (or its `.tokens` list) used in training.
        labels: tag or class names in id order (tagger and classifier).
        name: model name, default the task.
        version: positive integer; default the next free version.
        max_length: longest token sequence given to the model; longer texts are truncated.
        from_logits: whether the model outputs logits; default: logits unless its last layer
            has a softmax activation.
        warmup_texts: real example texts for `assets.extra/tf_serving_warmup_requests`; None
            writes no warm-up file.
        overwrite: replace an existing version directory.

    Returns:
        `pathlib.Path` of the written version directory.

    Example:
    ```python
    path = export_saved_model(tagger, "serving", task="tagger", tokenizer=WordTokenizer(),
                              vocabulary=vocab, labels=upos_tags, warmup_texts=dev_texts[:8])
    ```
    """
    if task not in (TAGGER, CLASSIFIER, CHAR_LM):
        raise ValueError(f"`task` must be one of {[TAGGER, CLASSIFIER, CHAR_LM]}. Received: task={task!r}")
    tokens = _check_vocabulary(vocabulary, _embedding_rows(model))
    if task != CHAR_LM:
        labels = _check_labels(labels, "labels")
    name = name or task

    def write(tmp_dir):
        with tempfile.TemporaryDirectory() as scratch:
            vocabulary_file = write_token_file(pathlib.Path(scratch) / "vocabulary.txt", tokens)
            preprocessor = TextPreprocessor(tokenizer, vocabulary_file, max_length, add_bos=(task == CHAR_LM))
            if task == TAGGER or task == CLASSIFIER:
                labels_file = write_token_file(pathlib.Path(scratch) / "labels.txt", labels)
                build = build_tagger_archive if task == TAGGER else build_classifier_archive
                archive = build(model, preprocessor, labels_file, from_logits=from_logits)
            else:
                archive = build_char_lm_archive(model, preprocessor, from_logits=from_logits)
            archive.write_out(str(tmp_dir), verbose=False)
            if warmup_texts is not None:
                requests = build_warmup_requests(name, task, preprocessor, list(warmup_texts))
                write_warmup_requests(tmp_dir, requests)

    return write_version_atomically(base_dir, name, version, write, overwrite=overwrite)
