"""One generic, table-backed handler for every ``{Get,Set,Reset}…Attribute…`` RPC of the
``nidaqmx_grpc.NiDAQmx`` service, generated from the service descriptor.

An attribute lives at ``(scope, key, attribute id)``: the scope is the RPC family (``Read``,
``Write``, ``Device``, ``Chan`` …), the key the request's addressing fields (task id, channel,
device name, physical channel).  A *provider* answers the attributes that are live state
(read position, samples available, device capabilities); everything else is what a client
set earlier, or NI error -200197 (not supported).

Thread: called from gRPC's thread pool; the table has its own lock.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

from google.protobuf.descriptor import FieldDescriptor, MethodDescriptor

from mock_daq.nigrpc import constants as K
from mock_daq.nigrpc.spec import NIError

ATTRIBUTE_RPC = re.compile(r"^(Get|Set|Reset)(\w+?)Attribute(\w*)$")
_NOT_KEY = {"attribute", "attribute_raw", "value", "value_raw", "size"}

Key = tuple[tuple[str, Any], ...]
# provider(scope, key, attribute id) -> value, or raises LookupError when it has none
Provider = Callable[[str, dict[str, Any], int], Any]
# validator(scope, key, attribute id, value): raises NIError to refuse a Set; value None = a Reset
Validator = Callable[[str, dict[str, Any], int, Any], None]


def request_key(request: Any) -> dict[str, Any]:
    """The addressing fields of an attribute request (a ``Session`` becomes its id/name)."""
    key: dict[str, Any] = {}
    for f in request.DESCRIPTOR.fields:
        if f.name in _NOT_KEY:
            continue
        v = getattr(request, f.name)
        if f.type == FieldDescriptor.TYPE_MESSAGE and f.name == "task":
            key["task"] = v.name  # NI's server finds a session by its name (the id is unused)
        elif not (f.type == FieldDescriptor.TYPE_MESSAGE):
            key[f.name] = v
    return key


def _frozen(scope: str, key: dict[str, Any]) -> Key:
    return (("scope", scope), *sorted((k, v) for k, v in key.items()))


class AttributeTable:
    """Values set by clients, by ``(scope, key, attribute)``."""

    def __init__(self) -> None:
        self._values: dict[tuple[Key, int], Any] = {}
        self._lock = threading.Lock()

    def get(self, scope: str, key: dict[str, Any], attr: int) -> Any:
        with self._lock:
            return self._values[(_frozen(scope, key), attr)]

    def set(self, scope: str, key: dict[str, Any], attr: int, value: Any) -> None:
        with self._lock:
            self._values[(_frozen(scope, key), attr)] = value

    def reset(self, scope: str, key: dict[str, Any], attr: int) -> None:
        with self._lock:
            self._values.pop((_frozen(scope, key), attr), None)

    def for_task(self, session: str) -> dict[int, Any]:
        """Every attribute set on one task, whatever its scope (for start/write decisions)."""
        with self._lock:
            return {attr: v for (k, attr), v in self._values.items() if ("task", session) in k}

    def drop_task(self, session: str) -> None:
        with self._lock:
            for k in [k for k in self._values if ("task", session) in k[0]]:
                del self._values[k]


def make_handler(method: MethodDescriptor, table: AttributeTable, provider: Provider,
                 validator: Validator, response_cls: type) -> Callable[[Any], Any]:
    """The handler body (request → response message) for one attribute RPC."""
    m = ATTRIBUTE_RPC.match(method.name)
    assert m is not None
    verb, scope = m.group(1), m.group(2)
    out_fields = {f.name: f for f in method.output_type.fields}

    def handle(request: Any) -> Any:
        key = request_key(request)
        attr = int(request.attribute_raw or request.attribute)
        if verb == "Reset":  # the validator hears of it (value None) to restore live state
            validator(scope, key, attr, None)
            table.reset(scope, key, attr)
            return response_cls()
        if verb == "Set":
            fields = {f.name for f in request.DESCRIPTOR.fields}
            if "value_raw" in fields:
                value = request.value_raw
                if isinstance(value, int) and not value and "value" in fields:
                    value = request.value
            else:
                value = request.value
            if hasattr(value, "__len__") and not isinstance(value, str | bytes):
                value = list(value)
            validator(scope, key, attr, value)
            table.set(scope, key, attr, value)
            return response_cls()
        try:
            value = provider(scope, key, attr)
        except LookupError:
            try:
                value = table.get(scope, key, attr)
            except KeyError:
                raise NIError(K.ATTR_NOT_SUPPORTED, f"Property: 0x{attr:X} ({scope})") from None
        resp = response_cls()
        target = "value_raw" if "value_raw" in out_fields else "value"
        f = out_fields[target]
        if f.is_repeated:
            getattr(resp, target).extend(list(value))
        elif f.type == FieldDescriptor.TYPE_MESSAGE:
            getattr(resp, target).CopyFrom(value)
        else:
            setattr(resp, target, value)
        return resp

    return handle
