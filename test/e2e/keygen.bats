#!/usr/bin/env bats
# smvs-keygen: making keys, reading them back, and refusing bad ones.

setup() {
	load helpers
	smvs_setup
}

teardown() {
	stop_daemons
}

@test "keygen writes a new identity to a 0600 file and prints its public id" {
	run -0 --separate-stderr smvs-keygen -o "$SMVS_HOME/identity"
	assert_matches "$stderr" '^Public id: smvs1[a-z0-9]{58}$'
	assert_equal "$output" ""
	assert_equal "$(file_mode "$SMVS_HOME/identity")" 600
	assert_equal "$(file_mode "$SMVS_HOME")" 700
	assert_equal "$(sed -n 2p "$SMVS_HOME/identity")" "# public id: ${stderr#Public id: }"
	assert_matches "$(sed -n 3p "$SMVS_HOME/identity")" '^SMVS-IDENTITY-SECRET-1[0-9A-Z]+$'
	assert_matches "$(sed -n 4p "$SMVS_HOME/identity")" '^SMVS-KEM-SECRET-1[0-9A-Z]+$'
}

@test "keygen refuses to overwrite an existing key file, which stays as it was" {
	new_identity "$BATS_TEST_TMPDIR/identity" >/dev/null
	cp -p "$BATS_TEST_TMPDIR/identity" "$BATS_TEST_TMPDIR/before"

	run -1 --separate-stderr smvs-keygen -o "$BATS_TEST_TMPDIR/identity"
	assert_equal "${stderr_lines[0]}" "smvs-keygen: error: $BATS_TEST_TMPDIR/identity already exists; refusing to overwrite a key"
	assert_matches "${stderr_lines[1]}" '^smvs-keygen: hint: '
	cmp "$BATS_TEST_TMPDIR/identity" "$BATS_TEST_TMPDIR/before"

	run -1 --separate-stderr smvs-keygen --device --passphrase-fd 3 -o "$BATS_TEST_TMPDIR/identity" 3<<<"secret"
	assert_contains "$stderr" "already exists; refusing to overwrite a key"
	cmp "$BATS_TEST_TMPDIR/identity" "$BATS_TEST_TMPDIR/before"
}

@test "-y gives back the public id keygen printed" {
	id=$(new_identity)

	run -0 --separate-stderr smvs-keygen -y "$SMVS_HOME/identity"
	assert_equal "$output" "$id"
	assert_equal "$stderr" ""

	# FILE defaults to the identity in SMVS_HOME ...
	run -0 smvs-keygen -y
	assert_equal "$output" "$id"

	# ... which defaults to $XDG_CONFIG_HOME/smvs.
	mkdir -p "$XDG_CONFIG_HOME/smvs"
	mv "$SMVS_HOME/identity" "$XDG_CONFIG_HOME/smvs/identity"
	run -0 env -u SMVS_HOME smvs-keygen -y
	assert_equal "$output" "$id"

	# "-" reads standard input.
	run -0 smvs-keygen -y - <"$XDG_CONFIG_HOME/smvs/identity"
	assert_equal "$output" "$id"
}

@test "-y with no key file says how to make one" {
	run -1 --separate-stderr smvs-keygen -y
	assert_equal "${stderr_lines[0]}" "smvs-keygen: error: no key file at $SMVS_HOME/identity"
	assert_equal "${stderr_lines[1]}" "smvs-keygen: hint: make one with: smvs-keygen -o $SMVS_HOME/identity"
	assert_equal "$output" ""
}

@test "keygen prints a key on stdout that -y reads back" {
	run -0 --separate-stderr bash -c 'smvs-keygen | smvs-keygen -y -'
	assert_matches "$output" '^smvs1[a-z0-9]{58}$'
	assert_equal "$stderr" "Public id: $output"
}

@test "keygen warns when stdout is a file others can read" {
	umask 022
	run -0 --separate-stderr bash -c 'smvs-keygen >"$1"' _ "$BATS_TEST_TMPDIR/key"
	assert_contains "$stderr" "smvs-keygen: warning: writing the key to a file others can read (mode 0644)"
	assert_contains "$stderr" "smvs-keygen: hint: "

	umask 077
	run -0 --separate-stderr bash -c 'smvs-keygen >"$1"' _ "$BATS_TEST_TMPDIR/key2"
	refute_contains "$stderr" "warning"
	run -0 smvs-keygen -y "$BATS_TEST_TMPDIR/key2"
}

@test "a key file others can read is refused, with a hint to chmod 600" {
	id=$(new_identity)
	chmod 644 "$SMVS_HOME/identity"

	run -1 --separate-stderr smvs-keygen -y
	assert_equal "${stderr_lines[0]}" "smvs-keygen: error: $SMVS_HOME/identity is readable by others (mode 0644); refusing to use the key"
	assert_equal "${stderr_lines[1]}" "smvs-keygen: hint: if nobody else could have read it, run: chmod 600 $SMVS_HOME/identity"
	assert_equal "$output" ""

	chmod 600 "$SMVS_HOME/identity"
	run -0 smvs-keygen -y
	assert_equal "$output" "$id"
}

@test "a protected identity opens with the right passphrase from a file descriptor" {
	run -0 --separate-stderr smvs-keygen -o "$SMVS_HOME/identity" --passphrase-fd 3 3<<<"correct horse"
	id=${stderr#Public id: }
	assert_matches "$id" '^smvs1[a-z0-9]{58}$'
	assert_equal "$(file_mode "$SMVS_HOME/identity")" 600
	assert_equal "$(head -1 "$SMVS_HOME/identity")" "-----BEGIN AGE ENCRYPTED FILE-----"
	refute_contains "$(cat "$SMVS_HOME/identity")" "SECRET"

	run -0 --separate-stderr smvs-keygen -y --passphrase-fd 3 3<<<"correct horse"
	assert_equal "$output" "$id"
	assert_equal "$stderr" ""

	# From a pipe, only up to the first newline; a CRLF line ending works.
	run -0 bash -c 'printf "correct horse\r\nnot read\n" | smvs-keygen -y --passphrase-fd 0'
	assert_equal "$output" "$id"

	# From a file, and through the environment twin.
	printf 'correct horse\n' >"$BATS_TEST_TMPDIR/pw"
	chmod 600 "$BATS_TEST_TMPDIR/pw"
	run -0 smvs-keygen -y --passphrase-file "$BATS_TEST_TMPDIR/pw"
	assert_equal "$output" "$id"
	run -0 env SMVS_PASSPHRASE_FILE="$BATS_TEST_TMPDIR/pw" smvs-keygen -y
	assert_equal "$output" "$id"
}

@test "a wrong passphrase fails cleanly, and never shows the passphrase" {
	run -0 smvs-keygen -o "$SMVS_HOME/identity" --passphrase-fd 3 3<<<"correct horse"

	run -1 --separate-stderr smvs-keygen -y --passphrase-fd 3 3<<<"battery staple"
	assert_equal "$stderr" "smvs-keygen: error: wrong passphrase for $SMVS_HOME/identity"
	assert_equal "$output" ""

	run -1 --separate-stderr smvs-keygen -y --passphrase-fd 3 3<<<""
	assert_contains "$stderr" "empty passphrase"
	refute_contains "$stderr" "correct horse"
}

@test "a passphrase file others can read is refused" {
	printf 'correct horse\n' >"$BATS_TEST_TMPDIR/pw"
	chmod 644 "$BATS_TEST_TMPDIR/pw"
	run -1 --separate-stderr smvs-keygen --passphrase-file "$BATS_TEST_TMPDIR/pw" -o "$SMVS_HOME/identity"
	assert_contains "${stderr_lines[0]}" "passphrase file $BATS_TEST_TMPDIR/pw is readable by others (mode 0644)"
	assert_equal "${stderr_lines[1]}" "smvs-keygen: hint: if nobody else could have read it, run: chmod 600 $BATS_TEST_TMPDIR/pw"
	refute_contains "$stderr" "correct horse"
	[ ! -e "$SMVS_HOME/identity" ]
}

@test "with no terminal, asking for a passphrase fails with a hint" {
	# setsid: no controlling terminal, as under cron or in a container.
	run -1 --separate-stderr setsid -w smvs-keygen --passphrase -o "$SMVS_HOME/identity" </dev/null
	assert_equal "${stderr_lines[0]}" "smvs-keygen: error: no terminal to ask for the passphrase"
	assert_equal "${stderr_lines[1]}" "smvs-keygen: hint: give it with --passphrase-fd N or --passphrase-file FILE"
	[ ! -e "$SMVS_HOME/identity" ]
}

@test "the passphrase is asked twice on the terminal, and a mismatch is refused" {
	# script(1) runs the command on a new terminal fed from the pipe.
	run -0 bash -c 'printf "correct horse\ncorrect horse\n" | script -qec "smvs-keygen -p -o \"$1\"" /dev/null' _ "$SMVS_HOME/identity"
	assert_contains "$output" "Enter a passphrase for the new key:"
	assert_contains "$output" "Confirm passphrase:"
	run -0 smvs-keygen -y --passphrase-fd 3 3<<<"correct horse"
	assert_matches "$output" '^smvs1[a-z0-9]{58}$'

	run -1 bash -c 'printf "correct horse\nbattery staple\n" | script -qec "smvs-keygen -p -o \"$1\"" /dev/null' _ "$BATS_TEST_TMPDIR/other"
	assert_contains "$output" "smvs-keygen: error: the passphrases do not match"
	[ ! -e "$BATS_TEST_TMPDIR/other" ]
}

@test "a corrupted identity file gives a clear error" {
	new_identity >/dev/null
	key=$SMVS_HOME/identity
	bad=$BATS_TEST_TMPDIR/bad
	install -m 600 /dev/null "$bad"

	# One character of the secret changed: the bech32 checksum catches it.
	line=$(sed -n 3p "$key")
	char=${line:30:1}
	other=Q
	[ "$char" != Q ] || other=P
	{ sed -n 1,2p "$key"; printf '%s\n' "${line:0:30}$other${line:31}"; sed -n '4,$p' "$key"; } >"$bad"
	run -1 --separate-stderr smvs-keygen -y "$bad"
	assert_equal "${stderr_lines[0]}" "smvs-keygen: error: $bad is not a valid SMVS key file: line 3: secret key: bech32: checksum mismatch (mistyped?)"
	assert_equal "${stderr_lines[1]}" "smvs-keygen: hint: the file may be corrupted or truncated; restore it from a backup"

	# Truncated.
	head -c 150 "$key" >"$bad"
	run -1 --separate-stderr smvs-keygen -y "$bad"
	assert_contains "${stderr_lines[0]}" "smvs-keygen: error: $bad is not a valid SMVS key file: "
	assert_contains "${stderr_lines[1]}" "corrupted or truncated"

	# Empty.
	: >"$bad"
	run -1 --separate-stderr smvs-keygen -y "$bad"
	assert_contains "${stderr_lines[0]}" "is not a valid SMVS key file"

	# The public id line of another key.
	other_id=$(new_identity "$BATS_TEST_TMPDIR/other")
	{ sed -n 1p "$key"; echo "# public id: $other_id"; sed -n '3,$p' "$key"; } >"$bad"
	run -1 --separate-stderr smvs-keygen -y "$bad"
	assert_contains "${stderr_lines[0]}" "$bad is not a valid SMVS key file: line 2: "
	assert_contains "${stderr_lines[0]}" "does not match its secret key"
	refute_contains "$stderr" "SECRET"
}

@test "a corrupted protected identity file gives a clear error" {
	run -0 smvs-keygen -o "$SMVS_HOME/identity" --passphrase-fd 3 3<<<"correct horse"
	bad=$BATS_TEST_TMPDIR/bad
	install -m 600 /dev/null "$bad"
	head -c 200 "$SMVS_HOME/identity" >"$bad"
	run -1 --separate-stderr smvs-keygen -y --passphrase-fd 3 "$bad" 3<<<"correct horse"
	assert_contains "${stderr_lines[0]}" "smvs-keygen: error: $bad is not a valid SMVS key file: "
	refute_contains "$stderr" "correct horse"
}

@test "--device makes a device key, smvsdev1..." {
	run -0 --separate-stderr smvs-keygen --device -o "$SMVS_HOME/device"
	assert_matches "$stderr" '^Device id: smvsdev1[a-z0-9]{58}$'
	assert_matches "$(sed -n 3p "$SMVS_HOME/device")" '^SMVS-DEVICE-SECRET-1[0-9A-Z]+$'
	assert_equal "$(wc -l <"$SMVS_HOME/device" | tr -d ' ')" 3

	run -0 smvs-keygen -y "$SMVS_HOME/device"
	assert_equal "$output" "${stderr#Device id: }"
}

@test "--version prints the name and version" {
	run -0 --separate-stderr smvs-keygen --version
	assert_matches "$output" '^smvs-keygen [^ ]+$'
	assert_equal "$stderr" ""
}

@test "--help prints the usage on stdout" {
	run -0 --separate-stderr smvs-keygen --help
	assert_contains "$output" "smvs-keygen [-o FILE]"
	assert_contains "$output" "smvs-keygen -y"
	for flag in --output --device --passphrase --passphrase-fd --passphrase-file -y --home --help --version; do
		assert_contains "$output" "$flag"
	done
	assert_equal "$stderr" ""
}

@test "usage errors exit 2 with a hint, not the whole help" {
	mkdir "$BATS_TEST_TMPDIR/cwd"
	cd "$BATS_TEST_TMPDIR/cwd"
	for args in "--bogus" "extra" "-y a b" "-y -o x" "--passphrase-fd x" "--passphrase-fd 3 --passphrase-file f" "-o"; do
		# shellcheck disable=SC2086 # split the arguments
		run -2 --separate-stderr smvs-keygen $args
		assert_equal "${#stderr_lines[@]}" 2
		assert_matches "${stderr_lines[0]}" '^smvs-keygen: error: [a-z-]'
		assert_equal "${stderr_lines[1]}" "smvs-keygen: hint: see 'smvs-keygen --help'"
		assert_equal "$output" ""
	done
	[ -z "$(ls -A)" ] || fail "a usage error left files: $(ls -A)"
	[ ! -e "$SMVS_HOME" ] || fail "a usage error made $SMVS_HOME"
}

@test "the bash completion script is valid bash and completes the flags" {
	smvs-keygen --completion bash >"$BATS_TEST_TMPDIR/completion.bash"
	bash -n "$BATS_TEST_TMPDIR/completion.bash"
	flags=$(sed -n "s/^[[:space:]]*flags='\(.*\)'$/\1/p" "$BATS_TEST_TMPDIR/completion.bash")
	for flag in --output -o --device --passphrase -p --passphrase-fd --passphrase-file -y --home --help --version; do
		assert_contains " $flags " " $flag "
	done

	run -0 bash -c 'source "$1"
		COMP_WORDS=(smvs-keygen --passphrase-f); COMP_CWORD=1; _smvs_keygen
		echo "${COMPREPLY[*]}"
		complete -p smvs-keygen' _ "$BATS_TEST_TMPDIR/completion.bash"
	assert_equal "${lines[0]}" "--passphrase-fd --passphrase-file"
	assert_equal "${lines[1]}" "complete -o filenames -F _smvs_keygen smvs-keygen"
}

@test "the zsh completion script is valid zsh" {
	smvs-keygen --completion zsh >"$BATS_TEST_TMPDIR/completion.zsh"
	zsh -n "$BATS_TEST_TMPDIR/completion.zsh"
	assert_equal "$(head -1 "$BATS_TEST_TMPDIR/completion.zsh")" "#compdef smvs-keygen"
	assert_contains "$(cat "$BATS_TEST_TMPDIR/completion.zsh")" "--passphrase-file"
}
