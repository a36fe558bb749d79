# Real networks (issue 14): alice's host in namespace A, bob's in B, the
# directory in A, and between them netlab's path (netlab.bash), which
# delays, loses, reorders and duplicates packets, or cuts them off. Each
# test prints what it measured on fd 3.

setup_file() {
	load netlab
	[ "$(id -u)" = 0 ] || {
		echo "network.bats makes network namespaces: run it as root (make test does, on CI)" >&3
		return 1
	}
	netlab_build
}

setup() {
	load helpers
	load netlab
	smvs_setup
}

teardown() {
	netlab_down
	stop_daemons
}

# texts USER prints the text of every message USER's host holds from a
# peer, in the order it holds them.
texts() {
	as_user "$1" smvs-recv --json | jq -r 'select(.event == "message" and .direction == "in") | .text'
}

count_in() {
	[ "$(texts "$1" | wc -l)" -ge "$2" ]
}

# same_lines WANT GOT fails unless the two files hold the same lines in the
# same order, saying what is missing, doubled, or out of order.
same_lines() {
	cmp -s "$1" "$2" && return 0
	local dups missing
	dups=$(sort "$2" | uniq -d | head -5)
	missing=$(comm -23 <(sort "$1") <(sort "$2") | head -5)
	[ -z "$dups" ] || fail "delivered twice: $dups"
	[ -z "$missing" ] || fail "never delivered: $missing"
	fail "out of order: $(diff "$1" "$2" | head -10)"
}

@test "500 messages over a path with 50 ± 10 ms delay, 5% loss, 5% reordering and 1% duplication arrive once each, in the order sent" {
	netlab_world --delay 50ms --jitter 10ms --loss 5 --reorder 5 --duplicate 1
	seq 500 | sed 's/^/burst /' >"$BATS_TEST_TMPDIR/lines"
	start=$SECONDS
	run -0 as_user alice smvs-send -l bob <"$BATS_TEST_TMPDIR/lines"
	eventually 120 count_in bob 500
	echo "# 500 messages stored in order at bob $((SECONDS - start)) s after the first was sent; the path: $(netlab_stats | jq -c '.ab | {in, lost, reordered, duplicated}')" >&3
	texts bob >"$BATS_TEST_TMPDIR/got"
	same_lines "$BATS_TEST_TMPDIR/lines" "$BATS_TEST_TMPDIR/got"
}

@test "bob's host killed with deliveries in flight and restarted at once: they arrive within 5 s, once each and in order" {
	netlab_world --delay 50ms --jitter 10ms
	run -0 as_user alice smvs-send bob <<<"warm up"
	eventually 20 count_in bob 1
	seq 300 | sed 's/^/crash /' >"$BATS_TEST_TMPDIR/lines"
	as_user alice smvs-send -l bob <"$BATS_TEST_TMPDIR/lines" 3>&- &
	sender=$!
	eventually 30 count_in bob 20
	kill -KILL "$BOB_PID"
	wait "$BOB_PID" 2>/dev/null || true
	netlab_host B bob --listen "$BOB_ADDR"
	restarted=$(date +%s%N)
	wait "$sender"
	eventually 30 count_in bob 301
	took=$((($(date +%s%N) - restarted) / 1000000))
	echo "# all 300 at bob ${took} ms after his host restarted" >&3
	[ "$took" -le 5000 ] || fail "the messages took $took ms after the restart, want at most 5 s"
	texts bob | tail -n +2 >"$BATS_TEST_TMPDIR/got"
	same_lines "$BATS_TEST_TMPDIR/lines" "$BATS_TEST_TMPDIR/got"
}

@test "a 20 s partition during a 2,000-message stream: all arrive once each and in order, and the backlog moves within 2 s of the heal" {
	netlab_world --delay 20ms --jitter 5ms --loss 1
	seq 2000 | sed 's/^/stream /' >"$BATS_TEST_TMPDIR/lines"
	as_user alice smvs-send -l bob <"$BATS_TEST_TMPDIR/lines" 3>&- &
	sender=$!
	eventually 60 count_in bob 200
	netlab_partition on
	sleep 20
	before=$(texts bob | wc -l)
	netlab_partition off
	healed=$(date +%s%N)
	moved() { [ "$(texts bob | wc -l)" -gt "$before" ]; }
	eventually 30 moved
	took=$((($(date +%s%N) - healed) / 1000000))
	wait "$sender"
	eventually 120 count_in bob 2000
	echo "# $before stored before the heal; the next one ${took} ms after it; all 2,000 $(((($(date +%s%N) - healed) / 1000000))) ms after it" >&3
	[ "$took" -le 2000 ] || fail "the backlog moved $took ms after the heal, want within 2 s"
	texts bob >"$BATS_TEST_TMPDIR/got"
	same_lines "$BATS_TEST_TMPDIR/lines" "$BATS_TEST_TMPDIR/got"
}

@test "bob's host behind a NAT, no port forwarded: alice reaches him over the connection his host made, his receipts reach her, and what waited for him goes when he connects" {
	netlab_up --delay 10ms
	netlab_nat on
	netlab_dird dird
	use_dird
	ALICE=$(user alice) BOB=$(user bob)
	# Each host asks the directory whether others reach it: alice's does,
	# bob's record gives a private address and nothing answers at the NAT.
	run -0 --separate-stderr netlab_exec A env SMVS_HOME="$(user_home alice)" smvs-hostd --check-reach --listen "$NETLAB_A_ADDR:0" --name alice
	assert_matches "$output" "smvs-hostd: others can reach this host at $NETLAB_A_ADDR:[0-9]+\$"
	run -8 --separate-stderr netlab_exec B env SMVS_HOME="$(user_home bob)" smvs-hostd --check-reach --listen "$NETLAB_B_ADDR:0" --name bob
	assert_matches "$output" "smvs-hostd: others can't reach this host: a handshake at $NETLAB_R_PUBLIC:[0-9]+ found no answer within 5s; its record gives $NETLAB_B_ADDR:[0-9]+, a private address"
	assert_contains "$(cat "$(user_home bob)/hostd.out.log" 2>/dev/null; echo "$stderr")" "others may not reach this host: the record gives a private address"
	netlab_host A alice
	netlab_host B bob
	BOB_PID=$HOST_PID BOB_ADDR=$HOST_ADDR
	# His record gives his private address, which alice can't dial.
	[[ $BOB_ADDR == "$NETLAB_B_ADDR":* ]] || fail "bob listens on $BOB_ADDR"

	run -0 as_user bob smvs-send alice <<<"hello from behind the NAT"
	eventually 20 was_delivered bob "hello from behind the NAT"
	run -0 as_user alice smvs-send bob <<<"hello back"
	eventually 20 was_delivered alice "hello back"
	run -0 --separate-stderr as_user bob smvs-recv --from alice
	assert_contains "$output" "hello back"

	# bob's host restarts: it has no connection to alice's, and what she
	# sends waits; it goes as soon as his host connects to hers again.
	kill -TERM "$BOB_PID"
	wait "$BOB_PID" 2>/dev/null || true
	netlab_host B bob --listen "$BOB_ADDR"
	run -0 as_user alice smvs-send bob <<<"while you were unreachable"
	sleep 3
	[ "$(out_status alice "while you were unreachable")" = sent ] || [ "$(out_status alice "while you were unreachable")" = queued ] ||
		fail "status $(out_status alice "while you were unreachable"): a host behind a NAT was reached without connecting"
	run -0 as_user bob smvs-send alice <<<"I am back"
	eventually 20 was_delivered alice "while you were unreachable"
	eventually 20 was_delivered bob "I am back"
}

@test "bob's host behind a symmetric NAT that maps no port, reached through carol's host as his relay: alice's first message reaches him, carol holds nothing of it, --check-reach says so" {
	netlab_up --delay 10ms
	netlab_nat on symmetric
	netlab_dird dird
	use_dird
	ALICE=$(user alice) BOB=$(user bob) CAROL=$(user carol)
	netlab_host A carol --relay-for "$BOB"
	CAROL_ADDR=$HOST_ADDR
	netlab_host A alice
	run -0 --separate-stderr netlab_exec B env SMVS_HOME="$(user_home bob)" smvs-hostd --check-reach --listen "$NETLAB_B_ADDR:0" --name bob --relay "$CAROL@$CAROL_ADDR"
	assert_equal "${lines[-1]}" "smvs-hostd: others can reach this host through its relay $CAROL@$CAROL_ADDR: a request sent through it came back"
	netlab_host B bob --relay "$CAROL@$CAROL_ADDR"

	# bob's record names carol's host and its key; his own address is in
	# no record, and his host has not connected to alice's.
	run -0 --separate-stderr as_user alice netlab_exec A smvs-register lookup --json bob
	assert_equal "$(jq -r '.host + " " + .relay' <<<"$output")" "$CAROL_ADDR $CAROL"
	run -0 as_user alice smvs-send bob <<<"through carol"
	eventually 20 was_delivered alice "through carol"
	run -0 --separate-stderr as_user bob smvs-recv
	assert_contains "$output" "through carol"
	run -0 --separate-stderr as_user carol smvs-recv
	assert_equal "$output" ""
	run -0 as_user bob smvs-send alice <<<"and back"
	eventually 20 was_delivered bob "and back"
}
