#!/usr/bin/env bash
# A throwaway Toxiproxy (a TCP proxy that injects faults) for the
# network-fault tests, driven through its HTTP API with curl; the server
# comes from scripts/toxiproxy.sh (pinned, built once into a cache).
# Everything listens on 127.0.0.1 only.
#
#   toxiproxy.sh start DIR      a server whose pid, log and API address live
#                               in DIR; prints the API address (127.0.0.1:PORT)
#   toxiproxy.sh stop DIR       SIGTERM, SIGKILL after 10 s; idempotent
#   toxiproxy.sh proxy DIR NAME UPSTREAM
#                               a proxy to UPSTREAM (HOST:PORT) on a free
#                               loopback port; prints 127.0.0.1:PORT
#   toxiproxy.sh toxic DIR PROXY TOXIC TYPE STREAM [ATTR=NUMBER...]
#                               adds a toxic named TOXIC of TYPE (latency,
#                               bandwidth, reset_peer, timeout, slow_close,
#                               ...) on STREAM (upstream: towards UPSTREAM;
#                               downstream: towards the client)
#   toxiproxy.sh untoxic DIR PROXY TOXIC
#                               removes it
#   toxiproxy.sh enable|disable DIR PROXY
#                               a disabled proxy closes its connections and
#                               refuses new ones
#   toxiproxy.sh accepted DIR PROXY
#                               how many client connections PROXY accepted
#                               so far (from the server's log)
#   toxiproxy.sh reset DIR      every proxy enabled, every toxic removed
#
# Errors: a "toxiproxy.sh: ..." line on stderr and exit status 1.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

die() { echo "toxiproxy.sh: $*" >&2; exit 1; }

usage() {
	sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
	exit 2
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

api() {	# api DIR: the server's address, if one runs there
	[ -f "$1/api" ] || die "no toxiproxy started in $1"
	cat "$1/api"
}

# call DIR METHOD PATH [JSON]: one API request; fails, with the server's
# answer, unless it is a 2xx.
call() {
	local address out code
	address=$(api "$1")
	out=$(curl -sS --max-time 10 -X "$2" -w '\n%{http_code}' \
		${4:+-H 'Content-Type: application/json' --data "$4"} \
		"http://$address$3") || die "$2 $3: no answer from toxiproxy at $address"
	code=${out##*$'\n'}
	out=${out%$'\n'*}
	[[ $code == 2* ]] || die "$2 $3: HTTP $code: $out"
	echo "$out"
}

server_pid() {	# server_pid DIR: the pid, if that process still runs
	local pid
	pid=$(cat "$1/pid" 2>/dev/null) || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	echo "$pid"
}

cmd_start() {
	local dir=$1 bin port deadline
	mkdir -p "$dir"
	! server_pid "$dir" >/dev/null || die "a toxiproxy already runs in $dir"
	bin=$("$root/scripts/toxiproxy.sh") || die "could not install toxiproxy-server (scripts/toxiproxy.sh)"
	port=$(free_port)
	# info: one line per accepted client (accepted counts them), none per
	# packet.
	LOG_LEVEL=info setsid "$bin" -host 127.0.0.1 -port "$port" >>"$dir/log" 2>&1 </dev/null &
	echo $! >"$dir/pid"
	echo "127.0.0.1:$port" >"$dir/api"
	deadline=$((SECONDS + 30))
	until curl -sf --max-time 2 "http://127.0.0.1:$port/version" >/dev/null 2>&1; do
		server_pid "$dir" >/dev/null || { tail -n 20 "$dir/log" >&2; die "toxiproxy-server exited (log above)"; }
		[ $SECONDS -lt $deadline ] || { cmd_stop "$dir"; die "toxiproxy-server did not answer within 30 s"; }
		sleep 0.1
	done
	cat "$dir/api"
}

cmd_stop() {
	local dir=$1 pid deadline
	pid=$(server_pid "$dir") || { rm -f "$dir/pid"; return 0; }
	kill -TERM "$pid" 2>/dev/null || true
	deadline=$((SECONDS + 10))
	while kill -0 "$pid" 2>/dev/null; do
		if [ $SECONDS -ge $deadline ]; then
			kill -KILL "$pid" 2>/dev/null || true
			break
		fi
		sleep 0.1
	done
	rm -f "$dir/pid"
}

# A port found free may be taken before toxiproxy binds it: try others.
cmd_proxy() {
	local dir=$1 name=$2 upstream=$3 port attempt
	for attempt in 1 2 3; do
		port=$(free_port)
		if call "$dir" POST /proxies \
			"{\"name\":\"$name\",\"listen\":\"127.0.0.1:$port\",\"upstream\":\"$upstream\",\"enabled\":true}" \
			>/dev/null 2>"$dir/proxy.err"; then
			echo "127.0.0.1:$port"
			return
		fi
		grep -q "address already in use" "$dir/proxy.err" || break
	done
	cat "$dir/proxy.err" >&2
	die "could not create proxy $name to $upstream"
}

cmd_toxic() {
	local dir=$1 proxy=$2 toxic=$3 type=$4 stream=$5 attrs="" pair
	shift 5
	case $stream in
	upstream | downstream) ;;
	*) die "STREAM must be upstream or downstream, not \"$stream\"" ;;
	esac
	for pair in "$@"; do
		[[ $pair =~ ^[a-z_]+=[0-9]+$ ]] || die "toxic attribute must be NAME=NUMBER, not \"$pair\""
		attrs+="${attrs:+,}\"${pair%%=*}\":${pair#*=}"
	done
	call "$dir" POST "/proxies/$proxy/toxics" \
		"{\"name\":\"$toxic\",\"type\":\"$type\",\"stream\":\"$stream\",\"toxicity\":1,\"attributes\":{$attrs}}" \
		>/dev/null
}

cmd_accepted() {	# counts the server's "Accepted client" lines for PROXY
	grep -c "\"name\":\"$2\".*Accepted client\|Accepted client.*\"name\":\"$2\"" "$1/log" || true
}

main() {
	local cmd=${1:-}
	[ $# -gt 0 ] && shift
	case $cmd in
	start) [ $# -eq 1 ] || usage; cmd_start "$1" ;;
	stop) [ $# -eq 1 ] || usage; cmd_stop "$1" ;;
	proxy) [ $# -eq 3 ] || usage; cmd_proxy "$@" ;;
	toxic) [ $# -ge 5 ] || usage; cmd_toxic "$@" ;;
	untoxic) [ $# -eq 3 ] || usage; call "$1" DELETE "/proxies/$2/toxics/$3" >/dev/null ;;
	enable | disable)
		[ $# -eq 2 ] || usage
		call "$1" POST "/proxies/$2" "{\"enabled\":$([ "$cmd" = enable ] && echo true || echo false)}" >/dev/null ;;
	accepted) [ $# -eq 2 ] || usage; cmd_accepted "$1" "$2" ;;
	reset) [ $# -eq 1 ] || usage; call "$1" POST /reset >/dev/null ;;
	-h | --help | help | "") usage ;;
	*) echo "toxiproxy.sh: unknown command \"$cmd\"" >&2; usage ;;
	esac
}

main "$@"
