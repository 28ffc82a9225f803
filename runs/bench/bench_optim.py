"""Time one `MuonAdamW` step on nanochat's d20 parameter set, and (when `archerchat.gpt` can build the model) the
fraction of a full training step it takes. Issue 5's goal: optimizer step <= 10% of the step at d20 on one H100.

    python runs/bench/bench_optim.py                 # CUDA: d20, compiled, Polar Express in bf16
    python runs/bench/bench_optim.py --smoke         # tiny config, runs on CPU in seconds
    torchrun --nproc_per_node 8 runs/bench/bench_optim.py   # the sharded path (each rank prints its own time)

Prints a table and writes JSON to --out (default: <base_dir>/bench/bench_optim.json).
"""
import argparse, json, statistics, time
import torch
import torch.nn as nn
from archerchat.common import base_dir, autodetect_device_type, compute_init, compute_cleanup, compute_dtype, print0
from archerchat.optim import build_optimizer


def has_value_embed(i: int, n_layer: int) -> bool:
    "nanochat's rule: value embeddings on alternating layers, the last layer always included."
    return i % 2 == (n_layer - 1) % 2


def gpt_param_kinds(n_layer: int, n_embd: int, vocab: int, n_head: int, n_kv_head: int, device, emb_dtype) -> dict:
    "The parameters of nanochat's GPT at this shape, by kind (built directly: no model code needed)."
    head_dim = n_embd // n_head
    kv = n_kv_head * head_dim
    def P(*shape, dtype=torch.float32): return nn.Parameter(torch.randn(*shape, device=device, dtype=dtype) * 0.02)
    matrix = []
    for i in range(n_layer):
        matrix += [P(n_embd, n_embd), P(kv, n_embd), P(kv, n_embd), P(n_embd, n_embd),  # c_q, c_k, c_v, c_proj
                   P(4 * n_embd, n_embd), P(n_embd, 4 * n_embd)]                        # mlp c_fc, c_proj
        if has_value_embed(i, n_layer): matrix.append(P(n_kv_head, 12))                  # value-embedding gate
    return dict(matrix=matrix, embedding=[P(vocab, n_embd, dtype=emb_dtype)],
                value_embeds=[P(vocab, kv, dtype=emb_dtype) for i in range(n_layer) if has_value_embed(i, n_layer)],
                lm_head=[P(vocab, n_embd)], resid_lambdas=[P(n_layer)], x0_lambdas=[P(n_layer)], smear=[P(1, 24), P(1), P(1)])


def sync(device):
    if device.type == "cuda": torch.cuda.synchronize()


def time_it(fn, device, steps: int, warmup: int) -> list[float]:
    "Seconds per call of `fn` over `steps` calls after `warmup` untimed ones."
    for _ in range(warmup): fn()
    sync(device)
    out = []
    for _ in range(steps):
        t0 = time.perf_counter(); fn(); sync(device); out.append(time.perf_counter() - t0)
    return out


def try_build_gpt(args, device):
    "archerchat.gpt's GPT at the benchmark shape, or None (with the reason) when it is not available yet."
    try:
        from archerchat.gpt import GPT, GPTConfig
    except ImportError as e:
        return None, f"archerchat.gpt has no GPT/GPTConfig yet ({e})"
    cfg = GPTConfig(sequence_len=args.seq_len, vocab_size=args.vocab, n_layer=args.depth, n_head=args.n_head,
                    n_kv_head=args.n_head, n_embd=args.n_embd)
    with torch.device("meta"): model = GPT(cfg)
    model.to_empty(device=device)
    model.init_weights()
    if not hasattr(model, "param_groups_by_kind"): return None, "archerchat.gpt.GPT has no param_groups_by_kind()"
    return model, None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--depth", type=int, default=20)
    ap.add_argument("--n-embd", type=int, default=None, help="default: 64 * depth (nanochat's aspect ratio)")
    ap.add_argument("--head-dim", type=int, default=128)
    ap.add_argument("--vocab", type=int, default=32768)
    ap.add_argument("--seq-len", type=int, default=2048)
    ap.add_argument("--device-batch", type=int, default=32, help="sequences per micro-step (fraction-of-step timing)")
    ap.add_argument("--total-batch-tokens", type=int, default=524288, help="tokens per optimizer step, all ranks")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps first (compilation happens here)")
    ap.add_argument("--no-compile", action="store_true", help="eager optimizer steps (default: compile on CUDA)")
    ap.add_argument("--no-model", action="store_true", help="skip the full-training-step measurement")
    ap.add_argument("--smoke", action="store_true", help="tiny config for a quick check on CPU")
    ap.add_argument("--out", default=None, help="JSON output path")
    args = ap.parse_args()
    if args.smoke:
        args.depth, args.n_embd, args.head_dim, args.vocab = 2, 128, 64, 512
        args.seq_len, args.device_batch, args.total_batch_tokens, args.steps, args.warmup = 64, 2, 256, 3, 1
    args.n_embd = args.n_embd or 64 * args.depth
    args.n_head = max(1, args.n_embd // args.head_dim)

    is_ddp, rank, local_rank, world, device = compute_init(autodetect_device_type())
    device = torch.device(device)
    dtype = compute_dtype(device)
    compile_opt = device.type == "cuda" and not args.no_compile
    kinds = gpt_param_kinds(args.depth, args.n_embd, args.vocab, args.n_head, args.n_head, device, emb_dtype=dtype)
    params = [p for ps in kinds.values() for p in ps]
    for p in params: p.grad = torch.randn_like(p) * 1e-3
    opt = build_optimizer(kinds, model_dim=args.n_embd, compile=compile_opt)
    n_muon = sum(p.numel() for g in opt.param_groups if g["kind"] == "muon" for p in g["params"])
    n_all = sum(p.numel() for p in params)
    ortho = str(opt.ortho_dtype or "the parameters' dtype")  # None: Polar Express runs in the parameters' own dtype
    print0(f"d{args.depth}: n_embd {args.n_embd}, {args.n_head} heads, vocab {args.vocab}: {n_all / 1e6:.1f}M params "
           f"({n_muon / 1e6:.1f}M in {sum(g['kind'] == 'muon' for g in opt.param_groups)} Muon stacks); device {device}, "
           f"world {world}, Polar Express in {ortho}, compiled {opt.compile}")
    # each step changes the lr, as a schedule would: this must not recompile
    lrs = [g["lr"] for g in opt.param_groups]
    k = [0]
    def opt_step():
        k[0] += 1
        for g, lr in zip(opt.param_groups, lrs): g["lr"] = lr * (1 - 0.01 * (k[0] % 7))
        opt.step()
    t_opt = time_it(opt_step, device, args.steps, args.warmup)
    res = dict(device=str(torch.cuda.get_device_name(device) if device.type == "cuda" else device), world_size=world,
               depth=args.depth, n_embd=args.n_embd, vocab=args.vocab, params=n_all, muon_params=n_muon,
               ortho_dtype=ortho, compiled=opt.compile,
               opt_step_ms_median=1e3 * statistics.median(t_opt), opt_step_ms_min=1e3 * min(t_opt))
    if device.type == "cuda": res["peak_mem_gb"] = torch.cuda.max_memory_allocated(device) / 1e9
    del opt, kinds, params
    if device.type == "cuda": torch.cuda.empty_cache()

    if not args.no_model:
        model, why = try_build_gpt(args, device)
        if model is None:
            print0(f"fraction of a training step: skipped: {why}")
            res["fraction_skipped"] = why
        else:
            opt = build_optimizer(model, compile=compile_opt)
            fwd = torch.compile(model) if device.type == "cuda" and not args.no_compile else model
            B, T = args.device_batch, args.seq_len
            accum = max(1, args.total_batch_tokens // (B * T * world))
            x = torch.randint(0, args.vocab, (B, T), device=device)
            y = torch.randint(0, args.vocab, (B, T), device=device)
            def micro():
                loss = fwd(x, y) / accum
                loss.backward()
            def opt_only(): opt.step()
            def full():
                for _ in range(accum): micro()
                opt.step(); model.zero_grad(set_to_none=True)
            micro(); model.zero_grad(set_to_none=True)  # compile the model before timing
            t_full = time_it(full, device, max(2, args.steps // 4), max(1, args.warmup // 2))
            for _ in range(accum): micro()              # real gradients in place for the optimizer-only timing
            t_opt_model = time_it(opt_only, device, args.steps, args.warmup)
            full_s, opt_s = statistics.median(t_full), statistics.median(t_opt_model)
            res.update(grad_accum=accum, tokens_per_step=B * T * accum * world, full_step_ms_median=1e3 * full_s,
                       model_opt_step_ms_median=1e3 * opt_s, opt_fraction_of_step=opt_s / full_s)

    if rank == 0:
        print(f"{'metric':28s} value")
        for key, v in res.items(): print(f"{key:28s} {v:.4g}" if isinstance(v, float) else f"{key:28s} {v}")
        if "opt_fraction_of_step" in res:
            print(f"optimizer step = {100 * res['opt_fraction_of_step']:.1f}% of the training step (goal <= 10%)")
        out = args.out or base_dir() / "bench" / "bench_optim.json"
        from archerchat.common import atomic_write
        with atomic_write(out, "w") as f: json.dump(res, f, indent=2)
        print(f"wrote {out}")
    compute_cleanup()


if __name__ == "__main__":
    main()
