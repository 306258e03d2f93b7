#!/usr/bin/env bash
# Build (once) and cache a real kube-apiserver + kube-controller-manager v1.20.2 from Debian
# bookworm's `kubernetes` source package, and install Debian's etcd, for the e2e tests.
# Binaries land in ${STSMESH_K8S_BIN:-$HOME/.cache/stsmesh/k8s-1.20.2/bin}; nothing is written
# into the repository. Safe to re-run: it exits early when the binaries are already there.
# See ../shared/reference/real-apiserver.md for why each step is needed.
set -euo pipefail
BIN=${STSMESH_K8S_BIN:-$HOME/.cache/stsmesh/k8s-1.20.2/bin}
export DEBIAN_FRONTEND=noninteractive
need_apt=()
command -v etcd >/dev/null || need_apt+=(etcd-server etcd-client)
if [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/kube-controller-manager" ] && [ ${#need_apt[@]} -eq 0 ]; then
  echo "k8s binaries present in $BIN"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq golang-go etcd-server etcd-client openssl rsync make \
  golang-github-modern-go-reflect2-dev >/dev/null
if [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/kube-controller-manager" ]; then
  echo "k8s binaries present in $BIN"
  exit 0
fi
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/stsmesh-k8s-build.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT
mkdir -p "$SCRATCH/debsrc/lists/partial" "$SCRATCH/debsrc/src" "$BIN"
echo 'deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main' \
  > "$SCRATCH/debsrc/sources.list"
O=(-o "Dir::Etc::SourceList=$SCRATCH/debsrc/sources.list" -o Dir::Etc::SourceParts=/nonexistent
   -o "Dir::State::Lists=$SCRATCH/debsrc/lists")
$SUDO apt-get "${O[@]}" update -qq
(cd "$SCRATCH/debsrc/src" && apt-get "${O[@]}" source --download-only kubernetes >/dev/null)
mkdir -p "$SCRATCH/k8s-src"
tar xzf "$SCRATCH"/debsrc/src/kubernetes_*.orig.tar.gz -C "$SCRATCH/k8s-src"
SRC=$(find "$SCRATCH/k8s-src" -maxdepth 1 -type d -name 'kubernetes-*' | head -n1)
mkdir -p "$SCRATCH/gopath/src/k8s.io"
ln -s "$SRC" "$SCRATCH/gopath/src/k8s.io/kubernetes"
cd "$SCRATCH/gopath/src/k8s.io/kubernetes"
export GOPATH=$SCRATCH/gopath GO111MODULE=off CGO_ENABLED=0 GOFLAGS= GOCACHE=$SCRATCH/gocache
rm -rf vendor/github.com/modern-go/reflect2 && mkdir vendor/github.com/modern-go/reflect2
cp /usr/share/gocode/src/github.com/modern-go/reflect2/*.go vendor/github.com/modern-go/reflect2/
make gen_openapi >/dev/null
P=k8s.io/kubernetes/vendor/k8s.io; LD="-s -w"
for pkg in client-go/pkg/version component-base/version; do
  LD="$LD -X $P/$pkg.gitVersion=v1.20.2 -X $P/$pkg.gitMajor=1 -X $P/$pkg.gitMinor=20 -X $P/$pkg.gitTreeState=clean"
done
go build -o "$BIN/kube-apiserver.tmp" -ldflags "$LD" k8s.io/kubernetes/cmd/kube-apiserver
go build -o "$BIN/kube-controller-manager.tmp" -ldflags "$LD" k8s.io/kubernetes/cmd/kube-controller-manager
mv "$BIN/kube-apiserver.tmp" "$BIN/kube-apiserver"
mv "$BIN/kube-controller-manager.tmp" "$BIN/kube-controller-manager"
echo "built k8s binaries into $BIN"
