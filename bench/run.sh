#!/usr/bin/env bash
# Side-by-side benchmarks of mailout against the peers installed on this
# machine: curl and msmtp for one-shot sends, postfix's smtp-source for batch
# throughput, /usr/bin/time -v for peak memory, hyperfine for start-up.
#
# The machine is shared and noisy, so absolute numbers drift from run to run;
# only the ratios, measured in the same run with the tools alternating round
# by round, are worth comparing. Everything talks to postfix's smtp-sink on
# 127.0.0.1; nothing leaves the host and nothing is installed.
#
# Usage: bench/run.sh [--quick]
#
# Environment (all optional; --quick lowers the defaults):
#   MAILOUT_BIN     use this mailout binary instead of building HEAD
#   N               one-shot sends per tool (30; quick 5)
#   BIG_MB          attachment size in MB (500; quick 20)
#   BIG_RUNS        large-message rounds per tool (3; quick 1)
#   BATCH_ROWS      batch rows sent to the sink (5000; quick 500)
#   BATCH_BIG_ROWS  batch rows sent with --parallel 8, for memory (100000; quick 5000)
#   BATCH_DRY_ROWS  batch rows for the --dry-run memory check (100000; quick 5000)
#   BATCH_RUNS      batch rounds per tool (7; quick 1)
#   WARMUP          hyperfine warm-up runs (20; quick 3)
#   API_ROWS        batch rows sent through the fake Mailgun API (2000; quick 200)
#
# The table is printed at the end and written to bench/out/latest.txt.
set -euo pipefail
export LC_ALL=C

usage() {
	sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
}

quick=0
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 ;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		echo "run.sh: unknown argument $1 (try --help)" >&2
		exit 64
		;;
	esac
	shift
done

# pick QUICK FULL: the default for the current mode.
pick() { if [ "$quick" = 1 ]; then echo "$1"; else echo "$2"; fi; }
N=${N:-$(pick 5 30)}
BIG_MB=${BIG_MB:-$(pick 20 500)}
BIG_RUNS=${BIG_RUNS:-$(pick 1 3)}
BATCH_ROWS=${BATCH_ROWS:-$(pick 500 5000)}
BATCH_BIG_ROWS=${BATCH_BIG_ROWS:-$(pick 5000 100000)}
BATCH_DRY_ROWS=${BATCH_DRY_ROWS:-$(pick 5000 100000)}
BATCH_RUNS=${BATCH_RUNS:-$(pick 1 7)}
WARMUP=${WARMUP:-$(pick 3 20)}
API_ROWS=${API_ROWS:-$(pick 200 2000)}

bench_dir=$(cd "$(dirname "$0")" && pwd)
repo=$(git -C "$bench_dir" rev-parse --show-toplevel)
out_dir=$bench_dir/out

# Tools: the peers are looked up in /usr/sbin too, where postfix keeps its
# test programs even when that is not on PATH.
PATH=$PATH:/usr/sbin:/usr/local/sbin
missing=()
need() {
	local tool=$1 pkg=$2
	if ! command -v "$tool" >/dev/null 2>&1; then
		missing+=("$pkg")
	fi
}
need msmtp msmtp
need curl curl
need hyperfine hyperfine
need smtp-sink postfix
need smtp-source postfix
need git git
[ -x /usr/bin/time ] || missing+=(time)
[ -n "${MAILOUT_BIN:-}" ] || need go golang-go
if [ ${#missing[@]} -gt 0 ]; then
	mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
	echo "run.sh: missing programs; install them with:" >&2
	echo "  sudo apt-get install --no-install-recommends ${missing[*]}" >&2
	echo "(postfix asks for a configuration type: 'No configuration' is enough for smtp-sink)" >&2
	exit 69
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mailout-bench.XXXXXX")
pids=()
cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A home of its own: no configuration file, keyring or queue of the user's
# may change what is measured (a send that finds due queue entries starts a
# flush of them, for one).
if command -v go >/dev/null 2>&1; then
	# ...but the Go build cache and modules stay where they are.
	GOCACHE=$(go env GOCACHE) GOPATH=$(go env GOPATH) GOMODCACHE=$(go env GOMODCACHE)
	export GOCACHE GOPATH GOMODCACHE
fi
mkdir -p "$tmp/home"
export HOME=$tmp/home XDG_CONFIG_HOME=$tmp/home/.config XDG_STATE_HOME=$tmp/home/.local/state XDG_CACHE_HOME=$tmp/home/.cache
unset MAILOUT_CONFIG MAILOUT_PROFILE

say() { printf '%s\n' "$*" >&2; }

# ---------------------------------------------------------------------------
# The binary: a clean export of HEAD, since other people may have the working
# tree half-edited.
if [ -n "${MAILOUT_BIN:-}" ]; then
	M=$(command -v "$MAILOUT_BIN" || true)
	[ -x "$M" ] || {
		say "run.sh: MAILOUT_BIN=$MAILOUT_BIN is not an executable"
		exit 66
	}
	built="MAILOUT_BIN=$M"
else
	rev=$(git -C "$repo" rev-parse --short HEAD)
	say "building mailout at $rev (clean export of HEAD)..."
	mkdir "$tmp/src"
	git -C "$repo" archive --format=tar HEAD | tar -x -C "$tmp/src"
	(cd "$tmp/src" && CGO_ENABLED=0 go build -trimpath -o "$tmp/mailout" .)
	rm -rf "$tmp/src"
	M=$tmp/mailout
	built="HEAD $rev, CGO_ENABLED=0 -trimpath"
fi

# ---------------------------------------------------------------------------
# The sink: one smtp-sink on a free loopback port for every section. As root
# it must drop privileges (-u); it discards every message.
sink_user=()
[ "$(id -u)" = 0 ] && sink_user=(-u nobody)
PORT=
start_sink() {
	local try port pid i
	for try in 1 2 3 4 5 6 7 8 9 10; do
		port=$((20000 + RANDOM % 40000))
		smtp-sink "${sink_user[@]}" -4 "127.0.0.1:$port" 256 >"$tmp/sink.log" 2>&1 &
		pid=$!
		for i in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || break
			if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && kill -0 "$pid" 2>/dev/null; then
				pids+=("$pid")
				PORT=$port
				return 0
			fi
			sleep 0.05
		done
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	say "run.sh: could not start smtp-sink on 127.0.0.1:"
	cat "$tmp/sink.log" >&2
	exit 70
}
start_sink

# ---------------------------------------------------------------------------
# Measuring helpers.

# timed FILE CMD...: run CMD with stdout/stderr in $tmp/last.*, append its
# wall time in milliseconds to FILE. Fails (status of CMD) without appending.
timed() {
	local file=$1 t0 t1 rc=0
	shift
	t0=$EPOCHREALTIME
	"$@" >"$tmp/last.out" 2>"$tmp/last.err" || rc=$?
	t1=$EPOCHREALTIME
	if [ $rc -ne 0 ]; then
		say "  FAILED (exit $rc): $*"
		sed 's/^/    /' "$tmp/last.err" | head -5 >&2
		return $rc
	fi
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", (b - a) * 1000 }' >>"$file"
}

# timedmem WALLFILE RSSFILE STDIN CMD...: like timed, under /usr/bin/time -v,
# with stdin from STDIN and stdout to /dev/null, also appending the peak RSS
# in KB to RSSFILE.
timedmem() {
	local wall=$1 rss=$2 in=$3 t0 t1 rc=0
	shift 3
	t0=$EPOCHREALTIME
	/usr/bin/time -v -o "$tmp/time.txt" "$@" <"$in" >/dev/null 2>"$tmp/last.err" || rc=$?
	t1=$EPOCHREALTIME
	if [ $rc -ne 0 ]; then
		say "  FAILED (exit $rc): $*"
		sed 's/^/    /' "$tmp/last.err" | head -5 >&2
		return $rc
	fi
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", (b - a) * 1000 }' >>"$wall"
	awk -F': *' '/Maximum resident set size/ { print $2 }' "$tmp/time.txt" >>"$rss"
}

median() { sort -n "$1" | awk '{ v[NR] = $1 } END { if (NR == 0) exit 1; if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
maximum() { sort -n "$1" | tail -1; }
count() { wc -l <"$1" | tr -d ' '; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f\n", a / b }'; }
ms() { awk -v v="$1" 'BEGIN { if (v < 100) printf "%.1f ms\n", v; else printf "%.0f ms\n", v }'; }
secs() { awk -v v="$1" 'BEGIN { printf "%.2f s\n", v / 1000 }'; }
mb() { awk -v v="$1" 'BEGIN { printf "%.1f MB\n", v / 1024 }'; }
# verdict VALUE OP LIMIT: PASS/MISS for a numeric target ("<=", "<", ">=").
verdict() {
	awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
		if (v == "n/a") { print "n/a"; exit }
		ok = (op == "<=" && v <= l) || (op == "<" && v < l) || (op == ">=" && v >= l)
		print ok ? "PASS" : "MISS"
	}'
}

rows=()
row() { rows+=("$(printf '%-48s %-13s %-25s %-7s %-9s %s' "$@")"); }
note() { rows+=("$*"); }

# rotate I ITEMS...: the items starting at index I mod count, so that no tool
# always runs first (or right after the same other tool).
rotate() {
	local i=$1 n
	shift
	n=$#
	local items=("$@") k
	for ((k = 0; k < n; k++)); do
		echo "${items[$(((i + k) % n))]}"
	done
}

# ---------------------------------------------------------------------------
# 1. One small message. msg.eml is mailout's own dry-run output for the same
# call, so all three tools move the same bytes.
say "[1/5] one-shot sends: $N rounds of mailout, curl, msmtp..."
head -c 700 /dev/urandom | base64 -w 76 >"$tmp/body.txt"
body=$(cat "$tmp/body.txt")
"$M" --dry-run -r a@example.com -s x --body "$body" b@example.com >"$tmp/msg.eml" 2>/dev/null
msg_bytes=$(wc -c <"$tmp/msg.eml" | tr -d ' ')

small_mailout() { "$M" --server "127.0.0.1:$PORT" --tls none -r a@example.com -s x --body "$body" b@example.com; }
small_curl() { curl -s "smtp://127.0.0.1:$PORT" --mail-from a@example.com --mail-rcpt b@example.com -T "$tmp/msg.eml"; }
small_msmtp() { msmtp --host=127.0.0.1 --port="$PORT" --tls=off --from=a@example.com b@example.com <"$tmp/msg.eml"; }

s1_ok=1
for ((r = 0; r < N; r++)); do
	for tool in $(rotate "$r" mailout curl msmtp); do
		timed "$tmp/small.$tool" "small_$tool" || { s1_ok=0; break 2; }
	done
done
if [ $s1_ok = 1 ]; then
	m=$(median "$tmp/small.mailout")
	c=$(median "$tmp/small.curl")
	s=$(median "$tmp/small.msmtp")
	r_c=$(ratio "$m" "$c")
	r_s=$(ratio "$m" "$s")
	row "1. one-shot send, $msg_bytes B (median of $N)" "$(ms "$m")" "curl $(ms "$c")" "$r_c" "<= 1.0" "$(verdict "$r_c" "<=" 1.0)"
	row "" "" "msmtp $(ms "$s")" "$r_s" "" "(info)"
else
	row "1. one-shot send" "FAILED" "" "" "" "see stderr"
fi

# ---------------------------------------------------------------------------
# 2. A large attachment: peak RSS and wall time. big.eml is the same MIME
# message, prepared once, for the peers that read a finished message.
say "[2/5] ${BIG_MB} MB attachment: $BIG_RUNS rounds of mailout (send, --dry-run), msmtp, curl..."
head -c "${BIG_MB}M" /dev/urandom >"$tmp/big.bin"
"$M" --dry-run -r a@example.com -s x --body hi -a "$tmp/big.bin" b@example.com >"$tmp/big.eml" 2>/dev/null
big_args=(-r a@example.com -s x --body hi -a "$tmp/big.bin" b@example.com)
s2_ok=1
for ((r = 0; r < BIG_RUNS; r++)); do
	for tool in $(rotate "$r" send dry msmtp curl); do
		case $tool in
		send) cmd=("$M" --server "127.0.0.1:$PORT" --tls none "${big_args[@]}") in=/dev/null ;;
		dry) cmd=("$M" --dry-run "${big_args[@]}") in=/dev/null ;;
		msmtp) cmd=(msmtp --host=127.0.0.1 --port="$PORT" --tls=off --from=a@example.com b@example.com) in=$tmp/big.eml ;;
		curl) cmd=(curl -s "smtp://127.0.0.1:$PORT" --mail-from a@example.com --mail-rcpt b@example.com -T "$tmp/big.eml") in=/dev/null ;;
		esac
		timedmem "$tmp/big.$tool.wall" "$tmp/big.$tool.rss" "$in" "${cmd[@]}" || { s2_ok=0; break 2; }
	done
done
rm -f "$tmp/big.bin"
if [ $s2_ok = 1 ]; then
	send_w=$(median "$tmp/big.send.wall")
	send_rss=$(maximum "$tmp/big.send.rss")
	dry_w=$(median "$tmp/big.dry.wall")
	dry_rss=$(maximum "$tmp/big.dry.rss")
	msmtp_w=$(median "$tmp/big.msmtp.wall")
	msmtp_rss=$(maximum "$tmp/big.msmtp.rss")
	curl_w=$(median "$tmp/big.curl.wall")
	curl_rss=$(maximum "$tmp/big.curl.rss")
	r_s=$(ratio "$send_w" "$msmtp_w")
	r_c=$(ratio "$send_w" "$curl_w")
	row "2. ${BIG_MB} MB attachment, send: peak RSS" "$(mb "$send_rss")" "msmtp $(mb "$msmtp_rss")" "" "<= 64 MB" "$(verdict "$send_rss" "<=" 65536)"
	row "   send: wall (median of $BIG_RUNS)" "$(secs "$send_w")" "msmtp $(secs "$msmtp_w")" "$r_s" "<= 0.5" "$(verdict "$r_s" "<=" 0.5)"
	row "" "" "curl $(secs "$curl_w")" "$r_c" "" "(info)"
	row "   --dry-run > /dev/null: peak RSS" "$(mb "$dry_rss")" "" "" "<= 64 MB" "$(verdict "$dry_rss" "<=" 65536)"
	row "   --dry-run > /dev/null: wall" "$(secs "$dry_w")" "" "" "" "(info)"
else
	row "2. ${BIG_MB} MB attachment" "FAILED" "" "" "" "see stderr"
fi
rm -f "$tmp/big.eml"

# ---------------------------------------------------------------------------
# 3. Batch throughput, if this build has the batch command.
if "$M" batch --help >/dev/null 2>&1; then
	say "[3/5] batch: $BATCH_RUNS rounds of $BATCH_ROWS rows (mailout batch default, --no-journal, smtp-source), $BATCH_BIG_ROWS rows --parallel 8, $BATCH_DRY_ROWS rows --dry-run..."
	# A body of about 300 bytes, like smtp-source -l 300.
	{
		printf 'From: a@example.com\nTo: {{ .name }} <{{ .email }}>\nSubject: Your code {{ .code }}\n\n'
		printf 'Hello {{ .name }}, your code is {{ .code }}.\n'
		head -c 180 /dev/urandom | base64 -w 76
	} >"$tmp/batch.tpl"
	mkcsv() { awk -v n="$1" 'BEGIN { print "email,name,code"; for (i = 1; i <= n; i++) printf "user%d@example.com,User %d,%08d\n", i, i, i }' >"$2"; }
	mkcsv "$BATCH_ROWS" "$tmp/batch.csv"
	# The default, as users run it: the journal on (a fresh one each round,
	# or the re-run would skip every row) and a report.
	batch_default() {
		rm -f "$tmp/batch.journal" "$tmp/batch.report"
		"$M" batch --csv "$tmp/batch.csv" --template "$tmp/batch.tpl" --server "127.0.0.1:$PORT" --tls none \
			--parallel 4 --yes --journal "$tmp/batch.journal" --report "$tmp/batch.report"
	}
	batch_nojournal() {
		"$M" batch --csv "$tmp/batch.csv" --template "$tmp/batch.tpl" --server "127.0.0.1:$PORT" --tls none \
			--parallel 4 --yes --no-journal
	}
	batch_source() { smtp-source -d -s 4 -m "$BATCH_ROWS" -l 300 -f a@example.com -t b@example.com "127.0.0.1:$PORT"; }
	s3_ok=1
	for ((r = 0; r < BATCH_RUNS; r++)); do
		for tool in $(rotate "$r" default nojournal source); do
			timed "$tmp/batch.$tool" "batch_$tool" || { s3_ok=0; break 2; }
		done
	done
	rm -f "$tmp/batch.journal" "$tmp/batch.report"
	if [ $s3_ok = 1 ]; then
		rate_of() { awk -v n="$BATCH_ROWS" -v t="$(median "$1")" 'BEGIN { printf "%.0f", n / (t / 1000) }'; }
		mps_d=$(rate_of "$tmp/batch.default")
		mps_n=$(rate_of "$tmp/batch.nojournal")
		mps_s=$(rate_of "$tmp/batch.source")
		r_d=$(ratio "$mps_d" "$mps_s")
		r_n=$(ratio "$mps_n" "$mps_s")
		row "3. batch $BATCH_ROWS rows -P4, journal+report (median/$BATCH_RUNS)" "$mps_d msg/s" "smtp-source $mps_s msg/s" "$r_d" ">= 0.8" "$(verdict "$r_d" ">=" 0.8)"
		row "   same, --no-journal" "$mps_n msg/s" "smtp-source $mps_s msg/s" "$r_n" ">= 1.0" "$(verdict "$r_n" ">=" 1.0)"
	else
		row "3. batch send" "FAILED" "" "" "" "see stderr"
	fi
	# Memory flat in rows and in --parallel: many rows, 8 connections, the
	# journal on and a report.
	mkcsv "$BATCH_BIG_ROWS" "$tmp/batch.csv"
	rm -f "$tmp/batch.journal" "$tmp/batch.report"
	if timedmem "$tmp/batchbig.wall" "$tmp/batchbig.rss" /dev/null "$M" batch --csv "$tmp/batch.csv" --template "$tmp/batch.tpl" \
		--server "127.0.0.1:$PORT" --tls none --parallel 8 --yes --journal "$tmp/batch.journal" --report "$tmp/batch.report"; then
		bw=$(median "$tmp/batchbig.wall")
		brss=$(maximum "$tmp/batchbig.rss")
		mps_b=$(awk -v n="$BATCH_BIG_ROWS" -v t="$bw" 'BEGIN { printf "%.0f", n / (t / 1000) }')
		row "   $BATCH_BIG_ROWS rows -P8, journal+report: peak RSS" "$(mb "$brss")" "" "" "<= 64 MB" "$(verdict "$brss" "<=" 65536)"
		row "   $BATCH_BIG_ROWS rows -P8, journal+report: rate" "$mps_b msg/s" "" "" "" "(info)"
	else
		row "   batch --parallel 8" "FAILED" "" "" "" "see stderr"
	fi
	rm -f "$tmp/batch.journal" "$tmp/batch.report"
	# --rate precision: a smooth limit, so N rows at R/s take N/R seconds
	# (less the first message, which goes at once).
	rate_rows=$((quick ? 20 : 200)) rate=100
	mkcsv "$rate_rows" "$tmp/batch.csv"
	if timed "$tmp/batch.rate" "$M" batch --csv "$tmp/batch.csv" --template "$tmp/batch.tpl" --server "127.0.0.1:$PORT" \
		--tls none --parallel 4 --rate "$rate/s" --yes --no-journal; then
		rt=$(median "$tmp/batch.rate")
		achieved=$(awk -v n="$rate_rows" -v t="$rt" 'BEGIN { printf "%.1f", (n - 1) / (t / 1000) }')
		r_r=$(ratio "$achieved" "$rate")
		row "   --rate $rate/s, $rate_rows rows: achieved" "$achieved msg/s" "requested $rate msg/s" "$r_r" "~1.0" "(info)"
	else
		row "   batch --rate" "FAILED" "" "" "" "see stderr"
	fi
	mkcsv "$BATCH_DRY_ROWS" "$tmp/batch.csv"
	if timedmem "$tmp/batchdry.wall" "$tmp/batchdry.rss" /dev/null "$M" batch --csv "$tmp/batch.csv" --template "$tmp/batch.tpl" --dry-run; then
		row "   $BATCH_DRY_ROWS rows --dry-run: peak RSS" "$(mb "$(maximum "$tmp/batchdry.rss")")" "" "" "< 64 MB" "$(verdict "$(maximum "$tmp/batchdry.rss")" "<" 65536)"
		row "   $BATCH_DRY_ROWS rows --dry-run: wall" "$(secs "$(median "$tmp/batchdry.wall")")" "" "" "" "(info)"
	else
		row "   batch --dry-run" "FAILED" "" "" "" "see stderr"
	fi
	rm -f "$tmp/batch.csv"
else
	say "[3/5] batch: skipped"
	note "3. batch: skipped: mailout batch not available"
fi

# ---------------------------------------------------------------------------
# 4. Start-up: hyperfine without a shell (-N), peers in the same run.
say "[4/5] start-up: hyperfine --warmup $WARMUP..."
hf_runs=()
[ "$quick" = 1 ] && hf_runs=(--runs 10)
if hyperfine -N --warmup "$WARMUP" "${hf_runs[@]}" --style none --export-csv "$tmp/hf.csv" \
	-n mailout "$M --version" -n curl "curl --version" -n msmtp "msmtp --version" >/dev/null 2>"$tmp/hf.err"; then
	hf() { awk -F, -v c="$1" '$1 == c { print $4 * 1000 }' "$tmp/hf.csv"; }
	hm=$(hf mailout)
	hc=$(hf curl)
	hs=$(hf msmtp)
	row "4. start-up, --version (hyperfine median)" "$(ms "$hm")" "curl $(ms "$hc")" "$(ratio "$hm" "$hc")" "" "(info)"
	row "" "" "msmtp $(ms "$hs")" "$(ratio "$hm" "$hs")" "" "(info)"
else
	row "4. start-up" "FAILED" "" "" "" "$(head -1 "$tmp/hf.err")"
fi

# ---------------------------------------------------------------------------
# 5. The HTTP API transports, through bench/api.sh's fake Mailgun: a large
# attachment's peak RSS (streamed, not buffered) and a batch's rate with the
# journal on.
say "[5/5] HTTP API (fake Mailgun on 127.0.0.1): ${BIG_MB} MB attachment, $API_ROWS rows batch..."
if MAILOUT_BIN=$M BIG_MB=$BIG_MB ROWS=$API_ROWS "$bench_dir/api.sh" >"$tmp/api.out" 2>&1; then
	api_rss=$(awk '/^mailgun, / { for (i = 1; i <= NF; i++) if ($i == "RSS") print $(i + 1) }' "$tmp/api.out")
	api_mps=$(awk '/^mailgun batch/ { for (i = 1; i <= NF; i++) if ($i == "messages/s") print $(i - 1) }' "$tmp/api.out")
	row "5. mailgun API, ${BIG_MB} MB attachment: peak RSS" "${api_rss} MB" "" "" "<= 64 MB" "$(verdict "$api_rss" "<=" 64)"
	row "   mailgun API batch $API_ROWS rows -P4, journal" "$api_mps msg/s" "" "" "" "(info)"
else
	row "5. HTTP API" "FAILED" "" "" "" "see stderr"
	sed 's/^/api.sh: /' "$tmp/api.out" >&2
fi

# ---------------------------------------------------------------------------
# The table.
mkdir -p "$out_dir"
{
	echo "mailout benchmark, $(date -u '+%Y-%m-%d %H:%M:%S UTC') on $(hostname), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "binary: $built; $([ "$quick" = 1 ] && echo "QUICK run" || echo "full run"); sink: smtp-sink on 127.0.0.1:$PORT"
	echo "ratio = mailout / peer (for msg/s: higher is better; otherwise lower is better). Compare ratios, not absolute numbers."
	echo
	printf '%-48s %-13s %-25s %-7s %-9s %s\n' "measurement" "mailout" "peer" "ratio" "target" "result"
	printf '%-48s %-13s %-25s %-7s %-9s %s\n' "-----------" "-------" "----" "-----" "------" "------"
	printf '%s\n' "${rows[@]}"
	echo
	echo "Note: msmtp loses ~40 ms per send to a Nagle stall at the end of DATA; curl is the fast one-shot peer."
} | tee "$out_dir/latest.txt"
