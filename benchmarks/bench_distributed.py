"""Multi-worker data parallelism and streaming memory for the char LM pipeline (issue 16).

Claims checked:
1. Scaling: `seqkeras train charlm` as ONE process pinned to one core (`taskset -c 0`) against TWO
   `--distribute multi-worker` processes on 127.0.0.1, each pinned to its own core (`taskset -c 0`,
   `taskset -c 1`), same global batch, seed and steps. Throughput is global training characters
   (batch x window per step) per second of training over epochs 2..E, read from the run's
   metrics.json (`history.train_seconds`: each epoch's training steps alone; epoch 1 holds the
   tracing). `tokens_per_s_wall` beside it is the time between the first and the last epoch lines
   the chief prints, so it also holds each epoch end's validation, checkpoint, best model and
   samples. Goal: scaling >= 1.6x with the final weights equal within 1e-5, checked on a short pair
   (2 x 20 steps): over hundreds of steps the last-bit differences of the summation order grow
   as any perturbation of training does, so long pairs record their final difference only as
   `max_abs_weight_diff_at_the_end`.
   The headline pair is batch 32 x window 128 (4,096 characters per step; the pipeline's
   default batch is 16), hidden 256, `--clipnorm 1`, 200 steps per epoch, measured `--repeats` times (the median is "scaling",
   every reading is kept); each reading also runs two independent single processes of half the
   batch at the same time, one per core: their summed throughput over the single run is the
   ceiling with free communication ("ceiling"; "scaling_over_ceiling" is what the all-reduce and
   the workers' lockstep leave of it). Then, once each, `--clipnorm 0` and two other batch sizes.
2. Memory: `--corpus` streaming on the bundled Wikipedia articles written to 4 gzip shards (1x)
   and the same text written 10 times to 40 shards (10x), same steps: peak RSS of the training
   process (`os.wait4`'s ru_maxrss). Goal: 10x <= 1.2 x 1x.
   `memory_bilm`: the same corpora through the streamed biLM pipeline (`train bilm --corpus GLOB`).
   `memory_word2vec`: the same corpora through `train word2vec --corpus GLOB` (one full epoch).

The CPU of this machine may be shared with other jobs while this runs; `load_average` records the
1-minute load before and after each measurement.

    python benchmarks/bench_distributed.py                 # every part (~40 minutes on 2 cores)
    python benchmarks/bench_distributed.py --only scaling  # the scaling pairs alone (~30 minutes); other entries kept
    python benchmarks/bench_distributed.py --only memory   # the memory part alone (~3 minutes); the
                                                           # other entries of the JSON are kept
    python benchmarks/bench_distributed.py --only memory_bilm   # the same for `train bilm --corpus GLOB`
    python benchmarks/bench_distributed.py --only memory_word2vec   # the same for `train word2vec --corpus GLOB`
"""

import argparse
import gzip
import json
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from benchmarks import benchlib  # noqa: E402

EPOCHS = 2  # epoch 1 holds the tracing; epochs 2..EPOCHS are measured
EQUALITY_STEPS = 20  # steps per epoch of the pair whose final weights are compared
MODEL = ["--hidden-dim", "256", "--dropout", "0", "--matmul-dtype", "float32", "--parallel-rows", "1", "--epochs", str(EPOCHS), "--checkpoint-every", "0", "--valid-article-characters", "256",
         "--sample-length", "20", "--mode", "tbptt", "--lr-schedule", "constant", "--verbose", "1", "--seed", "0"]
EPOCH_LINE = re.compile(r"^epoch (\d+)/\d+ \(step (\d+), ([0-9.]+) s\)")


def _env():
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="-1", TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_CONFIG", None)
    return env


def _start(args, cpu, log):
    command = ["taskset", "-c", str(cpu), sys.executable, "-m", "pipelines.cli", *args]
    return subprocess.Popen(command, cwd=benchlib.REPO, env=_env(), stdout=open(log, "wb"), stderr=subprocess.STDOUT)


def _wait(process, log, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            if process.returncode:
                raise RuntimeError(f"{log} exit {process.returncode}: {pathlib.Path(log).read_text()[-2000:]}")
            return usage.ru_maxrss / 1024  # KiB -> MiB
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{log}: timed out")


def _throughput(log, run_dir, characters_per_step, steps):
    """(characters per second of training over epochs 2..E, the same over the wall time between epoch lines)."""
    seconds = json.loads((run_dir / "metrics.json").read_text())["history"]["train_seconds"][1:]
    epochs = [EPOCH_LINE.match(line) for line in pathlib.Path(log).read_text().splitlines()]
    epochs = [(int(m.group(2)), float(m.group(3))) for m in epochs if m]
    (first_step, first_time), (last_step, last_time) = epochs[0], epochs[-1]
    wall = characters_per_step * (last_step - first_step) / (last_time - first_time)
    return characters_per_step * steps * len(seconds) / sum(seconds), wall


def _weights(run_dir):
    sys.path.insert(0, str(benchlib.REPO / "tests" / "distribute"))
    from distributed_processes import model_weights

    return model_weights(run_dir)


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def scaling(work, steps, measured=False, clipnorm=1.0, batch_size=32, window=128, repeat=0, ceiling=False):
    """Runs (or, with `measured`, reads the logs and run dirs a previous run left in `work`).

    With `ceiling`, also two INDEPENDENT single processes of half the batch each, at the same time
    on cores 0 and 1 (no communication, no common weights): their summed throughput over the
    single run is what two workers could reach if the all-reduce and the wait for the slower
    worker cost nothing. It is below 2 when a half batch takes more than half a step's time.
    """
    characters_per_step = batch_size * window
    args = ["train", "charlm", *MODEL, "--steps-per-epoch", str(steps), "--clipnorm", str(clipnorm),
            "--batch-size", str(batch_size), "--window", str(window)]
    load_before = os.getloadavg()[0]
    tag = f"clip{clipnorm:g}-b{batch_size}-w{window}-s{steps}-r{repeat}"
    single_log, single_dir, two_dir = work / f"single-{tag}.log", work / f"single-{tag}", work / f"two-{tag}"
    logs = [work / f"worker-{index}-{tag}.log" for index in (0, 1)]
    if not measured:
        _wait(_start([*args, "--run-dir", str(single_dir)], 0, single_log), single_log, 1200)
        ports = _free_ports(2)
        workers = ",".join(f"127.0.0.1:{port}" for port in ports)
        processes = [_start([*args, "--run-dir", str(two_dir), "--distribute", "multi-worker", "--workers",
                             workers, "--task-index", str(index)], index, logs[index]) for index in (0, 1)]
        for process, log in zip(processes, logs):
            _wait(process, log, 1200)
    single, single_wall = _throughput(single_log, single_dir, characters_per_step, steps)
    two, two_wall = _throughput(logs[0], two_dir, characters_per_step, steps)
    diff = max(float(np.max(np.abs(a - b))) for (_, a), (_, b) in zip(_weights(single_dir), _weights(two_dir)))
    extra = {}
    if ceiling:
        half = [*args[:args.index("--batch-size")], "--batch-size", str(batch_size // 2), "--window", str(window)]
        half_dirs = [work / f"half-{index}-{tag}" for index in (0, 1)]
        half_logs = [work / f"half-{index}-{tag}.log" for index in (0, 1)]
        if not measured:
            processes = [_start([*half, "--run-dir", str(half_dirs[index])], index, half_logs[index]) for index in (0, 1)]
            for process, log in zip(processes, half_logs):
                _wait(process, log, 1200)
        halves = [_throughput(log, run_dir, characters_per_step // 2, steps)[0]
                  for log, run_dir in zip(half_logs, half_dirs)]
        extra = {"independent_halves": {"tokens_per_s": round(sum(halves), 1),
                                        "per_process_tokens_per_s": [round(h, 1) for h in halves],
                                        "cores": "process 0: taskset -c 0, process 1: taskset -c 1"},
                 "ceiling": round(sum(halves) / single, 3), "scaling_over_ceiling": round(two / sum(halves), 3)}
    return {
        "single": {"tokens_per_s": round(single, 1), "tokens_per_s_wall": round(single_wall, 1),
                   "cores": "taskset -c 0"},
        "two_workers": {"tokens_per_s": round(two, 1), "tokens_per_s_wall": round(two_wall, 1),
                        "max_abs_weight_diff_vs_single": diff, "weights_compared_after_steps": EPOCHS * steps,
                        "cores": "worker 0: taskset -c 0, worker 1: taskset -c 1"},
        "scaling": round(two / single, 3), "scaling_wall": round(two_wall / single_wall, 3),
        "steps_per_epoch": steps, "steps_measured": (EPOCHS - 1) * steps, "global_batch": batch_size, "window": window,
        "hidden_dim": 256, "clipnorm": clipnorm,
        **extra, "load_average": {"before": load_before, "after": os.getloadavg()[0]},
    }


def _write_corpus(folder, copies, shards_per_copy=4):
    from seqkeras.data.corpora import wiki_articles

    texts = [article.text.replace("\n", " ") for article in wiki_articles()]
    folder.mkdir(parents=True, exist_ok=True)
    for copy in range(copies):
        for shard in range(shards_per_copy):
            with gzip.open(folder / f"part-{copy:03d}-{shard}.txt.gz", "wt", encoding="utf-8") as handle:
                handle.write("\n".join(texts[shard::shards_per_copy]) + "\n")
    return copies * sum(len(text.split()) for text in texts)


def _memory_pair(work, tag, write_corpus, command, details=lambda run_dir: {}):
    """Peak RSS of one `seqkeras train` process on a 1x and a 10x corpus (`write_corpus(folder, copies)
    -> (words, files)`; `command(glob, run_dir)` -> CLI args; `details(run_dir)` -> extra figures)."""
    load_before = os.getloadavg()[0]
    result = {}
    for name, copies in (("corpus_1x", 1), ("corpus_10x", 10)):
        corpus, run_dir = work / f"{tag}-{name}", work / f"run-{tag}-{name}"
        shutil.rmtree(corpus, ignore_errors=True)
        shutil.rmtree(run_dir, ignore_errors=True)
        words, files = write_corpus(corpus, copies)
        log = work / f"{tag}-{name}.log"
        started = time.time()
        rss = _wait(_start(command(str(corpus / "*.txt.gz"), str(run_dir)), 0, log), log, 600)
        result[name] = {"words": words, "files": files, **details(run_dir), "peak_rss_mb": round(rss, 1),
                        "seconds": round(time.time() - started, 1)}
    result["ratio_10x_over_1x"] = round(result["corpus_10x"]["peak_rss_mb"] / result["corpus_1x"]["peak_rss_mb"], 3)
    result["load_average"] = {"before": load_before, "after": os.getloadavg()[0]}
    return result


def _wiki_shards(folder, copies):
    return _write_corpus(folder, copies), 4 * copies


def memory(work):
    """`seqkeras train charlm --corpus GLOB`, hidden 64, 20 steps, on the 1x / 10x wiki shards."""
    return _memory_pair(work, "charlm", _wiki_shards, lambda corpus, run_dir: [
        "train", "charlm", "--corpus", corpus, "--run-dir", run_dir, "--hidden-dim", "64", "--window", "64",
        "--batch-size", "16", "--epochs", "1", "--steps-per-epoch", "20", "--sample-length", "20", "--verbose", "1"])


def memory_bilm(work):
    """The same 1x / 10x corpora through `seqkeras train bilm --corpus GLOB` (streamed: one vocabulary
    pass, bucketed tf.data batches), a tiny biLM for 20 steps: peak RSS of the training process."""
    def details(run_dir):
        metrics = json.loads((run_dir / "metrics.json").read_text())
        return {"train_sentences": metrics["corpus_sentences"] - metrics["heldout"]["sentences"],
                "train_words": metrics["train_words"]}

    return _memory_pair(work, "bilm", _wiki_shards, lambda corpus, run_dir: [
        "train", "bilm", "--corpus", corpus, "--run-dir", run_dir, "--hidden-dim", "16", "--char-filters", "16",
        "--num-layers", "1", "--vocabulary-size", "2000", "--epochs", "1", "--steps-per-epoch", "20",
        "--verbose", "2"], details)


def memory_word2vec(work):
    """`seqkeras train word2vec --corpus GLOB` (streamed: vocabulary pass, counting pass, skip-gram
    chunks block by block), 16-dimensional vectors, ONE full epoch (every word of the corpus is
    paired, so the corpus is a quarter of the wiki articles: 1x one shard, 10x the same shard
    written 10 times): peak RSS of the training process."""
    from seqkeras.data.corpora import wiki_articles

    texts = [article.text.replace("\n", " ") for article in wiki_articles()][::4]

    def write_corpus(folder, copies):
        folder.mkdir(parents=True)
        for copy in range(copies):
            with gzip.open(folder / f"part-{copy:03d}.txt.gz", "wt", encoding="utf-8") as handle:
                handle.write("\n".join(texts) + "\n")
        return copies * sum(len(text.split()) for text in texts), copies

    def details(run_dir):
        metrics = json.loads((run_dir / "metrics.json").read_text())
        return {"tokenised_words": metrics["words"], "vocabulary_size": metrics["vocabulary_size"]}

    return _memory_pair(work, "w2v", write_corpus, lambda corpus, run_dir: [
        "train", "word2vec", "--corpus", corpus, "--run-dir", run_dir, "--vector-size", "16", "--epochs", "1",
        "--verbose", "2"], details)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps-per-epoch", type=int, default=200, help="of the headline pair (the pipeline's default)")
    parser.add_argument("--repeats", type=int, default=3, help="readings of the headline pair")
    parser.add_argument("--pairs", default="headline,equality,clipnorm_0,batch_32_window_64,batch_64_window_128",
                        help="with the scaling part: which pairs to run (the other entries of the results file are kept)")
    parser.add_argument("--quick", action="store_true", help="tiny smoke run, written to the temp dir")
    parser.add_argument("--out", default=None)
    parser.add_argument("--scaling-from", type=pathlib.Path, default=None,
                        help="the work dir of a run whose scaling part finished: its logs and run dirs are read "
                             "again (nothing is rerun) and only the scaling entries are replaced")
    parser.add_argument("--only", choices=("scaling", "memory", "memory_bilm", "memory_word2vec"), default=None,
                        help="run only this part and replace only its entries of the results file")
    args = parser.parse_args()
    steps = 3 if args.quick else args.steps_per_epoch
    args.repeats = 1 if args.quick else args.repeats
    path = benchlib.results_path("distributed", quick=args.quick, out=args.out)
    memories = {"memory": memory, "memory_bilm": memory_bilm, "memory_word2vec": memory_word2vec}
    parts = [args.only] if args.only else ["scaling", *memories]
    if args.scaling_from:
        parts = ["scaling"]
    result = json.loads(path.read_text()) if path.exists() and (args.only or args.scaling_from) else {}
    result["device"] = benchlib.device_description()
    work = args.scaling_from or pathlib.Path(tempfile.mkdtemp(prefix="bench_distributed-"))
    started = time.time()
    try:
        for part in parts:
            part_started = time.time()
            if part == "scaling":
                measured = bool(args.scaling_from)
                pairs = args.pairs.split(",")
                if "headline" in pairs:
                    readings = [scaling(work, steps, measured=measured, repeat=repeat, ceiling=True)
                                for repeat in range(args.repeats)]
                    median = sorted(readings, key=lambda reading: reading["scaling"])[len(readings) // 2]
                    result.update(median)
                    ends = {"max_abs_weight_diff_vs_single": "max_abs_weight_diff_at_the_end",
                            "weights_compared_after_steps": "steps_at_the_end"}
                    result["two_workers"] = {ends.get(key, key): value for key, value in median["two_workers"].items()}
                    result["readings"] = [{key: reading[key] for key in ("single", "two_workers", "scaling", "scaling_wall",
                                                                        "independent_halves", "ceiling",
                                                                        "scaling_over_ceiling", "load_average")}
                                          for reading in readings]
                    result["scaling_min_max"] = [min(r["scaling"] for r in readings), max(r["scaling"] for r in readings)]
                    result["ceiling_median"] = sorted(r["ceiling"] for r in readings)[len(readings) // 2]
                if "equality" in pairs:
                    # Equal weights are checked on a short pair: over hundreds of steps the last-bit
                    # differences of the all-reduce's summation order grow as any perturbation of
                    # training does (the losses stay equal to ~3 decimals), so a long pair's final
                    # weights measure chaos, not the reduction.
                    equal = scaling(work, EQUALITY_STEPS, measured=measured)["two_workers"]
                    result.setdefault("two_workers", {}).update(
                        {key: equal[key] for key in ("max_abs_weight_diff_vs_single", "weights_compared_after_steps")})
                small = max(steps // 2, 3)  # the other pairs: half the steps, one reading each
                others = {"clipnorm_0": {"clipnorm": 0.0},
                          # half and twice the characters per step: less / more compute per all-reduce
                          "batch_32_window_64": {"window": 64}, "batch_64_window_128": {"batch_size": 64}}
                for name, options in others.items():
                    if name in pairs:
                        result[name] = scaling(work, small, measured=measured, **options)
                result["scaling_seconds"] = round(time.time() - part_started, 1)
            else:
                result[part] = memories[part](work)
                result[part]["seconds"] = round(time.time() - part_started, 1)
    finally:
        if not args.scaling_from:
            shutil.rmtree(work, ignore_errors=True)
    result["seconds"] = round(time.time() - started, 1)
    result["note"] = ("each run pinned with taskset (1 process on core 0; worker i on core i); tokens = characters; "
                      "load_average records the 1-minute load before/after each part (the 2 cores may be shared)")
    print(json.dumps(result, indent=2))
    benchlib.write_results(result, path)


if __name__ == "__main__":
    main()
