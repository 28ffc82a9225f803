"""Stage the Python packages a GPU machine without network lacks, with their dependencies resolved, and prove the
staging without a GPU.

    python runs/bench/stage_wheels.py stage --out .whl             # here, with the package index: download and filter
    python runs/bench/stage_wheels.py rehearse --wheels .whl --endlex build/endlex   # here: install only from .whl, import

`stage` resolves REQUIREMENTS (with every dependency) for the GPU machine's Python (CPython 3.12, manylinux x86_64)
with `pip download`, then keeps only the wheels of packages that the machine's image does not hold
(`runs/bench/device_packages.txt`): the image's own numpy, torch, pyarrow… are never shadowed. `rehearse` builds a
Python 3.12 environment that holds only the image's packages that the staged wheels depend on (from the index, as the
image would), installs the staged wheels into an empty target with `--no-index --no-deps` (exactly as the GPU
commands do), imports every module the GPU commands import from them, and starts the Endlex server on loopback and
asks its /health. A missing dependency fails here, not on the GPU.
"""
import argparse, email.parser, json, os, re, shutil, subprocess, sys, tempfile, time, urllib.request, zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
# what the GPU commands import beyond the image: the Endlex server (its [server] extra), nanochat's and ArcherChat's
# tokenizer trainer, ArcherChat's own requirements that the image lacks (datasets for the task loaders, fastcore)
REQUIREMENTS = ["fastapi>=0.110", "uvicorn[standard]>=0.30", "jinja2>=3.1", "python-multipart>=0.0.9", "httpx>=0.27",
                "rustbpe", "fastcore>=1.12.3,<2", "datasets"]
IMPORTS = ["fastapi", "starlette", "pydantic", "uvicorn", "multipart", "httptools", "websockets", "rustbpe", "fastcore",
           "datasets", "dill", "multiprocess"]
PLATFORM = ["--python-version", "3.12", "--implementation", "cp", "--only-binary=:all:"] + \
           [a for n in ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
                        "manylinux1_x86_64", "manylinux_2_34_x86_64", "manylinux_2_31_x86_64") for a in ("--platform", n)]


def norm(name: str) -> str: return re.sub(r"[-_.]+", "-", name).lower()


def device_packages() -> set[str]:
    return {norm(l.strip()) for l in (HERE / "device_packages.txt").read_text().splitlines() if l.strip() and not l.startswith("#")}


def wheel_name(path: Path) -> str: return norm(path.name.split("-")[0])


def wheel_requires(path: Path) -> list[str]:
    "The wheel's requirements on the GPU machine (CPython 3.12, Linux x86_64, no extras), as package names."
    with zipfile.ZipFile(path) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        msg = email.parser.Parser().parsestr(z.read(meta).decode())
    from packaging.requirements import Requirement
    env = dict(python_version="3.12", python_full_version="3.12.3", sys_platform="linux", platform_system="Linux",
               platform_machine="x86_64", platform_python_implementation="CPython", implementation_name="cpython",
               os_name="posix", extra="")
    out = []
    for r in msg.get_all("Requires-Dist") or []:
        req = Requirement(r)
        if req.marker is None or req.marker.evaluate(env): out.append(norm(req.name))
    return out


def stage(out: Path, reqs=REQUIREMENTS):
    tmp = Path(tempfile.mkdtemp(prefix="wheels-"))
    cmd = [sys.executable, "-m", "pip", "download", "-q", *PLATFORM, "-d", str(tmp), *reqs]
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    have = device_packages()
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.whl"): old.unlink()
    kept, skipped = [], []
    for w in sorted(tmp.glob("*.whl")):
        (skipped if wheel_name(w) in have else kept).append(w)
    for w in kept: shutil.copy2(w, out / w.name)
    shutil.rmtree(tmp)
    kept = [out / w.name for w in kept]
    names = [wheel_name(w) for w in kept]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup: raise SystemExit(f"two versions of {dup} were staged: pin one")
    size = sum(w.stat().st_size for w in kept)
    print(f"staged {len(kept)} wheels ({size / 2**20:.1f} MiB) in {out}; left out {len(skipped)} that the image holds: "
          f"{', '.join(sorted(wheel_name(w) for w in skipped))}")
    (out / "STAGED.json").write_text(json.dumps(dict(requirements=reqs, wheels=[w.name for w in kept],
                                                     image_has=[w.name for w in skipped]), indent=1))


def rehearse(wheels: Path, endlex: Path | None, python: str = "python3.12"):
    "Install only from `wheels` into an empty target over a Python 3.12 with the image's packages they need; import; serve."
    have = device_packages()
    staged = sorted(wheels.glob("*.whl"))
    if not staged: raise SystemExit(f"no wheels in {wheels}: run `stage` first")
    staged_names = {wheel_name(w) for w in staged}
    need_from_image = sorted({r for w in staged for r in wheel_requires(w) if r in have} | {"httpx", "jinja2"})
    missing = sorted({r for w in staged for r in wheel_requires(w) if r not in have and r not in staged_names})
    if missing: raise SystemExit(f"staged wheels need {missing}, which neither the image nor the staging holds")
    root = Path(tempfile.mkdtemp(prefix="rehearse-"))
    venv, target = root / "venv", root / "site"
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    py = str(venv / "bin" / "python")
    print(f"the image's packages the staged wheels depend on (from the index here): {' '.join(need_from_image)}", flush=True)
    subprocess.run([py, "-m", "pip", "install", "-q", "--only-binary=:all:", *need_from_image], check=True)
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile", "--no-cache-dir", "--upgrade",
                    "--target", str(target), *map(str, staged)], check=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(target)] + ([str(endlex.resolve())] if endlex else [])))
    code = "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)\nprint('imported:', ' '.join(sys.argv[1:]))"
    mods = IMPORTS + (["endlex.server.app"] if endlex else [])
    subprocess.run([py, "-c", code, *mods], env=env, check=True)
    if endlex:
        port = 18000 + os.getpid() % 1000
        data = root / "endlex_data"
        srv = subprocess.Popen([py, "-m", "uvicorn", "endlex.server.app:create_app", "--factory", "--host", "127.0.0.1",
                                "--port", str(port)], env=dict(env, ENDLEX_DATA=str(data), ENDLEX_TOKEN="rehearsal"),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            for _ in range(60):
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                        print(f"Endlex on 127.0.0.1:{port}: /health -> {r.status} {r.read().decode().strip()}"); break
                except OSError: time.sleep(0.5)
            else: raise SystemExit("the Endlex server did not answer /health within 30 s:\n" + (srv.stdout.read() if srv.poll() is not None else ""))
        finally:
            srv.terminate(); srv.wait(10)
    shutil.rmtree(root, ignore_errors=True)
    print(f"rehearsal passed: {len(staged)} staged wheels installed with --no-index into an empty target; every import works")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("stage"); s.add_argument("--out", default=".whl")
    r = sub.add_parser("rehearse"); r.add_argument("--wheels", default=".whl"); r.add_argument("--endlex", default=None)
    r.add_argument("--python", default="python3.12", help="a CPython 3.12, as on the GPU machines")
    a = ap.parse_args(argv)
    if a.cmd == "stage": stage(Path(a.out))
    else: rehearse(Path(a.wheels), Path(a.endlex) if a.endlex else None, a.python)


if __name__ == "__main__":
    main()
