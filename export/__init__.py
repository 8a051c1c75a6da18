"""Getting trained models out of Python: SavedModel for TF Serving, TFLite for devices, parity checks.

- `export.saved_model`: `export_saved_model` (versioned, atomic, raw-string + token-id signatures).
- `export.tflite`: `convert` / `export_tflite` (fused LSTM, quantisation) and `TFLiteRunner`.
- `export.verify`: fresh-process calls, `saved_model_cli`, graph op checks, parity metrics.
- `export.warmup`: TF Serving warm-up records and `models.config`.
- `export.serving_client`: REST request builder / response parser.
See `export/SERVING.md` for the commands.
"""
