"""word2vec skip-gram with negative sampling: model, training, and using the vectors.

- `Word2Vec`: the Keras model (target and context tables, word2vec's sparse SGD in `train_step`).
- `train_word2vec`: tokenised documents -> `TrainedWord2Vec(vectors, model, vocabulary, history, info)`.
- `KeyedVectors`: `most_similar`, `analogy`, `evaluate_word_pairs`, `evaluate_word_analogies`,
  word2vec text/binary files, TensorBoard projector files, `to_embedding` for downstream models.
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
from seqkeras.models.word2vec.keyed_vectors import KeyedVectors, spearman
from seqkeras.models.word2vec.training import TrainedWord2Vec, documents_to_ids, tokenize_documents, train_word2vec
from seqkeras.models.word2vec.word2vec import Word2Vec
