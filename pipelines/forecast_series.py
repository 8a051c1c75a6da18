"""The series a forecast run reads: built-in sets or a CSV, columns checked, gaps filled or refused.

    sunspots    yearly sunspot numbers 1700-2008 (statsmodels), target SUNACTIVITY, period 11
    macrodata   US quarterly macro series 1959-2009 (statsmodels); level columns also as quarterly
                log growth in percent (`realgdp_growth`, ...); target realgdp_growth, period 4
    PATH.csv    any CSV with a header; numeric columns are usable (pick them with --target/--covariates)

Everything here raises `common.UserError` with one line naming the flag, column or value.
"""

import pathlib

import numpy as np

from pipelines import common

BUILTIN = ("sunspots", "macrodata")
FILLS = ("none", "ffill", "interpolate", "drop")
GROWTH_COLUMNS = ("realgdp", "realcons", "realinv", "realgovt", "realdpi", "cpi", "m1", "pop")
DEFAULT_TARGETS = {"sunspots": ("SUNACTIVITY",), "macrodata": ("realgdp_growth",)}
DEFAULT_COVARIATES = {
    "sunspots": (),
    "macrodata": ("realcons_growth", "realinv_growth", "realgovt_growth", "realdpi_growth", "m1_growth",
                  "unemp", "infl", "tbilrate", "realint"),
}
PERIODS = {"sunspots": 11, "macrodata": 4}


def check_series_flag(series, flag="--series"):
    """Validates `--series` (or predict's `--csv`: `flag`) without loading it (a built-in name or a .csv file)."""
    if series in BUILTIN and flag == "--series":
        return
    path = pathlib.Path(series)
    if path.suffix.lower() != ".csv":
        choices = f"one of {BUILTIN} or " if flag == "--series" else ""
        raise common.UserError(f"{flag} must be {choices}a .csv file. Received: {flag} {series}")
    if not path.is_file():
        raise common.UserError(f"{flag}: file not found. Received: {flag} {series}")


def load_frame(series, flag="--series"):
    """The series as a pandas DataFrame (rows in time order); errors name `flag`."""
    import pandas as pd
    from statsmodels import datasets

    if series == "sunspots":
        return datasets.sunspots.load_pandas().data[["SUNACTIVITY"]].astype(float)
    if series == "macrodata":
        data = datasets.macrodata.load_pandas().data.drop(columns=["year", "quarter"]).astype(float)
        for column in GROWTH_COLUMNS:
            data[f"{column}_growth"] = 100.0 * np.log(data[column]).diff()
        return data.iloc[1:].reset_index(drop=True)
    try:
        frame = pd.read_csv(series)
    except UnicodeDecodeError as error:
        raise common.UserError(f"{flag}: {series} is not valid UTF-8 ({error.reason})") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise common.UserError(f"{flag}: {series} is not a readable CSV ({str(error).splitlines()[0]})") from None
    if frame.empty:
        raise common.UserError(f"{flag}: {series} has no data rows")
    return frame


def choose_columns(frame, series, targets, covariates):
    """`(targets, covariates)` column names: the given ones or the series' defaults."""
    targets = tuple(targets) or DEFAULT_TARGETS.get(series, ())
    if not targets:
        numeric = [c for c in frame.columns if _numeric(frame[c])]
        if len(numeric) != 1:
            raise common.UserError(f"--target: name the column(s) to forecast; {series} has numeric columns {numeric}")
        targets = (numeric[0],)
    if tuple(covariates) == ("none",):
        covariates = ()
    else:
        covariates = tuple(covariates) or DEFAULT_COVARIATES.get(series, ())
    for flag, names in (("--target", targets), ("--covariates", covariates)):
        for name in names:
            if name not in frame.columns:
                raise common.UserError(f"{flag}: unknown column {name!r}; {series} has {list(frame.columns)}")
        check_numeric(frame, names, flag)
    both = set(targets) & set(covariates)
    if both:
        raise common.UserError(f"--covariates: {sorted(both)} are already targets")
    return targets, covariates


def check_numeric(frame, names, flag):
    """Refuses a non-numeric column among `names`, naming `flag` and a value that is not a number."""
    for name in names:
        if not _numeric(frame[name]):
            example = next((v for v in frame[name] if not _is_number(v)), frame[name].iloc[0])
            raise common.UserError(f"{flag}: column {name!r} is not numeric (e.g. {example!r})")


def _numeric(column):
    import pandas as pd

    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def _is_number(value):
    try:
        float(value)
        return True
    except (TypeError, ValueError):
        return False


def fill_gaps(frame, columns, fill, series, flag="--series"):
    """The chosen columns as `(N, F)` float64; NaN/empty cells refused (`fill="none"`) or filled.

    `flag`: the option that named the file, in the error (predict's `--csv` reads with the run's `fill`).
    """
    data = frame[list(columns)].astype(float).replace([np.inf, -np.inf], np.nan)
    missing = data.isna()
    if missing.any().any():
        if fill == "none":
            column = missing.any().idxmax()
            row = int(missing[column].to_numpy().argmax())
            remedy = ("pass --fill ffill|interpolate|drop" if flag == "--series" else
                      "the run was trained with --fill none: fill those cells, or retrain with --fill ffill|interpolate|drop")
            raise common.UserError(f"{flag}: {series} has {int(missing.sum().sum())} missing/non-finite value(s), "
                                   f"the first in column {column!r} at row {row}; {remedy}")
        if fill == "ffill":
            data = data.ffill().bfill()
        elif fill == "interpolate":
            data = data.interpolate(limit_direction="both")
        elif fill == "drop":
            data = data.dropna()
    values = data.to_numpy(dtype=np.float64)
    too_large = np.abs(values) > np.finfo(np.float32).max  # the model computes in float32: inf, then NaN out
    if too_large.any():
        row, index = (int(i[0]) for i in np.nonzero(too_large))
        raise common.UserError(f"{flag}: {series} column {columns[index]!r} at row {row} holds {float(values[row, index])!r}, "
                               f"beyond float32's range (±{float(np.finfo(np.float32).max):.4g}) the model computes in")
    return values


def minimum_length(window, horizon, folds, step, gap):
    """Steps a series needs: one training window + target, the gap, and `folds` test origins."""
    return window + horizon + gap + horizon + (folds - 1) * step


def load_values(config):
    """`(values (N, F), targets, covariates)` for a validated config."""
    frame = load_frame(config.series)
    targets, covariates = choose_columns(frame, config.series, config.target, config.covariates)
    values = fill_gaps(frame, targets + covariates, config.fill, config.series)
    step = config.step or config.horizon
    needed = minimum_length(config.window, config.horizon, config.folds, step, config.gap)
    if len(values) < needed:
        raise common.UserError(
            f"--series: {config.series} has {len(values)} rows, fewer than the minimum length {needed} "
            f"(window {config.window} + horizon {config.horizon} to train, gap {config.gap}, "
            f"{config.folds} folds of horizon {config.horizon} every {step} steps)")
    return values, targets, covariates
