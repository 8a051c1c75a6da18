"""word2vec skip-gram with negative sampling: model, training, and using the vectors.

- `Word2Vec`: the Keras model (target and context tables, word2vec's sparse SGD in `train_step`).
- `train_word2vec`: tokenised documents -> `TrainedWord2Vec(vectors, model, vocabulary, history, info)`.
- `KeyedVectors`: `most_similar`, `analogy`, `evaluate_word_pairs`, `evaluate_word_analogies`,
  word2vec text/binary files, TensorBoard projector files, `to_embedding` for downstream models.
- `bias_projection` / `format_bias_table`: occupation words on the he - she direction.
"""

from seqkeras.models.word2vec.bias_probe import OCCUPATIONS, bias_projection, format_bias_table
from seqkeras.models.word2vec.keyed_vectors import KeyedVectors, spearman
from seqkeras.models.word2vec.training import TrainedWord2Vec, documents_to_ids, tokenize_documents, train_word2vec
from seqkeras.models.word2vec.word2vec import Word2Vec
