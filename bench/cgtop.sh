#!/bin/sh
# Inclusive instructions per event and function, from the latest run of
# make -C bench shipper-cpu-callgrind: bench/cgtop.sh [EVENTS] [LINES]
cd "$(dirname "$0")"
f=$(ls -t callgrind.tmp/out.*.1 | head -1)
callgrind_annotate --inclusive=yes --threshold=99.5 --auto=no "$f" 2>/dev/null |
	sed -n '/file:function/,$p' | tail -n +3 | grep -v '???:0x' |
	awk -v n="${1:-20000}" '{ gsub(",", "", $1); name=$NF; if (name ~ /^\[/) name=$(NF-1); printf "%7d  %s\n", $1 / n, name }' |
	head -"${2:-60}"
