"""Train a forecaster with walk-forward validation against classical baselines.

    seqkeras train forecast --series sunspots                    # defaults: ~2 CPU-minutes (3 networks x 6 fits)
    seqkeras train forecast --series macrodata --horizon 8 --window 16 --backbone tcn
    seqkeras train forecast --series my.csv --target load --covariates temp --fill interpolate
    seqkeras evaluate runs/forecast                              # the comparison table
    seqkeras predict runs/forecast --csv recent.csv              # the next H values

Each fold trains on the past only (expanding, or `--sliding N` steps), skips `--gap` steps and
forecasts the next `--horizon` values from its origin; the baselines (persistence, seasonal naive,
training mean, AutoReg and ARIMA chosen by AIC, the direct linear (ridge) regression) are fitted on
the same training part. By default the forecaster's own linear part is such a direct ridge model of
the window (covariates included), fitted in closed form; the network learns only its residual. The run
dir gets config.json, metrics.json (per-fold and per-horizon tables for every method, the
quantile interval's coverage over the folds: overall, per horizon step and per fold, the epoch
counts chosen), folds/ (each finished fold's forecasts: `--resume` continues from them), tb/
(per-fold scalars), folds.png, forecasts.png, error_by_horizon.png, coverage.png (with a quantile
head: the interval's coverage per horizon step and per fold against its nominal level) and
model.keras (fitted on the whole series by the same procedure as every fold, see `fit_model`: a
float32 "window" (B, window, features) in, (B, horizon) out, series units).
"""

import dataclasses
import json
import pathlib
import time

from pipelines import common
from pipelines import forecast_series as series_lib

BACKBONES = ("lstm", "tcn", "attention")
FOLDS_DIR = "folds"
LOSSES = ("mae", "mse", "huber")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    # --- data ---
    series: str = common.field("sunspots", 'sunspots, macrodata, or a CSV file with a header row')
    target: tuple = common.field((), 'column(s) to forecast (default: SUNACTIVITY / realgdp_growth)')
    covariates: tuple = common.field((), 'input-only columns (default: macrodata growth rates and rates; "none": none)')
    fill: str = common.field("none", 'missing values: none (refuse), ffill, interpolate or drop rows',
                             choices=series_lib.FILLS)
    period: int = common.field(0, 'seasonal-naive period (0: 11 for sunspots, 4 for macrodata, 1 otherwise)',
                               minimum=0)
    # --- walk-forward validation ---
    horizon: int = common.field(11, 'forecast steps H', minimum=1)
    window: int = common.field(12, 'input steps per forecast', minimum=1)
    folds: int = common.field(5, 'forecast origins; the last test range ends at the end of the series', minimum=1)
    step: int = common.field(0, 'steps between origins (0: the horizon, test ranges tile)', minimum=0)
    gap: int = common.field(0, 'steps skipped between each training range and its test range', minimum=0)
    sliding: int = common.field(0, 'train on the last N steps only (0: expanding window)', minimum=0)
    refit_every: int = common.field(1, 'refit the network every k folds (baselines refit every fold)', minimum=1)
    # --- model ---
    backbone: str = common.field("tcn", 'lstm, tcn (causal dilated convolutions) or attention (causal)',
                                 choices=BACKBONES)
    hidden_dim: int = common.field(16, 'LSTM units / TCN filters / attention width', minimum=1)
    num_layers: int = common.field(1, 'stacked LSTM layers or attention blocks', minimum=1)
    dropout: float = common.field(0.0, 'dropout between layers', minimum=0.0, below=1.0)
    kernel_size: int = common.field(3, 'TCN taps per convolution', minimum=1)
    num_heads: int = common.field(2, 'attention heads', minimum=1)
    linear_skip: bool = common.field(False, 'add a linear map of the whole window (every column) to the output')
    direct_linear: bool = common.field(True, 'fit a direct linear (ridge) model of the window in closed form, its '
                                             'order, columns and penalty chosen on the training windows; the '
                                             'network learns only its residual and keeps it where validation does')
    linear_candidates: str = common.field("ridge", 'candidates of the direct linear part: ridge (direct '
                                                           'ridge settings), autoreg (the iterated AR, AIC order) or both',
                                          choices=("ridge", "autoreg", "ridge+autoreg"))
    ar_order: int = common.field(0, "add a linear autoregression on the targets' last N values (at most --window) "
                                    "to the output, trained with the network (LSTNet-style highway; 0: none)",
                                 minimum=0)
    ensemble: int = common.field(3, 'average the forecasts of this many networks fitted from different seeds',
                                 minimum=1)
    quantiles: tuple = common.field((0.1, 0.9), 'quantile levels of the interval head (empty: none)')
    calibrate: bool = common.field(True, 'widen/narrow the quantiles by conformal offsets from the held-out windows')
    # --- training ---
    epochs: int = common.field(300, 'maximum epochs per fit', minimum=1)
    validation_fraction: float = common.field(0.15, 'latest share of each training part held out to choose the '
                                                    'epoch count (and calibrate the quantiles)',
                                              minimum=0.0, below=0.5)
    refit_full: bool = common.field(True, 'after choosing the epoch count, refit on all windows for that many epochs')
    monitor: str = common.field("all", 'held-out loss that chooses the epoch count: all (point + quantile losses) '
                                       'or forecast (the point loss only)', choices=("all", "forecast"))
    patience: int = common.field(30, 'stop after this many epochs without a better validation loss', minimum=1)
    batch_size: int = common.field(32, 'windows per batch', minimum=1)
    learning_rate: float = common.field(3e-3, 'Adam learning rate', above=0.0)
    weight_decay: float = common.field(0.1, 'decoupled weight decay (AdamW); 0: plain Adam', minimum=0.0, below=1.0)
    loss: str = common.field("mae", 'point loss: mae, mse or huber (in standardized units)', choices=LOSSES)
    seed: int = common.field(0, 'weights and shuffling')
    refit_final: bool = common.field(True, 'refit on the whole series and save model.keras')
    # --- output ---
    run_dir: str = common.field("runs/forecast", 'output folder')
    verbose: int = common.field(0, 'Keras progress: 0 silent, 1 bar, 2 one line per epoch')

    def __post_init__(self):
        common.check_fields(self)
        try:
            levels = tuple(float(q) for q in self.quantiles)
        except ValueError:
            raise ValueError(f"--quantiles must be numbers. Received: --quantiles {self.quantiles}") from None
        if any(not 0 < q < 1 for q in levels) or list(levels) != sorted(set(levels)):
            raise ValueError(f"--quantiles must be increasing levels in (0, 1). Received: --quantiles {levels}")
        object.__setattr__(self, "quantiles", levels)
        if self.backbone == "attention" and self.hidden_dim % self.num_heads:
            raise ValueError(f"--hidden-dim must divide by --num-heads. Received: {self.hidden_dim}, {self.num_heads}")
        series_lib.check_series_flag(self.series)


def _fit_linear_part(config, x, y):
    """The closed-form direct linear part on standardized windows (its setting chosen on them)."""
    from seqkeras.models.forecaster.direct_linear import fit_direct_linear

    return fit_direct_linear(x, y, validation_fraction=max(config.validation_fraction, 0.15),
                             purge=config.horizon - 1, kinds=tuple(config.linear_candidates.split("+")))


def fit_linear_part(config, train_values, num_targets):
    """The forecaster's linear part alone, fitted as `fit_model` refits it on all windows of `train_values`.

    Returns `(forecast, info)`: `forecast(window)` maps `(B, window, features)` in series units to the
    point forecast `(B, H, T)` in series units (what `fit_model`'s model gives with no network epochs).
    """
    import numpy as np

    from seqkeras.data.windows import fit_standardization, series_window_arrays
    from seqkeras.models.forecaster.direct_linear import predict_direct_linear
    from seqkeras.models.forecaster.forecaster import standardized_targets

    stats = fit_standardization(train_values)
    inputs, targets = series_window_arrays(train_values, config.window, config.horizon, range(num_targets))
    x = ((inputs - stats.mean) / stats.std).astype("float32")
    fit = _fit_linear_part(config, x, standardized_targets(targets, stats.mean, stats.std, num_targets))

    def forecast(window, training=False):
        scaled = ((np.asarray(window, "float64") - stats.mean) / stats.std).astype("float32")
        return predict_direct_linear(fit, scaled) * stats.std[:num_targets] + stats.mean[:num_targets]

    return forecast, {key: fit[key] for key in ("kind", "order", "features", "penalty")}


def fit_model(config, train_values, num_targets, tb_dir=None):
    """Fits a forecaster on `train_values` (N, F) only; returns `(model, info)`.

    The procedure (the same for every walk-forward fold and for the final model.keras):
    1. statistics and windows from `train_values`; the latest `validation_fraction` of the windows
       are held out (the `horizon - 1` windows before them, whose targets overlap them, are dropped);
    2. with `direct_linear`, the closed-form linear model is fitted on the windows before the held-out
       ones (its order, columns and ridge penalty chosen by an inner time split of those windows, see
       `seqkeras.models.forecaster.direct_linear`) and frozen in the model; each of the `ensemble`
       networks (heads starting at zero: the forecast starts as the linear one) trains with early
       stopping on the held-out windows, which chooses its epoch count (0 keeps the linear model);
    3. the quantile offsets are calibrated on the held-out windows (split conformal, `calibrate`).
       These are also the windows that chose the epoch count: kept on purpose. The choice is one
       integer per network (checks every 5 epochs), so it leaves the held-out residuals close to
       out-of-sample ones, while splitting ~15% of a few hundred windows in two would leave ~15
       windows per horizon step for each job; the calibrated bands' coverage on the benchmark's
       test folds (benchmarks/results/forecast.json, `interval_coverage`) is the check;
    4. with `refit_full`, each network is rebuilt from its seed and trained on ALL windows for its
       chosen epoch count (the linear model refitted on all windows first, its setting chosen
       again); the saved model averages the networks and carries the offsets.

    `info`: {"epochs": chosen epoch count per network, "windows": training windows,
    "held_out": held-out windows, "calibration_offsets": mean offset per quantile level,
    "direct_linear": the chosen linear setting(s) {"order", "features", "penalty"}}.
    """
    import keras
    import numpy as np

    from seqkeras.data.windows import fit_standardization, series_window_arrays
    from seqkeras.models.forecaster import (PinballLoss, average_forecasters, build_forecaster, calibration_layer,
                                            conformal_offsets)
    from seqkeras.models.forecaster.direct_linear import predict_direct_linear
    from seqkeras.models.forecaster.forecaster import set_direct_linear, standardized_targets
    from seqkeras.models.forecaster.trainer import best_epoch, fit_core

    check_every = 5
    stats = fit_standardization(train_values)
    inputs, targets = series_window_arrays(train_values, config.window, config.horizon, range(num_targets))
    x = ((inputs - stats.mean) / stats.std).astype("float32")  # (N, W, F)
    y = standardized_targets(targets, stats.mean, stats.std, num_targets)  # (N, H, T)
    losses, labels = {"forecast": config.loss}, {"forecast": y}
    if config.quantiles:
        losses["quantiles"], labels["quantiles"] = PinballLoss(config.quantiles), y[:, :, None, :]
    held_out = int(round(len(x) * config.validation_fraction))
    single = config.ensemble == 1
    purge = config.horizon - 1

    def linear_fit(end):
        """The closed-form linear part on windows [0, end), with its band offsets (residual quantiles)."""
        fit = _fit_linear_part(config, x[:end], y[:end])
        residuals = y[:end] - predict_direct_linear(fit, x[:end])  # (n, H, T)
        levels = np.quantile(residuals, config.quantiles, axis=0) if config.quantiles else None  # (Q, H, T)
        return fit, None if levels is None else levels.transpose(1, 0, 2)

    def build(member, linear=None):
        seed = config.seed + 1000 * member
        keras.utils.set_random_seed(seed)
        model, core = build_forecaster(
            config.window, config.horizon, stats.mean, stats.std, num_targets=num_targets, backbone=config.backbone,
            hidden_dim=config.hidden_dim, num_layers=config.num_layers, dropout=config.dropout,
            kernel_size=config.kernel_size, num_heads=config.num_heads, quantiles=config.quantiles,
            linear_skip=config.linear_skip, ar_order=min(config.ar_order, config.window),
            direct_linear=config.direct_linear, calibrate=single, seed=seed,
            name=None if single else f"member_{member}")
        if linear is not None:
            set_direct_linear(core, *linear)
        return model, core

    def train(core, epochs, validation_fraction, log_dir):
        history, val_history = fit_core(core, x, labels, losses, epochs, config.batch_size, config.learning_rate,
                                        validation_fraction=validation_fraction, patience=config.patience,
                                        check_every=check_every, weight_decay=config.weight_decay,
                                        purge=purge, check_initial=config.direct_linear,
                                        monitor=("forecast",) if config.monitor == "forecast" else None)
        if not np.all(np.isfinite(history)):
            epoch = int(np.argmin(np.isfinite(history)))
            raise common.UserError(f"training diverged: loss={history[epoch]} at epoch {epoch + 1}; "
                                   "lower --learning-rate")
        if log_dir is not None:
            import tensorflow as tf

            with tf.summary.create_file_writer(str(log_dir)).as_default():
                for epoch, value in enumerate(history):
                    tf.summary.scalar("train_loss", float(value), step=epoch)
                for check, value in enumerate(val_history):
                    tf.summary.scalar("validation_loss", float(value), step=(check + 1) * check_every - 1)
        return history, val_history

    def log_dir(stage, member):
        if tb_dir is None:
            return None
        return pathlib.Path(tb_dir) / (stage if single else f"{stage}_member_{member}")

    combine = (lambda models, calibrate: models[0]) if single else average_forecasters
    info = {"epochs": [], "windows": int(len(x)), "held_out": held_out}
    linear = None
    if config.direct_linear:  # fitted before the held-out windows (and the purge), like the networks
        linear = linear_fit(len(x) - held_out - purge if held_out else len(x))
        info["direct_linear"] = {key: linear[0][key] for key in ("kind", "order", "features", "penalty")}
    models = []
    for member in range(config.ensemble):
        model, core = build(member, linear)
        history, val_history = train(core, config.epochs, config.validation_fraction if held_out else 0.0,
                                     log_dir("choose_epochs" if held_out else "fit", member))
        epochs = (best_epoch(val_history, check_every, len(history), initial=config.direct_linear)
                  if len(val_history) else len(history))
        info["epochs"].append(int(epochs))
        models.append(model)
    offsets = None
    if config.quantiles and config.calibrate and held_out:
        output = combine(models, False)(inputs[-held_out:].astype("float32"), training=False)
        bands = np.asarray(output["quantiles"])  # (N, H, Q) or (N, H, T, Q)
        bands = bands[..., None] if num_targets == 1 else bands.transpose(0, 1, 3, 2)  # (N, H, Q, T)
        offsets = conformal_offsets(targets[-held_out:], bands, config.quantiles)
        info["calibration_offsets"] = {f"{q:g}": float(offsets[:, i].mean()) for i, q in enumerate(config.quantiles)}
    if config.refit_full and held_out:
        models = []
        if config.direct_linear:
            linear = linear_fit(len(x))
            info["direct_linear_refit"] = {key: linear[0][key] for key in ("kind", "order", "features", "penalty")}
        for member, epochs in enumerate(info["epochs"]):
            model, core = build(member, linear)
            train(core, epochs, 0.0, log_dir("refit_all", member))
            models.append(model)
    model = combine(models, True)
    if offsets is not None:
        calibration_layer(model).set_offsets(offsets)
    return model, info


def main(config=TrainConfig(), resume=False, overwrite=False):
    """Walk-forward evaluation, plots, metrics.json, then the final refit; returns the metrics."""
    import numpy as np

    from pipelines import forecast_report
    from seqkeras.data.splits import WalkForwardSplit
    from seqkeras.models.forecaster.metrics import naive_scale
    from seqkeras.models.forecaster.walk_forward import walk_forward

    run_dir = common.open_run_dir(config, "forecast", resume=resume, overwrite=overwrite)
    values, targets, covariates = series_lib.load_values(config)
    period = config.period or series_lib.PERIODS.get(config.series, 1)
    splitter = WalkForwardSplit.anchored(
        len(values), config.folds, config.horizon, step=config.step or None, gap=config.gap,
        mode="sliding" if config.sliding else "expanding", sliding_size=config.sliding or None,
        refit_every=config.refit_every)
    first_train = splitter.folds(len(values))[0].train
    if first_train[1] - first_train[0] < config.window + config.horizon:
        raise common.UserError(f"--sliding {config.sliding}: a training range must hold at least window + horizon = "
                               f"{config.window + config.horizon} steps")
    for fold in splitter.folds(len(values)):  # MASE divides by the training range's one-step naive error
        a, b = fold.train
        flat = naive_scale(values[a:b, :len(targets)], zero_as=None) == 0
        if flat.any():
            target = int(np.argmax(flat))
            raise common.UserError(
                f"--target {targets[target]!r} is constant ({values[a, target]:g}) over fold {fold.index}'s "
                f"training range [{a}, {b}): MASE, scaled by that range's one-step naive error, is undefined; "
                f"forecast a column that varies there (or train on later steps with --sliding)")

    def fit(train_values, fold):
        return fit_model(config, train_values, len(targets), tb_dir=run_dir / "tb" / f"fold_{fold.index}")

    # finished folds are kept in folds/ as they complete; --resume reads them back instead of refitting
    result = walk_forward(values, len(targets), splitter, config.window, config.horizon, fit, period=period,
                          store=run_dir / FOLDS_DIR, quantile_levels=config.quantiles)
    if result["resumed"]:
        print(f"resumed: folds {result['resumed']} read back from {run_dir / FOLDS_DIR}")
    methods = {("seqkeras_" + config.backbone if name == "model" else name): table
               for name, table in result["metrics"].items()}
    metrics = common.update_metrics(
        run_dir, series={"name": config.series, "length": len(values), "targets": list(targets),
                         "covariates": list(covariates), "period": period},
        folds=result["folds"], methods=methods, fit_seconds=result["fit_seconds"], baseline_orders=result["orders"],
        fold_fits=result["fit_info"], coverage=result["coverage"])
    forecast_report.write_tensorboard(run_dir / "tb", methods)
    forecast_report.plot_folds(result["folds"], len(values), config.gap, run_dir / "folds.png")
    forecast_report.plot_forecasts(values, result, config, run_dir / "forecasts.png")
    forecast_report.plot_error_by_horizon(methods, run_dir / "error_by_horizon.png")
    if result["coverage"]:
        forecast_report.plot_coverage(result["coverage"], run_dir / "coverage.png")
    forecast_report.save_forecasts(result, run_dir / "forecasts.npz")
    done = resume and (run_dir / common.MODEL_FILE).is_file() and "final_fit" in metrics
    if config.refit_final and not done:
        start = time.perf_counter()
        model, info = fit_model(config, values, len(targets), tb_dir=run_dir / "tb" / "final")
        common.save_model(model, run_dir / common.MODEL_FILE)
        metrics = common.update_metrics(run_dir, final_fit_seconds=time.perf_counter() - start,
                                        final_fit=dict(info, refit_full=config.refit_full))
    print(forecast_report.comparison_table(metrics))
    print(f"wrote {run_dir} (config.json, metrics.json, folds/, tb/, folds.png, forecasts.png, error_by_horizon.png"
          f"{', coverage.png' if result['coverage'] else ''}{', model.keras' if config.refit_final else ''})")
    return metrics


def evaluate(run, args):
    """Prints the walk-forward comparison table of a run; returns its method tables."""
    from pipelines import forecast_report

    path = run.path / common.METRICS_FILE
    if not path.is_file():
        raise common.UserError(f"{path} not found; the run has not finished training")
    if getattr(args, "data", None):
        raise common.UserError(f"--data does not apply to forecast runs (they are evaluated walk-forward at "
                               f"training time). Received: --data {args.data}")
    metrics = common.read_json_object(path, what="run")
    print(forecast_report.comparison_table(metrics))
    return {"methods": {name: {key: table[key] for key in ("mae", "rmse", "mase", "smape", "per_horizon")}
                        for name, table in metrics["methods"].items()},
            "coverage": metrics.get("coverage")}


PREDICT_READS_CSV = True  # `predict` reads --csv rows, not --text/--file
PREDICT_FORMATS = ("jsonl",)  # `predict --format` choices, the default first


def predict(run, args):
    """Forecasts the next H values after the rows of `--csv` (the run's columns, at least `window` rows)."""
    import numpy as np

    from pipelines.predict import write_output

    config = run.train_config()
    if args.csv is None:
        raise common.UserError("predict for forecast runs needs --csv FILE with the recent history")
    series_lib.check_series_flag(str(args.csv), flag="--csv")
    frame = series_lib.load_frame(str(args.csv), flag="--csv")
    metrics = common.read_json_object(run.path / common.METRICS_FILE, what="run")
    columns = metrics["series"]["targets"] + metrics["series"]["covariates"]
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise common.UserError(f"--csv: {args.csv} lacks the run's column(s) {missing} (it has {list(frame.columns)})")
    series_lib.check_numeric(frame, columns, "--csv")
    values = series_lib.fill_gaps(frame, columns, config.fill, str(args.csv), flag="--csv")
    if len(values) < config.window:
        raise common.UserError(f"--csv: {args.csv} has {len(values)} rows; the model reads the last {config.window}")
    model = common.load_model(run.model_path)
    window = values[-config.window:]
    output = model(window[None].astype("float32"), training=False)
    if not all(np.all(np.isfinite(np.asarray(value))) for value in
               (output.values() if isinstance(output, dict) else [output])):
        row, column = np.unravel_index(int(np.argmax(np.abs(window))), window.shape)
        raise common.UserError(f"--csv: {args.csv}: the forecast overflows float32 inside the model: the window's "
                               f"largest value, {float(window[row, column]):g} in column {columns[column]!r} at row "
                               f"{len(values) - config.window + row}, is far outside the series' range")
    result = {"targets": metrics["series"]["targets"], "horizon": config.horizon}
    if isinstance(output, dict):
        result["forecast"] = np.asarray(output["forecast"])[0].tolist()
        result["quantiles"] = {str(q): np.asarray(output["quantiles"])[0, ..., i].tolist()
                               for i, q in enumerate(config.quantiles)}
    else:
        result["forecast"] = np.asarray(output)[0].tolist()
    text = json.dumps(result)
    write_output(text + "\n", args.out)
    return 0


def configure(parser):
    common.add_config_arguments(parser, TrainConfig)


def run(args):
    main(common.config_from_args(TrainConfig, args), resume=args.resume, overwrite=args.overwrite)
