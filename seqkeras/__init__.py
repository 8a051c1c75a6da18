"""seqkeras: learning from sequences with TensorFlow 2.21 and Keras 3.

Subpackages: `seqkeras.data` (tf.data pipelines), `seqkeras.layers` (Keras layers),
`seqkeras.models` (task models, language models, the forecaster), `seqkeras.distribute`
(strategy-aware training), `seqkeras.losses`, `seqkeras.optimizers`.

`import seqkeras` registers every layer, model and optimizer class with Keras, so a run's `model.keras`
loads with `keras.saving.load_model(path)` alone. The command line lives in `pipelines.cli`
(it imports TensorFlow only when a command runs).
"""

__version__ = "0.1.0"


def _register_serializables():
    """Imports every layer and model family, so `keras.saving.load_model` finds their classes."""
    import importlib
    import pkgutil

    from seqkeras import layers, models, optimizers  # noqa: F401

    for info in pkgutil.iter_modules(models.__path__):
        if info.ispkg:
            importlib.import_module(f"seqkeras.models.{info.name}")


_register_serializables()
