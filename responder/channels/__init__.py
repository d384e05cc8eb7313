"""Where messages come from and replies go: mailboxes (Maildir, IMAP, SMTP) and social DMs."""

#: Channel kinds whose messages are email (threaded replies over SMTP or the outbox Maildir).
EMAIL_KINDS = frozenset({"maildir", "imap"})
