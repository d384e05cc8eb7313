"""The value score, tiers and churn risk against hand-computed values."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import msgspec
from sqlalchemy import select

from responder.config import ChurnSettings, ValueSettings
from responder.customers.churn import ChurnSignals, assess_churn
from responder.customers.importer import import_customers
from responder.customers.value import (
    ValueInputs,
    tier_for,
    tier_thresholds,
    value_parts,
    value_score,
)
from responder.db.models import Customer
from responder.runtime import Runtime

TODAY = date(2026, 11, 23)


def test_value_parts_follow_the_configured_formula() -> None:
    settings = ValueSettings()
    parts = value_parts(
        ValueInputs(
            monthly_spend=100.0,
            contract_start="2024-11-23",
            contract_end="2027-05-23",
            lines=3,
            followers=999,
        ),
        settings,
        TODAY,
    )
    # spend 100; projected (100 x 6 months + 10 x 2 extra lines) x 0.05, no upgrade (181 days
    # left); influence 10 x log10(1000); tenure 5 x 730 / 365.25 years.
    assert parts == {
        "monthly_spend": 100.0,
        "projected_spend": 31.0,
        "influence": 30.0,
        "tenure": 9.99,
    }
    assert value_score(parts) == 170.99
    prepaid = value_parts(ValueInputs(monthly_spend=20.0), settings, TODAY)
    # No contract: eligible for an upgrade (50 x 0.05), nothing else projected.
    assert prepaid == {"monthly_spend": 20.0, "projected_spend": 2.5, "influence": 0.0, "tenure": 0}
    heavier = msgspec.structs.replace(settings, weight_monthly_spend=2.0, upgrade_value=0.0)
    assert value_score(value_parts(ValueInputs(monthly_spend=20.0), heavier, TODAY)) == 40.0


def test_tiers_are_percentiles_of_the_score() -> None:
    thresholds = tier_thresholds([10.0, 20.0, 30.0, 40.0, 50.0], ValueSettings())
    # positions ceil(0.8 x 4) = 4, ceil(0.3 x 4) = 2, 0
    assert thresholds == [("Best", 50.0), ("Average", 30.0), ("Worst", 10.0)]
    assert [tier_for(s, thresholds) for s in (50, 40, 30, 20, 10)] == [
        "Best",
        "Average",
        "Average",
        "Worst",
        "Worst",
    ]


def test_import_assigns_configured_tier_names_and_cutoffs(rt: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(
        "external_id,name,monthly_spend\n"
        + "".join(f"T{n},Customer {n},{n * 10}\n" for n in range(1, 5))
    )
    settings = msgspec.structs.replace(
        rt.settings,
        value=ValueSettings(tier_names=["Gold", "Silver", "Bronze"], tier_cutoffs=[0.6, 0.3, 0.0]),
    )
    import_customers(rt.factory, path, settings=settings)
    with rt.factory() as session:
        rows = session.execute(
            select(Customer.external_id, Customer.value_score, Customer.tier).order_by(
                Customer.external_id
            )
        ).all()
    # score: spend + 2.5 (no contract: upgrade value x 0.05); positions ceil(1.8)=2, ceil(0.9)=1
    assert [tuple(r) for r in rows] == [
        ("T1", 12.5, "Bronze"),
        ("T2", 22.5, "Silver"),
        ("T3", 32.5, "Gold"),
        ("T4", 42.5, "Gold"),
    ]


def test_every_churn_reason_and_the_score() -> None:
    settings = ChurnSettings()
    signals = ChurnSignals(
        intent="port_out",
        text="Fabrikam Mobile offered me 30 euro. I'll leave.",
        contacts_in_window=3,
        sentiments=("negative", "negative", "neutral"),
        contract_ends=("2026-12-10",),
        open_case_categories=("billing", "complaint"),
    )
    risk = assess_churn(signals, settings, TODAY)
    assert [(r.code, r.text) for r in risk.reasons] == [
        ("leaving_intent", "port-out intent"),
        ("competitor", "competitor named: Fabrikam Mobile"),
        ("repeat_contacts", "3 contacts in 14 days"),
        ("negative_sentiment", "2 negative messages in a row"),
        ("contract_ending", "contract ends 2026-12-10 (in 17 days)"),
        ("open_complaint", "open complaint case"),
    ]
    assert (risk.score, risk.level) == (1.0, "high")


def test_quiet_signals_give_no_reasons() -> None:
    settings = ChurnSettings()
    quiet = ChurnSignals(
        intent="roaming",
        text="Is Contoso's network better? Asking for a friend at Contoso Telecoms.",
        contacts_in_window=2,
        sentiments=("negative", "neutral"),
        contract_ends=("2027-01-10", "2026-11-01"),
        open_case_categories=("billing",),
    )
    assert assess_churn(quiet, settings, TODAY).reasons == ()
    ending = dataclasses.replace(quiet, contract_ends=("2026-12-01",))
    risk = assess_churn(ending, settings, TODAY)
    assert (risk.score, risk.level) == (0.2, "low")
    cancelling = dataclasses.replace(quiet, intent="cancellation", text="Tailspin Wireless")
    risk = assess_churn(cancelling, settings, TODAY)
    assert (risk.score, risk.level) == (0.65, "high")
