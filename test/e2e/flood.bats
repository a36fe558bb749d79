# Floods: hostile peers on 127.0.0.1 flood bob's real smvs-hostd over QUIC
# (test/e2e/tools/flood) while alice, his contact, sends him messages from
# her own host. Each test measures bob's memory from /proc (VmRSS idle,
# VmHWM, the peak, after the flood) and alice's smvs-send --wait latency
# idle and during the flood, asserts the peak is at most 64 MiB over idle
# and the latency at most 10x idle, and prints the figures on fd 3 (and
# appends them to $FLOOD_LOG if set).
#
# Bob takes up to 1024 connections from one address here: every peer of
# the test shares 127.0.0.1, where a real flood comes from many addresses,
# and the per-address cap has a test of its own.
#
# scripts/e2e: alone. The peak memory is measured on a machine running
# nothing else of the tests: beside other files, a host starved of CPU
# collects its garbage late, and the same flood peaks a few MiB higher.

setup_file() {
	go build -o "$BATS_FILE_TMPDIR/flood" "$BATS_TEST_DIRNAME/tools/flood"
}

setup() {
	load helpers
	smvs_setup
	FLOOD=$BATS_FILE_TMPDIR/flood
	start_dird dir && use_dird
}

teardown() {
	stop_daemons
}

# The victim's limits: a message of 4 MiB, but a frame between hosts is
# at most 1 MiB + 128 KiB whatever the message limit (a larger body
# streams), so a full-size frame is about 1.1 MiB and the read budget about
# 2.25 MiB. What a flood of full-size frames costs: the frames the
# strangers' share holds, their decoded copies, a known peer's frame, and
# what the garbage collector lets lie. A device's frames are bounded by
# the message limit: the unlinked device's flood sends 4 MiB requests.
MAX_MESSAGE=4MiB
FULL_FRAME=$((1024 * 1024 + 100 * 1024))
DEVICE_FRAME=$((4 * 1024 * 1024 + 100 * 1024))
FLOOD_FOR=8s

# start_pair starts alice's and bob's hosts, makes alice bob's contact, and
# sends one message to open the way (look-ups, the connection).
start_pair() {
	alice_and_bob --max-message "$MAX_MESSAGE" --max-connections-per-address 1024 "$@"
	printf 'alice %s\n' "$ALICE" >>"$(user_home bob)/contacts"
	chmod 600 "$(user_home bob)/contacts"
	as_user alice smvs-send --wait bob <<<"hello" >/dev/null || fail "the first message did not arrive"
}

# kib FIELD prints bob's FIELD (VmRSS, VmHWM) from /proc, in KiB.
kib() {
	awk -v f="$1:" '$1 == f { print $2 }' "/proc/$BOB_PID/status"
}

# send_ms TEXT sends TEXT from alice to bob and waits for bob's host's
# receipt; it prints how long that took, in milliseconds.
send_ms() {
	local start end
	start=$(date +%s%N)
	as_user alice smvs-send --wait bob <<<"$1" >/dev/null || fail "alice's message '$1' was not delivered"
	end=$(date +%s%N)
	echo $(((end - start) / 1000000))
}

# median A B C prints the median of three numbers.
median() {
	printf '%s\n' "$@" | sort -n | sed -n 2p
}

# measure NAME FLOOD-ARGS... runs the flood while alice sends three
# messages, and checks and prints bob's memory and alice's latency.
measure() {
	local name=$1 idle_rss a b c idle f1 f2 f3 during peak_rss hwm grown out
	shift
	a=$(send_ms "idle 1") b=$(send_ms "idle 2") c=$(send_ms "idle 3")
	idle=$(median "$a" "$b" "$c")
	idle_rss=$(kib VmRSS)
	out=$BATS_TEST_TMPDIR/flood.out
	"$FLOOD" -addr "$BOB_ADDR" -expect "$BOB" -for "$FLOOD_FOR" "$@" >"$out" 2>&1 &
	local flood=$!
	DAEMONS+=("$flood")
	sleep 2 # the flood is at full strength
	peak_rss=$(kib VmRSS)
	f1=$(send_ms "during 1") f2=$(send_ms "during 2") f3=$(send_ms "during 3")
	during=$(median "$f1" "$f2" "$f3")
	local rss
	while kill -0 "$flood" 2>/dev/null; do
		rss=$(kib VmRSS)
		[ "$rss" -le "$peak_rss" ] || peak_rss=$rss
		sleep 0.5
	done
	wait "$flood" || fail "the flood tool failed: $(cat "$out")"
	hwm=$(kib VmHWM)
	grown=$(((hwm - idle_rss) / 1024))
	report "$name: bob idle RSS $((idle_rss / 1024)) MiB, RSS sampled during the flood up to $((peak_rss / 1024)) MiB, VmHWM after $((hwm / 1024)) MiB (+$grown MiB over idle); alice -> bob latency idle ${idle} ms ($a $b $c), during the flood ${during} ms ($f1 $f2 $f3); $(cat "$out")"
	[ "$grown" -le 64 ] || fail "$name: bob's peak memory grew by $grown MiB over idle, more than 64 MiB"
	[ "$during" -le $((10 * idle)) ] || fail "$name: alice's latency during the flood, $during ms, is over 10x idle ($idle ms)"
	# Bob's host still serves its own device.
	as_user bob smvs-recv >/dev/null || fail "bob's smvs-recv failed after the flood"
}

report() {
	echo "# $*" >&3
	[ -z "${FLOOD_LOG:-}" ] || echo "$*" >>"$FLOOD_LOG"
}

@test "64 fresh keys sending full-size frames: bob's memory stays within 64 MiB of idle and alice's messages get through" {
	start_pair
	measure "64 keys x full frames" frames -keys 64 -streams 2 -size "$FULL_FRAME"
	grep -q "answered [1-9]" "$BATS_TEST_TMPDIR/flood.out" || fail "bob answered none of the flood: $(cat "$BATS_TEST_TMPDIR/flood.out")"
}

@test "200 connections x 64 streams of half a frame header: memory bounded, alice gets through" {
	start_pair
	measure "200 conns x 64 streams x half header" halfheaders -conns 200 -streams 64
	grep -q "busy [1-9]" "$BATS_TEST_TMPDIR/flood.out" || fail "no stream was refused busy: $(cat "$BATS_TEST_TMPDIR/flood.out")"
}

@test "an unlinked device key opening every stream it can with large requests: memory bounded, alice gets through" {
	start_pair
	measure "unlinked device x 4 conns x 64 streams x 4 MiB requests" device -conns 4 -streams 64 -size "$DEVICE_FRAME"
	grep -q "answered [1-9]" "$BATS_TEST_TMPDIR/flood.out" || fail "the device was not told why: $(cat "$BATS_TEST_TMPDIR/flood.out")"
}

@test "blocked keys sending frames are refused at the handshake: memory bounded, alice gets through" {
	start_pair
	measure "16 blocked keys x full frames" blocked -keys 16 -size "$FULL_FRAME" -block "$(user_home bob)/blocked"
	grep -q "refused by policy [1-9]" "$BATS_TEST_TMPDIR/flood.out" || fail "no connection was refused by policy: $(cat "$BATS_TEST_TMPDIR/flood.out")"
	grep -q "answered 0" "$BATS_TEST_TMPDIR/flood.out" || fail "a blocked key's request was answered: $(cat "$BATS_TEST_TMPDIR/flood.out")"
}

@test "connections over --max-connections-per-address are refused before TLS" {
	alice_and_bob --max-connections-per-address 4
	run -0 "$FLOOD" -addr "$BOB_ADDR" -expect "$BOB" -for 2s halfheaders -conns 8 -streams 1
	report "per-address cap 4: $output"
	[[ $output =~ connections\ ([0-9]+)\ \(refused\ ([0-9]+)\) ]] || fail "flood said: $output"
	[ "${BASH_REMATCH[1]}" -le 4 ] || fail "more than 4 connections from one address: $output"
	[ "${BASH_REMATCH[2]}" -ge 1 ] || fail "no connection refused: $output"
}
