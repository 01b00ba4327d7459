#!/usr/bin/env bash
# Container smoke test: builds the image with docker or podman and runs it the
# way docs/operations/deploy.md tells users to (read-only root, --cap-drop ALL,
# no-new-privileges, non-root), against a PostgreSQL and the stand-in image.
#
#   SMOKE_DATABASE_URL=postgresql://user@127.0.0.1:5432/db deploy/smoke.sh
#
# SMOKE_DATABASE_URL   a database the smoke may migrate and fill (required;
#                      reached from the containers over the host's network)
# SMOKE_ENGINE         docker or podman (default: whichever is installed, docker first)
# SMOKE_BUILD_ARGS     extra arguments for the builds, e.g. "--build-arg BASE_IMAGE=..."
# SMOKE_STANDIN_PORT   the stand-in's port (default 5077: not its default, so its
#                      HEALTHCHECK must follow --port)
# SMOKE_HTTP_PORT      the service's /healthz, /readyz, /metrics port (default 18080)
#
# The containers use the host's network, so a database on 127.0.0.1 is reachable.
# Prints one line per check and exits non-zero at the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

engine=${SMOKE_ENGINE:-$(command -v docker >/dev/null && echo docker || echo podman)}
command -v "$engine" >/dev/null || { echo "smoke: neither docker nor podman found" >&2; exit 2; }
: "${SMOKE_DATABASE_URL:?set SMOKE_DATABASE_URL to a PostgreSQL database the smoke may fill}"
standin_port=${SMOKE_STANDIN_PORT:-5077}
http_port=${SMOKE_HTTP_PORT:-18080}
image=registry-sync:smoke
standin_image=registry-sync-standin:smoke
tag=smoke-$$
read -r -a build_args <<<"${SMOKE_BUILD_ARGS:-}"
# podman and buildah write OCI images by default, which drop HEALTHCHECK.
[[ $engine == podman ]] && build_args+=(--format docker)
hardened=(--network host --read-only --cap-drop ALL --security-opt no-new-privileges)
# podman's --read-only still mounts writable tmpfs on /tmp and /run unless told not to.
[[ $engine == podman ]] && hardened+=(--read-only-tmpfs=false)
aws=(-e AWS_REGION=us-east-1 -e AWS_ACCESS_KEY_ID=smoke -e AWS_SECRET_ACCESS_KEY=smoke
     -e AWS_EC2_METADATA_DISABLED=true -e "AWS_ENDPOINT_URL=http://127.0.0.1:$standin_port")

ok() { printf 'ok    %s\n' "$*"; }
fail() { printf 'FAIL  %s\n' "$*"; exit 1; }
cleanup() { "$engine" rm -f "$tag-standin" "$tag-syncer" >/dev/null 2>&1 || true; }
trap cleanup EXIT

run() { "$engine" run --rm "${hardened[@]}" -e "SYNCER_DATABASE_URL=$SMOKE_DATABASE_URL" "$@"; }

healthy() {  # the container's own HEALTHCHECK passes (podman runs it on demand)
  local name=$1
  for _ in $(seq 1 60); do
    if [[ $engine == podman ]]; then
      podman healthcheck run "$name" >/dev/null 2>&1 && return 0
    else
      [[ $(docker inspect --format '{{.State.Health.Status}}' "$name") == healthy ]] && return 0
    fi
    sleep 1
  done
  return 1
}

http_status() {
  python3 - "$1" <<'PY'
import sys, urllib.error, urllib.request
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=5).status)
except urllib.error.HTTPError as e:
    print(e.code)
except OSError:
    print(0)
PY
}

echo "smoke: $engine, database $(sed -E 's#://([^:/@]+):[^@]*@#://\1:***@#' <<<"$SMOKE_DATABASE_URL")"

start=$SECONDS
"$engine" build "${build_args[@]}" -t "$image" . >/dev/null
"$engine" build "${build_args[@]}" --target standin -t "$standin_image" . >/dev/null
ok "built $image and $standin_image in $((SECONDS - start)) s"

user=$("$engine" image inspect --format '{{.Config.User}}' "$image")
[[ $user == 10001:10001 ]] || fail "image user is '$user', not 10001:10001"
[[ -n $("$engine" image inspect --format '{{.Config.Healthcheck}}' "$image" | grep -v '<nil>') ]] \
  || fail "the image has no HEALTHCHECK"
run --entrypoint python "$image" -c '
import os, sys
assert os.getuid() == 10001, os.getuid()
try:
    open("/probe", "w")
    sys.exit("the root filesystem is writable")
except OSError:
    pass
try:
    import pip
    sys.exit("pip is importable in the service environment")
except ImportError:
    pass
' || fail "uid, read-only root or pip"
ok "runs as 10001, root filesystem read-only, no pip in the service's environment, HEALTHCHECK present"

run "$image" --help >/dev/null || fail "syncer --help"
ok "--help"

first=$(run "$image" migrate 2>&1) || fail "migrate: $first"
second=$(run "$image" migrate 2>&1) || fail "second migrate: $second"
grep -q '"applied": "none"' <<<"$second" || fail "the second migrate applied something: $second"
ok "migrate twice: $(grep -c migrate.applied <<<"$first" || true) applied, then none"

set +e
out=$(run "$image" check 2>&1); code=$?
set -e
[[ $code == 2 ]] || fail "check without AWS configuration exited $code, not 2: $out"
ok "check without AWS configuration: exit 2 ($(grep -m1 FAIL <<<"$out"))"

"$engine" run -d --name "$tag-standin" "${hardened[@]}" "$standin_image" \
  --host 127.0.0.1 --port "$standin_port" >/dev/null
healthy "$tag-standin" || fail "the stand-in's HEALTHCHECK on --port $standin_port"
ok "stand-in on --port $standin_port: HEALTHCHECK healthy"

out=$(run "${aws[@]}" "$image" check 2>&1) || fail "check against the stand-in: $out"
ok "check against the stand-in: exit 0"
out=$(run "${aws[@]}" "$image" once 2>&1) || fail "once against the stand-in: $out"
ok "once against the stand-in: exit 0"

"$engine" run -d --name "$tag-syncer" "${hardened[@]}" "${aws[@]}" \
  -e "SYNCER_DATABASE_URL=$SMOKE_DATABASE_URL" -e "SYNCER_HTTP_PORT=$http_port" \
  -e SYNCER_INTERVAL_SECONDS=5 "$image" run >/dev/null
for _ in $(seq 1 60); do
  [[ $(http_status "http://127.0.0.1:$http_port/readyz") == 200 ]] && break
  sleep 1
done
[[ $(http_status "http://127.0.0.1:$http_port/readyz") == 200 ]] \
  || fail "/readyz not ready: $("$engine" logs --tail 20 "$tag-syncer" 2>&1)"
ok "run: /readyz ready"
healthy "$tag-syncer" || fail "the service's HEALTHCHECK"
ok "run: HEALTHCHECK healthy"

"$engine" kill --signal TERM "$tag-syncer" >/dev/null
began=$(date +%s.%N)
code=$("$engine" wait "$tag-syncer")
took=$(python3 -c "print(f'{$(date +%s.%N) - $began:.2f}')")
[[ $code == 0 ]] || fail "exit $code after SIGTERM"
python3 -c "import sys; sys.exit(not $took < 10)" || fail "SIGTERM took ${took} s"
ok "SIGTERM: exit 0 in ${took} s"
echo "smoke: all checks passed in $((SECONDS - start)) s"
