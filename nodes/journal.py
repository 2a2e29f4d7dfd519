"""``python -m nodes.journal``: a team's journal on PostgreSQL, from the command line.

    python -m nodes.journal check                  the team journal answers; its version, today's spend
    python -m nodes.journal migrate                copy this machine's sqlite journal into it
    python -m nodes.journal budget 50              the team's daily budget in USD (``none`` clears it)

The database is RUNCOMFY_JOURNAL_URL, else the URL saved in the user folder's settings
(``--user-dir``, as for ``nodes.catalog``); ``--to URL`` gives it (beware: a password on the
command line is seen by other users of the machine).  It is printed without its password.
``migrate`` is idempotent: jobs copied before, or whose request id the team journal has, are
left alone; this machine's downloaded files stay known as this machine's.
"""
from __future__ import annotations

import argparse
import sys

from .app.plain_host import PlainHost, cli_user_dir
from .app.runtime import machine_name
from .core.dburl import journal_url, redacted
from .core.errors import RunComfyError
from .core.settings import Settings
from .remote.journal_pg import PostgresJournal
from .remote.journal_sqlite import SqliteJournal


def team_journal(settings: Settings, given: str | None) -> PostgresJournal:
    url = journal_url(given) if given else settings.journal_url()
    if not url:
        raise SystemExit("error: no team journal: set RUNCOMFY_JOURNAL_URL (or give --to URL)")
    return PostgresJournal(url, machine=machine_name(settings), member=settings.member())


def check(journal: PostgresJournal, settings: Settings) -> str:
    today = journal.spend_today()
    budget = "none" if today.team_limit is None else f"${today.team_limit:.2f}"
    return (f"{journal.where}: reachable, schema ready. Today: the team spent ${today.total:.2f}, "
            f"{settings.member()} ${today.member_total:.2f}; the team's daily budget: {budget}.")


def migrate(journal: PostgresJournal, settings: Settings, user_dir) -> str:
    path = user_dir / "journal.sqlite3"
    if not path.is_file():
        return f"No journal at {path}: nothing to copy."
    rows = SqliteJournal(path).rows()
    added = journal.copy_in(rows, f"{journal.machine}:{path.resolve()}")
    return (f"Copied {added} of the {len(rows)} jobs of {path} into {journal.where} "
            f"({len(rows) - added} were there already).")


def budget(journal: PostgresJournal, value: str | None) -> str:
    if value is not None:
        usd = None if value.lower() in ("none", "off", "") else float(value)
        if usd is not None and not usd >= 0:
            raise SystemExit("error: the budget is 0 (no paid jobs) or more US dollars, or none")
        journal.set_team_limit(usd)
    now = journal.team_limit()
    return f"The team's daily budget in {journal.where}: {'none' if now is None else f'${now:.2f}'}."


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nodes.journal",
                                     description="A team's RunComfy journal on PostgreSQL.")
    parser.add_argument("--to", metavar="URL", help="the team journal (default: RUNCOMFY_JOURNAL_URL "
                                                    "or the saved setting)")
    parser.add_argument("--user-dir", metavar="DIR", help="ComfyUI's user folder (default: found as "
                                                          "nodes.catalog finds it)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="connect, prepare the tables, show today's spend")
    sub.add_parser("migrate", help="copy this machine's sqlite journal into the team journal")
    cap = sub.add_parser("budget", help="show or set the team's daily budget")
    cap.add_argument("usd", nargs="?", help="US dollars a day for the whole team, or none")
    args = parser.parse_args(argv)
    user = cli_user_dir(args.user_dir)
    settings = Settings(PlainHost(user_dir=user).user_dir())
    try:
        journal = team_journal(settings, args.to)
        if args.command == "check":
            print(check(journal, settings))
        elif args.command == "migrate":
            print(migrate(journal, settings, user))
        else:
            print(budget(journal, args.usd))
    except (RunComfyError, ValueError) as e:
        url = args.to or ""
        text = str(e).replace(url, redacted(url)) if url else str(e)
        print(f"error: {text}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
