"""Feishu's long connection (`[feishu] connection = "websocket"`, docs/long-connections.md).

lark-oapi 1.7.5's `ws.Client` speaks the protocol (endpoint call, protobuf frames,
pings, fragment reassembly), but it cannot live in our event loop: it takes a module-level
loop at import, runs handlers synchronously on it and has no stop(). So it runs in a
thread of its own with a loop of its own (`transport`), only `sdk` touches the SDK's
internals, and each data frame crosses to the main loop (`frames`) to be stored through
the webhook's own path (bot/services/feishu_inbound.py) before the SDK writes the ack.
Nothing here imports lark-oapi at module level: the import takes seconds.
"""
