"""What every benchmark script shares: where results go and what machine produced them.

Scripts run as `python benchmarks/bench_<name>.py`, so this folder is on `sys.path` and they
`import benchlib`.
"""

import json
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
