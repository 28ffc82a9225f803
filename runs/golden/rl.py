"""Golden data of nanochat's reinforcement learning step (`scripts/chat_rl.py`), recorded for `nbs/19_rl.ipynb`.

Runs nanochat's unmodified `scripts.chat_rl` in this process (CPU, fp32, eager) on a tiny chat model and ArcherChat's
embedded GSM8K sample, with fixed completions: nanochat's `Engine` runs for real (prefill, KV cache, the calculator
tool and its forced output tokens, stopping, masks), but its sampler returns the next token of a scripted completion
instead of a random one, so every reward is known in advance: right answers, wrong ones, unparseable ones, one cut at
`--max-new-tokens`, tool calls, and one problem whose eight samples all fail (a group with equal rewards). Wrappers
that only record watch: every `Engine.generate_batch` call (prompt, sequences, masks), what `get_batch` yields
(sequences, inputs, targets, rewards, advantages), every `GSM8K.reward` / `evaluate` call, every per-token loss of the
policy-gradient forward, every `loss.backward()`, and at `MuonAdamW.step` each parameter's gradient norm, each group's
hyperparameters and the weights after the step. The run stops when step 1 asks for its first batch: step 0 (its pass@k
evaluation, its rollouts, its one optimizer step) is complete by then. nanochat's calculator is also asked a fixed list
of expressions. Everything goes to `--out` (its README.md is kept by hand: update it when you re-record).

    python runs/golden/rl.py --nanochat /path/to/nanochat --out archerchat/assets/nanochat/rl

Needs a Python with nanochat's dependencies (torch, tiktoken, rustbpe, pyarrow, filelock); `wandb` is stubbed (the stub
records what chat_rl logs). `torch.compile` is replaced by the identity, so the numbers are eager fp32 CPU arithmetic,
the kind ArcherChat's CPU tests do.
"""
from __future__ import annotations
import argparse, builtins, json, os, runpy, shutil, subprocess, sys, tempfile, types
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ASSETS = REPO / "archerchat/assets"
TOKENIZER = ASSETS / "nanochat/d2/tokenizer"        # nanochat's tokenizer (vocab 1024) of the d2 fixture
GSM8K_DIR = ASSETS / "tasks/openai/gsm8k/main"        # the embedded GSM8K sample: 200 train, 100 test problems
TAG = "rl"
MODEL_CONFIG = dict(sequence_len=512, vocab_size=1024, n_layer=2, n_head=2, n_kv_head=1, n_embd=32, window_pattern="L")
CHAT_RL_ARGS = ["--run", "golden", "--device-type", "cpu", "--model-tag", TAG, "--device-batch-size", "4",
                "--examples-per-step", "3", "--num-samples", "8", "--max-new-tokens", "48", "--eval-every", "60",
                "--eval-examples", "4", "--save-every", "60"]
CALC_EXPRS = ["3+4", "12/4", "0.2*50", "10/3", "7-10", "(5+3)*2-1", "1,000*3", "2**10", "'strawberry'.count('r')",
              "import os", "5 % 3", "abs(-3)"]


class _Halt(Exception):
    "Raised when step 1 asks for its first batch: everything of step 0 has been recorded."


def designs(answer: str) -> dict[str, list]:
    """Completions for a problem whose reference answer is `answer`, as parts: ('text', s) or ('python', expr). The
    engine adds the tool's output after each python part; the reward of each is in its name."""
    try: a = int(answer)
    except ValueError: a = None
    wrong = str(a + 1) if a is not None else answer + "1"
    return {
        "right_tool": [("text", "Let me add it up."), ("python", f"{answer}-1+1"), ("text", f" So the answer is\n#### {answer}")],
        "wrong": [("text", f"The answer is {wrong}.\n#### {wrong}")],
        "unparseable": [("text", "I am not sure how to solve this one.")],
        "right_commas": [("text", f"Total: #### {a:,}" if a is not None else f"Total: #### {answer}")],
        "right_truncated": [("text", f"#### {answer} " + "and so on and so forth, " * 20)],
        "wrong_tool": [("text", "Twice: "), ("python", f"{answer}*2"), ("text", f"\n#### {2 * a if a is not None else wrong}")],
        "right": [("text", f"The answer is {answer}.\n#### {answer}")],
        "wrong_decimal": [("text", f"#### {answer}.5")],
    }


TRAIN_ROWS = [["right_tool", "wrong", "unparseable", "right_commas", "right_truncated", "wrong_tool", "right", "wrong_decimal"],
              ["right", "wrong_tool", "right_truncated", "unparseable", "wrong", "right_commas", "wrong_decimal", "right_tool"],
              ["wrong", "unparseable", "wrong_tool", "wrong_decimal", "wrong", "unparseable", "wrong_tool", "wrong_decimal"]]
EVAL_ROWS = [["right", "wrong", "unparseable", "wrong_decimal"], ["wrong", "unparseable", "right_tool", "wrong_tool"],
             ["wrong", "unparseable", "wrong_tool", "wrong_decimal"], ["unparseable", "right_commas", "wrong", "right"]]


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nanochat", required=True, help="a nanochat checkout (commit 92d63d4)")
    ap.add_argument("--out", default=str(ASSETS / "nanochat/rl"))
    ap.add_argument("--work", default=None, help="scratch NANOCHAT_BASE_DIR (default: a temporary directory)")
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    work = Path(args.work or tempfile.mkdtemp(prefix="nanochat-rl-"))
    try: record(args, work)
    finally:
        if args.work is None: shutil.rmtree(work, ignore_errors=True)


def make_model(ncgpt, torch):
    "nanochat's GPT with `MODEL_CONFIG`: its init_weights from seed 0, then the zero-initialised projections drawn, the smear on and a peaked lm_head, so that every parameter gets a gradient."
    torch.manual_seed(0)
    cfg = ncgpt.GPTConfig(**MODEL_CONFIG)
    with torch.device("meta"): model = ncgpt.GPT(cfg)
    model.to_empty(device="cpu"); model.init_weights()
    g = torch.Generator().manual_seed(1)
    s = 3 ** 0.5 * cfg.n_embd ** -0.5
    with torch.no_grad():
        for block in model.transformer.h:
            block.attn.c_proj.weight.uniform_(-s, s, generator=g)
            block.mlp.c_proj.weight.uniform_(-0.5 * s, 0.5 * s, generator=g)
        model.lm_head.weight.normal_(0.0, 0.5, generator=g)
        model.smear_lambda.fill_(0.5)
    return model


def record(args, work: Path):
    nc_path, out = Path(args.nanochat).resolve(), Path(args.out)
    if not (nc_path / "scripts" / "chat_rl.py").is_file():
        sys.exit(f"--nanochat {nc_path}: no scripts/chat_rl.py there; pass the root of a nanochat checkout")
    (work / "tokenizer").mkdir(parents=True, exist_ok=True)
    shutil.copy(TOKENIZER / "tokenizer.pkl", work / "tokenizer" / "tokenizer.pkl")
    for split in ("train", "test"):   # nanochat's load_hub_dataset reads a finished download: shards + manifest.json
        d = work / "task_data" / "openai--gsm8k" / "main" / split
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy(GSM8K_DIR / f"{split}-00000-of-00001.parquet", d / "00000.parquet")
        (d / "manifest.json").write_text(json.dumps(["00000.parquet"]))
    os.environ["NANOCHAT_BASE_DIR"] = str(work)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.path.insert(0, str(nc_path))
    logs = []
    stub = types.ModuleType("wandb")   # chat_rl imports wandb; with --run golden it logs to this stub, which records
    stub.init = lambda *a, **k: types.SimpleNamespace(log=lambda d, *a, **k: logs.append(dict(d)), finish=lambda *a, **k: None)
    sys.modules["wandb"] = stub

    import torch
    torch.set_num_threads(1)
    torch.compile = lambda fn=None, *a, **k: fn if fn is not None else (lambda f: f)
    import nanochat.gpt as ncgpt, nanochat.optim as ncoptim, nanochat.engine as ncengine
    import nanochat.checkpoint_manager as ckm
    from nanochat.tokenizer import get_tokenizer
    import tasks.gsm8k as ncgsm

    # the tiny chat model, written as nanochat writes an SFT checkpoint
    model0 = make_model(ncgpt, torch)
    init_state = {k: v.detach().clone() for k, v in model0.state_dict().items()}
    ckpt_out = out / "chatsft_checkpoints" / TAG
    if ckpt_out.exists(): shutil.rmtree(ckpt_out)
    meta = dict(step=0, model_config=MODEL_CONFIG,
                note="runs/golden/rl.py: nanochat's init_weights (seed 0) with c_proj, lm_head and smear_lambda redrawn")
    ckm.save_checkpoint(str(ckpt_out), 0, init_state, None, meta)
    shutil.copytree(ckpt_out, work / "chatsft_checkpoints" / TAG)

    tok = get_tokenizer()
    sp = tok.encode_special
    train_task, val_task = ncgsm.GSM8K("main", "train"), ncgsm.GSM8K("main", "test")

    def tokens_of(parts):
        "Scripted completion tokens (the tool's output as nanochat's engine forces it) and its parts as text."
        ids, text = [], []
        for kind, s in parts:
            if kind == "text": ids += tok.encode(s); text.append(s)
            else:
                ids += [sp("<|python_start|>")] + tok.encode(s) + [sp("<|python_end|>")]
                text.append(f"<|python_start|>{s}<|python_end|>")
                r = ncengine.use_calculator(s)
                if r is not None:
                    ids += [sp("<|output_start|>")] + tok.encode(str(r)) + [sp("<|output_end|>")]
                    text.append(f"<|output_start|>{r}<|output_end|>")
        return ids + [sp("<|assistant_end|>")], "".join(text)

    scripts = {}   # prompt tuple -> list of (design name, scripted tokens, text) in the order of the calls' rows
    problems = []
    for split, task, rows in (("train", train_task, TRAIN_ROWS), ("test", val_task, EVAL_ROWS)):
        for i, names in enumerate(rows):
            conv = task[i]
            answer = ncgsm.extract_answer(conv["messages"][-1]["content"][-1]["text"])
            prompt = tok.render_for_completion(conv)
            d = designs(answer)
            scripts[tuple(prompt)] = [(n, *tokens_of(d[n])) for n in names]
            problems.append(dict(split=split, index=i, answer=answer, question=conv["messages"][0]["content"],
                                 prompt=prompt, rows=names))

    # --- the scripted sampler: the engine runs for real, each row's next token comes from its script
    current = dict(rows=None, k=0)
    def sample_next_token(logits, rng, temperature=1.0, top_k=None):
        rows, k = current["rows"], current["k"]
        assert rows is not None and len(rows) == logits.size(0), "sampler called outside a scripted generate_batch"
        current["k"] = k + 1
        return torch.tensor([[r[k] if k < len(r) else sp("<|assistant_end|>")] for r in rows], dtype=torch.long)
    ncengine.sample_next_token = sample_next_token

    calls, used = [], {}
    orig_gb = ncengine.Engine.generate_batch
    def generate_batch(self, tokens, num_samples=1, **kw):
        key = tuple(tokens)
        start = used.get(key, 0)
        rows = scripts[key][start:start + num_samples]
        assert len(rows) == num_samples, f"no script left for this prompt ({start} + {num_samples} rows asked)"
        used[key] = start + num_samples
        current.update(rows=[r[1] for r in rows], k=0)
        seqs, masks = orig_gb(self, tokens, num_samples, **kw)
        current.update(rows=None)
        for (name, script, _), s in zip(rows, seqs):   # the engine produced exactly the script, cut at max_tokens
            want = script[:script.index(sp("<|assistant_end|>"))][:kw["max_tokens"]]
            assert s[len(tokens):] == want, (name, s[len(tokens):], want)
        calls.append(dict(prompt=list(tokens), rows=[r[0] for r in rows], num_samples=num_samples,
                          kwargs={k: v for k, v in kw.items()}, sequences=seqs, masks=masks))
        return seqs, masks
    ncengine.Engine.generate_batch = generate_batch

    rec = dict(model=None, groups=[], passes=[], losses=[], step=None, rewards=[], evaluates=[])
    orig_forward = ncgpt.GPT.forward
    def forward(self, idx, targets=None, kv_cache=None, loss_reduction="mean"):
        out_ = orig_forward(self, idx, targets, kv_cache, loss_reduction)
        if targets is not None and loss_reduction == "none" and torch.is_grad_enabled():
            rec["model"] = self
            rec["passes"].append(dict(inputs=idx.detach().clone(), targets=targets.detach().clone(), nll=out_.detach().clone()))
        return out_
    ncgpt.GPT.forward = forward

    orig_backward = torch.Tensor.backward
    def backward(self, *a, **k):
        if self.ndim == 0: rec["losses"].append(self.detach().clone())
        return orig_backward(self, *a, **k)
    torch.Tensor.backward = backward

    orig_reward, orig_evaluate = ncgsm.GSM8K.reward, ncgsm.GSM8K.evaluate
    def reward(self, conversation, response):
        r = orig_reward(self, conversation, response)
        rec["rewards"].append(dict(completion=response, reward=r))
        return r
    def evaluate(self, conversation, response):
        r = orig_evaluate(self, conversation, response)
        rec["evaluates"].append(dict(completion=response, is_correct=r, ref=ncgsm.extract_answer(conversation["messages"][-1]["content"][-1]["text"]),
                                     pred=ncgsm.extract_answer(response)))
        return r
    ncgsm.GSM8K.reward, ncgsm.GSM8K.evaluate = reward, evaluate

    orig_next = builtins.next
    def next_(it, *default):
        if getattr(it, "__name__", None) == "get_batch" and hasattr(it, "gi_frame"):   # (its code is torch.no_grad's wrapper)
            if len(rec["groups"]) == len(TRAIN_ROWS): raise _Halt()   # step 1 asks for its first batch
            seqs, inputs, targets, rewards, advantages = orig_next(it, *default)
            rec["groups"].append(dict(sequences=seqs, inputs=inputs.clone(), targets=targets.clone(), rewards=rewards.clone(),
                                      advantages=advantages.clone()))
            return seqs, inputs, targets, rewards, advantages
        return orig_next(it, *default)
    builtins.next = next_

    orig_step = ncoptim.MuonAdamW.step
    def step(self, *a, **k):
        model = rec["model"]
        names = {id(p): n for n, p in model.named_parameters()}
        grad_norm = {n: p.grad.norm().item() for n, p in model.named_parameters()}
        groups = [dict(kind=g["kind"], params=[names[id(p)] for p in g["params"]], lr=g["lr"], initial_lr=g["initial_lr"],
                       **({"momentum": g["momentum"], "weight_decay": g["weight_decay"], "beta2": g["beta2"]} if g["kind"] == "muon"
                          else {"betas": list(g["betas"]), "eps": g["eps"], "weight_decay": g["weight_decay"]}))
                  for g in self.param_groups]
        before = {k_: v.detach().clone() for k_, v in model.state_dict().items()}
        res = orig_step(self, *a, **k)
        after = {k_: v.detach().clone() for k_, v in model.state_dict().items()}
        rec["step"] = dict(grad_norm=grad_norm, groups=groups, before=before, after=after)
        return res
    ncoptim.MuonAdamW.step = step

    sys.argv = ["scripts/chat_rl.py", *CHAT_RL_ARGS]
    cwd = os.getcwd(); os.chdir(nc_path)
    try: runpy.run_module("scripts.chat_rl", run_name="__main__")
    except _Halt: pass
    finally:
        os.chdir(cwd)
        builtins.next, torch.Tensor.backward = orig_next, orig_backward
    assert rec["step"] is not None, "chat_rl never reached its optimizer step"
    for k_, v in rec["step"]["before"].items():   # the model chat_rl trained started from the checkpoint written above
        assert torch.equal(v, init_state[k_]), f"{k_}: the model before the step is not the recorded SFT checkpoint"

    calc = {e: (lambda r: None if r is None else repr(r))(ncengine.use_calculator(e)) for e in CALC_EXPRS}
    eval_calls = [c for c in calls if tuple(c["prompt"]) in {tuple(p["prompt"]) for p in problems if p["split"] == "test"}]
    train_calls = [c for c in calls if c not in eval_calls]
    passk = next(l for l in logs if "pass@1" in l)
    summary = dict(
        nanochat_commit=subprocess.run(["git", "-C", str(nc_path), "rev-parse", "--short", "HEAD"], capture_output=True,
                                       text=True).stdout.strip(),
        torch=torch.__version__, chat_rl_args=CHAT_RL_ARGS, model_config=MODEL_CONFIG, tag=TAG,
        problems=[{k_: v for k_, v in p.items() if k_ != "prompt"} for p in problems],
        completions=[dict(split=p["split"], index=p["index"], rows=[dict(design=n, text=t) for n, _, t in scripts[tuple(p["prompt"])]])
                     for p in problems],
        seeds=[c["kwargs"].get("seed") for c in train_calls],
        generate_kwargs=dict(train=train_calls[0]["kwargs"], eval=eval_calls[0]["kwargs"]),
        rewards=[g["rewards"].tolist() for g in rec["groups"]], advantages=[g["advantages"].tolist() for g in rec["groups"]],
        reward_calls=rec["rewards"], evaluate_calls=[e for e in rec["evaluates"]],
        losses=[l.item() for l in rec["losses"]], grad_norm=rec["step"]["grad_norm"], groups=rec["step"]["groups"],
        delta_norm={k_: (rec["step"]["after"][k_] - rec["step"]["before"][k_]).norm().item() for k_ in rec["step"]["after"]},
        wandb_logs=logs, pass_at_k=[passk[f"pass@{k_}"] for k_ in range(1, len(EVAL_ROWS[0]) + 1)], calculator=calc)
    torch.save(dict(
        train_calls=[dict(prompt=c["prompt"], sequences=c["sequences"], masks=c["masks"]) for c in train_calls],
        eval_calls=[dict(prompt=c["prompt"], sequences=c["sequences"], masks=c["masks"]) for c in eval_calls],
        groups=[dict(inputs=g["inputs"].to(torch.int16), targets=g["targets"].to(torch.int16), rewards=g["rewards"],
                     advantages=g["advantages"]) for g in rec["groups"]],
        passes=[dict(inputs=p["inputs"].to(torch.int16), targets=p["targets"].to(torch.int16), nll=p["nll"]) for p in rec["passes"]],
        losses=torch.stack(rec["losses"]), after=rec["step"]["after"],
    ), out / "rl.pt")
    (out / "rl.json").write_text(json.dumps(summary, indent=1))
    print(f"wrote {out}: {[str(p.relative_to(out)) for p in sorted(out.rglob('*')) if p.is_file()]}")
    print(f"rewards {summary['rewards']}\nlosses {summary['losses']}\npass@k {summary['pass_at_k']}")


if __name__ == "__main__": main()
