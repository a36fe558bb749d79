# Port mapping (issue 14): B behind R's NAT asks R for a mapping by
# NAT-PMP, PCP or UPnP IGD with lib/portmap (tools/portmapcheck), R's
# gateway (tools/natpmpd, or tools/upnpd) makes it with iptables rules, and
# A reaches B at R's public address through it, until the mapping is
# deleted or expires. The
# lab is netlab.bash's; the public address is a private one there, hence
# --allow-private. Each test prints what it measured on fd 3.

setup_file() {
	load netlab
	[ "$(id -u)" = 0 ] || {
		echo "portmap.bats makes network namespaces: run it as root (make test does, on CI)" >&3
		return 1
	}
	netlab_build
	local tool
	for tool in udpprobe natpmpd upnpd portmapcheck; do
		go build -o "$BATS_FILE_TMPDIR/$tool" "$BATS_TEST_DIRNAME/tools/$tool"
	done
}

setup() {
	load helpers
	load netlab
	DAEMONS=()
	TOOLS=$BATS_FILE_TMPDIR
	netlab_up
	netlab_nat on
}

teardown() {
	netlab_down
	stop_daemons
}

# start_natpmpd [FLAG...] starts natpmpd in R, on R's private address:
# GATEWAY_PID, GATEWAY_OUT (its output: a line for each mapping).
start_natpmpd() {
	GATEWAY_OUT=$BATS_TEST_TMPDIR/natpmpd.out
	RUN_IN=$NETLAB_R run_in "$TOOLS/natpmpd" --listen "$NETLAB_R_PRIVATE:5351" --public "$NETLAB_R_PUBLIC" --wan to-a "$@" \
		>"$GATEWAY_OUT" 2>"$GATEWAY_OUT.log" 3>&- &
	GATEWAY_PID=$!
	DAEMONS+=("$GATEWAY_PID")
	wait_for_line "$GATEWAY_OUT" "$GATEWAY_PID" natpmpd
}

# start_upnpd [FLAG...] starts upnpd in R, answering SSDP searches on
# to-b (B's side) and serving on R's private address: GATEWAY_PID,
# GATEWAY_OUT (its output: a line for each mapping). Nothing in R speaks
# PCP or NAT-PMP then: B's requests to port 5351 meet a closed port, and
# lib/portmap searches for a UPnP IGD. B's search goes to the SSDP group
# 239.255.255.250:1900 from B's address; B has no route of its own for
# multicast, and Linux sends it out of the interface that has that address,
# eth0, the link to R; TTL 1 keeps it there.
start_upnpd() {
	GATEWAY_OUT=$BATS_TEST_TMPDIR/upnpd.out
	RUN_IN=$NETLAB_R run_in "$TOOLS/upnpd" --listen "$NETLAB_R_PRIVATE" --lan-iface to-b --public "$NETLAB_R_PUBLIC" --wan to-a "$@" \
		>"$GATEWAY_OUT" 2>"$GATEWAY_OUT.log" 3>&- &
	GATEWAY_PID=$!
	DAEMONS+=("$GATEWAY_PID")
	wait_for_line "$GATEWAY_OUT" "$GATEWAY_PID" upnpd
}

# start_portmapcheck [FLAG...] maps port 7000 of B at the default route's
# gateway, R: CHECK_PID, CHECK_OUT, and PUBLIC and PROTOCOL as it says.
start_portmapcheck() {
	CHECK_OUT=$BATS_TEST_TMPDIR/portmapcheck.out
	RUN_IN=$NETLAB_B run_in "$TOOLS/portmapcheck" --port 7000 --allow-private "$@" \
		>"$CHECK_OUT" 2>"$CHECK_OUT.log" 3>&- &
	CHECK_PID=$!
	DAEMONS+=("$CHECK_PID")
	wait_for_line "$CHECK_OUT" "$CHECK_PID" portmapcheck
	local by
	read -r _ _ PUBLIC by PROTOCOL <"$CHECK_OUT"
	[ "$by" = by ] || fail "portmapcheck said: $(cat "$CHECK_OUT")"
	printf '# B mapped: %s\n' "$(head -n 1 "$CHECK_OUT")" >&3
}

# stop_portmapcheck ends portmapcheck as a host that stops: it deletes the
# mapping.
stop_portmapcheck() {
	kill -TERM "$CHECK_PID"
	wait_gone 5 "$CHECK_PID" || fail "portmapcheck still runs 5 s after SIGTERM"
	wait "$CHECK_PID" || fail "portmapcheck failed: $(cat "$CHECK_OUT.log")"
	assert_equal "$(tail -n 1 "$CHECK_OUT")" "portmapcheck: deleted"
}

# echo_in NS ADDR starts udpprobe's echo in namespace NS on ADDR.
echo_in() {
	local out=$BATS_TEST_TMPDIR/echo-$1.out
	RUN_IN=$(_netlab_ns "$1") run_in "$TOOLS/udpprobe" echo --listen "$2" >"$out" 2>"$out.log" 3>&- &
	DAEMONS+=($!)
	wait_for_line "$out" "${DAEMONS[-1]}" "udpprobe echo in $1"
}

# probe NS ADDR [FLAG...] sends probes from namespace NS to the echo at
# ADDR and sets PROBED to what udpprobe measured.
probe() {
	local ns=$1 to=$2
	shift 2
	PROBED=$(netlab_exec "$ns" "$TOOLS/udpprobe" send --to "$to" "$@") || fail "udpprobe send from $ns: $PROBED"
	printf '# %s to %s: %s\n' "$ns" "$to" "$PROBED" >&3
}

# received prints how many probes came back in the last probe.
received() {
	jq -r .received <<<"$PROBED"
}

# reaches ADDR succeeds if 50 probes from A to ADDR all come back.
reaches() {
	probe A "$1" --count 50 --rate 500 --linger 300ms
	[ "$(received)" = 50 ]
}

# unreachable ADDR succeeds if none of 50 probes from A to ADDR comes back.
unreachable() {
	probe A "$1" --count 50 --rate 500 --linger 300ms
	[ "$(received)" = 0 ]
}

# has_lines N TEXT FILE succeeds if at least N lines of FILE hold TEXT.
has_lines() {
	[ "$(grep -cF "$2" "$3")" -ge "$1" ]
}

# rules prints natpmpd's and upnpd's iptables rules in R.
rules() {
	netlab_exec R iptables-save | grep -E 'natpmpd|upnpd' || true
}

@test "B maps a port by NAT-PMP: A reaches B at R's public address until B deletes the mapping" {
	start_natpmpd
	echo_in B "$NETLAB_B_ADDR:7000"
	unreachable "$NETLAB_R_PUBLIC:7000" || fail "A reached B through the NAT before any mapping: $PROBED"

	start_portmapcheck
	# lib/portmap asked by PCP first; natpmpd speaks only NAT-PMP.
	assert_equal "$PUBLIC $PROTOCOL" "$NETLAB_R_PUBLIC:7000 NAT-PMP"
	assert_contains "$(cat "$GATEWAY_OUT")" "natpmpd: map $NETLAB_R_PUBLIC:7000 to $NETLAB_B_ADDR:7000 for 3600s by NAT-PMP"

	probe A "$PUBLIC" --count 500 --rate 1000
	assert_equal "$(received)" 500
	# The mapping changes only the destination: B sees A's own address.
	assert_matches "$(jq -r '.seen_as[]' <<<"$PROBED")" "^$NETLAB_A_ADDR:[0-9]+\$"

	stop_portmapcheck
	assert_contains "$(cat "$GATEWAY_OUT")" "natpmpd: unmap $NETLAB_R_PUBLIC:7000 (deleted)"
	assert_equal "$(rules)" ""
	unreachable "$PUBLIC" || fail "A still reaches B after the mapping was deleted: $PROBED"
}

@test "B maps a port by PCP where R speaks it" {
	start_natpmpd --pcp
	echo_in B "$NETLAB_B_ADDR:7000"
	start_portmapcheck --lifetime 10m
	assert_equal "$PUBLIC $PROTOCOL" "$NETLAB_R_PUBLIC:7000 PCP"
	assert_contains "$(cat "$GATEWAY_OUT")" "natpmpd: map $NETLAB_R_PUBLIC:7000 to $NETLAB_B_ADDR:7000 for 600s by PCP"
	reaches "$PUBLIC" || fail "A can't reach B through the mapping: $PROBED"

	stop_portmapcheck
	assert_contains "$(cat "$GATEWAY_OUT")" "natpmpd: unmap $NETLAB_R_PUBLIC:7000 (deleted)"
	unreachable "$PUBLIC" || fail "A still reaches B after the mapping was deleted: $PROBED"
}

@test "B maps a port by UPnP IGD where R offers only that: A reaches B until B deletes the mapping" {
	start_upnpd
	echo_in B "$NETLAB_B_ADDR:7000"
	unreachable "$NETLAB_R_PUBLIC:7000" || fail "A reached B through the NAT before any mapping: $PROBED"

	start_portmapcheck --lifetime 2s
	# PCP met a closed port; the SSDP search found upnpd, on R's address.
	assert_equal "$PUBLIC $PROTOCOL" "$NETLAB_R_PUBLIC:7000 UPnP IGD"
	assert_contains "$(cat "$GATEWAY_OUT")" "upnpd: map $NETLAB_R_PUBLIC:7000 to $NETLAB_B_ADDR:7000 for 2s by UPnP IGD"
	assert_equal "$(rules | wc -l)" 2
	# A lease of 2 s, renewed every second: after 3 s, still there.
	sleep 3
	local renewed
	renewed=$(grep -cF "upnpd: renew $NETLAB_R_PUBLIC:7000 for 2s" "$GATEWAY_OUT" || true)
	echo "# renewals in 3 s: $renewed" >&3
	[ "$renewed" -ge 2 ] || fail "$renewed renewals in 3 s of a lease of 2 s: $(cat "$GATEWAY_OUT")"

	probe A "$PUBLIC" --count 500 --rate 1000
	assert_equal "$(received)" 500
	assert_matches "$(jq -r '.seen_as[]' <<<"$PROBED")" "^$NETLAB_A_ADDR:[0-9]+\$"

	stop_portmapcheck
	assert_contains "$(cat "$GATEWAY_OUT")" "upnpd: unmap $NETLAB_R_PUBLIC:7000 (deleted)"
	assert_equal "$(rules)" ""
	unreachable "$PUBLIC" || fail "A still reaches B after the mapping was deleted: $PROBED"
}

@test "a UPnP IGD that takes only permanent leases gets one, which B deletes when it stops" {
	start_upnpd --permanent-only
	echo_in B "$NETLAB_B_ADDR:7000"
	start_portmapcheck
	assert_equal "$PUBLIC $PROTOCOL" "$NETLAB_R_PUBLIC:7000 UPnP IGD"
	assert_contains "$(cat "$GATEWAY_OUT")" "upnpd: map $NETLAB_R_PUBLIC:7000 to $NETLAB_B_ADDR:7000 for 0s by UPnP IGD"
	reaches "$PUBLIC" || fail "A can't reach B through the permanent mapping: $PROBED"
	stop_portmapcheck
	assert_contains "$(cat "$GATEWAY_OUT")" "upnpd: unmap $NETLAB_R_PUBLIC:7000 (deleted)"
	assert_equal "$(rules)" ""
}

@test "a mapping renewed outlives its lifetime; one left behind by a killed host expires" {
	start_natpmpd --max-lifetime 2s
	echo_in B "$NETLAB_B_ADDR:7000"
	start_portmapcheck
	# Granted 2 s, renewed every second: after 4 s, still there.
	sleep 4
	local renewed
	renewed=$(grep -cF "natpmpd: renew $NETLAB_R_PUBLIC:7000 for 2s" "$GATEWAY_OUT" || true)
	echo "# renewals in 4 s: $renewed" >&3
	[ "$renewed" -ge 3 ] || fail "$renewed renewals in 4 s of a mapping granted 2 s: $(cat "$GATEWAY_OUT")"
	reaches "$PUBLIC" || fail "A can't reach B through the renewed mapping: $PROBED"

	kill -KILL "$CHECK_PID"
	eventually 5 has_lines 1 "natpmpd: unmap $NETLAB_R_PUBLIC:7000 (expired)" "$GATEWAY_OUT"
	assert_equal "$(rules)" ""
	unreachable "$PUBLIC" || fail "A still reaches B after the mapping expired: $PROBED"
}

@test "a gateway that restarts forgets the mapping, and B makes it again within seconds" {
	start_natpmpd --max-lifetime 4s
	echo_in B "$NETLAB_B_ADDR:7000"
	start_portmapcheck
	# Renewals every 2 s for 5 s: an epoch the restart visibly takes back.
	sleep 5
	kill -HUP "$GATEWAY_PID"
	eventually 5 has_lines 1 "natpmpd: unmap $NETLAB_R_PUBLIC:7000 (restart)" "$GATEWAY_OUT"
	eventually 5 has_lines 2 "natpmpd: map $NETLAB_R_PUBLIC:7000 " "$GATEWAY_OUT"
	reaches "$PUBLIC" || fail "A can't reach B through the mapping made again: $PROBED"
	assert_contains "$(cat "$CHECK_OUT.log")" "the gateway lost its mappings"
}

@test "smvs-hostd behind the NAT maps its port, says others reach it, publishes the router's address, and is written to first; it deletes the mapping when it stops" {
	smvs_setup
	start_natpmpd
	netlab_dird dird
	use_dird
	ALICE=$(user alice) BOB=$(user bob)
	# The lab's public side has a private address: any-address publishes it.
	run -0 --separate-stderr netlab_exec B env SMVS_HOME="$(user_home bob)" smvs-hostd --check-reach --listen "$NETLAB_B_ADDR:0" \
		--name bob --port-mapping any-address
	assert_matches "$output" "smvs-hostd: others can reach this host at $NETLAB_R_PUBLIC:[0-9]+\$"
	assert_contains "$stderr" "the router forwards a port to this host"
	eventually 10 grep -q "natpmpd: unmap .* (deleted)" "$GATEWAY_OUT"

	netlab_host B bob --port-mapping any-address
	BOB_PID=$HOST_PID
	netlab_host A alice
	run -0 --separate-stderr netlab_exec A env SMVS_HOME="$(user_home alice)" smvs-register lookup bob
	assert_matches "$output" "host: +$NETLAB_R_PUBLIC:[0-9]+"
	# bob's host never wrote to alice's: she reaches it through the mapping.
	run -0 as_user alice smvs-send bob <<<"through the router's forward"
	eventually 20 was_delivered alice "through the router's forward"
	kill -TERM "$BOB_PID"
	wait "$BOB_PID" 2>/dev/null || true
	eventually 10 bash -c "[ \$(grep -c 'natpmpd: unmap .* (deleted)' '$GATEWAY_OUT') -ge 2 ]"
}
