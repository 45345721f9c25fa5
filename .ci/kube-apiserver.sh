#!/usr/bin/env bash
# A real Kubernetes API server (v1.20.2, built from Debian's source package) and etcd
# for the controller's integration tests; see ../shared/reference/test-infra.md.
#
#   .ci/kube-apiserver.sh build        # build (once; cached under $cache) and exit
#   .ci/kube-apiserver.sh start DIR    # start etcd + kube-apiserver with state in DIR,
#                                      # write DIR/kubeconfig, DIR/pids; prints the kubeconfig path
#   .ci/kube-apiserver.sh stop DIR
set -euo pipefail

cache="${SWITCHYARD_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/switchyard-ci}"
version="1.20.5+really1.20.2"
bin="$cache/kubernetes-$version/bin"

apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

build() {
  if [ -x "$bin/kube-apiserver" ]; then return 0; fi
  apt_install golang-go etcd-server rsync golang-github-modern-go-reflect2-dev dpkg-dev
  local work
  work=$(mktemp -d)
  mkdir -p "$work/sources" "$work/lists/partial"
  sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources > "$work/sources/src.sources"
  local aptopts=(-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$work/sources" -o Dir::State::Lists="$work/lists")
  apt-get "${aptopts[@]}" update -qq
  (cd "$work" && apt-get "${aptopts[@]}" source --download-only -qq kubernetes >/dev/null)
  mkdir -p "$work/src"
  tar -xzf "$work"/kubernetes_*.orig.tar.gz -C "$work/src" --strip-components=1
  rm -rf "$work/src/vendor/github.com/modern-go/reflect2"
  cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 "$work/src/vendor/github.com/modern-go/reflect2"
  (
    cd "$work/src"
    mkdir -p .go/src/k8s.io && ln -sfn ../../.. .go/src/k8s.io/kubernetes
    GOPATH="$PWD/.go" GOPROXY=off CGO_ENABLED=0 \
      make WHAT="cmd/kube-apiserver" >/dev/null 2>"$work/build.err" || { tail -30 "$work/build.err"; exit 1; }
  )
  mkdir -p "$bin"
  cp "$work"/src/_output/bin/kube-apiserver "$bin/"
  rm -rf "$work"
}

start() {
  local dir=$1
  build
  apt_install etcd-server openssl
  mkdir -p "$dir/etcd" "$dir/certs"
  openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
  openssl rsa -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null
  echo 'testtoken,admin,admin,"system:masters"' > "$dir/token.csv"
  local etcd_port=${ETCD_PORT:-23790} api_port=${APISERVER_PORT:-16443}
  etcd --data-dir "$dir/etcd" --listen-client-urls "http://127.0.0.1:$etcd_port" \
    --advertise-client-urls "http://127.0.0.1:$etcd_port" --listen-peer-urls "http://127.0.0.1:$((etcd_port + 1))" \
    > "$dir/etcd.log" 2>&1 &
  echo $! > "$dir/pids"
  "$bin/kube-apiserver" --etcd-servers="http://127.0.0.1:$etcd_port" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$api_port" --cert-dir="$dir/certs" \
    --service-account-key-file="$dir/sa.pub" --service-account-signing-key-file="$dir/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --api-audiences=https://kubernetes.default.svc.cluster.local --token-auth-file="$dir/token.csv" \
    --authorization-mode=RBAC --service-cluster-ip-range=10.0.0.0/24 \
    --disable-admission-plugins=ServiceAccount > "$dir/apiserver.log" 2>&1 &
  echo $! >> "$dir/pids"
  cat > "$dir/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- cluster:
    server: https://127.0.0.1:$api_port
    insecure-skip-tls-verify: true
  name: test
users:
- name: admin
  user:
    token: testtoken
contexts:
- context:
    cluster: test
    user: admin
    namespace: default
  name: test
current-context: test
KC
  for _ in $(seq 1 120); do
    if curl -ksf -H "Authorization: Bearer testtoken" "https://127.0.0.1:$api_port/readyz" >/dev/null 2>&1; then
      echo "$dir/kubeconfig"
      return 0
    fi
    sleep 0.5
  done
  tail -20 "$dir/apiserver.log" >&2
  echo "kube-apiserver did not become ready" >&2
  return 1
}

stop() {
  local dir=$1
  [ -f "$dir/pids" ] || return 0
  while read -r pid; do kill "$pid" 2>/dev/null || true; done < "$dir/pids"
  rm -f "$dir/pids"
}

case "${1:-}" in
  build) build ;;
  start) start "$2" ;;
  stop) stop "$2" ;;
  *) echo "usage: $0 build | start DIR | stop DIR" >&2; exit 2 ;;
esac
