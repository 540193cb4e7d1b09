"""Flexiti environments and their POS API base URLs."""

from __future__ import annotations

import enum

__all__ = ["Environment"]


class Environment(str, enum.Enum):
    """Where the client talks to. Each environment has its own key pair and its own data.

    * ``TRAINING``: same code as production, test objects, data scrubbed daily.
    * ``PRODUCTION``: live; applications hit the credit bureau.
    * ``MERCHANT_INTEGRATION``: persistent sandbox that gets pre-release code first
      (maintenance windows Monday and Wednesday mornings).
    """

    TRAINING = "training"
    PRODUCTION = "production"
    MERCHANT_INTEGRATION = "mi"

    @property
    def base_url(self) -> str:
        """The POS API base, without the version segment."""
        return _BASE_URLS[self]

    @classmethod
    def parse(cls, value: str | Environment) -> Environment:
        """Accept an `Environment`, its value (``"mi"``) or its name (``"mi"``, ``"training"``)."""
        if isinstance(value, Environment):
            return value
        text = value.strip().lower()
        for env in cls:
            if text in (env.value, env.name.lower()):
                return env
        raise ValueError(
            f"unknown Flexiti environment {value!r}; expected one of "
            + ", ".join(e.value for e in cls)
        )


_BASE_URLS = {
    Environment.TRAINING: "https://posapi-training.flexiti.fi/flexiti/pos-api",
    Environment.PRODUCTION: "https://posapi.flexiti.fi/flexiti/pos-api",
    Environment.MERCHANT_INTEGRATION: "https://posapi-mi.flexiti.fi/flexiti/pos-api",
}
