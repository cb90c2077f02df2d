"""Reading labeled CSV/TSV files: every user mistake names the file, line and column."""

import pytest

from lmforge.classic import check_known_labels, read_labeled
from lmforge.errors import ConfigError, DataError


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def test_csv_with_quotes_and_multiline_fields(tmp_path):
    path = write(tmp_path, "d.csv", 'id,text,label\n1,"Hello, world",pos\n2,"two\nlines",neg\n3,plain,pos\n')
    data = read_labeled(path, "text", "label")
    assert data.texts == ["Hello, world", "two\nlines", "plain"]
    assert data.labels == ["pos", "neg", "pos"] and data.lines == [2, 3, 5]


def test_tsv_without_header_keeps_quotes(tmp_path):
    path = write(tmp_path, "d.txt", 'He said "great"\t1\nmeh\u0085ok\t0\n')
    data = read_labeled(path, "0", "1", header=False)
    assert data.texts == ['He said "great"', "meh\u0085ok"] and data.labels == ["1", "0"] and data.lines == [1, 2]


@pytest.mark.parametrize(
    "content,kwargs,message",
    [
        ("text,label\nfine,pos\n", {"text_col": "review"}, r"d\.csv: line 1: no column 'review' in the header "
                                                            r"\(columns: text, label\)"),
        ("text,label\nfine,pos\n\nmore,neg\n", {}, r"d\.csv: line 3: empty row"),
        ("text,label\nfine,pos\n   ,neg\n", {}, r"d\.csv: line 3: column 'text' is empty"),
        ("text,label\nfine,\n", {}, r"d\.csv: line 2: column 'label' is empty"),
        ("text,label\nfine,pos\nno label here\n", {}, r"d\.csv: line 3: column 'label' missing \(row has 1 fields"),
        ("text,label\n", {}, r"d\.csv: no examples after the header"),
        ("", {}, r"d\.csv: the file is empty"),
        ('text,label\n"unclosed,pos\n', {}, r"d\.csv: line \d+: malformed CSV|column 'label' missing"),
    ],
)  # fmt: skip
def test_errors_name_file_line_and_column(tmp_path, content, kwargs, message):
    path = write(tmp_path, "d.csv", content)
    args = {"text_col": "text", "label_col": "label", **kwargs}
    with pytest.raises(DataError, match=message):
        read_labeled(path, **args)


def test_bad_bytes_column_index_and_unknown_labels(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"text,label\ncaf\xe9,pos\n")
    with pytest.raises(DataError, match=r"bad\.csv: byte offset 14 \(line 2\)"):
        read_labeled(bad, "text", "label")
    with pytest.raises(ConfigError, match="0-based numbers"):
        read_labeled(write(tmp_path, "x.tsv", "a\tb\n"), "text", "1", header=False)
    with pytest.raises(DataError, match="not found"):
        read_labeled(tmp_path / "missing.csv", "text", "label")
    data = read_labeled(write(tmp_path, "e.csv", "text,label\nok,pos\nhm,maybe\n"), "text", "label")
    with pytest.raises(DataError, match=r"e\.csv: line 3: column 'label': unknown label 'maybe' "
                                        r"\(the model knows: neg, pos\)"):  # fmt: skip
        check_known_labels(data, ["neg", "pos"])
