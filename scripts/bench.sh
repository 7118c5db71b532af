#!/usr/bin/env bash
# Container start latency, image operations (commit, load, pull) and daemon memory of rdockerd
# (and of dockerd, if one is reachable at /var/run/docker.sock). Run through `make bench`, which
# builds the release binaries and the busybox image first. Starts its own rdockerd on temporary
# roots and a docker-registry on 127.0.0.1, and removes both at the end.
#
# Environment: BENCH_RUNS (default 50) runs per `run` metric, BENCH_OPS (default 20) per
# create/start/stop/rm metric, BENCH_IMAGE_OPS (default 20) per commit/load/pull metric,
# DRIVER (default overlay2).
set -euo pipefail
export LC_ALL=C

cd "$(dirname "${BASH_SOURCE[0]}")/.."
RUNS=${BENCH_RUNS:-50}
OPS=${BENCH_OPS:-20}
IMAGE_OPS=${BENCH_IMAGE_OPS:-20}
DRIVER=${DRIVER:-overlay2}
RDOCKERD=$(realpath -m "${CARGO_TARGET_DIR:-target}")/release/rdockerd
RDOCKER=$(realpath -m "${CARGO_TARGET_DIR:-target}")/release/rdocker
IMAGE=$PWD/out/busybox.tar
DOCKER_SOCK=/var/run/docker.sock

die() { echo "bench: $*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || die "needs root (run: sudo make bench)"
[[ -x $RDOCKERD && -x $RDOCKER ]] || die "release binaries missing: run 'make release' (make bench does)"
[[ -f $IMAGE ]] || die "$IMAGE missing: run 'make image'"
command -v curl >/dev/null || die "curl missing: run 'make deps'"
REGISTRY_BIN=$(command -v docker-registry || true)
[[ -n $REGISTRY_BIN ]] || die "docker-registry missing: run 'make deps' (apt-get install docker-registry)"

ROOT=$(mktemp -d /var/tmp/rdocker-bench.XXXXXX)
SOCK=$ROOT/rdockerd.sock
CGROUP_PARENT=rdocker-bench-$$
DAEMON_PID=
REGISTRY_PID=
REGISTRY=

cleanup() {
    set +e
    if [[ -n $REGISTRY_PID ]]; then
        kill -TERM "$REGISTRY_PID" 2>/dev/null
        for _ in $(seq 1 100); do kill -0 "$REGISTRY_PID" 2>/dev/null || break; sleep 0.05; done
        kill -KILL "$REGISTRY_PID" 2>/dev/null
        wait "$REGISTRY_PID" 2>/dev/null
    fi
    if [[ -n $DAEMON_PID ]] && kill -0 "$DAEMON_PID" 2>/dev/null; then
        kill -TERM "$DAEMON_PID"
        for _ in $(seq 1 300); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.05; done
        kill -KILL "$DAEMON_PID" 2>/dev/null
    fi
    # Shims and containers left behind: shims name our root on their command line, container
    # processes sit in our cgroup parent.
    for p in /proc/[0-9]*; do
        pid=${p#/proc/}
        [[ $pid == "$$" ]] && continue
        if tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF "$ROOT" ||
            grep -qE ":/(.*/)?$CGROUP_PARENT(/|$)" "$p/cgroup" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null
        fi
    done
    # Unmount deepest first (field 5 of mountinfo is the mount point).
    awk -v root="$ROOT" '$5 == root || index($5, root "/") == 1 { print length($5) " " $5 }' /proc/self/mountinfo |
        sort -rn | cut -d' ' -f2- | while read -r mp; do umount -l "$mp"; done
    for _ in $(seq 1 100); do
        left=$(find /sys/fs/cgroup -maxdepth 4 -type d -name "$CGROUP_PARENT" 2>/dev/null)
        [[ -z $left ]] && break
        for d in $left; do find "$d" -depth -type d -exec rmdir {} + 2>/dev/null; done
        sleep 0.05
    done
    if awk -v root="$ROOT" 'index($5, root) == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
        echo "bench: mounts remain under $ROOT; not removing it" >&2
    else
        rm -rf "$ROOT"
    fi
    if [[ -n ${DOCKER_BENCH_IMAGE:-} ]]; then
        DOCKER_HOST=unix://$DOCKER_SOCK docker rmi -f "$DOCKER_BENCH_IMAGE" >/dev/null 2>&1
        [[ -n $REGISTRY ]] && DOCKER_HOST=unix://$DOCKER_SOCK docker rmi -f "$REGISTRY/bench-docker:$$" >/dev/null 2>&1
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- timing helpers -------------------------------------------------------------------------
# EPOCHREALTIME is microseconds since the epoch with 6 decimals: no fork around the command.
us_now() { local t=$EPOCHREALTIME; echo "${t/./}"; }
declare -a SAMPLES
# timed CMD...: runs CMD (output discarded), appends its duration in microseconds to SAMPLES.
timed() {
    local t0 t1
    t0=$EPOCHREALTIME
    "$@" >/dev/null 2>&1 || die "command failed: $*"
    t1=$EPOCHREALTIME
    SAMPLES+=($(( ${t1/./} - ${t0/./} )))
}
median_ms() {
    printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 }
        END { m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.1f", m / 1000 }'
}
rss_mb() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
# The CPU time the hypervisor gave to others while we wanted it ("steal"), in percent of all
# CPU time since $STAT0 (a /proc/stat "cpu" line): on a shared host, timings swing with it.
cpu_line() { head -1 /proc/stat; }
steal_pct() {
    printf '%s\n%s\n' "$1" "$(cpu_line)" | awk '
        NR == 1 { for (i = 2; i <= NF; i++) a[i] = $i }
        NR == 2 { for (i = 2; i <= NF; i++) { d = $i - a[i]; t += d; if (i == 9) s = d } }
        END { printf "%.0f", t ? 100 * s / t : 0 }'
}

# --- one engine ---------------------------------------------------------------------------
# bench_engine NAME CLI...: fills RESULT_<metric> for the engine reached by CLI.
declare -A RESULT
bench_engine() {
    local engine=$1 image=$2
    shift 2
    local cli=("$@")
    # Warm up (page cache, first layer mount).
    "${cli[@]}" run --rm "$image" true >/dev/null 2>&1 || die "$engine: warm-up run failed"
    "${cli[@]}" run --rm --network none "$image" true >/dev/null 2>&1 || die "$engine: warm-up run failed"

    SAMPLES=()
    for _ in $(seq 1 "$RUNS"); do timed "${cli[@]}" run --rm --network none "$image" true; done
    RESULT[$engine,run_none]=$(median_ms "${SAMPLES[@]}")
    SAMPLES=()
    for _ in $(seq 1 "$RUNS"); do timed "${cli[@]}" run --rm "$image" true; done
    RESULT[$engine,run]=$(median_ms "${SAMPLES[@]}")

    # The container exits promptly on SIGTERM (a trap interrupts `wait`), so `stop -t 1`
    # measures the engine, not the kill timeout.
    local -a c_s s_s p_s r_s
    local id t0 t1
    for i in $(seq 1 "$OPS"); do
        t0=$(us_now)
        id=$("${cli[@]}" create --name "bench-$$-$engine-$i" "$image" \
            sh -c 'trap "exit 0" TERM; sleep 1000 & wait' 2>/dev/null) || die "create failed"
        t1=$(us_now); c_s+=($((t1 - t0)))
        SAMPLES=(); timed "${cli[@]}" start "$id"; s_s+=("${SAMPLES[0]}")
        SAMPLES=(); timed "${cli[@]}" stop -t 1 "$id"; p_s+=("${SAMPLES[0]}")
        SAMPLES=(); timed "${cli[@]}" rm "$id"; r_s+=("${SAMPLES[0]}")
    done
    RESULT[$engine,create]=$(median_ms "${c_s[@]}")
    RESULT[$engine,start]=$(median_ms "${s_s[@]}")
    RESULT[$engine,stop]=$(median_ms "${p_s[@]}")
    RESULT[$engine,rm]=$(median_ms "${r_s[@]}")
}

# --- image operations -------------------------------------------------------------------------
# A docker-registry (distribution 2.x) on a free loopback port, storage under $ROOT; sets REGISTRY.
start_registry() {
    local port dir=$ROOT/registry
    mkdir -p "$dir"
    for _ in $(seq 1 10); do
        port=$((20000 + RANDOM % 40000))
        # Connecting succeeds when something listens there already.
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue
        printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
            "$dir/data" "$port" >"$dir/config.yml"
        "$REGISTRY_BIN" serve "$dir/config.yml" </dev/null >"$dir/registry.log" 2>&1 &
        REGISTRY_PID=$!
        for _ in $(seq 1 200); do
            if curl -sf "http://127.0.0.1:$port/v2/" >/dev/null 2>&1; then
                REGISTRY=127.0.0.1:$port
                return
            fi
            kill -0 "$REGISTRY_PID" 2>/dev/null || break
            sleep 0.025
        done
        kill -KILL "$REGISTRY_PID" 2>/dev/null; wait "$REGISTRY_PID" 2>/dev/null; REGISTRY_PID=
    done
    cat "$dir/registry.log" >&2
    die "docker-registry did not start"
}

# bench_image_ops ENGINE IMAGE CLI...: fills RESULT_<commit|load|pull>. Only the named operation
# is timed; the setup of each sample (a container that wrote 10 MB, the rmi that makes load and
# pull do the whole work) is not. The archive is written once by the engine's own `save`.
bench_image_ops() {
    local engine=$1 image=$2
    shift 2
    local cli=("$@") name i ref=$REGISTRY/bench-$engine:$$ archive=$ROOT/$engine-save.tar

    SAMPLES=()
    for i in $(seq 1 "$IMAGE_OPS"); do
        name=bench-commit-$$-$engine-$i
        "${cli[@]}" run --name "$name" "$image" dd if=/dev/urandom of=/big bs=1M count=10 \
            >/dev/null 2>&1 || die "$engine: run dd failed"
        timed "${cli[@]}" commit "$name" "bench-commit-$$:$i"
        "${cli[@]}" rm "$name" >/dev/null 2>&1 || die "$engine: rm $name failed"
        "${cli[@]}" rmi "bench-commit-$$:$i" >/dev/null 2>&1 || die "$engine: rmi failed"
    done
    RESULT[$engine,commit]=$(median_ms "${SAMPLES[@]}")

    # The archive holds the only image with this layer: rmi drops the layer, load writes it again.
    "${cli[@]}" save -o "$archive" "$image" || die "$engine: save failed"
    SAMPLES=()
    for i in $(seq 1 "$IMAGE_OPS"); do
        "${cli[@]}" rmi "$image" >/dev/null 2>&1 || die "$engine: rmi $image failed"
        timed "${cli[@]}" load -i "$archive"
    done
    RESULT[$engine,load]=$(median_ms "${SAMPLES[@]}")

    # Push once; then the image is known only by the registry name, so each rmi drops the layer.
    "${cli[@]}" tag "$image" "$ref" || die "$engine: tag failed"
    "${cli[@]}" push "$ref" >/dev/null 2>&1 || die "$engine: push to $REGISTRY failed"
    "${cli[@]}" rmi "$image" >/dev/null 2>&1 || die "$engine: rmi $image failed"
    SAMPLES=()
    for i in $(seq 1 "$IMAGE_OPS"); do
        "${cli[@]}" rmi "$ref" >/dev/null 2>&1 || die "$engine: rmi $ref failed"
        timed "${cli[@]}" pull "$ref"
    done
    RESULT[$engine,pull]=$(median_ms "${SAMPLES[@]}")
    "${cli[@]}" tag "$ref" "$image" || die "$engine: tag back failed"
    "${cli[@]}" rmi "$ref" >/dev/null 2>&1 || die "$engine: rmi $ref failed"
}

# --- rdockerd -------------------------------------------------------------------------------
echo "bench: starting rdockerd ($DRIVER) on $SOCK"
"$RDOCKERD" -H "unix://$SOCK" --data-root "$ROOT/data" --exec-root "$ROOT/exec" \
    --storage-driver "$DRIVER" --cgroup-parent "$CGROUP_PARENT" --pidfile "$ROOT/rdockerd.pid" \
    --log-level warn </dev/null >"$ROOT/rdockerd.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 1 400); do
    curl -sf --unix-socket "$SOCK" http://localhost/_ping >/dev/null 2>&1 && break
    kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$ROOT/rdockerd.log" >&2; die "rdockerd exited"; }
    sleep 0.025
done
curl -sf --unix-socket "$SOCK" http://localhost/_ping >/dev/null || die "rdockerd did not answer /_ping"
RD=("$RDOCKER" -H "unix://$SOCK")
"${RD[@]}" import "$IMAGE" busybox:latest >/dev/null
"${RD[@]}" run --rm busybox true >/dev/null 2>&1 || die "rdocker run failed"
RESULT[rdocker,rss_idle]=$(rss_mb "$DAEMON_PID")
echo "bench: rdockerd: $RUNS runs per run metric, $OPS per lifecycle metric"
STAT0=$(cpu_line)
bench_engine rdocker busybox "${RD[@]}"
RESULT[rdocker,steal_run]=$(steal_pct "$STAT0")
start_registry
echo "bench: rdockerd: $IMAGE_OPS runs per commit/load/pull metric (registry on $REGISTRY)"
STAT0=$(cpu_line)
bench_image_ops rdocker busybox "${RD[@]}"
RESULT[rdocker,steal_image]=$(steal_pct "$STAT0")
RESULT[rdocker,rss_after]=$(rss_mb "$DAEMON_PID")

# --- dockerd, if there is one ----------------------------------------------------------------
HAVE_DOCKER=0
if [[ -S $DOCKER_SOCK ]] && command -v docker >/dev/null &&
    curl -sf --unix-socket "$DOCKER_SOCK" http://localhost/_ping >/dev/null 2>&1; then
    HAVE_DOCKER=1
    DK=(env DOCKER_HOST="unix://$DOCKER_SOCK" docker)
    DOCKER_BENCH_IMAGE=rdocker-bench-busybox:$$
    "${DK[@]}" import "$IMAGE" "$DOCKER_BENCH_IMAGE" >/dev/null
    "${DK[@]}" run --rm "$DOCKER_BENCH_IMAGE" true >/dev/null 2>&1 || die "docker run failed"
    dockerd_pid=$(pgrep -xo dockerd || true)
    RESULT[docker,rss_idle]=${dockerd_pid:+$(rss_mb "$dockerd_pid")}
    echo "bench: dockerd found at $DOCKER_SOCK"
    STAT0=$(cpu_line)
    bench_engine docker "$DOCKER_BENCH_IMAGE" "${DK[@]}"
    RESULT[docker,steal_run]=$(steal_pct "$STAT0")
    STAT0=$(cpu_line)
    bench_image_ops docker "$DOCKER_BENCH_IMAGE" "${DK[@]}"
    RESULT[docker,steal_image]=$(steal_pct "$STAT0")
    RESULT[docker,rss_after]=${dockerd_pid:+$(rss_mb "$dockerd_pid")}
fi

# --- report ---------------------------------------------------------------------------------
row() {
    local label=$1 key=$2 unit=$3
    if [[ $HAVE_DOCKER == 1 ]]; then
        printf '%-44s %12s %12s  %s\n' "$label" "${RESULT[rdocker,$key]:--}" "${RESULT[docker,$key]:--}" "$unit"
    else
        printf '%-44s %12s  %s\n' "$label" "${RESULT[rdocker,$key]:--}" "$unit"
    fi
}
echo
if [[ $HAVE_DOCKER == 1 ]]; then
    printf '%-44s %12s %12s\n' "median over runs ($DRIVER)" rdockerd dockerd
else
    printf '%-44s %12s\n' "median over runs ($DRIVER)" rdockerd
fi
printf '%s\n' "--------------------------------------------------------------------------------"
row "run --rm --network none busybox true" run_none ms
row "run --rm busybox true" run ms
row "create (sh waiting on a trap)" create ms
row "start" start ms
row "stop -t 1 (exits on SIGTERM)" stop ms
row "rm" rm ms
row "commit, container wrote 10 MB (target 25)" commit ms
row "load -i busybox archive ~2 MB (target 25)" load ms
row "pull ~1 MB from loopback registry (tgt 25)" pull ms
row "daemon RSS after start + 1 run" rss_idle MB
row "daemon RSS after the benchmark" rss_after MB
row "host CPU steal during the run/lifecycle part" steal_run %
row "host CPU steal during the image part" steal_image %
