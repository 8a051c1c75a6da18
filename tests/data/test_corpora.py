import gzip

import numpy as np
import pytest
import tensorflow as tf

from seqkeras.data import corpora


def test_wiki_articles_parse_real_dump():
    articles = corpora.wiki_articles()
    skipped = corpora.wiki_skipped_pages()
    assert len(articles) == 106
    assert skipped == {"redirects": 100, "empty": 0}
    assert articles[0].title == "Anarchism"
    assert articles[0].text.startswith("{{")  # raw markup kept
    assert all(not a.text.lower().lstrip().startswith("#redirect") for a in articles)
    # A new list each call: callers cannot corrupt the cache.
    articles.clear()
    assert len(corpora.wiki_articles()) == 106


def test_strip_wiki_markup_cases():
    text = (
        "{{Infobox|name={{nested|x}}}}'''Bold''' and ''it'' see [[Target page|label]] and [[Plain]].\n"
        "<!-- hidden --><ref name=a>cite</ref>[[File:X.png|thumb|cap]][[Category:Y]]\n"
        "== Heading ==\n* item one &amp; two\n{| class=wikitable\n| cell\n|}\n"
        "[http://example.org Example site] end."
    )
    plain = corpora.strip_wiki_markup(text)
    assert plain.splitlines() == [
        "Bold and it see label and Plain.", "", "Heading", "item one & two", "", "Example site end."
    ]
    for marker in ("[[", "{{", "<ref", "'''", "http"):
        assert marker not in plain


def test_strip_real_article_has_no_markup():
    plain = corpora.strip_wiki_markup(corpora.wiki_articles()[0].text)
    assert plain.startswith("Anarchism is a political philosophy")
    assert "[[" not in plain and "{{" not in plain and "<ref" not in plain


def test_wiki_sentences_natural_lengths():
    sentences = corpora.wiki_sentences()
    lengths = np.array([len(s.split()) for s in sentences[:3000]])
    assert len(sentences) > 20_000
    assert lengths.min() >= 1 and np.percentile(lengths, 99) > 3 * np.median(lengths)


@pytest.mark.parametrize("valid,test", [(0.1, 0.1), (0.0, 0.2), (0.3, 0.0)])
def test_split_documents_deterministic_partition(valid, test):
    docs = [f"doc{i}" for i in range(57)]
    first = corpora.split_documents(docs, valid, test, seed=3)
    second = corpora.split_documents(docs, valid, test, seed=3)
    assert first == second
    train, valid_docs, test_docs = first
    assert sorted(train + valid_docs + test_docs) == sorted(docs)
    assert len(valid_docs) == round(57 * valid) and len(test_docs) == round(57 * test)
    assert train == sorted(train, key=docs.index)  # original order kept
    assert corpora.split_documents(docs, valid, test, seed=4) != first or valid == test == 0


@pytest.mark.parametrize(
    "kwargs,match",
    [({"valid_fraction": -0.1}, "valid_fraction=-0.1"), ({"test_fraction": 1.0}, "test_fraction=1.0"),
     ({"valid_fraction": 0.5, "test_fraction": 0.5}, "below 1")],
)
def test_split_documents_rejects_bad_fractions(kwargs, match):
    with pytest.raises(ValueError, match=match):
        corpora.split_documents(["a", "b", "c"], **kwargs)


def test_split_documents_needs_training_docs():
    with pytest.raises(ValueError, match="No document left"):
        corpora.split_documents(["a", "b"], 0.4, 0.4)


def test_wiki_dataset_split_by_article():
    train = list(corpora.wiki_dataset("train").as_numpy_iterator())
    valid = list(corpora.wiki_dataset("valid", strip_markup=True).as_numpy_iterator())
    assert len(train) + len(valid) + len(list(corpora.wiki_dataset("test"))) == 106
    assert all(b"[[" not in v for v in valid)
    with pytest.raises(ValueError, match="split='dev'"):
        corpora.wiki_dataset("dev")


def test_text_dataset_and_lee():
    docs = corpora.lee_documents()
    assert len(docs) == 300 and docs[0].startswith("Hundreds of people")
    ds = corpora.text_dataset(docs[:3])
    assert ds.element_spec == tf.TensorSpec([], tf.string)
    assert [d.decode() for d in ds.as_numpy_iterator()] == docs[:3]


def test_series_loaders():
    spots = corpora.sunspots()
    assert spots.shape == (309,) and spots.dtype == np.float64 and np.isfinite(spots).all()
    values, columns = corpora.macrodata()
    assert values.shape == (203, 12) and columns[0] == "realgdp" and "year" not in columns


def test_gensim_missing_file_is_clear():
    with pytest.raises(FileNotFoundError, match="gensim"):
        corpora.gensim_test_data("no_such_corpus.txt")


def test_read_conllu_real_ewt(ewt_dir):
    sentences = corpora.read_conllu(ewt_dir / "en_ewt-ud-dev.conllu.gz")
    assert len(sentences) == 2001
    first = sentences[0]
    assert first.words[:3] == ("From", "the", "AP") and first.upos[:3] == ("ADP", "DET", "PROPN")
    assert all(len(s.words) == len(s.upos) > 0 for s in sentences)
    assert {corpora.ewt_genre(s.sent_id) for s in sentences} == set(corpora.EWT_GENRES)


def test_read_conllu_skips_multiword_and_empty_nodes(tmp_path):
    text = (
        "# sent_id = email-x-0001\n"
        "1-2\tdon't\t_\t_\t_\t_\t_\t_\t_\t_\n"
        "1\tdo\tdo\tAUX\t_\t_\t0\troot\t_\t_\n"
        "2\tn't\tnot\tPART\t_\t_\t1\tadvmod\t_\t_\n"
        "2.1\tgo\tgo\tVERB\t_\t_\t_\t_\t1:conj\t_\n"
        "3\tgo\tgo\tVERB\t_\t_\t1\txcomp\t_\t_\n\n"
    )
    path = tmp_path / "tiny.conllu.gz"
    with gzip.open(path, "wt", encoding="utf-8") as stream:
        stream.write(text)
    (sentence,) = corpora.read_conllu(path)
    assert sentence == corpora.TaggedSentence("email-x-0001", ("do", "n't", "go"), ("AUX", "PART", "VERB"))


def test_read_conllu_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.conllu"):
        corpora.read_conllu(tmp_path / "nope.conllu")


def test_ewt_genre_rejects_unknown():
    assert corpora.ewt_genre("reviews-123-0004") == "reviews"
    with pytest.raises(ValueError, match="sent_id='blog-1'"):
        corpora.ewt_genre("blog-1")
