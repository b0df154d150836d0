#!/usr/bin/env bash
# Builds the container image and smoke-tests it against a throwaway PostgreSQL and the OSS
# emulator of the host build: gRPC health, /readyz, one upload completing through uploadctl, the
# process running as uid 10001 with no capabilities, and no secret-looking file in the image.
# Usage: deploy/docker/smoke-test.sh
#   Uses DATABASE_URL when set (tests/run.sh), otherwise starts scripts/pgtmp.sh. Installs docker.io
#   and debootstrap when missing; starts dockerd when no daemon answers (and stops it afterwards);
#   creates debian:bookworm-slim with debootstrap when it is not present (Docker Hub is not used).
#   The image (ossup/oss-upload-orchestrator:test) is kept: its layer cache makes reruns fast.
# Exit status: 0 passed, 1 failed, 77 skipped (no container engine can run here).
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"

image="${OSSUP_IMAGE:-ossup/oss-upload-orchestrator:test}"
base="debian:bookworm-slim"
container="ossup-smoke-$$"

skip() {
  echo "SKIP: docker smoke test: $*"
  exit 77
}
fail_early() {
  echo "FAIL $*"
  echo "docker: 0 passed, 1 failed"
  exit 1
}

SUDO=()
if [[ "$(id -u)" != 0 ]]; then
  command -v sudo >/dev/null 2>&1 || skip "not root and no sudo: cannot install or start docker"
  SUDO=(sudo -n)  # never prompt: without rights this is a skip
  sudo -n true 2>/dev/null || skip "not root and sudo needs a password: cannot install or start docker"
fi
apt_install() {
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "$@" \
    >/dev/null 2>&1 || { "${SUDO[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
    "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }
}

# Debian's client matches Debian's daemon; a newer docker client elsewhere on PATH may not.
if [[ ! -x /usr/bin/docker ]] || ! command -v dockerd >/dev/null 2>&1; then
  echo "docker: installing docker.io"
  # With the rights to install, a failed install is a broken machine or mirror, not a machine
  # where no engine can run: a failure, not a skip.
  apt_install docker.io || fail_early "cannot install docker.io"
fi
docker=(/usr/bin/docker)
[[ -x /usr/bin/docker ]] || docker=(docker)
[[ ${#SUDO[@]} -eq 0 ]] || docker=("${SUDO[@]}" "${docker[@]}")

tmp="$(mktemp -d /tmp/ossup-docker.XXXXXX)"
dockerd_pid=""
started_pg=""
cleanup() {
  "${docker[@]}" rm -f "$container" >/dev/null 2>&1 || true
  if [[ -n "$started_pg" ]]; then "$root/scripts/pgtmp.sh" stop "$started_pg"; fi
  if [[ -n "$dockerd_pid" ]]; then
    "${SUDO[@]}" kill "$dockerd_pid" 2>/dev/null || true
    for _ in $(seq 50); do "${SUDO[@]}" kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.2; done
  fi
  "${SUDO[@]}" rm -rf "$tmp"
}
trap cleanup EXIT

if ! "${docker[@]}" info >/dev/null 2>&1; then
  echo "docker: starting dockerd (log: $tmp/dockerd.log)"
  "${SUDO[@]}" dockerd >"$tmp/dockerd.log" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 60); do
    "${docker[@]}" info >/dev/null 2>&1 && break
    "${SUDO[@]}" kill -0 "$dockerd_pid" 2>/dev/null || break  # the pid may be sudo's (root)
    sleep 0.5
  done
  if ! "${docker[@]}" info >/dev/null 2>&1; then
    tail -5 "$tmp/dockerd.log" || true
    skip "dockerd did not start"
  fi
fi

# The URI apt uses for a Debian suite, from deb822 .sources stanzas or one-line .list entries.
apt_uri() {
  local suite="$1" f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] || continue
    awk -v suite="$suite" 'BEGIN { RS = "" } {
        n = split($0, lines, "\n"); uri = ""; hit = 0
        for (i = 1; i <= n; i++) {
          if (lines[i] ~ /^URIs:/) { split(lines[i], w, /[ \t]+/); uri = w[2] }
          if (lines[i] ~ /^Suites:/) { m = split(lines[i], w, /[ \t]+/)
            for (j = 2; j <= m; j++) if (w[j] == suite) hit = 1 }
        }
        if (hit && uri != "") { print uri; exit }
      }' "$f"
  done
  { cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true; } | awk -v suite="$suite" '
    $1 == "deb" { i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                  if ($(i + 1) == suite) { print $i; exit } }'
}

# debian:bookworm-slim without a registry: debootstrap minbase, trimmed the way the official
# slim image is (no docs, man pages or locales; no apt caches), then `docker import`.
if ! "${docker[@]}" image inspect "$base" >/dev/null 2>&1; then
  command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap || fail_early "cannot install debootstrap"
  mirror="$(apt_uri bookworm | head -1)" || true
  mirror="${mirror:-http://deb.debian.org/debian}"
  security="$(apt_uri bookworm-security | head -1)" || true
  echo "docker: creating $base with debootstrap from $mirror"
  start=$SECONDS
  rootfs="$tmp/rootfs"
  "${SUDO[@]}" debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$tmp/debootstrap.log" 2>&1 \
    || { tail -20 "$tmp/debootstrap.log"; fail_early "debootstrap"; }
  "${SUDO[@]}" bash -euo pipefail -c '
    r="$1"; mirror="$2"; security="$3"
    { echo "deb $mirror bookworm main"; echo "deb $mirror bookworm-updates main"
      [[ -z "$security" ]] || echo "deb $security bookworm-security main"; } >"$r/etc/apt/sources.list"
    cat >"$r/etc/dpkg/dpkg.cfg.d/docker-slim" <<EOF
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
EOF
    cat >"$r/etc/apt/apt.conf.d/docker-clean" <<EOF
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
EOF
    find "$r/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    rm -rf "$r"/usr/share/man/* "$r"/usr/share/info/* "$r"/usr/share/locale/* \
      "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin "$r"/var/cache/apt/archives/*.deb \
      "$r"/var/log/* "$r"/etc/machine-id
  ' _ "$rootfs" "$mirror" "$security"
  "${SUDO[@]}" tar -C "$rootfs" -c . | "${docker[@]}" import - "$base" >/dev/null
  "${SUDO[@]}" rm -rf "$rootfs"
  echo "docker: $base created in $((SECONDS - start)) s"
fi

echo "docker: building $image (log: $tmp/build.log)"
start=$SECONDS
if ! "${docker[@]}" build --network=host -f deploy/docker/Dockerfile -t "$image" . >"$tmp/build.log" 2>&1; then
  tail -40 "$tmp/build.log"
  fail_early "docker build"
fi
echo "docker: image built in $((SECONDS - start)) s ($(grep -c 'Using cache' "$tmp/build.log") cached steps)"

# The host build provides the emulator and uploadctl (tests/run.sh has built them already).
for target in tests/emulator/oss-emulator client/uploadctl; do
  [[ -x "build/$target" ]] || scripts/build.sh release oss-emulator uploadctl
done
if [[ -z "${DATABASE_URL:-}" ]]; then
  eval "$(scripts/pgtmp.sh start)"
  started_pg="$PGTMP_DIR"
fi
if [[ -z "${NODE_PATH:-}" ]]; then
  NODE_PATH="$(scripts/npm-deps.sh)"
  export NODE_PATH
fi

DOCKER_CLI="${docker[*]}" OSSUP_IMAGE="$image" OSSUP_CONTAINER="$container" \
  node deploy/docker/smoke_test.js
