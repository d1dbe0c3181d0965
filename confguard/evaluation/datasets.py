"""Evaluation datasets: SQuAD files, knowledge-conflict JSONL and generic JSONL.

A dataset is named by a spec ``KIND:PATH`` (``squad:dev.json``, ``conflicts:kc.jsonl``,
``jsonl:mine.jsonl``); `load_dataset` finds KIND among the registry's loaders.
Every format error is a `DatasetError` naming the file, the line (for JSONL) and the
field, e.g. ``mine.jsonl, line 7: field 'answers': missing``.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from confguard import registry
from confguard.exceptions import DatasetError, UnknownComponentError
from confguard.rag.corpus import Passage


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EvalItem(_Frozen):
    """One question with its gold answers and, if the dataset has them, passages."""

    id: str
    question: str
    answers: tuple[str, ...] = Field(min_length=1)
    contexts: tuple[str, ...] = ()
    metadata: dict[str, Any] = Field(default_factory=dict)


class Dataset(_Frozen):
    """Items read from one file, and whether its passages form one shared corpus.

    Example:
        >>> data = load_dataset("squad:squad_dev_v1.1.json")
        >>> len(data.sample(200, seed=0).items)
        200
    """

    name: str
    path: str
    items: tuple[EvalItem, ...] = Field(min_length=1)
    shared_corpus: bool = True
    """True: retrieve from all passages; False: answer from each item's own contexts."""

    def passages(self) -> tuple[Passage, ...]:
        """Every distinct passage of the dataset, with a content-derived id."""
        seen: dict[str, Passage] = {}
        for item in self.items:
            for text in item.contexts:
                pid = passage_id(text)
                seen.setdefault(pid, Passage(id=pid, text=text))
        return tuple(seen.values())

    def sample(self, limit: int | None, seed: int = 0) -> Dataset:
        """`limit` items drawn at random with `seed` (all, shuffled, if None)."""
        if limit is not None and limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        order = list(range(len(self.items)))
        random.Random(seed).shuffle(order)
        chosen = order if limit is None else order[:limit]
        items = tuple(self.items[i] for i in chosen)
        return self.model_copy(update={"items": items})


def passage_id(text: str) -> str:
    """A short stable id of a passage's text."""
    return "p-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


# --- reading ---------------------------------------------------------------------


def _text(path: Path) -> str:
    if not path.is_file():
        raise DatasetError(str(path), "file not found")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetError(str(path), f"cannot be read ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DatasetError(
            str(path), f"not UTF-8 text (byte {raw[exc.start]:#04x})", line=line
        ) from None
    if not text.strip():
        raise DatasetError(str(path), "the file is empty")
    return text


def json_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each JSON object of a JSONL file with its line number; blank lines skipped.

    Errors are `DatasetError`s naming the file and the line.

    Example:
        >>> next(json_lines(Path("mine.jsonl")))
        (1, {'question': 'Capital of France?', 'answers': ['Paris']})
    """
    for number, line in enumerate(_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(
                str(path), f"not valid JSON ({exc.msg})", line=number
            ) from exc
        if not isinstance(value, dict):
            kind = type(value).__name__
            raise DatasetError(
                str(path), f"expected a JSON object, got {kind}", line=number
            )
        yield number, value


class _Row:
    """Reads typed fields of one record; errors name the file, line and field."""

    def __init__(self, path: Path, data: Mapping[str, Any], line: int | None) -> None:
        self.path, self.data, self.line = path, data, line

    def fail(self, field: str, message: str) -> DatasetError:
        return DatasetError(str(self.path), message, line=self.line, field=field)

    def text(self, field: str, *, where: str = "") -> str:
        value = self.data.get(field)
        if value is None:
            raise self.fail(where + field, "missing")
        if not isinstance(value, str) or not value.strip():
            raise self.fail(
                where + field, f"expected a non-empty string, got {value!r}"
            )
        return value

    def texts(self, field: str, *, required: bool) -> tuple[str, ...]:
        value = self.data.get(field)
        if value is None and not required:
            return ()
        if value is None:
            raise self.fail(field, "missing")
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(
            isinstance(v, str) and v.strip() for v in value
        ):
            raise self.fail(
                field, f"expected a list of non-empty strings, got {value!r}"
            )
        if required and not value:
            raise self.fail(field, "is empty; every item needs at least one answer")
        return tuple(value)

    def mapping(self, field: str) -> dict[str, Any]:
        value = self.data.get(field)
        if value is None:
            return {}
        if not isinstance(value, dict):
            kind = type(value).__name__
            raise self.fail(field, f"expected a JSON object, got {kind} {value!r}")
        return value


def _checked(path: Path, name: str, items: list[EvalItem], shared: bool) -> Dataset:
    if not items:
        raise DatasetError(str(path), "holds no questions")
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise DatasetError(str(path), f"id {item.id!r} repeats", field="id")
        seen.add(item.id)
    return Dataset(name=name, path=str(path), items=tuple(items), shared_corpus=shared)


# --- the formats -----------------------------------------------------------------


def load_jsonl(path: str | Path) -> Dataset:
    """Generic JSONL, one ``{"question", "answers", "contexts"?, "id"?}`` per line.

    Example:
        >>> load_jsonl("mine.jsonl").items[0].answers
        ('Paris',)
    """
    file = Path(path)
    items = []
    for number, data in json_lines(file):
        row = _Row(file, data, number)
        known = {"id", "question", "answers", "contexts", "metadata"}
        extra = {k: v for k, v in data.items() if k not in known}
        items.append(
            EvalItem(
                id=str(data.get("id") or f"line-{number}"),
                question=row.text("question"),
                answers=row.texts("answers", required=True),
                contexts=row.texts("contexts", required=False),
                metadata={**row.mapping("metadata"), **extra},
            )
        )
    return _checked(file, f"jsonl:{file}", items, shared=True)


def load_squad(path: str | Path) -> Dataset:
    """A SQuAD v1.1-format file: ``data[].paragraphs[].{context, qas[]}``.

    Example:
        >>> load_squad("squad_dev_v1.1.json").items[0].contexts[0][:20]
    """
    file = Path(path)
    try:
        document = json.loads(_text(file))
    except json.JSONDecodeError as exc:
        raise DatasetError(
            str(file), f"not valid JSON ({exc.msg})", line=exc.lineno
        ) from exc
    articles = document.get("data") if isinstance(document, dict) else None
    if not isinstance(articles, list):
        raise DatasetError(
            str(file), "expected a SQuAD object with a list under it", field="data"
        )
    items = list(_squad_items(file, articles))
    return _checked(file, f"squad:{file}", items, shared=True)


def _squad_items(file: Path, articles: list[Any]) -> Iterator[EvalItem]:
    for a, article in enumerate(articles):
        for p, paragraph in enumerate(_list(file, article, "paragraphs", f"data[{a}]")):
            where = f"data[{a}].paragraphs[{p}]"
            context = _Row(file, paragraph, None).text("context", where=where + ".")
            for q, qa in enumerate(_list(file, paragraph, "qas", where)):
                yield _squad_item(file, qa, f"{where}.qas[{q}]", context, article)


def _list(file: Path, parent: Any, key: str, where: str) -> list[Any]:
    value = parent.get(key) if isinstance(parent, dict) else None
    if not isinstance(value, list):
        raise DatasetError(str(file), "missing or not a list", field=f"{where}.{key}")
    return value


def _squad_item(
    file: Path, qa: Any, where: str, context: str, article: Any
) -> EvalItem:
    row = _Row(file, qa if isinstance(qa, dict) else {}, None)
    answers = [a.get("text") for a in _list(file, qa, "answers", where)]
    if not answers or not all(isinstance(a, str) and a.strip() for a in answers):
        raise row.fail(f"{where}.answers", "needs at least one answer with a text")
    return EvalItem(
        id=str(qa.get("id") or where),
        question=row.text("question", where=where + "."),
        answers=tuple(dict.fromkeys(answers)),  # de-duplicated, order kept
        contexts=(context,),
        metadata={"title": article.get("title")} if article.get("title") else {},
    )


CONFLICT_VARIANTS = ("factual", "counterfactual")


def load_conflicts(
    path: str | Path, variants: tuple[str, ...] = CONFLICT_VARIANTS
) -> Dataset:
    """Knowledge-conflict JSONL: each line asked with its factual and swapped passage.

    The right answer is always ``original_answer``, even when the passage states the
    swapped ``context_answer`` (the passage is wrong, not the world).

    Example:
        >>> data = load_conflicts("knowledge_conflicts_dev.jsonl")
        >>> data.items[1].metadata["variant"]
        'counterfactual'
    """
    file = Path(path)
    for variant in variants:
        if variant not in CONFLICT_VARIANTS:
            raise UnknownComponentError(
                "conflict variant", variant, [*CONFLICT_VARIANTS]
            )
    items = [
        _conflict_item(_Row(file, data, number), number, variant)
        for number, data in json_lines(file)
        for variant in variants
    ]
    return _checked(file, f"conflicts:{file}", items, shared=False)


def _conflict_item(row: _Row, number: int, variant: str) -> EvalItem:
    base = str(row.data.get("id") or f"line-{number}")
    return EvalItem(
        id=f"{base}/{variant}",
        question=row.text("question"),
        answers=(row.text("original_answer"),),
        contexts=(row.text(f"{variant}_context"),),
        metadata={"variant": variant, "context_answer": row.text("context_answer")},
    )


Loader = Callable[[str], Dataset]
"""What a `loader` registered in `confguard.registry` is: a path in, a Dataset out."""


def load_dataset(spec: str) -> Dataset:
    """Load ``KIND:PATH`` with the `loader` registered as KIND.

    Example:
        >>> load_dataset("jsonl:questions.jsonl").name
        'jsonl:questions.jsonl'
    """
    kind, sep, path = spec.partition(":")
    known = registry.names("loader")
    if not sep or not path:
        kinds = ", ".join(f"{k}:PATH" for k in known)
        raise DatasetError(spec, f"a dataset is named KIND:PATH ({kinds})")
    if kind not in known:
        raise UnknownComponentError("dataset kind", kind, known)
    loader: Loader = registry.get("loader", kind)
    return loader(path)


__all__ = [
    "CONFLICT_VARIANTS",
    "Dataset",
    "EvalItem",
    "json_lines",
    "load_conflicts",
    "load_dataset",
    "load_jsonl",
    "load_squad",
    "passage_id",
]
