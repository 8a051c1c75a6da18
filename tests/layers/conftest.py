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


@pytest.fixture(scope="session")
def seeded_layer():
    """`seeded_layer(cls, **kwargs)`: one layer per `(cls, kwargs)`, built after seeding 0.

    Session-scoped so `@given` tests can reuse a layer (and its traced graphs) across
    examples without a function-scoped fixture.
    """
    import keras

    layers = {}

    def get(cls, **kwargs):
        key = (cls, tuple(sorted(kwargs.items())))
        if key not in layers:
            keras.utils.set_random_seed(0)
            layers[key] = cls(**kwargs)
        return layers[key]

    return get


@pytest.fixture(scope="session")
def draw_causal_case():
    """`draw_causal_case(data, steps, features, padded_row)` -> `(inputs, step, mask, seed)`.

    Draws, from a hypothesis `data` object, a step to perturb after and a seed; builds
    normal `[2, steps, features]` inputs and a mask whose `padded_row` is right-padded
    to a random length (possibly none), the other row all valid.
    """

    def draw(data, steps, features, padded_row):
        from hypothesis import strategies as st

        step = data.draw(st.integers(0, steps - 2), label="step")
        seed = data.draw(st.integers(0, 2**16), label="seed")
        rng = np.random.default_rng(seed)
        inputs = rng.normal(size=(2, steps, features)).astype("float32")
        mask = np.ones((2, steps), bool)
        mask[padded_row, rng.integers(1, steps + 1) :] = False
        return inputs, step, mask, seed

    return draw
