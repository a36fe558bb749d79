# No directory at all: hosts find each other through the mainline DHT
# (BEP 44), here a private DHT of 8 nodes on 127.0.0.1 that the test starts
# (tools/dhtnodes): never the public one. smvs-hostd, smvs-register,
# smvs-send and smvs-recv run as separate processes.

setup_file() {
	go build -o "$BATS_FILE_TMPDIR/dhtnodes" "$BATS_TEST_DIRNAME/tools/dhtnodes"
}

setup() {
	load helpers
	smvs_setup
}

teardown() {
	stop_daemons
}

# start_dht starts a private DHT of 8 nodes and sets BOOT, the flags that
# join it.
start_dht() {
	local out=$BATS_TEST_TMPDIR/dht.out
	"$BATS_FILE_TMPDIR/dhtnodes" -n 8 >"$out" 2>"$out.log" &
	DAEMONS+=($!)
	wait_for_line "$out" "${DAEMONS[-1]}" dhtnodes
	BOOT=()
	local addr
	for addr in $(cat "$out"); do
		BOOT+=(--dht-bootstrap "$addr")
	done
	[ ${#BOOT[@]} -eq 16 ] || fail "dhtnodes printed: $(cat "$out")"
}

# published USER succeeds once USER's host has put its pointer in the DHT.
published() {
	grep -q 'msg="published the record.s pointer in the DHT"' "$(user_home "$1")/hostd.out.log"
}

@test "no directory at all: alice and bob find each other's hosts by key through the DHT, and bob's next host after he moves" {
	start_dht
	ALICE=$(user alice) BOB=$(user bob)
	start_host alice --dht only --dht-listen 127.0.0.1:0 "${BOOT[@]}"
	start_host bob --dht only --dht-listen 127.0.0.1:0 "${BOOT[@]}"
	BOB_PID=$HOST_PID BOB_ADDR=$HOST_ADDR
	eventually 30 published alice
	eventually 30 published bob

	# Contacts by key, named by each: there is no directory to ask.
	run -0 as_user alice smvs-register add bob "$BOB"
	run -0 as_user bob smvs-register add alice "$ALICE"
	run -0 as_user alice smvs-send --wait --timeout 30s bob <<<"hello through the DHT"
	run -0 as_user bob smvs-recv
	assert_contains "$output" "alice: hello through the DHT"
	run -0 as_user bob smvs-send --wait --timeout 30s alice <<<"and back"
	run -0 as_user alice smvs-recv --from bob
	assert_contains "$output" "bob: and back"

	# bob's host moves to another port and publishes again; alice's next
	# message follows it there.
	kill -TERM "$BOB_PID"
	wait "$BOB_PID" || true
	: >"$(user_home bob)/hostd.out.log"
	start_host bob --dht only --dht-listen 127.0.0.1:0 "${BOOT[@]}"
	[ "$HOST_ADDR" != "$BOB_ADDR" ] || fail "bob's host did not move"
	eventually 30 published bob
	run -0 as_user alice smvs-send --wait --timeout 60s bob <<<"where are you now?"
	run -0 as_user bob smvs-recv
	assert_contains "$output" "alice: where are you now?"
}

@test "--dht: a bad mode or address is a usage error" {
	user alice >/dev/null
	run -2 as_user alice smvs-hostd --dht sometimes
	assert_contains "$output" '--dht: unknown mode "sometimes"'
	run -2 as_user alice smvs-hostd --dht on --dht-bootstrap nowhere
	assert_contains "$output" 'invalid --dht-bootstrap address "nowhere"'
}
