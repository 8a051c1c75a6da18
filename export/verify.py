"""Checks an export without a model server: fresh-process calls, `saved_model_cli`, graph ops, parity.

- `call_in_fresh_process` loads a SavedModel in a new Python process that imports only
  `tensorflow` and `tensorflow_text` (what a serving host has) and calls signatures there; the
  caller compares the outputs with Keras (`max_abs_diff`, `argmax_agreement`).
- `saved_model_cli_show` / `saved_model_cli_run` run TensorFlow's `saved_model_cli` on it. The stock
  command does not register tensorflow-text's ops (TF Serving's model server does link them in), so
  we run the installed `saved_model_cli` script in a process that imported `tensorflow_text` first.
- `graph_op_types` walks every signature's graph *and its function library* as loaded, so
  `assert_portable_ops` can refuse cuDNN-only ops (a model trained on a GPU must serve on a CPU).
"""

import json
import pathlib
import shutil
import subprocess
import sys
import tempfile

import numpy as np

# Ops with only GPU (cuDNN) kernels; their presence makes a SavedModel fail on a CPU-only server.
CUDNN_ONLY_OPS = frozenset({
    "CudnnRNN", "CudnnRNNV2", "CudnnRNNV3",
    "CudnnRNNBackprop", "CudnnRNNBackpropV2", "CudnnRNNBackpropV3",
    "CudnnRNNCanonicalToParams", "CudnnRNNCanonicalToParamsV2",
    "CudnnRNNParamsToCanonical", "CudnnRNNParamsToCanonicalV2", "CudnnRNNParamsSize",
})

_FRESH_SCRIPT = r'''
import json, sys
import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  registers the TF Text ops the raw-string signatures use

spec = json.loads(sys.argv[1])
models = {}
result = {"signatures": {}, "outputs": {}}
for index, call in enumerate(spec["calls"]):
    if call["export_dir"] not in models:
        models[call["export_dir"]] = tf.saved_model.load(call["export_dir"])
        result["signatures"][call["export_dir"]] = sorted(models[call["export_dir"]].signatures.keys())
    with np.load(call["inputs"], allow_pickle=True) as data:
        inputs = {key: tf.constant(data[key]) for key in data.files}
    outputs = models[call["export_dir"]].signatures[call["signature"]](**inputs)
    path = call["inputs"].replace(".npz", ".out.npz")
    np.savez(path, **{key: value.numpy() for key, value in outputs.items()})
    result["outputs"][str(index)] = path
result["modules"] = sorted(name for name in ("seqkeras", "export", "pipelines") if name in sys.modules)
print("@@RESULT@@" + json.dumps(result))
'''


def _subprocess_env():
    import os

    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def call_in_fresh_process(export_dir, calls, timeout=300):
    """Calls signatures of a SavedModel in a new process importing only TF and TF Text.

    Args:
        export_dir: the version directory.
        calls: list of `(signature_name, {input_name: array})`, or of
            `(other_export_dir, signature_name, inputs)` to check several exports in one process.
        timeout: seconds.

    Returns:
        `(outputs, info)`: `outputs` a list (one per call) of `{output_name: np.ndarray}`;
        `info` a dict with the loaded `signatures` ({export_dir: names}) and the project `modules` (seqkeras, export,
        pipelines) that the child process had imported: empty, the export needs none of our code.
    """
    with tempfile.TemporaryDirectory() as scratch:
        spec = {"calls": []}
        for index, call in enumerate(calls):
            directory, signature, inputs = call if len(call) == 3 else (export_dir, *call)
            path = str(pathlib.Path(scratch) / f"call{index}.npz")
            np.savez(path, **{key: np.asarray(value) for key, value in inputs.items()})
            spec["calls"].append({"export_dir": str(directory), "signature": signature, "inputs": path})
        process = subprocess.run(
            [sys.executable, "-c", _FRESH_SCRIPT, json.dumps(spec)],
            capture_output=True, text=True, timeout=timeout, env=_subprocess_env(), cwd=scratch,
        )
        marker = [line for line in process.stdout.splitlines() if line.startswith("@@RESULT@@")]
        if process.returncode != 0 or not marker:
            raise RuntimeError(
                f"Loading {export_dir} in a fresh process failed (exit {process.returncode}):\n"
                f"{process.stderr[-3000:]}"
            )
        result = json.loads(marker[-1][len("@@RESULT@@"):])
        outputs = []
        for index in range(len(calls)):
            with np.load(result["outputs"][str(index)], allow_pickle=True) as data:
                outputs.append({key: data[key] for key in data.files})
    return outputs, {"signatures": result["signatures"], "modules": result["modules"]}


_FRESH_TFLITE_SCRIPT = r'''
import json, sys
import numpy as np
from export.task_tflite import Seq2SeqStepRunner, run_signature
spec = json.loads(sys.argv[1])
result = {"outputs": {}}
for index, call in enumerate(spec["calls"]):
    with np.load(call["inputs"], allow_pickle=True) as data:
        inputs = {key: data[key] for key in data.files}
    if call["kind"] == "signature":
        outputs = run_signature(call["path"], call["signature"], inputs)
    else:  # seq2seq: greedy strings of `texts`, and teacher-forced logits of previous_<k> on texts[k]
        runner = Seq2SeqStepRunner(call["path"])
        outputs = {"target": np.array(runner.generate(call["texts"]), dtype=object)}
        for key, previous in inputs.items():
            row = int(key.split("_")[1])
            outputs["forced_" + str(row)] = runner.forced_logits(runner.source_ids(call["texts"][row]), previous)
    path = call["inputs"].replace(".npz", ".out.npz")
    np.savez(path, **outputs)
    result["outputs"][str(index)] = path
result["modules"] = sorted(name for name in ("tensorflow", "keras", "seqkeras", "pipelines") if name in sys.modules)
print("@@RESULT@@" + json.dumps(result))
'''


def call_tflite_in_fresh_process(calls, timeout=300):
    """Runs `.tflite` models in a new process that imports numpy and LiteRT, not TensorFlow or Keras.

    Args:
        calls: list of `(path, signature_name, {input_name: array})` (one signature call each, fresh
            variable tensors), or `(path, "seq2seq", texts, {row: previous_ids})`: greedy targets of
            `texts` through `export.task_tflite.Seq2SeqStepRunner`, plus the teacher-forced step
            logits of `previous_ids` (BOS first) on `texts[row]` as `forced_<row>`.
        timeout: seconds.

    Returns:
        `(outputs, modules)`: one `{name: array}` per call, and which of tensorflow / keras /
        seqkeras / pipelines the child had imported (none: a device host needs neither).
    """
    import os

    root = str(pathlib.Path(__file__).resolve().parent.parent)
    with tempfile.TemporaryDirectory() as scratch:
        spec = {"calls": []}
        for index, call in enumerate(calls):
            path = str(pathlib.Path(scratch) / f"call{index}.npz")
            if call[1] == "seq2seq":
                np.savez(path, **{f"previous_{row}": np.asarray(ids, np.int32) for row, ids in call[3].items()})
                spec["calls"].append({"kind": "seq2seq", "path": str(call[0]), "texts": list(call[2]), "inputs": path})
            else:
                np.savez(path, **{key: np.asarray(value) for key, value in call[2].items()})
                spec["calls"].append({"kind": "signature", "path": str(call[0]), "signature": call[1], "inputs": path})
        env = _subprocess_env()
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        process = subprocess.run([sys.executable, "-c", _FRESH_TFLITE_SCRIPT, json.dumps(spec)],
                                 capture_output=True, text=True, timeout=timeout, env=env, cwd=scratch)
        marker = [line for line in process.stdout.splitlines() if line.startswith("@@RESULT@@")]
        if process.returncode != 0 or not marker:
            raise RuntimeError(f"Running TFLite models in a fresh process failed (exit {process.returncode}):\n"
                               f"{process.stderr[-3000:]}")
        result = json.loads(marker[-1][len("@@RESULT@@"):])
        outputs = []
        for index in range(len(calls)):
            with np.load(result["outputs"][str(index)], allow_pickle=True) as data:
                outputs.append({key: data[key] for key in data.files})
    return outputs, result["modules"]


def _saved_model_cli_script():
    script = shutil.which("saved_model_cli", path=str(pathlib.Path(sys.executable).parent))
    if script is None:
        raise FileNotFoundError(
            f"`saved_model_cli` not found beside {sys.executable}; it is installed with tensorflow."
        )
    return script


_CLI_SCRIPT = r"""
import json, runpy, sys
import tensorflow_text  # noqa: F401  registers the TF Text ops before the graph is imported
script, commands = sys.argv[1], json.loads(sys.argv[2])
for index, argv in enumerate(commands):
    print(f"@@COMMAND {index}@@", flush=True)
    sys.argv = ["saved_model_cli"] + argv
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as done:
        if done.code not in (None, 0):
            raise
    sys.stdout.flush()
"""


def saved_model_cli(*commands, timeout=300):
    """Runs `saved_model_cli` once per argument list, in one process with TF Text's ops registered.

    Returns the stdout of each command, in order (one process: TensorFlow is imported once).
    """
    commands = [[str(arg) for arg in command] for command in commands]
    process = subprocess.run(
        [sys.executable, "-c", _CLI_SCRIPT, _saved_model_cli_script(), json.dumps(commands)],
        capture_output=True, text=True, timeout=timeout, env=_subprocess_env(),
    )
    if process.returncode != 0:
        raise RuntimeError(f"saved_model_cli {commands} failed:\n{process.stderr[-3000:]}")
    parts = process.stdout.split("@@COMMAND ")[1:]
    return [part.split("@@\n", 1)[1] if "@@\n" in part else "" for part in parts]


def saved_model_cli_show(export_dir):
    """`saved_model_cli show --dir DIR --all` output."""
    return saved_model_cli(["show", "--dir", str(export_dir), "--all"])[0]


def _run_arguments(export_dir, signature, inputs, scratch):
    parts = []
    for key, value in inputs.items():
        path = pathlib.Path(scratch) / f"{signature}.{key}.npy"
        np.save(path, np.asarray(value), allow_pickle=True)
        parts.append(f"{key}={path}")
    outdir = pathlib.Path(scratch) / f"out.{signature}"
    argv = ["run", "--dir", str(export_dir), "--tag_set", "serve", "--signature_def", signature,
            "--inputs", ";".join(parts), "--outdir", str(outdir)]
    return argv, outdir


def saved_model_cli_show_and_run(export_dir, runs):
    """`show --all` then `run` for each `(signature, inputs)`, in one process.

    Returns `(show_text, [ {output_name: array} per run ])`.
    """
    with tempfile.TemporaryDirectory() as scratch:
        commands, outdirs = [["show", "--dir", str(export_dir), "--all"]], []
        for signature, inputs in runs:
            argv, outdir = _run_arguments(export_dir, signature, inputs, scratch)
            commands.append(argv)
            outdirs.append(outdir)
        texts = saved_model_cli(*commands)
        results = [{path.stem: np.load(path, allow_pickle=True) for path in outdir.glob("*.npy")} for outdir in outdirs]
    return texts[0], results


def saved_model_cli_run(export_dir, signature, inputs):
    """`saved_model_cli run` on `signature` with `inputs` {name: array}; returns {name: array}."""
    return saved_model_cli_show_and_run(export_dir, [(signature, inputs)])[1][0]


def graph_op_types(export_dir):
    """Op types of every signature's graph as loaded, including nested function libraries.

    `export_dir` may also be an already loaded SavedModel object.
    """
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    loaded = export_dir if hasattr(export_dir, "signatures") else tf.saved_model.load(str(export_dir))
    ops = set()
    for signature in loaded.signatures.values():
        graph_def = signature.graph.as_graph_def()
        ops.update(node.op for node in graph_def.node)
        for function in graph_def.library.function:
            ops.update(node.op for node in function.node_def)
    return ops


def assert_portable_ops(export_dir):
    """Raises AssertionError naming any cuDNN-only op found in the serving graph."""
    found = sorted(graph_op_types(export_dir) & CUDNN_ONLY_OPS)
    if found:
        raise AssertionError(
            f"The SavedModel at {export_dir} contains GPU-only cuDNN ops {found}; it would fail on a "
            "CPU-only server. Export with the portable LSTM path."
        )
    return True


def max_abs_diff(reference, other):
    """Largest absolute difference between two float arrays of the same shape."""
    reference = np.asarray(reference, np.float64)
    other = np.asarray(other, np.float64)
    if reference.shape != other.shape:
        raise ValueError(f"Shapes differ: {reference.shape} vs {other.shape}")
    return float(np.max(np.abs(reference - other))) if reference.size else 0.0


def argmax_agreement(reference, other, mask=None):
    """Fraction of positions (where `mask` is True) whose argmax over the last axis agrees."""
    same = np.argmax(np.asarray(reference), axis=-1) == np.argmax(np.asarray(other), axis=-1)
    if mask is not None:
        mask = np.asarray(mask, bool)
        return float(same[mask].mean()) if mask.any() else 1.0
    return float(same.mean())
