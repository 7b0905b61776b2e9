"""Participant roles, numbered as the registry contract numbers them."""

from enum import IntEnum


class Role(IntEnum):
    """A participant's role; the value is the on-chain `uint8`."""

    NONE = 0
    PLATFORM = 1
    MERCHANT = 2
    TERMINAL = 3
    CONSUMER = 4

    @property
    def label(self) -> str:
        return self.name.lower()
