"""LLM benchmark: time to first token and tokens/second of each engine, in one run, on the same prompts.

`llama-cpp` runs the bundled Gemma 3 270M in process; `openai` talks to a real llama_cpp.server started here
on loopback with the same GGUF, so the difference is the HTTP/streaming overhead.
Usage: python bench/llm.py [--threads N] [--repeat 3]
"""
from __future__ import annotations

import argparse
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PROMPTS = ["Hello! Who are you?", "What should I cook tonight?", "Tell me something about the sea.",
           "Can you recommend a book?"]


def measure(llm, conversation_cls, persona, repeat: int) -> dict:
    ttfts, rates = [], []
    for _ in range(repeat):
        for prompt in PROMPTS:
            conv = conversation_cls(llm, persona)
            t0 = time.perf_counter()
            first, text = None, ""
            for piece in conv.say(prompt):
                if first is None:
                    first = time.perf_counter() - t0
                text += piece
            total = time.perf_counter() - t0
            tokens = llm.count_tokens(text) if hasattr(llm, "count_tokens") else max(len(text) // 4, 1)
            ttfts.append(first)
            if total > first and tokens > 1:
                rates.append((tokens - 1) / (total - first))
    return {"ttft": statistics.median(ttfts), "tps": statistics.median(rates) if rates else float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    import httpx

    from pipelines import registry
    from pipelines.llm.bundled import gemma_path
    from pipelines.llm.conversation import Conversation
    from pipelines.llm.persona import Persona

    persona = Persona()
    rows = []
    t0 = time.perf_counter()
    local = registry.build("llm", "llama-cpp", n_threads=args.threads)
    _ = local.llm
    load = time.perf_counter() - t0
    local_stats = measure(local, Conversation, persona, args.repeat)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows.append(("llama-cpp (in process)", load, local_stats, f"{rss:.0f} MB peak RSS"))
    local._llm = None  # free it before the server loads its own copy

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(gemma_path()),
                               "--host", "127.0.0.1", "--port", str(port), "--n_threads", str(args.threads),
                               "--n_ctx", "2048"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/v1"
        t0 = time.perf_counter()
        while True:
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
            if time.perf_counter() - t0 > 120:
                raise SystemExit("llama_cpp.server did not start")
        load = time.perf_counter() - t0
        remote = registry.build("llm", "openai", base_url=url, api="completion")
        remote.count_tokens = lambda text: local.count_tokens(text) if local._llm else max(len(text) // 4, 1)
        rows.append(("openai -> llama_cpp.server", load, measure(remote, Conversation, persona, args.repeat),
                     "server process"))
    finally:
        server.terminate()
        server.wait(timeout=30)

    print(f"LLM benchmark: bundled Gemma 3 270M Q4_K_M, {args.threads} threads, median over "
          f"{args.repeat} x {len(PROMPTS)} replies\n")
    print(f"{'engine':28} {'load s':>7} {'first token s':>14} {'tokens/s':>9}  memory")
    for name, load, stats, mem in rows:
        print(f"{name:28} {load:7.2f} {stats['ttft']:14.3f} {stats['tps']:9.1f}  {mem}")


if __name__ == "__main__":
    main()
