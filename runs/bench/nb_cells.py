"""Run notebooks' code cells in order as plain Python, GPU cells included, with nothing but the standard library and
the package's own dependencies (no Jupyter, no nbdev): for a GPU machine that has neither.

    MPLBACKEND=Agg python runs/bench/nb_cells.py nbs/01b_attention_kernels.ipynb nbs/02_muon.ipynb

Each notebook runs in a fresh namespace with `nbs/` as the working directory and IN_TEST=1 (small configs, as under
nbdev_test). Cells flagged `#| slow` or `#| eval: false` are skipped; `#| cuda` cells run. Stops a notebook at its
first failing cell, prints which one and the traceback, and exits 1 if any notebook failed."""
import json, os, re, sys, time, traceback
from pathlib import Path

SKIP = re.compile(r"^#\|\s*(slow|eval:\s*false)\s*$")


def cells(path: Path):
    "(index, source) of each code cell that runs here."
    for i, c in enumerate(json.loads(path.read_text())["cells"]):
        if c["cell_type"] != "code": continue
        src = "".join(c["source"])
        directives = [l.strip() for l in src.splitlines() if l.startswith("#|")]
        if any(SKIP.match(d) for d in directives): continue
        yield i, src


def run(path: Path) -> bool:
    os.environ["IN_TEST"] = "1"
    cwd, ns, t0 = os.getcwd(), {"__name__": "__main__"}, time.time()
    os.chdir(path.parent)
    try:
        for i, src in cells(path):
            try: exec(compile(src, f"{path.name}[cell {i}]", "exec"), ns)
            except Exception:
                print(f"FAIL {path.name}, cell {i}:\n{src[:400]}\n{traceback.format_exc()[-3000:]}", flush=True)
                return False
    finally: os.chdir(cwd)
    print(f"ok   {path.name} in {time.time() - t0:.0f}s", flush=True)
    return True


if __name__ == "__main__":
    paths = [Path(p).resolve() for p in sys.argv[1:]]
    if not paths: sys.exit(__doc__)
    bad = [p.name for p in paths if not run(p)]
    print(f"{len(paths) - len(bad)} passed, {len(bad)} failed{': ' + ', '.join(bad) if bad else ''}")
    sys.exit(1 if bad else 0)
