"""The direct multi-horizon forecaster: a window of the series in, the next `horizon` values out.

    window (B, W, F) in series units
      -> Normalization (training-part mean / std, saved with the model)     # (B, W, F)
      -> backbone: LSTM | TemporalConvStack (causal) | SelfAttentionBlock (causal)  # (B, W, D)
      -> last step (B, D) [+ the flattened window, a linear "autoregressive" skip]
      -> Dense heads, in standardized units                                  # (B, H, T) [, (B, H, T, Q)]
         [+ a direct linear model of the window, fitted in closed form (`direct_linear`): the heads
            start at zero and learn only its residual]
         [+ a linear highway from the targets' last `ar_order` values (LSTNet-style), added to every head]
      -> inverted Normalization of the targets                               # series units
      [-> QuantileCalibration: conformal offsets per step and level, set after fitting]

The targets are the first `num_targets` features (their own history is an input); the other
features are covariates. With one target the outputs drop the target axis: `(B, H)`, `(B, H, Q)`.
"""

import keras
import numpy as np

from seqkeras.layers import LSTM, SelfAttentionBlock, TemporalConvStack
from seqkeras.models.forecaster.calibration import QuantileCalibration
from seqkeras.models.forecaster.position_embedding import PositionEmbedding

BACKBONES = ("lstm", "tcn", "attention")


def dilation_rates_for(window, kernel_size):
    """Doubling dilation rates `(1, 2, 4, ...)` until the causal receptive field covers `window`."""
    rates, field = [1], 1 + (kernel_size - 1)
    while field < window:
        rates.append(rates[-1] * 2)
        field += (kernel_size - 1) * rates[-1]
    return tuple(rates)


def build_backbone(backbone, window, features, hidden_dim=32, num_layers=1, dropout=0.0, kernel_size=3,
                   num_heads=2, seed=None):
    """A causal sequence encoder: standardized `(B, window, features)` -> per-step `(B, window, hidden_dim)`.

    Every backbone is causal: the output at step `t` reads inputs at steps `<= t` only.

    Args:
        backbone: `"lstm"`, `"tcn"` or `"attention"`.
        window, features: input shape without the batch axis.
        hidden_dim: LSTM units / TCN filters / attention model width.
        num_layers: stacked LSTM layers or attention blocks (the TCN's depth follows the window).
        dropout: dropout between layers (training only).
        kernel_size: TCN taps per convolution.
        num_heads: attention heads (`hidden_dim` must divide by it).
        seed: initializer seed.

    Example:

    >>> build_backbone("tcn", window=8, features=2, hidden_dim=4).output.shape
    (None, 8, 4)
    """
    if backbone not in BACKBONES:
        raise ValueError(f"`backbone` must be one of {BACKBONES}. Received: backbone={backbone!r}")
    init = keras.initializers.GlorotUniform(seed=seed)
    inputs = keras.Input((window, features), name="standardized_window")
    x = inputs
    if backbone == "lstm":
        for index in range(num_layers):
            x = LSTM(hidden_dim, return_sequences=True, kernel_initializer=init, name=f"lstm_{index}")(x)
            if dropout:
                x = keras.layers.Dropout(dropout, seed=seed)(x)
    elif backbone == "tcn":
        rates = dilation_rates_for(window, kernel_size)
        x = TemporalConvStack(hidden_dim, kernel_size=kernel_size, dilation_rates=rates, causal=True,
                              dropout=dropout, kernel_initializer=init, name="tcn")(x)
    else:
        if hidden_dim % num_heads:
            raise ValueError(f"`hidden_dim` must divide by `num_heads`. Received: hidden_dim={hidden_dim}, "
                             f"num_heads={num_heads}")
        x = keras.layers.Dense(hidden_dim, kernel_initializer=init, name="project")(x)  # (B, W, D)
        x = PositionEmbedding(window, name="positions")(x)
        for index in range(num_layers):
            x = SelfAttentionBlock(num_heads, hidden_dim // num_heads, causal=True, dropout=dropout,
                                   intermediate_dim=2 * hidden_dim, kernel_initializer=init,
                                   name=f"attention_{index}")(x)
    return keras.Model(inputs, x, name="backbone")


def build_forecaster(window, horizon, mean, std, num_targets=1, backbone="lstm", hidden_dim=32, num_layers=1,
                     dropout=0.0, kernel_size=3, num_heads=2, quantiles=(), linear_skip=True, ar_order=0,
                     direct_linear=False, calibrate=True, seed=None, name=None):
    """The forecaster in series units and its standardized core (the part that is trained).

    Args:
        window: input steps.
        horizon: forecast steps H.
        mean, std: per-feature statistics of the training part, shape `(features,)` (std > 0).
        num_targets: the first `num_targets` features are forecast.
        backbone, hidden_dim, num_layers, dropout, kernel_size, num_heads: see `build_backbone`.
        quantiles: increasing levels in (0, 1) for a quantile head (empty: none).
        linear_skip: add a linear map of the whole standardized window to the heads.
        ar_order: add a linear autoregression on the targets' last `ar_order` standardized values to
            every head (a highway around the network, as in LSTNet); 0: none.
        direct_linear: add a frozen linear map of the whole standardized window to every head (zero
            until set with `set_direct_linear` from a closed-form fit, see `direct_linear.py`); the
            heads then start at zero, so before training the forecaster is that linear model and
            the network learns only its residual.
        calibrate: end the quantile output with a `QuantileCalibration` layer (zero offsets until
            set, e.g. with `conformal_offsets` on held-out windows).
        seed: initializer seed.
        name: the model's name (default `forecaster_<backbone>`).

    Returns:
        `(model, core)`: `model` takes float32 `"window"` `(B, window, features)` in series units and
        returns the forecast `(B, H)` (`(B, H, T)` for several targets), or a dict
        `{"forecast", "quantiles"}` with a quantile head; `core` maps the standardized window to the
        standardized outputs (fit it with standardized targets; `model` shares its weights).

    Example:

    >>> model, core = build_forecaster(8, 3, mean=[10.0], std=[2.0], backbone="tcn")
    >>> model(np.full((1, 8, 1), 10.0, "float32")).shape
    TensorShape([1, 3])
    """
    mean = np.asarray(mean, dtype="float64").reshape(-1)
    std = np.asarray(std, dtype="float64").reshape(-1)
    features = len(mean)
    if std.shape != mean.shape or not np.all(std > 0) or not np.all(np.isfinite(mean)):
        raise ValueError(f"`mean` and `std` must be finite per-feature vectors with std > 0. Received: std={std}")
    if not 0 <= int(ar_order) <= window:
        raise ValueError(f"`ar_order` must be in [0, window={window}]. Received: ar_order={ar_order}")
    if not 1 <= num_targets <= features:
        raise ValueError(f"`num_targets` must be in [1, {features}]. Received: num_targets={num_targets}")
    quantiles = tuple(float(q) for q in quantiles)
    init = keras.initializers.GlorotUniform(seed=seed)

    # --- core: standardized window -> standardized outputs ---
    encoder = build_backbone(backbone, window, features, hidden_dim, num_layers, dropout, kernel_size,
                             num_heads, seed)
    core_in = keras.Input((window, features), name="standardized_window")
    last = encoder(core_in)[:, -1, :]  # (B, D)
    if linear_skip:
        last = keras.layers.Concatenate(name="with_window")([last, keras.layers.Flatten()(core_in)])
    head_init = "zeros" if direct_linear else init
    point = keras.layers.Dense(horizon * num_targets, kernel_initializer=head_init, name="forecast_head")(last)
    highway = None
    if direct_linear:  # added before any reshape (the TFLite converter mis-fuses it after one)
        linear = keras.layers.Dense(horizon * num_targets, kernel_initializer="zeros", trainable=False,
                                    name="direct_linear")(keras.layers.Flatten()(core_in))  # (B, H * T)
        point = keras.layers.Add(name="with_direct_linear")([point, linear])
        highway = keras.layers.Reshape((horizon, num_targets), name="direct_linear_steps")(linear)  # (B, H, T)
    point = keras.layers.Reshape((horizon, num_targets))(point)  # (B, H, T)
    if ar_order:
        recent = keras.layers.Flatten()(core_in[:, window - int(ar_order):, :num_targets])  # (B, p * T)
        highway_ar = keras.layers.Dense(horizon * num_targets, kernel_initializer="zeros", name="ar_highway")(recent)
        highway_ar = keras.layers.Reshape((horizon, num_targets))(highway_ar)  # (B, H, T)
        point = keras.layers.Add(name="with_highway")([point, highway_ar])
        highway = highway_ar if highway is None else keras.layers.Add(name="linear_parts")([highway, highway_ar])
    core_out = {"forecast": point}
    if quantiles:
        q = keras.layers.Dense(horizon * num_targets * len(quantiles), kernel_initializer=head_init,
                               name="quantile_head")(last)
        q = keras.layers.Reshape((horizon, len(quantiles), num_targets))(q)  # (B, H, Q, T)
        if highway is not None:
            q = keras.layers.Add(name="quantiles_with_highway")([q, keras.layers.Reshape((horizon, 1, num_targets))(highway)])
        core_out["quantiles"] = q
    core = keras.Model(core_in, core_out, name="core")

    # --- the public model: series units in and out ---
    inputs = keras.Input((window, features), name="window", dtype="float32")
    scaled = keras.layers.Normalization(mean=mean, variance=std**2, name="scale_inputs")(inputs)
    out = core(scaled)
    unscale = keras.layers.Normalization(mean=mean[:num_targets], variance=std[:num_targets] ** 2, invert=True,
                                         name="unscale_targets")
    forecast = unscale(out["forecast"])  # (B, H, T)
    if num_targets == 1:
        forecast = keras.layers.Reshape((horizon,), name="forecast")(forecast)  # (B, H)
    outputs = forecast
    if quantiles:
        bands = unscale(out["quantiles"])  # (B, H, Q, T)
        if calibrate:
            bands = QuantileCalibration(horizon, len(quantiles), num_targets, name="calibrate_quantiles")(bands)
        if num_targets == 1:
            bands = keras.layers.Reshape((horizon, len(quantiles)), name="quantiles")(bands)  # (B, H, Q)
        else:
            bands = keras.layers.Permute((1, 3, 2), name="quantiles")(bands)  # (B, H, T, Q)
        outputs = {"forecast": forecast, "quantiles": bands}
    model = keras.Model(inputs, outputs, name=name or f"forecaster_{backbone}")
    return model, core


def set_direct_linear(core, fit, residual_quantiles=None):
    """Sets the frozen `direct_linear` layer of a core built with `direct_linear=True`.

    Args:
        core: the standardized core from `build_forecaster`.
        fit: a result of `fit_direct_linear` on the same window shape (kernel `(W * F, H * T)`).
        residual_quantiles: optional `(H, Q, T)` standardized quantiles of the linear model's training
            residuals; they become the quantile head's bias, so the band starts around the linear
            forecast instead of collapsing onto it.

    Example:

    >>> set_direct_linear(core, fit_direct_linear(x, y, purge=horizon - 1))
    """
    layer = core.get_layer("direct_linear")
    kernel, bias = np.asarray(fit["kernel"], "float32"), np.asarray(fit["bias"], "float32")
    if tuple(layer.kernel.shape) != kernel.shape:
        raise ValueError(f"The direct linear fit does not match the core: kernel {kernel.shape} for a layer of "
                         f"{tuple(layer.kernel.shape)}. Received: fit with order={fit.get('order')}")
    layer.set_weights([kernel, bias])
    if residual_quantiles is not None:
        head = core.get_layer("quantile_head")
        head.bias.assign(np.asarray(residual_quantiles, "float32").reshape(-1))


def average_forecasters(members, calibrate=True, name="forecaster_ensemble"):
    """One model averaging the outputs of several forecasters of the same shape (an ensemble).

    Args:
        members: models from `build_forecaster` (same window, features, horizon and outputs; distinct
            names), usually fitted from different seeds and built with `calibrate=False`.
        calibrate: end the averaged quantiles with a `QuantileCalibration` layer.
        name: the model's name.

    Returns:
        a model with the members' input and output structure (float32 `"window"` in).

    Example:

    >>> a, _ = build_forecaster(8, 3, [10.0], [2.0], backbone="tcn", name="member_0", seed=0)
    >>> b, _ = build_forecaster(8, 3, [10.0], [2.0], backbone="tcn", name="member_1", seed=1)
    >>> average_forecasters([a, b])(np.zeros((1, 8, 1), "float32")).shape
    TensorShape([1, 3])
    """
    members = list(members)
    if not members:
        raise ValueError("`members` must hold at least one forecaster. Received: []")
    inputs = keras.Input(members[0].input_shape[1:], name="window", dtype="float32")
    outputs = [member(inputs) for member in members]
    if len(members) == 1:
        averaged = outputs[0]
    elif isinstance(outputs[0], dict):
        averaged = {key: keras.layers.Average(name=f"average_{key}")([out[key] for out in outputs])
                    for key in outputs[0]}
    else:
        averaged = keras.layers.Average(name="average_forecast")(outputs)
    if isinstance(averaged, dict) and "quantiles" in averaged and calibrate:
        bands = averaged["quantiles"]  # (B, H, Q) or (B, H, T, Q)
        shape = tuple(bands.shape[1:])
        horizon, count, targets = (shape[0], shape[1], 1) if len(shape) == 2 else (shape[0], shape[2], shape[1])
        if len(shape) == 2:
            bands = keras.layers.Reshape((horizon, count, 1))(bands)
        else:
            bands = keras.layers.Permute((1, 3, 2))(bands)  # (B, H, Q, T)
        bands = QuantileCalibration(horizon, count, targets, name="calibrate_quantiles")(bands)
        bands = (keras.layers.Reshape((horizon, count), name="quantiles")(bands) if len(shape) == 2
                 else keras.layers.Permute((1, 3, 2), name="quantiles")(bands))
        averaged = {**averaged, "quantiles": bands}
    return keras.Model(inputs, averaged, name=name)


def standardized_targets(targets, mean, std, num_targets):
    """Targets `(N, H, T)` in series units -> the core's standardized units."""
    mean = np.asarray(mean, dtype="float64").reshape(-1)[:num_targets]
    std = np.asarray(std, dtype="float64").reshape(-1)[:num_targets]
    return ((np.asarray(targets, dtype="float64") - mean) / std).astype("float32")
