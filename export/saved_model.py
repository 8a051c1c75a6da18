"""SavedModel export for TF Serving: versioned, atomic, with raw-string and token-id signatures.

Layout written (what TF Serving scans)::

    <base_dir>/<name>/<version>/saved_model.pb
                                variables/
                                assets/vocabulary.txt, assets/labels.txt
                                assets.extra/tf_serving_warmup_requests

A version is built in the model folder's hidden scratch area (`<base_dir>/<name>/.tmp/<pid>-...`, a
name TF Serving ignores) and renamed onto its number when complete, a rename that claims the number
(`export/versioning.py`): a polling server never loads half a model and two exports never share a
version. An existing version is refused unless `overwrite=True`.

Every request signature checks its input in the graph (`validated_text` / `validated_ids`): rank,
1..`max_batch_size` rows, at most `max_text_chars` characters per text, token-id rows of 1..
`max_sequence_length` positions, ids in `[0, vocabulary size)`; the `request_limits` signature and
`assets.extra/request_limits.json` record the limits (`RequestLimits`).

Signatures (inputs and outputs are named; `serving_default` is the raw-string one):

- tagger: `tag_text(text)` -> `tokens`, `tags`, `tag_ids`, `tag_probabilities`, `num_tokens`,
  `truncated`; `tag_token_ids(token_ids, padding_mask[, char_ids])` -> `tags`, `tag_ids`,
  `tag_probabilities`.
- classifier: `classify_text(text)` -> `probabilities`, `label`, `label_id`, `num_tokens`,
  `truncated`; `classify_token_ids(token_ids, padding_mask)` -> `probabilities`, `label`, `label_id`.
- char LM: `score_text(text)` -> `log_prob_nats`, `log_prob_bits`, `num_characters`, `truncated`;
  `score_token_ids(token_ids, padding_mask)` (characters without BOS) -> the same scores;
  `generate(prompt, num_chars, temperature, top_k, top_p, seed)` -> `text`, `num_characters`,
  `prompt_truncated`.

- every export: `request_limits()` -> the limits above.

Padded positions get tag "" and tag id -1; a row without tokens (empty text) gets label "", label id
-1 and all-zero probabilities; text beyond `max_length` tokens is truncated (`truncated` is True).

The raw-string signatures run `seqkeras.data.token_lookup.TokenLookup` (the same layer a Keras model
can put in front of itself) with its tables read from `assets/vocabulary.txt` (and
`char_vocabulary.txt`); `export/SERVING.md` says why assets.
"""

import json
import pathlib

import keras
import tensorflow as tf

from export.archive import write_archive
from export.versioning import write_version_atomically
from export.warmup import build_warmup_requests, write_warmup_requests
from seqkeras.data.token_file import write_token_file
from seqkeras.data.token_lookup import SPLITS, TokenLookup
from seqkeras.data.vocabulary import BOS_ID, EOS_ID, OOV_ID, PAD_ID

TAGGER = "tagger"
CLASSIFIER = "classifier"
CHAR_LM = "char_lm"

# Request limits written into every export (see `RequestLimits`); `--max-batch-size` and
# `--max-text-chars` change them.
DEFAULT_MAX_BATCH_SIZE = 128
DEFAULT_MAX_TEXT_CHARS = 10000
LIMITS_FILE = "request_limits.json"  # in assets.extra/, for hosts without TensorFlow (serving_client)


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


def _check_inputs_match(model, token_lookup):
    specs = model_input_specs(model)
    extra = sorted(set(specs) - {"token_ids", "padding_mask", "char_ids"})
    if extra:
        raise ValueError(f"Cannot build model inputs {extra} from raw text. Received: a model with inputs {sorted(specs)}")
    if ("char_ids" in specs) != token_lookup.has_chars:
        raise ValueError(
            "The model's `char_ids` input and the export's character vocabulary must go together. "
            f"Received: model inputs {sorted(specs)}, char_vocabulary given={token_lookup.has_chars}"
        )
    return specs


def _text_features(token_lookup, text, specs):
    """Raw text -> (model inputs named as in `specs`, {`tokens`, `num_tokens`, `truncated`})."""
    features = token_lookup(text, return_tokens=True)
    inputs = {key: features.pop(key) for key in specs}
    return inputs, features


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


def _label_table(labels_file):
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


# ----------------------------------------------------------------------------------------------
# Request validation inside the serving graph.
# ----------------------------------------------------------------------------------------------
class RequestLimits:
    """What one request may hold, fixed at export and checked in the graph (and by `serving_client`).

    Args:
        max_batch_size: most rows (texts, prompts or token-id rows) per request.
        max_text_chars: most characters (Unicode code points) per text or prompt; checked before
            tokenization, so an oversized string costs one length pass, not a tokenization.
        max_sequence_length: most positions per token-id row (default `max_text_chars`, plus
            BOS/EOS: a token covers at least one character).
        id_ranges: {input name: number of ids}; ids must lie in `[0, n)` (negative ones included
            in the refusal: an embedding lookup would otherwise wrap or clamp them).
        max_new_chars: char LM only, the largest `num_chars` of `generate`.
    """

    def __init__(self, max_batch_size=DEFAULT_MAX_BATCH_SIZE, max_text_chars=DEFAULT_MAX_TEXT_CHARS,
                 max_sequence_length=None, id_ranges=None, max_new_chars=None):
        for key, value in (("max_batch_size", max_batch_size), ("max_text_chars", max_text_chars)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`{key}` must be a positive integer. Received: {key}={value!r}")
        self.max_batch_size = int(max_batch_size)
        self.max_text_chars = int(max_text_chars)
        self.max_sequence_length = None if max_sequence_length is None else int(max_sequence_length)
        self.id_ranges = {key: int(value) for key, value in (id_ranges or {}).items()}
        self.max_new_chars = None if max_new_chars is None else int(max_new_chars)

    def as_dict(self):
        return {"max_batch_size": self.max_batch_size, "max_text_chars": self.max_text_chars,
                "max_sequence_length": self.max_sequence_length, "id_ranges": dict(self.id_ranges),
                "max_new_chars": self.max_new_chars}

    def endpoint(self):
        """A no-input function returning the limits (the `request_limits` signature)."""
        values = self.as_dict()

        def request_limits():
            outputs = {
                "max_batch_size": tf.constant(values["max_batch_size"], tf.int32),
                "max_text_chars": tf.constant(values["max_text_chars"], tf.int32),
                "max_sequence_length": tf.constant(values["max_sequence_length"] or -1, tf.int32),
            }
            for key, value in values["id_ranges"].items():
                outputs[f"{key}_range"] = tf.constant(value, tf.int32)
            if values["max_new_chars"] is not None:
                outputs["max_new_chars"] = tf.constant(values["max_new_chars"], tf.int32)
            return outputs

        return request_limits


def _guarded(ok, template, values, tensors):
    """`tensors` (a dict), passed on only when `ok` holds; else an InvalidArgumentError whose message
    is `template` formatted with `values` (`tf.strings.format`: "{}" per value).

    The check feeds the tensors by data, not by a control edge: it parses "0" when `ok` holds and
    the message otherwise (StringToNumber fails and quotes it), and each tensor is recomputed from the
    result (0). So no later op (a reshape, a lookup, the model) can run before the check and fail
    first with its own message. (An Assert with control dependencies did not give that order.)
    """
    message = tf.strings.format(template, values, summarize=8)
    zero = tf.strings.to_number(tf.where(ok, tf.constant("0"), message), tf.int32)
    return {key: _depend(value, zero) for key, value in tensors.items()}


def _depend(value, zero):
    """`value` unchanged, computed from `zero` (0) by an op Grappler does not drop (a Reshape to a
    shape + 0 can be removed as redundant)."""
    if value.dtype == tf.string:
        return tf.strings.join([value, tf.strings.substr(tf.strings.as_string(zero), 0, 0)])
    if value.dtype == tf.bool:
        return tf.logical_and(value, tf.equal(zero, 0))
    return value + tf.cast(zero, value.dtype)


def _checked_rank(name, tensors, rank):
    tensor = tensors[name]
    return _guarded(tf.equal(tf.rank(tensor), rank),
                    f"`{name}` must have rank {rank}. Received: rank {{}}, shape {{}}",
                    [tf.rank(tensor), tf.shape(tensor)], tensors)


def _checked_batch(name, tensors, batch, limits):
    return _guarded((batch >= 1) & (batch <= limits.max_batch_size),
                    f"`{name}` must hold 1 to {limits.max_batch_size} rows (max_batch_size). Received: {{}} rows",
                    [batch], tensors)


def validated_text(name, text, limits):
    """Checks a raw-text input: rank 1, 1..max_batch_size rows, each at most max_text_chars characters."""
    tensors = _checked_rank(name, {name: text}, 1)
    text = tf.ensure_shape(tensors[name], [None])
    tensors = _checked_batch(name, {name: text}, tf.shape(text)[0], limits)
    lengths = tf.strings.length(tensors[name], unit="UTF8_CHAR")  # (B,)
    longest = tf.reduce_max(tf.concat([lengths, [0]], axis=0))
    tensors = _guarded(longest <= limits.max_text_chars,
                       f"each `{name}` must have at most {limits.max_text_chars} characters (max_text_chars). "
                       "Received: {} characters at row {}",
                       [longest, tf.argmax(lengths, output_type=tf.int32)], tensors)
    return tf.ensure_shape(tensors[name], [None])


def validated_ids(inputs, ranks, limits):
    """Checks a token-id request: ranks, 1..max_batch_size rows, 1..max_sequence_length positions,
    equal (B, T) across inputs, every id in its `[0, n)` range."""
    inputs = dict(inputs)
    for key in sorted(inputs):
        inputs = _checked_rank(key, inputs, ranks[key])
    inputs = {key: tf.ensure_shape(value, [None] * ranks[key]) for key, value in inputs.items()}
    shape = tf.shape(inputs["token_ids"])  # (B, T)
    inputs = _checked_batch("token_ids", inputs, shape[0], limits)
    most = limits.max_sequence_length
    ok_length = shape[1] >= 1 if most is None else (shape[1] >= 1) & (shape[1] <= most)
    inputs = _guarded(ok_length, f"`token_ids` rows must have 1 to {most or 'any number of'} positions. "
                                 "Received: length {}", [shape[1]], inputs)
    for key in sorted(inputs):
        if key == "token_ids":
            continue
        inputs = _guarded(tf.reduce_all(tf.equal(tf.shape(inputs[key])[:2], shape)),
                          f"`{key}` must have the (batch, time) shape of `token_ids` {{}}. Received: shape {{}}",
                          [shape, tf.shape(inputs[key])], inputs)
    for key, size in sorted(limits.id_ranges.items()):
        if key not in inputs:
            continue
        flat = tf.reshape(inputs[key], [-1])
        low = tf.reduce_min(tf.concat([flat, [0]], axis=0))
        high = tf.reduce_max(tf.concat([flat, [0]], axis=0))
        inputs = _guarded((low >= 0) & (high < size),
                          f"`{key}` must be ids in [0, {size}). Received: min {{}}, max {{}}", [low, high], inputs)
    return {key: tf.ensure_shape(value, [None] * ranks[key]) for key, value in inputs.items()}


def _ranks(specs):
    return {key: len(spec.shape) for key, spec in specs.items()}


def _open_specs(specs):
    """The signature's specs with the rank left open, so a wrong rank reaches `validated_ids`."""
    return {key: tf.TensorSpec(None, spec.dtype, name=key) for key, spec in specs.items()}


def _id_ranges(token_lookup, specs):
    ranges = {"token_ids": token_lookup.vocabulary_size}
    if "char_ids" in specs and token_lookup.has_chars:
        ranges["char_ids"] = token_lookup.char_vocabulary.size
    return ranges


def _check_labels(labels, what):
    labels = [str(label) for label in (labels or [])]
    if not labels:
        raise ValueError(f"`{what}` must list the output classes in id order. Received: {what}={labels}")
    for label in labels:
        if "\n" in label or "\r" in label or label == "":
            raise ValueError(f"Each of `{what}` must be a non-empty single-line string. Received: {label!r}")
    return labels


def _labelled_resources(model, token_lookup, labels_file, from_logits):
    """Set-up shared by the tagger and classifier archives: (from_logits, resources, token-id specs)."""
    if from_logits is None:
        from_logits = not outputs_are_probabilities(model)
    resources = _Resources()
    resources.token_lookup = token_lookup
    resources.labels_asset, resources.labels = _label_table(labels_file)
    specs = _check_inputs_match(model, token_lookup)
    return from_logits, resources, specs


def _limits_for(limits, token_lookup, specs):
    """`limits` completed with the export's id ranges and longest sequence."""
    limits = limits or RequestLimits()
    limits.id_ranges = {**_id_ranges(token_lookup, specs), **limits.id_ranges}
    if limits.max_sequence_length is None:  # a token covers at least one character
        limits.max_sequence_length = limits.max_text_chars + int(token_lookup.add_bos) + int(token_lookup.add_eos)
    return limits


def _text_and_ids_archive(model, resources, text_name, text_fn, ids_name, ids_fn, specs, limits):
    """ExportArchive tracking `model` and `resources`, with validated raw-text and token-id endpoints
    and the `request_limits` endpoint."""
    ranks = _ranks(specs)

    def text_endpoint(text):
        return text_fn(validated_text("text", text, limits))

    def ids_endpoint(inputs):
        return ids_fn(validated_ids(inputs, ranks, limits))

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.track(resources)
    archive.add_endpoint(text_name, text_endpoint, input_signature=[tf.TensorSpec(None, tf.string, name="text")])
    archive.add_endpoint(ids_name, ids_endpoint, input_signature=[_open_specs(specs)])
    archive.add_endpoint("request_limits", limits.endpoint(), input_signature=[])
    return archive


# ----------------------------------------------------------------------------------------------
# Archives per task.
# ----------------------------------------------------------------------------------------------
def build_tagger_archive(model, token_lookup, labels_file, from_logits=None, limits=None):
    """ExportArchive with `tag_text` (default), `tag_token_ids` and `request_limits` signatures.

    `token_lookup` is the `TokenLookup` of the raw-text signature (`sequence_length` = the
    export's `max_length`); `labels_file` a token file of the tags in id order; `limits` a
    `RequestLimits` (default limits when None) checked by both request signatures.
    """
    from_logits, resources, specs = _labelled_resources(model, token_lookup, labels_file, from_logits)
    limits = _limits_for(limits, token_lookup, specs)

    def tag_token_ids(inputs):
        padding_mask = inputs["padding_mask"]
        probabilities = _probabilities(model, inputs, from_logits)  # (B, T, C)
        mask = tf.cast(padding_mask, probabilities.dtype)[..., None]  # (B, T, 1)
        tag_ids = tf.argmax(probabilities, axis=-1, output_type=tf.int32)  # (B, T)
        tag_ids = tf.where(padding_mask, tag_ids, -1)
        tags = tf.where(padding_mask, resources.labels.lookup(tf.cast(tf.maximum(tag_ids, 0), tf.int64)), "")
        return {"tags": tags, "tag_ids": tag_ids, "tag_probabilities": probabilities * mask}

    def tag_text(text):
        inputs, details = _text_features(resources.token_lookup, text, specs)
        return {**tag_token_ids(inputs), **details}

    return _text_and_ids_archive(model, resources, "tag_text", tag_text, "tag_token_ids", tag_token_ids, specs,
                                 limits)


def build_classifier_archive(model, token_lookup, labels_file, from_logits=None, limits=None):
    """ExportArchive with `classify_text` (default), `classify_token_ids` and `request_limits` signatures."""
    from_logits, resources, specs = _labelled_resources(model, token_lookup, labels_file, from_logits)
    limits = _limits_for(limits, token_lookup, specs)

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
        inputs, details = _text_features(resources.token_lookup, text, specs)
        details.pop("tokens")
        return {**classify_token_ids(inputs), **details}

    return _text_and_ids_archive(
        model, resources, "classify_text", classify_text, "classify_token_ids", classify_token_ids, specs, limits
    )


def _has_carried_state(model):
    return all(callable(getattr(model, name, None)) for name in ("run", "step", "initial_states"))


def build_char_lm_archive(model, token_lookup, vocabulary, from_logits=None, max_new_chars=2000, limits=None):
    """ExportArchive with `score_text` (default), `score_token_ids` and `generate` signatures.

    Scoring is the chain rule, as `CharScorer`: log p(text) = sum over characters of
    log p(c_t | BOS, c_1..c_{t-1}) (no end token is scored). `score_token_ids` takes the ids of
    the characters *without* BOS, right-padded, like `CharScorer.score_ids`.

    `generate(prompt, num_chars, temperature, top_k, top_p, seed)` continues each prompt (BOS is
    prepended; an empty prompt starts a document) by up to `num_chars` (capped at
    `max_new_chars`; outside [1, max_new_chars] the request is refused) characters. A model with a carried state (`run`/`step`/`initial_states`,
    e.g. `CharLanguageModel`) runs `CharGenerator`'s in-graph loop: one step per character. Other
    causal models re-read a window of the last `max_length` tokens per character. Sampling is
    stateless and seeded: identical requests give identical text. A sampled end-of-document id
    ends that row early. `token_lookup` adds BOS (no EOS) and normally splits characters (generated
    tokens are joined without a separator); its `sequence_length` is the longest text scored and
    the window of models without a carried state.
    """
    from seqkeras import sampling
    from seqkeras.models.char_lm.causality import check_causal

    if from_logits is None:
        from_logits = not outputs_are_probabilities(model)
    try:
        check_causal(model, token_lookup.vocabulary_size)
    except ValueError as error:
        raise ValueError(f"Cannot export `generate`/`score` for a model that is not causal: {error}") from None
    if not token_lookup.add_bos or token_lookup.add_eos or token_lookup.sequence_length is None:
        raise ValueError(
            "A char LM's TokenLookup must prepend BOS (add_bos=True) so the first character is scored, add no "
            f"EOS and set sequence_length. Received: add_bos={token_lookup.add_bos}, add_eos={token_lookup.add_eos}, "
            f"sequence_length={token_lookup.sequence_length}"
        )
    specs = model_input_specs(model)
    resources = _Resources()
    resources.token_lookup = token_lookup
    window = token_lookup.sequence_length
    limits = _limits_for(limits, token_lookup, specs)
    limits.max_new_chars = int(max_new_chars)

    def log_probs(inputs):
        outputs = tf.cast(model(inputs, training=False), tf.float32)
        if from_logits:
            return tf.nn.log_softmax(outputs, axis=-1)  # (B, T, V)
        return tf.math.log(tf.maximum(outputs, 1e-30))

    def score_token_ids(inputs):
        token_ids, padding_mask = inputs["token_ids"], inputs["padding_mask"]  # (B, T) characters
        batch = tf.shape(token_ids)[0]
        shifted = tf.concat([tf.fill([batch, 1], BOS_ID), token_ids[:, :-1]], axis=1)  # (B, T)
        shifted_mask = tf.concat([tf.ones([batch, 1], tf.bool), padding_mask[:, :-1]], axis=1)
        logp = log_probs({"token_ids": shifted, "padding_mask": shifted_mask})  # (B, T, V)
        picked = tf.gather(logp, token_ids, axis=2, batch_dims=2)  # (B, T)
        nats = tf.reduce_sum(picked * tf.cast(padding_mask, tf.float32), axis=1)  # (B,)
        return {
            "log_prob_nats": nats,
            "log_prob_bits": nats / tf.math.log(2.0),
            "num_characters": tf.reduce_sum(tf.cast(padding_mask, tf.int32), axis=1),
        }

    def score_text(text):
        inputs, details = _text_features(resources.token_lookup, text, specs)
        # Drop the BOS the text layer put in front: score_token_ids adds its own.
        chars = {"token_ids": inputs["token_ids"][:, 1:], "padding_mask": inputs["padding_mask"][:, 1:]}
        chars = {key: tf.cond(tf.shape(value)[1] > 0, lambda v=value: v,
                              lambda v=value: tf.zeros([tf.shape(v)[0], 1], v.dtype)) for key, value in chars.items()}
        outputs = score_token_ids(chars)
        outputs["truncated"] = details["truncated"]
        return outputs

    if _has_carried_state(model):
        from seqkeras.models.char_lm.char_generator import CharGenerator

        resources.generator = CharGenerator(model, vocabulary, tokenizer=token_lookup.tokenizer)

        def sample_ids(ids, mask, num_chars, temperature, top_k, top_p, seed):
            return resources.generator.generate_ids(
                ids, mask, num_chars, temperature, top_k, top_p, tf.constant(-1), seed
            )
    else:

        def sample_ids(ids, mask, num_chars, temperature, top_k, top_p, seed):
            batch = tf.shape(ids)[0]
            lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)  # (B,)
            total = tf.shape(ids)[1] + num_chars
            buffer = tf.concat([ids, tf.zeros([batch, num_chars], tf.int32)], axis=1)  # (B, S + N)
            never = tf.reduce_any(tf.equal(tf.range(token_lookup.vocabulary_size)[:, None],
                                           [[PAD_ID, OOV_ID, BOS_ID]]), axis=1)  # (V,)

            def step(i, buffer, lengths, finished, produced):
                starts = tf.maximum(lengths - window, 0)  # (B,)
                positions = starts[:, None] + tf.range(window)[None, :]  # (B, W)
                valid = positions < lengths[:, None]
                window_ids = tf.where(valid, tf.gather(buffer, tf.minimum(positions, total - 1), batch_dims=1), PAD_ID)
                logp = log_probs({"token_ids": window_ids, "padding_mask": valid})  # (B, W, V)
                last = tf.gather(logp, lengths - starts - 1, batch_dims=1)  # (B, V)
                last = tf.where(never, tf.constant(-1e9, last.dtype), last)
                step_seed = tf.random.experimental.stateless_fold_in(seed, i)
                sample = sampling.sample_next_ids(last, step_seed, temperature, top_k, top_p)  # (B,)
                finished = finished | tf.equal(sample, EOS_ID)
                sample = tf.where(finished, PAD_ID, sample)
                buffer = tf.tensor_scatter_nd_update(buffer, tf.stack([tf.range(batch), lengths], axis=1), sample)
                return i + 1, buffer, lengths + 1, finished, produced + tf.cast(~finished, tf.int32)

            _, buffer, _, _, produced = tf.while_loop(
                lambda i, *_: i < num_chars, step,
                [tf.constant(0), buffer, lengths, tf.zeros([batch], tf.bool), tf.zeros([batch], tf.int32)],
            )
            positions = lengths[:, None] + tf.range(num_chars)[None, :]  # (B, N)
            return tf.gather(buffer, positions, batch_dims=1), produced

    def generate(prompt, num_chars, temperature, top_k, top_p, seed):
        prompt = validated_text("prompt", prompt, limits)
        num_chars = _guarded(
            (num_chars >= 1) & (num_chars <= max_new_chars),
            f"`num_chars` must be in [1, {max_new_chars}] (max_new_chars). Received: num_chars={{}}", [num_chars],
            {"num_chars": num_chars})["num_chars"]
        # both sampling paths: an infinite temperature flattens the masked special ids back in (<oov> drawn)
        temperature = _guarded(
            tf.math.is_finite(temperature) & (temperature > 0),
            "`temperature` must be a finite number > 0. Received: temperature={}", [temperature],
            {"temperature": temperature})["temperature"]
        checked = _guarded((top_k >= 0) & (top_p > 0) & (top_p <= 1),
                           "`top_k` must be >= 0 and `top_p` in (0, 1]. Received: top_k={}, top_p={}",
                           [top_k, top_p], {"top_k": top_k, "top_p": top_p})
        top_k, top_p = checked["top_k"], checked["top_p"]
        inputs, details = _text_features(resources.token_lookup, prompt, specs)
        seed_pair = tf.stack([seed, tf.constant(0, tf.int32)])
        ids, lengths = sample_ids(inputs["token_ids"], inputs["padding_mask"], num_chars, temperature,
                                  top_k, top_p, seed_pair)  # (B, N), (B,)
        keep = tf.sequence_mask(lengths, maxlen=tf.shape(ids)[1])
        chars = tf.where(keep, resources.token_lookup.ids_to_tokens(ids), "")  # (B, N)
        return {
            "text": tf.strings.reduce_join(chars, axis=1),
            "num_characters": lengths,
            "prompt_truncated": details["truncated"],
        }

    archive = _text_and_ids_archive(
        model, resources, "score_text", score_text, "score_token_ids", score_token_ids, specs, limits
    )
    archive.add_endpoint(
        "generate",
        generate,
        input_signature=[
            tf.TensorSpec([None], tf.string, name="prompt"),
            tf.TensorSpec([], tf.int32, name="num_chars"),
            tf.TensorSpec([], tf.float32, name="temperature"),
            tf.TensorSpec([], tf.int32, name="top_k"),
            tf.TensorSpec([], tf.float32, name="top_p"),
            tf.TensorSpec([], tf.int32, name="seed"),
        ],
    )
    return archive


# ----------------------------------------------------------------------------------------------
# The one entry point.
# ----------------------------------------------------------------------------------------------
def _as_vocabulary(vocabulary):
    from seqkeras.data.vocabulary import NUM_RESERVED, Vocabulary

    if isinstance(vocabulary, Vocabulary):
        return vocabulary
    return Vocabulary(list(vocabulary)[NUM_RESERVED:])


def _split_arguments(tokenizer, task, lowercase):
    """`TokenLookup` arguments `split`, `byte_fallback`, `lowercase` for `export_saved_model`'s `tokenizer`."""
    from seqkeras.data.tokenization import CharTokenizer, WordTokenizer

    if tokenizer is None:
        tokenizer = "char" if task == CHAR_LM else "whitespace"
    if isinstance(tokenizer, str) and tokenizer in SPLITS:
        return {"split": tokenizer, "byte_fallback": False, "lowercase": bool(lowercase)}
    if isinstance(tokenizer, CharTokenizer):
        return {"split": "char", "byte_fallback": tokenizer.byte_fallback, "lowercase": bool(lowercase)}
    if isinstance(tokenizer, WordTokenizer) and tokenizer.errors == "strict":
        # A lower-casing WordTokenizer gave lower-cased words in training: look them up lower-cased.
        return {"split": tokenizer.method, "byte_fallback": False, "lowercase": bool(lowercase or tokenizer.lowercase)}
    raise ValueError(
        f"`tokenizer` must be one of {SPLITS}, a CharTokenizer or a WordTokenizer(errors='strict'): the "
        f"serving graph rebuilds the split from TokenLookup's config. Received: tokenizer={tokenizer!r}"
    )


def export_saved_model(
    model,
    base_dir,
    *,
    task,
    vocabulary,
    tokenizer=None,
    labels=None,
    lowercase=False,
    char_vocabulary=None,
    max_word_length=16,
    name=None,
    version=None,
    max_length=128,
    from_logits=None,
    warmup_texts=None,
    overwrite=False,
    max_batch_size=DEFAULT_MAX_BATCH_SIZE,
    max_text_chars=DEFAULT_MAX_TEXT_CHARS,
):
    """Exports a Keras model for TF Serving under `<base_dir>/<name>/<version>/`.

    Args:
        model: a Keras model taking `{"token_ids": int32 (B, T), "padding_mask": bool (B, T)}`
            (plus `char_ids` int32 (B, T, C) for a tagger with character features).
        base_dir: TF Serving's model base directory (one folder per model name inside).
        task: "tagger" (per-token classes), "classifier" (one class per sequence) or "char_lm".
        vocabulary: `seqkeras.data.vocabulary.Vocabulary` (or its `.tokens`) used in training.
        tokenizer: how text was split in training: one of `TokenLookup`'s splits ("char",
            "whitespace", "unicode_script") or a `CharTokenizer` / `WordTokenizer` (read back
            as that split); default "whitespace" for the tagger and the classifier, "char" for
            the char LM.
        labels: tag or class names in id order (tagger and classifier).
        lowercase: lower-case tokens before the vocabulary lookup (as the training `TokenLookup`).
        char_vocabulary: character `Vocabulary` for the `char_ids` input, if the model has one.
        max_word_length: characters kept per word for `char_ids`.
        name: model name, default the task.
        version: positive integer; default the next free version.
        max_length: longest token sequence given to the model (the char LM's BOS included);
            longer texts are truncated.
        from_logits: whether the model outputs logits; default: logits unless its last layer
            has a softmax activation.
        warmup_texts: real example texts for `assets.extra/tf_serving_warmup_requests`; None
            writes no warm-up file.
        overwrite: replace an existing version directory (with an explicit `version`).
        max_batch_size: most rows per request (texts or token-id rows); larger batches are
            refused by the signatures. Recorded in the `request_limits` signature and
            `assets.extra/request_limits.json`.
        max_text_chars: most characters per text or prompt; longer ones are refused.

    Returns:
        `pathlib.Path` of the written version directory.

    Raises:
        FileExistsError: `version` exists (or was claimed by another export meanwhile) and
            `overwrite` is False. Without `version` the next free number is claimed instead.

    Example:
    ```python
    lookup = build_word_lookup(train_words)                 # the tagger's TokenLookup (training used it)
    path = export_saved_model(tagger, "serving", task="tagger", labels=upos_tags,
                              **preprocessing_arguments(lookup), warmup_texts=dev_texts[:8])
    ```
    """
    if task not in (TAGGER, CLASSIFIER, CHAR_LM):
        raise ValueError(f"`task` must be one of {[TAGGER, CLASSIFIER, CHAR_LM]}. Received: task={task!r}")
    tokens = _check_vocabulary(vocabulary, _embedding_rows(model))
    if task != CHAR_LM:
        labels = _check_labels(labels, "labels")
    add_bos = task == CHAR_LM
    if isinstance(max_length, bool) or int(max_length) != max_length or max_length < 1 + int(add_bos):
        raise ValueError(f"`max_length` must be an integer >= {1 + int(add_bos)}. Received: max_length={max_length}")
    split_arguments = _split_arguments(tokenizer, task, lowercase)
    name = name or task
    limits = RequestLimits(max_batch_size=max_batch_size, max_text_chars=max_text_chars)
    if warmup_texts is not None:
        warmup_texts = [str(text) for text in warmup_texts]
        for index, text in enumerate(warmup_texts):
            if len(text) > max_text_chars:
                raise ValueError(f"Warm-up text {index + 1} has {len(text)} characters, over max_text_chars="
                                 f"{max_text_chars}; TF Serving would refuse to load the version. Received: "
                                 f"{text[:40]!r}...")

    def write(tmp_dir, scratch):
        # The tables read these files from `scratch`; the SavedModel copies them into assets/.
        char_file = None
        if char_vocabulary is not None:
            char_file = write_token_file(scratch / "char_vocabulary.txt", list(char_vocabulary.tokens))
        token_lookup = TokenLookup(
            write_token_file(scratch / "vocabulary.txt", tokens), **split_arguments, add_bos=add_bos,
            sequence_length=int(max_length), pad_to_sequence_length=False, char_vocabulary=char_file,
            max_word_length=max_word_length, name="token_lookup",
        )
        if task == TAGGER or task == CLASSIFIER:
            labels_file = write_token_file(scratch / "labels.txt", labels)
            build = build_tagger_archive if task == TAGGER else build_classifier_archive
            archive = build(model, token_lookup, labels_file, from_logits=from_logits, limits=limits)
        else:
            archive = build_char_lm_archive(model, token_lookup, _as_vocabulary(vocabulary), from_logits=from_logits,
                                            limits=limits)
        write_archive(archive, str(tmp_dir))
        write_request_limits(tmp_dir, limits)
        if warmup_texts is not None:
            requests = build_warmup_requests(name, task, token_lookup, warmup_texts,
                                             batch_size=min(4, limits.max_batch_size))
            write_warmup_requests(tmp_dir, requests)

    return write_version_atomically(base_dir, name, version, write, overwrite=overwrite)


def write_request_limits(version_dir, limits):
    """Writes `assets.extra/request_limits.json` (what `serving_client.read_request_limits` reads)."""
    extra = pathlib.Path(version_dir) / "assets.extra"
    extra.mkdir(parents=True, exist_ok=True)
    path = extra / LIMITS_FILE
    path.write_text(json.dumps(limits.as_dict(), indent=2) + "\n")
    return path


def export_archive(archive, base_dir, name, *, version=None, overwrite=False, limits=None):
    """Writes a ready `keras.export.ExportArchive` as a version of `name` (atomic, as every export)."""

    def write(tmp_dir):
        write_archive(archive, str(tmp_dir))
        if limits is not None:
            write_request_limits(tmp_dir, limits)

    return write_version_atomically(base_dir, name, version, write, overwrite=overwrite)


def text_task_arguments(task_model):
    """`export_saved_model` keyword arguments read from a `TextTask` (its attached `TokenLookup`).

    Returns the token-id network as `model` plus the vocabulary, split (as a tokenizer), lower-casing,
    character vocabulary, word length, the longest sequence and the labels; nothing comes from side
    files or flags.
    """
    lookup = task_model.preprocessor
    if not isinstance(lookup, TokenLookup):
        raise ValueError(f"The TextTask's preprocessor must be a TokenLookup. Received: {type(lookup).__name__}")
    return {"model": task_model.network, **preprocessing_arguments(lookup), "labels": task_model.labels}


def preprocessing_arguments(lookup):
    """`export_saved_model` keyword arguments that rebuild `lookup` (the `TokenLookup` training used).

    The vocabulary, split (as a tokenizer), lower-casing, character vocabulary and word length,
    plus `max_length` when the lookup has a `sequence_length`.
    """
    from seqkeras.data.tokenization import CharTokenizer

    if not isinstance(lookup, TokenLookup):
        raise ValueError(f"`lookup` must be a TokenLookup. Received: lookup={type(lookup).__name__}")
    tokenizer = CharTokenizer(byte_fallback=lookup.byte_fallback) if lookup.split == "char" else lookup.split
    arguments = {
        "vocabulary": lookup.vocabulary,
        "tokenizer": tokenizer,
        "lowercase": lookup.lowercase,
        "char_vocabulary": lookup.char_vocabulary,
        "max_word_length": lookup.max_word_length,
    }
    if lookup.sequence_length is not None:
        arguments["max_length"] = lookup.sequence_length
    return arguments
