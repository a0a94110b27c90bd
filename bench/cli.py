"""What every benchmark's command line shares: --quick, --backend, --json-out, a temp
dir for the set-ups, the markdown table on stdout and the JSON for run_all.py."""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import backends


def parser(doc: str, quick: str) -> argparse.ArgumentParser:
    """The shared options; `quick` says what --quick shortens to."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help=quick)
    ap.add_argument("--backend", action="append", choices=backends.KINDS)
    ap.add_argument("--json-out", help="also write the results as JSON to this file")
    return ap


def kinds(args: argparse.Namespace) -> tuple[str, ...]:
    return tuple(args.backend or backends.KINDS)


def run(
    args: argparse.Namespace,
    measure: Callable[[Path], list[dict[str, Any]]],
    markdown: Callable[[list[dict[str, Any]]], str],
) -> list[dict[str, Any]]:
    """`measure(tmp)` in a fresh temp dir; print its table; write --json-out."""
    with tempfile.TemporaryDirectory(prefix="offerbot-bench-") as tmp:
        results = measure(Path(tmp))
    print(markdown(results))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, ensure_ascii=False, indent=1))
    return results
