"""Benchmark CORE evaluation throughput (examples/s per task) and check that it runs end to end.

    python runs/bench_core.py --data-dir /path/to/core          # 18 task files (bare layout) or the full bundle
    python runs/bench_core.py --smoke                           # tiny model, 11 items per task, on CPU, offline
    torchrun --nproc_per_node=8 runs/bench_core.py --data-dir ~/.cache/archerchat/eval_bundle

The model is a randomly initialised `archerchat.gpt.GPT` of the given depth when that module provides one, else a
small stand-in causal transformer; the tokenizer is `archerchat.tokenizer.get_tokenizer()` when one has been trained,
else an `archerchat.tokenizer.Tokenizer` (vocab 4096) trained here on one shard of the embedded corpus. Accuracies of a random model are ~baseline; the point
is the time per task. Prints a table and writes JSON to --out (default base_dir()/bench/core.json).
"""
import argparse, itertools, json, os, time
from contextlib import nullcontext
from pathlib import Path
import pyarrow.parquet as pq
import torch, torch.nn as nn, torch.nn.functional as F
from archerchat.common import base_dir, asset_path, compute_init, compute_cleanup, print0, autodetect_device_type
from archerchat.evaluation import (embedded_core_dir, load_core_tasks, load_task_data, task_data_path, evaluate_task,
                                   centered_score)

class StandInLM(nn.Module):
    "A small causal transformer (no positional limit: rotary-free, causal mask only), for timing when GPT is absent."
    def __init__(self, V, depth):
        super().__init__()
        d = 64 * depth
        self.emb = nn.Embedding(V, d)
        self.blocks = nn.TransformerEncoder(nn.TransformerEncoderLayer(d, max(1, depth // 2), 4 * d, dropout=0.0,
                                                                       batch_first=True, norm_first=True), depth)
        self.head = nn.Linear(d, V, bias=False)
    def forward(self, idx):
        mask = nn.Transformer.generate_square_subsequent_mask(idx.size(1), device=idx.device)
        return self.head(self.blocks(self.emb(idx), mask=mask, is_causal=True))

def build_model(V, depth, device):
    try:
        from archerchat.gpt import GPT, GPTConfig
        cfg = GPTConfig(sequence_len=2048, vocab_size=V, n_layer=depth, n_head=max(1, depth // 2),
                        n_kv_head=max(1, depth // 2), n_embd=64 * depth)
        with torch.device("meta"): model = GPT(cfg)
        model.to_empty(device=device); model.init_weights()
        return model, "archerchat.gpt.GPT"
    except Exception as e:  # GPT not merged yet, or a different constructor: time with the stand-in
        print0(f"(archerchat.gpt.GPT unavailable: {type(e).__name__}: {e}; using a stand-in transformer)")
        torch.manual_seed(0)
        return StandInLM(V, depth).to(device), "stand-in transformer"

def get_tokenizer():
    from archerchat.tokenizer import Tokenizer, get_tokenizer
    try: return get_tokenizer(), "archerchat.tokenizer"
    except FileNotFoundError as e:
        print0(f"(no trained tokenizer: {e}; training a small one on the embedded corpus)")
        texts = pq.read_table(asset_path("corpus", "shard_00000.parquet")).column("text").to_pylist()
        return Tokenizer.train_from_iterator(texts, 4096), "archerchat.tokenizer, vocab 4096, embedded corpus"

def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", default=None, help="CORE directory (bundle or bare task files); default: embedded subset")
    p.add_argument("--max-per-task", type=int, default=-1, help="items per task (-1: all)")
    p.add_argument("--depth", type=int, default=12)
    p.add_argument("--max-seq-len", type=int, default=None, help="crop prompts to this many tokens (default: no crop)")
    p.add_argument("--device-type", default="", choices=["", "cuda", "cpu", "mps"])
    p.add_argument("--smoke", action="store_true", help="tiny model, 11 items per task, embedded data")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    if args.smoke: args.depth, args.max_per_task = 2, 11
    is_ddp, rank, _, world, device = compute_init(args.device_type or autodetect_device_type())
    data_dir = Path(args.data_dir) if args.data_dir else embedded_core_dir()
    tok, tok_name = get_tokenizer()
    model, model_name = build_model(tok.get_vocab_size(), args.depth, device)
    model.eval()
    autocast = torch.amp.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()
    print0(f"CORE benchmark: {model_name} d{args.depth}, tokenizer {tok_name} (V={tok.get_vocab_size()}), "
           f"{world} rank(s) on {device.type}, data {data_dir}, max_per_task {args.max_per_task}")
    rows, t_all = [], time.time()
    print0(f"{'task':<34} {'n':>6} {'seconds':>8} {'ex/s':>8} {'acc':>7}")
    for task in load_core_tasks(data_dir):
        if not task_data_path(data_dir, task).exists(): print0(f"{task.label:<34} (no data)"); continue
        data = load_task_data(data_dir, task, args.max_per_task)
        if device.type == "cuda": torch.cuda.synchronize()
        t0 = time.time()
        with autocast: acc = evaluate_task(model, tok, data, device, task, args.max_seq_len)
        if device.type == "cuda": torch.cuda.synchronize()
        dt = time.time() - t0
        rows.append({"task": task.label, "n": len(data), "seconds": dt, "examples_per_s": len(data) / dt, "acc": acc,
                     "centered": centered_score(acc, task.random_baseline)})
        print0(f"{task.label:<34} {len(data):>6} {dt:>8.2f} {len(data) / dt:>8.1f} {acc:>7.3f}")
    total = time.time() - t_all
    n = sum(r["n"] for r in rows)
    print0(f"{'total':<34} {n:>6} {total:>8.2f} {n / total:>8.1f}")
    if rank == 0:
        out = Path(args.out) if args.out else base_dir() / "bench" / "core.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        info = {"model": model_name, "depth": args.depth, "tokenizer": tok_name, "vocab_size": tok.get_vocab_size(),
                "world_size": world, "device": torch.cuda.get_device_name(device) if device.type == "cuda" else device.type,
                "data_dir": str(data_dir), "max_per_task": args.max_per_task, "total_seconds": total, "tasks": rows}
        out.write_text(json.dumps(info, indent=1))
        print0(f"wrote {out}")
    compute_cleanup()

if __name__ == "__main__":
    main()
