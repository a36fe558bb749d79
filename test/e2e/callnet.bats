# Calls on real networks (issue 14): alice's host and smvs-call in
# namespace A, bob's in B, the directory in A, and between them netlab's
# path (netlab.bash), which delays, loses and reorders packets, and can put
# B behind a NAT. Each test prints what it measured on fd 3.

setup_file() {
	load netlab
	[ "$(id -u)" = 0 ] || {
		echo "callnet.bats makes network namespaces: run it as root (make test does, on CI)" >&3
		return 1
	}
	netlab_build
	local dir=$BATS_FILE_TMPDIR
	(cd "$BATS_TEST_DIRNAME" && go build -o "$dir/turnserver" ./tools/turnserver)
	# Ten seconds of 640x360 VP8 at 30 frames a second, a keyframe a second.
	ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc=size=640x360:rate=30 -t 10 \
		-c:v libvpx -b:v 1M -g 30 -deadline realtime -f ivf "$dir/vp8.ivf"
	# Its first 3 s, for a test of a call's start.
	ffmpeg -hide_banner -loglevel error -y -i "$dir/vp8.ivf" -t 3 -c copy -f ivf "$dir/start.ivf"
	ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc=size=320x180:rate=30 -t 2 \
		-c:v libvpx -g 30 -deadline realtime -f ivf "$dir/short.ivf"
	local clip
	for clip in vp8 start short; do
		hashes "$dir/$clip.ivf" >"$dir/$clip.md5"
	done
}

setup() {
	load helpers
	load netlab
	smvs_setup
	MEDIA=$BATS_FILE_TMPDIR
	OUT=$BATS_TEST_TMPDIR
}

teardown() {
	netlab_down
	stop_daemons
}

# lab [NETIMPAIR_FLAG...] brings the lab up with the path's impairment,
# starts the directory and both hosts, and pins alice's record in bob's
# contacts.
lab() {
	netlab_world "$@"
	# The directory is in A: only the lab's namespaces reach it.
	run -0 netlab_exec B env SMVS_HOME="$(user_home bob)" smvs-register lookup alice
}

# ns A|B prints the name of that namespace of the lab. A command started
# in the background as `ip netns exec "$(ns A)" COMMAND &` is $! itself
# (ip execs it), so that a signal to $! reaches it.
ns() {
	case $1 in
	A) echo "$NETLAB_A" ;;
	B) echo "$NETLAB_B" ;;
	*) fail "no namespace $1" ;;
	esac
}

# call_bg NAME A|B USER ARGS... starts `smvs-call ARGS` as USER in that
# namespace, in the background, with standard error in $OUT/NAME.err; the
# caller redirects standard input and output. It sets PID_NAME.
call_bg() {
	local name=$1 ns user=$3
	ns=$(ns "$2") || return
	shift 3
	SMVS_HOME="$(user_home "$user")" ip netns exec "$ns" smvs-call "$@" <&0 2>"$OUT/$name.err" 3>&- &
	printf -v "PID_$name" '%s' $!
}

waiting() {
	grep -qs 'waiting for a call' "$OUT/$1.err"
}

connected() {
	grep -qs 'connected to' "$OUT/$1.err"
}

# status_of PID [SECONDS] waits up to SECONDS (default 40) for PID to exit
# and sets STATUS to its exit status; past that it kills it and fails.
status_of() {
	local pid=$1 limit=${2:-40} i
	for ((i = 0; i < limit * 10; i++)); do
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

# hashes FILE prints the MD5 of each frame of the IVF file FILE, in order.
hashes() {
	ffmpeg -v error -i "$1" -c copy -f framemd5 - | awk -F', *' '!/^#/ { print $NF }'
}

# frames FILE [CLIP] prints, for the IVF file FILE a receiver wrote of the
# clip CLIP (vp8, the default; start; short), separated by spaces: how
# many frames ffprobe decodes; the longest gap between two frames
# delivered intact, in ms of the sent video (a freeze, for the viewer; from
# the start of the video, and to its end); and how many frames of its first
# GOP (the first 30) were delivered intact. Frames are told apart by
# content: a receiver's timestamps start at the first frame it writes, so
# they can't tell a lost opening.
frames() {
	local decoded=0
	[ ! -s "$1" ] || decoded=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$1")
	{ [ ! -s "$1" ] || hashes "$1"; } | awk -v decoded="$decoded" -v sent="$MEDIA/${2:-vp8}.md5" '
		BEGIN { while ((getline h <sent) > 0) index_of[h] = n++ }
		$0 in index_of { got[index_of[$0]] = 1 }
		END {
			last = -1
			for (i = 0; i <= n; i++) {
				if (i < n && !(i in got)) continue
				if (i - last > gap) gap = i - last
				if (i < 30) first++
				last = i
			}
			printf "%d %d %d\n", decoded, gap * 1000 / 30 + 0.5, first
		}'
}

# rtp_sdp PORT FILE writes the SDP a plain RTP receiver of ffmpeg's VP8 on
# PORT reads, as the sender's -sdp_file has it but for the address, where
# the receiver sends its RTCP reports: 127.0.0.1 keeps them at home.
rtp_sdp() {
	printf 'v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=No Name\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video %s RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n' \
		"$1" >"$2"
}

# rtp_recv A|B PORT OUT starts ffmpeg in that namespace receiving plain RTP
# on PORT and writing the VP8 frames it gets, as they come, to OUT, until
# no packet came for 2 s; it waits until the port is open, and sets
# RTP_RECV_PID.
rtp_recv() {
	rtp_sdp "$2" "$OUT/rtp-$2.sdp"
	ip netns exec "$(ns "$1")" ffmpeg -hide_banner -loglevel error -nostdin -protocol_whitelist file,udp,rtp \
		-listen_timeout 2 -i "$OUT/rtp-$2.sdp" -c copy -f ivf -y "$3" 2>"$OUT/rtp-recv-$2.log" 3>&- &
	RTP_RECV_PID=$!
	DAEMONS+=("$RTP_RECV_PID")
	eventually 10 udp_open "$1" "$2"
}

# udp_open A|B PORT succeeds once a UDP socket of that namespace is bound
# to PORT.
udp_open() {
	ip netns exec "$(ns "$1")" ss -Hlun "sport = :$2" | grep -q .
}

# rtp_send A|B ADDR PORT starts ffmpeg in that namespace sending the
# 10 s VP8 file at its own pace as plain RTP to ADDR:PORT: no
# retransmission, no keyframe on request, what RTP alone does.
rtp_send() {
	ip netns exec "$(ns "$1")" ffmpeg -hide_banner -loglevel error -nostdin -re -i "$MEDIA/vp8.ivf" -c copy \
		-f rtp "rtp://$2:$3?pkt_size=1200" >"$OUT/rtp-send-$3.sdp" 2>"$OUT/rtp-send-$3.log" 3>&- &
	DAEMONS+=($!)
}

# compare LOSS: a 10 s call both ways over a path of 50 ms each way and
# LOSS percent loss, and beside it in the same run plain RTP both ways:
# SMVS delivers each way at least as many frames as plain RTP does.
compare() {
	lab --delay 50ms --loss "$1"
	call_bg bob B bob --answer --yes <"$MEDIA/vp8.ivf" >"$OUT/smvs-to-bob.ivf"
	eventually 10 waiting bob
	call_bg alice A alice bob <"$MEDIA/vp8.ivf" >"$OUT/smvs-to-alice.ivf"
	# Plain RTP starts as the call's media does, so both meet the same
	# path at the same moments.
	eventually 20 connected alice
	rtp_recv B 5004 "$OUT/rtp-to-bob.ivf"
	local recv_bob=$RTP_RECV_PID
	rtp_recv A 5006 "$OUT/rtp-to-alice.ivf"
	local recv_alice=$RTP_RECV_PID
	rtp_send A "$NETLAB_B_ADDR" 5004
	local send_bob=${DAEMONS[-1]}
	rtp_send B "$NETLAB_A_ADDR" 5006
	local send_alice=${DAEMONS[-1]}

	assert_status alice 0 10
	assert_status bob 0 10
	status_of "$send_bob" 20
	status_of "$send_alice" 20
	# The receivers write what they got and stop 2 s after the last packet.
	status_of "$recv_bob" 10
	status_of "$recv_alice" 10

	local smvs_ab smvs_ab_gap rtp_ab rtp_ab_gap smvs_ba smvs_ba_gap rtp_ba rtp_ba_gap
	read -r smvs_ab smvs_ab_gap _ < <(frames "$OUT/smvs-to-bob.ivf")
	read -r rtp_ab rtp_ab_gap _ < <(frames "$OUT/rtp-to-bob.ivf")
	read -r smvs_ba smvs_ba_gap _ < <(frames "$OUT/smvs-to-alice.ivf")
	read -r rtp_ba rtp_ba_gap _ < <(frames "$OUT/rtp-to-alice.ivf")
	echo "# $1% loss, 100 ms RTT: frames decoded of 300 sent (longest freeze):" \
		"alice→bob SMVS $smvs_ab ($smvs_ab_gap ms), plain RTP $rtp_ab ($rtp_ab_gap ms);" \
		"bob→alice SMVS $smvs_ba ($smvs_ba_gap ms), plain RTP $rtp_ba ($rtp_ba_gap ms)" >&3
	echo "# the path: $(netlab_stats | jq -c '{ab: .ab | {in, lost}, ba: .ba | {in, lost}}')" >&3
	[ "$rtp_ab" -gt 0 ] && [ "$rtp_ba" -gt 0 ] || fail "plain RTP delivered nothing: $(cat "$OUT"/rtp-*.log)"
	[ "$smvs_ab" -ge "$rtp_ab" ] || fail "alice→bob: SMVS delivered $smvs_ab frames, plain RTP $rtp_ab"
	[ "$smvs_ba" -ge "$rtp_ba" ] || fail "bob→alice: SMVS delivered $smvs_ba frames, plain RTP $rtp_ba"
}

@test "a 10 s VP8 call both ways over 100 ms RTT and 1% loss delivers at least the frames plain RTP does" {
	compare 1
}

@test "a 10 s VP8 call both ways over 100 ms RTT and 5% loss delivers at least the frames plain RTP does" {
	compare 5
}

@test "with 10 ms jitter and reordering, no loss: no frame of the first GOP is lost, either way" {
	# Jitter alone keeps the order (netimpair); 30% of the packets held
	# back 15 ms overtake the opening keyframe's first packet in most runs,
	# where a few % did in about one run in three: smvs-call before the
	# assembler held what comes before that packet lost the first GOP in
	# 1 of 3 runs at 5%, in 3 of 3 at 30%.
	lab --delay 50ms --jitter 10ms --reorder 30 --reorder-by 15ms
	call_bg bob B bob --answer --yes <"$MEDIA/start.ivf" >"$OUT/smvs-to-bob.ivf"
	eventually 10 waiting bob
	call_bg alice A alice bob <"$MEDIA/start.ivf" >"$OUT/smvs-to-alice.ivf"
	assert_status alice 0 10
	assert_status bob 0 10
	local ab ab_gap ab_first ba ba_gap ba_first
	read -r ab ab_gap ab_first < <(frames "$OUT/smvs-to-bob.ivf" start)
	read -r ba ba_gap ba_first < <(frames "$OUT/smvs-to-alice.ivf" start)
	echo "# of the first GOP's 30 frames: alice→bob $ab_first, bob→alice $ba_first delivered intact;" \
		"of 90: $ab and $ba (longest freeze $ab_gap and $ba_gap ms);" \
		"the path: $(netlab_stats | jq -c '{ab: .ab | {in, reordered}, ba: .ba | {in, reordered}}')" >&3
	[ "$ab_first" = 30 ] || fail "alice→bob: $ab_first frames of the first GOP's 30"
	[ "$ba_first" = 30 ] || fail "bob→alice: $ba_first frames of the first GOP's 30"
}

# sent_candidates NAME prints the candidates smvs-call NAME logged sending
# (--log-level debug), one a line.
sent_candidates() {
	grep 'msg="call signal sent"' "$OUT/$1.err" | grep -o 'candidate=".*' || true
}

@test "--relay-only reaches a callee behind a NAT that has no STUN or TURN configured: the call connects, and alice gives only relay candidates" {
	lab --delay 20ms
	netlab_nat on
	# Bob's host connects out to alice's, which reaches his over that
	# connection (his record gives his private address).
	run -0 as_user bob smvs-send alice <<<"call me"
	eventually 20 was_delivered bob "call me"

	# Alice's TURN server is on the public side, in A.
	ip netns exec "$NETLAB_A" "$MEDIA/turnserver" --listen "$NETLAB_A_ADDR:3478" --user smvs-e2e=s3cret-relay \
		>"$OUT/turn.out" 2>"$OUT/turn.log" 3>&- &
	DAEMONS+=($!)
	wait_for_line "$OUT/turn.out" "${DAEMONS[-1]}" turnserver
	printf 'smvs-e2e:s3cret-relay\n' >"$OUT/turn-credentials"
	chmod 600 "$OUT/turn-credentials"

	# Bob: nothing configured.
	call_bg bob B bob --answer --yes --receive-only --log-level debug >"$OUT/bob-got.ivf"
	eventually 10 waiting bob
	call_bg alice A alice --relay-only --turn "turn:$NETLAB_A_ADDR:3478?transport=udp" --turn-credentials "$OUT/turn-credentials" \
		--log-level debug bob <"$MEDIA/short.ivf" >/dev/null
	assert_status alice 0
	assert_status bob 10
	read -r got _ < <(frames "$OUT/bob-got.ivf" short)
	echo "# bob behind the NAT got $got frames of 60 through alice's relay; his candidates: $(sent_candidates bob | grep -o 'typ [a-z]*' | sort | uniq -c | xargs)" >&3
	[ "$got" -ge 58 ] || fail "bob got $got frames of 60"
	# What let the relay in: bob asked alice's TURN server, which her offer
	# named, for his public address (the NAT's).
	sent_candidates bob | grep -q " $NETLAB_R_PUBLIC [0-9]* typ srflx" || fail "bob sent no candidate with the NAT's address: $(sent_candidates bob)"
	sent=$(sent_candidates alice)
	[ -n "$sent" ] || fail "alice logged no candidate she sent: $(cat "$OUT/alice.err")"
	grep -q ' typ relay' <<<"$sent" || fail "alice sent no relay candidate: $sent"
	bad=$(grep -v ' typ relay' <<<"$sent" || true)
	[ -z "$bad" ] || fail "alice sent candidates other than relays: $bad"
	# Only alice allocated a relay: bob has no account, and got none.
	[ "$(grep -c 'allocation for' "$OUT/turn.log")" = 1 ] || fail "allocations: $(cat "$OUT/turn.log")"
}
