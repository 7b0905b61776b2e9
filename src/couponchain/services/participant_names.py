"""Who is behind a chain address: participants' display names for the pages.

People read names; addresses stay available to auditors behind a details toggle
(templates/people.html). One query for a whole page's addresses.
"""

from __future__ import annotations

from collections.abc import Iterable

from eth_utils import is_address, to_checksum_address
from sqlalchemy import select

from couponchain.store.db import Database
from couponchain.store.models import Participant


async def names_by_address(db: Database, addresses: Iterable[str | None]) -> dict[str, str]:
    """The display name of each participant among `addresses`, keyed by the address
    as given; an address of no participant here (an outside wallet) is left out."""
    wanted = {a for a in addresses if a}
    if not wanted:
        return {}
    # Rows keep the checksummed form; asking for it (not lower(address)) keeps the index.
    checksummed: dict[str, str] = {to_checksum_address(a): a for a in wanted if is_address(a)}
    if not checksummed:
        return {}
    async with db.session() as s:
        rows = await s.execute(select(Participant.address, Participant.name)
                               .where(Participant.address.in_(sorted(checksummed))))
        return {checksummed[address]: name for address, name in rows.tuples()
                if address in checksummed}
