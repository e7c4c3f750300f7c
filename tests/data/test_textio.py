"""Source text files: bytes that are not UTF-8 and lines that are not JSON are errors naming the file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finerouter.data.textio import read_json, read_jsonl, read_text
from finerouter.errors import DataError


def test_non_utf8_bytes_name_the_line_and_byte(tmp_path: Path) -> None:
    path = tmp_path / "prompts.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": "caf\xe9"}\n')
    with pytest.raises(DataError, match=r"prompts\.jsonl' line 2: not UTF-8 text \(byte 0xe9 at offset 19\)"):
        read_text(path)
    with pytest.raises(DataError, match=r"missing\.json' cannot be read"):
        read_json(tmp_path / "missing.json")


def test_jsonl_lines_split_on_newlines_only(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps({"query": "a\u2028b"}, ensure_ascii=False) + "\n\n" + '{"x": 2}\r\n')
    assert read_jsonl(path) == [(1, {"query": "a\u2028b"}), (3, {"x": 2})]
    path.write_text('{"x": 1}\n{"x": \n')
    with pytest.raises(DataError, match=r"rows\.jsonl' line 2: not valid JSON"):
        read_jsonl(path)


def test_generation_prompts_with_bad_bytes_are_an_error_naming_the_line(tmp_path: Path) -> None:
    from finerouter.generate.prompts import read_records

    path = tmp_path / "prompts.jsonl"
    path.write_bytes(b'{"prompt_id": "a", "prompt": "ok"}\n[1, 2]\n{"prompt_id": "b", "prompt": "caf\xe9"}\n')
    with pytest.raises(DataError, match=r"prompts\.jsonl' line 3: not UTF-8 text"):
        read_records(path)
    path.write_text('{"prompt_id": "a", "prompt": "x\u2028y"}\n[1, 2]\n', encoding="utf-8")
    records, bad = read_records(path)
    assert records == [{"prompt_id": "a", "prompt": "x\u2028y"}, [1, 2]] and bad == []  # the list: rejected later
