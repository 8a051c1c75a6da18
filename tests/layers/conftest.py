"""Fixtures for the layer tests: small slices of a real series (statsmodels' sunspots)."""

import numpy as np
import pytest


@pytest.fixture(scope="session")
def sunspot_sequences():
    """Real, different-length sequences `[T_i, 2]`: standardised yearly sunspot numbers
    and their first difference, cut from the 1700-2008 series (statsmodels, offline)."""
    sunspots = pytest.importorskip("statsmodels.datasets.sunspots")
    values = sunspots.load_pandas().data["SUNACTIVITY"].to_numpy(dtype="float32")
    values = (values - values.mean()) / values.std()
    features = np.stack([values[1:], np.diff(values)], axis=-1)  # (308, 2)
    lengths = (6, 3, 5, 1)
    starts = np.cumsum((0,) + lengths[:-1]) + 100  # cycles around 1800
    return [features[s : s + n] for s, n in zip(starts, lengths)]


@pytest.fixture(scope="session")
def sunspot_batch(sunspot_sequences):
    """The same sequences right-padded into one batch: (inputs [4, 6, 2], mask [4, 6])."""
    max_len = max(len(s) for s in sunspot_sequences)
    inputs = np.zeros((len(sunspot_sequences), max_len, 2), "float32")
    mask = np.zeros((len(sunspot_sequences), max_len), bool)
    for i, seq in enumerate(sunspot_sequences):
        inputs[i, : len(seq)] = seq
        mask[i, : len(seq)] = True
    return inputs, mask
