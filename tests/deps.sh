#!/bin/sh
# Install the Debian packages named as arguments that are missing; do nothing
# when all are there.  Used by `make deps` (and so by check, demo, bench).
missing=""
for p in "$@"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
if [ "$(id -u)" != 0 ]; then
	SUDO=sudo
	command -v sudo >/dev/null || {
		echo "deps: missing packages:$missing (run as root or install them)" >&2
		exit 1
	}
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q || exit 1
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing || exit 1
