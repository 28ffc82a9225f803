"""Golden traces of nanochat's own training step, recorded as data for `nbs/15_nanochat.ipynb`.

Runs nanochat's unmodified `scripts.base_train` in this process (CPU, a tiny model on the d2 fixture's tokenizer,
vocab 1024) for a few optimizer steps and watches it through wrappers that only record: the initial weights (written
with nanochat's own `save_checkpoint` as a step-0 checkpoint), every micro-batch, every loss, each parameter's
gradient norm before each optimizer step, each group's lr / momentum / weight decay as base_train set them, each
parameter's change per step and a few exact values after the last step, and the validation bpb of nanochat's own
`evaluate_bpb` and validation loader. Then it records the logits of the init model and of the d2 fixture model on a
fixed input. Everything goes to `--out` (its README.md is kept by hand: update it when you re-record).

    python runs/golden/trace.py --nanochat ~/nanochat --out archerchat/assets/nanochat/trace

Needs a Python with nanochat's dependencies (torch, tiktoken, rustbpe, pyarrow, filelock); `wandb` is stubbed.
`torch.compile` is replaced by the identity (unless `--compile`), so the traces are eager fp32 CPU arithmetic, the
same kind of arithmetic ArcherChat's CPU tests do.
"""
from __future__ import annotations
import argparse, json, os, runpy, shutil, subprocess, sys, tempfile, types
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "archerchat/assets/nanochat/d2"
CORPUS = REPO / "archerchat/assets/corpus"
FIXED_TEXT = ("The quick brown fox jumps over the lazy dog. To be, or not to be, that is the question: "
              "def main(argv=None): return 0  # the kernel documentation describes the interface")
GREEDY_PROMPTS = ["The capital of France is", "def main(argv=None):"]


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nanochat", required=True, help="a nanochat checkout (commit 92d63d4)")
    ap.add_argument("--out", default=str(REPO / "archerchat/assets/nanochat/trace"))
    ap.add_argument("--fixture", default=str(FIXTURE), help="NANOCHAT_BASE_DIR fixture: its tokenizer and d2 model")
    ap.add_argument("--work", default=None, help="scratch NANOCHAT_BASE_DIR (default: a temporary directory)")
    ap.add_argument("--depth", type=int, default=3)
    ap.add_argument("--aspect-ratio", type=int, default=8)
    ap.add_argument("--head-dim", type=int, default=8)
    ap.add_argument("--max-seq-len", type=int, default=128)
    ap.add_argument("--device-batch-size", type=int, default=2)
    ap.add_argument("--total-batch-size", type=int, default=512)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup-steps", type=int, default=2)
    ap.add_argument("--eval-tokens", type=int, default=2048)
    ap.add_argument("--compile", action="store_true", help="leave torch.compile on (CPU inductor)")
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    work = Path(args.work or tempfile.mkdtemp(prefix="nanochat-trace-"))
    try: record(args, work)
    finally:   # the scratch copy of the corpus and nanochat's checkpoints, unless the user named the folder
        if args.work is None: shutil.rmtree(work, ignore_errors=True)


def record(args, work: Path):
    "Run nanochat's base_train in `work` (a scratch NANOCHAT_BASE_DIR) and write what it did to `args.out`."
    nc_path, out, fixture = Path(args.nanochat).resolve(), Path(args.out), Path(args.fixture)
    (work / "tokenizer").mkdir(parents=True, exist_ok=True)
    for f in ("tokenizer.pkl", "token_bytes.pt"): shutil.copy(fixture / "tokenizer" / f, work / "tokenizer" / f)
    (work / "base_data_climbmix").mkdir(exist_ok=True)
    for f in sorted(CORPUS.glob("shard_*.parquet")): shutil.copy(f, work / "base_data_climbmix" / f.name)
    os.environ["NANOCHAT_BASE_DIR"] = str(work)
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    sys.path.insert(0, str(nc_path))
    if "wandb" not in sys.modules:   # base_train imports wandb; with --run dummy it never calls it
        stub = types.ModuleType("wandb")
        stub.init = lambda *a, **k: types.SimpleNamespace(log=lambda *a, **k: None, finish=lambda *a, **k: None)
        sys.modules["wandb"] = stub

    import torch
    if not args.compile: torch.compile = lambda fn=None, *a, **k: fn if fn is not None else (lambda f: f)
    import nanochat.gpt as ncgpt, nanochat.optim as ncoptim, nanochat.loss_eval as ncloss
    import nanochat.checkpoint_manager as ckm

    rec = dict(init_state=None, model=None, micro=[], steps=[], val_bpb=[])

    orig_init = ncgpt.GPT.init_weights
    def init_weights(self):
        orig_init(self)
        if rec["init_state"] is None:   # the first model base_train initialises is the one it trains
            rec["model"] = self
            rec["init_state"] = {k: v.detach().clone() for k, v in self.state_dict().items()}
    ncgpt.GPT.init_weights = init_weights

    orig_forward = ncgpt.GPT.forward
    def forward(self, idx, targets=None, kv_cache=None, loss_reduction="mean"):
        out = orig_forward(self, idx, targets, kv_cache, loss_reduction)
        if self is rec["model"] and targets is not None and torch.is_grad_enabled() and loss_reduction == "mean":
            rec["micro"].append(dict(x=idx.detach().clone(), y=targets.detach().clone(), loss=out.item()))
        return out
    ncgpt.GPT.forward = forward

    orig_step = ncoptim.MuonAdamW.step
    def step(self, *a, **k):
        names = {id(p): n for n, p in rec["model"].named_parameters()}
        before = {n: p.detach().clone() for n, p in rec["model"].named_parameters()}
        grad_norm = {n: p.grad.norm().item() for n, p in rec["model"].named_parameters()}
        groups = [dict(kind=g["kind"], params=[names[id(p)] for p in g["params"]], lr=g["lr"], initial_lr=g["initial_lr"],
                       **({"momentum": g["momentum"], "weight_decay": g["weight_decay"], "beta2": g["beta2"]} if g["kind"] == "muon"
                          else {"betas": list(g["betas"]), "eps": g["eps"], "weight_decay": g["weight_decay"]}))
                  for g in self.param_groups]
        res = orig_step(self, *a, **k)
        delta_norm = {n: (p.detach() - before[n]).norm().item() for n, p in rec["model"].named_parameters()}
        rec["steps"].append(dict(grad_norm=grad_norm, delta_norm=delta_norm, groups=groups))
        return res
    ncoptim.MuonAdamW.step = step

    orig_bpb = ncloss.evaluate_bpb
    def evaluate_bpb(model, batches, steps, token_bytes):
        v = orig_bpb(model, batches, steps, token_bytes)
        rec["val_bpb"].append(dict(after_steps=len(rec["steps"]), eval_steps=steps, bpb=v))
        return v
    ncloss.evaluate_bpb = evaluate_bpb

    tag = "trace"
    train_argv = ["--device-type", "cpu", "--depth", str(args.depth), "--aspect-ratio", str(args.aspect_ratio),
                  "--head-dim", str(args.head_dim), "--window-pattern", "L", "--max-seq-len", str(args.max_seq_len),
                  "--device-batch-size", str(args.device_batch_size), "--total-batch-size", str(args.total_batch_size),
                  "--num-iterations", str(args.steps), "--warmup-steps", str(args.warmup_steps),
                  "--eval-every", str(args.steps), "--eval-tokens", str(args.eval_tokens), "--core-metric-every", "-1",
                  "--sample-every", "-1", "--save-every", "1", "--model-tag", tag]
    sys.argv = ["scripts/base_train.py", *train_argv]
    cwd = os.getcwd(); os.chdir(nc_path)
    try: runpy.run_module("scripts.base_train", run_name="__main__")
    finally: os.chdir(cwd)

    ckpt_dir = work / "base_checkpoints" / tag
    model = rec["model"]
    final = {k: v.detach().clone() for k, v in model.state_dict().items()}
    saved_last = torch.load(ckpt_dir / f"model_{args.steps:06d}.pt", map_location="cpu")
    for k, v in saved_last.items():   # the watched parameters are the ones nanochat saved
        assert torch.equal(v, final[k]), f"{k}: the recorded final weights differ from nanochat's checkpoint"
    meta1 = json.loads((ckpt_dir / "meta_000001.json").read_text())

    out.mkdir(parents=True, exist_ok=True)
    ckpt_out = out / "base_checkpoints" / tag
    if ckpt_out.exists(): shutil.rmtree(ckpt_out)
    meta0 = dict(meta1, step=0, val_bpb=rec["val_bpb"][0]["bpb"], dataloader_state_dict=None,
                 loop_state=dict(min_val_bpb=rec["val_bpb"][0]["bpb"], smooth_train_loss=0, total_training_time=0))
    ckm.save_checkpoint(str(ckpt_out), 0, rec["init_state"], None, meta0)

    # logits on a fixed input: the init model (eager, fresh from the step-0 checkpoint) and the d2 fixture model
    from nanochat.tokenizer import get_tokenizer
    tok = get_tokenizer()
    ids = tok.encode(FIXED_TEXT, prepend="<|bos|>")
    T = 16
    assert len(ids) >= 2 * T, f"the fixed text gives only {len(ids)} tokens"
    fixed = torch.tensor([ids[:T], ids[T:2 * T]], dtype=torch.long)
    init_model, _, _ = ckm.build_model(str(ckpt_out), 0, torch.device("cpu"), "eval")
    d2_dir = fixture / "base_checkpoints" / "d2"
    d2_step = ckm.find_last_step(str(d2_dir))
    d2_model, _, _ = ckm.build_model(str(d2_dir), d2_step, torch.device("cpu"), "eval")
    with torch.no_grad():
        init_logits, d2_logits = init_model(fixed), d2_model(fixed)
        d2_loss = d2_model(fixed[:, :-1].contiguous(), fixed[:, 1:].contiguous()).item()
    # greedy decoding through nanochat's Engine (KV cache) on the d2 model, as base_train's samples do
    from nanochat.engine import Engine
    engine = Engine(d2_model, tok)
    greedy = []
    for prompt in GREEDY_PROMPTS:
        tokens = tok.encode(prompt, prepend="<|bos|>")
        seqs, _ = engine.generate_batch(tokens, num_samples=1, max_tokens=16, temperature=0)
        greedy.append(dict(prompt=prompt, tokens=seqs[0]))

    micro = rec["micro"]
    accum = len(micro) // args.steps
    torch.save(dict(
        fixed_input=fixed, init_logits=init_logits, d2_logits=d2_logits, d2_step=d2_step, d2_loss=d2_loss,
        x=torch.stack([m["x"] for m in micro]).to(torch.int16), y=torch.stack([m["y"] for m in micro]).to(torch.int16),
        micro_loss=torch.tensor([m["loss"] for m in micro], dtype=torch.float64), grad_accum_steps=accum,
        final_head={k: v.flatten()[:16].clone() for k, v in final.items()},
        final_tail={k: v.flatten()[-16:].clone() for k, v in final.items()},
    ), out / "trace.pt")
    summary = dict(
        nanochat_commit=subprocess.run(["git", "-C", str(nc_path), "rev-parse", "--short", "HEAD"], capture_output=True,
                                       text=True).stdout.strip(),
        torch=torch.__version__, compiled=bool(args.compile), base_train_args=train_argv, tag=tag,
        model_config=meta1["model_config"], total_batch_size=meta1["total_batch_size"], grad_accum_steps=accum,
        steps=rec["steps"], micro_loss=[m["loss"] for m in micro], val_bpb=rec["val_bpb"],
        fixed_text=FIXED_TEXT, d2_step=d2_step, d2_loss=d2_loss, d2_greedy=greedy)
    (out / "trace.json").write_text(json.dumps(summary, indent=1))
    print(f"wrote {out}: {[str(p.relative_to(out)) for p in sorted(out.rglob('*')) if p.is_file()]}")
    print(f"losses {summary['micro_loss']}, val bpb {[v['bpb'] for v in rec['val_bpb']]}")


if __name__ == "__main__": main()
