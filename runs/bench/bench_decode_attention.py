"""Decode attention (one new token per row over the KV cache) at d20 shapes: SDPA with a mask (the engine's path
without the kernel) against the split-KV Triton kernel of `14_decode_attention` over a grid of launch settings.
Each variant is timed as the decode step runs it: one call per layer, each layer its own cache, back to back in one
CUDA graph (so nothing comes from L2). Reports microseconds per call and the share of the measured copy bandwidth
(bytes = the keys and values each row can see, read once).

    python runs/bench/bench_decode_attention.py                       # CUDA only; batch 1 8 32 128, context 640
    python runs/bench/bench_decode_attention.py --context 1500 --bound 1536
"""
import itertools, json, os, sys
import torch
from archerchat.gpt import visible, _cached_sdpa
from archerchat.common import ArgumentParser


def parser():
    ap = ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32, 128])
    ap.add_argument("--heads", type=int, default=10)
    ap.add_argument("--head-dim", type=int, default=128)
    ap.add_argument("--context", type=int, default=640, help="every row's length, the new token included")
    ap.add_argument("--bound", type=int, default=768, help="the engine's bucket bound (keys SDPA reads)")
    ap.add_argument("--windows", type=int, nargs="+", default=[512, 2048], help="d20 SSSL at 2048: 512 (S) and 2048 (L)")
    ap.add_argument("--grid", choices=["small", "large"], default="small", help="the launch settings to sweep")
    ap.add_argument("--best-out", default=None, help="write the best settings of the last (batch, window) as 'a,b,c,d'")
    ap.add_argument("--out", default=None)
    return ap


if __name__ == "__main__":
    from gpu_only import exit_without_gpu        # runs/bench is on the path when run as a script
    exit_without_gpu(parser, __file__)           # --help and a one-line "needs a GPU" on any machine, before Triton


from archerchat.decode_kernels import _launch, SMALL, LARGE
from bench_engine import copy_bandwidth, graph_seconds   # runs/ is on the path when run as a script


def main():
    args = parser().parse_args()
    dev, dt = torch.device("cuda"), torch.bfloat16
    H, D, n, bound = args.heads, args.head_dim, args.context, args.bound
    bw = copy_bandwidth(dev, 1 << 30)
    sms = torch.cuda.get_device_properties(dev).multi_processor_count
    print(f"{torch.cuda.get_device_name()}, copy bandwidth {bw / 1e9:.0f} GB/s; H={H} D={D}, context {n}, bound {bound}")
    if args.grid == "small": configs = list(itertools.product((16, 32, 64), (1, 2, 4, 8), (1, 2, 4), (1, 2, 3)))   # block_n, blocks/SM, warps, stages
    else: configs = list(itertools.product((16, 32, 64, 128), (8, 16, 32), (1, 2, 4, 8), (2,)))   # more chunks and wider tiles, for large batches
    rows = []
    for B in args.batch_sizes:
        layer_bytes = B * bound * H * D * 2 * 2
        L = max(2, min(20, (400 << 20) // layer_bytes))
        ks = [torch.randn(B, bound, H, D, device=dev, dtype=dt) for _ in range(L)]
        vs = [torch.randn(B, bound, H, D, device=dev, dtype=dt) for _ in range(L)]
        q = torch.randn(B, 1, H, D, device=dev, dtype=dt)
        lengths = torch.full((B,), n, device=dev, dtype=torch.int32)
        pos = (lengths.long() - 1)[:, None]
        for window in args.windows:
            nbytes = B * min(n, window + 1) * H * D * 2 * 2
            mask = visible(pos, torch.arange(bound, device=dev), window)[:, None]
            t_sdpa = graph_seconds(lambda i: _cached_sdpa(q, ks[i], vs[i], mask, False), L) * 1e6
            ref = _cached_sdpa(q, ks[0], vs[0], mask, False).float()
            best = []
            for bn, bps, w, st in configs:
                try:
                    y = _launch(q, ks[0], vs[0], lengths, window, bound, bn, bps, w, st)
                    err = (y.float() - ref).abs().max().item()
                    if err > 2e-2: print(f"  B={B} w={window} config {(bn, bps, w, st)}: wrong (err {err:.3g})"); continue
                    best.append((graph_seconds(lambda i: _launch(q, ks[i], vs[i], lengths, window, bound, bn, bps, w, st), L, reps=3) * 1e6,
                                 (bn, bps, w, st)))
                except Exception as e: print(f"  config {(bn, bps, w, st)} failed: {type(e).__name__}: {str(e)[:120]}")
            best.sort()
            default = next((t for t, c in best if c == (LARGE if B * H >= 4 * sms else SMALL)), float("nan"))
            r = dict(batch=B, window=window, mb=nbytes / 1e6, sdpa_us=t_sdpa, triton_default_us=default, triton_best_us=best[0][0],
                     best_config=best[0][1], top5=best[:5], all=best, sdpa_bw=nbytes / (t_sdpa * 1e-6) / bw, best_bw=nbytes / (best[0][0] * 1e-6) / bw)
            rows.append(r)
            print(f"B={B:>4} window {window:>5}: {nbytes / 1e6:7.1f} MB  SDPA {t_sdpa:8.2f} us ({r['sdpa_bw']:.0%})  triton default {default:8.2f} us  "
                  f"best {best[0][0]:8.2f} us ({r['best_bw']:.0%}) {best[0][1]}  next: {[(round(t, 2), c) for t, c in best[1:4]]}")
        del ks, vs
    if args.out: json.dump(dict(copy_bandwidth_gbs=bw / 1e9, rows=rows), open(args.out, "w"), indent=1, default=str)
    if args.best_out:   # the settings with the least total time over the windows of the last batch size
        last = [r for r in rows if r["batch"] == rows[-1]["batch"]]
        per = [dict((c, t) for t, c in r["all"]) for r in last]
        common = set.intersection(*(set(p) for p in per))
        best = min(common, key=lambda c: sum(p[c] for p in per))
        open(args.best_out, "w").write(",".join(map(str, best)))
        print(f"best settings over windows {[r['window'] for r in last]} at batch {last[0]['batch']}: {best}")


if __name__ == "__main__":
    main()
