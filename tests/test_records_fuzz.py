"""Fuzzing the log readers: random, truncated and mutated lines never crash a read, and
every physical line is accounted for exactly once (kept, rejected, comment or blank).

Valid lines come from the shared real log
../shared/data/autotvm/nnfusion_osdi20/all_tuned_topi_dense.1000.log (microsoft/nnfusion
@ 4d652edd49c4, AutoTVM v0.1) and their v0.2 re-encodings.
"""
from __future__ import annotations

import json
from dataclasses import replace

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


def _check_plain(line: str) -> bool:
    """decode_plain's contract on one line; True when the line was taken as plain."""
    from adatune.records.formats.autotvm import decode_plain

    fields = decode_plain(line.encode("utf-8"))
    if fields is None:
        return False
    record = decode(line)  # must not raise
    assert fields[:5] == (record.target, record.task_name, record.args, record.entity,
                          record.error_no)
    assert all(type(c) is float for c in fields[5])
    if record.error_no == 0:
        assert tuple(fields[5]) == record.costs
    # plain: nothing beyond the fields (no kwargs, no extras, no template key)
    assert set(record.extra) <= {"kwargs", "workload"} and not record.extra.get("kwargs")
    assert record.template_key in ("", None) or record.version == 0.1
    scalar = (int, float, str, bool, type(None))
    for name, kind, value in record.entity:
        assert isinstance(value, scalar) or all(isinstance(v, scalar) for v in value)
    return True


@settings(max_examples=300, deadline=None)
@given(line=line_st)
def test_plain_decode_takes_only_plain_lines_that_decode_accepts(line):
    """decode_plain (the featurizer's fast path) never takes a line decode refuses, and
    agrees with decode on every line it takes."""
    _check_plain(line)


def _variants():
    """Valid and invalid lines at the edge of plain, from a real v0.1 line and its v0.2
    re-encoding."""
    v01, v02 = json.loads(VALID[0]), json.loads(VALID[len(VALID) - 1])
    out = []

    def variant(base, fn):
        obj = json.loads(json.dumps(base))
        fn(obj)
        out.append(json.dumps(obj))

    for fn in [lambda o: o["i"].__setitem__(3, {"layout": "NCHW"}),       # kwargs
               lambda o: o.__setitem__("adatune", {"note": 1}),            # extras
               lambda o: o["r"].__setitem__(0, [1, 2]),                    # int costs
               lambda o: o["i"][5].__setitem__("e", [["k", "sp", [1, [2]]]]),  # nested
               lambda o: o["i"][5].__setitem__("e", [["k", "ot", {"a": 1}]]),
               lambda o: o["i"][5].__setitem__("i", True),
               lambda o: o["i"][5].__setitem__("t", 3)]:
        variant(v01, fn)
    for fn in [lambda o: o.__setitem__("adatune", {"template_key": "direct"}),
               lambda o: o.__setitem__("adatune", {"ms_trace": [[], []]}),
               lambda o: o.__setitem__("version", True),
               lambda o: o.__setitem__("tvm_version", 27),
               lambda o: o["config"].__setitem__("code_hash", 7),
               lambda o: o["result"].__setitem__(1, -1)]:
        variant(v02, fn)
    return out


def test_plain_decode_refuses_the_edges_of_plain():
    assert _check_plain(VALID[0]) and _check_plain(VALID[len(VALID) - 1])
    taken = [line for line in _variants() if _check_plain(line)]
    assert taken == []
