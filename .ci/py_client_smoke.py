"""The Python client openapi-python-client generated from the OpenAPI document,
used as an integrator would: health, sign in, balance, history."""

import sys

from paie_cash_fan_api_client import AuthenticatedClient, Client
from paie_cash_fan_api_client.api.auth import login
from paie_cash_fan_api_client.api.system import health
from paie_cash_fan_api_client.api.wallet import balance, transactions
from paie_cash_fan_api_client.models import ApiVersion, LoginRequest

base, version = sys.argv[1], ApiVersion(sys.argv[2])
anonymous = Client(base_url=base, raise_on_unexpected_status=True)
h = health.sync(client=anonymous, paie_cash_fan_version=version)
assert h is not None and h.status == "ok", h
auth = login.sync(
    client=anonymous,
    body=LoginRequest(email="demo@paiecashfan.com", password="demo123"),
    paie_cash_fan_version=version,
)
assert auth is not None and auth.token, auth
fan = AuthenticatedClient(base_url=base, token=auth.token, raise_on_unexpected_status=True)
b = balance.sync(client=fan, paie_cash_fan_version=version)
# Schemathesis may have moved the demo fan to another club (another primary
# currency) before this runs: the primary balance is one of the balances.
assert b is not None and isinstance(b.balance, str), b
assert any(e.currency == b.currency and e.balance == b.balance for e in b.balances), b
t = transactions.sync(client=fan, paie_cash_fan_version=version, limit=5)
assert t is not None and isinstance(t.total, int) and len(t.transactions) >= 1, t
print(f"generated client: health {h.status}, balance {b.balance} {b.currency}, {t.total} transactions")
