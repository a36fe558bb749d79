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
