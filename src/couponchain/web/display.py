"""How the pages show what people read: amounts, dates, and who is behind an address.

Registered once on the template environment (`register`): the `amount` filter
writes an integer of the token's smallest unit in its display unit
(web/money.py); the `when` filter writes a moment (epoch seconds, an ISO text or
a datetime) as a `<time>` element in UTC that app.js rewrites in the reader's
own time zone; the `token` global hands money.js the token's symbol and decimals.
The `party` macro of templates/people.html puts an address behind a toggle.
"""

from __future__ import annotations

from datetime import UTC, datetime

from jinja2 import Environment
from markupsafe import Markup

from couponchain.web.money import format_amount, token


def moment(value: int | float | str | datetime | None) -> datetime | None:
    """A moment from epoch seconds, an ISO 8601 text or a datetime (naive is UTC)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        at = value
    elif isinstance(value, int | float):
        at = datetime.fromtimestamp(value, UTC)
    else:
        text = value.strip()
        at = (datetime.fromtimestamp(int(text), UTC) if text.isdigit()
              else datetime.fromisoformat(text.replace("Z", "+00:00")))
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def when(value: int | float | str | datetime | None, proof: str | None = None,
         label: str | None = None) -> Markup:
    """`<time datetime="…Z" data-local>2026-12-07 06:43 UTC</time>`; empty for none.

    The server cannot know the reader's time zone: it writes UTC, which reads
    right without scripts, and app.js rewrites the text in local time. `proof`
    and `label` mark the moment for the proof badge (its `datetime` is compared).
    """
    at = moment(value)
    if at is None:
        return Markup("")
    at = at.astimezone(UTC)
    iso = at.isoformat().replace("+00:00", "Z")
    marks = (Markup(' data-proof="{}" data-label="{}"').format(proof, label or proof)
             if proof else Markup(""))
    return Markup('<time datetime="{}" data-local{}>{}</time>').format(
        iso, marks, at.strftime("%Y-%m-%d %H:%M UTC"))


def register(env: Environment) -> None:
    """Install the display filters on the pages' template environment."""
    env.filters["amount"] = format_amount
    env.filters["when"] = when
    # What base.html gives money.js: the same for every page, so a global, not per request.
    t = token()
    env.globals["token"] = {"symbol": t.symbol, "decimals": t.decimals}
