"""Inference engine benchmark: prefill and decode throughput of archerchat.engine.Engine, peak memory, and batch-1
decode against the HBM roofline.

    python runs/bench/bench_engine.py                          # CUDA box: d20, random weights, batch 1 8 32 128, graph + eager
    python runs/bench/bench_engine.py --compile                # also torch.compile the captured decode step
    python runs/bench/bench_engine.py --batch-sizes 1 --modes graph eager static --prompt-len 128 --gen-len 512
    python runs/bench/bench_engine.py --smoke                  # tiny CPU run that checks the script works
    python runs/bench/bench_engine.py --compile --profile      # + torch.profiler tables (CUDA kernels) of batch-1 decode and prefill
    python runs/bench/bench_engine.py --compile --compile-option inductor.coordinate_descent_tuning=True   # a compiler option
    python runs/bench/bench_engine.py --compile --no-attention-kernel      # decode attention with SDPA instead of Triton (14)

Prefill goes through Engine.prefill (compiled, generic in the prompt length, with --compile). For the graph decoders
`graph ms` is the GPU time of one replayed step alone (replays queued back to back), against `ms/step` for the whole
engine loop (sampling inside the graph, the host's copy of the ids, the row bookkeeping).

Decode rows never stop (the special tokens are mapped outside the vocabulary), so every row decodes --gen-len tokens
from a --prompt-len prompt prefilled once (Engine's num_samples path). Each (mode, batch) runs once to capture graphs
and warm up, then is timed from the first yielded token to the last, sampling included (temperature --temperature,
top-k --top-k; 0 = greedy).

Roofline (batch-1 decode is memory-bound): bytes one step must read = every matmul weight in the compute dtype
+ one embedding row per embedding table + the KV cache a step attends to at the mean context (sliding-window layers
read only their window: GPT.kv_read_bytes). Bandwidth = measured device-to-device copy (bytes read + written / time).
roofline tok/s = bandwidth / bytes; achieved = measured tok/s / roofline tok/s. Goals (issue 9): batch-1 >= 50% of the
roofline; batch 128 >= 30x batch-1 tokens/s. Prints a table and writes JSON to --out
(default: <base_dir>/bench/engine.json).
"""
import argparse, json, os, sys, time
import torch

from archerchat.common import base_dir, setup_logging, atomic_write
from archerchat.gpt import GPT, GPTConfig
from archerchat.engine import Engine, ByteTokenizer, cast_for_inference


def depth_config(depth, seq_len, vocab_size, pattern="SSSL", head_dim=128, aspect=64):
    "nanochat's shape rule: n_embd = 64 x depth rounded up to a multiple of 128, heads of 128 channels."
    n_embd = -(-aspect * depth // head_dim) * head_dim
    n_head = n_embd // head_dim
    return GPTConfig(sequence_len=seq_len, vocab_size=vocab_size, n_layer=depth, n_head=n_head, n_kv_head=n_head,
                     n_embd=n_embd, window_pattern=pattern)


class NoStopTokenizer(ByteTokenizer):
    "Special tokens mapped beyond the vocabulary: no row ever stops or calls the tool, every step decodes."
    def __init__(self, vocab_size): self.vocab_size = vocab_size
    def encode_special(self, name): return self.vocab_size + self.SPECIALS.index(name)
    def get_bos_token_id(self): return self.vocab_size


def sync(device):
    if device.type == "cuda": torch.cuda.synchronize()


def copy_bandwidth(device, nbytes, reps=20):
    "Bytes moved (read + written) per second by a device-to-device copy of `nbytes`."
    src = torch.empty(nbytes, dtype=torch.uint8, device=device).random_(0, 255)
    dst = torch.empty_like(src)
    for _ in range(3): dst.copy_(src)
    sync(device)
    t0 = time.perf_counter()
    for _ in range(reps): dst.copy_(src)
    sync(device)
    return 2 * nbytes * reps / (time.perf_counter() - t0)


def graph_seconds(call, n, reps=10):
    """Seconds per call of `call(i)` for i in range(n), the n calls captured back to back in one CUDA graph (as a
    decode step runs its kernels; give each i its own weights or cache so that nothing is served from L2)."""
    for i in range(min(2, n)): call(i)
    torch.cuda.synchronize()
    side = torch.cuda.Stream(); side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):   # warm-up outside the capture (allocations, autotuning, lazy init)
        for i in range(n): call(i)
    torch.cuda.current_stream().wait_stream(side)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for i in range(n): call(i)
    g.replay(); torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(reps): g.replay()
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / reps / n


def weight_bytes_per_token(model):
    "Bytes of weights one decode step reads: every Linear weight (in its stored dtype) + one row of each embedding table."
    lin = sum(m.weight.numel() * m.weight.element_size() for m in model.modules() if isinstance(m, torch.nn.Linear))
    emb = sum(m.weight.size(1) * m.weight.element_size() for m in model.modules() if isinstance(m, torch.nn.Embedding))
    return lin + emb


def bench_prefill(model, engine, lengths, reps, device, mode):
    rows = []
    g = torch.Generator().manual_seed(0)
    for L in lengths:
        if L >= engine.max_seq_len: continue
        toks = torch.randint(0, model.config.vocab_size, (L,), generator=g).tolist()
        t0 = time.perf_counter(); engine.prefill(toks); sync(device); first = time.perf_counter() - t0
        engine.prefill(toks); sync(device)
        if device.type == "cuda": torch.cuda.reset_peak_memory_stats(device)
        t0 = time.perf_counter()
        for _ in range(reps): engine.prefill(toks)
        sync(device)
        dt = (time.perf_counter() - t0) / reps
        rows.append(dict(mode=mode, tokens=L, ms=dt * 1e3, tok_per_s=L / dt, tflops=model.estimate_prefill_flops(L) / dt / 1e12,
                         first_s=first, peak_gb=torch.cuda.max_memory_allocated(device) / 1e9 if device.type == "cuda" else None))
    return rows


@torch.inference_mode()   # the decoder's buffers are inference tensors
def graph_replay_ms(engine, reps=50):
    "GPU time of one step of the decoder's most recently used graph: `reps` replays back to back (state restored)."
    dec = engine._decoder
    if not getattr(dec, "graphs", None): return None
    graph, _ = list(dec.graphs.values())[-1]
    saved = dec.cache.cache_seqlens.clone(), dec.cache.prev_embedding.clone(), dec.ids.clone()
    graph.replay(); torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(reps): graph.replay()
    torch.cuda.synchronize()
    dt = (time.perf_counter() - t0) / reps
    dec.cache.cache_seqlens.copy_(saved[0]); dec.cache.prev_embedding.copy_(saved[1]); dec.ids.copy_(saved[2])
    return dt * 1e3


def profile_table(fn, title, steps_note, row_limit=25, sequence=0):
    """Run `fn` under torch.profiler (CPU + CUDA) and print the kernels by total CUDA time; with `sequence`, also the
    first `sequence` kernels in the order they ran (name, start relative to the first, duration)."""
    from torch.profiler import profile, ProfilerActivity
    try:
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof: fn(); torch.cuda.synchronize()
    except Exception as e: print(f"\n=== profile: {title}: failed ({type(e).__name__}: {str(e)[:200]})"); return
    ka = prof.key_averages()
    kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    gpu_us = sum(e.device_time for e in kernels) if kernels and hasattr(kernels[0], "device_time") else float("nan")
    print(f"\n=== profile: {title}: {len(kernels)} CUDA kernels/copies, {gpu_us / 1e3:.2f} ms of GPU time ({steps_note})")
    if row_limit: print(ka.table(sort_by="cuda_time_total", row_limit=row_limit, max_name_column_width=70))
    if sequence and kernels:
        ks = sorted(kernels, key=lambda e: e.time_range.start)
        t0 = ks[0].time_range.start
        print(f"\n=== the first {sequence} kernels in order (start us, duration us, name)")
        for e in ks[:sequence]: print(f"{e.time_range.start - t0:9.1f} {e.device_time:7.2f}  {e.name[:110]}")


def bench_decode(model, tok, mode, batch, prompt_len, gen_len, temperature, top_k, compile_, device, profile=False,
                 attention_kernel=True, gemv_kernel=True, topk_kernel=True, fused_layers=True):
    engine = Engine(model, tok, tool=None, max_seq_len=prompt_len + gen_len + 1, decode=mode, compile=compile_,
                    attention_kernel=attention_kernel, gemv_kernel=gemv_kernel, topk_kernel=topk_kernel,
                    fused_layers=fused_layers)
    prompt = torch.randint(0, model.config.vocab_size, (prompt_len,), generator=torch.Generator().manual_seed(1)).tolist()
    kw = dict(num_samples=batch, max_tokens=gen_len, temperature=temperature, top_k=top_k or None)
    t0 = time.perf_counter()
    for _ in engine.generate(prompt, **kw): pass           # warm-up: graph capture / compilation happen here
    first_run = time.perf_counter() - t0
    if device.type == "cuda": torch.cuda.reset_peak_memory_stats(device)
    steps, t_first = 0, None
    for _ in engine.generate(prompt, **kw):
        if t_first is None: sync(device); t_first = time.perf_counter()
        steps += 1
    sync(device)
    dt = (time.perf_counter() - t_first) / max(1, steps - 1)   # per decode step (the first token came from the prefill)
    out = dict(mode=mode + ("+compile" if compile_ else ""), batch=batch, steps=steps, ms_per_step=dt * 1e3,
               tok_per_s=batch / dt, warmup_s=first_run, graph_ms=graph_replay_ms(engine) if mode == "graph" else None,
               peak_gb=torch.cuda.max_memory_allocated(device) / 1e9 if device.type == "cuda" else None)
    if profile:
        n = 20
        def some_steps():
            for i, _ in enumerate(engine.generate(prompt, **{**kw, "max_tokens": n})): pass
        profile_table(some_steps, f"decode {out['mode']} batch {batch}", f"one prefill + {n - 1} decode steps")
        dec = engine._decoder
        if getattr(dec, "graphs", None):   # kernels of the captured function, run outside its graph
            n_keys, sampling = list(dec.graphs)[-1]
            @torch.inference_mode()
            def direct(reps=5):
                c = dec.cache
                saved = c.cache_seqlens.clone(), c.prev_embedding.clone(), dec.ids.clone()
                c.attend_len = dec._bound(n_keys)
                for _ in range(reps):
                    dec.run(sampling)
                    c.cache_seqlens.copy_(saved[0]); c.prev_embedding.copy_(saved[1]); dec.ids.copy_(saved[2])
            direct()
            profile_table(lambda: direct(1), f"decode {out['mode']} batch {batch}, one step run directly", "in order",
                          row_limit=0, sequence=70)
            profile_table(direct, f"decode {out['mode']} batch {batch}, the captured step run directly", "5 steps, attention over "
                          f"{n_keys} positions; host launch gaps included, kernel times are what the graph replays", row_limit=40)
    del engine
    if device.type == "cuda": torch.cuda.empty_cache()
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--depth", type=int, default=20)
    ap.add_argument("--seq-len", type=int, default=2048)
    ap.add_argument("--vocab-size", type=int, default=32768)
    ap.add_argument("--pattern", default="SSSL")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32, 128])
    ap.add_argument("--modes", nargs="+", default=None, help="decoders to time (eager, static, graph); default graph + eager on CUDA")
    ap.add_argument("--compile", action="store_true", help="torch.compile the decode step before capturing it (graph mode)")
    ap.add_argument("--prompt-len", type=int, default=512)
    ap.add_argument("--gen-len", type=int, default=256)
    ap.add_argument("--prefill-lens", type=int, nargs="+", default=[512, 2048])
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--top-k", type=int, default=50)
    ap.add_argument("--copy-mb", type=int, default=2048, help="size of the copy that measures bandwidth")
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak (H100 SXM: 989), for prefill MFU")
    ap.add_argument("--device", default=None)
    ap.add_argument("--out", default=None)
    ap.add_argument("--smoke", action="store_true", help="tiny CPU configuration, to check the script runs")
    ap.add_argument("--profile", action="store_true", help="print torch.profiler tables for batch-1 decode and for prefill (CUDA)")
    ap.add_argument("--profile-batch", type=int, default=1, help="the decode batch size --profile profiles")
    ap.add_argument("--compile-batch-sizes", type=int, nargs="+", default=None, help="batch sizes for graph+compile (default: --batch-sizes)")
    ap.add_argument("--compile-option", action="append", default=[], metavar="MOD.NAME=VALUE",
                    help="set a compiler option first, e.g. inductor.coordinate_descent_tuning=True (repeatable)")
    ap.add_argument("--no-attention-kernel", action="store_true", help="decode attention with SDPA, not the Triton kernel (14)")
    ap.add_argument("--no-gemv-kernel", action="store_true", help="compiled batch-1 one-row matmuls as the compiler's reductions, not the Triton GEMV (14)")
    ap.add_argument("--no-topk-kernel", action="store_true", help="sample top-k with torch.topk, not the Triton top-k (14)")
    ap.add_argument("--no-fused-layers", action="store_true", help="batch-1 graph decode through the model's own blocks, not the fused layers (14)")
    ap.add_argument("--skip-prefill", action="store_true", help="time decoding only")
    ap.add_argument("--compiled-only", action="store_true", help="with --compile, time only the compiled graph decoder")
    ap.add_argument("--eager-batch-sizes", type=int, nargs="+", default=None, help="batch sizes for the eager/static modes (default: --batch-sizes)")
    args = ap.parse_args(argv)
    setup_logging()
    if args.compile_option:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from bench_train import set_compile_option
        for kv in args.compile_option: set_compile_option(kv)
    if args.smoke:
        args.depth, args.seq_len, args.vocab_size, args.batch_sizes = 2, 128, 512, [1, 4]
        args.prompt_len, args.gen_len, args.prefill_lens, args.copy_mb = 32, 16, [32, 128], 64
        args.device = args.device or "cpu"
        args.modes = args.modes or ["eager", "static"]
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    modes = args.modes or (["graph", "eager"] if device.type == "cuda" else ["eager", "static"])
    if args.smoke: cfg = GPTConfig(sequence_len=args.seq_len, vocab_size=args.vocab_size, n_layer=2, n_head=2, n_kv_head=2, n_embd=64)
    else: cfg = depth_config(args.depth, args.seq_len, args.vocab_size, args.pattern)
    if args.prompt_len + args.gen_len + 1 > 10 * cfg.sequence_len: sys.exit("prompt + generation exceed the rotary range (10 x seq-len)")
    with torch.device("meta"): model = GPT(cfg)
    model.to_empty(device=device)
    model.init_weights()
    cast_for_inference(model.eval())
    dtype = model.compute_dtype
    tok = NoStopTokenizer(cfg.vocab_size)

    bw = copy_bandwidth(device, args.copy_mb << 20)
    print(f"device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'}), dtype {dtype}, "
          f"d{cfg.n_layer} n_embd {cfg.n_embd} windows {sorted(set(model.window_sizes))}, copy bandwidth {bw / 1e9:.0f} GB/s")

    max_len = max(args.prefill_lens + [args.prompt_len + args.gen_len]) + 1
    pre = []
    for compile_ in ([] if args.skip_prefill else [False, True] if args.compile else [False]):
        eng = Engine(model, tok, tool=None, max_seq_len=max_len, decode="eager", compile=compile_)
        pre += bench_prefill(model, eng, args.prefill_lens, 3 if args.smoke else 10, device, "compiled" if compile_ else "eager")
        if args.profile and device.type == "cuda":
            L = args.prefill_lens[0]
            toks = list(range(L))
            profile_table(lambda: eng.prefill(toks), f"prefill {L} tokens ({'compiled' if compile_ else 'eager'})", "one prefill")
        del eng
    print(f"\n{'prefill':>9} {'tokens':>7} {'ms':>9} {'tok/s':>11} {'TFLOP/s':>8} {'MFU':>6} {'peak GB':>8} {'first s':>8}")
    for r in pre:
        r["mfu"] = r["tflops"] / args.peak_tflops
        print(f"{r['mode']:>9} {r['tokens']:>7} {r['ms']:>9.2f} {r['tok_per_s']:>11,.0f} {r['tflops']:>8.1f} {r['mfu']:>6.1%} "
              f"{r['peak_gb'] if r['peak_gb'] is not None else float('nan'):>8.2f} {r['first_s']:>8.1f}")

    mean_ctx = args.prompt_len + args.gen_len // 2
    bytes_tok = weight_bytes_per_token(model) + model.kv_read_bytes(mean_ctx, dtype)
    roofline = bw / bytes_tok
    dec = []
    print(f"\n{'decode mode':>14} {'batch':>6} {'ms/step':>9} {'graph ms':>9} {'tok/s':>11} {'x batch-1':>9} {'roofline':>9} {'peak GB':>8} {'warm-up s':>9}")
    for mode in modes:
        for compile_ in (([True] if args.compiled_only else [False, True]) if args.compile and mode == "graph" else [False]):
            base = None
            sizes = args.batch_sizes
            if compile_ and args.compile_batch_sizes: sizes = args.compile_batch_sizes
            if mode != "graph" and args.eager_batch_sizes: sizes = args.eager_batch_sizes
            for B in sizes:
                try:
                    r = bench_decode(model, tok, mode, B, args.prompt_len, args.gen_len, args.temperature, args.top_k, compile_, device,
                                     profile=args.profile and B == args.profile_batch and mode == "graph",
                                     attention_kernel=not args.no_attention_kernel, gemv_kernel=not args.no_gemv_kernel,
                                     topk_kernel=not args.no_topk_kernel, fused_layers=not args.no_fused_layers)
                except torch.cuda.OutOfMemoryError as e:
                    print(f"{mode:>14} {B:>6}  out of memory ({str(e)[:60]})"); torch.cuda.empty_cache(); continue
                except Exception as e:   # e.g. capture unsupported: report and go on with the other configurations
                    print(f"{mode:>14} {B:>6}  failed: {type(e).__name__}: {str(e)[:200]}"); continue
                if B == 1: base = r["tok_per_s"]; r["roofline_fraction"] = r["tok_per_s"] / roofline
                r["vs_batch1"] = r["tok_per_s"] / base if base else None
                dec.append(r)
                gm = r["graph_ms"]
                print(f"{r['mode']:>14} {B:>6} {r['ms_per_step']:>9.3f} {gm if gm is not None else float('nan'):>9.3f} {r['tok_per_s']:>11,.0f} "
                      f"{r['vs_batch1'] if r['vs_batch1'] else float('nan'):>8.1f}x "
                      f"{r.get('roofline_fraction', float('nan')):>9.1%} "
                      f"{r['peak_gb'] if r['peak_gb'] is not None else float('nan'):>8.2f} {r['warmup_s']:>9.1f}")
    print(f"\nroofline (batch 1, mean context {mean_ctx}): {bytes_tok / 1e6:.1f} MB/token "
          f"(weights {weight_bytes_per_token(model) / 1e6:.1f} + KV {model.kv_read_bytes(mean_ctx, dtype) / 1e6:.1f}) "
          f"over {bw / 1e9:.0f} GB/s = {roofline:,.0f} tok/s ({1e3 / roofline:.3f} ms/token); goals: batch-1 >= 50%, batch 128 >= 30x")

    report = dict(device=str(device), device_name=torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                  torch=torch.__version__, dtype=str(dtype), config=cfg.__dict__, args=vars(args), copy_bandwidth_gbs=bw / 1e9,
                  roofline=dict(mean_context=mean_ctx, bytes_per_token=bytes_tok, tok_per_s=roofline),
                  prefill=pre, decode=dec)
    out = args.out or str(base_dir() / "bench" / "engine.json")
    with atomic_write(out, "w") as f: json.dump(report, f, indent=1, default=str)
    print(f"wrote {out}")
    return report


if __name__ == "__main__":
    main()
