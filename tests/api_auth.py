"""The API's bearer headers for a participant, as the tests pass them."""

from typing import Any


def auth(participant: dict[str, Any]) -> dict[str, str]:
    """The API headers of a participant as the API answered its creation (its `api_key`)."""
    return {"authorization": f"Bearer {participant['api_key']}"}
