"""offerbot serve | worker | migrate | import-csv | check-config | doctor | classify |
train-intents"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys

from bot.config import ConfigError, Settings, load_settings
from bot.lifecycle import run_service


def _settings(args: argparse.Namespace) -> Settings:
    try:
        return load_settings(args.config)
    except ConfigError as exc:
        for line in exc.problems:
            print(f"config error: {line}", file=sys.stderr)
        raise SystemExit(2) from None


def _logging(settings: Settings, verbose: bool = False) -> None:
    from bot import logs

    logs.setup(settings.server.log_format, verbose)


def cmd_serve(args: argparse.Namespace) -> int:
    from bot.app import serve

    settings = _settings(args)
    _logging(settings, args.verbose)
    return run_service(serve(settings, with_worker=not args.no_worker))


def cmd_worker(args: argparse.Namespace) -> int:
    from bot.worker import run_worker

    settings = _settings(args)
    _logging(settings, args.verbose)
    return run_service(run_worker(settings))


def cmd_migrate(args: argparse.Namespace) -> int:
    from bot.storage import db

    settings = _settings(args)

    def progress(event: str, app: str, name: str) -> None:
        if event == "apply_done":
            print(f"applied {app}.{name}")

    asyncio.run(db.migrate(settings, progress=progress))
    print(f"database is up to date ({settings.database.url.split('@')[-1]})")
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    from bot.checkconfig import report

    settings = _settings(args)
    lines, ok = report(settings)
    print("\n".join(lines))
    return 0 if ok else 1


def cmd_import_csv(args: argparse.Namespace) -> int:
    from bot.compose import start_runtime
    from bot.importer import run_import

    settings = _settings(args)
    return asyncio.run(run_import(settings, args.kind, args.file, start=start_runtime))


def cmd_classify(args: argparse.Namespace) -> int:
    """One JSON object per reply: text, intent, concerns, sure, model (and with --explain,
    why: the top weighted features or the rule that fired). See docs/understanding.md."""
    from bot.compose import classifier

    settings = _settings(args)
    texts = args.text or [line.rstrip("\n") for line in sys.stdin if line.strip()]

    async def run() -> None:
        provider = classifier(settings)  # the reader `serve` uses, the same config
        try:
            for text in texts:
                result = await provider.classify(text)
                out = {
                    "text": text,
                    "intent": result.intent,
                    "concerns": list(result.concerns),
                    "sure": result.sure,
                    "model": result.model,
                }
                if args.explain:
                    local, why = provider.read(text, explain=True)
                    out["explain"] = list(why)
                    if result.source == "llm":
                        out["explain"].insert(
                            0, f"asked {result.model}: the local model was unsure ({local.intent})"
                        )
                print(json.dumps(out, ensure_ascii=False), flush=True)
        finally:
            await provider.close()

    asyncio.run(run())
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check every enabled integration for real; exit 1 when any check fails."""
    from bot.doctor import run_checks

    settings = _settings(args)
    logging.basicConfig(level=logging.CRITICAL)  # the report is the output, not log lines
    checks = asyncio.run(run_checks(settings))
    for check in checks:
        print(check.line())
    return 1 if any(c.ok is False for c in checks) else 0


def cmd_train_intents(args: argparse.Namespace) -> int:
    """Retrain the reply model with HR's corrections; keep it only if it is no worse."""
    from bot.services.retrain import report, retrain

    settings = _settings(args)
    try:
        outcome = asyncio.run(retrain(settings))
    except FileNotFoundError as exc:  # an install without the labelled corpus
        print(f"train-intents: the labelled corpus is missing ({exc.filename})", file=sys.stderr)
        return 2
    print("\n".join(report(outcome)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="offerbot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, fn, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--config", help="config file (default: $OFFERBOT_CONFIG or ./config.toml)")
        p.set_defaults(func=fn)
        return p

    p = add("serve", cmd_serve, "HTTP server and, unless --no-worker, its worker (a child process)")
    p.add_argument("--no-worker", action="store_true", help="run the HTTP server only")
    p.add_argument("-v", "--verbose", action="store_true")
    p = add("worker", cmd_worker, "an arq worker only")
    p.add_argument("-v", "--verbose", action="store_true")
    add("migrate", cmd_migrate, "create or upgrade the database schema")
    p = add("import-csv", cmd_import_csv, "import history from CSV")
    p.add_argument(
        "kind", choices=["requisitions", "candidates", "applications", "interviews", "offers"]
    )
    p.add_argument("file")
    add("check-config", cmd_check_config, "validate the config and print what is enabled")
    add("doctor", cmd_doctor, "check every enabled integration with its credentials")
    p = add("classify", cmd_classify, "classify candidate replies (args or stdin lines)")
    p.add_argument("text", nargs="*")
    p.add_argument("--explain", action="store_true", help="add why: top features or the rule")
    add(
        "train-intents",
        cmd_train_intents,
        "retrain the reply classifier with HR's corrections (kept only if no worse)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
