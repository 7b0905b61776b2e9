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


class Standing(IntEnum):
    """A participant's own standing in the registry; the value is the on-chain `uint8`.

    Only merchants and terminals leave `ACTIVE`. A terminal of a suspended
    merchant keeps its own standing but cannot act while its merchant is
    suspended (`ParticipantService.standing` reports that as "suspended").
    """

    ACTIVE = 0
    SUSPENDED = 1
    UNBOUND = 2

    @property
    def label(self) -> str:
        return self.name.lower()
