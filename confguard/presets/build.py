"""Build a preset's (or any config's) pipeline and guard on the embedded defaults."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from confguard.config import GuardConfig, load, parts
from confguard.config.model import PipelineSection
from confguard.embeddings import get_embedder
from confguard.embeddings.base import Embedder
from confguard.exceptions import ConfigurationError
from confguard.guard import Guard
from confguard.llm.base import Generator
from confguard.paths import state_dir
from confguard.rag import ConfidentRAGPipeline, EmbeddingIndex, Passage, RAGPipeline
from confguard.rag.selection import FittedSelector, Selector
from confguard.signals.base import Signal

PresetPipeline = RAGPipeline | ConfidentRAGPipeline
IndexProgress = Callable[[int, int], None]


HISTORY_PRESETS = ("balanced", "thorough")
"""The presets the history signal joins whenever a history exists."""


def default_history() -> Path:
    """Where `confguard calibrate --history` is expected to write the history."""
    return state_dir() / "history"


def preset_guard(
    source: str | os.PathLike[str],
    *,
    generator: Generator | None = None,
    history: str | os.PathLike[str] | None = None,
    **resources: Any,
) -> Guard:
    """The guard of a preset or config file, its model signals on `generator`.

    `balanced` and `thorough` add the history signal (`confguard.signals.history`)
    when a saved history exists in `history` (default: `default_history()`); it is
    shown in every decision, and weighs in once `confguard calibrate` refits the
    combiner with it.

    The embedded Gemma model is used (and loaded on first use) when no generator
    is given. ``store=`` is the guard's audit store and its review queue's; other
    resources (``embedder=`` …) go to the factories.

    Example:
        >>> preset_guard("thorough").policy.cascade
        True
    """
    model = generator if generator is not None else _default_generator()
    store = resources.pop("store", None)
    extra = {} if store is None else {"store": store}
    built = parts(source, generator=model, **extra, **resources)
    options = built.guard_options()
    if store is not None:  # the audit store too, not only the review queue's
        options["store"] = store
    signals = (*built.signals, *_history(source, history))
    return Guard(signals, built.policy, **options)


def _history(
    source: str | os.PathLike[str], folder: str | os.PathLike[str] | None
) -> tuple[Signal, ...]:
    from confguard.signals.history import history_signal, saved_history

    if str(source) not in HISTORY_PRESETS:
        return ()
    where = Path(folder) if folder is not None else default_history()
    if not saved_history(where):
        return ()
    return (history_signal(str(where)),)


def preset_pipeline(
    source: str | os.PathLike[str],
    passages: Sequence[Passage],
    cache_dir: Path,
    *,
    generator: Generator | None = None,
    progress: IndexProgress | None = None,
) -> PresetPipeline:
    """The pipeline a preset or config declares, over `passages`.

    One index per embedder is built (or loaded from `cache_dir`). A config without
    a `pipeline:` section answers as the demo does: MiniLM, top-1 passage.
    """
    config = load(source).config
    model = generator if generator is not None else _default_generator()
    return build_pipeline(config, passages, cache_dir, model, progress)


def build_pipeline(
    config: GuardConfig,
    passages: Sequence[Passage],
    cache_dir: Path,
    generator: Generator,
    progress: IndexProgress | None = None,
    *,
    embedder_for: Callable[[str], Embedder] = get_embedder,
) -> PresetPipeline:
    """`config`'s pipeline over `passages`, answering with `generator`.

    `embedder_for` makes the embedder a registry name names (tests pass fakes).
    """
    section = config.pipeline or PipelineSection()
    single = section.retrieval == "single"
    names = section.embedders[:1] if single else section.embedders
    indices = [
        EmbeddingIndex.build(
            embedder_for(name), passages, cache_dir=cache_dir, progress=progress
        )
        for name in names
    ]
    if single:
        return RAGPipeline(generator, indices[0], top_k=section.top_k)
    if len(indices) < 2:
        raise ConfigurationError(
            "pipeline.retrieval confident_rag needs at least two embedders, "
            f"got {list(names)}"
        )
    return ConfidentRAGPipeline(
        generator, indices, top_k=section.top_k, selector=_selector(section)
    )


def _selector(section: PipelineSection) -> Selector | None:
    if section.selector is None:
        return None
    s = section.selector
    return FittedSelector(
        s.weights, intercept=s.intercept, means=s.means, scales=s.scales
    )


def _default_generator() -> Generator:
    from confguard.llm.local import default_generator

    return default_generator()
