"""Benchmark CORE evaluation: items/s and the whole-CORE time of ArcherChat's batched evaluator, and (with --nanochat)
nanochat's own evaluator on the same model in the same call.

    # one GPU: a nanochat checkpoint, both evaluators on the same weights (the issue #23 measurement)
    python runs/bench/bench_core.py --data-dir /path/to/core --nanochat /path/to/nanochat \\
        --nanochat-base-dir $NANOCHAT_BASE_DIR --model-tag d12 --nanochat-max-per-task 50
    # no checkpoint at hand: a randomly initialised d12 (speed does not depend on the weights)
    python runs/bench/bench_core.py --data-dir /path/to/core --depth 12 [--nanochat /path/to/nanochat]
    # an ArcherChat checkpoint (base_checkpoints/<tag>)
    python runs/bench/bench_core.py --data-dir /path/to/core --tag d12
    # CPU, offline, seconds: tiny model, 11 items per task, per-item reference timed too
    python runs/bench/bench_core.py --smoke

The model both evaluators run is one object (unless --convert): nanochat's own GPT loaded by nanochat's own loader (--nanochat-base-dir),
an ArcherChat checkpoint (--tag), or a random ArcherChat GPT (--depth). nanochat's evaluator
(`nanochat.core_eval.evaluate_task`, imported from --nanochat, not modified) is timed on the first
--nanochat-max-per-task items of each task (it does ~10 items/s, all 42k items would take over an hour), ArcherChat's
batched evaluator on the same items (accuracies compared: same model, so they must agree up to fp ties) and then on
all items. Prints a table and writes JSON to --out (default base_dir()/bench/core.json).
"""
import argparse, json, os, sys, time
from pathlib import Path
import pyarrow.parquet as pq
import torch
from archerchat.common import base_dir, asset_path, compute_init, compute_cleanup, print0, autodetect_device_type
from archerchat.evaluation import (embedded_core_dir, load_core_tasks, load_task_data, task_data_path, evaluate_task,
                                   evaluate_task_batched, evaluate_core, model_max_seq_len, TASK_TYPES)


def random_gpt(V, depth, device):
    from archerchat.gpt import GPT, GPTConfig
    cfg = GPTConfig(sequence_len=2048, vocab_size=V, n_layer=depth, n_head=max(1, depth // 2),
                    n_kv_head=max(1, depth // 2), n_embd=64 * depth)
    with torch.device("meta"): model = GPT(cfg)
    model.to_empty(device=device); model.init_weights()
    return model


def archerchat_tokenizer(vocab_size):
    "The trained ArcherChat tokenizer if there is one, else one of `vocab_size` trained here on the embedded corpus (seconds)."
    from archerchat.tokenizer import Tokenizer, get_tokenizer, train_rustbpe
    try: return get_tokenizer(), "archerchat.tokenizer"
    except FileNotFoundError as e:
        print0(f"(no trained tokenizer: {e}; training one of vocab {vocab_size} on the embedded corpus)")
        texts = sum((pq.read_table(asset_path("corpus", f"shard_0000{i}.parquet")).column("text").to_pylist() for i in range(4)), [])
        try: tok = train_rustbpe(texts, vocab_size)
        except ImportError: tok = Tokenizer.train_from_iterator(texts, vocab_size)
        return tok, f"archerchat.tokenizer, vocab {tok.get_vocab_size()}, embedded corpus"


def load(args, device):
    "The one (model, tokenizer, description) both evaluators run."
    if args.nanochat_base_dir:
        if not args.nanochat: sys.exit("--nanochat-base-dir needs --nanochat PATH (nanochat's loader builds its model)")
        os.environ["NANOCHAT_BASE_DIR"] = str(Path(args.nanochat_base_dir).resolve())
        from nanochat.checkpoint_manager import load_model
        model, tok, meta = load_model("base", device, phase="eval", model_tag=args.model_tag, step=args.step)
        return model, tok, f"nanochat GPT {args.model_tag or ''} step {meta['step']} ({meta['model_config']})"
    if args.tag:
        from archerchat.checkpoints import load_model
        model, tok, meta = load_model("base", args.tag, args.step, device=device)
        return model, tok, f"ArcherChat {args.tag} step {meta['step']}"
    tok, tok_name = archerchat_tokenizer(args.vocab_size)
    return random_gpt(tok.get_vocab_size(), args.depth, device), tok, f"random ArcherChat GPT d{args.depth}, {tok_name} (V={tok.get_vocab_size()})"


def sync(device):
    if device.type == "cuda": torch.cuda.synchronize(device)


def timed(fn, device):
    sync(device); t0 = time.time(); out = fn(); sync(device)
    return out, time.time() - t0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=None, help="CORE directory (bundle or bare task files); default: embedded subset")
    p.add_argument("--max-per-task", type=int, default=-1, help="items per task for the full run (-1: all)")
    p.add_argument("--depth", type=int, default=12, help="random ArcherChat GPT of this depth (no checkpoint given)")
    p.add_argument("--vocab-size", type=int, default=32768, help="vocabulary of the tokenizer trained here when none is found")
    p.add_argument("--tag", default=None, help="ArcherChat base checkpoint tag (base_dir()/base_checkpoints/<tag>)")
    p.add_argument("--step", type=int, default=None)
    p.add_argument("--nanochat", default=None, help="nanochat checkout: time its evaluator on the same model, same call")
    p.add_argument("--nanochat-base-dir", default=None, help="NANOCHAT_BASE_DIR holding base_checkpoints/<tag> and tokenizer/")
    p.add_argument("--model-tag", default=None, help="nanochat model tag (default: nanochat's guess, the largest)")
    p.add_argument("--convert", action="store_true", help="with --nanochat-base-dir: ArcherChat's evaluator runs ArcherChat's GPT "
                   "with the checkpoint's weights (archerchat.nanochat.load_nanochat), nanochat's runs nanochat's GPT")
    p.add_argument("--nanochat-max-per-task", type=int, default=50, help="items per task nanochat's evaluator is timed on")
    p.add_argument("--per-item", type=int, default=0, help="also time ArcherChat's per-item reference on this many items per task")
    p.add_argument("--tokens-per-batch", type=int, default=32768)
    p.add_argument("--max-seq-len", type=int, default=None, help="crop prompts to this many tokens (default: the model's limit)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model for the batched evaluator")
    p.add_argument("--device-type", default="", choices=["", "cuda", "cpu", "mps"])
    p.add_argument("--smoke", action="store_true", help="CPU-sized: random d2, vocab 4096, 11 items per task, prompts cut to 512 tokens, per-item timed too")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    if args.smoke:
        args.depth, args.max_per_task, args.vocab_size = 2, 11, 4096
        args.max_seq_len = args.max_seq_len or 512   # CPU: crop the long 10-shot prompts
        args.nanochat_max_per_task, args.per_item = min(args.nanochat_max_per_task, 11), args.per_item or 11
    if args.nanochat: sys.path.insert(0, str(Path(args.nanochat).resolve()))
    is_ddp, rank, _, world, device = compute_init(args.device_type or autodetect_device_type())
    if world > 1: sys.exit("bench_core times one device; run it without torchrun")
    data_dir = Path(args.data_dir) if args.data_dir else embedded_core_dir()
    model, tok, name = load(args, device)
    model.eval()
    max_len = args.max_seq_len or model_max_seq_len(model)
    ours = model
    if args.convert:
        if not args.nanochat_base_dir: sys.exit("--convert needs --nanochat-base-dir")
        from archerchat.nanochat import load_nanochat
        ckpt = Path(args.nanochat_base_dir) / "base_checkpoints" / args.model_tag if args.model_tag else Path(args.nanochat_base_dir)
        ours = load_nanochat(ckpt, args.step, device=device)[0].eval()
        name += "; ArcherChat's evaluator on ArcherChat's GPT with the same weights (load_nanochat)"
    if args.compile:   # one graph per padded row length and batch size: more than dynamo's default limit of 8
        from archerchat.gpt import allow_recompiles
        allow_recompiles(128)
    fast = torch.compile(ours, dynamic=False) if args.compile else ours
    dev_name = torch.cuda.get_device_name(device) if device.type == "cuda" else device.type
    print0(f"CORE benchmark: {name} on {dev_name}, data {data_dir}, tokens/batch {args.tokens_per_batch}, context limit {max_len}")
    tasks = [t for t in load_core_tasks(data_dir) if t.task_type in TASK_TYPES and task_data_path(data_dir, t).exists()]
    with torch.no_grad():   # warm-up (library init)
        for m in {id(model): model, id(ours): ours}.values(): m(torch.zeros(1, 8, dtype=torch.long, device=device))

    nc = None
    if args.nanochat:
        from nanochat.core_eval import evaluate_task as nanochat_evaluate_task
        class Limited(torch.nn.Module):   # nanochat crops only for models that declare max_seq_len
            def __init__(self, m, n): super().__init__(); self.m, self.max_seq_len = m, n
            def forward(self, idx): return self.m(idx)
        nc_model = Limited(model, args.max_seq_len) if args.max_seq_len else model
        rows, tot_n, tot_s, tot_b = [], 0, 0.0, 0.0
        print0(f"\nnanochat's evaluator vs ArcherChat's batched one, same weights, first {args.nanochat_max_per_task} items per task")
        print0(f"{'task':<34} {'n':>5} {'nanochat s':>10} {'items/s':>8} {'batched s':>10} {'items/s':>8} {'acc nc':>7} {'acc ac':>7}")
        for t in tasks:
            data = load_task_data(data_dir, t, args.nanochat_max_per_task)
            meta = dict(task_type=t.task_type, dataset_uri=t.dataset_uri, num_fewshot=t.num_fewshot,
                        continuation_delimiter=t.continuation_delimiter)
            acc_nc, s_nc = timed(lambda: nanochat_evaluate_task(nc_model, tok, data, device, meta), device)
            acc_b, s_b = timed(lambda: evaluate_task_batched(fast, tok, data, device, t, max_len, args.tokens_per_batch), device)
            rows.append(dict(task=t.label, n=len(data), nanochat_s=s_nc, batched_s=s_b, acc_nanochat=acc_nc, acc_batched=acc_b))
            tot_n += len(data); tot_s += s_nc; tot_b += s_b
            print0(f"{t.label:<34} {len(data):>5} {s_nc:>10.2f} {len(data) / s_nc:>8.1f} {s_b:>10.2f} {len(data) / s_b:>8.1f} {acc_nc:>7.4f} {acc_b:>7.4f}"
                   + ("" if abs(acc_nc - acc_b) < 1e-9 else "  <- differs"))
        nc = dict(max_per_task=args.nanochat_max_per_task, items=tot_n, nanochat_seconds=tot_s, batched_seconds=tot_b,
                  nanochat_items_per_s=tot_n / tot_s, batched_items_per_s=tot_n / tot_b, speedup=tot_s / tot_b,
                  tasks_differing=[r["task"] for r in rows if abs(r["acc_nanochat"] - r["acc_batched"]) > 1e-9], tasks=rows)
        print0(f"{'total':<34} {tot_n:>5} {tot_s:>10.2f} {tot_n / tot_s:>8.1f} {tot_b:>10.2f} {tot_n / tot_b:>8.1f}   "
               f"speed-up {tot_s / tot_b:.1f}x; accuracies differ on {len(nc['tasks_differing'])} tasks {nc['tasks_differing']}")

    per_item = None
    if args.per_item:
        n, s = 0, 0.0
        for t in tasks:
            data = load_task_data(data_dir, t, args.per_item)
            _, dt = timed(lambda: evaluate_task(ours, tok, data, device, t, max_len), device)
            n += len(data); s += dt
        per_item = dict(max_per_task=args.per_item, items=n, seconds=s, items_per_s=n / s)
        print0(f"\nArcherChat per-item reference, {args.per_item} items per task: {n} items in {s:.1f}s, {n / s:.1f} items/s")

    print0(f"\nArcherChat batched (evaluate_core: host prep one task ahead), {'all' if args.max_per_task < 1 else args.max_per_task} items per task")
    sync(device); t_all = time.time()
    core = evaluate_core(fast, tok, device, max_per_task=None if args.max_per_task < 1 else args.max_per_task, data_dir=data_dir,
                         max_seq_len=max_len, tokens_per_batch=args.tokens_per_batch)
    sync(device)
    rows = [dict(task=k, n=core["num_examples"][k], seconds=core["seconds"][k], items_per_s=core["num_examples"][k] / core["seconds"][k],
                 acc=core["results"][k], centered=core["centered_results"][k], cropped=core["cropped"][k]) for k in core["results"]]
    total = time.time() - t_all
    n = sum(r["n"] for r in rows)
    print0(f"\nwhole CORE ({len(rows)} tasks, {n:,} items): {total:.1f}s = {total / 60:.2f} min, {n / total:.1f} items/s"
           + (f"; {n / total / nc['nanochat_items_per_s']:.1f}x nanochat's items/s" if nc else "")
           + (f"; {n / total / per_item['items_per_s']:.1f}x the per-item reference" if per_item else ""))
    out = Path(args.out) if args.out else base_dir() / "bench" / "core.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    info = dict(model=name, device=dev_name, torch=torch.__version__, data_dir=str(data_dir), tokens_per_batch=args.tokens_per_batch,
                compile=args.compile, max_seq_len=max_len, max_per_task=args.max_per_task, total_seconds=total, items=n,
                items_per_s=n / total, core_metric=core["core_metric"], skipped=core["skipped"], tasks=rows, nanochat=nc, per_item=per_item)
    out.write_text(json.dumps(info, indent=1))
    print0(f"wrote {out}")
    compute_cleanup()


if __name__ == "__main__":
    main()
