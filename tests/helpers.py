"""Shared test helpers: `run_layer_test`, the contract every seqkeras layer passes.

`run_layer_test(layer_cls, init_kwargs, input_data, ...)` checks, in order:

1. config: no weights before `build`; every constructor argument appears in
   `get_config()` with the value given, `from_config(get_config())` gives the same
   config, and the layer survives a JSON serialize/deserialize through `keras.saving`
   (so it is registered);
2. eager call (with `mask` when given): output shape(s), finite values, weight counts;
3. mask propagation: the output mask is the input mask (default), none, or a given array;
4. symbolic call in a functional model: static output shape(s) agree with the eager ones,
   and, given the eager layer's weights, its compiled `predict` reproduces the eager
   outputs;
5. `.keras` save/load in a temporary folder: the reloaded model gives identical outputs;
6. one `fit` step (SGD, MSE on every output): the loss is finite and trainable weights move.

Keras-style cells (objects with `state_size`) are wrapped in `keras.layers.RNN`
(`rnn_kwargs`, default `return_sequences=True`); the cell's own config is checked too.
Arrays inside `call_kwargs` (e.g. `initial_state=[h, c]`) become extra model inputs.
"""

import copy
import gzip
import inspect
import json
import os
import tempfile

import keras
import numpy as np

_SAME_AS_INPUT = "input"


def _keras_mask(tensor):
    """The mask Keras attached to `tensor` (eager or symbolic), or None."""
    return getattr(tensor, "_keras_mask", None)


def _normalise(value):
    """JSON round trip so tuples/lists and numpy scalars compare equal."""
    return json.loads(json.dumps(value, default=lambda o: o.tolist()))


def _is_array(value):
    return isinstance(value, np.ndarray) or keras.ops.is_tensor(value)


def _input_dtype(array):
    """The `keras.Input` dtype for a NumPy array (text arrays become "string")."""
    return "string" if array.dtype.kind in "OSU" else str(array.dtype)


def _symbolic_structure(structure, prefix, batch_size=None):
    """Replace every array leaf of `structure` with a `keras.Input` of the same dtype.

    Returns (symbolic structure, list of Inputs, list of matching arrays).
    """
    inputs, arrays = [], []

    def convert(leaf):
        if not _is_array(leaf):
            return leaf
        array = np.asarray(leaf)
        tensor = keras.Input(
            shape=array.shape[1:],
            batch_size=batch_size,
            dtype=_input_dtype(array),
            name=f"{prefix}_{len(inputs)}",
        )
        inputs.append(tensor)
        arrays.append(array)
        return tensor

    return keras.tree.map_structure(convert, structure), inputs, arrays


def _check_config(layer, init_kwargs, layer_cls):
    config = layer.get_config()
    for name, value in init_kwargs.items():
        assert name in config, f"get_config() lacks constructor argument {name!r}: {config}"
        if isinstance(value, (str, int, float, bool, tuple, list, type(None))):
            assert _normalise(config[name]) == _normalise(value), (
                f"get_config()[{name!r}] = {config[name]!r}, constructed with {value!r}"
            )
    # from_config may consume its argument (keras.layers.RNN pops "cell"): pass a copy.
    revived = layer_cls.from_config(copy.deepcopy(config))
    assert _normalise(revived.get_config()) == _normalise(config)

    serialized = keras.saving.serialize_keras_object(layer)
    restored = keras.saving.deserialize_keras_object(json.loads(json.dumps(serialized)))
    assert type(restored) is type(layer), f"JSON round trip gave {type(restored)}"
    assert _normalise(restored.get_config()) == _normalise(config)


def _check_shapes(outputs, expected_output_shape):
    flat = keras.tree.flatten(outputs)
    if expected_output_shape is None:
        return
    if isinstance(expected_output_shape, tuple):
        expected = [expected_output_shape]
    else:
        expected = list(expected_output_shape)
    got = [tuple(keras.ops.shape(o)) for o in flat]
    assert got == [tuple(e) for e in expected], f"output shapes {got}, expected {expected}"


def _check_mask(output, mask, expected_output_mask):
    got = _keras_mask(keras.tree.flatten(output)[0])
    if isinstance(expected_output_mask, str) and expected_output_mask == _SAME_AS_INPUT:
        expected = mask
    else:
        expected = expected_output_mask
    if expected is None:
        assert got is None, f"expected no output mask, got {got}"
        return
    assert got is not None, "the layer dropped the mask"
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(got), np.asarray(expected))


def reload_keras(model, **load_kwargs):
    """`model` saved to a temporary `.keras` file and loaded back."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        return keras.saving.load_model(path, **load_kwargs)


def run_layer_test(
    layer_cls,
    init_kwargs,
    input_data,
    expected_output_shape=None,
    mask=None,
    expected_output_mask=_SAME_AS_INPUT,
    call_kwargs=None,
    rnn_kwargs=None,
    expected_num_trainable_weights=None,
    expected_num_non_trainable_weights=None,
    run_training=True,
    run_saving=True,
    fixed_batch_size=False,
    wrap_in_rnn=None,
    seed=0,
):
    """Run the shared layer checks; returns the eager output (for further assertions).

    Args:
        layer_cls: the layer (or cell) class.
        init_kwargs: dict of constructor arguments.
        input_data: numpy array `[B, T, ...]` fed as the first call argument.
        expected_output_shape: shape tuple, or list of tuples for several outputs;
            concrete (eager) shapes. None skips the check.
        mask: optional boolean array `[B, T]` passed as `mask=`.
        expected_output_mask: "input" (the output carries `mask`, the default when a
            mask is given), None (no output mask) or an array.
        call_kwargs: extra call arguments; array leaves become extra model inputs.
        rnn_kwargs: for cells, arguments of the wrapping `keras.layers.RNN`.
        expected_num_trainable_weights / expected_num_non_trainable_weights: counts
            after the first call. None skips the check.
        run_training: run one `fit` step.
        run_saving: save/load through a `.keras` file.
        fixed_batch_size: give the functional model's inputs a static batch size
            (needed by stateful RNN layers).
        wrap_in_rnn: run the layer inside `keras.layers.RNN`; None (default) decides
            by the cell protocol (`state_size` and a `states` call argument).
        seed: seed for `keras.utils.set_random_seed`.
    """
    keras.utils.set_random_seed(seed)
    call_kwargs = dict(call_kwargs or {})
    if mask is None:
        expected_output_mask = None
    input_data = np.asarray(input_data)

    layer = layer_cls(**init_kwargs)
    assert not layer.weights, (
        f"{layer_cls.__name__} created weights in __init__; create them in build(): "
        f"{[w.path for w in layer.weights]}"
    )
    _check_config(layer, init_kwargs, layer_cls)

    is_cell = wrap_in_rnn
    if is_cell is None:
        # A Keras-style cell: `state_size` and `call(inputs, states, ...)`.
        parameters = inspect.signature(layer.call).parameters
        is_cell = hasattr(layer, "state_size") and "states" in parameters

    def make_layer():
        inner = layer_cls(**init_kwargs)
        if is_cell:
            kwargs = {"return_sequences": True, **(rnn_kwargs or {})}
            return keras.layers.RNN(inner, **kwargs)
        return inner

    # Eager call.
    eager_layer = layer = make_layer()
    if is_cell:
        _check_config(layer, {}, keras.layers.RNN)
    mask_kwargs = {} if mask is None else {"mask": np.asarray(mask, dtype=bool)}
    eager = layer(input_data, **mask_kwargs, **call_kwargs)
    _check_shapes(eager, expected_output_shape)
    for value in keras.tree.flatten(eager):
        assert np.all(np.isfinite(keras.ops.convert_to_numpy(value))), "non-finite output"
    if expected_num_trainable_weights is not None:
        assert len(layer.trainable_weights) == expected_num_trainable_weights, (
            f"{len(layer.trainable_weights)} trainable weights: "
            f"{[w.path for w in layer.trainable_weights]}"
        )
    if expected_num_non_trainable_weights is not None:
        assert len(layer.non_trainable_weights) == expected_num_non_trainable_weights
    if mask is not None:
        _check_mask(eager, mask, expected_output_mask)

    # Symbolic call in a functional model (a fresh layer, so build runs on symbolic shapes).
    keras.utils.set_random_seed(seed)
    layer = make_layer()
    batch_size = input_data.shape[0] if fixed_batch_size else None
    x = keras.Input(
        shape=input_data.shape[1:],
        batch_size=batch_size,
        dtype=_input_dtype(input_data),
        name="inputs",
    )
    model_inputs, model_arrays = [x], [input_data]
    symbolic_kwargs = {}
    if mask is not None:
        mask_array = np.asarray(mask, dtype=bool)
        mask_in = keras.Input(
            shape=mask_array.shape[1:], batch_size=batch_size, dtype="bool", name="mask"
        )
        model_inputs.append(mask_in)
        model_arrays.append(mask_array)
        symbolic_kwargs["mask"] = mask_in
    extra, extra_inputs, extra_arrays = _symbolic_structure(call_kwargs, "call_arg", batch_size)
    model_inputs += extra_inputs
    model_arrays += extra_arrays
    symbolic = layer(x, **symbolic_kwargs, **extra)
    for sym, eag in zip(keras.tree.flatten(symbolic), keras.tree.flatten(eager)):
        static = tuple(sym.shape)
        concrete = tuple(keras.ops.shape(eag))
        assert len(static) == len(concrete), f"symbolic rank {static} vs eager {concrete}"
        for s, c in zip(static[1:], concrete[1:]):
            assert s is None or s == c, f"symbolic shape {static} vs eager {concrete}"
    if mask is not None and expected_output_mask is not None:
        assert _keras_mask(keras.tree.flatten(symbolic)[0]) is not None, (
            "the symbolic output carries no mask"
        )
    model = keras.Model(model_inputs, symbolic)
    # With the eager layer's weights, the compiled graph reproduces the eager call.
    layer.set_weights(eager_layer.get_weights())
    reference = keras.tree.flatten(model.predict_on_batch(model_arrays))
    for graph_value, eager_value in zip(reference, keras.tree.flatten(eager)):
        np.testing.assert_allclose(
            graph_value,
            keras.ops.convert_to_numpy(eager_value),
            atol=1e-5,
            err_msg="graph (predict) and eager outputs differ",
        )

    if run_saving:
        reloaded = reload_keras(model)
        restored = keras.tree.flatten(reloaded.predict_on_batch(model_arrays))
        for a, b in zip(reference, restored):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)

    if run_training and model.trainable_weights:
        before = [np.array(w.numpy()) for w in model.trainable_weights]
        num_outputs = len(reference)
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate=0.1),
            loss=["mse"] * num_outputs if num_outputs > 1 else "mse",
            jit_compile=False,
        )
        rng = np.random.default_rng(seed)
        targets = [rng.normal(size=r.shape).astype("float32") for r in reference]
        loss = model.train_on_batch(model_arrays, targets if num_outputs > 1 else targets[0])
        loss = float(np.ravel(loss)[0])
        assert np.isfinite(loss), f"training loss {loss}"
        after = [w.numpy() for w in model.trainable_weights]
        moved = [not np.allclose(b, a) for b, a in zip(before, after)]
        assert any(moved), "one fit step changed no trainable weight"
    return eager


def assert_causal(call, inputs, step, mask=None, seed=0, atol=1e-5):
    """Changing `inputs[:, step + 1:]` must leave `call(...)[:, :step + 1]` unchanged.

    Args:
        call: function `(inputs, mask) -> outputs [B, T, ...]` (mask may be None).
        inputs: float array `[B, T, ...]`.
        step: last step whose outputs must not move.
        mask: optional `[B, T]` bool mask passed through unchanged.
        seed: seed of the replacement values for the future steps.
    """
    inputs = np.asarray(inputs)
    rng = np.random.default_rng(seed)
    changed = inputs.copy()
    future = changed[:, step + 1 :]
    changed[:, step + 1 :] = rng.normal(scale=3.0, size=future.shape).astype(inputs.dtype)
    before = keras.ops.convert_to_numpy(call(inputs, mask))
    after = keras.ops.convert_to_numpy(call(changed, mask))
    np.testing.assert_allclose(
        before[:, : step + 1],
        after[:, : step + 1],
        atol=atol,
        err_msg=f"outputs at steps <= {step} changed when later inputs changed",
    )


def assert_padded_matches_unpadded(call, sequences, per_step=True, atol=1e-5, pad_value=0.0):
    """Right-pad `sequences` into one masked batch; every row must equal its own run.

    Args:
        call: function `(inputs [B, T, ...], mask [B, T] or None) -> outputs` whose
            outputs are either per step `[B, T, ...]` or per row `[B, ...]`.
        sequences: list of float arrays `[T_i, ...]` of different lengths.
        per_step: True when outputs keep the time axis (compared on the real steps),
            False when they are one vector per row.
        pad_value: value written into the padded steps (use a large one to catch leaks).
    """
    lengths = [len(s) for s in sequences]
    max_len = max(lengths)
    feature_shape = np.asarray(sequences[0]).shape[1:]
    batch = np.full((len(sequences), max_len, *feature_shape), pad_value, dtype="float32")
    mask = np.zeros((len(sequences), max_len), dtype=bool)
    for i, seq in enumerate(sequences):
        batch[i, : lengths[i]] = seq
        mask[i, : lengths[i]] = True
    padded = keras.ops.convert_to_numpy(call(batch, mask))
    for i, seq in enumerate(sequences):
        alone = keras.ops.convert_to_numpy(call(np.asarray(seq, "float32")[None], None))[0]
        got = padded[i, : lengths[i]] if per_step else padded[i]
        np.testing.assert_allclose(
            got, alone, atol=atol, err_msg=f"row {i} (length {lengths[i]}) differs when padded"
        )
    return padded, mask


def conllu_slice(source, target, count, stride=1):
    """Writes `count` sentences (every `stride`-th) of a CoNLL-U(.gz) file to `target` (plain .conllu)."""
    blocks = gzip.open(source, "rt", encoding="utf-8").read().split("\n\n")[::stride][:count]
    target.write_text("\n\n".join(blocks) + "\n\n", encoding="utf-8")
    return target


def outputs_and_grads(layer, inputs, mask, initial_state, training=True):
    """An LSTM layer's (`return_state=True`) outputs and gradients w.r.t. inputs, initial states
    and weights of a mixed loss.

    `training=True` runs the fused recurrence with its hand-written backward pass;
    `training=False` the lean inference loop (differentiated by autodiff)."""
    import tensorflow as tf

    x = tf.convert_to_tensor(inputs)
    states = None if initial_state is None else [tf.convert_to_tensor(s) for s in initial_state]
    with tf.GradientTape() as tape:
        tape.watch(x)
        if states is not None:
            tape.watch(states)
        output, h, c = layer(x, mask=mask, initial_state=states, training=training)
        loss = tf.reduce_sum(output**2) + tf.reduce_sum(tf.sin(h)) + 3.0 * tf.reduce_sum(c)
    sources = [x] + (states or []) + list(layer.trainable_weights)
    return [output, h, c], tape.gradient(loss, sources)
