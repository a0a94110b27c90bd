"""Long connections: ways in that need no public URL (docs/long-connections.md).

A transport is the webhook handler's twin for a connection the bot opens itself: it
verifies what arrives, stores it through `bot.services.ingest` (the same table and
de-duplication as webhooks) and only then acknowledges; the worker does the work. One
package per platform (`feishu_ws`, `wecom_bot`); `registry.build_transports` picks the
configured ones, `serve` starts and stops them, `/readyz` shows their `status()`.
"""
