"""What every benchmark script shares: where results go and what machine produced them.

Scripts run as `python benchmarks/bench_<name>.py`, so this folder is on `sys.path` and they
`import benchlib`.
"""

import collections
import json
import math
import os
import pathlib
import platform
import tempfile

import tensorflow as tf

REPO = pathlib.Path(__file__).resolve().parents[1]


def device_description():
    """`"GPU: <name>"` when TensorFlow sees a GPU, else `"CPU: <model> (<n> logical cores)"`."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return f"GPU: {details.get('device_name', gpus[0].name)}"
    model = platform.processor() or "unknown CPU"
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU: {model} ({os.cpu_count()} logical cores)"


def results_path(name, *, quick=False, out=None):
    """`benchmarks/results/<name>.json`; a `--quick` smoke run goes to the temp dir instead."""
    if out:
        return pathlib.Path(out)
    if quick:  # a smoke run never overwrites the real results
        return pathlib.Path(tempfile.gettempdir()) / f"seqkeras_{name}_quick.json"
    return REPO / "benchmarks" / "results" / f"{name}.json"


def write_results(result, path):
    """Writes `result` as indented JSON and says where."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")


class WittenBellNgram:
    """Interpolated Witten-Bell n-gram model: the count-based anchor of the language-model benchmarks.

    Sequences are strings or tuples of symbols. With `c` the training counts, `T(h)` the number
    of distinct symbols seen after context `h`, and `h'` the context without its first symbol,

        p(w | h) = (c(h w) + T(h) p(w | h')) / (c(h) + T(h)),

    starting from `base(w)` below the empty context and going up to the longest context (of at
    most `order - 1` symbols) seen in training.
    """

    def __init__(self, sequences, max_order, base):
        self.base = base
        self.counts = collections.Counter()  # n-gram (context + next) -> count, every order up to max_order
        for sequence in sequences:
            for n in range(1, max_order + 1):
                self.counts.update(sequence[start:start + n] for start in range(len(sequence) - n + 1))
        self.context_totals = collections.Counter()
        self.context_types = collections.Counter()
        for gram, count in self.counts.items():
            self.context_totals[gram[:-1]] += count
            self.context_types[gram[:-1]] += 1

    def probability(self, sequence, position, order):
        """p(sequence[position] | the symbols before it, at most `order - 1` of them)."""
        target = sequence[position:position + 1]
        probability = self.base(sequence[position])
        for context_length in range(0, min(order - 1, position) + 1):
            context = sequence[position - context_length:position]
            seen = self.context_totals.get(context, 0)
            if not seen:
                break
            types = self.context_types[context]
            probability = (self.counts.get(context + target, 0) + types * probability) / (seen + types)
        return probability

    def bits(self, sequences, order):
        """Total bits and number of predictions (every position after the first) of `sequences`."""
        total, count = 0.0, 0
        for sequence in sequences:
            for position in range(1, len(sequence)):
                total -= math.log2(self.probability(sequence, position, order))
                count += 1
        return total, count
