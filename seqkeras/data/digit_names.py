"""The digits -> names task: scikit-learn's 8x8 digit images as labels, English names as targets."""

import numpy as np

from seqkeras.data.vocabulary import Vocabulary

DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def load_digit_names(test_fraction=0.25, seed=0):
    """Loads `sklearn.datasets.load_digits()` (1,797 real 8x8 images) and splits it by image.

    Args:
        test_fraction: share of images held out.
        seed: seed of the (stratified-free, uniform) permutation.

    Returns:
        `(train, test, vocabulary)`: `train`/`test` are `(images float32 [N, 64] scaled to [0, 1],
        names list[str], digits int [N])`, `vocabulary` a character `Vocabulary` of the names.
    """
    from sklearn.datasets import load_digits

    if not 0 < test_fraction < 1:
        raise ValueError(f"`test_fraction` must be in (0, 1). Received: test_fraction={test_fraction!r}")
    digits = load_digits()
    images = (digits.data / 16.0).astype("float32")  # (N, 64), pixel values 0..16 -> 0..1
    labels = digits.target.astype("int64")
    order = np.random.default_rng(seed).permutation(len(labels))
    num_test = int(round(len(labels) * test_fraction))
    test_index, train_index = order[:num_test], order[num_test:]

    def part(index):
        return images[index], [DIGIT_NAMES[d] for d in labels[index]], labels[index]

    vocabulary = Vocabulary.build([list(name) for name in DIGIT_NAMES])
    return part(train_index), part(test_index), vocabulary
