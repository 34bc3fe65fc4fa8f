from __future__ import annotations

from dataclasses import replace

from trace_builders import CNS, CPAM, T0, both_ways, messages, r17_records

from eessi.trace.diff import compare, logical_messages
from eessi.trace.fields import IgnoreRules, field_map


def _other_run() -> list:
    """The same exchange with other IDs (message and case), as a second run makes."""
    return messages(r17_records(case="LU-0000000OTHER", prefix="x"))


def test_same_exchange_with_other_ids_has_no_divergence() -> None:
    result = compare(messages(r17_records()), _other_run())
    assert result.ok
    assert (result.recorded, result.now, result.paired) == (3, 3, 3)


def test_a_changed_field_is_reported_at_its_message_with_both_values() -> None:
    records = r17_records()
    s072_out = records[2]
    changed = s072_out.payload.replace(
        b"<value>01</value>\n  </entitlementConfirmed>",
        b"<value>02</value>\n  </entitlementConfirmed>",
    )
    assert changed != s072_out.payload
    now = [replace(r, payload=changed) if r.sed_type == "S072" else r for r in records]
    result = compare(messages(records), messages(now))
    assert [d.describe() for d in result.divergences] == [
        f"message 3: S072 {CNS} -> {CPAM} (case 1): /S072/entitlementConfirmed/value:"
        " recorded '01', now '02'"
    ]
    d = result.divergences[0]
    assert (d.index, d.field, d.recorded, d.now) == (
        3,
        "/S072/entitlementConfirmed/value",
        "01",
        "02",
    )


def test_missing_and_extra_messages_are_reported() -> None:
    recorded = messages(r17_records())
    now = messages(
        [
            *r17_records()[:4],
            *both_ways("z9", "X009", CNS, CPAM, T0.replace(hour=12), case="LU-00000000CA5E"),
        ]
    )
    result = compare(recorded, now)
    kinds = [(d.kind, d.sed_type) for d in result.divergences]
    assert kinds == [("missing", "S073"), ("extra", "X009")]
    assert result.divergences[0].index == 5
    assert "recorded but not sent now" in result.divergences[0].describe()


def test_volatile_ids_are_ignored_by_default_and_more_can_be_ignored() -> None:
    records = r17_records()
    x = both_ways("a", "X008", CNS, CPAM, T0, seed=1)
    y = both_ways("b", "X008", CNS, CPAM, T0, seed=2)
    result = compare(messages(x), messages(y))
    assert result.divergences
    assert all(d.field != "/X008/InvalidatedSED/sedId" for d in result.divergences)
    fields = {d.field for d in result.divergences}
    ignore = ["//sedId", *(f for f in fields if f is not None)]
    assert compare(messages(x), messages(y), ignore=ignore).ok
    assert compare(messages(records), messages(records), ignore=[]).ok


def test_answers_compared_as_the_referenced_message_not_its_raw_id() -> None:
    records = r17_records()
    wrong = [replace(r, ref_to_message_id="m1") if r.sed_type == "S073" else r for r in records]
    result = compare(messages(records), messages(wrong))
    assert [(d.field, d.recorded, d.now) for d in result.divergences] == [
        (
            "envelope:answers",
            f"S072 {CNS}->{CPAM} case 1 #1",
            f"S071 {CPAM}->{CNS} case 1 #1",
        )
    ]


def test_answers_naming_no_message_of_the_trace_match_each_other_not_a_message() -> None:
    records = r17_records()
    outside = [
        replace(r, ref_to_message_id="elsewhere-1") if r.sed_type == "S073" else r for r in records
    ]
    elsewhere = [
        replace(r, ref_to_message_id="elsewhere-2") if r.sed_type == "S073" else r for r in records
    ]
    assert compare(messages(outside), messages(elsewhere)).ok  # both: not in the trace
    result = compare(messages(records), messages(outside))
    assert [(d.field, d.recorded, d.now) for d in result.divergences] == [
        ("envelope:answers", f"S072 {CNS}->{CPAM} case 1 #1", "(a message not in the trace)")
    ]
    unanswered = [
        replace(r, ref_to_message_id=None) if r.sed_type == "S073" else r for r in records
    ]
    result = compare(messages(unanswered), messages(outside))
    assert [(d.field, d.recorded, d.now) for d in result.divergences] == [
        ("envelope:answers", "", "(a message not in the trace)")
    ]


def test_a_message_recorded_twice_counts_once_preferring_the_senders_record() -> None:
    logical = logical_messages(messages(r17_records()))
    assert [(m.index, m.message.record.direction.value) for m in logical] == [
        (1, "out"),
        (3, "out"),
        (5, "out"),
    ]


def test_field_map_positions_repeated_siblings_and_survives_bad_xml() -> None:
    fields = field_map(b"<a x='1'><b>1</b><b> 2 </b><c/></a>")
    assert fields == {"/a/@x": "1", "/a/b[1]": "1", "/a/b[2]": "2", "/a/c": ""}
    assert list(field_map(b"not xml")) == ["/"]
    rules = IgnoreRules(["//b", "/a/c"])
    assert rules.ignored("/a/b[2]")
    assert rules.ignored("/a/c")
    assert not rules.ignored("/a/@x")
    assert IgnoreRules(["/a/b[2]"]).ignored("/a/b[2]")
    assert not IgnoreRules(["/a/b[2]"]).ignored("/a/b[1]")
