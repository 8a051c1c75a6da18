"""One tiny `StrategyTrainer` run, for test_packed_step.py: `python packed_step.py KIND OUT.json`.

KIND is `none`, `mirrored` (2 logical CPUs) or `multi-worker` (reads TF_CONFIG). The model has
an embedding (sparse gradients), a kernel regulariser (a weight penalty, the same on every
replica) and an activity regulariser (a penalty that depends on the replica's rows), trained
with Adam + clipnorm + weight decay: every part of the packed step. OUT gets the final weights,
the epoch losses and the number of collective ops in the traced training step.
"""

import json
import os
import sys
import tempfile

import numpy as np

STEPS, BATCH, LENGTH, VOCABULARY = 4, 4, 5, 12


def batches():
    """Fixed global batches: token ids, targets and a padding mask with empty rows and tails."""
    rng = np.random.default_rng(0)
    ids = rng.integers(1, VOCABULARY, size=(STEPS, BATCH, LENGTH)).astype("int32")
    lengths = rng.integers(0, LENGTH + 1, size=(STEPS, BATCH))
    mask = (np.arange(LENGTH)[None, None, :] < lengths[..., None]).astype("float32")
    targets = rng.integers(0, 3, size=(STEPS, BATCH, LENGTH)).astype("int32")
    return ids * mask.astype("int32"), targets, mask


def build(strategy, keras):
    with strategy.scope():
        keras.utils.set_random_seed(1)
        inputs = keras.Input((LENGTH,), dtype="int32")
        hidden = keras.layers.Embedding(VOCABULARY, 6)(inputs)
        hidden = keras.layers.Dense(5, activation="tanh", kernel_regularizer=keras.regularizers.L2(0.01),
                                    activity_regularizer=keras.regularizers.L2(0.001))(hidden)
        model = keras.Model(inputs, keras.layers.Dense(3)(hidden))
        optimizer = keras.optimizers.AdamW(0.05, weight_decay=0.01, clipnorm=0.5)
    return model, optimizer


def replica_loss(model, tf):
    def loss(batch, carry, training):
        ids, targets, mask = batch
        logits = model(ids, training=training)
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=logits) * mask
        return losses, tf.reduce_sum(mask), []

    return loss


def collectives(trainer, tf):
    """Collective ops in the traced training step (its graph and the functions it calls)."""
    (function,) = trainer._train_function._list_all_concrete_functions()
    graphs = [function.graph] + [f.graph for f in function.graph._functions.values() if hasattr(f, "graph")]
    types = [op.type for graph in graphs for op in graph.get_operations()]
    return sum(kind.startswith("Collective") for kind in types)  # reduce, gather, broadcast


def main(kind, out):
    import keras
    import tensorflow as tf

    from seqkeras.distribute import StrategyTrainer, make_strategy, split_global_batches

    strategy = make_strategy(kind)
    model, optimizer = build(strategy, keras)
    data = tf.data.Dataset.from_tensor_slices(batches())
    with tempfile.TemporaryDirectory() as scratch:
        trainer = StrategyTrainer(strategy, model, optimizer, replica_loss(model, tf), checkpoint_dir=scratch)
        history = trainer.fit(lambda context: split_global_batches(data.repeat(), context), epochs=2,
                              steps_per_epoch=STEPS // 2)
    result = {"replicas": strategy.num_replicas_in_sync, "loss": history["loss"],
              "weights": [np.asarray(w).tolist() for w in model.weights], "collectives": collectives(trainer, tf)}
    if trainer.is_chief:
        with open(out, "w") as file:
            json.dump(result, file)
    return result


if __name__ == "__main__":
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
    main(sys.argv[1], sys.argv[2])
