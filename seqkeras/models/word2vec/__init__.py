"""word2vec skip-gram with negative sampling: model, training, and using the vectors.

- `Word2Vec`: the Keras model (target and context tables, word2vec's sparse SGD in `train_step`).
- `train_word2vec`: tokenised documents, or a `tf.data` stream of documents (a glob of plain/gzip
  files, in memory bounded by a block) -> `TrainedWord2Vec(vectors, model, vocabulary, history,
  info)`; `vectors` is gensim's own `KeyedVectors` (queries, `evaluate_word_pairs`,
  `evaluate_word_analogies`, word2vec text/binary files all come from gensim);
  `stream_vocabulary` the stream's one-pass vocabulary.
- `sgns_replica_loss`, `word2vec_learning_rate`, `shard_skipgram_batches`: the same SGD update
  as a replica loss + Keras `SGD` for `seqkeras.distribute.StrategyTrainer` (several devices or
  machines, docs/DISTRIBUTED.md).
- `keyed_vectors`, `load_keyed_vectors` (run dir, model.keras or word2vec file -> gensim
  `KeyedVectors`), `embedding_matrix` / `to_embedding` for downstream models, `save_projector`
  (TensorBoard projector files): what gensim lacks.
- `bias_probe` / `gender_direction`: occupation words on a gender direction from definitional pairs
  (Bolukbasi et al. 2016), with a bootstrap over the pairs; `bias_projection` for one pair;
  `format_bias_table`.
"""

from seqkeras.models.word2vec.bias_probe import (
    DEFINITIONAL_PAIRS,
    OCCUPATIONS,
    bias_probe,
    bias_projection,
    format_bias_table,
    gender_direction,
)
from seqkeras.models.word2vec.keyed_vectors import (
    embedding_matrix,
    keyed_vectors,
    load_keyed_vectors,
    save_projector,
    to_embedding,
)
from seqkeras.models.word2vec.strategy_training import (
    sgns_pair_losses,
    sgns_replica_loss,
    shard_skipgram_batches,
    word2vec_learning_rate,
)
from seqkeras.models.word2vec.training import (
    TrainedWord2Vec,
    documents_to_ids,
    stream_vocabulary,
    tokenize_documents,
    train_word2vec,
)
from seqkeras.models.word2vec.word2vec import Word2Vec
