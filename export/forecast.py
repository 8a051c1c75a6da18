"""Export of a forecast run's model: a SavedModel signature and a TFLite file, both in series units.

    archive = build_forecast_archive(model)           # keras.export.ExportArchive
    archive.write_out("export/forecast/1")
    info = forecast_tflite(model, "forecast.tflite")   # metadata, with the parity check's figure

The SavedModel's `serving_default` takes float32 `window` `[batch, window, features]` (the last
`window` steps, targets first, then covariates, in the series' own units) and returns
`{"forecast": [batch, horizon]}` (plus `"quantiles"` `[batch, horizon, Q]` when the model has a
quantile head). A NaN or Inf in `window` fails the call with "forecast input `window` holds NaN or
Inf", and a window whose values overflow float32 inside the model (e.g. 3e38 where the series is
in the hundreds) with "forecast output is NaN or Inf: ..." (TF Serving returns both as
INVALID_ARGUMENT errors). The TFLite file has the same signature
at batch 1 without that check (TFLite has no assert op): the caller checks its inputs.
"""

import pathlib
import tempfile

import keras
import numpy as np
import tensorflow as tf

NONFINITE_MESSAGE = "forecast input `window` holds NaN or Inf"
OVERFLOW_MESSAGE = ("forecast output is NaN or Inf: the window's values overflow float32 inside the model "
                    "(values far outside the series' range)")


def _window_shape(model):
    shape = model.input_shape
    if isinstance(shape, list):
        raise ValueError(f"A forecast model has one input `window`. Received: input_shape={shape}")
    return int(shape[1]), int(shape[2])


def _outputs(model, window):
    output = model(window, training=False)
    if isinstance(output, dict):
        return {key: tf.cast(value, tf.float32) for key, value in output.items()}
    return {"forecast": tf.cast(output, tf.float32)}


def build_forecast_archive(model, check_finite=True, batch_size=None):
    """An `ExportArchive` with the `serving_default` signature of a forecaster.

    Args:
        model: a forecaster as `build_forecaster` makes it (float32 `window` in, series units).
        check_finite: reject NaN / Inf inputs, and outputs that overflowed, in-graph
            (`tf.debugging.assert_all_finite`).
        batch_size: a fixed batch size (TFLite) or None (any batch).

    Example:

    >>> archive = build_forecast_archive(keras.saving.load_model("runs/forecast/model.keras"))
    >>> archive.write_out("export/forecast/1")
    """
    window, features = _window_shape(model)
    spec = tf.TensorSpec([batch_size, window, features], tf.float32, name="window")

    def serve(window):
        if not check_finite:
            return _outputs(model, window)
        outputs = _outputs(model, tf.debugging.assert_all_finite(window, NONFINITE_MESSAGE))
        return {key: tf.debugging.assert_all_finite(value, OVERFLOW_MESSAGE) for key, value in outputs.items()}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", serve, input_signature=[spec])
    return archive


def _fusion_context():
    from seqkeras.layers.lstm import LSTM

    return LSTM.tflite_fusion()


def forecast_tflite(model, path, parity_windows=None):
    """Converts a forecaster to a float32 TFLite file (batch 1) and checks it against Keras.

    Args:
        model: the forecaster.
        path: where the `.tflite` file goes.
        parity_windows: float32 `[n, window, features]` windows for the parity check (default: a
            constant window of ones, which exercises the graph but says little about real inputs).

    Returns:
        dict: `path`, `window`, `features`, `outputs` (names), `ops` (TFLite op names), `size_bytes`,
        `max_abs_diff` (TFLite vs Keras on `parity_windows`), `finite_check` (False: the caller checks).
    """
    from export.tflite import remove_lstm_cell_clip, tflite_ops

    window, features = _window_shape(model)
    path = pathlib.Path(path)
    with tempfile.TemporaryDirectory() as scratch, _fusion_context():
        build_forecast_archive(model, check_finite=False, batch_size=1).write_out(scratch, verbose=False)
        content = tf.lite.TFLiteConverter.from_saved_model(scratch).convert()
    content, _ = remove_lstm_cell_clip(content)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    if parity_windows is None:
        parity_windows = np.ones((1, window, features), np.float32)
    keras_out = {key: np.asarray(value) for key, value in _outputs(model, tf.constant(parity_windows)).items()}
    lite_out = tflite_forecast(content, parity_windows)
    difference = max(float(np.max(np.abs(keras_out[key] - lite_out[key]))) for key in keras_out)
    return {"path": str(path), "window": window, "features": features, "outputs": sorted(keras_out),
            "ops": tflite_ops(content), "size_bytes": len(content), "max_abs_diff": difference,
            "finite_check": False}


def tflite_forecast(content, windows):
    """Runs a forecast `.tflite` (bytes or path) on `[n, window, features]` windows, one at a time."""
    from ai_edge_litert.interpreter import Interpreter

    if isinstance(content, (str, pathlib.Path)):
        content = pathlib.Path(content).read_bytes()
    interpreter = Interpreter(model_content=content)
    interpreter.allocate_tensors()
    runner = interpreter.get_signature_runner("serving_default")
    rows = []
    for row in np.asarray(windows, np.float32):
        rows.append({key: np.array(value) for key, value in runner(window=row[None]).items()})
        interpreter.reset_all_variables()  # every call is a fresh window
    return {key: np.concatenate([row[key] for row in rows]) for key in rows[0]}


def check_parity(model, export_dir=None, tflite_path=None, windows=None, atol=1e-4):
    """Max abs difference of the SavedModel (in this process) and/or TFLite outputs from Keras
    `predict` on `windows`; raises AssertionError above `atol`. Returns `{"saved_model": d, "tflite": d}`."""
    reference = model.predict(windows, verbose=0)
    reference = reference if isinstance(reference, dict) else {"forecast": reference}
    differences = {}
    if export_dir is not None:
        served = tf.saved_model.load(str(export_dir)).signatures["serving_default"](window=tf.constant(windows))
        differences["saved_model"] = max(float(np.max(np.abs(reference[k] - served[k].numpy()))) for k in reference)
    if tflite_path is not None:
        lite = tflite_forecast(tflite_path, windows)
        differences["tflite"] = max(float(np.max(np.abs(reference[k] - lite[k]))) for k in reference)
    for name, difference in differences.items():
        if not difference <= atol:
            raise AssertionError(f"{name} differs from Keras predict by {difference:.3g} (> {atol})")
    return differences
