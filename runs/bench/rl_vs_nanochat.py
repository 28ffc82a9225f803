"""nanochat's `chat_rl` and ArcherChat's RL on the same chat model, the same GSM8K problems and the same settings:
rewards per step, seconds per step, and pass@k before and after on the same held-out problems with one evaluator.

    python runs/bench/rl_vs_nanochat.py --nanochat ~/nanochat --model-tag d12 --gsm8k ~/data/tasks/gsm8k \\
        --num-steps 30 --out runs/out/rl                                        # GPU: ~6 min at d12
    python runs/bench/rl_vs_nanochat.py --nanochat ~/nanochat --model-tag demo --gsm8k embedded --device-type cpu \\
        --num-steps 2 --examples-per-step 2 --num-samples 4 --device-batch-size 4 --max-new-tokens 16 \\
        --eval-examples 4 --eval-max-new-tokens 16 --out /tmp/rl_vs_nanochat    # a CPU rehearsal of the flow

The SFT model (`--model-tag`/`--model-step` under $ARCHERCHAT_BASE_DIR, or `--source PATH` of a nanochat chat
checkpoint) is written in nanochat's layout (`archerchat.rl.export_nanochat`) into `OUT/nanochat_base`, with the GSM8K
problems as a finished download of nanochat's task loader: the test split whole (nanochat shuffles it with seed 42, as
ArcherChat does, so both see the same held-out problems), the training split cut to the `num_steps x examples_per_step`
problems ArcherChat visits, laid out so that nanochat's shuffle puts them in ArcherChat's order (its step count then
comes out as `--num-steps`, and its learning-rate schedule ends there as ArcherChat's does). Then:

1. `python -m archerchat.rl` (ArcherChat's engine and loop), its per-step times from its summary;
2. nanochat's `scripts/chat_rl.py`, unmodified, as a subprocess in its checkout (`NANOCHAT_BASE_DIR=OUT/nanochat_base`,
   a stand-in `wandb` on its `PYTHONPATH`; without `kernels` it uses its SDPA fallback), each printed line time-stamped:
   a step's time is from the previous step's "Average reward" line (or its own pass@k line) to its own;
3. one evaluator for all: `archerchat.rl.evaluate_rl` (pass@1..device_batch_size, the same seed, so the same sampling
   noise per problem) on the SFT model and on each program's final weights.

`OUT/rl_vs_nanochat.md` (the table), `.json` (every number, the commands) and `.png` (reward curves, pass@k) are written,
also when a program stops early (`--timeout` per program); logs in `OUT/logs/`.
"""
from __future__ import annotations
import argparse, json, os, re, shutil, statistics, subprocess, sys, time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WANDB_STUB = '''"Stand-in wandb for nanochat: init() returns a run whose log/finish do nothing."
class _Run:
    def log(self, *a, **k): pass
    def finish(self, *a, **k): pass
def init(*a, **k): return _Run()
'''
# nanochat 92d63d4, scripts/chat_rl.py:
#   print0(f"Step {step} | {', '.join(print_passk)}")   with print_passk = [f"Pass@{k}: {passk[k - 1].item():.4f}" ...]
#   print0(f"Step {step}/{num_steps} | Average reward: {mean_reward} | Average sequence length: {mean_sequence_length:.2f}")
NC_PASSK = re.compile(r"^Step (\d+) \| (Pass@1: .*)$")
NC_REWARD = re.compile(r"^Step (\d+)/(\d+) \| Average reward: ([-0-9.e]+|nan) \| Average sequence length: ([0-9.]+)")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    a = ap.add_argument
    a("--nanochat", required=True, help="a nanochat checkout (commit 92d63d4)")
    a("--out", required=True, help="run directory for the comparison")
    a("--source", default="sft", help="sft (ArcherChat checkpoints under $ARCHERCHAT_BASE_DIR) or the path of a nanochat chat checkpoint")
    a("--model-tag", default=None); a("--model-step", type=int, default=None)
    a("--gsm8k", default="embedded", help="embedded | hub | a Hub-shaped mirror | a directory with grade-school-math's train.jsonl/test.jsonl")
    a("--device-type", default="")
    a("--num-steps", type=int, default=30)
    a("--examples-per-step", type=int, default=4); a("--num-samples", type=int, default=8); a("--device-batch-size", type=int, default=8)
    a("--max-new-tokens", type=int, default=128)
    a("--eval-examples", type=int, default=64); a("--eval-max-new-tokens", type=int, default=256)
    a("--nanochat-eval-examples", type=int, default=8, help="problems of nanochat's own pass@k at step 0 (its engine samples "
      "them one problem at a time, 256 tokens each: slow); the comparison's pass@k is measured afterwards, by one evaluator")
    a("--timeout", type=float, default=240, help="seconds each program may train (it is stopped after; what it did is kept)")
    a("--decode", default="auto", choices=["auto", "eager", "static", "graph"], help="ArcherChat's decode path (auto: CUDA graphs on a GPU)")
    a("--skip-nanochat", action="store_true"); a("--skip-archerchat", action="store_true")
    a("--self-test", action="store_true", help="check the log parser on a sample and exit")
    return ap.parse_args(argv)


def parse_nanochat(lines) -> dict:
    "`{passk: {step: [...]}, steps: [{step, reward, sequence_length, t}]}` from (time, line) pairs of chat_rl's stdout."
    passk, steps, last = {}, [], None
    for t, line in lines:
        line = line.strip()
        if m := NC_PASSK.match(line):
            passk[int(m.group(1))] = [float(x.split(": ")[1]) for x in m.group(2).split(", ")]
            last = t
        elif m := NC_REWARD.match(line):
            steps.append(dict(step=int(m.group(1)), num_steps=int(m.group(2)), reward=float(m.group(3)),
                              sequence_length=float(m.group(4)), t=t, dt=None if last is None else t - last))
            last = t
    return dict(passk=passk, steps=steps)


def self_test():
    sample = [(0.0, "Calculated number of steps: 3"), (10.0, "Step 0 | Pass@1: 0.0100, Pass@2: 0.0200"),
              (12.0, "Step 0/3 | Example step 0 | Pass 0 | loss: 0.000001 | Average reward: 0.0"),
              (15.0, "Step 0/3 | Average reward: 0.0625 | Average sequence length: 301.50"),
              (18.5, "Step 1/3 | Average reward: 0.125 | Average sequence length: 290.00")]
    r = parse_nanochat(sample)
    assert r["passk"] == {0: [0.01, 0.02]}, r
    assert [(s["step"], s["reward"], s["dt"]) for s in r["steps"]] == [(0, 0.0625, 5.0), (1, 0.125, 3.5)], r
    print("self-test: ok")


def gsm8k_mirror(spec: str, out: Path) -> str:
    "A `--task-source` for archerchat: 'embedded', 'hub', a mirror as given, or one built from grade-school-math's jsonl files."
    p = Path(spec).expanduser()
    if spec in ("embedded", "hub") or (p / "openai" / "gsm8k").is_dir(): return spec
    if not ((p / "train.jsonl").exists() and (p / "test.jsonl").exists()):
        raise SystemExit(f"--gsm8k {spec}: not 'embedded', 'hub', a Hub-shaped mirror (openai/gsm8k/main/*.parquet) or a directory "
                         "with train.jsonl and test.jsonl")
    import pyarrow as pa, pyarrow.parquet as pq
    d = out / "gsm8k_mirror" / "openai" / "gsm8k"
    for split in ("train", "test"):
        rows = [json.loads(l) for l in open(p / f"{split}.jsonl", encoding="utf-8") if l.strip()]
        (d / "main").mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist([{"question": r["question"], "answer": r["answer"]} for r in rows]),
                       d / "main" / f"{split}-00000-of-00001.parquet")
    (d / "README.md").write_text("---\nconfigs:\n- config_name: main\n  data_files:\n  - split: train\n    path: main/train-*\n"
                                 "  - split: test\n    path: main/test-*\n---\nGSM8K from grade-school-math's jsonl files.\n")
    return str(out / "gsm8k_mirror")


def nanochat_task_data(base: Path, source: str, n_train: int):
    """GSM8K as a finished download of nanochat's `load_hub_dataset`: the test split in its original order (nanochat
    shuffles it with seed 42 as ArcherChat does) and the first `n_train` problems of ArcherChat's shuffled training split,
    placed so that nanochat's shuffle of those `n_train` rows gives them back in ArcherChat's order."""
    import numpy as np, pyarrow as pa, pyarrow.parquet as pq
    from archerchat.tasks import load_split
    for split in ("train", "test"):
        d = base / "task_data" / "openai--gsm8k" / "main" / split
        d.mkdir(parents=True, exist_ok=True)
        if split == "test": table = load_split("openai/gsm8k", "main", "test", source, shuffle_seed=None).data.table
        else:
            ours = load_split("openai/gsm8k", "main", "train", source)                 # ArcherChat's order
            n = min(n_train, len(ours))
            perm = np.random.default_rng(42).permutation(n)                              # what nanochat will do to n rows
            rows = [None] * n
            for i, j in enumerate(perm): rows[int(j)] = {"question": ours[i]["question"], "answer": ours[i]["answer"]}
            table = pa.Table.from_pylist(rows)
        table = table.select(["question", "answer"])
        pq.write_table(table, d / "00000.parquet")
        (d / "manifest.json").write_text(json.dumps(["00000.parquet"]))


def run_logged(cmd, log: Path, timeout: float, **kw) -> tuple[int | None, list]:
    "Run `cmd`, echo and keep its output lines with arrival times; stop it after `timeout` s (returncode None)."
    print("$", " ".join(map(str, cmd)), flush=True)
    lines, t0 = [], time.time()
    with open(log, "w") as f, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                                               start_new_session=True, **kw) as p:
        import threading
        timer = threading.Timer(timeout, lambda: os.killpg(p.pid, 9))
        timer.start()
        try:
            for line in p.stdout:
                lines.append((time.time() - t0, line)); f.write(line); f.flush()
                print(line, end="", flush=True)
        finally: timer.cancel()
        rc = p.wait()
    return (None if rc == -9 else rc), lines


def main(argv=None):
    args = parse_args(argv)
    if args.self_test: return self_test()
    import torch
    from archerchat.common import autodetect_device_type, base_dir
    from archerchat.engine import Engine
    from archerchat.tasks import GSM8K
    from archerchat.rl import load_policy, export_nanochat, evaluate_rl, _context_len
    from archerchat.nanochat import load_nanochat
    out = Path(args.out).resolve(); (out / "logs").mkdir(parents=True, exist_ok=True)
    nc = Path(args.nanochat).resolve()
    if not (nc / "scripts" / "chat_rl.py").is_file(): raise SystemExit(f"--nanochat {nc}: no scripts/chat_rl.py; pass a nanochat checkout")
    device = args.device_type or autodetect_device_type()
    source = gsm8k_mirror(args.gsm8k, out)
    n_train = args.num_steps * args.examples_per_step
    rl_flags = [str(x) for x in ["--device-batch-size", args.device_batch_size, "--examples-per-step", args.examples_per_step,
                                 "--num-samples", args.num_samples, "--max-new-tokens", args.max_new_tokens]]
    res = dict(settings=vars(args), device=device, gsm8k=source, commands={}, programs={})
    if device == "cuda": res["gpu"] = torch.cuda.get_device_name()

    for d in (base_dir() / "rl_checkpoints" / "rlbench", out / "nanochat_base" / "chatrl_checkpoints" / "rlbench"):
        shutil.rmtree(d, ignore_errors=True)   # never evaluate a previous comparison's weights
    # --- the model, in both layouts
    model, tok, meta, origin = load_policy(args.source, args.model_tag, args.model_step, device="cpu")
    ncb = out / "nanochat_base"
    export_nanochat(model, tok, ncb, "sft", "rlbench", step=0, meta=dict(source=origin))
    nanochat_task_data(ncb, source, n_train)
    res["model"] = dict(origin=origin, n_layer=model.config.n_layer, n_embd=model.config.n_embd, params=sum(p.numel() for p in model.parameters()))
    del model

    def save():
        (out / "rl_vs_nanochat.json").write_text(json.dumps(res, indent=1, default=str))
        (out / "rl_vs_nanochat.md").write_text(report(res))

    # --- ArcherChat
    ac_json = out / "archerchat_rl.json"
    if not args.skip_archerchat:
        cmd = [sys.executable, "-m", "archerchat.rl", "-i", args.source, *(["--model-tag", args.model_tag] if args.model_tag else []),
               *(["--model-step", str(args.model_step)] if args.model_step is not None else []), "--run", "rlbench",
               "--task-source", source, "--num-steps", str(args.num_steps), *rl_flags, "--eval-every", "0",
               "--eval-examples", str(args.eval_examples),
               "--eval-max-new-tokens", str(args.eval_max_new_tokens), "--save-every", "0", "--tracker", "none", "--decode", args.decode,
               "--out", str(ac_json), *(["--device-type", device] if args.device_type else [])]
        res["commands"]["archerchat"] = " ".join(cmd)
        t0 = time.time()
        rc, _ = run_logged(cmd, out / "logs" / "archerchat.log", args.timeout, env=dict(os.environ, PYTHONUNBUFFERED="1", ENDLEX_URL=""))
        res["programs"]["ArcherChat"] = dict(returncode=rc, wall_s=time.time() - t0)
        save()
    if ac_json.exists():
        s = json.loads(ac_json.read_text())
        res["programs"].setdefault("ArcherChat", {}).update(
            steps=[dict(step=x["step"], reward=x["reward"], dt=x["dt"], sequence_length=x["sequence_length"]) for x in s["steps"]],
            own_passk={e["step"]: e["pass_at_k"] for e in s["evals"]}, ckpt_dir=s["ckpt_dir"])

    # --- nanochat
    if not args.skip_nanochat:
        stub = out / "wandb_stub"; stub.mkdir(exist_ok=True); (stub / "wandb.py").write_text(WANDB_STUB)
        cmd = [sys.executable, "-m", "scripts.chat_rl", "--run", "dummy", "--model-tag", "rlbench", *rl_flags,
               "--eval-examples", str(args.nanochat_eval_examples),
               "--eval-every", str(10 ** 6), "--save-every", str(10 ** 6), *(["--device-type", device] if args.device_type else [])]
        env = dict(os.environ, NANOCHAT_BASE_DIR=str(ncb), PYTHONUNBUFFERED="1",
                   PYTHONPATH=os.pathsep.join([str(stub), str(nc)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
        res["commands"]["nanochat"] = f"cd {nc} && NANOCHAT_BASE_DIR={ncb} " + " ".join(cmd)
        t0 = time.time()
        rc, lines = run_logged(cmd, out / "logs" / "nanochat.log", args.timeout, cwd=nc, env=env)
        parsed = parse_nanochat(lines)
        res["programs"]["nanochat"] = dict(returncode=rc, wall_s=time.time() - t0, steps=parsed["steps"], own_passk=parsed["passk"],
                                           ckpt_dir=str(ncb / "chatrl_checkpoints" / "rlbench"))
        save()

    # --- one evaluator for all: the same problems, samples and noise
    val = GSM8K("main", "test", source=source)
    evals = {}
    def evaluate(name, model, tokenizer):
        model.eval()
        ctx = _context_len(tokenizer, [(val, min(args.eval_examples, len(val)))], args.eval_max_new_tokens)
        t0 = time.time()
        e = evaluate_rl(Engine(model, tokenizer, max_seq_len=ctx, decode=args.decode), tokenizer, val, args.device_batch_size, args.eval_examples,
                        args.eval_max_new_tokens)
        evals[name] = dict(e, eval_s=time.time() - t0)
        print(f"{name}: pass@k {[round(x, 4) for x in e['pass_at_k']]}, mean reward {e['reward']:.4f} ({time.time() - t0:.1f}s)", flush=True)
    m, t, *_ = load_policy(args.source, args.model_tag, args.model_step, device=device)
    evaluate("SFT (before)", m, t); del m
    ac_dir = Path(res["programs"].get("ArcherChat", {}).get("ckpt_dir") or base_dir() / "rl_checkpoints" / "rlbench")
    if (ac_dir / f"model_{args.num_steps:06d}.pt").exists():
        m, t, *_ = load_policy("rl", "rlbench", args.num_steps, device=device); evaluate("ArcherChat (after)", m, t); del m
    nc_dir = ncb / "chatrl_checkpoints" / "rlbench"
    if (nc_dir / f"model_{args.num_steps - 1:06d}.pt").exists():
        m, t, _ = load_nanochat(nc_dir, args.num_steps - 1, device=device, tokenizer_dir=ncb / "tokenizer"); evaluate("nanochat (after)", m, t); del m
    res["evals"] = evals
    save()
    try:
        import matplotlib; matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.4))
        for name, p in res["programs"].items():
            st = p.get("steps") or []
            if st: a1.plot([s["step"] for s in st], [s["reward"] for s in st], "o-", ms=3, label=name)
        a1.set_xlabel("step"); a1.set_ylabel("mean reward of the step's samples"); a1.legend(fontsize=8)
        for i, (name, e) in enumerate(evals.items()):
            ks = range(1, len(e["pass_at_k"]) + 1)
            a2.bar([k + (i - 1) * 0.27 for k in ks], e["pass_at_k"], width=0.27, label=name)
        a2.set_xlabel("k"); a2.set_ylabel("pass@k"); a2.legend(fontsize=8)
        a2.set_title(f"{next(iter(evals.values()))['problems']} held-out problems, one evaluator, the same noise", fontsize=8)
        fig.tight_layout(); fig.savefig(out / "rl_vs_nanochat.png", dpi=110)
    except Exception as e: print(f"no plot: {e}")
    print((out / "rl_vs_nanochat.md").read_text())


def report(res: dict) -> str:
    s = res["settings"]
    o = res["model"]["origin"]
    md = [f"# nanochat chat_rl vs archerchat.rl ({res['device']}{', ' + res['gpu'] if res.get('gpu') else ''})", "",
          f"- model: {o['kind']} checkpoint {o['tag']} step {o['step']} ({res['model']['n_layer']} layers x {res['model']['n_embd']}, "
          f"{res['model']['params']:,} parameters), written in nanochat's layout for nanochat",
          f"- GSM8K: {res['gsm8k']}; {s['num_steps']} steps x {s['examples_per_step']} problems x {s['num_samples']} samples, "
          f"<= {s['max_new_tokens']} tokens, passes of {s['device_batch_size']} rows; nanochat's lrs and schedule; held-out: "
          f"{s['eval_examples']} test problems x {s['device_batch_size']} samples, <= {s['eval_max_new_tokens']} tokens", "",
          "| program | steps done | median s/step (from step 1) | mean reward, first third | last third | its own pass@1 at step 0 | status |",
          "|---|---:|---:|---:|---:|---:|---|"]
    for name, p in res["programs"].items():
        st = p.get("steps") or []
        dts = [x["dt"] for x in st if x["step"] >= 1 and x.get("dt")]
        third = max(1, len(st) // 3)
        f = lambda xs: f"{sum(xs) / len(xs):.4f}" if xs else ""
        own = (p.get("own_passk") or {}).get(0) or (p.get("own_passk") or {}).get("0")
        own = f"{own[0]:.4f}" if own else ""
        status = "stopped at the time limit" if p.get("returncode") is None else ("ok" if p.get("returncode") == 0 else f"exit {p.get('returncode')}")
        md.append(f"| {name} | {len(st)} | {statistics.median(dts):.2f} | {f([x['reward'] for x in st[:third]])} | "
                  f"{f([x['reward'] for x in st[-third:]])} | {own} | {status} |" if dts else
                  f"| {name} | {len(st)} | | {f([x['reward'] for x in st[:third]])} | {f([x['reward'] for x in st[-third:]])} | | {status} |")
    ev = res.get("evals") or {}
    if ev:
        K = len(next(iter(ev.values()))["pass_at_k"])
        md += ["", "pass@k with one evaluator (`archerchat.rl.evaluate_rl`, the same problems and sampling noise):", "",
               "| model | " + " | ".join(f"pass@{k}" for k in range(1, K + 1)) + " | mean reward | no answer | eval s |",
               "|---|" + "---:|" * (K + 3)]
        for name, e in ev.items():
            md.append(f"| {name} | " + " | ".join(f"{v:.4f}" for v in e["pass_at_k"]) + f" | {e['reward']:.4f} | {e['unparsed']:.1%} | {e['eval_s']:.0f} |")
    md += ["", f"Each program's own pass@1 at step 0 is over its own first problems ({s['eval_examples']} for ArcherChat, "
           f"{s['nanochat_eval_examples']} for nanochat, whose engine samples one problem at a time); the table above is the comparison.",
           "", "Commands:", ""] + [f"- {k}: `{v}`" for k, v in res["commands"].items()]
    return "\n".join(md) + "\n"


if __name__ == "__main__": main()
