"""The batch-1 matrix-vector products of a d20 decode step with the prefetching Triton GEMV of `14_decode_attention`
(weights loaded before `gdc_wait`, programmatic dependent launch): each shape alone, then a chain of 20 layers.

1. Each shape (q/k/v, attention out, MLP up, MLP down, head), many distinct weights back to back in one CUDA graph
   (nothing from L2): cuBLAS, the package's `gemv` with and without PDL, and a sweep of its launch settings
   (rows per block, warps), which is where `gemv_settings` comes from.
2. The chain: 20 layers of norm -> q/k/v -> attention out (+ residual) -> norm -> up -> ReLU^2 -> down (+ residual),
   then norm -> head, 870 MB of weights, one CUDA graph; attention itself is left out. Variants: cuBLAS with eager
   PyTorch; compiled code with the one-row products as the compiler's reductions (`gpt.linear` without a row
   matmul); compiled code with `row_matmul` installed (what the engine runs); and a variant of the kernel that also
   does the norm, the ReLU^2 and the residual itself (a measure of what fusing the neighbours would add).

    python runs/bench/bench_gemv_chain.py            # CUDA (Hopper for PDL)
"""
import itertools, json, os, sys
import torch
import torch.nn.functional as F
from archerchat.common import ArgumentParser


def parser():
    ap = ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-embd", type=int, default=1280)
    ap.add_argument("--layers", type=int, default=20)
    ap.add_argument("--vocab", type=int, default=32768)
    ap.add_argument("--out", default=None)
    return ap


if __name__ == "__main__":
    from gpu_only import exit_without_gpu        # runs/bench is on the path when run as a script
    exit_without_gpu(parser, __file__)           # --help and a one-line "needs a GPU" on any machine, before Triton


import triton
import triton.language as tl
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


@triton.jit
def fused_gemv_kernel(W, X, Y, R, K: tl.constexpr, K1: tl.constexpr, K2: tl.constexpr, BLOCK_N: tl.constexpr,
                      NORM: tl.constexpr, ACT: tl.constexpr, RES: tl.constexpr, EPS: tl.constexpr):
    "The package's kernel (PDL on) plus an RMS norm of x before, ReLU^2 or a residual add after."
    rows = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    c1 = tl.arange(0, K1)
    w1 = tl.load(W + rows[:, None] * K + c1[None, :])
    if K2 > 0:
        c2 = K1 + tl.arange(0, K2)
        w2 = tl.load(W + rows[:, None] * K + c2[None, :])
    tl.extra.cuda.gdc_launch_dependents()
    tl.extra.cuda.gdc_wait()
    x1 = tl.load(X + c1).to(tl.float32)
    if K2 > 0: x2 = tl.load(X + c2).to(tl.float32)
    if NORM:
        ss = tl.sum(x1 * x1, 0)
        if K2 > 0: ss += tl.sum(x2 * x2, 0)
        r = tl.rsqrt(ss / K + EPS)
        x1 = (x1 * r).to(X.dtype.element_ty).to(tl.float32)
        if K2 > 0: x2 = (x2 * r).to(X.dtype.element_ty).to(tl.float32)
    acc = tl.sum(w1.to(tl.float32) * x1[None, :], 1)
    if K2 > 0: acc += tl.sum(w2.to(tl.float32) * x2[None, :], 1)
    if ACT:
        acc = tl.maximum(acc.to(Y.dtype.element_ty).to(tl.float32), 0.0)
        acc = acc * acc
    if RES: acc = tl.load(R + rows).to(tl.float32) + acc.to(Y.dtype.element_ty).to(tl.float32)
    tl.store(Y + rows, acc.to(Y.dtype.element_ty))


def fused_gemv(x, w, norm=False, act=False, res=None):
    from archerchat.decode_kernels import _pow2_parts, gemv_settings
    N, K = w.shape
    (K1, K2), (bn, warps) = _pow2_parts(K), gemv_settings(N, K)
    y = x.new_empty(N)
    fused_gemv_kernel[(N // bn,)](w, x, y, y if res is None else res, K=K, K1=K1, K2=K2, BLOCK_N=bn, NORM=norm, ACT=act,
                                  RES=res is not None, EPS=torch.finfo(x.dtype).eps, num_warps=warps, launch_pdl=True)
    return y


def layer(x, wqkv, wo, wu, wd, lin):
    C = x.numel()
    qkv = lin(F.rms_norm(x, (C,)), wqkv)
    x = x + lin(qkv[:C], wo)
    return x + lin(F.relu(lin(F.rms_norm(x, (C,)), wu)).square(), wd)


def main():
    from bench_engine import copy_bandwidth, graph_seconds
    from archerchat.decode_kernels import gemv, gemv_settings, row_matmul, _gemv_launch
    from archerchat import gpt
    args = parser().parse_args()
    dev, dt, C = torch.device("cuda"), torch.bfloat16, args.n_embd
    bw = copy_bandwidth(dev, 1 << 30)
    print(f"{torch.cuda.get_device_name()}, copy bandwidth {bw / 1e9:.0f} GB/s", flush=True)
    res = dict(copy_bandwidth_gbs=bw / 1e9, shapes={}, chain_ms={})
    shapes = {"qkv": (3 * C, C), "attn out": (C, C), "mlp up": (4 * C, C), "mlp down": (C, 4 * C), "head": (args.vocab, C)}
    print(f"{'shape':>9} {'MB':>5} | {'cuBLAS':>13} | {'gemv, no PDL':>13} | {'gemv (PDL)':>13} | best of the sweep")
    for name, (N, K) in shapes.items():
        nbytes = N * K * 2
        ws = [torch.randn(N, K, device=dev, dtype=dt) * K ** -0.5 for _ in range(max(2, 400 * 2**20 // nbytes))]
        x = torch.randn(K, device=dev, dtype=dt)
        want = F.linear(x, ws[0]).float()
        f = lambda t: f"{t * 1e6:6.2f} ({nbytes / t / bw:3.0%})"
        t_cub = graph_seconds(lambda i: F.linear(x[None], ws[i]), len(ws))
        torch.testing.assert_close(gemv(x, ws[0]).float(), want, rtol=0.02, atol=0.02)
        t_pkg = graph_seconds(lambda i: gemv(x, ws[i]), len(ws))
        t_nopdl = graph_seconds(lambda i: _gemv_launch(x, ws[i], pdl=False), len(ws))
        sweep = []
        for bn, warps in itertools.product((2, 4, 8, 16), (2, 4, 8)):
            if N % bn or bn * K > 16384 or bn * K < 256 * warps: continue
            torch.testing.assert_close(_gemv_launch(x, ws[0], bn, warps, True).float(), want, rtol=0.02, atol=0.02)
            sweep.append((graph_seconds(lambda i: _gemv_launch(x, ws[i], bn, warps, True), len(ws), reps=5), bn, warps))
        sweep.sort()
        print(f"{name:>9} {nbytes / 1e6:5.1f} | {f(t_cub)} | {f(t_nopdl)} | {f(t_pkg)} | {f(sweep[0][0])} rows {sweep[0][1]}, "
              f"warps {sweep[0][2]} (default {gemv_settings(N, K)})", flush=True)
        res["shapes"][name] = dict(mb=nbytes / 1e6, cublas_us=t_cub * 1e6, gemv_no_pdl_us=t_nopdl * 1e6, gemv_us=t_pkg * 1e6,
                                   sweep=[(t * 1e6, bn, w) for t, bn, w in sweep])
        del ws

    L = args.layers
    mk = lambda n, k: torch.randn(n, k, device=dev, dtype=dt) * k ** -0.5
    layers = [(mk(3 * C, C), mk(C, C), mk(4 * C, C), mk(C, 4 * C)) for _ in range(L)]
    head = mk(args.vocab, C)
    nbytes = sum(w.numel() * 2 for ly in layers for w in ly) + head.numel() * 2
    x0 = torch.randn(C, device=dev, dtype=dt)

    def chain_eager(_):
        x = x0
        for ly in layers: x = layer(x, *ly, F.linear)
        return F.linear(F.rms_norm(x, (C,)), head)

    def chain_fused(_):
        x = x0
        for wq, wo, wu, wd in layers:
            qkv = fused_gemv(x, wq, norm=True)
            x = fused_gemv(qkv[:C], wo, res=x)
            x = fused_gemv(fused_gemv(x, wu, norm=True, act=True), wd, res=x)
        return fused_gemv(x, head, norm=True)

    def compiled(row):   # the whole chain as one compiled function, as the engine compiles its step
        gpt.use_row_matmul(row)
        torch._dynamo.reset()
        def chain(x):
            for ly in layers: x = layer(x, *ly, gpt.linear)
            return gpt.linear(F.rms_norm(x, (C,)), head)
        fn = torch.compile(chain, dynamic=False, options={"triton.enable_pdl": True})
        fn(x0); torch.cuda.synchronize()
        return lambda _: fn(x0)

    want = chain_eager(0).float()
    variants = [("cuBLAS + eager PyTorch", lambda: chain_eager), ("compiled, one-row products as reductions", lambda: compiled(None)),
                ("compiled, row_matmul = gemv (the engine)", lambda: compiled(row_matmul)),
                ("gemv with norm / ReLU^2 / residual fused in", lambda: chain_fused)]
    for name, make in variants:
        try:
            fn = make()
            err = ((fn(0).float() - want).abs().max() / want.abs().max()).item()
            t = graph_seconds(fn, 1, reps=50)
        except Exception as e: print(f"chain {name}: failed {type(e).__name__}: {str(e)[:300]}"); continue
        print(f"chain, {name:>45}: {t * 1e3:.3f} ms for {nbytes / 1e6:.0f} MB = {nbytes / t / bw:.0%} of the copy bandwidth "
              f"(max error {err:.3f} of the largest logit)", flush=True)
        res["chain_ms"][name] = t * 1e3
    gpt.use_row_matmul(None)
    if args.out: json.dump(res, open(args.out, "w"), indent=1)


if __name__ == "__main__":
    main()
