"""Benchmark: ArcherChat's Python BPE trainer against nanochat's `rustbpe`, side by side in one run.

    python runs/bench/bench_tokenizer.py --data-dir DIR       # the training shards of DIR (the last is validation), vocab 32768
    python runs/bench/bench_tokenizer.py --smoke              # the embedded corpus, vocab 2048 (seconds)

Each trainer runs in its own subprocess (`--child`), on the same list of texts (loaded before the clock starts):
training wall time, peak RSS of the process (ru_maxrss) and of its worker processes, and the peak proportional set
size (PSS) of the whole process tree, polled from this parent. Then, here: bytes/token of both on the validation
shard (the last shard), whether the vocabularies are identical, and tiktoken encode throughput of both encodings.
Prints a table and writes JSON to --out (default base_dir()/bench/tokenizer.json).
"""
import argparse, json, os, pickle, resource, statistics, subprocess, sys, tempfile, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from archerchat.common import base_dir, asset_path
from archerchat.tokenizer import Tokenizer, iter_texts, bytes_per_token, train_rustbpe
from archerchat.data import split_shards


def child(args):
    "Train one tokenizer; write its ranks and measurements to args.result."
    train_shards = split_shards("train", args.data_dir)
    texts = list(iter_texts(train_shards, args.max_chars, args.doc_cap))
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    def cpu():
        return sum(r.ru_utime + r.ru_stime for r in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)))
    c0, t0 = cpu(), time.perf_counter()
    if args.child == "rustbpe":
        tok = train_rustbpe(iter(texts), args.vocab_size)
        info = {}
    else:
        tok = Tokenizer.train_from_iterator(iter(texts), args.vocab_size, num_proc=args.num_proc)
        info = dict(tok.train_info)
    dt, dcpu = time.perf_counter() - t0, cpu() - c0
    res = dict(trainer=args.child, train_s=dt, cpu_s=dcpu, n_chars=sum(map(len, texts)), n_docs=len(texts),
               rss_after_loading_text_mb=rss0,
               peak_rss_main_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
               peak_rss_workers_mb=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
               ranks=tok.ranks, **info)
    with open(args.result, "wb") as f: pickle.dump(res, f)


def tree_pss_mb(pid):
    "Sum of PSS (MB) over a process and its children, or None if unreadable."
    try:
        import psutil
        p = psutil.Process(pid)
        procs = [p] + p.children(recursive=True)
        return sum(q.memory_full_info().pss for q in procs) / 2**20
    except Exception:
        return None


def run_child(name, args, tmp):
    out = Path(tmp) / f"{name}.pkl"
    cmd = [sys.executable, __file__, "--child", name, "--result", str(out), "--vocab-size", str(args.vocab_size),
           "--doc-cap", str(args.doc_cap), "--data-dir", str(args.data_dir)]
    if args.max_chars: cmd += ["--max-chars", str(args.max_chars)]
    if args.num_proc: cmd += ["--num-proc", str(args.num_proc)]
    proc = subprocess.Popen(cmd)
    peak_pss = 0.0
    while proc.poll() is None:
        v = tree_pss_mb(proc.pid)
        if v: peak_pss = max(peak_pss, v)
        time.sleep(0.25)
    if proc.returncode != 0: raise RuntimeError(f"{name} child failed with exit code {proc.returncode}")
    with open(out, "rb") as f: res = pickle.load(f)
    res["peak_tree_pss_mb_polled"] = peak_pss
    return res


def encode_throughput(tok, texts, reps=3, num_threads=8):
    n_bytes = sum(len(t.encode("utf-8", "replace")) for t in texts)
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter(); tok.encode(texts, num_threads=num_threads); best = min(best, time.perf_counter() - t0)
    return n_bytes / best / 1e6


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=None, help="parquet shards (default: the default data dir, else the embedded corpus)")
    ap.add_argument("--vocab-size", type=int, default=32768)
    ap.add_argument("--doc-cap", type=int, default=10_000)
    ap.add_argument("--max-chars", type=int, default=None)
    ap.add_argument("--num-proc", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=3, help="alternate the two trainers this many times; report the median")
    ap.add_argument("--smoke", action="store_true", help="embedded corpus, vocab 2048, one repeat")
    ap.add_argument("--out", default=None)
    ap.add_argument("--child", choices=["ours", "rustbpe"], help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child: return child(args)
    if args.smoke: args.data_dir, args.vocab_size, args.repeats = str(asset_path("corpus")), 2048, 1
    train_shards, (val_shard,) = split_shards("train", args.data_dir), split_shards("val", args.data_dir)
    args.data_dir = str(train_shards[0].parent)
    runs = {"rustbpe": [], "ours": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for name in ("rustbpe", "ours"):
                res = run_child(name, args, tmp)
                runs[name].append(res)
                print(f"[{r + 1}/{args.repeats}] {name:8s} {res['train_s']:6.2f} s  peak RSS main {res['peak_rss_main_mb']:6.0f} MB"
                      f"  workers {res['peak_rss_workers_mb']:6.0f} MB  tree PSS {res['peak_tree_pss_mb_polled']:6.0f} MB", flush=True)
    val = list(iter_texts([val_shard]))
    summary = {}
    toks = {name: Tokenizer(rs[-1]["ranks"]) for name, rs in runs.items()}
    for name, rs in runs.items():
        med = sorted(rs, key=lambda x: x["train_s"])[(len(rs) - 1) // 2]        # the median run (lower median)
        s = dict(train_s_median=med["train_s"], train_s_all=[round(x["train_s"], 3) for x in rs],
                 cpu_s_median=statistics.median(x["cpu_s"] for x in rs), train_s_min=min(x["train_s"] for x in rs),
                 peak_rss_main_mb=max(x["peak_rss_main_mb"] for x in rs), peak_rss_workers_mb=max(x["peak_rss_workers_mb"] for x in rs),
                 peak_tree_pss_mb=max(x["peak_tree_pss_mb_polled"] for x in rs),
                 rss_after_loading_text_mb=rs[0]["rss_after_loading_text_mb"],
                 bytes_per_token=bytes_per_token(toks[name], val), encode_MB_per_s=encode_throughput(toks[name], val))
        if name == "ours":
            for k in ("split_count_s", "merge_s", "index_s", "merge_loop_s", "n_distinct_chunks", "n_chunks", "n_candidates", "n_heap_pops"):
                s[k] = med[k]                                                   # breakdown of the median run
        summary[name] = s
    o, rb = summary["ours"], summary["rustbpe"]
    report = dict(data_dir=args.data_dir, val_shard=str(val_shard), vocab_size=args.vocab_size, doc_cap=args.doc_cap,
                  n_chars=runs["ours"][0]["n_chars"], n_docs=runs["ours"][0]["n_docs"], cpu_count=os.cpu_count(),
                  time_ratio=o["train_s_median"] / rb["train_s_median"], time_ratio_best=o["train_s_min"] / rb["train_s_min"],
                  cpu_ratio=o["cpu_s_median"] / rb["cpu_s_median"],
                  compression_ratio=o["bytes_per_token"] / rb["bytes_per_token"],
                  identical_vocab=toks["ours"].ranks == toks["rustbpe"].ranks, **summary)
    print(f"\n{report['n_chars']:,} chars ({report['n_docs']} docs, cap {args.doc_cap}) from {args.data_dir}, vocab {args.vocab_size}, {os.cpu_count()} cores")
    print(f"{'':10s} {'train s':>8s} {'best s':>7s} {'CPU s':>6s} {'RSS main':>9s} {'RSS wrk':>8s} {'tree PSS':>9s} {'bytes/tok':>10s} {'enc MB/s':>9s}")
    for name, s in summary.items():
        print(f"{name:10s} {s['train_s_median']:8.2f} {s['train_s_min']:7.2f} {s['cpu_s_median']:6.2f} {s['peak_rss_main_mb']:9.0f} {s['peak_rss_workers_mb']:8.0f} "
              f"{s['peak_tree_pss_mb']:9.0f} {s['bytes_per_token']:10.4f} {s['encode_MB_per_s']:9.1f}")
    print(f"ours/rustbpe time {report['time_ratio']:.2f}x (median), {report['time_ratio_best']:.2f}x (best), CPU {report['cpu_ratio']:.2f}x; ours: split+count {o['split_count_s']:.2f} s, pair index {o['index_s']:.2f} s, "
          f"merge loop {o['merge_loop_s']:.2f} s, rest {o['train_s_median'] - o['split_count_s'] - o['merge_s']:.2f} s "
          f"({o['n_chunks']:,} chunks, {o['n_distinct_chunks']:,} distinct); compression ratio {report['compression_ratio']:.4f}; "
          f"identical vocab: {report['identical_vocab']}")
    out = Path(args.out) if args.out else base_dir() / "bench" / "tokenizer.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
