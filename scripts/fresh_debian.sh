#!/usr/bin/env bash
# fresh_debian.sh [COMMAND] — runs COMMAND (default: bash .ci/run) as root in a brand-new,
# minimal Debian 12 (debootstrap --variant=minbase bookworm) holding a clone of this
# repository's HEAD: the check that the README's two commands work on a fresh machine, with
# CI=true and no stdin, as CI runs them.
#
#   sudo scripts/fresh_debian.sh                      # the test suite (.ci/run)
#   sudo scripts/fresh_debian.sh bash scripts/demo.sh # the quick start
#
# Needs root, debootstrap and network access to deb.debian.org. The root file system is
# built in a temporary directory (FRESH_DIR to choose, FRESH_KEEP=1 to keep it) and removed
# afterwards; the command's exit status is this script's.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ "$(id -u)" = 0 ] || {
    echo "needs root (debootstrap, chroot)" >&2
    exit 2
}
command -v debootstrap >/dev/null || {
    echo "needs debootstrap (apt-get install debootstrap)" >&2
    exit 2
}
[ $# -gt 0 ] || set -- bash .ci/run

dir=${FRESH_DIR:-$(mktemp -d /var/tmp/brine-fresh-XXXXXX)}
mkdir -p "$dir" || exit 2
fs=$dir/root
cleanup() {
    for m in sys proc dev; do
        mountpoint -q "$fs/$m" && umount "$fs/$m"
    done
    [ "${FRESH_KEEP:-0}" = 1 ] || rm -rf --one-file-system "$dir"
}
trap cleanup EXIT

echo "==> debootstrap bookworm into $fs"
debootstrap --variant=minbase bookworm "$fs" http://deb.debian.org/debian >"$dir/debootstrap.log" 2>&1 || {
    tail -20 "$dir/debootstrap.log"
    exit 2
}
cp /etc/resolv.conf "$fs/etc/resolv.conf"
mount --bind /dev "$fs/dev" && mount -t proc proc "$fs/proc" && mount -t sysfs sys "$fs/sys" || exit 2
git clone -q "$root" "$fs/brine" || exit 2
echo "==> $(git -C "$fs/brine" log --oneline -1)"
echo "==> running: $*"
chroot "$fs" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 CI=true FUZZ_SECONDS="${FUZZ_SECONDS:-60}" \
    bash -c 'cd /brine && "$@"' bash "$@" </dev/null
