# make install and make uninstall as a distribution runs them: into a
# staging directory (DESTDIR) with PREFIX=/usr.

setup_file() {
	REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	# make builds into a copy of bin/ (a no-op while the sources are as they
	# were built), never under the tests running alongside.
	mkdir -p "$BATS_FILE_TMPDIR/bin"
	cp -p "$REPO"/bin/smvs-* "$BATS_FILE_TMPDIR/bin/"
	# Each test has a HOME of its own; Go keeps its caches where they are.
	GOCACHE=$(go env GOCACHE) GOMODCACHE=$(go env GOMODCACHE) GOPATH=$(go env GOPATH)
	export REPO GOCACHE GOMODCACHE GOPATH
}

setup() {
	load helpers
	smvs_setup
	STAGE=$BATS_TEST_TMPDIR/stage
	COMMANDS=()
	local dir
	for dir in "$REPO"/cmd/smvs-*; do
		COMMANDS+=("${dir##*/}")
	done
}

teardown() {
	stop_daemons
}

# make_stage TARGET [VAR=VALUE...] runs `make TARGET DESTDIR=$STAGE
# PREFIX=/usr` in the repository.
make_stage() {
	local target=$1
	shift
	make -C "$REPO" --no-print-directory "$target" DESTDIR="$STAGE" PREFIX=/usr BIN="$BATS_FILE_TMPDIR/bin" "$@"
}

# staged_files prints every file and link under $STAGE, relative to it.
staged_files() {
	(cd "$STAGE" && find . ! -type d | sed 's|^\./||' | LC_ALL=C sort)
}

@test "make install DESTDIR=… PREFIX=/usr puts commands, man pages and completions where a distribution would" {
	run -0 make_stage install
	local want=() cmd page
	for cmd in "${COMMANDS[@]}"; do
		want+=("usr/bin/$cmd" "usr/share/bash-completion/completions/$cmd" "usr/share/zsh/site-functions/_$cmd")
	done
	for page in "$REPO"/man/*.[18]; do
		want+=("usr/share/man/man${page##*.}/${page##*/}")
	done
	assert_equal "$(staged_files)" "$(printf '%s\n' "${want[@]}" | LC_ALL=C sort)"
	for cmd in "${COMMANDS[@]}"; do
		assert_equal "$(file_mode "$STAGE/usr/bin/$cmd")" 755
		assert_equal "$(file_mode "$STAGE/usr/share/zsh/site-functions/_$cmd")" 644
		run -0 "$STAGE/usr/bin/$cmd" --version
		assert_contains "$output" "$cmd"
	done

	run -0 env MANPAGER=cat MANWIDTH=80 man -M "$STAGE/usr/share/man" smvs-send
	assert_contains "$output" "SMVS-SEND(1)"
	assert_matches "$output" 'smvs-send - send'
	run -0 env MANPAGER=cat MANWIDTH=80 man -M "$STAGE/usr/share/man" 8 smvs-hostd
	assert_contains "$output" "SMVS-HOSTD(8)"
}

@test "the installed bash completion completes smvs-send --w to --wait, and every command has one" {
	run -0 make_stage install
	local dir=$STAGE/usr/share/bash-completion/completions
	# What bash-completion does on the first tab after smvs-send: source
	# the file named after the command, then call the function it bound.
	run -0 bash --norc --noprofile -c 'source "$1/smvs-send"
		read -ra spec < <(complete -p smvs-send)
		COMP_WORDS=(smvs-send --w) COMP_CWORD=1
		"${spec[-2]}" smvs-send --w smvs-send
		printf "%s\n" "${COMPREPLY[@]}"' bash "$dir"
	assert_equal "$output" "--wait"
	for cmd in "${COMMANDS[@]}"; do
		run -0 bash --norc --noprofile -c 'source "$1/$2" && complete -p "$2"' bash "$dir" "$cmd"
		assert_matches "$output" "^complete .*-F [_a-z]+ $cmd\$"
	done
}

@test "the installed zsh completion loads through compinit and completes smvs-send --wa to --wait" {
	run -0 make_stage install
	local dir=$STAGE/usr/share/zsh/site-functions
	run -0 zsh -f -c 'fpath=($1 $fpath); autoload -U compinit && compinit -u -D
		shift; for cmd; do print -r -- "$cmd $_comps[$cmd]"; done' zsh "$dir" "${COMMANDS[@]}"
	local want=() cmd
	for cmd in "${COMMANDS[@]}"; do
		want+=("$cmd _$cmd")
	done
	assert_equal "$output" "$(printf '%s\n' "${want[@]}")"
	# A tab on a terminal, as the user presses it.
	run -0 zsh -f "$BATS_TEST_DIRNAME/tools/zsh-complete.zsh" "$dir" 'smvs-send --wa' 'smvs-send --wait'
	assert_contains "$output" "smvs-send --wait"
}

@test "make uninstall with the same DESTDIR and PREFIX removes every file make install put, and only those" {
	mkdir -p "$STAGE/usr/bin" "$STAGE/usr/share/man/man1"
	echo "another package's" >"$STAGE/usr/bin/other"
	echo "another package's" >"$STAGE/usr/share/man/man1/other.1"
	run -0 make_stage install
	run -0 make_stage uninstall
	assert_equal "$(staged_files)" "$(printf '%s\n' usr/bin/other usr/share/man/man1/other.1)"
	# PREFIX defaults to /usr/local.
	rm -r "$STAGE"
	run -0 make -C "$REPO" --no-print-directory install DESTDIR="$STAGE" BIN="$BATS_FILE_TMPDIR/bin"
	[ -x "$STAGE/usr/local/bin/smvs-send" ] || fail "$(staged_files)"
	[ -f "$STAGE/usr/local/share/man/man1/smvs-send.1" ] || fail "$(staged_files)"
	run -0 make -C "$REPO" --no-print-directory uninstall DESTDIR="$STAGE"
	assert_equal "$(staged_files)" ""
}
