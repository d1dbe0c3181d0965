"""Presets for the embedded defaults: a fitted guard and the pipeline it gates.

Each preset (`fast`, `balanced`, `thorough`; `confguard.config.presets`) is a guard
config shipped in the package whose `pipeline:` section says how answers are made;
`preset_pipeline` builds that pipeline over a corpus and `preset_guard` the guard.
The configs, their fitted combiners, calibrators and certified thresholds are
written by `scripts/fit_presets.py`; `docs/presets.md` is each one's card.

Example:
    >>> from confguard.presets import preset_guard, preset_pipeline
    >>> guard = preset_guard("balanced")
    >>> rag = preset_pipeline("balanced", passages, Path(".confguard"))
    >>> guard.run(rag, "Who won Super Bowl 50?").decision.action
    'accept'
"""

from __future__ import annotations

from confguard.config.presets import PRESETS, config_source, preset_path
from confguard.presets.build import (
    PresetPipeline,
    build_pipeline,
    preset_guard,
    preset_pipeline,
)

__all__ = [
    "PRESETS",
    "PresetPipeline",
    "build_pipeline",
    "config_source",
    "preset_guard",
    "preset_path",
    "preset_pipeline",
]
