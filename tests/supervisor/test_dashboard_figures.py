"""The dashboard's figures on a small constructed history, against values worked out by hand."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

from responder.dashboard import (
    CorrectionRow,
    MessageRow,
    Period,
    dashboard_tables,
    in_period,
    median_edit_distance,
    most_corrected,
    outcome_shares,
    outcome_shares_by_snippet,
    percentile,
    review_time_by_person,
    sla_breaches,
    sla_by_intent,
    timing_summary,
    volume_by,
    volume_by_day,
)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


RT, BILL = "intents/roaming", "intents/billing_dispute"
HISTORY = [
    # approved unchanged in time: 2 min to draft, 8 min to approval
    MessageRow(
        1, "email", "roaming", at(2, 9), at(2, 9, 2), at(2, 9, 10), "approved", RT, None, at(2, 10)
    ),
    # edited (12 chars) and approved 10 minutes after it was due
    MessageRow(
        2,
        "email",
        "roaming",
        at(2, 10),
        at(2, 10, 4),
        at(2, 10, 30),
        "edited",
        RT,
        12,
        at(2, 10, 20),
    ),
    # rejected after the due time: a rejection is not a late answer
    MessageRow(
        3,
        "whatsapp",
        "billing_dispute",
        at(3, 8),
        at(3, 8, 1),
        at(3, 8, 20),
        "rejected",
        BILL,
        None,
        at(3, 8, 10),
    ),
    # edited (30 chars) in time
    MessageRow(
        4,
        "whatsapp",
        "billing_dispute",
        at(3, 9),
        at(3, 9, 6),
        at(3, 9, 20),
        "edited",
        BILL,
        30,
        at(3, 12),
    ),
    # still waiting, due an hour before "now"
    MessageRow(5, "email", "roaming", at(4, 12), at(4, 12, 3), None, None, RT, None, at(4, 13)),
    # no draft yet, no due time
    MessageRow(6, "email", "other", at(4, 12, 30)),
]
NOW = at(4, 14)
CORRECTIONS = [
    CorrectionRow(1, "email", "intent", "roaming", "billing_dispute", at(2, 9, 5)),
    CorrectionRow(3, "whatsapp", "intent", "billing_dispute", "other", at(3, 8, 5)),
    CorrectionRow(3, "whatsapp", "intent", "other", "complaint", at(3, 8, 6)),  # same message
    CorrectionRow(4, "whatsapp", "intent", "roaming", "billing_dispute", at(3, 9, 7)),
    CorrectionRow(4, "whatsapp", "sentiment", "neutral", "negative", at(3, 9, 8)),
]


def test_volume_by_day_channel_and_intent() -> None:
    assert volume_by_day(HISTORY) == [("2026-11-02", 2), ("2026-11-03", 2), ("2026-11-04", 2)]
    assert volume_by(HISTORY, lambda r: r.channel) == [("email", 4), ("whatsapp", 2)]
    assert volume_by(HISTORY, lambda r: r.intent) == [
        ("roaming", 3),
        ("billing_dispute", 2),
        ("other", 1),
    ]


def test_outcome_shares_overall_and_per_template() -> None:
    [overall] = outcome_shares(HISTORY)
    assert overall["decided"] == 4
    assert (overall["approved"], overall["edited"], overall["rejected"]) == (1, 2, 1)
    assert (overall["approved_share"], overall["edited_share"], overall["rejected_share"]) == (
        0.25,
        0.5,
        0.25,
    )
    per_template = {e["group"]: e for e in outcome_shares(HISTORY, lambda r: r.template)}
    assert per_template[BILL]["edited_share"] == 0.5
    assert per_template[BILL]["rejected_share"] == 0.5
    assert per_template[RT]["approved_share"] == 0.5
    assert per_template[RT]["decided"] == 2


def test_outcome_by_snippet_counts_a_draft_once_for_each_snippet_in_it() -> None:
    history = [
        replace(HISTORY[0], snippets=("roaming-eu", "roaming-tips")),  # approved
        replace(HISTORY[1], snippets=("roaming-eu",)),  # edited
        HISTORY[2],  # rejected, no snippet in its draft
        replace(HISTORY[3], snippets=("bill-explained",)),  # edited
        replace(HISTORY[4], snippets=("roaming-eu",)),  # still waiting: not counted
    ]
    table = {e["group"]: e for e in outcome_shares_by_snippet(history)}
    assert list(table) == ["(no snippet)", "bill-explained", "roaming-eu", "roaming-tips"]
    assert (table["roaming-eu"]["decided"], table["roaming-eu"]["approved_share"]) == (2, 0.5)
    assert table["roaming-eu"]["edited"] == 1
    assert (table["roaming-tips"]["decided"], table["roaming-tips"]["approved"]) == (1, 1)
    assert table["bill-explained"]["edited_share"] == 1.0
    assert (table["(no snippet)"]["decided"], table["(no snippet)"]["rejected"]) == (1, 1)


def test_median_edit_distance_counts_unchanged_as_zero_and_skips_rejections() -> None:
    # roaming: [0, 12] -> 6; billing: [30] (the rejection has no sent text)
    assert median_edit_distance(HISTORY) == [(BILL, 30.0, 1), (RT, 6.0, 2)]


def test_timings_median_and_p95() -> None:
    to_draft, to_approval = timing_summary(HISTORY)
    # arrival -> draft minutes: 2, 4, 1, 6, 3 -> median 3, p95 (nearest rank 5 of 5) 6
    assert to_draft == {
        "measure": "arrival_to_draft",
        "count": 5,
        "median_minutes": 3.0,
        "p95_minutes": 6.0,
    }
    # draft -> approval minutes (approved or edited only): 8, 26, 14 -> median 14, p95 26
    assert to_approval == {
        "measure": "draft_to_approval",
        "count": 3,
        "median_minutes": 14.0,
        "p95_minutes": 26.0,
    }
    assert percentile(list(range(1, 101)), 0.95) == 95


def test_sla_breaches_late_answers_and_overdue_waiting() -> None:
    assert sla_breaches(HISTORY, NOW) == [
        {
            "message_id": 5,
            "channel": "email",
            "intent": "roaming",
            "kind": "still waiting",
            "minutes_late": 60.0,
        },
        {
            "message_id": 2,
            "channel": "email",
            "intent": "roaming",
            "kind": "answered late",
            "minutes_late": 10.0,
        },
    ]
    # The dashboard's chart: breaches counted per intent, the most first, then by name.
    late = [*sla_breaches(HISTORY, NOW), {"intent": None}, {"intent": "billing_dispute"}]
    assert sla_by_intent(late) == [("roaming", 2), ("billing_dispute", 1), ("not classified", 1)]


def test_most_corrected_intents_count_each_message_once() -> None:
    assert most_corrected(CORRECTIONS) == [("roaming", 2), ("billing_dispute", 1)]
    unlabelled = CorrectionRow(7, "email", "intent", "", "roaming", at(4, 9))
    assert most_corrected([*CORRECTIONS, unlabelled])[-1] == ("not classified", 1)


def test_days_are_the_teams_days() -> None:
    """Mail at 01:00 UTC on 3 November came in on 2 November in New York."""
    late = [replace(HISTORY[0], received_at=datetime(2026, 11, 3, 1, 0, tzinfo=UTC))]
    assert volume_by_day(late) == [("2026-11-03", 1)]
    assert volume_by_day(late, "America/New_York") == [("2026-11-02", 1)]
    new_york = Period(start=date(2026, 11, 2), end=date(2026, 11, 2), timezone="America/New_York")
    assert in_period(late, new_york) == late
    assert in_period(late, replace(new_york, timezone="UTC")) == []


def test_filters_by_date_range_and_mailbox() -> None:
    one_day = in_period(HISTORY, Period(start=date(2026, 11, 3), end=date(2026, 11, 3)))
    assert [r.id for r in one_day] == [3, 4]
    tables = dashboard_tables(HISTORY, CORRECTIONS, Period(channel="whatsapp"), NOW)
    assert tables["volume_by_day"].rows == [("2026-11-03", 2)]
    assert tables["outcomes"].rows == [("all", 2, 0, 1, 1, 0.0, 0.5, 0.5)]
    assert tables["sla_breaches"].rows == []
    assert tables["most_corrected"].rows == [("billing_dispute", 1), ("roaming", 1)]
    email_only = dashboard_tables(HISTORY, CORRECTIONS, Period(channel="email"), NOW)
    assert email_only["most_corrected"].rows == [("roaming", 1)]


def test_outcomes_and_review_time_per_person() -> None:
    decided_by = {1: "alice", 2: "alice", 3: "bob", 4: "auto-send"}
    rows = [replace(r, decided_by=decided_by.get(r.id, "")) for r in HISTORY]
    per_person = {e["group"]: e for e in outcome_shares(rows, lambda r: r.decided_by)}
    assert set(per_person) == {"alice", "bob", "auto-send"}
    assert (per_person["alice"]["approved"], per_person["alice"]["edited"]) == (1, 1)
    assert per_person["bob"]["rejected_share"] == 1.0
    # alice: 8 and 26 minutes from draft to decision; bob: 19; auto-send is not a person's time
    assert review_time_by_person(rows) == [
        {"person": "alice", "decided": 2, "median_minutes": 17.0, "p95_minutes": 26.0},
        {"person": "bob", "decided": 1, "median_minutes": 19.0, "p95_minutes": 19.0},
    ]


def test_a_rejection_reopened_and_approved_counts_as_both_decisions() -> None:
    """bob rejected message 1 at 09:05, carol reopened it at 11:00 and alice approved it at
    11:04: one rejection (bob's, 3 minutes after the draft) and one approval (alice's, 4 minutes
    after the reopen), not an approval that took two hours."""
    first = replace(
        HISTORY[0],
        decided_by="alice",
        decided_at=at(2, 11, 4),
        reopened=((at(2, 9, 5), "bob", at(2, 11)),),
    )
    (overall,) = outcome_shares([first])
    assert (overall["decided"], overall["rejected"], overall["approved"]) == (2, 1, 1)
    per_person = {e["group"]: e for e in outcome_shares([first], lambda r: r.decided_by)}
    assert (per_person["alice"]["approved"], per_person["bob"]["rejected"]) == (1, 1)
    assert review_time_by_person([first]) == [
        {"person": "alice", "decided": 1, "median_minutes": 4.0, "p95_minutes": 4.0},
        {"person": "bob", "decided": 1, "median_minutes": 3.0, "p95_minutes": 3.0},
    ]
    assert outcome_shares_by_snippet([replace(first, snippets=("roaming-eu",))])[0]["decided"] == 2
    timings = {t["measure"]: t for t in timing_summary([first])}
    assert timings["draft_to_approval"]["median_minutes"] == 4.0, "from the reopen"
    assert timings["draft_to_approval"]["count"] == 1
    # Due at 10:00, moved on by the 1 h 55 min it spent rejected: answered in time.
    assert sla_breaches([replace(first, due_at=at(2, 11, 55))], NOW) == []


def test_long_labels_widen_the_chart_instead_of_running_off_its_left_edge() -> None:
    import re

    from responder.supervisor.charts import CHAR, bar_chart, share_chart

    long = "retention-offer-best-for-long-standing-customers"
    for svg in (
        bar_chart([(long, 3.0), ("short", 1.0)], "Messages"),
        share_chart(
            [
                {
                    "group": long,
                    "decided": 2,
                    "approved_share": 0.5,
                    "edited_share": 0.5,
                    "rejected_share": 0.0,
                }
            ],
            "Outcome by snippet",
        ),
    ):
        x = float(re.search(r'<text x="([\d.]+)"[^>]*text-anchor="end">', svg).group(1))
        assert x - len(long) * CHAR >= 0, "the label's start stays inside the chart"
    assert 'x="164"' in bar_chart([("short", 1.0)], "Messages"), "short labels keep the default"
