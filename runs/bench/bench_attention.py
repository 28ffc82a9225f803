"""Attention backends benchmark: training throughput (tokens/s, MFU) of the compiled GPT per attention backend,
time of one attention layer vs window size, and the model's analytic inference costs.

    python runs/bench/bench_attention.py                       # on a CUDA box: d12 and d20, T=2048, SSSL, every backend
    python runs/bench/bench_attention.py --depths 20 --backends flex fa3 --batch-size 16
    python runs/bench/bench_attention.py --smoke               # tiny CPU run that checks the script works

Throughput is forward+backward of `torch.compile(model)` with no optimizer step (the optimizer is the same for
every backend). MFU = estimate_flops() x tokens/s / peak, with the bf16 dense peak of an H100 SXM (989 TFLOP/s) by
default; estimate_flops() counts attention only inside each layer's window, as nanochat does. Prints a table and
writes JSON to --out (default: <base_dir>/bench/attention.json).
"""
import argparse, json, os, statistics, sys, time
import torch

from archerchat.common import base_dir, compute_dtype, setup_logging, atomic_write
from archerchat.gpt import GPT, GPTConfig, attention, choose_backends, load_fa3, flex_block_mask


def depth_config(depth, seq_len, pattern, vocab_size, backend, head_dim=128, aspect=64):
    "nanochat's shape rule: n_embd = 64 x depth, heads of 128 channels."
    n_embd = aspect * depth
    n_head = max(1, n_embd // head_dim)
    return GPTConfig(sequence_len=seq_len, vocab_size=vocab_size, n_layer=depth, n_head=n_head, n_kv_head=n_head,
                     n_embd=n_embd, window_pattern=pattern, attn_backend=backend)


def sync(device):
    if device.type == "cuda": torch.cuda.synchronize()


def backend_available(backend, device, dtype):
    try: choose_backends(backend, device, dtype); return True, ""
    except RuntimeError as e: return False, str(e)


def bench_model(cfg, device, dtype, batch_size, steps, warmup, compile_, peak_flops):
    with torch.device("meta"): model = GPT(cfg)
    model.to_empty(device=device)
    model.init_weights(dtype)
    flops_per_token = model.estimate_flops()
    run = torch.compile(model, dynamic=False) if compile_ else model
    B, T = batch_size, cfg.sequence_len
    g = torch.Generator(device=device).manual_seed(0)
    x = torch.randint(0, cfg.vocab_size, (B, T), device=device, generator=g)
    y = torch.randint(0, cfg.vocab_size, (B, T), device=device, generator=g)
    cpu_flex = device.type == "cpu" and "flex" in (model.config.attn_backend, os.environ.get("ARCHERCHAT_ATTN"))
    def step():
        if cpu_flex:   # FlexAttention has no CPU backward: time the forward only
            with torch.no_grad(): return run(x, targets=y)
        loss = run(x, targets=y)
        loss.backward()
        for p in model.parameters(): p.grad = None
        return loss
    if device.type == "cuda": torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter(); step(); sync(device); first = time.perf_counter() - t0
    for _ in range(max(0, warmup - 1)): step()
    sync(device)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter(); step(); sync(device); times.append(time.perf_counter() - t0)
    dt = statistics.median(times)
    tok_s = B * T / dt
    res = dict(depth=cfg.n_layer, n_embd=cfg.n_embd, n_head=cfg.n_head, seq_len=T, pattern=cfg.window_pattern,
               backend=cfg.attn_backend, used=getattr(model, "attn_backend_info", ""), batch_size=B,
               step_s=dt, tok_per_s=tok_s, flops_per_token=flops_per_token,
               mfu=flops_per_token * tok_s / peak_flops, first_step_s=first,
               forward_only=cpu_flex, params=sum(p.numel() for p in model.parameters()))
    if device.type == "cuda": res["peak_mem_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    del run, model
    if device.type == "cuda": torch.cuda.empty_cache()
    return res


def bench_layer(backend, B, T, H, D, window, device, dtype, reps):
    "Median time (ms) of one attention layer, forward+backward (forward only for Flex on CPU)."
    q, k, v = (torch.randn(B, T, H, D, device=device, dtype=dtype) for _ in range(3))
    backward = not (backend == "flex" and device.type == "cpu")
    if backward: q.requires_grad_(); k.requires_grad_(); v.requires_grad_()
    bm = flex_block_mask(T, window, device) if backend == "flex" else None
    def once():
        y = attention(q, k, v, window, backend, bm)
        if backward: y.backward(torch.ones_like(y))
    for _ in range(3): once()
    sync(device)
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter(); once(); sync(device); ts.append(time.perf_counter() - t0)
    return statistics.median(ts) * 1e3


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--depths", type=int, nargs="+", default=[12, 20])
    ap.add_argument("--seq-len", type=int, default=2048)
    ap.add_argument("--pattern", default="SSSL")
    ap.add_argument("--vocab-size", type=int, default=32768)
    ap.add_argument("--backends", nargs="+", default=["auto", "sdpa", "flex", "fa2", "fa3"])
    ap.add_argument("--batch-size", type=int, default=32, help="device batch (rows of seq-len tokens); halved on OOM")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--no-models", action="store_true", help="skip the whole-model runs (section 1): layers and costs only")
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak of the GPU (H100 SXM: 989)")
    ap.add_argument("--layer-windows", type=int, nargs="+", default=[128, 256, 512, 1024, 2048])
    ap.add_argument("--layer-batch", type=int, default=32)
    ap.add_argument("--out", default=None)
    ap.add_argument("--smoke", action="store_true", help="tiny CPU configuration, to check the script runs")
    args = ap.parse_args(argv)
    setup_logging()
    if args.smoke:
        args.depths, args.seq_len, args.batch_size, args.steps, args.warmup = [2], 256, 2, 2, 1
        args.backends = [b for b in args.backends if b not in ("fa3", "fa2")] or ["sdpa"]
        args.layer_windows, args.layer_batch, args.vocab_size, args.no_compile = [32, 64, 128, 256], 1, 512, True
        device = torch.device("cpu")
    else:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if device.type == "cpu": print("warning: no GPU; numbers are meaningless (use --smoke for a quick check)", file=sys.stderr)
    dtype = compute_dtype(device)
    peak = args.peak_tflops * 1e12
    out = args.out or str(base_dir() / "bench" / "attention.json")
    fa3_ok, fa3_why = load_fa3()[0] is not None, load_fa3()[1]
    print(f"device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'}), compute dtype {dtype}, "
          f"torch {torch.__version__}; FA3: {'yes' if fa3_ok else 'no'} ({fa3_why})")
    report = dict(device=str(device), gpu=torch.cuda.get_device_name(device) if device.type == "cuda" else None,
                  torch=torch.__version__, dtype=str(dtype), peak_tflops=args.peak_tflops, fa3=fa3_why,
                  smoke=args.smoke, models=[], layers=[], inference=[], skipped=[])

    # 1. whole model, forward+backward
    for depth in ([] if args.no_models else args.depths):
        for backend in args.backends:
            ok, why = backend_available(backend, device, dtype)
            if not ok:
                report["skipped"].append(dict(depth=depth, backend=backend, reason=why)); print(f"d{depth} {backend}: skipped ({why})"); continue
            cfg = depth_config(depth, args.seq_len, args.pattern, args.vocab_size, backend)
            if args.smoke: cfg = GPTConfig(**{**cfg.__dict__, "n_embd": 64, "n_head": 2, "n_kv_head": 2})
            B = args.batch_size
            while True:
                try:
                    r = bench_model(cfg, device, dtype, B, args.steps, args.warmup, not args.no_compile, peak); break
                except torch.OutOfMemoryError:
                    torch.cuda.empty_cache()
                    if B == 1: raise
                    B //= 2; print(f"d{depth} {backend}: out of memory, retrying with batch {B}")
            report["models"].append(r)
            print(f"d{depth:<3d} {backend:5s} B={r['batch_size']:<3d} {r['tok_per_s']:>11,.0f} tok/s  MFU {100 * r['mfu']:5.1f}%  "
                  f"step {r['step_s']:.3f}s  first {r['first_step_s']:.0f}s" + (f"  peak {r['peak_mem_gib']:.1f} GiB" if "peak_mem_gib" in r else "")
                  + ("  (forward only)" if r["forward_only"] else "") + f"\n      {r['used']}")

    # 2. one attention layer vs window, at the largest depth's head shape
    D = 128 if not args.smoke else 32
    H = max(1, 64 * max(args.depths) // 128) if not args.smoke else 2
    T = args.seq_len
    for backend in [b for b in ("sdpa", "flex", "fa2", "fa3") if b in args.backends or "auto" in args.backends]:
        if not backend_available(backend, device, dtype)[0]: continue
        row = dict(backend=backend, B=args.layer_batch, T=T, H=H, D=D, ms={})
        for w in args.layer_windows:
            row["ms"][min(w, T - 1)] = bench_layer(backend, args.layer_batch, T, H, D, min(w, T - 1), device, dtype, 5 if args.smoke else 10)
        report["layers"].append(row)
        print(f"attention layer {backend:5s} (B={args.layer_batch}, T={T}, {H}x{D}) ms by window: "
              + "  ".join(f"{w}:{ms:.2f}" for w, ms in row["ms"].items()))

    # 3. analytic inference costs
    for depth in args.depths:
        with torch.device("meta"): m = GPT(depth_config(depth, args.seq_len, args.pattern, args.vocab_size, "auto"))
        bf16 = torch.bfloat16
        inf = dict(depth=depth, train_flops_per_token=m.estimate_flops(), params=m.num_scaling_params(),
                   decode_flops={n: m.estimate_decode_flops(n) for n in (128, 512, 2048)},
                   prefill_flops={n: m.estimate_prefill_flops(n) for n in (512, 2048)},
                   kv_bytes_per_token_bf16=m.kv_bytes_per_token(bf16),
                   kv_read_bytes_bf16={n: m.kv_read_bytes(n, bf16) for n in (512, 2048)})
        report["inference"].append(inf)
        print(f"d{depth}: {inf['params']['total'] / 1e6:.0f}M params, train {inf['train_flops_per_token'] / 1e9:.2f} GFLOP/token; "
              f"decode @2048 {inf['decode_flops'][2048] / 1e9:.2f} GFLOP/token; prefill 2048 {inf['prefill_flops'][2048] / 1e12:.2f} TFLOP; "
              f"KV {inf['kv_bytes_per_token_bf16'] / 1024:.0f} KiB/token (bf16), read @2048 {inf['kv_read_bytes_bf16'][2048] / 2**20:.1f} MiB/step")

    with atomic_write(out, "w") as f: json.dump(report, f, indent=1, default=str)
    print(f"wrote {out}")
    return report


if __name__ == "__main__":
    main()
