"""A Keras callback that writes generated text to TensorBoard after every epoch."""

import pathlib

import keras
import tensorflow as tf


class SampleTextCallback(keras.callbacks.Callback):
    """Generates samples at the end of every epoch and logs them with `tf.summary.text`.

    Samples are written under `log_dir` (tag `samples`, one step per epoch) as Markdown code
    blocks, so TensorBoard shows the wiki markup verbatim. The latest samples are also kept in
    `self.samples` and the history of all of them in `self.history` (epoch -> list of strings).

    Args:
        generator: a `CharGenerator` over the model being trained.
        log_dir: TensorBoard folder for the text summaries.
        seed_text: str, the text every sample continues.
        num_samples: int, samples per epoch.
        length: int, characters per sample.
        temperature: float, sampling temperature.
        seed: int, sampling seed (the same every epoch, so epochs are comparable).

    Example:

    >>> callback = SampleTextCallback(CharGenerator(model, vocabulary), "runs/charlm/tb/samples")
    >>> trainer.fit(dataset, epochs=3, callbacks=[callback])
    """

    def __init__(self, generator, log_dir, seed_text="[[", num_samples=2, length=200, temperature=0.8, seed=0):
        super().__init__()
        self.generator = generator
        self.log_dir = pathlib.Path(log_dir)
        self.seed_text = seed_text
        self.num_samples = num_samples
        self.length = length
        self.temperature = temperature
        self.seed = seed
        self.samples = []
        self.history = {}
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        self.samples = self.generator.generate(
            self.seed_text, num_samples=self.num_samples, max_length=self.length,
            temperature=self.temperature, seed=self.seed,
        )
        self.history[epoch] = list(self.samples)
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(str(self.log_dir))
        blocks = ["```\n" + self.seed_text + sample + "\n```" for sample in self.samples]
        with self._writer.as_default():
            tf.summary.text("samples", tf.constant(blocks), step=epoch)
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None
