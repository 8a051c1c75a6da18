"""A gender-bias probe: where occupation words fall on the he - she direction."""

import numpy as np

OCCUPATIONS = (
    "nurse", "teacher", "secretary", "librarian", "dancer", "singer", "actress", "actor", "doctor",
    "lawyer", "engineer", "scientist", "programmer", "mathematician", "physicist", "philosopher",
    "architect", "soldier", "pilot", "captain", "president", "king", "queen", "writer", "poet",
    "painter", "farmer", "priest", "chef", "manager",
)


def bias_projection(vectors, words=OCCUPATIONS, pair=("he", "she")):
    """Cosine of each word with the direction `pair[0] - pair[1]` (positive leans to `pair[0]`).

    Words missing from the vocabulary are skipped and returned separately.

    Args:
        vectors: a `KeyedVectors`.
        words: the probe words (default: 30 occupations).
        pair: the two words defining the direction.

    Returns:
        `(rows, missing)`: rows `(word, projection)` sorted from most `pair[0]`-leaning to most
        `pair[1]`-leaning, and the list of words not in the vocabulary.

    Raises:
        KeyError: a word of `pair` is not in the vocabulary.
    """
    direction = vectors[pair[0]] - vectors[pair[1]]
    direction = direction / max(np.linalg.norm(direction), 1e-12)
    rows, missing = [], []
    for word in words:
        if word not in vectors:
            missing.append(word)
            continue
        rows.append((word, float(np.dot(vectors.unit_vectors[vectors.index[word]], direction))))
    rows.sort(key=lambda row: -row[1])
    return rows, missing


def format_bias_table(rows, pair=("he", "she")):
    """The rows of `bias_projection` as a fixed-width text table with a bar per word."""
    lines = [f"{'word':<16}{'cos(w, ' + pair[0] + ' - ' + pair[1] + ')':>20}  leaning"]
    for word, value in rows:
        bar = "#" * int(round(abs(value) * 40))
        side = pair[0] if value > 0 else pair[1]
        lines.append(f"{word:<16}{value:>20.3f}  {side:<4}{bar}")
    return "\n".join(lines)
