"""Run notebooks the way a learner's "Run All" in Jupyter does: a real Jupyter kernel (nbclient, Jupyter's own
executor), every cell in order, `#| cuda` cells included (on a CPU they must check for the GPU and print one line),
with `nbs/` as the working directory and no IN_TEST. Cells flagged `#| slow` are skipped (they take minutes; nbdev_test
skips them too), and so are `#| eval: false` cells, which nbdev marks as not meant to run.

    python .ci/run_notebooks.py nbs/00_tokenizer.ipynb nbs/01_attention_swa.ipynb ...
    python .ci/run_notebooks.py --spine            # notebooks 00-07
    python .ci/run_notebooks.py --all              # every notebook (what .ci/run does)

Exit status 1 if any notebook raises; the failing cell and its error are printed."""
import argparse, os, re, sys, time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
FLAG = re.compile(r"^#\|\s*(slow|eval:\s*false)\s*$", re.M)


def skip_reason(src: str) -> str | None:
    "The directive that keeps a cell from running here, if any (only the leading directive lines count)."
    for line in src.splitlines():
        if not line.startswith("#|"): break
        m = FLAG.match(line.strip())
        if m: return m.group(1)
    return None


def run(path: Path, timeout: int) -> bool:
    nb = nbformat.read(path, as_version=4)
    skipped = 0
    for c in nb.cells:
        if c.cell_type == "code" and skip_reason(c.source):
            c.source = f"print('skipped here: #| {skip_reason(c.source)}')"; skipped += 1
    env = {k: v for k, v in os.environ.items() if k != "IN_TEST"}
    os.environ.clear(); os.environ.update(env)          # the kernel inherits this process's environment
    t = time.time()
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    except CellExecutionError as e:
        print(f"FAIL {path.name} after {time.time() - t:.0f}s\n{str(e)[-3000:]}", flush=True)
        return False
    print(f"ok   {path.name}: {len(nb.cells)} cells ({skipped} skipped: slow / eval: false) in {time.time() - t:.0f}s", flush=True)
    return True


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="*")
    ap.add_argument("--spine", action="store_true", help="the spine notebooks, 00-07")
    ap.add_argument("--all", action="store_true", help="every notebook but index (the README)")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    a = ap.parse_args(argv)
    paths = [Path(p) for p in a.notebooks]
    if a.spine: paths += sorted((ROOT / "nbs").glob("0[0-7]_*.ipynb"))
    if a.all: paths += [p for p in sorted((ROOT / "nbs").glob("*.ipynb")) if p.name != "index.ipynb" and not p.name.startswith("_")]
    paths = list(dict.fromkeys(p.resolve() for p in paths))
    if not paths: ap.error("name notebooks or pass --spine or --all")
    bad = [p.name for p in paths if not run(p, a.timeout)]
    print(f"{len(paths) - len(bad)} passed, {len(bad)} failed (notebooks, Jupyter executor){': ' + ', '.join(bad) if bad else ''}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
