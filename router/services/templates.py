"""Input templates of event subscriptions: JSON with placeholders filled from a CloudEvent.

A template is any JSON value. Inside it, an object `{"$event": "<path>"}` (optionally with a
`"default"`) is replaced by the value at `<path>` in the event; `{"$literal": <value>}` stands for
`<value>` untouched (to pass an object that itself has a `$event` key). Nothing is evaluated.

A path is dot-separated: the first segment is an attribute (`id`, `source`, `type`, `subject`, `time`,
`specversion`, `datacontenttype`, `dataschema`, or an extension name) or `data`; later segments are
object keys or list indexes into `data`. A missing value takes the default, else the event is refused.
"""

from __future__ import annotations

import re
from typing import Any

from router import errors

EVENT_KEY = "$event"
LITERAL_KEY = "$literal"
DEFAULT_KEY = "default"
ATTRIBUTE = re.compile(r"^[a-z0-9]{1,20}$")
MAX_DEPTH = 32
_MISSING = object()


class TemplateError(errors.UnprocessableError):
    """input: invalid template."""

    code = "invalid_template"


class MissingEventValueError(errors.UnprocessableError):
    """The event lacks a value a subscription's input template needs."""

    code = "missing_event_value"


def _check_path(path: Any, where: str) -> None:
    if not isinstance(path, str) or not path:
        raise TemplateError(f"{where}: $event must name a path such as 'data.foo' or 'id'")
    first, *rest = path.split(".")
    if not ATTRIBUTE.match(first):
        raise TemplateError(f"{where}: {first!r} is not an event attribute name (lowercase a-z, 0-9)")
    if rest and first != "data":
        raise TemplateError(f"{where}: only 'data' has fields, got {path!r}")
    if any(segment == "" for segment in rest):
        raise TemplateError(f"{where}: empty segment in {path!r}")


def check(template: Any, where: str = "input", depth: int = 0) -> None:
    """Raise TemplateError naming the first problem."""
    if depth > MAX_DEPTH:
        raise TemplateError(f"{where}: nested deeper than {MAX_DEPTH}")
    if isinstance(template, dict):
        if EVENT_KEY in template:
            extra = set(template) - {EVENT_KEY, DEFAULT_KEY}
            if extra:
                raise TemplateError(
                    f"{where}: a $event placeholder takes only 'default', not {sorted(extra)}"
                )
            _check_path(template[EVENT_KEY], where)
            return
        if LITERAL_KEY in template:
            if len(template) != 1:
                raise TemplateError(f"{where}: $literal must be the only key")
            return
        for key, value in template.items():
            check(value, f"{where}.{key}", depth + 1)
    elif isinstance(template, list):
        for index, value in enumerate(template):
            check(value, f"{where}[{index}]", depth + 1)


def _lookup(event: dict[str, Any], path: str) -> Any:
    first, *rest = path.split(".")
    value: Any = event.get(first, _MISSING)
    for segment in rest:
        if isinstance(value, dict):
            value = value.get(segment, _MISSING)
        elif isinstance(value, list) and segment.isdigit() and int(segment) < len(value):
            value = value[int(segment)]
        else:
            return _MISSING
    return value


def render(template: Any, event: dict[str, Any]) -> Any:
    """The template filled from `event` (attributes by name, `data` as parsed JSON)."""
    if isinstance(template, dict):
        if EVENT_KEY in template:
            value = _lookup(event, template[EVENT_KEY])
            if value is not _MISSING:
                return value
            if DEFAULT_KEY in template:
                return template[DEFAULT_KEY]
            raise MissingEventValueError(
                f"event has no value at {template[EVENT_KEY]!r}, which the input needs"
            )
        if LITERAL_KEY in template:
            return template[LITERAL_KEY]
        return {key: render(value, event) for key, value in template.items()}
    if isinstance(template, list):
        return [render(value, event) for value in template]
    return template
