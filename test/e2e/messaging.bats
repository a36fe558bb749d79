# Messaging: smvs-hostd, smvs-send and smvs-recv as separate processes on
# 127.0.0.1, with a directory, every user in an SMVS_HOME of their own.

setup_file() {
	go build -o "$BATS_FILE_TMPDIR/hostpoke" "$BATS_TEST_DIRNAME/tools/hostpoke"
}

setup() {
	load helpers
	smvs_setup
	HOSTPOKE=$BATS_FILE_TMPDIR/hostpoke
	start_dird dir && use_dird
}

teardown() {
	stop_daemons
}

# texts USER prints the text of every message USER's host holds, one a line.
texts() {
	as_user "$1" smvs-recv --json | sed -n 's/.*"text":"\([^"]*\)".*/\1/p'
}

# has_text USER TEXT succeeds once USER's host holds a message TEXT.
has_text() {
	texts "$1" | grep -qxF "$2"
}

# count_in USER N succeeds once USER's host holds at least N incoming messages.
count_in() {
	[ "$(as_user "$1" smvs-recv --json | grep -c '"direction":"in"')" -ge "$2" ]
}

@test "echo hi | smvs-send bob arrives in bob's smvs-recv --follow and alice's history says delivered" {
	alice_and_bob
	as_user bob smvs-recv --follow >"$BATS_TEST_TMPDIR/follow" 2>/dev/null 3>&- &
	follower=$!
	DAEMONS+=("$follower")

	run -0 as_user alice bash -c 'echo hi | smvs-send bob'
	# alice is no contact of bob's: she shows by key, with the name her
	# record claims once bob's host has it.
	eventually 10 grep -Eq ' < smvs1[a-z0-9]+…( \(says alice\))?: hi$' "$BATS_TEST_TMPDIR/follow"
	eventually 10 bash -c "SMVS_HOME='$(user_home alice)' smvs-recv | grep -q '> bob (delivered): hi$'"
	run -0 as_user alice smvs-send --wait bob <<<"and this one waits"
}

@test "a 20 MiB random file arrives byte-identical" {
	alice_and_bob
	# From a stranger it would count 20 MiB, past the 16 MiB bob's host
	# takes from each (strangers.bats).
	run -0 as_user bob smvs-register add alice "$ALICE"
	head -c 20971520 /dev/urandom >"$BATS_TEST_TMPDIR/big.bin"
	run -0 as_user alice smvs-send --file "$BATS_TEST_TMPDIR/big.bin" bob
	eventually 30 count_in bob 1
	seq=$(as_user bob smvs-recv --json | grep '"file_name":"big.bin"' | sed 's/.*"seq":\([0-9]*\).*/\1/')
	as_user bob smvs-recv --raw "$seq" >"$BATS_TEST_TMPDIR/got.bin"
	assert_equal "$(sha256sum <"$BATS_TEST_TMPDIR/got.bin")" "$(sha256sum <"$BATS_TEST_TMPDIR/big.bin")"
}

@test "1,000 lines through smvs-send -l arrive exactly once and in order" {
	alice_and_bob
	seq 1000 | sed 's/^/line /' >"$BATS_TEST_TMPDIR/lines"
	run -0 as_user alice smvs-send -l bob <"$BATS_TEST_TMPDIR/lines"
	eventually 30 count_in bob 1000
	texts bob >"$BATS_TEST_TMPDIR/got"
	cmp "$BATS_TEST_TMPDIR/lines" "$BATS_TEST_TMPDIR/got"
}

@test "with bob's host down, sending succeeds and the messages arrive once it starts" {
	alice_and_bob
	kill -TERM "$BOB_PID" && wait "$BOB_PID" || true
	run -0 as_user alice smvs-send bob <<<"while you were out"
	run -0 as_user alice smvs-recv
	assert_contains "$output" "> bob (queued): while you were out"
	start_host bob
	eventually 20 has_text bob "while you were out"
}

# stream_kill VICTIM: alice streams 5,000 lines to bob; VICTIM's host is
# killed with SIGKILL partway and restarted; every line alice's host
# accepted must arrive at bob exactly once.
stream_kill() {
	local victim=$1 pid
	alice_and_bob
	seq 5000 | sed 's/^/msg /' >"$BATS_TEST_TMPDIR/lines"
	as_user alice smvs-send -l --json bob <"$BATS_TEST_TMPDIR/lines" >"$BATS_TEST_TMPDIR/accepted" 2>/dev/null 3>&- &
	sender=$!
	eventually 20 bash -c "[ \$(wc -l <'$BATS_TEST_TMPDIR/accepted') -ge 500 ]"
	[ "$victim" = bob ] && pid=$BOB_PID || pid=$ALICE_PID
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null || true
	if [ "$victim" = alice ]; then
		wait "$sender" || true # its host died under it
	fi
	start_host "$victim"
	wait "$sender" || true
	accepted=$(wc -l <"$BATS_TEST_TMPDIR/accepted")
	[ "$accepted" -ge 500 ] || fail "only $accepted accepted"
	eventually 120 count_in bob "$accepted"
	texts bob | sort >"$BATS_TEST_TMPDIR/got"
	[ -z "$(uniq -d "$BATS_TEST_TMPDIR/got")" ] || fail "duplicates: $(uniq -d "$BATS_TEST_TMPDIR/got" | head)"
	# Every accepted line arrived: the first $accepted lines (accepted in order).
	head -n "$accepted" "$BATS_TEST_TMPDIR/lines" | sort >"$BATS_TEST_TMPDIR/want"
	[ -z "$(comm -23 "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/got")" ] ||
		fail "lost: $(comm -23 "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/got" | head)"
}

@test "kill -9 of bob's host while 5,000 messages stream in loses and duplicates nothing" {
	stream_kill bob
	assert_equal "$(wc -l <"$BATS_TEST_TMPDIR/accepted")" 5000
}

@test "kill -9 of alice's host while 5,000 messages stream out loses and duplicates nothing" {
	stream_kill alice
}

@test "no plaintext on disk: a marker is in no file of either host's data" {
	alice_and_bob
	marker="marker-$RANDOM-$RANDOM-plaintext"
	as_user alice smvs-send bob <<<"$marker"
	eventually 10 has_text bob "$marker"
	echo "$marker in a file" >"$BATS_TEST_TMPDIR/notes.txt"
	as_user alice smvs-send --file "$BATS_TEST_TMPDIR/notes.txt" bob
	rm "$BATS_TEST_TMPDIR/notes.txt"
	eventually 10 count_in bob 2
	run grep -rl -- "$marker" "$(user_home alice)/store" "$(user_home bob)/store"
	assert_equal "$status" 1
	assert_equal "$output" ""
}

@test "a host presenting a key other than bob's pinned one is refused" {
	alice_and_bob
	user mallory >/dev/null
	start_host mallory
	as_user alice smvs-register lookup bob >/dev/null
	# The contacts file sends alice's host to mallory's address for bob.
	sed -i "s|^bob .*|bob $BOB host=$HOST_ADDR|" "$(user_home alice)/contacts"
	run -0 as_user alice smvs-send bob <<<"for bob only"
	sleep 2
	run -0 as_user alice smvs-recv
	assert_contains "$output" "> bob (queued): for bob only"
	run -0 as_user mallory smvs-recv
	assert_equal "$output" ""
	assert_contains "$(cat "$(user_home alice)/hostd.out.log")" "key"
}

@test "an envelope for someone else is refused; a replayed one is stored once; garbage frames change nothing" {
	alice_and_bob
	user carol >/dev/null
	poke() { "$HOSTPOKE" -identity "$(user_home alice)/identity" -addr "$BOB_ADDR" -expect "$BOB" "$@"; }
	run -0 poke foreign "$(user_home carol)/identity"
	assert_equal "$output" "wrong host"
	run -0 poke replay "said twice"
	assert_equal "$output" $'stored\nduplicate'
	run -0 poke garbage
	refute_contains "$output" "stored"
	assert_equal "$(texts bob)" "said twice"
}

@test "a blocked sender's message is refused and nothing of it is stored; allow-only refuses strangers" {
	alice_and_bob
	user carol >/dev/null
	start_host carol
	echo "$ALICE" >"$(user_home bob)/blocked"
	run -0 as_user alice smvs-send bob <<<"from a blocked sender"
	run -0 as_user carol smvs-send bob <<<"from carol"
	eventually 10 has_text bob "from carol"
	refute_contains "$(texts bob)" "blocked sender"

	rm "$(user_home bob)/blocked"
	carol_id=$(as_user carol smvs-keygen -y)
	printf '# only carol\n%s\n' "$carol_id" >"$(user_home bob)/allowed"
	run -0 as_user alice smvs-send bob <<<"from a stranger"
	run -0 as_user carol smvs-send bob <<<"carol again"
	eventually 10 has_text bob "carol again"
	refute_contains "$(texts bob)" "stranger"
}

@test "bad input gets a clear error and changes nothing stored" {
	alice_and_bob --max-message 1024
	as_user alice smvs-send bob <<<"before"
	eventually 10 has_text bob "before"
	before=$(as_user bob smvs-recv --json)

	head -c 2048 /dev/zero | tr '\0' x >"$BATS_TEST_TMPDIR/big"
	run -7 --separate-stderr as_user alice smvs-send bob <"$BATS_TEST_TMPDIR/big"
	assert_contains "$stderr" "smvs-send: error:"
	assert_contains "$stderr" "over this host's limit of 1024 bytes"

	run -3 --separate-stderr as_user alice smvs-send nobody-at-all <<<"hello?"
	assert_contains "$stderr" "smvs-send: error:"

	run -0 "$HOSTPOKE" -socket "$(user_home bob)/host.sock" garbage
	run -0 "$HOSTPOKE" -identity "$(user_home alice)/identity" -addr "$BOB_ADDR" -expect "$BOB" garbage
	kill -0 "$BOB_PID" || fail "bob's host died"
	assert_equal "$(as_user bob smvs-recv --json)" "$before"

	kill -TERM "$BOB_PID" && wait "$BOB_PID" || true
	run -5 --separate-stderr as_user bob smvs-send alice <<<"nobody home"
	assert_contains "$stderr" "smvs-hostd"
}

@test "smvs-recv --cursor shows each message once across runs" {
	alice_and_bob
	printf 'one\ntwo\nthree\n' | as_user alice smvs-send -l bob
	eventually 10 count_in bob 3
	run -0 as_user bob smvs-recv --cursor "$BATS_TEST_TMPDIR/cursor"
	assert_equal "$(grep -c ' < ' <<<"$output")" 3
	printf 'four\nfive\n' | as_user alice smvs-send -l bob
	eventually 10 count_in bob 5
	run -0 as_user bob smvs-recv --cursor "$BATS_TEST_TMPDIR/cursor"
	assert_equal "$(sed 's/.*: //' <<<"$output")" $'four\nfive'
	run -0 as_user bob smvs-recv --cursor "$BATS_TEST_TMPDIR/cursor"
	assert_equal "$output" ""
}

@test "a received message is found by its id: smvs-recv --raw ID and --since ID" {
	alice_and_bob
	run -0 as_user alice smvs-send --wait bob <<<"first"
	run -0 as_user alice smvs-send --wait bob <<<"second"
	id=$(as_user bob smvs-recv --json | grep '"text":"first"' | sed 's/.*"id":"\([0-9a-f]*\)".*/\1/')
	run -0 as_user bob smvs-recv --raw "$id"
	assert_equal "$output" "first"
	run -0 as_user bob smvs-recv --since "$id"
	assert_contains "$output" "first"
	assert_contains "$output" "second"
}

@test "2,000 unread messages are marked read in one smvs-recv --unread --mark-read" {
	alice_and_bob
	seq 2000 | sed 's/^/unread /' >"$BATS_TEST_TMPDIR/lines"
	run -0 as_user alice smvs-send -l bob <"$BATS_TEST_TMPDIR/lines"
	eventually 60 count_in bob 2000
	run -0 --separate-stderr as_user bob smvs-recv --unread --mark-read
	assert_equal "$(grep -c ' < ' <<<"$output")" 2000
	assert_equal "$stderr" ""
	run -0 as_user bob smvs-recv --unread
	assert_equal "$output" ""
}

@test "a block list others may write stops deliveries until it is fixed, by chmod alone" {
	alice_and_bob
	user carol >/dev/null
	start_host carol
	blocked=$(user_home bob)/blocked
	echo "$ALICE" >"$blocked"
	chmod 600 "$blocked"
	run -0 as_user carol smvs-send --wait bob <<<"before"

	chmod 666 "$blocked"
	echo "# edited while anyone could write it" >>"$blocked"
	run -0 as_user carol smvs-send bob <<<"while it was unsafe"
	eventually 10 grep -q "the host's block list can't be read" "$(user_home bob)/hostd.out.log"
	refute_contains "$(texts bob)" "while it was unsafe"

	chmod 600 "$blocked"
	eventually 10 has_text bob "while it was unsafe"
	run -0 as_user alice smvs-send bob <<<"still blocked"
	run -0 as_user carol smvs-send --wait bob <<<"after"
	refute_contains "$(texts bob)" "still blocked"
}

@test "a blocked sender is told the peer's host refused the message by its policy, not to check that it is up" {
	alice_and_bob
	echo "$ALICE" >"$(user_home bob)/blocked"
	run -1 --separate-stderr as_user alice smvs-send --wait bob <<<"let me in"
	assert_contains "$stderr" "smvs-send: error: bob's host refused message"
	assert_contains "$stderr" "their policy does not take your messages"
	refute_contains "$stderr" "is up"
	run -0 as_user alice smvs-recv
	assert_contains "$output" "> bob (refused): let me in"
	grep -q "message refused by the peer's host: its user's policy" "$(user_home alice)/hostd.out.log"
}

@test "with the directory down, a message to a contact whose record the host verified is queued and delivered" {
	alice_and_bob
	run -0 as_user alice smvs-send --wait bob <<<"first"
	kill -TERM "${DAEMONS[0]}" && wait "${DAEMONS[0]}" || true
	# A restart too: what the host verified is in its store, not only in memory.
	kill -TERM "$ALICE_PID" && wait "$ALICE_PID" || true
	start_host alice
	run -0 as_user alice smvs-send bob <<<"while the directory is down"
	eventually 20 has_text bob "while the directory is down"
}

@test "a look-up the directory failed is retried at once when the directory is back" {
	alice_and_bob
	# alice pins bob, but her host has never seen his record.
	run -0 as_user alice smvs-register lookup bob
	port=${DIR_URL##*:}
	port=${port%%/*}
	kill -TERM "${DAEMONS[0]}" && wait "${DAEMONS[0]}" || true
	run -1 --separate-stderr as_user alice smvs-send bob <<<"lost"
	assert_contains "$stderr" "connection refused"

	out=$BATS_TEST_TMPDIR/dir-again.out
	smvs-dird --listen "127.0.0.1:$port" --data "$BATS_TEST_TMPDIR/dir" >"$out" 2>"$out.log" 3>&- &
	DAEMONS+=($!)
	wait_for_line "$out" "${DAEMONS[-1]}" smvs-dird
	run -0 as_user alice smvs-send bob <<<"the directory is back"
	eventually 20 has_text bob "the directory is back"
}
