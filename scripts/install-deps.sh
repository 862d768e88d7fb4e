#!/usr/bin/env bash
# Installs every Debian 12 package mega-fuse needs to build, test, benchmark and package.
# Idempotent and quick when everything is there: apt runs only for what is missing.
set -euo pipefail

PACKAGES=(
  # build
  cmake ninja-build g++ pkg-config git dpkg-dev fakeroot file
  libfuse3-dev libgit2-dev libsdbus-c++-dev libsdbus-c++-bin libsystemd-dev
  libyaml-cpp-dev libspdlog-dev libcli11-dev libsqlite3-dev libcurl4-openssl-dev
  # run
  fuse3
  # test: GoogleTest, real servers (git daemon, smart HTTP under lighttpd), real D-Bus, systemd
  libgtest-dev libgmock-dev lighttpd dbus dbus-bin dbus-user-session systemd util-linux procps psmisc
  # benchmark peers
  fuse-overlayfs squashfuse squashfs-tools
  # tooling: formatting, static analysis, sanitizer/fuzzer runtimes, packaging checks
  clang clang-format clang-tidy cppcheck libclang-rt-14-dev rpm lintian rpmlint
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
