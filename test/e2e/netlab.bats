# The network lab (netlab.bash): what the tests of real networks take at
# its word, measured with UDP probes (test/e2e/tools/udpprobe) between its
# namespaces. Bounds are wide, about four standard deviations, as the
# lab's choices are random; each test prints what it measured on fd 3.
# The lab needs root, as make test has on CI.

setup_file() {
	load netlab
	[ "$(id -u)" = 0 ] || {
		echo "netlab.bats makes network namespaces: run it as root (make test does, on CI)" >&3
		return 1
	}
	netlab_build
	go build -o "$BATS_FILE_TMPDIR/udpprobe" "$BATS_TEST_DIRNAME/tools/udpprobe"
}

setup() {
	load helpers
	load netlab
	DAEMONS=()
	PROBE=$BATS_FILE_TMPDIR/udpprobe
}

teardown() {
	netlab_down
	stop_daemons
}

# echo_in NS ADDR starts udpprobe's echo in namespace NS on ADDR.
echo_in() {
	local out=$BATS_TEST_TMPDIR/echo-$1.out
	netlab_exec "$1" "$PROBE" echo --listen "$2" >"$out" 2>"$out.log" 3>&- &
	DAEMONS+=($!)
	wait_for_line "$out" "${DAEMONS[-1]}" "udpprobe echo in $1"
}

# probe NS ADDR [FLAG...] sends probes from namespace NS to the echo at
# ADDR and sets PROBED to what udpprobe measured.
probe() {
	local ns=$1 to=$2
	shift 2
	PROBED=$(netlab_exec "$ns" "$PROBE" send --to "$to" "$@") || fail "udpprobe send from $ns: $PROBED"
	printf '# %s to %s: %s\n' "$ns" "$to" "$PROBED" >&3
}

# measured FIELD prints FIELD of the last probe (a jq path: rtt_ms.p50).
measured() {
	jq -r ".$1" <<<"$PROBED"
}

# within FIELD LOW HIGH fails unless LOW <= FIELD <= HIGH in the last probe.
within() {
	jq -e --argjson lo "$2" --argjson hi "$3" ".$1 >= \$lo and .$1 <= \$hi" <<<"$PROBED" >/dev/null ||
		fail "$1 is $(measured "$1"), want from $2 to $3 in $PROBED"
}

# counted DIRECTION FIELD prints what netimpair counted.
counted() {
	netlab_stats | jq -r ".$1.$2"
}

@test "a clean path gives every probe back once, in order, at once, from A's own address" {
	netlab_up
	echo_in B "$NETLAB_B_ADDR:7000"
	probe A "$NETLAB_B_ADDR:7000" --count 2000 --rate 2000
	within received 2000 2000
	within duplicated 0 0
	within reordered 0 0
	# At once: netimpair forwards in user space, and on a busy machine a
	# few in a hundred wait for the CPU.
	within rtt_ms.p90 0 20
	within rtt_ms.p99 0 50
	assert_matches "$(measured 'seen_as[]')" "^$NETLAB_A_ADDR:[0-9]+\$"
}

@test "delay and jitter set the round trip, and jitter alone reorders nothing" {
	netlab_up --delay 25ms --jitter 10ms
	echo_in B "$NETLAB_B_ADDR:7000"
	probe A "$NETLAB_B_ADDR:7000" --count 2000 --rate 1000
	within received 2000 2000
	within reordered 0 0
	# Each way 25 ± 10 ms, and a little for the kernel and netimpair (more
	# when the machine is busy).
	within rtt_ms.min 30 45
	within rtt_ms.p50 38 64
	within rtt_ms.p99 52 100
}

@test "loss, reordering and duplication from A to B are what was asked, as netimpair counted them" {
	netlab_up --ab-loss 5 --ab-reorder 5 --ab-duplicate 1 --delay 5ms
	echo_in B "$NETLAB_B_ADDR:7000"
	probe A "$NETLAB_B_ADDR:7000" --count 2000 --rate 1000
	# Of 2,000: 100 lost, about 95 reordered and 19 duplicated.
	within lost 55 150
	within reordered 50 150
	within duplicated 4 40
	# Nothing else lost or doubled them, and the way back is clean.
	assert_equal "$(measured lost)" "$(counted ab lost)"
	assert_equal "$(measured duplicated)" "$(counted ab duplicated)"
	assert_equal "$(counted ba lost)/$(counted ba duplicated)/$(counted ba reordered)" 0/0/0
	assert_equal "$(counted ba in)" "$(counted ba out)"
}

@test "a partition drops everything, both ways or one, and healing restores the path at once" {
	netlab_up --delay 5ms
	echo_in B "$NETLAB_B_ADDR:7000"

	netlab_partition on
	probe A "$NETLAB_B_ADDR:7000" --count 500 --rate 1000 --linger 300ms
	within received 0 0
	assert_equal "$(counted ab partitioned)" 500

	netlab_partition off
	probe A "$NETLAB_B_ADDR:7000" --count 500 --rate 1000
	within received 500 500

	# B's echoes are cut, A's probes still reach B.
	netlab_partition on ba
	probe A "$NETLAB_B_ADDR:7000" --count 200 --rate 1000 --linger 300ms
	within received 0 0
	assert_equal "$(counted ab out)/$(counted ba partitioned)" 700/200
	netlab_partition off ba
	probe A "$NETLAB_B_ADDR:7000" --count 200 --rate 1000
	within received 200 200
}

@test "behind the NAT, B reaches A from R's public address and A can't reach B; without it, A can" {
	netlab_up
	netlab_nat on
	assert_equal "$(netlab_exec R sysctl -n net.netfilter.nf_conntrack_udp_timeout net.netfilter.nf_conntrack_udp_timeout_stream)" $'30\n30'
	echo_in A "$NETLAB_A_ADDR:7000"
	echo_in B "$NETLAB_B_ADDR:7000"

	# Over 2 s both ways: a UDP stream to conntrack, whose mapping lasts
	# 120 s idle unless told otherwise.
	probe B "$NETLAB_A_ADDR:7000" --count 2500 --rate 1000
	within received 2500 2500
	assert_matches "$(measured 'seen_as[]')" "^$NETLAB_R_PUBLIC:[0-9]+\$"
	local mapping
	mapping=$(netlab_exec R cat /proc/net/nf_conntrack | grep "src=$NETLAB_B_ADDR .*ASSURED") ||
		fail "no assured mapping for B: $(netlab_exec R cat /proc/net/nf_conntrack)"
	[ "$(awk '{ print $5 }' <<<"$mapping")" -le 30 ] || fail "B's mapping lasts more than 30 s: $mapping"

	probe A "$NETLAB_B_ADDR:7000" --count 200 --rate 1000 --linger 300ms
	within received 0 0
	# R dropped them before netimpair: it counted only A's 2,500 echoes.
	assert_equal "$(counted ab in)" 2500

	netlab_nat off
	probe A "$NETLAB_B_ADDR:7000" --count 200 --rate 1000
	within received 200 200
}

@test "while the lab is up nothing addressed to it can leave the machine; netlab_down removes it all, twice over" {
	netlab_up
	local id=$NETLAB_ID pid=$NETLAB_PID dir=$NETLAB_DIR
	assert_contains "$(ip -4 route show exact "$NETLAB_RANGE" type blackhole)" "metric ${id#smvs-}"
	run ! ip route get "$NETLAB_A_ADDR"
	run ! ip route get "$NETLAB_B_ADDR"
	assert_equal "$(netlab_exec A ip -br link show lo | awk '{print $2}')" UNKNOWN # up, as lo is

	netlab_down
	netlab_down
	refute_contains "$(ip netns list)" "$id-"
	refute_contains "$(ip -4 route show exact "$NETLAB_RANGE" type blackhole)" "metric ${id#smvs-}"
	[ ! -d "/proc/$pid" ] || fail "netimpair $pid still runs"
	# netimpair told its counters as it stopped.
	tail -n 1 "$dir/netimpair.out" | jq -e '.ab.in >= 0' >/dev/null || fail "netimpair.out: $(cat "$dir/netimpair.out")"
}
