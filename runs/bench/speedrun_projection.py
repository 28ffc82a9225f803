"""d24's time to GPT-2, projected side by side: nanochat and ArcherChat at the speedrun's settings on the same GPU.

    python runs/bench/speedrun_projection.py --nanochat ~/nanochat --data-dir DIR --out runs/results/d24   # both, one GPU
    python runs/bench/speedrun_projection.py ... --programs nanochat      # one side (the other from an earlier run in --out)
    python runs/bench/speedrun_projection.py --self-test                   # the parsers and the table, on samples, any machine

Each program trains its own tokenizer on `--data-dir` (vocab 32,768; the last shard is validation) and then runs its own
pretraining script, unmodified, at the settings of nanochat's `runs/speedrun.sh` (`--depth 24 --fp8
--device-batch-size 16 --target-param-data-ratio 8`, window pattern `SSSL`, the plan's total batch of 2^20 tokens, so
32 micro-batches per step on one GPU) for `--steps` optimizer steps, under `runs/bench/step_watch.py`, which times each
optimizer step with CUDA events. From each: tokens/s (median over the steps after `--skip` warm-up steps), MFU (each
program's own figure, and one common figure: the plan's FLOPs per token × tokens/s over 989 TFLOP/s), peak GPU memory
and optimizer-step milliseconds. Then the projection: the plan's tokens ÷ (8 × tokens/s per GPU), i.e. perfect scaling
to 8 GPUs of this kind, training iterations only (the leaderboard's `total_training_time`), beside nanochat's leaderboard
record (99 minutes for d24 at ratio 8 on 8×H100, with FlashAttention-3). Neither run here has FA3.

Writes `speedrun_projection.md` and `speedrun_projection.json` into `--out`, with each program's log in `--out/logs/`.
"""
from __future__ import annotations
import argparse, json, os, re, shlex, signal, statistics, subprocess, sys, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "runs"))
RECORD = dict(minutes=99, what="nanochat leaderboard, d24 at ratio 8 with fp8 on 8×H100 (FlashAttention-3), dev/LEADERBOARD.md "
              "(March 2026: 5 runs of 1.65 h, mean CORE 0.2626)")
PEAK_FLOPS = 989e12          # an H100's dense bf16 peak: nanochat's and ArcherChat's MFU convention
WATCH = re.compile(r"^\[watch\] optim step (\d+) \| ([0-9.]+) ms \| peak so far ([0-9.]+) GiB")
NC_MFU = re.compile(r"^step (\d+)/\d+ .*\| bf16_mfu: ([0-9.]+) \|")
NC_BATCH = re.compile(r"Auto-computed optimal batch size: ([0-9,]+) tokens")


def parse_watch(text: str) -> dict[int, dict]:
    "`{optimizer call index: {ms, peak_gib}}` from step_watch's lines."
    out = {}
    for line in text.splitlines():
        if m := WATCH.match(line.strip()): out[int(m.group(1))] = dict(ms=float(m.group(2)), peak_gib=float(m.group(3)))
    return out


def summarize(steps: list[dict], watch: dict, skip: int) -> dict:
    "Medians over the steps after the first `skip` (compile and warm-up): tok/s, seconds per step, MFU, optimizer ms; the peak."
    later = [s for s in steps if s["step"] >= skip]
    med = lambda k: statistics.median([s[k] for s in later if s.get(k) is not None]) if any(s.get(k) is not None for s in later) else None
    opt = [w["ms"] for i, w in watch.items() if i >= skip]
    peaks = [w["peak_gib"] for w in watch.values()] + [s["peak_gib"] for s in steps if s.get("peak_gib") is not None]
    return dict(steps_run=len(steps), steps_timed=len(later), tok_per_sec=med("tok_per_sec"), step_s=med("dt"), mfu_own=med("mfu"),
                optim_ms=statistics.median(opt) if opt else None, peak_gib=max(peaks) if peaks else None)


def nanochat_steps(text: str) -> list[dict]:
    from vs_nanochat import parse_nanochat_log
    run = parse_nanochat_log(text)
    mfu = {int(m.group(1)): float(m.group(2)) for line in text.splitlines() if (m := NC_MFU.match(line.strip()))}
    return [dict(step=t["step"], tok_per_sec=t["tok_per_sec"], dt=t["dt"], mfu=mfu.get(t["step"])) for t in run["train"]]


def archerchat_steps(lines) -> list[dict]:
    out = []
    for line in lines:
        try: e = json.loads(line)
        except ValueError: continue
        if isinstance(e, dict) and "train/tok_per_sec" in e:
            out.append(dict(step=e["step"], tok_per_sec=e["train/tok_per_sec"], dt=e.get("train/dt"), mfu=e.get("train/mfu"),
                            peak_gib=e.get("train/peak_mem_gib")))
    return out


def plan_numbers(args) -> dict:
    "The speedrun plan on 8 GPUs (tokens, batch, steps, FLOPs per token): ArcherChat's plan, which equals nanochat's (03)."
    from archerchat.train import plan_for
    p = plan_for(args.depth, args.vocab_size, sequence_len=args.max_seq_len, device_batch_size=args.device_batch_size, world_size=8,
                 window_pattern=args.window_pattern, target_param_data_ratio=args.ratio)
    return dict(total_batch_size=p.total_batch_size, num_iterations=p.num_iterations, tokens=p.total_batch_size * p.num_iterations,
                flops_per_token=p.flops_per_token, plan=str(p))


def run_until(cmd, log: Path, *, env, cwd, stop_after, timeout: float) -> float:
    """Run `cmd` teeing its output into `log`; stop it (SIGKILL) once `stop_after(text)` is true or after
    `timeout` seconds. Returns the seconds it ran. A stopped run is expected: only its step lines are needed."""
    log.parent.mkdir(parents=True, exist_ok=True)
    print(f"$ {'cd ' + str(cwd) + ' && ' if cwd else ''}{shlex.join(cmd)}   > {log}", flush=True)
    t0, text = time.time(), []
    with open(log, "w") as f, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=cwd, text=True,
                                               bufsize=1, errors="replace", start_new_session=True) as p:
        import selectors
        sel = selectors.DefaultSelector(); sel.register(p.stdout, selectors.EVENT_READ)
        done_at = None
        while True:
            if time.time() - t0 > timeout: print(f"(timeout after {timeout:.0f}s)", flush=True); break
            if done_at and time.time() - done_at > 3: break      # a moment for the last watch lines
            if not sel.select(timeout=1.0):
                if p.poll() is not None: break
                continue
            line = p.stdout.readline()
            if not line:
                if p.poll() is not None: break
                continue
            f.write(line); f.flush(); sys.stdout.write(line); sys.stdout.flush(); text.append(line)
            if done_at is None and stop_after("".join(text)): done_at = time.time()
        if p.poll() is None:   # SIGKILL: a graceful stop would save a multi-GB checkpoint that nobody needs
            os.killpg(p.pid, signal.SIGKILL); p.wait()
        rest = p.stdout.read() or ""
        f.write(rest); sys.stdout.write(rest[-2000:])
    return time.time() - t0


def common_flags(args) -> list[str]:
    f = ["--depth", args.depth, "--device-batch-size", args.device_batch_size, "--target-param-data-ratio", args.ratio,
         "--max-seq-len", args.max_seq_len,
         "--window-pattern", args.window_pattern, "--num-iterations", args.steps, "--eval-every", -1, "--eval-tokens",
         args.device_batch_size * args.max_seq_len, "--core-metric-every", -1, "--sample-every", -1, "--save-every", -1]
    return [str(x) for x in f] + (["--fp8"] if args.fp8 else [])


def run_program(name: str, args, out: Path, shards) -> dict:
    import vs_nanochat as vs
    from archerchat.pipeline import launch_env
    logs, n = out / "logs", args.steps
    watch = [sys.executable, str(HERE / "step_watch.py")]
    ta = argparse.Namespace(vocab_size=args.vocab_size, max_chars=args.max_chars)
    if name == "nanochat":
        nc = vs.check_nanochat(args.nanochat)
        base, stub = out / "nanochat_base", out / "nanochat_stub"
        vs.link_shards(shards, base / "base_data_climbmix")
        stub.mkdir(parents=True, exist_ok=True); (stub / "wandb.py").write_text(vs.WANDB_STUB)
        env = dict(os.environ, NANOCHAT_BASE_DIR=str(base), OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
        env["PYTHONPATH"] = os.pathsep.join([str(stub)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
        tok = [sys.executable, "-m", "scripts.tok_train", "--vocab-size", str(args.vocab_size), "--max-chars", str(args.max_chars)]
        vs.train_tokenizer_once("nanochat", base / "tokenizer", vs.tokenizer_stamp(ta, shards),
                                lambda: vs.run_logged(tok, logs / "nanochat_tok_train.log", env=env, cwd=nc, prefix="[nanochat] "))
        cmd = [*watch, "nanochat", str(nc), "--", *common_flags(args), "--model-tag", f"d{args.depth}", *shlex.split(args.nanochat_args)]
        last = f"step {n - 1:05d}/{n:05d}"
        secs = run_until(cmd, logs / "nanochat.log", env=env, cwd=nc, stop_after=lambda t: last in t, timeout=args.timeout)
        text = (logs / "nanochat.log").read_text(errors="replace")
        steps = nanochat_steps(text) if "step 00000/" in text else []
        m = NC_BATCH.search(text)
        extra = dict(total_batch_size=int(m.group(1).replace(",", "")) if m else None,
                     command=f"cd {nc} && NANOCHAT_BASE_DIR={base} PYTHONPATH={stub} {shlex.join(cmd)}")
    else:
        base = out / "archerchat_base"
        env = launch_env(ARCHERCHAT_BASE_DIR=base, PYTHONUNBUFFERED="1")
        tok = [sys.executable, "-m", "archerchat.tokenizer", "train", "--vocab-size", str(args.vocab_size), "--max-chars",
               str(args.max_chars), "--data-dir", str(Path(args.data_dir).resolve())]
        vs.train_tokenizer_once("ArcherChat", base / "tokenizer", vs.tokenizer_stamp(ta, shards),
                                lambda: vs.run_logged(tok, logs / "archerchat_tokenizer.log", env=env, prefix="[ArcherChat] "))
        run = base / "base_checkpoints" / f"d{args.depth}"
        if run.exists(): import shutil; shutil.rmtree(run)
        cmd = [*watch, "archerchat", str(REPO), "--", *common_flags(args), "--data-dir", str(Path(args.data_dir).resolve()),
               "--tag", f"d{args.depth}", "--log-every", "1", *shlex.split(args.archerchat_args)]
        last = f"step {n:05d}/{n:05d}"
        secs = run_until(cmd, logs / "archerchat.log", env=env, cwd=None, stop_after=lambda t: last in t, timeout=args.timeout)
        text = (logs / "archerchat.log").read_text(errors="replace")
        mj = run / "metrics.jsonl"
        steps = archerchat_steps(mj.read_text().splitlines()) if mj.exists() else []
        extra = dict(command=f"ARCHERCHAT_BASE_DIR={base} {shlex.join(cmd)}")
    s = summarize(steps, parse_watch(text), args.skip)
    return dict(name=name, seconds=secs, steps=steps, summary=s, **extra)


def report(res: dict) -> str:
    plan, rows = res["plan"], res["programs"]
    fpt = plan["flops_per_token"]
    f = lambda v, fmt: "" if v is None else format(v, fmt)
    md = [f"# d24's time to GPT-2, projected: nanochat and ArcherChat on one {res['gpu']}", "",
          f"_{res['time']}; nanochat {res.get('nanochat_commit') or '?'}, ArcherChat {res.get('archerchat_commit') or '?'}; "
          f"PyTorch {res['torch']}_", "",
          f"Settings of nanochat's `runs/speedrun.sh`: depth {res['args']['depth']}, fp8 {'on' if res['args']['fp8'] else 'off'}, "
          f"device batch {res['args']['device_batch_size']}, window pattern {res['args']['window_pattern']}, target param:data "
          f"ratio {res['args']['ratio']:g}; the plan's total batch {plan['total_batch_size']:,} tokens "
          f"({plan['total_batch_size'] // (res['args']['device_batch_size'] * res['args'].get('max_seq_len', 2048))} micro-batches a step on one GPU), "
          f"{plan['num_iterations']:,} steps on 8 GPUs = {plan['tokens'] / 1e9:.2f} B tokens. Each program ran "
          f"{res['args']['steps']} steps; medians over the steps from step {res['args']['skip']} on.", "",
          "| program | steps timed | tok/s (1 GPU) | step (s) | MFU (own) | MFU (plan FLOPs / 989 TFLOP/s) | peak memory (GiB) | optimizer step (ms) | projected time on 8 GPUs |",
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    proj = {}
    for name in ("nanochat", "archerchat"):
        r = rows.get(name)
        if not r: continue
        s = r["summary"]
        tps = s["tok_per_sec"]
        proj[name] = plan["tokens"] / (8 * tps) / 60 if tps else None
        mfu_c = 100 * fpt * tps / PEAK_FLOPS if tps else None
        md.append(f"| {'nanochat' if name == 'nanochat' else 'ArcherChat'} | {s['steps_timed']} | {f(tps, ',.0f')} | {f(s['step_s'], '.3f')} | "
                  f"{f(s['mfu_own'], '.1f')}% | {f(mfu_c, '.1f')}% | {f(s['peak_gib'], '.1f')} | {f(s['optim_ms'], '.1f')} | "
                  f"{f(proj[name], '.1f')} min |")
    md += ["", f"| record | {RECORD['minutes']} min | {RECORD['what']} |", "|---|---|---|", ""]
    if proj.get("nanochat") and proj.get("archerchat"):
        ratio = proj["nanochat"] / proj["archerchat"]
        md.append(f"**ArcherChat's projected time is {ratio:.2f}× shorter than nanochat's** on this GPU "
                  f"({proj['archerchat']:.1f} vs {proj['nanochat']:.1f} minutes); the goal is ≥ 1.30×: "
                  + ("met." if ratio >= 1.3 else "**not met**."))
        md.append("")
    short = [n for n in ("nanochat", "archerchat") if n in rows and rows[n]["summary"]["steps_timed"] < 2]
    if short: md += [f"**Too few steps timed** for {', '.join(short)} (it stopped early or ran out of time): its numbers are not a median.", ""]
    md += ["The projection assumes perfect scaling from one GPU to eight (the record run's own 8-GPU efficiency is not "
           "modelled) and counts training iterations only, as the leaderboard's `total_training_time` does. The record used "
           "FlashAttention-3; these runs do not (nanochat falls back to SDPA with a dense sliding-window mask, ArcherChat uses "
           "SDPA for full-context layers and FlexAttention for windowed ones), so the record is the faster of the two "
           "columns to compare against only in kind, not in number.", "", "## Commands", ""]
    md += [f"- {('nanochat' if n == 'nanochat' else 'ArcherChat')}: `{rows[n]['command']}`" for n in rows]
    return "\n".join(md) + "\n"


SAMPLE_NC = """Auto-computed optimal batch size: 1,048,576 tokens
step 00000/00004 (0.00%) | loss: 10.397 | lrm: 0.01 | dt: 250123.11ms | tok/sec: 4,192 | bf16_mfu: 0.00 | epoch: 1 pq: 0 rg: 1 | total time: 0.00m
[watch] optim step 0 | 900.00 ms | peak so far 66.10 GiB
step 00001/00004 (25.00%) | loss: 10.201 | lrm: 0.02 | dt: 10500.00ms | tok/sec: 99,864 | bf16_mfu: 47.10 | epoch: 1 pq: 0 rg: 2 | total time: 0.00m
[watch] optim step 1 | 61.00 ms | peak so far 66.20 GiB
step 00002/00004 (50.00%) | loss: 10.101 | lrm: 0.03 | dt: 10400.00ms | tok/sec: 100,824 | bf16_mfu: 47.50 | epoch: 1 pq: 0 rg: 3 | total time: 0.00m
[watch] optim step 2 | 59.00 ms | peak so far 66.20 GiB
step 00003/00004 (75.00%) | loss: 10.001 | lrm: 0.04 | dt: 10450.00ms | tok/sec: 100,341 | bf16_mfu: 47.30 | epoch: 1 pq: 0 rg: 4 | total time: 0.00m
"""


def self_test():
    steps = nanochat_steps(SAMPLE_NC)
    assert [s["step"] for s in steps] == [0, 1, 2, 3] and steps[1]["mfu"] == 47.1, steps
    s = summarize(steps, parse_watch(SAMPLE_NC), skip=1)
    assert s["steps_timed"] == 3 and s["tok_per_sec"] == 100341 and s["optim_ms"] == 60.0 and s["peak_gib"] == 66.2, s
    ac = archerchat_steps(['{"train/tok_per_sec": 1.0e5, "train/dt": 10.0, "train/mfu": 50.0, "train/peak_mem_gib": 60.0, "step": 0}',
                           '{"train/tok_per_sec": 1.3e5, "train/dt": 8.0, "train/mfu": 61.0, "train/peak_mem_gib": 61.0, "step": 1}',
                           '{"train/tok_per_sec": 1.3', '{"val/bpb": 3.0, "step": 2}'])
    assert len(ac) == 2 and summarize(ac, {}, 1)["tok_per_sec"] == 1.3e5
    plan = dict(total_batch_size=2**20, num_iterations=5568, tokens=2**20 * 5568, flops_per_token=6e9, plan="")
    res = dict(gpu="GPU", time="now", torch="x", args=dict(depth=24, fp8=True, device_batch_size=16, window_pattern="SSSL", ratio=8.0,
               steps=4, skip=1), plan=plan, programs=dict(nanochat=dict(summary=s, command="nc"),
               archerchat=dict(summary=summarize(ac, {}, 1), command="ac")))
    md = report(res)
    want_nc, want_ac = 2**20 * 5568 / (8 * 100341) / 60, 2**20 * 5568 / (8 * 1.3e5) / 60
    assert f"{want_nc:.1f} min |" in md and f"{want_ac:.1f} min |" in md, md
    assert f"{want_nc / want_ac:.2f}× shorter" in md and "**not met**" in md, md
    print("self-test passed: step lines, watch lines, medians, the projection table")


def parser():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    a = ap.add_argument
    a("--nanochat", help="root of a nanochat checkout")
    a("--data-dir", help="parquet shards (the last one is validation)")
    a("--out", default=None, help="where the report, the JSON and the logs go")
    a("--programs", nargs="+", default=["nanochat", "archerchat"], choices=["nanochat", "archerchat"])
    a("--depth", type=int, default=24)
    a("--device-batch-size", type=int, default=16)
    a("--ratio", type=float, default=8.0, help="target param:data ratio (the plan's horizon)")
    a("--window-pattern", default="SSSL")
    a("--max-seq-len", type=int, default=2048)
    a("--fp8", action=argparse.BooleanOptionalAction, default=True)
    a("--vocab-size", type=int, default=32768)
    a("--max-chars", type=int, default=2_000_000_000)
    a("--steps", type=int, default=7, help="optimizer steps each program runs")
    a("--skip", type=int, default=2, help="steps left out of the medians (compile, warm-up)")
    a("--timeout", type=float, default=270, help="seconds each program may run (it is stopped after its last step anyway)")
    a("--nanochat-args", default="", help="extra flags for nanochat's scripts.base_train")
    a("--archerchat-args", default="", help="extra flags for archerchat.train")
    a("--self-test", action="store_true")
    return ap


def main(argv=None):
    args = parser().parse_args(argv)
    if args.self_test: return self_test()
    if not args.data_dir: raise SystemExit("--data-dir is required: parquet shards (the last one is validation)")
    if "nanochat" in args.programs and not args.nanochat: raise SystemExit("--nanochat PATH is required to run nanochat")
    import torch, vs_nanochat as vs
    from archerchat.common import base_dir
    out = Path(args.out).resolve() if args.out else base_dir() / "speedrun_projection"
    out.mkdir(parents=True, exist_ok=True)
    prev_p = out / "speedrun_projection.json"
    prev = json.loads(prev_p.read_text()) if prev_p.exists() else {}
    shards = vs.shards_of(args.data_dir)
    programs = dict(prev.get("programs", {}))
    for name in args.programs: programs[name] = run_program(name, args, out, shards)
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    res = dict(gpu=gpu, time=time.strftime("%Y-%m-%d %H:%M:%S"), torch=torch.__version__, args=vars(args), plan=plan_numbers(args),
               nanochat_commit=vs.git_commit(args.nanochat) if args.nanochat else prev.get("nanochat_commit"),
               archerchat_commit=vs.git_commit(REPO), programs=programs)
    if prev.get("gpu") and prev["gpu"] != gpu and set(programs) - set(args.programs):
        print(f"warning: the reused run(s) ran on {prev['gpu']}, this one on {gpu}: compare only runs on the same GPU", flush=True)
    nb = programs.get("nanochat", {}).get("total_batch_size")
    if nb and nb != res["plan"]["total_batch_size"]:
        print(f"warning: nanochat's auto batch {nb:,} differs from the plan's {res['plan']['total_batch_size']:,}", flush=True)
    prev_p.write_text(json.dumps(res, indent=1, default=str))
    (out / "speedrun_projection.md").write_text(report(res))
    print(report(res))


if __name__ == "__main__":
    main()
