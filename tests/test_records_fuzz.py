"""Fuzzing the log readers: random, truncated and mutated lines never crash a read, and
every physical line is accounted for exactly once (kept, rejected, comment or blank).

Valid lines come from the shared real log
../shared/data/autotvm/nnfusion_osdi20/all_tuned_topi_dense.1000.log (microsoft/nnfusion
@ 4d652edd49c4, AutoTVM v0.1) and their v0.2 re-encodings.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _shared_data import DATA, require_shared
from adatune.records import ReadSummary, RecordError, decode, encode, iter_records

LOG = DATA / "autotvm" / "nnfusion_osdi20" / "all_tuned_topi_dense.1000.log"

pytestmark = require_shared(LOG)


def _valid_lines():
    lines = LOG.read_text().splitlines()[:40]
    # the same records as v0.2 lines
    v02 = [encode(replace(decode(line), version=0.2, extra={})) for line in lines[:20]]
    return lines + v02


VALID = _valid_lines() if LOG.is_file() else ["{}"]


def _classify(line: str) -> str:
    """What the reader must do with one line, decided independently of it."""
    text = line.strip()
    if not text:
        return "blank"
    if text.startswith("#"):
        return "comment"
    try:
        decode(text)
    except RecordError:
        return "rejected"
    return "kept"


def _mutate(line: str, how: int, pos: int, junk: str) -> str:
    pos = pos % (len(line) + 1)
    if how == 0:
        return line[:pos]  # truncated (a crashed writer)
    if how == 1:
        return line[:pos] + junk + line[pos:]  # inserted garbage
    if how == 2:
        return line[:pos] + line[pos + 1:]  # one character lost
    if how == 3:  # a field of the right name with a wrong type
        obj = json.loads(line)
        key = sorted(obj)[pos % len(obj)]
        obj[key] = junk
        return json.dumps(obj)
    return junk  # free text


line_st = st.one_of(
    st.sampled_from(VALID),
    st.builds(_mutate, st.sampled_from(VALID), st.integers(0, 4), st.integers(0, 2000),
              st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                             blacklist_characters="\r\n\x0b\x0c\x1c\x1d"
                                                                  "\x1e\x85\u2028\u2029"),
                      max_size=12)),
    st.sampled_from(["", "   ", "# comment", "#", "null", "[]", "{}", "0", '"str"',
                     '{"i": []}', '{"input": null}', '{"v": 0.1}']),
)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(lines=st.lists(line_st, min_size=1, max_size=25))
def test_fuzzed_logs_are_accounted_exactly(tmp_path, lines):
    path = tmp_path / "fuzz.log"
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
    # what each physical line is, as Python splits the file the same way
    physical = path.read_bytes().split(b"\n")[:-1]
    expected = {"kept": 0, "rejected": 0, "comment": 0, "blank": 0}
    kept_lines = []
    for raw in physical:
        kind = _classify(raw.decode("utf-8"))
        expected[kind] += 1
        if kind == "kept":
            kept_lines.append(raw.decode("utf-8"))
    summary = ReadSummary(max_errors=1000)
    records = list(iter_records(path, summary))
    assert summary.kept == expected["kept"] == len(records)
    assert summary.rejected == expected["rejected"]
    assert summary.comments == expected["comment"]
    assert summary.blank == expected["blank"]
    assert summary.lines_read == len(physical)
    assert sum(summary.rejected_by_reason.values()) == summary.rejected
    assert len(summary.errors) == summary.rejected
    assert records == [decode(line) for line in kept_lines]
    for err in summary.errors:
        assert 1 <= err.line <= len(physical)
        assert _classify(physical[err.line - 1].decode("utf-8")) == "rejected"


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300))
def test_decode_of_arbitrary_bytes_raises_only_record_error(data):
    try:
        record = decode(data)
    except RecordError as err:
        assert err.reason in {"bad_json", "not_object", "unknown_format", "missing_field",
                              "wrong_type", "bad_value"}
    else:
        assert decode(encode(record)) == record


def test_truncations_of_every_valid_line_are_rejected_never_kept_wrongly():
    line = VALID[0]
    for cut in range(0, len(line)):
        text = line[:cut]
        if not text.strip():
            continue
        with pytest.raises(RecordError):
            decode(text)
