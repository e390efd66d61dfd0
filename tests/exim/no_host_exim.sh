#!/bin/sh
# SPDX-License-Identifier: ISC
# no_host_exim.sh CMD... - run CMD (an Exim world test) as on a host that
# has no Exim installed (docs/decisions.md D-TEST-MTA-1), whatever this
# host has: in a private mount namespace, overlays over /usr/sbin, /usr/lib,
# /etc and /var hide every exim4 file and the Debian-exim user and group.
# The host's files are the read-only lower layers; the upper layers live in
# a temporary directory removed at the end. Root only.
set -eu
if [ "${MTASTS_NO_HOST_EXIM:-}" != 1 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "no_host_exim: run as root" >&2
		exit 1
	fi
	MTASTS_NO_HOST_EXIM=1 exec unshare --mount --propagation private -- \
	    /bin/sh "$0" "$@"
fi
d=$(mktemp -d /tmp/mtasts-noexim-XXXXXX)
mounted=""
cleanup() {
	for m in $mounted; do
		umount -l "$m" 2>/dev/null || true
	done
	rm -rf "$d"
}
trap cleanup EXIT
for t in /usr/sbin /usr/lib /etc /var; do
	tag=$(echo "$t" | tr / _)
	mkdir -p "$d/$tag/up" "$d/$tag/work"
	mount -t overlay overlay -o \
	    "lowerdir=$t,upperdir=$d/$tag/up,workdir=$d/$tag/work" "$t"
	mounted="$t $mounted"
done
rm -rf /usr/sbin/exim* /usr/lib/exim4 /etc/exim4 /var/spool/exim4 \
    /var/log/exim4 /var/lib/exim4
for f in /etc/passwd /etc/group /etc/shadow /etc/gshadow; do
	[ -f "$f" ] && sed -i '/^Debian-exim:/d' "$f"
done
if [ -e /usr/sbin/exim4 ] || [ -e /etc/exim4 ] || id Debian-exim \
    >/dev/null 2>&1; then
	echo "no_host_exim: FATAL: cannot hide the host's Exim" >&2
	exit 1
fi
echo "no_host_exim: no /usr/sbin/exim4, no /etc/exim4, no Debian-exim"
"$@"
