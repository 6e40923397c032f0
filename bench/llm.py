"""LLM benchmark: the bundled models side by side on a fixed question set, in English and Mandarin.

Scores per category (facts with expected answers, follow-ups that need memory, questions about the persona,
false premises to correct, chat that is not a question), the reply language, first-token latency, tokens/second and peak RSS. Each model
runs in its own process (peak RSS is that process's), one after the other, through the same Conversation
(persona prompt, memory, sentence cap) the apps use. A reply counts as right when it contains one of the
expected answers, none of the forbidden ones (invented makers, repeated false premises) and is in the
user's language.
Usage: python bench/llm.py [--models qwen2.5-coder-1.5b,qwen2.5-coder-0.5b,gemma-3-270m] [--threads N]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MAKERS = ["openai", "alibaba", "google", "microsoft", "anthropic", "meta", "qwen", "阿里", "谷歌", "微软", "通义"]
DONT_KNOW = ["don't know", "do not know", "not sure", "no idea", "digital human", "不知道", "不清楚", "数字人"]
NOT_CHAT = MAKERS + ["as an ai", "language model", "don't know", "don't have personal", "不知道", "作为一个ai",
                    "作为ai", "人工智能模型"]
# (category, language, turns (earlier turns set up memory; the last is scored), expected any-of, forbidden)
QUESTIONS = [
    ("facts", "en", ["Which ocean is the largest?"], ["pacific"], []),
    ("facts", "en", ["What is the capital of Australia?"], ["canberra"], ["sydney is the capital"]),
    ("facts", "en", ["How many legs does a spider have?"], ["eight", "8"], []),
    ("facts", "en", ["At what temperature in Celsius does water boil at sea level?"], ["100"], []),
    ("facts", "en", ["Who wrote Romeo and Juliet?"], ["shakespeare"], []),
    ("facts", "en", ["Which planet is known as the Red Planet?"], ["mars"], []),
    ("facts", "en", ["What is the largest planet in our solar system?"], ["jupiter"], []),
    ("facts", "en", ["What gas do plants take in from the air to make food?"], ["carbon dioxide", "co2", "co₂"], []),
    ("facts", "en", ["How many continents are there?"], ["seven", "7"], []),
    ("facts", "en", ["What is the chemical symbol for gold?"], ["au"], []),
    ("facts", "en", ["What is the capital of Japan?"], ["tokyo"], []),
    ("memory", "en", ["My name is Tom and I live in Lyon.", "What is my name?"], ["tom"], []),
    ("memory", "en", ["My favourite colour is green.", "What is my favourite colour?"], ["green"], []),
    ("memory", "en", ["I have two cats and one dog.", "How many pets do I have in total?"], ["three", "3"], []),
    ("persona", "en", ["What is your name?"], ["aria"], []),
    ("persona", "en", ["Who made you?"], DONT_KNOW, MAKERS),
    ("persona", "en", ["Are you a human?"], ["digital", "not a human", "not human", "i'm not", "i am not"], []),
    ("persona", "en", ["Where were you born?"], DONT_KNOW + ["wasn't born", "was not born", "not born"], []),
    ("premise", "en", ["Why is the Sun cold?"], ["not cold", "isn't cold", "hot"], []),
    ("premise", "en", ["Since Sydney is the capital of Australia, how many people live in it?"],
     ["canberra"], []),
    ("premise", "en", ["Why did Albert Einstein invent the telephone?"],
     ["bell", "didn't", "did not", "not invent"], []),
    ("premise", "en", ["In which year did the first humans land on Mars?"],
     ["haven't", "have not", "no human", "never", "not yet", "no one", "nobody"], []),
    ("facts", "zh", ["长城在哪个国家？"], ["中国", "中华人民共和国"], []),
    ("facts", "zh", ["世界上最大的海洋是哪个？"], ["太平洋"], []),
    ("facts", "zh", ["中国的首都是哪里？"], ["北京"], []),
    ("facts", "zh", ["一年有几个月？"], ["十二", "12"], []),
    ("facts", "zh", ["太阳系中最大的行星是哪颗？"], ["木星"], []),
    ("facts", "zh", ["《红楼梦》的作者是谁？"], ["曹雪芹"], []),
    ("memory", "zh", ["我叫小明，我住在杭州。", "我住在哪里？"], ["杭州"], []),
    ("persona", "zh", ["你叫什么名字？"], ["aria"], []),
    ("persona", "zh", ["是谁创造了你？"], DONT_KNOW, MAKERS),
    ("premise", "zh", ["为什么太阳是冷的？"], ["不是冷", "不冷", "热"], []),
    ("premise", "zh", ["既然悉尼是澳大利亚的首都，那里有多少人？"], ["堪培拉"], []),
    # talk that is not a question (any reply is right that does not parrot the user, name a maker, hide
    # behind being an AI or plead ignorance): jfk.flac is the demo's own sample question
    ("chat", "en", ["And so, my fellow Americans, ask not what your country can do for you, ask what you can "
                    "do for your country."], None, NOT_CHAT + ["roosevelt", "lincoln", "declaration", "constitution"]),
    ("chat", "en", ["I just got back from a long walk by the river."], None, NOT_CHAT),
    ("chat", "en", ["Can you tell me a bit about yourself?"], None, NOT_CHAT),
    ("chat", "en", ["I'm a bit nervous about my exam tomorrow."], None, NOT_CHAT),
    ("chat", "en", ["What do you think about rainy days?"], None, NOT_CHAT),
    ("chat", "zh", ["我今天有点累。"], None, NOT_CHAT),
    ("chat", "zh", ["给我讲讲你自己吧。"], None, NOT_CHAT),
]
CATEGORIES = ("facts", "memory", "persona", "premise", "chat")


def in_language(text: str, language: str) -> bool:
    """Mandarin: more Chinese characters than Latin words (a name like "Alex" may appear); English: none."""
    cjk = len(re.findall(r"[\u4e00-\u9fff]", text))
    latin_words = len(re.findall(r"[A-Za-z]+", text))
    return cjk > latin_words if language == "zh" else cjk == 0


def parrots(reply: str, said: str, run: int = 6) -> bool:
    """Whether the reply repeats `run` consecutive words (Chinese: characters) of what the user said."""
    def units(text):
        return re.findall(r"[\u4e00-\u9fff]|[a-z0-9']+", text.lower())
    heard, spoken = units(said), " ".join(units(reply))
    return any(" ".join(heard[i:i + run]) in spoken for i in range(len(heard) - run + 1))


def score(reply: str, language: str, expected: list[str] | None, forbidden: list[str], said: str = "") -> dict:
    low = reply.lower().replace("’", "'")
    answered = (bool(low.strip()) and not parrots(low, said)) if expected is None else any(e in low for e in expected)
    correct = answered and not any(f in low for f in forbidden)   # chat (expected None): any reply in its own words
    if expected == ["au"]:
        correct = bool(re.search(r"\bau\b", low))
    lang = in_language(reply, language)
    return {"correct": correct, "in_language": lang, "right": correct and lang}


def run_model(model: str, threads: int) -> dict:
    """One model, all questions, in this process."""
    from pipelines import registry
    from pipelines.llm.conversation import Conversation
    from pipelines.llm.persona import Persona

    options = {"model": model} | ({"n_threads": threads} if threads else {})
    t0 = time.perf_counter()
    llm = registry.build("llm", "llama-cpp", **options)
    _ = llm.llm
    load = time.perf_counter() - t0
    persona = Persona()
    rows, first_tokens, rates = [], [], []
    for category, language, turns, expected, forbidden in QUESTIONS:
        conv = Conversation(llm, persona)
        for turn in turns[:-1]:
            "".join(conv.say(turn))
        t0 = time.perf_counter()
        first, reply = None, ""
        for piece in conv.say(turns[-1]):
            first = first if first is not None else time.perf_counter() - t0
            reply += piece
        total = time.perf_counter() - t0
        tokens = llm.count_tokens(reply)
        first_tokens.append(first)
        if tokens > 2 and total > first:
            rates.append((tokens - 1) / (total - first))
        rows.append({"category": category, "language": language, "question": turns[-1], "reply": reply,
                     **score(reply, language, expected, forbidden, turns[-1])})
    return {"model": model, "load_s": load, "rows": rows,
            "first_token_s": statistics.median(first_tokens), "tokens_per_s": statistics.median(rates),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def table(results: list[dict]) -> str:
    names = [r["model"] for r in results]
    width = max(16, *(len(n) for n in names))
    lines = [f"{'':30}" + "".join(f"{n:>{width + 2}}" for n in names)]

    def line(label, values):
        lines.append(f"{label:30}" + "".join(f"{v:>{width + 2}}" for v in values))

    for category in CATEGORIES:
        for language in ("en", "zh"):
            picked = [[x for x in r["rows"] if x["category"] == category and x["language"] == language]
                      for r in results]
            if picked[0]:
                line(f"{category} ({language}) right", [f"{sum(x['right'] for x in p)}/{len(p)}" for p in picked])
    line("all right (correct + language)", [f"{sum(x['right'] for x in r['rows'])}/{len(r['rows'])}"
                                           for r in results])
    line("correct, any language", [f"{sum(x['correct'] for x in r['rows'])}/{len(r['rows'])}" for r in results])
    line("in the user's language", [f"{sum(x['in_language'] for x in r['rows'])}/{len(r['rows'])}"
                                    for r in results])
    line("load s", [f"{r['load_s']:.1f}" for r in results])
    line("first token s (median)", [f"{r['first_token_s']:.2f}" for r in results])
    line("tokens/s (median)", [f"{r['tokens_per_s']:.1f}" for r in results])
    line("peak RSS MB", [f"{r['peak_rss_mb']:.0f}" for r in results])
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="qwen2.5-coder-1.5b,qwen2.5-coder-0.5b,gemma-3-270m")
    parser.add_argument("--threads", type=int, default=0, help="generation threads (default: the engine's choice)")
    parser.add_argument("--replies", action="store_true", help="also print every reply")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one model, print JSON
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_model(args.one, args.threads)))
        return
    results = []
    for model in args.models.split(","):
        out = subprocess.run([sys.executable, __file__, "--one", model, "--threads", str(args.threads)],
                             capture_output=True, text=True, preexec_fn=lambda: os.nice(5))
        if out.returncode:
            raise SystemExit(f"{model} failed:\n{out.stderr[-2000:]}")
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    n_en = sum(q[1] == "en" for q in QUESTIONS)
    print(f"LLM benchmark: {len(QUESTIONS)} questions ({n_en} English, {len(QUESTIONS) - n_en} Mandarin), "
          f"persona Alex, {os.cpu_count()} cores, each model in its own process\n")
    print(table(results))
    if args.replies:
        for r in results:
            print(f"\n## {r['model']}")
            for x in r["rows"]:
                mark = "ok " if x["right"] else ("lang" if x["correct"] else "XX ")
                print(f"{mark} {x['question']} -> {x['reply']!r}")


if __name__ == "__main__":
    main()
