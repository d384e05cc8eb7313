"""The `responder` command: the same services the web app uses, for operators and scripts."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import logging
import os
import socket
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from responder.config import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from responder.runtime import Runtime


def _settings(args: argparse.Namespace) -> Settings:
    from responder.ops.logs import configure_logging

    settings = load_settings(Path(args.config) if args.config else None)
    configure_logging(settings.logging, os.environ.get("RESPONDER_LOG_LEVEL"))
    return settings


def _print_counts(rt: object) -> None:
    from responder.pipeline.worker import state_counts

    for state, count in state_counts(rt).items():  # type: ignore[arg-type]
        print(f"{state}: {count}")


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from responder.bootstrap import prepare

    prepare(_settings(args))
    print("database is up to date")
    return 0


def cmd_poll(args: argparse.Namespace) -> int:
    from responder.bootstrap import pollers, prepare
    from responder.pipeline.worker import Worker

    rt = prepare(_settings(args))
    worker = Worker(rt, pollers(rt))
    if args.once:
        worker.drain()
        _print_counts(rt)
        return 0
    worker.run_forever()
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from responder.bootstrap import pollers, prepare
    from responder.pipeline.worker import run_workers

    settings = _settings(args)
    rt = prepare(settings)
    if args.once:
        run_workers(rt, pollers(rt) if args.poll else [], args.concurrency, once=True)
        _print_counts(rt)
        return 0
    if settings.metrics.worker_port:
        from prometheus_client import start_http_server

        from responder.ops.metrics import REGISTRY

        start_http_server(settings.metrics.worker_port, addr="127.0.0.1", registry=REGISTRY)
    run_workers(rt, pollers(rt) if args.poll else [], args.concurrency, stop_signals=True)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from responder.bootstrap import pollers, prepare, start_imap_watchers
    from responder.pipeline.notify import start_work_listener
    from responder.pipeline.worker import Worker
    from responder.web.serve import already_served, serve_web, web_processes

    settings = _settings(args)
    host = args.host or settings.web.host
    port = args.port or settings.web.port
    if already_served(host, port):
        print(
            f"error: {host}:{port} is already served (is responder serve running?); "
            "stop it first or choose another --port",
            file=sys.stderr,
        )
        return 1
    rt = prepare(settings)
    worker = Worker(rt, pollers(rt, imap=False))
    thread = threading.Thread(target=worker.run_forever, name="worker", daemon=True)
    thread.start()
    start_imap_watchers(rt, worker.stop_event, on_stored=worker.wake)
    start_work_listener(  # webhooks and approvals in the web processes
        rt.engine, worker.wake, worker.stop_event, listen_url=settings.database.listen_url
    )
    processes = web_processes(settings)
    if processes > 1 and settings.metrics.worker_port:  # the pipeline's metrics live here
        from prometheus_client import start_http_server

        from responder.ops.metrics import REGISTRY

        start_http_server(settings.metrics.worker_port, addr="127.0.0.1", registry=REGISTRY)
    print(
        f"Responder on http://{host}:{port}/ ({processes} web processes, one worker and poller)",
        flush=True,
    )
    try:
        serve_web(rt, Path(args.config) if args.config else None, host, port, processes)
    finally:
        worker.stop()
        thread.join(timeout=60)
    return 0


def _new_password(args: argparse.Namespace) -> str:
    password = os.environ.get("RESPONDER_NEW_PASSWORD") or args.password
    if password:
        return password
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    return getpass.getpass(f"Password for {args.username}: ")


def cmd_user_add(args: argparse.Namespace) -> int:
    from responder.bootstrap import prepare
    from responder.db.session import transaction
    from responder.users import UserError, add_user

    password = _new_password(args)
    rt = prepare(_settings(args))
    try:
        with transaction(rt.factory) as session:
            add_user(session, args.username, password, args.role, args.name or "")
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"user {args.username} ({args.role}) created")
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    from responder.bootstrap import prepare
    from responder.users import list_users

    rt = prepare(_settings(args))
    with rt.factory() as session:
        for user, sessions in list_users(session):
            state = "active" if user.active else "deactivated"
            print(
                f"{user.username}\t{user.role}\t{state}\t{sessions} sessions\t{user.display_name}"
            )
    return 0


def cmd_user_password(args: argparse.Namespace) -> int:
    """The way back in when no admin can log in: resets the password and reactivates."""
    from sqlalchemy import select

    from responder.bootstrap import prepare
    from responder.db.models import StaffUser
    from responder.db.session import transaction
    from responder.review import audit
    from responder.users import UnknownUser, UserError, reset_password, set_active

    password = _new_password(args)
    rt = prepare(_settings(args))
    try:
        with transaction(rt.factory) as session:
            user = session.scalar(select(StaffUser).where(StaffUser.username == args.username))
            if user is None:
                raise UnknownUser(f"no staff account named {args.username!r}")
            reset_password(session, user.id, password)
            set_active(session, user.id, True)
            audit(session, "cli", "staff.password_reset", "staff", user.id)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"password of {args.username} reset; their sessions are ended; the account is active")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from responder.demo import load_demo

    settings = _settings(args)
    report = load_demo(settings)
    for line in report:
        print(line)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from responder.bootstrap import prepare
    from responder.customers.importer import ImportFileError, import_csv

    settings = _settings(args)
    rt = prepare(settings)
    with tqdm(unit=" rows", disable=not sys.stderr.isatty()) as bar:

        def progress(count: int) -> None:
            bar.update(count - bar.n)

        try:
            summary = import_csv(
                rt.factory, args.import_command, Path(args.file), progress, settings=settings
            )
        except (ImportFileError, OSError) as exc:
            print(f"error: {exc}. Nothing on file changed.", file=sys.stderr)
            return 2
    if summary.redraft_ids and not args.leave_redrafts:
        summary.redrafts = _redraft_imported(rt, summary.path, summary.redraft_ids)
    for error in summary.errors:
        print(error, file=sys.stderr)
    for linked in summary.linked + summary.not_linked:
        print(linked)
    if summary.redrafts:
        print(summary.redrafts)
    if summary.stopped:
        print(f"error: {summary.stopped}.", file=sys.stderr)
    if summary.audit_failed:
        print(f"error: {summary.audit_failed}.", file=sys.stderr)
    print(
        f"rows: {summary.rows}\ncreated: {summary.created}\nupdated: {summary.updated}\n"
        f"skipped: {summary.skipped}"
    )
    if summary.audit_failed:
        return 4
    if summary.stopped:
        return 3
    return 0 if not summary.errors else 1


def _redraft_imported(rt: Runtime, path: str, ids: list[int]) -> str:
    """The drafts this import queued, written again here (claimed as a worker claims them,
    so a running worker shares them and none is written twice): what became of them, those
    a worker still holds included."""
    from responder.customers.redraft_queue import outcomes, release
    from responder.db.outage import first_line
    from responder.drafting.customer_known import redraft_queued

    worker_id = f"import:{socket.gethostname()}:{os.getpid()}"
    try:
        redraft_queued(rt, worker_id, only=ids)
        with rt.factory() as session:
            return outcomes(session, ids).words(path)
    except KeyboardInterrupt:
        # Stopped by hand: what it had claimed goes back to the workers, attempts unspent.
        with contextlib.suppress(Exception):
            release(rt.factory, worker_id)
        raise
    except Exception as exc:  # the import is in, and the drafts queued: the workers take them
        logging.getLogger(__name__).exception("import of %s: redrafting here failed", path)
        with contextlib.suppress(Exception):
            release(rt.factory, worker_id)
        return (
            f"{path}: the waiting drafts of the senders it linked are queued, but were not"
            f" written again here ({first_line(exc)}): the workers will write them"
        )


def cmd_rescore(args: argparse.Namespace) -> int:
    from responder.bootstrap import prepare
    from responder.customers.value import recompute_tiers
    from responder.db.session import transaction

    settings = _settings(args)
    rt = prepare(settings)
    with transaction(rt.factory) as session:
        recompute_tiers(session, settings.value)
    print("value scores and tiers recomputed")
    return 0


def cmd_recompute_due(args: argparse.Namespace) -> int:
    from responder.bootstrap import prepare
    from responder.db.session import transaction
    from responder.due_times import recompute_due_times

    settings = _settings(args)
    rt = prepare(settings)
    with transaction(rt.factory) as session:
        count = recompute_due_times(session, settings.queue)
    print(f"due times recomputed for {count} waiting message(s)")
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    from responder.bootstrap import prepare
    from responder.db.session import transaction
    from responder.review import ReviewError, retry

    rt = prepare(_settings(args))
    try:
        with transaction(rt.factory) as session:
            message = retry(session, args.message_id, "cli")
            why = f": {message.state_reason}" if message.state == "ignored" else ""
            print(f"message {message.id}: {message.state}{why}")
    except ReviewError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _content_folders(args: argparse.Namespace, settings: Settings) -> tuple[Path, Path]:
    templates = Path(args.templates) if args.templates else None
    classifiers = Path(args.classifiers) if args.classifiers else None
    return (
        templates or settings.path(settings.drafting.templates_dir),
        classifiers or settings.path(settings.classify.definitions_dir),
    )


def cmd_export(args: argparse.Namespace) -> int:
    from responder.bootstrap import prepare
    from responder.supervisor.content_files import export_content

    settings = _settings(args)
    # Not seeded from the files first: export writes what the database holds, and a file it
    # is about to replace may be one the seeding cannot read.
    rt = prepare(settings, seed=False)
    templates, classifiers = _content_folders(args, settings)
    with rt.factory() as session:
        report = export_content(session, templates, classifiers)
    for path in report.written:
        malformed = report.replaced.get(path)
        said = f" (it replaces a malformed file: {malformed})" if malformed else ""
        print(f"wrote {path}{said}")
    for path in report.removed:
        print(f"removed {path} (switched off)")
    for line in report.refused:
        print(f"error: {line}", file=sys.stderr)
    print("\n".join(report.lines()))
    return 1 if report.refused else 0


def cmd_import_content(args: argparse.Namespace) -> int:
    from responder.bootstrap import prepare
    from responder.db.session import transaction
    from responder.supervisor.content_files import import_content

    settings = _settings(args)
    rt = prepare(settings, seed=False)
    templates, classifiers = _content_folders(args, settings)
    with transaction(rt.factory) as session:
        report = import_content(session, settings, templates, classifiers, author=args.author)
    for line in report.refused:
        print(f"error: {line}", file=sys.stderr)
    for line in report.kept_retired:
        print(line)
    print("\n".join(report.lines()))
    return 1 if report.refused else 0


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def cmd_train(args: argparse.Namespace) -> int:
    from responder.classify.commands import train

    return train(_settings(args), args.name, args.examples, progress=_say)


def cmd_eval(args: argparse.Namespace) -> int:
    from responder.classify.commands import evaluate_file

    return evaluate_file(_settings(args), args.name, args.data, args.out_of_scope_label, _say)


def cmd_classify(args: argparse.Namespace) -> int:
    from responder.classify.commands import classify_text

    return classify_text(_settings(args), args.text)


def _block_lines(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(where, text) for each sender named on the command line or in --file; comments and
    blank lines in the file are skipped."""
    named = [("argument", text) for text in args.senders]
    if args.file:
        lines = Path(args.file).read_text(encoding="utf-8", errors="replace").splitlines()
        for number, line in enumerate(lines, start=1):
            text = line.split("#", 1)[0].strip()
            if text:
                named.append((f"{args.file}:{number}", text))
    return named


def cmd_blocked_add(args: argparse.Namespace) -> int:
    """Block senders (a spam list carried over from another helpdesk, say); a line that is not
    an address or domain, or is blocked already, is reported and the rest go in."""
    from responder.blocklist import BlockError, block, parse_pattern
    from responder.bootstrap import prepare
    from responder.db.session import transaction
    from responder.review import audit

    rt = prepare(_settings(args))
    added, problems = 0, 0
    for where, text in _block_lines(args):
        try:
            with transaction(rt.factory) as session:
                pattern = parse_pattern(text)
                entry = block(session, pattern, args.reason, "cli", own_addresses=rt.own_addresses)
                audit(
                    session,
                    "cli",
                    "sender.block",
                    "blocked_sender",
                    entry.id,
                    sender=pattern.shown,
                    reason=entry.reason,
                )
            added += 1
        except BlockError as exc:
            print(f"{where}: {text}: {exc}", file=sys.stderr)
            problems += 1
    print(f"blocked: {added}")
    return 1 if problems else 0


def cmd_blocked_list(args: argparse.Namespace) -> int:
    from responder.blocklist import blocked_rows
    from responder.bootstrap import prepare

    rt = prepare(_settings(args))
    with rt.factory() as session:
        for row in blocked_rows(session):
            print(
                f"{row['sender']}\t{row['messages_stopped']} stopped\t{row['blocked_by']}\t"
                f"{row['blocked_at'][:10]}\t{row['reason']}"
            )
    return 0


def cmd_blocked_remove(args: argparse.Namespace) -> int:
    from responder.blocklist import BlockError, find_block, parse_pattern, unblock
    from responder.bootstrap import prepare
    from responder.db.session import transaction
    from responder.review import audit

    rt = prepare(_settings(args))
    problems = 0
    for where, text in _block_lines(args):
        try:
            with transaction(rt.factory) as session:
                entry = find_block(session, parse_pattern(text))
                if entry is None:
                    raise BlockError("not blocked")
                block_id = entry.id
                done = unblock(
                    session,
                    block_id,
                    process_stopped=args.draft_stopped,
                    by="cli",
                    restore_spam=args.restore_spam,
                )
                audit(
                    session,
                    "cli",
                    "sender.unblock",
                    "blocked_sender",
                    block_id,
                    sender=done.pattern.shown,
                    processed_again=done.processed_again,
                    restored=done.restored,
                    spam_restored=done.spam_restored,
                    spam_kept_rejected=done.spam_kept,
                )
            back, again = len(done.restored), done.processed_again
            spam_back = ", ".join(str(i) for i in done.spam_restored)
            spam_kept = ", ".join(str(i) for i in done.spam_kept)
            print(
                f"{done.pattern.shown}: unblocked"
                + (f", {back} rejected drafts back in the queue" if back else "")
                + (f", {again} messages to draft" if again else "")
                + (f", marked as spam and back in the queue: {spam_back}" if spam_back else "")
                + (
                    f", marked as spam and still rejected: {spam_kept} (--restore-spam)"
                    if spam_kept
                    else ""
                )
            )
        except BlockError as exc:
            print(f"{where}: {text}: {exc}", file=sys.stderr)
            problems += 1
    return 1 if problems else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="responder", description=__doc__)
    parser.add_argument("--config", help="path to config.toml (default: ./config.toml)")
    sub = parser.add_subparsers(dest="command", required=True)

    said = (
        "web app in [web] workers processes on one port (0: one per core), with one pipeline "
        "worker and the mail pollers and IMAP watchers"
    )
    serve = sub.add_parser("serve", help=said, description=f"The {said}.")
    serve.add_argument("--host", help="address to listen on (default: [web] host)")
    serve.add_argument("--port", type=int, help="port to listen on (default: [web] port)")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="process queued messages")
    worker.add_argument("--once", action="store_true", help="drain the queue, print counts, exit")
    worker.add_argument("--poll", action="store_true", help="also poll the mail sources")
    worker.add_argument(
        "--concurrency", type=int, default=1, help="worker threads sharing this process's models"
    )
    worker.set_defaults(func=cmd_worker)

    poll = sub.add_parser("poll", help="ingest waiting mail and process it")
    poll.add_argument("--once", action="store_true", help="ingest, process, print `STATE: N`")
    poll.set_defaults(func=cmd_poll)

    user = sub.add_parser("user", help="staff accounts").add_subparsers(
        dest="user_command", required=True
    )
    add = user.add_parser("add", help="create a staff user (password from stdin or prompt)")
    add.add_argument("username")
    add.add_argument("--role", default="agent", choices=["agent", "supervisor", "admin"])
    add.add_argument("--name", help="display name")
    add.add_argument("--password", help="avoid on shared machines; stdin or prompt is safer")
    add.set_defaults(func=cmd_user_add)
    user.add_parser("list", help="list staff accounts").set_defaults(func=cmd_user_list)
    password = user.add_parser(
        "password", help="reset a password and reactivate the account (stdin or prompt)"
    )
    password.add_argument("username")
    password.add_argument("--password", help="avoid on shared machines; stdin or prompt is safer")
    password.set_defaults(func=cmd_user_password)

    blocked = sub.add_parser("blocked", help="blocked senders (spam)").add_subparsers(
        dest="blocked_command", required=True
    )
    block_add = blocked.add_parser("add", help="block addresses or @domains")
    block_add.add_argument("senders", nargs="*", help="someone@example.com or @example.com")
    block_add.add_argument("--file", help="one address or @domain a line; # starts a comment")
    block_add.add_argument("--reason", default="", help="why, for the record")
    block_add.set_defaults(func=cmd_blocked_add)
    blocked.add_parser("list", help="list blocked senders").set_defaults(func=cmd_blocked_list)
    block_remove = blocked.add_parser("remove", help="lift blocks")
    block_remove.add_argument("senders", nargs="*")
    block_remove.add_argument("--file")
    block_remove.add_argument(
        "--draft-stopped", action="store_true", help="draft the messages the block stopped"
    )
    block_remove.add_argument(
        "--restore-spam",
        action="store_true",
        help="put back the message a person marked as spam (its Spam click set the block)",
    )
    block_remove.set_defaults(func=cmd_blocked_remove)

    demo = sub.add_parser(
        "demo", help="load demo customers and staff, drop demo emails in the mailbox"
    )
    demo.set_defaults(func=cmd_demo)

    db = sub.add_parser("db", help="database").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="create or upgrade the schema").set_defaults(func=cmd_db_upgrade)

    imp = sub.add_parser("import", help="import CSV exports").add_subparsers(
        dest="import_command", required=True
    )
    for kind, what in (
        ("customers", "customers CSV from the CRM (upsert by external id)"),
        ("subscriptions", "subscriptions or accounts CSV from billing"),
        ("cases", "cases CSV from the CRM (open and closed)"),
        ("interactions", "interactions CSV (call-centre notes and other contacts)"),
    ):
        one = imp.add_parser(kind, help=what)
        one.add_argument("file")
        one.add_argument(
            "--leave-redrafts",
            action="store_true",
            help="leave the linked senders' waiting drafts to the workers instead of writing "
            "them again before returning",
        )
        one.set_defaults(func=cmd_import)

    people = sub.add_parser("customers", help="the single customer view").add_subparsers(
        dest="customers_command", required=True
    )
    people.add_parser(
        "rescore", help="recompute value scores and tiers (after changing [value] settings)"
    ).set_defaults(func=cmd_rescore)

    queue = sub.add_parser("queue", help="the review queue").add_subparsers(
        dest="queue_command", required=True
    )
    queue.add_parser(
        "recompute-due",
        help="due times again for waiting mail (after changing [queue] SLA or opening hours)",
    ).set_defaults(func=cmd_recompute_due)

    export = sub.add_parser(
        "export", help="write live templates, snippets and examples back to their files"
    )
    load = sub.add_parser(
        "import-content", help="load template, snippet and example files as new versions"
    )
    for command, func in ((export, cmd_export), (load, cmd_import_content)):
        command.add_argument("--templates", help="templates folder (default: from config)")
        command.add_argument("--classifiers", help="classifiers folder (default: from config)")
        command.set_defaults(func=func)
    load.add_argument("--author", default="import", help="recorded as the versions' author")

    retry = sub.add_parser("retry", help="send a quarantined or failed message through again")
    retry.add_argument("message_id", type=int)
    retry.set_defaults(func=cmd_retry)

    train = sub.add_parser("train", help="train a classifier, store a new version, activate it")
    train.add_argument("name", help="classifier name (intent, sentiment, urgency or a new one)")
    train.add_argument("--examples", help="CSV with text,label (or text,category) columns")
    train.set_defaults(func=cmd_train)

    ev = sub.add_parser("eval", help="score the active model of a classifier on a labelled CSV")
    ev.add_argument("name")
    ev.add_argument("--data", required=True, help="CSV with text,label (or text,category)")
    ev.add_argument(
        "--out-of-scope-label", help="rows with this label are expected back as `unknown`"
    )
    ev.set_defaults(func=cmd_eval)

    classify = sub.add_parser("classify", help="print every classifier's prediction for a text")
    classify.add_argument("text")
    classify.set_defaults(func=cmd_classify)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(
        level=os.environ.get("RESPONDER_LOG_LEVEL", "WARNING"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
