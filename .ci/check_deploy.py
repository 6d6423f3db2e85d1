"""What CI can check of the container files without a container engine:
docker-compose.yml parses and has the services the stack needs, every
variable it requires is documented in .env.example, and the Dockerfile
builds a non-root image with a health check of the binary's own."""
import re
import sys

import yaml

problems = []
compose = yaml.safe_load(open("docker-compose.yml"))
services = compose["services"]
for name in ("api", "nginx", "db", "redis", "pgadmin"):
    if name not in services:
        problems.append(f"compose: no {name} service")
if services["pgadmin"].get("profiles") != ["tools"]:
    problems.append("compose: pgadmin must sit behind the tools profile")
if "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" not in services["nginx"].get("volumes", []):
    problems.append("compose: nginx must use deploy/nginx.conf")
if not any(v.startswith("pgdata:") for v in services["db"].get("volumes", [])):
    problems.append("compose: PostgreSQL needs its volume")
if "ports" in services["api"]:
    problems.append("compose: the API is reached through nginx only")
env = services["api"]["environment"]
for key in ("DATABASE_URL", "REDIS_URL", "JWT_SECRET", "APP_ENV"):
    if key not in env:
        problems.append(f"compose: the API lacks {key}")

text = open("docker-compose.yml").read()
documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", open(".env.example").read(), re.M))
for var in sorted(set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", text))):
    if var not in documented:
        problems.append(f".env.example does not document {var}, which docker-compose.yml reads")

dockerfile = open("Dockerfile").read()
for needle, why in (
    ("AS build", "a build stage"),
    ("FROM debian:bookworm-slim", "a slim runtime stage"),
    ("USER paiecashfan", "a non-root user"),
    ('CMD ["paiecashfan", "health"]', "a HEALTHCHECK"),
    ("cargo build --release --locked", "a locked release build"),
):
    if needle not in dockerfile:
        problems.append(f"Dockerfile: no {why} ({needle!r})")

for p in problems:
    print("!!!", p, file=sys.stderr)
sys.exit(1 if problems else 0)
