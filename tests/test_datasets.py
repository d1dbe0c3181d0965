"""Datasets: three formats load into EvalItems; bad files name file, line and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from confguard.evaluation import (
    ExactMatch,
    F1AtLeast,
    grade,
    load_conflicts,
    load_dataset,
    load_jsonl,
    load_squad,
)
from confguard.evaluation.datasets import json_lines, passage_id
from confguard.exceptions import DatasetError, UnknownComponentError

SQUAD = {
    "version": "1.1",
    "data": [
        {
            "title": "Paris",
            "paragraphs": [
                {
                    "context": "Paris is the capital of France.",
                    "qas": [
                        {
                            "id": "q1",
                            "question": "What is the capital of France?",
                            "answers": [{"text": "Paris"}, {"text": "Paris"}],
                        },
                        {
                            "id": "q2",
                            "question": "Paris is the capital of what?",
                            "answers": [{"text": "France"}],
                        },
                    ],
                }
            ],
        }
    ],
}

CONFLICT = {
    "id": "kc-0",
    "question": "who wrote hamlet?",
    "counterfactual_context": "Hamlet was written by Jane Austen.",
    "context_answer": "Jane Austen",
    "original_answer": "William Shakespeare",
    "factual_context": "Hamlet was written by William Shakespeare.",
}


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def lines(*objects: object) -> str:
    return "".join(json.dumps(o) + "\n" for o in objects)


def test_squad_items_carry_their_paragraph_and_deduplicated_answers(
    tmp_path: Path,
) -> None:
    data = load_squad(write(tmp_path / "s.json", json.dumps(SQUAD)))
    assert [i.id for i in data.items] == ["q1", "q2"]
    assert data.items[0].answers == ("Paris",)
    assert data.items[0].contexts == ("Paris is the capital of France.",)
    assert data.items[0].metadata == {"title": "Paris"}
    assert data.shared_corpus is True


def test_passages_are_the_distinct_contexts_with_content_ids(tmp_path: Path) -> None:
    data = load_squad(write(tmp_path / "s.json", json.dumps(SQUAD)))
    [passage] = data.passages()
    assert passage.text == "Paris is the capital of France."
    assert passage.id == passage_id(passage.text)


def test_conflict_lines_become_a_factual_and_a_counterfactual_item(
    tmp_path: Path,
) -> None:
    data = load_conflicts(write(tmp_path / "kc.jsonl", lines(CONFLICT)))
    factual, swapped = data.items
    assert (factual.id, swapped.id) == ("kc-0/factual", "kc-0/counterfactual")
    assert factual.answers == swapped.answers == ("William Shakespeare",)
    assert swapped.contexts == ("Hamlet was written by Jane Austen.",)
    assert swapped.metadata == {
        "variant": "counterfactual",
        "context_answer": "Jane Austen",
    }
    assert data.shared_corpus is False


def test_conflicts_can_load_one_variant_only(tmp_path: Path) -> None:
    path = write(tmp_path / "kc.jsonl", lines(CONFLICT))
    data = load_conflicts(path, variants=("counterfactual",))
    assert [i.id for i in data.items] == ["kc-0/counterfactual"]
    with pytest.raises(UnknownComponentError, match="'swapped'"):
        load_conflicts(path, variants=("swapped",))


def test_jsonl_reads_answers_contexts_ids_and_keeps_other_fields(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path / "q.jsonl",
        lines(
            {"question": "2+2?", "answers": ["4", "four"], "level": "easy"},
            {"id": "b", "question": "Sky?", "answers": "blue", "contexts": ["Blue."]},
        ),
    )
    first, second = load_jsonl(path).items
    assert (first.id, first.answers, first.contexts) == ("line-1", ("4", "four"), ())
    assert first.metadata == {"level": "easy"}
    assert (second.id, second.answers, second.contexts) == ("b", ("blue",), ("Blue.",))


def test_load_dataset_dispatches_on_the_kind_prefix(tmp_path: Path) -> None:
    path = write(tmp_path / "q.jsonl", lines({"question": "Q?", "answers": ["A"]}))
    data = load_dataset(f"jsonl:{path}")
    assert data.name == f"jsonl:{path}"
    with pytest.raises(UnknownComponentError, match="dataset kind 'csv'"):
        load_dataset(f"csv:{path}")
    with pytest.raises(DatasetError, match="KIND:PATH"):
        load_dataset(str(path))


def test_sample_draws_limit_items_reproducibly_by_seed(tmp_path: Path) -> None:
    rows = [{"question": f"Q{i}?", "answers": ["A"]} for i in range(20)]
    data = load_jsonl(write(tmp_path / "q.jsonl", lines(*rows)))
    a, b = data.sample(5, seed=3), data.sample(5, seed=3)
    assert [i.id for i in a.items] == [i.id for i in b.items]
    assert len(a.items) == 5
    assert [i.id for i in data.sample(5, seed=4).items] != [i.id for i in a.items]
    assert len(data.sample(None).items) == 20


def test_a_missing_answers_field_names_file_line_and_field(tmp_path: Path) -> None:
    path = write(
        tmp_path / "q.jsonl",
        lines({"question": "Q?", "answers": ["A"]}, {"question": "Q2?"}),
    )
    with pytest.raises(DatasetError) as info:
        load_jsonl(path)
    assert str(info.value) == f"{path}, line 2: field 'answers': missing"
    assert (info.value.line, info.value.field) == (2, "answers")


def test_an_empty_answer_list_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "q.jsonl", lines({"question": "Q?", "answers": []}))
    with pytest.raises(DatasetError, match="line 1: field 'answers': is empty"):
        load_jsonl(path)


def test_a_line_that_is_not_json_is_named(tmp_path: Path) -> None:
    path = write(tmp_path / "q.jsonl", lines({"question": "Q?", "answers": ["A"]}))
    path.write_text(path.read_text() + "{oops\n")
    with pytest.raises(DatasetError, match=r"line 2: not valid JSON"):
        load_jsonl(path)


def test_a_json_array_line_is_not_an_item(tmp_path: Path) -> None:
    path = write(tmp_path / "q.jsonl", "[1, 2]\n")
    with pytest.raises(DatasetError, match="line 1: expected a JSON object, got list"):
        load_jsonl(path)


def test_metadata_that_is_not_an_object_names_file_line_and_field(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path / "q.jsonl",
        lines(
            {"question": "Q?", "answers": ["A"], "metadata": {"level": 1}},
            {"question": "R?", "answers": ["A"], "metadata": ["level", 1]},
        ),
    )
    with pytest.raises(DatasetError) as info:
        load_jsonl(path)
    assert (info.value.line, info.value.field) == (2, "metadata")
    assert str(info.value) == (
        f"{path}, line 2: field 'metadata': expected a JSON object, "
        "got list ['level', 1]"
    )


def test_a_file_that_is_not_utf8_names_the_line_of_the_first_bad_byte(
    tmp_path: Path,
) -> None:
    path = tmp_path / "q.jsonl"
    text = '{"question": "Q?", "answers": ["A"]}\n\n{"question": "Où?"}\n'
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(DatasetError) as info:
        load_jsonl(path)
    assert info.value.line == 3
    assert str(info.value) == f"{path}, line 3: not UTF-8 text (byte 0xf9)"
    with pytest.raises(DatasetError, match="not UTF-8 text"):
        load_squad(path)


def test_json_lines_numbers_each_object_by_its_line_and_skips_blanks(
    tmp_path: Path,
) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": 1}\n\n  \n{"a": 2}\n')
    assert list(json_lines(path)) == [(1, {"a": 1}), (4, {"a": 2})]


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "q.jsonl", "\n\n")
    with pytest.raises(DatasetError, match="the file is empty"):
        load_jsonl(path)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"nope\.json: file not found"):
        load_squad(tmp_path / "nope.json")


def test_repeated_ids_are_refused(tmp_path: Path) -> None:
    row = {"id": "x", "question": "Q?", "answers": ["A"]}
    with pytest.raises(DatasetError, match="id 'x' repeats"):
        load_jsonl(write(tmp_path / "q.jsonl", lines(row, row)))


def test_a_jsonl_file_given_as_squad_is_refused_clearly(tmp_path: Path) -> None:
    path = write(tmp_path / "q.jsonl", lines({"question": "Q?"}, {"question": "R?"}))
    with pytest.raises(DatasetError, match="line 2: not valid JSON"):
        load_squad(path)


def test_a_squad_object_without_data_names_the_field(tmp_path: Path) -> None:
    path = write(tmp_path / "s.json", json.dumps({"version": "1.1"}))
    with pytest.raises(DatasetError, match="field 'data'"):
        load_squad(path)


def test_a_squad_question_without_answers_names_its_json_path(tmp_path: Path) -> None:
    broken = json.loads(json.dumps(SQUAD))
    broken["data"][0]["paragraphs"][0]["qas"][1]["answers"] = []
    with pytest.raises(DatasetError) as info:
        load_squad(write(tmp_path / "s.json", json.dumps(broken)))
    assert info.value.field == "data[0].paragraphs[0].qas[1].answers"


def test_a_conflict_line_missing_its_original_answer_is_named(tmp_path: Path) -> None:
    row = {k: v for k, v in CONFLICT.items() if k != "original_answer"}
    path = write(tmp_path / "kc.jsonl", lines(CONFLICT, row))
    with pytest.raises(DatasetError, match="line 2: field 'original_answer': missing"):
        load_conflicts(path)


def test_a_squad_file_with_no_questions_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "s.json", json.dumps({"data": []}))
    with pytest.raises(DatasetError, match="holds no questions"):
        load_squad(path)


def test_grading_uses_f1_at_half_by_default_and_can_require_exact_match() -> None:
    # "Denver" vs "Denver Broncos": precision 1, recall 1/2, F1 = 2/3.
    partial = grade("Denver", ["Denver Broncos"])
    assert partial.f1 == pytest.approx(2 / 3)
    assert (partial.exact_match, partial.correct) == (False, True)
    assert grade("Denver", ["Denver Broncos"], F1AtLeast(0.8)).correct is False
    assert grade("Denver", ["Denver Broncos"], ExactMatch()).correct is False
    assert grade("the Denver Broncos!", ["Denver Broncos"], ExactMatch()).correct


def test_an_f1_threshold_outside_zero_one_is_refused() -> None:
    with pytest.raises(ValueError, match="F1 threshold must be in"):
        F1AtLeast(0.0)


# The dev data lives next to the checkout, in ../shared/data.
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.mark.skipif(
    not SHARED.is_dir(),
    reason=f"the shared evaluation data is absent (looked in {SHARED})",
)
def test_the_shared_files_load_with_the_counts_their_readme_gives() -> None:
    squad = load_dataset(f"squad:{SHARED / 'squad_dev_v1.1.json'}")
    assert len(squad.items) == 10_565
    assert len(squad.passages()) == 2_067
    conflicts = load_dataset(f"conflicts:{SHARED / 'knowledge_conflicts_dev.jsonl'}")
    assert len(conflicts.items) == 2 * 8_764
