#!/usr/bin/env bash
# Benchmark of the HTTP API transports: a large attachment through the
# mailgun transport (peak RSS, which must stay within 64 MB: the request
# body is produced from the composer while it is sent), and a batch
# through the API with --parallel 4 and its journal on, as users run it
# (messages per second, one HTTP client with keep-alive shared by the
# workers).
#
# The endpoint is internal/apitest's fake Mailgun on 127.0.0.1, which
# parses every request as Mailgun would and keeps only sizes and hashes;
# nothing leaves the host.
#
# Usage: bench/api.sh
#
# Environment (all optional):
#   MAILOUT_BIN  use this mailout binary instead of building HEAD
#   BIG_MB       attachment size in MB (500)
#   ROWS         batch rows (2000)
#   MAX_RSS_MB   the peak RSS the large send may reach (64)
set -euo pipefail
export LC_ALL=C

BIG_MB=${BIG_MB:-500}
ROWS=${ROWS:-2000}
MAX_RSS_MB=${MAX_RSS_MB:-64}

case ${1:-} in
-h | --help)
	sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
	exit 0
	;;
"") ;;
*)
	echo "api.sh: unknown argument $1 (try --help)" >&2
	exit 64
	;;
esac

[ -x /usr/bin/time ] || {
	echo "api.sh: /usr/bin/time is missing: apt-get install time" >&2
	exit 69
}
bench_dir=$(cd "$(dirname "$0")" && pwd)
repo=$(git -C "$bench_dir" rev-parse --show-toplevel)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mailout-api-bench.XXXXXX")
server=
cleanup() {
	exec 3>&- 2>/dev/null || true
	[ -z "$server" ] || wait "$server" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -n "${MAILOUT_BIN:-}" ]; then
	M=$MAILOUT_BIN
else
	(cd "$repo" && CGO_ENABLED=0 go build -trimpath -o "$tmp/mailout" .)
	M=$tmp/mailout
fi
(cd "$repo" && go build -o "$tmp/apitestd" ./internal/apitest/apitestd)

# The fake API serves while fd 3 (its stdin) stays open.
mkfifo "$tmp/ctl"
"$tmp/apitestd" -kind mailgun -key bench-key -domain mg.example.com -discard <"$tmp/ctl" >"$tmp/url" 2>"$tmp/server.log" &
server=$!
exec 3>"$tmp/ctl"
for _ in $(seq 100); do [ -s "$tmp/url" ] && break; sleep 0.05; done
url=$(cat "$tmp/url")

mkdir -p "$tmp/home"
cat >"$tmp/config.toml" <<TOML
[profiles.mg]
transport = "mailgun"
from = "bench@example.com"
api_url = "$url"
mailgun_domain = "mg.example.com"
password_env = "BENCH_KEY"
TOML
chmod 600 "$tmp/config.toml"
export MAILOUT_CONFIG=$tmp/config.toml BENCH_KEY=bench-key HOME=$tmp/home XDG_STATE_HOME=$tmp/home/state

echo "mailout: $("$M" --version 2>/dev/null | head -n 1)"
echo "machine: $(nproc) cores, $(uname -sr)"
echo

# 1. A large attachment through the mailgun transport.
head -c $((BIG_MB * 1024 * 1024)) /dev/urandom >"$tmp/big.bin"
start=$(date +%s.%N)
/usr/bin/time -v -o "$tmp/time.txt" "$M" -P mg -s "big" --body "see attachment" -a "$tmp/big.bin" rcpt@example.com </dev/null
end=$(date +%s.%N)
rss_kb=$(awk -F': *' '/Maximum resident set size/ { print $2 }' "$tmp/time.txt")
rss_mb=$(awk -v k="$rss_kb" 'BEGIN { printf "%.1f", k / 1024 }')
secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
verdict=ok
awk -v k="$rss_kb" -v m="$MAX_RSS_MB" 'BEGIN { exit !(k / 1024 <= m) }' || verdict="OVER the ${MAX_RSS_MB} MB limit"
printf '%-44s peak RSS %s MB (%s), %s s\n' "mailgun, ${BIG_MB} MB attachment:" "$rss_mb" "$verdict" "$secs"

# 2. A batch through the API with four workers.
{
	echo "name,email"
	for i in $(seq "$ROWS"); do echo "user$i,user$i@example.com"; done
} >"$tmp/list.csv"
printf 'From: bench@example.com\nTo: {{ .email }}\nSubject: hello {{ .name }}\n\nhello {{ .name }}\n' >"$tmp/msg.tpl"
start=$(date +%s.%N)
/usr/bin/time -v -o "$tmp/time.txt" "$M" batch -P mg --csv "$tmp/list.csv" -T "$tmp/msg.tpl" --yes --journal "$tmp/batch.journal" --parallel 4 </dev/null 2>"$tmp/batch.err"
end=$(date +%s.%N)
brss=$(awk -F': *' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$tmp/time.txt")
awk -v a="$start" -v b="$end" -v n="$ROWS" -v r="$brss" \
	'BEGIN { printf "%-44s %.0f messages/s (%d in %.2f s), peak RSS %s MB\n", "mailgun batch, --parallel 4:", n / (b - a), n, b - a, r }'
tail -n 1 "$tmp/batch.err"

exec 3>&-
wait "$server"
server=
cat "$tmp/server.log"
[ "$verdict" = ok ]
