"""Character LM training data: documents -> shift-by-one (inputs, targets) -> windows or streams.

Every document becomes `[BOS] c_1 ... c_n` as inputs and `c_1 ... c_n [EOS]` as targets
(`seqkeras.data.windows.shift_by_one`). Three layouts:

- `window_dataset`: each document is cut into windows of `window` steps (the last one padded and
  masked); windows are shuffled and batched; every window starts from a zero state.
- `stream_dataset`: truncated BPTT, one document after another in each of `batch_size` rows
  (longest first to the shortest row); batch i holds window i of every row, so row j of batch i
  continues row j of batch i-1 and the model can carry its state across batches. A document
  always starts at a window boundary and its first window has `reset=True` for that row: the
  carried state is zeroed there and only there. Validation and evaluation use it (each document
  read from its start).
- `shuffled_stream_dataset`: truncated BPTT for training. Each pass lays the documents, in a new
  seeded order, end to end in one stream cut into `batch_size` equal rows, so a batch mixes
  `batch_size` places of the corpus and almost nothing is padding.
"""

import numpy as np
import tensorflow as tf

from seqkeras.data.tokenization import CharTokenizer
from seqkeras.data.vocabulary import PAD_ID
from seqkeras.data.windows import shift_by_one


def tokenize_characters(texts, tokenizer=None):
    """Texts -> ragged (N, None) one-character strings."""
    texts = list(texts)
    tokenizer = tokenizer or CharTokenizer()
    return tokenizer.tokenize(tf.constant(texts, tf.string, shape=[len(texts)]))


def encode_documents(texts, vocabulary, tokenizer=None):
    """Texts -> list of `(inputs, targets)` int32 NumPy pairs, one per document, shifted by one."""
    texts = list(texts)
    if not texts:
        raise ValueError("At least one document is needed. Received: texts=[]")
    ids = vocabulary.lookup(tokenize_characters(texts, tokenizer))  # ragged (D, None)
    inputs, targets = shift_by_one(ids)  # ragged (D, None + 1) each
    splits = inputs.row_splits.numpy()  # inputs and targets have the same row lengths
    inputs, targets = (np.asarray(part.flat_values, np.int32) for part in (inputs, targets))
    return [(inputs[a:b].copy(), targets[a:b].copy()) for a, b in zip(splits[:-1], splits[1:])]


def _document_windows(inputs, targets, window):
    """One document -> (inputs (n, W), targets (n, W), mask (n, W)), the tail padded with PAD."""
    length = len(inputs)
    count = -(-length // window)
    padded = count * window
    shape = (count, window)
    mask = (np.arange(padded) < length).reshape(shape)
    inputs = np.pad(inputs, (0, padded - length), constant_values=PAD_ID).reshape(shape)
    targets = np.pad(targets, (0, padded - length), constant_values=PAD_ID).reshape(shape)
    return inputs, targets, mask


def _check_positive(name, value):
    if isinstance(value, bool) or int(value) != value or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")


def window_arrays(documents, window):
    """Documents (from `encode_documents`) -> `(inputs, targets, mask)` arrays (N, window)."""
    _check_positive("window", window)
    parts = [_document_windows(inputs, targets, window) for inputs, targets in documents]
    return tuple(np.concatenate([part[k] for part in parts]) for k in range(3))


def window_dataset(documents, window, batch_size, shuffle=True, seed=0, repeat=False):
    """Shuffled batches of independent windows: `({"token_ids", "padding_mask"}, targets)`.

    Args:
        documents: list of `(inputs, targets)` pairs from `encode_documents`.
        window: int, time steps per window.
        batch_size: int, windows per batch. Without `repeat`, the last batch is completed with
            fully masked windows, so every batch has the same shape and the metrics are unchanged.
        shuffle: shuffle the windows (reshuffled every pass), seeded by `seed`.
        repeat: repeat forever (use with `steps_per_epoch`).
    """
    _check_positive("batch_size", batch_size)
    inputs, targets, mask = window_arrays(documents, window)  # (N, W) each
    if not repeat:
        # Fully masked filler windows make every batch full: one traced shape, same metrics.
        filler = -len(inputs) % batch_size
        inputs, targets = (np.pad(array, ((0, filler), (0, 0)), constant_values=PAD_ID) for array in (inputs, targets))
        mask = np.pad(mask, ((0, filler), (0, 0)), constant_values=False)
    dataset = tf.data.Dataset.from_tensor_slices(({"token_ids": inputs, "padding_mask": mask}, targets))
    if shuffle:
        dataset = dataset.shuffle(len(inputs), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    return dataset.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def stream_arrays(documents, window, batch_size):
    """Lays documents out in `batch_size` rows of consecutive windows (truncated BPTT).

    Documents go, longest first, to the row with the fewest windows so far (rows end up about
    equally long); rows are then padded with empty, fully masked windows.

    Returns:
        dict of NumPy arrays: `token_ids`, `targets` int32 and `padding_mask` bool of shape
        (num_batches, batch_size, window), and `reset` bool (num_batches, batch_size): True where
        a row starts a new document (or an empty window) in that batch.
    """
    _check_positive("window", window)
    _check_positive("batch_size", batch_size)
    windows = [_document_windows(inputs, targets, window) for inputs, targets in documents]
    rows = [[] for _ in range(batch_size)]
    row_lengths = np.zeros(batch_size, dtype=np.int64)
    for index in sorted(range(len(windows)), key=lambda i: (-len(windows[i][0]), i)):
        row = int(np.argmin(row_lengths))
        rows[row].append(index)
        row_lengths[row] += len(windows[index][0])
    num_batches = int(row_lengths.max())
    shape = (num_batches, batch_size, window)
    arrays = {
        "token_ids": np.full(shape, PAD_ID, np.int32),
        "targets": np.full(shape, PAD_ID, np.int32),
        "padding_mask": np.zeros(shape, bool),
        "reset": np.ones((num_batches, batch_size), bool),
    }
    for row, indices in enumerate(rows):
        start = 0
        for index in indices:
            inputs, targets, mask = windows[index]
            stop = start + len(inputs)
            arrays["token_ids"][start:stop, row] = inputs
            arrays["targets"][start:stop, row] = targets
            arrays["padding_mask"][start:stop, row] = mask
            arrays["reset"][start + 1:stop, row] = False  # the state carries on inside a document
            start = stop
    return arrays


def stream_dataset(documents, window, batch_size, repeat=False):
    """Ordered truncated-BPTT batches: `({"token_ids", "padding_mask", "reset"}, targets)`.

    Every element is already a batch of exactly `batch_size` rows (the trainer's carried state has
    that many rows). Never shuffle it: the order is what carries the state.
    """
    arrays = stream_arrays(documents, window, batch_size)
    features = {key: arrays[key] for key in ("token_ids", "padding_mask", "reset")}
    dataset = tf.data.Dataset.from_tensor_slices((features, arrays["targets"]))
    if repeat:
        dataset = dataset.repeat()
    return dataset.prefetch(tf.data.AUTOTUNE)


def shuffled_stream_length(documents, window, batch_size):
    """Batches in one pass of `shuffled_stream_dataset`."""
    _check_positive("window", window)
    _check_positive("batch_size", batch_size)
    windows = sum(-(-len(inputs) // window) for inputs, _ in documents)
    return -(-windows // batch_size)


def shuffled_stream_dataset(documents, window, batch_size, seed=0, repeat=False):
    """Truncated-BPTT training batches whose rows read the whole corpus at once.

    Each pass puts the documents in a new seeded order (`seed`, pass number), lays their windows
    end to end in one stream (a document still starts at a window boundary, with `reset=True`),
    and cuts the stream into `batch_size` rows of equal length: row j of batch i is window
    `j * L + i` of the stream (L = ceil(windows / batch_size)). So every batch holds windows from
    `batch_size` places of the corpus (`stream_dataset`'s document-per-row layout puts the longest
    documents side by side and ends a pass with most rows empty), every window is read once per
    pass, and padding is only the documents' last partial windows plus fewer than `batch_size`
    empty windows at the end of the last row. A row's first window of a pass starts from a zero
    state (`reset=True`) even where it continues a document.

    Args:
        documents: list of `(inputs, targets)` pairs from `encode_documents`.
        window: int, time steps per row.
        batch_size: int, rows per batch.
        seed: int, document order (a different order every pass).
        repeat: bool, passes forever (else one pass).

    Returns:
        A dataset of `({"token_ids", "padding_mask", "reset"}, targets)` batches of `batch_size`
        rows; one pass has `shuffled_stream_length(documents, window, batch_size)` batches.
    """
    length = shuffled_stream_length(documents, window, batch_size)
    if not documents:
        raise ValueError("At least one document is needed. Received: documents=[]")
    parts = [_document_windows(inputs, targets, window) for inputs, targets in documents]
    counts = np.array([len(part[0]) for part in parts], np.int64)
    empty = np.full((1, window), PAD_ID, np.int32)  # index `total`: the empty window that pads the last row
    token_ids = tf.constant(np.concatenate([part[0] for part in parts] + [empty]))  # (total + 1, W)
    targets = tf.constant(np.concatenate([part[1] for part in parts] + [empty]))  # (total + 1, W)
    mask = tf.constant(np.concatenate([part[2] for part in parts] + [np.zeros((1, window), bool)]))
    first = np.zeros(counts.sum() + 1, bool)  # a document's first window (and the empty one)
    first[np.concatenate([[0], np.cumsum(counts)])] = True
    first = tf.constant(first)
    by_document = tf.RaggedTensor.from_row_lengths(tf.range(counts.sum()), counts)  # window ids per document
    capacity = length * batch_size

    def one_pass(index):
        order = tf.random.experimental.stateless_shuffle(tf.range(len(counts)), seed=tf.stack([seed, index]))
        stream = tf.gather(by_document, order).flat_values  # window ids in this pass's document order
        stream = tf.pad(stream, [[0, capacity - tf.size(stream)]], constant_values=counts.sum())
        grid = tf.transpose(tf.reshape(stream, (batch_size, length)))  # (L, B): batch i, row j
        starts = tf.concat([tf.ones((1, batch_size), tf.bool), tf.zeros((length - 1, batch_size), tf.bool)], 0)

        def batch(ids, row_start):
            features = {"token_ids": tf.gather(token_ids, ids), "padding_mask": tf.gather(mask, ids),
                        "reset": tf.gather(first, ids) | row_start}
            return features, tf.gather(targets, ids)

        return tf.data.Dataset.from_tensor_slices((grid, starts)).map(batch)

    passes = tf.data.Dataset.counter() if repeat else tf.data.Dataset.range(1)
    return passes.flat_map(one_pass).prefetch(tf.data.AUTOTUNE)


def replica_dataset(global_dataset, input_context, global_batch_size):
    """Global batches -> the per-replica batches of one input pipeline, in replica order.

    Replica r (of R, over all workers) gets rows `[r * b, (r + 1) * b)` of every global batch,
    b = global_batch_size / R, so R replicas see exactly the rows one process would see in one
    batch: the same windows in the same order (every window belongs to one document), whatever R,
    so the carried state of a row stays on one replica. A worker with k local replicas yields k
    consecutive elements per global batch, which `distribute_datasets_from_function` hands to
    its replicas in turn.

    Args:
        global_dataset: elements `(features dict, targets)` of `global_batch_size` rows.
        input_context: the `tf.distribute.InputContext` of this input pipeline.
        global_batch_size: int, rows per global batch.

    Example:

    >>> strategy.distribute_datasets_from_function(
    ...     lambda context: replica_dataset(stream_dataset(docs, 64, 32, repeat=True), context, 32))
    """
    replicas = input_context.num_replicas_in_sync
    if global_batch_size % replicas:
        raise ValueError(f"`batch_size` must be a multiple of the {replicas} replicas. "
                         f"Received: batch_size={global_batch_size}")
    per_replica = global_batch_size // replicas
    local = replicas // input_context.num_input_pipelines
    return split_rows(global_dataset, input_context.input_pipeline_id * local * per_replica, local, per_replica)


def split_rows(dataset, first, local, per_replica):
    """Batches -> `local` consecutive elements of `per_replica` rows each, from row `first` on."""

    def split(features, targets):
        def rows(tensor):  # (B, ...) -> (local, b, ...): this pipeline's replicas
            part = tensor[first: first + local * per_replica]
            return tf.reshape(part, tf.concat([[local, per_replica], tf.shape(part)[1:]], axis=0))

        return tf.data.Dataset.from_tensor_slices(({key: rows(value) for key, value in features.items()}, rows(targets)))

    return dataset.flat_map(split)


def streamed_dataset(lines, vocabulary, window, rows, mode="tbptt", block_bytes=1 << 20, seed=0):
    """Training batches from a stream of documents too large for memory (`text_files`).

    Memory is bounded by `block_bytes` of text (plus, for truncated BPTT, the current document
    of each row), whatever the size of the corpus or the number of its documents:

    - `"tbptt"`: each of the `rows` rows reads documents one after another, window by window
      (`reset=True` at the first window of a document); when a row finishes its document it
      takes the next one of the stream, so rows stay busy and the state carries on inside a
      document. Documents are read and encoded a block of at most `block_bytes` at a time. Once
      the stream ends, rows that have finished get empty, fully masked windows until the last
      document is done, so one pass holds every character once.
    - `"windows"`: blocks of at most `block_bytes` bytes of documents (`document_blocks`) are
      cut into windows (`window_arrays`), shuffled within the block by a seeded generator, and
      batched (a partial batch at the end of a block is dropped).

    Args:
        lines: `tf.data.Dataset` of scalar strings, one document each.
        vocabulary: the `Vocabulary`.
        window: int, time steps per row.
        rows: int, rows per batch.
        mode: `"tbptt"` or `"windows"`.
        block_bytes: int, bytes of text read and laid out at a time.
        seed: shuffle seed (windows).

    Returns:
        A dataset of `({"token_ids", "padding_mask"[, "reset"]}, targets)` batches of `rows` rows.
    """
    from seqkeras.data.text_files import document_blocks

    _check_positive("rows", rows)
    _check_positive("window", window)
    blocks = document_blocks(lines, block_bytes)

    def encoded_documents():  # (inputs, targets) pairs, one block in memory at a time
        for block in blocks.as_numpy_iterator():
            yield from encode_documents([text.decode("utf-8", errors="replace") for text in block], vocabulary)

    if mode == "tbptt":
        def batches():
            documents = encoded_documents()
            current, position = [None] * rows, [0] * rows  # each row's document and its next window
            while True:
                token_ids = np.full((rows, window), PAD_ID, np.int32)  # (R, W)
                targets = np.full((rows, window), PAD_ID, np.int32)  # (R, W)
                mask = np.zeros((rows, window), bool)  # (R, W)
                reset = np.ones(rows, bool)  # (R,)
                for row in range(rows):
                    if current[row] is not None and position[row] < len(current[row][0]):
                        reset[row] = False  # the state carries on inside a document
                    else:
                        current[row], position[row] = next(documents, None), 0
                    if current[row] is None:  # the stream has ended: an empty window
                        continue
                    start = position[row]
                    inputs = current[row][0][start:start + window]
                    token_ids[row, :len(inputs)] = inputs
                    targets[row, :len(inputs)] = current[row][1][start:start + window]
                    mask[row, :len(inputs)] = True
                    position[row] = start + window
                if all(document is None for document in current):
                    return
                yield {"token_ids": token_ids, "padding_mask": mask, "reset": reset}, targets

        matrix = tf.TensorSpec((rows, window), tf.int32)
        signature = ({"token_ids": matrix, "padding_mask": tf.TensorSpec((rows, window), tf.bool),
                      "reset": tf.TensorSpec((rows,), tf.bool)}, matrix)
        return tf.data.Dataset.from_generator(batches, output_signature=signature)

    def layout(block, index):
        texts = [text.decode("utf-8", errors="replace") for text in block.numpy()]
        inputs, targets, mask = window_arrays(encode_documents(texts, vocabulary), window)
        order = np.random.default_rng([seed, int(index)]).permutation(len(inputs))
        keep = len(order) - len(order) % rows  # whole batches only
        shape = (keep // rows, rows, window)
        return tuple(array[order[:keep]].reshape(shape) for array in (inputs, mask, targets))

    def window_batches(index, block):
        token_ids, mask, targets = tf.py_function(layout, [block, index], Tout=[tf.int32, tf.bool, tf.int32])
        token_ids.set_shape([None, rows, window])
        mask.set_shape([None, rows, window])
        targets.set_shape([None, rows, window])
        return tf.data.Dataset.from_tensor_slices(({"token_ids": token_ids, "padding_mask": mask}, targets))

    return blocks.enumerate().flat_map(window_batches)
