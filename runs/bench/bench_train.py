"""Training throughput of the real thing (issue 12): the real model at a given depth, the real loader on real text,
N compiled steps of the real optimizer at the real total batch (gradient accumulation included), one table row per
configuration.

    python runs/bench/bench_train.py                                  # d12 and d20 at device batch 32, d24 at 16; SSSL and L
    python runs/bench/bench_train.py --depth 20 --window SSSL --attn flex sdpa --device-batch-size 32
    python runs/bench/bench_train.py --depth 20 --window L --fp8
    python runs/bench/bench_train.py --depth 20 --window SSSL --ce fused unfused   # the chunked loss against the plain one
    python runs/bench/bench_train.py --data-dir ~/data/text --out bench/train_$(git rev-parse --short HEAD).json
    python runs/bench/bench_train.py --smoke                          # tiny, on CPU, in seconds: checks the script works
    python runs/bench/bench_train.py --depth 20 --window SSSL --profile prof/   # + where the step's time and memory go

Columns: depth, window pattern, attention backends (full / windowed layers), device batch, tokens/s, MFU against
989 TFLOP/s (an H100's dense bf16 peak, nanochat's convention: FLOPs/token from estimate_flops, which counts attention
only inside each window), median step time, optimizer share of the step (GPU time of optimizer.step measured with CUDA
events, no extra host sync), peak memory, compile time (first step minus a median step). Each configuration runs in a
fresh process (clean memory and compile state). Writes the rows and the environment as JSON to --out
(default <base_dir>/bench/bench_train.json) for comparison across commits.
"""
import argparse, itertools, json, os, subprocess, sys, tempfile, time
from pathlib import Path

H100_PEAK = 989e12
DEFAULT_BATCH = {12: 32, 20: 32, 24: 16}


def one(cfg: dict) -> dict:
    "Benchmark one configuration in this process; returns its row."
    import torch
    if cfg["attn"] != "auto": os.environ["ARCHERCHAT_ATTN"] = cfg["attn"]
    from archerchat.common import autodetect_device_type, compute_init
    from archerchat.data import PackedLoader
    from archerchat.tokenizer import get_tokenizer
    from archerchat.train import plan_for, build_model, setup_optimizer, apply_schedules
    from archerchat.scaling import check_memory
    from archerchat.fp8 import convert_to_fp8
    _, _, _, _, device = compute_init(cfg["device_type"] or autodetect_device_type())
    tok = get_tokenizer()
    B, T = cfg["device_batch_size"], cfg["seq_len"]
    p = plan_for(cfg["depth"], tok.get_vocab_size(), sequence_len=T, device_batch_size=B, window_pattern=cfg["window"],
                 total_batch_size=cfg["total_batch_size"], num_iterations=1000, aspect_ratio=cfg["aspect_ratio"],
                 head_dim=cfg["head_dim"])
    meta = build_model(p, device, meta_only=True)
    from archerchat.common import compute_dtype
    check_memory(meta, B, T, 1, p.total_batch_size, device, compute_dtype(device))
    model = build_model(p, device)
    model.config.fused_ce = cfg.get("ce", "unfused") == "fused"
    if cfg["fp8"] and device.type == "cuda": convert_to_fp8(model)
    for opt_kv in cfg.get("compile_options") or []: set_compile_option(opt_kv)
    cmodel = torch.compile(model, dynamic=False) if cfg["compile"] else model
    opt = setup_optimizer(model, p)
    cuda = device.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    loader = PackedLoader(tok, B, T, "train", data_dir=cfg["data_dir"], device=device)
    times, opt_times = [], []

    def forward_backward():   # one step's gradient accumulation
        for _ in range(p.grad_accum_steps):
            x, y, _ = next(loader)
            (cmodel(x, y) / p.grad_accum_steps).backward()
    try:
        for step in range(cfg["warmup"] + cfg["steps"]):
            sync(); t0 = time.perf_counter()
            forward_backward()
            if cuda:
                e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True); e0.record()
            else: o0 = time.perf_counter()
            apply_schedules(opt, step, p); opt.step(); model.zero_grad(set_to_none=True)
            if cuda: e1.record()
            sync(); t1 = time.perf_counter()
            times.append(t1 - t0)
            opt_times.append(e0.elapsed_time(e1) / 1e3 if cuda else t1 - o0)
        if cfg.get("profile") and cuda:
            def one_step(): forward_backward(); opt.step(); model.zero_grad(set_to_none=True)
            try: profile_step(one_step, model, opt, Path(cfg["profile"]), f"d{cfg['depth']}_{cfg['window']}{'_fp8' if cfg['fp8'] else ''}")
            except Exception:   # a profiling failure must not lose the benchmark row
                import traceback; traceback.print_exc(file=sys.stdout)
    finally:
        loader.close()
    timed = sorted(times[cfg["warmup"]:]); med = timed[len(timed) // 2]
    opt_med = sorted(opt_times[cfg["warmup"]:])[len(timed) // 2]
    tok_s = p.total_batch_size / med
    return dict(depth=cfg["depth"], window=cfg["window"], attn=getattr(model, "attn_backend_info", cfg["attn"]),
                device_batch_size=B, seq_len=T, total_batch_size=p.total_batch_size, grad_accum=p.grad_accum_steps,
                fp8=cfg["fp8"], ce=cfg.get("ce", "fused"), compile=cfg["compile"], tok_per_sec=tok_s,
                mfu=100 * p.flops_per_token * tok_s / H100_PEAK if cuda else None, step_s=med, optimizer_share=opt_med / med,
                peak_mem_gib=torch.cuda.max_memory_allocated(device) / 2**30 if cuda else None,
                compile_s=max(0.0, times[0] - med), flops_per_token=p.flops_per_token, device=str(device),
                gpu=torch.cuda.get_device_name(device) if cuda else None, steps=cfg["steps"],
                compile_options=cfg.get("compile_options") or [])


KERNEL_KINDS = (("attention (flash/flex/cudnn)", ("flash", "flex", "fmha", "attention", "sdpa")),   # before matmul: cuDNN's names hold "sm90_"
                ("matmul (cuBLAS/CUTLASS/Triton templates)", ("nvjet", "gemm", "cutlass", "xmma", "sm90_", "splitkreduce",
                                                             "_mm", "bmm")),
                ("fused pointwise/reductions (Triton)", ("triton_",)),
                ("copies and memsets", ("memcpy", "memset", "copy")),
                ("other aten kernels", ("",)))


def kernel_kind(name: str) -> str:
    n = name.lower()
    return next(k for k, keys in KERNEL_KINDS if any(s in n for s in keys))


def profile_step(one_step, model, opt, out_dir: Path, name: str):
    """Where one whole training step's GPU time and memory go: CUDA kernels by kind and the 25 costliest (torch.profiler),
    and the tensors alive at the step's memory peak grouped by where they were allocated (CUDA caching-allocator trace).
    Prints both and writes them as JSON under `out_dir`."""
    import torch
    from torch.profiler import profile, ProfilerActivity
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        one_step(); torch.cuda.synchronize()
    kernels = {}
    for e in prof.events():
        if e.device_type.name != "CUDA": continue
        k = kernels.setdefault(e.name, [0.0, 0])
        k[0] += getattr(e, "self_device_time_total", 0) or getattr(e, "device_time_total", 0); k[1] += 1
    total = sum(v[0] for v in kernels.values()) or 1.0
    kinds = {}
    for n, (t, c) in kernels.items():
        kk = kinds.setdefault(kernel_kind(n), [0.0, 0]); kk[0] += t; kk[1] += c
    print(f"\n=== {name}: one step, {sum(c for _, c in kernels.values())} kernels, {total / 1e3:.1f} ms of GPU time")
    for k, (t, c) in sorted(kinds.items(), key=lambda kv: -kv[1][0]):
        print(f"  {k:<44} {t / 1e3:9.1f} ms {100 * t / total:5.1f}%  {c:6d} kernels")
    top = sorted(kernels.items(), key=lambda kv: -kv[1][0])[:25]
    for n, (t, c) in top: print(f"  {t / 1e3:8.1f} ms {100 * t / total:5.1f}% x{c:<5d} {n[:110]}")
    # memory: params/grads/optimizer state exist before; trace the step's allocations, find the peak, group what is alive
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    state = sum(t.numel() * t.element_size() for s in opt.state.values() for t in s.values() if torch.is_tensor(t))
    torch.cuda.synchronize(); base = torch.cuda.memory_allocated()
    torch.cuda.memory._record_memory_history(max_entries=1_000_000)
    torch.cuda.reset_peak_memory_stats()
    one_step(); torch.cuda.synchronize()
    snap = torch.cuda.memory._snapshot()
    torch.cuda.memory._record_memory_history(enabled=None)
    trace = snap["device_traces"][torch.cuda.current_device()]
    live, cur, peak, peak_i = {}, 0, 0, -1
    for i, ev in enumerate(trace):
        if ev["action"] == "alloc": cur += ev["size"]
        elif ev["action"] == "free_completed": cur -= ev["size"]
        if cur > peak: peak, peak_i = cur, i
    for ev in trace[:peak_i + 1]:
        if ev["action"] == "alloc": live[ev["addr"]] = ev
        elif ev["action"] == "free_completed": live.pop(ev["addr"], None)
    def where(ev):
        fr = ev.get("frames") or []
        pick = next((f for f in fr if "archerchat" in f["filename"] or "torchinductor" in f["filename"]), fr[0] if fr else None)
        if pick is None: return "?"
        fn = pick["filename"].split("/")[-1]
        return f"{fn}:{pick['line']} {pick['name']}"
    groups = {}
    for ev in live.values():
        g = groups.setdefault((where(ev), ev["size"]), [0, 0]); g[0] += ev["size"]; g[1] += 1
    gib = 2 ** 30
    print(f"\n=== {name}: memory. before the step: {base / gib:.2f} GiB (parameters {params / gib:.2f}, optimizer state "
          f"{state / gib:.2f}); peak during the step {torch.cuda.max_memory_allocated() / gib:.2f} GiB; traced peak "
          f"{(base + peak) / gib:.2f} GiB at event {peak_i} of {len(trace)}; alive then (step allocations, by where and size):")
    rows = sorted(groups.items(), key=lambda kv: -kv[1][0])
    for (w, size), (tot, n) in rows[:30]:
        print(f"  {tot / gib:7.3f} GiB  {n:4d} x {size / 2**20:9.1f} MiB  {w}")
    out = dict(name=name, kernels_ms={n: t / 1e3 for n, (t, c) in top}, kinds_ms={k: v[0] / 1e3 for k, v in kinds.items()},
               total_gpu_ms=total / 1e3, mem_before_gib=base / gib, params_gib=params / gib, opt_state_gib=state / gib,
               peak_gib=torch.cuda.max_memory_allocated() / gib,
               alive_at_peak=[dict(where=w, size_mib=size / 2**20, count=n, gib=tot / gib) for (w, size), (tot, n) in rows[:60]])
    (out_dir / f"{name}.json").write_text(json.dumps(out, indent=1))


def set_compile_option(kv: str):
    "'inductor.max_autotune=True' -> torch._inductor.config.max_autotune = True (also functorch.*, dynamo.*)."
    import ast, importlib
    key, _, val = kv.partition("=")
    mod, _, attr = key.partition(".")
    mods = dict(inductor="torch._inductor.config", functorch="torch._functorch.config", dynamo="torch._dynamo.config")
    if mod not in mods or not attr or not val: raise SystemExit(f"--compile-option {kv!r}: expected inductor|functorch|dynamo.NAME=VALUE")
    obj = importlib.import_module(mods[mod])
    *path, last = attr.split(".")
    for a in path: obj = getattr(obj, a)
    try: v = ast.literal_eval(val)
    except (ValueError, SyntaxError): v = val
    if not hasattr(obj, last): raise SystemExit(f"--compile-option {kv!r}: {mods[mod]} has no {attr!r}")
    setattr(obj, last, v)


def short_attn(info: str) -> str:
    "'attention: sdpa for full-context layers, flex for sliding-window layers (...)' -> 'sdpa/flex'."
    if not info.startswith("attention:"): return info
    words = info.split()
    return f"{words[1]}/{words[5]}" if len(words) > 5 else info


def fmt_row(r: dict) -> str:
    if "error" in r:
        return f"| d{r['depth']} | {r['window']} | {r['attn']} | {r['device_batch_size']} | error: {r['error'][:80]} |"
    f = lambda v, s: "-" if v is None else s.format(v)
    return (f"| d{r['depth']} | {r['window']} | {short_attn(r['attn'])}{' fp8' if r['fp8'] else ''}{' fused-ce' if r.get('ce') == 'fused' else ''}{''.join(' ' + o for o in r.get('compile_options', []))} | {r['device_batch_size']} | "
            f"{r['tok_per_sec']:,.0f} | {f(r['mfu'], '{:.1f}%')} | {r['step_s']:.3f} | {r['optimizer_share']:.1%} | "
            f"{f(r['peak_mem_gib'], '{:.1f}')} | {r['compile_s']:.0f} |")


HEADER = ("| depth | window | attention | device batch | tok/s | MFU (989T) | step (s) | optimizer | peak mem (GiB) | compile (s) |\n"
          "|---|---|---|---:|---:|---:|---:|---:|---:|---:|")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--depth", type=int, nargs="+", default=[12, 20, 24])
    ap.add_argument("--window", nargs="+", default=["SSSL", "L"])
    ap.add_argument("--attn", nargs="+", default=["auto"], help="attention backend(s): auto, flex, sdpa, fa2, fa3")
    ap.add_argument("--device-batch-size", type=int, nargs="+", default=None, help="one per depth (default: 32, 32, 16)")
    ap.add_argument("--seq-len", type=int, default=2048)
    ap.add_argument("--total-batch-size", type=int, default=524288, help="tokens per optimizer step (nanochat's anchors: 524288)")
    ap.add_argument("--steps", type=int, default=10, help="timed steps")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first (the first includes compilation)")
    ap.add_argument("--fp8", action="store_true")
    ap.add_argument("--ce", nargs="+", default=["unfused"], choices=["fused", "unfused"],
                    help="training loss path: the chunked head+softcap+cross-entropy (GPTConfig.fused_ce) or the plain one")
    ap.add_argument("--no-compile", dest="compile", action="store_false")
    ap.add_argument("--compile-option", action="append", default=[], metavar="MOD.NAME=VALUE",
                    help="set a compiler option before compiling, e.g. inductor.max_autotune=True or "
                         "functorch.activation_memory_budget=0.9 (repeatable)")
    ap.add_argument("--data-dir", default=None, help="parquet shards of real text (default: base_data, else the embedded corpus)")
    ap.add_argument("--device-type", default=None)
    ap.add_argument("--aspect-ratio", type=int, default=64)
    ap.add_argument("--head-dim", type=int, default=128)
    ap.add_argument("--out", default=None, help="JSON output (default <base_dir>/bench/bench_train.json)")
    ap.add_argument("--smoke", action="store_true", help="tiny CPU run: d2, 64-wide, T=64, 2 steps")
    ap.add_argument("--profile", default=None, metavar="DIR", help="after the timed steps, profile one step (kernels by kind, "
                    "memory alive at the peak by allocation site) and write JSON there (CUDA only)")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)   # internal: run one configuration, print its row as JSON
    a = ap.parse_args()
    if a.one:
        print("BENCH_ROW " + json.dumps(one(json.loads(a.one))), flush=True); return

    env = dict(os.environ)
    if a.smoke:
        a.depth, a.window, a.device_batch_size, a.seq_len, a.total_batch_size = [2], ["SL"], [4], 64, 512
        a.steps, a.warmup, a.compile, a.device_type, a.aspect_ratio, a.head_dim = 2, 1, False, "cpu", 32, 32
        env.setdefault("OMP_NUM_THREADS", "1")
        from archerchat.common import base_dir
        from archerchat.tokenizer import get_tokenizer
        try: get_tokenizer()
        except FileNotFoundError:       # no tokenizer yet: train a tiny one in a throw-away base dir
            env["ARCHERCHAT_BASE_DIR"] = tempfile.mkdtemp(prefix="bench-train-smoke-")
            subprocess.run([sys.executable, "-c", "from archerchat.pipeline import ensure_tokenizer; ensure_tokenizer(512, 200_000)"],
                           env=env, check=True, capture_output=True)
    batches = a.device_batch_size or [DEFAULT_BATCH.get(d, 32) for d in a.depth]
    if len(batches) == 1: batches = batches * len(a.depth)
    if len(batches) != len(a.depth): raise SystemExit("--device-batch-size takes one value, or one per --depth")
    rows = []
    from archerchat.train import plan_for
    try:
        from archerchat.tokenizer import get_tokenizer
        os.environ.update({k: v for k, v in env.items() if k == "ARCHERCHAT_BASE_DIR"})
        vocab = get_tokenizer().get_vocab_size()
    except FileNotFoundError:
        raise SystemExit("no trained tokenizer: run `python -m archerchat.tokenizer train --data-dir DIR` first (or --smoke)")
    print("plan per configuration (the runs below take everything else from archerchat.scaling.plan):")
    for depth, B in zip(a.depth, batches):
        for window in a.window:
            p = plan_for(depth, vocab, sequence_len=a.seq_len, device_batch_size=B, window_pattern=window,
                         total_batch_size=a.total_batch_size, num_iterations=1000, aspect_ratio=a.aspect_ratio, head_dim=a.head_dim)
            print(f"  d{depth} {window:<5} {p.params['total']:>13,} params, {p.flops_per_token:.3e} FLOPs/token, "
                  f"{p.total_batch_size:,} tokens/step = {p.grad_accum_steps} x {B} x {a.seq_len}, vocab {vocab:,}")
    print(HEADER, flush=True)
    for (depth, B), window, attn, ce in itertools.product(zip(a.depth, batches), a.window, a.attn, a.ce):
        cfg = dict(depth=depth, window=window, attn=attn, ce=ce, device_batch_size=B, seq_len=a.seq_len, total_batch_size=a.total_batch_size,
                   steps=a.steps, warmup=a.warmup, fp8=a.fp8, compile=a.compile, data_dir=a.data_dir, device_type=a.device_type,
                   aspect_ratio=a.aspect_ratio, head_dim=a.head_dim, profile=a.profile,
                   compile_options=a.compile_option)
        proc = subprocess.run([sys.executable, __file__, "--one", json.dumps(cfg)], env=env, capture_output=True, text=True)
        line = next((l for l in proc.stdout.splitlines() if l.startswith("BENCH_ROW ")), None)
        if line: row = json.loads(line[len("BENCH_ROW "):])
        else:
            lines = [l for l in proc.stderr.strip().splitlines() if l.strip() and "TORCHDYNAMO_VERBOSE" not in l
                     and 'TORCH_LOGS="+dynamo"' not in l] or ["no output"]
            print("\n".join(lines[-25:]), file=sys.stderr)
            row = dict(cfg, error=next((l for l in reversed(lines) if "Error" in l), lines[-1]))
        rows.append(row)
        if a.profile: print("\n".join(l for l in proc.stdout.splitlines() if not l.startswith("BENCH_ROW ")), flush=True)
        print(fmt_row(row), flush=True)
    from archerchat.common import base_dir, atomic_write
    from archerchat.pipeline import environment
    out = Path(a.out) if a.out else base_dir() / "bench" / "bench_train.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out, "w") as f: json.dump(dict(environment=environment(), time=time.time(), rows=rows), f, indent=1)
    print(f"wrote {out}")
    if any("error" in r for r in rows): sys.exit(1)


if __name__ == "__main__":
    main()
