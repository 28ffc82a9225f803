"""nanochat's packing (`bestfit`) against `longfirst`, measured in training at CPU scale (notebook 04's table).

Trains the same small model (same seed, same tokenizer, same data order: nanochat's, no shuffle) once per packing,
then measures validation bits per byte two ways:
  * on nanochat's validation rows (`archerchat.data.validation_loader`: what the training loop reports);
  * on whole documents of the validation shard, each (BOS + all its tokens) cut into consecutive windows of the
    sequence length (every token of a document counted once, including the tails that best-fit rows crop).

    OMP_NUM_THREADS=1 python runs/bench/packing_cpu.py --packing bestfit   --data-dir DIR --out /tmp/pack_bestfit.json
    OMP_NUM_THREADS=1 python runs/bench/packing_cpu.py --packing longfirst --data-dir DIR --out /tmp/pack_longfirst.json

On a GPU, and against nanochat's own model too: `bash runs/bench/gpu_session.sh packing` (runs/bench/packing_eval.py).
"""
import argparse, json, time
from pathlib import Path
import pyarrow.parquet as pq
import torch
from archerchat.data import PackedLoader, split_shards, validation_loader
from archerchat.evaluation import evaluate_bpb
from archerchat.tokenizer import Tokenizer
from archerchat.train import apply_schedules, build_model, plan_for, reference_lrs_for, setup_optimizer
from packing_eval import doc_windows   # (beside this script)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--packing", choices=["bestfit", "longfirst"], required=True)
    ap.add_argument("--data-dir", default=None, help="parquet shards, the last one validation (default: archerchat.data's, "
                    "$ARCHERCHAT_BASE_DIR/base_data)")
    ap.add_argument("--depth", type=int, default=2)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8, help="rows per step")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--tok-chars", type=int, default=2_000_000)
    ap.add_argument("--eval-tokens", type=int, default=65536)
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.time()
    texts, n = [], 0
    for f in split_shards("train", a.data_dir):
        for t in pq.read_table(f, columns=["text"]).column("text").to_pylist():
            texts.append(t); n += len(t)
            if n >= a.tok_chars: break
        if n >= a.tok_chars: break
    tok = Tokenizer.train_from_iterator(texts, a.vocab, num_proc=1)
    token_bytes = tok.token_bytes()
    B, T = a.batch, a.seq_len
    p = plan_for(a.depth, tok.get_vocab_size(), sequence_len=T, device_batch_size=B, aspect_ratio=64, head_dim=64,
                 window_pattern="L", total_batch_size=B * T, num_iterations=a.steps, warmup_steps=10, **reference_lrs_for(B * T))
    torch.manual_seed(42)
    model = build_model(p); opt = setup_optimizer(model, p)
    losses = []
    with PackedLoader(tok, B, T, "train", data_dir=a.data_dir, policy=a.packing, tokenizer_threads=1) as L:
        for step in range(a.steps):
            x, y, _ = next(L)
            loss = model(x, y); loss.backward()
            apply_schedules(opt, step, p); opt.step(); model.zero_grad(set_to_none=True)
            losses.append(loss.item())
            if step % 50 == 0: print(f"{a.packing} step {step} loss {loss.item():.4f} ({time.time() - t0:.0f}s)", flush=True)
        cropped = L.cropped_fraction
    model.eval()
    with torch.no_grad():
        steps = a.eval_tokens // (B * T)
        with validation_loader(tok, B, T, data_dir=a.data_dir, tokenizer_threads=1) as V:
            bpb_rows = evaluate_bpb(model, V, steps, token_bytes)
        wins = list(doc_windows(tok, split_shards("val", a.data_dir), B, T, a.eval_tokens))
        bpb_docs = evaluate_bpb(model, wins, len(wins), token_bytes)
    out = dict(packing=a.packing, data_dir=a.data_dir, depth=a.depth, seq_len=T, batch=B, steps=a.steps, vocab=a.vocab,
               params=sum(q.numel() for q in model.parameters()), train_tokens=a.steps * B * T, cropped_fraction=cropped,
               final_train_loss=sum(losses[-20:]) / len(losses[-20:]), val_bpb_nanochat_rows=bpb_rows, val_bpb_doc_windows=bpb_docs,
               eval_tokens=a.eval_tokens, seconds=time.time() - t0)
    print(json.dumps(out))
    if a.out: Path(a.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__": main()
