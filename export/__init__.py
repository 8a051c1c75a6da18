"""Getting trained models out of Python: SavedModel for TF Serving, TFLite for devices, parity checks.

- `export.from_run`: `export_run_saved_model` / `export_run_tflite` from a run directory (what the
  `seqkeras export savedmodel|tflite RUN` commands call).
- `export.saved_model`: `export_saved_model` (versioned, atomic, validated raw-string + token-id signatures).
- `export.versioning`: version numbers claimed by a no-replace rename, scratch areas, permissions.
- `export.tflite`: `convert` / `export_tflite` (fused LSTM, quantisation) and `TFLiteRunner`.
- `export.verify`: fresh-process calls, `saved_model_cli`, graph op checks, parity metrics.
- `export.warmup`: TF Serving warm-up records and `models.config`.
- `export.serving_client`: REST request builder / response parser.
See `export/SERVING.md` for the commands.
"""
