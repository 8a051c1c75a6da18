"""TFLite exports of word2vec, biLM and seq2seq runs, and the host-side code that drives them.

`seqkeras export tflite RUN` of these families writes `<out>.tflite` plus `<stem>.json` (metadata)
and the vocabularies the host needs to make ids; every file is read from the run's model.keras.

- **word2vec**: `token_ids` int32 `(batch_size, T)` -> `vectors` float32 `(batch_size, T, dim)`, the
  run's word vectors (its `KeyedVectors`). Ids are the lines of `<stem>.vocabulary.txt` (reserved
  tokens, then the run's words in id order); a reserved id (`<oov>`, id 1, for a word outside the
  vocabulary) gives an all-zero vector, as the SavedModel's `known=False` rows. Words are
  lower-cased first when the run was (`lowercase` in the metadata); `word_ids` does that.
  Nearest neighbours are a host-side dot product with the unit rows (the table is in the model).
- **bilm**: `char_ids` int32 `(batch_size, T, C)` with `C` the run's `max_word_length` (static: pad
  with 0) -> `layers` float32 `(batch_size, L + 1, T, 2H)`: per token what `seqkeras embed` writes
  (layer 0 the character token layer `[x; x]`, layer j `[forward_j; backward_j]`). The split into
  words and the character ids (`<stem>.char_vocabulary.txt`, `lowercase`, `split` in the metadata)
  are the host's; every position is a real word (no padding mask, batch 1 is the usual case).
  Both LSTM stacks become fused `UNIDIRECTIONAL_SEQUENCE_LSTM` ops (TFLite builtins only, no
  `WHILE`); the backward direction reads the words reversed (`REVERSE_SEQUENCE`).
- **seq2seq**: two signatures in one file, **a step model that the host drives**, not a whole
  decode. `encode`: `encoder_token_ids` int32 `(1, T)` -> `context` `(1, C)` and the decoder's
  initial `state_<layer>_<part>` tensors; `decode_step`: the previous `token_ids` int32 `(1,)`, the
  states (and `context` when the run conditions by concatenation) -> next-token `logits` `(1, V)`
  and the new states. Why not one decoding graph: the model's own decoding is a `tf.while_loop`
  over a `TensorArray` that stops at a data-dependent EOS; TFLite runs such loops as `WHILE`
  subgraphs the fused and quantised kernels do not reach, and the device app wants to stop at
  EOS, sample or beam-search itself anyway. The step model has no control flow, each step is one
  small `invoke`, and `Seq2SeqStepRunner.generate` decodes greedily exactly as `seqkeras predict`
  does (`Seq2SeqTask.generate(strategy="greedy")`): BOS first, argmax each step, stop at EOS or
  `max_target_length`. Source characters map to ids with `<stem>.source_vocabulary.txt`; generated
  ids read back with `<stem>.target_vocabulary.txt`. Batch 1, dynamic source length. An LSTM
  encoder fuses; an Elman encoder (`keras.layers.RNN`) runs as a `WHILE` subgraph, once per source.

Quantisation: `float32`, `dynamic_range` and `float16` for every family; `int8` (calibrated on
`representative_texts` run through the run's own preprocessing) for word2vec and the biLM. The
biLM's int8 export keeps its fused LSTMs (and the reversal) in float (`BILM_INT8_FLOAT_OPS`; the
character encoder and projections are int8): with full-int8 LSTMs the parity check on Lee sentences gave layer-1 vectors
with cosine -0.4 to Keras (layer 0 stayed at 0.9997), with float LSTMs every layer is above 0.999. A
seq2seq int8 export is refused with one line: its step signature takes float recurrent states
whose ranges only a decode of real data gives, which the converter's one-signature calibration
does not cover (use `dynamic_range`, whose weights are int8 too).

This module imports no TensorFlow at top level: the runners (`Seq2SeqStepRunner`, `run_signature`)
need only numpy and LiteRT (`ai_edge_litert`), as an app host would.

Example:
```python
from export.task_tflite import Seq2SeqStepRunner
runner = Seq2SeqStepRunner("runs/seq2seq/tflite/model.tflite")
runner.generate(["12+7"])  # ['19']
```
"""

import json
import pathlib

import numpy as np

FAMILIES = ("word2vec", "bilm", "seq2seq")
QUANTIZATIONS = {"word2vec": ("float32", "dynamic_range", "float16", "int8"),
                 "bilm": ("float32", "dynamic_range", "float16", "int8"),
                 "seq2seq": ("float32", "dynamic_range", "float16")}
SEQ2SEQ_INT8_REASON = ("int8 does not apply to seq2seq runs: the decode-step signature takes float recurrent states "
                       "that the converter cannot calibrate; use --quantization dynamic_range (int8 weights) or float16")
# See the module docstring; REVERSE_SEQUENCE has no int8 kernel in LiteRT (`export.tflite` would find
# that out by a failed run and a second quantisation).
BILM_INT8_FLOAT_OPS = ("UNIDIRECTIONAL_SEQUENCE_LSTM", "REVERSE_SEQUENCE")
PAD_ID, OOV_ID, BOS_ID, EOS_ID, NUM_RESERVED = 0, 1, 2, 3, 4  # seqkeras.data.vocabulary, without importing TF


# ----------------------------------------------------------------------------------------------
# Host side: numpy + LiteRT only
# ----------------------------------------------------------------------------------------------
_UNESCAPES = {"\\": "\\", "n": "\n", "r": "\r", "t": "\t"}


def detokenize(ids, tokens):
    """Tokens of generated `ids` up to the first EOS, joined (`<oov>` for an unknown id, PAD and BOS dropped)."""
    pieces = []
    for token in ids:
        if token == EOS_ID:
            break
        if token >= NUM_RESERVED or token == OOV_ID:
            pieces.append(tokens[token])
    return "".join(pieces)


def read_tokens(path):
    """Tokens of a vocabulary file in id order (`seqkeras.data.token_file` format, read without TensorFlow)."""
    text = pathlib.Path(path).read_bytes().decode("utf-8", errors="surrogateescape")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines = lines[:-1]
    tokens = []
    for line in lines:
        out, index = [], 0
        while index < len(line):
            if line[index] == "\\" and index + 1 < len(line) and line[index + 1] in _UNESCAPES:
                out.append(_UNESCAPES[line[index + 1]])
                index += 2
            else:
                out.append(line[index])
                index += 1
        tokens.append("".join(out))
    return tokens


def _interpreter(content):
    from ai_edge_litert.interpreter import Interpreter

    if isinstance(content, (str, pathlib.Path)):
        content = pathlib.Path(content).read_bytes()
    interpreter = Interpreter(model_content=content)
    interpreter.allocate_tensors()
    return interpreter


def run_signature(content, signature, inputs):
    """Runs one signature of a `.tflite` model (bytes or path) once; `{output name: array}`.

    Inputs are cast to the signature's dtypes; every call starts from fresh variable tensors.
    """
    interpreter = _interpreter(content)
    runner = interpreter.get_signature_runner(signature)
    details = runner.get_input_details()
    cast = {key: np.asarray(value, details[key]["dtype"]) for key, value in inputs.items()}
    return {key: np.array(value) for key, value in runner(**cast).items()}


def word_ids(words, vocabulary_tokens, lowercase=True):
    """int32 ids `(len(words),)` of words in a word2vec export's vocabulary (`<oov>` = 1 when unknown)."""
    index = {token: position for position, token in enumerate(vocabulary_tokens) if position >= NUM_RESERVED}
    return np.array([index.get(word.lower() if lowercase else word, OOV_ID) for word in words], np.int32)


class Seq2SeqStepRunner:
    """Greedy decoding with a seq2seq `.tflite` step model (`encode` once, then `decode_step`).

    Args:
        path: the `.tflite` file; `<stem>.json` and the two vocabularies beside it are read.
        num_threads: interpreter threads.

    Example:
    >>> Seq2SeqStepRunner("seq2seq.tflite").generate(["3+45"])  # doctest: +SKIP
    ['48']
    """

    def __init__(self, path, num_threads=1):
        from ai_edge_litert.interpreter import Interpreter

        path = pathlib.Path(path)
        self.metadata = json.loads(path.with_suffix(".json").read_text())
        stem = path.with_suffix("")
        self.source_tokens = read_tokens(f"{stem}.source_vocabulary.txt")
        self.target_tokens = read_tokens(f"{stem}.target_vocabulary.txt")
        self._source_index = {token: i for i, token in enumerate(self.source_tokens) if i >= NUM_RESERVED}
        self.interpreter = Interpreter(model_content=path.read_bytes(), num_threads=num_threads)
        self.interpreter.allocate_tensors()
        self.encoder = self.interpreter.get_signature_runner("encode")
        self.step = self.interpreter.get_signature_runner("decode_step")
        self.state_names = list(self.metadata["state_names"])

    def source_ids(self, text):
        """int32 `(1, T)` encoder ids of one source string (characters, as the run's source lookup)."""
        if self.metadata.get("source_lowercase"):
            text = text.lower()
        ids = [self._source_index.get(char, OOV_ID) for char in text][: self.metadata["source_max_length"]]
        if not ids:  # the Keras model refuses a source with no step too (MaskedPooling / LastValidStep)
            raise ValueError(f"A seq2seq source needs at least one character. Received: text={text!r}")
        return np.array([ids], np.int32)

    def generate_ids(self, source_ids, max_length=None, return_logits=False):
        """Greedy ids `(max_length,)` for encoder ids `(1, T)`: EOS included, PAD after it.

        With `return_logits`, also the `(steps run, V)` logits of every step.
        """
        max_length = int(max_length or self.metadata["max_target_length"])
        encoded = self.encoder(encoder_token_ids=np.asarray(source_ids, np.int32))
        states = {name: encoded[name] for name in self.state_names}
        extra = {"context": encoded["context"]} if self.metadata["step_takes_context"] else {}
        token = np.array([BOS_ID], np.int32)
        ids, logits = np.full(max_length, PAD_ID, np.int32), []
        for step in range(max_length):
            out = self.step(token_ids=token, **extra, **states)
            logits.append(np.array(out["logits"][0]))
            token = np.array([int(np.argmax(out["logits"][0]))], np.int32)
            ids[step] = token[0]
            states = {name: out[name] for name in self.state_names}
            if token[0] == EOS_ID:
                break
        return (ids, np.stack(logits)) if return_logits else ids

    def forced_logits(self, source_ids, previous_ids):
        """Step logits `(T, V)` when the decoder is fed `previous_ids` (BOS first: teacher forcing),
        to compare with the Keras network's logits on the same ids."""
        encoded = self.encoder(encoder_token_ids=np.asarray(source_ids, np.int32))
        states = {name: encoded[name] for name in self.state_names}
        extra = {"context": encoded["context"]} if self.metadata["step_takes_context"] else {}
        logits = []
        for token in previous_ids:
            out = self.step(token_ids=np.array([token], np.int32), **extra, **states)
            logits.append(np.array(out["logits"][0]))
            states = {name: out[name] for name in self.state_names}
        return np.stack(logits)

    def detokenize(self, ids):
        return detokenize(ids, self.target_tokens)

    def generate(self, texts, max_length=None):
        """Greedy targets of source strings, as `seqkeras predict RUN --text ...` gives them."""
        return [self.detokenize(self.generate_ids(self.source_ids(text), max_length)) for text in texts]


def calibration_stats(examples, tokens, oov):
    """What an int8 calibration read: examples, real tokens, `<oov>` tokens and their share."""
    return {"examples": len(examples), "tokens": tokens, "oov_tokens": oov,
            "oov_fraction": oov / tokens if tokens else None}


# ----------------------------------------------------------------------------------------------
# Conversion (TensorFlow imported inside)
# ----------------------------------------------------------------------------------------------
def word2vec_network(model):
    """`{"token_ids", "padding_mask"}` -> `(B, T, dim)` word vectors of a `Word2Vec` (reserved rows zero)."""
    import keras

    table = np.array(keras.ops.convert_to_numpy(model.target_embedding.embeddings), np.float32)
    table[:NUM_RESERVED] = 0.0  # <pad>, <oov>, <bos>, <eos>: no vector
    token_ids = keras.Input((None,), dtype="int32", name="token_ids")
    padding_mask = keras.Input((None,), dtype="bool", name="padding_mask")
    embedding = keras.layers.Embedding(table.shape[0], table.shape[1], trainable=False, name="word_vectors")
    vectors = embedding(token_ids)  # (B, T, D)
    embedding.set_weights([table])
    vectors = vectors * keras.ops.expand_dims(keras.ops.cast(padding_mask, "float32"), -1)  # (B, T, D)
    return keras.Model({"token_ids": token_ids, "padding_mask": padding_mask}, vectors, name="word2vec_vectors")


def bilm_network(task):
    """`{"char_ids", "padding_mask"}` -> `(B, L + 1, T, 2H)`: a biLM run's layers stacked (`ElmoEmbedder`)."""
    import keras

    from seqkeras.models.elmo import ElmoEmbedder

    embedder = ElmoEmbedder.from_bilm(task.network)
    char_ids = keras.Input((None, None), dtype="int32", name="char_ids")
    padding_mask = keras.Input((None,), dtype="bool", name="padding_mask")
    layers = embedder({"char_ids": char_ids, "padding_mask": padding_mask})  # L + 1 x (B, T, 2H)
    stacked = keras.ops.stack(layers, axis=1)  # (B, L + 1, T, 2H)
    return keras.Model({"char_ids": char_ids, "padding_mask": padding_mask}, stacked, name="bilm_layers")


def bilm_examples(lookup, texts):
    """Per-text `{"char_ids": (T, C)}` from the run's `TokenLookup` (C = its `max_word_length`) and
    `{"examples", "tokens", "oov_tokens", "oov_fraction"}` (unknown characters)."""
    import tensorflow as tf

    features = lookup(tf.constant(list(texts)))
    lengths = features["padding_mask"].numpy().sum(axis=1)
    chars = features["char_ids"].numpy()
    examples, tokens, oov = [], 0, 0
    for row, length in enumerate(lengths):
        if not length:
            continue
        example = chars[row, :length, : lookup.max_word_length]
        example = np.pad(example, [[0, 0], [0, lookup.max_word_length - example.shape[1]]]).astype(np.int32)
        real = example[example > 0]
        tokens += real.size
        oov += int(np.sum(real == OOV_ID))
        examples.append({"char_ids": example})
    return examples, calibration_stats(examples, tokens, oov)


def word2vec_examples(texts, vocabulary_tokens, lowercase):
    """Per-text `{"token_ids": (T,)}` of the run's words (its own tokenisation) and OOV statistics."""
    from seqkeras.models.word2vec.training import tokenize_documents

    examples, tokens, oov = [], 0, 0
    for words in tokenize_documents(list(texts), lowercase=lowercase):
        if not words:
            continue
        ids = word_ids(words, vocabulary_tokens, lowercase=lowercase)
        tokens += ids.size
        oov += int(np.sum(ids == OOV_ID))
        examples.append({"token_ids": ids})
    return examples, calibration_stats(examples, tokens, oov)


def _decoder_states(decoder):
    """`[(name, size)]` of the decoder's recurrent states, in `_step` order."""
    import keras

    names = []
    for layer_index, layer in enumerate(decoder.recurrent_layers):
        for part, size in enumerate(keras.tree.flatten(layer.cell.state_size)):
            names.append((f"state_{layer_index}_{part}", int(size)))
    return names


def seq2seq_step_archive(task):
    """An ExportArchive with the `encode` and `decode_step` endpoints of a `Seq2SeqTask` (batch 1)."""
    import keras
    import tensorflow as tf

    from seqkeras.models.seq2seq.generation import context_model

    network = task.network
    context_net = context_model(network)
    decoder = network.get_layer("decoder")
    context_dim = int(context_net.output.shape[-1])
    states = _decoder_states(decoder)
    takes_context = decoder.context_projection is not None

    def encode(encoder_token_ids):
        mask = tf.ones(tf.shape(encoder_token_ids), tf.bool)  # every step is real
        context = context_net({"encoder_token_ids": encoder_token_ids, "encoder_padding_mask": mask}, training=False)
        initial = decoder._initial_states(context)
        outputs = {"context": context}  # (1, C)
        flat = []
        for layer, layer_states in zip(decoder.recurrent_layers, initial):
            if layer_states is None:
                layer_states = [tf.zeros([1, size], context.dtype) for size in keras.tree.flatten(layer.cell.state_size)]
            flat += list(layer_states)
        outputs.update({name: value for (name, _), value in zip(states, flat)})
        return outputs

    def decode_step(inputs):
        conditioned = decoder.context_projection(inputs["context"]) if takes_context else None
        nested, position = [], 0
        for layer in decoder.recurrent_layers:
            count = len(keras.tree.flatten(layer.cell.state_size))
            nested.append([inputs[name] for name, _ in states[position: position + count]])
            position += count
        logits, new_states = decoder._step(inputs["token_ids"], nested, conditioned)  # (1, V)
        flat = [value for layer_states in new_states for value in layer_states]
        return {"logits": logits, **{name: value for (name, _), value in zip(states, flat)}}

    step_specs = {"token_ids": tf.TensorSpec([1], tf.int32, name="token_ids")}
    if takes_context:
        step_specs["context"] = tf.TensorSpec([1, context_dim], tf.float32, name="context")
    for name, size in states:
        step_specs[name] = tf.TensorSpec([1, size], tf.float32, name=name)
    archive = keras.export.ExportArchive()
    archive.track(network)
    archive.track(context_net)
    archive.add_endpoint("encode", encode,
                         input_signature=[tf.TensorSpec([1, None], tf.int32, name="encoder_token_ids")])
    archive.add_endpoint("decode_step", decode_step, input_signature=[step_specs])
    info = {"state_names": [name for name, _ in states], "state_sizes": [size for _, size in states],
            "step_takes_context": takes_context, "context_dim": context_dim}
    return archive, info


def convert_seq2seq(task, quantization="float32", scratch=None):
    """`(tflite bytes, info)` of a `Seq2SeqTask`'s step model (see the module docstring)."""
    import contextlib
    import tempfile

    import tensorflow as tf

    from export.tflite import remove_lstm_cell_clip, tflite_ops
    from seqkeras.layers.lstm import LSTM

    if quantization not in QUANTIZATIONS["seq2seq"]:
        raise ValueError(SEQ2SEQ_INT8_REASON if quantization == "int8" else
                         f"`quantization` must be one of {QUANTIZATIONS['seq2seq']}. Received: quantization={quantization!r}")
    folder = tempfile.TemporaryDirectory() if scratch is None else contextlib.nullcontext(str(scratch))
    with folder as scratch, LSTM.tflite_fusion():
        archive, info = seq2seq_step_archive(task)
        from export.archive import write_archive
        write_archive(archive, scratch)
        converter = tf.lite.TFLiteConverter.from_saved_model(scratch, signature_keys=["encode", "decode_step"])
        if quantization != "float32":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantization == "float16":
            converter.target_spec.supported_types = [tf.float16]
        content = converter.convert()
    content, info["cell_clip_removed"] = remove_lstm_cell_clip(content)
    info["ops"] = tflite_ops(content)
    info["fused_lstm"] = "UNIDIRECTIONAL_SEQUENCE_LSTM" in info["ops"]
    return content, info


def export_task_tflite(run, model, out, *, quantization="float32", representative_texts=None, batch_size=1,
                       sequence_length=None, float_ops=(), overwrite=False):
    """Writes the `.tflite` export of a word2vec / bilm / seq2seq run at `out`; returns its metadata.

    Args:
        run: the loaded run (`pipelines.common.Run`); model: its model.keras.
        out: output `.tflite` path.
        quantization: see `QUANTIZATIONS` (per family).
        representative_texts: real texts for int8 calibration (run through the run's preprocessing).
        batch_size, sequence_length: static batch and time axes (word2vec, bilm; seq2seq is batch 1).
        float_ops: int8 ops kept in float (see `export.tflite.convert`).
        overwrite: replace existing files.

    Raises:
        ValueError: an option that does not apply to the family (one line).
    """
    from export import tflite

    family = run.family
    if quantization not in QUANTIZATIONS[family]:
        if family == "seq2seq" and quantization == "int8":
            raise ValueError(SEQ2SEQ_INT8_REASON)
        raise ValueError(f"--quantization {quantization} does not apply to {family} runs "
                         f"(choose from {', '.join(QUANTIZATIONS[family])})")
    out = pathlib.Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"--out {out} already exists; pass --overwrite to replace it")
    if family == "seq2seq":
        return _export_seq2seq(model, out, quantization=quantization, batch_size=batch_size,
                               sequence_length=sequence_length, float_ops=float_ops)
    calibrated = quantization == "int8"
    if calibrated and not representative_texts:
        raise ValueError("--quantization int8 needs --representative-file (real texts, one per line)")
    if family == "word2vec":
        from seqkeras.data.vocabulary import Vocabulary

        lowercase = bool(run.config.get("lowercase", True))
        vocabulary = Vocabulary(list(model.words))
        representative, calibration = (word2vec_examples(representative_texts, vocabulary.tokens, lowercase)
                                       if calibrated else (None, None))
        network, extra = word2vec_network(model), {"family": "word2vec", "lowercase": lowercase,
                                                   "vector_size": int(model.vector_size)}
        arguments = {"vocabulary": vocabulary, "output_name": "vectors",
                     "id_ranges": {"token_ids": vocabulary.size}}
    else:
        lookup = model.preprocessor
        representative, calibration = bilm_examples(lookup, representative_texts) if calibrated else (None, None)
        network = bilm_network(model)
        extra = {"family": "bilm", "split": lookup.split, "lowercase": bool(lookup.lowercase),
                 "max_word_length": int(lookup.max_word_length), "num_layer_outputs": int(network.output.shape[1]),
                 "layer_dim": int(network.output.shape[-1]),
                 "layers": "0: character token layer [x; x]; j >= 1: [forward_j; backward_j]"}
        if calibrated:
            float_ops = tuple(dict.fromkeys(tuple(float_ops) + BILM_INT8_FLOAT_OPS))
        arguments = {"vocabulary": lookup.vocabulary, "char_vocabulary": lookup.char_vocabulary,
                     "output_name": "layers", "max_word_length": lookup.max_word_length,
                     "id_ranges": {"char_ids": lookup.char_vocabulary.size}}
    if calibrated and not representative:
        raise ValueError("--representative-file holds no text that gives a token")
    return tflite.export_tflite(
        network, out, quantization=quantization, batch_size=batch_size, sequence_length=sequence_length,
        representative_token_ids=representative, float_ops=float_ops, overwrite=overwrite, calibration=calibration,
        extra_metadata=extra, **arguments,
    )


def _export_seq2seq(task, out, *, quantization, batch_size, sequence_length, float_ops):
    from export.versioning import FILE_MODE, scratch_dir
    from seqkeras.data.token_file import write_token_file

    if batch_size != 1:
        raise ValueError(f"--batch-size does not apply to seq2seq runs (the step model decodes one source at a "
                         f"time). Received: --batch-size {batch_size}")
    if sequence_length is not None:
        raise ValueError(f"--sequence-length does not apply to seq2seq runs (the source length stays dynamic). "
                         f"Received: --sequence-length {sequence_length}")
    if float_ops:
        raise ValueError("--float-output-layer does not apply to seq2seq runs (no int8 export)")
    with scratch_dir(out.parent) as scratch:
        content, info = convert_seq2seq(task, quantization, scratch=scratch)
    stem = out.with_suffix("")
    source, target = task.source_preprocessor, task.target_preprocessor
    write_token_file(f"{stem}.source_vocabulary.txt", list(source.vocabulary.tokens))
    write_token_file(f"{stem}.target_vocabulary.txt", list(target.vocabulary.tokens))
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(content)
    tmp.replace(out)
    metadata = {
        "family": "seq2seq",
        "signatures": {
            "encode": {"inputs": {"encoder_token_ids": "int32 [1, T]"},
                       "outputs": ["context"] + info["state_names"]},
            "decode_step": {"inputs": ["token_ids"] + (["context"] if info["step_takes_context"] else [])
                            + info["state_names"], "outputs": ["logits"] + info["state_names"]},
        },
        "decoding": "host loop: token_ids starts at bos_id, feed argmax(logits) back until eos_id or max_target_length",
        "state_names": info["state_names"], "state_sizes": info["state_sizes"],
        "step_takes_context": info["step_takes_context"], "context_dim": info["context_dim"],
        "bos_id": BOS_ID, "eos_id": EOS_ID, "pad_id": PAD_ID, "max_target_length": int(task.max_target_length),
        "source_vocabulary": f"{stem.name}.source_vocabulary.txt",
        "target_vocabulary": f"{stem.name}.target_vocabulary.txt",
        "source_lowercase": bool(source.lowercase),
        "source_max_length": int(source.sequence_length) if source.sequence_length else None,
        "quantization": quantization, "ops": info["ops"], "fused_lstm": info["fused_lstm"],
        "model_bytes": len(content),
        "id_ranges": {"encoder_token_ids": source.vocabulary.size, "token_ids": target.vocabulary.size},
    }
    pathlib.Path(f"{stem}.json").write_text(json.dumps(metadata, indent=2))
    for written in (out, pathlib.Path(f"{stem}.json"), pathlib.Path(f"{stem}.source_vocabulary.txt"),
                    pathlib.Path(f"{stem}.target_vocabulary.txt")):
        written.chmod(FILE_MODE)
    return metadata
