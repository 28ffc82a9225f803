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
import sys
from pathlib import Path

from archerchat.common import ArgumentParser, number, run_main
from archerchat.scaling import plan, fit_scaling_laws, plot_scaling_fit


def parse_args(argv=None):
    ap = ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budgets", default="1e18,2.15e18,4.64e18,1e19", help="comma-separated FLOPs budgets")
    ap.add_argument("--depths", default="10,12,14,16,18,20", help="comma-separated depths")
    ap.add_argument("--sequence-len", type=number(int, 2), default=2048)
    ap.add_argument("--device-batch-size", type=number(int, 1), default=32)
    ap.add_argument("--total-batch-size", type=number(int, 1), default=None, help="tokens per step (default: plan's Power Lines batch)")
    ap.add_argument("--window-pattern", default="SSSL")
    ap.add_argument("--eval-tokens", type=number(int, 1), default=100 * 524288, help="validation tokens for the final bpb")
    ap.add_argument("--device-type", default="", help="cuda|cpu|mps (empty: autodetect)")
    ap.add_argument("--data-dir", default=None, help="pretraining shards (default: base_data, else the embedded corpus)")
    ap.add_argument("--compile", type=number(int, 0, 1), default=1, help="torch.compile the model on CUDA (1/0)")
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


def train_cell(depth: int, flops: float, args, world_size: int, tokenizer) -> dict:
    "Train one model of `depth` for `flops` FLOPs through the real pretraining loop (`archerchat.train.pretrain`)."
    from archerchat.common import print0
    from archerchat.train import pretrain, TrainConfig
    kw = plan_kwargs(args, tokenizer.get_vocab_size(), world_size)
    p = plan(depth, target_flops=flops, **kw)
    print0(f"\n=== d{depth} at {flops:.3g} FLOPs ===\n{p}")
    cfg = TrainConfig(depth=depth, max_seq_len=args.sequence_len, window_pattern=args.window_pattern, target_flops=flops,
                      device_batch_size=args.device_batch_size, total_batch_size=args.total_batch_size or -1,
                      eval_every=p.num_iterations, eval_tokens=args.eval_tokens, core_metric_every=-1, sample_every=-1,
                      save_every=-1, tag=f"scaling_d{depth}_{flops:.3g}".replace("+", ""), device_type=args.device_type or None,
                      compile=bool(args.compile) if args.compile is not None else None, data_dir=args.data_dir,
                      log_every=100)
    out = pretrain(cfg)
    print0(f"d{depth} C={flops:.3g}: val bpb {out['val_bpb']:.5f} in {out['total_training_time']:.0f}s")
    return dict(flops=flops, depth=depth, loss=float(out["val_bpb"]), scaling_params=p.scaling_params,
                flops_per_token=p.flops_per_token, tokens=p.total_tokens, steps=p.num_iterations,
                total_batch_size=p.total_batch_size, train_time_s=out["total_training_time"], plan_kw=kw)


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
    from archerchat.tokenizer import get_tokenizer
    budgets = [float(b) for b in args.budgets.split(",")]
    depths = [int(d) for d in args.depths.split(",")]
    _, rank, _, world_size, device = compute_init(args.device_type or autodetect_device_type())
    tokenizer = get_tokenizer()
    # refuse a grid cell that cannot train before spending GPU time on the others
    for c in budgets:
        for d in depths: plan(d, target_flops=c, **plan_kwargs(args, tokenizer.get_vocab_size(), world_size))
    done = {(r["flops"], r["depth"]) for r in load_results(out)}
    for c in budgets:
        for d in depths:
            if (c, d) in done:
                if rank == 0: print(f"d{d} at {c:.3g} FLOPs: already in {out}, skipping")
                continue
            record = train_cell(d, c, args, world_size, tokenizer)
            if rank == 0: append_result(out, record)
    if rank == 0: fit_and_plot(load_results(out), plot_path)
    compute_cleanup()


if __name__ == "__main__":
    sys.exit(run_main(main))
