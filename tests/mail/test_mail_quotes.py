"""strip_quotes: shared talon cases plus unseen client formats and false-positive guards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from responder.mail.quotes import strip_quotes

CASES = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "quote-cases"
SAMPLE = [
    "talon__standard_gmail.txt",
    "talon__standard_outlook.txt",
    "talon__swedish_from_block.txt",
    "talon__french_le_a_ecrit.txt",
    "talon__reply_after_quotations.txt",
    "talon__forwarded_message_kept.txt",
    "talon__appointment_no_quote.txt",
    "talon__marker_false_positive.txt",
    "talon__standard_iphone.txt",
    "talon__splitter_shares_line.txt",
]


def _norm(text: str) -> str:
    return " ".join(text.split())


def _load_cases() -> dict[str, dict]:
    if not (CASES / "cases.jsonl").exists():
        pytest.skip(f"shared quote cases not found at {CASES.resolve()}")
    records = (json.loads(line) for line in (CASES / "cases.jsonl").read_text().splitlines())
    return {r["file"]: r for r in records}


@pytest.mark.parametrize("name", SAMPLE)
def test_shared_cases_are_clean(name: str) -> None:
    case = _load_cases()[name]
    output = _norm(strip_quotes((CASES / name).read_text(encoding="utf-8")))
    assert _norm(case["expected_visible"]) in output
    for line in case["must_not_contain"]:
        assert _norm(line) not in output


# (name, text, must stay, must go): formats and languages not in the shared cases.
UNSEEN = [
    (
        "german attribution",
        "Hallo,\nbitte kündigen Sie meinen Vertrag.\n\n"
        "Am 04.03.2024 um 10:15 schrieb Kundenservice <service@tel.de>:\n> Sehr geehrter Kunde,\n",
        "bitte kündigen Sie meinen Vertrag.",
        ["Am 04.03.2024", "Sehr geehrter"],
    ),
    (
        "german outlook block",
        "Danke für die Info.\n\nVon: Kundenservice <service@tel.de>\n"
        "Gesendet: Montag, 4. März 2024 10:15\nAn: Hans <hans@x.de>\n"
        "Betreff: Rechnung\n\nSehr geehrter",
        "Danke für die Info.",
        ["Von: Kundenservice", "Sehr geehrter"],
    ),
    (
        "spanish gmail",
        "Gracias, funciona.\n\nEl lun., 4 mar. 2024 a las 10:15, Soporte (<soporte@tel.es>) "
        "escribió:\n\n> Hola Juan,\n",
        "Gracias, funciona.",
        ["escribió", "Hola Juan"],
    ),
    (
        "outlook internal block without addresses",
        "Thanks!\n\n________________________________\nFrom: Support Team\n"
        "Sent: Monday, March 4, 2024 10:15 AM\nTo: John Doe\nSubject: RE: Your bill\n\nDear John,",
        "Thanks!",
        ["From: Support Team", "Dear John", "_____"],
    ),
    (
        "chinese outlook block",
        "谢谢\n\n发件人: 客服 <kf@tel.cn>\n发送时间: 2024年3月4日 10:15\n"
        "收件人: 张三\n主题: 账单\n\n您好",
        "谢谢",
        ["您好", "发件人"],
    ),
    (
        "japanese attribution",
        "ありがとうございます。\n\n"
        "2024年3月4日(月) 10:15 Support <support@tel.jp>:\n\n> こんにちは\n",
        "ありがとうございます。",
        ["こんにちは"],
    ),
    (
        "gmail attribution wrapped over two lines",
        "My router is still down.\n\nOn Mon, Mar 4, 2024 at 10:15 AM Support Team <\n"
        "support@tel.com> wrote:\n\n> did you restart?\n",
        "My router is still down.",
        ["did you restart", "On Mon"],
    ),
    (
        "interleaved answers are kept, questions dropped",
        "On Mon, Mar 4, 2024 at 10:15 AM Support <s@tel.com> wrote:\n"
        "> What is your account number?\n12345\n> And your postcode?\nAB1 2CD\n",
        "12345",
        ["What is your account"],
    ),
    (
        "localised mobile signature",
        "Bitte zurückrufen\n\nVon meinem iPhone gesendet\n\n"
        "> Am 04.03.2024 um 10:15 schrieb Service <s@tel.de>:\n> Hallo\n",
        "Bitte zurückrufen",
        ["Hallo"],
    ),
    (
        "signature delimiter",
        "Please help.\n\n-- \nJohn Doe\nACME Ltd\n",
        "Please help.",
        ["ACME"],
    ),
    (
        "bare 'Name wrote:' before a bottom-posted reply",
        "Marc wrote:\n> Is it broken?\n> Really?\n\nYes, since Monday.\n",
        "Yes, since Monday.",
        ["Marc wrote", "Is it broken"],
    ),
]

# Customer text that looks like history but is not: nothing may be cut.
KEEP_WHOLE = [
    "Hello,\nhere are my details:\n\nName: John Doe\nAccount: 12345\nEmail: john@x.com\n"
    "Date of birth: 01/02/1980\nPlan: Data 5GB\n\nPlease upgrade me.",
    "My plan:\nData: 5GB\nDo: not cancel\nOd: now\n\nThanks",
    "The outage started on 04/03/2024 at 10:15 and the engineer said:\nit will be fixed tomorrow.",
    "Problems:\n- no signal\n- slow data\n\nRegards,\nAnna",
    "Visit us now\n>>> >>> http://www.domain.com <<<\nVisit our site",
]


@pytest.mark.parametrize(("name", "text", "keep", "drop"), UNSEEN, ids=[u[0] for u in UNSEEN])
def test_unseen_formats(name: str, text: str, keep: str, drop: list[str]) -> None:
    output = strip_quotes(text)
    assert keep in output
    for fragment in drop:
        assert fragment not in output


@pytest.mark.parametrize("text", KEEP_WHOLE)
def test_customer_text_that_only_looks_quoted_is_kept(text: str) -> None:
    assert _norm(strip_quotes(text)) == _norm(text)


def test_fallback_to_whole_text_when_nothing_is_left() -> None:
    text = "On Mon, Mar 4, 2024 at 10:15 AM Support <s@tel.com> wrote:\n> only history\n"
    assert strip_quotes(text) == text.strip()
    assert strip_quotes("") == ""
    assert strip_quotes("  \n ") == ""


def test_crlf_and_huge_input() -> None:
    assert strip_quotes("Hi\r\n\r\n> old\r\n") == "Hi"
    big = "line of text\n" * 50_000
    assert strip_quotes(big).startswith("line of text")
