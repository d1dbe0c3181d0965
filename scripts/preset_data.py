"""The dev data the presets are fitted and measured on, and the calls made on it.

Shared by `preset_calls.py` (make the calls), `fit_presets.py` (fit on them) and
`benchmarks/presets.py` (measure the presets on a split not used for fitting).
Items are a seeded sample of one dev file, split by a hash of the item id (both
variants of a knowledge-conflict item fall on the same side), so the fitting split
and the held-out split never share a question.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from confguard.embeddings import get_embedder
from confguard.evaluation import load_dataset
from confguard.evaluation.datasets import Dataset, EvalItem
from confguard.evaluation.runner import GivenContexts
from confguard.llm.local import default_generator
from confguard.llm.plans import run_plan
from confguard.llm.recorded import RecordedGenerator, recorded
from confguard.observation import Observation
from confguard.rag import ConfidentRAGPipeline, EmbeddingIndex, confident_observation
from confguard.signals.consistency import GeneratorSampler
from confguard.signals.faithfulness import SituatedFaithfulness

DEFAULT_EMBEDDERS = ("minilm", "e5", "wordllama")
SAMPLES_K, SAMPLES_T, SAMPLES_SEED = 5, 0.7, 0


@dataclass
class Run:
    """The recorded generator and, for retrieval, the indices of one dataset."""

    dataset: Dataset
    contexts: str
    generator: RecordedGenerator
    indices: tuple[EmbeddingIndex, ...] = ()


def dataset_spec(path: Path) -> str:
    """The loader spec of a dev file (`confguard.evaluation.load_dataset`)."""
    return f"{'conflicts' if path.suffix == '.jsonl' else 'squad'}:{path}"


def open_run(
    path: Path,
    contexts: str,
    out: Path,
    embedders: Sequence[str] = DEFAULT_EMBEDDERS,
    *,
    suffix: str = "",
) -> Run:
    """The dataset, its call record and (retrieval) one index per embedder."""
    dataset = load_dataset(dataset_spec(path))
    record = out / f"calls-{path.stem}{suffix}.jsonl"
    others = sorted(out.glob(f"calls-{path.stem}*.jsonl"))
    generator = recorded(
        default_generator(), record, replay_from=[p for p in others if p != record]
    )
    indices: tuple[EmbeddingIndex, ...] = ()
    if contexts == "retrieve":
        passages = dataset.passages()
        indices = tuple(
            EmbeddingIndex.build(get_embedder(name), passages, cache_dir=out)
            for name in embedders
        )
    return Run(dataset, contexts, generator, indices)


def load_items(path: Path, limit: int, seed: int) -> list[EvalItem]:
    """A seeded sample of `limit` questions (conflict items: both variants each)."""
    dataset = load_dataset(dataset_spec(path))
    groups: dict[str, list[EvalItem]] = {}
    for item in dataset.items:
        groups.setdefault(group_of(item), []).append(item)
    keys = sorted(groups, key=lambda k: _digest(f"{seed}:{k}"))[:limit]
    return [item for k in keys for item in groups[k]]


def group_of(item: EvalItem) -> str:
    """The question an item asks: variants of one conflict item share it."""
    return item.id.rsplit("/", 1)[0] if "variant" in item.metadata else item.id


def split_of(item: EvalItem, holdout: float = 0.3) -> str:
    """'holdout' for a fixed, id-hashed share of the questions, else 'fit'."""
    return "holdout" if held_out_id(group_of(item), holdout) else "fit"


def held_out_id(group: str, holdout: float = 0.3) -> bool:
    """Whether the question `group` (an item id; see `group_of`) is held out."""
    value = int(_digest(f"split:{group}")[:8], 16) / 0xFFFFFFFF
    return value < holdout


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def candidate_observations(run: Run, item: EvalItem) -> Iterator[Observation]:
    """Every distinct answer a preset could give to `item`, as an Observation."""
    if run.contexts == "given":
        yield GivenContexts(run.generator).answer(item)
        return
    pipeline = ConfidentRAGPipeline(run.generator, run.indices)
    result = pipeline.run(item.question)
    seen: set[tuple[str, ...]] = set()
    for i, candidate in enumerate(result.candidates):
        key = tuple(c.text for c in candidate.contexts)
        if key in seen:
            continue
        seen.add(key)
        yield confident_observation(item.question, result.candidates, i)


def sampler(generator: RecordedGenerator) -> GeneratorSampler:
    """The presets' sampler: K answers at temperature T, seeded."""
    return GeneratorSampler(
        generator, k=SAMPLES_K, temperature=SAMPLES_T, seed=SAMPLES_SEED
    )


def model_calls(generator: RecordedGenerator, obs: Observation) -> None:
    """Every call a preset's model signals make on `obs`: the K samples, then RCR.

    Samples first: they share the answer's prompt, which the model still holds.
    """
    run_plan(sampler(generator).plan(obs), generator)
    SituatedFaithfulness(generator, mode="rcr").score(obs)
