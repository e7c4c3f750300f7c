"""dcrouter-json: ids unique per file, sources from file names, bad text rejected row by row, bad files named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finerouter.data.importers import run_importer
from finerouter.data.importers.dcrouter_json import source_from_name
from finerouter.data.splits import SplitConfig
from finerouter.data.table import RoutingTable
from finerouter.errors import DataError


def write(path: Path, records: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records))
    return path


def test_files_of_the_same_name_in_different_folders_never_share_prompts(tmp_path: Path) -> None:
    write(tmp_path / "a" / "train.json", [{"question": "What is 2+2?", "scores": {"m1": 1.0}}])
    write(tmp_path / "b" / "train.json", [{"question": "Capital of France?", "scores": {"m1": 0.0, "m2": 0.9}}])
    raw = run_importer("dcrouter-json", [tmp_path])
    assert list(raw.prompts["prompt_id"]) == ["a/train.json/000000", "b/train.json/000000"]
    table = RoutingTable.build(raw, SplitConfig(dev_from_train=0))
    assert table.manifest["counts"]["prompts"] == {"in": 2, "kept": 2, "rejected": 0}
    quality = table.outcomes.merge(table.prompts, on="prompt_id").set_index(["prompt", "model"])["quality"]
    assert quality.to_dict() == {
        ("What is 2+2?", "m1"): 1.0,
        ("Capital of France?", "m1"): 0.0,
        ("Capital of France?", "m2"): 0.9,  # stays with its own question
    }
    assert dict(zip(table.prompts["prompt"], table.prompts["source"], strict=True)) == {
        "What is 2+2?": "a",
        "Capital of France?": "b",
    }


def test_two_sources_with_the_same_layout_keep_distinct_ids(tmp_path: Path) -> None:
    first = write(tmp_path / "x" / "data" / "train.json", [{"question": "q1", "scores": {"m": 1.0}}])
    second = write(tmp_path / "y" / "data" / "train.json", [{"question": "q2", "scores": {"m": 0.0}}])
    raw = run_importer("dcrouter-json", [first.parent, second.parent])
    assert list(raw.prompts["prompt_id"]) == ["x/data/train.json/000000", "y/data/train.json/000000"]
    assert list(raw.prompts["source"]) == ["data", "data"]


def test_source_comes_from_the_file_name_unless_the_record_gives_one(tmp_path: Path) -> None:
    write(tmp_path / "mmlu_test.json", [{"question": "q1", "scores": {"m": 1.0}}])
    write(tmp_path / "gsm8k-train.json", [{"question": "q2", "scores": {"m": 1.0}, "task_name": "gsm8k-hard"}])
    raw = run_importer("dcrouter-json", [tmp_path])
    assert dict(zip(raw.prompts["prompt"], raw.prompts["source"], strict=True)) == {"q1": "mmlu", "q2": "gsm8k-hard"}
    assert dict(zip(raw.prompts["prompt"], raw.prompts["split"], strict=True)) == {"q1": "test", "q2": "train"}
    assert source_from_name(Path("nq-val.json")) == "nq"
    assert source_from_name(Path("scores.json")) == "scores"
    assert source_from_name(Path("train.json")) is None  # nothing but a split word: no source to give


def test_the_real_layout_gets_per_file_ids_and_no_invented_source(shared_data: Path) -> None:
    raw = run_importer("dcrouter-json", [shared_data / "llmrouter/data/dcrouter_preprocessed"])
    assert raw.prompts["prompt_id"].is_unique and len(raw.prompts) == 5608 + 500
    assert raw.prompts["prompt_id"].str.startswith(("train.json/", "test.json/")).all()
    assert raw.prompts["source"].isna().all()  # train.json / test.json name no benchmark


def test_a_lone_surrogate_in_a_question_is_a_rejected_row(tmp_path: Path) -> None:
    # a JSON "\ud800" escape decodes to a lone surrogate, which UTF-8 (and Parquet) cannot hold
    (tmp_path / "train.json").write_text(
        '[{"question": "bad \\ud800 text", "scores": {"m": 1.0}}, {"question": "good", "scores": {"m": 0.5}}]'
    )
    table = RoutingTable.build(run_importer("dcrouter-json", [tmp_path]), SplitConfig(dev_from_train=0))
    assert list(table.prompts["prompt"]) == ["good"]
    rejected = table.rejected.set_index("table")["reason"]
    assert rejected["prompts"].startswith("prompt is not valid Unicode: lone surrogate '\\ud800' at character 4")
    assert rejected["outcomes"].startswith("its prompt was rejected: prompt is not valid Unicode")
    table.save(tmp_path / "table")  # no UnicodeEncodeError
    assert RoutingTable.load(tmp_path / "table").manifest["counts"]["prompts"]["rejected"] == 1


def test_non_utf8_bytes_and_broken_json_name_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "latin1.json").write_bytes(b'[{"question": "caf\xe9", "scores": {"m": 1}}]')
    with pytest.raises(DataError, match=r"latin1\.json' line 1: not UTF-8 text \(byte 0xe9 at offset 18\)"):
        run_importer("dcrouter-json", [tmp_path / "latin1.json"])
    (tmp_path / "cut.json").write_text('[\n{"question": "q", "scores": {"m": 1}},\n{"quest')
    with pytest.raises(DataError, match=r"not a readable JSON file: '.*cut\.json' line 3 column 2: not valid JSON"):
        run_importer("dcrouter-json", [tmp_path / "cut.json"])


def _llmrouter_layout(root: Path, query_lines: list[str]) -> Path:
    data = root / "data"
    for split in ("train", "test"):
        write(data / "dcrouter_preprocessed" / f"{split}.json", [{"question": "q", "scores": {"m": 1.0}}])
        (data / "example_data" / "query_data").mkdir(parents=True, exist_ok=True)
        (data / "example_data" / "query_data" / f"default_query_{split}.jsonl").write_text("\n".join(query_lines))
    write(data / "example_data" / "llm_candidates" / "default_llm.json", {"m": {"input_price": 1, "output_price": 2}})
    return root


def test_llmrouter_query_lines_that_are_not_objects_name_the_file_and_line(tmp_path: Path) -> None:
    good = _llmrouter_layout(tmp_path / "good", ['{"query": "q", "task_name": "mmlu"}'])
    assert list(run_importer("llmrouter", [good]).prompts["source"]) == ["mmlu", "mmlu"]
    bad = _llmrouter_layout(tmp_path / "bad", ['{"query": "q", "task_name": "mmlu"}', '["q", "mmlu"]'])
    with pytest.raises(DataError, match=r"default_query_train\.jsonl' line 2: a JSON list, not an object"):
        run_importer("llmrouter", [bad])
