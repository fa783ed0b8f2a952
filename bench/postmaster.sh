# Sourced by bench scripts that measure a walsender's CPU time: once the
# postmaster reaps a child, the child's utime + stime join the postmaster's
# cutime + cstime, so with no other client backend exiting meanwhile, the
# growth of those is one walsender's CPU.  The caller sets HZ
# (getconf CLK_TCK) and postmaster_pid, and defines die.

# CPU seconds of the children a process has waited for (cutime + cstime).
children_cpu_seconds() { awk -v hz="$HZ" '{ print ($16 + $17) / hz }' "/proc/$1/stat"; }

# clients_running: a client backend or walsender of the postmaster is
# running, or has exited and is not reaped yet (no command line then).
clients_running() {
	local pid cmd
	for pid in $(pgrep -P "$postmaster_pid"); do
		cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || continue
		case $cmd in "" | "postgres: walsender "* | "postgres: postgres "*) return 0 ;; esac
	done
	return 1
}

# wait_no_clients: until every client backend and walsender was reaped
# (60 s at most).
wait_no_clients() {
	local deadline=$((SECONDS + 60))
	while clients_running; do
		[ $SECONDS -lt $deadline ] || die "client backends still running after 60 s: $(pgrep -a -P "$postmaster_pid" | tr '\n' ';')"
		sleep 0.02
	done
}
