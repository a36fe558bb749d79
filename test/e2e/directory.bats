# The directory: smvs-dird and smvs-register as separate processes on
# 127.0.0.1, every user in an SMVS_HOME of their own.

setup_file() {
	# mkrecord signs records no SMVS command would (any name or sequence
	# number, broken signatures) to show what smvs-dird refuses.
	go build -o "$BATS_FILE_TMPDIR/mkrecord" "$BATS_TEST_DIRNAME/tools/mkrecord"
}

setup() {
	load helpers
	smvs_setup
	MKRECORD=$BATS_FILE_TMPDIR/mkrecord
}

teardown() {
	# PostgreSQL first: stop_daemons fails a test that left it running.
	[ -z "${PGDATA_DIR:-}" ] || pg_stop
	stop_daemons
}

# dir_curl ARGS... runs curl against the directory, pinned to its key.
dir_curl() {
	curl -sS -k --pinnedpubkey "$DIR_PIN" "$@"
}

# served NAME prints the base64 record the directory serves for NAME.
served() {
	dir_curl "$DIR_URL/v1/records/name/$1" | sed -n 's/^{"record":"\([^"]*\)"}$/\1/p'
}

@test "two users register and look each other up" {
	start_dird dir && use_dird
	alice=$(user alice) bob=$(user bob)
	run -0 as_user alice smvs-register publish --host 127.0.0.1:7001 alice
	run -0 as_user bob smvs-register publish --host 127.0.0.1:7002 bob

	run -0 --separate-stderr as_user alice smvs-register lookup bob
	assert_contains "$output" "id:          $bob"
	assert_contains "$output" "host:        127.0.0.1:7002"
	assert_contains "$stderr" "pinned the key of bob on first use"
	run -0 as_user bob smvs-register lookup --json alice
	assert_contains "$output" "\"id\":\"$alice\""
	assert_contains "$output" '"host":"127.0.0.1:7001"'

	# Look-ups by key work too, and what was pinned is in the contacts file.
	run -0 as_user bob smvs-register lookup "$alice"
	assert_contains "$output" "name:        alice"
	assert_matches "$(grep -v '^#' "$(user_home alice)/contacts")" "^bob $bob seq=[0-9]+\$"
}

@test "a host address update is seen" {
	start_dird dir && use_dird
	user alice >/dev/null && user bob >/dev/null
	as_user alice smvs-register publish --host 127.0.0.1:7001 alice
	run -0 as_user bob smvs-register lookup alice
	assert_contains "$output" "host:        127.0.0.1:7001"

	run -0 as_user alice smvs-register update --host 127.0.0.1:7009
	run -0 as_user bob smvs-register lookup alice
	assert_contains "$output" "host:        127.0.0.1:7009"
}

@test "a key rotation is accepted by a client that pinned the old key" {
	start_dird dir && use_dird
	old=$(user alice) && user bob >/dev/null
	as_user alice smvs-register publish --host 127.0.0.1:7001 alice
	as_user bob smvs-register lookup alice >/dev/null

	run -0 --separate-stderr as_user alice smvs-register rotate --identity
	new=$output
	[[ $new == smvs1* && $new != "$old" ]] || fail "rotate printed: $new"
	assert_equal "$(as_user alice smvs-keygen -y)" "$new"
	[ "$(file_mode "$(user_home alice)/identity")" = 600 ] && [ ! -e "$(user_home alice)/identity.old" ]

	run -0 --separate-stderr as_user bob smvs-register lookup alice
	assert_contains "$output" "id:          $new"
	assert_contains "$stderr" "alice moved to a new key, with a rotation signed by the pinned one"
	assert_matches "$(grep '^alice ' "$(user_home bob)/contacts")" "^alice $new seq=[0-9]+\$"
}

@test "a substituted key, from a directory whose store was altered, is refused" {
	start_dird dir && use_dird
	alice=$(user alice) && user bob >/dev/null && user mallory >/dev/null
	as_user alice smvs-register publish --host 127.0.0.1:7001 alice
	as_user bob smvs-register lookup alice >/dev/null
	cp "$(user_home bob)/contacts" "$BATS_TEST_TMPDIR/contacts.before"

	# Behind the directory's back, mallory's self-signed record for "alice"
	# replaces alice's in its database.
	forged=$("$MKRECORD" -identity "$(user_home mallory)/identity" -name alice -seq 99 |
		sed -n 's/^{"record":"\([^"]*\)"}$/\1/p' | base64 -d | od -An -v -tx1 | tr -d ' \n')
	mallory_key=$(printf '%s' "$forged" | grep -o '025820[0-9a-f]\{64\}' | head -1 | cut -c7-)
	sqlite3 "$BATS_TEST_TMPDIR/dir/directory.db" \
		"UPDATE entries SET identity = X'$mallory_key', seq = 99, record = X'$forged' WHERE name = 'alice'"
	run -0 served alice
	[ -n "$output" ]

	run -4 --separate-stderr as_user bob smvs-register lookup alice
	assert_contains "$stderr" "smvs-register: error: the key of \"alice\" changed"
	assert_contains "$stderr" "hint:"
	refute_contains "$output" "$alice"
	cmp "$BATS_TEST_TMPDIR/contacts.before" "$(user_home bob)/contacts"
}

@test "an older record (lower sequence number) is refused by smvs-dird" {
	start_dird dir
	user alice >/dev/null
	id=$(user_home alice)/identity
	"$MKRECORD" -identity "$id" -name alice -seq 5 >"$BATS_TEST_TMPDIR/seq5.json"
	"$MKRECORD" -identity "$id" -name alice -seq 3 >"$BATS_TEST_TMPDIR/seq3.json"
	run -0 dir_curl -o /dev/null -w '%{http_code}' --data @"$BATS_TEST_TMPDIR/seq5.json" "$DIR_URL/v1/records"
	assert_equal "$output" 200
	before=$(served alice)

	run -0 dir_curl -w ' %{http_code}' --data @"$BATS_TEST_TMPDIR/seq3.json" "$DIR_URL/v1/records"
	assert_contains "$output" "sequence number not above the stored one"
	assert_contains "$output" " 409"
	# The same record again is no newer either.
	run -0 dir_curl -w ' %{http_code}' --data @"$BATS_TEST_TMPDIR/seq5.json" "$DIR_URL/v1/records"
	assert_contains "$output" " 409"
	assert_equal "$(served alice)" "$before"
}

@test "bad requests get a 4xx with a clear message and leave the stored record unchanged" {
	start_dird dir && use_dird
	user alice >/dev/null && user mallory >/dev/null
	as_user alice smvs-register publish --host 127.0.0.1:7001 alice
	before=$(served alice)
	[ -n "$before" ]
	post() { dir_curl -w ' %{http_code}' -H 'Content-Type: application/json' "$@" "$DIR_URL/v1/records"; }

	run -0 post --data '{"record": '
	assert_contains "$output" '{"error":"'
	assert_contains "$output" " 400"

	run -0 post --data '{"record": "not base64!"}'
	assert_contains "$output" "base64"
	assert_contains "$output" " 400"

	{ printf '{"record":"'; head -c 40000 /dev/zero | tr '\0' A; printf '"}'; } >"$BATS_TEST_TMPDIR/big"
	run -0 post --data-binary @"$BATS_TEST_TMPDIR/big"
	assert_contains "$output" " 413"

	"$MKRECORD" -identity "$(user_home alice)/identity" -name alice -seq 1999999999999 -tamper >"$BATS_TEST_TMPDIR/tampered.json"
	run -0 post --data @"$BATS_TEST_TMPDIR/tampered.json"
	assert_contains "$output" "bad signature"
	assert_contains "$output" " 400"

	for name in Alice admin al 'a b' -alice; do
		"$MKRECORD" -identity "$(user_home mallory)/identity" -name "$name" >"$BATS_TEST_TMPDIR/name.json"
		run -0 post --data @"$BATS_TEST_TMPDIR/name.json"
		assert_contains "$output" "invalid name"
		assert_contains "$output" " 400"
	done

	# Mallory's valid record can't take alice's name either.
	"$MKRECORD" -identity "$(user_home mallory)/identity" -name alice >"$BATS_TEST_TMPDIR/taken.json"
	run -0 post --data @"$BATS_TEST_TMPDIR/taken.json"
	assert_contains "$output" "name is held by another key"
	assert_contains "$output" " 409"

	assert_equal "$(served alice)" "$before"
}

@test "unknown, removed and never-valid names all answer the same 404" {
	start_dird dir && use_dird
	user alice >/dev/null && user bob >/dev/null
	as_user alice smvs-register publish --host 127.0.0.1:7001 alice
	as_user bob smvs-register lookup alice >/dev/null
	run -0 as_user alice smvs-register remove

	unknown=$(dir_curl -i "$DIR_URL/v1/records/name/nobody" | grep -iv '^date:')
	removed=$(dir_curl -i "$DIR_URL/v1/records/name/alice" | grep -iv '^date:')
	invalid=$(dir_curl -i "$DIR_URL/v1/records/name/A%20B" | grep -iv '^date:')
	assert_contains "$unknown" '{"error":"not found"}'
	assert_equal "$removed" "$unknown"
	assert_equal "$invalid" "$unknown"

	stranger=$(user stranger)
	run -3 --separate-stderr as_user bob smvs-register lookup "$stranger"
	run -3 --separate-stderr smvs-register lookup nobody
	assert_contains "$stderr" "not found"
}

@test "the rate limit answers 429 with Retry-After" {
	start_dird dir --rate 1 --burst 3
	codes=()
	for i in $(seq 8); do
		codes+=("$(dir_curl -o /dev/null -w '%{http_code}' "$DIR_URL/v1/records/name/nobody")")
	done
	assert_equal "${codes[*]:0:3}" "404 404 404"
	assert_contains "${codes[*]:3}" "429"
	run -0 dir_curl -i "$DIR_URL/v1/records/name/nobody"
	assert_matches "$output" '^HTTP/[0-9.]+ 429'
	assert_matches "$output" $'[Rr]etry-[Aa]fter: [0-9]+\r'
}

@test "smvs-register refuses a directory whose certificate does not match the pin" {
	start_dird dir && use_dird
	user alice >/dev/null
	start_dird other
	export SMVS_DIR_PIN=$DIR_PIN # the other directory's pin
	run -1 --separate-stderr as_user alice smvs-register publish --host 127.0.0.1:7001 alice
	assert_contains "$stderr" "pin"
}

@test "two replicas on one PostgreSQL agree" {
	pg_start
	start_dird one --db "$PG_DSN"
	one_url=$DIR_URL one_pin=$DIR_PIN
	# Replicas share one certificate, as behind a load balancer.
	start_dird two --db "$PG_DSN" --tls-cert "$BATS_TEST_TMPDIR/one/tls.pem" --tls-key "$BATS_TEST_TMPDIR/one/tls.pem"
	two_url=$DIR_URL
	assert_equal "$DIR_PIN" "$one_pin"
	alice=$(user alice) && user bob >/dev/null && user carol >/dev/null

	SMVS_DIR=$one_url SMVS_DIR_PIN=$one_pin as_user alice smvs-register publish --host 127.0.0.1:7001 alice
	run -0 env SMVS_DIR="$two_url" SMVS_DIR_PIN="$one_pin" SMVS_HOME="$(user_home bob)" smvs-register lookup alice
	assert_contains "$output" "id:          $alice"

	# Bob and carol claim one new name at once, one through each replica:
	# exactly one wins.
	SMVS_DIR=$one_url SMVS_DIR_PIN=$one_pin as_user bob smvs-register publish --host 127.0.0.1:7002 shared &
	b=$!
	SMVS_DIR=$two_url SMVS_DIR_PIN=$one_pin as_user carol smvs-register publish --host 127.0.0.1:7003 shared &
	c=$!
	wins=0
	wait $b && wins=$((wins + 1)) || true
	wait $c && wins=$((wins + 1)) || true
	assert_equal "$wins" 1
	one=$(SMVS_DIR=$one_url SMVS_DIR_PIN=$one_pin as_user alice smvs-register lookup --json shared)
	two=$(SMVS_DIR=$two_url SMVS_DIR_PIN=$one_pin as_user alice smvs-register lookup --json shared)
	assert_equal "$(grep -o '"id":"[a-z0-9]*"' <<<"$one")" "$(grep -o '"id":"[a-z0-9]*"' <<<"$two")"
}

# pg_start starts a throwaway PostgreSQL on 127.0.0.1 and sets PG_DSN. As
# root (as in CI) it runs the server as the postgres user, since initdb
# refuses root.
pg_start() {
	local bin
	bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
	[ -x "$bin/initdb" ] || fail "PostgreSQL is not installed: run scripts/install-deps"
	PGDATA_DIR=$(mktemp -d)
	chmod 755 "$PGDATA_DIR"
	local as=()
	if [ "$(id -u)" = 0 ]; then
		chown postgres "$PGDATA_DIR"
		as=(runuser -u postgres --)
	fi
	PG_AS=("${as[@]}") PG_BIN=$bin
	"${as[@]}" "$bin/initdb" -D "$PGDATA_DIR/data" -A trust -U smvs >/dev/null
	local port try
	for try in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 30000))
		if "${as[@]}" "$bin/pg_ctl" -D "$PGDATA_DIR/data" -l "$PGDATA_DIR/log" -w \
			-o "-p $port -k $PGDATA_DIR -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null; then
			"${as[@]}" "$bin/createdb" -h 127.0.0.1 -p "$port" -U smvs smvs
			PG_DSN="postgres://smvs@127.0.0.1:$port/smvs?sslmode=disable"
			return 0
		fi
	done
	fail "PostgreSQL did not start: $(cat "$PGDATA_DIR/log")"
}

pg_stop() {
	"${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PGDATA_DIR/data" -m fast -w stop >/dev/null || true
	rm -rf "$PGDATA_DIR"
}

@test "both sides see one safety number, and verify --yes marks the contact verified" {
	start_dird dir && use_dird
	user alice >/dev/null && user bob >/dev/null
	as_user alice smvs-register publish --host 127.0.0.1:7001 alice
	as_user bob smvs-register publish --host 127.0.0.1:7002 bob
	number() { as_user "$1" smvs-register verify "$2" | grep -E '^ +[0-9]{5}( [0-9]{5}){5}$'; }
	a=$(number alice bob) b=$(number bob alice)
	[ -n "$a" ] || fail "no safety number"
	assert_equal "$a" "$b"
	run -0 as_user alice smvs-register verify --yes bob
	run -0 as_user alice smvs-register lookup bob
	assert_contains "$output" "verified:    yes"
}

@test "a directory serving an older record of a contact (a rollback) is refused: exit 4, contacts unchanged" {
	start_dird dir && use_dird
	bob=$(user bob) && user alice >/dev/null
	seq_of() { as_user alice smvs-register lookup --json "$1" | grep -o '"seq":[0-9]*' | cut -d: -f2; }

	# Bob publishes, then updates his host twice; alice looks him up each
	# time, and her contacts file keeps the highest sequence number seen.
	as_user bob smvs-register publish --host 127.0.0.1:7002 bob
	old_record=$(served bob)
	old_seq=$(seq_of bob)
	[ -n "$old_record" ] && [ -n "$old_seq" ] || fail "no record of bob"
	for port in 7003 7004; do
		as_user bob smvs-register update --host 127.0.0.1:$port
		run -0 as_user alice smvs-register lookup bob
		assert_contains "$output" "host:        127.0.0.1:$port"
	done
	new_seq=$(seq_of bob)
	[ "$new_seq" -gt "$old_seq" ] || fail "seq $new_seq after $old_seq"
	assert_equal "$(grep '^bob ' "$(user_home alice)/contacts")" "bob $bob seq=$new_seq"
	new_record=$(served bob)

	# Behind the directory's back, its database goes back to bob's first
	# record: a directory replaying an old record, with his old host.
	sqlite3 "$BATS_TEST_TMPDIR/dir/directory.db" \
		"UPDATE entries SET seq = $old_seq, record = X'$(base64 -d <<<"$old_record" | od -An -v -tx1 | tr -d ' \n')' WHERE name = 'bob'"
	assert_equal "$(served bob)" "$old_record"
	cp "$(user_home alice)/contacts" "$BATS_TEST_TMPDIR/contacts.before"

	for query in bob "$bob"; do
		run -4 --separate-stderr as_user alice smvs-register lookup "$query"
		assert_contains "$stderr" "smvs-register: error: directory $DIR_URL: bob's record went back from sequence $new_seq to $old_seq: refusing it (a directory serving an old record)"
		assert_contains "$stderr" "hint:"
		refute_contains "$output" "127.0.0.1:7002"
		cmp "$BATS_TEST_TMPDIR/contacts.before" "$(user_home alice)/contacts"
	done
	run -4 --separate-stderr as_user alice smvs-register verify bob
	assert_contains "$stderr" "went back from sequence $new_seq to $old_seq"
	cmp "$BATS_TEST_TMPDIR/contacts.before" "$(user_home alice)/contacts"

	# With a second directory that has bob's newest record, the stale one
	# is skipped with a warning and the newest record is used.
	stale_url=$DIR_URL stale_pin=$DIR_PIN
	start_dird good
	printf '{"record":"%s"}' "$new_record" >"$BATS_TEST_TMPDIR/new.json"
	run -0 dir_curl -o /dev/null -w '%{http_code}' --data @"$BATS_TEST_TMPDIR/new.json" "$DIR_URL/v1/records"
	assert_equal "$output" 200
	run -0 --separate-stderr env SMVS_DIR="$stale_url,$DIR_URL" SMVS_DIR_PIN="$stale_pin,$DIR_PIN" \
		SMVS_HOME="$(user_home alice)" smvs-register lookup bob
	assert_contains "$output" "host:        127.0.0.1:7004"
	assert_contains "$stderr" "went back from sequence $new_seq to $old_seq"
	cmp "$BATS_TEST_TMPDIR/contacts.before" "$(user_home alice)/contacts"
}
