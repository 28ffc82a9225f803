"""The speedrun: a GPT-2-grade chat model from scratch on one 8xH100 node, resumable stage by stage.

    python runs/speedrun.py                          # data -> tokenizer (2B chars) -> d24 pretrain -> CORE -> SFT -> chat eval -> report
    python runs/speedrun.py --num-iterations 300 --stages data tokenizer pretrain    # throughput check (issue 13)
    python runs/speedrun.py --dry-run                # print the plan and the commands only
    python runs/speedrun.py --rl                     # ... then RL on GSM8K after the chat eval (off by default, as in nanochat)

Settings of nanochat's runs/speedrun.sh (March 2026 record): d24, target-param-data-ratio 8, device batch 16, fp8,
window pattern SSSL, 8 GPUs through torchrun (NCCL, NVLink multicast off). Pretraining checkpoints every 1000 steps
and resumes from the latest one when the script is run again; the data download continues in the background while
the tokenizer trains.
"""
import sys
from archerchat.common import run_main
from _pipeline import parser, gpu_pipeline

if __name__ == "__main__":
    ap = parser(__doc__, depth=24, device_batch_size=16, window_pattern="SSSL", ratio=8.0, fp8=True, num_shards=170,
                core_max_per_task=-1, save_every=1000, gpu_hour_usd=3.0)
    sys.exit(run_main(lambda argv: gpu_pipeline(ap.parse_args(argv), "ArcherChat speedrun")))
