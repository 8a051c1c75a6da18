"""Loaders for the real corpora and series that ship with installed packages.

Nothing here downloads anything. Every dataset comes from a file that an installed package
(or the user) provides; when it is missing the error names the package to install.

| loader | source | licence | size |
|---|---|---|---|
| `wiki_articles` | gensim test data: English Wikipedia XML excerpt with wiki markup (`enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2`) | CC BY-SA 3.0 (Wikipedia) | 1.7 MB bz2, ~6 MB of text, 106 articles |
| `lee_documents` | gensim test data: Lee news corpus (`lee_background.cor`), one document per line | research corpus redistributed by gensim (LGPL package) | 300 documents, ~60k words |
| `sunspots` | statsmodels: yearly sunspot numbers 1700-2008 | public domain (SIDC data via statsmodels, BSD) | 309 values |
| `macrodata` | statsmodels: US quarterly macro series 1959Q1-2009Q3 | public domain (US federal data via statsmodels, BSD) | 203 x 12 |
| `read_conllu` | any CoNLL-U file given by path, e.g. UD English EWT | the treebank's own (EWT: CC BY-SA 4.0) | EWT train 12,544 sentences |

Text loaders return Python lists (documents in file order); `text_dataset` turns such a list into
a `tf.data.Dataset` of scalar strings and `split_documents` makes deterministic train / valid /
test splits by document.
"""

import bz2
import collections
import functools
import gzip
import html
import pathlib
import re
import xml.etree.ElementTree as ElementTree

import numpy as np
import tensorflow as tf

WIKI_FILE = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
LEE_FILE = "lee_background.cor"
EWT_GENRES = ("answers", "email", "newsgroup", "reviews", "weblog")
MACRO_COLUMNS = (
    "realgdp", "realcons", "realinv", "realgovt", "realdpi", "cpi",
    "m1", "tbilrate", "unemp", "pop", "infl", "realint",
)

WikiArticle = collections.namedtuple("WikiArticle", ["title", "text"])
WikiArticle.__doc__ = "One Wikipedia page: its `title` and the raw wiki markup of its latest revision (`text`)."

TaggedSentence = collections.namedtuple("TaggedSentence", ["sent_id", "words", "upos"])
TaggedSentence.__doc__ = "One CoNLL-U sentence: `sent_id` (str), `words` and `upos` (tuples of str, same length)."


# --------------------------------------------------------------------------------------------
# Package data
# --------------------------------------------------------------------------------------------
def gensim_test_data(name):
    """Path of a file in gensim's bundled test data (`gensim/test/test_data/<name>`).

    Args:
        name: file name, e.g. `"lee_background.cor"`.

    Raises:
        ImportError: gensim is not installed (the message says `pip install gensim`).
        FileNotFoundError: gensim is installed but the file is not in its test data.
    """
    try:
        import gensim
    except ImportError as error:
        raise ImportError(
            f"The corpus file {name!r} ships with the `gensim` package, which is not installed. "
            "Install it with `pip install 'gensim>=4.4,<4.5'`."
        ) from error
    path = pathlib.Path(gensim.__file__).parent / "test" / "test_data" / name
    if not path.exists():
        raise FileNotFoundError(
            f"{name!r} is not in gensim's test data at {path.parent} (gensim {gensim.__version__}). "
            "Reinstall `gensim>=4.4,<4.5`, whose wheel ships it."
        )
    return path


def _statsmodels_datasets():
    try:
        import statsmodels.api as statsmodels_api
    except ImportError as error:
        raise ImportError(
            "The time series ship with the `statsmodels` package, which is not installed. "
            "Install it with `pip install 'statsmodels>=0.14'`."
        ) from error
    return statsmodels_api.datasets


# --------------------------------------------------------------------------------------------
# Wikipedia
# --------------------------------------------------------------------------------------------
def _local_name(tag):
    return tag.rsplit("}", 1)[-1]


@functools.lru_cache(maxsize=None)
def _parse_wiki(path):
    """Parses the dump once per process: (articles tuple, counts of skipped pages)."""
    articles = []
    skipped = {"redirects": 0, "empty": 0}
    with bz2.open(path, "rb") as stream:
        for _, element in ElementTree.iterparse(stream, events=("end",)):
            if _local_name(element.tag) != "page":
                continue
            title, text = "", ""
            for child in element.iter():
                name = _local_name(child.tag)
                if name == "title":
                    title = child.text or ""
                elif name == "text":
                    text = child.text or ""
            element.clear()  # keep memory flat while streaming
            if text.lstrip().lower().startswith("#redirect"):
                skipped["redirects"] += 1
            elif not text.strip():
                skipped["empty"] += 1
            else:
                articles.append(WikiArticle(title, text))
    return tuple(articles), skipped


def wiki_articles():
    """Articles of gensim's English Wikipedia excerpt, in file order, with raw wiki markup.

    Redirect pages (text starting with `#REDIRECT`, any case) and pages with empty text are
    skipped; `wiki_skipped_pages()` reports how many. The parse is cached per process.

    Returns:
        A new list of `WikiArticle(title, text)`.
    """
    articles, _ = _parse_wiki(str(gensim_test_data(WIKI_FILE)))
    return list(articles)


def wiki_skipped_pages():
    """How many pages `wiki_articles` skipped: `{"redirects": n, "empty": m}`."""
    _, skipped = _parse_wiki(str(gensim_test_data(WIKI_FILE)))
    return dict(skipped)


_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_REF = re.compile(r"<ref[^>/]*/>|<ref[^>]*>.*?</ref>", re.DOTALL | re.IGNORECASE)
_DROPPED_TAGS = re.compile(r"<(math|gallery|timeline|score|syntaxhighlight|source)[^>]*>.*?</\1>", re.DOTALL | re.IGNORECASE)
_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_TEMPLATE = re.compile(r"\{\{[^{}]*\}\}")
_TABLE = re.compile(r"\{\|[^{}]*?\|\}", re.DOTALL)
_FILE_LINK = re.compile(r"\[\[(?:file|image|category|media):[^\[\]]*\]\]", re.IGNORECASE)
_INTERWIKI = re.compile(r"\[\[[a-z]{2,3}(?:-[a-z]+)?:[^\[\]]*\]\]")
_LINK = re.compile(r"\[\[(?:[^\[\]|]*\|)?([^\[\]]*)\]\]")
_EXTERNAL_LINK = re.compile(r"\[(?:https?|ftp)://[^\s\]]*\s?([^\]]*)\]")
_BARE_URL = re.compile(r"https?://\S+")
_EMPHASIS = re.compile(r"'{2,}")
_HEADING = re.compile(r"^=+\s*(.*?)\s*=+\s*$", re.MULTILINE)
_LIST_MARKER = re.compile(r"^[*#:;]+\s*", re.MULTILINE)
_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


def _remove_nested(pattern, text):
    # Innermost first, until nothing matches (templates and tables nest).
    while True:
        text, count = pattern.subn("", text)
        if count == 0:
            return text


def strip_wiki_markup(text):
    """Plain prose from MediaWiki markup.

    Drops comments, references, templates `{{...}}` (nested), tables `{|...|}`, file / image /
    category / interlanguage links and HTML tags; keeps link text (`[[target|text]]` -> `text`),
    external link labels, heading text and list items; unescapes HTML entities. Paragraphs stay
    separated by one blank line. A regex cleaner, good for corpus statistics and word2vec, not
    a full MediaWiki parser.

    Args:
        text: raw wiki markup (str).

    Returns:
        str, possibly empty.
    """
    text = _COMMENT.sub("", text)
    text = _REF.sub("", text)
    text = _DROPPED_TAGS.sub("", text)
    text = _remove_nested(_TEMPLATE, text)
    text = _remove_nested(_TABLE, text)
    text = _remove_nested(_FILE_LINK, text)
    text = _INTERWIKI.sub("", text)
    text = _LINK.sub(r"\1", text)
    text = _EXTERNAL_LINK.sub(r"\1", text)
    text = _BARE_URL.sub("", text)
    text = _TAG.sub("", text)
    text = html.unescape(text)
    text = _EMPHASIS.sub("", text)
    text = _HEADING.sub(r"\1", text)
    text = _LIST_MARKER.sub("", text)
    text = text.replace("{{", "").replace("}}", "").replace("[[", "").replace("]]", "")
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")


def split_sentences(text):
    """Splits plain prose into sentences (paragraph breaks, then `.`/`!`/`?` before a capital).

    A light rule, good enough for natural length distributions; empty pieces are dropped.
    """
    sentences = []
    for paragraph in text.split("\n"):
        for piece in _SENTENCE_END.split(paragraph):
            piece = piece.strip()
            if piece:
                sentences.append(piece)
    return sentences


def wiki_sentences():
    """All sentences of the markup-stripped Wikipedia excerpt, in file order (cached)."""
    return list(_wiki_sentences())


@functools.lru_cache(maxsize=1)
def _wiki_sentences():
    sentences = []
    for article in wiki_articles():
        sentences.extend(split_sentences(strip_wiki_markup(article.text)))
    return tuple(sentences)


# --------------------------------------------------------------------------------------------
# Other text
# --------------------------------------------------------------------------------------------
def lee_documents():
    """The Lee news corpus from gensim's test data: one document (str) per non-empty line."""
    path = gensim_test_data(LEE_FILE)
    with open(path, encoding="utf-8", errors="replace") as stream:
        return [line.strip() for line in stream if line.strip()]


def split_documents(docs, valid_fraction=0.1, test_fraction=0.1, seed=0):
    """Deterministic train / valid / test split by document.

    Documents are assigned with a seeded permutation; each split keeps the original order.
    Split sizes are `round(n * fraction)` for valid and test, the rest is train.

    Args:
        docs: a sequence of documents (any objects).
        valid_fraction: fraction in [0, 1) for validation.
        test_fraction: fraction in [0, 1) for test.
        seed: integer seed of the permutation.

    Returns:
        `(train, valid, test)` lists.

    Raises:
        ValueError: bad fractions, or no document left for training.
    """
    docs = list(docs)
    for name, value in (("valid_fraction", valid_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"`{name}` must be in [0, 1). Received: {name}={value}")
    if valid_fraction + test_fraction >= 1.0:
        raise ValueError(
            "`valid_fraction + test_fraction` must be below 1. "
            f"Received: valid_fraction={valid_fraction}, test_fraction={test_fraction}"
        )
    n = len(docs)
    n_valid = int(round(n * valid_fraction))
    n_test = int(round(n * test_fraction))
    if n - n_valid - n_test < 1:
        raise ValueError(f"No document left for training: {n} documents, {n_valid} valid, {n_test} test.")
    order = np.random.default_rng(seed).permutation(n)
    valid_ids = np.sort(order[:n_valid])
    test_ids = np.sort(order[n_valid:n_valid + n_test])
    train_ids = np.sort(order[n_valid + n_test:])
    return ([docs[i] for i in train_ids], [docs[i] for i in valid_ids], [docs[i] for i in test_ids])


def text_dataset(texts):
    """A `tf.data.Dataset` of scalar `tf.string`, one element per text, in order."""
    texts = list(texts)
    return tf.data.Dataset.from_tensor_slices(tf.constant(texts, dtype=tf.string, shape=[len(texts)]))


def wiki_dataset(split="train", strip_markup=False, valid_fraction=0.1, test_fraction=0.1, seed=0):
    """One split of the Wikipedia excerpt (split by article) as a dataset of article strings.

    Args:
        split: `"train"`, `"valid"` or `"test"`.
        strip_markup: return plain prose (`strip_wiki_markup`) instead of raw markup.
        valid_fraction, test_fraction, seed: passed to `split_documents`.
    """
    parts = dict(zip(("train", "valid", "test"), split_documents(
        wiki_articles(), valid_fraction=valid_fraction, test_fraction=test_fraction, seed=seed)))
    if split not in parts:
        raise ValueError(f"`split` must be one of {sorted(parts)}. Received: split={split!r}")
    texts = [strip_wiki_markup(a.text) if strip_markup else a.text for a in parts[split]]
    return text_dataset(texts)


# --------------------------------------------------------------------------------------------
# Series
# --------------------------------------------------------------------------------------------
def sunspots():
    """Yearly mean sunspot numbers 1700-2008 from statsmodels: float64 array of shape (309,)."""
    data = _statsmodels_datasets().sunspots.load_pandas().data
    return data["SUNACTIVITY"].to_numpy(dtype=np.float64)


def macrodata():
    """US quarterly macro series 1959Q1-2009Q3 from statsmodels.

    Returns:
        `(values, columns)`: float64 array of shape (203, 12) and the 12 column names
        (year and quarter are left out).
    """
    data = _statsmodels_datasets().macrodata.load_pandas().data
    columns = list(MACRO_COLUMNS)
    return data[columns].to_numpy(dtype=np.float64), columns


# --------------------------------------------------------------------------------------------
# CoNLL-U
# --------------------------------------------------------------------------------------------
def read_conllu(path):
    """Reads a CoNLL-U file (plain or `.gz`) into `TaggedSentence(sent_id, words, upos)`.

    Multi-word token lines (`1-2`) and empty nodes (`8.1`) are skipped, so `words` are the
    syntactic words that carry UPOS tags. A sentence without a `sent_id` comment gets
    `"<file name>-<index>"`. Parsed files are cached per process (keyed by path, size and
    modification time); each call returns a new list.

    Args:
        path: path of a `.conllu` or `.conllu.gz` file.

    Raises:
        ImportError: the `conllu` package is not installed.
        FileNotFoundError: no such file.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CoNLL-U file not found: {path}")
    stat = path.stat()
    return list(_read_conllu_cached(str(path.resolve()), stat.st_size, stat.st_mtime_ns))


@functools.lru_cache(maxsize=8)
def _read_conllu_cached(path, size, mtime_ns):
    try:
        import conllu
    except ImportError as error:
        raise ImportError("Reading CoNLL-U needs the `conllu` package: `pip install 'conllu>=6,<7'`.") from error
    path = pathlib.Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    sentences = []
    with opener(path, "rt", encoding="utf-8") as stream:
        for index, token_list in enumerate(conllu.parse_incr(stream)):
            words, upos = [], []
            for token in token_list:
                if not isinstance(token["id"], int):  # (1, "-", 2) multi-word or (8, ".", 1) empty node
                    continue
                words.append(token["form"])
                upos.append(token["upos"])
            sent_id = token_list.metadata.get("sent_id", f"{path.name}-{index}")
            sentences.append(TaggedSentence(sent_id, tuple(words), tuple(upos)))
    return tuple(sentences)


def ewt_genre(sent_id):
    """Genre of a UD English EWT sentence from its id, e.g. `"weblog-juancole.com_...-0001"` -> `"weblog"`.

    Raises:
        ValueError: the prefix is not one of `EWT_GENRES`.
    """
    genre = str(sent_id).split("-", 1)[0]
    if genre not in EWT_GENRES:
        raise ValueError(f"Not an EWT sentence id (genre must be one of {EWT_GENRES}). Received: sent_id={sent_id!r}")
    return genre
