# Containers: the images `make image` builds (deploy/*.Containerfile) and
# the world of deploy/compose.yaml, a directory and three users' hosts,
# run with podman and podman-compose as the README's story "Host SMVS in a
# container" has it. scripts/install-deps installs them from Debian; on
# these machines podman needs the runc runtime and no default ulimits,
# which a containers.conf of the tests' own says (CONTAINERS_CONF), so the
# machine's is left alone.

setup_file() {
	command -v podman >/dev/null && command -v podman-compose >/dev/null ||
		{ echo "no podman or podman-compose: run scripts/install-deps" >&2; return 1; }
	export CONTAINERS_CONF=$BATS_FILE_TMPDIR/containers.conf
	printf '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\n' >"$CONTAINERS_CONF"
	go build -o "$BATS_FILE_TMPDIR/promcheck" "$BATS_TEST_DIRNAME/tools/promcheck"
	# The images, as make image builds them, once for every test here:
	# tagged e2e (and latest), so that runs don't pile up versions, and
	# those of an earlier run, left with no tag, removed.
	VERSION=e2e "$BATS_TEST_DIRNAME/../../scripts/image" >"$BATS_FILE_TMPDIR/image.log" 2>&1 ||
		{ cat "$BATS_FILE_TMPDIR/image.log" >&2; return 1; }
	podman image prune -f --filter label=org.opencontainers.image.vendor=SMVS >/dev/null
}

setup() {
	load helpers
	smvs_setup
	PATH="$BATS_FILE_TMPDIR:$PATH"
	PROJECT=smvs-test-$$-$BATS_TEST_NUMBER
}

teardown() {
	if [ -n "${WORLD:-}" ]; then
		(cd "$WORLD" && podman-compose -p "$PROJECT" down -t 5 >/dev/null 2>&1) || true
		# podman-compose 1.0.3 leaves the project's network.
		podman network rm -f "${PROJECT}_default" >/dev/null 2>&1 || true
	fi
	stop_daemons
}

# The uid the containers run as: a user with no name.
UID_C=65532

# free_port prints a TCP port of 127.0.0.1 nothing listens on now.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# compose ARGS... runs podman-compose on the world's project.
compose() {
	(cd "$WORLD" && podman-compose -p "$PROJECT" "$@") >>"$WORLD/compose.log" 2>&1 ||
		fail "podman-compose $*: $(tail -20 "$WORLD/compose.log")"
}

# ctr SERVICE prints the name of the service's container.
ctr() {
	printf '%s_%s_1\n' "$PROJECT" "$1"
}

# dev USER COMMAND... runs a device command (smvs-send, smvs-recv…) on this
# machine for USER, whose host runs in a container: with the user's volume
# as SMVS_HOME, as the containers' uid, as the README says.
dev() {
	local user=$1
	shift
	setpriv --reuid="$UID_C" --regid="$UID_C" --clear-groups \
		env HOME="$WORLD" SMVS_HOME="$WORLD/$user" SMVS_DIR="https://127.0.0.1:$DIRD_PORT" SMVS_DIR_PIN="$DIR_PIN" \
		PATH="$WORLD/bin:/usr/bin:/bin" "$@"
}

# world makes the world of the README's story in $WORLD and starts it:
# the identities of alice and bob made by smvs-keygen here, carol's inside
# her agent's container; the directory first, its pin into .env, then the
# rest. It sets WORLD, DIR_PIN and the ports published on 127.0.0.1.
world() {
	WORLD=$BATS_TEST_TMPDIR/world
	mkdir -p "$WORLD/bin"
	# The device commands run as the containers' uid, which must reach them.
	local d=$WORLD
	while [ "$d" != / ]; do
		chmod o+x "$d"
		d=$(dirname "$d")
	done
	cp "$(command -v smvs-send)" "$(command -v smvs-recv)" "$(command -v smvs-register)" "$WORLD/bin/"
	cp "$BATS_TEST_DIRNAME/../../deploy/compose.yaml" "$WORLD/"
	cd "$WORLD"
	mkdir dird alice bob carol carol-agent carol-sock
	ALICE=$(new_identity alice/identity) BOB=$(new_identity bob/identity)
	chown -R "$UID_C:$UID_C" dird alice bob carol carol-agent carol-sock
	DIRD_PORT=$(free_port)
	cat >.env <<-EOF
		SMVS_DIRD_PORT=$DIRD_PORT
		SMVS_DIRD_METRICS_PORT=$(free_port)
		SMVS_ALICE_METRICS_PORT=$(free_port)
		SMVS_BOB_METRICS_PORT=$(free_port)
		SMVS_CAROL_METRICS_PORT=$(free_port)
	EOF
	compose run --rm --entrypoint /usr/bin/smvs-keygen carol-agent -o /smvs/identity
	CAROL=$(sed -n 's/^# public id: //p' carol-agent/identity)
	[[ $CAROL == smvs1* ]] || fail "carol's identity: $(cat carol-agent/identity | head -2)"

	compose up -d dird
	eventually 20 test -s dird/pin
	DIR_PIN=$(cat dird/pin)
	echo "SMVS_DIR_PIN=$DIR_PIN" >>.env
	compose up -d --force-recreate
	local u
	for u in alice bob carol; do
		eventually 30 dev "$u" test -S "$WORLD/$u/host.sock"
		eventually 30 podman healthcheck run "$(ctr "$u")"
	done
	cd - >/dev/null
}

# metrics_port SERVICE prints the port of 127.0.0.1 SERVICE's metrics are
# published on.
metrics_port() {
	local var
	case $1 in
	dird) var=SMVS_DIRD_METRICS_PORT ;;
	*) var=SMVS_${1^^}_METRICS_PORT ;;
	esac
	sed -n "s/^$var=//p" "$WORLD/.env"
}

# metric SERVICE SERIES... prints each SERIES of a valid scrape of
# SERVICE's metrics.
metric() {
	local body service=$1
	shift
	body=$(curl -sSf "http://127.0.0.1:$(metrics_port "$service")/metrics") || fail "curl of $service's metrics failed"
	promcheck "$@" <<<"$body" || fail "promcheck $*: the scrape of $service"
}

# received USER TEXT succeeds once USER's host holds an incoming message
# TEXT.
received() {
	dev "$1" smvs-recv --json |
		jq -s -e --arg t "$2" 'any(.[]; .event == "message" and .direction == "in" and .text == $t)' >/dev/null
}

@test "the images: built from this tree with podman, each under 25 MB, a binary and nothing else in their layers, no key" {
	local img size archive layers files
	for img in hostd dird agent; do
		size=$(podman image inspect --format '{{.Size}}' "localhost/smvs-$img:latest")
		[ "$size" -lt 25000000 ] || fail "smvs-$img is $size bytes"
		[ "$(podman image inspect --format '{{.Config.User}}' "localhost/smvs-$img:latest")" = "$UID_C:$UID_C" ] ||
			fail "smvs-$img does not run as $UID_C"

		# Every file of every layer.
		archive=$BATS_TEST_TMPDIR/$img
		mkdir -p "$archive"
		podman save --format oci-archive -o "$archive.tar" "localhost/smvs-$img:latest" 2>/dev/null
		tar -xf "$archive.tar" -C "$archive"
		layers=$(jq -r '.manifests[0].digest' "$archive/index.json" | sed 's/^sha256://')
		layers=$(jq -r '.layers[].digest' "$archive/blobs/sha256/$layers" | sed 's/^sha256://')
		[ -n "$layers" ] || fail "no layers in smvs-$img"
		files=$(for l in $layers; do tar -tf "$archive/blobs/sha256/$l"; done | grep -v '/$' | sort | tr '\n' ' ')
		case $img in
		hostd) assert_equal "$files" "etc/ssl/certs/ca-certificates.crt usr/bin/smvs-hostd " ;;
		dird) assert_equal "$files" "usr/bin/smvs-dird " ;;
		agent) assert_equal "$files" "usr/bin/smvs-agent usr/bin/smvs-keygen " ;;
		esac
		# And no key in any of them: an identity's secret, or a PEM private
		# key (the binaries hold only the names of such things).
		mkdir "$archive/fs"
		for l in $layers; do tar -xf "$archive/blobs/sha256/$l" -C "$archive/fs"; done
		if grep -raE 'SMVS-[A-Z]+-SECRET-1[02-9ac-hj-np-zAC-HJ-NP-Z]{20}|-----BEGIN [A-Z ]*PRIVATE KEY-----' "$archive/fs" >/dev/null; then
			fail "key material in smvs-$img"
		fi
	done
	# The check finds a key where there is one.
	mkdir "$BATS_TEST_TMPDIR/planted"
	new_identity "$BATS_TEST_TMPDIR/planted/identity" >/dev/null
	grep -raqE 'SMVS-[A-Z]+-SECRET-1[02-9ac-hj-np-zAC-HJ-NP-Z]{20}' "$BATS_TEST_TMPDIR/planted" ||
		fail "the check does not find an identity's secret"
}

@test "a world in containers: a directory and three hosts, messages and a file between all, a restart keeps history and outbox, a host that was down gets what was queued, metrics move" {
	world

	# Every container runs as the uid with no name, with a read-only root
	# filesystem and no capability.
	local svc pid
	for svc in dird alice bob carol carol-agent; do
		assert_equal "$(podman inspect --format '{{.Config.User}} {{.HostConfig.ReadonlyRootfs}}' "$(ctr "$svc")")" "$UID_C:$UID_C true"
		pid=$(podman inspect --format '{{.State.Pid}}' "$(ctr "$svc")")
		assert_matches "$(grep '^Uid:' "/proc/$pid/status")" "^Uid:[[:space:]]+$UID_C[[:space:]]+$UID_C[[:space:]]"
		assert_matches "$(grep '^CapEff:' "/proc/$pid/status")" '^CapEff:[[:space:]]+0+$'
	done
	podman healthcheck run "$(ctr dird)"
	podman healthcheck run "$(ctr carol-agent)"

	# Each pins the others from the directory, then messages go both
	# ways between all three.
	local a b
	for a in alice bob carol; do
		for b in alice bob carol; do
			[ "$a" = "$b" ] || run -0 dev "$a" smvs-register lookup "$b"
		done
	done
	run -0 metric alice smvs_host_messages_submitted_total
	assert_equal "$output" 0
	for a in alice bob carol; do
		for b in alice bob carol; do
			[ "$a" = "$b" ] && continue
			run -0 dev "$a" smvs-send --wait --timeout 30s "$b" <<<"from $a to $b"
		done
	done
	for a in alice bob carol; do
		for b in alice bob carol; do
			[ "$a" = "$b" ] || eventually 10 received "$b" "from $a to $b"
		done
	done
	# carol's host signs and opens through her agent: it never read her
	# identity, which is not in its volume.
	[ ! -e "$WORLD/carol/identity" ] || fail "carol's identity is in her host's volume"

	# A file of 3 MiB, streamed.
	head -c 3145728 /dev/urandom >"$WORLD/photo.bin"
	chmod 644 "$WORLD/photo.bin"
	run -0 dev alice smvs-send --wait --timeout 60s --file "$WORLD/photo.bin" carol
	local seq
	seq=$(dev carol smvs-recv --json --from alice | jq -r 'select(.event == "message" and .file_name == "photo.bin") | .seq')
	[ -n "$seq" ] || fail "carol has no photo.bin"
	dev carol smvs-recv --raw "$seq" >"$BATS_TEST_TMPDIR/photo.out"
	cmp "$WORLD/photo.bin" "$BATS_TEST_TMPDIR/photo.out" || fail "the file differs"

	# The metrics of every endpoint parse, and moved.
	run -0 metric alice smvs_host_messages_submitted_total 'smvs_host_messages_sent_total{status="sent"}'
	[ "${lines[0]}" = 3 ] && [ "${lines[1]}" -ge 3 ] || fail "alice's metrics: $output"
	for svc in bob carol; do
		run -0 metric "$svc" smvs_host_messages_submitted_total 'smvs_host_deliveries_received_total{status="stored"}'
		[ "${lines[0]}" = 2 ] && [ "${lines[1]}" -ge 2 ] || fail "$svc's metrics: $output"
	done
	run -0 metric dird 'smvs_dir_requests_total{op="publish",code="200"}' 'smvs_dir_requests_total{op="lookup_name",code="200"}'
	[ "${lines[0]}" -ge 3 ] && [ "${lines[1]}" -ge 6 ] || fail "the directory's metrics: $output"

	# bob's container stops; alice writes to him, and her container
	# restarts with the message still queued.
	podman stop -t 10 "$(ctr bob)" >/dev/null
	run -0 dev alice smvs-send bob <<<"while you were out"
	sleep 1
	run -0 metric alice smvs_host_outbox_messages
	assert_equal "$output" 1
	podman restart -t 10 "$(ctr alice)" >/dev/null
	eventually 30 podman healthcheck run "$(ctr alice)"
	# Her history is all there, the new message queued in her outbox.
	run -0 dev alice smvs-recv --json
	local n
	n=$(jq -s '[.[] | select(.event == "message")] | length' <<<"$output")
	# Two received, two sent, the file and the one queued.
	[ "$n" = 6 ] || fail "alice's history after the restart: $n messages, want 6"
	[ "$(jq -r 'select(.event == "message" and .text == "while you were out") | .status' <<<"$output")" = queued ] ||
		fail "the queued message: $output"
	run -0 metric alice smvs_host_outbox_messages
	assert_equal "$output" 1

	# bob's container starts again: what was queued for him arrives.
	podman start "$(ctr bob)" >/dev/null
	eventually 60 received bob "while you were out"
	run -0 dev bob smvs-recv --json --from alice
	[ "$(jq -s '[.[] | select(.event == "message" and .direction == "in")] | length' <<<"$output")" -ge 2 ] ||
		fail "bob's history from alice: $output"
}
