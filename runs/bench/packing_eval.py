"""Validation bits per byte of trained checkpoints, two ways, side by side: the table behind `longfirst` against
nanochat's packing (notebook 04), at any scale and on any device.

  * on nanochat's validation rows (`archerchat.data.validation_loader`: what training reports and nanochat reports);
  * on whole documents of the validation shard, each (BOS + all its tokens) cut into consecutive windows of the model's
    sequence length (every token of a document counted once, including the tails that best-fit rows crop).

A model is `NAME=BASE_DIR:TAG` (an ArcherChat run: `BASE_DIR/base_checkpoints/TAG`, its tokenizer in `BASE_DIR/tokenizer`)
or `NAME=nanochat:PATH` (a nanochat checkpoint directory or NANOCHAT_BASE_DIR, converted by `archerchat.nanochat`):

    python runs/bench/packing_eval.py --data-dir DIR --eval-tokens 2097152 --out packing.md \\
        nanochat=nanochat:RUN/nanochat_base  bestfit=RUN/archerchat_base:seed42  longfirst=RUN/archerchat_base:longfirst

A nanochat model evaluated here on nanochat's rows gives the bpb nanochat printed for it (a same-weights check of the
evaluator). Writes a markdown table (and `.json` beside it) to `--out`.
"""
from __future__ import annotations
import argparse, json, os, sys, time
from pathlib import Path
import torch
from archerchat.common import autodetect_device_type
from archerchat.data import split_shards, validation_loader
from archerchat.evaluation import evaluate_bpb


def doc_windows(tok, files, B, T, max_tokens, device="cpu"):
    "Batches (x, y) of whole validation documents cut into windows of T targets (the last one padded with -1 targets)."
    import pyarrow.parquet as pq
    bos, xs, ys, n = tok.get_bos_token_id(), [], [], 0
    texts = [t for f in files for t in pq.read_table(f, columns=["text"]).column("text").to_pylist()]
    emit = lambda xs, ys: (torch.tensor(xs, device=device), torch.tensor(ys, device=device))
    for ids in tok.encode(texts, prepend=bos):
        for a in range(0, len(ids) - 1, T):
            w = ids[a:a + T + 1]
            xs.append(w[:-1] + [bos] * (T + 1 - len(w))); ys.append(w[1:] + [-1] * (T + 1 - len(w))); n += len(w) - 1
            if len(xs) == B: yield emit(xs, ys); xs, ys = [], []
            if n >= max_tokens: return
    if xs: yield emit(xs + [[bos] * T] * (B - len(xs)), ys + [[-1] * T] * (B - len(xs)))


def load(spec: str, device):
    "(model, tokenizer, what) for `BASE_DIR:TAG` or `nanochat:PATH`."
    from archerchat.checkpoints import load_model
    kind, _, rest = spec.partition(":")
    if kind == "nanochat":
        model, tok, meta = load_model(rest, device=device)
        return model, tok, f"nanochat checkpoint {rest}, step {meta['nanochat']['step']}"
    base, tag = kind, rest
    if not tag: raise SystemExit(f"{spec!r}: expected BASE_DIR:TAG (an ArcherChat run) or nanochat:PATH")
    if not (Path(base) / "base_checkpoints" / tag).is_dir():
        raise SystemExit(f"{spec!r}: no ArcherChat run {Path(base) / 'base_checkpoints' / tag}")
    os.environ["ARCHERCHAT_BASE_DIR"] = str(Path(base).resolve())   # its tokenizer and checkpoints
    model, tok, meta = load_model("base", tag, device=device)
    return model, tok, f"ArcherChat {base}/base_checkpoints/{tag}, step {meta.get('step')}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help="NAME=BASE_DIR:TAG or NAME=nanochat:PATH")
    ap.add_argument("--data-dir", required=True, help="the parquet shards the models were trained on (the last is validation)")
    ap.add_argument("--eval-tokens", type=int, default=2 * 2**20, help="tokens per evaluation (each way)")
    ap.add_argument("--batch", type=int, default=32, help="rows per forward")
    ap.add_argument("--device-type", default="", choices=["", "cuda", "cpu", "mps"])
    ap.add_argument("--out", default=None, help="markdown table here (and .json beside it)")
    a = ap.parse_args(argv)
    specs = [m.partition("=") for m in a.models]
    if bad := [m for m, eq, s in specs if not eq or not s]: raise SystemExit(f"expected NAME=SPEC, got {bad}")
    device = torch.device(a.device_type or autodetect_device_type())
    rows = []
    for name, _, spec in specs:
        t0 = time.time()
        model, tok, what = load(spec, device)
        B, T = a.batch, model.config.sequence_len
        steps = a.eval_tokens // (B * T)
        if steps < 1: raise SystemExit(f"--eval-tokens {a.eval_tokens} is less than one batch of {B} x {T}")
        token_bytes = tok.token_bytes().to(device)
        # the whole documents of the validation shard may hold fewer tokens than asked for: both ways then evaluate
        # as many batches as the documents fill, so that the two columns count the same number of rows
        wins = list(doc_windows(tok, split_shards("val", a.data_dir), B, T, steps * B * T, device))
        if len(wins) < steps:
            print(f"{name}: the validation shard's whole documents fill {len(wins)} batches of {B} x {T}, fewer than the "
                  f"{steps} that --eval-tokens {a.eval_tokens:,} asks for; both ways use {len(wins)}", flush=True)
            steps = len(wins)
        with torch.no_grad():
            with validation_loader(tok, B, T, data_dir=a.data_dir, device=device) as V:
                rows_bpb = evaluate_bpb(model, V, steps, token_bytes)
            docs_bpb = evaluate_bpb(model, iter(wins), steps, token_bytes)
        rows.append(dict(name=name, model=what, seq_len=T, tokens=steps * B * T, val_bpb_nanochat_rows=rows_bpb, val_bpb_doc_windows=docs_bpb,
                         seconds=time.time() - t0))
        print(f"{name:<14} nanochat rows {rows_bpb:.6f}  whole-document windows {docs_bpb:.6f}  ({what}, {time.time() - t0:.0f}s)",
              flush=True)
        del model
    ref = rows[0]
    counts = sorted({r["tokens"] for r in rows})
    md = [f"Validation bpb on {' / '.join(f'{n:,}' for n in counts)} tokens each way (the models' batch x length), `{a.data_dir}` (last shard), {device.type}; relative to "
          f"`{ref['name']}`.", "", "| model | nanochat's rows | rel. | whole-document windows | rel. |", "|---|---:|---:|---:|---:|"]
    for r in rows:
        rel = lambda k: f"{100 * (r[k] / ref[k] - 1):+.2f}%"
        md.append(f"| {r['name']} | {r['val_bpb_nanochat_rows']:.6f} | {rel('val_bpb_nanochat_rows')} | "
                  f"{r['val_bpb_doc_windows']:.6f} | {rel('val_bpb_doc_windows')} |")
    md += ["", *[f"- {r['name']}: {r['model']}" for r in rows]]
    print("\n".join(md))
    if a.out:
        Path(a.out).write_text("\n".join(md) + "\n")
        Path(a.out).with_suffix(".json").write_text(json.dumps(dict(rows=rows, data_dir=a.data_dir, eval_tokens=a.eval_tokens,
                                                                    batch=a.batch, argv=sys.argv[1:]), indent=1) + "\n")


if __name__ == "__main__": main()
