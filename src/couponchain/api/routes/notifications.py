"""Notifications: a merchant's list, marking read, the kinds it wants, and the live
stream (server-sent events) the console's bell and page listen to (issue 25).

Every route is the merchant's own (a merchant reads and changes its own
notifications; nobody else does). The page (`/notifications`) is a shell that
`notifications.js` fills.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header, Path, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from pydantic import BaseModel, Field

from couponchain.api import lists
from couponchain.api.bounds import bounded_router
from couponchain.api.deps import CallerDep, RuntimeDep
from couponchain.api.inputs import Input
from couponchain.api.lists import ListParamsDep
from couponchain.api.routes.pages import templates
from couponchain.errors import InvalidInput
from couponchain.services import notifications as notes

router = bounded_router(prefix="/v1", tags=["notifications"])
pages = bounded_router(include_in_schema=False)

MerchantId = Annotated[str, Path(min_length=1, max_length=32, description="the merchant's id")]
#: The longest a stream stays open before the browser reconnects (seconds).
MAX_STREAM = 3600


class NotificationOut(BaseModel):
    id: int
    merchant_id: str
    kind: str = Field(description=", ".join(notes.KINDS))
    data: dict[str, Any] = Field(description="what it is about (per kind)")
    created_at: str = Field(description="when it was recorded (UTC)")
    read: bool
    delivery: str | None = Field(description="the webhook push: pending, delivered, failed; "
                                             "null without a webhook")


class NotificationPage(BaseModel):
    notifications: list[NotificationOut]
    next_cursor: int | None = Field(description="pass as `cursor` for the next page")
    unread: int = Field(description="how many of the merchant's notifications are unread")


class MarkRead(Input):
    ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] | None = Field(
        default=None, max_length=500, description="the notifications to mark read; "
                                                  "omitted: every one")


class Switches(Input):
    kinds: dict[str, bool] = Field(max_length=len(notes.KINDS), description=(
        "kind -> on/off; kinds not named stay as they are (" + ", ".join(notes.KINDS) + ")"))


@router.get("/merchants/{merchant_id}/notifications", response_model=NotificationPage,
            responses=lists.CSV_RESPONSE,
            summary="The merchant's notifications, newest first (merchant): filter by kind "
                    "(q), read or unread (status), date; cursor paging; CSV")
async def list_notifications(merchant_id: MerchantId, runtime: RuntimeDep, caller: CallerDep,
                             params: ListParamsDep) -> dict[str, Any] | StreamingResponse:
    notes.own(caller, merchant_id)
    return await lists.respond(runtime.db, notes.SPEC, notes.scope(merchant_id), params,
                               "notifications",
                               unread=await runtime.notifications.unread(merchant_id))


@router.post("/merchants/{merchant_id}/notifications:read",
             summary="Mark notifications read (merchant); answers how many changed and "
                     "how many are still unread")
async def mark_read(merchant_id: MerchantId, body: MarkRead, runtime: RuntimeDep,
                    caller: CallerDep) -> dict[str, int]:
    notes.own(caller, merchant_id)
    changed = await runtime.notifications.mark_read(merchant_id, body.ids)
    return {"marked": changed, "unread": await runtime.notifications.unread(merchant_id)}


@router.get("/merchants/{merchant_id}/notification-settings",
            summary="Which kinds of notification the merchant gets (merchant); on by default")
async def get_settings(merchant_id: MerchantId, runtime: RuntimeDep,
                       caller: CallerDep) -> dict[str, Any]:
    notes.own(caller, merchant_id)
    return {"merchant_id": merchant_id, "kinds": await runtime.notifications.settings(merchant_id)}


@router.put("/merchants/{merchant_id}/notification-settings",
            summary="Switch kinds of notification on or off (merchant): a kind switched off "
                    "is neither shown nor pushed")
async def put_settings(merchant_id: MerchantId, body: Switches, runtime: RuntimeDep,
                       caller: CallerDep) -> dict[str, Any]:
    notes.own(caller, merchant_id)
    kinds = await runtime.notifications.change(merchant_id, body.kinds)
    return {"merchant_id": merchant_id, "kinds": kinds}


@router.get("/merchants/{merchant_id}/notifications/stream",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
                             "description": "server-sent events: `notification` (data: a "
                                            "notification as listed), resumable by id"}},
            summary="New notifications as they are recorded, as server-sent events (merchant)")
async def stream(
    merchant_id: MerchantId, request: Request, runtime: RuntimeDep, caller: CallerDep,
    after: Annotated[int | None, Query(ge=0, le=2**63 - 1, description=(
        "send the notifications after this id (default: from now on)"))] = None,
    seconds: Annotated[int, Query(ge=1, le=MAX_STREAM, description=(
        "how long the stream stays open; the browser then reconnects"))] = 300,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20,
                                                description="set by a reconnecting "
                                                            "EventSource")] = None,
) -> StreamingResponse:
    notes.own(caller, merchant_id)
    last = after
    if last_event_id:
        if not last_event_id.isdigit():
            raise InvalidInput("must be a notification id", field="Last-Event-ID")
        last = int(last_event_id)
    if last is None:
        last = await runtime.notifications.latest_id(merchant_id)
    return StreamingResponse(
        runtime.notifications.stream(merchant_id, last, seconds, request.is_disconnected),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"})


@pages.get("/notifications", response_class=HTMLResponse)
async def notifications_page(request: Request) -> HTMLResponse:
    """The merchant's notifications and its switches; new ones arrive live."""
    return templates.TemplateResponse(request, "notifications.html",
                                      {"kinds": notes.KINDS})
