"""Schemathesis hooks for CI (SCHEMATHESIS_HOOKS=st_hooks, from .ci/).

A client sends a new Idempotency-Key with each new request and the same key
only when it sends the same request again; the server refuses a key reused
with another body (422 idempotency_key_reused, as the IETF draft says).
Schemathesis draws header values from small spaces and reuses them across
different bodies, so a schema-valid key it drew is replaced by a fresh one
before the call. Keys that break the schema are left alone: the negative
cases still check that the server refuses them.
"""
import re
import uuid

import schemathesis

VALID_KEY = re.compile(r"^[!-~]{1,255}$")


@schemathesis.hook
def before_call(ctx, case, kwargs):
    headers = case.headers or {}
    for name in list(headers):
        if name.lower() == "idempotency-key" and isinstance(headers[name], str) and VALID_KEY.match(headers[name]):
            headers[name] = str(uuid.uuid4())
