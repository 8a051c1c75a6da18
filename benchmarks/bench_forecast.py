"""Walk-forward forecasting: the seqkeras forecaster (3 backbones x seeds) against classical baselines.

    python benchmarks/bench_forecast.py            # -> benchmarks/results/forecast.json (~34 min, --jobs 1, busy 2 cores)
    python benchmarks/bench_forecast.py --datasets macrodata   # one dataset; the other's last reading is kept
    python benchmarks/bench_forecast.py --quick    # smoke run, 1 seed, 2 folds, to the temp dir
    python benchmarks/bench_forecast.py --select sunspots   # model selection on the data before the test folds
    python benchmarks/bench_forecast.py --select-linear sunspots   # the linear part alone, its choice rules

Datasets (statsmodels, offline): sunspots (yearly, 309 values), horizons 1..11, period 11;
macrodata, target quarterly real GDP growth (100 x log difference), the other growth rates,
unemployment, inflation and interest rates as covariates, horizons 1..8, period 4. The folds,
the network fits and the baselines all go through `pipelines.train_forecast` and the walk-forward
harness; every method sees the same folds. seqkeras figures are means over seeds with their spread.
"""

import argparse
import dataclasses
import json
import sys
import time

import numpy as np

import benchlib

sys.path.insert(0, str(benchlib.REPO))

from pipelines import forecast_series  # noqa: E402
from pipelines.train_forecast import BACKBONES, TrainConfig, fit_linear_part, fit_model  # noqa: E402
from seqkeras.data.splits import WalkForwardSplit  # noqa: E402
from seqkeras.models.forecaster.baselines import BASELINES  # noqa: E402
from seqkeras.models.forecaster.metrics import forecast_metrics  # noqa: E402
from seqkeras.models.forecaster.walk_forward import walk_forward  # noqa: E402

# Folds: 10 origins `step` apart ending at the last value; the network refits every 2nd origin
# (the baselines at every origin), so 5 network fits per run.
SETTINGS = {
    "sunspots": dict(series="sunspots", horizon=11, window=12, folds=10, step=4, refit_every=2),
    "macrodata": dict(series="macrodata", horizon=8, window=12, folds=10, step=3, refit_every=2),
}
BASELINE_NAMES = {"persistence": "persistence", "seasonal_naive": "seasonal_naive", "mean": "training_mean",
                  "autoreg": "autoreg", "arima": "arima", "direct_linear": "direct_linear"}
KEYS = ("mase", "rmse", "mae", "smape")


def summary(tables, fit_seconds):
    """Means over seeds (one table per seed) with their spread and the per-seed figures."""
    result = {key: float(np.mean([t[key] for t in tables])) for key in KEYS}
    result.update({f"{key}_seed_std": float(np.std([t[key] for t in tables])) for key in KEYS})
    result.update({f"{key}_fold_std": float(np.mean([t[f"{key}_std"] for t in tables])) for key in KEYS})
    result["per_horizon_mase"] = np.mean([t["per_horizon"]["mase"] for t in tables], axis=0).tolist()
    result["seeds"] = [{key: t[key] for key in KEYS} | {"seed": t["seed"]} for t in tables] if "seed" in tables[0] else []
    result["fit_seconds"] = float(fit_seconds)
    return result


def dataset_config(name, quick, overrides=()):
    settings = dict(SETTINGS[name], **dict(overrides))
    if quick:
        settings.update(folds=2, refit_every=1)
    config = TrainConfig(**settings, epochs=3 if quick else TrainConfig.epochs, run_dir="unused")
    splitter = WalkForwardSplit.anchored(forecast_series.load_values(config)[0].shape[0], config.folds, config.horizon,
                                         step=config.step, refit_every=config.refit_every)
    return settings, config, splitter


def run_baselines(name, quick):
    """Every baseline over the dataset's folds; returns the harness result and the seconds per baseline."""
    _, config, splitter = dataset_config(name, quick)
    values, _, _ = forecast_series.load_values(config)
    start = time.perf_counter()
    base = walk_forward(values, 1, splitter, config.window, config.horizon, None, BASELINES,
                        forecast_series.PERIODS[name])
    return base, (time.perf_counter() - start) / len(BASELINES)


def run_backbone(name, backbone, seeds, quick, overrides=()):
    """One backbone, one walk-forward per seed (single networks); the per-seed tables and forecasts."""
    _, config, splitter = dataset_config(name, quick, overrides)
    values, _, _ = forecast_series.load_values(config)
    tables, seconds, forecasts, coverage = [], [], [], []
    for seed in seeds:
        run_config = dataclasses.replace(config, backbone=backbone, seed=seed, ensemble=1)
        result = walk_forward(values, 1, splitter, config.window, config.horizon,
                              lambda train, fold, c=run_config: fit_model(c, train, 1), (),
                              forecast_series.PERIODS[name], quantile_levels=config.quantiles)
        tables.append(result["metrics"]["model"] | {"seed": seed})
        seconds.append(result["fit_seconds"])
        forecasts.append(result["forecasts"]["model"])
        if result["coverage"]:
            coverage.append(dict(result["coverage"], bands=result["quantiles"]))
        print(f"{name} {backbone} seed {seed}: MASE {tables[-1]['mase']:.3f} ({seconds[-1]:.0f} s)", flush=True)
    return tables, seconds, forecasts, coverage


def run_dataset(name, seeds, quick, pool=None, backbones=BACKBONES, overrides=()):
    """Starts the dataset's jobs (in `pool` when given); returns a function that waits and summarises them."""
    settings, config, splitter = dataset_config(name, quick, overrides)
    values, targets, covariates = forecast_series.load_values(config)
    print(name, config, flush=True)
    submit = (lambda fn, *args: pool.submit(fn, *args)) if pool else (lambda fn, *args: _Done(fn(*args)))
    base_job = submit(run_baselines, name, quick)
    jobs = {backbone: submit(run_backbone, name, backbone, seeds, quick, overrides) for backbone in backbones}
    return lambda: summarise(settings, config, values, targets, covariates, seeds, base_job, jobs)


def summarise(settings, config, values, targets, covariates, seeds, base_job, jobs):
    base, baseline_seconds = base_job.result()
    methods = {}
    for backbone in jobs:
        tables, seconds, forecasts, coverage = jobs[backbone].result()
        methods[f"seqkeras_{backbone}"] = summary(tables, np.mean(seconds))
        if coverage:
            methods[f"seqkeras_{backbone}"]["interval_coverage"] = {
                "interval": coverage[0]["calibrated"]["interval"], "nominal": coverage[0]["calibrated"]["nominal"],
                "values_per_seed": coverage[0]["calibrated"]["count"],
                "calibrated": float(np.mean([c["calibrated"]["coverage"] for c in coverage])),
                "uncalibrated": float(np.mean([c["uncalibrated"]["coverage"] for c in coverage]))}
        if len(seeds) > 1:  # seeds s, s + 1000, ... are the members `--ensemble N` fits: their averaged forecast
            table = forecast_metrics(base["actual"], np.mean(forecasts, axis=0), base["scales"])
            methods[f"seqkeras_{backbone}_ensemble{len(seeds)}"] = summary([table], np.sum(seconds)) | {
                "members": list(seeds)}
            if coverage:  # the members' calibrated bands averaged (`--ensemble N` calibrates the averaged raw bands
                # on its held-out windows instead: an approximation of what it ships)
                from seqkeras.models.forecaster.calibration import interval_coverage

                band = interval_coverage(base["actual"], np.mean([c["bands"] for c in coverage], axis=0),
                                         config.quantiles)
                methods[f"seqkeras_{backbone}_ensemble{len(seeds)}"]["interval_coverage"] = {
                    "interval": band["interval"], "nominal": band["nominal"], "values": band["count"],
                    "averaged_calibrated_member_bands": band["coverage"]}
    for key, label in BASELINE_NAMES.items():
        methods[label] = summary([base["metrics"][key]], baseline_seconds)
    singles = [m for m in methods if m.startswith("seqkeras_") and "_ensemble" not in m]
    ensembles = [m for m in methods if "_ensemble" in m]
    best = min(singles, key=lambda m: methods[m]["mase"])
    best_ensemble = min(ensembles, key=lambda m: methods[m]["mase"]) if ensembles else None
    return {
        "horizon": config.horizon, "folds": config.folds, "step": config.step, "refit_every": config.refit_every,
        "window": config.window, "length": len(values), "targets": list(targets), "covariates": list(covariates),
        "seasonal_period": forecast_series.PERIODS[config.series], "fold_test_ranges": [f["test"] for f in base["folds"]],
        "model_options": {key: value for key, value in settings.items() if key not in (
            "series", "horizon", "window", "folds", "step", "refit_every")},
        "backbones_run": list(jobs), "baseline_orders": base["orders"], "best_backbone": best, "best_ensemble": best_ensemble, "methods": methods,
    }


class _Done:
    """A finished result with the `Future.result()` interface (the sequential path)."""

    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


# Candidates compared by `--select`, on each dataset's values BEFORE the benchmark's first test
# value only (5 walk-forward folds inside that part): the test folds never choose the defaults.
# Readings of earlier candidates stay in the selection JSON (`--candidates` adds or replaces named ones).
# The first ones predate `direct_linear` (the network learned the linear part by SGD): they set it off.
OLD = dict(direct_linear=False)
CANDIDATES = {
    "sunspots": {
        "tcn": dict(backbone="tcn", linear_skip=True, ar_order=0, weight_decay=0.0, **OLD),
        "tcn_window24": dict(backbone="tcn", window=24, linear_skip=True, ar_order=0, weight_decay=0.0, **OLD),
        "tcn_ar12_wd": dict(backbone="tcn", ar_order=12, **OLD),
        "tcn_direct_linear": dict(backbone="tcn", linear_candidates="ridge"),
        "tcn_direct_linear_monitor_point": dict(backbone="tcn", monitor="forecast", linear_candidates="ridge"),
        "tcn_linear_ridge_or_autoreg": dict(backbone="tcn", linear_candidates="ridge+autoreg"),
        "tcn_linear_autoreg": dict(backbone="tcn", linear_candidates="autoreg"),
        "default_residual_scales": dict(),
        "default_ensemble3": dict(ensemble=3),
    },
    "macrodata": {
        "tcn_nocov_wd": dict(backbone="tcn", covariates=("none",), linear_skip=True, ar_order=0, **OLD),
        "tcn_noskip_ar4_wd": dict(backbone="tcn", ar_order=4, **OLD),
        "lstm_noskip_ar4_wd": dict(backbone="lstm", ar_order=4, **OLD),
        "tcn_noskip_ar12_wd": dict(backbone="tcn", ar_order=12, **OLD),
        "tcn_direct_linear": dict(backbone="tcn", linear_candidates="ridge"),
        "attention_direct_linear": dict(backbone="attention", linear_candidates="ridge"),
        "tcn_direct_linear_monitor_point": dict(backbone="tcn", monitor="forecast", linear_candidates="ridge"),
        "tcn_linear_ridge_or_autoreg": dict(backbone="tcn", linear_candidates="ridge+autoreg"),
        "tcn_linear_autoreg": dict(backbone="tcn", linear_candidates="autoreg"),
        "default_residual_scales": dict(),
        "default_ensemble3": dict(ensemble=3),
    },
}
RESIDUAL_SCALES = (0.0, 0.25, 0.5, 0.75, 1.0)  # linear part + scale x the network's residual, read post hoc
SELECTION_SEEDS = (0, 1000, 2000)  # the members of a 3-network ensemble: single and averaged figures at once


def select(name, candidates=None):
    """Walk-forward on the part before the benchmark's first test value: each candidate's mean MASE over
    `SELECTION_SEEDS` and the MASE of their averaged forecast (what `--ensemble 3` ships), with the
    baselines' MASE on the same folds and, with `direct_linear`, how often the epoch choice kept
    the linear model (0 epochs). A candidate whose options set `ensemble` is instead fitted as that
    ensemble (seed 0: members 0, 1000, 2000, as `SELECTION_SEEDS`), once: what the pipeline ships, for
    a choice made on the averaged forecast inside the fit."""

    settings = dict(SETTINGS[name])
    config = TrainConfig(**settings, run_dir="unused")
    values, _, _ = forecast_series.load_values(config)
    first_test = WalkForwardSplit.anchored(len(values), config.folds, config.horizon, step=config.step).folds(
        len(values))[0].test[0]
    folds = 5
    splitter = WalkForwardSplit.anchored(first_test, folds, config.horizon, step=config.step, refit_every=2)
    period = forecast_series.PERIODS[name]
    base = walk_forward(values[:first_test], 1, splitter, config.window, config.horizon, None,
                        ("mean", "autoreg", "arima", "direct_linear"), period)
    result = {"selection_length": first_test, "folds": folds, "autoreg_mase": base["metrics"]["autoreg"]["mase"],
              "baselines_mase": {key: base["metrics"][key]["mase"] for key in base["metrics"]}, "candidates": {}}
    print(name, "baselines", {k: round(v, 3) for k, v in result["baselines_mase"].items()}, flush=True)
    for label, options in (candidates or CANDIDATES[name]).items():
        run_config = dataclasses.replace(config, **options)
        part, _, _ = forecast_series.load_values(run_config)
        part = part[:first_test]
        singles, forecasts, epochs, start = [], [], [], time.perf_counter()
        fitted = ([dataclasses.replace(run_config, seed=SELECTION_SEEDS[0])] if "ensemble" in options else
                  [dataclasses.replace(run_config, seed=seed, ensemble=1) for seed in SELECTION_SEEDS])
        for seeded in fitted:
            out = walk_forward(part, 1, splitter, run_config.window, config.horizon,
                               lambda train, fold, c=seeded: fit_model(c, train, 1), (), period)
            singles.append(out["metrics"]["model"]["mase"])
            forecasts.append(out["forecasts"]["model"])
            epochs.extend(e for info in out["fit_info"] if info for e in info["epochs"])
        ensemble = np.mean(forecasts, axis=0)
        averaged = forecast_metrics(out["actual"], ensemble, out["scales"])["mase"]
        result["candidates"][label] = {"options": {k: list(v) if isinstance(v, tuple) else v
                                                   for k, v in options.items()},
                                       "mase_single": None if "ensemble" in options else float(np.mean(singles)),
                                       "mase_single_seeds": [] if "ensemble" in options else singles,
                                       "mase_ensemble3": float(averaged), "chosen_epochs": epochs,
                                       "seconds": time.perf_counter() - start,
                                       "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
        if run_config.direct_linear:  # the linear part alone on the same folds, and the network's residual scaled
            linear = walk_forward(part, 1, splitter, run_config.window, config.horizon,
                                  lambda train, fold, c=run_config: fit_linear_part(c, train, 1), (), period)
            linear_forecast = linear["forecasts"]["model"]
            result["candidates"][label]["mase_linear_part_only"] = linear["metrics"]["model"]["mase"]
            result["candidates"][label]["linear_part_settings"] = [i for i in linear["fit_info"] if i]
            result["candidates"][label]["mase_ensemble3_by_residual_scale"] = {
                f"{scale:g}": forecast_metrics(out["actual"], linear_forecast + scale * (ensemble - linear_forecast),
                                               out["scales"])["mase"] for scale in RESIDUAL_SCALES}
        print(name, label, f"single(s) {np.mean(singles):.3f} {np.round(singles, 3).tolist()} ensemble {averaged:.3f} "
              f"({time.perf_counter() - start:.0f} s)", result["candidates"][label].get(
                  "mase_ensemble3_by_residual_scale"), flush=True)
    return result


# The forecaster's linear part alone (no network), variants of its choice, on the same selection data as
# `select` (5 folds) and on 10 folds (step as the test folds) for more evidence: `--select-linear`.
LINEAR_PENALTIES_WIDE = (0.0, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0)
LINEAR_VARIANTS = {
    "ridge_one_split (default)": dict(kinds=("ridge",)),
    "ridge_3_origins": dict(kinds=("ridge",), origins=3),
    "ridge_wide_penalties": dict(kinds=("ridge",), penalties=LINEAR_PENALTIES_WIDE),
    "ridge_wide_penalties_3_origins": dict(kinds=("ridge",), penalties=LINEAR_PENALTIES_WIDE, origins=3),
    "ridge_autoreg_mean": dict(kinds=("ridge", "autoreg", "mean")),
    "ridge_autoreg_mean_3_origins": dict(kinds=("ridge", "autoreg", "mean"), origins=3),
    "ridge_autoreg_mean_5_origins": dict(kinds=("ridge", "autoreg", "mean"), origins=5),
    "autoreg_mean_3_origins": dict(kinds=("autoreg", "mean"), origins=3),
    "ridge_autoreg_3_origins": dict(kinds=("ridge", "autoreg"), origins=3),
    "autoreg": dict(kinds=("autoreg",)),
}
# Equal-weight combinations of two variants' forecasts (a forecast combination: the mean of the two linear
# maps, so still one linear map of the window), read on the same folds as the variants.
LINEAR_AVERAGES = {
    "average_ridge_one_split_and_autoreg": ("ridge_one_split (default)", "autoreg"),
}


def select_linear(name):
    """MASE of the linear part alone under each `LINEAR_VARIANTS` choice rule, on the data before the test folds."""
    from seqkeras.data.windows import fit_standardization, series_window_arrays
    from seqkeras.models.forecaster.direct_linear import fit_direct_linear, predict_direct_linear
    from seqkeras.models.forecaster.forecaster import standardized_targets

    config = TrainConfig(**SETTINGS[name], run_dir="unused")
    values, _, _ = forecast_series.load_values(config)
    first_test = WalkForwardSplit.anchored(len(values), config.folds, config.horizon, step=config.step).folds(
        len(values))[0].test[0]
    period = forecast_series.PERIODS[name]

    def fitter(options):
        def fit(train, fold):
            stats = fit_standardization(train)
            inputs, targets = series_window_arrays(train, config.window, config.horizon, range(1))
            x = ((inputs - stats.mean) / stats.std).astype("float32")
            chosen = fit_direct_linear(x, standardized_targets(targets, stats.mean, stats.std, 1),
                                       validation_fraction=0.15, purge=config.horizon - 1, **options)

            def forecast(window, training=False):
                scaled = ((np.asarray(window, "float64") - stats.mean) / stats.std).astype("float32")
                return predict_direct_linear(chosen, scaled) * stats.std[0] + stats.mean[0]
            return forecast, {key: chosen[key] for key in ("kind", "order", "features", "penalty")}
        return fit

    readings = {}
    for folds in (5, 10):
        splitter = WalkForwardSplit.anchored(first_test, folds, config.horizon, step=config.step)
        base = walk_forward(values[:first_test], 1, splitter, config.window, config.horizon, None,
                            ("mean", "autoreg"), period)
        reading = {"baselines_mase": {key: base["metrics"][key]["mase"] for key in base["metrics"]}, "variants": {},
                   "averages": {}}
        forecasts = {}
        for label, options in LINEAR_VARIANTS.items():
            out = walk_forward(values[:first_test], 1, splitter, config.window, config.horizon, fitter(options), (),
                               period)
            forecasts[label] = out["forecasts"]["model"]
            reading["variants"][label] = {"mase": out["metrics"]["model"]["mase"],
                                          "chosen": [i for i in out["fit_info"] if i]}
            print(name, folds, label, f"{out['metrics']['model']['mase']:.3f}", flush=True)
        for label, members in LINEAR_AVERAGES.items():
            averaged = forecast_metrics(out["actual"], np.mean([forecasts[m] for m in members], axis=0), out["scales"])
            reading["averages"][label] = {"mase": averaged["mase"], "members": list(members)}
            print(name, folds, label, f"{averaged['mase']:.3f}", flush=True)
        readings[f"{folds}_folds"] = reading
    return readings


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 seed, 2 folds, 3 epochs")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per backbone (default 3)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="processes (each backbone and the baselines run as separate jobs; set "
                             "TF_NUM_INTRAOP_THREADS=1 with several)")
    parser.add_argument("--out", default=None, help="output JSON (default benchmarks/results/forecast.json)")
    parser.add_argument("--select", choices=sorted(SETTINGS), default=None,
                        help="compare the candidate settings on the data before the test folds -> "
                             "benchmarks/results/forecast_selection_<dataset>.json")
    parser.add_argument("--select-linear", choices=sorted(SETTINGS), default=None,
                        help="the linear part alone under each choice rule on the data before the test folds -> "
                             "linear_part_readings in forecast_selection_<dataset>.json")
    parser.add_argument("--candidates", nargs="+", default=None,
                        help="with --select: run only these candidates (earlier readings in the JSON are kept)")
    parser.add_argument("--datasets", nargs="+", choices=sorted(SETTINGS), default=sorted(SETTINGS),
                        help="datasets to run (default: all; the JSON records which ran)")
    parser.add_argument("--backbones", nargs="+", choices=BACKBONES, default=list(BACKBONES),
                        help="backbones to run (default: all; the JSON records which ran)")
    parser.add_argument("--set", nargs="+", default=[], metavar="FIELD=VALUE",
                        help="override pipeline fields for this run (e.g. linear_candidates=autoreg; a reading of a "
                             "setting NOT chosen by --select: write it to its own --out)")
    args = parser.parse_args()
    overrides = []
    for item in args.set:
        key, _, value = item.partition("=")
        if key not in TrainConfig.__dataclass_fields__ or not value:
            parser.error(f"--set: expected FIELD=VALUE with a TrainConfig field. Received: {item}")
        kind = type(getattr(TrainConfig(), key))
        overrides.append((key, value.lower() in ("1", "true") if kind is bool else kind(value)))
    overrides = tuple(overrides)
    if args.select_linear:
        path = benchlib.results_path(f"forecast_selection_{args.select_linear}", out=args.out)
        result = json.loads(path.read_text()) if path.is_file() else {"dataset": args.select_linear}
        result["linear_part_readings"] = dict(select_linear(args.select_linear), options=LINEAR_VARIANTS,
                                              averages=LINEAR_AVERAGES,
                                              date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
        benchlib.write_results(result, path)
        return
    if args.select:
        path = benchlib.results_path(f"forecast_selection_{args.select}", out=args.out)
        chosen = CANDIDATES[args.select]
        if args.candidates:
            unknown = sorted(set(args.candidates) - set(chosen))
            if unknown:
                parser.error(f"--candidates: unknown {unknown}; known: {sorted(chosen)}")
            chosen = {label: chosen[label] for label in args.candidates}
        result = {"benchmark": "forecast_selection", "device": benchlib.device_description(),
                  "dataset": args.select, **select(args.select, chosen)}
        earlier = json.loads(path.read_text()) if path.is_file() else {}
        kept = {k: v for k, v in earlier.get("candidates", {}).items() if k not in result["candidates"]}
        result["candidates"] = kept | result["candidates"]
        for key, value in earlier.items():  # hand-written notes ("chosen", "note", ...) stay
            result.setdefault(key, value)
        benchlib.write_results(result, path)
        return
    seeds = [1000 * i for i in range(1 if args.quick else args.seeds)]  # the members of `--ensemble N`
    start = time.perf_counter()
    if args.jobs > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            pending = {name: run_dataset(name, seeds, args.quick, pool, args.backbones, overrides)
                       for name in args.datasets}
            datasets = {name: collect() for name, collect in pending.items()}
    else:
        datasets = {name: run_dataset(name, seeds, args.quick, None, args.backbones, overrides)()
                    for name in args.datasets}
    out_path = benchlib.results_path("forecast", quick=args.quick, out=args.out)
    previous = json.loads(out_path.read_text()) if out_path.is_file() and not args.quick else {}
    for name, data in previous.get("datasets", {}).items():  # a partial run keeps the other datasets' last reading
        if name not in datasets:
            datasets[name] = dict(data, kept_from_earlier_run=data.get("kept_from_earlier_run") or {
                "date": previous.get("date"), "model_settings": previous.get("model_settings"),
                "overrides": previous.get("overrides"), "seeds": previous.get("seeds")})
    goals = {}
    for kind, key in (("single", "best_backbone"), ("ensemble", "best_ensemble")):
        goals[kind] = {}
        spots, macro = datasets.get("sunspots"), datasets.get("macrodata")
        if spots and spots[key] is not None:
            best_spots = spots["methods"][spots[key]]["mase"]
            goals[kind].update({
                "sunspots_best_backbone_mase_le_0.95_autoreg": bool(
                    best_spots <= 0.95 * spots["methods"]["autoreg"]["mase"]),
                "sunspots_best_backbone_mase_below_arima": bool(best_spots < spots["methods"]["arima"]["mase"])})
        if macro and macro[key] is not None:
            best_macro = macro["methods"][macro[key]]["mase"]
            goals[kind].update({
                "macrodata_best_backbone_below_persistence": bool(
                    best_macro < macro["methods"]["persistence"]["mase"]),
                "macrodata_best_backbone_below_autoreg": bool(best_macro < macro["methods"]["autoreg"]["mase"])})
    defaults = TrainConfig()
    result = {
        "benchmark": "forecast", "device": benchlib.device_description(), "quick": args.quick,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "model_settings": {key: getattr(defaults, key) for key in (
            "hidden_dim", "num_layers", "dropout", "kernel_size", "num_heads", "linear_skip", "direct_linear",
            "linear_candidates", "monitor",
            "ar_order", "ensemble",
            "quantiles", "calibrate", "epochs", "validation_fraction", "refit_full", "batch_size", "learning_rate",
            "weight_decay", "loss")},
        "overrides": dict(overrides), "seeds": seeds, "datasets_run": list(args.datasets), "backbones_run": list(args.backbones),
        "datasets": datasets, "goals": goals,
        "wall_seconds": time.perf_counter() - start,
        "note": "MASE is scaled by each fold's in-sample one-step naive MAE; *_fold_std is the spread over folds, "
                "*_seed_std over seeds. seqkeras_<backbone> rows are single networks (mean over the seeds); "
                "seqkeras_<backbone>_ensembleN averages the N seeds' forecasts, which is what `--ensemble N` ships "
                "(its members are seeds s, s+1000, ...). Every network fit chooses its epoch count on the latest "
                "15% of its training windows and then refits on all of them (the pipeline's procedure). "
                "interval_coverage: share of actual values inside the quantile band over the folds. "
                "model_options: chosen by --select on the data before the first test fold. "
                "Measured on a shared 2-core CPU while other jobs ran.",
    }
    if previous:  # the previous run's figures, for before/after (its own settings and goals alongside)
        result["previous_run"] = {
            "model_settings": previous.get("model_settings"), "goals": previous.get("goals"),
            "mase_by_method": {name: {m: v["mase"] for m, v in data["methods"].items()}
                               for name, data in previous.get("datasets", {}).items()}}
    benchlib.write_results(result, out_path)
    for name, data in datasets.items():
        print(name, {m: round(v["mase"], 3) for m, v in sorted(data["methods"].items(), key=lambda i: i[1]["mase"])})
    print(goals)


if __name__ == "__main__":
    main()
