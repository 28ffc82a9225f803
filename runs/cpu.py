"""The embedded default run: the whole ArcherChat pipeline, tiny, on CPU, on the corpus shipped in the package.

    python runs/cpu.py            # tokenizer -> d4 pretrain (200 steps) -> bpb -> CORE (bundled subset)
                                  # -> SFT -> chat eval -> RL (a few steps) -> report; a few minutes on 2 cores
    python runs/cpu.py --smoke    # the same stages at toy size (without RL), in seconds (what the notebook test runs)
    python runs/cpu.py --no-rl    # without the RL stage

With ENDLEX_URL (and ENDLEX_TOKEN) set, every stage reports to one Endlex run named after the tag: pretraining metrics
and checkpoints, base evaluation, SFT (loss and final checkpoint), chat evaluation, the report files and the tokenizer;
`python -m archerchat.telemetry pull <tag>` on the home box brings the models back.

Artifacts go under $ARCHERCHAT_BASE_DIR (default ~/.cache/archerchat); the run directory is
base_checkpoints/<tag>/ (checkpoints, metrics.jsonl, report.md, curves.png, stages/). Every finished stage is
recorded there: run the same command again to continue after an interruption.
"""
import argparse, json, sys
from archerchat.common import ArgumentParser, number, run_main
from archerchat.train import TrainConfig, pretrain, evaluate_base, plan_for, reference_lrs_for, resume_from_home
from archerchat.pipeline import write_report, run_stage, print_plan, ensure_tokenizer, run_cmd
from archerchat.checkpoints import run_dir
from archerchat.evaluation import embedded_core_dir
from archerchat.stages import check_remote, send_report

def parser() -> ArgumentParser:
    ap = ArgumentParser(prog="python runs/cpu.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="toy sizes: the whole pipeline in seconds")
    ap.add_argument("--tag", default=None, help="run name (default cpu-d4, or cpu-smoke)")
    ap.add_argument("--num-iterations", type=number(int, 1), default=None, help="pretraining steps (default 200; --smoke: 6)")
    ap.add_argument("--rl", action=argparse.BooleanOptionalAction, default=None,
                    help="a few RL steps on GSM8K after the chat evaluation (default: yes, except with --smoke)")
    return ap


def main(argv=None):
    args = parser().parse_args(argv)
    RL = args.rl if args.rl is not None else not args.smoke

    if args.smoke:
        VOCAB, MAX_CHARS, SFT_STEPS, CHAT_N, CORE_N = 512, 300_000, 4, 4, 12
        SFT_FLAGS = ["--eval-every", "-1", "--eval-tokens", "2048"]
        CHAT_FLAGS = ["-a", "ARC-Easy|GSM8K", "-m", "16"]
        # 256-token rows: short enough to be fast, long enough for the chat prompts of SFT and its evaluation
        cfg = TrainConfig(depth=2, aspect_ratio=32, head_dim=32, max_seq_len=256, window_pattern="L", device_batch_size=2,
                          total_batch_size=1024, num_iterations=args.num_iterations or 6, warmup_steps=2, eval_every=3,
                          eval_tokens=2048, core_metric_every=-1, sample_every=-1, save_every=3, device_type="cpu",
                          log_every=2, tag=args.tag or "cpu-smoke", resume_from_step="auto", **reference_lrs_for(1024))
    else:
        VOCAB, MAX_CHARS, SFT_STEPS, CHAT_N, CORE_N = 4096, 4_000_000, 40, 20, 16
        SFT_FLAGS = ["--eval-every", "20", "--eval-tokens", "16384"]
        CHAT_FLAGS = ["-a", "ARC-Easy|ARC-Challenge|MMLU|GSM8K|SpellingBee", "-m", "64"]   # HumanEval prompts outgrow 512 tokens
        # d4, 256 wide, 512-token rows, 2,048 tokens a step. Two notes on the choices:
        # * the embedded corpus has long documents and best-fit packing keeps only one row's worth of each (the rest is
        #   cropped), so longer rows see more distinct text: ~270K tokens per epoch at 512, ~80K at 128;
        # * at this batch the plan's sqrt(B/B_ref) lr scaling would leave lrs ~16x too small for 200 steps, so we train with
        #   nanochat's d12 learning rates (see reference_lrs_for).
        cfg = TrainConfig(depth=4, aspect_ratio=64, head_dim=64, max_seq_len=512, window_pattern="L", device_batch_size=2,
                          total_batch_size=2048, num_iterations=args.num_iterations or 200, warmup_steps=10, eval_every=50,
                          eval_tokens=16 * 1024, core_metric_every=-1, sample_every=100, save_every=50, device_type="cpu",
                          log_every=10, tag=args.tag or "cpu-d4", resume_from_step="auto", **reference_lrs_for(2048))

    root = run_dir(cfg.tag)
    p = plan_for(cfg.depth, VOCAB, sequence_len=cfg.max_seq_len, device_batch_size=cfg.device_batch_size, **cfg.plan_overrides())
    stages = ["tokenizer", "pretrain", "base_eval", "sft", "chat_eval"] + (["rl"] if RL else []) + ["report"]
    print_plan(f"ArcherChat on CPU: {cfg.tag} (run directory {root})", p, stages,
               [f"tokenizer: vocab {VOCAB:,} on up to {MAX_CHARS:,} characters of the embedded corpus (or base_data if present)"])


    check_remote(cfg.run or cfg.tag)      # one clear line about the server (a refused token: this run logs locally only)


    def stage_pretrain():
        r = pretrain(cfg)
        return dict(status=r["status"], step=r["step"], val_bpb=r["val_bpb"], total_training_time=r["total_training_time"])


    def stage_base_eval():
        r = evaluate_base(cfg.tag, eval_tokens=cfg.eval_tokens, core_max_per_task=CORE_N, core_data_dir=embedded_core_dir(),
                          device_type="cpu")
        return dict(val_bpb=r["val_bpb"], core_metric=(r.get("core") or {}).get("core_metric"))


    CHAT_OUT = root / "chat_eval.json"


    # SFT's own learning rates (06's defaults): it would otherwise inherit the base run's reference lrs, which above are
    # raised to undo the batch scaling of a toy batch
    SFT_LRS = ["--matrix-lr", "0.02", "--embedding-lr", "0.2", "--unembedding-lr", "0.004"]


    def stage_sft():
        cmd = [sys.executable, "-m", "archerchat.sft", "train", "--source", "embedded", "--model-tag", cfg.tag, "--run", cfg.tag,
               "--num-iterations", str(SFT_STEPS), "--device-type", "cpu", *SFT_FLAGS, *SFT_LRS]
        run_cmd(cmd)
        return dict(command=" ".join(cmd[1:]))


    def stage_chat_eval():
        cmd = [sys.executable, "-m", "archerchat.sft", "eval", "-i", "sft", "-g", cfg.tag, "-x", str(CHAT_N), "--source", "embedded",
               "--device-type", "cpu", "--out", str(CHAT_OUT), *CHAT_FLAGS]
        run_cmd(cmd)
        return dict(results=json.loads(CHAT_OUT.read_text())["results"])


    # RL (notebook 19) at CPU size: nanochat's chat_rl with 4 problems x 4 samples of at most 32 tokens a step, pass@1..4 on
    # 8 held-out problems before and after (the embedded GSM8K sample); a tiny model rarely gets a reward, so this shows
    # the stage working more than learning
    RL_FLAGS = ["--num-steps", "4", "--examples-per-step", "4", "--num-samples", "4", "--device-batch-size", "4", "--max-new-tokens", "32",
                "--eval-every", "0", "--eval-examples", "8", "--eval-max-new-tokens", "64", "--save-every", "0"]


    def stage_rl():
        cmd = [sys.executable, "-m", "archerchat.rl", "--task-source", "embedded", "--model-tag", cfg.tag, "--run", cfg.tag,
               "--device-type", "cpu", "--out", str(root / "rl.json"), *RL_FLAGS]
        run_cmd(cmd)
        s = json.loads((root / "rl.json").read_text())
        return dict(command=" ".join(cmd[1:]), pass_at_k_before=s["before"]["pass_at_k"], pass_at_k_after=s["after"]["pass_at_k"])


    done = {}
    resume_from_home("auto", cfg.run or cfg.tag, root, quiet=True)   # a fresh box after a lost one: checkpoint and tokenizer from home
    done["tokenizer"] = run_stage(root, "tokenizer", lambda: ensure_tokenizer(VOCAB, MAX_CHARS))
    done["pretrain"] = run_stage(root, "pretrain", stage_pretrain)
    if done["pretrain"]["status"] != "done":
        raise SystemExit(f"pretraining stopped ({done['pretrain']['status']}); run the same command again to continue")
    done["base_eval"] = run_stage(root, "base_eval", stage_base_eval)
    done["sft"] = run_stage(root, "sft", stage_sft)
    done["chat_eval"] = run_stage(root, "chat_eval", stage_chat_eval)
    chat = done["chat_eval"].get("results") if done["chat_eval"]["status"] == "done" else None
    if RL: done["rl"] = run_stage(root, "rl", stage_rl)


    def stage_report():
        path = write_report(root, title=f"ArcherChat {cfg.tag} (CPU)", stages=done, chat=chat)
        send_report(root)
        return dict(path=str(path))


    rep = run_stage(root, "report", stage_report, redo=True)
    print(f"report: {rep['path']} (curves: {root / 'curves.png'})")
    print(f"next: python -m archerchat.chat_cli -g {cfg.tag} -p \"Why is the sky blue?\"   (or python -m archerchat.chat_web -g {cfg.tag})")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
