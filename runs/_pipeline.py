"""The GPU pipeline shared by runs/d8.py, runs/d12.py and runs/speedrun.py: data -> tokenizer -> pretrain -> base eval
-> SFT -> chat eval -> (RL, with --rl) -> report, each stage recorded when done so that re-running the script continues the pipeline.
Every stage runs as the module a user would launch by hand (`python -m archerchat.train`, `archerchat.sft`,
`archerchat.rl`), through torchrun on GPUs (also on one: NCCL at world size 1, as on eight); the commands are printed
before they run. With ENDLEX_URL (and ENDLEX_TOKEN) set, every stage reports to one Endlex run named after the tag (notebooks 11 and 24), so the cloud box can go once the report is sent."""
import argparse, json, subprocess, sys
from archerchat.common import ArgumentParser, number
from archerchat.train import plan_for, build_model, resume_from_home
from archerchat.scaling import check_memory, largest_fitting_batch
from archerchat.pipeline import (run_stage, print_plan, write_report, ensure_tokenizer, launch_env, torchrun_cmd, run_cmd,
                                 config_args)
from archerchat.checkpoints import run_dir
from archerchat.stages import check_remote, send_report

STAGES = ["data", "tokenizer", "pretrain", "base_eval", "sft", "chat_eval", "rl", "report"]
# --short: every stage of the real run at the real shapes, each cut to what proves it works, so that the whole pipeline
# runs on one GPU in minutes: pretraining steps of one micro-batch per GPU (the plan's settings otherwise, plan printed),
# no model compile, CORE on a few items per task, a short SFT, a few chat problems per task
SHORT = dict(num_iterations=10, core_max_per_task=20, sft_iterations=10, chat_max_problems=8, chat_max_new_tokens=128, rl_steps=4)


def _batch_size(s: str) -> str:
    "--device-batch-size: 'auto' or a number of rows >= 1 (kept as text; gpu_pipeline reads it)."
    return s if s == "auto" else str(number(int, 1, special={"auto": "the largest that fits"})(s))


def parser(description: str, **defaults) -> argparse.ArgumentParser:
    ap = ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    a = ap.add_argument
    a("--depth", type=number(int, 1), default=defaults["depth"])
    a("--nproc", type=number(int, 1), default=defaults.get("nproc"), help="GPUs (default: all visible)")
    a("--device-batch-size", type=_batch_size, default=str(defaults["device_batch_size"]), help="rows per GPU, or 'auto' (largest that fits)")
    a("--window-pattern", default=defaults["window_pattern"])
    a("--target-param-data-ratio", type=number(float, 1e-6), default=defaults.get("ratio"))
    a("--num-iterations", type=number(int, 1, special={-1: "the plan's horizon"}), default=-1, help="cut the run short (e.g. a few hundred steps to measure throughput)")
    a("--fp8", action=argparse.BooleanOptionalAction, default=defaults.get("fp8", False))
    a("--num-shards", type=number(int, 1), default=defaults["num_shards"], help="training shards to download")
    a("--tok-shards", type=number(int, 1), default=8, help="shards to have before training the tokenizer (~250M chars each)")
    a("--tok-max-chars", type=number(int, 1), default=2_000_000_000)
    a("--vocab-size", type=number(int, 1), default=32768)
    a("--eval-tokens", type=number(int, 1), default=defaults.get("eval_tokens", 80 * 524288))
    a("--core-max-per-task", type=number(int, 1, special={-1: "all"}), default=defaults.get("core_max_per_task", -1), help="-1: every example")
    a("--save-every", type=number(int, 1, special={-1: "only at the end"}), default=defaults.get("save_every", 1000))
    a("--tag", default=None, help="run name (default d{depth})")
    a("--data-dir", default=None, help="training shards (offline: a directory that already holds them; skip the data stage)")
    a("--core-data-dir", default=None, help="CORE task data for the base evaluation (default: download the eval bundle)")
    a("--stages", nargs="+", default=None, choices=STAGES, help="run only these stages (default: all but rl, which --rl adds)")
    a("--rl", action="store_true", help="also run the RL stage (GSM8K with nanochat's chat_rl settings): off by default, as in "
                                        "nanochat's speedrun")
    a("--rl-num-steps", type=number(int, 1, special={-1: "one epoch"}), default=-1, help="RL steps (-1: one epoch of the GSM8K training problems, nanochat's 467)")
    a("--sft-source", default=None, help="SFT and chat-eval task data for archerchat.sft: hub | embedded | a mirror directory")
    a("--gpu-hour-usd", type=number(float, 0), default=defaults.get("gpu_hour_usd"), help="for the cost line of the report")
    a("--short", action="store_true", help=f"the short form, to try every stage in minutes: {SHORT['num_iterations']} "
      "pretraining steps of one micro-batch per GPU without compiling, CORE on "
      f"{SHORT['core_max_per_task']} items per task, {SHORT['sft_iterations']} SFT steps, {SHORT['chat_max_problems']} chat "
      "problems per task (explicit flags win)")
    a("--launcher", choices=["torchrun", "python"], default="torchrun", help="GPU stages go through torchrun even on one GPU "
      "(NCCL at world size 1, as on eight); 'python' runs them as plain processes")
    a("--dry-run", action="store_true", help="print the plan and the commands, run nothing")
    return ap


def gpu_pipeline(args, title: str):
    import torch
    args.stages = args.stages or [s for s in STAGES if s != "rl" or args.rl]
    nproc = args.nproc or max(1, torch.cuda.device_count())
    tag = args.tag or f"d{args.depth}"
    p = plan_for(args.depth, args.vocab_size, device_batch_size=1, world_size=nproc, window_pattern=args.window_pattern,
                 target_param_data_ratio=args.target_param_data_ratio)
    meta = build_model(p, meta_only=True)
    # --- refuse what cannot fit before anything is downloaded or allocated
    if torch.cuda.is_available():
        free = torch.cuda.mem_get_info()[0]
        if args.device_batch_size == "auto":
            B = largest_fitting_batch(meta, p.sequence_len, nproc, p.total_batch_size, free, start=32)
            if B is None: raise SystemExit(f"d{args.depth} does not fit {torch.cuda.get_device_name()} even at device batch 1")
        else:
            B = int(args.device_batch_size)
            try: check_memory(meta, B, p.sequence_len, nproc, p.total_batch_size, "cuda")
            except RuntimeError as e: raise SystemExit(f"refused: {e}")
    elif not args.dry_run:
        raise SystemExit("this run needs CUDA GPUs; on a CPU use `python runs/cpu.py` (or pass --dry-run to see the plan)")
    else: B = 32 if args.device_batch_size == "auto" else int(args.device_batch_size)
    p = plan_for(args.depth, args.vocab_size, device_batch_size=B, world_size=nproc, window_pattern=args.window_pattern,
                 target_param_data_ratio=args.target_param_data_ratio,
                 num_iterations=args.num_iterations if args.num_iterations > 0 else None)
    root = run_dir(tag)
    short = dict(SHORT) if args.short else {}
    micro = B * p.sequence_len * nproc                  # tokens of one micro-batch on every GPU
    n_iter = args.num_iterations if args.num_iterations > 0 else short.get("num_iterations")
    eval_tokens = args.eval_tokens if not short else min(args.eval_tokens, 2 * micro)
    core_n = args.core_max_per_task if not short or args.core_max_per_task != -1 else short["core_max_per_task"]
    # with 'auto' the training process confirms its size on the GPU itself (03: auto_device_batch_size); B, the estimate's
    # choice, sizes the plan printed here and the evaluation
    train_flags = config_args(depth=args.depth, device_batch_size="auto" if args.device_batch_size == "auto" else B,
                              window_pattern=args.window_pattern,
                              target_param_data_ratio=args.target_param_data_ratio, fp8=args.fp8, tag=tag, run=tag,
                              save_every=args.save_every, eval_tokens=eval_tokens, core_metric_every=-1,
                              resume_from_step="auto", data_dir=args.data_dir, num_iterations=n_iter,
                              total_batch_size=micro if short else None, compile=False if short else None)
    def launch(module, flags):
        if nproc > 1 or (args.launcher == "torchrun" and torch.cuda.is_available()): return torchrun_cmd(nproc, module, flags)
        return [sys.executable, "-m", module, *flags]
    pre_cmd = launch("archerchat.train", train_flags)
    eval_cmd = launch("archerchat.train", config_args(tag=tag, eval_only=True, eval_tokens=eval_tokens, device_batch_size=B,
                                  core_metric_max_per_task=core_n, data_dir=args.data_dir,
                                  core_data_dir=args.core_data_dir))
    chat_out = root / "chat_eval.json"
    src = ["--source", args.sft_source] if args.sft_source else []
    sft_short = ["--num-iterations", str(short["sft_iterations"]), "--eval-every", "-1", "--eval-tokens", str(2 * micro),
                 "--no-compile"] if short else []
    chat_short = ["-x", str(short["chat_max_problems"]), "-m", str(short["chat_max_new_tokens"])] if short else []
    sft_cmd = launch("archerchat.sft", ["train", "--model-tag", tag, "--run", tag] + src + sft_short)
    chat_cmd = launch("archerchat.sft", ["eval", "-i", "sft", "-g", tag, "--out", str(chat_out)] + src + chat_short)
    rl_cmd = launch("archerchat.rl", ["--model-tag", tag, "--run", tag, "--out", str(root / "rl.json")]
                    + (["--task-source", args.sft_source] if args.sft_source else [])
                    + (["--num-steps", str(args.rl_num_steps)] if args.rl_num_steps > 0 else
                       ["--num-steps", str(short["rl_steps"])] if short else []))
    dl = lambda n: [sys.executable, "-m", "archerchat.data", "download", "-n", str(n)] + (["--data-dir", args.data_dir] if args.data_dir else [])
    print_plan(f"{title}: {tag} on {nproc} GPU(s), run directory {root}", p, args.stages, [
        f"data: {args.tok_shards} shards for the tokenizer, then {args.num_shards} in the background",
        f"tokenizer: vocab {args.vocab_size:,} on {args.tok_max_chars:,} characters",
        "pretrain: " + " ".join(pre_cmd[1:]), "base eval: " + " ".join(eval_cmd[1:]),
        "sft: " + " ".join(sft_cmd[1:]), "chat eval: " + " ".join(chat_cmd[1:]),
        *(["rl: " + " ".join(rl_cmd[1:])] if "rl" in args.stages else []),
        "environment: NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1"]
        + ([f"SHORT FORM (--short): {n_iter} pretraining steps of {micro:,} tokens (one micro-batch per GPU) instead of the plan's "
            f"{p.num_iterations:,} x {p.total_batch_size:,}; no model compile (pretraining and SFT); CORE on {core_n} items per task; "
            f"{short['sft_iterations']} SFT steps; {short['chat_max_problems']} chat problems per task"
            + (f"; {short['rl_steps']} RL steps" if "rl" in args.stages else "")] if short else []))
    if args.dry_run: return dict(plan=p, pretrain=pre_cmd, base_eval=eval_cmd, sft=sft_cmd, chat_eval=chat_cmd, rl=rl_cmd)
    check_remote(tag)          # one clear line about the server; a refused token: every stage logs locally only
    if "pretrain" in args.stages and not (root / "stages" / "pretrain.json").exists():
        resume_from_home("auto", tag, root, quiet=True)   # a fresh box after a lost one: checkpoint and tokenizer from home

    done, bg = {}, None
    want = set(args.stages)
    if "data" in want:
        done["data"] = run_stage(root, "data", lambda: (run_cmd(dl(args.tok_shards)), {"shards": args.tok_shards})[1])
        if not (root / "stages" / "pretrain.json").exists():   # the rest downloads while the tokenizer trains
            print("$", " ".join(dl(args.num_shards)), "&", flush=True)
            bg = subprocess.Popen(dl(args.num_shards), env=launch_env())
    if "tokenizer" in want:
        done["tokenizer"] = run_stage(root, "tokenizer", lambda: ensure_tokenizer(args.vocab_size, args.tok_max_chars, args.data_dir))
    if bg is not None:
        print("waiting for the data download to finish...", flush=True)
        if bg.wait() != 0: raise SystemExit("the data download failed; run the same command again to resume it")
    if "pretrain" in want:
        def pretrain_stage():
            rc = run_cmd(pre_cmd, check=False)
            if rc == 130: return dict(status="interrupted")
            if rc != 0: raise SystemExit(f"pretraining failed (exit status {rc}); fix the cause and run the same command to resume")
            return dict(command=" ".join(pre_cmd))
        done["pretrain"] = run_stage(root, "pretrain", pretrain_stage)
        if done["pretrain"]["status"] != "done": raise SystemExit("pretraining was interrupted; run the same command again to resume it")
    if "base_eval" in want:
        def base_eval_stage():
            run_cmd(eval_cmd)
            r = json.loads(max(root.glob("base_eval_*.json"), key=lambda q: q.stat().st_mtime).read_text())   # written by the eval
            return dict(command=" ".join(eval_cmd), val_bpb=r.get("val_bpb"), core_metric=(r.get("core") or {}).get("core_metric"))
        done["base_eval"] = run_stage(root, "base_eval", base_eval_stage)
    for name, cmd in (("sft", sft_cmd), ("chat_eval", chat_cmd), ("rl", rl_cmd)):
        if name not in want: continue
        done[name] = run_stage(root, name, lambda cmd=cmd: (run_cmd(cmd), dict(command=" ".join(cmd)))[1])
    chat = json.loads(chat_out.read_text())["results"] if chat_out.exists() else None
    if "report" in want:
        def report_stage():
            path = write_report(root, title=f"{title}: {tag}", stages=done, chat=chat, n_gpus=nproc, gpu_hour_usd=args.gpu_hour_usd)
            send_report(root)
            return dict(path=str(path))
        rep = run_stage(root, "report", report_stage, redo=True)
        print(f"report: {rep['path']}")
    return done
