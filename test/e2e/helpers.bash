# Shared helpers of the end-to-end tests. Each .bats file starts with
#
#	setup() {
#		load helpers
#		smvs_setup
#	}
#
# and ends with
#
#	teardown() {
#		stop_daemons
#	}
#
# The tests run the real binaries in bin/ (`make build`) as separate
# processes; each test gets a world of its own under $BATS_TEST_TMPDIR.
# No test may leave a process behind: stop_daemons fails a test that did
# (see check_no_leftovers), and setup_suite.bash checks the whole run.

# run -N (check the exit status) and run --separate-stderr need bats 1.5.
bats_require_minimum_version 1.5.0

# smvs_setup puts bin/ first on PATH and gives the test its own HOME, XDG
# directories and SMVS_HOME, with no SMVS setting left from the caller's
# environment.
smvs_setup() {
	local bin="$BATS_TEST_DIRNAME/../../bin"
	if [ ! -x "$bin/smvs-keygen" ]; then
		echo "no binaries in bin/: run 'make build' first" >&2
		return 1
	fi
	PATH="$(cd "$bin" && pwd):$PATH"

	local var
	for var in "${!SMVS_@}"; do
		unset "$var"
	done
	export HOME="$BATS_TEST_TMPDIR/home"
	export XDG_CONFIG_HOME="$HOME/.config"
	export XDG_DATA_HOME="$HOME/.local/share"
	export XDG_CACHE_HOME="$HOME/.cache"
	export XDG_RUNTIME_DIR="$BATS_TEST_TMPDIR/run"
	export SMVS_HOME="$BATS_TEST_TMPDIR/smvs"
	mkdir -p "$HOME"
	mkdir -m 700 -p "$XDG_RUNTIME_DIR"
	DAEMONS=()
}

# stop_daemons stops every daemon the test started, each with what it
# started in turn (`as_user NAME smvs-recv --follow &` is a subshell with
# smvs-recv in it), then checks that nothing else of the test is left
# running. Teardown calls it.
stop_daemons() {
	local pid tree
	tree=$(process_tree "${DAEMONS[@]}")
	# shellcheck disable=SC2086 # one pid a word
	kill -TERM $tree 2>/dev/null || true
	for pid in "${DAEMONS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	# shellcheck disable=SC2086
	wait_gone 10 $tree || true # check_no_leftovers kills what is left
	DAEMONS=()
	check_no_leftovers
}

# check_no_leftovers kills every process the test started that is still
# running, and fails a test that passed so far if there was one: a test
# stops what it starts. A process is the test's when its arguments or
# environment name $BATS_TEST_TMPDIR (bats gives every command a test runs
# BATS_TEST_TMPDIR) or it runs under the test's shell.
check_no_leftovers() {
	local left
	TEST_TREE=" $(process_tree $$) "
	TEST_TREE=${TEST_TREE//$'\n'/ }
	left=$(processes_where of_this_test)
	[ -n "$left" ] || return 0
	kill_listed "$left"
	if [ -n "${BATS_TEST_COMPLETED:-}" ]; then
		fail "$(printf 'the test left these processes running (now killed):\n%s' "$left")"
	else
		printf 'killed what the failed test left running:\n%s\n' "$left" >&2
	fi
}

# The helpers below that look at every process do it with a few grep and
# awk processes rather than a loop in the shell: bats runs a trap before
# each command of a test's shell, which makes a loop over every process
# take seconds.

# of_this_test PID... prints those PIDs that are the test's, for
# processes_where: see check_no_leftovers.
of_this_test() {
	# An empty pattern would name every process of the machine.
	local dir
	dir=$(ere_quote "${BATS_TEST_TMPDIR:-}")
	[ -n "$dir" ] || return 0
	# Test 1's directory is not test 10's.
	proc_grep -E "$dir([^0-9]|\$)" cmdline environ "$@"
	awk -v tree="$TEST_TREE" 'BEGIN {
		n = split(tree, pids, " ")
		for (i = 1; i <= n; i++) in_tree[pids[i]] = 1
		for (i = 1; i < ARGC; i++) if (ARGV[i] in in_tree) print ARGV[i]
		exit
	}' "$@"
}

# of_this_run PID... prints those PIDs that a test or a setup_file of this
# bats run started, other than bats' own, for processes_where.
of_this_run() {
	local dir
	dir=$(ere_quote "${BATS_RUN_TMPDIR:-}")
	[ -n "$dir" ] || return 0 # see of_this_test
	{
		proc_grep -E "^BATS_TEST_TMPDIR=$dir/" environ "$@"
		proc_grep -F "$BATS_RUN_TMPDIR/" cmdline "$@"
	} | grep -vxFf <(proc_grep -F "$BATS_LIBEXEC/" cmdline "$@")
}

# proc_grep -E|-F PATTERN FILE... PID... prints each PID one of whose
# /proc/PID/FILE (cmdline, environ) has a value, an argument or a
# variable, that matches PATTERN.
proc_grep() {
	local how=$1 pattern=$2 files=() file
	shift 2
	while [ $# -gt 0 ] && [[ $1 != [0-9]* ]]; do
		files+=("$1")
		shift
	done
	[ $# -gt 0 ] || return 0
	local dirs=("${@/#//proc/}") paths=()
	for file in "${files[@]}"; do
		paths+=("${dirs[@]/%//$file}")
	done
	grep -lz "$how" -e "$pattern" -- "${paths[@]}" 2>/dev/null | cut -d/ -f3 || true
}

# ere_quote TEXT prints TEXT as an extended regular expression that
# matches it literally.
ere_quote() {
	sed 's/[][\.*^$+?(){}|]/\\&/g' <<<"$1"
}

# processes_where PREDICATE prints "PID ARGS" for each running process
# that `PREDICATE PID...` (of_this_test, of_this_run) names, other than the
# caller's shell. Linux only: elsewhere it prints nothing.
processes_where() {
	[ -d /proc/self ] || return 0
	# Only the processes running now: none that this function starts.
	local procs=(/proc/[0-9]*) pid args
	procs=("${procs[@]#/proc/}")
	for pid in $("$1" "${procs[@]}" | sort -un); do
		[ "$pid" != "$BASHPID" ] && [ "$pid" != $$ ] || continue
		args=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
		[ -n "$args" ] || continue # a zombie or a kernel thread
		printf '%s %s\n' "$pid" "${args% }"
	done
}

# kill_listed LIST kills the processes of LIST, as processes_where prints
# it: SIGTERM, and SIGKILL for those still running 5 s later.
kill_listed() {
	local -a pids
	mapfile -t pids < <(cut -d' ' -f1 <<<"$1")
	kill -TERM "${pids[@]}" 2>/dev/null || true
	wait_gone 5 "${pids[@]}" || kill -KILL "${pids[@]}" 2>/dev/null || true
	local pid
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true # reap the test's own children
	done
}

# process_tree PID... prints the PIDs and those of all their descendants.
process_tree() {
	[ $# -gt 0 ] || return 0
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v roots="$*" '
		{
			rest = $0
			sub(/.*\) /, "", rest) # after the command name, which may hold spaces
			split(rest, f, " ")     # the state, then the parent
			children[f[2]] = children[f[2]] " " $1
		}
		END {
			n = split(roots, queue, " ")
			for (i = 1; i <= n; i++) {
				print queue[i]
				m = split(children[queue[i]], kids, " ")
				for (j = 1; j <= m; j++) queue[++n] = kids[j]
			}
		}'
}

# wait_gone SECONDS PID... waits up to SECONDS for the processes to exit,
# failing if one is still running after that. A zombie counts as gone.
wait_gone() {
	local limit=$1 pid i line state
	shift
	for pid in "$@"; do
		for ((i = 0; i < limit * 20; i++)); do
			{ read -r line <"/proc/$pid/stat"; } 2>/dev/null || break
			state=${line##*) }
			[ "${state%% *}" != Z ] || break
			sleep 0.05
		done
		[ "$i" -lt $((limit * 20)) ] || return 1
	done
}

# wait_for_line FILE PID NAME waits up to 10 s for the start line of daemon
# NAME (process PID) in FILE, failing early if the daemon exits.
wait_for_line() {
	local i
	for i in $(seq 100); do
		[ -s "$1" ] && return 0
		kill -0 "$2" 2>/dev/null || fail "$3 exited: $(cat "$1.log" 2>/dev/null)"
		sleep 0.1
	done
	fail "no start line from $3"
}

# fail prints its arguments on stderr and fails the test.
fail() {
	printf '%s\n' "$*" >&2
	return 1
}

# assert_equal ACTUAL EXPECTED fails unless the two strings are equal.
assert_equal() {
	[ "$1" = "$2" ] || fail "$(printf 'got:\n%s\nwant:\n%s' "$1" "$2")"
}

# assert_contains TEXT PART fails unless TEXT contains PART.
assert_contains() {
	[[ $1 == *"$2"* ]] || fail "$(printf 'want %q in:\n%s' "$2" "$1")"
}

# refute_contains TEXT PART fails if TEXT contains PART.
refute_contains() {
	[[ $1 != *"$2"* ]] || fail "$(printf 'do not want %q in:\n%s' "$2" "$1")"
}

# assert_matches TEXT REGEX fails unless TEXT matches the extended regular
# expression REGEX.
assert_matches() {
	[[ $1 =~ $2 ]] || fail "$(printf 'want a match for %s in:\n%s' "$2" "$1")"
}

# file_mode FILE prints the permission bits of FILE in octal, as 600.
file_mode() {
	stat -c %a "$1" 2>/dev/null || stat -f %Lp "$1"
}

# user_home NAME prints the SMVS_HOME of user NAME, for tests with several
# users; see as_user.
user_home() {
	printf '%s\n' "$BATS_TEST_TMPDIR/users/$1"
}

# as_user NAME COMMAND... runs COMMAND with the SMVS_HOME of user NAME.
as_user() {
	local name=$1
	shift
	SMVS_HOME="$(user_home "$name")" "$@"
}

# new_identity [FILE] makes an identity in FILE (default: the identity in
# $SMVS_HOME) with no passphrase, and prints its public id.
new_identity() {
	local file=${1:-$SMVS_HOME/identity} err
	err=$(smvs-keygen -o "$file" 2>&1) || fail "smvs-keygen -o $file: $err"
	[[ $err =~ ^Public\ id:\ (smvs1[a-z0-9]+)$ ]] || fail "smvs-keygen -o $file said: $err"
	printf '%s\n' "${BASH_REMATCH[1]}"
}

# start_dird NAME [FLAG...] starts a directory with its data in
# $BATS_TEST_TMPDIR/NAME on a random port and sets DIR_URL and DIR_PIN.
# It runs in the network namespace RUN_IN names, if set, on RUN_ADDR
# (netlab.bash: netlab_dird); else on 127.0.0.1.
start_dird() {
	local name=$1 out addr=${RUN_ADDR:-127.0.0.1}
	shift
	out=$BATS_TEST_TMPDIR/$name.out
	run_in smvs-dird --listen "$addr:0" --data "$BATS_TEST_TMPDIR/$name" "$@" >"$out" 2>"$out.log" 3>&- &
	DAEMONS+=($!)
	wait_for_line "$out" "${DAEMONS[-1]}" smvs-dird
	read -r _ _ _ DIR_URL _ DIR_PIN <"$out" || fail "no start line from smvs-dird"
	[[ $DIR_URL == "https://$addr:"* ]] || fail "start line: $(cat "$out")"
}

# run_in COMMAND... execs COMMAND, in the network namespace RUN_IN names if
# set: call it in the background (run_in smvs-hostd ... &), whose process
# it becomes, so that $! is the daemon's.
run_in() {
	if [ -n "${RUN_IN:-}" ]; then
		exec ip netns exec "$RUN_IN" "$@"
	fi
	exec "$@"
}

# use_dird points smvs-register at the directory start_dird started last.
use_dird() {
	export SMVS_DIR=$DIR_URL SMVS_DIR_PIN=$DIR_PIN
}

# user NAME makes user NAME's identity and prints its public id.
user() {
	mkdir -p "$(user_home "$1")"
	as_user "$1" new_identity "$(user_home "$1")/identity"
}

# start_host NAME [FLAG...] starts user NAME's smvs-hostd on a random port
# of 127.0.0.1 with its store where it keeps it by default (store in the
# user's SMVS_HOME, as the README's first story has it), publishing under NAME
# to the directory in SMVS_DIR, and sets HOST_PID, HOST_ADDR and
# HOST_SOCKET. Its log is $(user_home NAME)/hostd.out.log. It runs in the
# network namespace RUN_IN names, if set, on RUN_ADDR (netlab.bash:
# netlab_host).
start_host() {
	local name=$1 home out
	shift
	home=$(user_home "$name")
	out=$home/hostd.out
	: >"$out"
	SMVS_HOME=$home run_in smvs-hostd --listen "${RUN_ADDR:-127.0.0.1}:0" --name "$name" \
		--backoff-min 50ms --backoff-max 500ms "$@" >"$out" 2>>"$out.log" 3>&- &
	HOST_PID=$!
	DAEMONS+=("$HOST_PID")
	wait_for_line "$out" "$HOST_PID" "smvs-hostd of $name"
	read -r _ _ _ HOST_ADDR _ _ _ HOST_SOCKET <"$out" || fail "no start line from smvs-hostd"
}

# alice_and_bob makes users alice and bob and starts their hosts with
# FLAG...; it sets ALICE, BOB (their ids) and ALICE_ADDR, ALICE_PID,
# BOB_ADDR, BOB_PID.
alice_and_bob() {
	ALICE=$(user alice) BOB=$(user bob)
	start_host alice "$@"
	ALICE_ADDR=$HOST_ADDR ALICE_PID=$HOST_PID
	start_host bob "$@"
	BOB_ADDR=$HOST_ADDR BOB_PID=$HOST_PID
}

# json_field JSON NAME prints the string field NAME of one JSON object.
json_field() {
	sed -n "s/.*\"$2\":\"\([^\"]*\)\".*/\1/p" <<<"$1"
}

# new_device DEVICE makes the SMVS home of device DEVICE with a device key.
new_device() {
	mkdir -p "$(user_home "$1")"
	run -0 as_user "$1" smvs-keygen --device -o "$(user_home "$1")/device"
}

# pair OWNER [FLAG...] makes a pairing code on OWNER's host; sets CODE,
# PAIR_ADDR and PAIR_ID.
pair() {
	local owner=$1 out
	shift
	out=$(as_user "$owner" smvs-device pair --json "$@") || fail "smvs-device pair: $out"
	CODE=$(json_field "$out" code) PAIR_ADDR=$(json_field "$out" address) PAIR_ID=$(json_field "$out" identity)
	[ -n "$CODE" ] || fail "pair printed: $out"
}

# link_device OWNER DEVICE links a new device DEVICE to OWNER's host.
link_device() {
	new_device "$2"
	pair "$1" --name "$2"
	run -0 as_user "$2" smvs-device link "$PAIR_ADDR" "$PAIR_ID" "$CODE"
	assert_contains "$output" "linked as $2 to $PAIR_ID at $PAIR_ADDR"
}

# out_status USER TEXT prints the delivery status of USER's outgoing
# message TEXT (queued, sent, delivered...).
out_status() {
	as_user "$1" smvs-recv --json | jq -r --arg t "$2" 'select(.event == "message" and .direction == "out" and .text == $t) | .status'
}

# was_delivered USER TEXT succeeds once USER's outgoing message TEXT is
# delivered.
was_delivered() {
	[ "$(out_status "$1" "$2")" = delivered ]
}

# eventually SECONDS COMMAND... runs COMMAND every 0.1 s until it succeeds,
# failing the test after SECONDS.
eventually() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || fail "still failing after the time limit: $*"
		sleep 0.1
	done
}

# move_to_new_machine USER PID ADDR stops USER's host (process PID) and
# starts a fresh one for the same identity at the same address ADDR: a new
# SMVS home holding only the identity and the contacts file, and an empty
# store. The old home is kept beside it; HOST_PID is the new host's.
move_to_new_machine() {
	local home old
	home=$(user_home "$1")
	kill -TERM "$2" && wait "$2" || true
	old=$home.old$((++MOVES))
	mv "$home" "$old"
	mkdir -m 700 "$home"
	cp -p "$old/identity" "$home/identity"
	[ ! -e "$old/contacts" ] || cp -p "$old/contacts" "$home/contacts"
	start_host "$1" --listen "$3"
}
