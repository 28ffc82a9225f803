"""Scaling-law sweep: train a grid of (FLOPs budget × depth) models, each for exactly its budget, then fit the
compute-optimal frontier (isoFLOP valleys, N* and D* against compute, the tokens:params ratio) with
`archerchat.scaling.fit_scaling_laws` and plot it. See nbs/03_scaling_laws.ipynb for the method.

    torchrun --standalone --nproc_per_node=8 runs/scaling_laws.py            # the sweep (resumes), then the fit
    python runs/scaling_laws.py --fit-only                                    # fit + plot what has been measured
    python runs/scaling_laws.py --smoke                                       # tiny grid on CPU, through the real pieces

Every finished cell appends one JSON line to --out (default: <base_dir>/scaling_laws/results.jsonl); a cell already
in the file is skipped, so re-running the command continues an interrupted sweep. The default grid is nanochat's
(runs/scaling_laws.sh): budgets 1e18, 2.15e18, 4.64e18, 1e19 FLOPs × depths 10..20.
The loss is validation bits per byte after the run (tokenizer-independent).
"""
import argparse
import json
import os
import time
from pathlib import Path

from archerchat.scaling import plan, lr_multiplier, muon_momentum, weight_decay_at, fit_scaling_laws, plot_scaling_fit

LOADER = "tokenizing_distributed_data_loader"   # archerchat.data's loader: yields (inputs, targets, state)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budgets", default="1e18,2.15e18,4.64e18,1e19", help="comma-separated FLOPs budgets")
    ap.add_argument("--depths", default="10,12,14,16,18,20", help="comma-separated depths")
    ap.add_argument("--sequence-len", type=int, default=2048)
    ap.add_argument("--device-batch-size", type=int, default=32)
    ap.add_argument("--total-batch-size", type=int, default=None, help="tokens per step (default: plan's Power Lines batch)")
    ap.add_argument("--window-pattern", default="SSSL")
    ap.add_argument("--eval-tokens", type=int, default=100 * 524288, help="validation tokens for the final bpb")
    ap.add_argument("--device-type", default="", help="cuda|cpu|mps (empty: autodetect)")
    ap.add_argument("--compile", type=int, default=1, help="torch.compile the model on CUDA (1/0)")
    ap.add_argument("--out", default=None, help="results JSONL (default <base_dir>/scaling_laws/results.jsonl)")
    ap.add_argument("--plot", default=None, help="figure path (default: next to --out, .png)")
    ap.add_argument("--fit-only", action="store_true", help="do not train; fit and plot the results in --out")
    ap.add_argument("--smoke", action="store_true", help="tiny grid on CPU (seconds), to check the script end to end")
    args = ap.parse_args(argv)
    if args.smoke:
        args.budgets, args.depths = "2e11,4e11", "1,2"
        args.sequence_len, args.device_batch_size, args.total_batch_size = 64, 8, 512
        args.window_pattern, args.eval_tokens, args.compile = "L", 4 * 512, 0
        args.device_type = args.device_type or "cpu"
    return args


def load_results(path: Path) -> list[dict]:
    "Records of the finished cells in the JSONL file `path` (empty if it does not exist)."
    if not path.exists(): return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def append_result(path: Path, record: dict):
    "Append one record as a JSON line and make it durable (a crash loses at most the cell being trained)."
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n"); f.flush(); os.fsync(f.fileno())


def plan_kwargs(args, vocab_size: int, world_size: int) -> dict:
    "The `plan` settings shared by every cell of the sweep (and by the fit)."
    kw = dict(vocab_size=vocab_size, sequence_len=args.sequence_len, device_batch_size=args.device_batch_size,
              world_size=world_size, window_pattern=args.window_pattern)
    if args.total_batch_size: kw["total_batch_size"] = args.total_batch_size
    return kw


def train_cell(depth: int, flops: float, args, device, world_size: int, tokenizer, token_bytes) -> dict:
    "Train one model of `depth` for `flops` FLOPs with the real pieces; return its result record."
    import torch
    import archerchat.data as data
    from archerchat.common import print0
    from archerchat.gpt import GPT, GPTConfig
    from archerchat.optim import build_optimizer
    from archerchat.evaluation import evaluate_bpb
    loader_fn = getattr(data, LOADER, None)
    if loader_fn is None:
        raise SystemExit(f"archerchat.data has no {LOADER}(); set LOADER at the top of {__file__} to the loader's name")
    kw = plan_kwargs(args, tokenizer.get_vocab_size(), world_size)
    p = plan(depth, target_flops=flops, **kw)
    print0(f"\n=== d{depth} at {flops:.3g} FLOPs ===\n{p}")
    with torch.device("meta"):
        model = GPT(GPTConfig(**p.gpt_config_kwargs()))
    model.to_empty(device=device)
    model.init_weights()
    optimizer = build_optimizer(model, **p.setup_optimizer_kwargs())
    fwd = torch.compile(model, dynamic=False) if (args.compile and device.type == "cuda") else model
    train = loader_fn(tokenizer, p.device_batch_size, p.sequence_len, split="train", device=device)
    x, y, _ = next(train)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync(); t0 = time.time()
    for step in range(p.num_iterations):
        for _ in range(p.grad_accum_steps):
            loss = fwd(x, y)
            (loss / p.grad_accum_steps).backward()
            x, y, _ = next(train)
        lrm, mom, wd = lr_multiplier(step, p), muon_momentum(step, p), weight_decay_at(step, p)
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"] * lrm
            if group["kind"] == "muon": group["momentum"], group["weight_decay"] = mom, wd
        optimizer.step()
        model.zero_grad(set_to_none=True)
        if step % 100 == 0 or step == p.num_iterations - 1:
            print0(f"d{depth} C={flops:.3g} step {step:05d}/{p.num_iterations:05d} loss {loss.item():.4f} lrm {lrm:.3f}")
    sync(); train_time = time.time() - t0
    model.eval()
    val = loader_fn(tokenizer, p.device_batch_size, p.sequence_len, split="val", device=device)
    eval_steps = max(1, args.eval_tokens // p.tokens_per_micro_step)
    with torch.no_grad():
        val_bpb = float(evaluate_bpb(model, val, eval_steps, token_bytes))
    print0(f"d{depth} C={flops:.3g}: val bpb {val_bpb:.5f} in {train_time:.0f}s")
    return dict(flops=flops, depth=depth, loss=val_bpb, scaling_params=p.scaling_params,
                flops_per_token=p.flops_per_token, tokens=p.total_tokens, steps=p.num_iterations,
                total_batch_size=p.total_batch_size, train_time_s=train_time, plan_kw=kw)


def fit_and_plot(records: list[dict], plot_path: Path):
    "Fit the frontier to the records and save the figure; return the fit (None with fewer than two budgets)."
    if len({r["flops"] for r in records}) < 2:
        print(f"{len(records)} result(s) over fewer than two budgets: nothing to fit yet"); return None
    kw = {k: v for k, v in records[0]["plan_kw"].items() if k != "world_size"}
    fit = fit_scaling_laws([(r["flops"], r["depth"], r["loss"]) for r in records], **kw)
    print(fit)
    for c in fit.budgets: print(f"  C={c:.3g}: tokens per scaling param at the optimum {fit.ratio_at(c):.2f}")
    fig = plot_scaling_fit(fit, f"scaling laws: {len(records)} runs")
    plot_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(plot_path, dpi=120)
    print(f"figure written to {plot_path}")
    return fit


def main(argv=None):
    args = parse_args(argv)
    from archerchat.common import base_dir, compute_init, compute_cleanup, autodetect_device_type
    out = Path(args.out) if args.out else base_dir() / "scaling_laws" / ("smoke.jsonl" if args.smoke else "results.jsonl")
    plot_path = Path(args.plot) if args.plot else out.with_suffix(".png")
    if args.fit_only:
        fit_and_plot(load_results(out), plot_path); return
    try:   # the real training pieces (notebooks 00, 01, 02, 04, 09)
        import archerchat.data, archerchat.evaluation, archerchat.optim  # noqa: F401
        from archerchat.gpt import GPT  # noqa: F401
        from archerchat.optim import build_optimizer  # noqa: F401
        from archerchat.evaluation import evaluate_bpb  # noqa: F401
        from archerchat.tokenizer import get_tokenizer, get_token_bytes
    except ImportError as e:
        raise SystemExit(f"runs/scaling_laws.py trains with archerchat's real GPT, optimizer, tokenizer, loader and "
                         f"evaluation, and one of them is missing ({e}); --fit-only works without them")
    budgets = [float(b) for b in args.budgets.split(",")]
    depths = [int(d) for d in args.depths.split(",")]
    _, rank, _, world_size, device = compute_init(args.device_type or autodetect_device_type())
    tokenizer = get_tokenizer()
    token_bytes = get_token_bytes(device)
    # refuse a grid cell that cannot train before spending GPU time on the others
    for c in budgets:
        for d in depths: plan(d, target_flops=c, **plan_kwargs(args, tokenizer.get_vocab_size(), world_size))
    done = {(r["flops"], r["depth"]) for r in load_results(out)}
    for c in budgets:
        for d in depths:
            if (c, d) in done:
                if rank == 0: print(f"d{d} at {c:.3g} FLOPs: already in {out}, skipping")
                continue
            record = train_cell(d, c, args, device, world_size, tokenizer, token_bytes)
            if rank == 0: append_result(out, record)
    if rank == 0: fit_and_plot(load_results(out), plot_path)
    compute_cleanup()


if __name__ == "__main__":
    main()
