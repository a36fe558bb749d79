# The file layout: every user in an explicit SMVS_HOME with the hosts' stores
# at their defaults (no --data), as the README's first story has it; stores
# and link files under the names older versions gave them; and the start
# failures that name the file or the name at stake.

setup() {
	load helpers
	smvs_setup
	start_dird dir && use_dird
}

teardown() {
	stop_daemons
}

# stop_host PID stops a host the test started.
stop_host() {
	kill -TERM "$1"
	wait "$1" || fail "smvs-hostd exited with status $?"
}

# delivered USER TEXT succeeds once USER's history shows TEXT delivered to bob.
delivered() {
	as_user "$1" smvs-recv | grep -q "> bob (delivered): $2\$"
}

@test "the first story with an explicit SMVS_HOME and no --data: echo hi | smvs-send bob, then smvs-recv" {
	user alice >/dev/null && user bob >/dev/null
	start_host alice
	start_host bob
	as_user bob smvs-recv --follow >"$BATS_TEST_TMPDIR/follow" 2>"$BATS_TEST_TMPDIR/follow.err" 3>&- &
	DAEMONS+=($!)

	run -0 --separate-stderr as_user alice bash -c 'echo hi | smvs-send bob'
	assert_equal "$stderr" ""
	# alice is no contact of bob's yet: her key, and the name she claims.
	eventually 10 grep -Eq ' < smvs1[a-z0-9]+…( \(says alice\))?: hi$' "$BATS_TEST_TMPDIR/follow"
	eventually 10 delivered alice hi
	run -0 as_user bob smvs-recv
	assert_contains "$output" "… (says alice): hi"

	# Each store is store in its SMVS home; nothing is named host.
	for name in alice bob; do
		[ -d "$(user_home "$name")/store" ] || fail "no store in $name's SMVS home"
		[ "$(file_mode "$(user_home "$name")/store")" = 700 ]
		[ ! -e "$(user_home "$name")/host" ] || fail "$name's SMVS home has a host"
	done
}

@test "a store at the old path \$SMVS_HOME/host: the host starts without --data, moves it once, keeps its history" {
	user alice >/dev/null && user bob >/dev/null
	home=$(user_home alice)
	start_host bob
	# An older smvs-hostd kept its store in $SMVS_HOME/host.
	start_host alice --data "$home/host"
	old_pid=$HOST_PID
	run -0 as_user alice smvs-send --wait bob <<<"before the move"
	run -0 as_user alice smvs-send --wait bob <<<"and another"
	stop_host "$old_pid"
	[ -d "$home/host" ] && [ ! -e "$home/store" ]

	start_host alice
	pid=$HOST_PID
	assert_contains "$(cat "$home/hostd.out.log")" \
		"msg=\"moved the message store from where an older version kept it\" from=$home/host to=$home/store"
	[ -d "$home/store" ] && [ ! -e "$home/host" ]
	run -0 as_user alice smvs-recv
	assert_contains "$output" "> bob (delivered): before the move"
	assert_contains "$output" "> bob (delivered): and another"
	# The same home, now no longer confused with a link file.
	run -0 --separate-stderr as_user alice bash -c 'echo hi | smvs-send bob'
	eventually 10 bash -c "SMVS_HOME='$(user_home bob)' smvs-recv | grep -q ' hi\$'"

	# Once: the next start moves nothing and says nothing of it.
	stop_host "$pid"
	: >"$home/hostd.out.log"
	start_host alice
	pid=$HOST_PID
	refute_contains "$(cat "$home/hostd.out.log")" "older version"

	# A store at both paths: the new one is used, the old one left alone.
	stop_host "$pid"
	mkdir -m 700 "$home/host"
	printf 'not touched\n' >"$home/host/messages.db"
	start_host alice
	assert_contains "$(cat "$home/hostd.out.log")" "store=$home/store old=$home/host"
	assert_equal "$(cat "$home/host/messages.db")" "not touched"
	run -0 as_user alice smvs-recv
	assert_contains "$output" "> bob"
	assert_contains "$output" "before the move"
}

@test "a device linked under the old layout, its link file named host, still works; unlink removes it, never a directory" {
	user alice >/dev/null && user bob >/dev/null
	start_host alice
	start_host bob
	run -0 as_user alice smvs-send bob <<<"from the desk"
	link_device alice laptop
	laptop=$(user_home laptop)
	[ "$(file_mode "$laptop/link")" = 600 ]
	[ ! -e "$laptop/host" ]

	# As an older smvs-device wrote it.
	mv "$laptop/link" "$laptop/host"
	run -0 as_user laptop smvs-recv
	assert_contains "$output" "> bob"
	assert_contains "$output" "from the desk"
	run -0 as_user laptop smvs-send bob <<<"from the laptop"
	eventually 10 bash -c "SMVS_HOME='$(user_home bob)' smvs-recv | grep -q 'from the laptop'"

	# A broken link file is named, and no hint says to remove anything.
	cp "$laptop/host" "$BATS_TEST_TMPDIR/host.good"
	printf 'address nowhere\n' >"$laptop/host"
	run -1 --separate-stderr as_user laptop smvs-recv
	assert_contains "$stderr" "reading this device's link to its host: $laptop/host"
	assert_contains "$stderr" "hint: $laptop/host is this device's link to its host"
	refute_contains "$stderr" "remove"
	cp "$BATS_TEST_TMPDIR/host.good" "$laptop/host"

	run -0 as_user laptop smvs-device unlink
	[ ! -e "$laptop/host" ] && [ ! -e "$laptop/link" ]
	# A directory named host is not a link file: unlink leaves it, and the
	# commands look for the host's socket.
	mkdir "$laptop/host"
	run -1 --separate-stderr as_user laptop smvs-device unlink
	assert_contains "$stderr" "not linked"
	[ -d "$laptop/host" ]
	run -5 --separate-stderr as_user laptop smvs-recv
	refute_contains "$stderr" "is a directory"
}

@test "a second host on the same home with another --socket: a clear error, a hint, no file left behind" {
	user alice >/dev/null
	home=$(user_home alice)
	start_host alice
	pid=$HOST_PID
	mkdir -m 700 "$BATS_TEST_TMPDIR/other"
	# The identity's lock is taken first: one process owns an identity.
	run -6 --separate-stderr as_user alice timeout 20 smvs-hostd --listen 127.0.0.1:0 --socket "$BATS_TEST_TMPDIR/other/host.sock"
	assert_equal "$output" ""
	assert_contains "$stderr" "smvs-hostd: error: the identity $home/identity is in use by process $pid"
	assert_contains "$stderr" "smvs-hostd: hint:"
	assert_equal "$(ls -A "$BATS_TEST_TMPDIR/other")" ""
	run -6 --separate-stderr as_user alice timeout 20 smvs-hostd --listen 127.0.0.1:0
	assert_contains "$stderr" "is in use by process $pid"
	stop_host "$pid"
	assert_equal "$(ls -A "$home" | grep -c '^host\.sock')" 0
}

@test "smvs-hostd --name alice when the directory has another key holding alice fails at start, before serving" {
	ALICE=$(user alice)
	user mallory >/dev/null
	start_host alice
	# (A host that starts anyway would serve until timeout ends it.)
	run -5 --separate-stderr as_user mallory timeout 20 smvs-hostd --listen 127.0.0.1:0 --name alice
	assert_equal "$output" ""
	assert_contains "$stderr" "smvs-hostd: error: the name \"alice\" is taken: the directory $DIR_URL serves it for $ALICE"
	assert_contains "$stderr" "smvs-hostd: hint: the first key to claim a name keeps it while its record is fresh: choose another --name"
	[ ! -e "$(user_home mallory)/host.sock" ] || fail "a host refused at start made its socket"
	[ ! -e "$(user_home mallory)/store" ] || fail "a host refused at start made its store"
	# The holder itself restarts under its name.
	run -0 as_user alice smvs-register lookup alice
	start_host mallory --name mallory
}
