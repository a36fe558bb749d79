# Hostile peers and directories: names that can't lie, and no peer's text
# acting on a terminal. Real hosts, a real directory and real commands,
# each as a separate process on 127.0.0.1.

setup_file() {
	# mkrecord signs records no SMVS command would: names and hosts a
	# directory refuses to publish.
	go build -o "$BATS_FILE_TMPDIR/mkrecord" "$BATS_TEST_DIRNAME/tools/mkrecord"
}

setup() {
	load helpers
	smvs_setup
	MKRECORD=$BATS_FILE_TMPDIR/mkrecord
	OUT=$BATS_TEST_TMPDIR
	MEDIA=$BATS_TEST_DIRNAME/../../testdata/media
	start_dird dir && use_dird
}

teardown() {
	stop_daemons
}

# no_raw_controls FILE... fails if a file holds a byte or character that
# acts on a terminal: a C0 control but tab and newline, DEL, a C1 control
# (U+0080-U+009F in UTF-8) or a bidirectional override or isolate.
no_raw_controls() {
	local f
	for f in "$@"; do
		if LC_ALL=C grep -qaP '[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]|\xe2\x80[\xaa-\xae]|\xe2\x81[\xa6-\xa9]' "$f"; then
			fail "$f holds a raw control character: $(LC_ALL=C grep -naP '[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]|\xe2\x80[\xaa-\xae]|\xe2\x81[\xa6-\xa9]' "$f" | od -c | head -20)"
		fi
	done
}

# strangers_world starts the world of the names tests: bob, published in
# the directory; frank, bob's contact by key, whose host is in no
# directory; and mallory, a stranger who registered the name "frank".
# It sets BOB, FRANK, MALLORY and BOB_ADDR.
strangers_world() {
	BOB=$(user bob) FRANK=$(user frank) MALLORY=$(user mallory)
	start_host bob
	BOB_ADDR=$HOST_ADDR
	SMVS_DIR='' SMVS_DIR_PIN='' start_host frank
	FRANK_ADDR=$HOST_ADDR
	start_host mallory --name frank
	run -0 curl -sS -k --pinnedpubkey "$DIR_PIN" "$DIR_URL/v1/records/key/$MALLORY"
	run -0 as_user bob smvs-register add --host "$FRANK_ADDR" frank "$FRANK"
	run -0 as_user frank smvs-register add --host "$BOB_ADDR" bob "$BOB"
	# The directory's "frank" is mallory, not bob's contact.
	run -0 as_user bob smvs-register lookup --json "$MALLORY"
	assert_contains "$output" '"name":"frank"'
}

@test "a stranger who registered a contact's name shows by key, its claim marked, never as the contact: plain, --follow and --json" {
	strangers_world
	echo "it's me, frank" | as_user frank smvs-send --wait --timeout 20s bob
	echo "i am frank too" | as_user mallory smvs-send --wait --timeout 20s bob
	stranger="${MALLORY:0:16}… (says frank)"

	run -0 --separate-stderr as_user bob smvs-recv
	assert_contains "$output" "< frank: it's me, frank"
	assert_contains "$output" "< $stranger: i am frank too"
	refute_contains "$output" "< frank: i am frank too"
	refute_contains "$output" "$stranger: it's me"

	run -0 --separate-stderr as_user bob smvs-recv --json
	real=$(jq -c 'select(.text == "it'"'"'s me, frank") | [.peer, .peer_name, .claimed_name]' <<<"$output")
	fake=$(jq -c 'select(.text == "i am frank too") | [.peer, .peer_name, .claimed_name]' <<<"$output")
	assert_equal "$real" "[\"$FRANK\",\"frank\",null]"
	assert_equal "$fake" "[\"$MALLORY\",null,\"frank\"]"

	as_user bob smvs-recv --follow >"$OUT/follow.out" 2>"$OUT/follow.err" &
	DAEMONS+=($!)
	eventually 10 grep -q "i am frank too" "$OUT/follow.out"
	echo "still frank" | as_user mallory smvs-send bob
	eventually 20 grep -qF "< $stranger: still frank" "$OUT/follow.out"
	refute_contains "$(cat "$OUT/follow.out")" "< frank: still frank"

	run -0 --separate-stderr as_user bob smvs-recv --fingerprint "$MALLORY"
	assert_contains "$output" "conversation with $stranger: 2 messages"
	run -0 --separate-stderr as_user bob smvs-recv --fingerprint "$MALLORY" --json
	assert_equal "$(jq -c '[.peer_name, .claimed_name]' <<<"$output")" '[null,"frank"]'

	run -0 --separate-stderr as_user bob smvs-rm --expire-after 1d "$MALLORY"
	assert_contains "$output" "messages with $stranger now disappear 1d"
	run -0 --separate-stderr as_user bob smvs-rm --expire-after off --json "$MALLORY"
	assert_equal "$(jq -c '[.peer_name, .claimed_name]' <<<"$output")" '[null,"frank"]'
}

@test "a call from a stranger who registered a contact's name rings as its key, the claim marked; so does calling it" {
	strangers_world
	stranger_long="$MALLORY (says frank)"

	# bob answers whoever calls; mallory calls with a second of video.
	SMVS_HOME="$(user_home bob)" smvs-call --local-address 127.0.0.1 --answer --yes --receive-only --timeout 30s \
		>/dev/null 2>"$OUT/bob.err" 3>&- &
	bob_pid=$!
	DAEMONS+=("$bob_pid")
	eventually 10 grep -qs 'waiting for a call' "$OUT/bob.err"
	SMVS_HOME="$(user_home mallory)" smvs-call --local-address 127.0.0.1 --send-only --ring-timeout 10s bob \
		<"$MEDIA/hello.ivf" 2>"$OUT/mallory.err" 3>&- &
	mallory_pid=$!
	DAEMONS+=("$mallory_pid")
	eventually 20 grep -qs 'is calling' "$OUT/bob.err"
	assert_contains "$(cat "$OUT/bob.err")" "smvs-call: $stranger_long is calling"
	refute_contains "$(cat "$OUT/bob.err")" "smvs-call: frank"
	wait_gone 30 "$bob_pid" "$mallory_pid"
	refute_contains "$(cat "$OUT/bob.err")" "frank ("
	no_raw_controls "$OUT/bob.err" "$OUT/mallory.err"

	# Calling the stranger by key: nobody answers there, and every line
	# names it by key with its claim.
	run -14 --separate-stderr as_user bob smvs-call --local-address 127.0.0.1 --receive-only --ring-timeout 5s "$MALLORY" </dev/null
	assert_contains "$stderr" "${MALLORY:0:16}… (says frank)"
	refute_contains "$stderr" "error: frank"
}

@test "a record whose name or host carries escape sequences is refused by lookup, send and call, and no command prints a raw control character" {
	BOB=$(user bob) EVIL=$(user evil) NAMED=$(user named)
	start_host bob
	run -0 as_user evil smvs-register publish --host 127.0.0.1:7001 evil
	run -0 as_user named smvs-register publish --host 127.0.0.1:7002 named

	# Behind the directory's back, its database serves a record whose name
	# sets the terminal's title and clears the screen, and one whose host
	# blinks: records the directory itself would never publish.
	hex() { sed -n 's/^{"record":"\([^"]*\)"}$/\1/p' | base64 -d | od -An -v -tx1 | tr -d ' \n'; }
	bad_name=$("$MKRECORD" -identity "$(user_home evil)/identity" -name $'evil\e]0;owned\a\e[2J' -seq 9 | hex)
	bad_host=$("$MKRECORD" -identity "$(user_home named)/identity" -name named -host $'127.0.0.1:7\e[5m002' -seq 9 | hex)
	[ -n "$bad_name" ] && [ -n "$bad_host" ] || fail "mkrecord made no record"
	sqlite3 "$BATS_TEST_TMPDIR/dir/directory.db" \
		"UPDATE entries SET seq = 9, record = X'$bad_name' WHERE name = 'evil'" \
		"UPDATE entries SET seq = 9, record = X'$bad_host' WHERE name = 'named'"

	for query in "$EVIL" named "$NAMED"; do
		run --separate-stderr as_user bob smvs-register lookup "$query"
		[ "$status" -ne 0 ] || fail "lookup $query printed: $output"
		printf '%s\n%s\n' "$output" "$stderr" >"$OUT/lookup.out"
		no_raw_controls "$OUT/lookup.out"
		refute_contains "$output" "127.0.0.1:7"

		run --separate-stderr as_user bob bash -c 'echo hi | smvs-send "$1"' _ "$query"
		[ "$status" -ne 0 ] || fail "smvs-send $query: $output"
		printf '%s\n%s\n' "$output" "$stderr" >"$OUT/send.out"
		no_raw_controls "$OUT/send.out"

		run --separate-stderr as_user bob smvs-call --local-address 127.0.0.1 --receive-only --ring-timeout 5s "$query" </dev/null
		[ "$status" -ne 0 ] && [ "$status" -ne 14 ] || fail "smvs-call $query exited $status: $stderr"
		printf '%s\n%s\n' "$output" "$stderr" >"$OUT/call.out"
		no_raw_controls "$OUT/call.out"
	done
	# Nothing was pinned.
	refute_contains "$(cat "$(user_home bob)/contacts" 2>/dev/null)" "$EVIL"
	refute_contains "$(cat "$(user_home bob)/contacts" 2>/dev/null)" "$NAMED"
}

@test "a peer's text and file name reach smvs-recv escaped: no raw control character in plain, --follow or --json output" {
	BOB=$(user bob) MALLORY=$(user mallory)
	start_host bob
	start_host mallory
	as_user bob smvs-recv --follow >"$OUT/follow.out" 2>"$OUT/follow.err" &
	DAEMONS+=($!)
	hostile=$'hi\e]0;owned\a\e[2J\r\x7f\xc2\x9b31m\xe2\x80\xaetxt.exe'
	printf '%s' "$hostile" | as_user mallory smvs-send --wait --timeout 20s bob
	printf 'data' >"$OUT/payload"
	as_user mallory smvs-send --wait --timeout 20s --file "$OUT/payload" --name $'notes\e[2J\xe2\x80\xaefdp.exe' bob

	as_user bob smvs-recv >"$OUT/plain.out" 2>"$OUT/plain.err"
	as_user bob smvs-recv --json >"$OUT/json.out" 2>"$OUT/json.err"
	eventually 10 grep -q 'file notes' "$OUT/follow.out"
	assert_contains "$(cat "$OUT/plain.out")" 'hi\x1b]0;owned\x07\x1b[2J\r\x7f\u009b31m\u202etxt.exe'
	assert_contains "$(cat "$OUT/plain.out")" 'file notes\x1b[2J\u202efdp.exe'
	assert_equal "$(jq -r 'select(.kind == "text") | .text' "$OUT/json.out")" "$hostile"
	no_raw_controls "$OUT/plain.out" "$OUT/plain.err" "$OUT/json.out" "$OUT/json.err" "$OUT/follow.out" "$OUT/follow.err"
	# The hint of --raw on a terminal is no test here: recv refuses a
	# terminal only, and bats gives it none.
}
