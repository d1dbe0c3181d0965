"""Decode speed and memory of the embedded Gemma with top-5 logprobs: numpy vs builtin.

The numpy path (confguard's `LocalGenerator`) reads the last logits after each
step and normalises them in numpy; the builtin path is llama-cpp-python's own
`create_completion(logprobs=5)`, which needs `logits_all=True`. Each path runs in
its own subprocess so peak RSS is its own. Also measures what reusing the KV cache
of a shared few-shot prefix saves. The last line printed is one JSON object.

Example:
    $ python benchmarks/local_llm.py --max-tokens 32
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from typing import Any

PROMPTS = (
    "Context: The Eiffel Tower is in Paris, France. It was completed in 1889.\n"
    "Question: When was the Eiffel Tower completed?\nAnswer:",
    "Context: Photosynthesis turns light, water and carbon dioxide into sugar.\n"
    "Question: What does photosynthesis produce?\nAnswer:",
    "Context: The Danube flows through ten countries into the Black Sea.\n"
    "Question: Where does the Danube end?\nAnswer:",
)
SHOT = "Context: {c}\nQuestion: What is this about, in one word?\nAnswer: {a}\n\n"
FEW_SHOT = "".join(
    SHOT.format(c=c, a=a)
    for c, a in [
        (
            "Mount Everest is the highest mountain on Earth, in the Himalayas.",
            "Everest",
        ),
        ("The Nile flows north through eleven countries.", "Nile"),
        ("Marie Curie won two Nobel prizes, in physics and chemistry.", "Curie"),
        ("The Great Wall of China is thousands of kilometres long.", "Wall"),
        ("Jupiter is the largest planet of the Solar System.", "Jupiter"),
    ]
)
N_CTX = 2048


def peak_rss_mb() -> float:
    """This process's peak resident set size in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_numpy(max_tokens: int) -> dict[str, float]:
    """Greedy completions with top-5 logprobs through LocalGenerator."""
    from confguard.llm.base import GenerationRequest
    from confguard.llm.local import LocalGenerator

    gen = LocalGenerator(n_ctx=N_CTX)
    gen.generate(GenerationRequest(prompt="Warm up:", max_tokens=2))
    request = GenerationRequest(prompt="", max_tokens=max_tokens, top_k=5)
    tokens, start = 0, time.perf_counter()
    for prompt in PROMPTS:
        [c] = gen.generate(request.with_(prompt=prompt))
        tokens += c.completion_tokens
    return _figures(tokens, time.perf_counter() - start)


def run_builtin(max_tokens: int) -> dict[str, float]:
    """Greedy completions with top-5 logprobs through llama-cpp-python's own path."""
    from llama_cpp import Llama

    from confguard.llm.local import gemma_gguf_path

    llm = Llama(
        model_path=str(gemma_gguf_path()),
        n_ctx=N_CTX,
        n_threads=1,
        n_threads_batch=1,
        logits_all=True,
        verbose=False,
    )
    llm.create_completion("Warm up:", max_tokens=2, logprobs=5, temperature=0.0)
    tokens, start = 0, time.perf_counter()
    for prompt in PROMPTS:
        out: Any = llm.create_completion(
            prompt, max_tokens=max_tokens, logprobs=5, temperature=0.0
        )
        tokens += int(out["usage"]["completion_tokens"])
    return _figures(tokens, time.perf_counter() - start)


def run_prefix_cache(max_tokens: int) -> dict[str, float]:
    """Seconds for few-shot prompts sharing a long prefix, with and without reuse."""
    from confguard.llm.base import GenerationRequest
    from confguard.llm.local import LocalGenerator

    figures: dict[str, float] = {}
    request = GenerationRequest(prompt="", max_tokens=max_tokens, stop=("\n",))
    for cache in (False, True):
        gen = LocalGenerator(n_ctx=N_CTX, cache_prompt=cache)
        gen.generate(GenerationRequest(prompt=FEW_SHOT + "Warm up:", max_tokens=1))
        start = time.perf_counter()
        for prompt in PROMPTS:
            [c] = gen.generate(request.with_(prompt=FEW_SHOT + prompt))
        figures["cached_s" if cache else "uncached_s"] = time.perf_counter() - start
        figures["prompt_tokens"] = c.prompt_tokens
    return figures


def _figures(tokens: int, seconds: float) -> dict[str, float]:
    return {
        "tokens": tokens,
        "seconds": seconds,
        "tok_s": tokens / seconds,
        "rss_mb": peak_rss_mb(),
    }


WORKERS = {"numpy": run_numpy, "builtin": run_builtin, "prefix": run_prefix_cache}


def in_subprocess(worker: str, max_tokens: int) -> dict[str, float]:
    """Run one worker in a fresh interpreter and read back its JSON line."""
    done = subprocess.run(
        [sys.executable, __file__, "--worker", worker, "--max-tokens", str(max_tokens)],
        check=True,
        capture_output=True,
        text=True,
    )
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    """Run each path in its own subprocess and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--worker", choices=sorted(WORKERS))
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args.max_tokens)))
        return
    numpy_path = in_subprocess("numpy", args.max_tokens)
    builtin = in_subprocess("builtin", args.max_tokens)
    prefix = in_subprocess("prefix", args.max_tokens)
    for label, fig in (("numpy path  ", numpy_path), ("builtin path", builtin)):
        print(
            f"{label}: {fig['tokens']:.0f} tokens in {fig['seconds']:.2f} s = "
            f"{fig['tok_s']:.1f} tok/s, peak RSS {fig['rss_mb']:.0f} MiB"
        )
    print(f"speedup: {numpy_path['tok_s'] / builtin['tok_s']:.1f}x")
    print(
        f"shared few-shot prefix ({prefix['prompt_tokens']:.0f}-token prompts): "
        f"{prefix['uncached_s']:.2f} s without KV reuse, "
        f"{prefix['cached_s']:.2f} s with it"
    )
    print(
        json.dumps(
            {
                "numpy_tok_s": round(numpy_path["tok_s"], 2),
                "builtin_tok_s": round(builtin["tok_s"], 2),
                "speedup": round(numpy_path["tok_s"] / builtin["tok_s"], 2),
                "numpy_rss_mb": round(numpy_path["rss_mb"], 1),
                "builtin_rss_mb": round(builtin["rss_mb"], 1),
            }
        )
    )


if __name__ == "__main__":
    main()
