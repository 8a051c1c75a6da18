"""`TextTask`: a trained network with its in-graph preprocessor attached (raw strings in)."""

import weakref

import keras
import numpy as np
import tensorflow as tf

# One compiled inference function per task, kept outside the model so that saving and export never
# see it; repeated `predict_texts` calls (evaluation every epoch, `seqkeras predict`) reuse its traces.
_PREDICT_FUNCTIONS = weakref.WeakKeyDictionary()


@keras.saving.register_keras_serializable(package="seqkeras")
class TextTask(keras.Model):
    """A token-id network and the `TokenLookup` that feeds it, saved as one `.keras` file.

    keras-hub's split: `preprocessor` turns raw strings into `{"token_ids", "padding_mask"
    [, "char_ids"]}` inside the graph (its vocabularies are part of its config), `network` maps
    those to outputs. `TextTask(texts)` runs both; `TextTask(features_dict)` runs the network
    alone (what training, TFLite and the token-id serving signature use). `labels` names the
    output classes (tags, genres) in id order, so a loaded file needs no side files.

    Args:
        preprocessor: a `seqkeras.data.TokenLookup`.
        network: a built Keras model taking the preprocessor's feature dict.
        labels: optional list of class names, in output-id order.
        task: optional name of the task ("tagger", "classifier", ...), kept in the config.

    Call arguments:
        inputs: a string tensor `(B,)` of raw texts, or the feature dict.
        training: passed to the network.

    Example:

    >>> task = keras.saving.load_model("runs/tagger/model.keras")  # doctest: +SKIP
    >>> probabilities = task(tf.constant(["The cat sat ."]))           # doctest: +SKIP
    >>> [task.labels[i] for i in probabilities[0].numpy().argmax(-1)]  # doctest: +SKIP
    """

    def __init__(self, preprocessor, network, labels=None, task=None, **kwargs):
        super().__init__(**kwargs)
        if labels is not None and (isinstance(labels, str) or not all(isinstance(label, str) for label in labels)):
            raise ValueError(f"`labels` must be a list of strings. Received: labels={labels!r}")
        self.preprocessor = preprocessor
        self.network = network
        self.labels = None if labels is None else list(labels)
        self.task = task
        self.built = bool(getattr(network, "built", False))  # both parts arrive built (TokenLookup has no weights)

    def build(self, input_shape=None):
        self.built = True  # both parts arrive built (a TokenLookup has no weights)

    def call(self, inputs, training=None):
        if not isinstance(inputs, dict):
            inputs = self.preprocessor(inputs)
        return self.network(inputs, training=training)

    def predict_texts(self, texts, batch_size=64):
        """Network outputs for a list of raw strings, one NumPy array per text, in order.

        Texts are batched by length (`text_batches`, `"sorted"`, fixed order), so little padding
        is computed; per-token outputs `[T, ...]` are cut to each text's tokens, per-text outputs
        `[...]` are returned as they are. Every text needs at least one token.
        """
        from seqkeras.models.common.text_batches import text_batches

        texts = list(texts)
        if not texts:
            return []
        dataset = text_batches(self.preprocessor, texts, batching="sorted", batch_size=batch_size, shuffle=False,
                               keep_order_index=True)
        network, run = _PREDICT_FUNCTIONS.get(self, (None, None))
        if network is not self.network:
            network = self.network
            run = tf.function(lambda features: network(features, training=False), reduce_retracing=True)
            _PREDICT_FUNCTIONS[self] = (network, run)
        results = [None] * len(texts)
        for features in dataset:
            index = features.pop("index").numpy()
            outputs = np.asarray(run(features))
            lengths = features["padding_mask"].numpy().sum(axis=1)
            per_token = outputs.ndim >= 3 and outputs.shape[1] == features["padding_mask"].shape[1]
            for row, position in enumerate(index):
                results[position] = outputs[row, : lengths[row]] if per_token else outputs[row]
        return results

    def features(self, texts):
        """The preprocessor's feature dict for a list (or tensor) of raw strings."""
        return self.preprocessor(tf.constant(texts) if isinstance(texts, (list, tuple)) else texts)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "preprocessor": keras.saving.serialize_keras_object(self.preprocessor),
            "network": keras.saving.serialize_keras_object(self.network),
            "labels": self.labels,
            "task": self.task,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["preprocessor"] = keras.saving.deserialize_keras_object(config["preprocessor"])
        config["network"] = keras.saving.deserialize_keras_object(config["network"])
        return cls(**config)
