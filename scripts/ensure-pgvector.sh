#!/usr/bin/env bash
# Makes sure the local PostgreSQL has pgvector. Debian 12 does not package it, so it is
# built from Debian's own source package (trixie). Idempotent and instant when present.
set -euo pipefail

PG_MAJOR="${PG_MAJOR:-$(ls /etc/postgresql 2>/dev/null | sort -n | tail -1)}"
if [ -z "$PG_MAJOR" ]; then
  echo "ensure-pgvector: no PostgreSQL cluster under /etc/postgresql; install postgresql-15 first" >&2
  exit 1
fi
CONTROL="/usr/share/postgresql/${PG_MAJOR}/extension/vector.control"
if [ -f "$CONTROL" ]; then
  exit 0
fi

if [ "$(id -u)" != "0" ]; then
  echo "ensure-pgvector: pgvector is missing and building it needs root (apt-get)." >&2
  echo "  run: sudo bash scripts/ensure-pgvector.sh" >&2
  exit 1
fi

echo "ensure-pgvector: building pgvector for PostgreSQL ${PG_MAJOR} from Debian's source package"

# The mirror is read from this machine's own apt configuration, never hard-coded.
mirror=""
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  if grep -qE '^Suites:.*\bbookworm\b' "$f"; then
    mirror=$(grep -m1 -E '^URIs:' "$f" | awk '{print $2}')
    [ -n "$mirror" ] && break
  fi
done
if [ -z "$mirror" ]; then
  mirror=$(grep -hE '^deb .* bookworm( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
    | grep -v security | head -1 | awk '{print $2}')
fi
if [ -z "$mirror" ]; then
  echo "ensure-pgvector: could not find a Debian mirror in /etc/apt" >&2
  exit 1
fi

echo "deb-src ${mirror} trixie main" > /etc/apt/sources.list.d/pgvector-src.list
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "postgresql-server-dev-${PG_MAJOR}" build-essential dpkg-dev >/dev/null

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
apt-get source --download-only pgvector >/dev/null
dsc=$(ls ./*.dsc | head -1)
dpkg-source --no-check -x "$dsc" src >/dev/null
cd src
# with_llvm=no: the JIT bitcode would need a matching clang, and pgvector does not need it.
make -s with_llvm=no PG_CONFIG="/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config" >/dev/null
make -s with_llvm=no PG_CONFIG="/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config" install >/dev/null
echo "ensure-pgvector: installed $(grep default_version "$CONTROL")"
