#!/bin/sh
# Make the dashboard's browser test runnable: Debian's chromium, node (only
# when there is none: it may come from elsewhere) and playwright-core from
# package-lock.json (npm ci, when node_modules is missing or older than the
# lock file).  Used by `make check`.  Never fatal: without these the test
# (test_dashboard_in_browser) skips and says what is missing.
here=$(dirname "$0")
warn() { echo "browser: $* - the dashboard browser test will skip" >&2; }

sh "$here/../deps.sh" chromium || warn "chromium could not be installed"
if ! command -v node >/dev/null 2>&1; then
	sh "$here/../deps.sh" nodejs npm || warn "node could not be installed"
fi
command -v npm >/dev/null 2>&1 || { warn "npm is missing"; exit 0; }
# npm ci leaves node_modules/.package-lock.json: newer than the lock file
# means it is up to date.
stamp=$here/node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ "$here/package-lock.json" -nt "$stamp" ]; then
	echo "browser: npm ci in $here"
	(cd "$here" && npm ci --no-audit --no-fund --loglevel=error) ||
		warn "npm ci failed"
fi
exit 0
