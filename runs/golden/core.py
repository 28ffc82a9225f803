"""Golden CORE results from nanochat's own evaluator, item by item, for ArcherChat's parity test (notebook 09).

    python runs/golden/core.py --nanochat ~/nanochat          # run in a venv that runs nanochat (CPU is fine)

Loads the tiny nanochat-trained model of `archerchat/assets/nanochat/d2` with nanochat's own `load_model` (that folder is
a NANOCHAT_BASE_DIR), reads the embedded CORE subset (`archerchat/assets/core`, 18 tasks) exactly as nanochat's
`scripts/base_eval.evaluate_core` reads a task (json per line, `random.Random(1337).shuffle`, optional cut), and for
every item calls nanochat's `nanochat.core_eval.evaluate_example` (the decision). nanochat is not modified: the
per-choice mean losses are recomputed here with nanochat's own pieces (`render_prompts_*`, `batch_sequences_*`,
`stack_sequences`, `forward_model`) following its `evaluate_example` step by step, and the decision they give is asserted
equal to nanochat's. Each task's accuracy is also taken from nanochat's `evaluate_task`.

The model gets a `max_seq_len` attribute (a thin wrapper module): nanochat's evaluator then crops prompts from the left
to that many tokens, its own code path for context-limited models. The d2 model's rotary cache holds 1,280 positions
(10 x its 128-token training context), shorter than many 10-shot prompts at vocabulary 1,024, so without a limit
nanochat would stop with an assertion on the first long prompt. The limit is 512, not 128: at 128 a PIQA answer alone
is longer than the context and nanochat's crop asserts ("this should never happen right?").

Writes one JSON file (see the README next to it).
"""
import argparse, json, os, random, subprocess, sys, time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _rel(p):
    p = Path(p).resolve()
    return str(p.relative_to(REPO)) if p.is_relative_to(REPO) else str(p)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nanochat", required=True, help="path of a nanochat checkout (imported from there, not modified)")
    ap.add_argument("--base-dir", default=str(REPO / "archerchat/assets/nanochat/d2"), help="NANOCHAT_BASE_DIR of the model")
    ap.add_argument("--model-tag", default="d2")
    ap.add_argument("--data-dir", default=str(REPO / "archerchat/assets/core"), help="CORE directory (bundle layout)")
    ap.add_argument("--max-per-task", type=int, default=-1, help="items per task after nanochat's shuffle (-1: all)")
    ap.add_argument("--max-seq-len", type=int, default=512, help="context limit given to nanochat's evaluator")
    ap.add_argument("--out", default=str(REPO / "archerchat/assets/nanochat/core/d2_core.json"))
    args = ap.parse_args()

    os.environ["NANOCHAT_BASE_DIR"] = str(Path(args.base_dir).resolve())
    sys.path.insert(0, str(Path(args.nanochat).resolve()))
    import torch, yaml
    from nanochat.checkpoint_manager import load_model
    from nanochat import core_eval as ce

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    device = torch.device("cpu")
    model, tokenizer, meta = load_model("base", device, phase="eval", model_tag=args.model_tag)

    class WithContextLimit(torch.nn.Module):
        "nanochat's model, declaring `max_seq_len` so that nanochat's evaluator crops long prompts from the left."
        def __init__(self, m, n): super().__init__(); self.m, self.max_seq_len = m, n
        def forward(self, idx): return self.m(idx)
    wrapped = WithContextLimit(model, args.max_seq_len).eval()

    def mean_losses_like_nanochat(idx, data, task_meta):
        "nanochat's evaluate_example, step by step with its own functions, keeping the per-choice mean losses."
        item, tt = data[idx], task_meta["task_type"]
        fewshot = []
        if task_meta["num_fewshot"] > 0:
            rng = random.Random(1234 + idx)
            avail = [i for i in range(len(data)) if i != idx]
            fewshot = [data[i] for i in rng.sample(avail, task_meta["num_fewshot"])]
        render = {"multiple_choice": ce.render_prompts_mc, "schema": ce.render_prompts_schema, "language_modeling": ce.render_prompts_lm}[tt]
        batch = {"multiple_choice": ce.batch_sequences_mc, "schema": ce.batch_sequences_schema, "language_modeling": ce.batch_sequences_lm}[tt]
        tokens, starts, ends = batch(tokenizer, render(item, task_meta["continuation_delimiter"], fewshot))
        cropped = any(len(t) > args.max_seq_len for t in tokens)
        new = [], [], []
        for t, s, e in zip(tokens, starts, ends):   # nanochat's crop, as in its evaluate_example
            c = max(0, len(t) - args.max_seq_len)
            new[0].append(t[-args.max_seq_len:] if c else t); new[1].append(s - c); new[2].append(e - c)
        tokens, starts, ends = new
        input_ids = ce.stack_sequences(tokens, tokenizer.get_bos_token_id()).to(device)
        losses, preds = ce.forward_model(wrapped, input_ids)
        means = [losses[i, s - 1:e - 1].mean().item() for i, (s, e) in enumerate(zip(starts, ends))]
        if tt == "language_modeling":
            s, e = starts[0], ends[0]
            ok = bool(torch.all(preds[0, s - 1:e - 1] == input_ids[0, s:e]).item())
            return dict(correct=ok, mean_losses=means, n_tokens=e - s, cropped=cropped)
        pred = means.index(min(means))
        return dict(correct=pred == item["gold"], pred=pred, gold=item["gold"], mean_losses=means,
                    n_tokens=[e - s for s, e in zip(starts, ends)], cropped=cropped)

    with open(Path(args.data_dir) / "core.yaml", encoding="utf-8") as f:
        tasks = yaml.safe_load(f)["icl_tasks"]
    out = dict(nanochat_commit=subprocess.run(["git", "-C", args.nanochat, "rev-parse", "HEAD"], capture_output=True,
                                              text=True).stdout.strip(),
               torch=torch.__version__, model=f"{_rel(args.base_dir)} tag {args.model_tag} step {meta['step']}",
               max_seq_len=args.max_seq_len, max_per_task=args.max_per_task, tasks={})
    t_all = time.time()
    for task in tasks:
        path = Path(args.data_dir) / "eval_data" / task["dataset_uri"]
        if not path.exists(): print(f"{task['label']:<34} no data, skipped"); continue
        task_meta = dict(task_type=task["icl_task_type"], dataset_uri=task["dataset_uri"],
                         num_fewshot=task["num_fewshot"][0], continuation_delimiter=task.get("continuation_delimiter", " "))
        with open(path, encoding="utf-8") as f: data = [json.loads(line.strip()) for line in f]   # as base_eval
        random.Random(1337).shuffle(data)
        if args.max_per_task > 0: data = data[:args.max_per_task]
        t0 = time.time()
        items = []
        for idx in range(len(data)):
            official = bool(ce.evaluate_example(idx, wrapped, tokenizer, data, device, task_meta))
            mine = mean_losses_like_nanochat(idx, data, task_meta)
            assert mine["correct"] == official, (task["label"], idx, mine, official)
            items.append(mine)
        acc = ce.evaluate_task(wrapped, tokenizer, data, device, task_meta)
        assert abs(acc - sum(i["correct"] for i in items) / len(items)) < 1e-6, (task["label"], acc)
        out["tasks"][task["label"]] = dict(task_type=task_meta["task_type"], num_fewshot=task_meta["num_fewshot"],
                                           n=len(data), accuracy=acc, cropped=sum(i["cropped"] for i in items), items=items)
        print(f"{task['label']:<34} n={len(data):<4} acc {acc:.4f} cropped {out['tasks'][task['label']]['cropped']:<3} ({time.time() - t0:.1f}s)")
    out["seconds"] = round(time.time() - t_all, 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=None, separators=(",", ":")) + "\n")
    print(f"wrote {args.out} ({Path(args.out).stat().st_size / 1e3:.0f} kB) in {out['seconds']} s")


if __name__ == "__main__":
    main()
