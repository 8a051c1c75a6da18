"""`export.archive.write_archive`: what `ExportArchive.write_out` writes, each endpoint traced once."""

import keras
import numpy as np
import tensorflow as tf

from export.archive import write_archive


def test_write_archive_traces_each_endpoint_once_and_writes_the_same_signatures(tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    inner = keras.Model(inputs, keras.layers.Dense(2)(inputs), name="inner")  # a model inside a model
    outer_inputs = keras.Input((3,))
    model = keras.Model(outer_inputs, inner(outer_inputs) * 2.0, name="outer")
    traces = []

    def scores(x):
        traces.append("scores")  # Python runs once per trace
        return {"scores": model(x)}

    def archive():
        made = keras.export.ExportArchive()
        made.track(model)
        made.add_endpoint("scores", scores, input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
        return made

    write_archive(archive(), tmp_path / "once")
    assert traces == ["scores"]
    archive().write_out(str(tmp_path / "keras"), verbose=False)
    assert len(traces) == 3  # Keras' own write_out traced it twice
    x = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    ours, theirs = tf.saved_model.load(str(tmp_path / "once")), tf.saved_model.load(str(tmp_path / "keras"))
    assert set(ours.signatures) == set(theirs.signatures) == {"scores", "serving_default"}
    expected = model(x).numpy()
    for loaded in (ours, theirs):
        for name in ("scores", "serving_default"):
            np.testing.assert_allclose(loaded.signatures[name](x=tf.constant(x))["scores"].numpy(), expected, atol=1e-6)
