"""Golden plans: what nanochat's own `scripts/base_train.py` derives from `--depth`, recorded as data for notebook 03.

    python runs/golden/scaling.py --nanochat /path/to/nanochat --out archerchat/assets/nanochat/scaling

For each configuration in CONFIGS it runs nanochat's unmodified `scripts.base_train` in this process (`runpy`) up to its
first training forward pass and records what the script computed by then: the parameter counts by group
(`GPT.num_scaling_params`), the FLOPs per token (`GPT.estimate_flops`), the batch size, the number of steps, the
learning-rate and weight-decay scalings, gradient accumulation, and the learning rate of every optimizer group as
`GPT.setup_optimizer` set it. Nothing is trained, so the model never needs memory: nanochat builds it on the meta
device and the script keeps it there (`to_empty` and `init_weights` are skipped, `torch.compile` is the identity). The
tokenizer is a stand-in that only answers nanochat's vocabulary size (32,768, its default) and the data loader a
stand-in that is never read. Writes `plans.json`. Needs a Python that can import nanochat (torch; `wandb` is stubbed).
"""
from __future__ import annotations
import argparse, json, os, runpy, subprocess, sys, types
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VOCAB = 32768   # nanochat's default tokenizer size (scripts/tok_train.py --vocab-size)
# (name, base_train flags): nanochat's defaults over depths, the runs whose logs notebook 03 quotes, and the other horizons
CONFIGS = [(f"d{d}", ["--depth", str(d)]) for d in (4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 32)] + [
    ("d20 L", ["--depth", "20", "--window-pattern", "L"]),
    ("d12 L", ["--depth", "12", "--window-pattern", "L"]),
    ("d18 ratio 8", ["--depth", "18", "--target-param-data-ratio", "8"]),
    ("d24 ratio 8 (speedrun)", ["--depth", "24", "--target-param-data-ratio", "8", "--device-batch-size", "16"]),
    ("d26 ratio 8.25", ["--depth", "26", "--target-param-data-ratio", "8.25", "--device-batch-size", "16"]),
    ("d12 1e18 FLOPs", ["--depth", "12", "--target-flops", "1e18"]),
    ("d8 500 steps, batch 2^17", ["--depth", "8", "--num-iterations", "500", "--total-batch-size", "131072"]),
    ("d20 device batch 16", ["--depth", "20", "--device-batch-size", "16"]),
]
RECORDED = ["num_scaling_params", "target_tokens", "total_batch_size", "batch_lr_scale", "weight_decay_scaled",
            "num_iterations", "total_tokens", "grad_accum_steps", "D_REF", "B_REF"]


class _Planned(Exception):
    "Raised at base_train's first training forward: everything before it is the plan."


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nanochat", required=True, type=Path, help="a nanochat checkout (commit 92d63d4)")
    ap.add_argument("--out", default=str(REPO / "archerchat/assets/nanochat/scaling"), type=Path)
    args = ap.parse_args(argv)
    nc = args.nanochat.resolve()
    if not (nc / "scripts" / "base_train.py").is_file():
        sys.exit(f"--nanochat {nc}: no scripts/base_train.py there; pass the root of a nanochat checkout")
    sys.path.insert(0, str(nc))
    if "wandb" not in sys.modules:   # base_train imports wandb; with --run dummy it never calls it
        stub = types.ModuleType("wandb")
        stub.init = lambda *a, **k: types.SimpleNamespace(log=lambda *a, **k: None, finish=lambda *a, **k: None)
        sys.modules["wandb"] = stub
    import torch
    torch.compile = lambda fn=None, *a, **k: fn if fn is not None else (lambda f: f)
    import nanochat.gpt as ncgpt, nanochat.tokenizer as nctok, nanochat.dataloader as ncdata

    class StandInTokenizer:   # base_train asks the tokenizer for its size only, before training
        def get_vocab_size(self): return VOCAB
        def get_bos_token_id(self): return 0
    nctok.get_tokenizer = lambda *a, **k: StandInTokenizer()
    nctok.get_token_bytes = lambda device="cpu": torch.ones(VOCAB, dtype=torch.int32)
    ncdata.tokenizing_distributed_data_loader_with_state_bos_bestfit = lambda *a, **k: iter([(None, None, None)])
    ncgpt.GPT.to_empty = lambda self, *a, **k: self          # stay on the meta device
    ncgpt.GPT.init_weights = lambda self, *a, **k: None
    rec = {}
    orig_setup = ncgpt.GPT.setup_optimizer
    def setup_optimizer(self, **kw):
        opt = orig_setup(self, **kw)
        names = {id(p): n for n, p in self.named_parameters()}
        # each group: its optimizer, lr, weight decay, its first parameter's name and how many it holds
        rec["groups"] = [dict(kind=g["kind"], first=names[id(g["params"][0])], n_params=len(g["params"]),
                              shape=list(g["params"][0].shape), lr=g["lr"], weight_decay=g["weight_decay"])
                         for g in opt.param_groups]
        return opt
    ncgpt.GPT.setup_optimizer = setup_optimizer
    def forward(self, *a, **k):   # the first training micro-step: read the script's globals, stop
        f = sys._getframe()
        while f is not None and not f.f_code.co_filename.endswith("base_train.py"): f = f.f_back
        g = f.f_globals
        rec.update({k: g[k] for k in RECORDED}, param_counts=dict(g["param_counts"]),
                   flops_per_token=g["num_flops_per_token"], model_config=g["model_config_kwargs"],
                   window_sizes=[list(w) for w in self.window_sizes])
        raise _Planned
    ncgpt.GPT.forward = forward

    rows, cwd = [], os.getcwd()
    os.chdir(nc)
    try:
        for name, flags in CONFIGS:
            rec.clear()
            sys.argv = ["scripts/base_train.py", "--device-type", "cpu", "--run", "dummy", "--eval-every", "-1",
                        "--core-metric-every", "-1", "--sample-every", "-1", *flags]
            try: runpy.run_module("scripts.base_train", run_name="__main__")
            except _Planned: pass
            assert rec, f"{name}: base_train ended before its first training step"
            rows.append(dict(name=name, base_train_args=flags, **rec))
            print(f"{name:26s} N={rec['num_scaling_params']:>13,} B={rec['total_batch_size']:>9,} "
                  f"steps={rec['num_iterations']:>6,} wd={rec['weight_decay_scaled']:.6f}", flush=True)
    finally:
        os.chdir(cwd)
    commit = subprocess.run(["git", "-C", str(nc), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    args.out.mkdir(parents=True, exist_ok=True)
    head = json.dumps(dict(nanochat_commit=commit, torch=torch.__version__, vocab_size=VOCAB))[:-1]
    (args.out / "plans.json").write_text(head + ', "plans": [\n' + ",\n".join(json.dumps(r) for r in rows) + "\n]}\n")  # a plan a line
    print(f"wrote {args.out / 'plans.json'}: {len(rows)} plans")


if __name__ == "__main__": main()
