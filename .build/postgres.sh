#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests (issue 27): Debian's PostgreSQL (installed from apt when missing), its own data
# folder, a free port on loopback, trust authentication, stopped and deleted by `stop`.
#
#   eval "$(.build/postgres.sh start)"   # prints `export WBC_TEST_POSTGRES=...; export WBC_TEST_POSTGRES_DIR=...`
#   .build/postgres.sh stop "$WBC_TEST_POSTGRES_DIR"
#
# WBC_TEST_POSTGRES is a superuser connection string; each test makes (and drops) its own database in it.
set -euo pipefail
cmd="${1:?usage: postgres.sh start | stop DIR}"
as_pg() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
bin_dir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

case "$cmd" in
  start)
    if [[ -z "$(bin_dir)" ]]; then
      echo "PostgreSQL is not installed: installing it from apt" >&2
      if [[ $(id -u) == 0 ]]; then apt-get install -y -qq postgresql >&2; else sudo apt-get install -y -qq postgresql >&2; fi
    fi
    bin="$(bin_dir)"
    [[ -x "$bin/initdb" ]] || { echo "no initdb under /usr/lib/postgresql/*/bin" >&2; exit 1; }
    dir="$(mktemp -d /tmp/wbc-pg.XXXXXX)"
    chmod 755 "$dir"
    [[ $(id -u) == 0 ]] && chown postgres: "$dir"
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
    as_pg "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    # Tests start many portals at once: room for their pools; fsync off (a throwaway server).
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" start >&2 \
      || { cat "$dir/server.log" >&2; exit 1; }
    echo "export WBC_TEST_POSTGRES='Host=127.0.0.1;Port=$port;Username=postgres;Database=postgres'"
    echo "export WBC_TEST_POSTGRES_DIR='$dir'"
    echo "export WBC_TEST_POSTGRES_BIN='$bin'"
    ;;
  stop)
    dir="${2:?usage: postgres.sh stop DIR}"
    bin="$(bin_dir)"
    [[ -d "$dir/data" ]] && as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  *) echo "usage: postgres.sh start | stop DIR" >&2; exit 2 ;;
esac
