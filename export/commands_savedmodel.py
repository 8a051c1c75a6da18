"""`seqkeras export savedmodel`: a trained model -> `<base-dir>/<name>/<version>/` for TF Serving."""

import pathlib

from export import _cli
from export.saved_model import CHAR_LM, CLASSIFIER, TAGGER, export_saved_model
from export.warmup import write_models_config


def configure(parser):
    _cli.add_model_arguments(parser)
    parser.add_argument("--task", choices=(TAGGER, CLASSIFIER, CHAR_LM), required=True)
    parser.add_argument("--base-dir", type=pathlib.Path, default=pathlib.Path("serving"),
                        help="TF Serving model base directory (default: serving)")
    parser.add_argument("--name", default=None, help="model name (default: the task)")
    parser.add_argument("--version", type=int, default=None, help="version number (default: next free)")
    parser.add_argument("--char-vocabulary", type=pathlib.Path, default=None,
                        help="character vocabulary (Vocabulary.save) of a tagger with a char_ids input")
    parser.add_argument("--max-word-length", type=int, default=16, help="characters kept per word for char_ids")
    parser.add_argument("--max-length", type=int, default=128,
                        help="longest token sequence; longer texts are truncated (default: 128)")
    parser.add_argument("--warmup-file", type=pathlib.Path, default=None,
                        help="real example texts, one per line, for the TF Serving warm-up records")
    parser.add_argument("--models-config", type=pathlib.Path, default=None,
                        help="also write a models.config listing every model folder under --base-dir")


def run(args):
    model = _cli.load_model(args.model)
    vocabulary = _cli.load_vocabulary(args.vocabulary)
    labels = _cli.load_labels(args.labels)
    tokenizer = _cli.make_tokenizer(args.tokenizer, args.lowercase, task=args.task)
    warmup = _cli.read_lines(args.warmup_file, limit=32) if args.warmup_file else None
    path = export_saved_model(
        model, args.base_dir, task=args.task, tokenizer=tokenizer, vocabulary=vocabulary, labels=labels,
        lowercase=args.lowercase,
        char_vocabulary=_cli.load_vocabulary(args.char_vocabulary) if args.char_vocabulary else None,
        max_word_length=args.max_word_length,
        name=args.name, version=args.version, max_length=args.max_length, warmup_texts=warmup,
        overwrite=args.overwrite,
    )
    print(f"wrote {path}")
    if args.models_config is not None:
        base = pathlib.Path(args.base_dir)
        models = [(d.name, f"/models/{d.name}") for d in sorted(base.iterdir()) if d.is_dir() and not d.name.startswith(".")]
        write_models_config(args.models_config, models)
        print(f"wrote {args.models_config} ({len(models)} models, base paths as mounted at /models)")
    return 0
