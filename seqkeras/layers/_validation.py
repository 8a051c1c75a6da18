"""Constructor-argument validation shared by the layers and the model builders (private)."""

import keras
import numpy as np


def check_positive_int(name, value, allow_none=False):
    """Raise `ValueError` echoing the value unless it is a positive int (or allowed None)."""
    if allow_none and value is None:
        return value
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    return int(value)


def check_rate(name, value):
    """Raise `ValueError` unless `0 <= value < 1` (dropout-style rates)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"`{name}` must be a float in [0, 1). Received: {name}={value!r}")
    return float(value)


def check_positive_float(name, value):
    """Raise `ValueError` unless `value` is a positive finite number (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise ValueError(f"`{name}` must be a positive finite number. Received: {name}={value!r}")
    return float(value)


def check_choice(name, value, choices):
    """Raise `ValueError` unless `value` is one of `choices`."""
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {list(choices)}. Received: {name}={value!r}")
    return value


def check_bool(name, value):
    """Raise `ValueError` unless `value` is a bool (not merely truthy)."""
    if not isinstance(value, bool):
        # ValueError (not TypeError), as the layers have always raised for this.
        raise ValueError(f"`{name}` must be a bool. Received: {name}={value!r}")  # noqa: TRY004
    return value


def get_activation(layer_name, name, value):
    """Resolve an activation with `keras.activations.get`, or raise `ValueError` naming it."""
    try:
        return keras.activations.get(value)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"Unknown activation for {layer_name}. Received: {name}={value!r}"
        ) from error
