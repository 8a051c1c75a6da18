"""`seqkeras data inspect CORPUS`: corpus statistics, a length histogram, padding per strategy.

CORPUS is `wiki` (gensim's Wikipedia excerpt), `lee` (Lee news corpus), or your own files: a path
or glob of UTF-8 text files, plain or gzip, one document per non-blank line (what `train charlm /
word2vec / bilm --corpus` read; the first `--max-documents` lines). It counts documents,
characters and words, splits the text (markup-stripped for `wiki`) into sentences, prints
sentence-length quantiles, writes `length_histogram.png` with the automatically chosen bucket
boundaries and `inspect.json`, and prints the padding fraction of every batching strategy on word ids.

    seqkeras data inspect wiki
    seqkeras data inspect 'data/*.txt.gz' --out runs/inspect-mine
"""

import json
import pathlib
import time


CORPORA = ("wiki", "lee")
QUANTILES = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0)


MAX_DOCUMENTS = 100_000  # lines read from a file corpus (held in memory)


def corpus_documents(name, max_documents=MAX_DOCUMENTS):
    """`(raw documents, plain-text documents)` of `wiki`, `lee` or a glob of text files (its first
    `max_documents` non-blank lines; files checked first: a damaged gzip file is an error, not a
    shorter corpus)."""
    from pipelines import common
    from seqkeras.data import corpora, text_files

    if name == "wiki":
        raw = [article.text for article in corpora.wiki_articles()]
        return raw, [corpora.strip_wiki_markup(text) for text in raw]
    if name == "lee":
        documents = corpora.lee_documents()
        return documents, documents
    try:
        files = text_files.corpus_files(name)
    except ValueError:
        raise common.UserError(f"corpus: expected one of {CORPORA} or a path/glob of text files; no file matches. "
                               f"Received: {name!r}") from None
    common.check_text_files(files, "corpus")
    documents = text_files.take_texts(text_files.line_dataset(files), max_documents)
    if not documents:
        raise common.UserError(f"corpus: {name!r} has no non-blank line")
    return documents, documents


def sentence_word_ids(sentences, lowercase=True, max_size=None):
    """Word ids `(N, None)` of sentences (Unicode-script words), with the vocabulary built on them."""
    import tensorflow as tf
    from seqkeras.data.tokenization import WordTokenizer
    from seqkeras.data.vocabulary import Vocabulary

    tokens = WordTokenizer("unicode_script", lowercase=lowercase).tokenize(tf.constant(sentences, dtype=tf.string))
    vocabulary = Vocabulary.build(tf.data.Dataset.from_tensor_slices(tokens), max_size=max_size)
    return vocabulary.lookup(tokens), vocabulary


def _quantiles(values):
    import numpy as np

    return {f"q{int(q * 100):02d}": float(np.quantile(values, q)) for q in QUANTILES}


def inspect_corpus(name, out_dir, batch_size=64, token_budget=4096, num_buckets=64, seed=0,
                   max_documents=MAX_DOCUMENTS):
    """Computes the statistics, writes the histogram and JSON into `out_dir`, returns the summary."""
    import numpy as np

    from pipelines import common
    from seqkeras.data import corpora
    from seqkeras.data.batching import STRATEGIES, batch_sequences, epoch_statistics, length_quantile_boundaries

    start = time.perf_counter()
    raw, plain = corpus_documents(name, max_documents)
    sentences = [s for document in plain for s in corpora.split_sentences(document)]
    if not sentences:
        raise ValueError(f"Corpus {name!r} has no sentences.")
    ids, vocabulary = sentence_word_ids(sentences)
    lengths = ids.row_lengths().numpy()
    if np.all(lengths[lengths > 0] > token_budget):  # token-budget batches drop longer sentences: none left
        raise common.UserError(f"--token-budget {token_budget} is shorter than every sentence (longer ones are "
                               f"dropped from token-budget batches): nothing left to batch")
    boundaries = length_quantile_boundaries(lengths, num_buckets=num_buckets, seed=seed)
    summary = {
        "corpus": name,
        "documents": len(raw),
        "raw_characters": int(sum(len(t) for t in raw)),
        "plain_characters": int(sum(len(t) for t in plain)),
        "words": int(lengths.sum()),
        "vocabulary_size": vocabulary.size,
        "sentences": len(sentences),
        "sentence_words": _quantiles(lengths),
        "sentence_characters": _quantiles(np.array([len(s) for s in sentences])),
        "bucket_boundaries": boundaries,
        "batching": {"batch_size": batch_size, "token_budget": token_budget, "num_buckets": num_buckets, "seed": seed},
        "padding_fraction": {},
        "batches": {},
    }
    if name == "wiki":
        summary["skipped_pages"] = corpora.wiki_skipped_pages()
    if name not in CORPORA:
        summary["max_documents"] = max_documents
        summary["documents_capped"] = len(raw) == max_documents
    for strategy in STRATEGIES:
        dataset = batch_sequences(
            ids, strategy, batch_size=batch_size, token_budget=token_budget,
            boundaries=boundaries, seed=seed, on_too_long="drop",
        )
        stats = epoch_statistics(dataset)
        summary["padding_fraction"][strategy] = stats["padding_fraction"]
        summary["batches"][strategy] = stats["batches"]
    out_dir = pathlib.Path(out_dir)
    common.make_output_folder(out_dir, "--out")
    summary["histogram"] = str(write_histogram(lengths, boundaries, out_dir / "length_histogram.png", name))
    summary["seconds"] = time.perf_counter() - start
    (out_dir / "inspect.json").write_text(json.dumps(summary, indent=2))
    return summary


def write_histogram(lengths, boundaries, path, title):
    """Sentence-length histogram (words) with bucket boundaries as dashed lines; returns the path."""
    import numpy as np

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(9, 4.5))
    axis.hist(lengths, bins=np.arange(0, lengths.max() + 2) - 0.5, color="#4477aa")
    for boundary in boundaries:
        axis.axvline(boundary - 0.5, color="#cc3311", linestyle="--", linewidth=0.7)
    axis.set_xlabel("sentence length (words)")
    axis.set_ylabel("sentences")
    axis.set_title(f"{title}: {len(lengths)} sentences, {len(boundaries) + 1} buckets (dashed: boundaries)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def format_summary(summary):
    """The printed report."""
    lines = [
        f"corpus            {summary['corpus']}",
        f"documents         {summary['documents']:,}" + (
            f" (the first {summary['max_documents']:,}: --max-documents)" if summary.get("documents_capped") else ""),
        f"characters        {summary['raw_characters']:,} raw, {summary['plain_characters']:,} plain text",
        f"words             {summary['words']:,} (vocabulary {summary['vocabulary_size']:,} incl. 4 reserved)",
        f"sentences         {summary['sentences']:,}",
    ]
    if "skipped_pages" in summary:
        skipped = summary["skipped_pages"]
        lines.append(f"skipped pages     {skipped['redirects']} redirects, {skipped['empty']} empty")
    for key, label in (("sentence_words", "words/sentence"), ("sentence_characters", "chars/sentence")):
        quantiles = "  ".join(f"{k}={v:g}" for k, v in summary[key].items())
        lines.append(f"{label:<17} {quantiles}")
    lines.append(f"bucket boundaries {summary['bucket_boundaries']}")
    config = summary["batching"]
    lines.append("")
    lines.append(f"padding per strategy (batch_size={config['batch_size']}, token_budget={config['token_budget']})")
    lines.append(f"  {'strategy':<14}{'padding':>9}{'batches':>9}")
    for strategy, fraction in summary["padding_fraction"].items():
        lines.append(f"  {strategy:<14}{fraction:>8.1%}{summary['batches'][strategy]:>9}")
    lines.append("")
    lines.append(f"histogram         {summary['histogram']}")
    lines.append(f"took              {summary['seconds']:.1f} s")
    return "\n".join(lines)


def configure(parser):
    parser.add_argument("corpus", help="wiki, lee, or a path/glob of UTF-8 text files (plain or .gz), one "
                                       "document per line")
    parser.add_argument("--max-documents", type=int, default=MAX_DOCUMENTS,
                        help=f"lines read from a file corpus (default: {MAX_DOCUMENTS:,})")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("runs/inspect"),
                        help="output folder for length_histogram.png and inspect.json (default: runs/inspect)")
    parser.add_argument("--batch-size", type=int, default=64, help="examples per batch for random/sorted/bucketed (default: 64)")
    parser.add_argument("--token-budget", type=int, default=4096, help="tokens per batch for token_budget/packed (default: 4096)")
    parser.add_argument("--num-buckets", type=int, default=64, help="length quantiles for bucket boundaries (default: 64)")
    parser.add_argument("--seed", type=int, default=0, help="seed for sampling and shuffling (default: 0)")


def run(args):
    from pipelines import common

    for flag, value in (("--max-documents", args.max_documents), ("--batch-size", args.batch_size),
                        ("--token-budget", args.token_budget), ("--num-buckets", args.num_buckets)):
        if value < 1:
            raise common.UserError(f"{flag} must be >= 1. Received: {flag} {value}")
    common.check_writable_folder(args.out, "--out")
    summary = inspect_corpus(
        args.corpus, args.out, batch_size=args.batch_size, token_budget=args.token_budget,
        num_buckets=args.num_buckets, seed=args.seed, max_documents=args.max_documents,
    )
    print(format_summary(summary))
    return 0
