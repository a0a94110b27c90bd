"""What every platform client needs and writes only once (see docs/architecture.md,
"Platform packages"): the access-token cache (`tokens`), the error kinds and the
network guard (`errors`), the size-limited download (`download`), the callback age
check (`age`) and file reads off the event loop (`files`). Nothing here knows WeCom or
Feishu: each client passes its own codes, keys and fetch function.
"""
