"""A real, throw-away PostgreSQL server for the tests and benchmarks.

    with TempPostgres() as pg:
        url = pg.create_database("jobs")        # postgresql://runcomfy:<pw>@127.0.0.1:<port>/jobs

``start()`` makes a data folder in a new temporary folder (initdb: password authentication,
scram-sha-256, for TCP and the local socket; a superuser ``postgres`` with a random password)
and starts the server on a free port of 127.0.0.1, with the settings of a database nobody
keeps (no fsync, no full-page writes).  Commits stay synchronous: without fsync that costs
nothing measurable (80 µs a commit either way), and a commit returned is then in the WAL, so
it survives ``kill()`` as it would a real server's crash.  ``restart()`` stops and starts it
on the same port and data, as a studio's database restarted under a running job; ``kill()``
is its crash.  ``cleanup()`` (or leaving the ``with``) stops it and removes the folder; a
server still running when Python exits is stopped then (atexit), so none outlives the tests.

PostgreSQL refuses to run as root: as root the server's programs run as the user ``postgres``
(made by Debian's package; created here with ``useradd -r`` when missing), through ``runuser``,
and the temporary folder is theirs.

The server's own programs (initdb, pg_ctl, postgres) are needed: ``pg_config --bindir``, else
the newest /usr/lib/postgresql/*/bin, else PATH.  Without them: ``apt-get install postgresql``.
"""
from __future__ import annotations

import atexit
import glob
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

HOST = "127.0.0.1"
SUPERUSER = "postgres"
DEFAULT_ROLE = "runcomfy"
PROGRAMS = ("initdb", "pg_ctl", "postgres")
INSTALL = ("install PostgreSQL's server: `apt-get install postgresql` (Debian, Ubuntu), "
           "`dnf install postgresql-server` (Fedora), `brew install postgresql` (macOS)")
PREFIX = "runcomfy-pg-"     # the temporary folders: <tmp>/runcomfy-pg-XXXXXXXX
SOCKET_MAX = 100          # a Unix socket's path holds at most 107 bytes (Linux), 103 (macOS)
_LIVE: set["TempPostgres"] = set()


class PostgresError(RuntimeError):
    """PostgreSQL could not be found, started or stopped; the message says why."""


def find_bindir() -> Path:
    """The folder of the server's programs: ``pg_config --bindir``, else the newest
    /usr/lib/postgresql/*/bin, else the one of ``initdb`` on PATH."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True,
                                 timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        if out:
            candidates.append(Path(out))
    debian = glob.glob("/usr/lib/postgresql/*/bin")
    debian.sort(key=lambda d: [int(n) for n in re.findall(r"\d+", Path(d).parent.name)],
                reverse=True)
    candidates += [Path(d) for d in debian]
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    for d in candidates:
        if all(os.access(d / p, os.X_OK) for p in PROGRAMS):
            return d
    looked = ", ".join(str(d) for d in candidates) or "pg_config, /usr/lib/postgresql/*/bin, PATH"
    raise PostgresError(f"PostgreSQL's server programs (initdb, pg_ctl, postgres) were not "
                        f"found (looked in: {looked}); {INSTALL}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _reachable_by_others(folder: str) -> bool:
    """Whether another user (postgres) can pass through every folder down to ``folder``."""
    p = Path(folder).resolve()
    return all(os.stat(d).st_mode & stat.S_IXOTH for d in (p, *p.parents))


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie waiting for its parent counts as gone)."""
    if os.path.isdir("/proc/self"):
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False
    try:                      # no /proc (macOS): ask the kernel
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (none known without /proc)."""
    found = []
    for path in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(path) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            found.append(int(path.split("/")[2]))
    return found


class TempPostgres:
    """One throw-away PostgreSQL server (see the module's description)."""

    host = HOST

    def __init__(self, durable: bool = False) -> None:
        self.durable = durable                     # fsync on, as a real server (the benchmarks)
        self.bindir = find_bindir()
        self.password = secrets.token_hex(16)      # the superuser's
        self.port: int | None = None
        self.root: Path | None = None              # the temporary folder: data, socket, log
        self._as_root = os.geteuid() == 0
        self._initialized = False
        self._running = False
        self._crashed = False                      # killed, not started since
        self._passwords: dict[str, str] = {}       # role → its password

    # -- where things are ------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        return self._folder() / "data"

    @property
    def socket_dir(self) -> Path:
        return self._folder() / "socket"

    @property
    def log_path(self) -> Path:
        return self._folder() / "server.log"

    def _folder(self) -> Path:
        if self.root is None:
            raise PostgresError("the server has not been started (call start())")
        return self.root

    def admin_url(self, db: str = "postgres") -> str:
        return self._url(SUPERUSER, self.password, db)

    def url(self, db: str, role: str = DEFAULT_ROLE) -> str:
        """The URL of ``role`` (made by create_database) on database ``db``."""
        if role not in self._passwords:
            raise PostgresError(f"no role {role!r} was made here (create_database makes it)")
        return self._url(role, self._passwords[role], db)

    def _url(self, user: str, password: str, db: str) -> str:
        if self.port is None:
            raise PostgresError("the server has not been started (call start())")
        return (f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}"
                f"@{self.host}:{self.port}/{quote(db, safe='')}")

    # -- life --------------------------------------------------------------------------------

    def start(self) -> "TempPostgres":
        """Starts the server (the first time: makes its folder and data, picks its port)."""
        if self._running:
            return self
        if not self._initialized:
            self._make_folder()
            _LIVE.add(self)
            self._initdb()
        if self.port is not None:
            self._pg_ctl_start()
            return self
        for attempt in range(3):       # a free port can be taken before the server binds it
            self.port = _free_port()
            try:
                self._pg_ctl_start()
                return self
            except PostgresError:
                if attempt == 2 or "could not bind" not in self._log_tail():
                    raise
        return self

    def stop(self) -> None:
        """Stops the server (fast: open connections are ended, the data is kept)."""
        if not self._running:
            return
        r = self._run([self._bin("pg_ctl"), "stop", "-w", "-t", "30", "-m", "fast",
                       "-D", str(self.data_dir)])
        pid = self.pid
        if r.returncode != 0 and pid is not None and _alive(pid):
            raise PostgresError(f"pg_ctl stop failed ({r.returncode}): {r.stdout}{r.stderr}"
                                f"{self._log_tail()}")
        self._running = False

    def restart(self) -> None:
        """Stops and starts the server on the same port and data."""
        self.stop()
        self.start()

    def kill(self) -> None:
        """The server's crash: the postmaster and all its processes killed at once (SIGKILL).
        ``start()`` recovers it as PostgreSQL does after a crash."""
        pid = self.pid
        if pid is not None and _alive(pid):
            os.kill(pid, signal.SIGSTOP)               # it forks no new process while we look
            procs = [pid, *_children(pid)]
            for p in procs:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 10
            while any(map(_alive, procs)) and time.monotonic() < deadline:
                time.sleep(0.01)
        if pid is not None and not _alive(pid):
            # The lock file names the dead postmaster.  Orphaned, it is a zombie until its new
            # parent (init) reaps it, and a zombie's PID still answers: PostgreSQL would take
            # it for a running server and refuse to start.  Gone, the files are stale anyway
            # (the data folder's lock, and the socket's).
            (self.data_dir / "postmaster.pid").unlink(missing_ok=True)
            for lock in self.socket_dir.glob(".s.PGSQL.*"):
                lock.unlink(missing_ok=True)
        self._running = False
        self._crashed = True

    def cleanup(self) -> None:
        """Stops the server (killing it if it will not stop) and removes its folder."""
        try:
            if self._crashed and self.root is not None:
                # Started once more, it frees what the crash left: its shared memory
                # (/dev/shm/PostgreSQL.*, a System V segment), which outlives the folder.
                self.start()
            self.stop()
        except Exception:
            self.kill()
        _LIVE.discard(self)
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
            self._initialized = False

    def __enter__(self) -> "TempPostgres":
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, *exc) -> None:
        self.cleanup()

    # -- databases ---------------------------------------------------------------------------

    def create_database(self, name: str, role: str | None = None,
                        password: str | None = None) -> str:
        """Makes (if missing) the login role ``role`` (default "runcomfy"; with ``password``,
        else the one it was given before, else a random one) and the database ``name`` owned
        by it, so the role can make its own tables there; returns the role's URL on it."""
        import psycopg
        from psycopg import sql

        role = role or DEFAULT_ROLE
        if password is None:
            password = self._passwords.get(role) or secrets.token_hex(16)
        with psycopg.connect(self.admin_url(), autocommit=True, connect_timeout=10) as conn:
            known = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            if not known or self._passwords.get(role) != password:
                verb = "ALTER" if known else "CREATE"
                conn.execute(sql.SQL(verb + " ROLE {} WITH LOGIN PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(password)))
            self._passwords[role] = password
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                (name,)).fetchone():
                # From PostgreSQL 15 a database is copied through the WAL by default: 150-200
                # ms here, against 15 ms for a file copy (its checkpoint is cheap without fsync).
                copy = " STRATEGY FILE_COPY" if conn.info.server_version >= 150000 else ""
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {} TEMPLATE template0" + copy)
                             .format(sql.Identifier(name), sql.Identifier(role)))
        return self.url(name, role)

    def drop_database(self, name: str) -> bool:
        """Drops database ``name`` if nobody is connected to it; whether it was dropped (one
        still in use, by a connection a test left open, is kept until the server goes)."""
        if not self._running:
            return False
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.admin_url(), autocommit=True, connect_timeout=10) as conn:
            # DROP DATABASE waits 5 s for the connections to it to end before it gives up
            if conn.execute("SELECT 1 FROM pg_stat_activity WHERE datname = %s",
                            (name,)).fetchone():
                return False
            try:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
            except psycopg.errors.ObjectInUse:
                return False
        return True

    # -- inside ------------------------------------------------------------------------------

    def _bin(self, program: str) -> str:
        return str(self.bindir / program)

    def _make_folder(self) -> None:
        base = tempfile.gettempdir()
        longest = len(base) + len(f"/{PREFIX}xxxxxxxx/socket/.s.PGSQL.65535")
        if (self._as_root and not _reachable_by_others(base)) or longest > SOCKET_MAX:
            base = "/tmp"
        self._remove_orphans(base)
        self.root = Path(tempfile.mkdtemp(prefix=PREFIX, dir=base))
        (self.root / "owner").write_text(f"{os.getpid()}\n")
        self.socket_dir.mkdir()
        if self._as_root:
            user = self._server_user()
            for p in (self.root, self.socket_dir):
                os.chown(p, user.pw_uid, user.pw_gid)

    def _remove_orphans(self, base: str) -> None:
        """Stops and removes the servers of earlier runs whose Python was killed (SIGKILL,
        say) before it could: their folder names a process that is gone."""
        for folder in glob.glob(os.path.join(base, PREFIX + "*")):
            try:
                owner = int(Path(folder, "owner").read_text())
            except (OSError, ValueError):
                continue
            if _alive(owner):
                continue
            lock = Path(folder, "data", "postmaster.pid")
            if lock.exists():
                self._run([self._bin("pg_ctl"), "stop", "-w", "-t", "10", "-m", "immediate",
                           "-D", str(lock.parent)], cwd=folder)
                try:
                    if _alive(int(lock.read_text().split("\n", 1)[0])):
                        continue                # not ours to stop (another user's): left
                except (OSError, ValueError):
                    pass
            shutil.rmtree(folder, ignore_errors=True)

    def _server_user(self) -> pwd.struct_passwd:
        try:
            return pwd.getpwnam(SUPERUSER)
        except KeyError:
            pass
        r = subprocess.run(["useradd", "-r", SUPERUSER], capture_output=True, text=True)
        try:
            return pwd.getpwnam(SUPERUSER)
        except KeyError:
            raise PostgresError(
                f"PostgreSQL will not run as root, and there is no user {SUPERUSER!r} to run it "
                f"as (`useradd -r {SUPERUSER}` failed: {r.stderr.strip()}); create it, or run "
                f"the tests as another user") from None

    def _run(self, cmd: list[str], timeout: float = 60,
             cwd: str | Path | None = None) -> subprocess.CompletedProcess:
        """Runs one of the server's programs: as the user postgres when we are root."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        kwargs: dict = {}
        if self._as_root:
            runuser = shutil.which("runuser")
            if runuser:
                cmd = [runuser, "-u", SUPERUSER, "--", *cmd]
            else:                       # no runuser (not util-linux): switch in the child
                user = self._server_user()
                kwargs = dict(user=user.pw_uid, group=user.pw_gid, extra_groups=[])
        cwd = cwd or self.root          # somewhere the user postgres may be
        env["HOME"] = str(cwd)
        try:
            return subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, timeout=timeout, **kwargs)
        except subprocess.TimeoutExpired as e:
            raise PostgresError(f"{Path(cmd[0]).name} took over {timeout:.0f} s: "
                                f"{' '.join(cmd)}{self._log_tail()}") from e

    def _initdb(self) -> None:
        pwfile = self._folder() / "pwfile"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        if self._as_root:
            user = self._server_user()
            os.chown(pwfile, user.pw_uid, user.pw_gid)
        try:
            r = self._run([self._bin("initdb"), "-D", str(self.data_dir), "-U", SUPERUSER,
                           f"--pwfile={pwfile}", "--auth=scram-sha-256", "-E", "UTF8",
                           "--locale=C", "--no-sync"])
        finally:
            pwfile.unlink(missing_ok=True)
        if r.returncode != 0:
            raise PostgresError(f"initdb failed ({r.returncode}): {r.stdout}{r.stderr}")
        self._initialized = True

    def _pg_ctl_start(self) -> None:
        options = " ".join([
            f"-c listen_addresses={HOST}", f"-p {self.port}",
            f"-k {shlex.quote(str(self.socket_dir))}",
            *([] if self.durable else ["-c fsync=off", "-c full_page_writes=off"]),
            "-c password_encryption=scram-sha-256",
        ])
        r = self._run([self._bin("pg_ctl"), "start", "-w", "-t", "30", "-D", str(self.data_dir),
                       "-l", str(self.log_path), "-o", options])
        if r.returncode != 0:
            raise PostgresError(f"PostgreSQL did not start on {self.host}:{self.port} "
                                f"(pg_ctl {r.returncode}): {r.stdout}{r.stderr}{self._log_tail()}")
        self._running = True
        self._crashed = False

    @property
    def pid(self) -> int | None:
        """The postmaster's process id, from its lock file (None when there is none)."""
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError, PostgresError):
            return None

    def _log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except (OSError, PostgresError):
            return ""
        return "\nserver log (" + str(self.log_path) + "):\n" + "\n".join(text) if text else ""


@atexit.register
def _stop_all() -> None:
    for pg in list(_LIVE):
        try:
            pg.cleanup()
        except Exception:
            pass
