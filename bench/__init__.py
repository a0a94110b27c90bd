"""Benchmarks: ingest, end to end, timers at scale, intents (see bench/README.md)."""
