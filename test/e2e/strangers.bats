# Strangers: senders not in the recipient's contacts share a storage quota
# (and a rate) on the recipient's host, with smvs-hostd, smvs-send, smvs-recv,
# smvs-rm and smvs-register as separate processes on 127.0.0.1.

setup() {
	load helpers
	smvs_setup
	start_dird dir && use_dird
}

teardown() {
	stop_daemons
}

# send_note USER FILE sends FILE to bob as USER and waits for its receipt.
send_note() {
	as_user "$1" smvs-send --wait --timeout 20s --file "$2" bob
}

@test "a stranger past --stranger-key-quota is refused with why; a contact gets through; deleting or adding the stranger lifts it" {
	ALICE=$(user alice) BOB=$(user bob) CAROL=$(user carol)
	# A message of 4 KiB counts about 5 KiB (its body once, in its signed
	# bytes, and its row): 20 KiB takes 4 of them.
	start_host bob --stranger-key-quota 20KiB --stranger-quota 1MiB
	start_host alice
	start_host carol
	run -0 as_user bob smvs-register add carol "$CAROL"
	head -c 4096 /dev/zero | tr '\0' a >"$BATS_TEST_TMPDIR/note.txt"

	# alice, a stranger to bob, sends until bob's host refuses.
	local sent=0 refused=
	while [ "$sent" -lt 8 ]; do
		run --separate-stderr send_note alice "$BATS_TEST_TMPDIR/note.txt"
		if [ "$status" -ne 0 ]; then
			refused=yes
			break
		fi
		sent=$((sent + 1))
	done
	[ -n "$refused" ] || fail "8 messages of 4 KiB from a stranger, none refused"
	[ "$sent" -eq 4 ] || fail "refused after $sent messages, not at the fifth"
	assert_equal "$status" 1
	assert_contains "$stderr" "smvs-send: error: bob's host refused message"
	assert_contains "$stderr" "their quota is full"
	refute_contains "$stderr" "is up"
	# Her host's log says why, in bob's host's words, and smvs-recv shows it refused.
	grep -q "message refused by the peer's host: its quota is full" "$(user_home alice)/hostd.out.log"
	grep -q "too much stored from this sender, who is not a contact" "$(user_home alice)/hostd.out.log"
	run -0 as_user alice smvs-recv --from bob
	assert_contains "$output" "> bob (refused)"
	grep -q "delivery refused: over the quota for strangers" "$(user_home bob)/hostd.out.log"

	# carol, bob's contact, is not counted: 12 messages, more than the quota.
	for _ in $(seq 12); do
		run -0 send_note carol "$BATS_TEST_TMPDIR/note.txt"
	done

	# bob deletes alice's messages: her quota is free again.
	run -0 as_user bob smvs-rm --conversation "$ALICE" --yes
	run -0 send_note alice "$BATS_TEST_TMPDIR/note.txt"

	# bob adds alice: she is no stranger, and her quota is gone.
	run -0 as_user bob smvs-register add alice "$ALICE"
	for _ in $(seq 6); do
		run -0 send_note alice "$BATS_TEST_TMPDIR/note.txt"
	done
}

@test "--stranger-key-quota off and --stranger-quota 0 take a stranger's messages past the defaults' room; a bad size is a usage error" {
	ALICE=$(user alice) BOB=$(user bob)
	run -2 --separate-stderr as_user bob smvs-hostd --listen 127.0.0.1:0 --stranger-quota lots
	assert_contains "$stderr" 'invalid --stranger-quota "lots"'
	start_host bob --stranger-key-quota off --stranger-quota 0
	start_host alice
	# 20 MiB counts about 20 MiB, over the default 16 MiB a stranger may have.
	head -c 20971520 /dev/urandom >"$BATS_TEST_TMPDIR/big.bin"
	run -0 as_user alice smvs-send --wait --timeout 60s --file "$BATS_TEST_TMPDIR/big.bin" bob
}
