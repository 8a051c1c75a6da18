"""A small TF Serving REST client helper: build `:predict` bodies, check them, parse responses.

TF Serving's REST API takes two JSON forms (https://www.tensorflow.org/tfx/serving/api_rest):

- row form `{"signature_name": s, "instances": [{"input": value, ...}, ...]}`: one object per
  example; every input must share the batch dimension (so it cannot carry scalar inputs such as
  `generate`'s `num_chars`). The response is `{"predictions": [...]}`, one item per example.
- columnar form `{"signature_name": s, "inputs": {"input": batch_value, ...}}`: any shapes. The
  response is `{"outputs": {...}}` (or the bare value when there is a single output).

A signature is described by `SignatureSpec` (dtype and shape per input and output), read from a
SavedModel (`signature_specs`) or from the server's `GET /v1/models/<name>/metadata` response
(`signature_specs_from_metadata`). Requests are checked against it before they are sent, and
against the export's request limits (`read_request_limits`: rows per request, characters per text,
id ranges, `num_chars`), the same limits the signatures enforce in the graph. Every refusal is a
one-line ValueError/TypeError naming the input and the value.
"""

import collections
import json

import numpy as np

TensorSpec = collections.namedtuple("TensorSpec", ["dtype", "shape"])  # dtype name, tuple (None = any) or None
# The exported signatures leave the rank open (so the graph can name a wrong one); these are the ranks
# they accept, checked here when a spec's shape is None.
INPUT_RANKS = {"text": 1, "prompt": 1, "token_ids": 2, "padding_mask": 2, "char_ids": 3,
               "num_chars": 0, "temperature": 0, "top_k": 0, "top_p": 0, "seed": 0}
INT32_MAX = 2**31 - 1
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
        def shape(spec):
            return None if spec.shape.rank is None else tuple(spec.shape.as_list())

        inputs = {key: TensorSpec(spec.dtype.name, shape(spec))
                  for key, spec in function.structured_input_signature[1].items()}
        outputs = {key: TensorSpec(spec.dtype.name, shape(spec))
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
            if info.get("tensor_shape", {}).get("unknown_rank"):
                out[key] = TensorSpec(names.get(info["dtype"], info["dtype"]), None)
                continue
            dims = info.get("tensor_shape", {}).get("dim", [])
            shape = tuple(None if int(d["size"]) < 0 else int(d["size"]) for d in dims)
            out[key] = TensorSpec(names.get(info["dtype"], info["dtype"]), shape)
        return out

    return {name: SignatureSpec(parse(sig.get("inputs", {})), parse(sig.get("outputs", {})))
            for name, sig in defs.items()}


def read_request_limits(version_dir):
    """The request limits an export recorded (`assets.extra/request_limits.json`), or None."""
    import pathlib

    path = pathlib.Path(version_dir) / "assets.extra" / "request_limits.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _check_tensor(name, value, spec, batch_dim=True):
    if value is None:
        raise ValueError(f"Input {name!r} is null. Received: {name}=None")
    try:
        array = np.asarray(value)
    except ValueError as error:  # ragged nested lists
        raise ValueError(f"Input {name!r} must be a rectangular array. Received: {str(error).splitlines()[0]}") from None
    if array.dtype.kind == "O" and spec.dtype != "string":
        raise TypeError(f"Input {name!r} must be {spec.dtype}. Received: object values")
    if not _DTYPE_CHECKS.get(spec.dtype, lambda a: True)(array):
        raise TypeError(f"Input {name!r} must be {spec.dtype}. Received: dtype={array.dtype}")
    if array.dtype.kind == "O" and any(item is None for item in array.reshape(-1)):
        raise ValueError(f"Input {name!r} holds a null. Received: {array.reshape(-1).tolist()[:5]}")
    if spec.dtype in ("float32", "float64") and array.size:
        values = array.astype(np.float64)
        bad = ~np.isfinite(values)  # NaN / Inf are not JSON
        if spec.dtype == "float32":  # and a float32 input turns values beyond its range into Inf
            bad |= np.abs(values) > np.finfo(np.float32).max
        if bad.any():
            index = tuple(int(i[0]) for i in np.nonzero(bad))
            raise ValueError(f"Input {name!r} must be finite {spec.dtype} values. Received: "
                             f"{float(values[index])!r} at index {list(index)}")
    shape = spec.shape if spec.shape is not None else (
        (None,) * INPUT_RANKS[name] if name in INPUT_RANKS else None)
    if shape is None:
        return array
    if len(shape) != array.ndim:
        raise ValueError(
            f"Input {name!r} must have rank {len(shape)} (shape {shape}). "
            f"Received: shape={array.shape}"
        )
    if array.ndim and array.shape[0] == 0:
        raise ValueError(f"Input {name!r} is an empty batch. Received: shape={array.shape}")
    if array.ndim >= 2 and array.shape[1] == 0:
        raise ValueError(f"Input {name!r} has zero-length rows. Received: shape={array.shape}")
    for axis, (want, got) in enumerate(zip(shape, array.shape)):
        if want is not None and want != got:
            raise ValueError(f"Input {name!r} axis {axis} must be {want}. Received: shape={array.shape}")
    return array


def _to_json_value(array):
    if array.dtype.kind in "SO" or array.dtype.kind == "U":
        return np.vectorize(lambda v: v.decode("utf-8") if isinstance(v, bytes) else str(v),
                            otypes=[object])(array).tolist()
    return array.tolist()


def check_limits(arrays, limits):
    """Raises ValueError naming the value when checked `arrays` exceed an export's request `limits`."""
    for name, array in arrays.items():
        if name in ("text", "prompt") or array.dtype.kind in "USO":
            if array.ndim and array.shape[0] > limits["max_batch_size"]:
                raise ValueError(f"Input {name!r} has {array.shape[0]} rows, over max_batch_size="
                                 f"{limits['max_batch_size']}. Received: shape={array.shape}")
            for row, text in enumerate(array.reshape(-1)):
                text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
                if len(text) > limits["max_text_chars"]:
                    raise ValueError(f"Input {name!r} row {row} has {len(text)} characters, over max_text_chars="
                                     f"{limits['max_text_chars']}")
        if name == "token_ids":
            if array.shape[0] > limits["max_batch_size"]:
                raise ValueError(f"Input 'token_ids' has {array.shape[0]} rows, over max_batch_size="
                                 f"{limits['max_batch_size']}. Received: shape={array.shape}")
            most = limits.get("max_sequence_length")
            if most and array.shape[1] > most:
                raise ValueError(f"Input 'token_ids' rows have {array.shape[1]} positions, over "
                                 f"max_sequence_length={most}. Received: shape={array.shape}")
        size = limits.get("id_ranges", {}).get(name)
        if size is not None and array.size and (array.min() < 0 or array.max() >= size):
            bad = array[(array < 0) | (array >= size)].reshape(-1)[0]
            raise ValueError(f"Input {name!r} must be ids in [0, {size}). Received: {name}={int(bad)} "
                             f"(min {int(array.min())}, max {int(array.max())})")
        if name == "num_chars" and limits.get("max_new_chars") is not None and int(array) > limits["max_new_chars"]:
            raise ValueError(f"`num_chars` must be in [1, {limits['max_new_chars']}] (max_new_chars). "
                             f"Received: num_chars={int(array)}")


def _check_scalars(arrays):
    if "token_ids" in arrays and arrays["token_ids"].ndim == 2:
        shape = arrays["token_ids"].shape
        for name in ("padding_mask", "char_ids"):
            if name in arrays and tuple(arrays[name].shape[:2]) != tuple(shape):
                raise ValueError(f"Input {name!r} must have the batch size and length of 'token_ids' {shape}. "
                                 f"Received: shape={arrays[name].shape}")
    if "num_chars" in arrays:
        value = arrays["num_chars"]
        if value.ndim or not 1 <= int(value) <= INT32_MAX:
            raise ValueError(f"`num_chars` must be an integer in [1, {INT32_MAX}] (and at most the export's "
                             f"max_new_chars). Received: num_chars={value.tolist()}")
    for name, array in arrays.items():
        if array.dtype.kind in "iu" and array.size and (array.max() > INT32_MAX or array.min() < -INT32_MAX - 1):
            raise ValueError(f"Input {name!r} does not fit int32. Received: max {int(array.max())}")


def build_predict_request(spec, inputs, form="instances", signature_name=None, limits=None):
    """JSON body for `POST /v1/models/<name>:predict`, checked against the signature.

    Args:
        spec: the signature's `SignatureSpec`.
        inputs: {input_name: array-like}; every input of the signature, no others.
        form: "instances" (row form) or "inputs" (columnar form).
        signature_name: written into the body when given.
        limits: the export's request limits (`read_request_limits`), checked when given.

    Returns:
        A JSON-serialisable dict.
    """
    if form not in ("instances", "inputs"):
        raise ValueError(f"`form` must be 'instances' or 'inputs'. Received: form={form!r}")
    if not isinstance(inputs, dict):
        raise ValueError(f"`inputs` must be a dict of input name -> values. Received: {type(inputs).__name__}")
    missing = sorted(set(spec.inputs) - set(inputs))
    unknown = sorted(set(inputs) - set(spec.inputs))
    if missing or unknown:
        raise ValueError(
            f"Request inputs must be exactly {sorted(spec.inputs)}. Received: missing={missing}, unknown={unknown}"
        )
    arrays = {name: _check_tensor(name, inputs[name], spec.inputs[name]) for name in spec.inputs}
    _check_scalars(arrays)
    if limits is not None:
        check_limits(arrays, limits)
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
    if isinstance(response, (str, bytes)):
        try:
            response = json.loads(response)
        except json.JSONDecodeError as error:
            raise ValueError(f"The response is not JSON ({error}). Received: {response[:80]!r}") from None
    if not isinstance(response, dict):
        raise ValueError(f"A predict response must be a JSON object. Received: {response!r:.80}")
    if "error" in response:
        raise RuntimeError(f"TF Serving returned an error: {response['error']}")
    names = sorted(spec.outputs)
    if "predictions" in response:
        rows = response["predictions"]
        if not isinstance(rows, list):
            raise ValueError(f"'predictions' must be a list. Received: {rows!r:.80}")
        if len(names) == 1 and not (rows and isinstance(rows[0], dict)):
            columns = {names[0]: rows}
        else:
            for index, row in enumerate(rows):
                missing = sorted(set(names) - set(row)) if isinstance(row, dict) else names
                if missing:
                    raise ValueError(f"Prediction {index} lacks outputs {missing}. Received: {row!r:.80}")
            columns = {name: [row[name] for row in rows] for name in names}
    elif "outputs" in response:
        outputs = response["outputs"]
        if outputs is None:
            raise ValueError("'outputs' is null. Received: {'outputs': None}")
        if isinstance(outputs, dict) and len(names) > 1 and set(outputs) != set(names):
            raise ValueError(f"'outputs' lacks {sorted(set(names) - set(outputs))}. Received keys: {sorted(outputs)}")
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

    if not isinstance(body, dict) or not ({"instances", "inputs"} & set(body)):
        raise ValueError(f"A predict body must be a JSON object with 'instances' or 'inputs'. Received: {body!r:.80}")
    signature_name = body.get("signature_name", "serving_default")
    if signature_name not in loaded.signatures:
        raise ValueError(f"Unknown signature. Received: signature_name={signature_name!r}")
    function = loaded.signatures[signature_name]
    input_specs = function.structured_input_signature[1]
    if "instances" in body:
        rows = body["instances"]
        if not isinstance(rows, list):
            raise ValueError(f"'instances' must be a list. Received: {rows!r:.80}")
        if len(input_specs) == 1 and not (rows and isinstance(rows[0], dict)):
            columns = {next(iter(input_specs)): rows}
        else:
            for index, row in enumerate(rows):
                missing = sorted(set(input_specs) - set(row)) if isinstance(row, dict) else sorted(input_specs)
                if missing:
                    raise ValueError(f"Instance {index} lacks inputs {missing}. Received: {row!r:.80}")
            columns = {name: [row[name] for row in rows] for name in input_specs}
    else:
        columns = body["inputs"]
        if not isinstance(columns, dict) or set(input_specs) - set(columns):
            have = sorted(columns) if isinstance(columns, dict) else columns
            raise ValueError(f"'inputs' must hold {sorted(input_specs)}. Received: {have!r:.80}")
        for name in input_specs:
            if columns[name] is None:
                raise ValueError(f"Input {name!r} is null. Received: {name}=None")
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
