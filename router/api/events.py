"""CloudEvents ingress (`POST /events`, binary and structured HTTP modes) and the subscriptions
that turn events into runs (`/events/subscriptions`). See docs/events.md.

Status codes: 202 with the runs started (an empty list when no subscription matches: the event is
accepted and recorded, so a repeat is recognised); 200 with the same body for a repeat of (source,
id); 400 when the request is not a CloudEvent (the reason says why); 422 for an attribute with a bad
value (named); 415 for a CloudEvents format or mode other than JSON structured or binary.

Parsing uses the `cloudevents` package (its HTTP binding and JSON format); that is its only use
outside router.dispatch, and it calls nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from cloudevents.core.bindings.http import HTTPMessage, from_binary
from cloudevents.core.exceptions import (
    BaseCloudEventException,
    CloudEventValidationError,
    MissingRequiredAttributeError,
)
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from router import errors
from router.api import deps, responses
from router.api.auth import AuditorDep
from router.api.deps import ServicesDep, check_uuid
from router.services import triggers as triggers_service

router = APIRouter(tags=["Events"], dependencies=[deps.InputChecked])

STRUCTURED_JSON = "application/cloudevents+json"
CE_PREFIX = "ce-"
REQUIRED = ("specversion", "id", "source", "type")
_FORMAT = JSONFormat()


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _validation_error(exc: CloudEventValidationError) -> errors.RouterError:
    missing = sorted(
        name
        for name, problems in exc.errors.items()
        if any(isinstance(p, MissingRequiredAttributeError) for p in problems)
    )
    if missing:
        return errors.InvalidRequestError(
            f"Not a CloudEvent: missing required attribute(s) {', '.join(missing)}"
        )
    name, problems = sorted(exc.errors.items())[0]
    return errors.UnprocessableError(f"{name}: {'; '.join(str(p) for p in problems)}")


def _check_required(attributes: dict[str, Any]) -> None:
    """The parser would make up a missing `id` and `time`; an event must bring its own id."""
    missing = [name for name in REQUIRED if attributes.get(name) is None]
    if missing:
        raise errors.InvalidRequestError(
            f"Not a CloudEvent: missing required attribute(s) {', '.join(missing)}"
        )
    if attributes["specversion"] != "1.0":
        raise errors.UnprocessableError(
            f"specversion: only CloudEvents 1.0 is supported, got {attributes['specversion']!r}"
        )


def _structured(body: bytes) -> CloudEvent:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise errors.InvalidRequestError(f"Not a CloudEvent: the body is not JSON ({exc})") from exc
    if not isinstance(document, dict):
        raise errors.InvalidRequestError("Not a CloudEvent: a structured-mode body must be a JSON object")
    _check_required(document)
    if "data" in document and "data_base64" in document:
        raise errors.UnprocessableError("data_base64: give data or data_base64, not both")
    try:
        event = _FORMAT.read(CloudEvent, body)
    except CloudEventValidationError as exc:
        raise _validation_error(exc) from exc
    except (BaseCloudEventException, ValueError, TypeError) as exc:
        raise errors.UnprocessableError(f"{_attribute_of(exc)}: {exc}") from exc
    assert isinstance(event, CloudEvent)
    return event


def _binary(headers: dict[str, str], body: bytes) -> CloudEvent:
    _check_required({name: headers.get(CE_PREFIX + name) for name in REQUIRED})
    try:
        event = from_binary(HTTPMessage(headers=headers, body=body), _FORMAT, CloudEvent)
    except CloudEventValidationError as exc:
        raise _validation_error(exc) from exc
    except (BaseCloudEventException, ValueError, TypeError) as exc:
        raise errors.UnprocessableError(f"{_attribute_of(exc)}: {exc}") from exc
    assert isinstance(event, CloudEvent)
    return event


def _attribute_of(exc: Exception) -> str:
    # dateutil's parse errors carry no attribute name; `time` is the only attribute parsed beyond text.
    return str(getattr(exc, "attribute_name", "time"))


async def parse_event(request: Request) -> triggers_service.Event:
    """The CloudEvent of the request, in binary or structured mode; errors name what is wrong."""
    body = await request.body()
    media_type = _media_type(request)
    headers = {k.lower(): v for k, v in request.headers.items()}
    if media_type == STRUCTURED_JSON:
        event = _structured(body)
    elif media_type.startswith("application/cloudevents"):
        raise errors.UnsupportedMediaTypeError(
            f"Content-Type {media_type} is not supported: send one event, in binary mode or as "
            f"{STRUCTURED_JSON} (batch mode and other event formats are not accepted)"
        )
    elif any(name.startswith(CE_PREFIX) for name in headers):
        event = _binary(headers, body)
    else:
        raise errors.InvalidRequestError(
            "Not a CloudEvent: no ce-* headers (binary mode) and Content-Type is not "
            f"{STRUCTURED_JSON} (structured mode)"
        )
    return triggers_service.Event(attributes=dict(event.get_attributes()), data=event.get_data())


_EVENT_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "Binary mode: attributes in ce-* headers, data in the body (any Content-Type). "
        "Structured mode: the whole event as application/cloudevents+json.",
        "content": {
            STRUCTURED_JSON: {
                "schema": {"type": "object", "required": ["specversion", "id", "source", "type"]}
            },
            "*/*": {"schema": {}},
        },
    },
    "responses": {
        "200": {"description": "A repeat of (source, id): the runs it started before; nothing new."},
        "400": {"description": "Not a CloudEvent (the message says why)."},
        "415": {"description": "Batch mode or a non-JSON event format."},
        "422": {"description": "An attribute has an invalid value (named in the message)."},
    },
}


@router.post("/events", status_code=202, openapi_extra=_EVENT_OPENAPI)
async def receive_event(request: Request, services: ServicesDep) -> Response:
    """Receive one CloudEvent (binary or structured mode) and start the runs its subscriptions name.

    202 with `{id, source, duplicate: false, runs: [{run_id, thread_id, subscription_id}]}`; 200 with
    the recorded runs and `duplicate: true` when this (source, id) was received before."""
    event = await parse_event(request)
    received = await triggers_service.receive(services, event)
    return responses.json(received.body(), status=200 if received.duplicate else 202)


def _uuid(value: str) -> str:
    return str(uuid.UUID(check_uuid(value, "subscription")))


@router.post("/events/subscriptions")
async def create_subscription(
    body: triggers_service.SubscriptionCreate, services: ServicesDep, auditor: AuditorDep
) -> Response:
    subscription = await triggers_service.create(services, body)
    await auditor.record(
        "subscription.create",
        target=str(subscription["subscription_id"]),
        details={"assistant_id": str(subscription.get("assistant_id"))},
    )
    return responses.json(subscription)


@router.get("/events/subscriptions")
async def list_subscriptions(
    services: ServicesDep,
    assistant_id: str | None = None,
    limit: int = Query(default=10, ge=1, le=1000),
    offset: int = Query(default=0, ge=0),
) -> Response:
    items = await triggers_service.list_subscriptions(
        services, assistant_id=assistant_id, limit=limit, offset=offset
    )
    return responses.json(items)


@router.get("/events/subscriptions/{subscription_id}")
async def get_subscription(subscription_id: str, services: ServicesDep) -> Response:
    return responses.json(await triggers_service.get(services, _uuid(subscription_id)))


@router.patch("/events/subscriptions/{subscription_id}")
async def patch_subscription(
    subscription_id: str, body: triggers_service.SubscriptionPatch, services: ServicesDep, auditor: AuditorDep
) -> Response:
    subscription_id = _uuid(subscription_id)
    subscription = await triggers_service.patch(services, subscription_id, body)
    changed = sorted(body.model_dump(exclude_unset=True))
    await auditor.record("subscription.update", target=subscription_id, details={"fields": changed})
    return responses.json(subscription)


@router.delete("/events/subscriptions/{subscription_id}", status_code=204)
async def delete_subscription(subscription_id: str, services: ServicesDep, auditor: AuditorDep) -> Response:
    subscription_id = _uuid(subscription_id)
    await triggers_service.delete(services, subscription_id)
    await auditor.record("subscription.delete", target=subscription_id)
    return responses.no_content()
