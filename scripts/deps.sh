#!/usr/bin/env bash
# Installs the third-party programs the test suite talks to, when they are
# missing: ffmpeg/ffprobe (real RTMP client and media checker), nginx with
# its RTMP module and node-media-server (reference RTMP servers), and
# Node.js/npm to run the latter, openssl (the token signing recipe is tested
# as documented). node-media-server comes from npm and goes
# into the user cache directory, where internal/testutil looks for it; its
# version is the NodeMediaServerVersion constant of internal/testutil/nms.go.
# Safe to run repeatedly; prints nothing when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
command -v ffprobe >/dev/null 2>&1 || need+=(ffmpeg)
command -v nginx >/dev/null 2>&1 || need+=(nginx)
[ -e /usr/lib/nginx/modules/ngx_rtmp_module.so ] || need+=(libnginx-mod-rtmp)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
command -v openssl >/dev/null 2>&1 || need+=(openssl)

if [ ${#need[@]} -gt 0 ]; then
	sudo=""
	if [ "$(id -u)" -ne 0 ]; then
		sudo="sudo"
	fi
	# ffmpeg may be listed twice; apt does not mind.
	echo "installing missing test dependencies: ${need[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

nms_version=$(sed -n 's/^const NodeMediaServerVersion = "\([^"]*\)"$/\1/p' internal/testutil/nms.go)
if [ -z "$nms_version" ]; then
	echo "deps.sh: cannot read NodeMediaServerVersion from internal/testutil/nms.go" >&2
	exit 1
fi
cache="${XDG_CACHE_HOME:-$HOME/.cache}/tributary/npm"
dir="$cache/node-media-server@$nms_version"
if ! grep -qs "\"version\": \"$nms_version\"" "$dir/node_modules/node-media-server/package.json"; then
	node_major=$(node -p 'process.versions.node.split(".")[0]')
	if [ "$node_major" -lt 20 ]; then
		echo "deps.sh: warning: node-media-server $nms_version declares Node.js >= 20, this is $(node --version)" >&2
	fi
	echo "installing node-media-server@$nms_version into $dir" >&2
	mkdir -p "$cache"
	# Install beside the final place and rename, so that a test never sees
	# a half-installed package.
	tmp=$(mktemp -d "$cache/.node-media-server@$nms_version.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	if ! npm install --no-audit --no-fund --prefix "$tmp" "node-media-server@$nms_version" >"$tmp.log" 2>&1; then
		cat "$tmp.log" >&2
		rm -f "$tmp.log"
		exit 1
	fi
	rm -f "$tmp.log"
	rm -rf "$dir"
	mv "$tmp" "$dir"
fi
