"""`seqkeras data inspect CORPUS`: corpus statistics, a length histogram, padding per strategy.

For `wiki` (gensim's Wikipedia excerpt) and `lee` (Lee news corpus): counts articles,
characters and words, splits the markup-stripped text into sentences, prints sentence-length
quantiles, writes `length_histogram.png` with the automatically chosen bucket boundaries and
`inspect.json`, and prints the padding fraction of every batching strategy on word ids.
"""

import json
import pathlib
import time


CORPORA = ("wiki", "lee")
QUANTILES = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0)


def corpus_documents(name):
    """`(raw documents, plain-text documents)` of a corpus this command knows."""
    from seqkeras.data import corpora

    if name == "wiki":
        raw = [article.text for article in corpora.wiki_articles()]
        return raw, [corpora.strip_wiki_markup(text) for text in raw]
    if name == "lee":
        documents = corpora.lee_documents()
        return documents, documents
    raise ValueError(f"Unknown corpus. Expected one of {CORPORA}. Received: {name!r}")


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


def inspect_corpus(name, out_dir, batch_size=64, token_budget=4096, num_buckets=64, seed=0):
    """Computes the statistics, writes the histogram and JSON into `out_dir`, returns the summary."""
    import numpy as np
    from seqkeras.data import corpora
    from seqkeras.data.batching import STRATEGIES, batch_sequences, epoch_statistics, length_quantile_boundaries

    start = time.perf_counter()
    raw, plain = corpus_documents(name)
    sentences = [s for document in plain for s in corpora.split_sentences(document)]
    if not sentences:
        raise ValueError(f"Corpus {name!r} has no sentences.")
    ids, vocabulary = sentence_word_ids(sentences)
    lengths = ids.row_lengths().numpy()
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
    for strategy in STRATEGIES:
        dataset = batch_sequences(
            ids, strategy, batch_size=batch_size, token_budget=token_budget,
            boundaries=boundaries, seed=seed, on_too_long="drop",
        )
        stats = epoch_statistics(dataset)
        summary["padding_fraction"][strategy] = stats["padding_fraction"]
        summary["batches"][strategy] = stats["batches"]
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
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
        f"documents         {summary['documents']:,}",
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
    parser.add_argument("corpus", choices=CORPORA, help="corpus to inspect")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("runs/inspect"),
                        help="output folder for length_histogram.png and inspect.json (default: runs/inspect)")
    parser.add_argument("--batch-size", type=int, default=64, help="examples per batch for random/sorted/bucketed (default: 64)")
    parser.add_argument("--token-budget", type=int, default=4096, help="tokens per batch for token_budget/packed (default: 4096)")
    parser.add_argument("--num-buckets", type=int, default=64, help="length quantiles for bucket boundaries (default: 64)")
    parser.add_argument("--seed", type=int, default=0, help="seed for sampling and shuffling (default: 0)")


def run(args):
    summary = inspect_corpus(
        args.corpus, args.out, batch_size=args.batch_size, token_budget=args.token_budget,
        num_buckets=args.num_buckets, seed=args.seed,
    )
    print(format_summary(summary))
    return 0
