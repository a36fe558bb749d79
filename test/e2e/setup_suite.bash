# The whole run of the end-to-end tests, around every .bats file in this
# directory: bats loads this file by itself.

load helpers

# setup_suite has nothing to do; bats requires it of this file.
setup_suite() {
	:
}

# teardown_suite fails the run if a process a test or a setup_file started
# is still running once every file is done, and kills it.
teardown_suite() {
	local left
	left=$(processes_where of_this_run)
	[ -n "$left" ] || return 0
	kill_listed "$left"
	fail "$(printf 'the tests left these processes running (now killed):\n%s' "$left")"
}
