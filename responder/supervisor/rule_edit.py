"""Supervisors edit the tone and action rules as TOML (or one action rule with a form, which
becomes the same data: `rule_form`), checked before anything is saved.

The text has the shape of config.toml's `[tone]` or `[actions]` section. It must parse, match
the same msgspec types the config uses, and name only things that exist (intents, sentiments,
tiers, churn levels, snippets), because a misspelt condition silently never fires. A refused
edit says where and what; a saved one is a new version with author and time, in the audit log.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from typing import Any

import msgspec
import tomli_w
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from responder.config import MAX_CONTACT_DAYS, ActionSettings, Settings, ToneSettings
from responder.content import live_snippets
from responder.db.models import RuleVersion
from responder.drafting.rule_versions import KINDS, current_rules, latest_version
from responder.review import ReviewError, audit
from responder.supervisor.examples import labels
from responder.supervisor.name_hints import hint, unknown_field, unknown_name
from responder.supervisor.rule_toml import rewritten
from responder.supervisor.snippet_edit import live_snippets_all

SECTIONS: dict[str, type[ToneSettings] | type[ActionSettings]] = {
    "tone": ToneSettings,
    "actions": ActionSettings,
}
CHURN_LEVELS = ("low", "medium", "high")
TONE_NAME = re.compile(r"^[a-z0-9_-]*$")  # it becomes part of a template file name


class Problem(str):
    """A problem's words, and which rule (its index) and field it is about when that is known,
    so the one-rule form can show it beside the field the supervisor typed into, in the form's
    own words: `bare` is the problem without where it is ("must be 0 or more")."""

    rule: int | None
    field: str | None
    bare: str

    def __new__(
        cls, text: str, rule: int | None = None, field: str | None = None, bare: str = ""
    ) -> Problem:
        problem = super().__new__(cls, text)
        problem.rule, problem.field, problem.bare = rule, field, bare or text
        return problem


class RulesError(ReviewError):
    """Every problem found (the types stop at their first; the names are all checked)."""

    status_code = 422

    def __init__(self, *problems: str) -> None:
        super().__init__("; ".join(problems))
        self.problems = [p if isinstance(p, Problem) else Problem(p) for p in problems]


class StaleRules(RulesError):
    """The edit was made on a version that is no longer live: saving it would silently undo
    the save in between. `live` is the live version (None: config.toml's), when known;
    `raced`: another save took the new version's number after this one's check passed."""

    status_code = 409

    def __init__(
        self, kind: str, read: int | None, live: int | None, *, raced: bool = False
    ) -> None:
        noun = "tone" if kind == "tone" else "action"
        if raced:
            said = f"another save of the {noun} rules came first (version {live} is live now)"
        else:
            was = f"version {read}" if read else "config.toml's rules"
            now = f"version {live}" if live else "config.toml's rules (no version saved)"
            said = f"the {noun} rules changed since they were read: {now} is live, not {was}"
        super().__init__(f"{said}; read them again and make the change on the live version")
        self.reason = said  # without the advice, for a page that shows the saves since
        self.live = live
        self.raced = raced


@dataclass(frozen=True)
class Vocabulary:
    """What a rule may name; an empty set means unknown here, so not checked."""

    intents: frozenset[str]
    sentiments: frozenset[str]
    tiers: frozenset[str]
    snippets: frozenset[str]
    # Listed apart on the Templates page: named as retired, not as unknown.
    retired_snippets: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RuleHistory:
    id: int
    version: int
    author: str
    created_at: Any
    text: str


def vocabulary(session: Session, settings: Settings) -> Vocabulary:
    return Vocabulary(
        intents=frozenset(labels(session, "intent")),
        sentiments=frozenset(labels(session, "sentiment")),
        tiers=frozenset(settings.value.tier_names),
        snippets=frozenset(s.key for s in live_snippets(session)),
        retired_snippets=frozenset(s.key for s in live_snippets_all(session) if not s.active),
    )


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise RulesError(f"unknown rules {kind!r}: use tone or actions")
    return kind


def as_toml(section: ToneSettings | ActionSettings) -> str:
    """The section as TOML, leaving out conditions that are not set."""
    data = msgspec.to_builtins(section)
    data["rules"] = [
        {key: value for key, value in rule.items() if value not in (None, [], "")}
        for rule in data.get("rules", [])
    ]
    return tomli_w.dumps(data)


def rule_number(index: int) -> str:
    """People count rules from 1: the sixth rule is rule 6, not rules[5]."""
    return f"rule {index + 1}"


def _where(path: str) -> str:
    """msgspec says `$.rules[2].intents`; supervisors read it as rule 3, intents."""
    where = path.removeprefix("$.").removeprefix("$")
    where = re.sub(r"rules\[(\d+)\]", lambda m: rule_number(int(m.group(1))), where)
    return where.replace(".", ", ", 1) if where.startswith("rule ") else where


def _rule_field(path: str) -> tuple[int | None, str | None]:
    """`$.rules[2].intents[0]` is about rule index 2, field intents."""
    found = re.match(r"\$\.rules\[(\d+)\](?:\.(\w+))?", path)
    return (int(found.group(1)), found.group(2)) if found else (None, None)


def parse(kind: str, text: str) -> ToneSettings | ActionSettings:
    """TOML text to the config's own type; errors name the line or the key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"not valid TOML: {exc}") from exc
    return convert(kind, data)


def convert(kind: str, data: Any) -> ToneSettings | ActionSettings:
    try:
        return msgspec.convert(data, SECTIONS[_kind(kind)])
    except msgspec.ValidationError as exc:
        message, sep, where = str(exc).rpartition(" - at `")
        if sep:
            path = where.rstrip("`")
            message = unknown_field(message, SECTIONS[kind], path)
            rule, field = _rule_field(path)
            raise RulesError(Problem(f"{_where(path)}: {message}", rule, field, message)) from exc
        raise RulesError(str(exc)) from exc


def _unknown(
    index: int, field: str, what: str, given: list[str], known: frozenset[str]
) -> list[str]:
    """One problem per name not known, each with the name probably meant."""
    if not known:
        return []
    where = rule_number(index)
    return [
        Problem(
            unknown_name(where, what, value, known),
            index,
            field,
            f"{value!r} is unknown; {hint(what, value, known)}",
        )
        for value in given
        if value not in known
    ]


def check(section: ToneSettings | ActionSettings, known: Vocabulary) -> None:
    """What the types cannot say: names that exist, required text, sensible numbers. Every
    problem is listed, so a supervisor mends them in one go."""
    problems = _tone_problems(section, known) if isinstance(section, ToneSettings) else []
    if isinstance(section, ActionSettings):
        problems = _action_problems(section, known)
    if problems:
        raise RulesError(*problems)


def _tone_problems(section: ToneSettings, known: Vocabulary) -> list[str]:
    problems = []
    for index, rule in enumerate(section.rules):
        if not rule.tone.strip():
            problems.append(f"{rule_number(index)}, tone: empty; name the tone this rule picks")
        problems += _unknown(index, "tiers", "tier", rule.tiers, known.tiers)
        problems += _unknown(index, "sentiments", "sentiment", rule.sentiments, known.sentiments)
    for where, tone in [("default", section.default)] + [
        (f"{rule_number(n)}, tone", r.tone) for n, r in enumerate(section.rules)
    ]:
        if tone.strip() and not TONE_NAME.match(tone):
            problems.append(
                f"{where}: {tone!r} must be lower-case letters, digits, - or _ "
                "(it names a template variant such as roaming.en.<tone>.j2)"
            )
    return problems


def _action_problems(section: ActionSettings, known: Vocabulary) -> list[str]:
    problems = []
    if section.contact_days <= 0:
        problems.append("contact_days: must be greater than 0")
    elif section.contact_days > MAX_CONTACT_DAYS:
        # A window reaching back before year 1 cannot be a date: every draft would fail.
        problems.append(f"contact_days: must be {MAX_CONTACT_DAYS} (100 years) or fewer")
    for index, rule in enumerate(section.rules):
        where = rule_number(index)
        for field in ("name", "label", "snippet"):
            if not getattr(rule, field).strip():
                problems.append(Problem(f"{where}, {field}: empty", index, field, "empty"))
        if rule.snippet in known.retired_snippets:
            said = f"{rule.snippet!r} is retired: restore it in its editor to offer it"
            problems.append(
                Problem(
                    f"snippet {rule.snippet!r} in {where} is retired: restore it in its "
                    "editor (Templates page) to offer it",
                    index,
                    "snippet",
                    said,
                )
            )
        elif rule.snippet.strip():
            problems += _unknown(index, "snippet", "snippet", [rule.snippet], known.snippets)
        problems += _unknown(index, "intents", "intent", rule.intents, known.intents)
        problems += _unknown(index, "tiers", "tier", rule.tiers, known.tiers)
        problems += _unknown(index, "sentiments", "sentiment", rule.sentiments, known.sentiments)
        churn = frozenset(CHURN_LEVELS)
        problems += _unknown(index, "churn", "churn level", rule.churn, churn)
        for field in ("min_contacts", "min_open_cases"):
            value = getattr(rule, field)
            if value is not None and value < 0:
                bare = "must be 0 or more"
                problems.append(Problem(f"{where}, {field}: {bare}", index, field, bare))
    return problems


def live_text(session: Session, settings: Settings, kind: str) -> str:
    row = latest_version(session, _kind(kind))
    if row is not None:
        return row.text
    rules = current_rules(session, settings)
    return as_toml(rules.tone if kind == "tone" else rules.actions)


def history(session: Session, kind: str) -> list[RuleHistory]:
    rows = session.scalars(
        select(RuleVersion)
        .where(RuleVersion.kind == _kind(kind))
        .order_by(RuleVersion.version.desc())
    )
    return [RuleHistory(r.id, r.version, r.author, r.created_at, r.text) for r in rows]


def save_rules(
    session: Session,
    settings: Settings,
    kind: str,
    author: str,
    *,
    text: str | None = None,
    data: Any = None,
    change: str = "",
    read: int | None = None,
    started: int | None = None,
) -> RuleVersion:
    """Validates TOML text (or the section as data, from the API) and stores a new version;
    `change` says in words what the form changed, for the audit log. Data is written into the
    live TOML in place (`rule_toml.rewritten`), so comments typed there stay. `read` is the
    version the edit was made on (0: config.toml's): when another is live now the edit is
    refused (`StaleRules`), checked in the saving transaction; None saves over whatever is live.
    The new version is numbered from the version checked, so a save that commits between the
    check and this one's write makes this one a `StaleRules` too, never a second version.
    `started` (the version the text was made on, older than `read`) marks a save made on
    purpose over the saves in between, after seeing them: audited as `rules.overwrite`."""
    previous = latest_version(session, _kind(kind))
    live = previous.version if previous else None
    if read is not None and read != (live or 0):
        raise StaleRules(kind, read, live)
    as_data = text is None
    section = convert(kind, data) if text is None else parse(kind, text)
    check(section, vocabulary(session, settings))
    rules = msgspec.to_builtins(section)
    if text is None:
        text = _written_in_place(session, settings, kind, rules)
    if previous is not None and previous.rules == rules and (as_data or text == previous.text):
        raise RulesError(f"no change: version {previous.version} already says this")
    # The live version's successor, not the highest number read again now: a save committed
    # since the check above takes this number first, and the unique constraint refuses this one.
    version = (live or 0) + 1
    row = RuleVersion(
        kind=kind, version=version, rules=rules, text=text or as_toml(section), author=author
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:  # a save in another transaction took this version number
        raise StaleRules(kind, read, version, raced=True) from exc
    action = "rules.save"
    if started is not None and previous is not None:
        action = "rules.overwrite"
        made_on = f"version {started}" if started else "config.toml's rules"
        over = f"saved over version {previous.version} ({previous.author}'s), made on {made_on}"
        change = f"{change}; {over}" if change else over
    audit(
        session,
        author,
        action,
        "rules",
        kind,
        version=version,
        previous=previous.version if previous else None,
        rules=rules,
        **({"change": change} if change else {}),
    )
    return row


def _written_in_place(session: Session, settings: Settings, kind: str, rules: Any) -> str:
    """The live TOML changed to say `rules` (the section as data), its comments kept; should
    it not read back as `rules`, the section written afresh (as it was before: no comments)."""
    live = live_text(session, settings, kind)
    try:
        text = rewritten(live, msgspec.to_builtins(parse(kind, live)), rules)
        if msgspec.to_builtins(parse(kind, text)) == rules:
            return text
    except RulesError:  # a version stored before a change to the config's types
        pass
    return as_toml(convert(kind, rules))
