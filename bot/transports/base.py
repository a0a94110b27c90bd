"""What every long connection offers the process that runs it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

# connected: frames flow; reconnecting: lost, trying again (with backoff); holder_elsewhere:
# another process holds the one allowed connection (its lease); auth_refused: the platform
# refused the credentials (no tight retry loop; /readyz names it); stopped: not running.
State = Literal[
    "connecting", "connected", "reconnecting", "holder_elsewhere", "auth_refused", "stopped"
]


@dataclass
class ConnectionStatus:
    state: State = "stopped"
    since: datetime = field(default_factory=lambda: datetime.now(UTC))
    detail: str = ""  # one line for operators, never a secret

    def set(self, state: State, detail: str = "") -> None:
        if state != self.state or detail != self.detail:
            self.state, self.detail, self.since = state, detail, datetime.now(UTC)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"state": self.state, "since": self.since.isoformat()}
        if self.detail:
            out["detail"] = self.detail
        return out


class Transport(ABC):
    name: str  # "feishu_ws", "wecom_bot": the key under /readyz "connections"

    def __init__(self) -> None:
        self.status = ConnectionStatus()

    @abstractmethod
    async def start(self) -> None:
        """Begin connecting in the background; return at once."""

    @abstractmethod
    async def stop(self) -> None:
        """Close the connection and wait for the frames being stored (SIGTERM path)."""
