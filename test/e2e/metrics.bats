# Metrics: smvs-hostd --metrics and smvs-dird --metrics, scraped with curl
# as Prometheus would and checked by the Prometheus client library's parser
# (tools/promcheck), with the directory and two hosts as separate processes
# on 127.0.0.1.

setup_file() {
	go build -o "$BATS_FILE_TMPDIR/promcheck" "$BATS_TEST_DIRNAME/tools/promcheck"
}

setup() {
	load helpers
	smvs_setup
	PATH="$BATS_FILE_TMPDIR:$PATH"
}

teardown() {
	stop_daemons
}

# metrics_addr LOG prints the address a daemon logged it serves metrics on.
metrics_addr() {
	local addr
	addr=$(sed -n 's/.*msg="serving metrics" addr=\([0-9.:]*\).*/\1/p' "$1")
	[ -n "$addr" ] || fail "no metrics address in $1: $(cat "$1")"
	printf '%s\n' "$addr"
}

# metric ADDR SERIES... scrapes ADDR and prints the value of each SERIES;
# it fails the test if the scrape is not a valid exposition.
metric() {
	local addr=$1 body
	shift
	body=$(curl -sSf "http://$addr/metrics") || fail "curl http://$addr/metrics failed"
	promcheck "$@" <<<"$body" || fail "promcheck $*: the scrape of $addr"
}

# at_least MIN ADDR SERIES succeeds once SERIES on ADDR is MIN or more.
at_least() {
	local v
	v=$(metric "$2" "$3" 2>/dev/null) || return 1
	awk -v v="$v" -v min="$1" 'BEGIN { exit !(v >= min) }'
}

@test "smvs-hostd and smvs-dird --metrics: a scrape is valid Prometheus text, its counters move as messages flow, and no label names anyone" {
	start_dird dir --metrics 127.0.0.1:0
	use_dird
	local dird
	dird=$(metrics_addr "$BATS_TEST_TMPDIR/dir.out.log")
	alice_and_bob --metrics 127.0.0.1:0
	local alice bob
	alice=$(metrics_addr "$(user_home alice)/hostd.out.log")
	bob=$(metrics_addr "$(user_home bob)/hostd.out.log")
	# Loopback, as nobody asked for more.
	[[ $alice == 127.0.0.1:* && $bob == 127.0.0.1:* && $dird == 127.0.0.1:* ]] || fail "addresses: $alice $bob $dird"

	run -0 metric "$alice" smvs_host_messages_submitted_total smvs_host_outbox_messages smvs_host_devices_connected
	assert_equal "$output" $'0\n0\n0'

	# Three messages from alice, one answer from bob, each waited for.
	local i
	for i in 1 2 3; do
		run -0 as_user alice smvs-send --wait --timeout 20s bob <<<"hello $i"
	done
	run -0 as_user bob smvs-send --wait --timeout 20s alice <<<"hi"
	run -0 metric "$alice" smvs_host_messages_submitted_total 'smvs_host_messages_sent_total{status="sent"}'
	[ "${lines[0]}" = 3 ] || fail "alice's host: submitted ${lines[0]}, want 3"
	# The three, and the receipt of bob's answer once its delay is over.
	eventually 10 at_least 4 "$alice" 'smvs_host_messages_sent_total{status="sent"}'
	# bob's host stored alice's three messages (and her receipt).
	eventually 10 at_least 4 "$bob" 'smvs_host_deliveries_received_total{status="stored"}'
	run -0 metric "$bob" smvs_host_messages_submitted_total 'smvs_host_deliveries_received_total{status="stored"}' smvs_host_store_bytes
	[ "${lines[0]}" = 1 ] || fail "bob's host: submitted ${lines[0]}, want 1"
	awk -v n="${lines[2]}" 'BEGIN { exit !(n > 0) }' || fail "bob's store_bytes ${lines[2]}"

	# The directory: each host published, and alice looked bob up by name.
	run -0 metric "$dird" 'smvs_dir_requests_total{op="publish",code="200"}' 'smvs_dir_requests_total{op="lookup_name",code="200"}'
	[ "${lines[0]}" -ge 2 ] && [ "${lines[1]}" -ge 1 ] || fail "dird: publishes ${lines[0]}, look-ups ${lines[1]}"
	# A look-up of nobody, and a publish that is not JSON. (Each host looked
	# its own name up once before it published.)
	local before
	before=$(metric "$dird" 'smvs_dir_requests_total{op="lookup_name",code="404"}')
	curl -sSk -o /dev/null "$DIR_URL/v1/records/name/nobody" || true
	curl -sSk -o /dev/null -X POST --data 'x' "$DIR_URL/v1/records" || true
	run -0 metric "$dird" 'smvs_dir_requests_total{op="lookup_name",code="404"}' 'smvs_dir_refusals_total{reason="bad_request"}'
	assert_equal "$output" "$((before + 1))"$'\n1'

	# bob blocks alice: her next message is refused, and counted so.
	echo "$ALICE" >"$(user_home bob)/blocked"
	run -0 as_user alice smvs-send bob <<<"let me in"
	eventually 10 at_least 1 "$alice" 'smvs_host_delivery_failures_total{reason="refused"}'
	run -0 metric "$alice" 'smvs_host_messages_sent_total{status="refused"}'
	assert_equal "$output" 1
	rm "$(user_home bob)/blocked"

	# bob's host down: alice's next message waits in her outbox.
	kill -TERM "$BOB_PID"
	wait "$BOB_PID" || true
	run -0 as_user alice smvs-send bob <<<"while you were out"
	run -0 metric "$alice" smvs_host_outbox_messages
	assert_equal "$output" 1
	sleep 1
	run -0 metric "$alice" smvs_host_outbox_oldest_age_seconds
	awk -v a="$output" 'BEGIN { exit !(a >= 1 && a < 60) }' || fail "oldest age $output s, want about 1"

	# No label, of any host's or the directory's series, holds a key, a
	# name or an address.
	local scrape
	for addr in "$alice" "$dird"; do
		scrape=$(curl -sSf "http://$addr/metrics")
		refute_contains "$scrape" smvs1
		refute_contains "$scrape" alice
		refute_contains "$scrape" bob
		refute_contains "$scrape" 127.0.0.1
	done
}

@test "--metrics: a malformed address is a usage error, a taken one stops the daemon before it serves" {
	user alice >/dev/null
	run -2 as_user alice smvs-hostd --metrics 127.0.0.1 --listen 127.0.0.1:0
	assert_contains "$output" 'invalid --metrics "127.0.0.1"'
	run -2 smvs-dird --metrics nope --listen 127.0.0.1:0 --data "$BATS_TEST_TMPDIR/d"
	assert_contains "$output" 'invalid --metrics "nope"'

	# A port something else holds.
	start_dird dir --metrics 127.0.0.1:0
	use_dird
	local taken
	taken=$(metrics_addr "$BATS_TEST_TMPDIR/dir.out.log")
	run -1 as_user alice smvs-hostd --metrics "$taken" --listen 127.0.0.1:0
	assert_contains "$output" "serving the metrics"
	assert_contains "$output" "address already in use"
	# It left nothing behind that stops a host from starting.
	start_host alice
}
