# What a newcomer meets when something is off: the errors and hints of
# smvs-send and smvs-register, as separate processes on 127.0.0.1, every
# user in an SMVS_HOME of their own.

setup() {
	load helpers
	smvs_setup
	start_dird dir && use_dird
}

teardown() {
	stop_daemons
}

# hints prints the hint lines of the last run's standard error.
hints() {
	grep ': hint: ' <<<"$stderr" || true
}

# mistype KEY prints KEY with one character replaced by another, as a slip
# of the finger does.
mistype() {
	local c=q
	[ "${1:20:1}" != q ] || c=p
	printf '%s\n' "${1:0:20}$c${1:21}"
}

# refute_name_hints fails if the last run's standard error has a hint
# meant for names.
refute_name_hints() {
	refute_contains "$stderr" "3 to 32"
	refute_contains "$stderr" "invalid name"
	refute_contains "$stderr" "smvs-register add"
	refute_contains "$stderr" "smvs-register lookup"
}

# days_from_now TIME prints how many whole days from now the RFC 3339 TIME is.
days_from_now() {
	echo $((($(date -u -d "$1" +%s) - $(date -u +%s) + 3600) / 86400))
}

@test "an unknown recipient gets one hint" {
	user alice >/dev/null
	start_host alice
	run -3 --separate-stderr as_user alice smvs-send carol <<<"hi"
	assert_contains "$stderr" 'smvs-send: error: unknown recipient "carol"'
	assert_equal "$(hints | wc -l)" 1
}

@test "--wait=5m is a usage error that points at --timeout" {
	run -2 --separate-stderr smvs-send --wait=5m bob <<<"hi"
	assert_equal "$stderr" 'smvs-send: error: --wait takes no value, but was given "5m"
smvs-send: hint: did you mean --timeout 5m? (how long --wait waits)
smvs-send: hint: see '"'smvs-send --help'"
	run -2 --separate-stderr smvs-register lookup --json=yes bob
	assert_contains "$stderr" 'smvs-register: error: --json takes no value, but was given "yes"'
}

@test "a mistyped key is said to be one, to smvs-send and smvs-register alike" {
	user alice >/dev/null
	bob=$(user bob)
	start_host alice
	typo=$(mistype "$bob")

	run -3 --separate-stderr as_user alice smvs-send "$typo" <<<"hi"
	assert_contains "$stderr" "smvs-send: error: malformed key \"$typo\": its checksum does not match, so it was probably mistyped"
	assert_contains "$stderr" "smvs-send: hint: copy the key again"
	refute_name_hints

	run -2 --separate-stderr as_user alice smvs-register add bob "$typo"
	assert_contains "$stderr" "smvs-register: error: malformed key \"$typo\": its checksum does not match"
	refute_name_hints
	run -2 --separate-stderr as_user alice smvs-register lookup "${bob:0:50}"
	assert_contains "$stderr" "smvs-register: error: malformed key \"${bob:0:50}\": it has 50 characters where a key has 63"
	refute_name_hints
	run -2 --separate-stderr as_user alice smvs-register add "$typo" bob
	assert_contains "$stderr" "looks like a key, not a name: give NAME smvs1..."

	[ ! -s "$(user_home alice)/contacts" ] || fail "contacts: $(cat "$(user_home alice)/contacts")"
}

@test "looking up one's own name shows one's record and pins no one" {
	alice=$(user alice)
	run -0 as_user alice smvs-register publish --host 127.0.0.1:7001 alice

	run -0 --separate-stderr as_user alice smvs-register lookup alice
	assert_contains "$output" "id:          $alice"
	assert_contains "$output" "verified:    not needed: this is you, your own identity key"
	refute_contains "$stderr" "pinned"
	refute_contains "$stderr" "safety numbers"
	run -0 as_user alice smvs-register lookup --json "$alice"
	assert_contains "$output" '"self":true'
	run -1 --separate-stderr as_user alice smvs-register verify alice
	assert_contains "$stderr" "smvs-register: error: alice is you"
	[ ! -s "$(user_home alice)/contacts" ] || fail "contacts: $(cat "$(user_home alice)/contacts")"
}

@test "a record lasts 90 days from smvs-register publish, and 30 days as a running smvs-hostd renews it" {
	user alice >/dev/null
	run -0 as_user alice smvs-register publish --host 127.0.0.1:7001 alice
	run -0 as_user alice smvs-register lookup --json alice
	[[ $output =~ \"expires\":\"([^\"]+)\" ]] || fail "no expiry in: $output"
	assert_equal "$(days_from_now "${BASH_REMATCH[1]}")" 90

	start_host alice
	# The host republishes at start: 30 days, with its own address.
	eventually 10 bash -c "SMVS_HOME='$(user_home alice)' smvs-register lookup --json alice | grep -qF '\"host\":\"$HOST_ADDR\"'"
	run -0 as_user alice smvs-register lookup --json alice
	[[ $output =~ \"expires\":\"([^\"]+)\" ]] || fail "no expiry in: $output"
	assert_equal "$(days_from_now "${BASH_REMATCH[1]}")" 30
}
