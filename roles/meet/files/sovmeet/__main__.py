"""python3 -m sovmeet --config FILE          run the app (uvicorn, loopback)
python3 -m sovmeet --check-config FILE    validate a settings file (roles/meet runs it)
python3 -m sovmeet --config FILE --import-rooms SQLITE
                                          copy the rooms an earlier release kept on this
                                          host into the configured database, then rename
                                          the file to SQLITE.imported (roles/meet runs it)
"""

from __future__ import annotations

import argparse
import logging
import sys

from . import config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sovmeet")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--config", help="settings file to run with")
    group.add_argument("--check-config", help="only validate this settings file")
    parser.add_argument("--import-rooms", metavar="SQLITE",
                        help="import an earlier release's rooms (needs --config)")
    args = parser.parse_args(argv)
    if args.import_rooms and not args.config:
        parser.error("--import-rooms needs --config")
    try:
        cfg = config.load(args.check_config or args.config)
    except config.ConfigError as exc:
        print(f"sovmeet: invalid settings: {exc}", file=sys.stderr)
        return 2
    problems = config.check_files(cfg)
    if problems:
        print("sovmeet: " + "; ".join(problems), file=sys.stderr)
        return 2
    if args.check_config:
        print("sovmeet: settings OK")
        return 0
    if args.import_rooms:
        from .rooms import RoomStore, import_rooms

        store = RoomStore(cfg.database, cfg.database_password)
        try:
            count = import_rooms(store, args.import_rooms)
        finally:
            store.close()
        print(f"sovmeet: {count} room(s) imported from {args.import_rooms}")
        return 0
    import uvicorn

    from .app import create_app

    logging.basicConfig(level=cfg.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    # httpx logs every request's URL at INFO: the app logs its own events instead.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # No access log: it would record every participant's address and the rooms they visit.
    uvicorn.run(create_app(cfg), host=cfg.listen_host, port=cfg.listen_port,
                access_log=False, server_header=False, proxy_headers=True,
                forwarded_allow_ips="127.0.0.1", log_level=cfg.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
