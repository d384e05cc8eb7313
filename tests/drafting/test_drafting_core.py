"""The drafting core as plain functions: entities, template failures, tone, language, actions."""

from __future__ import annotations

from pathlib import Path

import pytest

from responder.config import Settings, load_settings
from responder.customers.context import CustomerContext
from responder.drafting.compose import TemplateRef, compose_draft
from responder.drafting.entities import (
    NOT_NEEDED,
    EntityExtractor,
    drop_unheard_tok2vec,
    normalise_amount,
)
from responder.drafting.rules import DraftFacts, choose_tone, offered_actions
from responder.knowledge.retrieve import IndexedSnippet, ScoredSnippet
from responder.mail.parse import parse_email
from tests.conftest import ROOT

SETTINGS: Settings = load_settings(ROOT / "config.toml", environ={})
AOIFE = CustomerContext(
    known=True,
    customer_id=1,
    name="Aoife Murphy",
    first_name="Aoife",
    plan="Smart 20GB",
    monthly_spend=25.0,
    contract_end="2026-03-13",
    tier="Average",
    language="en",
)


def templates(**extra: str) -> dict[str, TemplateRef]:
    found = {
        path.relative_to(ROOT / "templates").as_posix(): TemplateRef(path.read_text(), 7, 3)
        for path in (ROOT / "templates").rglob("*.j2")
    }
    found.update({k: TemplateRef(v, 99, 2) for k, v in extra.items()})
    return found


def scored(key: str, body: str, language: str = "en") -> ScoredSnippet:
    snippet = IndexedSnippet(5, key, 4, key.title(), body, ("billing_dispute",), language, {})
    return ScoredSnippet(snippet, 0.8, 0.65)


def draft(**changes: object):  # type: ignore[no-untyped-def]
    arguments: dict[str, object] = {
        "templates": templates(),
        "intent": "billing_dispute",
        "language": "en",
        "customer": AOIFE,
        "subject": "Bill",
        "new_text": "Why is my bill EUR 84.20?",
        "snippets": [scored("billing-bill-explained", "Your first bill covers a part-month.")],
        "drafting": SETTINGS.drafting,
    }
    arguments.update(changes)
    return compose_draft(**arguments)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def extractor() -> EntityExtractor:
    return EntityExtractor(
        SETTINGS.models.spacy_model,
        plans=SETTINGS.drafting.plan_names,
        competitors=SETTINGS.churn.competitors,
        phone_region="IE",
    )


def test_telecom_entities_are_found_and_normalised(extractor: EntityExtractor) -> None:
    text = (
        "Hi, my invoice INV-2026-11-208814 says €84.20 but last month it was 84,20 € and the "
        "roaming part was EUR 1,200.50. Order NW-771035 never came. My account number is "
        "40012345. Call me on 085 555 0199 or +44 7700 900105. Contoso Telecom offered me "
        "unlimited plus for less, and tailspin wireless too. I'm on Smart 20GB. Dan Smith, 3 May."
    )
    found = extractor.extract(text)
    assert found["invoice_numbers"] == ["INV-2026-11-208814"]
    assert found["amounts"] == ["EUR 84.20", "EUR 1,200.50"]
    assert found["order_numbers"] == ["NW-771035"]
    assert found["account_numbers"] == ["40012345"]
    assert found["phone_numbers"] == ["+353855550199", "+447700900105"]
    assert found["competitors"] == ["Contoso Telecom", "Tailspin Wireless"]
    assert found["plans"] == ["Unlimited Plus", "Smart 20GB"]
    assert "3 May" in found["dates"]


def test_places_are_where_the_customer_is_or_is_going(extractor: EntityExtractor) -> None:
    """An outage's area and a roaming destination, for the reviewer and the template."""
    outage, roaming = extractor.extract_many(
        [
            "No signal since yesterday. I'm in Rathmines in Dublin 6 and my partner has the "
            "same problem.",
            "Going to Spain and Portugal in May, will my bundle work there?",
        ]
    )
    assert outage["places"] == ["Rathmines", "Dublin"]
    assert roaming["places"] == ["Spain", "Portugal"]
    assert outage["people"] == [] and "May" in roaming["dates"]


def test_in_another_language_only_rules_and_patterns_are_trusted(
    extractor: EntityExtractor,
) -> None:
    """The English model reads German nouns as names ("Kein Netz", "das Handy" linked as
    people on the review page); in German only what rules and patterns find is kept."""
    german = (ROOT / "demo" / "emails" / "08-outage-kein-netz-de.eml").read_bytes()
    parsed = parse_email(german)
    text = f"{parsed.subject}\n{parsed.new_text}\nRückruf bitte: 0871 234 567, Rechnung 49,99 €."
    as_english = extractor.extract(text)
    assert "Kein Netz" in as_english["people"], "what the English model makes of it"
    found = extractor.extract(text, "de")
    assert found["people"] == [] and found["dates"] == [] and found["places"] == []
    assert found["phone_numbers"] == ["+353871234567"] and found["amounts"] == ["EUR 49.99"]
    english = extractor.extract_many(["Dan Smith wrote on 3 May"], ["en"])[0]
    assert english["people"] == ["Dan Smith"] and english["dates"] == ["3 May"]


def test_german_mail_names_its_countries_in_places(extractor: EntityExtractor) -> None:
    """No German NER model: the countries a German customer names are found by name, as
    written, for the review page's links and the roaming reply; nouns are not places."""
    turkey, netherlands, none, union = extractor.extract_many(
        [
            "Hallo, ich fliege nächste Woche in die Türkei und danach in die USA. Kein Netz?",
            "Wir sind gerade in den Niederlanden, und das Handy findet kein Netz.",
            "Mein Handy zeigt seit gestern Abend nur noch Kein Netz an.",
            "Gilt mein Tarif in der ganzen Europäische Union (EU) oder nur in der Eurozone?",
        ],
        ["de", "de", "de", "de"],
    )
    assert turkey["places"] == ["Türkei", "USA"] and turkey["people"] == []
    assert netherlands["places"] == ["Niederlanden"]
    assert none["places"] == []
    assert union["places"] == [], "the EU and the euro area are no country to name back"
    english = extractor.extract("Going to Spain in May, will my bundle work there?", "en")
    assert english["places"] == ["Spain"], "English mail's places still come from the NER"


def test_a_batch_gives_one_result_per_message(extractor: EntityExtractor) -> None:
    results = extractor.extract_many(["Fabrikam Mobile is cheaper", "", "Pay EUR 15 now"])
    assert [r["competitors"] for r in results] == [["Fabrikam Mobile"], [], []]
    assert results[2]["amounts"] == ["EUR 15.00"]
    assert extractor.nlp.pipe_names == ["entity_ruler", "ner"]


def test_without_the_shared_tok2vec_the_ner_finds_the_same_entities(
    extractor: EntityExtractor,
) -> None:
    import spacy

    texts = []
    for path in sorted((ROOT / "demo" / "emails").glob("*.eml")):
        parsed = parse_email(path.read_bytes())
        texts.append(f"{parsed.subject}\n{parsed.new_text or parsed.text}")
    with_shared = spacy.load(SETTINGS.models.spacy_model, exclude=NOT_NEEDED)
    assert with_shared.pipe_names == ["tok2vec", "ner"]
    expected = [
        [(e.start_char, e.end_char, e.label_) for e in d.ents] for d in with_shared.pipe(texts)
    ]
    with extractor.nlp.select_pipes(disable=["entity_ruler"]):
        docs = list(extractor.nlp.pipe(texts))
    assert sum(map(len, expected)) > 100
    assert [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in docs] == expected


def test_a_ner_that_listens_to_the_shared_tok2vec_keeps_it() -> None:
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("tok2vec")
    listener = {"@architectures": "spacy.Tok2VecListener.v1", "width": 96, "upstream": "*"}
    nlp.add_pipe("ner", config={"model": {
        "@architectures": "spacy.TransitionBasedParser.v2", "state_type": "ner",
        "extra_state_tokens": False, "hidden_width": 16, "maxout_pieces": 2, "use_upper": True,
        "tok2vec": listener,
    }})  # fmt: skip
    drop_unheard_tok2vec(nlp)
    assert nlp.pipe_names == ["tok2vec", "ner"]


def test_amounts_read_both_decimal_marks() -> None:
    assert normalise_amount("84,20", "EUR") == "EUR 84.20"
    assert normalise_amount("1.200,50", "EUR") == "EUR 1,200.50"
    assert normalise_amount("38,412.50", "EUR") == "EUR 38,412.50"
    assert normalise_amount("15", "EUR") == "EUR 15.00"


def test_a_draft_uses_entities_snippet_and_customer_data() -> None:
    result = draft(entities={"invoice_numbers": ["INV-1234-5678"], "amounts": ["EUR 84.20"]})
    assert not result.error
    assert result.body.startswith("Hi Aoife,")
    assert "INV-1234-5678" in result.body and "EUR 84.20" in result.body
    assert "Your first bill covers a part-month." in result.body
    assert result.grounding["template"] == {
        "key": "intents/billing_dispute.en.j2",
        "id": 7,
        "version": 3,
        "language": "en",
        "tone": "",
    }
    assert result.grounding["snippets"][0]["used"] is True
    assert result.grounding["entities"]["invoice_numbers"] == ["INV-1234-5678"]


BROKEN = {
    "syntax error": "{% if customer.name %}unclosed",
    "missing variable": "{{ customer.shoe_size }}",
    "sandbox: attribute": "{{ customer.__class__ }}",
    "sandbox: mro": "{{ ''.__class__.__mro__ }}",
    "sandbox: globals": "{{ cycler.__init__.__globals__ }}",
    "bad filter argument": "{{ 'abc' | money }}",
}


@pytest.mark.parametrize("problem", sorted(BROKEN))
def test_a_failing_template_gives_no_draft_and_names_the_template(problem: str) -> None:
    key = "intents/billing_dispute.en.j2"
    result = draft(templates=templates(**{key: BROKEN[problem]}))
    assert result.body == ""
    assert result.error.startswith(key)
    assert result.template_id == 99
    assert result.grounding["template"]["version"] == 2
    assert result.grounding["template_error"]["failing"] == key


@pytest.mark.parametrize("problem", sorted(BROKEN))
def test_a_failing_snippet_gives_no_draft_and_names_the_snippet(problem: str) -> None:
    result = draft(snippets=[scored("bad-snippet", BROKEN[problem])])
    assert result.body == ""
    assert "snippet bad-snippet v4" in result.error
    assert result.grounding["template_error"]["failing"] == "snippet bad-snippet v4"


def test_snippets_may_use_customer_data_through_the_sandbox() -> None:
    snippet = scored(
        "plan-note", "You are on {{ customer.plan }} at {{ customer.monthly_spend | money }}."
    )
    result = draft(snippets=[snippet])
    assert "You are on Smart 20GB at €25.00." in result.body


def test_a_template_or_snippet_cannot_change_the_data_it_drafts_from() -> None:
    """The sandbox is immutable: a snippet calling `customer.update` gets no draft."""
    result = draft(snippets=[scored("sneaky", '{{ customer.update(name="X") or "" }}Hi.')])
    assert result.body == ""
    assert "snippet sneaky v4" in result.error and "unsafe" in result.error
    assert AOIFE.for_template()["name"] == "Aoife Murphy"


def test_tone_follows_the_configured_rules() -> None:
    rules, default = SETTINGS.tone.rules, SETTINGS.tone.default
    assert choose_tone(rules, default, tier="Worst", sentiment="negative") == "empathetic"
    assert choose_tone(rules, default, tier="Best", sentiment="negative") == "empathetic"
    assert choose_tone(rules, default, tier="Best", sentiment="neutral") == "formal"
    assert choose_tone(rules, default, tier="Average", sentiment="neutral") == ""


def test_a_tone_variant_is_used_where_it_exists_and_the_plain_template_otherwise() -> None:
    empathetic = draft(tone="empathetic")
    assert empathetic.grounding["template"]["key"] == "intents/billing_dispute.en.empathetic.j2"
    assert "I'm really sorry" in empathetic.body
    formal = draft(tone="formal")
    assert formal.grounding["template"]["key"] == "intents/billing_dispute.en.j2"
    assert formal.body.startswith("Dear Aoife Murphy,")
    assert "Yours sincerely," in formal.body


def test_german_customers_get_the_german_template_with_local_formats() -> None:
    jonas = CustomerContext(
        known=True, customer_id=2, name="Jonas Becker", first_name="Jonas", plan="Smart 20GB",
        monthly_spend=35.0, contract_end="2027-04-09", language="de",
    )  # fmt: skip
    result = draft(customer=jonas, language="de", intent="plan_change")
    assert result.grounding["template"]["key"] == "intents/plan_change.de.j2"
    assert result.body.startswith("Guten Tag Jonas Becker,")
    assert "35,00\xa0€" in result.body and "9. April 2027" in result.body
    assert "Your first bill" not in result.body, "an English snippet stays out of a German reply"
    assert result.grounding["snippets"][0]["used"] is False
    assert not result.flags


@pytest.mark.parametrize(
    ("places", "said"),
    [
        (["Spain"], "about using your phone in Spain."),
        (["Cork", "the USA", "ireland", "the usa"], "about using your phone in the USA."),
        (["Italy", "Spain"], "about using your phone abroad."),  # Spain may be last year's
        (["the States", "America"], "about using your phone in the States."),  # one country
        (["Cork"], "about using your phone abroad."),
        ([], "about using your phone abroad."),
    ],
)
def test_a_roaming_reply_names_the_country_the_customer_is_going_to(
    places: list[str], said: str
) -> None:
    """Only the places that are countries, and not home: a town the customer lives in is not
    where they are going; of two countries, one may be where they were last time."""
    result = draft(
        intent="roaming",
        new_text="Will my phone work there?",
        snippets=[],
        entities={"places": places},
    )
    assert said in result.body


@pytest.mark.parametrize(
    ("places", "said"),
    [
        (["Rathmines", "Dublin"], "You mentioned Rathmines, Dublin: if you haven't already"),
        (["Spain"], "If you haven't already, reply with your location"),
        ([], "If you haven't already, reply with your location"),
    ],
)
def test_an_outage_reply_with_no_incident_names_the_area_the_customer_gave(
    places: list[str], said: str
) -> None:
    """A town or district, not a country (no service on landing in Spain is roaming's)."""
    result = draft(
        intent="outage", new_text="No signal at all.", snippets=[], entities={"places": places}
    )
    assert said in result.body


def test_a_german_customer_abroad_gets_a_german_roaming_reply_that_knows_their_pass() -> None:
    hannah = CustomerContext(
        known=True, customer_id=3, name="Hannah Schmidt", first_name="Hannah",
        plan="Smart 20GB", addons=("EU Roam Pass",), language="de",
    )  # fmt: skip
    result = draft(customer=hannah, language="de", intent="roaming")
    assert result.grounding["template"]["key"] == "intents/roaming.de.j2"
    assert not result.flags, "no 'template in the default language' warning"
    assert "Sie haben den EU Roam Pass bereits auf Ihrem Konto." in result.body
    assert "Gute Reise" in result.body and "Safe travels" not in result.body


GERMAN_ROAMING_MAIL = "Hallo, ich bin ab Montag {} unterwegs. Funktioniert mein Handy dort?"


@pytest.mark.parametrize(
    ("where", "said"),
    [
        ("in Spanien", "zur Nutzung Ihres Telefons im Reiseland Spanien."),
        ("in der Schweiz", "zur Nutzung Ihres Telefons im Reiseland Schweiz."),
        ("in den Niederlanden", "zur Nutzung Ihres Telefons im Reiseland Niederlande."),
        ("von Irland aus in Spanien", "zur Nutzung Ihres Telefons im Reiseland Spanien."),
        ("in Irland", "zur Nutzung Ihres Telefons im Ausland."),
        ("in Italien und Spanien", "zur Nutzung Ihres Telefons im Ausland."),
        ("in Cork", "zur Nutzung Ihres Telefons im Ausland."),
        ("in spanien", "zur Nutzung Ihres Telefons im Reiseland Spanien."),
        ("in den usa (Amerika)", "zur Nutzung Ihres Telefons im Reiseland USA."),
    ],
)
def test_a_german_roaming_reply_names_the_one_country_the_customer_is_going_to(
    extractor: EntityExtractor, where: str, said: str
) -> None:
    """As the English reply does: one country named, home (Ireland, however it is written)
    left out; of two, one may be where they were last time. Named back as it is spelt, not as
    typed in a hurry; one country in two words is still one."""
    text = GERMAN_ROAMING_MAIL.format(where)
    hannah = CustomerContext(
        known=True, customer_id=3, name="Hannah Schmidt", first_name="Hannah",
        plan="Smart 20GB", language="de",
    )  # fmt: skip
    result = draft(
        customer=hannah,
        language="de",
        intent="roaming",
        new_text=text,
        snippets=[],
        entities=extractor.extract(text, "de"),
    )
    assert said in result.body


def test_the_main_telecom_intents_have_german_templates() -> None:
    """A German customer's cancellation or port-out must not get an English draft to rewrite."""
    intents = [key.removeprefix("intents/").split(".") for key in templates() if "/" in key]
    german = {intent for intent, language, *_ in intents if language == "de"}
    english = {intent for intent, language, *_ in intents if language == "en"}
    assert english - german == {"praise"}, english - german


def test_a_language_without_templates_falls_back_to_the_default_and_is_flagged() -> None:
    result = draft(language="fr")
    assert not result.error
    assert result.grounding["template"]["key"] == "intents/billing_dispute.en.j2"
    assert result.flags and "(French)" in result.flags[0]
    assert result.grounding["flags"] == list(result.flags)


def test_an_english_reply_to_a_french_customer_writes_dates_and_amounts_in_english() -> None:
    """Dates and amounts follow the reply's language, not the customer's."""
    snippet = scored("due", "Due {{ '2027-04-09' | date }}: {{ 35 | money }}.")
    result = draft(language="fr", snippets=[snippet])
    assert result.flags and "(French)" in result.flags[0]
    assert "Due 9 April 2027: €35.00." in result.body


RULES = SETTINGS.actions.rules


def names(facts: DraftFacts) -> list[str]:
    return [a.name for a in offered_actions(RULES, facts)]


def test_retention_offer_for_a_best_customer_at_risk_of_leaving() -> None:
    assert names(DraftFacts(intent="port_out", tier="Best")) == ["retention_offer"]
    assert names(DraftFacts(intent="complaint", tier="Best", churn="high")) == ["retention_offer"]
    offer = offered_actions(RULES, DraftFacts(intent="cancellation", tier="Best", churn="high"))
    assert offer[0].snippet == "retention-offer-best" and len(offer[0].rules) == 2
    assert names(DraftFacts(intent="port_out", tier="Average")) == []


def test_roaming_pass_only_without_a_roaming_add_on() -> None:
    assert names(DraftFacts(intent="roaming")) == ["roaming_pass"]
    assert names(DraftFacts(intent="roaming", addons=("World Roam Pass",))) == []


def test_escalation_after_repeated_contacts_and_arrangement_for_a_dispute() -> None:
    assert names(DraftFacts(intent="complaint", contacts=2)) == []
    assert names(DraftFacts(intent="complaint", contacts=3)) == ["escalate"]
    assert names(DraftFacts(intent="billing_dispute", contacts=4)) == [
        "escalate",
        "payment_arrangement",
    ]


def test_every_action_names_a_snippet_that_exists() -> None:
    keys = {p.stem for p in Path(ROOT / "templates" / "snippets").glob("*.md")}
    assert {rule.snippet for rule in RULES} <= keys


def test_a_capitalised_common_word_is_not_taken_for_a_person(extractor: EntityExtractor) -> None:
    text = (
        "Bill of EUR 212.40 - roaming charges from New York??\n\nHi,\n\nI've just opened my "
        "November bill and it's EUR 212.40. Sarah in the Dundrum shop said it was fine.\n\n"
        "Thanks,\nOliver Grant"
    )
    assert extractor.extract(text)["people"] == ["Sarah", "Oliver Grant"]
    assert extractor.extract("Bill here: my phone is broken.")["people"] == ["Bill"]


def test_a_sign_off_is_not_taken_for_a_person(extractor: EntityExtractor) -> None:
    text = (
        "Hi folks,\n\nI'm heading to Boston for my brother's wedding from the 12th to the 20th"
        " of December. I'm on Unlimited Plus if that matters. Does that cover the US or is it"
        " just Europe?\n\nCheers,\nSean"
    )
    assert "Cheers" not in extractor.extract(text)["people"]


def test_a_plan_change_offers_the_plans_asked_for_not_the_one_the_customer_is_on() -> None:
    asked = {"plans": ["Smart 20GB", "Basic 5GB"]}
    english = draft(intent="plan_change", entities=asked)
    assert "about changing your plan to Basic 5GB;" in english.body
    assert "You're currently on Smart 20GB" in english.body
    jonas = CustomerContext(
        known=True, customer_id=2, name="Jonas Becker", first_name="Jonas", plan="Smart 20GB"
    )
    german = draft(customer=jonas, language="de", intent="plan_change", entities=asked)
    assert "zu einem Tarifwechsel zu Basic 5GB." in german.body
    assert "(contract end date on our records: 13 March 2026)" in english.body, "a date to read"
    fatima = CustomerContext(
        known=True, customer_id=3, name="Fatima", first_name="Fatima", plan="Family Share 4 lines"
    )
    more_lines = draft(customer=fatima, intent="plan_change", entities={"plans": ["Family Share"]})
    assert "about changing your plan;" in more_lines.body, "not to the plan she is on"
    for intent in ("cancellation", "port_out"):
        leaving = draft(intent=intent, snippets=[]).body
        assert ".\n\nFor reference, the contract end date on our records is 13 March 2026." in (
            leaving
        ), intent
