"""The tf.data side of seqkeras: real corpora -> tokens -> ids -> batches.

Import from the submodules:

- `corpora`: Wikipedia / Lee / statsmodels series / CoNLL-U loaders, deterministic splits.
- `tokenization`: `CharTokenizer`, `WordTokenizer` (tensorflow-text, in-graph).
- `vocabulary`: `Vocabulary` with reserved ids `PAD_ID=0, OOV_ID=1, BOS_ID=2, EOS_ID=3`.
- `token_file`: the one plain-text token file format (vocabularies, labels; TF Serving assets).
- `token_lookup`: `TokenLookup`, the in-graph text layer (training and serving): raw strings to
  `token_ids` + `padding_mask` (+ per-word `char_ids`).
- `batching`: `batch_sequences` (random / sorted / bucketed / token_budget / packed),
  `to_model_inputs`.
- `packing`: `PackedSequence` (PyTorch semantics), `pack_sequences`, `unpack_sequences`.
- `windows`: `shift_by_one`, `stream_windows` (truncated BPTT), `series_windows`.
- `splits`: `WalkForwardSplit` for time series.
- `skipgrams`: skip-gram pairs for word2vec.
"""
