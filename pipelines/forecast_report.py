"""Tables, TensorBoard scalars and plots of a forecast run's walk-forward results."""

import numpy as np


def comparison_table(metrics):
    """The methods side by side: mean over folds (± spread) of MAE, RMSE, MASE, sMAPE, and MASE per step."""
    methods = metrics["methods"]
    horizon = len(next(iter(methods.values()))["per_horizon"]["mase"])
    steps = sorted({0, horizon // 2, horizon - 1})
    head = f"{'method':<20}{'MAE':>16}{'RMSE':>16}{'MASE':>14}{'sMAPE %':>16}" + "".join(
        f"{f'MASE h={s + 1}':>11}" for s in steps)
    lines = [f"{metrics['series']['name']}: {len(metrics['folds'])} walk-forward folds, horizon {horizon}, "
             f"targets {metrics['series']['targets']}", head, "-" * len(head)]
    for name, table in sorted(methods.items(), key=lambda item: item[1]["mase"]):
        cells = [f"{table[key]:.2f} ± {table[key + '_std']:.2f}" for key in ("mae", "rmse", "mase", "smape")]
        lines.append(f"{name:<20}{cells[0]:>16}{cells[1]:>16}{cells[2]:>14}{cells[3]:>16}" + "".join(
            f"{table['per_horizon']['mase'][s]:>11.3f}" for s in steps))
    lines.extend(coverage_lines(metrics.get("coverage")))
    return "\n".join(lines)


def coverage_lines(coverage):
    """One line per interval kind: the share of actual values inside the quantile band over the folds."""
    lines = []
    for kind in ("calibrated", "uncalibrated"):
        table = (coverage or {}).get(kind)
        if not table:
            continue
        low, high = table["interval"]
        lines.append(f"{low:g}-{high:g} interval ({kind}): coverage {100 * table['coverage']:.1f}% of "
                     f"{table['count']} values (nominal {100 * table['nominal']:.0f}%)")
        if kind == "calibrated" and len(table.get("per_horizon", ())) > 1:
            lines.append("  by horizon step h=1..: " + " ".join(
                "  -" if value is None or value != value else f"{100 * value:3.0f}" for value in table["per_horizon"])
                + " %")
    return lines


def write_tensorboard(tb_dir, methods):
    """Per-fold scalars `<metric>/<method>` (step = fold index) under tb/folds."""
    import tensorflow as tf

    with tf.summary.create_file_writer(str(tb_dir / "folds")).as_default():
        for name, table in methods.items():
            for metric, values in table["per_fold"].items():
                for fold, value in enumerate(values):
                    tf.summary.scalar(f"{metric}/{name}", float(value), step=fold)
            for metric, values in table["per_horizon"].items():
                for step, value in enumerate(values):
                    tf.summary.scalar(f"by_horizon_{metric}/{name}", float(value), step=step + 1)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_folds(folds, length, gap, path):
    """The fold layout: train, gap and test spans of every fold."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(8, 0.45 * len(folds) + 1.2))
    for fold in folds:
        (a, b), (c, d) = fold["train"], fold["test"]
        y = fold["index"]
        axis.barh(y, b - a, left=a, color="tab:blue", label="train" if y == 0 else None)
        if gap:
            axis.barh(y, gap, left=b, color="lightgray", label="gap" if y == 0 else None)
        axis.barh(y, d - c, left=c, color="tab:orange", label="test" if y == 0 else None)
    axis.set_xlim(0, length)
    axis.set_xlabel("step")
    axis.set_ylabel("fold")
    axis.invert_yaxis()
    axis.legend(loc="lower left")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_forecasts(values, result, config, path, baselines=("persistence", "seasonal_naive", "autoreg", "arima")):
    """Forecast vs actual per fold (first target), with the quantile band and the baselines."""
    plt = _pyplot()
    folds = result["folds"]
    columns = min(3, len(folds))
    rows = -(-len(folds) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.5 * columns, 3 * rows), squeeze=False)
    for fold, axis in zip(folds, axes.flat):
        c, d = fold["test"]
        k = fold["index"]
        start = max(0, c - 2 * config.horizon)
        axis.plot(range(start, d), values[start:d, 0], color="black", label="actual")
        steps = np.arange(c, d)
        if result["quantiles"] is not None:
            band = result["quantiles"][k, : d - c, 0]  # (h, Q)
            axis.fill_between(steps, band[:, 0], band[:, -1], color="tab:blue", alpha=0.2,
                              label=f"{config.quantiles[0]:g}-{config.quantiles[-1]:g} quantiles")
        axis.plot(steps, result["forecasts"]["model"][k, : d - c, 0], color="tab:blue", marker="o",
                  label=f"seqkeras {config.backbone}")
        for name in baselines:
            if name in result["forecasts"]:
                axis.plot(steps, result["forecasts"][name][k, : d - c, 0], linestyle="--", label=name)
        axis.axvline(c - 0.5, color="gray", linewidth=0.8)
        axis.set_title(f"fold {k}")
    for axis in list(axes.flat)[len(folds):]:
        axis.axis("off")
    axes.flat[0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_error_by_horizon(methods, path):
    """MASE and MAE per horizon step, one line per method."""
    plt = _pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for axis, metric in zip(axes, ("mase", "mae")):
        for name, table in methods.items():
            values = table["per_horizon"][metric]
            axis.plot(range(1, len(values) + 1), values, marker="o", label=name)
        axis.set_xlabel("horizon step")
        axis.set_title(metric.upper())
    axes[0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_coverage(coverage, path):
    """Empirical coverage of the quantile interval per horizon step (lines) and per fold (bars), against the
    nominal level; calibrated and uncalibrated bands."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    figure, (by_step, by_fold) = plt.subplots(1, 2, figsize=(10, 3.5))
    first = next(iter(coverage.values()))
    low, high = first["interval"]
    kinds = [kind for kind in ("calibrated", "uncalibrated") if coverage.get(kind)]
    for offset, kind in enumerate(kinds):
        table = coverage[kind]
        steps = np.arange(1, len(table["per_horizon"]) + 1)
        by_step.plot(steps, np.asarray(table["per_horizon"], dtype=float), "-o" if offset == 0 else "--x",
                     label=f"{kind} ({100 * table['coverage']:.0f}% of {table['count']} values)")
        folds = np.arange(len(table["per_fold"]))
        width = 0.8 / len(kinds)
        by_fold.bar(folds + (offset - (len(kinds) - 1) / 2) * width, np.asarray(table["per_fold"], dtype=float),
                    width, label=kind)
    for axis, label in ((by_step, "horizon step"), (by_fold, "fold")):
        axis.axhline(first["nominal"], color="gray", linestyle=":", label=f"nominal {100 * first['nominal']:.0f}%")
        axis.set_ylim(-0.03, 1.05)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_xlabel(label)
        axis.set_ylabel("share inside the band")
        axis.set_title(f"{low:g}-{high:g} interval coverage by {label}")
    by_step.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def save_forecasts(result, path):
    """Every fold's actuals and forecasts, `(K, H, T)` arrays, to .npz."""
    arrays = {"actual": result["actual"], "scales": result["scales"]}
    arrays.update({f"forecast_{name}": forecast for name, forecast in result["forecasts"].items()})
    if result["quantiles"] is not None:
        arrays["quantiles"] = result["quantiles"]
    if result.get("quantiles_raw") is not None:
        arrays["quantiles_raw"] = result["quantiles_raw"]
    np.savez(path, **arrays)
