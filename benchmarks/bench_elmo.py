"""ELMo: pretrain a character-based biLM on unlabelled text, then mix its layers into a UPOS tagger.

Claims checked:
1. Language model. A biLM (`build_bidirectional_lm`: character CNN token layer, 2 x LSTM 128
   per direction, shared softmax over the 8,000 most frequent lower-cased words, OOV a class of
   its own) pretrained on the Wikipedia excerpt (`wiki_sentences`, tokenised by
   `word_sentences`, 3-50 words) plus the words of the UD English EWT *training* sentences
   (tags unused; dev is never trained on) for a fixed budget of 4 passes: its held-out
   perplexity on EWT dev, per direction, next to a unigram (add-one) and a bigram (interpolated
   Witten-Bell, `benchlib.WittenBellNgram`, over that unigram) model counted on the same
   sentences with the same vocabulary and scored on the same targets (forward: every word after
   the first of a sentence, from the words before it; backward: every word before the last, from
   the words after it). `goals` records which baselines the biLM beats; at this CPU-sized budget the
   smoothed bigram is a strong reference (a shorter trial run was still above it).
2. Tagger. A UPOS tagger (`build_tagger`: lower-cased word embedding + character CNN, BiLSTM
   64) trained on the first 4,000 EWT training sentences and scored on the full dev set, with
   and without the biLM's frozen layers mixed in (`contextual_layers=ElmoEmbedder.from_bilm`,
   a trainable `ScalarMix`); everything else (vocabularies, batches, optimizer, epochs, seeds)
   is the same. Reported: dev token accuracy overall and on words unseen in the tagger's
   training sentences (lower-cased), mean and spread over the seeds, and the learned mix
   weights softmax(s) and gamma.

`--quick` trains the same models on slices (3,000 pretraining sentences for one epoch, 300 dev
sentences, a 500-sentence tagger for two epochs, one seed) and prints an estimate of the full
run's time from its measured throughput (steps after the first, which traces the graph).

Usage:
    python benchmarks/bench_elmo.py           # full run -> benchmarks/results/elmo.json
    python benchmarks/bench_elmo.py --quick   # smoke run (~1-2 min), JSON to the temp dir
"""

import argparse
import dataclasses
import math
import os
import pathlib
import random
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import benchlib  # noqa: E402

from seqkeras.data import corpora  # noqa: E402
from seqkeras.data.vocabulary import NUM_RESERVED, OOV_ID  # noqa: E402
from seqkeras.losses import MaskedSparseCategoricalCrossentropy  # noqa: E402
from seqkeras.models.common import build_word_lookup, text_batches  # noqa: E402
from seqkeras.models.elmo import ElmoEmbedder, build_bidirectional_lm, tagger_preprocessor, word_sentences  # noqa: E402
from seqkeras.models.tagger import build_tagger  # noqa: E402

EWT_DIR = benchlib.REPO.parent / "shared" / "data" / "ud-english-ewt"


@dataclasses.dataclass(frozen=True)
class Config:
    # --- pretraining text (unlabelled): Wikipedia excerpt + EWT train words; never EWT dev ---
    wiki_min_words: int = 3  # shorter pieces are mostly headings left by markup stripping
    wiki_max_words: int = 50  # longer ones are mostly lists; they also cost the most per batch
    vocabulary_size: int = 8000  # softmax width: most frequent lower-cased words, reserved ids included
    min_count: int = 2  # a word seen once stays OOV, so the OOV class is trained on real rare words
    # --- biLM ---
    hidden_dim: int = 128  # token layer and each LSTM, per direction
    num_layers: int = 2  # LSTM layers per direction: the mix sees 3 layers
    char_embedding_dim: int = 16
    char_filters: int = 128  # width of the character word vector
    dropout: float = 0.1
    # --- pretraining budget: ~0.69M words a pass, ~1.5-2 min per pass on 2 shared CPU cores ---
    pretrain_epochs: int = 4  # dev perplexity still falls ~7% per third of a pass at the end
    pretrain_batch_size: int = 32  # sentences, length-sorted batches (text_batches)
    pretrain_learning_rate: float = 2e-3  # Adam, global gradient norm clipped to 1
    # --- tagger: the same model with and without the ELMo mix ---
    tagger_sentences: int = 4000  # first EWT training sentences, as bench_word2vec
    tagger_epochs: int = 5
    tagger_seeds: tuple = (0, 1, 2)
    tagger_hidden_dim: int = 64
    tagger_embedding_dim: int = 64
    tagger_char_filters: int = 32
    tagger_dropout: float = 0.2
    tagger_learning_rate: float = 2e-3
    tagger_batch_size: int = 32
    # --- --quick: same models, slices of the data ---
    quick_pretrain_sentences: int = 3000
    quick_dev_sentences: int = 300
    quick_tagger_sentences: int = 500


# ------------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------------
def load_text(config):
    wiki = word_sentences(corpora.wiki_sentences(), config.wiki_min_words, config.wiki_max_words)
    train = corpora.read_conllu(EWT_DIR / "en_ewt-ud-train.conllu.gz")
    dev = corpora.read_conllu(EWT_DIR / "en_ewt-ud-dev.conllu.gz")
    return wiki, train, dev


def sentence_ids(preprocessor, word_lists, chunk=2048):
    """Output-vocabulary ids of every sentence, as lists of int (through the `TokenLookup`)."""
    ids = []
    for start in range(0, len(word_lists), chunk):
        features = preprocessor(tf.constant([" ".join(words) for words in word_lists[start : start + chunk]]))
        lengths = tf.reduce_sum(tf.cast(features["padding_mask"], tf.int32), axis=1)
        ids += tf.RaggedTensor.from_tensor(features["token_ids"], lengths=lengths).to_list()
    return ids


def sentence_batches(preprocessor, word_lists, targets=None, batch_size=64, shuffle=False):
    """Length-sorted batches of sentences through the `TokenLookup` (`text_batches`): inputs, or (inputs, targets)."""
    data = text_batches(preprocessor, [" ".join(words) for words in word_lists], targets, batching="sorted",
                        batch_size=batch_size, shuffle=shuffle, seed=0)
    return data if targets is None else data.map(lambda inputs, tags, weights: (inputs, tags))


# ------------------------------------------------------------------------------------------------
# Count baselines on the biLM's vocabulary and targets
# ------------------------------------------------------------------------------------------------
def count_perplexities(train_ids, dev_ids, vocabulary_size, direction):
    """Dev perplexities of an add-one unigram and of an interpolated Witten-Bell bigram over it.

    Counted on `train_ids` (lists of word ids), one direction: `"forward"` predicts each word
    from the one before it, `"backward"` from the one after it. The unigram's classes are the
    ids a word can map to (OOV and the real words). Returns `(unigram, bigram, targets)`.
    """
    def turn(ids):
        return tuple(ids) if direction == "forward" else tuple(ids[::-1])

    classes = np.r_[OOV_ID, np.arange(NUM_RESERVED, vocabulary_size)]
    counts = np.bincount(np.concatenate([np.asarray(ids) for ids in train_ids]), minlength=vocabulary_size)[classes]
    unigram = np.zeros(vocabulary_size)
    unigram[classes] = (counts + 1) / (counts.sum() + len(classes))
    dev = [turn(ids) for ids in dev_ids]
    targets = [sequence[position] for sequence in dev for position in range(1, len(sequence))]
    unigram_bits = -float(np.sum(np.log2(unigram[targets])))
    bigram = benchlib.WittenBellNgram([turn(ids) for ids in train_ids], 2, base=lambda word: unigram[word])
    bigram_bits, count = bigram.bits(dev, 2)
    return 2.0 ** (unigram_bits / count), 2.0 ** (bigram_bits / count), count


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
def pretrain(config, preprocessor, sentences, epochs):
    keras.utils.set_random_seed(0)
    model = build_bidirectional_lm(
        preprocessor.vocabulary.size, preprocessor.char_vocabulary.size,
        char_embedding_dim=config.char_embedding_dim, char_filters=config.char_filters,
        hidden_dim=config.hidden_dim, num_layers=config.num_layers, dropout=config.dropout,
    )
    model.compile(keras.optimizers.Adam(config.pretrain_learning_rate, global_clipnorm=1.0))
    data = sentence_batches(preprocessor, sentences, batch_size=config.pretrain_batch_size, shuffle=True)
    words = sum(len(s) for s in sentences)
    timer = StepTimer()
    start = time.perf_counter()
    history = model.fit(data, epochs=epochs, verbose=0, shuffle=False, callbacks=[timer])
    seconds = time.perf_counter() - start
    words_per_s = timer.words_per_s(words, epochs)
    print(f"biLM: {epochs} epoch(s) over {len(sentences)} sentences ({words} words) in {seconds:.0f} s "
          f"({words_per_s:.0f} words/s after the first step); train loss per epoch "
          f"{[round(v, 3) for v in history.history['loss']]}", flush=True)
    return model, {
        "sentences": len(sentences), "words": words, "epochs": epochs, "seconds": seconds,
        "words_per_s": words_per_s,
        "history": {key: [float(v) for v in values] for key, values in history.history.items()},
    }


def perplexity_report(model, preprocessor, pretrain_sentences, dev_sentences):
    dev_data = sentence_batches(preprocessor, dev_sentences, batch_size=64)
    result = model.evaluate(dev_data, verbose=0, return_dict=True)
    train_ids, dev_ids = sentence_ids(preprocessor, pretrain_sentences), sentence_ids(preprocessor, dev_sentences)
    flat_dev = np.concatenate([np.asarray(ids) for ids in dev_ids])
    report = {"dev_sentences": len(dev_sentences), "dev_words": int(flat_dev.size),
              "dev_oov_rate": float(np.mean(flat_dev == OOV_ID))}
    for direction in ("forward", "backward"):
        unigram, bigram, targets = count_perplexities(train_ids, dev_ids, preprocessor.vocabulary.size, direction)
        report[direction] = {
            "bilm": math.exp(result[f"{direction}_loss"]), "unigram": unigram, "bigram_witten_bell": bigram,
            "targets": targets,
        }
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


def tagger_report(config, bilm, bilm_preprocessor, train, dev, epochs, seeds):
    """UPOS dev accuracy of one tagger configuration with and without the ELMo mix."""
    tags = sorted({tag for sentence in train for tag in sentence.upos})
    tag_index = {tag: i for i, tag in enumerate(tags)}
    train_words = [list(s.words) for s in train]
    # Word vocabulary: every lower-cased training word (so OOV = unseen in training); characters: the biLM's.
    preprocessor = tagger_preprocessor(train_words, bilm_preprocessor, min_count=1)
    data = sentence_batches(
        preprocessor, train_words, [[tag_index[t] for t in s.upos] for s in train],
        batch_size=config.tagger_batch_size, shuffle=True,
    )
    dev_data = sentence_batches(  # a dev tag never seen in training is an error (-1 matches nothing)
        preprocessor, [list(s.words) for s in dev], [[tag_index.get(t, -1) for t in s.upos] for s in dev], batch_size=64
    )
    train_tokens = sum(len(words) for words in train_words)

    variants = {}
    for variant in ("no_elmo", "elmo"):
        runs = []
        for seed in seeds:
            keras.utils.set_random_seed(seed)
            embedder = ElmoEmbedder.from_bilm(bilm) if variant == "elmo" else None
            model = build_tagger(
                preprocessor.vocabulary.size, len(tags), hidden_dim=config.tagger_hidden_dim,
                embedding_dim=config.tagger_embedding_dim, dropout=config.tagger_dropout,
                char_vocabulary_size=preprocessor.char_vocabulary.size, char_filters=config.tagger_char_filters,
                contextual_layers=embedder,
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
        variants[variant] = {
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
                  f"(+ ELMo mix), BiLSTM {config.tagger_hidden_dim}, dropout {config.tagger_dropout}, "
                  f"Adam {config.tagger_learning_rate}, batch {config.tagger_batch_size}"),
        "variants": variants,
    }


def estimate_full_seconds(config, pretrain_words, tagger_words, dev_words, timings, pretrain, tagger, dev_scale):
    """Seconds a full run would take at this run's measured throughput.

    Training and dev scoring scale with their words; tracing is counted once per model; the
    perplexity evaluation scales with the dev set (`dev_scale`: full dev size over this run's).
    """
    seeds = len(config.tagger_seeds)
    tagging = sum(
        seeds * (tagger_words * config.tagger_epochs / variant["train_words_per_s"]
                 + dev_words / variant["dev_words_per_s"] + variant["fixed_seconds"])
        for variant in tagger["variants"].values()
    )
    pretraining = pretrain_words * config.pretrain_epochs / pretrain["words_per_s"]
    return (timings["load_seconds"] + timings["vocabulary_seconds"] + pretraining
            + timings["perplexity_seconds"] * dev_scale + tagging)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="slices of the data, one epoch; JSON to the temp dir")
    parser.add_argument("--output", type=pathlib.Path, default=None)
    args = parser.parse_args()
    config = Config()
    if not (EWT_DIR / "en_ewt-ud-train.conllu.gz").exists():
        raise SystemExit(f"UD English EWT not found at {EWT_DIR}")
    print(f"device: {benchlib.device_description()}; load average {os.getloadavg()[0]:.2f}", flush=True)

    timings = {}
    start = time.perf_counter()
    wiki, train, dev = load_text(config)
    pretrain_sentences = wiki + [list(s.words) for s in train]  # unlabelled: the words only
    timings["load_seconds"] = time.perf_counter() - start
    start = time.perf_counter()
    # The vocabularies always come from the whole pretraining text, so --quick runs the full-size model.
    preprocessor = build_word_lookup(
        pretrain_sentences, min_count=config.min_count, max_size=config.vocabulary_size
    )
    timings["vocabulary_seconds"] = time.perf_counter() - start
    pretrain_words = sum(len(s) for s in pretrain_sentences)
    print(f"pretraining text: {len(wiki)} Wikipedia + {len(train)} EWT train sentences, {pretrain_words} words; "
          f"vocabulary {preprocessor.vocabulary.size} words, {preprocessor.char_vocabulary.size} characters", flush=True)

    dev_sentences = [list(s.words) for s in dev]
    tagger_train, tagger_dev = train[: config.tagger_sentences], dev
    epochs, tagger_epochs, seeds = config.pretrain_epochs, config.tagger_epochs, config.tagger_seeds
    if args.quick:
        used = random.Random(0).sample(pretrain_sentences, config.quick_pretrain_sentences)
        dev_sentences = dev_sentences[: config.quick_dev_sentences]
        tagger_train, tagger_dev = train[: config.quick_tagger_sentences], dev[: config.quick_dev_sentences]
        epochs, tagger_epochs, seeds = 1, 2, seeds[:1]
    else:
        used = pretrain_sentences

    bilm, pretraining = pretrain(config, preprocessor, used, epochs)
    start = time.perf_counter()
    perplexity = perplexity_report(bilm, preprocessor, used, dev_sentences)
    timings["perplexity_seconds"] = time.perf_counter() - start
    start = time.perf_counter()
    tagger = tagger_report(config, bilm, preprocessor, tagger_train, tagger_dev, tagger_epochs, seeds)
    timings["tagger_seconds"] = time.perf_counter() - start

    print(f"\nheld-out perplexity on EWT dev ({perplexity['dev_sentences']} sentences, {perplexity['dev_words']} words, "
          f"OOV rate {perplexity['dev_oov_rate']:.3f}; same vocabulary and targets for every model)")
    print(f"{'direction':12}{'biLM':>10}{'unigram':>10}{'bigram WB':>11}{'targets':>9}")
    for direction in ("forward", "backward"):
        row = perplexity[direction]
        print(f"{direction:12}{row['bilm']:>10.1f}{row['unigram']:>10.1f}{row['bigram_witten_bell']:>11.1f}"
              f"{row['targets']:>9}")
    print(f"\nUPOS tagger: {tagger['train_sentences']} EWT train sentences, {tagger['epochs']} epoch(s), seeds "
          f"{tagger['seeds']}; dev {tagger['dev_words']} words, {tagger['dev_unseen_words']} unseen in training")
    print(f"{'variant':10}{'accuracy':>18}{'unseen words':>18}")
    for name, variant in tagger["variants"].items():
        print(f"{name:10}{variant['accuracy_mean']:>10.4f} +-{variant['accuracy_std']:.4f}"
              f"{variant['unseen_accuracy_mean']:>10.4f} +-{variant['unseen_accuracy_std']:.4f}")
    for run in tagger["variants"]["elmo"]["runs"]:
        print(f"mix, seed {run['seed']}: softmax(s) = {np.round(run['mix_weights'], 3).tolist()} "
              f"(layer 0 = characters, 1..{config.num_layers} = LSTM layers), gamma = {run['mix_gamma']:.3f}")

    report = {
        "device": benchlib.device_description(), "quick": args.quick, "config": dataclasses.asdict(config),
        "pretraining": pretraining, "perplexity": perplexity, "tagger": tagger, "timings": timings,
        "goals": {
            f"{direction}_perplexity_below_{baseline}": perplexity[direction]["bilm"] < perplexity[direction][baseline]
            for direction in ("forward", "backward") for baseline in ("unigram", "bigram_witten_bell")
        },
    }
    report["goals"]["elmo_tagger_more_accurate"] = (
        tagger["variants"]["elmo"]["accuracy_mean"] > tagger["variants"]["no_elmo"]["accuracy_mean"]
    )
    if args.quick:
        full_tagger_words = sum(len(s.words) for s in train[: config.tagger_sentences])
        full_dev_words = sum(len(s.words) for s in dev)
        estimate = estimate_full_seconds(
            config, pretrain_words, full_tagger_words, full_dev_words, timings, pretraining, tagger,
            dev_scale=len(dev) / len(tagger_dev),
        )
        report["full_run_estimate_seconds"] = estimate
        print(f"\nestimated full run at this run's throughput: {estimate / 60:.1f} min "
              f"({config.pretrain_epochs} biLM epochs over {pretrain_words} words at "
              f"{pretraining['words_per_s']:.0f} words/s, {len(config.tagger_seeds)} seeds x 2 taggers x "
              f"{config.tagger_epochs} epochs over {full_tagger_words} words)")
    benchlib.write_results(report, benchlib.results_path("elmo", quick=args.quick, out=args.output))


if __name__ == "__main__":
    main()
