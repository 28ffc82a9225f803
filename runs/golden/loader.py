"""Golden data for ArcherChat's loader: run nanochat's own pretraining loader and record what it yields.

Runs `nanochat.dataloader.tokenizing_distributed_data_loader_with_state_bos_bestfit` (nanochat's defaults: best-fit,
buffer 1000, tokenizer batches of 128 documents) on CPU, with nanochat's `RustBPETokenizer` loaded from the fixture
tokenizer `archerchat/assets/nanochat/d2/tokenizer` (vocab 1024), over ArcherChat's embedded corpus
(`archerchat/assets/corpus`, last shard = val), for world size 1 and for both ranks of world size 2. Records the first
batches' rows and state dicts, and the batches nanochat yields after resuming from one of its own state dicts.

    PYTHONPATH=/path/to/wandb-stub /path/to/nanochat-venv/bin/python runs/golden/loader.py --nanochat ~/nanochat \
        --out archerchat/assets/nanochat/loader

Run it with a Python that can import nanochat (torch, pyarrow, rustbpe, tiktoken). Nothing of nanochat is copied here.
"""
import argparse, json, os, shutil, subprocess, sys, tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
B, T = 4, 64
BATCHES = dict(train=48, val=24)
RESUME_AT, RESUMED = 16, 16          # train: resume from the state of batch RESUME_AT (1-based), record RESUMED batches


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nanochat", required=True, help="a checkout of github.com/karpathy/nanochat")
    ap.add_argument("--out", default=str(REPO / "archerchat/assets/nanochat/loader"))
    a = ap.parse_args(argv)
    nc, out = Path(a.nanochat).resolve(), Path(a.out)
    commit = subprocess.run(["git", "-C", str(nc), "rev-parse", "--short=7", "HEAD"], capture_output=True, text=True).stdout.strip()
    corpus, tokdir = REPO / "archerchat/assets/corpus", REPO / "archerchat/assets/nanochat/d2/tokenizer"
    base = Path(tempfile.mkdtemp(prefix="nc-loader-"))
    (base / "base_data_climbmix").mkdir()
    for f in sorted(corpus.glob("shard_*.parquet")): (base / "base_data_climbmix" / f.name).symlink_to(f)
    (base / "tokenizer").symlink_to(tokdir)
    os.environ["NANOCHAT_BASE_DIR"] = str(base)          # read when nanochat.dataset is imported
    sys.path.insert(0, str(nc))
    import torch
    from nanochat.tokenizer import get_tokenizer
    from nanochat.dataloader import tokenizing_distributed_data_loader_with_state_bos_bestfit as nc_loader
    tok = get_tokenizer()
    assert tok.get_vocab_size() <= 32768

    def set_world(rank, world):
        for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE"): os.environ.pop(k, None)
        if world > 1: os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world))

    def take(split, n, resume=None):
        rows, states = [], []
        gen = nc_loader(tok, B, T, split, device="cpu", resume_state_dict=resume)   # nanochat's defaults otherwise
        for _ in range(n):
            x, y, st = next(gen)
            rows.append(torch.cat([x, y[:, -1:]], 1).to(torch.int16).clone())   # the full (B, T+1) rows
            states.append(dict(st))
        return torch.stack(rows), states

    batches, states = {}, {}
    for world in (1, 2):
        for rank in range(world):
            set_world(rank, world)
            for split in ("train", "val"):
                key = f"{split}_w{world}_r{rank}"
                batches[key], states[key] = take(split, BATCHES[split])
                print(key, tuple(batches[key].shape), states[key][-1], flush=True)
            key = f"train_w{world}_r{rank}"
            resume = states[key][RESUME_AT - 1]
            batches[key + "_resumed"], states[key + "_resumed"] = take("train", RESUMED, resume)
            print(key + "_resumed from", resume, flush=True)
    set_world(0, 1)
    shutil.rmtree(base)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(batches, out / "batches.pt")
    meta = dict(nanochat_commit=commit, B=B, T=T, buffer_size=1000, tokenizer_batch_size=128, resume_at=RESUME_AT,
                corpus=sorted(f.name for f in corpus.glob("shard_*.parquet")), states=states)
    (out / "states.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"wrote {out}/batches.pt ({(out / 'batches.pt').stat().st_size:,} bytes) and states.json; nanochat {commit}")


if __name__ == "__main__": main()
