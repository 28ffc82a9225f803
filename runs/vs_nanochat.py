"""nanochat and ArcherChat trained side by side on the same shards with the same settings: the parity check.

    python runs/vs_nanochat.py --nanochat ~/nanochat --data-dir DIR          # GPU: d8, 160 steps of 131,072 tokens
    python runs/vs_nanochat.py --nanochat ~/nanochat --data-dir archerchat/assets/corpus --device-type cpu \\
        --depth 2 --max-seq-len 128 --window-pattern L --num-iterations 40 --total-batch-size 2048 \\
        --device-batch-size 4 --eval-every 20 --eval-tokens 8192 --vocab-size 1024 --head-dim 64   # CPU, ~1 min a side
    python runs/vs_nanochat.py --self-test                                   # the log parsers on embedded samples

Each side trains its own tokenizer (nanochat: `scripts.tok_train`, ArcherChat: `archerchat.tokenizer train`) and then
pretrains (`scripts.base_train`, `archerchat.train`) on the shards of `--data-dir` (the last one is validation for both).
nanochat runs unmodified from its checkout, as a subprocess with its checkout as the working directory, with
`NANOCHAT_BASE_DIR` a folder of the run directory whose `base_data_climbmix/` links to the shards and a stand-in `wandb`
module on its `PYTHONPATH`. ArcherChat trains with nanochat's packing and data order (best-fit packing that crops the
shortest document, row groups in order), so both see the same rows: at step 0 the validation bpb agrees to the sixth
decimal. `--seeds` runs ArcherChat once per seed, to show the seed-to-seed spread next to the gap.

The run directory (`--out`) gets `vs_nanochat.md` (val bpb per eval step for both and the relative difference, final
train loss, median tok/s over the second half of the steps and the ratio), `vs_nanochat.png`, `vs_nanochat.json` (every
parsed number, the commands, the commits) and the raw logs `logs/*.log`. `--skip-nanochat` / `--skip-archerchat` reuse
a finished side from the run directory (with `--skip-archerchat`, seeds that have not run yet are run).

The report opens with a verdict against thresholds it takes as flags (`--max-eval-gap 1`, `--max-final-gap 0.5`, in
percent): every evaluation and the final one of ArcherChat's seed 42 (nanochat's initial weights; else the seeds' mean)
against nanochat's; a run that stopped early fails and is named. With several seeds every evaluation shows the seeds'
mean ± standard deviation and whether nanochat's value lies inside their range (one seed, or seeds that agree exactly,
never count as a spread). `--configs NAME=FLAGS ...` runs ArcherChat alone, each configuration once per seed, and
reports each one's difference from the first with its standard error, so that a "better" comes with its noise:

    python runs/vs_nanochat.py --data-dir DIR --seeds 42 43 44 --configs bestfit='--packing bestfit' longfirst='--packing longfirst'
"""
from __future__ import annotations
import argparse, json, math, os, re, shlex, shutil, statistics, subprocess, sys, time
from pathlib import Path
from archerchat.common import ArgumentParser, UserError, number, run_main

NANOCHAT_FILES = ["scripts/base_train.py", "scripts/tok_train.py", "nanochat/gpt.py", "nanochat/dataloader.py"]
NANOCHAT_MODULES = ["torch", "rustbpe", "tiktoken", "pyarrow", "yaml"]
WANDB_STUB = '''"Stand-in wandb for nanochat under runs/vs_nanochat.py: init() returns a run whose log/finish do nothing."
class _Run:
    def log(self, *a, **k): pass
    def finish(self, *a, **k): pass
def init(*a, **k): return _Run()
'''
NANOCHAT_SEED = "42"      # nanochat's compute_init seeds torch with 42; ArcherChat's seed 42 gives the same initial weights
LR_FLAGS = ["matrix_lr", "embedding_lr", "unembedding_lr", "scalar_lr", "weight_decay"]
RUN_ARGS = ["depth", "aspect_ratio", "head_dim", "max_seq_len", "window_pattern", "num_iterations", "total_batch_size",
            "device_batch_size", "eval_every", "eval_tokens", "vocab_size", "max_chars", "device_type", *LR_FLAGS]   # what a run depends on

# ---------------------------------------------------------------------------------------------------------------------
# Parsing. nanochat: the stdout of scripts/base_train.py. ArcherChat: metrics.jsonl of the run (archerchat/telemetry.py).

# nanochat 92d63d4, scripts/base_train.py:
#   print0(f"Step {step:05d} | Validation bpb: {val_bpb:.6f}")
#   print0(f"step {step:05d}/{num_iterations:05d} ({pct_done:.2f}%) | loss: {debiased_smooth_loss:.6f} | lrm: {lrm:.2f} | "
#          f"dt: {dt * 1000:.2f}ms | tok/sec: {tok_per_sec:,} | bf16_mfu: {mfu:.2f} | epoch: ... | total time: ...")
# `step` in a step line is the index of the step just taken (0-based, before the increment), as in ArcherChat's metrics.
NC_VAL = re.compile(r"^Step (\d+) \| Validation bpb: ([0-9.]+|nan|inf)\s*$")
NC_STEP = re.compile(r"^step (\d+)/(\d+) \([0-9.]+%\) \| loss: ([0-9.]+|nan|inf) \| lrm: ([0-9.]+) \| dt: ([0-9.]+)ms \| "
                     r"tok/sec: ([0-9,]+) \|")


def parse_nanochat_log(text: str) -> dict:
    "`{val: {step: bpb}, train: [{step, loss, tok_per_sec, dt}]}` from the stdout of nanochat's `scripts.base_train`."
    val, train = {}, []
    for line in text.splitlines():
        line = line.strip()
        if m := NC_VAL.match(line): val[int(m.group(1))] = float(m.group(2))
        elif m := NC_STEP.match(line):
            train.append(dict(step=int(m.group(1)), loss=float(m.group(3)), lrm=float(m.group(4)), dt=float(m.group(5)) / 1e3,
                              tok_per_sec=float(m.group(6).replace(",", ""))))
    if not train:
        raise ValueError("no step lines ('step 00000/00040 (0.00%) | loss: ... | tok/sec: ...') in nanochat's output: it failed "
                         "early, or its log format changed (update NC_STEP in runs/vs_nanochat.py and the --self-test sample)")
    return dict(val=val, train=train)


def parse_archerchat_metrics(lines) -> dict:
    "The same shape from the lines of ArcherChat's `metrics.jsonl` (events with `val/bpb`, or `train/loss` and `train/tok_per_sec`)."
    val, train = {}, []
    for line in lines:
        try: e = json.loads(line)
        except ValueError: continue                     # a torn last line of a killed run
        if not isinstance(e, dict) or not isinstance(e.get("step"), int): continue
        if "val/bpb" in e: val[e["step"]] = float(e["val/bpb"])
        if "train/loss" in e:
            train.append(dict(step=e["step"], loss=float(e["train/loss"]), lrm=e.get("train/lrm"), dt=e.get("train/dt"),
                              tok_per_sec=e.get("train/tok_per_sec")))
    if not train:
        raise ValueError("no events with 'train/loss' in ArcherChat's metrics.jsonl: the run failed early, or the metric names "
                         "changed (update parse_archerchat_metrics in runs/vs_nanochat.py and the --self-test sample)")
    return dict(val=val, train=train)


def summarize(run: dict, num_iterations: int) -> dict:
    "Final val bpb and train loss, and the median tok/s over the second half of the steps (never the first 10)."
    later = [t["tok_per_sec"] for t in run["train"] if t["step"] >= max(10, num_iterations // 2) and t["tok_per_sec"]]
    if not later: later = [t["tok_per_sec"] for t in run["train"] if t["tok_per_sec"]]
    last_val = max(run["val"]) if run["val"] else None
    return dict(final_val_bpb=run["val"][last_val] if last_val is not None else None, final_val_step=last_val,
                final_train_loss=run["train"][-1]["loss"], final_train_step=run["train"][-1]["step"],
                median_tok_per_sec=statistics.median(later) if later else None, tok_per_sec_steps=len(later))

# ---------------------------------------------------------------------------------------------------------------------
# Report: the markdown table and the plot

def _rel(a, b): return None if a is None or b is None or not b else (a - b) / b
def _f(v, fmt=".6f"): return "" if v is None else format(v, fmt)
def _pct(v): return "" if v is None else f"{100 * v:+.3f}%"


def lrm_mismatches(nc_train: list, ac_train: list) -> tuple[int, list]:
    """Steps whose learning-rate multiplier differs beyond nanochat's printed precision (2 decimals):
    `(steps compared, [(step, nanochat's, ArcherChat's)])`."""
    ac = {t["step"]: t["lrm"] for t in ac_train if t.get("lrm") is not None}
    both = [(t["step"], t["lrm"], ac[t["step"]]) for t in nc_train if t["step"] in ac]
    return len(both), [b for b in both if abs(b[1] - b[2]) > 0.005 + 1e-9]


def seed_stats(vals: list[float]) -> dict | None:
    "Mean, sample standard deviation (None for one seed), min and max of one number over the seeds; None if any is missing."
    if not vals or any(v is None for v in vals): return None
    return dict(n=len(vals), mean=sum(vals) / len(vals), std=statistics.stdev(vals) if len(vals) > 1 else None,
                min=min(vals), max=max(vals))


def _pm(st: dict | None, fmt=".6f") -> str:
    if st is None: return ""
    return format(st["mean"], fmt) + ("" if st["std"] is None else f" ± {format(st['std'], fmt)}")


def inside(st: dict | None, v) -> str:
    "Whether `v` lies inside the seeds' range: only a real spread (two or more seeds that differ) can contain anything."
    if st is None or v is None: return ""
    if st["n"] < 2 or st["max"] == st["min"]: return "no spread"
    return "yes" if st["min"] <= v <= st["max"] else "no"


def verdict(res: dict, max_eval_gap: float, max_final_gap: float) -> dict:
    """Parity against thresholds: every evaluation within `max_eval_gap` and the final one within `max_final_gap` (relative,
    e.g. 0.01), for ArcherChat's seed with nanochat's initial weights when it ran (else the mean of the seeds); a run that
    stopped early fails. Also whether nanochat's final value lies inside the seeds' range (a spread of 0 never counts)."""
    nc, ac, seeds, n_it = res["nanochat"], res["archerchat"], res["seeds"], res["args"]["num_iterations"]
    ref = NANOCHAT_SEED if NANOCHAT_SEED in seeds else None
    def val(s):
        if ref is not None: return ac[ref]["val"].get(s)
        st = seed_stats([ac[k]["val"].get(s) for k in seeds])
        return st["mean"] if st else None
    gaps = {s: (val(s) - nc["val"][s]) / nc["val"][s] for s in sorted(nc["val"]) if val(s) is not None and nc["val"][s]}
    early = [name for name, r in [("nanochat", nc)] + [(f"ArcherChat seed {k}", ac[k]) for k in seeds]
             if r["train"][-1]["step"] != n_it - 1 or n_it not in r["val"]]
    worst = max(gaps, key=lambda s: abs(gaps[s])) if gaps else None
    final = gaps.get(n_it)
    fst = seed_stats([ac[k]["val"].get(n_it) for k in seeds])
    ok = (not early and worst is not None and abs(gaps[worst]) <= max_eval_gap and final is not None and abs(final) <= max_final_gap)
    return dict(compared=f"ArcherChat seed {ref} (nanochat's initial weights)" if ref else f"the mean of ArcherChat seeds {', '.join(seeds)}",
                max_eval_gap=max_eval_gap, max_final_gap=max_final_gap, gaps=gaps, worst_step=worst,
                worst_gap=gaps.get(worst) if worst is not None else None, final_gap=final, stopped_early=early,
                nanochat_inside_seeds=inside(fst, nc["val"].get(n_it)), final_seed_stats=fst, passed=ok)


def verdict_markdown(v: dict) -> list[str]:
    pc = lambda x: "" if x is None else f"{100 * x:+.3f}%"
    md = ["## Verdict", "", f"Thresholds: every evaluation within {100 * v['max_eval_gap']:g}%, the final one within "
          f"{100 * v['max_final_gap']:g}% (`--max-eval-gap`, `--max-final-gap`); compared: {v['compared']}.", ""]
    if v["stopped_early"]:
        md.append(f"- **stopped early**: {', '.join(v['stopped_early'])} did not reach the last step and its evaluation, so "
                  "the comparison is incomplete.")
    if v["worst_step"] is not None:
        md.append(f"- largest gap at any evaluation: {pc(v['worst_gap'])} at step {v['worst_step']} ("
                  + ("within" if abs(v["worst_gap"]) <= v["max_eval_gap"] else "**outside**") + " the threshold)")
    md.append(f"- final: {pc(v['final_gap'])} (" + ("missing" if v["final_gap"] is None else "within" if abs(v["final_gap"]) <=
              v["max_final_gap"] else "**outside**") + " the threshold)")
    st = v["final_seed_stats"]
    if st and st["n"] > 1:
        md.append(f"- seeds: final val bpb {_pm(st)} over {st['n']} seeds, range [{st['min']:.6f}, {st['max']:.6f}]; nanochat's "
                  f"final value lies inside it: {v['nanochat_inside_seeds']}" +
                  (" (the seeds agree exactly: a spread of 0 says nothing about noise)" if v["nanochat_inside_seeds"] == "no spread" else ""))
    else:
        md.append("- seeds: one ArcherChat seed, so no seed-to-seed spread is measured (add seeds to `--seeds` for one)")
    md += ["", f"**Parity: {'PASS' if v['passed'] else 'FAIL'}**", ""]
    return md


def report_markdown(res: dict) -> str:
    "The tables of a comparison result (what `compare` returns)."
    nc, ac, seeds = res["nanochat"], res["archerchat"], res["seeds"]
    multi = len(seeds) > 1
    mean = lambda xs: None if any(x is None for x in xs) or not xs else sum(xs) / len(xs)
    steps = sorted(set(nc["val"]) | {s for r in ac.values() for s in r["val"]})
    cols = ["step", "nanochat"] + [f"ArcherChat seed {s}" for s in seeds] + (["ArcherChat mean ± std", "seed spread", "nanochat inside the seeds' range"] if multi else []) + ["rel. diff"]
    md = [f"# nanochat vs ArcherChat: {res['title']}", "", f"_{res['time']}, run directory `{res['out']}`_", "",
          f"- nanochat: `{res['nanochat_checkout']}` at {res.get('nanochat_commit') or 'unknown commit'}; "
          f"ArcherChat at {res.get('archerchat_commit') or 'unknown commit'}",
          f"- data: `{res['data_dir']}` ({res['n_shards']} shards, the last one is validation); "
          f"ArcherChat loader: {res['archerchat_loader']}", ""]
    v = res.get("verdict") or verdict(res, res["args"].get("max_eval_gap", 0.01), res["args"].get("max_final_gap", 0.005))
    md += verdict_markdown(v)
    md += ["## Validation bpb", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for s in steps:
        a = [ac[k]["val"].get(s) for k in seeds]
        m = mean(a)
        row = [str(s), _f(nc["val"].get(s))] + [_f(x) for x in a]
        if multi:
            st = seed_stats(a)
            row += [_pm(st), _f(max(a) - min(a)) if m is not None else "", inside(st, nc["val"].get(s))]
        row.append(_pct(_rel(None if m is None else round(m, 6), nc["val"].get(s))))   # at nanochat's precision
        md.append("| " + " | ".join(row) + " |")
    md.append("")
    same = NANOCHAT_SEED if NANOCHAT_SEED in seeds else None
    if 0 in nc["val"] and same and 0 in ac[same]["val"]:
        # with nanochat's seed ArcherChat starts from the same weights, so step 0 checks the tokenizers and the rows
        d0 = abs(round(ac[same]["val"][0], 6) - nc["val"][0])        # nanochat prints six decimals
        md.append(f"Step 0 (the untrained model, ArcherChat seed {same} = nanochat's seed, the same initial weights): " +
                  ("the same to the sixth decimal, so both evaluate the same validation rows with tokenizers that agree."
                   if d0 < 1e-9 else "the same but for the last printed digit (bf16 rounding of the evaluation), so both evaluate "
                   "the same validation rows with tokenizers that agree." if d0 < 2.5e-6 else
                   f"**differs by {d0:.6f}**: the two evaluate different validation rows or their tokenizers "
                   "differ, so the later numbers do not compare directly (is ArcherChat on nanochat packing and order?)."))
        md.append("")
    elif 0 in nc["val"]:
        md += [f"Step 0 is not checked: no ArcherChat run with nanochat's seed {NANOCHAT_SEED} (other seeds start from other "
               "weights); add it to --seeds to check that both see the same validation rows.", ""]
    n_lrm, bad_lrm = lrm_mismatches(nc["train"], ac[seeds[0]]["train"])
    if n_lrm:
        md += [f"Learning-rate multiplier: the same as nanochat's at all {n_lrm} steps both logged (to the 2 decimals nanochat "
               "prints)." if not bad_lrm else f"Learning-rate multiplier: **differs** at {len(bad_lrm)} of {n_lrm} steps (first: "
               f"step {bad_lrm[0][0]}, nanochat {bad_lrm[0][1]:.2f}, ArcherChat {bad_lrm[0][2]:.4f}): the schedules differ, so the "
               "two do not train alike.", ""]
    sn, sa = res["summary"]["nanochat"], res["summary"]["archerchat"]
    rows = [("final val bpb", _f(sn["final_val_bpb"]), [_f(sa[k]["final_val_bpb"]) for k in seeds],
             mean([sa[k]["final_val_bpb"] for k in seeds]), sn["final_val_bpb"], ".6f"),
            ("final train loss (EMA, debiased)", _f(sn["final_train_loss"], ".4f"), [_f(sa[k]["final_train_loss"], ".4f") for k in seeds],
             mean([sa[k]["final_train_loss"] for k in seeds]), sn["final_train_loss"], ".4f"),
            (f"median tok/s (steps >= {max(10, res['args']['num_iterations'] // 2)})", _f(sn["median_tok_per_sec"], ",.0f"),
             [_f(sa[k]["median_tok_per_sec"], ",.0f") for k in seeds], mean([sa[k]["median_tok_per_sec"] for k in seeds]),
             sn["median_tok_per_sec"], ",.0f")]
    cols = ["", "nanochat"] + [f"ArcherChat seed {s}" for s in seeds] + (["ArcherChat mean"] if multi else []) + ["ArcherChat / nanochat"]
    md += ["## End of training", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for name, n, a, m, nv, fmt in rows:
        ratio = None if m is None or not nv else m / nv
        md.append("| " + " | ".join([name, n] + a + ([_f(m, fmt)] if multi else []) + [_f(ratio, ".4f")]) + " |")
    md.append("")
    if multi:
        fv = [sa[k]["final_val_bpb"] for k in seeds]
        if None not in fv and sn["final_val_bpb"] is not None:
            gap, spread = mean(fv) - sn["final_val_bpb"], max(fv) - min(fv)
            md += [f"Final val bpb: ArcherChat's mean is {gap:+.6f} from nanochat's; the spread over {len(seeds)} ArcherChat seeds is "
                   f"{spread:.6f}" + (": the seeds agree exactly, which says nothing about noise." if not spread else
                                      f" ({abs(gap) / spread:.1f}x smaller than the gap)." if abs(gap) > spread else
                                      ": the gap is within the seed-to-seed spread."), ""]
    md += ["Notes: the train loss is each program's EMA (beta 0.9, debiased) of the training loss; nanochat's is the loss of "
           "the last micro-batch of a step, ArcherChat's the mean over the micro-batches, so with gradient accumulation "
           "the two carry different noise. tok/s is each program's own per-step figure (evaluation excluded); the runs go one "
           "after the other, so it compares only on a machine that nothing else uses, and nanochat always compiles the "
           "model while ArcherChat compiles on CUDA only (`--archerchat-args=--compile` to compile on CPU too; in bf16 this "
           "matters: inductor's fused kernels round differently from eager bf16 ops, and a compiled and an eager run drift "
           "apart by more than the seed spread).", "",
           "![nanochat vs ArcherChat](vs_nanochat.png)", "", "## Commands", ""]
    md += [f"- {k}: `{v}`" for k, v in res["commands"].items()]
    return "\n".join(md) + "\n"


def plot(res: dict, path):
    "One figure: val bpb vs step, train loss vs step, tok/s vs step; nanochat and every ArcherChat seed."
    import matplotlib; matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axs = plt.subplots(1, 3, figsize=(16, 4.5))
    runs = [("nanochat", res["nanochat"], dict(color="k", lw=2))]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    runs += [(f"ArcherChat seed {s}", res["archerchat"][str(s)], dict(color=colors[i % len(colors)], lw=1.3))
             for i, s in enumerate(res["seeds"])]
    for name, r, style in runs:
        vs = sorted(r["val"])
        axs[0].plot(vs, [r["val"][s] for s in vs], marker="o", ms=3, label=name, **style)
        st = [t["step"] for t in r["train"]]
        axs[1].plot(st, [t["loss"] for t in r["train"]], label=name, **style)
        axs[2].plot(st, [t["tok_per_sec"] for t in r["train"]], label=name, alpha=0.8, **style)
    for ax, t in zip(axs, ["validation bpb", "train loss (EMA, nats/token)", "tokens/s per step"]):
        ax.set_title(t); ax.set_xlabel("step"); ax.grid(alpha=0.3); ax.legend(fontsize=8)
    ok = [t["tok_per_sec"] for _, r, _ in runs for t in r["train"] if t["step"] >= 10 and t["tok_per_sec"]]
    if ok: axs[2].set_ylim(0, 1.15 * max(ok))             # the compile steps would flatten the rest
    fig.suptitle(f"nanochat vs ArcherChat: {res['title']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

# ---------------------------------------------------------------------------------------------------------------------
# Running the two programs

def check_nanochat(path) -> Path:
    "The root of a nanochat checkout, or a clear error naming the files that were expected there."
    p = Path(path).expanduser().resolve()
    missing = [f for f in NANOCHAT_FILES if not (p / f).is_file()]
    if missing:
        raise UserError(f"--nanochat {path}: not a nanochat checkout (expected {', '.join(NANOCHAT_FILES)} under it; missing "
                         f"{', '.join(missing)}). Pass the root of a clone of github.com/karpathy/nanochat.")
    return p


def check_python(python: str, modules=NANOCHAT_MODULES):
    "Fail early when `python` cannot import what nanochat needs."
    code = "import importlib.util as u, sys; print(' '.join(m for m in sys.argv[1:] if u.find_spec(m) is None))"
    try: r = subprocess.run([python, "-c", code, *modules], capture_output=True, text=True, timeout=120)
    except OSError as e: raise UserError(f"--nanochat-python {python}: cannot run it ({e})")
    if r.returncode != 0: raise UserError(f"--nanochat-python {python}: failed to start ({r.stderr.strip()[-500:]})")
    if r.stdout.strip():
        raise UserError(f"--nanochat-python {python} lacks {r.stdout.strip()} (nanochat needs {', '.join(modules)}; the module "
                         f"'yaml' is the package pyyaml): install them there, or pass another --nanochat-python")


def git_commit(path) -> str | None:
    try:
        r = subprocess.run(["git", "-c", "safe.directory=*", "-C", str(path), "describe", "--always", "--dirty", "--abbrev=7"],
                           capture_output=True, text=True, timeout=10)
        return r.stdout.strip() or None
    except OSError: return None


def shards_of(data_dir) -> list[Path]:
    d = Path(data_dir).expanduser().resolve()
    shards = sorted(p for p in d.glob("*.parquet") if not p.name.startswith("."))
    if len(shards) < 2:
        raise UserError(f"--data-dir {data_dir}: found {len(shards)} parquet shard(s); need at least 2 (the last one is validation)")
    return shards


def link_shards(shards, dest: Path):
    "`dest` holds exactly one symlink per shard (what nanochat's `base_data_climbmix/` must look like)."
    dest.mkdir(parents=True, exist_ok=True)
    for p in dest.iterdir():
        if p.is_symlink() or p.suffix == ".parquet": p.unlink()
    for s in shards: (dest / s.name).symlink_to(s)


def run_logged(cmd, log: Path, *, env=None, cwd=None, prefix=""):
    "Run `cmd`, teeing its stdout and stderr into `log` and onto our stdout; raise (naming the command and the log) on failure."
    log.parent.mkdir(parents=True, exist_ok=True)
    print(f"$ {'cd ' + str(cwd) + ' && ' if cwd else ''}{shlex.join(cmd)}   > {log}", flush=True)
    t0 = time.time()
    with open(log, "w") as f, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                               text=True, bufsize=1, errors="replace") as p:
        for line in p.stdout:
            f.write(line); f.flush()
            sys.stdout.write(prefix + line); sys.stdout.flush()
    if p.returncode != 0:
        tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-15:])
        raise SystemExit(f"{prefix.strip()} command failed (exit status {p.returncode}) after {time.time() - t0:.0f}s: "
                         f"{shlex.join(cmd)}\nlog: {log}\n{tail}")
    return time.time() - t0


def tokenizer_stamp(args, shards) -> dict:
    return dict(vocab_size=args.vocab_size, max_chars=args.max_chars, data_dir=str(shards[0].parent),
                shards=[[s.name, s.stat().st_size] for s in shards])


def train_tokenizer_once(name, tok_dir: Path, stamp: dict, train):
    "Train unless `tok_dir` holds a tokenizer this harness trained with the same settings on the same shards."
    rec = tok_dir / "vs_nanochat.json"
    if rec.exists() and json.loads(rec.read_text()) == stamp:
        print(f"[{name}] tokenizer with vocab {stamp['vocab_size']:,} already trained in {tok_dir}; reusing it", flush=True)
        return
    train()
    tok_dir.mkdir(parents=True, exist_ok=True)
    rec.write_text(json.dumps(stamp))


def shared_flags(args) -> list[str]:
    "The pretraining flags both programs take, spelled the same way."
    f = ["--depth", args.depth, "--aspect-ratio", args.aspect_ratio, "--head-dim", args.head_dim, "--max-seq-len", args.max_seq_len,
         "--window-pattern", args.window_pattern, "--num-iterations", args.num_iterations,
         "--total-batch-size", args.total_batch_size, "--device-batch-size", args.device_batch_size,
         "--eval-every", args.eval_every, "--eval-tokens", args.eval_tokens,
         "--core-metric-every", -1, "--sample-every", -1, "--save-every", -1]
    for k in LR_FLAGS:
        if getattr(args, k) is not None: f += ["--" + k.replace("_", "-"), getattr(args, k)]
    if args.device_type: f += ["--device-type", args.device_type]
    return [str(x) for x in f]


def run_nanochat(args, out: Path, shards, commands: dict) -> dict:
    nc = check_nanochat(args.nanochat)
    python = args.nanochat_python or sys.executable
    check_python(python)
    base, stub = out / "nanochat_base", out / "nanochat_stub"
    link_shards(shards, base / "base_data_climbmix")
    stub.mkdir(parents=True, exist_ok=True)
    (stub / "wandb.py").write_text(WANDB_STUB)
    env = dict(os.environ, NANOCHAT_BASE_DIR=str(base))
    env["PYTHONPATH"] = os.pathsep.join([str(stub)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    tok_cmd = [python, "-m", "scripts.tok_train", "--vocab-size", str(args.vocab_size), "--max-chars", str(args.max_chars)]
    commands["nanochat tokenizer"] = f"cd {nc} && NANOCHAT_BASE_DIR={base} PYTHONPATH={stub} {shlex.join(tok_cmd)}"
    train_tokenizer_once("nanochat", base / "tokenizer", tokenizer_stamp(args, shards),
                     lambda: run_logged(tok_cmd, out / "logs" / "nanochat_tok_train.log", env=env, cwd=nc, prefix="[nanochat] "))
    train_cmd = [python, "-m", "scripts.base_train", *shared_flags(args), "--model-tag", f"d{args.depth}",
                 *shlex.split(args.nanochat_args)]
    commands["nanochat pretraining"] = f"cd {nc} && NANOCHAT_BASE_DIR={base} PYTHONPATH={stub} {shlex.join(train_cmd)}"
    run_logged(train_cmd, out / "logs" / "nanochat_base_train.log", env=env, cwd=nc, prefix="[nanochat] ")
    return parse_nanochat_log((out / "logs" / "nanochat_base_train.log").read_text(errors="replace"))


# ArcherChat reads the data as nanochat does (its defaults; spelled out so the recorded command says so)
ARCHERCHAT_LAUNCHER = [sys.executable, "-m", "archerchat.train", "--packing", "bestfit", "--no-shuffle"]
ARCHERCHAT_LOADER = "--packing bestfit --no-shuffle"


def run_archerchat(args, out: Path, shards, seed: int, commands: dict, launcher: list[str], tag: str | None = None,
                   extra: str | None = None) -> dict:
    from archerchat.pipeline import launch_env
    base = out / "archerchat_base"
    env = launch_env(ARCHERCHAT_BASE_DIR=base)
    tok_cmd = [sys.executable, "-m", "archerchat.tokenizer", "train", "--vocab-size", str(args.vocab_size),
               "--max-chars", str(args.max_chars), "--data-dir", str(Path(args.data_dir).resolve())]
    commands["ArcherChat tokenizer"] = f"ARCHERCHAT_BASE_DIR={base} {shlex.join(tok_cmd)}"
    train_tokenizer_once("ArcherChat", base / "tokenizer", tokenizer_stamp(args, shards),
                     lambda: run_logged(tok_cmd, out / "logs" / "archerchat_tokenizer.log", env=env, prefix="[ArcherChat] "))
    tag = tag or f"seed{seed}"
    run = base / "base_checkpoints" / tag
    if run.exists(): shutil.rmtree(run)                 # a fresh run: metrics.jsonl would otherwise be appended to
    cmd = [*launcher, *shared_flags(args), "--data-dir", str(Path(args.data_dir).resolve()), "--seed", str(seed), "--tag", tag,
           *shlex.split(args.archerchat_args if extra is None else extra)]
    commands[f"ArcherChat pretraining, {tag if extra is not None else f'seed {seed}'}"] = f"ARCHERCHAT_BASE_DIR={base} {shlex.join(cmd)}"
    run_logged(cmd, out / "logs" / f"archerchat_{tag}.log", env=env, prefix=f"[ArcherChat {tag}] ")
    return parse_archerchat_metrics((run / "metrics.jsonl").read_text().splitlines())


def default_out(args) -> Path:
    from archerchat.common import base_dir
    return base_dir() / "vs_nanochat" / f"d{args.depth}-{args.num_iterations}"


def compare(args) -> dict:
    "Run (or reuse) both sides, then write the table, the plot and the JSON into the run directory; returns the result."
    out = Path(args.out).expanduser().resolve() if args.out else default_out(args)
    out.mkdir(parents=True, exist_ok=True)
    shards = shards_of(args.data_dir)
    prev_p = out / "vs_nanochat.json"
    prev = json.loads(prev_p.read_text()) if prev_p.exists() else {}
    commands = dict(prev.get("commands", {}))
    seeds = [str(s) for s in args.seeds]
    if (args.skip_nanochat or args.skip_archerchat) and prev.get("args"):
        old = prev["args"]
        diff = [f"--{k.replace('_', '-')} {old.get(k)} then, {getattr(args, k)} now" for k in RUN_ARGS if old.get(k) != getattr(args, k)]
        if diff: print(f"warning: the reused run(s) were made with other settings: {'; '.join(diff)}", flush=True)
    if args.skip_nanochat:
        log = out / "logs" / "nanochat_base_train.log"
        if not log.exists(): raise UserError(f"--skip-nanochat: no finished nanochat run in {out} ({log} is missing); run without it once")
        nc = parse_nanochat_log(log.read_text(errors="replace"))
    else:
        nc = run_nanochat(args, out, shards, commands)
    loader = prev.get("archerchat_loader", "reused") if args.skip_archerchat else ARCHERCHAT_LOADER
    ac, ran = {}, not args.skip_archerchat
    for s in seeds:
        m = out / "archerchat_base" / "base_checkpoints" / f"seed{s}" / "metrics.jsonl"
        done = parse_archerchat_metrics(m.read_text().splitlines()) if args.skip_archerchat and m.exists() else None
        if done is not None and args.num_iterations in done["val"]:
            ac[s] = done
        else:
            if args.skip_archerchat: print(f"--skip-archerchat: no finished ArcherChat run for seed {s} in {out}; running it", flush=True)
            loader, ran = ARCHERCHAT_LOADER, True
            ac[s] = run_archerchat(args, out, shards, int(s), commands, ARCHERCHAT_LAUNCHER)
    n_it = args.num_iterations
    res = dict(title=f"d{args.depth}, {n_it} steps, {args.max_seq_len}-token rows, window {args.window_pattern}, vocab {args.vocab_size:,}",
               time=time.strftime("%Y-%m-%d %H:%M:%S"), out=str(out), data_dir=str(Path(args.data_dir).resolve()), n_shards=len(shards),
               nanochat_checkout=prev.get("nanochat_checkout") if args.skip_nanochat else str(Path(args.nanochat).resolve()),
               nanochat_commit=prev.get("nanochat_commit") if args.skip_nanochat else git_commit(args.nanochat),
               archerchat_commit=git_commit(Path(__file__).resolve().parent) if ran else prev.get("archerchat_commit"),
               archerchat_loader=loader,
               args={k: v for k, v in vars(args).items()}, seeds=seeds, commands=commands, nanochat=nc, archerchat=ac,
               summary=dict(nanochat=summarize(nc, n_it), archerchat={s: summarize(ac[s], n_it) for s in seeds}))
    for r in [nc, *ac.values()]:
        if r["train"][-1]["step"] != n_it - 1:
            print(f"warning: a run ended at step {r['train'][-1]['step'] + 1}, not {n_it}: compare with care (the report says so)", flush=True)
    res["verdict"] = verdict(res, args.max_eval_gap / 100, args.max_final_gap / 100)
    # JSON keys are strings: keep the val dicts as {str(step): bpb} in the file, ints in memory
    prev_p.write_text(json.dumps(_json_ready(res), indent=1))
    plot(res, out / "vs_nanochat.png")
    (out / "vs_nanochat.md").write_text(report_markdown(res))
    print(report_markdown(res))
    print(f"written: {out / 'vs_nanochat.md'}, {out / 'vs_nanochat.png'}, {prev_p}, logs in {out / 'logs'}")
    print(f"parity: {'PASS' if res['verdict']['passed'] else 'FAIL'}")
    return res


def parse_configs(specs: list[str]) -> dict[str, str]:
    "`NAME=FLAGS` pairs (FLAGS: archerchat.train flags in one string) -> {name: flags}, names unique and plain."
    out = {}
    for sp in specs:
        name, eq, flags = sp.partition("=")
        if not eq or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise SystemExit(f"--configs {sp!r}: expected NAME=FLAGS, e.g. longfirst='--packing longfirst' (NAME: letters, digits, _ . -)")
        if name in out: raise SystemExit(f"--configs: the name {name!r} appears twice")
        out[name] = flags
    if len(out) < 2: raise SystemExit("--configs needs at least two configurations to compare")
    return out


def configs_markdown(res: dict) -> str:
    """Two or more ArcherChat configurations over the same seeds: mean ± std at every evaluation, and each one's difference
    from the first with its standard error (sqrt(s1²/n1 + s2²/n2)); a difference beyond 2 standard errors is called out."""
    names, seeds, runs = list(res["configs"]), res["seeds"], res["runs"]
    base = names[0]
    steps = sorted({s for n in names for r in runs[n].values() for s in r["val"]})
    st = {n: {s: seed_stats([runs[n][k]["val"].get(s) for k in seeds]) for s in steps} for n in names}
    cols = ["step"] + [f"{n} (mean ± std)" for n in names] + [f"{n} − {base}" for n in names[1:]]
    md = [f"# ArcherChat configurations compared over seeds: {res['title']}", "", f"_{res['time']}, run directory `{res['out']}`_", "",
          f"Seeds {', '.join(seeds)} for each of: " + "; ".join(f"**{n}** `{f or '(defaults)'}`" for n, f in res["configs"].items()), "",
          "## Validation bpb", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    def diff(n, s):
        a, b = st[base][s], st[n][s]
        if a is None or b is None: return None
        se = (a["std"] ** 2 / a["n"] + b["std"] ** 2 / b["n"]) ** 0.5 if a["std"] is not None and b["std"] is not None else None
        return dict(d=b["mean"] - a["mean"], se=se)
    for s in steps:
        row = [str(s)] + [_pm(st[n][s]) for n in names]
        for n in names[1:]:
            d = diff(n, s)
            row.append("" if d is None else f"{d['d']:+.6f}" + ("" if d["se"] is None else f" ± {d['se']:.6f}" + (" **(> 2 SE)**" if d["se"] and abs(d["d"]) > 2 * d["se"] else "")))
        md.append("| " + " | ".join(row) + " |")
    last = steps[-1] if steps else None
    md += ["", "## Verdict", ""]
    for n in names[1:]:
        d = diff(n, last) if last is not None else None
        if d is None: md.append(f"- {n}: no final evaluation for every seed")
        elif d["se"] is None: md.append(f"- {n} − {base} at step {last}: {d['d']:+.6f} from one seed each: no noise estimate (run two or more seeds)")
        elif d["se"] == 0: md.append(f"- {n} − {base} at step {last}: {d['d']:+.6f}; the seeds agree exactly (a spread of 0 says nothing about noise)")
        else:
            better = "lower (better)" if d["d"] < 0 else "higher (worse)"
            md.append(f"- {n} − {base} at step {last}: {d['d']:+.6f} ± {d['se']:.6f} (one standard error, {len(seeds)} seeds each): "
                      + (f"{n}'s val bpb is {better}, {abs(d['d']) / d['se']:.1f} standard errors from {base}'s" if abs(d["d"]) > 2 * d["se"]
                         else f"within 2 standard errors: no difference shown at this noise"))
    md += ["", "## Commands", ""] + [f"- {k}: `{v}`" for k, v in res["commands"].items()]
    return "\n".join(md) + "\n"


def compare_configs(args) -> dict:
    "ArcherChat alone: every configuration of `--configs` once per seed, on the same shards; writes vs_configs.md/.json."
    out = Path(args.out).expanduser().resolve() if args.out else default_out(args).with_name(default_out(args).name + "-configs")
    out.mkdir(parents=True, exist_ok=True)
    shards, configs, seeds = shards_of(args.data_dir), parse_configs(args.configs), [str(s) for s in args.seeds]
    commands, runs = {}, {}
    for name, flags in configs.items():
        runs[name] = {s: run_archerchat(args, out, shards, int(s), commands, ARCHERCHAT_LAUNCHER, tag=f"{name}-seed{s}",
                                        extra=" ".join([args.archerchat_args, flags]).strip()) for s in seeds}
    res = dict(title=f"d{args.depth}, {args.num_iterations} steps, {args.max_seq_len}-token rows, window {args.window_pattern}",
               time=time.strftime("%Y-%m-%d %H:%M:%S"), out=str(out), configs=configs, seeds=seeds, runs=runs, commands=commands,
               archerchat_commit=git_commit(Path(__file__).resolve().parent), args=vars(args))
    (out / "vs_configs.json").write_text(json.dumps(_json_ready(res), indent=1))
    (out / "vs_configs.md").write_text(configs_markdown(res))
    print(configs_markdown(res))
    print(f"written: {out / 'vs_configs.md'}, {out / 'vs_configs.json'}")
    return res


def _json_ready(o):
    if isinstance(o, dict): return {str(k): _json_ready(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)): return [_json_ready(v) for v in o]
    if isinstance(o, float) and not math.isfinite(o): return str(o)
    return o

# ---------------------------------------------------------------------------------------------------------------------
# Self-test: the parsers on samples of both programs' real output (nanochat 92d63d4 on CPU; ArcherChat's metrics.jsonl)

NANOCHAT_SAMPLE = """\
Total batch size 2,048 => gradient accumulation steps: 4
Step 00000 | Validation bpb: 4.075630
step 00000/00040 (0.00%) | loss: 6.932173 | lrm: 0.03 | dt: 6528.69ms | tok/sec: 313 | bf16_mfu: 0.00 | epoch: 2 pq: 1 rg: 6 | total time: 0.00m
step 00001/00040 (2.50%) | loss: 6.931824 | lrm: 0.05 | dt: 806.63ms | tok/sec: 2,538 | bf16_mfu: 0.00 | epoch: 2 pq: 1 rg: 6 | total time: 0.00m
step 00010/00040 (25.00%) | loss: 6.914696 | lrm: 0.28 | dt: 151.96ms | tok/sec: 13,477 | bf16_mfu: 0.00 | epoch: 2 pq: 2 rg: 4 | total time: 0.00m
step 00011/00040 (27.50%) | loss: 6.912696 | lrm: 0.30 | dt: 1181.54ms | tok/sec: 1,733 | bf16_mfu: 0.00 | epoch: 2 pq: 2 rg: 5 | total time: 0.02m | eta: 0.6m
Step 00020 | Validation bpb: 3.978383
step 00039/00040 (97.50%) | loss: 6.148077 | lrm: 1.00 | dt: 133.98ms | tok/sec: 15,286 | bf16_mfu: 0.00 | epoch: 3 pq: 1 rg: 6 | total time: 0.86m | eta: 0.0m
Step 00040 | Validation bpb: 3.456755
Peak memory usage: 0.00MiB
Total training time: 0.86m
Minimum validation bpb: 3.456755
"""
ARCHERCHAT_SAMPLE = """\
{"val/bpb":4.075629500744213,"total_training_time":0.0,"total_training_flops":0,"step":0,"_t":1796424123.119391}
{"train/loss":6.931642532348635,"train/raw_loss":6.931642532348633,"train/lrm":0.025,"train/dt":6.922806978225708,"train/tok_per_sec":295.83375738216745,"total_training_time":0.0,"total_training_flops":0,"step":0,"_t":1796424130.0424466}
{"train/loss":6.931359190689892,"train/raw_loss":6.9311041831970215,"train/lrm":0.05,"train/dt":4.370958089828491,"train/tok_per_sec":468.54716012167484,"total_training_time":0.0,"total_training_flops":7248347136,"step":1,"_t":1796424134.6542668}
{"train/loss":6.910167777633369,"train/raw_loss":6.892125129699707,"train/lrm":0.3,"train/dt":1.6441044807434082,"train/tok_per_sec":1245.6629271358497,"total_training_time":3.136920213699341,"total_training_flops":79731818496,"step":11,"_t":1796424186.54749}
{"val/bpb":3.978436278072105,"total_training_time":35.25036954879761,"total_training_flops":144966942720,"step":20,"_t":1796424234.8362215}
{"train/loss":6.841188627856339,"train/raw_loss":6.7381911277771,"train/lrm":0.525,"train/dt":8.695225238800049,"train/tok_per_sec":235.53156401991333,"total_training_time":43.945594787597656,"total_training_flops":144966942720,"step":20,"_t":1796424243.5316591}
{"train/loss":6.172777325389234,"train/raw_loss":5.747869491577148,"train/lrm":1.0,"train/dt":6.9873456954956055,"train/tok_per_sec":293.1012847010337,"total_training_time":126.45025062561035,"total_training_flops":282685538304,"step":39,"_t":1796424326.0721161}
{"val/bpb":3.457760745766442,"total_training_time":126.45025062561035,"total_training_flops":289933885440,"step":40,"_t":1796424331.9564865}
{"train/lo
"""


def self_test():
    nc = parse_nanochat_log(NANOCHAT_SAMPLE)
    assert nc["val"] == {0: 4.07563, 20: 3.978383, 40: 3.456755}, nc["val"]
    assert [t["step"] for t in nc["train"]] == [0, 1, 10, 11, 39] and nc["train"][1]["tok_per_sec"] == 2538.0, nc["train"]
    assert nc["train"][-1]["loss"] == 6.148077 and abs(nc["train"][3]["dt"] - 1.18154) < 1e-9 and nc["train"][2]["lrm"] == 0.28
    ac = parse_archerchat_metrics(ARCHERCHAT_SAMPLE.splitlines())   # the torn last line is skipped
    assert ac["val"] == {0: 4.075629500744213, 20: 3.978436278072105, 40: 3.457760745766442}, ac["val"]
    assert [t["step"] for t in ac["train"]] == [0, 1, 11, 20, 39] and ac["train"][2]["loss"] == 6.910167777633369, ac["train"]
    sn, sa = summarize(nc, 40), summarize(ac, 40)
    assert sn["median_tok_per_sec"] == 15286.0 and sn["final_val_bpb"] == 3.456755 and sn["final_train_loss"] == 6.148077, sn
    assert abs(sa["median_tok_per_sec"] - (235.53156401991333 + 293.1012847010337) / 2) < 1e-9 and sa["final_val_step"] == 40, sa
    for bad, fn in [("Step 00000 | Validation bpb: 3.1\n", parse_nanochat_log), (['{"val/bpb": 3.1, "step": 0}'], parse_archerchat_metrics)]:
        try: fn(bad); raise AssertionError(f"{fn.__name__} accepted output without step lines")
        except ValueError: pass
    res = dict(title="self-test", time="now", out="/tmp", data_dir="/data", n_shards=4, nanochat_checkout="/nc", archerchat_loader="x",
               args=dict(num_iterations=40), seeds=["42", "43"], commands={"a": "b"}, nanochat=nc, archerchat={"42": ac, "43": ac},
               summary=dict(nanochat=sn, archerchat={"42": sa, "43": sa}))
    md = report_markdown(res)
    assert "| 20 | 3.978383 | 3.978436 | 3.978436 | 3.978436 ± 0.000000 | 0.000000 | no spread | +0.001% |" in md, md
    assert "| 40 | 3.456755 | 3.457761 | 3.457761 | 3.457761 ± 0.000000 | 0.000000 | no spread | +0.029% |" in md, md
    assert "**Parity: PASS**" in md and "a spread of 0 says nothing" in md and "agree exactly" in md, md
    # verdicts: a threshold crossed, a run that stopped early, nanochat inside / outside a real spread
    v = verdict(res, 0.0002, 0.005)
    assert not v["passed"] and v["worst_step"] == 40 and abs(v["worst_gap"] - (3.457760745766442 / 3.456755 - 1)) < 1e-12, v
    short = dict(ac, train=ac["train"][:-1])
    v = verdict(dict(res, archerchat={"42": short, "43": ac}), 0.01, 0.005)
    assert not v["passed"] and v["stopped_early"] == ["ArcherChat seed 42"], v
    assert "**stopped early**: ArcherChat seed 42" in report_markdown(dict(res, archerchat={"42": short, "43": ac}, verdict=v))
    hi = dict(ac, val={**ac["val"], 40: 3.47})
    assert verdict(dict(res, archerchat={"42": ac, "43": hi}), 0.01, 0.005)["nanochat_inside_seeds"] == "no"   # 3.456755 < both
    lo = dict(ac, val={**ac["val"], 40: 3.45})
    v = verdict(dict(res, archerchat={"42": ac, "43": lo}), 0.01, 0.005)
    assert v["nanochat_inside_seeds"] == "yes" and v["final_seed_stats"]["std"] > 0, v
    assert "seeds: one ArcherChat seed" in report_markdown(dict(res, seeds=["42"], archerchat={"42": ac}, summary=dict(nanochat=sn, archerchat={"42": sa})))
    assert "the same to the sixth decimal" in md and "| median tok/s (steps >= 20) | 15,286 |" in md, md
    ac2 = dict(ac, val={**ac["val"], 0: 4.0757})
    assert "the same to the sixth decimal" in report_markdown(dict(res, archerchat={"42": ac, "43": ac2}))  # 43: other weights
    assert "**differs by 0.000070**" in report_markdown(dict(res, archerchat={"42": ac2, "43": ac}))
    assert "the same as nanochat's at all 4 steps" in md, md
    ac3 = dict(ac, train=[dict(t, lrm=0.5) if t["step"] == 11 else t for t in ac["train"]])
    assert "**differs** at 1 of 4 steps (first: step 11, nanochat 0.30, ArcherChat 0.5000)" in report_markdown(
        dict(res, archerchat={"42": ac3, "43": ac})), report_markdown(dict(res, archerchat={"42": ac3, "43": ac}))
    assert "Step 0 is not checked" in report_markdown(dict(res, seeds=["43"], archerchat={"43": ac2}, summary=dict(nanochat=sn, archerchat={"43": sa})))
    cres = dict(title="t", time="now", out="/tmp", configs={"bestfit": "", "longfirst": "--packing longfirst"}, seeds=["42", "43"],
                commands={}, runs={"bestfit": {"42": ac, "43": dict(ac, val={**ac["val"], 40: 3.459761})},
                                   "longfirst": {"42": dict(ac, val={**ac["val"], 40: 3.407761}), "43": dict(ac, val={**ac["val"], 40: 3.409761})}})
    cmd = configs_markdown(cres)
    assert "| 40 | 3.458761 ± 0.001414 | 3.408761 ± 0.001414 | -0.050000 ± 0.001414 **(> 2 SE)** |" in cmd, cmd
    assert "longfirst's val bpb is lower (better), 35.4 standard errors from bestfit's" in cmd, cmd
    same = dict(cres, runs={"bestfit": {"42": ac, "43": ac}, "longfirst": {"42": ac, "43": ac}})
    assert "a spread of 0 says nothing about noise" in configs_markdown(same)
    try: parse_configs(["a=--x"]); raise AssertionError("one configuration accepted")
    except SystemExit: pass
    print("self-test passed: nanochat stdout and ArcherChat metrics.jsonl parse as expected; verdicts and seed statistics")

# ---------------------------------------------------------------------------------------------------------------------

def parser():
    ap = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    a = ap.add_argument
    a("--nanochat", help="root of a nanochat checkout (github.com/karpathy/nanochat)")
    a("--nanochat-python", default=None, help="the Python that runs nanochat (default: this one); needs torch, rustbpe, tiktoken, pyarrow, pyyaml")
    a("--data-dir", default=None, help="parquet shards for both (the last one is validation)")
    a("--out", default=None, help="run directory (default: $ARCHERCHAT_BASE_DIR/vs_nanochat/d{depth}-{num_iterations})")
    a("--depth", type=number(int, 1), default=8)
    a("--aspect-ratio", type=number(int, 1), default=64)
    a("--head-dim", type=number(int, 1), default=128)
    a("--max-seq-len", type=number(int, 2), default=2048)
    a("--window-pattern", default="SSSL")
    a("--num-iterations", type=number(int, 1), default=160)
    a("--total-batch-size", type=number(int, 1, special={-1: "each program's plan"}), default=131072, help="tokens per step (-1: each program's plan picks its own)")
    a("--device-batch-size", type=number(int, 1), default=32)
    a("--eval-every", type=number(int, 1), default=20)
    a("--eval-tokens", type=number(int, 1), default=262144)
    a("--vocab-size", type=number(int, 1), default=32768, help="both tokenizers")
    a("--max-chars", type=number(int, 1), default=2_000_000_000, help="characters each tokenizer trains on at most")
    a("--device-type", default=None, choices=["cuda", "cpu", "mps"], help="default: each program autodetects")
    for k in LR_FLAGS: a("--" + k.replace("_", "-"), type=float, default=None, help="passed to both (default: each program's own)")
    a("--seeds", type=int, nargs="+", default=[42], help="ArcherChat seeds to run (nanochat has one fixed seed)")
    a("--skip-nanochat", action="store_true", help="reuse the nanochat run in --out")
    a("--skip-archerchat", action="store_true", help="reuse the finished ArcherChat runs in --out (seeds not there are run)")
    a("--nanochat-args", default="", help="extra flags for scripts.base_train, one string: --nanochat-args='--fp8'")
    a("--archerchat-args", default="", help="extra flags for archerchat.train, one string: --archerchat-args='--compile'")
    a("--configs", nargs="+", default=None, metavar="NAME=FLAGS", help="ArcherChat alone: compare these configurations over "
      "--seeds (no nanochat), e.g. bestfit='--packing bestfit' longfirst='--packing longfirst'")
    a("--max-eval-gap", type=float, default=1.0, help="verdict: every evaluation within this many percent of nanochat's")
    a("--max-final-gap", type=float, default=0.5, help="verdict: the final evaluation within this many percent of nanochat's")
    a("--self-test", action="store_true", help="check the log parsers on embedded samples and exit")
    return ap


def main(argv=None):
    args = parser().parse_args(argv)
    if args.self_test: return self_test()
    if not args.data_dir: raise UserError("--data-dir is required: the parquet shards both programs train on (the last one is validation)")
    if args.configs: return compare_configs(args)
    if not args.nanochat and not args.skip_nanochat: raise UserError("--nanochat PATH is required (the root of a nanochat checkout)")
    if args.nanochat: check_nanochat(args.nanochat)
    compare(args)


if __name__ == "__main__": sys.exit(run_main(main))
