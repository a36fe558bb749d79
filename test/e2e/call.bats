# Calls: smvs-call as separate processes at both ends, signalling through
# two real hosts, media device to device on 127.0.0.1, real ffmpeg and
# ffprobe at the edges.

setup_file() {
	local dir=$BATS_FILE_TMPDIR
	mkdir -p "$dir/hooked"
	go build -tags smvs_testhooks -o "$dir/hooked/smvs-hostd" ./cmd/smvs-hostd
	go build -o "$dir/turnserver" ./test/e2e/tools/turnserver
	local ff=(ffmpeg -hide_banner -loglevel error -y)
	"${ff[@]}" -f lavfi -i testsrc=size=640x360:rate=30 -t 5 -c:v libvpx -g 30 -deadline realtime -f ivf "$dir/vp8.ivf"
	"${ff[@]}" -f lavfi -i testsrc=size=640x360:rate=30 -t 5 -c:v libx264 -preset ultrafast -tune zerolatency \
		-pix_fmt yuv420p -g 30 -bsf:v h264_mp4toannexb -f h264 "$dir/h264.264"
	"${ff[@]}" -f lavfi -i testsrc=size=320x180:rate=30 -t 1 -c:v libvpx -g 30 -deadline realtime -f ivf "$dir/short.ivf"
	"${ff[@]}" -f lavfi -i sine=frequency=440:sample_rate=48000 -t 5 -c:a libopus -b:a 48k -f ogg "$dir/a.ogg"
	"${ff[@]}" -f lavfi -i sine=frequency=880:sample_rate=48000 -t 5 -c:a libopus -b:a 48k -f ogg "$dir/b.ogg"
}

setup() {
	load helpers
	smvs_setup
	MEDIA=$BATS_FILE_TMPDIR
	OUT=$BATS_TEST_TMPDIR
	start_dird dir && use_dird
	ALICE=$(user alice) BOB=$(user bob)
	start_host alice
	# Bob knows alice by name: her record pinned in his contacts.
	run -0 as_user bob smvs-register lookup alice
}

teardown() {
	stop_daemons
}

# call_bg NAME USER ARGS... starts `smvs-call ARGS` as USER in the
# background, on 127.0.0.1 only, with standard error in $OUT/NAME.err;
# the caller redirects standard input and output. It sets PID_NAME.
# (Each call runs under a deadline: no test can hang on one.)
call_bg() {
	local name=$1 user=$2
	shift 2
	SMVS_HOME="$(user_home "$user")" smvs-call --local-address 127.0.0.1 "$@" <&0 2>"$OUT/$name.err" 3>&- &
	printf -v "PID_$name" '%s' $!
}

# waiting NAME succeeds once smvs-call NAME waits for calls.
waiting() {
	grep -qs 'waiting for a call' "$OUT/$1.err"
}

# status_of PID [SECONDS] waits up to SECONDS (default 30) for PID to exit
# and sets STATUS to its exit status; past that it kills it and fails.
status_of() {
	local pid=$1 limit=${2:-30} i
	for i in $(seq $((limit * 10))); do
		if ! kill -0 "$pid" 2>/dev/null; then
			STATUS=0
			wait "$pid" || STATUS=$?
			return 0
		fi
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	fail "process $pid still running after ${limit}s"
}

# assert_status NAME WANT... checks that smvs-call NAME exits with one of
# the statuses WANT.
assert_status() {
	local name=$1 pid_var="PID_$1" want
	shift
	status_of "${!pid_var}" || return 1
	for want in "$@"; do
		[ "$STATUS" = "$want" ] && return 0
	done
	fail "smvs-call $name exited $STATUS, want $*: $(cat "$OUT/$name.err")"
}

# video_frames FILE prints the frames ffprobe decodes in FILE, its width
# and its height, separated by spaces.
video_frames() {
	ffprobe -v error -count_frames -select_streams v:0 \
		-show_entries stream=nb_read_frames,width,height -of csv=p=0 "$1" | awk -F, '{ print $3, $1, $2 }'
}

# assert_video FILE N W H: FILE holds at least 97% of N frames of W x H.
assert_video() {
	local frames width height
	read -r frames width height < <(video_frames "$1")
	[ "${frames:-0}" -ge $(($2 * 97 / 100)) ] || fail "$1: ${frames:-no} frames of $2"
	assert_equal "$width x $height" "$3 x $4"
}

# audio_packets FILE prints the number of audio packets in FILE.
audio_packets() {
	ffprobe -v error -count_packets -select_streams a:0 -show_entries stream=nb_read_packets -of csv=p=0 "$1"
}

@test "VP8 video and Opus audio go both ways at once, each side sending a file and writing what it receives" {
	start_host bob
	call_bg bob bob --answer --yes --audio-in "$MEDIA/b.ogg" --audio-out "$OUT/bob-got.ogg" \
		<"$MEDIA/vp8.ivf" >"$OUT/bob-got.ivf"
	eventually 10 waiting bob
	call_bg alice alice --audio-in "$MEDIA/a.ogg" --audio-out "$OUT/alice-got.ogg" bob \
		<"$MEDIA/vp8.ivf" >"$OUT/alice-got.ivf"
	# Each side hangs up at the end of its input; whoever is second hears
	# the other hang up.
	assert_status alice 0 10
	assert_status bob 0 10
	assert_contains "$(cat "$OUT/alice.err")" "smvs-call: ringing bob…"
	assert_contains "$(cat "$OUT/alice.err")" "smvs-call: connected to bob ($BOB)"
	assert_contains "$(cat "$OUT/bob.err")" "smvs-call: alice ($ALICE) is calling"
	assert_contains "$(cat "$OUT/bob.err")" "smvs-call: connected to"
	assert_video "$OUT/alice-got.ivf" 150 640 360
	assert_video "$OUT/bob-got.ivf" 150 640 360
	local sent
	sent=$(audio_packets "$MEDIA/a.ogg")
	for f in alice-got bob-got; do
		got=$(audio_packets "$OUT/$f.ogg")
		[ "$got" -ge $((sent * 97 / 100)) ] || fail "$f.ogg: $got audio packets of $sent"
		duration=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$OUT/$f.ogg")
		awk -v d="$duration" 'BEGIN { exit !(d >= 4.8) }' || fail "$f.ogg lasts $duration s"
	done
	[ "$(file_mode "$OUT/bob-got.ogg")" = 600 ]
}

@test "H.264 Annex-B goes both ways at once" {
	start_host bob
	call_bg bob bob --answer --yes <"$MEDIA/h264.264" >"$OUT/bob-got.264"
	eventually 10 waiting bob
	call_bg alice alice --format h264 --fps 30 bob <"$MEDIA/h264.264" >"$OUT/alice-got.264"
	assert_status alice 0 10
	assert_status bob 0 10
	assert_video "$OUT/alice-got.264" 150 640 360
	assert_video "$OUT/bob-got.264" 150 640 360
}

@test "a host in the middle rewriting the fingerprints of both sides consistently: both devices refuse the call with status 15, before any frame" {
	# The hooked build rewrites the DTLS fingerprint of every offer and
	# answer bob's host relays, both ways, keeping the device signatures:
	# it can't make alice's device's. (It relays no DTLS: the devices
	# refuse before any.)
	PATH="$MEDIA/hooked:$PATH" SMVS_TEST_REWRITE_FINGERPRINT=1 start_host bob
	run -0 as_user alice smvs-register lookup bob

	# Alice calls bob: bob's device gets the rewritten offer and refuses it
	# before it rings; alice's device hears, signed by bob's, why.
	call_bg bob bob --answer --yes <"$MEDIA/vp8.ivf" >"$OUT/bob-got.ivf"
	eventually 10 waiting bob
	call_bg alice alice bob <"$MEDIA/vp8.ivf" >"$OUT/alice-got.ivf"
	assert_status bob 15
	assert_contains "$(cat "$OUT/bob.err")" "smvs-call: error: the call signals from alice are not what alice's device signed (the signature on the offer does not verify"
	assert_contains "$(cat "$OUT/bob.err")" "someone may be tampering with the call"
	refute_contains "$(cat "$OUT/bob.err")" "is calling"
	assert_status alice 15
	assert_contains "$(cat "$OUT/alice.err")" "smvs-call: error: bob's device refused the call: the call signals it got are not what your device signed (the offer did not verify): someone may be tampering with the call"

	# Bob calls alice through his host: alice's device gets the rewritten
	# offer and refuses it.
	call_bg alice2 alice --answer --yes <"$MEDIA/vp8.ivf" >"$OUT/alice2-got.ivf"
	eventually 10 waiting alice2
	call_bg bob2 bob alice <"$MEDIA/vp8.ivf" >"$OUT/bob2-got.ivf"
	assert_status alice2 15
	assert_contains "$(cat "$OUT/alice2.err")" "smvs-call: error: the call signals from bob are not what bob's device signed (the signature on the offer does not verify"
	assert_contains "$(cat "$OUT/alice2.err")" "someone may be tampering with the call"
	assert_status bob2 15
	assert_contains "$(cat "$OUT/bob2.err")" "smvs-call: error: alice's device refused the call: the call signals it got are not what your device signed"
	for f in bob-got alice-got alice2-got bob2-got; do
		[ ! -s "$OUT/$f.ivf" ] || fail "$f.ivf holds $(wc -c <"$OUT/$f.ivf") bytes"
	done
}

@test "a peer can't make the other side report tampering with a hang-up reason: the words of a tamper report are a hang-up (10)" {
	# Bob's hooked host, playing a hostile peer, answers with an unsigned
	# hang-up whose reason is the words a tamper report once used.
	PATH="$MEDIA/hooked:$PATH" SMVS_TEST_FORGE_REASON=1 start_host bob
	call_bg bob bob --answer --yes --receive-only >"$OUT/bob-got.ivf"
	eventually 10 waiting bob
	call_bg alice alice bob <"$MEDIA/vp8.ivf" >"$OUT/alice-got.ivf"
	assert_status alice 10
	assert_contains "$(cat "$OUT/alice.err")" "smvs-call: bob hung up (unsigned, from a host: the DTLS certificate does not match the signed fingerprint)"
	refute_contains "$(cat "$OUT/alice.err")" "tampering"
	refute_contains "$(cat "$OUT/alice.err")" "someone may be"
	# Bob's device never heard of the forged hang-up: it gives up on a
	# connection alice closed.
	assert_status bob 10 16
	refute_contains "$(cat "$OUT/bob.err")" "tampering"
}

@test "--relay-only connects through the TURN server and gives the peer relay candidates only" {
	start_host bob
	"$MEDIA/turnserver" --listen 127.0.0.1:0 --user smvs-e2e=s3cret-relay >"$OUT/turn.out" 2>"$OUT/turn.log" 3>&- &
	DAEMONS+=($!)
	wait_for_line "$OUT/turn.out" "${DAEMONS[-1]}" turnserver
	turn=$(sed -n 's/^turnserver: listening on //p' "$OUT/turn.out")
	# The password comes from a file only its owner can read.
	printf 'smvs-e2e:s3cret-relay\n' >"$OUT/turn-credentials"
	chmod 644 "$OUT/turn-credentials"
	run -1 --separate-stderr as_user alice smvs-call --relay-only --turn "turn:$turn?transport=udp" \
		--turn-credentials "$OUT/turn-credentials" bob </dev/null
	assert_contains "$stderr" "is readable by others (mode 0644)"
	chmod 600 "$OUT/turn-credentials"

	relay=(--relay-only --turn "turn:$turn?transport=udp" --turn-credentials "$OUT/turn-credentials" --log-level debug)
	call_bg bob bob --answer --yes "${relay[@]}" --receive-only >"$OUT/bob-got.ivf"
	eventually 10 waiting bob
	call_bg alice alice "${relay[@]}" bob <"$MEDIA/short.ivf" >/dev/null
	assert_status alice 0
	assert_status bob 10
	assert_video "$OUT/bob-got.ivf" 30 320 180
	# Each side allocated a relay, and every candidate either sent was one.
	[ "$(grep -c 'allocation for smvs-e2e' "$OUT/turn.log")" -ge 2 ] || fail "allocations: $(cat "$OUT/turn.log")"
	for side in alice bob; do
		sent=$(grep 'msg="call signal sent"' "$OUT/$side.err" | grep -o 'candidate=".*' || true)
		[ -n "$sent" ] || fail "$side logged no candidate it sent: $(cat "$OUT/$side.err")"
		grep -q ' typ relay' <<<"$sent" || fail "$side sent no relay candidate: $sent"
		refute_contains "$sent" " typ host"
		refute_contains "$sent" " typ srflx"
		refute_contains "$sent" " typ prflx"
	done
}

@test "a call nobody answers ends with status 11; a declined call with 12; the callee's device rings on its terminal" {
	start_host bob
	# Bob's device rings, on a terminal nobody types into.
	sleep 8 | script -qec "SMVS_HOME='$(user_home bob)' smvs-call --answer --receive-only --local-address 127.0.0.1 \
		</dev/null >'$OUT/bob-got.ivf' 2>'$OUT/bob.err'" /dev/null >"$OUT/bob.tty" 2>&1 3>&- &
	PID_bob=$!
	eventually 10 waiting bob
	call_bg alice alice --ring-timeout 1s bob <"$MEDIA/short.ivf" >/dev/null
	assert_status alice 11
	assert_contains "$(cat "$OUT/alice.err")" "smvs-call: error: bob did not answer"
	assert_status bob 10
	assert_contains "$(cat "$OUT/bob.tty")" "answer the call from alice? [y/N]"
	assert_contains "$(cat "$OUT/bob.err")" "the call from alice ended before it was answered"

	# Bob types n.
	printf 'n\n' | script -qec "SMVS_HOME='$(user_home bob)' smvs-call --answer --receive-only --local-address 127.0.0.1 \
		</dev/null >'$OUT/bob-got.ivf' 2>'$OUT/bob2.err'" /dev/null >"$OUT/bob2.tty" 2>&1 3>&- &
	PID_bob2=$!
	eventually 10 waiting bob2
	call_bg alice2 alice bob <"$MEDIA/short.ivf" >/dev/null
	assert_status alice2 12
	assert_contains "$(cat "$OUT/alice2.err")" "smvs-call: error: bob declined the call"
	assert_status bob2 12
	assert_contains "$(cat "$OUT/bob2.err")" "smvs-call: declined the call from alice"

	# Without a terminal, answering needs --yes.
	run -2 --separate-stderr as_user bob setsid smvs-call --answer </dev/null
	assert_contains "$stderr" "no terminal to ask whether to answer"
}

@test "a call to bob while he is in a call gets busy (13); with no device of his waiting, unavailable (14)" {
	start_host bob
	CAROL=$(user carol)
	start_host carol
	run -14 --separate-stderr as_user alice smvs-call --local-address 127.0.0.1 bob <"$MEDIA/short.ivf"
	assert_contains "$stderr" "smvs-call: error: bob can't take a call now: no device is waiting for calls"

	call_bg bob bob --answer --yes --send-only <"$MEDIA/vp8.ivf"
	eventually 10 waiting bob
	call_bg alice alice --receive-only bob >"$OUT/alice-got.ivf"
	eventually 10 grep -q 'connected to' "$OUT/alice.err"
	run -13 --separate-stderr as_user carol smvs-call --local-address 127.0.0.1 bob <"$MEDIA/short.ivf"
	assert_contains "$stderr" "smvs-call: error: bob is busy in another call"
	assert_status bob 0
	assert_status alice 10
	assert_contains "$(cat "$OUT/alice.err")" "smvs-call: bob hung up"
}

@test "the caller hanging up ends the callee with status 10: at the end of its input, and at Ctrl-C" {
	start_host bob
	call_bg bob bob --answer --yes --receive-only >"$OUT/bob-got.ivf"
	eventually 10 waiting bob
	call_bg alice alice bob <"$MEDIA/short.ivf" >/dev/null
	assert_status alice 0
	assert_contains "$(cat "$OUT/alice.err")" "smvs-call: hung up: the input ended"
	assert_status bob 10
	assert_contains "$(cat "$OUT/bob.err")" "smvs-call: alice hung up"
	assert_video "$OUT/bob-got.ivf" 30 320 180

	call_bg bob2 bob --answer --yes --receive-only >/dev/null
	eventually 10 waiting bob2
	call_bg alice2 alice --receive-only bob >/dev/null
	eventually 10 grep -q 'connected to' "$OUT/alice2.err"
	kill -INT "$PID_alice2"
	assert_status alice2 130
	assert_contains "$(cat "$OUT/alice2.err")" "smvs-call: interrupted: hung up on bob"
	assert_status bob2 10
}

@test "two devices of bob ring; the first to answer takes the call, the other exits 17" {
	start_host bob
	mkdir -p "$(user_home laptop)"
	run -0 as_user laptop smvs-keygen --device -o "$(user_home laptop)/device"
	out=$(as_user bob smvs-device pair --json --name laptop) || fail "smvs-device pair: $out"
	code=$(sed -n 's/.*"code":"\([^"]*\)".*/\1/p' <<<"$out")
	addr=$(sed -n 's/.*"address":"\([^"]*\)".*/\1/p' <<<"$out")
	run -0 as_user laptop smvs-device link "$addr" "$BOB" "$code"

	call_bg desk bob --answer --yes --receive-only >"$OUT/desk-got.ivf"
	call_bg laptop laptop --answer --yes --receive-only >"$OUT/laptop-got.ivf"
	eventually 10 waiting desk
	eventually 10 waiting laptop
	call_bg alice alice bob <"$MEDIA/short.ivf" >/dev/null
	assert_status alice 0
	status_of "$PID_desk" && desk=$STATUS
	status_of "$PID_laptop" && laptop=$STATUS
	case "$desk $laptop" in
	"10 17") winner=desk loser=laptop ;;
	"17 10") winner=laptop loser=desk ;;
	*) fail "desk exited $desk, laptop $laptop: $(cat "$OUT/desk.err" "$OUT/laptop.err")" ;;
	esac
	assert_contains "$(cat "$OUT/$loser.err")" "answered on another device"
	assert_video "$OUT/$winner-got.ivf" 30 320 180
	[ ! -s "$OUT/$loser-got.ivf" ] || fail "the $loser wrote video too"
}

@test "a live feed from ffmpeg with --live; bob rings only for alice and prints --stats; --camera says how to get it" {
	start_host bob
	user carol >/dev/null
	start_host carol
	call_bg bob bob --answer --yes --from alice --stats --receive-only >"$OUT/bob-got.ivf"
	eventually 10 waiting bob
	# Bob waits for alice only: carol finds no device of his waiting.
	call_bg carol carol --receive-only bob >/dev/null
	assert_status carol 14
	mkfifo "$OUT/live.ivf"
	ffmpeg -hide_banner -loglevel error -re -i "$MEDIA/vp8.ivf" -c copy -f ivf -y "$OUT/live.ivf" 3>&- &
	call_bg alice alice --live bob <"$OUT/live.ivf" >/dev/null
	assert_status alice 0
	assert_status bob 10
	assert_video "$OUT/bob-got.ivf" 150 640 360
	grep -Eq '^smvs-call: rtt [0-9.]+ms loss [0-9.]+% jitter [0-9.]+ms in [0-9]+kbit/s [0-9]+fps' "$OUT/bob.err" ||
		fail "no stats line: $(cat "$OUT/bob.err")"

	run -1 --separate-stderr as_user alice smvs-call --camera bob
	assert_contains "$stderr" "-tags mediadevices"
}

@test "a call answered that can't connect ends with 16 on both sides, whichever side gives up first" {
	start_host bob
	call_bg bob bob --answer --yes --receive-only >/dev/null
	eventually 10 waiting bob
	# Alice offers only an address no interface of hers has: no ICE path
	# can exist, and both sides give up within moments of each other.
	SMVS_HOME="$(user_home alice)" smvs-call --local-address 192.0.2.7 bob <"$MEDIA/short.ivf" >/dev/null 2>"$OUT/alice.err" 3>&- &
	PID_alice=$!
	assert_status alice 16
	assert_status bob 16
	assert_contains "$(cat "$OUT/alice.err")" "could not connect to bob"
	assert_contains "$(cat "$OUT/bob.err")" "could not connect to alice"
	refute_contains "$(cat "$OUT/alice.err")" "smvs-call: bob hung up"
	refute_contains "$(cat "$OUT/bob.err")" "smvs-call: alice hung up"
}
