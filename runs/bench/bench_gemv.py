"""Matrix-vector products of a batch-1 decode step (d20 shapes), measured as the step runs them: many different
weights back to back inside one CUDA graph, so nothing is served from L2. Compares cuBLAS (`F.linear`), the
compiler's reduction (`torch.compile` of multiply-and-sum, what `bench_engine.py --gemv-rows` gives) and a plain
Triton GEMV over a small grid of tile shapes; reports each one's share of the measured copy bandwidth.

    python runs/bench/bench_gemv.py                 # CUDA only
    python runs/bench/bench_gemv.py --n-embd 1536   # another width (d24)
"""
import itertools, json, os, sys
import torch
import torch.nn.functional as F
from archerchat.common import ArgumentParser


def parser():
    ap = ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-embd", type=int, default=1280)
    ap.add_argument("--vocab", type=int, default=32768)
    ap.add_argument("--bytes-per-shape", type=int, default=400, help="MB of distinct weights per shape (beyond L2)")
    ap.add_argument("--out", default=None)
    return ap


if __name__ == "__main__":
    from gpu_only import exit_without_gpu        # runs/bench is on the path when run as a script
    exit_without_gpu(parser, __file__)           # --help and a one-line "needs a GPU" on any machine, before Triton


import triton
import triton.language as tl
from bench_engine import copy_bandwidth, graph_seconds   # runs/ is on the path when run as a script


@triton.jit
def gemv_kernel(W, X, Y, N, K, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    rows = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    acc = tl.zeros([BLOCK_N, BLOCK_K], dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        cols = k0 + tl.arange(0, BLOCK_K)
        w = tl.load(W + rows[:, None] * K + cols[None, :], mask=(rows[:, None] < N) & (cols[None, :] < K), other=0.0)
        x = tl.load(X + cols, mask=cols < K, other=0.0)
        acc += w.to(tl.float32) * x.to(tl.float32)[None, :]
    tl.store(Y + rows, tl.sum(acc, axis=1).to(Y.dtype.element_ty), mask=rows < N)


def triton_gemv(x, w, block_n, block_k, warps, stages):
    N, K = w.shape
    y = x.new_empty(N)
    gemv_kernel[(triton.cdiv(N, block_n),)](w, x, y, N, K, BLOCK_N=block_n, BLOCK_K=block_k, num_warps=warps, num_stages=stages)
    return y


def main():
    args = parser().parse_args()
    dev, dt = torch.device("cuda"), torch.bfloat16
    C = args.n_embd
    bw = copy_bandwidth(dev, 1 << 30)
    print(f"{torch.cuda.get_device_name()}, copy bandwidth {bw / 1e9:.0f} GB/s")
    shapes = {"qkv": (3 * C, C), "attn out": (C, C), "mlp up": (4 * C, C), "mlp down": (C, 4 * C), "lm head": (args.vocab, C)}
    red = torch.compile(lambda x, w: (x.float() * w.float()).sum(-1).to(x.dtype), dynamic=False)
    configs = list(itertools.product((4, 8, 16, 32), (128, 256, 512), (4, 8), (1, 3)))
    rows = []
    print(f"{'shape':>10} {'N x K':>12} {'MB':>6} | {'cuBLAS us':>9} {'%bw':>5} | {'inductor us':>11} {'%bw':>5} | {'triton us':>9} {'%bw':>5} best config")
    for name, (N, K) in shapes.items():
        nbytes = N * K * 2
        ws = [torch.randn(N, K, device=dev, dtype=dt) for _ in range(max(2, args.bytes_per_shape * 2**20 // nbytes))]
        x = torch.randn(K, device=dev, dtype=dt)
        ref = F.linear(x, ws[0]).float()
        t_cublas = graph_seconds(lambda i: F.linear(x[None], ws[i]), len(ws))
        t_ind = graph_seconds(lambda i: red(x, ws[i]), len(ws))
        best = (float("inf"), None)
        for cfg in configs:
            if cfg[0] * cfg[1] > 8192: continue
            try:
                y = triton_gemv(x, ws[0], *cfg)
                assert (y.float() - ref).abs().max() < 0.05 * ref.abs().max(), "wrong result"
                t = graph_seconds(lambda i: triton_gemv(x, ws[i], *cfg), len(ws), reps=3)
            except Exception as e: print(f"  config {cfg} failed: {type(e).__name__}: {str(e)[:100]}"); continue
            best = min(best, (t, cfg))
        f = lambda t: nbytes / t / bw
        r = dict(shape=name, N=N, K=K, mb=nbytes / 1e6, cublas_us=t_cublas * 1e6, inductor_us=t_ind * 1e6, triton_us=best[0] * 1e6,
                 triton_config=best[1], cublas_bw=f(t_cublas), inductor_bw=f(t_ind), triton_bw=f(best[0]))
        rows.append(r)
        print(f"{name:>10} {N:>5} x {K:<5} {nbytes / 1e6:>6.1f} | {t_cublas * 1e6:>9.2f} {f(t_cublas):>5.0%} | {t_ind * 1e6:>11.2f} "
              f"{f(t_ind):>5.0%} | {best[0] * 1e6:>9.2f} {f(best[0]):>5.0%} {best[1]}")
        del ws
    if args.out: json.dump(dict(copy_bandwidth_gbs=bw / 1e9, rows=rows), open(args.out, "w"), indent=1)


if __name__ == "__main__":
    main()
