"""`seqkeras embed BILM_RUN (--text T ... | --file F) --out vectors.npz [--downstream RUN]`.

    seqkeras embed runs/bilm --text "The cat sat on the mat ." --out vectors.npz
    seqkeras embed runs/bilm --file sentences.txt --out vectors.npz              # one sentence per line
    seqkeras embed runs/bilm --file dev.conllu.gz --out vectors.npz --downstream runs/tagger

Per-token ELMo representations of every sentence: the biLM run's `model.keras` tokenizes the raw
text with its own `TokenLookup` and `ElmoEmbedder.from_bilm` gives its L + 1 layers (layer 0 the
character token layer `[x; x]`, layer j `[forward_j; backward_j]`). With `--downstream`, a tagger
or classifier run trained with `--contextual` on this biLM, its learned `ScalarMix` adds the mixed
representation that model reads.

The `.npz` holds (N tokens in all, S sentences, D = 2 x hidden_dim):

    sentences   (S,) str      the input texts
    row_splits  (S + 1,) int  sentence i is tokens[row_splits[i]:row_splits[i + 1]]
    tokens      (N,) str      the tokens as in the text
    layers      (L + 1, N, D) float32
    mixed       (N, D) float32, only with --downstream (plus mix_weights (L + 1,) and gamma)

Read it with `numpy.load(path)` (no pickling needed).
"""

import pathlib

from pipelines import common


def configure(parser):
    parser.add_argument("run", type=pathlib.Path, metavar="BILM_RUN", help="a run dir written by `seqkeras train bilm`")
    parser.add_argument("--text", action="append", default=[], help="a sentence to embed (repeatable)")
    parser.add_argument("--file", type=pathlib.Path, default=None,
                        help="UTF-8 sentences, one per line, or a .conllu[.gz] file (its sentences)")
    parser.add_argument("--out", type=pathlib.Path, required=True, help="the .npz file to write")
    parser.add_argument("--downstream", type=pathlib.Path, default=None,
                        help="a tagger/classifier run trained with --contextual on this biLM: add its scalar mix")
    parser.add_argument("--batch-size", type=int, default=64, help="sentences per forward pass (default: 64)")


def read_sentences(args):
    """The `--text` values and the sentences of `--file`, or a UserError if there are none."""
    from pipelines import train_bilm

    texts = list(args.text)
    if args.file is not None:
        if train_bilm.is_conllu(args.file):
            texts += train_bilm.conllu_sentences(args.file, "--file")
        else:
            texts += common.read_lines(args.file, "--file")
    if not texts:
        raise common.UserError("give at least one --text or a --file with non-blank lines")
    return texts


def _all_layers(model):
    """Every layer of `model`, nested models (a TextTask's `network`) included."""
    pending, found, seen = [model], [], set()
    while pending:
        layer = pending.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        found.append(layer)
        pending.extend(getattr(layer, "layers", []))
        network = getattr(layer, "network", None)
        if network is not None and hasattr(network, "layers"):
            pending.append(network)
    return found


def downstream_mix(path, embedder):
    """The `ScalarMix` of a downstream run, checked against the biLM's embedder."""
    import numpy as np

    from seqkeras.models.elmo import ElmoEmbedder, ScalarMix

    run = common.load_run(path)
    model = common.load_model(run.model_path, what="--downstream model")
    layers = _all_layers(model)
    mixes = [layer for layer in layers if isinstance(layer, ScalarMix)]
    if len(mixes) != 1:
        raise common.UserError(f"--downstream: {path} ({run.family}) has {len(mixes)} ScalarMix layers, expected one; "
                               "train it with --contextual BILM_RUN")
    mix = mixes[0]
    if mix.num_mixed != len(embedder.outputs):
        raise common.UserError(f"--downstream: {path} mixes {mix.num_mixed} layers, the biLM gives "
                               f"{len(embedder.outputs)}; it was trained on another biLM")
    copies = [layer for layer in layers if isinstance(layer, ElmoEmbedder)]
    for copy in copies[:1]:
        same = len(copy.weights) == len(embedder.weights) and all(
            np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(copy.get_weights(), embedder.get_weights())
        )
        if not same:
            raise common.UserError(f"--downstream: {path} was trained with the layers of another biLM")
    return mix


def embed(task, texts, batch_size, mix=None):
    """`{"sentences", "row_splits", "tokens", "layers"[, "mixed", "mix_weights", "gamma"]}` of `texts`."""
    import numpy as np
    import tensorflow as tf

    from seqkeras.models.elmo import ElmoEmbedder

    embedder = ElmoEmbedder.from_bilm(task.network)
    tokens, layers, mixed, lengths = [], [], [], []
    for start in range(0, len(texts), batch_size):
        features = task.preprocessor(tf.constant(texts[start: start + batch_size], tf.string), return_tokens=True)
        inputs = {"char_ids": features["char_ids"], "padding_mask": features["padding_mask"]}
        outputs = [np.asarray(layer) for layer in embedder(inputs, training=False)]  # L + 1 x (B, T, D)
        mixed_batch = None if mix is None else np.asarray(mix(list(map(tf.constant, outputs))))  # (B, T, D)
        for row, count in enumerate(features["num_tokens"].numpy()):
            lengths.append(int(count))
            tokens += [token.decode("utf-8") for token in features["tokens"][row, :count].numpy()]
            layers.append(np.stack([output[row, :count] for output in outputs]))  # (L + 1, n, D)
            if mix is not None:
                mixed.append(mixed_batch[row, :count])  # (n, D)
    width = int(embedder.outputs[0].shape[-1])
    result = {
        "sentences": np.array(texts, dtype=str),
        "row_splits": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        "tokens": np.array(tokens, dtype=str).reshape(-1),
        "layers": np.concatenate(layers, axis=1).astype(np.float32)
        if layers else np.zeros((len(embedder.outputs), 0, width), np.float32),
    }
    if mix is not None:
        result["mixed"] = np.concatenate(mixed, axis=0).astype(np.float32)
        result["mix_weights"] = mix.mix_weights().astype(np.float32)
        result["gamma"] = np.float32(np.asarray(mix.gamma))
    return result


def run(args):
    import numpy as np

    from pipelines import train_bilm

    if args.batch_size < 1:
        raise common.UserError(f"--batch-size must be >= 1. Received: --batch-size {args.batch_size}")
    if args.out.suffix != ".npz":
        raise common.UserError(f"--out must name a .npz file. Received: {args.out}")
    if not args.out.parent.is_dir():
        raise common.UserError(f"--out: folder {args.out.parent} does not exist")
    run_info = common.load_run(args.run, family="bilm")
    texts = read_sentences(args)
    task = train_bilm.load_task(run_info)
    mix = None
    if args.downstream is not None:
        from seqkeras.models.elmo import ElmoEmbedder

        mix = downstream_mix(args.downstream, ElmoEmbedder.from_bilm(task.network))
    result = embed(task, texts, args.batch_size, mix)
    np.savez(args.out, **result)
    layers = result["layers"]
    extra = f" and the --downstream mix (weights {np.round(result['mix_weights'], 3).tolist()})" if mix else ""
    print(f"wrote {args.out}: {len(texts)} sentences, {layers.shape[1]} tokens, {layers.shape[0]} layers of width "
          f"{layers.shape[2]}{extra}")
    return 0
