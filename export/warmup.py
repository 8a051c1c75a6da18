"""TF Serving warm-up records and the `models.config` file for serving several models.

TF Serving replays `<version>/assets.extra/tf_serving_warmup_requests` (a TFRecord file of
`PredictionLog` protos) before it marks a version available, so the first real request does not pay
for graph initialisation. We build those requests from real example texts, one per signature.
"""

import pathlib

import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2
from tensorflow_serving.config import model_server_config_pb2

WARMUP_FILE = "tf_serving_warmup_requests"
MAX_WARMUP_RECORDS = 1000  # TF Serving reads at most this many records


def predict_request(model_name, signature_name, inputs):
    """`PredictRequest` for `inputs` {name: array-like}."""
    request = predict_pb2.PredictRequest(
        model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature_name)
    )
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    return request


def build_warmup_requests(model_name, task, token_lookup, texts, batch_size=4):
    """One request per signature and batch of real `texts` (strings), in serving order.

    Args:
        model_name: the name TF Serving serves the model under.
        task: "tagger", "classifier" or "char_lm" (picks the signature names).
        token_lookup: the export's `seqkeras.data.token_lookup.TokenLookup`, used to build the
            token-id requests.
        texts: real example texts (non-empty list).
        batch_size: texts per request.

    Returns:
        list of `PredictRequest`.
    """
    texts = [str(text) for text in texts]
    if not texts:
        raise ValueError("Warm-up requests need at least one real example text. Received: texts=[]")
    names = {
        "tagger": ("tag_text", "tag_token_ids"),
        "classifier": ("classify_text", "classify_token_ids"),
        "char_lm": ("score_text", "score_token_ids"),
    }
    if task not in names:
        raise ValueError(f"Unknown task for warm-up requests. Received: task={task!r}")
    text_signature, ids_signature = names[task]
    requests = []
    for start in range(0, len(texts), batch_size):
        batch = np.array(texts[start:start + batch_size], dtype=object)
        inputs = {key: value.numpy() for key, value in token_lookup(tf.constant(batch)).items()}
        if task == "char_lm":  # score_token_ids takes the characters without the BOS
            inputs = {key: value[:, 1:] if value.shape[1] > 1 else value for key, value in inputs.items()}
        requests.append(predict_request(model_name, text_signature, {"text": batch}))
        requests.append(predict_request(model_name, ids_signature, inputs))
        if task == "char_lm":
            requests.append(predict_request(model_name, "generate", {
                "prompt": batch,
                "num_chars": np.int32(8),
                "temperature": np.float32(1.0),
                "top_k": np.int32(0),
                "top_p": np.float32(1.0),
                "seed": np.int32(0),
            }))
    return requests[:MAX_WARMUP_RECORDS]


def write_warmup_requests(version_dir, requests):
    """Writes `requests` as `PredictionLog` records to `<version_dir>/assets.extra/`."""
    extra = pathlib.Path(version_dir) / "assets.extra"
    extra.mkdir(parents=True, exist_ok=True)
    path = extra / WARMUP_FILE
    with tf.io.TFRecordWriter(str(path)) as writer:
        for request in requests:
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)
            )
            writer.write(log.SerializeToString())
    return path


def read_warmup_requests(version_dir):
    """The `PredictRequest`s stored in a version's warm-up file."""
    path = pathlib.Path(version_dir) / "assets.extra" / WARMUP_FILE
    requests = []
    for record in tf.data.TFRecordDataset(str(path)):
        log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        requests.append(log.predict_log.request)
    return requests


def request_inputs(request):
    """`PredictRequest` -> {name: numpy array}."""
    return {key: tf.make_ndarray(proto) for key, proto in request.inputs.items()}


def write_models_config(path, models):
    """Writes a TF Serving `--model_config_file` for several models.

    Args:
        path: file to write (text-format `ModelServerConfig`).
        models: iterable of `(name, base_path)`; `base_path` is the directory holding the version
            folders *as the server sees it* (e.g. `/models/tagger` inside a container).

    Returns:
        The config text.

    Example:
    ```python
    write_models_config("serving/models.config",
                        [("tagger", "/models/tagger"), ("classifier", "/models/classifier")])
    ```
    """
    config = model_server_config_pb2.ModelServerConfig()
    seen = set()
    for name, base_path in models:
        if name in seen:
            raise ValueError(f"Model names must be unique in models.config. Received: {name!r} twice")
        seen.add(name)
        entry = config.model_config_list.config.add()
        entry.name = str(name)
        entry.base_path = str(base_path)
        entry.model_platform = "tensorflow"
    if not seen:
        raise ValueError("models.config needs at least one model. Received: models=[]")
    text = text_format.MessageToString(config)
    pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(path).write_text(text)
    return text


def read_models_config(path):
    """Parses a `models.config` back into `[(name, base_path)]`."""
    config = text_format.Parse(pathlib.Path(path).read_text(), model_server_config_pb2.ModelServerConfig())
    return [(entry.name, entry.base_path) for entry in config.model_config_list.config]
