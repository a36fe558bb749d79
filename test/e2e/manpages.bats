# Every man page's EXAMPLES run as written: each page gets the world its
# reader is assumed to have (a directory in SMVS_DIR, their own identity in
# ~/.config/smvs and host, the contacts the examples name with their hosts
# running, the files they send), made mechanically here, and then
# test/e2e/tools/doctest types each example into a terminal. Only what
# can't exist on a test machine is substituted: a camera or microphone
# becomes ffmpeg's test source, a public host name a port of 127.0.0.1, a
# key someone gave the reader the key the fixture made. What can't run on
# one machine at all (a PostgreSQL server elsewhere) is skipped, and each
# skip is listed in the output. A page whose stories need the world to
# change between them (bob's key changes) runs in parts: doctest -sections
# picks examples by the paragraph that introduces them.

setup_file() {
	go build -o "$BATS_FILE_TMPDIR/doctest" ./test/e2e/tools/doctest
	go build -o "$BATS_FILE_TMPDIR/turnserver" ./test/e2e/tools/turnserver
}

setup() {
	load helpers
	smvs_setup
	unset SMVS_HOME # the reader's files are where they are by default
	WORK=$BATS_TEST_TMPDIR/work
	mkdir -p "$WORK" "$HOME/.cache"
	declare -gA KEY=() ADDR=()
	start_dird dir && use_dird
}

teardown() {
	stop_daemons
}

# contact NAME makes user NAME, starts their host published as NAME, and
# sets KEY[NAME] and ADDR[NAME].
contact() {
	KEY[$1]=$(user "$1") || return
	start_host "$1"
	ADDR[$1]=$HOST_ADDR
}

# me [NAME] makes the reader's identity in ~/.config/smvs, where it is by
# default, and, given NAME, starts the reader's host published as NAME (see
# me_host). It sets KEY[me].
me() {
	KEY[me]=$(new_identity "$XDG_CONFIG_HOME/smvs/identity") || return
	[ $# -eq 0 ] || me_host "$1"
}

# me_host NAME starts the host of the reader's identity, published as NAME,
# with its store and socket where they are by default, and sets ADDR[me]
# (and KEY[me], if the identity was made elsewhere).
me_host() {
	local out=$BATS_TEST_TMPDIR/me.out
	smvs-hostd --listen 127.0.0.1:0 --name "$1" --backoff-min 50ms --backoff-max 500ms \
		>"$out" 2>"$out.log" 3>&- &
	DAEMONS+=($!)
	wait_for_line "$out" "$!" "the reader's smvs-hostd"
	read -r _ _ _ "ADDR[me]" _ "KEY[me]" _ <"$out"
}

# other_machine NAME writes $BATS_TEST_TMPDIR/NAME.rc, which gives a
# terminal a home of its own in $BATS_TEST_TMPDIR/NAME: a second machine,
# for doctest -rc.
other_machine() {
	local home=$BATS_TEST_TMPDIR/$1
	mkdir -p "$home/.config" "$home/.local/share" "$home/.cache"
	mkdir -m 700 -p "$home/run"
	printf 'export HOME=%q XDG_CONFIG_HOME=%q XDG_DATA_HOME=%q XDG_CACHE_HOME=%q XDG_RUNTIME_DIR=%q\n' \
		"$home" "$home/.config" "$home/.local/share" "$home/.cache" "$home/run" >"$BATS_TEST_TMPDIR/$1.rc"
}

# pin NAME... puts the contacts in the reader's contacts file, as a look-up
# does.
pin() {
	local name
	for name; do
		smvs-register lookup "$name" >/dev/null 2>&1 || fail "smvs-register lookup $name failed"
	done
}

# has_text USER TEXT succeeds once USER's host holds a message TEXT.
has_text() {
	as_user "$1" smvs-recv --json | jq -e --arg text "$2" 'select(.text == $text)' >/dev/null
}

# free_port prints a port that no TCP or UDP socket uses now (Linux).
free_port() {
	local port hex
	while :; do
		port=$((30000 + RANDOM % 30000))
		printf -v hex ':%04X ' "$port"
		grep -qs "$hex" /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6 || break
	done
	printf '%s\n' "$port"
}

# ivf FILE SECONDS makes a VP8 video of ffmpeg's test picture.
ivf() {
	ffmpeg -hide_banner -loglevel error -nostdin -y -f lavfi -i testsrc=size=320x180:rate=30 -t "$2" \
		-c:v libvpx -g 30 -deadline realtime -f ivf "$1"
}

# run_page PAGE [FLAG...] runs the examples of man/PAGE in $WORK and shows
# what doctest printed.
run_page() {
	local page=$1
	shift
	cd "$BATS_TEST_DIRNAME/../.."
	SMVS_LOCAL_ADDRESS=127.0.0.1 run "$BATS_FILE_TMPDIR/doctest" -dir "$WORK" -timeout 30s \
		-prefix smvs1 -prefix smvsdev1 -prefix sha256// -prefix age1 "$@" "man/$page"
	printf '%s\n' "$output"
	[ "$status" -eq 0 ]
}

# answering USER FILE keeps a device of USER waiting for calls, answering
# each at once with FILE, until the test ends.
answering() {
	as_user "$1" bash -c 'while :; do smvs-call --answer --yes <"$1" >/dev/null; done' \
		answering "$2" 2>>"$BATS_TEST_TMPDIR/$1.calls" 3>&- &
	DAEMONS+=($!)
}

@test "smvs-call.1" {
	# The reader is "you"; bob waits for calls on two devices (one
	# answers while the other still waits), and alice calls the reader
	# until the reader answers. A local TURN server knows alice:s3cret.
	export SMVS_LOCAL_ADDRESS=127.0.0.1
	me you
	contact bob
	contact alice
	pin bob alice
	ivf "$WORK/greeting.ivf" 3
	ivf "$WORK/talk.ivf" 3
	ivf "$BATS_TEST_TMPDIR/long.ivf" 20
	answering bob "$BATS_TEST_TMPDIR/long.ivf"
	answering bob "$BATS_TEST_TMPDIR/long.ivf"
	as_user alice bash -c 'while :; do smvs-call you <"$1" >/dev/null; case $? in 0|10) break ;; esac; sleep 0.3; done' \
		calling "$BATS_TEST_TMPDIR/long.ivf" 2>>"$BATS_TEST_TMPDIR/alice.calls" 3>&- &
	DAEMONS+=($!)
	"$BATS_FILE_TMPDIR/turnserver" --listen 127.0.0.1:0 --realm smvs --user alice=s3cret \
		>"$BATS_TEST_TMPDIR/turn.out" 2>"$BATS_TEST_TMPDIR/turn.out.log" 3>&- &
	DAEMONS+=($!)
	wait_for_line "$BATS_TEST_TMPDIR/turn.out" "$!" turnserver
	local turn
	turn=$(sed -n 's/^turnserver: listening on //p' "$BATS_TEST_TMPDIR/turn.out")

	run_page smvs-call.1 -long '--follow|tail -f' \
		-subst '-f v4l2 -i /dev/video0=-re -f lavfi -i testsrc=size=320x180:rate=30:duration=4' \
		-subst '-f pulse -i default=-re -f lavfi -i sine=frequency=440:sample_rate=48000:duration=4' \
		-subst 'ffplay -f ivf -=cat >/dev/null' \
		-subst 'ffplay -nodisp speaker.ogg=cat speaker.ogg >/dev/null' \
		-subst 'ffplay -=cat >/dev/null' \
		-subst "turn.example.net:3478=$turn"
	[ -s "$WORK/alice.ivf" ] || fail "nothing of alice's video in alice.ivf"
}

@test "smvs-device.1" {
	# desktop$ is the reader's own machine, with their host; laptop$ is
	# another machine.
	me you
	other_machine laptop
	run_page smvs-device.1 -rc "laptop=$BATS_TEST_TMPDIR/laptop.rc" \
		-bind 7K2M-QX9P-4TRD-HB3W -bind 192.0.2.7:7443
}

@test "smvs-dird.8" {
	# The directory in ./dird already holds alice's record: start it
	# once, publish her, stop it.
	local alice
	alice=$(user alice)
	start_dird work/dird
	SMVS_DIR=$DIR_URL SMVS_DIR_PIN=$DIR_PIN as_user alice \
		smvs-register publish --host 127.0.0.1:7447 alice >/dev/null 2>&1 || fail "publishing alice"
	kill -TERM "${DAEMONS[-1]}" && wait "${DAEMONS[-1]}" || true
	# record.cbor is carol's record, as another directory serves it.
	user carol >/dev/null
	as_user carol smvs-register publish --host 127.0.0.1:7449 carol >/dev/null 2>&1 || fail "publishing carol"
	curl -sS -k --pinnedpubkey "$SMVS_DIR_PIN" "$SMVS_DIR/v1/records/name/carol" |
		jq -r .record | base64 -d >"$WORK/record.cbor"
	local public proxied
	public=$(free_port) proxied=$(free_port)
	run_page smvs-dird.8 -long '^smvs-dird --listen [^&]*$' \
		-skip "^(createuser|createdb|scp) |--db 'postgres://" \
		-subst "smvs1…=$alice" \
		-subst "[::]:7440=127.0.0.1:$public" -subst "--listen :7440=--listen 127.0.0.1:$public" \
		-subst "127.0.0.1:7440=127.0.0.1:$proxied"
}

@test "smvs-hostd.8" {
	# The reader is alice, not yet published; bob runs a host and is in
	# her contacts. The examples name their directory, if any, themselves.
	me
	contact bob
	pin bob
	local dir=$SMVS_DIR pin=$SMVS_DIR_PIN port
	unset SMVS_DIR SMVS_DIR_PIN
	run_page smvs-hostd.8 -sections '^(Run a host|Without a directory|Refuse one sender)' \
		-subst "192.0.2.7:7447=${ADDR[bob]}" -subst "smvs1…=${KEY[bob]}"
	eventually 10 has_text bob hi
	# Serving the world is another story: alice's own host, in her home.
	port=$(free_port)
	run_page smvs-hostd.8 -sections '^Serve the world' -long '^smvs-hostd --listen :' \
		-subst "--listen :7447=--listen 127.0.0.1:$port" -subst "alice.example.net:7447=127.0.0.1:$port" \
		-subst "https://dir.example.net:7440=$dir" -subst "sha256//…=$pin"
	SMVS_DIR=$dir SMVS_DIR_PIN=$pin run -0 smvs-register lookup --json alice
	assert_contains "$output" "\"host\":\"127.0.0.1:$port\""
}

@test "smvs-keygen.1" {
	mkdir -m 700 "$HOME/.secrets"
	echo "correct horse battery staple" >"$HOME/.secrets/smvs"
	chmod 600 "$HOME/.secrets/smvs"
	SECRET="another long passphrase" run_page smvs-keygen.1 -sections '^Make (the user|a protected)' \
		-answer 'passphrase for the new key:=correct horse battery staple' \
		-answer 'Confirm passphrase:=correct horse battery staple'

	# The new device is another machine, whose home is its own; the host
	# of the identity made above runs, and gave a pairing code.
	me_host you
	local pairing code addr
	pairing=$(smvs-device pair --json --name laptop) || fail "smvs-device pair: $pairing"
	code=$(jq -r .code <<<"$pairing") addr=$(jq -r .address <<<"$pairing")
	other_machine laptop
	run_page smvs-keygen.1 -sections '^Make the key of a new device' -rc "you=$BATS_TEST_TMPDIR/laptop.rc" \
		-subst "192.0.2.7:7443=$addr" -subst "smvs1…=${KEY[me]}" -subst "7K2M-QX9P-4TRD-HB3W=$code"
}

@test "smvs-recv.1" {
	me you
	contact alice
	pin alice
	head -c 3000 /dev/urandom >"$WORK/report.pdf"
	as_user alice smvs-send you <<<"the deploy is done"
	as_user alice smvs-send --file "$WORK/report.pdf" you
	mv "$WORK/report.pdf" "$BATS_TEST_TMPDIR/sent.pdf"
	eventually 10 bash -c 'smvs-recv --json | grep -q report.pdf'
	local seq id
	seq=$(smvs-recv --json | jq -r 'select(.file_name == "report.pdf") | .seq')
	id=$(smvs-recv --json | jq -r 'select(.file_name == "report.pdf") | .id')
	age-keygen -o "$WORK/backup-key" 2>/dev/null
	run_page smvs-recv.1 \
		-subst "--raw 42 >=--raw $seq >" \
		-subst "--raw 9f0c4e1a2b3c4d5e6f708192a3b4c5d6 >=--raw $id >" \
		-subst "age1…=$(age-keygen -y "$WORK/backup-key")"
	cmp "$WORK/report.pdf" "$BATS_TEST_TMPDIR/sent.pdf"
}

@test "smvs-register.1" {
	# The reader is alice, not yet published; bob is.
	me
	KEY[bob]=$(user bob)
	as_user bob smvs-register publish --host 127.0.0.1:7448 bob >/dev/null 2>&1 || fail "publishing bob"
	local dir=$SMVS_DIR pin=$SMVS_DIR_PIN
	local directory=(-subst "https://dir.example.net:7440=$dir"
		-subst "sha256//Ypd7Jm2l8Tq0bWc3XrN4vA9sKfE1uZ6hG5oLiD8yQ0M=${pin%=}")
	run_page smvs-register.1 -sections '^(Publish the user|Look bob up)' "${directory[@]}"

	# Then bob's key changes without a rotation: he lost it, removed his
	# record and published a new key under his name.
	as_user bob smvs-register remove >/dev/null 2>&1 || fail "removing bob's record"
	rm "$(user_home bob)/identity"
	KEY[bob]=$(user bob)
	as_user bob smvs-register publish --host 127.0.0.1:7448 bob >/dev/null 2>&1 || fail "publishing bob's new key"
	# Two more directories; carol, in none, gave her key and host address.
	start_dird a
	local a=$DIR_URL a_pin=$DIR_PIN
	start_dird b
	KEY[carol]=$(user carol)
	SMVS_DIR= SMVS_DIR_PIN= start_host carol
	run_page smvs-register.1 -sections "^(When bob's key|Use the host|Publish to two|Replace a KEM|Add a contact)" \
		"${directory[@]}" -subst "https://a.example=$a" -subst "sha256//AAA…=${a_pin%=}" \
		-subst "https://b.example=$DIR_URL" -subst "sha256//BBB…=${DIR_PIN%=}" \
		-subst "carol.example.org:7447=$HOST_ADDR" -subst "smvs1c7vn…=${KEY[carol]}"

	# The reader's host runs now: rotate --kem goes through it, and
	# rotate --identity waits until it is stopped.
	me_host alice
	run_page smvs-register.1 -sections '^While your host runs' "${directory[@]}" -bind 4242
}

@test "smvs-rm.1" {
	# The reader got a code from bob, and two messages from alice.
	me you
	contact bob
	contact alice
	pin bob alice
	as_user bob smvs-send you <<<"the code is 4711"
	as_user bob smvs-send you <<<"see you"
	as_user alice smvs-send you <<<"lunch?"
	as_user alice smvs-send you <<<"at noon"
	eventually 10 bash -c '[ "$(smvs-recv --json | jq -s length)" -eq 4 ]'
	run_page smvs-rm.1 -bind 42 -bind 57 \
		-answer 'delete the whole conversation with alice?=y'
	# bob's host deleted the message sent to the wrong person.
	if has_text bob "wrong chat, sorry"; then fail "bob still has the message"; fi
}

@test "smvs-send.1" {
	me you
	contact bob
	contact ops
	contact alice
	pin bob ops alice
	head -c 3000 /dev/urandom >"$WORK/report.pdf"
	mkdir "$WORK/src" && echo 'int main(void) { return 0; }' >"$WORK/src/main.c"
	printf '%s\n' 'INFO started' 'ERROR disk full' >"$WORK/app.log"
	run_page smvs-send.1 -subst "/var/log/app.log=app.log"
	eventually 10 has_text ops "ERROR disk full"
}
