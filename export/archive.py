"""`write_archive`: `keras.export.ExportArchive.write_out` with every endpoint traced once.

Keras' `write_out` traces each endpoint twice and each tracked Keras model once more, and a trace
of a recurrent network is most of an export's time:

1. it lists the variables the endpoints use by tracing them outside TensorFlow's SaveContext;
   `tf.saved_model.save` then traces them again, because the SaveContext's variable policy is part
   of a `tf.function`'s cache key;
2. its search for lookup tables among the tracked objects (a walk in SavedModel mode) traces the
   `_default_save_signature` of every Keras model it meets (the network, an ELMo embedder inside
   it, ...), a signature no export keeps: the SavedModel's root is the archive's own object.

`write_archive` runs the same two steps (Keras' `_filter_and_track_resources`, then
`tf.saved_model.save` with the endpoints as signatures and the first one as `serving_default`
unless one is named so), the first inside the SaveContext that the save itself opens (so the save
reuses those traces) and with models' default signatures switched off during the walk. The
SavedModel written is the same. Where this Keras version lacks the private pieces it relies on,
it calls `write_out`.
"""

import contextlib

_ARCHIVE_INTERNALS = ("_endpoint_names", "_filter_and_track_resources", "_get_concrete_fn", "_tf_trackable")


@contextlib.contextmanager
def _no_default_model_signatures():
    """Keras models' `_default_save_signature` is None inside (a property of the TF layer class)."""
    from keras.src.backend.tensorflow.layer import TFLayer

    original = TFLayer.__dict__.get("_default_save_signature")
    TFLayer._default_save_signature = property(lambda self: None)
    try:
        yield
    finally:
        if original is None:
            del TFLayer._default_save_signature
        else:
            TFLayer._default_save_signature = original


def write_archive(archive, path):
    """Writes `archive` (a `keras.export.ExportArchive` with endpoints) as a SavedModel at `path`.

    Args:
        archive: the archive, its models tracked and endpoints added.
        path: the folder to write (`str` or `pathlib.Path`).

    Example:
    ```python
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", model.call, input_signature=[tf.TensorSpec([None, None], tf.int32)])
    write_archive(archive, "serving/model/1")   # what archive.write_out(...) writes, traced once
    ```
    """
    import tensorflow as tf

    try:
        from keras.src.backend.tensorflow.layer import TFLayer  # noqa: F401
        from tensorflow.python.saved_model import save_context
    except ImportError:
        save_context = None
    names = getattr(archive, "_endpoint_names", None)
    if save_context is None or not names or not all(hasattr(archive, name) for name in _ARCHIVE_INTERNALS):
        archive.write_out(str(path), verbose=False)
        return
    options = tf.saved_model.SaveOptions()
    with save_context.save_context(options), _no_default_model_signatures():
        archive._filter_and_track_resources()
        signatures = {name: archive._get_concrete_fn(name) for name in names}
    signatures.setdefault("serving_default", signatures[names[0]])
    tf.saved_model.save(archive._tf_trackable, str(path), options=options, signatures=signatures)
