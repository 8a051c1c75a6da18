"""Run any Keras recurrent cell over a packed batch, shrinking the batch as sequences end."""

import keras
import tensorflow as tf

from seqkeras.data.packing import PackedSequence
from seqkeras.layers.lstm_cell import LSTMCell


def _split_steps(values, batch_sizes):
    """TensorArray whose element t holds the `batch_sizes[t]` packed rows of step t."""
    array = tf.TensorArray(
        values.dtype,
        size=tf.shape(batch_sizes)[0],
        infer_shape=False,
        element_shape=[None, values.shape[-1]],
    )
    return array.split(values, batch_sizes)


def _state_sizes(cell):
    sizes = cell.state_size
    return list(sizes) if isinstance(sizes, (list, tuple)) else [sizes]


@keras.saving.register_keras_serializable(package="seqkeras")
class PackedRNN(keras.layers.Layer):
    """Runs a Keras cell over a `seqkeras.data.packing.PackedSequence`.

    A packed batch holds no padding: its sequences are sorted by decreasing length and
    stored time-major, `batch_sizes[t]` of them alive at step `t` (PyTorch
    `PackedSequence` semantics). At step `t` the cell runs on the first `batch_sizes[t]`
    states only, so the work is proportional to the number of real tokens instead of
    `batch * max_length`. States of sequences that have ended are left untouched, so
    after the loop every row holds its own final state. The result equals running the
    cell over the right-padded batch with a padding mask (`keras.layers.RNN`), on the
    real steps.

    Any cell following the Keras cell protocol (`state_size`,
    `call(inputs, states, training=None) -> (output, new_states)`) works, e.g.
    `ElmanCell` or `LSTMCell`. The loop is causal in time.

    Args:
        cell: a Keras cell instance.
        **kwargs: base layer arguments.

    Call arguments:
        packed: a `PackedSequence` whose `data` is `(sum_len, features)` float.
        initial_state: optional list of states, one per `cell.state_size`, each
            `(batch, size)` in the ORIGINAL row order. Defaults to zeros.
        training: passed to the cell.

    Returns:
        `(outputs, final_states)`: `outputs` a `PackedSequence` with the same
        `batch_sizes` / indices and `data` `(sum_len, output_size)`; `final_states` a
        list of `(batch, size)` tensors in the original row order.

    Example:

    >>> from seqkeras.data.packing import pack_sequences
    >>> packed = pack_sequences(tf.ragged.constant(
    ...     [[[1.0], [2.0], [3.0]], [[4.0]]], ragged_rank=1))
    >>> outputs, (h, c) = PackedRNN(LSTMCell(4))(packed)
    >>> outputs.data.shape, h.shape
    (TensorShape([4, 4]), TensorShape([2, 4]))
    """

    def __init__(self, cell, **kwargs):
        super().__init__(**kwargs)
        if isinstance(cell, dict):
            cell = keras.saving.deserialize_keras_object(cell)
        if not hasattr(cell, "state_size") or not callable(cell):
            raise ValueError(
                "PackedRNN expects a Keras cell with `state_size` and "
                f"`call(inputs, states)`. Received: cell={cell!r}"
            )
        self.cell = cell

    def build(self, data_shape, *args, **kwargs):
        if not self.cell.built:
            self.cell.build((None, data_shape[-1]))

    def __call__(self, packed, initial_state=None, training=None, **kwargs):
        """Unpack the `PackedSequence` into tensors (Keras layers take tensors) and re-wrap."""
        self._check_packed(packed)
        data, final_states = super().__call__(
            packed.data,
            batch_sizes=packed.batch_sizes,
            sorted_indices=packed.sorted_indices,
            unsorted_indices=packed.unsorted_indices,
            initial_state=initial_state,
            training=training,
            **kwargs,
        )
        outputs = PackedSequence(
            data=data,  # (N, output_size), same packed order as the input
            batch_sizes=packed.batch_sizes,
            sorted_indices=packed.sorted_indices,
            unsorted_indices=packed.unsorted_indices,
        )
        return outputs, list(final_states)

    def _check_packed(self, packed):
        if not isinstance(packed, PackedSequence):
            raise TypeError(
                "PackedRNN expects a seqkeras.data.packing.PackedSequence. "
                f"Received: {type(packed).__name__}"
            )
        data_shape = tuple(packed.data.shape)
        if len(data_shape) != 2 or data_shape[-1] is None:
            raise ValueError(
                "PackedRNN expects packed.data of shape (sum_len, features) with known "
                f"features. Received: packed.data.shape={data_shape}"
            )
        if not packed.data.dtype.is_floating:
            raise ValueError(
                "PackedRNN expects floating-point packed.data (embed ids first). "
                f"Received: packed.data.dtype={packed.data.dtype.name}"
            )

    def call(
        self,
        data,
        batch_sizes,
        sorted_indices,
        unsorted_indices,
        initial_state=None,
        training=None,
    ):
        """The packed fields as tensors; returns `(output data, final states)`."""
        batch = tf.shape(sorted_indices)[0]
        sizes = _state_sizes(self.cell)
        if initial_state is None:
            states = [tf.zeros([batch, size], data.dtype) for size in sizes]
        else:
            initial_state = list(initial_state)
            if len(initial_state) != len(sizes):
                raise ValueError(
                    f"PackedRNN expects {len(sizes)} initial state(s) for this cell. "
                    f"Received: {len(initial_state)}"
                )
            # Original row order -> sorted order.
            states = [tf.gather(tf.cast(s, data.dtype), sorted_indices) for s in initial_state]
        output_size = getattr(self.cell, "output_size", sizes[0])
        steps = tf.shape(batch_sizes)[0]
        step_fn = self._step_function(data, batch_sizes, training)
        outputs_ta = tf.TensorArray(
            data.dtype, size=steps, infer_shape=False, element_shape=[None, output_size]
        )
        # Rows [n_{t+1}, n_t) end at step t; their final states are stored at index
        # T-1-t so that one concat returns rows 0..n_0-1 in sorted order.
        finals_ta = [
            tf.TensorArray(data.dtype, size=steps, infer_shape=False, element_shape=[None, size])
            for size in sizes
        ]
        next_sizes = tf.concat([batch_sizes[1:], [0]], axis=0)  # (T,)

        def body(t, states, outputs_ta, finals_ta):
            alive, alive_next = batch_sizes[t], next_sizes[t]
            active = [s[:alive] for s in states]  # the n_t longest sequences
            output, new_states = step_fn(t, active)
            finals_ta = [
                ta.write(steps - 1 - t, new[alive_next:]) for ta, new in zip(finals_ta, new_states)
            ]
            return t + 1, new_states, outputs_ta.write(t, output), finals_ta

        _, _, outputs_ta, finals_ta = tf.while_loop(
            lambda t, *_: t < steps,
            body,
            (tf.constant(0), states, outputs_ta, finals_ta),
            shape_invariants=(
                tf.TensorShape([]),
                [tf.TensorShape([None, size]) for size in sizes],
                tf.TensorShape(None),
                [tf.TensorShape(None) for _ in sizes],
            ),
            parallel_iterations=32,
        )
        # Sequences of length 0 (sorted last) keep their initial state.
        started = tf.reduce_max(tf.concat([batch_sizes[:1], [0]], axis=0))  # n_0
        final_states = [
            tf.gather(tf.concat([ta.concat(), s[started:]], axis=0), unsorted_indices)
            for ta, s in zip(finals_ta, states)
        ]  # (B, size) each, original row order
        return outputs_ta.concat(), final_states

    def _step_function(self, data, batch_sizes, training):
        """`(t, states) -> (output, new_states)` for the packed rows of step `t`.

        The steps are read through a `TensorArray` split by `batch_sizes` (whose gradient
        is one concat), not by slicing `data` inside the loop (whose gradient would add a
        full-size padded tensor per step).

        For an `LSTMCell` (default activations or not) the input projections of all
        packed steps are computed in one matmul up front; any other cell is called
        step by step through its Keras API.
        """
        if isinstance(self.cell, LSTMCell):
            cell = self.cell
            projected = tf.matmul(data, cell.kernel)  # (N, 4H), one matmul for all steps
            if cell.use_bias:
                projected = projected + cell.bias

            per_step = _split_steps(projected, batch_sizes)

            def lstm_step(t, states):
                h_prev, c_prev = states  # (n_t, H)
                z = per_step.read(t) + tf.matmul(h_prev, cell.recurrent_kernel)  # (n_t, 4H)
                h, c = cell.gates(z, c_prev)
                return h, [h, c]

            return lstm_step

        per_step = _split_steps(data, batch_sizes)

        def cell_step(t, states):
            x_t = per_step.read(t)  # (n_t, D)
            output, new_states = self.cell(x_t, states, training=training)
            if not isinstance(new_states, (list, tuple)):
                new_states = [new_states]
            return output, list(new_states)

        return cell_step

    def get_config(self):
        config = super().get_config()
        config["cell"] = keras.saving.serialize_keras_object(self.cell)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["cell"] = keras.saving.deserialize_keras_object(config["cell"])
        return cls(**config)
