"""Cut the small real task samples shipped in archerchat/assets/tasks/ (provenance script; run once by a maintainer).

    python runs/bench/make_task_samples.py --src ~/data --out archerchat/assets/tasks

Every sample is laid out exactly as the Hugging Face Hub delivers the dataset (same directory per config, same
`{split}-00000-of-00001.parquet` file names, same columns), so `archerchat.tasks` reads it through the very code path
that reads the real download. See archerchat/assets/tasks/README.md for what each file is and its licence.
"""
import argparse, glob, json, random, re, subprocess, sys, tempfile
from collections import Counter
from pathlib import Path
import pyarrow as pa, pyarrow.parquet as pq

def write(table: pa.Table, path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")
    print(f"{path}: {table.num_rows} rows, {path.stat().st_size/1e3:.1f} kB")

def card(ds_dir: Path, licence: str, configs: dict, note: str):
    "A dataset card whose YAML `configs` maps config -> split -> files, as on the Hub: `load_dataset(dir, config)` works."
    y = ["---", f"license: {licence}", "configs:"]
    for cfg, splits in configs.items():
        y += [f"- config_name: {cfg}", "  data_files:"]
        for split, path in splits.items(): y += [f"  - split: {split}", f"    path: {path}"]
    ds_dir.mkdir(parents=True, exist_ok=True)
    (ds_dir / "README.md").write_text("\n".join(y + ["---", note, ""]))

def read_jsonl(p): return [json.loads(l) for l in open(p, encoding="utf-8") if l.strip()]

# ---------------------------------------------------------------- Python FAQ -> conversations (smol-smoltalk layout)
HEAD = re.compile(r"^(?P<title>[^\n]+)\n(?P<bar>[-=~^\"'+*#]{3,})\n", re.M)

def clean_rst(s: str) -> str:
    s = re.sub(r":[a-z:]+:`~?([^`<]+?)(?:\s*<[^>]+>)?`", r"\1", s)      # :func:`len` -> len
    s = re.sub(r"`([^`<]+?)\s*<([^>]+)>`__?", r"\1 (\2)", s)           # `text <url>`_ -> text (url)
    s = re.sub(r"``([^`]+)``", r"`\1`", s)                               # ``code`` -> `code`
    s = re.sub(r"^\.\. [a-z-]+::.*\n", "", s, flags=re.M)                # directives (index, seealso, ...) dropped
    paras, out = re.split(r"\n\s*\n", s.strip()), []
    for p in paras:                                                       # unwrap hard-wrapped prose, keep code as is
        lines = p.split("\n")
        if all(l and not l[0].isspace() for l in lines) and not p.lstrip().startswith(("*", "-", ">>>")):
            p = " ".join(l.strip() for l in lines)
        out.append(p)
    return "\n\n".join(out).strip()

def faq_conversations(src: Path, max_answer_chars: int = 1800):
    convs, seen = [], set()
    for f in sorted(glob.glob(str(src / "text" / "*.parquet"))):
        for doc in pq.read_table(f).column("text").to_pylist():
            m = re.search(r"^=+\n([^\n]*FAQ[^\n]*)\n=+", doc[:400], re.M)
            if not m or "Python" not in doc[:3000]: continue
            heads = list(HEAD.finditer(doc))
            for h, nxt in zip(heads, heads[1:] + [None]):
                q = h.group("title").strip()
                if not q.endswith("?") or len(h.group("bar")) < len(q) - 1 or q in seen: continue
                body = clean_rst(doc[h.end(): nxt.start() if nxt else len(doc)])
                if len(body) < 40 or len(body) > max_answer_chars: continue
                seen.add(q)
                convs.append({"messages": [{"content": q, "role": "user"}, {"content": body, "role": "assistant"}],
                              "source": f"python-faq: {m.group(1).strip()}"})
    return convs

# hand-written (ArcherChat engineers, MIT): the FAQ has no system prompts and no multi-turn dialogue
HANDWRITTEN = [
    [("system", "You are a concise assistant. Answer in one sentence."),
     ("user", "What does a tokenizer do?"),
     ("assistant", "It turns text into a sequence of integer ids from a fixed vocabulary, and back.")],
    [("system", "You are a patient tutor for beginners."),
     ("user", "What is a variable in Python?"),
     ("assistant", "A variable is a name that refers to a value. Writing `x = 3` makes the name `x` refer to the integer 3; later `x = 'hi'` makes the same name refer to a string instead.")],
    [("user", "Can you suggest a name for a cat?"),
     ("assistant", "How about Pixel? It is short, easy to call, and suits a small, curious cat."),
     ("user", "Something more classic, please."),
     ("assistant", "Then Tom, Felix or Oliver are all classic cat names.")],
    [("user", "What is 12 times 12?"),
     ("assistant", "12 times 12 is 144."),
     ("user", "And 144 divided by 3?"),
     ("assistant", "144 divided by 3 is 48.")],
    [("user", "Translate 'good morning' into French."),
     ("assistant", "'Good morning' in French is 'bonjour'."),
     ("user", "And into German?"),
     ("assistant", "In German it is 'guten Morgen'.")],
    [("system", "Reply with a short list."),
     ("user", "Name three primary colours."),
     ("assistant", "- red\n- yellow\n- blue")],
    [("user", "Write a haiku about the sea."),
     ("assistant", "Grey waves fold and break,\nsalt wind carries gull voices,\nthe tide keeps its time.")],
    [("user", "How do I reverse a list in Python?"),
     ("assistant", "Use `items.reverse()` to reverse it in place, or `items[::-1]` to get a reversed copy."),
     ("user", "Which one is faster?"),
     ("assistant", "Both are linear in the length of the list; `reverse()` avoids making a copy, so it uses less memory.")],
    [("system", "You are a helpful assistant that explains things simply."),
     ("user", "Why is the sky blue?"),
     ("assistant", "Sunlight contains all colours. Air molecules scatter short wavelengths, like blue, much more than long ones, like red, so blue light reaches your eyes from every part of the sky.")],
    [("user", "Summarise the plot of Romeo and Juliet in two sentences."),
     ("assistant", "Two young lovers from feuding families in Verona marry in secret. A chain of misunderstandings ends with both of them taking their own lives, which finally reconciles their families.")],
    [("user", "Is 91 a prime number?"),
     ("assistant", "No. 91 is 7 times 13, so it is not prime.")],
    [("user", "Give me a synonym for 'happy'."),
     ("assistant", "'Cheerful' is a good synonym for 'happy'."),
     ("user", "One more?"),
     ("assistant", "'Content' also works.")],
]

IDENTITY = [
    [("user", "Who are you?"), ("assistant", "I am ArcherChat, a small language model trained from scratch with the ArcherChat notebooks, a literate rewrite of nanochat.")],
    [("user", "What is your name?"), ("assistant", "My name is ArcherChat.")],
    [("user", "Who made you?"), ("assistant", "I was trained by whoever ran the ArcherChat pipeline: tokenizer, pretraining, and supervised fine-tuning, all from the ArcherChat notebooks.")],
    [("user", "Are you ChatGPT?"), ("assistant", "No, I am ArcherChat, a much smaller model. I can make mistakes, so please double-check anything important.")],
    [("user", "hi"), ("assistant", "Hello! I am ArcherChat. How can I help you today?")],
    [("user", "How big are you?"), ("assistant", "I am a small model: my size depends on the depth chosen when I was trained, usually tens to hundreds of millions of parameters.")],
    [("user", "Can you use tools?"), ("assistant", "Yes, I can call a small Python calculator to do arithmetic, and then use its result in my answer.")],
    [("user", "What can you do?"), ("assistant", "I can chat, answer simple questions, do arithmetic with my calculator tool and count letters in words. I am small, so I am often wrong on hard questions."),
     ("user", "Thanks for being honest."), ("assistant", "You're welcome!")],
]

def msgs(turns): return [{"content": c, "role": r} for r, c in turns]

# ---------------------------------------------------------------- HumanEval layout (hand-written problems)
HUMANEVAL = [
    ("add_numbers", 'def add_numbers(a: int, b: int) -> int:\n    """Return the sum of a and b.\n    >>> add_numbers(2, 3)\n    5\n    """\n',
     "    return a + b\n", "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n    assert candidate(0, 0) == 0\n"),
    ("count_vowels", 'def count_vowels(s: str) -> int:\n    """Count the vowels (a, e, i, o, u, either case) in s.\n    >>> count_vowels("Hello")\n    2\n    """\n',
     "    return sum(c in 'aeiouAEIOU' for c in s)\n", "def check(candidate):\n    assert candidate('Hello') == 2\n    assert candidate('xyz') == 0\n    assert candidate('AEIOU') == 5\n"),
    ("is_palindrome", 'def is_palindrome(text: str) -> bool:\n    """True if text reads the same forwards and backwards.\n    >>> is_palindrome("aba")\n    True\n    >>> is_palindrome("ab")\n    False\n    """\n',
     "    return text == text[::-1]\n", "def check(candidate):\n    assert candidate('') is True\n    assert candidate('aba') is True\n    assert candidate('abca') is False\n"),
    ("running_max", 'from typing import List\n\n\ndef running_max(numbers: List[int]) -> List[int]:\n    """The largest element seen so far, at each position.\n    >>> running_max([1, 3, 2, 5])\n    [1, 3, 3, 5]\n    """\n',
     "    out, best = [], None\n    for x in numbers:\n        best = x if best is None else max(best, x)\n        out.append(best)\n    return out\n",
     "def check(candidate):\n    assert candidate([]) == []\n    assert candidate([1, 3, 2, 5]) == [1, 3, 3, 5]\n    assert candidate([4, 1]) == [4, 4]\n"),
    ("fizzbuzz_count", 'def fizzbuzz_count(n: int) -> int:\n    """How many integers in 1..n are divisible by 3 or by 5.\n    >>> fizzbuzz_count(10)\n    5\n    """\n',
     "    return sum(1 for i in range(1, n + 1) if i % 3 == 0 or i % 5 == 0)\n",
     "def check(candidate):\n    assert candidate(10) == 5\n    assert candidate(0) == 0\n    assert candidate(15) == 7\n"),
    ("second_largest", 'from typing import List, Optional\n\n\ndef second_largest(xs: List[int]) -> Optional[int]:\n    """The second largest distinct value, or None if there is none.\n    >>> second_largest([3, 1, 3, 2])\n    2\n    """\n',
     "    s = sorted(set(xs))\n    return s[-2] if len(s) > 1 else None\n",
     "def check(candidate):\n    assert candidate([3, 1, 3, 2]) == 2\n    assert candidate([7]) is None\n    assert candidate([5, 5]) is None\n"),
    ("word_lengths", 'def word_lengths(sentence: str) -> dict:\n    """Map each word of the space-separated sentence to its length.\n    >>> word_lengths("a bb")\n    {\'a\': 1, \'bb\': 2}\n    """\n',
     "    return {w: len(w) for w in sentence.split()}\n",
     "def check(candidate):\n    assert candidate('a bb') == {'a': 1, 'bb': 2}\n    assert candidate('') == {}\n"),
    ("gcd", 'def gcd(a: int, b: int) -> int:\n    """Greatest common divisor of two non-negative integers.\n    >>> gcd(12, 18)\n    6\n    """\n',
     "    while b:\n        a, b = b, a % b\n    return a\n",
     "def check(candidate):\n    assert candidate(12, 18) == 6\n    assert candidate(7, 0) == 7\n    assert candidate(17, 5) == 1\n"),
]

def check_humaneval():
    for name, prompt, sol, test in HUMANEVAL:
        prog = prompt + sol + "\n\n" + test + f"\ncheck({name})\n"
        with tempfile.NamedTemporaryFile("w", suffix=".py") as f:
            f.write(prog); f.flush()
            subprocess.run([sys.executable, f.name], check=True)

# ---------------------------------------------------------------- word list from Tiny Shakespeare
def shakespeare_words(src: Path, n: int = 3000):
    counts = Counter()
    for f in sorted(glob.glob(str(src / "text" / "*.parquet"))):
        for doc in pq.read_table(f).column("text").to_pylist():
            lines = doc.split("\n")
            speakers = sum(bool(re.fullmatch(r"[A-Z][A-Za-z ]+:", l)) for l in lines)
            digits = sum(c.isdigit() or c in "_{}=<>/" for c in doc)
            # a Shakespeare document: many speaker lines like "ROMEO:", no code-like characters
            if speakers < max(5, 0.1 * len(lines)) or digits > 0.001 * len(doc): continue
            counts.update(w for w in re.findall(r"\b[a-z]+\b", doc) if 3 <= len(w) <= 14)
    return sorted(w for w, _ in counts.most_common(n))

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", required=True, help="the real data: text/ shards, tasks/gsm8k/, ..."); ap.add_argument("--out", default="archerchat/assets/tasks")
    a = ap.parse_args(); src, out = Path(a.src), Path(a.out)
    rng = random.Random(0)

    # GSM8K: openai/gsm8k, config main
    for split, n in (("train", 200), ("test", 100)):
        rows = rng.sample(read_jsonl(src / "tasks/gsm8k" / f"{split}.jsonl"), n)
        write(pa.Table.from_pylist(rows), out / "openai/gsm8k/main" / f"{split}-00000-of-00001.parquet")

    card(out / "openai/gsm8k", "mit", {"main": {"train": "main/train-*", "test": "main/test-*"}},
         "Sample of openai/gsm8k cut from openai/grade-school-math (see ../../README.md).")

    # ARC: allenai/ai2_arc, CORE's copy of the test split, converted back to the Hub's records
    for core, cfg in (("arc_easy", "ARC-Easy"), ("arc_challenge", "ARC-Challenge")):
        recs = read_jsonl(src / "core/world_knowledge" / f"{core}.jsonl")
        idx = sorted(rng.sample(range(len(recs)), 200))
        rows = []
        for i in idx:
            r = recs[i]; labels = [chr(65 + j) for j in range(len(r["choices"]))]
            rows.append({"id": f"core-{core}-{i:05d}", "question": re.sub(r"^Question:\s*", "", r["query"]).strip(),
                         "choices": {"text": r["choices"], "label": labels}, "answerKey": labels[r["gold"]]})
        write(pa.Table.from_pylist(rows), out / "allenai/ai2_arc" / cfg / "test-00000-of-00001.parquet")

    card(out / "allenai/ai2_arc", "cc-by-sa-4.0", {c: {"test": f"{c}/test-*"} for c in ("ARC-Easy", "ARC-Challenge")},
         "Sample of the ARC test splits, converted from the CORE eval bundle's copy (see ../../README.md).")

    # MMLU layout (cais/mmlu) filled with OpenBookQA questions from CORE: NOT MMLU, a layout fixture
    obqa = [r for r in read_jsonl(src / "core/commonsense_reasoning/openbook_qa.jsonl") if len(r["choices"]) == 4]
    rng.shuffle(obqa)
    as_mmlu = lambda r: {"question": r["query"].strip(), "subject": "openbookqa_standin", "choices": r["choices"], "answer": r["gold"]}
    write(pa.Table.from_pylist([as_mmlu(r) for r in obqa[:150]]), out / "cais/mmlu/all/test-00000-of-00001.parquet")
    write(pa.Table.from_pylist([{"train": as_mmlu(r)} for r in obqa[150:300]]),
          out / "cais/mmlu/auxiliary_train/train-00000-of-00001.parquet")

    card(out / "cais/mmlu", "apache-2.0", {"all": {"test": "all/test-*"}, "auxiliary_train": {"train": "auxiliary_train/train-*"}},
         "NOT MMLU: OpenBookQA questions in cais/mmlu's layout, a fixture for the loader (see ../../README.md).")

    # HumanEval layout (openai/openai_humaneval), hand-written problems
    check_humaneval()
    rows = [{"task_id": f"ArcherChat/{i}", "prompt": p, "canonical_solution": s, "test": t, "entry_point": n}
            for i, (n, p, s, t) in enumerate(HUMANEVAL)]
    write(pa.Table.from_pylist(rows), out / "openai/openai_humaneval/openai_humaneval/test-00000-of-00001.parquet")

    card(out / "openai/openai_humaneval", "mit", {"openai_humaneval": {"test": "openai_humaneval/test-*"}},
         "NOT HumanEval: hand-written problems in its layout (see ../../README.md).")

    # smol-smoltalk layout: Python FAQ Q&A + hand-written system/multi-turn conversations
    faq = faq_conversations(src)
    hand = [{"messages": msgs(t), "source": "archerchat-handwritten"} for t in HANDWRITTEN]
    rng.shuffle(faq)
    n_test = len(faq) // 6
    test, train = faq[:n_test] + hand[:2], faq[n_test:] + hand[2:]
    rng.shuffle(train)
    for split, rows in (("train", train), ("test", test)):
        write(pa.Table.from_pylist(rows), out / "HuggingFaceTB/smol-smoltalk/data" / f"{split}-00000-of-00001.parquet")

    card(out / "HuggingFaceTB/smol-smoltalk", "other", {"default": {"train": "data/train-*", "test": "data/test-*"}},
         "NOT SmolTalk: Python FAQ question/answer pairs (PSF-2.0) and hand-written conversations (MIT) in its layout (see ../../README.md).")

    # CustomJSON: identity conversations, one JSON array of messages per line
    with open(out / "identity_conversations.jsonl", "w", encoding="utf-8") as f:
        for t in IDENTITY: f.write(json.dumps([{"role": r, "content": c} for r, c in t], ensure_ascii=False) + "\n")

    # SpellingBee words
    words = shakespeare_words(src)
    (out / "words.txt").write_text("\n".join(words) + "\n")
    print(f"words.txt: {len(words)} words")

if __name__ == "__main__": main()
