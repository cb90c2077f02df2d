"""Streaming tokenization into shards: same ids as the in-memory path, resumable, worker-count independent."""

import json
import sys

import numpy as np
import pytest

from lmforge.data import stream
from lmforge.data.sampler import RandomWindowSampler
from lmforge.data.shards import TokenFiles, load_meta, open_shards, prepare
from lmforge.data.stream import StreamOptions, prepare_stream
from lmforge.errors import DataError
from lmforge.tokenizers import train_tokenizer

LINES = ["To be, or not to be: that is the question.", "    Whether 'tis nobler in the mind to suffer",
         "    The slings and arrows of outrageous fortune,", "", "Or to take arms against a sea of troubles;"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Three text files (one of them long enough for many 256-byte chunks) and a BPE tokenizer."""
    root = tmp_path_factory.mktemp("corpus")
    texts = ["\n".join(LINES[i:] + LINES[:i]) * (3 + 20 * (i == 1)) + "\n" for i in range(3)]
    files = []
    for i, text in enumerate(texts):
        files.append(root / f"doc{i}.txt")
        files[-1].write_text(text, encoding="utf-8")
    tok = train_tokenizer("bpe", "".join(texts), 330)  # merges "\n   ": a cut after any newline would change ids
    tok.save(root / "tok.json")
    return files, tok, root / "tok.json"


def _ids(out, split):
    return np.concatenate(open_shards(out, split)).astype(np.int64)


def test_streamed_shards_equal_the_in_memory_path(tmp_path, corpus):
    files, tok, tok_path = corpus
    reference = prepare(files, tok, tok_path, tmp_path / "mem", shard_tokens=500)
    result = prepare_stream(files, tok_path, tmp_path / "stream", shard_tokens=500,
                            options=StreamOptions(chunk_bytes=256))  # many chunks per file: cut between lines
    assert result.meta == reference  # shard files, token and byte counts, dtype, sources
    for split in ("train", "val"):
        np.testing.assert_array_equal(_ids(tmp_path / "stream", split), _ids(tmp_path / "mem", split))
    assert all(len(s) == 500 for s in open_shards(tmp_path / "stream", "train")[:-1])  # fixed-size shards
    leftovers = [tmp_path / "stream" / name for name in (stream.PARTS_DIR, stream.STATE_FILE)]
    assert not any(p.exists() for p in leftovers)


def test_jsonl_and_parquet_records_are_documents(tmp_path, corpus):
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    _, tok, tok_path = corpus
    docs = [" ".join(LINES[i:]) for i in range(len(LINES))] * 4
    (tmp_path / "a.jsonl").write_text("".join(json.dumps({"id": i, "text": d}) + "\n" for i, d in enumerate(docs)))
    pq.write_table(pa.table({"body": docs, "n": list(range(len(docs)))}), tmp_path / "b.parquet", row_group_size=3)
    result = prepare_stream([tmp_path / "a.jsonl", tmp_path / "b.parquet"], tok_path, tmp_path / "out",
                            options=StreamOptions(field="text", column="body"))
    expected = [i for d in docs * 2 for i in tok.encode(d) + [tok.eos_id]]
    got = np.concatenate([_ids(tmp_path / "out", "train"), _ids(tmp_path / "out", "val")])
    assert got.tolist() == expected and result.skipped == 0


def test_kill_and_resume_gives_identical_shards(tmp_path, corpus, monkeypatch):
    files, _, tok_path = corpus
    whole = prepare_stream(files, tok_path, tmp_path / "whole", shard_tokens=400)

    real_tokenize, calls = stream.tokenize_file, []

    def dies_on_the_third_file(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 3:
            raise KeyboardInterrupt  # a kill mid-way: two files are done, the third is not
        return real_tokenize(*args, **kwargs)

    monkeypatch.setattr(stream, "tokenize_file", dies_on_the_third_file)
    with pytest.raises(KeyboardInterrupt):
        prepare_stream(files, tok_path, tmp_path / "resumed", shard_tokens=400)
    out = tmp_path / "resumed"
    assert not (out / "meta.json").exists() and not list(out.glob("*.bin"))  # nothing training could read
    with pytest.raises(DataError, match="lmforge prepare"):
        load_meta(out)
    assert len(json.loads((out / stream.STATE_FILE).read_text())["files"]) == 2

    calls.clear()
    resumed = prepare_stream(files, tok_path, out, shard_tokens=400)
    assert calls == [files[2]]  # only the unfinished file is tokenized again
    assert resumed.meta == whole.meta
    for name in whole.meta.train.files + whole.meta.val.files:
        assert (out / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()


def test_two_workers_write_what_one_does(tmp_path, corpus):
    files, _, tok_path = corpus
    one = prepare_stream(files, tok_path, tmp_path / "w1", shard_tokens=300, workers=1)
    two = prepare_stream(files, tok_path, tmp_path / "w2", shard_tokens=300, workers=2)
    assert one.meta.train == two.meta.train and one.meta.val == two.meta.val
    for name in one.meta.train.files + one.meta.val.files:
        assert (tmp_path / "w1" / name).read_bytes() == (tmp_path / "w2" / name).read_bytes()


def test_training_reads_streamed_shards_through_memmaps(tmp_path, corpus):
    files, _, tok_path = corpus
    prepare_stream(files, tok_path, tmp_path / "out", shard_tokens=300)
    shards = open_shards(tmp_path / "out", "train")
    assert all(isinstance(s, np.memmap) for s in shards)
    x, y = RandomWindowSampler(shards, block_size=16, batch_size=4, seed=0).next_batch()
    assert x.shape == y.shape == (4, 16) and (x[:, 1:] == y[:, :-1]).all()


def test_bad_jsonl_line_names_file_and_line_or_is_skipped_and_counted(tmp_path, corpus):
    _, _, tok_path = corpus
    bad = tmp_path / "bad.jsonl"
    rows = [{"text": "good " * 20}, "not json {", {"body": "no text field"}, {"text": "also good " * 20}]
    bad.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    with pytest.raises(DataError, match=r"bad\.jsonl:2: not a JSON line"):
        prepare_stream([bad], tok_path, tmp_path / "out")
    bad.write_text(bad.read_text().replace("not json {\n", ""))
    with pytest.raises(DataError, match=r"bad\.jsonl:2: no string field 'text' \(keys: body\)"):
        prepare_stream([bad], tok_path, tmp_path / "out")
    result = prepare_stream([bad], tok_path, tmp_path / "out", options=StreamOptions(skip_bad=True))
    assert result.skipped == 1 and result.meta.train.tokens > 0


def test_unreadable_parquet_and_bad_text_are_one_line(tmp_path, corpus):
    pytest.importorskip("pyarrow")
    _, _, tok_path = corpus
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DataError, match=r"broken\.parquet: not a readable parquet file"):
        prepare_stream([tmp_path / "broken.parquet"], tok_path, tmp_path / "out")
    (tmp_path / "latin1.txt").write_bytes(b"To be, or not\n\xe9tre")
    with pytest.raises(DataError, match=r"byte offset 14 \(line 2\)"):
        prepare_stream([tmp_path / "latin1.txt"], tok_path, tmp_path / "out")
    (tmp_path / "notes.csv").write_text("a,b\n")
    with pytest.raises(DataError, match="unsupported file type '.csv'"):
        prepare_stream([tmp_path / "notes.csv"], tok_path, tmp_path / "out")


def test_parts_are_read_by_global_range_in_slices(tmp_path):
    ids = np.arange(25, dtype=np.uint16)
    ids[:10].tofile(tmp_path / "a.bin")
    ids[10:].tofile(tmp_path / "b.bin")
    parts = TokenFiles([tmp_path / "a.bin", tmp_path / "b.bin"], [10, 15], np.dtype(np.uint16))
    for a, b in [(0, 25), (3, 17), (10, 11), (9, 10), (12, 25)]:
        slices = list(parts.ranges(a, b, step=4))
        assert all(len(s) <= 4 for s in slices)
        assert np.concatenate(slices).tolist() == list(range(a, b))


def test_prepare_command_streams_jsonl_and_reports_skipped_lines(tmp_path, corpus, capsys):
    from lmforge.cli.main import run

    _, _, tok_path = corpus
    rows = [json.dumps({"body": " ".join(LINES)})] * 6
    (tmp_path / "a.jsonl").write_text("\n".join(rows) + "\n")
    (tmp_path / "b.jsonl").write_text("\n".join([*rows, "{broken"]) + "\n")
    args = ["prepare", str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"), "--tokenizer", str(tok_path),
            "--out", str(tmp_path / "d"), "--field", "body", "--workers", "2"]
    assert run(args) == 2  # raised in a worker process, reported by the command in one line
    assert "b.jsonl:7: not a JSON line" in capsys.readouterr().err
    assert run([*args, "--skip-bad"]) == 0
    assert "skipped 1 bad records" in " ".join(capsys.readouterr().out.split())  # rich wraps long lines
    assert load_meta(tmp_path / "d").train.tokens > 0


def test_changed_inputs_start_over_instead_of_mixing_runs(tmp_path, corpus, monkeypatch):
    files, _, tok_path = corpus
    inputs = [tmp_path / f.name for f in files]
    for src, dst in zip(files, inputs, strict=True):
        dst.write_bytes(src.read_bytes())
    real_tokenize = stream.tokenize_file

    def dies_on_the_last_file(path, *args, **kwargs):
        if path == inputs[-1]:
            raise KeyboardInterrupt
        return real_tokenize(path, *args, **kwargs)

    monkeypatch.setattr(stream, "tokenize_file", dies_on_the_last_file)
    with pytest.raises(KeyboardInterrupt):
        prepare_stream(inputs, tok_path, tmp_path / "out")
    monkeypatch.setattr(stream, "tokenize_file", real_tokenize)
    inputs[0].write_text("A different first document.\n" * 30)  # changed after its part was written
    resumed = prepare_stream(inputs, tok_path, tmp_path / "out")
    fresh = prepare_stream(inputs, tok_path, tmp_path / "fresh")
    assert resumed.meta.train == fresh.meta.train and resumed.meta.val == fresh.meta.val
    for name in fresh.meta.train.files:
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "fresh" / name).read_bytes()


def _text_chunks(path, chunk_bytes):
    return [text for text, _, _ in stream._text_pieces(path, StreamOptions(chunk_bytes=chunk_bytes))]


def test_crlf_text_is_cut_before_the_carriage_return_with_the_whole_files_ids(tmp_path):
    crlf = tmp_path / "windows.txt"
    crlf.write_bytes("".join(line + "\r\n" for line in (LINES[0], LINES[4]) * 40).encode())
    chunks = _text_chunks(crlf, 256)
    assert len(chunks) > 10 and max(len(c) for c in chunks) <= 2 * 256  # cut as it reads, not read whole
    assert all(c.endswith(tuple(".;")) for c in chunks[:-1])  # each one just before a "\r\n"
    for kind in ("char", "bpe"):  # the BPE merges "\r\n": a cut after it would change ids
        tok = train_tokenizer(kind, crlf.read_bytes().decode() + "\r\n" * 50, 300 if kind == "bpe" else None)
        assert kind == "char" or len(tok.encode("\r\n")) == 1
        tok.save(tmp_path / f"{kind}.json")
        reference = prepare([crlf], tok, tmp_path / f"{kind}.json", tmp_path / f"mem-{kind}")
        prepare_stream([crlf], tmp_path / f"{kind}.json", tmp_path / f"stream-{kind}",
                       options=StreamOptions(chunk_bytes=256))
        assert load_meta(tmp_path / f"stream-{kind}") == reference
        for split in ("train", "val"):
            np.testing.assert_array_equal(_ids(tmp_path / f"stream-{kind}", split),
                                          _ids(tmp_path / f"mem-{kind}", split))


def test_text_without_a_safe_cut_is_still_read_in_bounded_pieces(tmp_path):
    indented, one_line = tmp_path / "indented.txt", tmp_path / "one_line.txt"
    indented.write_text("".join(f"    line {i}\n" for i in range(400)), encoding="utf-8")
    one_line.write_text("é" * 3000, encoding="utf-8")  # 2-byte characters: cut between them, never inside
    for path in (indented, one_line):
        chunks = _text_chunks(path, 64)
        assert len(chunks) > 5 and max(len(c.encode()) for c in chunks) <= (stream.MAX_UNCUT_CHUNKS + 1) * 64
        assert "".join(chunks) == path.read_text(encoding="utf-8")
    assert all(c.endswith("\n") for c in _text_chunks(indented, 64)[:-1])  # after the last newline read


def test_reprepare_with_the_directorys_own_tokenizer_keeps_it(tmp_path, corpus):
    files, _, tok_path = corpus
    first = prepare_stream(files, tok_path, tmp_path / "d", shard_tokens=500)
    tok_bytes = (tmp_path / "d" / "tokenizer.json").read_bytes()
    again = prepare_stream(files, tmp_path / "d" / "tokenizer.json", tmp_path / "d", val_fraction=0.2, shard_tokens=500)
    assert (tmp_path / "d" / "tokenizer.json").read_bytes() == tok_bytes
    assert load_meta(tmp_path / "d") == again.meta and again.meta.val.tokens > first.meta.val.tokens


def test_parquet_without_pyarrow_is_one_line_before_anything_is_touched(tmp_path, corpus, monkeypatch):
    files, _, tok_path = corpus
    prepare_stream(files, tok_path, tmp_path / "d", shard_tokens=500)
    before = sorted(p.name for p in (tmp_path / "d").iterdir())
    (tmp_path / "rows.parquet").write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if the [scale] extra were not installed
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(DataError, match=r"^parquet input needs pyarrow: pip install 'lmforge\[scale\]'$"):
        prepare_stream([*files, tmp_path / "rows.parquet"], tok_path, tmp_path / "d")
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == before  # meta.json still there


def test_a_listed_shard_of_the_wrong_size_is_rewritten_and_listed_once(tmp_path, corpus):
    files, _, tok_path = corpus
    prepare_stream(files, tok_path, tmp_path / "ref", shard_tokens=300)
    out = tmp_path / "out"
    out.mkdir()
    parts = TokenFiles([tmp_path / "ref" / n for n in ("train_000.bin",)], [300], np.dtype(np.uint16))
    state = {"shards": ["train_000.bin"]}
    (out / "train_000.bin").write_bytes(b"\0\0")  # listed, but cut short
    assert stream._assemble(parts, out, "train", 0, 300, 300, state) == ["train_000.bin"]
    assert state["shards"] == ["train_000.bin"]
    assert (out / "train_000.bin").read_bytes() == (tmp_path / "ref" / "train_000.bin").read_bytes()


def test_prepare_command_refuses_zero_shard_tokens(tmp_path, corpus, capsys):
    from lmforge.cli.main import run

    files, _, tok_path = corpus
    args = ["prepare", str(files[0]), "--tokenizer", str(tok_path), "--out", str(tmp_path / "d"), "--shard-tokens"]
    assert run([*args, "0"]) == 2  # not the 100M default
    assert "shard_tokens and chunk_bytes must be positive (got 1, 0," in capsys.readouterr().err
    assert not (tmp_path / "d").exists()
