"""Known identifiers for schemathesis (.ci/schemathesis.toml), read from the
demo data of the server under test: another fan to talk to, and a product
with one of its sizes. Prints them as NAME=value words for `env`.

usage: st_seeds.py BASE_URL TOKEN API_VERSION
"""

import json
import sys
import urllib.request


def get(base, path, token, version):
    req = urllib.request.Request(
        base + path,
        headers={"Authorization": f"Bearer {token}", "PaieCashFan-Version": version},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)


def main():
    base, token, version = sys.argv[1:4]
    me = get(base, "/api/auth/me", token, version)["user"]["id"]
    fan = next(
        member["id"]
        for conv in get(base, "/api/social/conversations", token, version)["conversations"]
        for member in conv["members"]
        if member["id"] != me
    )
    products = get(base, "/api/shop/products?limit=100", token, version)["products"]
    # A product sold in sizes, so the variant path is the one exercised.
    sized = [p for p in products if any(v["size"] for v in p["variants"])]
    product = (sized or products)[0]
    variant = next(v for v in product["variants"] if v["stock"] > 0)
    print(f"PCF_FAN_ID={fan} PCF_PRODUCT_ID={product['id']} PCF_VARIANT_ID={variant['id']}")


if __name__ == "__main__":
    main()
