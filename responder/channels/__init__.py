"""Where messages come from and replies go: mailboxes (Maildir, IMAP, SMTP) and social DMs."""

#: Channel kinds whose messages are email (threaded replies over SMTP or the outbox Maildir).
EMAIL_KINDS = frozenset({"maildir", "imap"})


def reply_channel(kind: str | None) -> str:
    """What templates see as `message.channel`: `email` for any mailbox, else the platform."""
    return "email" if not kind or kind in EMAIL_KINDS else kind
