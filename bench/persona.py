"""Persona bench: how well a twin built from invented writing answers questions about it.

A test persona (English and Chinese notes, a chat export) is built in a temp folder; the question set has
facts stated once, facts spread over two notes, and questions the notes never answer. Printed:
- retrieval alone, per language and mode (keywords, embeddings, hybrid): recall@4 of the passages holding
  the answer, and the decline decision (right declines on unanswerable questions, wrong ones on answerable);
- with an instruction model (if a GGUF is given or found): answers containing the fact, in the question's
  language, and declines; time added by retrieval vs the model's time;
- build time and index size.

    python bench/persona.py [--gguf PATH] [--no-llm]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

NOTES = {
    "family.md": """# Family
My sister Lena moved to Oslo in 2015. She teaches mathematics at a high school there.

My father was a train driver on the Shanghai to Nanjing line for thirty years. He still hums the station names.

# Pets
My first dog was a scruffy terrier called Biscuit. He ate one of my school shoes when I was nine.
""",
    "holidays.md": """# Christmas
Every Christmas I fly north to spend a week with my sister. We skate on the frozen lake near her flat.

# Summer
In summer I go sailing with my old college roommate Priya. Her boat is called the Little Heron.
""",
    "work.txt": """I have been a bridge engineer for twelve years. The project I am proudest of is the Maple Creek
footbridge, which opened in 2019.

My office is on the fourth floor, next to the model workshop. I keep a cactus named Gerald on my desk.

Before engineering I studied violin at the conservatory for two years, then switched to civil engineering.
""",
    "food.txt": """To be honest, I can only cook one dish well: my grandmother's pork and chive dumplings.

My favourite restaurant is a tiny noodle shop on Elm Street run by a man called Mr. Okafor.
""",
    "日记一.txt": """我小时候住在杭州西湖边的一条小巷里。外婆在北山路上开了一个茶摊，每年夏天我都帮她卖龙井茶。

我养了一只橘猫，名字叫豆包，已经七岁了。它最喜欢睡在我的键盘上。
""",
    "日记二.txt": """说实话，我最喜欢的季节是秋天，因为可以去爬山。去年十月我和老同学爬了黄山。

我的中学同桌叫林晓，她现在在成都当医生。
""",
    "日记三.txt": """我每个周末都去西溪湿地骑自行车。

我一般骑车的时候会带上我的表哥阿杰。阿杰是一名厨师，在上海的一家酒店工作。
""",
    "chat.txt": """[12/03/2021, 10:15:02] Sam Park: Did you ever learn to play an instrument besides violin?
[12/03/2021, 10:16:10] Mei Lin: A little piano, but I gave it up after a year.
[14/03/2021, 09:00:00] Sam Park: What's your favourite film?
[14/03/2021, 09:05:00] Mei Lin: Spirited Away. I watch it every New Year's Eve.
""",
}

# (question, facts that must be in the answer, kind, passages needed: a word found in each)
QUESTIONS = [
    ("What was the name of your first dog?", ["Biscuit"], "once", ["Biscuit"]),
    ("What did your father do for a living?", ["train"], "once", ["train driver"]),
    ("Which bridge are you proudest of?", ["Maple Creek"], "once", ["Maple Creek"]),
    ("What is the name of the cactus on your desk?", ["Gerald"], "once", ["Gerald"]),
    ("What instrument did you study before engineering?", ["violin"], "once", ["conservatory"]),
    ("Who runs your favourite restaurant?", ["Okafor"], "once", ["Okafor"]),
    ("What is your favourite film?", ["Spirited Away"], "once", ["Spirited Away"]),
    ("What is the name of Priya's boat?", ["Heron"], "once", ["Heron"]),
    ("你的猫叫什么名字？", ["豆包"], "once", ["豆包"]),
    ("你外婆的茶摊在哪里？", ["北山路"], "once", ["北山路"]),
    ("你最喜欢哪个季节？", ["秋天"], "once", ["秋天"]),
    ("你的中学同桌现在做什么工作？", ["医生"], "once", ["林晓"]),
    ("Which city do you fly to every Christmas?", ["Oslo"], "spread", ["Every Christmas", "Oslo"]),
    ("What does the sister you visit at Christmas teach?", ["math"], "spread", ["Every Christmas", "mathematics"]),
    ("周末和你一起骑车的表哥是做什么的？", ["厨师"], "spread", ["阿杰是", "带上我的表哥"]),
    ("你周末骑车去哪里？", ["西溪"], "spread", ["西溪湿地", "骑车的时候"]),
    ("What is your favourite football team?", [], "none", []),
    ("Have you ever been to Brazil?", [], "none", []),
    ("What car do you drive?", [], "none", []),
    ("What is your blood type?", [], "none", []),
    ("你会说日语吗？", [], "none", []),
    ("你结婚了吗？", [], "none", []),
    ("你最喜欢哪支足球队？", [], "none", []),
]


def _language(text: str) -> str:
    from pipelines.persona.sources import language_of
    return language_of(text)


def retrieval_table(store) -> list[tuple]:
    from pipelines.persona.embed import embedder
    from pipelines.persona.retrieve import SEMANTIC_MIN, Retriever

    encode = embedder().encode if store.vectors is not None else None
    modes = {"keywords": Retriever(store.passages, None)}
    if encode:
        modes["hybrid"] = Retriever(store.passages, store.vectors, encode)
    rows = []
    for mode, retriever in list(modes.items()) + ([("embeddings", None)] if encode else []):
        for language in ("en", "zh"):
            recall, answerable, right_declines, unanswerable, wrong_declines, ms = 0.0, 0, 0, 0, 0, []
            for question, _, kind, needles in QUESTIONS:
                if _language(question) != language:
                    continue
                start = time.perf_counter()
                if retriever is None:  # embeddings alone: cosine ranking, cosine threshold
                    cos = store.vectors.astype(np.float32) @ encode([question])[0]
                    order = np.argsort(-cos)[:4]
                    found = [store.passages[i] for i in order if cos[i] >= SEMANTIC_MIN]
                else:
                    found = [h.passage for h in retriever.gather(question, 4)]
                ms.append((time.perf_counter() - start) * 1000)
                if kind == "none":
                    unanswerable += 1
                    right_declines += not found
                else:
                    answerable += 1
                    wrong_declines += not found
                    recall += sum(any(n in f"{p.heading} {p.text}" for p in found) for n in needles) / len(needles)
            rows.append((mode, language, f"{recall / max(answerable, 1):.0%}", f"{right_declines}/{unanswerable}",
                         f"{wrong_declines}/{answerable}", f"{np.median(ms):.1f}"))
    return rows


def answer_table(store_name: str, gguf: Path, threads: int) -> tuple[list[tuple], dict]:
    from pipelines.llm.llama_cpp import LlamaCppLLM
    from pipelines.persona import DECLINE, twin_conversation

    llm = LlamaCppLLM(LlamaCppLLM.Config(model=str(gguf), temperature=0.0, max_tokens=64, n_ctx=2048,
                                        n_threads=threads, timeout=180))
    llm.llm  # load before timing
    results: dict[str, list[int]] = {}
    timing = {"retrieval_ms": [], "model_s": []}
    for question, facts, kind, _ in QUESTIONS:
        conversation = twin_conversation(llm, store_name)  # a fresh memory per question
        twin = conversation.context
        start = time.perf_counter()
        twin.context(question)
        timing["retrieval_ms"].append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        answer = "".join(conversation.say(question)).strip()
        timing["model_s"].append(time.perf_counter() - start)
        language = _language(question)
        if kind == "none":
            ok = DECLINE[language] in answer or "remember" in answer.lower() or "不记得" in answer
        else:
            ok = all(f.lower() in answer.lower() for f in facts) and _language(answer) == language
        results.setdefault(f"{kind} {language}", []).append(int(ok))
        print(f"  [{'ok' if ok else '--'}] {question} -> {answer[:100]!r}", file=sys.stderr)
    rows = [(key, f"{sum(v)}/{len(v)}") for key, v in sorted(results.items())]
    total = [x for v in results.values() for x in v]
    rows.append(("all", f"{sum(total)}/{len(total)} ({sum(total) / len(total):.0%})"))
    return rows, timing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gguf", default=os.environ.get("DH_TEST_INSTRUCT_GGUF", ""),
                        help="a GGUF file (default: the bundled default model)")
    parser.add_argument("--no-llm", action="store_true")
    parser.add_argument("--threads", type=int, default=0, help="llama.cpp threads (0: all cores)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["DH_PERSONAS_DIR"] = str(Path(tmp) / "personas")
        notes = Path(tmp) / "notes"
        notes.mkdir()
        for name, text in NOTES.items():
            (notes / name).write_text(text, encoding="utf-8")
        from pipelines.persona import build_persona, open_persona

        start = time.perf_counter()
        store = build_persona([notes], "bench", about="Mei Lin, a bridge engineer from Hangzhou",
                              consent="invented persona for the bench", speaker="Mei Lin")
        build_s = time.perf_counter() - start
        start = time.perf_counter()
        open_persona("bench")
        open_s = time.perf_counter() - start
        print(f"\nbuild: {len(store.passages)} passages from {len(NOTES)} files in {build_s:.1f} s "
              f"(incl. loading {store.embedder or 'no embedder'}); index {store.index_bytes() / 1024:.1f} KB; "
              f"open (hash check) {open_s * 1000:.0f} ms")
        print("\nretrieval alone (recall@4 of the passages holding the answer; decline decided in code)")
        print(f"{'mode':12} {'lang':5} {'recall':>7} {'right declines':>15} {'wrong declines':>15} {'ms/query':>9}")
        for row in retrieval_table(store):
            print(f"{row[0]:12} {row[1]:5} {row[2]:>7} {row[3]:>15} {row[4]:>15} {row[5]:>9}")
        if not args.gguf and not args.no_llm:
            from pipelines.llm.bundled import DEFAULT, bundled_path

            args.gguf = str(bundled_path(DEFAULT))
        gguf = Path(args.gguf)
        if args.no_llm or not gguf.is_file():
            print("\n(no instruction model: answers not measured)")
            return 0
        print(f"\nanswers with {gguf.name}, {args.threads or os.cpu_count()} thread(s) (fact in the answer, in the question's language; declines)")
        rows, timing = answer_table("bench", gguf, args.threads)
        for key, value in rows:
            print(f"{key:12} {value}")
        print(f"latency: retrieval {np.median(timing['retrieval_ms']):.1f} ms median per question; "
              f"model reply {np.median(timing['model_s']):.2f} s median (declines skip the model)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
