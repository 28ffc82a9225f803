"""Check ArcherChat's Endlex client against a running Endlex server: the checks notebooks 11, 23 and 24 run against the
loopback server of notebook 22, here against the real one (github archeryue/Endlex; not in CI, since it is not on the package index).

    pip install -e 'PATH/TO/Endlex[server]'           # in a separate virtual environment
    ENDLEX_TOKEN=tok ENDLEX_DATA=/tmp/endlex-data uvicorn endlex.server.app:create_app --factory --host 127.0.0.1 --port 8765 &
    python runs/bench/check_endlex.py --url http://127.0.0.1:8765 --token tok --server-data /tmp/endlex-data

The server must run on this machine (127.0.0.1): a cut connection is made by a small TCP proxy in this script that
forwards to it; `--server-data` (the server's ENDLEX_DATA) lets it corrupt a
stored file to check that `pull` refuses it. Every check prints one line; the exit status is the number that failed.
"""
import argparse, contextlib, io, os, signal, socket, subprocess, sys, tempfile, threading, time
from pathlib import Path
from archerchat.endlex import EndlexClient, list_runs
from archerchat.telemetry import Tracker, attach, sync_run
from archerchat.sync import pull, sha256_file
from archerchat.stages import check_remote


class CuttingProxy:
    "Forward 127.0.0.1:port to `target`; with `cut_after`, drop the first connection that sends more than that many bytes."
    def __init__(self, target_port: int):
        self.target, self.cut_after, self.up, self.down = target_port, None, 0, 0
        self.sock = socket.create_server(("127.0.0.1", 0)); self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try: c, _ = self.sock.accept()
            except OSError: return
            s = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self._pipe, args=(c, s, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(s, c, False), daemon=True).start()

    def _pipe(self, a, b, upstream):
        sent = 0
        try:
            while data := a.recv(1 << 16):
                b.sendall(data); sent += len(data)
                if upstream: self.up += len(data)
                else: self.down += len(data)
                if upstream and self.cut_after is not None and sent > self.cut_after:
                    self.cut_after = None
                    for x in (a, b): x.shutdown(socket.SHUT_RDWR)
                    return
        except OSError: pass
        finally:
            for x in (a, b):
                with contextlib.suppress(OSError): x.shutdown(socket.SHUT_WR)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True); ap.add_argument("--token", required=True)
    ap.add_argument("--server-data", default=None, help="the server's ENDLEX_DATA (to corrupt a stored file)")
    a = ap.parse_args()
    tmp, run, fails = Path(tempfile.mkdtemp(prefix="endlex-check-")), f"check-{int(time.time())}", []
    port = int(a.url.rsplit(":", 1)[1].split("/")[0])
    proxy = CuttingProxy(port)
    purl = f"http://127.0.0.1:{proxy.port}"
    fast = dict(batch_size=50, flush_interval=0.2, retry_base=0.05, retry_max=0.3)

    def check(name, ok, detail=""):
        print(f"{'ok  ' if ok else 'FAIL'} {name}" + (f": {detail}" if detail else ""), flush=True)
        if not ok: fails.append(name)

    # 1. a checkpoint above the threshold, through a connection cut 400 KB into the upload
    ck = tmp / "ck"; ck.mkdir()
    (ck / "model_000006.pt").write_bytes(os.urandom(1_500_000)); (ck / "meta_000006.json").write_text('{"step": 6}')
    (ck / "rank0_000006.pt").write_bytes(os.urandom(300_000))
    rd = tmp / "run"
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        t = Tracker("check", run, {"depth": 2}, run_dir=rd, url=purl, token=a.token, chunk_threshold=256 << 10, **fast)
        for i in range(120): t.log({"step": i, "train/loss": 1.0 / (i + 1)})
        proxy.cut_after = 400_000
        t.sync_checkpoint(ck, 6)
        t.finish(60)
    check("large file: chunk probe answered 404, sent as multipart", "no chunked uploads" in err.getvalue())
    check("cut connection mid-upload retried", t.stats["ckpt_retries"] >= 1 and t.checkpoints[6]["status"] == "done",
          f"retries {t.stats['ckpt_retries']}, status {t.checkpoints[6]['status']}")
    cl = EndlexClient(a.url, a.token)
    info = cl.call("GET", f"/api/runs/{run}")
    check("?project= reaches the dashboard", info["summary"]["project"] == "check", info["summary"]["project"])
    check("metrics complete", info["summary"]["num_events"] == 120 and t.remote_state == "finished", f"{info['summary']['num_events']} events")
    check("listing", info["checkpoints"] == [{"step": "step_000006", "files": ["SHA256SUMS", "meta_000006.json", "model_000006.pt",
                                                                              "rank0_000006.pt"]}], str(info["checkpoints"]))
    if a.server_data:
        stored = Path(a.server_data) / "checkpoints" / run / "step_000006"
        check("arrived whole", all(sha256_file(stored / f.name) == sha256_file(f) for f in ck.iterdir()))

    # 2. SFT, tokenizer and report files of a later stage, then pull
    sft = tmp / "sft"; sft.mkdir(); (sft / "model_000004.pt").write_bytes(os.urandom(700_000)); (sft / "meta_000004.json").write_text("{}")
    tok = tmp / "tok"; tok.mkdir(); (tok / "tokenizer.bpe").write_bytes(os.urandom(4000)); (tok / "token_bytes.pt").write_bytes(os.urandom(500))
    (rd / "report.md").write_text("# report\n")
    s = attach(rd, "sft/", url=a.url, token=a.token, chunk_threshold=256 << 10, **fast)
    s.log({"train/loss": 0.5}, step=1)
    s.sync_checkpoint(sft.iterdir(), 10, prefix="sft."); s.sync_checkpoint(tok.iterdir(), 10, prefix="tokenizer.")
    s.sync_checkpoint([rd / "report.md"], None, prefix="report.")
    with contextlib.redirect_stderr(io.StringIO()): s.finish(60)
    check("a later stage on the same run", s.remote_state == "finished" and all(r["status"] == "done" for r in s.checkpoints.values()),
          f"{s.remote_state} {[r['status'] for r in s.checkpoints.values()]}")
    home = tmp / "home"
    got = pull(run, base_dir=home, url=a.url, token=a.token, log=lambda m: None)
    want = {"base_checkpoints": ck, "sft_checkpoints": sft, "tokenizer": tok}
    same = all(sha256_file(p) == sha256_file((want.get(p.parts[len(home.parts)]) or rd) / p.name) for p in got if p.name != "report.md")
    check("pull: identical files", same and len(got) == 7, f"{len(got)} files")
    m6 = home / "base_checkpoints" / run / "model_000006.pt"
    part = m6.with_name(m6.name + ".part"); part.write_bytes(m6.read_bytes()[:1_000_000]); m6.unlink()
    down0 = proxy.down
    pull(run, base_dir=home, url=purl, token=a.token, log=lambda m: None)
    check("pull: an interrupted download resumes (Range)", sha256_file(m6) == sha256_file(ck / m6.name) and proxy.down - down0 < 1_000_000,
          f"{proxy.down - down0} bytes came down for the last 500 KB")
    if a.server_data:
        bad = Path(a.server_data) / "checkpoints" / run / "step_000010" / "sft.model_000004.pt"
        orig = bad.read_bytes(); b = bytearray(orig); b[7] ^= 1; bad.write_bytes(bytes(b))
        try: pull(run, base_dir=tmp / "home2", url=a.url, token=a.token, log=lambda m: None); e = None
        except Exception as x: e = str(x)
        check("pull: a corrupted file is refused, named, its partial file removed",
              e is not None and "sha256 mismatch for sft.model_000004.pt" in e and not list((tmp / "home2").rglob("*.part")), e)
        bad.write_bytes(orig)
    for args, expect in [((f"{run}-nope",), "not found"), ((run, 5), "its steps: [6, 10]")]:
        try: pull(*args, base_dir=home, url=a.url, token=a.token); e = ""
        except FileNotFoundError as x: e = str(x)
        check(f"pull of what does not exist: {args}", expect in e, e)
    check("list", any(r["name"] == run for r in list_runs(a.url, a.token)))

    # 3. a stage killed after it reached the server: the next one takes the run over
    script = (f"import os, signal\nfrom archerchat.telemetry import attach\n"
              f"t = attach({str(rd)!r}, 'base_eval/', url={a.url!r}, token={a.token!r}, flush_interval=0.1)\n"
              f"for i in range(30): t.log({{'val_bpb': 1.0}}, step=i)\nassert t.flush(10)\nos.kill(os.getpid(), signal.SIGKILL)\n")
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        s = attach(rd, "base_eval/", url=a.url, token=a.token, **fast); s.log({"val_bpb": 0.9}, step=30); s.finish(20)
    n = cl.call("GET", f"/api/runs/{run}")["summary"]["num_events"]
    local = sum(1 for _ in open(rd / "metrics.jsonl"))
    check("crashed writer taken over, run continued", r.returncode == -signal.SIGKILL and "never finished" in err.getvalue()
          and s.remote_state == "finished" and n == local, f"server {n} events, local {local}")

    # 4. wrong token: one clear error, ENDLEX_URL dropped for the stages
    os.environ.update(ENDLEX_URL=a.url, ENDLEX_TOKEN="wrong")
    err = io.StringIO()
    with contextlib.redirect_stderr(err): st = check_remote(run)
    check("wrong token: one clear error, local logging", st == "refused" and "ENDLEX_URL" not in os.environ and "403" in err.getvalue(),
          err.getvalue().strip()[:160])
    os.environ.pop("ENDLEX_TOKEN", None)

    # 5. the server unreachable for a whole stage, then back: everything arrives
    dead = socket.create_server(("127.0.0.1", 0)); dport = dead.getsockname()[1]; dead.close()
    ck7 = tmp / "ck7"; ck7.mkdir(); (ck7 / "model_000007.pt").write_bytes(os.urandom(100_000)); (ck7 / "meta_000007.json").write_text("{}")
    with contextlib.redirect_stderr(io.StringIO()):
        s = attach(rd, "", url=f"http://127.0.0.1:{dport}", token=a.token, unreachable_wait=1.0, **fast)
        s.log({"step": 7, "train/loss": 0.3}); s.sync_checkpoint(ck7, 7); s.finish(600)
        t = sync_run(rd, url=a.url, token=a.token)
    n = cl.call("GET", f"/api/runs/{run}")["summary"]["num_events"]
    check("server down, then back: metrics and checkpoint arrive", t.remote_state == "finished" and t.checkpoints[7]["status"] == "done"
          and n == sum(1 for _ in open(rd / "metrics.jsonl")), f"{t.remote_state}, {n} events")
    print(f"{len(fails)} check(s) failed" if fails else "all checks passed", f"(run {run}, files in {tmp})")
    return len(fails)


if __name__ == "__main__": sys.exit(main())
