"""nanochat's forward pass in bf16 (its compute dtype on a GPU), recorded as data for `nbs/15_nanochat.ipynb`.

With `NANOCHAT_DTYPE=bfloat16`, nanochat's own `checkpoint_manager.build_model` loads the d2 fixture model and the trace's
init model (`archerchat/assets/nanochat/{d2,trace}`), and each runs eagerly on CPU on the trace's fixed input
(`trace.pt`'s `fixed_input`): the logits, and the loss on the same tokens shifted by one. Writes `bf16.pt` beside
`trace.pt`.

    PYTHONPATH=/path/to/wandb-stub python runs/golden/bf16.py --nanochat /path/to/nanochat

Needs a Python with nanochat's dependencies (torch, tiktoken, rustbpe, filelock); `wandb` is only imported, never called.
"""
from __future__ import annotations
import argparse, os, subprocess, sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ASSETS = REPO / "archerchat/assets/nanochat"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nanochat", required=True, type=Path, help="a nanochat checkout (commit 92d63d4)")
    ap.add_argument("--out", default=str(ASSETS / "trace" / "bf16.pt"))
    args = ap.parse_args(argv)
    nc = args.nanochat.resolve()
    if not (nc / "nanochat" / "checkpoint_manager.py").is_file():
        sys.exit(f"--nanochat {nc}: no nanochat/checkpoint_manager.py there; pass the root of a nanochat checkout")
    os.environ["NANOCHAT_DTYPE"] = "bfloat16"              # read by nanochat.common at import
    os.environ["NANOCHAT_BASE_DIR"] = str(ASSETS / "d2")   # get_tokenizer() reads the fixture's tokenizer from there
    os.environ["TORCHDYNAMO_DISABLE"] = "1"                 # eager: what the CPU test compares with
    sys.path.insert(0, str(nc))
    import torch
    from nanochat.common import COMPUTE_DTYPE
    from nanochat import checkpoint_manager as ckm
    assert COMPUTE_DTYPE == torch.bfloat16, COMPUTE_DTYPE
    torch.set_num_threads(1)
    fixed = torch.load(ASSETS / "trace" / "trace.pt", weights_only=True)["fixed_input"]
    out = dict(compute_dtype=str(COMPUTE_DTYPE), torch=str(torch.__version__), fixed_input=fixed)
    for name, ckpt_dir in (("d2", ASSETS / "d2" / "base_checkpoints" / "d2"), ("init", ASSETS / "trace" / "base_checkpoints" / "trace")):
        step = ckm.find_last_step(str(ckpt_dir))
        model, _, _ = ckm.build_model(str(ckpt_dir), step, torch.device("cpu"), "eval")
        with torch.no_grad():
            out[f"{name}_logits"] = model(fixed)
            out[f"{name}_loss"] = model(fixed[:, :-1].contiguous(), fixed[:, 1:].contiguous()).item()
        out[f"{name}_step"] = step
    out["nanochat_commit"] = subprocess.run(["git", "-C", str(nc), "rev-parse", "HEAD"], capture_output=True,
                                            text=True).stdout.strip()
    torch.save(out, args.out)
    print(f"wrote {args.out}: d2 loss {out['d2_loss']:.6f}, init loss {out['init_loss']:.6f}, nanochat {out['nanochat_commit'][:7]}")


if __name__ == "__main__":
    main()
