"""ELMo: pretrain a character-based biLM on the bundled English text, then mix its layers into a UPOS tagger.

Claims checked (issue #15, goal 1):
1. Pretraining throughput. `seqkeras train bilm` (`pipelines.train_bilm.main`: token-budget batches,
   the package's LSTM, a sampled softmax over the 8,000-word vocabulary) on every bundled English
   text available offline: the Wikipedia excerpt (markup stripped), gensim's Lee background
   corpus, the words of the UD English EWT *training* sentences (tags unused; dev is never trained
   on) and the small bundled English files (Pang & Lee polarity snippets, two Wikipedia-style
   paragraphs), less the tagger's 4,000 sentences (`train bilm --exclude`;
   `Config.pretrain_without_tagger_sentences`, chosen by `elmo_unseen_pretraining.py`: the tagger
   then trains on features like those of unseen text). Reported: corpus size, words/s of the
   training steps (and per CPU-second, with the load average, since other processes may share the
   cores), the wall time, the learning curve
   (held-out perplexity per epoch of `steps_per_epoch` batches). Goal: >= 30k words/s, <= 40 min.
2. Language model. Held-out perplexity on EWT dev, per direction, next to count models fitted on the
   same training sentences, with the same vocabulary (ids through the run's own `TokenLookup`) and
   scored on the same targets (forward: every word after the first of a sentence, from the words
   before it; backward: every word before the last, from the words after it): an add-one unigram,
   interpolated Witten-Bell bigram and trigram, interpolated Kneser-Ney trigram
   (`seqkeras.models.elmo.NgramLanguageModel`). Goal: below both trigrams in both directions.
3. Tagger. A UPOS tagger (`build_tagger`: lower-cased word embedding + character CNN, BiLSTM)
   trained on the first 4,000 EWT training sentences and scored on the full dev set, with
   and without the biLM's frozen layers mixed in (`contextual_layers=ElmoEmbedder.from_bilm`,
   a trainable `ScalarMix` of the layers normalised per word); everything else (vocabularies,
   batches, optimizer, epochs, seeds) is the same. Reported: dev token accuracy overall and on
   words unseen in the tagger's training sentences (lower-cased), mean and spread over the
   seeds, and the learned mix weights softmax(s) and gamma. Goal: mean gain >= +3 points.

`--quick` runs the same code on slices (200 sentences per corpus, 1 minute of pretraining, 300 dev
sentences, a 500-sentence tagger for two epochs, one seed).

Usage:
    python benchmarks/bench_elmo.py                       # full run (~43 min) -> benchmarks/results/elmo.json
    python benchmarks/bench_elmo.py --pretrain-minutes 15  # a shorter pretraining budget
    python benchmarks/bench_elmo.py --hidden-dim 256 --dropout 0.3 --output /tmp/e.json  # other biLM settings
    python benchmarks/bench_elmo.py --token-budget 1024 --sampled-softmax 512 --matmul-dtype float32 --output /tmp/e.json  # another configuration
    python benchmarks/bench_elmo.py --quick               # smoke run, JSON to the temp dir
    python benchmarks/bench_elmo.py --keep-bilm runs/bench_elmo_bilm   # keep the pretraining run dir
    python benchmarks/bench_elmo.py --bilm runs/bench_elmo_bilm --output /tmp/e.json  # parts 2-3 on a kept biLM
    python benchmarks/bench_elmo.py --speed-only          # part 1 alone on ALL the text -> elmo.json speed_readings

`--speed-only` pretrains the same configuration on every bundled text (the tagger's sentences kept: the
corpus goal 1 names) and appends its words/s, held-out perplexity and curve to `speed_readings` in the
JSON, next to the headline run; EWT dev is not read.
"""

import argparse
import dataclasses
import os
import pathlib
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import benchlib  # noqa: E402

from pipelines import common, train_bilm  # noqa: E402
from seqkeras.data import corpora  # noqa: E402
from seqkeras.data.vocabulary import NUM_RESERVED, OOV_ID  # noqa: E402
from seqkeras.losses import MaskedSparseCategoricalCrossentropy  # noqa: E402
from seqkeras.models.common import text_batches  # noqa: E402
from seqkeras.models.elmo import ElmoEmbedder, NgramLanguageModel, tagger_preprocessor  # noqa: E402
from seqkeras.models.tagger import build_tagger  # noqa: E402

EWT_DIR = benchlib.REPO.parent / "shared" / "data" / "ud-english-ewt"
# The small English files of gensim's test data (real sentences; the stemmed/ID files are left out).
SMALL_ENGLISH = ("pang_lee_polarity.cor", "para2para_text1.txt", "para2para_text2.txt")


@dataclasses.dataclass(frozen=True)
class Config:
    # --- pretraining: every `seqkeras train bilm` field the benchmark sets (the rest are its defaults) ---
    vocabulary_size: int = 8000  # softmax width: most frequent lower-cased words, reserved ids included
    min_count: int = 2  # a word seen once stays OOV, so the OOV class is trained on real rare words
    hidden_dim: int = 128  # token layer and each LSTM, per direction
    num_layers: int = 2  # LSTM layers per direction: the mix sees 3 layers
    char_filters: int = 128  # width of the character word vector
    dropout: float = 0.1
    sampled_softmax: int = 256  # words drawn per direction and step (log-uniform); evaluation: full softmax.
    # 512 vs 1024 (8-min runs, held-out 1% of this corpus): 1.17x the words per CPU-second, perplexity as low
    # per word seen; 256 vs 512 (4-min runs at 2,048-word batches): 29.2k vs 27.6k words/s, held-out 197 / 215 vs
    # 215 / 243 after 4 minutes (results/elmo_speed_probe.json)
    token_budget: int = 4096  # words per batch (token_budget batching): fewer, larger steps; with bfloat16 products
    # and 256 samples, a whole run's held-out perplexity 133.3 / 146.5 vs 138.4 / 147.6 for 1,024 / float32 / 512
    # (results/elmo.json host_speed_note, previous_runs; 2,048 + bfloat16 + 512: other_configurations)
    matmul_dtype: str = "auto"  # bfloat16 LSTM and sampled-softmax products where the CPU has AMX / AVX512_BF16
    learning_rate: float = 2e-3  # Adam, global gradient norm clipped to 1
    steps_per_epoch: int = 250  # an "epoch" is 250 batches (~1/4 pass): one learning-curve point each
    max_epochs: int = 400  # far more than the time budget allows: `pretrain_minutes` ends training
    pretrain_minutes: float = 38.0  # wall-clock budget of fit; the limit is 40 and the epoch running
    # when the budget ends finishes (~1 min)
    valid_fraction: float = 0.01  # held out of the pretraining text for the learning curve
    pretrain_without_tagger_sentences: bool = True  # `train bilm --exclude` the tagger's EWT sentences, so its
    # features on them look like those on unseen text (perplexity 94.6 / 106.1 on them vs 156.6 / 169.9 on dev when
    # they were in); chosen on later EWT training documents, never dev (results/elmo_unseen_pretraining.json:
    # gain +2.39 vs +2.17 there, 15-min biLMs)
    # --- tagger: the same model with and without the ELMo mix ---
    tagger_sentences: int = 4000  # first EWT training sentences, as bench_word2vec
    tagger_epochs: int = 10  # with dropout 0.5 and word dropout 0.2: chosen on held-out training documents of
    # the 4,000 sentences (results/elmo.json `downstream_selection`); formerly 5 epochs, dropout 0.2, no word dropout
    tagger_seeds: tuple = (0, 1, 2)
    tagger_hidden_dim: int = 128  # chosen on held-out documents (elmo.json downstream_selection, round 2)
    tagger_embedding_dim: int = 64
    tagger_char_filters: int = 32
    tagger_dropout: float = 0.5
    tagger_word_dropout: float = 0.2  # share of training words read as <oov> (WordDropout)
    tagger_learning_rate: float = 2e-3
    tagger_batch_size: int = 32
    tagger_contextual_dropout: float = 0.0  # on the ELMo mix alone (None: tagger_dropout); with the layer norm,
    tagger_contextual_layer_norm: bool = True  # chosen on held-out documents (elmo.json downstream_selection,
    # round 3); formerly the mix took tagger_dropout (0.5) and no normalisation
    # --- --quick: same code, slices of the data ---
    quick_sentences_per_corpus: int = 200
    quick_pretrain_minutes: float = 1.0
    quick_dev_sentences: int = 300
    quick_tagger_sentences: int = 500


# ------------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------------
def pretraining_corpora(scratch):
    """`--corpus` entries of `seqkeras train bilm`: every bundled English text found offline.

    The small files are copied to `scratch` as UTF-8 (the polarity snippets are Windows-1252).
    """
    names = ["wiki", "lee", f"ewt:{EWT_DIR / 'en_ewt-ud-train.conllu.gz'}"]
    for name in SMALL_ENGLISH:
        try:
            raw = corpora.gensim_test_data(name).read_bytes()
        except (ImportError, FileNotFoundError):
            print(f"(not found, skipped: {name})")
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("cp1252")
        copy = pathlib.Path(scratch) / name
        copy.write_text(text, encoding="utf-8")
        names.append(str(copy))
    return tuple(names)


def tagger_sentences_file(scratch, count):
    """The first `count` EWT training sentences as a CoNLL-U file in `scratch` (what `--exclude` reads)."""
    from seqkeras.data.conllu import read_conllu_sentences, write_conllu

    sentences = read_conllu_sentences(EWT_DIR / "en_ewt-ud-train.conllu.gz")[:count]
    path = pathlib.Path(scratch) / "tagger_sentences.conllu"
    path.write_text(write_conllu(sentences, [sentence.tags for sentence in sentences]), encoding="utf-8")
    return str(path)


def sentence_batches(preprocessor, word_lists, targets=None, batch_size=64, shuffle=False):
    """Length-sorted batches of sentences through the `TokenLookup` (`text_batches`): inputs, or (inputs, targets)."""
    data = text_batches(preprocessor, [" ".join(words) for words in word_lists], targets, batching="sorted",
                        batch_size=batch_size, shuffle=shuffle, seed=0)
    return data if targets is None else data.map(lambda inputs, tags, weights: (inputs, tags))


class StepTimer(keras.callbacks.Callback):
    """Wall time of every training step, so throughput can leave out the first (tracing) step."""

    def on_train_begin(self, logs=None):
        self.start, self.ends = time.perf_counter(), []

    def on_train_batch_end(self, batch, logs=None):
        self.ends.append(time.perf_counter())

    def words_per_s(self, words_per_epoch, epochs):
        steps = len(self.ends)
        steady = (self.ends[-1] - self.ends[0]) / max(steps - 1, 1)  # seconds per step after the first
        return words_per_epoch * epochs / (steps * steady)


# ------------------------------------------------------------------------------------------------
# biLM
# ------------------------------------------------------------------------------------------------
def pretrain(config, corpus, run_dir, minutes, max_sentences=0, exclude=(), callbacks=()):
    """`seqkeras train bilm` with the benchmark's fields (and extra Keras `callbacks`); returns the pipeline's
    results dict."""
    train_config = train_bilm.TrainConfig(
        corpus=corpus, exclude=exclude, max_sentences=max_sentences, valid_fraction=config.valid_fraction,
        vocabulary_size=config.vocabulary_size, min_count=config.min_count, hidden_dim=config.hidden_dim,
        num_layers=config.num_layers, char_filters=config.char_filters, dropout=config.dropout,
        sampled_softmax=config.sampled_softmax, batching="token_budget", token_budget=config.token_budget,
        epochs=config.max_epochs, steps_per_epoch=config.steps_per_epoch, learning_rate=config.learning_rate,
        matmul_dtype=config.matmul_dtype, max_minutes=minutes, run_dir=str(run_dir), verbose=0,
    )
    start = time.perf_counter()
    results = train_bilm.main(train_config, callbacks=callbacks)
    seconds = time.perf_counter() - start
    print(f"biLM: {results['corpus_words']} words ({results['corpus_sentences']} sentences: "
          f"{results['corpus_sentences_per_corpus']}); {results['train_steps']} steps in {seconds:.0f} s, "
          f"{results['tokens_per_s']:.0f} words/s ({results['tokens_per_cpu_s']:.0f} per CPU-second, load average "
          f"{results['load_average']['before']:.1f} -> {results['load_average']['after']:.1f})", flush=True)
    for row in results["curve"]:
        print(f"  epoch {row['epoch']:3d} {row['seconds']:7.0f} s {row['words']:9d} words  held-out perplexity "
              f"{row.get('val_forward_perplexity', float('nan')):7.1f} / {row.get('val_backward_perplexity', float('nan')):7.1f}",
              flush=True)
    return results, seconds


def kept_pretraining(config, corpus, run_dir, minutes, max_sentences=0, exclude=()):
    """`pretrain`'s results from a kept run dir (`--keep-bilm`): its model, metrics and the same text split."""
    import json

    common.split_threads()  # the thread pools `pretrain` leaves for the tagger runs (before TensorFlow's first op)
    # runs saved before `matmul_dtype` existed trained in float32
    metrics = {"train_matmul_dtype": "float32", **json.loads((run_dir / common.METRICS_FILE).read_text())}
    stored = {"matmul_dtype": "float32", **json.loads((run_dir / common.CONFIG_FILE).read_text())}
    expected = {"vocabulary_size": config.vocabulary_size, "min_count": config.min_count,
                "hidden_dim": config.hidden_dim, "num_layers": config.num_layers, "char_filters": config.char_filters,
                "dropout": config.dropout, "sampled_softmax": config.sampled_softmax,
                "token_budget": config.token_budget, "learning_rate": config.learning_rate, "max_minutes": minutes,
                "matmul_dtype": config.matmul_dtype,
                "valid_fraction": config.valid_fraction, "max_sentences": max_sentences}
    differing = {key: (stored.get(key), value) for key, value in expected.items() if stored.get(key) != value}
    if bool(stored.get("exclude")) != bool(exclude):  # a temp path each run: whether sentences were left out
        differing["exclude"] = (stored.get("exclude"), exclude)
    if differing:
        raise SystemExit(f"--bilm {run_dir} was pretrained with other settings (stored, now): {differing}")
    task = common.load_model(run_dir / common.MODEL_FILE)
    train_config = train_bilm.TrainConfig(corpus=corpus, exclude=exclude, max_sentences=max_sentences,
                                          valid_fraction=config.valid_fraction)
    texts, _, _ = train_bilm.load_corpus(train_config)
    print(f"biLM: kept run {run_dir} ({metrics['train_steps']} steps, {metrics['tokens_per_s']:.0f} words/s)", flush=True)
    # the kept run's per-corpus counts, keyed by this run's paths (its own were in a temp dir), same order
    sizes = dict(zip(corpus, metrics["corpus_sentences_per_corpus"].values()))
    excluded = dict(zip(corpus, metrics.get("excluded_sentences_per_corpus", {}).values()))
    return {**metrics, "corpus_sentences_per_corpus": sizes, "excluded_sentences_per_corpus": excluded,
            "task": task, "network": task.network, "texts": texts, "kept_run": str(run_dir)}, metrics["train_seconds"]


def ids_of(encoded):
    """Ragged `token_ids` -> lists of int."""
    return encoded[0].to_list()


def count_models(train_ids, dev_ids, vocabulary_size, direction):
    """Dev perplexities of the count baselines, one direction (`"backward"` reads every sentence reversed)."""
    def turn(sequences):
        return sequences if direction == "forward" else [ids[::-1] for ids in sequences]

    classes = [OOV_ID] + list(range(NUM_RESERVED, vocabulary_size))
    train, dev = turn(train_ids), turn(dev_ids)
    counts = np.bincount(np.concatenate([np.asarray(ids, int) for ids in train]), minlength=vocabulary_size)[classes]
    unigram = np.zeros(vocabulary_size)
    unigram[classes] = (counts + 1) / (counts.sum() + len(classes))  # add-one
    targets = [w for ids in dev for w in ids[1:]]
    report = {"unigram": float(np.exp(-np.mean(np.log(unigram[targets]))))}
    for name, order, smoothing in (("bigram_witten_bell", 2, "witten_bell"), ("trigram_witten_bell", 3, "witten_bell"),
                                   ("trigram_kneser_ney", 3, "kneser_ney")):
        model = NgramLanguageModel(classes, order=order, smoothing=smoothing)
        model.fit(train)
        report[name], count = model.perplexity(dev)
        assert count == len(targets)
    report["targets"] = len(targets)
    return report


BASELINES = ("unigram", "bigram_witten_bell", "trigram_witten_bell", "trigram_kneser_ney")


def perplexity_report(results, dev_texts):
    """EWT dev perplexity of the biLM and of the count baselines, both directions, same ids and targets."""
    preprocessor, network = results["task"].preprocessor, results["network"]
    dev_data, dev_encoded = train_bilm.heldout_batches(preprocessor, dev_texts, 64)
    figures = train_bilm.perplexities(network, dev_data, dev_encoded)
    train_ids = ids_of(train_bilm.encode(preprocessor, results["texts"]["train"]))
    dev_ids = ids_of(dev_encoded)
    report = {"dev_sentences": figures["sentences"], "dev_words": figures["words"], "dev_oov_rate": figures["oov_rate"],
              "baseline_training_words": int(sum(len(ids) for ids in train_ids))}
    for direction in ("forward", "backward"):
        report[direction] = {"bilm": figures[f"{direction}_perplexity"],
                             **count_models(train_ids, dev_ids, preprocessor.vocabulary.size, direction)}
        assert report[direction]["targets"] == figures["targets_per_direction"]
    return report


# ------------------------------------------------------------------------------------------------
# Tagger
# ------------------------------------------------------------------------------------------------
def score_tagger(model, dev_data):
    """Per-token correctness and OOV flags on the dev batches, and timings of the scoring.

    One `tf.function` traced once for any batch shape serves every batch, so scoring time grows
    with the words scored, not with the number of batch shapes.
    """
    signature = {
        "token_ids": tf.TensorSpec([None, None], tf.int32), "padding_mask": tf.TensorSpec([None, None], tf.bool),
        "char_ids": tf.TensorSpec([None, None, None], tf.int32),
    }
    predict = tf.function(lambda inputs: tf.argmax(model(inputs, training=False), axis=-1), input_signature=[signature])
    correct, unseen, seconds, words = [], [], [], []
    for inputs, targets in dev_data:
        start = time.perf_counter()
        predicted = predict(inputs).numpy()  # (B, T)
        seconds.append(time.perf_counter() - start)
        mask = inputs["padding_mask"].numpy()
        correct.append((predicted == targets.numpy())[mask])
        unseen.append((inputs["token_ids"].numpy() == OOV_ID)[mask])  # not in the tagger's training words
        words.append(int(mask.sum()))
    return np.concatenate(correct), np.concatenate(unseen), seconds, words


def tagger_report(config, bilm, bilm_preprocessor, train, dev, epochs, seeds, variants=("no_elmo", "elmo")):
    """UPOS dev accuracy of one tagger configuration with ("elmo") and without ("no_elmo") the ELMo mix."""
    tags = sorted({tag for sentence in train for tag in sentence.upos})
    tag_index = {tag: i for i, tag in enumerate(tags)}
    train_words = [list(s.words) for s in train]
    # Word vocabulary: every lower-cased training word (so OOV = unseen in training); characters: the biLM's.
    preprocessor = tagger_preprocessor(train_words, bilm_preprocessor, min_count=1)
    keras.utils.set_random_seed(0)  # the shuffle's seed pairs with the global one: one batch order in every process
    data = sentence_batches(
        preprocessor, train_words, [[tag_index[t] for t in s.upos] for s in train],
        batch_size=config.tagger_batch_size, shuffle=True,
    )
    dev_data = sentence_batches(  # a dev tag never seen in training is an error (-1 matches nothing)
        preprocessor, [list(s.words) for s in dev], [[tag_index.get(t, -1) for t in s.upos] for s in dev], batch_size=64
    )
    train_tokens = sum(len(words) for words in train_words)

    reports = {}
    for variant in variants:
        runs = []
        for seed in seeds:
            keras.utils.set_random_seed(seed)
            embedder = ElmoEmbedder.from_bilm(bilm) if variant == "elmo" else None
            model = build_tagger(
                preprocessor.vocabulary.size, len(tags), hidden_dim=config.tagger_hidden_dim,
                embedding_dim=config.tagger_embedding_dim, dropout=config.tagger_dropout,
                word_dropout=config.tagger_word_dropout,
                char_vocabulary_size=preprocessor.char_vocabulary.size, char_filters=config.tagger_char_filters,
                contextual_layers=embedder, contextual_dropout=config.tagger_contextual_dropout,
                contextual_layer_norm=config.tagger_contextual_layer_norm,
            )
            model.compile(keras.optimizers.Adam(config.tagger_learning_rate),
                          MaskedSparseCategoricalCrossentropy(from_logits=True))
            timer = StepTimer()
            start = time.perf_counter()
            history = model.fit(data, epochs=epochs, verbose=0, shuffle=False, callbacks=[timer])
            seconds = time.perf_counter() - start
            correct, unseen, dev_seconds, dev_words = score_tagger(model, dev_data)
            train_words_per_s = timer.words_per_s(train_tokens, epochs)
            run = {
                "seed": seed, "accuracy": float(correct.mean()), "unseen_accuracy": float(correct[unseen].mean()),
                "train_loss_per_epoch": [float(v) for v in history.history["loss"]], "train_seconds": seconds,
                "train_words_per_s": train_words_per_s, "dev_seconds": float(sum(dev_seconds)),
                # For the full-run estimate: time that does not grow with the data (tracing, the first
                # dev batch) and the dev scoring rate after it.
                "fixed_seconds": seconds - train_tokens * epochs / train_words_per_s + dev_seconds[0],
                "dev_words_per_s": sum(dev_words[1:]) / max(sum(dev_seconds[1:]), 1e-9),
            }
            if embedder is not None:
                mix = model.get_layer("contextual_mix")
                run["mix_weights"] = [float(w) for w in mix.mix_weights()]
                run["mix_gamma"] = float(mix.gamma.numpy())
            runs.append(run)
            print(f"tagger {variant:8} seed {seed}: dev accuracy {run['accuracy']:.4f}, unseen words "
                  f"{run['unseen_accuracy']:.4f} (train {seconds:.0f} s, dev {run['dev_seconds']:.0f} s)"
                  + (f", mix softmax(s) {np.round(run['mix_weights'], 3).tolist()} gamma {run['mix_gamma']:.3f}"
                     if "mix_weights" in run else ""), flush=True)
        reports[variant] = {
            "runs": runs,
            **{f"{key}_mean": float(np.mean([r[key] for r in runs])) for key in ("accuracy", "unseen_accuracy")},
            **{f"{key}_std": float(np.std([r[key] for r in runs])) for key in ("accuracy", "unseen_accuracy")},
            **{key: float(np.mean([r[key] for r in runs]))
               for key in ("train_words_per_s", "dev_words_per_s", "fixed_seconds")},
        }
    return {
        "train_sentences": len(train), "train_words": train_tokens, "dev_sentences": len(dev),
        "dev_words": int(correct.size), "dev_unseen_words": int(unseen.sum()), "epochs": epochs, "seeds": list(seeds),
        "word_vocabulary_size": preprocessor.vocabulary.size,
        "model": (f"word embedding {config.tagger_embedding_dim} + char CNN {config.tagger_char_filters} "
                  f"(+ ELMo mix: dropout {config.tagger_contextual_dropout}, layer norm "
                  f"{config.tagger_contextual_layer_norm}), BiLSTM {config.tagger_hidden_dim}, "
                  f"dropout {config.tagger_dropout}, "
                  f"word dropout {config.tagger_word_dropout}, "
                  f"Adam {config.tagger_learning_rate}, batch {config.tagger_batch_size}"),
        "variants": reports,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="slices of the data, one minute; JSON to the temp dir")
    parser.add_argument("--pretrain-minutes", type=float, default=None, help="pretraining budget (default: Config)")
    parser.add_argument("--hidden-dim", type=int, default=None, help="biLM width per direction (default: Config)")
    parser.add_argument("--dropout", type=float, default=None, help="biLM dropout (default: Config)")
    parser.add_argument("--token-budget", type=int, default=None, help="words per pretraining batch (default: Config)")
    parser.add_argument("--sampled-softmax", type=int, default=None,
                        help="words drawn per direction and pretraining step (default: Config)")
    parser.add_argument("--matmul-dtype", choices=common.MATMUL_DTYPES, default=None,
                        help="LSTM products in pretraining steps (default: Config)")
    parser.add_argument("--output", type=pathlib.Path, default=None)
    parser.add_argument("--keep-bilm", type=pathlib.Path, default=None,
                        help="write the pretraining run dir here (kept) instead of a temp dir")
    parser.add_argument("--bilm", type=pathlib.Path, default=None,
                        help="reuse the run dir of an earlier --keep-bilm run with the same settings: no pretraining; "
                             "its pretraining figures are reported")
    parser.add_argument("--speed-only", action="store_true",
                        help="pretraining alone on every bundled text (the tagger's sentences kept): words/s, "
                             "held-out perplexity and curve appended to speed_readings; no dev reading, no tagger")
    args = parser.parse_args()
    if args.speed_only and args.bilm:
        parser.error("--speed-only pretrains a biLM to time it; it cannot reuse --bilm")
    overrides = {key: value for key, value in (("hidden_dim", args.hidden_dim), ("dropout", args.dropout),
                                               ("token_budget", args.token_budget), ("matmul_dtype", args.matmul_dtype),
                                               ("sampled_softmax", args.sampled_softmax))
                 if value is not None}
    config = dataclasses.replace(Config(), **overrides)
    if not (EWT_DIR / "en_ewt-ud-train.conllu.gz").exists():
        raise SystemExit(f"UD English EWT not found at {EWT_DIR}")
    started = time.perf_counter()
    print(f"device: {benchlib.device_description()}; load average {os.getloadavg()[0]:.2f}", flush=True)

    minutes = args.pretrain_minutes or (config.quick_pretrain_minutes if args.quick else config.pretrain_minutes)
    if args.speed_only:  # pretraining alone: the treebank's tagger and dev sentences are not read
        return speed_reading(config, args, minutes)
    train = corpora.read_conllu(EWT_DIR / "en_ewt-ud-train.conllu.gz")
    dev = corpora.read_conllu(EWT_DIR / "en_ewt-ud-dev.conllu.gz")
    tagger_train, tagger_dev = train[: config.tagger_sentences], dev
    tagger_epochs, seeds = config.tagger_epochs, config.tagger_seeds
    if args.quick:
        tagger_train, tagger_dev = train[: config.quick_tagger_sentences], dev[: config.quick_dev_sentences]
        tagger_epochs, seeds = 2, seeds[:1]
    timings = {}
    with tempfile.TemporaryDirectory() as scratch:
        corpus = pretraining_corpora(scratch)
        max_sentences = config.quick_sentences_per_corpus if args.quick else 0
        exclude = ((tagger_sentences_file(scratch, len(tagger_train)),) if config.pretrain_without_tagger_sentences
                   else ())
        if args.bilm:
            results, timings["pretrain_seconds"] = kept_pretraining(config, corpus, args.bilm, minutes, max_sentences,
                                                                    exclude)
        else:
            results, timings["pretrain_seconds"] = pretrain(
                config, corpus, args.keep_bilm or pathlib.Path(scratch) / "bilm", minutes, max_sentences, exclude)
    start = time.perf_counter()
    perplexity = perplexity_report(results, [" ".join(s.words) for s in tagger_dev])
    timings["perplexity_seconds"] = time.perf_counter() - start
    start = time.perf_counter()
    tagger = tagger_report(config, results["network"], results["task"].preprocessor, tagger_train, tagger_dev,
                           tagger_epochs, seeds)
    timings["tagger_seconds"] = time.perf_counter() - start
    timings["total_seconds"] = time.perf_counter() - started

    print(f"\nheld-out perplexity on EWT dev ({perplexity['dev_sentences']} sentences, {perplexity['dev_words']} words, "
          f"OOV rate {perplexity['dev_oov_rate']:.3f}; same vocabulary and targets for every model)")
    print(f"{'direction':10}{'biLM':>9}" + "".join(f"{name:>22}" for name in BASELINES) + f"{'targets':>9}")
    for direction in ("forward", "backward"):
        row = perplexity[direction]
        print(f"{direction:10}{row['bilm']:>9.1f}" + "".join(f"{row[name]:>22.1f}" for name in BASELINES)
              + f"{row['targets']:>9}")
    print(f"\nUPOS tagger: {tagger['train_sentences']} EWT train sentences, {tagger['epochs']} epoch(s), seeds "
          f"{tagger['seeds']}; dev {tagger['dev_words']} words, {tagger['dev_unseen_words']} unseen in training")
    print(f"{'variant':10}{'accuracy':>18}{'unseen words':>18}")
    for name, variant in tagger["variants"].items():
        print(f"{name:10}{variant['accuracy_mean']:>10.4f} +-{variant['accuracy_std']:.4f}"
              f"{variant['unseen_accuracy_mean']:>10.4f} +-{variant['unseen_accuracy_std']:.4f}")
    for run in tagger["variants"]["elmo"]["runs"]:
        print(f"mix, seed {run['seed']}: softmax(s) = {np.round(run['mix_weights'], 3).tolist()} "
              f"(layer 0 = characters, 1..{config.num_layers} = LSTM layers), gamma = {run['mix_gamma']:.3f}")

    keep = ("corpus_words", "corpus_sentences", "corpus_sentences_per_corpus", "train_words", "vocabulary_size",
            "char_vocabulary_size", "softmax", "tokens_per_s", "tokens_per_cpu_s", "load_average", "train_steps",
            "train_seconds", "stopped_by_max_minutes", "padding_fraction", "heldout", "curve", "history", "threads",
            "train_matmul_dtype")
    pretraining = {key: results[key] for key in keep}
    short = {name: pathlib.Path(name.removeprefix("ewt:")).name if "/" in name else name for name in corpus}
    pretraining["corpora"] = list(short.values())
    pretraining["corpus_sentences_per_corpus"] = {short[k]: v for k, v in results["corpus_sentences_per_corpus"].items()}
    pretraining["excluded_sentences_per_corpus"] = {  # the tagger's sentences (pretrain_without_tagger_sentences)
        short[k]: v for k, v in results.get("excluded_sentences_per_corpus", {}).items()}
    pretraining["max_minutes"] = minutes
    if args.bilm:
        pretraining["kept_run"] = str(args.bilm)
    gain = tagger["variants"]["elmo"]["accuracy_mean"] - tagger["variants"]["no_elmo"]["accuracy_mean"]
    report = {
        "device": benchlib.device_description(), "quick": args.quick, "date": time.strftime("%Y-%m-%d"),
        "config": dataclasses.asdict(config),
        "pretraining": pretraining, "perplexity": perplexity, "tagger": tagger, "elmo_gain": gain,
        "timings": timings,
        "goals": {
            "pretraining_words_per_s_at_least_30k": results["tokens_per_s"] >= 30000,
            "pretraining_within_40_min": timings["pretrain_seconds"] <= 40 * 60,
            **{f"{direction}_perplexity_below_{baseline}": perplexity[direction]["bilm"] < perplexity[direction][baseline]
               for direction in ("forward", "backward") for baseline in BASELINES},
            "elmo_gain_at_least_3_points": gain >= 0.03,
        },
    }
    print(f"\ngoals: {report['goals']}")
    output = benchlib.results_path("elmo", quick=args.quick, out=args.output)
    report.update(carried_over(output, pretraining))
    benchlib.write_results(report, output)


def speed_reading(config, args, minutes):
    """`--speed-only`: pretrains on every bundled text and appends the reading to the JSON's `speed_readings`."""
    import json

    with tempfile.TemporaryDirectory() as scratch:
        corpus = pretraining_corpora(scratch)
        results, seconds = pretrain(config, corpus, args.keep_bilm or pathlib.Path(scratch) / "bilm", minutes,
                                    config.quick_sentences_per_corpus if args.quick else 0)
    reading = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "device": benchlib.device_description(),
               "config": dataclasses.asdict(config), "pretrain_seconds": seconds,
               **{key: results[key] for key in (
                   "corpus_words", "corpus_sentences", "train_words", "tokens_per_s", "tokens_per_cpu_s",
                   "load_average", "train_steps", "train_seconds", "stopped_by_max_minutes", "padding_fraction",
                   "heldout", "curve", "threads", "train_matmul_dtype")}}
    output = benchlib.results_path("elmo", quick=args.quick, out=args.output)
    report = json.loads(output.read_text()) if output.is_file() else {}
    report["speed_readings"] = report.get("speed_readings", []) + [reading]
    print(f"speed reading: {reading['tokens_per_s']:.0f} words/s on {reading['corpus_words']} words "
          f"(goal >= 30000: {'met' if reading['tokens_per_s'] >= 30000 else 'not met'})")
    benchlib.write_results(report, output)


def carried_over(path, pretraining):
    """What a new run keeps of the JSON it replaces: its recorded other configurations, speed readings
    (and their diagnosis) and tagger recipe selection, its headline figures appended to `previous_runs`
    (every reading stays recorded), and its note on the host's speed when the new run reports the same
    pretraining (`--bilm`)."""
    import json

    if not pathlib.Path(path).is_file():
        return {}
    old = json.loads(pathlib.Path(path).read_text())
    if old.get("quick"):
        return {}
    headline = {
        "device": old["device"], "tokens_per_s": old["pretraining"]["tokens_per_s"],
        "train_steps": old["pretraining"]["train_steps"], "heldout": old["pretraining"]["heldout"],
        "dev_perplexity": {d: old["perplexity"][d]["bilm"] for d in ("forward", "backward")},
        "tagger_accuracy": {v: old["tagger"]["variants"][v]["accuracy_mean"] for v in ("no_elmo", "elmo")},
        "elmo_gain": old["elmo_gain"], "config": old["config"], "date": old.get("date"),
        **({"kept_run": old["pretraining"]["kept_run"]} if "kept_run" in old["pretraining"] else {}),
        **({"host_speed_note": old["host_speed_note"]} if "host_speed_note" in old else {}),
    }
    same_pretraining = old["pretraining"]["tokens_per_s"] == pretraining["tokens_per_s"]
    return {"other_configurations": old.get("other_configurations", []),
            "downstream_selection": old.get("downstream_selection", {}),
            "speed_readings": old.get("speed_readings", []),
            **({"primitive_cache_diagnosis": old["primitive_cache_diagnosis"]}
               if "primitive_cache_diagnosis" in old else {}),
            "previous_runs": old.get("previous_runs", []) + [headline],
            **({"host_speed_note": old["host_speed_note"]} if same_pretraining and "host_speed_note" in old else {})}


if __name__ == "__main__":
    main()
