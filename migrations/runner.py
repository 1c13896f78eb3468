"""Programmatic `alembic upgrade head` for tests, the local stack and deploy jobs (dev/ops only)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

ROOT = Path(__file__).resolve().parent.parent


def _config(url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["url"] = url
    config.attributes["configure_logger"] = False
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision` (head by default); a no-op when it is already there."""
    command.upgrade(_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(_config(url), revision)


if __name__ == "__main__":
    import os
    import sys

    upgrade(sys.argv[1] if len(sys.argv) > 1 else os.environ["AME_DATABASE_URL"])
