# The systemd unit examples in scripts/systemd: each verifies
# (systemd-analyze verify), and each system unit's sandbox rates OK or
# better in systemd-analyze security, offline (no systemd runs here).

setup() {
	load helpers
	smvs_setup
	UNITS=$BATS_TEST_DIRNAME/../../scripts/systemd
}

teardown() {
	stop_daemons
}

# staged UNIT [DIR] copies UNIT into DIR (default: the test's directory),
# its ExecStart pointing at the binary just built, which verify wants to
# find, and prints the copy's path.
staged() {
	local dir=${2:-$BATS_TEST_TMPDIR} bin
	bin=$(dirname "$(command -v smvs-hostd)")
	mkdir -p "$dir"
	sed "s|/usr/local/bin/|$bin/|g" "$1" >"$dir/$(basename "$1")"
	printf '%s\n' "$dir/$(basename "$1")"
}

@test "the system units verify, and systemd-analyze security rates each sandbox OK or better (exposure 1.5 at most)" {
	local unit copy score
	for unit in "$UNITS"/*.service; do
		copy=$(staged "$unit")
		run -0 systemd-analyze verify --man=no "$copy"
		assert_equal "$output" ""
		run systemd-analyze security --offline=yes --threshold=15 "$copy"
		score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) .*/\1/p' <<<"$output")
		[ "$status" -eq 0 ] && [ -n "$score" ] || fail "$(basename "$unit"): exposure ${score:-unknown}: $output"
		echo "$(basename "$unit"): exposure $score" >&3
	done
	# Each runs as a user of its own, and with no capability.
	for unit in "$UNITS"/*.service; do
		grep -qE '^(DynamicUser=yes|User=smvs-)' "$unit" || fail "$(basename "$unit") runs as root"
		grep -qx 'CapabilityBoundingSet=' "$unit" || fail "$(basename "$unit") keeps capabilities"
		grep -qx 'ProtectSystem=strict' "$unit" || fail "$(basename "$unit") may write the system"
		grep -qx 'NoNewPrivileges=yes' "$unit" || fail "$(basename "$unit") may gain privileges"
	done
}

@test "the user unit verifies as a user unit" {
	local copy
	copy=$(staged "$UNITS/user/smvs-hostd.service")
	XDG_RUNTIME_DIR=$BATS_TEST_TMPDIR run -0 systemd-analyze verify --man=no --user "$copy"
	assert_equal "$output" ""
}
