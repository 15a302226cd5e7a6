"""Command line: `serve` runs the API, `prod` runs it under gunicorn, `token` mints a bearer token,
`rotate-keys` re-encrypts stored secrets."""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import signal
import sys
import threading
import time
import warnings
from typing import Iterator

from core.auth import ROLES, mint_token
from core.settings import Settings, SettingsError

log = logging.getLogger(__name__)

DEMO_BUSINESS, DEMO_USER = "test_business_id", "test_user_id"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the integrations-api command."""
    parser = argparse.ArgumentParser(prog="integrations-api", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="run the API (embedded database when MONGODB_URI is unset)")
    prod_parser = commands.add_parser("prod", help="run the API under gunicorn with WEB_CONCURRENCY workers")
    for server in (serve_parser, prod_parser):
        server.add_argument("--stop-with-parent", action="store_true",
                            help="shut down when the launching process exits (tox does not pass SIGTERM on)")
    commands.add_parser("rotate-keys", help="re-encrypt every stored secret with the newest ENCRYPTION_KEYS key and print counts")
    token = commands.add_parser("token", help="print a bearer token for a business and user")
    token.add_argument("--business", required=True, help="businessId claim")
    token.add_argument("--user", required=True, help="sub claim (user id)")
    token.add_argument("--role", choices=ROLES, help="role claim (default: none, which means owner)")
    token.add_argument("--hours", type=float, default=24.0, help="lifetime in hours (default 24)")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        if args.command == "rotate-keys":
            return rotate_keys(settings)
        if args.command == "token":
            if settings.asymmetric_tokens:
                print("integrations-api: tokens are verified with JWT_PUBLIC_KEY or JWT_JWKS_URL; your identity provider issues them",
                      file=sys.stderr)
                return 2
            if not 0 < args.hours <= 24 * 366:
                parser.error("--hours must be between 0 and 8784")
            print(mint_token(settings.jwt_secret, business_id=args.business, user_id=args.user, role=args.role, hours=args.hours))
            return 0
        if args.stop_with_parent:
            _stop_with_parent()
        return prod(settings) if args.command == "prod" else serve(settings)
    except SettingsError as exc:
        print(f"integrations-api: {exc}", file=sys.stderr)
        return 2


def serve(settings: Settings) -> int:
    """Run the API with uvicorn until SIGINT/SIGTERM, with an embedded database if none is configured."""
    import uvicorn

    with _database(settings) as settings:
        from app import create_app

        app = create_app(settings)
        _print_banner(settings)
        uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False, server_header=False)
    return 0


def prod(settings: Settings) -> int:
    """Run the API under gunicorn with WEB_CONCURRENCY uvicorn workers until SIGTERM (graceful) or SIGINT."""
    from core.production import ProductionServer, metrics_directory

    # Before anything imports prometheus_client, so every worker records into the shared directory.
    with metrics_directory(), _database(settings) as settings:
        _print_banner(settings)
        ProductionServer(settings).run()
    return 0


@contextlib.contextmanager
def _database(settings: Settings) -> Iterator[Settings]:
    """The settings with a database: MONGODB_URI, or an embedded server started here and stopped on exit."""
    # Connexion imports Starlette's test client, which warns about its HTTP library; serving never uses it.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from core.database import EmbeddedMongo
    from core.logs import configure_logging

    configure_logging(settings.log_level)
    # uvicorn and gunicorn end with SIGTERM handling of their own that may re-raise it or exit; a
    # SystemExit lets the embedded database below be stopped too instead of the process dying on the spot.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    if settings.mongodb_uri is not None:
        yield settings
        return
    embedded = EmbeddedMongo(settings.data_dir).start()
    owner = os.getpid()
    try:
        yield dataclasses.replace(settings, mongodb_uri=embedded.uri)
    finally:
        # gunicorn workers are forks of this process and unwind through here when they exit:
        # only the process that started the database stops it.
        if os.getpid() == owner:
            embedded.stop()
            log.info("embedded database stopped")


def _print_banner(settings: Settings) -> None:
    """Where the API listens and, outside production, a token for the spec's test ids."""
    if settings.production or settings.asymmetric_tokens:
        return
    demo = mint_token(settings.jwt_secret, business_id=DEMO_BUSINESS, user_id=DEMO_USER, hours=24)
    print(
        f"\nIntegrations API on http://{settings.host}:{settings.port}/api/v1 "
        f"(docs: {settings.public_base_url}/api/v1/ui/, providers: {settings.providers})\n"
        f"Token for {DEMO_BUSINESS}/{DEMO_USER}, valid 24 hours:\n\n"
        f"export TOKEN={demo}\n",
        file=sys.stderr,
        flush=True,
    )


def _stop_with_parent() -> None:
    """Shut down gracefully (SIGTERM to ourselves) when the launching process goes away.

    A wrapper such as tox may exit on SIGTERM without passing it on; the server would then keep
    running, orphaned, with its embedded database.
    """
    parent, me = os.getppid(), os.getpid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        log.info("the launching process exited; shutting down")
        os.kill(me, signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def rotate_keys(settings: Settings) -> int:
    """Re-encrypt stored secrets with the newest key; print counts per field (never a secret)."""
    from pymongo.errors import PyMongoError

    from core import database
    from core.database import EmbeddedMongo
    from core.logs import configure_logging
    from models.rotation import rotate_all

    configure_logging(settings.log_level)
    embedded, uri = None, settings.mongodb_uri
    if uri is None:
        embedded = EmbeddedMongo(settings.data_dir)
        if embedded.running_pid() is not None:
            # Starting a second server on the same file would stop the running one under `serve`.
            print("integrations-api: the embedded database is in use by a running server; stop it first", file=sys.stderr)
            return 2
        uri = embedded.start().uri
    try:
        database.connect(uri, db=settings.mongodb_db, timeout_ms=settings.db_timeout_ms)
        counts = rotate_all(settings.encryption_keys)
    except PyMongoError as exc:
        print(f"integrations-api: the database is unavailable ({type(exc).__name__})", file=sys.stderr)
        return 1
    finally:
        if embedded is not None:
            embedded.stop()
    for count in counts:
        print(count)
    lost = sum(count.undecryptable for count in counts)
    if lost:
        print(f"{lost} record(s) could not be decrypted with any key: marked status error, to be reconnected")
    return 0


def _exit_on_signal(signum, frame) -> None:
    raise SystemExit(0)


if __name__ == "__main__":
    sys.exit(main())
