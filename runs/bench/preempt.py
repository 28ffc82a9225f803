"""A lost cloud box costs minutes, not the run: kill pretraining with SIGKILL, resume it on a fresh base directory from
the Endlex server with one command, and compare the losses with the run that was never interrupted.

    ENDLEX_URL=http://127.0.0.1:8765 ENDLEX_TOKEN=... python runs/bench/preempt.py --work /tmp/preempt \\
        --checkpoint-step 20 -- --depth 8 --num-iterations 40 --save-every 10 --data-dir DIR ...

Three boxes, each a base directory of its own under --work (the tokenizer is trained once, or taken from
--tokenizer-dir, and given to A and B; box C gets it from the server):
  A  the run, never interrupted: `python -m archerchat.train FLAGS --tag preempt`, offline;
  B  the same run mirrored to the server, killed with SIGKILL a few steps after its checkpoint of --checkpoint-step is on
     the server (no cleanup: the server still holds the run for the dead writer);
  C  an empty base directory and the command that started the run, `python -m archerchat.train FLAGS --tag preempt
     --run RUN --resume-from-step auto`: it fetches the latest complete checkpoint and trains to the end.
Then the losses of every step trained after the checkpoint are compared, one verdict line is printed, and
preempt.md / preempt.json are written to --out (default --work): bit-identical (CPU), or within --tol relative (GPU
kernels that are not deterministic). It also states what the checkpoints cost (seconds each, share of the loop) and how
long box C took from an empty disk to its first trained step.
"""
import argparse, json, os, re, shutil, subprocess, sys, time
from pathlib import Path
from archerchat.train import config_from_args

CHILD = r"""
import os, sys, time, signal
from archerchat.train import config_from_args, pretrain
from archerchat.endlex import EndlexClient
ck, kill_at, run = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
cfg, _ = config_from_args(sys.argv[4:])
cl = EndlexClient(os.environ["ENDLEX_URL"], os.environ.get("ENDLEX_TOKEN"))
def on_server():
    try: listing = cl.call("GET", f"/api/runs/{run}").get("checkpoints") or []
    except Exception: return False
    return any(c["step"] == f"step_{ck:06d}" and {"SHA256SUMS", "tokenizer.SHA256SUMS"} <= set(c["files"]) for c in listing)
def die(step, model, optimizer):
    if step == kill_at:
        t0 = time.time()
        while not on_server():
            if time.time() - t0 > 300: print(f"checkpoint {ck} never reached the server", flush=True); os._exit(3)
            time.sleep(0.1)
        print(f"box B: SIGKILL after step {step}; checkpoint {ck} on the server ({time.time() - t0:.1f}s waited for it)", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
pretrain(cfg, on_step=die)
"""


def losses(run_dir: Path) -> dict:
    "train/raw_loss per step of a run's metrics.jsonl (a step trained twice, before a crash and after the resume: the last)."
    out = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        e = json.loads(line)
        if "train/raw_loss" in e: out[e["step"]] = e["train/raw_loss"]
    return out


def saves(run_dir: Path) -> dict:
    out = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        e = json.loads(line)
        if "checkpoint/save_s" in e: out[e["step"]] = e["checkpoint/save_s"]
    return out


def run(cmd, env, log: Path, tail=True) -> tuple[int, float, str]:
    "Run `cmd` with `env`, its output into `log` (and the last lines on stdout); (exit status, seconds, output)."
    print("$", " ".join("<box B: pretrain, SIGKILL once the checkpoint is on the server>" if "\n" in c else c for c in cmd), flush=True)
    t0 = time.time()
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    dt = time.time() - t0
    log.write_text(p.stdout)
    if tail: print("\n".join(p.stdout.splitlines()[-6:]), flush=True)
    return p.returncode, dt, p.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", required=True, help="directory for the three base directories (emptied first)")
    ap.add_argument("--out", default=None, help="where preempt.md and preempt.json go (default: --work)")
    ap.add_argument("--checkpoint-step", type=int, default=20, help="the checkpoint that is on the server when box B dies")
    ap.add_argument("--kill-at", type=int, default=None, help="box B dies after this many steps (default: checkpoint step + 5)")
    ap.add_argument("--tokenizer-dir", default=None, help="a trained tokenizer (default: train one on the run's --data-dir)")
    ap.add_argument("--vocab-size", type=int, default=32768, help="of the tokenizer trained when none is given")
    ap.add_argument("--tok-max-chars", type=int, default=100_000_000, help="characters it is trained on")
    ap.add_argument("--run", default=None, help="run name on the server (default: preempt-<unix time>, a new run each time)")
    ap.add_argument("--tol", type=float, default=0.01, help="largest relative loss difference accepted when not bit-identical")
    ap.add_argument("train_flags", nargs=argparse.REMAINDER, help="after --: flags of python -m archerchat.train")
    a = ap.parse_args()
    flags = [f for f in a.train_flags if f != "--"]
    if not os.environ.get("ENDLEX_URL"): raise SystemExit("preempt needs a running Endlex server: set ENDLEX_URL and ENDLEX_TOKEN")
    cfg, _ = config_from_args(flags)
    K, N = a.checkpoint_step, cfg.num_iterations
    kill_at = a.kill_at or K + 5
    if cfg.save_every <= 0 or K % cfg.save_every or not 0 < K < kill_at < N:
        raise SystemExit(f"need --save-every dividing --checkpoint-step {K} and {K} < kill step {kill_at} < --num-iterations {N}")
    if cfg.resume_from_step is not None or cfg.tag: raise SystemExit("leave --tag and --resume-from-step to preempt.py")
    run_name = a.run or f"preempt-{int(time.time())}"
    work = Path(a.work); out = Path(a.out or work)
    shutil.rmtree(work, ignore_errors=True); out.mkdir(parents=True, exist_ok=True)
    boxes = {b: work / b for b in "abc"}
    for d in boxes.values(): d.mkdir(parents=True)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("ENDLEX_")}
    env = {b: {**base_env, "ARCHERCHAT_BASE_DIR": str(d)} for b, d in boxes.items()}
    for b in "bc": env[b].update(ENDLEX_URL=os.environ["ENDLEX_URL"], ENDLEX_TOKEN=os.environ.get("ENDLEX_TOKEN", ""))

    # the tokenizer of boxes A and B (C must get it from the server)
    tok = boxes["a"] / "tokenizer"
    if a.tokenizer_dir: shutil.copytree(a.tokenizer_dir, tok)
    else:
        rc, dt, _ = run([sys.executable, "-m", "archerchat.tokenizer", "train", "--vocab-size", str(a.vocab_size), "--max-chars",
                         str(a.tok_max_chars)] + (["--data-dir", cfg.data_dir] if cfg.data_dir else []), env["a"], work / "tokenizer.log")
        if rc: raise SystemExit(f"tokenizer training failed (exit status {rc}); see {work / 'tokenizer.log'}")
    shutil.copytree(tok, boxes["b"] / "tokenizer")

    train = [sys.executable, "-m", "archerchat.train", *flags, "--tag", "preempt"]
    rc, t_a, _ = run(train, env["a"], work / "a.log")
    if rc: raise SystemExit(f"box A failed (exit status {rc}); see {work / 'a.log'}")
    rc, t_b, out_b = run([sys.executable, "-c", CHILD, str(K), str(kill_at), run_name, *flags, "--tag", "preempt", "--run", run_name,
                          "--resume-from-step", "auto"], env["b"], work / "b.log")
    if rc != -9: raise SystemExit(f"box B ended with exit status {rc}, not killed by SIGKILL (-9); see {work / 'b.log'}")
    rc, t_c, out_c = run(train + ["--run", run_name, "--resume-from-step", "auto"], env["c"], work / "c.log")
    if rc: raise SystemExit(f"box C failed (exit status {rc}); see {work / 'c.log'}")
    m = re.search(r"fetched checkpoint step (\d+)", out_c)
    fetched = int(m.group(1)) if m else None
    m = re.search(r"^setup ([\d.]+)s", out_c, re.M)
    setup_c = float(m.group(1)) if m else None

    la, lc = losses(boxes["a"] / "base_checkpoints/preempt"), losses(boxes["c"] / "base_checkpoints/preempt")
    after = list(range(K, N))
    missing = [s for s in after if s not in la or s not in lc]
    rel = {s: abs(lc[s] - la[s]) / abs(la[s]) for s in after if s not in missing}
    identical = not missing and all(lc[s] == la[s] for s in after)
    worst = max(rel.values(), default=float("nan"))
    ok = fetched == K and not missing and (identical or worst <= a.tol)
    sv = saves(boxes["c"] / "base_checkpoints/preempt")
    dt_steps = sum(json.loads(l).get("train/dt", 0) for l in (boxes["a"] / "base_checkpoints/preempt/metrics.jsonl").read_text().splitlines())
    sa = saves(boxes["a"] / "base_checkpoints/preempt")
    verdict = (f"preempt: {'PASS' if ok else 'FAIL'}: box C fetched step {fetched} (expected {K}) and trained steps {K + 1}..{N}; "
               + ("losses bit-identical to the uninterrupted run" if identical else
                  f"largest relative loss difference {worst:.2e} (tolerance {a.tol:g})" + (f"; steps missing: {missing}" if missing else "")))
    res = dict(verdict=verdict, ok=ok, identical=identical, max_rel_diff=worst, checkpoint_step=K, kill_at=kill_at, fetched=fetched,
               run=run_name, steps=N, wall_s=dict(a=t_a, b=t_b, c=t_c), setup_c_s=setup_c, losses_a={s: la.get(s) for s in after},
               losses_c={s: lc.get(s) for s in after}, checkpoint_s_a=sa, checkpoint_s_c=sv, train_flags=flags,
               checkpoint_share_a=sum(sa.values()) / (sum(sa.values()) + dt_steps) if sa else None)
    (out / "preempt.json").write_text(json.dumps(res, indent=1))
    rows = "\n".join(f"| {s + 1} | {la.get(s)!r} | {lc.get(s)!r} | {rel.get(s, float('nan')):.2e} |" for s in after)
    med = sorted(sa.values())[len(sa) // 2] if sa else float("nan")
    md = ["# Preemption: killed with SIGKILL, resumed on a fresh box from Endlex", "", f"`{verdict}`", "",
          f"- train flags: `{' '.join(flags)}`; checkpoint every {cfg.save_every} steps; box B killed after step {kill_at}, "
          f"once the checkpoint of step {K} was on the server; run `{run_name}` on `{os.environ['ENDLEX_URL']}`",
          f"- wall clock: box A (uninterrupted) {t_a:.1f}s, box B (until the kill) {t_b:.1f}s, box C (empty disk: fetch, "
          f"setup, steps {K + 1}..{N}) {t_c:.1f}s, of which fetching the checkpoint and setting up took {setup_c}s (Python's start not counted)",
          f"- checkpoints on box A: {len(sa)}, {med:.2f}s each (median), {res['checkpoint_share_a'] * 100 if sa else float('nan'):.1f}% "
          f"of the training loop's time (steps and checkpoints)", "",
          "| step | loss, uninterrupted (A) | loss, resumed on box C | relative difference |", "|---|---|---|---|", rows, ""]
    (out / "preempt.md").write_text("\n".join(md))
    print(verdict, flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
