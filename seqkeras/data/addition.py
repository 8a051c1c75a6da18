"""The addition task: `"123+45" -> "168"`, problems generated from a seed."""

import numpy as np

from seqkeras.data.vocabulary import Vocabulary

ADDITION_CHARACTERS = tuple("0123456789+")


def addition_problems(num_problems, max_digits=3, seed=0, exclude=()):
    """Distinct random problems `"a+b"` with answers `str(a + b)`, operands of 1..`max_digits` digits.

    Args:
        num_problems: how many distinct questions.
        max_digits: digits of the largest operand.
        seed: generator seed.
        exclude: questions never returned (e.g. the training questions when drawing a test set).

    Returns:
        `(questions, answers)`, two lists of str.
    """
    if num_problems <= 0:
        raise ValueError(f"`num_problems` must be positive. Received: num_problems={num_problems!r}")
    limit = 10**max_digits
    exclude = set(exclude)
    if num_problems > limit * limit - len(exclude):
        raise ValueError(f"Only {limit * limit - len(exclude)} distinct problems. Received: num_problems={num_problems}")
    rng = np.random.default_rng(seed)
    seen, questions, answers = set(), [], []
    while len(questions) < num_problems:
        # Draw the digit count first so short operands are as common as long ones.
        a, b = (int(rng.integers(0, 10 ** int(rng.integers(1, max_digits + 1)))) for _ in range(2))
        question = f"{a}+{b}"
        if question in seen or question in exclude:
            continue
        seen.add(question)
        questions.append(question)
        answers.append(str(a + b))
    return questions, answers


def addition_vocabulary():
    """The character `Vocabulary` of the task (digits and '+')."""
    return Vocabulary(ADDITION_CHARACTERS)
