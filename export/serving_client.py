"""A small TF Serving REST client helper: build `:predict` bodies, check them, parse responses.

TF Serving's REST API takes two JSON forms (https://www.tensorflow.org/tfx/serving/api_rest):

- row form `{"signature_name": s, "instances": [{"input": value, ...}, ...]}`: one object per
  example; every input must share the batch dimension (so it cannot carry scalar inputs such as
  `generate`'s `num_chars`). The response is `{"predictions": [...]}`, one item per example.
- columnar form `{"signature_name": s, "inputs": {"input": batch_value, ...}}`: any shapes. The
  response is `{"outputs": {...}}` (or the bare value when there is a single output).

A signature is described by `SignatureSpec` (dtype and shape per input and output), read from a
SavedModel (`signature_specs`) or from the server's `GET /v1/models/<name>/metadata` response
(`signature_specs_from_metadata`). Requests are checked against it before they are sent.
"""

import collections
import json

import numpy as np

TensorSpec = collections.namedtuple("TensorSpec", ["dtype", "shape"])  # dtype name, tuple (None = any)
SignatureSpec = collections.namedtuple("SignatureSpec", ["inputs", "outputs"])  # {name: TensorSpec}

_DTYPE_CHECKS = {
    "string": lambda a: a.dtype.kind in "USO",
    "bool": lambda a: a.dtype.kind == "b",
    "int32": lambda a: a.dtype.kind in "iu",
    "int64": lambda a: a.dtype.kind in "iu",
    "float32": lambda a: a.dtype.kind in "fiu",
    "float64": lambda a: a.dtype.kind in "fiu",
}
_NUMPY_DTYPES = {"string": object, "bool": bool, "int32": np.int32, "int64": np.int64,
                 "float32": np.float32, "float64": np.float64}


def signature_specs(export_dir):
    """{signature_name: SignatureSpec} read from a SavedModel (needs tensorflow + tensorflow_text)."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    loaded = tf.saved_model.load(str(export_dir))
    specs = {}
    for name, function in loaded.signatures.items():
        inputs = {key: TensorSpec(spec.dtype.name, tuple(spec.shape.as_list()))
                  for key, spec in function.structured_input_signature[1].items()}
        outputs = {key: TensorSpec(spec.dtype.name, tuple(spec.shape.as_list()))
                   for key, spec in function.structured_outputs.items()}
        specs[name] = SignatureSpec(inputs, outputs)
    return specs


def signature_specs_from_metadata(metadata):
    """{signature_name: SignatureSpec} from TF Serving's model metadata JSON (dict or str)."""
    if isinstance(metadata, str):
        metadata = json.loads(metadata)
    defs = metadata["metadata"]["signature_def"]["signature_def"]
    names = {"DT_STRING": "string", "DT_BOOL": "bool", "DT_INT32": "int32", "DT_INT64": "int64",
             "DT_FLOAT": "float32", "DT_DOUBLE": "float64"}

    def parse(tensors):
        out = {}
        for key, info in tensors.items():
            dims = info.get("tensor_shape", {}).get("dim", [])
            shape = tuple(None if int(d["size"]) < 0 else int(d["size"]) for d in dims)
            out[key] = TensorSpec(names.get(info["dtype"], info["dtype"]), shape)
        return out

    return {name: SignatureSpec(parse(sig.get("inputs", {})), parse(sig.get("outputs", {})))
            for name, sig in defs.items()}


def _check_tensor(name, value, spec, batch_dim=True):
    array = np.asarray(value)
    if array.dtype.kind == "O" and spec.dtype != "string":
        raise TypeError(f"Input {name!r} must be {spec.dtype}. Received: object values")
    if not _DTYPE_CHECKS.get(spec.dtype, lambda a: True)(array):
        raise TypeError(f"Input {name!r} must be {spec.dtype}. Received: dtype={array.dtype}")
    if len(spec.shape) != array.ndim:
        raise ValueError(
            f"Input {name!r} must have rank {len(spec.shape)} (shape {spec.shape}). "
            f"Received: shape={array.shape}"
        )
    for axis, (want, got) in enumerate(zip(spec.shape, array.shape)):
        if want is not None and want != got:
            raise ValueError(f"Input {name!r} axis {axis} must be {want}. Received: shape={array.shape}")
    return array


def _to_json_value(array):
    if array.dtype.kind in "SO" or array.dtype.kind == "U":
        return np.vectorize(lambda v: v.decode("utf-8") if isinstance(v, bytes) else str(v),
                            otypes=[object])(array).tolist()
    return array.tolist()


def build_predict_request(spec, inputs, form="instances", signature_name=None):
    """JSON body for `POST /v1/models/<name>:predict`, checked against the signature.

    Args:
        spec: the signature's `SignatureSpec`.
        inputs: {input_name: array-like}; every input of the signature, no others.
        form: "instances" (row form) or "inputs" (columnar form).
        signature_name: written into the body when given.

    Returns:
        A JSON-serialisable dict.
    """
    if form not in ("instances", "inputs"):
        raise ValueError(f"`form` must be 'instances' or 'inputs'. Received: form={form!r}")
    missing = sorted(set(spec.inputs) - set(inputs))
    unknown = sorted(set(inputs) - set(spec.inputs))
    if missing or unknown:
        raise ValueError(
            f"Request inputs must be exactly {sorted(spec.inputs)}. Received: missing={missing}, unknown={unknown}"
        )
    arrays = {name: _check_tensor(name, inputs[name], spec.inputs[name]) for name in spec.inputs}
    body = {} if signature_name is None else {"signature_name": signature_name}
    if form == "inputs":
        body["inputs"] = {name: _to_json_value(array) for name, array in arrays.items()}
        return body
    scalars = sorted(name for name, array in arrays.items() if array.ndim == 0)
    if scalars:
        raise ValueError(
            f"The row ('instances') form needs a batch dimension on every input; {scalars} are scalars. "
            "Use form='inputs'."
        )
    sizes = {name: array.shape[0] for name, array in arrays.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"All inputs must share the batch size in the 'instances' form. Received: {sizes}")
    batch = next(iter(sizes.values()))
    if len(arrays) == 1:
        (array,) = arrays.values()
        body["instances"] = _to_json_value(array)
    else:
        columns = {name: _to_json_value(array) for name, array in arrays.items()}
        body["instances"] = [{name: columns[name][row] for name in arrays} for row in range(batch)]
    return body


def parse_predict_response(spec, response):
    """`{output_name: np.ndarray}` from a `:predict` response (either form; dict or JSON text)."""
    if isinstance(response, str):
        response = json.loads(response)
    if "error" in response:
        raise RuntimeError(f"TF Serving returned an error: {response['error']}")
    names = sorted(spec.outputs)
    if "predictions" in response:
        rows = response["predictions"]
        if len(names) == 1 and not (rows and isinstance(rows[0], dict)):
            columns = {names[0]: rows}
        else:
            columns = {name: [row[name] for row in rows] for name in names}
    elif "outputs" in response:
        outputs = response["outputs"]
        columns = outputs if isinstance(outputs, dict) and set(outputs) == set(names) else {names[0]: outputs}
    else:
        raise ValueError(f"Not a predict response (no 'predictions' or 'outputs'). Received keys: {sorted(response)}")
    result = {}
    for name in names:
        dtype = _NUMPY_DTYPES.get(spec.outputs[name].dtype, None)
        result[name] = np.array(columns[name], dtype=dtype)
    return result


def rest_url(model_name, host="localhost", port=8501, version=None, verb="predict"):
    """`http://host:port/v1/models/<name>[/versions/<v>]:<verb>`."""
    path = f"/v1/models/{model_name}" + (f"/versions/{int(version)}" if version is not None else "")
    return f"http://{host}:{port}{path}:{verb}"


def simulate_predict(loaded, body):
    """Answers a REST body the way TF Serving does, by calling a loaded SavedModel in process.

    For tests without a model server: decodes both JSON forms into tensors as the server does
    and encodes the outputs back into the matching response form.
    """
    import tensorflow as tf

    signature_name = body.get("signature_name", "serving_default")
    function = loaded.signatures[signature_name]
    input_specs = function.structured_input_signature[1]
    if "instances" in body:
        rows = body["instances"]
        if len(input_specs) == 1 and not (rows and isinstance(rows[0], dict)):
            columns = {next(iter(input_specs)): rows}
        else:
            columns = {name: [row[name] for row in rows] for name in input_specs}
    else:
        columns = body["inputs"]
    tensors = {name: tf.constant(columns[name], dtype=input_specs[name].dtype) for name in input_specs}
    outputs = {key: value.numpy() for key, value in function(**tensors).items()}

    def plain(array):
        array = np.asarray(array)
        if array.dtype.kind in "SO":
            return np.vectorize(lambda v: v.decode("utf-8"), otypes=[object])(array).tolist()
        return array.tolist()

    if "instances" in body:
        batch = len(next(iter(columns.values())))
        if len(outputs) == 1:
            return {"predictions": plain(next(iter(outputs.values())))}
        return {"predictions": [{key: plain(value[row]) for key, value in outputs.items()} for row in range(batch)]}
    if len(outputs) == 1:
        return {"outputs": plain(next(iter(outputs.values())))}
    return {"outputs": {key: plain(value) for key, value in outputs.items()}}
