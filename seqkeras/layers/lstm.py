"""LSTM layer: one input projection, a fused recurrence, cuDNN on GPU, fusable for TFLite.

How the pieces fit (read top to bottom):

- `_fused_recurrence` runs the tanh/sigmoid LSTM recurrence over pre-projected inputs
  with a hand-written backward pass: the backward loop does one matmul per step and
  the recurrent-kernel gradient is a single large matmul after the loop.
- `_generic_recurrence` is the same loop for other activations (autodiff).
- `_standard_lstm(inputs, init_h, init_c, kernel, recurrent_kernel, bias[, mask])`
  projects all inputs with one matmul, runs the recurrence and returns
  `(last_output, outputs, h, c, runtime)`, the argument and result layout of
  TF-Keras 2's `standard_lstm`. Traced as a `tf.function` tagged
  `api_implements="lstm_<uuid>"`, `time_major`, `go_backwards`, the TFLite converter
  replaces it by one `UNIDIRECTIONAL_SEQUENCE_LSTM` op when it has no mask argument,
  a static batch and only results 0 and 1 are used.
- `_cudnn_lstm` has the same signature and calls `CudnnRNNV3` (weights converted to
  cuDNN's canonical layout by `_canonical_to_cudnn_params`). Inside graphs it is never
  called directly: it is registered beside the standard function under the same
  `api_implements` name with `api_preferred_device="GPU"`, and Grappler's
  implementation selector swaps it in when the op is placed on a GPU. A saved graph
  therefore calls the portable function; a model trained on a GPU exports and runs on
  a CPU-only machine.
"""

import contextlib
import functools
import threading
import uuid

import keras
import tensorflow as tf
from keras import ops

from seqkeras.layers._masks import assert_right_padded, check_mask, check_sequence_inputs
from seqkeras.layers._validation import check_choice, check_positive_int, check_rate
from seqkeras.layers.lstm_cell import LSTMCell, check_cell_clip

_RUNTIME_CPU = 1.0
_RUNTIME_GPU = 2.0
_FUSION_STATE = threading.local()


def cpu_has_bfloat16():
    """True when this machine's CPU multiplies bfloat16 natively (AVX512_BF16 or AMX-BF16; Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            flags = next((line.split(":", 1)[1].split() for line in handle if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _tflite_fusion_active():
    return getattr(_FUSION_STATE, "depth", 0) > 0


def _gpu_available():
    return bool(tf.config.list_logical_devices("GPU"))


# --------------------------------------------------------------------------------------
# Recurrences over pre-projected inputs (time-major).
# --------------------------------------------------------------------------------------


def matmul_in(dtype):
    """`matmul(a, b)` computed in `dtype` (None: as given), result in `a`'s dtype."""
    if dtype is None:
        return tf.matmul

    def matmul(a, b):
        return tf.cast(tf.matmul(tf.cast(a, dtype), tf.cast(b, dtype)), a.dtype)

    return matmul


def _forward_loop(xz, h0, c0, recurrent_kernel, step_mask, rec_keep, gate_fn, keep, matmul_dtype=None):
    """Run the recurrence; returns held states and (if `keep`) what the backward pass needs.

    Args:
        xz: `(T, B, 4H)` input projections with the bias added.
        h0, c0: `(B, H)` initial states.
        recurrent_kernel: `(H, 4H)`.
        step_mask: `(T, B, 1)` bool or None; a False step keeps the previous state.
        rec_keep: `(B, H)` recurrent-dropout multiplier or None.
        gate_fn: `(z (B, 4H), c_prev) -> ([i, f, g, o] activated or None, c_new, h_new)`;
            a clipped gate function appends a fifth block, the clip's pass-through
            indicator, which the backward pass reads with the gates.
        keep: also return what the hand-written backward pass needs.
        matmul_dtype: None, or the dtype of the recurrent matmuls (e.g. `tf.bfloat16`;
            states and gates stay in `xz`'s dtype).

    Returns:
        dict with `h` `(T, B, H)` held hidden states and `c_last` `(B, H)`; with `keep`,
        also `c` `(T, B, H)` held cell states, `gates` `(T, B, 4H)` and `c_new`
        `(T, B, H)` (the unheld new cell states); `gates` is `(T, B, 5H)` with a clip.
    """
    steps = tf.shape(xz)[0]
    xs = tf.TensorArray(xz.dtype, size=steps, clear_after_read=True).unstack(xz)
    masks = None
    if step_mask is not None:
        masks = tf.TensorArray(tf.bool, size=steps).unstack(step_mask)
    names = ["h"]
    if keep:
        names += ["c", "gates"]
        if step_mask is not None:
            names.append("c_new")  # without a mask the held and new states coincide
    arrays = tuple(tf.TensorArray(xz.dtype, size=steps) for _ in names)
    if matmul_dtype is not None:
        recurrent_kernel = tf.cast(recurrent_kernel, matmul_dtype)  # once, outside the loop
    matmul = matmul_in(matmul_dtype)

    def body(t, h, c, arrays):
        recurrent_in = h if rec_keep is None else h * rec_keep
        z = xs.read(t) + matmul(recurrent_in, recurrent_kernel)  # (B, 4H)
        gates, c_new, h_new = gate_fn(z, c)
        if masks is not None:
            m = masks.read(t)  # (B, 1)
            h_held = tf.where(m, h_new, h)
            c_held = tf.where(m, c_new, c)
        else:
            h_held, c_held = h_new, c_new
        values = {"h": h_held, "c": c_held, "c_new": c_new}
        if keep:
            values["gates"] = tf.concat(gates, axis=1)  # (B, 4H)
        arrays = tuple(ta.write(t, values[n]) for ta, n in zip(arrays, names))
        return t + 1, h_held, c_held, arrays

    _, _, c_last, arrays = tf.while_loop(
        lambda t, *_: t < steps,
        body,
        (tf.constant(0), h0, c0, arrays),
        parallel_iterations=32,
    )
    result = {n: ta.stack() for n, ta in zip(names, arrays)}
    if keep:
        result.setdefault("c_new", result["c"])
    result["c_last"] = c_last
    return result


def _default_gates(z, c_prev, cell_clip=None, clip_gradient_mask=True):
    """tanh/sigmoid LSTM gates; the activated gates come back as `[i, f, g, o]`.

    With `cell_clip`, `c_new` is clipped to `[-cell_clip, cell_clip]` and a fifth block is
    appended: the clip's derivative, 1.0 where `|f c_prev + i g| <= cell_clip` else 0.0
    (the same subgradient as `tf.clip_by_value`'s, so both paths agree everywhere), unless
    `clip_gradient_mask=False` (inference, where nothing reads it).
    """
    z_i, z_f, z_g, z_o = tf.split(z, 4, axis=1)
    i = tf.sigmoid(z_i)  # input gate
    f = tf.sigmoid(z_f)  # forget gate
    g = tf.tanh(z_g)  # candidate
    o = tf.sigmoid(z_o)  # output gate
    c_new = f * c_prev + i * g
    gates = [i, f, g, o]
    if cell_clip is not None and clip_gradient_mask:
        gates.append(tf.cast(tf.abs(c_new) <= cell_clip, c_new.dtype))  # d clip / d c
    if cell_clip is not None:
        c_new = tf.clip_by_value(c_new, -cell_clip, cell_clip)
    h_new = o * tf.tanh(c_new)
    return gates, c_new, h_new


def _fused_recurrence(xz, h0, c0, recurrent_kernel, step_mask=None, rec_keep=None, cell_clip=None,
                      matmul_dtype=None):
    """tanh/sigmoid recurrence with a hand-written gradient.

    Returns `(hs (T, B, H) held hidden states, c_last (B, H))`. With `cell_clip` the forward
    loop clips every new cell state and stores the clip's pass-through indicator beside the
    gates; without it the graph is the unclipped one, op for op. With `matmul_dtype` the three
    matmuls (forward step, backward step, recurrent-kernel gradient) run in that dtype.
    """
    gate_fn = _default_gates
    if cell_clip is not None:
        gate_fn = functools.partial(_default_gates, cell_clip=cell_clip)

    @tf.custom_gradient
    def run(xz, h0, c0, recurrent_kernel):
        fwd = _forward_loop(xz, h0, c0, recurrent_kernel, step_mask, rec_keep, gate_fn, True, matmul_dtype)
        hs, c_last = fwd["h"], fwd["c_last"]

        def grad(d_hs, d_c_last):
            # Backward through time. With mask m_t, the held state is
            # h_t = m_t h_new + (1 - m_t) h_{t-1} (same for c), so a masked step passes
            # its incoming gradient straight to step t-1. For a real step:
            #   dc_new = dc + dh o (1 - tanh(c_new)^2),   do = dh tanh(c_new),
            #   (with a clip, c_new = clip(f c_{t-1} + i g): dc_new *= [|pre-clip c| <= clip])
            #   di = dc_new g,  df = dc_new c_{t-1},  dg = dc_new i,
            #   dz = [di i(1-i), df f(1-f), dg (1-g^2), do o(1-o)],
            #   dh_{t-1} = dz U^T,  dc_{t-1} = dc_new f,  dU = sum_t h_{t-1}^T dz_t.
            steps = tf.shape(xz)[0]
            if d_hs is None:
                d_hs = tf.zeros_like(hs)
            if d_c_last is None:
                d_c_last = tf.zeros_like(c_last)
            # The cell state each step started from, and its unheld successor.
            c_prev_seq = tf.concat([c0[None], fwd["c"][:-1]], axis=0)  # (T, B, H)
            c_out_seq = fwd["c_new"]
            gates_ta = tf.TensorArray(xz.dtype, size=steps).unstack(fwd["gates"])
            c_prev_ta = tf.TensorArray(xz.dtype, size=steps).unstack(c_prev_seq)
            c_out_ta = tf.TensorArray(xz.dtype, size=steps).unstack(c_out_seq)
            d_hs_ta = tf.TensorArray(xz.dtype, size=steps).unstack(d_hs)
            mask_ta = None
            if step_mask is not None:
                mask_ta = tf.TensorArray(tf.bool, size=steps).unstack(step_mask)
            dz_ta = tf.TensorArray(xz.dtype, size=steps)
            matmul = matmul_in(matmul_dtype)
            recurrent_kernel_t = tf.transpose(recurrent_kernel)  # (4H, H), once
            if matmul_dtype is not None:
                recurrent_kernel_t = tf.cast(recurrent_kernel_t, matmul_dtype)

            def body(t, dh, dc, dz_ta):
                if cell_clip is None:
                    i, f, g, o = tf.split(gates_ta.read(t), 4, axis=1)
                else:
                    i, f, g, o, through = tf.split(gates_ta.read(t), 5, axis=1)
                tanh_c = tf.tanh(c_out_ta.read(t))
                total_dh = d_hs_ta.read(t) + dh  # gradient reaching the held h_t
                if mask_ta is not None:
                    m = mask_ta.read(t)
                    dh_new = tf.where(m, total_dh, tf.zeros_like(total_dh))
                    dc_new = tf.where(m, dc, tf.zeros_like(dc))
                else:
                    dh_new, dc_new = total_dh, dc
                dc_new = dc_new + dh_new * o * (1.0 - tanh_c * tanh_c)
                if cell_clip is not None:
                    dc_new = dc_new * through  # no gradient past the clip
                dz = tf.concat(
                    [
                        dc_new * g * i * (1.0 - i),
                        dc_new * c_prev_ta.read(t) * f * (1.0 - f),
                        dc_new * i * (1.0 - g * g),
                        dh_new * tanh_c * o * (1.0 - o),
                    ],
                    axis=1,
                )  # (B, 4H)
                dh_prev = matmul(dz, recurrent_kernel_t)  # (B, H)
                if rec_keep is not None:
                    dh_prev = dh_prev * rec_keep
                dc_prev = dc_new * f
                if mask_ta is not None:
                    dh_prev = dh_prev + tf.where(m, tf.zeros_like(total_dh), total_dh)
                    dc_prev = dc_prev + tf.where(m, tf.zeros_like(dc), dc)
                return t - 1, dh_prev, dc_prev, dz_ta.write(t, dz)

            _, dh0, dc0, dz_ta = tf.while_loop(
                lambda t, *_: t >= 0,
                body,
                (steps - 1, tf.zeros_like(h0), d_c_last, dz_ta),
                parallel_iterations=32,
            )
            dz_all = dz_ta.stack()  # (T, B, 4H)
            h_prev_seq = tf.concat([h0[None], hs[:-1]], axis=0)  # (T, B, H)
            if rec_keep is not None:
                h_prev_seq = h_prev_seq * rec_keep
            units = tf.shape(h0)[1]
            # One large matmul instead of one per step: sum_t h_{t-1}^T dz_t. An explicit
            # transpose is ~2x faster on CPU than `transpose_a=True` at this shape.
            d_recurrent = matmul(
                tf.transpose(tf.reshape(h_prev_seq, [-1, units])),
                tf.reshape(dz_all, [-1, 4 * units]),
            )  # (H, 4H)
            return dz_all, dh0, dc0, d_recurrent

        return (hs, c_last), grad

    return run(xz, h0, c0, recurrent_kernel)


def _generic_recurrence(xz, h0, c0, recurrent_kernel, gate_fn, step_mask=None, rec_keep=None, matmul_dtype=None):
    """Any-activation recurrence, differentiated by autodiff."""
    fwd = _forward_loop(xz, h0, c0, recurrent_kernel, step_mask, rec_keep, gate_fn, False, matmul_dtype)
    return fwd["h"], fwd["c_last"]


# --------------------------------------------------------------------------------------
# The two implementations sharing one signature (TF-Keras 2 `standard_lstm` layout).
# --------------------------------------------------------------------------------------


def _masked_outputs(hs, step_mask, zero_output_for_mask):
    """Keras output semantics over held states `hs` `(T, B, H)`."""
    if step_mask is None:
        return hs
    if zero_output_for_mask:
        return tf.where(step_mask, hs, tf.zeros_like(hs))
    # Held outputs start from zeros (not from the initial state), as in Keras.
    seen = tf.cumsum(tf.cast(step_mask, tf.int32), axis=0) > 0
    return tf.where(seen, hs, tf.zeros_like(hs))


def _standard_lstm(
    inputs,
    init_h,
    init_c,
    kernel,
    recurrent_kernel,
    bias,
    mask=None,
    *,
    go_backwards=False,
    zero_output_for_mask=False,
    gate_fn=None,
    rec_keep=None,
    cell_clip=None,
    matmul_dtype=None,
):
    """Portable LSTM; returns `(last_output, outputs, h, c, runtime)`, batch-major.

    `gate_fn=None` runs the fused recurrence (hand-written backward), clipped at `cell_clip`
    when set; a `gate_fn` runs the autodiff loop and carries its own clip (`cell_clip` must
    then be None). `matmul_dtype`: None, or the dtype of the input projection and of the
    recurrence's matmuls (both loops).
    """
    if gate_fn is not None and cell_clip is not None:
        raise ValueError(
            "_standard_lstm: pass cell_clip inside gate_fn for the autodiff loop. "
            f"Received: cell_clip={cell_clip!r}"
        )
    units = tf.shape(recurrent_kernel)[0]
    x = tf.transpose(inputs, [1, 0, 2])  # (T, B, D)
    step_mask = None
    if mask is not None:
        step_mask = tf.transpose(mask)[:, :, None]  # (T, B, 1)
    if go_backwards:
        x = tf.reverse(x, [0])
        if step_mask is not None:
            step_mask = tf.reverse(step_mask, [0])
    steps, batch = tf.shape(x)[0], tf.shape(x)[1]
    # All input projections in one matmul before the loop.
    xz = matmul_in(matmul_dtype)(tf.reshape(x, [-1, tf.shape(x)[2]]), kernel) + bias  # (T*B, 4H)
    xz = tf.reshape(xz, [steps, batch, 4 * units])  # (T, B, 4H)
    if gate_fn is None:
        hs, c_last = _fused_recurrence(
            xz, init_h, init_c, recurrent_kernel, step_mask, rec_keep, cell_clip, matmul_dtype
        )
    else:
        hs, c_last = _generic_recurrence(
            xz, init_h, init_c, recurrent_kernel, gate_fn, step_mask, rec_keep, matmul_dtype
        )
    outputs = _masked_outputs(hs, step_mask, zero_output_for_mask)  # (T, B, H)
    h_last = hs[-1]
    outputs = tf.transpose(outputs, [1, 0, 2])  # (B, T, H)
    last_output = outputs[:, -1]
    return last_output, outputs, h_last, c_last, tf.constant(_RUNTIME_CPU)


def _canonical_to_cudnn_params(kernel, recurrent_kernel, bias):
    """Flatten Keras-layout weights into cuDNN's opaque LSTM parameter buffer.

    cuDNN (canonical layout, gate order i, f, c, o like Keras) stores the four input
    matrices, then the four recurrent matrices, each `(H, D)` row-major (the transpose
    of the Keras blocks), then eight biases: four for the input half (zero here) and
    four for the recurrent half (the Keras bias).
    """
    weights = tf.split(kernel, 4, axis=1) + tf.split(recurrent_kernel, 4, axis=1)
    biases = tf.split(tf.zeros_like(bias), 4) + tf.split(bias, 4)
    flat = [tf.reshape(tf.transpose(w), [-1]) for w in weights] + biases
    return tf.concat(flat, axis=0)


def _cudnn_lstm(
    inputs,
    init_h,
    init_c,
    kernel,
    recurrent_kernel,
    bias,
    mask=None,
    *,
    go_backwards=False,
    zero_output_for_mask=False,
    rnn_op=None,
):
    """cuDNN LSTM with the `_standard_lstm` signature (right-padded masks only).

    `rnn_op` defaults to `tf.raw_ops.CudnnRNNV3`; tests pass an emulation of its
    documented semantics to check the weight layout and the padding logic on CPU.
    """
    rnn_op = rnn_op or tf.raw_ops.CudnnRNNV3
    x = tf.transpose(inputs, [1, 0, 2])  # (T, B, D)
    steps, batch = tf.shape(x)[0], tf.shape(x)[1]
    if mask is not None:
        lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)  # (B,)
        if go_backwards:
            x = tf.reverse_sequence(x, lengths, seq_axis=0, batch_axis=1)
    else:
        lengths = tf.fill([batch], steps)
        if go_backwards:
            x = tf.reverse(x, [0])
    params = _canonical_to_cudnn_params(kernel, recurrent_kernel, bias)
    outputs, h, c, _, _ = rnn_op(
        input=x,
        input_h=init_h[None],
        input_c=init_c[None],
        params=params,
        sequence_lengths=lengths,
        rnn_mode="lstm",
        is_training=True,
        time_major=True,
    )  # outputs (T, B, H), zero past each length; h, c (1, B, H)
    h, c = h[0], c[0]
    if mask is not None:
        if go_backwards:
            # Keras order: the reversed padded axis, pads (zero outputs) first.
            outputs = tf.reverse(tf.reverse_sequence(outputs, lengths, 0, 1), [0])
        elif not zero_output_for_mask:
            valid = tf.transpose(mask)[:, :, None]
            outputs = tf.where(valid, outputs, h[None])  # held past the end
    outputs = tf.transpose(outputs, [1, 0, 2])  # (B, T, H)
    return outputs[:, -1], outputs, h, c, tf.constant(_RUNTIME_GPU)


def _cudnn_with_fallback(inputs, init_h, init_c, kernel, recurrent_kernel, bias, mask=None, **kw):
    """cuDNN when the mask is strictly right padded with no empty row, else standard."""
    if mask is None:
        return _cudnn_lstm(inputs, init_h, init_c, kernel, recurrent_kernel, bias, None, **kw)
    lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
    right_padded = tf.reduce_all(tf.equal(mask, tf.sequence_mask(lengths, tf.shape(mask)[1])))
    usable = tf.logical_and(right_padded, tf.reduce_all(lengths > 0))
    args = (inputs, init_h, init_c, kernel, recurrent_kernel, bias, mask)
    # The fallback branch uses the autodiff loop: a custom gradient inside a `cond`
    # branch cannot reach the branch's forward tensors.
    return tf.cond(
        usable,
        lambda: _cudnn_lstm(*args, **kw),
        lambda: _standard_lstm(*args, gate_fn=_default_gates, **kw),
    )


def _tagged_function(fn, api_name, device, go_backwards):
    return tf.function(
        fn,
        autograph=False,
        experimental_attributes={
            "api_implements": api_name,
            "api_preferred_device": device,
            "time_major": False,
            "go_backwards": go_backwards,
        },
    )


@keras.saving.register_keras_serializable(package="seqkeras")
class LSTM(keras.layers.Layer):
    """Long short-term memory layer over `[batch, time, features]` sequences.

    Holds an `LSTMCell` (same weights as `keras.layers.LSTM`) but computes the input
    projections of all steps in one matmul before the time loop, then runs the
    recurrence with a hand-written backward pass (one matmul per step; the
    recurrent-kernel gradient is one large matmul after the loop).

    Masks: a False step keeps the previous state; outputs at masked steps are the
    previous output (or zero with `zero_output_for_mask`, which `Bidirectional` sets),
    exactly as `keras.layers.LSTM`. Any mask works on the portable path; the cuDNN
    kernel needs right padding, so `use_cudnn="auto"` falls back to the portable path
    for other masks and `use_cudnn=True` raises a clear error for them. The layer is
    causal: with `go_backwards=False`, output `t` depends on steps `<= t` only.

    Devices and export: inside graphs the layer calls a portable function tagged like
    TF-Keras 2's LSTM (`api_implements="lstm_<uuid>"`), and registers a cuDNN
    alternative with `api_preferred_device="GPU"`; Grappler picks the cuDNN one when
    the op runs on a GPU (tanh/sigmoid, no recurrent dropout). A SavedModel therefore
    calls the portable function and runs on CPU-only servers whatever device trained
    it. The TFLite converter replaces the portable function by a fused
    `UNIDIRECTIONAL_SEQUENCE_LSTM` when traced with a static batch, no mask and
    `return_state=False`; trace inside `LSTM.tflite_fusion()` to drop masks.

    Cell clip: with `cell_clip=C` every cell state is bounded, `c_t = clip(f c_{t-1} + i g,
    -C, C)` and `h_t = o tanh(c_t)` (ELMo uses 3). It keeps long carried states (truncated
    BPTT) from saturating. cuDNN has no cell clip, so a clipped layer always runs the
    portable recurrence (`use_cudnn="auto"`; `use_cudnn=True` is an error). The TFLite
    converter's fused LSTM ignores the layer's body (it sets its own clip of 10), so a
    clipped layer is not tagged for fusion: it converts as a loop (WHILE) computing the
    clip exactly.

    Args:
        hidden_dim: positive int, size of the hidden and cell states.
        return_sequences: return the output of every step `(B, T, H)` instead of the
            last one `(B, H)`.
        return_state: also return the final `[h, c]`.
        go_backwards: process the sequence in reverse and return the reversed sequence.
        stateful: carry the final states of batch `i` into batch `i + 1` (needs a
            static batch size); `reset_state()` zeroes them.
        activation: candidate / read-out activation (default "tanh").
        recurrent_activation: gate activation (default "sigmoid").
        use_bias, unit_forget_bias, kernel_initializer, recurrent_initializer,
            bias_initializer: as in `LSTMCell`.
        dropout: rate of dropout on the inputs (one mask per sequence, training only).
        recurrent_dropout: rate of dropout on the recurrent input `h_{t-1}` (one mask
            per sequence, training only; disables cuDNN).
        cell_clip: None (default, unbounded) or a positive float bounding every cell
            state to `[-cell_clip, cell_clip]` (disables cuDNN and TFLite fusion).
        zero_output_for_mask: output zeros (instead of the previous output) at masked
            steps.
        use_cudnn: "auto" (cuDNN on GPU when the configuration allows), True (require
            it where a GPU runs the layer; masks must be right padded) or False.
        seed: seed of the dropout masks.
        train_matmul_dtype: None (default: the layer's dtype) or "bfloat16": the dtype of the
            matrix products (input projection, recurrence and their gradients) in training
            calls. States, gates, weights and gradients stay float32, and inference calls
            (`training=False`: evaluation, generation, export) always compute in float32. On a
            CPU with AVX512_BF16 the products ran 1.6-2.1x as fast and a whole hidden-512
            train step ~1.26x (measured on one core); where the CPU has no bfloat16
            instructions they are emulated and slower. Training calls then run the
            portable recurrence (no cuDNN).
        **kwargs: base layer arguments.

    Call arguments:
        sequences: `(B, T, D)` float tensor.
        mask: optional `(B, T)` bool padding mask.
        initial_state: optional list `[h, c]`, each `(B, H)`.
        training: True enables dropout and the fused recurrence with its hand-written
            backward pass (what `fit` uses); False/None runs a lean inference loop
            that stores no gates (still differentiable, by autodiff).

    Returns:
        `(B, H)` or `(B, T, H)`; with `return_state`, `[output, h, c]`.

    Example:

    >>> layer = LSTM(8, return_sequences=True)
    >>> layer(np.zeros((2, 5, 3), "float32")).shape
    TensorShape([2, 5, 8])
    """

    def __init__(
        self,
        hidden_dim,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        unit_forget_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        dropout=0.0,
        recurrent_dropout=0.0,
        zero_output_for_mask=False,
        use_cudnn="auto",
        seed=None,
        cell_clip=None,
        train_matmul_dtype=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.train_matmul_dtype = check_choice("train_matmul_dtype", train_matmul_dtype, (None, "bfloat16"))
        self.hidden_dim = check_positive_int("hidden_dim", hidden_dim)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.dropout = check_rate("dropout", dropout)
        self.recurrent_dropout = check_rate("recurrent_dropout", recurrent_dropout)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.use_cudnn = check_choice("use_cudnn", use_cudnn, ("auto", True, False))
        self.seed = seed
        self.cell = LSTMCell(
            hidden_dim,
            activation=activation,
            recurrent_activation=recurrent_activation,
            use_bias=use_bias,
            unit_forget_bias=unit_forget_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            cell_clip=check_cell_clip(cell_clip),
            dtype=self.dtype_policy,
            trainable=self.trainable,  # a frozen LSTM stays frozen when a saved model is reloaded
            name="cell",
        )
        if use_cudnn is True and cell_clip is not None:
            raise ValueError(
                "use_cudnn=True cannot clip the cell state (cuDNN's LSTM has no cell clip); "
                f"use use_cudnn='auto' or False. Received: cell_clip={cell_clip!r}"
            )
        if use_cudnn is True and not self._cudnn_config_ok:
            raise ValueError(
                "use_cudnn=True needs activation='tanh', recurrent_activation='sigmoid' "
                "and recurrent_dropout=0. Received: "
                f"activation={activation!r}, recurrent_activation={recurrent_activation!r}, "
                f"recurrent_dropout={recurrent_dropout!r}"
            )
        self.seed_generator = keras.random.SeedGenerator(seed)
        self._carried = _CarriedStates()
        self.supports_masking = True
        # XLA would compile the portable loop and bypass cuDNN on GPUs.
        self.supports_jit = not (self._cudnn_config_ok and use_cudnn)

    @property
    def _cudnn_config_ok(self):
        return (
            self.cell.uses_default_activations
            and self.recurrent_dropout == 0
            and self.cell.cell_clip is None
        )

    @property
    def cell_clip(self):
        """The bound on the cell state (None: unbounded); held by `cell`."""
        return self.cell.cell_clip

    @property
    def states(self):
        """The carried `[h, c]` variables of a stateful layer (None otherwise)."""
        return self._carried.states

    @property
    def state_size(self):
        return self.cell.state_size

    @staticmethod
    @contextlib.contextmanager
    def tflite_fusion():
        """Context for tracing a model to convert to TFLite with fused LSTM ops.

        Inside it, LSTM layers ignore padding masks (the fused TFLite kernel has no mask
        input, so feed unpadded inputs, e.g. batch 1) and refuse `return_state` /
        `stateful` (the fused op does not return the final cell state). The batch size
        must be static and the conversion must trace inside the context, e.g.::

            inputs = keras.Input((None, features), batch_size=1)
            model = keras.Model(inputs, head(LSTM(64, return_sequences=True)(inputs)))
            with LSTM.tflite_fusion():
                blob = tf.lite.TFLiteConverter.from_keras_model(model).convert()

        or trace an `ExportArchive` endpoint with a static-batch `TensorSpec` inside the
        context and convert the SavedModel with `from_saved_model`. (Converting a
        `get_concrete_function` of a Keras 3 model with `from_concrete_functions` kept
        the weights as resource variables and gave wrong outputs in our check with
        TF 2.21: use one of the two routes above.)
        """
        _FUSION_STATE.depth = getattr(_FUSION_STATE, "depth", 0) + 1
        try:
            yield
        finally:
            _FUSION_STATE.depth -= 1

    def build(self, sequences_shape, initial_state_shape=None):
        sequences_shape = tuple(sequences_shape)
        if len(sequences_shape) != 3:
            raise ValueError(
                "LSTM expects inputs of rank 3 ([batch, time, features]). "
                f"Received: inputs.shape={sequences_shape}"
            )
        self.cell.build((sequences_shape[0], sequences_shape[2]))
        if self.stateful:
            if sequences_shape[0] is None:
                raise ValueError(
                    "A stateful LSTM needs a static batch size (e.g. "
                    "keras.Input(batch_size=...)). "
                    f"Received: inputs.shape={sequences_shape}"
                )
            # Like keras.layers.LSTM, the carried states are not weights: they are not
            # saved and `get_weights()` stays interchangeable with the Keras layer.
            self._carried.states = [
                keras.Variable(
                    ops.zeros((sequences_shape[0], self.hidden_dim)),
                    trainable=False,
                    dtype=self.variable_dtype,
                    name=f"state_{name}",
                )
                for name in ("h", "c")
            ]

    def reset_state(self):
        """Zero the carried states of a stateful layer."""
        if self.states is not None:
            for state in self.states:
                state.assign(ops.zeros_like(state))

    def reset_states(self):
        self.reset_state()

    def _initial_states(self, sequences, initial_state):
        batch = sequences.shape[0]
        if batch is None:
            batch = tf.shape(sequences)[0]
        if initial_state is None:
            if self.stateful:
                return [tf.identity(ops.convert_to_tensor(s)) for s in self.states]
            zeros = ops.zeros((batch, self.hidden_dim), dtype=sequences.dtype)
            return [zeros, zeros]
        if not isinstance(initial_state, (list, tuple)) or len(initial_state) != 2:
            raise ValueError(
                "LSTM expects initial_state=[h, c]. "
                f"Received: initial_state={initial_state!r}"
            )
        states = [ops.cast(ops.convert_to_tensor(s), sequences.dtype) for s in initial_state]
        for s in states:
            if len(s.shape) != 2 or (s.shape[1] is not None and s.shape[1] != self.hidden_dim):
                raise ValueError(
                    f"LSTM expects initial states of shape (batch, {self.hidden_dim}). "
                    f"Received: initial_state shapes={[tuple(x.shape) for x in states]}"
                )
        return states

    def _weights(self, dtype):
        kernel = ops.cast(ops.convert_to_tensor(self.cell.kernel), dtype)
        recurrent_kernel = ops.cast(ops.convert_to_tensor(self.cell.recurrent_kernel), dtype)
        if self.cell.use_bias:
            bias = ops.cast(ops.convert_to_tensor(self.cell.bias), dtype)
        else:
            bias = tf.zeros([4 * self.hidden_dim], dtype)
        return kernel, recurrent_kernel, bias

    def call(self, sequences, mask=None, initial_state=None, training=None):
        check_sequence_inputs("LSTM", sequences)
        if sequences.shape[1] is None:
            tf.debugging.assert_positive(
                tf.shape(sequences)[1],
                message="LSTM cannot process zero-length sequences; the time axis is",
            )
        mask = check_mask("LSTM", mask, sequences)
        fusion = _tflite_fusion_active()
        if fusion:
            if self.return_state or self.stateful:
                raise ValueError(
                    "LSTM.tflite_fusion() cannot export return_state or stateful layers: "
                    "the fused TFLite op does not return the final cell state. Received: "
                    f"return_state={self.return_state}, stateful={self.stateful}"
                )
            mask = None
        if mask is not None and self.use_cudnn is True:
            mask = assert_right_padded("LSTM (use_cudnn=True)", mask)
        init_h, init_c = self._initial_states(sequences, initial_state)
        if training and self.dropout > 0:
            batch, features = tf.shape(sequences)[0], tf.shape(sequences)[2]
            keep = keras.random.dropout(
                ops.ones((batch, 1, features), sequences.dtype),
                self.dropout,
                seed=self.seed_generator,
            )
            sequences = sequences * keep
        rec_keep = None
        if training and self.recurrent_dropout > 0:
            rec_keep = keras.random.dropout(
                ops.ones_like(init_h), self.recurrent_dropout, seed=self.seed_generator
            )
        kernel, recurrent_kernel, bias = self._weights(sequences.dtype)
        args = (sequences, init_h, init_c, kernel, recurrent_kernel, bias)
        if mask is not None:
            args = args + (mask,)
        last_output, outputs, h, c = self._run(args, rec_keep, bool(training))
        if self.stateful:
            self.states[0].assign(h)
            self.states[1].assign(c)
        output = outputs if self.return_sequences else last_output
        if self.return_state:
            return [output, h, c]
        return output

    def _run(self, args, rec_keep, training):
        """Dispatch to the portable / cuDNN implementation; returns 4 tensors.

        Training uses the fused recurrence (it stores the gates for its hand-written
        backward pass); inference uses the lean loop that stores nothing extra (it is
        still differentiable, by autodiff).
        """
        options = {
            "go_backwards": self.go_backwards,
            "zero_output_for_mask": self.zero_output_for_mask,
        }
        portable = dict(options, gate_fn=None if training else _default_gates)
        matmul_dtype = self.train_matmul_dtype if training else None
        if not self.cell.uses_default_activations:
            gate_fn = lambda z, c: _generic_gates(self.cell, z, c)  # noqa: E731
            return _standard_lstm(*args, gate_fn=gate_fn, rec_keep=rec_keep, matmul_dtype=matmul_dtype,
                                  **options)[:4]
        if self.cell.cell_clip is not None:
            # No cuDNN kernel and no TFLite fusion can clip: the portable recurrence, untagged.
            clip = self.cell.cell_clip
            if training:
                return _standard_lstm(*args, rec_keep=rec_keep, cell_clip=clip, matmul_dtype=matmul_dtype,
                                      **options)[:4]
            gate_fn = functools.partial(_default_gates, cell_clip=clip, clip_gradient_mask=False)
            return _standard_lstm(*args, gate_fn=gate_fn, rec_keep=rec_keep, **options)[:4]
        if rec_keep is not None or matmul_dtype is not None:
            return _standard_lstm(*args, rec_keep=rec_keep, matmul_dtype=matmul_dtype, **options)[:4]
        cudnn_allowed = self.use_cudnn in ("auto", True)
        if tf.executing_eagerly():
            if cudnn_allowed and _gpu_available():
                return _cudnn_with_fallback(*args, **options)[:4]
            return _standard_lstm(*args, **portable)[:4]
        api_name = f"lstm_{uuid.uuid4()}"
        standard = _tagged_function(
            lambda *a: _standard_lstm(*a, **portable), api_name, "CPU", self.go_backwards
        )
        results = standard(*args)
        if cudnn_allowed and not _tflite_fusion_active():
            gpu = _tagged_function(
                lambda *a: _cudnn_with_fallback(*a, **options), api_name, "GPU", self.go_backwards
            )
            concrete = gpu.get_concrete_function(*args)
            concrete.add_to_graph()
            concrete.add_gradient_functions_to_graph()
        return results[:4]

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        batch, steps = sequences_shape[0], sequences_shape[1]
        if self.return_sequences:
            output_shape = (batch, steps, self.hidden_dim)
        else:
            output_shape = (batch, self.hidden_dim)
        if self.return_state:
            state_shape = (batch, self.hidden_dim)
            return [output_shape, state_shape, state_shape]
        return output_shape

    def compute_mask(self, sequences, mask=None):
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask, None, None]
        return output_mask

    def get_config(self):
        config = super().get_config()
        cell_config = self.cell.get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "return_sequences": self.return_sequences,
                "return_state": self.return_state,
                "go_backwards": self.go_backwards,
                "stateful": self.stateful,
                "activation": cell_config["activation"],
                "recurrent_activation": cell_config["recurrent_activation"],
                "use_bias": cell_config["use_bias"],
                "unit_forget_bias": cell_config["unit_forget_bias"],
                "kernel_initializer": cell_config["kernel_initializer"],
                "recurrent_initializer": cell_config["recurrent_initializer"],
                "bias_initializer": cell_config["bias_initializer"],
                "dropout": self.dropout,
                "recurrent_dropout": self.recurrent_dropout,
                "zero_output_for_mask": self.zero_output_for_mask,
                "use_cudnn": self.use_cudnn,
                "seed": self.seed,
                "cell_clip": self.cell.cell_clip,
                "train_matmul_dtype": self.train_matmul_dtype,
            }
        )
        return config


class _CarriedStates:
    """Plain holder, so Keras does not track the stateful variables as layer weights."""

    def __init__(self):
        self.states = None


def _generic_gates(cell, z, c_prev):
    """The cell's own activations, in the `_default_gates` result layout."""
    h_new, c_new = cell.gates(z, c_prev)
    return None, c_new, h_new
