"""Whether an email's sender is who the From line says, as our own receiving mail server judged
it (SPF, DKIM, DMARC in its Authentication-Results header, RFC 8601).

Anyone can write any From line. A reply to a forged one answers the forger's Reply-To with the
customer's account details, and an automatic mail to it is backscatter; a SIM swap or port-out
asked for by a forged mail is fraud. Responder checks nothing itself (the receiving server has
the connection, the DNS and the signatures): it reads that server's verdict, and only that
server's, named by its authserv-id, since any sender can write an Authentication-Results header
(the receiving server removes ones carrying its own id, RFC 8601 section 5)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import authres

Verdict = Literal["pass", "fail", "unverified"]


@dataclass(frozen=True)
class SenderCheck:
    verdict: Verdict
    #: Each method's result as the server wrote it: {"dmarc": "fail", "spf": "softfail"}.
    results: dict[str, str]
    #: Why, in words for the person reviewing the mail.
    reason: str

    def as_json(self) -> dict[str, object]:
        return {"verdict": self.verdict, "results": self.results, "reason": self.reason}


def check_sender(
    headers: Iterable[tuple[str, str]], sender_domain: str, authserv_id: str
) -> SenderCheck:
    """The verdict of the topmost Authentication-Results header our server (`authserv_id`) wrote.

    Pass: DMARC passed, or (where the server writes no DMARC result) a DKIM signature or the SPF
    envelope sender of the From domain, or a parent or child of it, passed. Fail: DMARC failed,
    i.e. the From domain itself says this mail is not its own. Anything else is unverified."""
    ours = authserv_id.strip().lower()
    sender_domain = sender_domain.lower().rstrip(".")
    unreadable = False
    for name, value in headers:
        if name.lower() != "authentication-results":
            continue
        try:
            header = authres.parse_value(" ".join(value.split()))
        except Exception:  # any sender writes this header: its parser must never fail a batch
            unreadable = unreadable or value.strip().lower().startswith(ours)
            continue
        if header.authserv_id != ours:
            continue
        return _verdict(header.results, sender_domain, ours)
    if unreadable:
        return SenderCheck("unverified", {}, f"{ours}'s Authentication-Results could not be read")
    return SenderCheck("unverified", {}, f"no Authentication-Results from {ours}")


def _verdict(results: list[authres.AuthenticationResult], domain: str, by: str) -> SenderCheck:
    seen: dict[str, str] = {}
    aligned: list[str] = []
    for result in results:
        if not isinstance(result, authres.AuthenticationResult):
            continue  # a "none" among results (the parser keeps it as a result of no method)
        method, outcome = str(result.method).lower(), str(result.result).lower()
        seen.setdefault(method, outcome)
        if outcome == "pass" and method in ("dkim", "spf"):
            wanted = ("header", "d") if method == "dkim" else ("smtp", "mailfrom")
            for prop in result.properties:
                if (prop.type, prop.name) == wanted and _aligned(str(prop.value), domain):
                    aligned.append(method)
    summary = ", ".join(f"{method}={outcome}" for method, outcome in seen.items()) or "none"
    dmarc = seen.get("dmarc")
    if dmarc == "pass":
        return SenderCheck("pass", seen, f"DMARC passed at {by}")
    if dmarc == "fail":
        return SenderCheck(
            "fail", seen, f"DMARC failed at {by} ({summary}): the From domain disowns this mail"
        )
    if aligned:
        return SenderCheck("pass", seen, f"{aligned[0].upper()} of {domain} passed at {by}")
    return SenderCheck("unverified", seen, f"nothing of {domain} passed at {by} ({summary})")


def _aligned(identity: str, domain: str) -> bool:
    """Relaxed alignment without the public-suffix list: the same domain, or one inside the
    other (mail.example.ie and example.ie), never a bare top-level domain."""
    identity = identity.rpartition("@")[2].lower().rstrip(".")
    if not identity or not domain or "." not in identity or "." not in domain:
        return False
    return identity == domain or identity.endswith("." + domain) or domain.endswith("." + identity)


def unverified_reason(stored: dict[str, object] | None) -> str | None:
    """Why no automatic mail may answer a message with this stored check; None when it may
    (the sender passed, or senders are not checked)."""
    if stored is None or stored.get("verdict") == "pass":
        return None
    return f"the sender is not verified: {stored.get('reason', '')}"
