"""Golden data for ArcherChat's Muon: run nanochat's own `MuonAdamW` (nanochat/optim.py) on CPU and record what it does.

    python runs/golden/muon.py --nanochat /path/to/nanochat --out archerchat/assets/nanochat/muon

Run it with a Python that can import nanochat (torch, filelock; a stand-in `wandb` module on PYTHONPATH is enough).
nanochat is imported from `--nanochat` unmodified; its step functions are `torch.compile`d, which works on CPU when a
C++ compiler is installed. By default everything runs in fp32 (nanochat's compute dtype on CPU), so the data pins down
the math, not bf16 rounding; `--dtype bfloat16` sets nanochat's compute dtype to bf16 (`NANOCHAT_DTYPE`, as on a GPU),
so its Polar Express runs in bf16: that pins down the GPU path's casts. `--eager` runs nanochat's step functions
uncompiled (`TORCHDYNAMO_DISABLE=1`): in bf16 inductor's fused kernels round differently from eager bf16 ops (Muon
updates 6-10% apart), so a compiled recording is compared with compiled code and an eager one with eager code. Writes
`muon.pt`, `muon_bf16.pt` or `muon_bf16_eager.pt` (with `--eager` in fp32: `muon_eager.pt`), a dict of tensors, lists
and numbers (`torch.load(..., weights_only=True)`).
"""
import argparse, os, subprocess, sys
from pathlib import Path

# Muon matrices, one group per shape as nanochat's GPT.setup_optimizer makes them: name -> (stack size, (m, n))
MUON_SHAPES = {"tall": (3, (32, 12)), "wide": (2, (12, 28)), "square": (1, (16, 16))}
MATRIX_LR, MUON_BETA2, NS_STEPS = 0.05, 0.9, 5
# AdamW tensors, one group each: name -> (shape, lr, betas, weight decay); `emb` is big enough (>= 1024 elements) that a
# distributed optimizer shards it
ADAMW = {"emb": ((64, 16), 0.3, (0.8, 0.995), 0.001),
         "head": ((10, 16), 0.008, (0.8, 0.96), 0.01),
         "scalars": ((3,), 0.5, (0.96, 0.95), 0.05)}
# what a training loop's schedules set before each step: lr multiplier (all groups), Muon momentum, Muon weight decay
SCHEDULE = [dict(lrm=1.0, momentum=0.85, weight_decay=0.3),
            dict(lrm=0.6, momentum=0.9, weight_decay=0.15),
            dict(lrm=0.25, momentum=0.97, weight_decay=0.05)]


def matrix_grad(m: int, n: int, g) -> "torch.Tensor":
    "A gradient-like matrix: low rank plus noise, with row norms spread over ~2 decades (what row equilibration is for)."
    import torch
    r = min(m, n) // 3
    G = torch.randn(m, r, generator=g) @ torch.randn(r, n, generator=g) / r**0.5 + 0.1 * torch.randn(m, n, generator=g)
    return G * torch.exp(1.2 * torch.randn(m, 1, generator=g))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nanochat", required=True, type=Path, help="a nanochat checkout (imported from there)")
    ap.add_argument("--out", required=True, type=Path, help="folder for muon.pt")
    ap.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32", help="nanochat's compute dtype")
    ap.add_argument("--eager", action="store_true", help="nanochat's step functions uncompiled")
    args = ap.parse_args()
    os.environ["NANOCHAT_DTYPE"] = args.dtype   # read by nanochat.common at import
    if args.eager: os.environ["TORCHDYNAMO_DISABLE"] = "1"   # read by torch at import
    nc = args.nanochat.resolve()
    if not (nc / "nanochat" / "optim.py").is_file():
        sys.exit(f"--nanochat {nc}: no nanochat/optim.py there; pass the root of a nanochat checkout")
    sys.path.insert(0, str(nc))
    import torch
    from nanochat.common import COMPUTE_DTYPE
    from nanochat.optim import MuonAdamW, muon_step_fused
    assert COMPUTE_DTYPE == getattr(torch, args.dtype), f"nanochat's compute dtype here is {COMPUTE_DTYPE}, not {args.dtype}"
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(2126)

    # parameters and the 3 steps' gradients
    names, init = [], {}
    for key, (K, (m, n)) in MUON_SHAPES.items():
        for k in range(K):
            names.append(f"{key}.{k}"); init[f"{key}.{k}"] = torch.randn(m, n, generator=g) / n**0.5
    for key, (shape, *_) in ADAMW.items():
        names.append(key); init[key] = torch.randn(*shape, generator=g) * 0.3 + (1.0 if key == "scalars" else 0.0)
    grads = []
    for _ in SCHEDULE:
        grads.append({nm: matrix_grad(*init[nm].shape, g) if nm.split(".")[0] in MUON_SHAPES
                      else torch.randn(init[nm].shape, generator=g) for nm in names})

    params = {nm: torch.nn.Parameter(t.clone()) for nm, t in init.items()}
    groups = [dict(kind="adamw", params=[params[key]], lr=lr, betas=betas, eps=1e-10, weight_decay=wd)
              for key, (_, lr, betas, wd) in ADAMW.items()]
    for key, (K, _) in MUON_SHAPES.items():
        groups.append(dict(kind="muon", params=[params[f"{key}.{k}"] for k in range(K)], lr=MATRIX_LR, momentum=0.95,
                           ns_steps=NS_STEPS, beta2=MUON_BETA2, weight_decay=0.0))
    opt = MuonAdamW(groups)
    for group in opt.param_groups: group["initial_lr"] = group["lr"]
    after = []
    for step, (sched, grad) in enumerate(zip(SCHEDULE, grads)):
        for group in opt.param_groups:   # as nanochat's scripts/base_train.py does each step
            group["lr"] = group["initial_lr"] * sched["lrm"]
            if group["kind"] == "muon":
                group["momentum"] = sched["momentum"]; group["weight_decay"] = sched["weight_decay"]
        for nm, p in params.items(): p.grad = grad[nm].clone()
        opt.step()
        after.append({nm: p.detach().clone() for nm, p in params.items()})
    state = {key: {k: v.clone() for k, v in opt.state[params[f"{key}.0"]].items()} for key in MUON_SHAPES}

    # one Muon update on its own: nanochat's muon_step_fused on each stack, from nonzero buffers; parameters start at
    # zero and lr is 1 with no weight decay, so the parameters afterwards are exactly minus the update
    single = {}
    for key, (K, (m, n)) in MUON_SHAPES.items():
        G = torch.stack([matrix_grad(m, n, g) for _ in range(K)])
        mb = torch.stack([matrix_grad(m, n, g) for _ in range(K)])
        red_dim = -1 if m >= n else -2
        sm = torch.rand((K, m, 1) if red_dim == -1 else (K, 1, n), generator=g) * 0.1 + 0.01
        hp = dict(momentum=0.9, beta2=0.9)
        P, mb_out, sm_out = torch.zeros(K, m, n), mb.clone(), sm.clone()
        t = lambda v: torch.tensor(float(v))
        muon_step_fused(G.clone(), P, mb_out, sm_out, t(hp["momentum"]), t(1.0), t(0.0), t(hp["beta2"]), NS_STEPS, red_dim)
        single[key] = dict(grads=G, momentum_buffer=mb, second_momentum_buffer=sm, **hp, ns_steps=NS_STEPS,
                           update=-P, momentum_buffer_after=mb_out, second_momentum_buffer_after=sm_out)

    commit = subprocess.run(["git", "-C", str(nc), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    out = dict(nanochat_commit=commit, torch=str(torch.__version__), compute_dtype=str(COMPUTE_DTYPE), compiled=not args.eager,
               muon_shapes={k: [K, list(s)] for k, (K, s) in MUON_SHAPES.items()}, matrix_lr=MATRIX_LR,
               muon_beta2=MUON_BETA2, ns_steps=NS_STEPS,
               adamw={k: dict(shape=list(s), lr=lr, betas=list(b), weight_decay=wd) for k, (s, lr, b, wd) in ADAMW.items()},
               schedule=SCHEDULE, names=names, init=init, grads=grads, params=after, state=state, single=single)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"muon{'_bf16' if args.dtype == 'bfloat16' else ''}{'_eager' if args.eager else ''}.pt"
    torch.save(out, path)
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KB), nanochat {commit[:7]}, compute dtype {COMPUTE_DTYPE}")


if __name__ == "__main__":
    main()
