# Shared helpers of the end-to-end tests. Each .bats file starts with
#
#	setup() {
#		load helpers
#		smvs_setup
#	}
#
# The tests run the real binaries in bin/ (`make build`) as separate
# processes; each test gets a world of its own under $BATS_TEST_TMPDIR.

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

# stop_daemons stops every daemon the test started (teardown calls it).
stop_daemons() {
	local pid
	for pid in "${DAEMONS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
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
start_dird() {
	local name=$1 out
	shift
	out=$BATS_TEST_TMPDIR/$name.out
	smvs-dird --listen 127.0.0.1:0 --data "$BATS_TEST_TMPDIR/$name" "$@" >"$out" 2>"$out.log" 3>&- &
	DAEMONS+=($!)
	wait_for_line "$out" "${DAEMONS[-1]}" smvs-dird
	read -r _ _ _ DIR_URL _ DIR_PIN <"$out" || fail "no start line from smvs-dird"
	[[ $DIR_URL == https://127.0.0.1:* ]] || fail "start line: $(cat "$out")"
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
# of 127.0.0.1 with its data in the user's SMVS_HOME, publishing under NAME
# to the directory in SMVS_DIR, and sets HOST_PID, HOST_ADDR and
# HOST_SOCKET. Its log is $(user_home NAME)/hostd.out.log.
start_host() {
	local name=$1 home out
	shift
	home=$(user_home "$name")
	out=$home/hostd.out
	: >"$out"
	SMVS_HOME=$home smvs-hostd --listen 127.0.0.1:0 --data "$home/data" --name "$name" \
		--backoff-min 50ms --backoff-max 500ms "$@" >"$out" 2>>"$out.log" 3>&- &
	HOST_PID=$!
	DAEMONS+=("$HOST_PID")
	wait_for_line "$out" "$HOST_PID" "smvs-hostd of $name"
	read -r _ _ _ HOST_ADDR _ _ _ HOST_SOCKET <"$out" || fail "no start line from smvs-hostd"
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
