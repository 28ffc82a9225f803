"""What a GPU-only benchmark does first, before it imports Triton: on a machine without CUDA it still answers `--help`
(and a mistyped flag) and then says in one line that it needs a GPU, with exit status 2."""
import os, sys


def exit_without_gpu(parser, script: str):
    "Return on a CUDA machine; elsewhere parse the command line (so that --help works), say why not, and exit 2."
    import torch
    if torch.cuda.is_available(): return
    parser().parse_args()
    print(f"{os.path.basename(script)}: needs a GPU (CUDA, with Triton); this machine has none", file=sys.stderr)
    sys.exit(2)
