"""seqkeras: learning from sequences with TensorFlow 2.21 and Keras 3.

Subpackages: `seqkeras.data` (tf.data pipelines), `seqkeras.layers` (Keras layers),
`seqkeras.models` (task models and language models), `seqkeras.losses`.
"""

__version__ = "0.1.0"
