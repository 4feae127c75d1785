"""``iter_log_lines`` (chunked reads) against the plain line-by-line reading it replaced.

Real data: ../shared/data/autotvm/nnfusion_osdi20/all_tuned_topi_dense.1000.log
(microsoft/nnfusion @ 4d652edd49c4), with blank, comment, CRLF and unterminated lines
added; read whole, gzipped, and in byte ranges, with chunks smaller than a line.
"""
from __future__ import annotations

import gzip
from pathlib import Path

import pytest

import adatune.records.lines as reader
from _shared_data import DATA, require_shared
from adatune.records import ReadSummary
from adatune.records.lines import iter_log_lines

DENSE = DATA / "autotvm" / "nnfusion_osdi20" / "all_tuned_topi_dense.1000.log"

pytestmark = require_shared(DENSE)


def _reference(path: Path, start: int = 0, end=None):
    """The per-line loop the reader used before chunked reads."""
    out, n_bytes, blank, comments = [], 0, 0, 0
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        pos = 0
        if start > 0:
            f.seek(start - 1)
            pos = start - 1 + len(f.readline())
        for lineno, raw in enumerate(f, 1):
            if end is not None and pos >= end:
                break
            pos += len(raw)
            n_bytes += len(raw)
            line = raw.strip()
            if not line:
                blank += 1
            elif line[:1] == b"#":
                comments += 1
            else:
                out.append((lineno, line))
    return out, n_bytes, blank, comments


def _read(path: Path, start: int = 0, end=None):
    summary = ReadSummary()
    seen = []
    lines = list(iter_log_lines(path, summary, seen.append, start, end))
    assert sum(seen) == summary.bytes_read
    return lines, summary.bytes_read, summary.blank, summary.comments


@pytest.fixture
def log(tmp_path):
    real = DENSE.read_bytes().split(b"\n")[:60]
    parts = [b"# header", b""] + real[:20] + [b"   ", b"# mid"] \
        + [r + b"\r" for r in real[20:40]] + [b""] * 3 + real[40:]
    path = tmp_path / "mixed.log"
    path.write_bytes(b"\n".join(parts).rstrip(b"\n"))  # last line unterminated
    return path


@pytest.mark.parametrize("chunk", [7, 100, 4096, 1 << 20])
def test_whole_file_and_ranges_match_line_reading(log, monkeypatch, chunk):
    monkeypatch.setattr(reader, "_READ_CHUNK", chunk)
    assert _read(log) == _reference(log)
    data = log.read_bytes()
    size = len(data)
    line_start = data.index(b"\n", size // 4) + 1  # a cut exactly at a line's start
    cuts = [0, 1, 57, size // 5, line_start, size // 2, size - 5, size]
    for a, b in zip(cuts, cuts[1:]):
        assert _read(log, a, b) == _reference(log, a, b), (a, b)
    # ranges tile the file: every line read exactly once
    got = [line for a, b in zip(cuts, cuts[1:]) for _, line in _read(log, a, b)[0]]
    assert got == [line for _, line in _reference(log)[0]]


def test_gzip_and_real_file(log, tmp_path, monkeypatch):
    monkeypatch.setattr(reader, "_READ_CHUNK", 333)
    gz = tmp_path / "mixed.log.gz"
    gz.write_bytes(gzip.compress(log.read_bytes()))
    assert _read(gz) == _reference(gz)
    assert _read(DENSE) == _reference(DENSE)
    assert len(_read(DENSE)[0]) > 500
