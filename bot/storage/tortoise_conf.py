"""Config for tortoise's own CLI when developers change models:

    tortoise -c bot.storage.tortoise_conf.TORTOISE_ORM makemigrations

Uses a throw-away SQLite file; `offerbot migrate` applies the migrations to the real DB.
"""

from bot.config import Settings
from bot.storage.db import tortoise_config

TORTOISE_ORM = tortoise_config(
    Settings().replace(database={"url": "sqlite://./data/makemigrations.sqlite3"})
)
