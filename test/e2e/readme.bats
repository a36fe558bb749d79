# The README is a test: every console block of its stories runs as written,
# typed into a terminal of its own per prompt (alice$, bob$, laptop$, $), and
# shows what the README says it shows. Only what can't exist on a test
# machine is substituted, the same way everywhere: a camera becomes ffmpeg's
# test source, a screen a file, a public TURN server a local one; keys, pins,
# pairing codes and addresses are bound to what the commands really print.
# See test/e2e/tools/doctest.

setup_file() {
	go build -o "$BATS_FILE_TMPDIR/doctest" ./test/e2e/tools/doctest
	go build -o "$BATS_FILE_TMPDIR/turnserver" ./test/e2e/tools/turnserver
}

setup() {
	load helpers
	smvs_setup
	unset SMVS_HOME # the stories set it where the README does
	WORK=$BATS_TEST_TMPDIR/work
	mkdir -p "$WORK"
}

teardown() {
	stop_daemons
}

# readme_fixtures makes the files the README's stories take as given.
readme_fixtures() {
	head -c 3000 /dev/urandom >"$WORK/notes.pdf"
	echo "deploy 1.4.2 started" >"$WORK/deploy.log"
	local ff=(ffmpeg -hide_banner -loglevel error -nostdin -y)
	"${ff[@]}" -f lavfi -i testsrc=size=320x180:rate=30 -t 2 -c:v libvpx -g 30 -deadline realtime -f ivf "$WORK/cam.ivf"
	"${ff[@]}" -f lavfi -i testsrc=size=320x180:rate=30 -t 5 -c:v libvpx -g 30 -deadline realtime -f ivf "$WORK/greeting.ivf"
	"${ff[@]}" -f lavfi -i sine=frequency=440:sample_rate=48000 -t 2 -c:a libopus -b:a 48k -f ogg "$WORK/mic.ogg"
	echo "readme:turn-secret" >"$HOME/turn-credentials"
	chmod 600 "$HOME/turn-credentials"
	mkdir -m 700 -p "$HOME/.secrets"
	echo "ops passphrase, long enough" >"$HOME/.secrets/ops-pass"
}

@test "the README's stories, as written" {
	readme_fixtures
	"$BATS_FILE_TMPDIR/turnserver" --listen 127.0.0.1:0 --realm smvs --user readme=turn-secret \
		>"$BATS_TEST_TMPDIR/turn.out" 2>"$BATS_TEST_TMPDIR/turn.out.log" &
	DAEMONS+=($!)
	wait_for_line "$BATS_TEST_TMPDIR/turn.out" "$!" turnserver
	local turn
	turn=$(sed -n 's/^turnserver: listening on //p' "$BATS_TEST_TMPDIR/turn.out")

	# Calls offer only 127.0.0.1: tests talk to no other address.
	SMVS_LOCAL_ADDRESS=127.0.0.1 run "$BATS_FILE_TMPDIR/doctest" -dir "$WORK" \
		-prefix smvs1 -prefix smvsdev1 -prefix sha256// -prefix age1 \
		-bind 7K2M-QX9P-4TRD-HB3W -bind 192.0.2.7:7447 -bind 42 -bind 317 -bind 318 -bind 30251 -bind 88490 \
		-subst '-f v4l2 -i /dev/video0=-re -f lavfi -i testsrc=size=320x180:rate=30' \
		-subst '-g 30 -f ivf -=-g 30 -t 4 -f ivf -' \
		-subst 'ffplay -f ivf -=cat >/dev/null' \
		-subst "turn.example.net:3478=$turn" \
		-answer '[y/N] =y' \
		-answer 'passphrase for the new key:=ops passphrase, long enough' \
		-answer 'Confirm passphrase:=ops passphrase, long enough' \
		"$BATS_TEST_DIRNAME/../../README.md"
	printf '%s\n' "$output"
	[ "$status" -eq 0 ]
}
