# Keys: smvs-agent holding the identity for a host run as another user,
# the identity's one owner, and rotations (KEM and identity) that lose no
# message, on real processes on 127.0.0.1.

# The agent's story runs the agent and the host as two system users of
# their own, made here (and removed at the end if this file made them).
AGENT_USER=smvs-test-agent
HOST_USER=smvs-test-host

setup_file() {
	[ "$(id -u)" = 0 ] || {
		echo "keys.bats makes system users: run it as root (make test does, on CI)" >&3
		return 1
	}
	go build -o "$BATS_FILE_TMPDIR/chainorder" "$BATS_TEST_DIRNAME/tools/chainorder"
	local u
	: >"$BATS_FILE_TMPDIR/made-users"
	for u in "$AGENT_USER" "$HOST_USER"; do
		if ! id -u "$u" >/dev/null 2>&1; then
			useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$u"
			echo "$u" >>"$BATS_FILE_TMPDIR/made-users"
		fi
	done
}

teardown_file() {
	local u
	while read -r u; do
		userdel "$u" 2>/dev/null || true
	done <"$BATS_FILE_TMPDIR/made-users"
}

setup() {
	load helpers
	smvs_setup
	start_dird dir && use_dird
}

teardown() {
	stop_daemons
	[ -z "${WORLD:-}" ] || rm -rf "$WORLD"
}

# texts USER [FLAG...] prints the text of every message USER's host holds,
# one a line.
texts() {
	local name=$1
	shift
	as_user "$name" smvs-recv --json "$@" | only_texts
}

# only_texts prints the texts of the messages of smvs-recv --json, one a
# line (without the newline echo gave them).
only_texts() {
	jq -r 'select(.event == "message") | .text // empty | rtrimstr("\n")'
}

# count_texts USER PREFIX N succeeds once USER's host holds N incoming
# messages whose text starts with PREFIX.
count_texts() {
	[ "$(as_user "$1" smvs-recv --json | jq -r --arg p "$2" \
		'select(.event == "message" and .direction == "in" and ((.text // "") | startswith($p))) | .text' | wc -l)" -ge "$3" ]
}

# all_delivered USER succeeds once no message USER sent is still queued.
all_delivered() {
	[ "$(as_user "$1" smvs-recv --json | jq -r 'select(.event == "message" and .direction == "out" and .status != "delivered") | .seq' | wc -l)" = 0 ]
}

# none_queued USER succeeds once every message USER sent has left USER's
# host (sent or delivered), and none failed.
none_queued() {
	[ "$(as_user "$1" smvs-recv --json | jq -r 'select(.event == "message" and .direction == "out" and .status != "delivered" and .status != "sent") | .seq' | wc -l)" = 0 ]
}

# stop_host PID stops one host and waits for it.
stop_host() {
	kill -TERM "$1"
	wait "$1" 2>/dev/null || true
}

# as SYSUSER HOME COMMAND... runs one of $WORLD's commands as system user
# SYSUSER with SMVS_HOME=HOME, keeping the rest of the environment.
as() {
	local who=$1 home=$2 cmd=$3
	shift 3
	setpriv --reuid="$who" --regid="$(id -g "$who")" --clear-groups env SMVS_HOME="$home" "$WORLD/bin/$cmd" "$@"
}

@test "the identity lives with smvs-agent, run as its own user: a host run as another user works through it and can't read the key" {
	# The binaries and homes are copied where both users can reach them:
	# the test's own directory is private to root.
	WORLD=$(mktemp -d /tmp/smvs-keys.XXXXXX)
	chmod 755 "$WORLD"
	mkdir -m 755 "$WORLD/bin"
	cp "$(dirname "$(command -v smvs-agent)")"/smvs-* "$WORLD/bin/"
	local agent_home=$WORLD/agent run=$WORLD/agent-run host_home=$WORLD/host
	mkdir -m 700 "$agent_home" "$host_home"
	mkdir -m 755 "$run"
	chown "$AGENT_USER:" "$agent_home" "$run"
	chown "$HOST_USER:" "$host_home"
	as "$AGENT_USER" "$agent_home" smvs-keygen -o "$agent_home/identity" 2>/dev/null
	alice=$(as "$AGENT_USER" "$agent_home" smvs-keygen -y "$agent_home/identity")
	[ "$(stat -c %U "$agent_home/identity")" = "$AGENT_USER" ]

	as "$AGENT_USER" "$agent_home" smvs-agent --socket "$run/agent.sock" --allow-user "$HOST_USER" --log-uses \
		>"$WORLD/agent.out" 2>"$WORLD/agent.log" 3>&- &
	local agent_pid=$!
	DAEMONS+=("$agent_pid")
	wait_for_line "$WORLD/agent.out" "$agent_pid" smvs-agent
	assert_equal "$(cat "$WORLD/agent.out")" "SMVS_AGENT_SOCK=$run/agent.sock; export SMVS_AGENT_SOCK;"

	# alice's host, as the host user, with no identity file in its reach.
	as "$HOST_USER" "$host_home" smvs-hostd --listen 127.0.0.1:0 --name alice --agent "$run/agent.sock" \
		--backoff-min 50ms --backoff-max 500ms >"$WORLD/hostd.out" 2>"$WORLD/hostd.log" 3>&- &
	local host_pid=$!
	DAEMONS+=("$host_pid")
	wait_for_line "$WORLD/hostd.out" "$host_pid" "smvs-hostd of alice"
	[ ! -e "$host_home/identity" ]
	assert_contains "$(cat "$WORLD/hostd.log")" "$run/agent.sock"

	bob=$(user bob)
	start_host bob

	# Messages both ways.
	echo "from alice, through the agent" | as "$HOST_USER" "$host_home" smvs-send --wait bob
	echo "from bob" | as_user bob smvs-send --wait alice
	host_has() { as "$HOST_USER" "$host_home" smvs-recv --json | only_texts | grep -qxF "$1"; }
	eventually 10 host_has "from bob"
	run -0 texts bob
	assert_contains "$output" "from alice, through the agent"
	run -0 as_user bob smvs-register lookup alice
	assert_contains "$output" "id:          $alice"

	# The host's user can read neither the key file nor the agent's memory;
	# the agent is not dumpable, so not even its own user can.
	run as "$HOST_USER" "$host_home" smvs-keygen -y "$agent_home/identity"
	[ "$status" -ne 0 ]
	run setpriv --reuid="$HOST_USER" --regid="$HOST_USER" --clear-groups cat "$agent_home/identity"
	[ "$status" -ne 0 ] && assert_contains "$output" "Permission denied"
	local u
	for u in "$HOST_USER" "$AGENT_USER"; do
		run setpriv --reuid="$u" --regid="$u" --clear-groups dd if="/proc/$agent_pid/mem" of=/dev/null bs=1 count=0
		[ "$status" -ne 0 ] || fail "$u opened /proc/$agent_pid/mem"
		assert_contains "$output" "Permission denied"
	done

	# A process of any other user is refused, and the refusal logged.
	run as nobody "$WORLD" smvs-hostd --listen 127.0.0.1:0 --agent "$run/agent.sock" --socket "$WORLD/nobody.sock" --data "$WORLD/nobody-data"
	[ "$status" -ne 0 ] || fail "a host run as nobody got the keys: $output"
	assert_contains "$output" "refuse"
	assert_contains "$(cat "$WORLD/agent.log")" "uid $(id -u nobody)"

	# Every use is logged; no secret is.
	local log
	log=$(cat "$WORLD/agent.log")
	assert_contains "$log" "uid $(id -u "$HOST_USER")"
	refute_contains "$log" "$(sed -n 3p "$agent_home/identity")"
	refute_contains "$(cat "$WORLD/hostd.log")" "$(sed -n 3p "$agent_home/identity" | cut -c1-40)"
}

@test "one owner: a second process can't take an identity a host holds, and rotate --identity beside it is refused" {
	alice=$(user alice) && user bob >/dev/null
	start_host alice
	local alice_pid=$HOST_PID

	run -6 --separate-stderr as_user alice smvs-hostd --listen 127.0.0.1:0 --socket "$BATS_TEST_TMPDIR/second.sock" --data "$BATS_TEST_TMPDIR/second"
	assert_contains "$stderr" "in use by process $alice_pid"

	run --separate-stderr as_user alice smvs-register rotate --identity
	[ "$status" -ne 0 ]
	assert_contains "$stderr" "stop smvs-hostd"
	assert_equal "$(as_user alice smvs-keygen -y)" "$alice"
}

@test "rotate --kem beside a running host: nothing to or from the user is refused or stuck" {
	alice_and_bob
	echo hello | as_user alice smvs-send --wait bob
	local before after
	before=$(as_user bob smvs-register lookup alice | sed -n 's/^kem key: *//p')

	# bob writes to alice all along, while alice rotates her KEM key twice.
	(for i in $(seq 60); do
		echo "b$i" | as_user bob smvs-send alice || exit 1
		sleep 0.05
	done) &
	local writer=$!
	sleep 0.5
	run -0 --separate-stderr as_user alice smvs-register rotate --kem
	assert_contains "$stderr" "new KEM key"
	sleep 0.5
	run -0 --separate-stderr as_user alice smvs-register rotate --kem
	wait "$writer" || fail "bob's smvs-send failed while alice rotated"

	after=$(as_user bob smvs-register lookup alice | sed -n 's/^kem key: *//p')
	[ -n "$after" ] && [ "$after" != "$before" ] || fail "the directory's record kept KEM key $before"
	echo "after the rotation" | as_user bob smvs-send --wait alice
	echo "and back" | as_user alice smvs-send --wait bob
	eventually 20 count_texts alice b 60
	eventually 20 all_delivered bob
	eventually 20 all_delivered alice
	refute_contains "$(cat "$(user_home alice)/hostd.out.log")" "no longer has"
}

@test "rotate --identity twice (A to B to C): the host keeps its history, a peer offline for both follows the chain, and so does a linked device" {
	alice_and_bob
	local a=$ALICE
	link_device alice laptop
	echo "one" | as_user bob smvs-send --wait alice
	echo "two" | as_user alice smvs-send --wait bob
	as_user bob smvs-register lookup alice >/dev/null
	as_user bob smvs-register verify --yes alice >/dev/null

	# alice's host stops; bob writes to her meanwhile, then goes offline.
	stop_host "$ALICE_PID"
	echo "queued while alice rotates" | as_user bob smvs-send alice
	stop_host "$BOB_PID"

	run -0 --separate-stderr as_user alice smvs-register rotate --identity
	local b=$output
	run -0 --separate-stderr as_user alice smvs-register rotate --identity
	local c=$output
	[[ $b == smvs1* && $c == smvs1* && $a != "$b" && $b != "$c" ]] || fail "rotations printed $b and $c"
	assert_equal "$(as_user alice smvs-keygen -y)" "$c"
	[ ! -e "$(user_home alice)/identity.old" ] && [ ! -e "$(user_home alice)/identity.new" ]

	# On the address her laptop knows.
	start_host alice --listen "$ALICE_ADDR"
	run -0 texts alice --from bob
	assert_equal "$output" "$(printf 'one\ntwo')"
	echo "three, from C" | as_user alice smvs-send bob

	start_host bob
	eventually 30 count_texts bob "three, from C" 1
	eventually 30 count_texts alice "queued while alice rotates" 1
	eventually 30 all_delivered bob
	eventually 30 all_delivered alice

	# bob's contact followed A to B to C, verified still (A signed the
	# way to C); the conversation is one.
	assert_matches "$(grep '^alice ' "$(user_home bob)/contacts")" "^alice $c( |\$)"
	run -0 as_user bob smvs-register lookup alice
	assert_contains "$output" "verified:    yes"
	run -0 texts bob --from alice
	assert_equal "$output" "$(printf 'one\ntwo\nqueued while alice rotates\nthree, from C')"
	# alice wrote "three" before bob's host was back to deliver what it held.
	run -0 texts alice --from bob
	assert_equal "$output" "$(printf 'one\ntwo\nthree, from C\nqueued while alice rotates')"
	# bob is told once that alice moved, signed by her old key.
	run -0 --separate-stderr as_user bob smvs-recv --from alice
	[ "$(grep -c "moved to a new key" <<<"$stderr$output")" -ge 1 ]

	# alice's laptop, linked to A, finds her host presenting C: it follows
	# the rotations C's record carries, says so once, and pins C.
	run --separate-stderr as_user laptop smvs-recv --json --from bob
	[ "$status" = 0 ] || fail "smvs-recv on the laptop: $status $stderr"
	assert_equal "$(only_texts <<<"$output")" "$(printf 'one\ntwo\nthree, from C\nqueued while alice rotates')"
	assert_contains "$stderr" "warning: the host's identity rotated from $a to $c, signed by the old key: this device follows it"
	assert_contains "$(cat "$(user_home laptop)/link")" "$c"
	run -0 --separate-stderr as_user laptop smvs-recv --from bob
	assert_equal "$stderr" ""
	echo "from the laptop" | as_user laptop smvs-send --wait bob
	eventually 30 count_texts bob "from the laptop" 1
}

@test "20 rotations, KEM and identity on both sides, while 2,000 messages stream both ways: every accepted message arrives exactly once, none is left queued" {
	alice_and_bob
	echo warm | as_user alice smvs-send --wait bob
	echo warm | as_user bob smvs-send --wait alice

	# stream FROM TO PREFIX: 1,000 messages, each retried until its host
	# takes it (the host is down during its identity rotations); the ones
	# taken are listed in FROM.accepted. Bounded: 40 tries a message.
	stream() {
		local i try
		for i in $(seq 1000); do
			for try in $(seq 40); do
				if echo "$3$i" | as_user "$1" smvs-send "$2" 2>/dev/null; then
					echo "$3$i" >>"$BATS_TEST_TMPDIR/$1.accepted"
					break
				fi
				sleep 0.25
			done
		done
	}
	stream alice bob a &
	local alice_stream=$!
	stream bob alice b &
	local bob_stream=$!

	local round who rotations=0
	for round in 1 2 3 4 5; do
		for who in alice bob; do
			sleep 0.5
			as_user "$who" smvs-register rotate --kem 2>/dev/null || fail "round $round: $who's rotate --kem failed"
			rotations=$((rotations + 1))
		done
		for who in alice bob; do
			sleep 0.5
			if [ "$who" = alice ]; then stop_host "$ALICE_PID"; else stop_host "$BOB_PID"; fi
			as_user "$who" smvs-register rotate --identity >/dev/null 2>&1 || fail "round $round: $who's rotate --identity failed"
			start_host "$who"
			if [ "$who" = alice ]; then ALICE_PID=$HOST_PID; else BOB_PID=$HOST_PID; fi
			rotations=$((rotations + 1))
		done
	done
	assert_equal "$rotations" 20
	wait "$alice_stream" "$bob_stream"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/alice.accepted")" -eq 1000 ] || fail "alice's host took $(wc -l <"$BATS_TEST_TMPDIR/alice.accepted") of 1000"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/bob.accepted")" -eq 1000 ] || fail "bob's host took $(wc -l <"$BATS_TEST_TMPDIR/bob.accepted") of 1000"

	eventually 120 count_texts bob a 1000
	eventually 120 count_texts alice b 1000
	# Every receipt came back, across the rotations of both sides.
	eventually 120 all_delivered alice
	eventually 120 all_delivered bob
	# Exactly once each.
	assert_equal "$(texts bob | grep '^a[0-9]' | sort)" "$(sort "$BATS_TEST_TMPDIR/alice.accepted")"
	assert_equal "$(texts alice | grep '^b[0-9]' | sort)" "$(sort "$BATS_TEST_TMPDIR/bob.accepted")"
	# None was signed twice after the same one (fork) or came again
	# changed. A rotation that overlaps a move still under way may leave a
	# gap, and the message after it out of order (issue 13's closing note):
	# each is told here, with whether the two transcripts agree, but does
	# not fail the story.
	assert_equal "$(chain_warnings alice | grep -vx 'rotated\|gap')" ""
	assert_equal "$(chain_warnings bob | grep -vx 'rotated\|gap')" ""
	local gaps_a gaps_b late_a late_b same=no
	gaps_a=$(count_warned alice gap) gaps_b=$(count_warned bob gap)
	late_a=$(out_of_order bob a alice | wc -l) late_b=$(out_of_order alice b bob | wc -l)
	[ "$(transcript alice bob)" != "$(transcript bob alice)" ] || same=yes
	echo "# gaps: alice $gaps_a, bob $gaps_b; out of order: alice's $late_a, bob's $late_b; transcripts equal: $same" >&3
}

# count_warned USER WARNING prints how many of USER's messages carry
# WARNING.
count_warned() {
	as_user "$1" smvs-recv --json | jq -r --arg w "$2" 'select(.event == "message" and ((.warnings // []) | index($w))) | .seq' | wc -l
}

# chain_warnings USER prints the warnings USER's messages carry, each
# once, sorted.
chain_warnings() {
	as_user "$1" smvs-recv --json | jq -r 'select(.event == "message") | .warnings // [] | .[]' | sort -u
}

# transcript USER PEER prints how many messages USER's fingerprint of the
# conversation with PEER covers, and the fingerprint.
transcript() {
	as_user "$1" smvs-recv --fingerprint "$2" --json | jq -r '"\(.messages) \(.fingerprint)"'
}

# out_of_order USER PREFIX SENDER prints the messages from SENDER whose
# text starts with PREFIX that USER holds before one SENDER sent earlier,
# unless the chain crossed there: the message names (chain) one USER
# sent, not SENDER's message before it.
out_of_order() {
	as_user "$3" smvs-recv --export >"$BATS_TEST_TMPDIR/$3.export"
	as_user "$1" smvs-recv --export >"$BATS_TEST_TMPDIR/$1.export"
	"$BATS_FILE_TMPDIR/chainorder" -prefix "$2" "$BATS_TEST_TMPDIR/$3.export" "$BATS_TEST_TMPDIR/$1.export"
}

@test "rotate --identity, then the host killed (-9) again and again as it starts and moves its store: nothing is lost or broken" {
	alice_and_bob
	local i
	for i in $(seq 100); do
		echo "m$i" | as_user bob smvs-send alice
	done
	eventually 60 count_texts alice m 100
	local before
	before=$(texts alice --from bob)
	stop_host "$ALICE_PID"
	as_user alice smvs-register rotate --identity >/dev/null 2>&1

	# Each start is killed at another point within its first 60 ms: before,
	# during or after the store's move to the new identity (some 20 ms into
	# a start here). Bounded: 15 kills.
	local pid home
	home=$(user_home alice)
	for i in $(seq 15); do
		SMVS_HOME=$home smvs-hostd --listen 127.0.0.1:0 --name alice >/dev/null 2>&1 3>&- &
		pid=$!
		sleep "0.$(printf '%03d' $((RANDOM % 60)))"
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done

	start_host alice
	assert_equal "$(texts alice --from bob)" "$before"
	echo "after the crashes" | as_user alice smvs-send --wait bob
	echo "and back" | as_user bob smvs-send --wait alice
	eventually 30 count_texts bob "after the crashes" 1
	assert_contains "$(texts alice --from bob)" "and back"
}
