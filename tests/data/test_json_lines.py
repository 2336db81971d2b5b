"""JSON-lines files, as the item-text and raw-interaction readers read them."""

import pytest

from mde_pyg.data.json_lines import read_json_lines
from mde_pyg.data.raw import read_raw_table
from mde_pyg.errors import DatasetError


def test_objects_with_their_lines_blank_lines_and_a_bom_skipped(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes('\ufeff{"u": 1}\n\n{"u": 2}\n'.encode())
    assert read_json_lines(path) == [(1, {"u": 1}), (3, {"u": 2})]


@pytest.mark.parametrize(
    "content, message",
    [
        (b'{"u": 1}\n{oops\n', r"a.jsonl' line 2: invalid JSON"),
        (b'{"u": 1}\n[1, 2]\n', r"a.jsonl' line 2: expected a JSON object"),
        (b'{"u": "\xff"}\n', r"a.jsonl': not readable as UTF-8 text"),
    ],
)
def test_bad_lines_name_the_file_and_line(tmp_path, content, message):
    path = tmp_path / "a.jsonl"
    path.write_bytes(content)
    with pytest.raises(DatasetError, match=message):
        read_json_lines(path)
    # The raw-interaction reader reports the same.
    with pytest.raises(DatasetError, match=message):
        read_raw_table(path, ["u"])
