"""nanochat's d8 on one consumer GPU (16 GB): the whole pipeline, resumable stage by stage.

    python runs/d8.py                  # data (10 shards) -> tokenizer -> d8 pretrain -> base eval -> SFT -> chat eval -> report
    python runs/d8.py --dry-run        # print the plan and the commands only
    python runs/d8.py --device-batch-size auto
    python runs/d8.py --rl             # ... then RL on GSM8K (nanochat's chat_rl settings; off by default)
    python runs/d8.py --num-iterations 50 --data-dir ~/data/text --core-data-dir ~/data/core \
        --sft-source embedded --stages tokenizer pretrain base_eval sft chat_eval report     # offline: no downloads

Settings follow nanochat's reference run on an RTX 5060 Ti (16 GB): window pattern L
(all layers full context), device batch 16 (refused before anything runs if the detected GPU cannot hold it, naming the
batch that fits), 10 training shards, validation over 4,194,304 tokens, CORE over every example.
"""
import sys
from archerchat.common import run_main
from _pipeline import parser, gpu_pipeline

if __name__ == "__main__":
    ap = parser(__doc__, depth=8, device_batch_size=16, window_pattern="L", num_shards=10, eval_tokens=4_194_304,
                core_max_per_task=-1, nproc=1, save_every=500)
    sys.exit(run_main(lambda argv: gpu_pipeline(ap.parse_args(argv), "ArcherChat d8 on one GPU")))
