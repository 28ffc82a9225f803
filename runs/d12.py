"""nanochat's d12 on one consumer GPU (16 GB): the whole pipeline, resumable stage by stage.

    python runs/d12.py                 # data (18 shards) -> tokenizer -> d12 pretrain -> base eval -> SFT -> chat eval -> report
    python runs/d12.py --dry-run       # print the plan and the commands only
    python runs/d12.py --device-batch-size auto
    python runs/d12.py --rl            # ... then RL on GSM8K (nanochat's chat_rl settings; off by default)

Settings follow nanochat's reference run on an RTX 5060 Ti (16 GB): window pattern L,
device batch 8 (refused before anything runs if the detected GPU cannot hold it, naming the batch that fits),
18 training shards, validation over 4,194,304 tokens, CORE capped at 200 examples per task.
"""
import sys
from archerchat.common import run_main
from _pipeline import parser, gpu_pipeline

if __name__ == "__main__":
    ap = parser(__doc__, depth=12, device_batch_size=8, window_pattern="L", num_shards=18, eval_tokens=4_194_304,
                core_max_per_task=200, nproc=1, save_every=500)
    sys.exit(run_main(lambda argv: gpu_pipeline(ap.parse_args(argv), "ArcherChat d12 on one GPU")))
