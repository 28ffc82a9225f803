"""Run a training program unmodified, in this process, and watch its optimizer: GPU milliseconds of every
`MuonAdamW.step` (CUDA events, read back one step late so the watch adds no host sync) and the peak GPU memory after
each one, printed as one line per step:

    [watch] optim step 3 | 41.27 ms | peak so far 61.04 GiB

    python runs/bench/step_watch.py nanochat /path/to/nanochat -- --depth 24 --fp8 ...   # scripts.base_train
    python runs/bench/step_watch.py archerchat . -- --depth 24 --fp8 ...                  # archerchat.train

nanochat runs from its checkout (its root on sys.path and as the working directory, as `python -m scripts.base_train`
does); ArcherChat from the package on sys.path. Nothing in either program changes: the class attribute `step` of its
optimizer is wrapped, and the wrapper only records events around the original."""
import os, runpy, sys
from pathlib import Path

PROGRAMS = {"nanochat": ("nanochat.optim", "MuonAdamW", "scripts.base_train"),
            "archerchat": ("archerchat.optim", "MuonAdamW", "archerchat.train")}


def watch(cls):
    import torch
    orig, pending, n = cls.step, [], [0]

    def step(self, *args, **kwargs):
        if not torch.cuda.is_available(): return orig(self, *args, **kwargs)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record(); out = orig(self, *args, **kwargs); end.record()
        while pending and pending[0][2].query():      # earlier steps whose end event has completed: print them
            i, s, e = pending.pop(0)
            print(f"[watch] optim step {i} | {s.elapsed_time(e):.2f} ms | peak so far {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB", flush=True)
        pending.append((n[0], start, end)); n[0] += 1
        return out

    def flush():
        if pending: torch.cuda.synchronize()
        for i, s, e in pending:
            print(f"[watch] optim step {i} | {s.elapsed_time(e):.2f} ms | peak so far {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB", flush=True)
        pending.clear()
    cls.step = step
    import atexit; atexit.register(flush)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 2 or argv[0] not in PROGRAMS or "--" not in argv:
        raise SystemExit("usage: step_watch.py {nanochat|archerchat} ROOT -- ARGS...   (ROOT: the program's checkout)")
    prog, root, rest = argv[0], Path(argv[1]).resolve(), argv[argv.index("--") + 1:]
    mod, cls_name, script = PROGRAMS[prog]
    sys.path.insert(0, str(root))
    if prog == "nanochat": os.chdir(root)
    import importlib
    watch(getattr(importlib.import_module(mod), cls_name))
    sys.argv = [script] + rest
    runpy.run_module(script, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
