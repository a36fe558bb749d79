# Deletion you can prove: smvs-rm on the host's machine, what linked devices
# see of it, what a copy of the data directory still opens afterwards,
# disappearing messages, delete for everyone, the conversation's chain
# checked on arrival and compared by fingerprint, and export then import
# on a new machine. Real processes on 127.0.0.1, as in messaging.bats.

setup_file() {
	go build -o "$BATS_FILE_TMPDIR/hostpoke" "$BATS_TEST_DIRNAME/tools/hostpoke"
	go build -o "$BATS_FILE_TMPDIR/storepeek" "$BATS_TEST_DIRNAME/tools/storepeek"
}

setup() {
	load helpers
	smvs_setup
	HOSTPOKE=$BATS_FILE_TMPDIR/hostpoke
	STOREPEEK=$BATS_FILE_TMPDIR/storepeek
	start_dird dir && use_dird
}

teardown() {
	stop_daemons
}

# history USER prints USER's history as smvs-recv --json does, one message
# a line, failing if smvs-recv does.
history() {
	local out
	out=$(as_user "$1" smvs-recv --json) || fail "smvs-recv --json of $1 failed: $out"
	printf '%s\n' "$out" | sed '/^$/d'
}

# texts USER prints the text of every message USER's host holds, one a line.
texts() {
	local out
	out=$(history "$1") || return 1
	jq -r 'select(.event == "message") | .text // empty' <<<"$out"
}

# has_text USER TEXT succeeds once USER's host holds a message TEXT;
# lacks_text USER TEXT once it holds none.
has_text() {
	texts "$1" | grep -qxF -- "$2"
}
lacks_text() {
	local out
	out=$(texts "$1") || return 1
	! grep -qxF -- "$2" <<<"$out"
}

# field USER TEXT NAME prints field NAME of USER's message TEXT.
field() {
	history "$1" | jq -r --arg t "$2" --arg f "$3" 'select(.event == "message" and .text == $t) | .[$f]'
}

# send FROM TO TEXT [FLAG...] sends TEXT and waits for the receipt.
send() {
	local from=$1 to=$2 text=$3
	shift 3
	as_user "$from" smvs-send --wait "$@" "$to" <<<"$text" || fail "$from could not send $text to $to"
}

# now prints the time, to the millisecond, as --before and --until take it.
now() {
	date -u +%Y-%m-%dT%H:%M:%S.%3NZ
}

# comparable prints the messages of an smvs-recv --json history without
# what only one host's store decides: the seq and when it was stored.
comparable() {
	jq -c 'select(.event == "message") | del(.seq, .stored)'
}

# follow DEVICE FILE runs smvs-recv --follow --json on DEVICE (a user or a
# linked device) in the background, writing to FILE.
follow() {
	as_user "$1" smvs-recv --follow --json >"$2" 2>"$2.err" 3>&- &
	DAEMONS+=($!)
}

# shown FILE prints the text of each message that the smvs-recv --follow
# --json writing FILE still shows: every message it printed, less those a
# deleted event took back.
shown() {
	jq -rs '[.[] | select(.event == "deleted") | .seq] as $gone
		| .[] | select(.event == "message" and (.seq | IN($gone[]) | not)) | .text // empty' "$1"
}

# shows FILE TEXT... succeeds once the follower writing FILE shows exactly
# the messages TEXT..., in that order.
shows() {
	local file=$1
	shift
	[ "$(shown "$file")" = "$(printf '%s\n' "$@" | sed '/^$/d')" ]
}

# told_deleted FILE SEQ... checks that the follower writing FILE was told
# with a deleted event that each message SEQ was deleted.
told_deleted() {
	local file=$1 seq
	shift
	for seq in "$@"; do
		jq -se --argjson s "$seq" 'any(.[]; .event == "deleted" and .seq == $s)' "$file" >/dev/null ||
			fail "no deleted event for $seq in: $(grep deleted "$file")"
	done
}

# everywhere USER FOLLOWED DEVICE TEXT... checks that USER's host, the
# follower writing FOLLOWED and linked device DEVICE's smvs-recv show
# exactly the messages TEXT..., in that order.
everywhere() {
	local user=$1 followed=$2 device=$3 want
	shift 3
	want=$(printf '%s\n' "$@" | sed '/^$/d')
	assert_equal "$(texts "$user")" "$want"
	eventually 10 shows "$followed" "$@"
	assert_equal "$(texts "$device")" "$want"
}

# on_terminal INPUT COMMAND runs the bash COMMAND on a terminal of its own,
# typing INPUT into it as a person answering its questions would, and
# prints what the terminal showed.
on_terminal() {
	printf '%s' "$1" | SHELL=/bin/bash timeout 60 script -qec "$2" /dev/null
}

@test "delete a message, then everything before a time: gone on the host's machine, a following device and one that reconnects" {
	alice_and_bob
	link_device alice laptop
	link_device alice phone
	follow laptop "$BATS_TEST_TMPDIR/laptop"
	send bob alice "old one"
	send alice bob "old reply"
	before=$(now)
	send bob alice "newer"
	send bob alice "delete me"
	eventually 10 shows "$BATS_TEST_TMPDIR/laptop" "old one" "old reply" "newer" "delete me"
	# The phone reads everything, then goes away.
	run -0 as_user phone smvs-recv --cursor "$BATS_TEST_TMPDIR/phone.cursor"
	assert_equal "$(grep -c . <<<"$output")" 4

	seq=$(field alice "delete me" seq)
	run -0 --separate-stderr as_user alice smvs-rm "$seq"
	assert_equal "$output" "deleted 1 message"
	everywhere alice "$BATS_TEST_TMPDIR/laptop" phone "old one" "old reply" "newer"
	told_deleted "$BATS_TEST_TMPDIR/laptop" "$seq"
	# Deleting here is not deleting at bob's.
	has_text bob "delete me"
	# Gone is gone: a second time, it is missing.
	run -1 --separate-stderr as_user alice smvs-rm "$seq"
	assert_contains "$stderr" "smvs-rm: error: no message $seq"

	# From a linked device too.
	old_seqs=$(field alice "old one" seq; field alice "old reply" seq)
	run -0 --separate-stderr as_user laptop smvs-rm --before "$before"
	assert_equal "$output" "deleted 2 messages"
	everywhere alice "$BATS_TEST_TMPDIR/laptop" phone "newer"
	# shellcheck disable=SC2086 # one seq a word
	told_deleted "$BATS_TEST_TMPDIR/laptop" $old_seqs

	# The phone comes back: its cursor names a deleted message and still
	# works, and the follower goes on.
	send bob alice "after"
	run -0 as_user phone smvs-recv --cursor "$BATS_TEST_TMPDIR/phone.cursor"
	assert_contains "$output" "< bob: after"
	assert_equal "$(grep -c . <<<"$output")" 1
	eventually 10 shows "$BATS_TEST_TMPDIR/laptop" "newer" "after"
}

@test "delete a conversation, then everything, asking first: gone on the host's machine, a following device and one that reconnects" {
	alice_and_bob
	CAROL=$(user carol)
	start_host carol
	link_device alice laptop
	link_device alice phone
	follow laptop "$BATS_TEST_TMPDIR/laptop"
	send bob alice "from bob"
	send alice bob "to bob"
	send carol alice "from carol"
	send alice carol "to carol"
	eventually 10 shows "$BATS_TEST_TMPDIR/laptop" "from bob" "to bob" "from carol" "to carol"
	run -0 as_user phone smvs-recv
	seqs=$(history alice | jq -r .seq)

	# Not on a terminal, a whole conversation needs --yes; on one, no is no.
	run -2 --separate-stderr as_user alice smvs-rm --conversation bob
	assert_contains "$stderr" "needs --yes"
	run -1 on_terminal $'n\n' "SMVS_HOME='$(user_home alice)' smvs-rm --conversation bob"
	assert_contains "$output" "delete the whole conversation with bob? [y/N]"
	assert_equal "$(texts alice | wc -l)" 4

	run -0 as_user alice smvs-rm --conversation bob --yes
	assert_equal "$output" "deleted 2 messages"
	everywhere alice "$BATS_TEST_TMPDIR/laptop" phone "from carol" "to carol"

	run -2 --separate-stderr as_user alice smvs-rm --all
	assert_contains "$stderr" "needs --yes"
	run -0 on_terminal $'y\n' "SMVS_HOME='$(user_home alice)' smvs-rm --all"
	assert_contains "$output" "deleted 2 messages"
	everywhere alice "$BATS_TEST_TMPDIR/laptop" phone
	# shellcheck disable=SC2086 # one seq a word
	told_deleted "$BATS_TEST_TMPDIR/laptop" $seqs

	# The conversation starts again, as new.
	send bob alice "hello again"
	everywhere alice "$BATS_TEST_TMPDIR/laptop" phone "hello again"
}

@test "after a deletion no file of the data directory holds the marker, and a copy with the identity and passphrase opens none of the deleted messages" {
	BOB=$(user bob)
	start_host bob
	mkdir -p "$(user_home alice)"
	home=$(user_home alice)
	printf 'alice passphrase, long enough\n' >"$BATS_TEST_TMPDIR/pass"
	chmod 600 "$BATS_TEST_TMPDIR/pass"
	run -0 smvs-keygen -o "$home/identity" --passphrase-file "$BATS_TEST_TMPDIR/pass"
	start_host alice --passphrase-file "$BATS_TEST_TMPDIR/pass"
	peek() { SMVS_PASSPHRASE_FILE=$BATS_TEST_TMPDIR/pass "$STOREPEEK" -identity "$home/identity" "$@"; }

	marker="marker-$RANDOM$RANDOM-shredded"
	send bob alice "$marker one"
	send alice bob "$marker two"
	send bob alice "kept"
	send bob alice "$marker three"
	send alice bob "$marker four"
	gone=$(for t in one two three; do field alice "$marker $t" seq; done | sort -n)
	kept=$(field alice "kept" seq)
	[ "$(wc -w <<<"$gone")" = 3 ] && [ -n "$kept" ] || fail "seqs: $gone, $kept"
	cp -a "$home/store" "$BATS_TEST_TMPDIR/before"

	# shellcheck disable=SC2086 # one seq a word
	run -0 as_user alice smvs-rm $gone
	assert_equal "$output" "deleted 3 messages"
	run -0 grep -c "^$marker" <(texts alice)
	assert_equal "$output" 1
	cp -a "$home/store" "$BATS_TEST_TMPDIR/after"

	# Not in any file, in any form a grep finds, the host's log included.
	run grep -rlaF -- "$marker" "$home"
	assert_equal "$status" 1
	assert_equal "$output" ""
	# With the identity and its passphrase: a copy from after the deletion
	# opens what is kept and nothing that was deleted.
	# shellcheck disable=SC2086
	run -0 peek "$BATS_TEST_TMPDIR/after" $gone "$kept"
	assert_equal "$output" "$kept"
	# A copy from before it holds the root key of that time, and opens
	# them all, as smvs-rm(1) says under WHAT DELETION PROMISES.
	# shellcheck disable=SC2086
	run -0 peek "$BATS_TEST_TMPDIR/before" $gone "$kept"
	assert_equal "$output" "$(printf '%s\n' $gone "$kept" | sort -n)"

	# Nor does the database from before with root.key as it is now: the
	# keys that wrapped the deleted messages' keys are gone.
	mkdir "$BATS_TEST_TMPDIR/mixed"
	cp -a "$BATS_TEST_TMPDIR/before/." "$BATS_TEST_TMPDIR/mixed/"
	cp -a "$BATS_TEST_TMPDIR/after/root.key" "$BATS_TEST_TMPDIR/mixed/root.key"
	# shellcheck disable=SC2086
	run -0 peek "$BATS_TEST_TMPDIR/mixed" $gone
	assert_equal "$output" ""

	# A whole conversation, the same.
	four=$(field alice "$marker four" seq)
	run -0 as_user alice smvs-rm --conversation bob --yes
	cp -a "$home/store" "$BATS_TEST_TMPDIR/after-all"
	run -0 peek "$BATS_TEST_TMPDIR/after-all" "$kept" "$four"
	assert_equal "$output" ""
	run grep -rlaF -- "$marker" "$home"
	assert_equal "$output" ""
}

# gone_from USER SEQ succeeds once USER's history has no message SEQ.
gone_from() {
	local out
	out=$(history "$1") || return 1
	jq -se --argjson s "$2" 'any(.[]; .event == "message" and .seq == $s) | not' <<<"$out" >/dev/null
}

# EXPIRY_DELAY_MS is how long after its expiry a host deletes a message at
# the latest (smvs-hostd(8), PROTOCOL.md section 6.3).
EXPIRY_DELAY_MS=2000

# clock_past EPOCH_MS succeeds once the clock is past EPOCH_MS.
clock_past() {
	[ "$(date +%s%3N)" -gt "$1" ]
}

@test "smvs-send --expires 2s: gone from both hosts and a following device within the documented delay; a conversation's default too" {
	alice_and_bob
	link_device bob laptop
	follow laptop "$BATS_TEST_TMPDIR/laptop"
	send alice bob "stays"
	sent=$(date +%s%3N)
	run -0 as_user alice smvs-send --expires 2s bob <<<"gone in 2s"
	eventually 5 has_text bob "gone in 2s"
	in_seq=$(field bob "gone in 2s" seq)
	out_seq=$(field alice "gone in 2s" seq)
	eventually 5 shows "$BATS_TEST_TMPDIR/laptop" "stays" "gone in 2s"

	# 2 s, then at most the sweeper's delay.
	eventually 5 gone_from alice "$out_seq"
	eventually 5 gone_from bob "$in_seq"
	eventually 5 shows "$BATS_TEST_TMPDIR/laptop" "stays"
	elapsed=$(($(date +%s%3N) - sent))
	[ "$elapsed" -le $((2000 + EXPIRY_DELAY_MS + 1000)) ] || fail "gone only after ${elapsed}ms"
	told_deleted "$BATS_TEST_TMPDIR/laptop" "$in_seq"

	# A conversation's default expiry, set by alice, holds for both hosts.
	run -0 as_user alice smvs-rm --expire-after 2s bob
	assert_equal "$output" "messages with bob now disappear 2s after they are sent (before: never)"
	send alice bob "gone by default"
	send bob alice "gone by alice's default"
	eventually 6 lacks_text alice "gone by default"
	eventually 6 lacks_text bob "gone by default"
	eventually 6 lacks_text alice "gone by alice's default"
	run -0 as_user alice smvs-rm --expire-after off bob
	send alice bob "stays too"
	assert_equal "$(texts alice)" $'stays\nstays too'
}

@test "a message that expired while the recipient's host was stopped is gone when it starts, before anything is served" {
	alice_and_bob
	send alice bob "stays"
	send alice bob "expires while bob is down" --expires 3s
	gone=$(field bob "expires while bob is down" seq)
	kept=$(field bob "stays" seq)
	expires=$(field bob "expires while bob is down" expires)
	[ -n "$expires" ] && [ "$expires" != null ] || fail "bob's copy carries no expiry: $(history bob)"
	expires_ms=$(date -d "$expires" +%s%3N)
	kill -TERM "$BOB_PID" && wait "$BOB_PID" || true
	eventually 10 clock_past "$expires_ms"
	# alice's host, still running, deleted its copy meanwhile.
	eventually 5 lacks_text alice "expires while bob is down"

	start_host bob
	run -0 as_user bob smvs-recv --json
	refute_contains "$output" "expires while bob is down"
	assert_contains "$output" '"text":"stays"'
	cp -a "$(user_home bob)/store" "$BATS_TEST_TMPDIR/bob-store"
	run -0 "$STOREPEEK" -identity "$(user_home bob)/identity" "$BATS_TEST_TMPDIR/bob-store" "$gone" "$kept"
	assert_equal "$output" "$kept"
}

@test "delete for everyone: honoured by a peer's default policy, refused by a peer who refuses them, and refused for messages the requester did not send" {
	alice_and_bob
	CAROL=$(user carol)
	start_host carol --peer-deletes none
	send alice bob "unsend to bob"
	send alice bob "alice wrote this too"
	send bob alice "bob wrote this"
	send alice carol "unsend to carol"

	run -0 as_user alice smvs-rm --for-everyone --wait "$(field alice "unsend to bob" seq)"
	assert_contains "$output" "bob's host deleted 1 message"
	lacks_text alice "unsend to bob"
	lacks_text bob "unsend to bob"
	has_text bob "alice wrote this too"

	run -9 --separate-stderr as_user alice smvs-rm --for-everyone --wait "$(field alice "unsend to carol" seq)"
	assert_contains "$output" "carol's host refused to delete 1 message"
	assert_contains "$stderr" "smvs-rm: error: deleted here, but not every peer's host deleted its copies"
	lacks_text alice "unsend to carol"
	has_text carol "unsend to carol"

	# Asked by alice, as her software could, for a message bob sent: refused.
	poke() { "$HOSTPOKE" -identity "$(user_home alice)/identity" -addr "$BOB_ADDR" -expect "$BOB" "$@"; }
	run -0 poke delete "$(field bob "bob wrote this" id)"
	assert_equal "$output" "refused by policy: a delete request may name only messages its sender sent"
	has_text bob "bob wrote this"
	# The same request for one she did send is honoured.
	run -0 poke delete "$(field bob "alice wrote this too" id)"
	assert_equal "$output" "stored"
	eventually 5 lacks_text bob "alice wrote this too"
	has_text bob "bob wrote this"
}

# warnings USER ID prints the warnings smvs-recv --json shows on USER's
# message ID, one a line.
warnings() {
	history "$1" | jq -r --arg id "$2" 'select(.event == "message" and .id == $id) | .warnings // [] | .[]'
}

@test "a missing message, a fork and a changed message are each reported, and the conversation keeps flowing" {
	BOB=$(user bob)
	user carol >/dev/null
	start_host bob
	BOB_ADDR=$HOST_ADDR
	follow bob "$BATS_TEST_TMPDIR/bob"
	# carol's software, as a peer's could be: it chains as it likes.
	poke() { "$HOSTPOKE" -identity "$(user_home carol)/identity" -addr "$BOB_ADDR" -expect "$BOB" chain "$@"; }
	read -r status id1 h1 < <(poke "one")
	assert_equal "$status" stored
	read -r status id2 h2 < <(poke -prev "$h1" "two")
	assert_equal "$status" stored
	read -r status fork _ < <(poke -prev "$h1" "two, forked")
	assert_equal "$status" stored
	read -r status gap h4 < <(poke -prev "$h2" -skip "after a missing one")
	assert_equal "$status" stored
	read -r status _ _ < <(poke -id "$id1" "one, changed")
	read -r status id5 _ < <(poke -prev "$h4" "still flowing")
	assert_equal "$status" stored

	assert_equal "$(warnings bob "$id1")" changed
	assert_equal "$(warnings bob "$id2")" ""
	assert_equal "$(warnings bob "$fork")" fork
	assert_equal "$(warnings bob "$gap")" gap
	assert_equal "$(warnings bob "$id5")" ""
	assert_equal "$(texts bob)" $'one\ntwo\ntwo, forked\nafter a missing one\nstill flowing'
	# A following device is told as they come; smvs-recv in text says it on
	# stderr, one line each, naming the message; the host logs it.
	reported=("$id1 changed" "$fork fork" "$gap gap")
	for r in "${reported[@]}"; do
		read -r id what <<<"$r"
		eventually 5 warned "$BATS_TEST_TMPDIR/bob" "$id" "$what"
	done
	run -0 --separate-stderr as_user bob smvs-recv
	assert_equal "$(grep -c '^smvs-recv: warning: ' <<<"$stderr")" 3
	for r in "${reported[@]}"; do
		read -r id what <<<"$r"
		grep -Eq "^smvs-recv: warning: .* seq $(seq_of bob "$id")[^0-9].*\($what\)$" <<<"$stderr" ||
			fail "no $what warning for message $id in: $stderr"
	done
	run -0 grep -cE 'warning=(gap|fork|changed) seq=' "$(user_home bob)/hostd.out.log"
	assert_equal "$output" 3
}

# warned FILE ID WARNING succeeds once the follower writing FILE was told
# that message ID revealed WARNING.
warned() {
	jq -se --arg id "$2" --arg w "$3" 'any(.[]; .id == $id and any(.warnings // [] | .[]; . == $w))' "$1" >/dev/null
}

# seq_of USER ID prints the seq of USER's message ID.
seq_of() {
	history "$1" | jq -r --arg id "$2" 'select(.id == $id) | .seq'
}

# fingerprint USER PEER UNTIL prints how many messages USER's fingerprint
# of the conversation with PEER up to UNTIL covers, and the fingerprint in
# hex.
fingerprint() {
	local out
	out=$(as_user "$1" smvs-recv --fingerprint "$2" --until "$3" --json) || fail "smvs-recv --fingerprint: $out"
	jq -r '"\(.messages) \(.fingerprint)"' <<<"$out"
}

@test "fingerprints are equal on both sides of an intact conversation, stay equal after a deletion, and differ once a message was dropped" {
	alice_and_bob
	send alice bob "hello"
	send bob alice "hi"
	send alice bob "how are you?"
	until=$(now)
	a=$(fingerprint alice bob "$until") b=$(fingerprint bob alice "$until")
	assert_matches "$a" '^3 [0-9a-f]{64}$'
	assert_equal "$b" "$a"
	# What people read out: 12 groups of 5 digits, the same on both sides.
	run -0 as_user alice smvs-recv --fingerprint bob --until "$until"
	digits=$(grep -Ex '([0-9]{5} ){11}[0-9]{5}' <<<"$output")
	[ -n "$digits" ] || fail "no digits in: $output"
	assert_equal "$digits" "$(as_user alice smvs-recv --fingerprint bob --until "$until" --json | jq -r .digits)"
	run -0 as_user bob smvs-recv --fingerprint alice --until "$until"
	assert_contains "$output" "$digits"

	# A deletion keeps the message's hash: nothing to tell.
	run -0 as_user alice smvs-rm "$(field alice "hi" seq)"
	assert_equal "$(fingerprint alice bob "$until")" "$a"
	assert_equal "$(fingerprint bob alice "$until")" "$a"

	# A message bob holds and alice's host never sent: they differ, but
	# not up to a time before it.
	run -0 "$HOSTPOKE" -identity "$(user_home alice)/identity" -addr "$BOB_ADDR" -expect "$BOB" chain "only bob has this"
	assert_contains "$output" "stored"
	later=$(now)
	a=$(fingerprint alice bob "$later") b=$(fingerprint bob alice "$later")
	assert_matches "$a" '^3 '
	assert_matches "$b" '^4 '
	[ "${a#* }" != "${b#* }" ] || fail "equal fingerprints after a message was dropped: $a"
	assert_equal "$(fingerprint alice bob "$until")" "$(fingerprint bob alice "$until")"
}

@test "export, then import on a new machine: the same history; importing twice changes nothing; through age -p and back" {
	alice_and_bob
	send bob alice "from bob"
	send alice bob "to bob"
	head -c 3000 /dev/urandom >"$BATS_TEST_TMPDIR/notes.bin"
	run -0 as_user bob smvs-send --wait --file "$BATS_TEST_TMPDIR/notes.bin" alice
	send bob alice "unread"
	run -0 as_user alice smvs-recv --unread --mark-read
	send bob alice "last one"
	as_user alice smvs-recv --export >"$BATS_TEST_TMPDIR/export.ndjson"
	n=$(wc -l <"$BATS_TEST_TMPDIR/export.ndjson")
	assert_equal "$n" 5
	assert_equal "$(jq -r 'select(.signed_base64 | length > 0) | .seq' "$BATS_TEST_TMPDIR/export.ndjson" | wc -l)" 5
	want=$(history alice | comparable)

	move_to_new_machine alice "$ALICE_PID" "$ALICE_ADDR"
	assert_equal "$(history alice)" ""
	run -0 as_user alice smvs-recv --import "$BATS_TEST_TMPDIR/export.ndjson"
	assert_equal "$output" "imported $n messages (0 already here)"
	assert_equal "$(history alice | comparable)" "$want"
	file=$(history alice | jq -r 'select(.kind == "file") | .seq')
	as_user alice smvs-recv --raw "$file" | cmp - "$BATS_TEST_TMPDIR/notes.bin"
	run -0 as_user alice smvs-recv --import - <"$BATS_TEST_TMPDIR/export.ndjson"
	assert_equal "$output" "imported 0 messages ($n already here)"
	assert_equal "$(history alice | comparable)" "$want"
	# The conversation goes on from the imported history, its chain intact.
	send bob alice "after the move"
	assert_equal "$(field alice "after the move" warnings)" null
	until=$(now)
	assert_matches "$(fingerprint alice bob "$until")" '^6 '
	assert_equal "$(fingerprint alice bob "$until")" "$(fingerprint bob alice "$until")"

	# Through age with a passphrase typed at its prompt, and back on yet
	# another machine.
	home=$(user_home alice)
	run -0 on_terminal $'a long passphrase for the backup\na long passphrase for the backup\n' \
		"SMVS_HOME='$home' smvs-recv --export | age -p >'$BATS_TEST_TMPDIR/backup.age'"
	head -c 100 "$BATS_TEST_TMPDIR/backup.age" | grep -q '^age-encryption.org/v1' || fail "not an age file"
	want=$(history alice | comparable)
	move_to_new_machine alice "$HOST_PID" "$ALICE_ADDR"
	run -0 on_terminal $'a long passphrase for the backup\n' \
		"age -d '$BATS_TEST_TMPDIR/backup.age' | SMVS_HOME='$(user_home alice)' smvs-recv --import -"
	assert_contains "$output" "imported 6 messages (0 already here)"
	assert_equal "$(history alice | comparable)" "$want"
}
