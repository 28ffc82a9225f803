"""Top-k of the engine's sampling (d20 vocabulary: 32,768 logits per row, k = 50), timed as a decode step runs it:
inside a CUDA graph, many rows' logits back to back. `torch.topk` against the Triton top-k of `14_decode_attention`
(threshold from chunk maxima, then rank) over a grid of chunk sizes, blocks and warps (`TOPK_CHUNK`, `TOPK_BLOCK`,
`TOPK_WARPS`), on random logits and on bf16 logits through the softcap (many equal values).

    python runs/bench/bench_topk.py                       # CUDA only
    python runs/bench/bench_topk.py --batch-sizes 1 128 --k 50
"""
import itertools, json, os, sys
import torch
from archerchat.common import ArgumentParser


def parser():
    ap = ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vocab", type=int, default=32768)
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 128])
    ap.add_argument("--out", default=None)
    return ap


if __name__ == "__main__":
    from gpu_only import exit_without_gpu        # runs/bench is on the path when run as a script
    exit_without_gpu(parser, __file__)           # --help and a one-line "needs a GPU" on any machine, before Triton


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_engine import graph_seconds


def main():
    from archerchat.decode_kernels import _topk_launch, TOPK_CHUNK, TOPK_BLOCK, TOPK_WARPS
    args = parser().parse_args()
    print(f"{torch.cuda.get_device_name()}; default chunk {TOPK_CHUNK}, block {TOPK_BLOCK}, warps {TOPK_WARPS}")
    rows = []
    for B in args.batch_sizes:
        zs = [torch.randn(B, args.vocab, device="cuda") * 3 for _ in range(16)]
        t_torch = graph_seconds(lambda i: torch.topk(zs[i], args.k), len(zs))
        zq = [15 * torch.tanh(z.bfloat16().float() / 15) for z in zs]   # bf16 logits through the softcap: many ties
        res = []
        for chunk, block, warps in itertools.product((256, 512), (1024, 2048), (4, 8)):
            for zz in (zs, zq):
                v, ids = _topk_launch(zz[0], args.k, chunk, block, warps)
                rv, ri = torch.topk(zz[0], args.k)
                assert torch.equal(v, rv) and torch.equal(zz[0].gather(1, ids), v), f"{chunk},{block},{warps}: not torch.topk's values"
            t = graph_seconds(lambda i: _topk_launch(zs[i], args.k, chunk, block, warps), len(zs))
            tq = graph_seconds(lambda i: _topk_launch(zq[i], args.k, chunk, block, warps), len(zq))
            res.append((t, tq, chunk, block, warps))
        res.sort()
        dflt = next(r for r in res if r[2:] == (TOPK_CHUNK, TOPK_BLOCK, TOPK_WARPS))
        print(f"batch {B:>4}: torch.topk {t_torch * 1e6:7.1f} us | Triton default {dflt[0] * 1e6:6.1f} us (bf16 softcapped {dflt[1] * 1e6:.1f}) | "
              f"best {res[0][0] * 1e6:6.1f} us {res[0][2:]}; next: " + ", ".join(f"{x[0] * 1e6:.1f} {x[2:]}" for x in res[1:4]))
        rows.append(dict(batch=B, torch_us=t_torch * 1e6, default_us=dflt[0] * 1e6, sweep=[(t * 1e6, tq * 1e6, c, bl, w) for t, tq, c, bl, w in res]))
    if args.out: json.dump(rows, open(args.out, "w"), indent=1)


if __name__ == "__main__":
    main()
