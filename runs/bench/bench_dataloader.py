"""Benchmark archerchat.data: packed tokens/s per rank (parquet -> device-ready tensor), best-fit cost per row, cropped fraction.

    python runs/bench/bench_dataloader.py                       # the default data dir (base_dir()/base_data), else the embedded corpus
    python runs/bench/bench_dataloader.py --data-dir ~/.cache/archerchat/base_data --tokenizer ~/.cache/archerchat/tokenizer
    python runs/bench/bench_dataloader.py --smoke               # tiny, on the embedded corpus, a few seconds on CPU

--tokenizer: a directory saved by archerchat.tokenizer (Tokenizer.load); by default archerchat.tokenizer.get_tokenizer()
if one has been trained, else an archerchat.tokenizer.Tokenizer (vocab --vocab) trained here on the training split of
--data-dir (documents capped at 10,000 chars, as nanochat's tok_train) and cached under base_dir()/bench/.
Goal (issue 7): >= 1M packed tok/s per rank with <= 4 tokenizer threads on the 16-core H100 box.
"""
import argparse, hashlib, json, os, platform, time
from pathlib import Path
import numpy as np
import pyarrow.parquet as pq
import torch
from archerchat.common import base_dir, autodetect_device_type
from archerchat.data import BestFitPacker, PackedLoader, split_shards
from archerchat.tokenizer import Tokenizer, TOKENIZER_FILE, get_tokenizer as trained_tokenizer

def texts_of(files, cap=None):
    for f in files:
        for t in pq.read_table(f, columns=["text"]).column("text").to_pylist():
            if t and not t.isspace(): yield t[:cap] if cap else t

def get_tokenizer(args, train_files):
    if args.tokenizer:
        p = Path(args.tokenizer).expanduser()
        return Tokenizer.load(p), f"archerchat.tokenizer {p}"
    try: return trained_tokenizer(), "archerchat.tokenizer.get_tokenizer()"
    except FileNotFoundError as e: why = f"{e}"[:100]
    key = hashlib.sha1(("|".join(f"{f}:{f.stat().st_size}" for f in train_files) + str(args.vocab)).encode()).hexdigest()[:10]
    cache = base_dir() / "bench" / f"tokenizer_{args.vocab}_{key}"
    if (cache / TOKENIZER_FILE).exists(): return Tokenizer.load(cache), f"archerchat.tokenizer (cached {cache})"
    t0 = time.time()
    tok = Tokenizer.train_from_iterator(texts_of(train_files, cap=10_000), args.vocab)
    tok.save(cache)
    return tok, f"archerchat.tokenizer, vocab {args.vocab}, trained in {time.time() - t0:.1f}s ({why})"

def naive_fill(buffer, row):
    "nanochat's linear-scan best-fit, for reference."
    cap, pos = len(row), 0
    while pos < cap:
        r, best = cap - pos, -1
        for i, d in enumerate(buffer):
            if len(d) <= r and (best < 0 or len(d) > len(buffer[best])): best = i
        if best >= 0: d = buffer.pop(best); row[pos:pos + len(d)] = d; pos += len(d)
        else: d = buffer.pop(min(range(len(buffer)), key=lambda i: len(buffer[i]))); row[pos:] = d[:r]; pos = cap

def stream(docs, seed=0):
    rng = np.random.default_rng(seed)
    while True:
        for i in rng.permutation(len(docs)): yield docs[i]

def pack_run(docs, T, buffer_size, policy, rows, warmup, naive=False):
    "Steady-state cropped fraction and seconds per row over `rows` rows after `warmup` rows."
    it, row = stream(docs), np.empty(T + 1, np.int32)
    p, buf = BestFitPacker(T + 1, buffer_size, policy), []
    for k in range(warmup + rows):
        if k == warmup: c0, e0, t0 = p.consumed, p.emitted, time.perf_counter()
        if naive:
            while len(buf) < buffer_size: buf.append(next(it))
            naive_fill(buf, row)
        else: p.fill(row, refill=lambda: p.add(next(it)))
    dt = time.perf_counter() - t0
    return (float("nan") if naive else 1 - (p.emitted - e0) / (p.consumed - c0)), dt / rows

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--tokenizer", default=None)
    ap.add_argument("--vocab", type=int, default=32768)
    ap.add_argument("--B", type=int, default=32)
    ap.add_argument("--T", type=int, default=2048)
    ap.add_argument("--threads", default="1,2,4")
    ap.add_argument("--batches", type=int, default=60, help="timed batches per thread count")
    ap.add_argument("--warmup", type=int, default=25, help="untimed batches first (the buffer fills, prefetched batches drain)")
    ap.add_argument("--buffer-size", type=int, default=1000)
    ap.add_argument("--policy", default="longfirst")
    ap.add_argument("--buffers", default="100,1000,4000", help="buffer sizes for the packer-only measurements")
    ap.add_argument("--device", default=None)
    ap.add_argument("--no-prefix", action="store_true", help="tokenize long documents in full (PackedLoader(prefix_only=False))")
    ap.add_argument("--out", default=None)
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args()
    if args.smoke:
        from archerchat.common import asset_path
        args.data_dir = args.data_dir or str(asset_path("corpus"))
        args.vocab, args.B, args.T, args.batches, args.warmup, args.threads, args.buffers = 4096, 4, 512, 10, 10, "1,2", "100,1000"
    device = torch.device(args.device or autodetect_device_type())
    train_files = split_shards("train", args.data_dir)
    tok, tok_desc = get_tokenizer(args, train_files)
    bos, B, T = tok.get_bos_token_id(), args.B, args.T
    print(f"data: {train_files[0].parent} ({len(train_files)} train shards) | tokenizer: {tok_desc} | device {device} | "
          f"{os.cpu_count()} CPUs | B={B} T={T} buffer={args.buffer_size} policy={args.policy}")
    res = dict(data_dir=str(train_files[0].parent), tokenizer=tok_desc, device=str(device), cpus=os.cpu_count(),
               host=platform.node(), B=B, T=T, buffer_size=args.buffer_size, policy=args.policy, loader={}, packer={}, cropped={})

    # 1. the whole loader: parquet -> tokenized -> packed -> staged -> device, per tokenizer thread count
    print(f"\nloader, parquet -> device (prefix_only={not args.no_prefix}); tok/s = B*T*batches / wall time, tok/CPU-s = per second of process CPU time")
    print(f"{'threads':>7} {'tok/s':>12} {'tok/CPU-s':>12} {'tokenize s':>11} {'pack s':>8} {'pack wait s':>12} {'cropped*':>9}")
    for k in [int(x) for x in args.threads.split(",")]:
        with PackedLoader(tok, B, T, data_dir=args.data_dir, device=device, tokenizer_threads=k,
                          buffer_size=args.buffer_size, policy=args.policy, prefix_only=not args.no_prefix) as L:
            for _ in range(args.warmup): next(L)               # fill the buffer; drain what was prefetched meanwhile
            s0 = dict(L.stats); t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(args.batches): x, y, st = next(L)
            if device.type == "cuda": torch.cuda.synchronize()
            dt, cpu = time.perf_counter() - t0, time.process_time() - c0
            d = {key: L.stats[key] - s0[key] for key in ("tokenize_s", "pack_s", "wait_s")}
            tps = args.batches * B * T / dt
            assert (x[:, 0] == bos).all()
            res["loader"][k] = dict(tok_per_s=tps, tok_per_cpu_s=args.batches * B * T / cpu, seconds=dt, cpu_seconds=cpu,
                                    cropped_tokenized=L.cropped_fraction, **d)
            print(f"{k:7d} {tps:12,.0f} {args.batches * B * T / cpu:12,.0f} {d['tokenize_s']:11.2f} {d['pack_s']:8.3f} "
                  f"{d['wait_s']:12.2f} {L.cropped_fraction:9.1%}")
    if not args.no_prefix: print("* of the tokens tokenized: long documents are tokenized only as far as a row can use; true crop below")

    # 2. best-fit alone, on pre-tokenized documents: cost per row and steady-state cropped fraction
    docs = []
    for f in train_files:
        texts = list(texts_of([f]))
        docs += [np.asarray(x, dtype=np.int32) for x in tok.encode(texts, prepend=bos, num_threads=4)]
        if sum(map(len, docs)) > 30_000_000: break
    lens = np.array([len(d) for d in docs])
    floor = np.maximum(lens - (T + 1), 0).sum() / lens.sum()
    res["docs"] = dict(n=len(docs), tokens=int(lens.sum()), median=float(np.median(lens)), p90=float(np.percentile(lens, 90)), floor=float(floor))
    print(f"\n{len(docs):,} docs, {lens.sum():,} tokens, median {np.median(lens):.0f}, p90 {np.percentile(lens, 90):.0f}; "
          f"floor (tokens past T+1 in longer docs): {floor:.1%}")
    warm, meas = (4_000_000, 2_000_000) if args.smoke else (16_000_000, 8_000_000)
    print(f"best-fit alone on fully tokenized documents, steady state (after >= {warm / 1e6:.0f}M tokens, over {meas / 1e6:.0f}M)")
    print(f"{'buffer':>7} {'policy':>10} {'µs/row':>8} {'naive µs/row':>13} {'cropped':>8}")
    for nb in [int(x) for x in args.buffers.split(",")]:
        for pol in ("bestfit", "longfirst"):
            # the plain rule needs long to reach its steady state (over-long documents pile up in the buffer first)
            cf, spr = pack_run(docs, T, nb, pol, rows=meas // T, warmup=(warm + 20 * nb * int(lens.mean())) // T)
            naive = pack_run(docs, T, nb, pol, rows=20, warmup=0, naive=True)[1] if pol == "bestfit" else float("nan")
            res["packer"][f"{nb}/{pol}"] = dict(us_per_row=spr * 1e6, naive_us_per_row=naive * 1e6)
            res["cropped"][f"{nb}/{pol}"] = cf
            print(f"{nb:7d} {pol:>10} {spr * 1e6:8.1f} {naive * 1e6:13.1f} {cf:8.1%}")

    out = Path(args.out) if args.out else base_dir() / "bench" / "bench_dataloader.json"
    out.parent.mkdir(parents=True, exist_ok=True); out.write_text(json.dumps(res, indent=1, default=str))
    best = max(v["tok_per_s"] for v in res["loader"].values())
    print(f"\nbest loader throughput {best:,.0f} tok/s per rank (goal >= 1,000,000 with <= 4 threads); wrote {out}")

if __name__ == "__main__":
    main()
