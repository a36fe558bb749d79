# Linked devices: one user, several SMVS homes (the host's own machine on
# its socket, remote devices over QUIC with device keys), one history.

setup() {
	load helpers
	smvs_setup
	start_dird dir && use_dird
	ALICE=$(user alice) BOB=$(user bob)
	start_host alice
	ALICE_ADDR=$HOST_ADDR ALICE_PID=$HOST_PID
	start_host bob
	BOB_ADDR=$HOST_ADDR
	# alice and bob know each other: each pinned the other's record, so
	# their devices name them.
	run -0 as_user alice smvs-register lookup bob
	run -0 as_user bob smvs-register lookup alice
}

teardown() {
	stop_daemons
}

# lines_in FILE N succeeds once FILE has at least N lines.
lines_in() {
	[ "$(wc -l <"$1")" -ge "$2" ]
}

@test "a message from alice's desk shows on her laptop as sent by her, and bob's reply on both" {
	link_device alice laptop
	[ "$(file_mode "$(user_home laptop)/link")" = 600 ]
	as_user laptop smvs-recv --follow >"$BATS_TEST_TMPDIR/laptop" 2>"$BATS_TEST_TMPDIR/laptop.err" 3>&- &
	DAEMONS+=($!)
	run -0 as_user alice smvs-send bob <<<"from the desk"
	eventually 10 grep -q ' > bob ([a-z]*): from the desk$' "$BATS_TEST_TMPDIR/laptop"
	run -0 as_user bob smvs-send alice <<<"hello both"
	eventually 10 grep -q ' < bob: hello both$' "$BATS_TEST_TMPDIR/laptop"
	run -0 as_user alice smvs-recv
	assert_contains "$output" "< bob: hello both"
	# The laptop sends as alice, and the desk sees it too.
	run -0 as_user laptop smvs-send --wait bob <<<"from the laptop"
	eventually 10 bash -c "SMVS_HOME='$(user_home bob)' smvs-recv | grep -Eq '< (alice|smvs1[a-z0-9]+): from the laptop$'"
	run -0 as_user alice smvs-recv
	assert_contains "$output" "> bob (delivered): from the laptop"
	run -0 as_user alice smvs-device list
	assert_contains "$output" "laptop"
	assert_contains "$output" "linked, 1 connection(s)"
}

@test "reading on the laptop marks the message read on the desk" {
	link_device alice laptop
	run -0 as_user bob smvs-send --wait alice <<<"read me"
	run -0 as_user alice smvs-recv --unread
	assert_contains "$output" "< bob: read me"
	run -0 as_user laptop smvs-recv --unread --mark-read
	assert_contains "$output" "< bob: read me"
	run -0 as_user alice smvs-recv --unread
	assert_equal "$output" ""
	run -0 as_user alice smvs-recv --json
	assert_contains "$output" '"read":true'
}

@test "the laptop offline while 100 messages pass catches up from its cursor, each once" {
	link_device alice laptop
	run -0 as_user bob smvs-send --wait alice <<<"before"
	run -0 as_user laptop smvs-recv --cursor "$BATS_TEST_TMPDIR/cursor"
	assert_contains "$output" "< bob: before"
	seq 100 | sed 's/^/while away /' >"$BATS_TEST_TMPDIR/lines"
	run -0 as_user bob smvs-send -l --wait alice <"$BATS_TEST_TMPDIR/lines"
	as_user laptop smvs-recv --follow --cursor "$BATS_TEST_TMPDIR/cursor" >"$BATS_TEST_TMPDIR/back" 2>/dev/null 3>&- &
	DAEMONS+=($!)
	eventually 20 lines_in "$BATS_TEST_TMPDIR/back" 100
	sleep 0.5 # nothing more may come
	sed 's/.* < bob: //' "$BATS_TEST_TMPDIR/back" >"$BATS_TEST_TMPDIR/got"
	cmp "$BATS_TEST_TMPDIR/lines" "$BATS_TEST_TMPDIR/got"
}

@test "a device linked after 1,000 messages gets all of them" {
	seq 1000 | sed 's/^/old /' >"$BATS_TEST_TMPDIR/lines"
	run -0 as_user bob smvs-send -l --wait alice <"$BATS_TEST_TMPDIR/lines"
	link_device alice laptop
	as_user laptop smvs-recv --json | grep -c '"direction":"in"' | grep -qx 1000
	as_user laptop smvs-recv | sed 's/.* < bob: //' >"$BATS_TEST_TMPDIR/got"
	cmp "$BATS_TEST_TMPDIR/lines" "$BATS_TEST_TMPDIR/got"
}

@test "a revoked device is refused at once, its open --follow too" {
	link_device alice laptop
	as_user laptop smvs-recv --follow >"$BATS_TEST_TMPDIR/laptop" 2>"$BATS_TEST_TMPDIR/laptop.err" 3>&- &
	follower=$!
	eventually 10 bash -c "SMVS_HOME='$(user_home alice)' smvs-device list | grep -q 'linked, 1 connection'"
	run -0 as_user alice smvs-device revoke laptop
	assert_contains "$output" "revoked laptop smvsdev1"
	status=0
	wait "$follower" || status=$?
	assert_equal "$status" 8
	# Cut off mid --follow, it says what a later command says, in one voice.
	run cat "$BATS_TEST_TMPDIR/laptop.err"
	assert_contains "$output" "smvs-recv: error: this device was revoked by its owner"
	assert_contains "$output" "smvs-recv: hint: ask the owner to link it again: smvs-device pair, then smvs-device link here"
	refute_contains "$output" "the peer revoked"
	run -8 --separate-stderr as_user laptop smvs-recv
	assert_contains "$stderr" "was revoked by its owner"
	run -8 --separate-stderr as_user laptop smvs-send bob <<<"still here?"
	assert_contains "$stderr" "was revoked by its owner"
	run -0 as_user alice smvs-device list
	assert_contains "$output" "revoked"
}

@test "an unknown device key is refused; a pairing code works once and expires" {
	link_device alice laptop
	# Another device copies the laptop's link file, but not its key.
	new_device stranger
	cp "$(user_home laptop)/link" "$(user_home stranger)/link"
	run -8 --separate-stderr as_user stranger smvs-recv
	assert_contains "$stderr" "is not linked to the host"
	# The laptop's code is spent.
	run -8 --separate-stderr as_user stranger smvs-device link "$PAIR_ADDR" "$PAIR_ID" "$CODE"
	assert_contains "$stderr" "wrong, spent or expired"
	pair alice --expires 1s
	sleep 1.5
	run -8 --separate-stderr as_user stranger smvs-device link "$PAIR_ADDR" "$PAIR_ID" "$CODE"
	assert_contains "$stderr" "wrong, spent or expired"
	# The code from standard input, before it expires.
	pair alice
	run -0 bash -c "printf '%s\n' '$CODE' | SMVS_HOME='$(user_home stranger)' smvs-device link '$PAIR_ADDR' '$PAIR_ID' -"
	run -0 as_user stranger smvs-recv
}

@test "bob's device can't read or act on alice's host" {
	run -0 as_user alice smvs-send --wait bob <<<"alice's secret"
	new_device bobphone
	run -0 as_user bob smvs-device add --name phone "$(sed -n 's/^# device id: //p' "$(user_home bobphone)/device")"
	run -0 as_user bobphone smvs-device link "$BOB_ADDR" "$BOB"
	run -0 as_user bobphone smvs-recv
	assert_contains "$output" "< alice: alice's secret"
	# Pointed at alice's host, with alice's key, bob's device is a stranger.
	printf 'address %s\nidentity %s\n' "$ALICE_ADDR" "$ALICE" >"$(user_home bobphone)/link"
	run -8 --separate-stderr as_user bobphone smvs-recv
	assert_contains "$stderr" "is not linked"
	refute_contains "$output" "secret"
	run -8 --separate-stderr as_user bobphone smvs-send bob <<<"as alice?"
	run -8 as_user bobphone smvs-device link "$ALICE_ADDR" "$ALICE"
	# At alice's address but expecting bob's key, the handshake fails.
	run -1 --separate-stderr as_user bobphone smvs-device link "$ALICE_ADDR" "$BOB"
	assert_contains "$stderr" "is not the one this device was linked to"
	# The owner's commands only work on the host's own socket.
	printf 'address %s\nidentity %s\n' "$BOB_ADDR" "$BOB" >"$(user_home bobphone)/link"
	run -5 --separate-stderr as_user bobphone smvs-device list
	assert_contains "$stderr" "this SMVS home is a linked device"
	run -0 as_user alice smvs-recv
	refute_contains "$output" "as alice?"
}

@test "the laptop's --follow rides out a restart of the host and shows what came meanwhile" {
	link_device alice laptop
	as_user laptop smvs-recv --follow >"$BATS_TEST_TMPDIR/laptop" 2>"$BATS_TEST_TMPDIR/laptop.err" 3>&- &
	DAEMONS+=($!)
	run -0 as_user bob smvs-send --wait alice <<<"before the restart"
	eventually 10 grep -q ' < bob: before the restart$' "$BATS_TEST_TMPDIR/laptop"
	kill -TERM "$ALICE_PID" && wait "$ALICE_PID" || true
	eventually 10 grep -q 'lost the connection to the host' "$BATS_TEST_TMPDIR/laptop.err"
	run -0 as_user bob smvs-send alice <<<"while it was down"
	start_host alice --listen "$ALICE_ADDR"
	eventually 30 grep -q ' < bob: while it was down$' "$BATS_TEST_TMPDIR/laptop"
	assert_contains "$(cat "$BATS_TEST_TMPDIR/laptop.err")" "reconnected to the host"
	[ "$(grep -c 'before the restart' "$BATS_TEST_TMPDIR/laptop")" = 1 ]
}
