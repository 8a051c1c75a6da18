"""A gender-bias probe: where occupation words fall on a gender direction of the vector space.

The direction can come from one word pair (`he - she`) or, steadier, from several definitional
pairs as Bolukbasi et al. (2016, "Man is to Computer Programmer as Woman is to Homemaker?")
do: each pair `(a, b)` of unit vectors contributes `a - c` and `b - c` around its centre
`c = (a + b) / 2`, and the direction is the first principal component of those vectors. One
pair's difference also carries whatever else separates the two words in a small corpus (topic,
frequency); averaging many pairs through the PCA keeps what they share. A bootstrap over the
pairs tells how much each word's projection depends on the choice of pairs.
"""

import numpy as np

OCCUPATIONS = (
    "nurse", "teacher", "secretary", "librarian", "dancer", "singer", "actress", "actor", "doctor",
    "lawyer", "engineer", "scientist", "programmer", "mathematician", "physicist", "philosopher",
    "architect", "soldier", "pilot", "captain", "president", "king", "queen", "writer", "poet",
    "painter", "farmer", "priest", "chef", "manager",
)

# Bolukbasi et al. (2016)'s ten definitional pairs, the male word first (positive projections
# lean male).
DEFINITIONAL_PAIRS = (
    ("he", "she"), ("his", "her"), ("man", "woman"), ("john", "mary"), ("himself", "herself"),
    ("son", "daughter"), ("father", "mother"), ("guy", "gal"), ("boy", "girl"), ("male", "female"),
)


def _pair_direction(unit, index_pairs):
    """First principal component of the centred pair vectors, oriented towards the first words."""
    first = unit[[a for a, _ in index_pairs]]  # (K, D)
    second = unit[[b for _, b in index_pairs]]  # (K, D)
    half = (first - second) / 2.0  # (K, D): a - c = -(b - c)
    centred = np.concatenate([half, -half], axis=0)  # (2K, D), mean zero by construction
    _, singular, components = np.linalg.svd(centred.astype(np.float64), full_matrices=False)
    direction = components[0]
    if np.sum(half @ direction) < 0:
        direction = -direction
    return direction, singular**2 / max(np.sum(singular**2), 1e-300)


def gender_direction(vectors, pairs=DEFINITIONAL_PAIRS):
    """The gender direction of `vectors`: first principal component of definitional pairs.

    Args:
        vectors: a gensim `KeyedVectors`.
        pairs: `(male, female)` word pairs; pairs with a word outside the vocabulary are skipped
            and listed. With one pair the direction is the difference of its unit vectors.

    Returns:
        `(direction, info)`: a unit vector `(D,)` (the first words of the pairs project
        positively on average) and a dict with `pairs` (used), `missing_pairs` and
        `explained_variance_ratio` (of the first components: how much of the pairs' spread the
        direction captures; 1.0 for a single pair).

    Raises:
        KeyError: no pair has both words in the vocabulary.
    """
    used = [tuple(pair) for pair in pairs if pair[0] in vectors and pair[1] in vectors]
    missing = [tuple(pair) for pair in pairs if tuple(pair) not in used]
    if not used:
        raise KeyError(f"No definitional pair has both words in the vocabulary. Received: pairs={list(pairs)}")
    index = vectors.key_to_index
    index_pairs = [(index[a], index[b]) for a, b in used]
    direction, explained = _pair_direction(vectors.get_normed_vectors(), index_pairs)
    info = {
        "pairs": [list(pair) for pair in used],
        "missing_pairs": [list(pair) for pair in missing],
        "explained_variance_ratio": [float(v) for v in explained[: min(5, len(used))]],
    }
    return direction.astype(np.float32), info


def bias_probe(vectors, words=OCCUPATIONS, pairs=DEFINITIONAL_PAIRS, bootstrap=200, seed=0):
    """Cosine of each word with the gender direction, with a bootstrap over the pairs.

    Each bootstrap round redraws `len(pairs used)` pairs with replacement, recomputes the
    direction and the projections; `low`/`high` are the 5th/95th percentiles over the rounds
    and `std` their standard deviation. A word whose interval spans zero has no clear lean.

    Args:
        vectors: a gensim `KeyedVectors`.
        words: the probe words (default: 30 occupations, a few gendered by definition such as
            "king"/"queen" and "actor"/"actress" as sanity checks).
        pairs: definitional `(male, female)` pairs (default: Bolukbasi et al.'s ten).
        bootstrap: number of bootstrap rounds (0: none).
        seed: seed of the bootstrap draws.

    Returns:
        dict with `rows` (list of dicts `word`, `projection`, and with a bootstrap `low`,
        `high`, `std`; sorted from most male- to most female-leaning), `missing` (probe words
        outside the vocabulary) and `direction` (the `info` of `gender_direction`).

    Raises:
        KeyError: no pair has both words in the vocabulary.
        ValueError: `bootstrap < 0`.

    Example:

    >>> kv = keyed_vectors(["he", "she", "nurse", "engineer"], [[1, 0.1], [-1, 0.1], [-0.5, 1], [0.6, 1]])
    >>> probe = bias_probe(kv, words=["nurse", "engineer"], pairs=[("he", "she")], bootstrap=0)
    >>> [row["word"] for row in probe["rows"]]  # male-leaning first
    ['engineer', 'nurse']
    """
    if int(bootstrap) != bootstrap or bootstrap < 0:
        raise ValueError(f"`bootstrap` must be an integer >= 0. Received: bootstrap={bootstrap}")
    direction, info = gender_direction(vectors, pairs)
    present = [word for word in words if word in vectors]
    missing = [word for word in words if word not in vectors]
    unit = vectors.get_normed_vectors()
    index = vectors.key_to_index
    probe_rows = unit[[index[word] for word in present]] if present else np.zeros((0, unit.shape[1]))
    projections = probe_rows @ direction  # (W,)
    rows = [{"word": word, "projection": float(value)} for word, value in zip(present, projections)]
    if bootstrap and present:
        rng = np.random.default_rng(seed)
        index_pairs = [(index[a], index[b]) for a, b in info["pairs"]]
        samples = np.empty((int(bootstrap), len(present)))  # (R, W)
        for r in range(int(bootstrap)):
            drawn = rng.integers(0, len(index_pairs), len(index_pairs))
            sample_direction, _ = _pair_direction(unit, [index_pairs[i] for i in drawn])
            samples[r] = probe_rows @ sample_direction
        low, high = np.percentile(samples, [5.0, 95.0], axis=0)
        for row, lo, hi, std in zip(rows, low, high, samples.std(axis=0)):
            row.update(low=float(lo), high=float(hi), std=float(std))
    rows.sort(key=lambda row: -row["projection"])
    return {"rows": rows, "missing": missing, "direction": info}


def bias_projection(vectors, words=OCCUPATIONS, pair=("he", "she")):
    """Cosine of each word with the direction of one pair, `unit(pair[0]) - unit(pair[1])`.

    The single-pair probe (positive leans to `pair[0]`); `bias_probe` is the steadier one.
    Words missing from the vocabulary are skipped and returned separately.

    Args:
        vectors: a gensim `KeyedVectors`.
        words: the probe words (default: 30 occupations).
        pair: the two words defining the direction.

    Returns:
        `(rows, missing)`: rows `(word, projection)` sorted from most `pair[0]`-leaning to most
        `pair[1]`-leaning, and the list of words not in the vocabulary.

    Raises:
        KeyError: a word of `pair` is not in the vocabulary.
    """
    for word in pair:
        if word not in vectors:
            raise KeyError(f"Word not in vocabulary. Received: {word!r}")
    probe = bias_probe(vectors, words, pairs=[tuple(pair)], bootstrap=0)
    return [(row["word"], row["projection"]) for row in probe["rows"]], probe["missing"]


def format_bias_table(rows, pair=("he", "she")):
    """A fixed-width text table with a bar per word.

    Args:
        rows: the rows of `bias_projection` (`(word, projection)`) or of `bias_probe` (dicts;
            a bootstrap interval, when present, is printed too).
        pair: names of the positive and negative ends (e.g. `("he", "she")` or
            `("male", "female")`).
    """
    rows = [row if isinstance(row, dict) else {"word": row[0], "projection": row[1]} for row in rows]
    with_interval = any("low" in row for row in rows)
    header = f"{'word':<16}{'cos(w, ' + pair[0] + ' - ' + pair[1] + ')':>24}"
    header += f"{'90% interval':>20}" if with_interval else ""
    lines = [header + "  leaning"]
    for row in rows:
        value = row["projection"]
        line = f"{row['word']:<16}{value:>24.3f}"
        if with_interval:
            line += f"{'[' + format(row['low'], '.3f') + ', ' + format(row['high'], '.3f') + ']':>20}" if "low" in row else " " * 20
        side = pair[0] if value > 0 else pair[1]
        lines.append(f"{line}  {side:<7}{'#' * int(round(abs(value) * 40))}")
    return "\n".join(lines)
