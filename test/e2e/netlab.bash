# The network lab of the end-to-end tests: two endpoint namespaces, A and
# B, joined by a router namespace R whose path impairs packets in user space
# (test/e2e/tools/netimpair: this kernel has no netem), and can be a NAT.
#
#	A 10.231.1.2 ── 10.231.1.1 R 10.231.2.1 ── 10.231.2.2 B
#	   (public side)                              (private side, behind the NAT)
#
# In R, policy routing sends every packet arriving from A into the TUN
# device of direction ab, and every packet from B into that of ba;
# netimpair writes each back when its impairment says, and the kernel
# forwards it on from there. Only what crosses R is impaired, not what R
# itself sends or receives: run servers in A or B. Conntrack, and so the
# NAT, meets each packet once, on its way into netimpair.
# While the lab is up the machine's own namespace routes 10.231.0.0/16 to a
# blackhole, so that nothing addressed to the lab can leave the machine.
#
# Use, as root (make test runs as root on CI):
#
#	setup_file() { load netlab; netlab_build; }
#	setup() { load helpers; load netlab; DAEMONS=(); netlab_up --delay 50ms --loss 5; }
#	teardown() { netlab_down; stop_daemons; }
#
# netlab_exec A COMMAND... runs COMMAND in A (or B, R); a daemon started
# with it in the background goes into DAEMONS as usual. netlab_down stops
# whatever still runs in the lab, netimpair included: call it before
# stop_daemons, which fails a test that left a process running. Unix
# sockets are files, shared by every namespace: a command that only talks
# to a host's socket may run outside the lab. Call netlab_up and
# netlab_down from the test's own shell, not from a subshell or `run`: they
# keep the lab's state in NETLAB_* variables.

NETLAB_RANGE=10.231.0.0/16
NETLAB_A_ADDR=10.231.1.2
NETLAB_R_PUBLIC=10.231.1.1 # R's address on A's side: behind the NAT, B's packets come from it
NETLAB_R_PRIVATE=10.231.2.1
NETLAB_B_ADDR=10.231.2.2

# netlab_build builds netimpair into $BATS_FILE_TMPDIR; call it from
# setup_file.
netlab_build() {
	(cd "$BATS_TEST_DIRNAME" && go build -o "$BATS_FILE_TMPDIR/netimpair" ./tools/netimpair)
}

# netlab_up [NETIMPAIR_FLAG...] makes the lab and starts netimpair in R with
# the impairment flags given (see netimpair -h: --delay, --jitter, --loss,
# --reorder, --reorder-by, --duplicate, --limit, --seed, each also as
# --ab-NAME or --ba-NAME for one direction). It sets NETLAB_A, NETLAB_R and
# NETLAB_B (the namespaces' names), NETLAB_DIR (the lab's files: netimpair's
# output and log, its control socket) and NETLAB_PID (netimpair's).
netlab_up() {
	[ "$(id -u)" = 0 ] || _netlab_fail "the network lab needs root (namespaces, routes, iptables): run the tests as root, as make test does on CI" || return
	local bin=${NETIMPAIR:-$BATS_FILE_TMPDIR/netimpair}
	[ -x "$bin" ] || _netlab_fail "no netimpair at $bin: call netlab_build in setup_file" || return
	[ -z "${NETLAB_ID:-}" ] || _netlab_fail "the lab $NETLAB_ID is up already" || return
	_netlab_reap
	# Names tell the shell that made them, so that a later run can remove what
	# a killed one left (_netlab_reap); the route's metric does too.
	NETLAB_ID=smvs-$BASHPID
	NETLAB_A=$NETLAB_ID-a NETLAB_R=$NETLAB_ID-r NETLAB_B=$NETLAB_ID-b
	NETLAB_DIR=$BATS_TEST_TMPDIR/netlab
	mkdir -p "$NETLAB_DIR"

	local used
	used=$(ip -4 route show root "$NETLAB_RANGE" | grep -v '^blackhole' || true)
	used+=$(ip -4 addr show to "$NETLAB_RANGE")
	[ -z "$used" ] || _netlab_fail "$NETLAB_RANGE is in use on this machine, the lab can't have it: $used" || return
	_netlab ip route add blackhole "$NETLAB_RANGE" metric "$BASHPID" || return

	local ns
	for ns in "$NETLAB_A" "$NETLAB_R" "$NETLAB_B"; do
		_netlab ip netns add "$ns" || return
		_netlab ip -n "$ns" link set lo up || return
		# IPv4 only: no IPv6 chatter through the lab; strict reverse-path
		# filtering would drop what comes back from netimpair's devices.
		_netlab ip netns exec "$ns" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 \
			net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 || return
	done
	_netlab ip netns exec "$NETLAB_R" sysctl -q -w net.ipv4.ip_forward=1 || return

	_netlab_link "$NETLAB_A" to-a "$NETLAB_R_PUBLIC" "$NETLAB_A_ADDR" || return
	_netlab_link "$NETLAB_B" to-b "$NETLAB_R_PRIVATE" "$NETLAB_B_ADDR" || return

	local dir from table=100
	for dir in ab ba; do
		from=to-${dir:0:1} table=$((table + 1))
		_netlab ip -n "$NETLAB_R" tuntap add dev "imp-$dir" mode tun || return
		_netlab ip -n "$NETLAB_R" link set "imp-$dir" up || return
		# Behind the NAT, B's packets come back from netimpair with R's
		# address as their source.
		_netlab ip netns exec "$NETLAB_R" sysctl -q -w "net.ipv4.conf.imp-$dir.accept_local=1" || return
		_netlab ip -n "$NETLAB_R" route add default dev "imp-$dir" table "$table" || return
		_netlab ip -n "$NETLAB_R" rule add pref "$table" iif "$from" lookup "$table" || return
	done

	ip netns exec "$NETLAB_R" "$bin" --tun-ab imp-ab --tun-ba imp-ba --ctl "$NETLAB_DIR/ctl" "$@" \
		>"$NETLAB_DIR/netimpair.out" 2>"$NETLAB_DIR/netimpair.log" 3>&- &
	NETLAB_PID=$!
	local i
	for ((i = 0; i < 100; i++)); do
		[ -s "$NETLAB_DIR/netimpair.out" ] && return 0
		kill -0 "$NETLAB_PID" 2>/dev/null ||
			_netlab_fail "netimpair exited: $(cat "$NETLAB_DIR/netimpair.log")" || return
		sleep 0.1
	done
	_netlab_fail "netimpair is not ready after 10 s: $(cat "$NETLAB_DIR/netimpair.log")"
}

# _netlab_link NS DEV R_ADDR ADDR joins namespace NS to R with a veth pair:
# DEV in R with R_ADDR, eth0 in NS with ADDR and its default route via R.
_netlab_link() {
	local ns=$1 dev=$2 raddr=$3 addr=$4
	_netlab ip -n "$NETLAB_R" link add "$dev" type veth peer name eth0 netns "$ns" || return
	_netlab ip -n "$NETLAB_R" addr add "$raddr/24" dev "$dev" || return
	_netlab ip -n "$NETLAB_R" link set "$dev" up || return
	_netlab ip -n "$ns" addr add "$addr/24" dev eth0 || return
	_netlab ip -n "$ns" link set eth0 up || return
	_netlab ip -n "$ns" route add default via "$raddr" || return
}

# netlab_exec A|B|R COMMAND... runs COMMAND in that namespace of the lab.
netlab_exec() {
	local ns
	ns=$(_netlab_ns "$1") || return
	shift
	ip netns exec "$ns" "$@"
}

# netlab_dird [FLAG...] starts a directory (start_dird) in A, on A's
# address: B reaches it across the path.
netlab_dird() {
	RUN_IN=$NETLAB_A RUN_ADDR=$NETLAB_A_ADDR start_dird "$@"
}

# netlab_host A|B NAME [FLAG...] starts user NAME's host (start_host) in
# that namespace, on its address. It asks no router for a port mapping
# (the lab's router offers none, and asking by PCP, NAT-PMP and UPnP
# takes seconds) unless a FLAG or SMVS_HOSTD_PORT_MAPPING says to.
netlab_host() {
	local ns addr
	ns=$(_netlab_ns "$1") || return
	case $1 in
	A) addr=$NETLAB_A_ADDR ;;
	B) addr=$NETLAB_B_ADDR ;;
	*) _netlab_fail "netlab_host: A or B, not $1" || return ;;
	esac
	shift
	SMVS_HOSTD_PORT_MAPPING=${SMVS_HOSTD_PORT_MAPPING:-off} RUN_IN=$ns RUN_ADDR=$addr start_host "$@"
}

# netlab_world [NETIMPAIR_FLAG...] brings the lab up with the path's
# impairment (netlab_up), starts the directory in A (netlab_dird) and the
# hosts of users alice in A and bob in B, and sets ALICE, BOB (their ids),
# ALICE_ADDR, ALICE_PID, BOB_ADDR and BOB_PID, as alice_and_bob does.
netlab_world() {
	netlab_up "$@" || return
	netlab_dird dird
	use_dird
	ALICE=$(user alice) BOB=$(user bob)
	netlab_host A alice
	ALICE_ADDR=$HOST_ADDR ALICE_PID=$HOST_PID
	netlab_host B bob
	BOB_ADDR=$HOST_ADDR BOB_PID=$HOST_PID
}

# netlab_nat on|off [symmetric] puts B behind a NAT in R, or takes the NAT
# away: B's packets leave toward A from $NETLAB_R_PUBLIC (as MASQUERADE
# would: Linux keeps the source port when it is free), and from A's side
# only replies may pass to B (a mapping lets in only the address and port
# it was made for). Idle UDP mappings expire after 30 s, as in many home
# routers. With symmetric, each of B's flows gets a random outside port
# (as carrier-grade and symmetric NATs do): what a peer sees of one flow
# says nothing of the next, so no hole can be punched. Give the same words
# to take it away.
netlab_nat() {
	local op random=()
	case ${1:-} in
	on) op=-A ;;
	off) op=-D ;;
	*) _netlab_fail "usage: netlab_nat on|off [symmetric]" || return ;;
	esac
	case ${2:-} in
	'') ;;
	symmetric) random=(--random-fully) ;;
	*) _netlab_fail "usage: netlab_nat on|off [symmetric]" || return ;;
	esac
	[ -n "${NETLAB_ID:-}" ] || _netlab_fail "netlab_nat: the lab is not up" || return
	local r=(ip netns exec "$NETLAB_R")
	if [ "$1" = on ]; then
		_netlab "${r[@]}" sysctl -q -w net.netfilter.nf_conntrack_udp_timeout=30 \
			net.netfilter.nf_conntrack_udp_timeout_stream=30 || return
	fi
	# Conntrack meets a packet on its way into netimpair, where the NAT
	# translates it (toward A it leaves R through imp-ba, which has no
	# address: hence SNAT rather than MASQUERADE); not again on its way
	# back, where it would be a second connection clashing with the first.
	_netlab "${r[@]}" iptables -t raw "$op" PREROUTING -i imp-ab -j NOTRACK || return
	_netlab "${r[@]}" iptables -t raw "$op" PREROUTING -i imp-ba -j NOTRACK || return
	_netlab "${r[@]}" iptables -t nat "$op" POSTROUTING -s "$NETLAB_B_ADDR/24" -o imp-ba -j SNAT --to-source "$NETLAB_R_PUBLIC" "${random[@]}" || return
	_netlab "${r[@]}" iptables "$op" FORWARD -i to-a -o imp-ab -m conntrack ! --ctstate ESTABLISHED,RELATED -j DROP
}

# netlab_partition on|off [ab|ba] cuts the path between A and B, both ways
# or one (ab: what A sends), or heals it. Packets already held by netimpair
# still arrive, as those already on the wire would.
netlab_partition() {
	netlab_ctl partition "$@"
}

# netlab_impair NETIMPAIR_FLAG... changes the impairment of the packets that
# arrive from now on, e.g. netlab_impair --loss 0 --ab-delay 100ms.
netlab_impair() {
	netlab_ctl set "$@"
}

# netlab_stats prints netimpair's counters as JSON: for each direction
# in, out, lost, partitioned, overflow, duplicated, reordered,
# write_errors, held, partition (on or not); and the seed.
netlab_stats() {
	netlab_ctl stats
}

# netlab_ctl COMMAND... sends a control command to netimpair.
netlab_ctl() {
	[ -n "${NETLAB_ID:-}" ] || _netlab_fail "the lab is not up" || return
	"${NETIMPAIR:-$BATS_FILE_TMPDIR/netimpair}" ctl "$NETLAB_DIR/ctl" "$@"
}

# netlab_down stops every process in the lab, netimpair last (its counters
# end up in $NETLAB_DIR/netimpair.out), removes the namespaces and the
# blackhole route. It does nothing when no lab is up, so it may be called
# twice.
netlab_down() {
	[ -n "${NETLAB_ID:-}" ] || return 0
	local ns pids=()
	for ns in "$NETLAB_A" "$NETLAB_B" "$NETLAB_R"; do
		[ -e "/run/netns/$ns" ] || continue
		mapfile -t -O "${#pids[@]}" pids < <(ip netns pids "$ns" 2>/dev/null)
	done
	_netlab_kill "${pids[@]}"
	[ -z "${NETLAB_PID:-}" ] || wait "$NETLAB_PID" 2>/dev/null || true
	for ns in "$NETLAB_A" "$NETLAB_B" "$NETLAB_R"; do
		[ ! -e "/run/netns/$ns" ] || ip netns del "$ns" || true
	done
	ip route del blackhole "$NETLAB_RANGE" metric "${NETLAB_ID#smvs-}" 2>/dev/null || true
	NETLAB_ID= NETLAB_PID=
}

# _netlab_kill PID... stops the processes: SIGTERM, then SIGKILL for those
# still running 5 s later.
_netlab_kill() {
	[ $# -gt 0 ] || return 0
	kill -TERM "$@" 2>/dev/null || true
	local i pid line left
	for ((i = 0; i < 50; i++)); do
		left=()
		for pid in "$@"; do
			{ read -r line <"/proc/$pid/stat"; } 2>/dev/null || continue
			line=${line##*) } # the state, after the command's name
			[ "${line%% *}" = Z ] || left+=("$pid")
		done
		[ ${#left[@]} -gt 0 ] || return 0
		sleep 0.1
	done
	kill -KILL "${left[@]}" 2>/dev/null || true
}

# _netlab_reap removes what labs of shells no longer running left behind
# (a run killed before its teardown): their namespaces, with whatever still
# runs in them, and their blackhole routes.
_netlab_reap() {
	local ns owner pids metric
	while read -r ns _; do
		[[ $ns =~ ^smvs-([0-9]+)-[arb]$ ]] || continue
		owner=${BASH_REMATCH[1]}
		[ ! -d "/proc/$owner" ] || continue
		mapfile -t pids < <(ip netns pids "$ns" 2>/dev/null)
		_netlab_kill "${pids[@]}"
		ip netns del "$ns" 2>/dev/null || true
	done < <(ip netns list)
	while read -r _ _ _ metric _; do
		[[ $metric =~ ^[0-9]+$ ]] && [ ! -d "/proc/$metric" ] || continue
		ip route del blackhole "$NETLAB_RANGE" metric "$metric" 2>/dev/null || true
	done < <(ip -4 route show exact "$NETLAB_RANGE" type blackhole)
}

# _netlab_ns A|B|R prints the name of that namespace of the lab.
_netlab_ns() {
	[ -n "${NETLAB_ID:-}" ] || _netlab_fail "the lab is not up" || return
	case $1 in
	A) echo "$NETLAB_A" ;;
	B) echo "$NETLAB_B" ;;
	R) echo "$NETLAB_R" ;;
	*) _netlab_fail "no namespace $1 in the lab: want A, B or R" ;;
	esac
}

# _netlab COMMAND... runs COMMAND, failing with what it said if it fails.
_netlab() {
	local out
	out=$("$@" 2>&1) || _netlab_fail "$* failed: $out"
}

_netlab_fail() {
	printf 'netlab: %s\n' "$*" >&2
	return 1
}
