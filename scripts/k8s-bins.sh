#!/usr/bin/env bash
# Ensures that a kube-apiserver and an etcd built from test/k8s/controlplane
# are in the cache and prints their directory as the only line on stdout:
#
#	export KUBEBUILDER_ASSETS="$(scripts/k8s-bins.sh)"
#
# The directory is
# ${TRIBUTARY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tributary}/k8s/<k8s version>-<hash>,
# where the hash covers the go.sum files of test/k8s/controlplane, so a
# change of any pinned module builds into a new directory. A hit costs
# nothing; a miss builds both programs from the Go module proxy, which
# takes 15 to 30 minutes on two cores. The build goes into a temporary
# directory beside the final one and is renamed into place only when it is
# complete and checked, so an interrupted build is never taken for a hit.
# Progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."

mod=test/k8s/controlplane

k8s_version=$(sed -n 's|^[[:space:]]*k8s.io/kubernetes \(v[0-9][^[:space:]]*\)$|\1|p' "$mod/go.mod")
if [ -z "$k8s_version" ]; then
	echo "k8s-bins.sh: cannot read the k8s.io/kubernetes version from $mod/go.mod" >&2
	exit 1
fi
major_minor=${k8s_version#v}
k8s_major=${major_minor%%.*}
major_minor=${major_minor#*.}
k8s_minor=${major_minor%%.*}

mapfile -t sums < <(find "$mod" -name go.sum -type f | LC_ALL=C sort)
if [ ${#sums[@]} -eq 0 ]; then
	echo "k8s-bins.sh: no go.sum under $mod" >&2
	exit 1
fi
hash=$(cat "${sums[@]}" | sha256sum | cut -c1-12)

root="${TRIBUTARY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tributary}/k8s"
name="$k8s_version-$hash"
dir="$root/$name"

if [ -x "$dir/kube-apiserver" ] && [ -x "$dir/etcd" ]; then
	echo "$dir"
	exit 0
fi

echo "k8s-bins.sh: building kube-apiserver $k8s_version and etcd into $dir (15 to 30 minutes)" >&2
mkdir -p "$root"
# Leftovers of runs that were killed before they could clean up.
find "$root" -maxdepth 1 -type d -name ".$name.*" -mtime +0 -exec rm -rf {} +
tmp=$(mktemp -d "$root/.$name.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Without these the server reports v0.0.0-master+$Format:%H$, which
# clients cannot parse.
ldflags="-X k8s.io/component-base/version.gitVersion=$k8s_version"
ldflags+=" -X k8s.io/component-base/version.gitMajor=$k8s_major"
ldflags+=" -X k8s.io/component-base/version.gitMinor=$k8s_minor"

start=$(date +%s)
# The build runs in a process group of its own, in the background, so that
# a signal to this script stops the compilers and the linker too instead of
# leaving them to write into a removed directory. -buildvcs=false: the
# module sits inside the project's repository, whose state must neither
# matter nor fail the build.
setsid nice -n 19 go -C "$mod" build -buildvcs=false -ldflags "$ldflags" -o "$tmp/" \
	k8s.io/kubernetes/cmd/kube-apiserver ./cmd/etcd >&2 &
build=$!
trap 'kill -TERM -- "-$build" 2>/dev/null || true; wait "$build" || true; exit 1' HUP INT TERM
wait "$build"
trap - HUP INT TERM
elapsed=$(($(date +%s) - start))
echo "k8s-bins.sh: built in $((elapsed / 60))m$((elapsed % 60))s" >&2

got=$("$tmp/kube-apiserver" --version)
if [ "$got" != "Kubernetes $k8s_version" ]; then
	echo "k8s-bins.sh: kube-apiserver --version printed \"$got\", want \"Kubernetes $k8s_version\"" >&2
	exit 1
fi
"$tmp/etcd" --version >&2

# mktemp made it private; the cache may be shared.
chmod 755 "$tmp"
# A concurrent run may have finished first; its result is as good as ours.
if ! mv -T "$tmp" "$dir" 2>/dev/null; then
	if [ ! -x "$dir/kube-apiserver" ] || [ ! -x "$dir/etcd" ]; then
		echo "k8s-bins.sh: cannot move the build into $dir" >&2
		exit 1
	fi
fi
echo "$dir"
