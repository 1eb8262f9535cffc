#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# labhost/stock-host-check.sh [BOUND_SECONDS]: the toolchain stage on a stock
# Debian 12 host (issue 26). As root:
#
#   1. a minimal Debian 12 root made by mmdebstrap (variant minbase, plus git,
#      npm and ca-certificates: Debian's npm 9 on Debian's Node.js 18, no Go),
#      from the Debian mirror in this host's /etc/apt/sources.list*, cached
#      as a tarball in $LVSLAB_CACHE/stock-host/ keyed by its recipe;
#   2. unpacked afresh, with a clean copy of the project (git archive HEAD),
#      and entered with chroot in a mount and PID namespace of its own, the
#      host's /proc, /dev and /sys bound in (every mount goes with the
#      namespace; the trap unmounts them first, bounded);
#   3. inside, the toolchain stage alone, as scripts/lab runs it (`stage
#      toolchain ensure_toolchain`: the lab's Debian packages, Node.js, npm ci,
#      the Go to build the CLI with, the Pulumi CLI, tsc), then the checks:
#      a working `pulumi version`, a `node` at least as new as @pulumi/pulumi
#      wants, the npm packages loadable and bin/ built, the CLI built by the Go
#      toolchain fetched from the module proxy, and a second run that fetches
#      and builds nothing. Closing line: "stock-host: N passed, M failed".
#
# This host's settings are copied in so the root reaches the same registries:
# apt's sources (Debian's bookworm, -updates and -security main only) and its
# Acquire:: options, resolv.conf, the locally added CA certificates, npm's
# global config and registry, and the Go proxy settings (GOPROXY, GOSUMDB,
# ...). A user's stock host has its usual defaults instead.
#
# BOUND_SECONDS (or LVSLAB_STOCK_TIMEOUT; default 2400) bounds the run in the
# root; mmdebstrap has 1200 s of its own. LVSLAB_STOCK_REF (default HEAD)
# names the commit or tree copied in.
#
# Measured (2026-12-06, 2 cores shared with another lab's guests; docs/host.md):
# cold 1169 s (root 171 s, stage 982 s, of which the CLI build about 800 s),
# warm 214 s (stage 186 s, of which the Debian packages' install 99 s).
#
# Caches (LVSLAB_STOCK_CACHES):
#   host (default)  the host's Go module and build caches (`go env GOMODCACHE
#                   GOCACHE`, or $LVSLAB_CACHE/stock-host/go-* when the host
#                   has no Go), and $LVSLAB_CACHE/stock-host/{apt-archives,npm}
#                   are bound into the root, so a warm CI run stays short;
#   none            nothing is bound: every byte comes from the registries.
# The root's own $LVSLAB_CACHE (Node.js 24, the Go toolchain copy, the CLI)
# and its Debian packages are new each run either way, so every step of the
# stage runs each time. Run with LVSLAB_STOCK_CACHES=none and an empty
# LVSLAB_CACHE for a cold run.
#
# What it proves: on a host with only Debian 12's packages plus git and npm,
# the toolchain stage gets everything else from Debian's apt, the npm
# registry and the Go module proxy (Debian's Go 1.19 fetches the Go toolchain
# module, which builds the CLI; npm 9 fetches Node.js 24), with no Go and no
# newer Node.js of the host's in reach, and that a second run does nothing.
# What it does not: with warm caches, only that the path works, not how long
# a first download and build take (a cold run measures that, see
# docs/host.md), nor that the registries serve every module again (the
# module cache answers for them; the Go toolchain module's hash is still
# compared with the pin); nothing past the toolchain stage (the guest image,
# the lab, which need the host's libvirt and kernel); no other distribution
# or Debian release; and the mirror is this host's, with its settings.
set -euo pipefail

self=$(readlink -f "$0")

# ------------------------------------------------------------ inside the root
# Runs in the chroot, with a clean environment: the stage, then the checks.
in_root() {
    set +e # every check runs, whatever the one before it did
    local passed=0 failed=0 project=/lvs-dr-lab
    record() { # record STATUS DESCRIPTION: one check's outcome
        if [ "$1" = 0 ]; then
            echo "check: ok - $2"
            passed=$((passed + 1))
        else
            echo "check: FAIL - $2"
            failed=$((failed + 1))
        fi
    }
    # This host's locally added CA certificates (copied in beside the root's own).
    if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
        update-ca-certificates >/dev/null 2>&1 || echo "warning: update-ca-certificates failed" >&2
    fi
    cd "$project"

    echo "== the root before the stage: go $(command -v go || echo absent), node $(node --version 2>/dev/null || echo absent) ($(command -v node || true)), npm $(npm --version 2>/dev/null || echo absent)"
    stock_root() {
        ! command -v go >/dev/null && [ "$(command -v node)" = /usr/bin/node ] &&
            [ "$(node -p 'process.versions.node.split(".")[0]')" = 18 ] &&
            [ "$(npm --version | cut -d. -f1)" = 9 ] && grep -qx 'VERSION_ID="12"' /etc/os-release
    }
    stock_root
    record $? "the root starts as a stock Debian 12 host: no go on PATH, Debian's Node.js 18 and npm 9"

    # The stage, as scripts/lab runs it; every line it prints carries the
    # seconds since it started, so each step's time can be read off.
    local started status=0
    started=$(date +%s)
    echo "== the toolchain stage (ensure_toolchain), [seconds since its start]"
    bash -c 'set -euo pipefail
        source labhost/lib/common.sh
        source labhost/lib/toolchain.sh
        stage toolchain ensure_toolchain
        printf "%s\n" "$PATH" >/tmp/stock-host-path' 2>&1 |
        while IFS= read -r line; do printf '[%4d] %s\n' "$(($(date +%s) - started))" "$line"; done || status=$?
    echo "== the toolchain stage: exit $status in $(($(date +%s) - started)) s"
    record "$status" "the toolchain stage succeeds on the stock root"
    if [ -s /tmp/stock-host-path ]; then
        PATH=$(cat /tmp/stock-host-path)
        export PATH
    fi

    # shellcheck source=lib/common.sh
    source labhost/lib/common.sh
    # shellcheck source=lib/toolchain.sh
    source labhost/lib/toolchain.sh
    local want_cli node_wants node_major cli
    want_cli=$(pulumi_version)
    cli=$(command -v pulumi || true)
    echo "== pulumi: ${cli:-none}: $(pulumi version 2>&1 || true)"
    working_pulumi() {
        [ "$(pulumi version)" = "v$want_cli" ] && [ "$cli" = "$LVSLAB_CACHE/pulumi-$want_cli/pulumi" ]
    }
    working_pulumi
    record $? "a working pulumi: \`pulumi version\` is v$want_cli, the CLI built in the root's cache"
    echo "== go: $(command -v go || echo none): $(go version 2>&1 || true); the CLI: $(go version "$cli" 2>&1 || true)"
    built_by_fetched_go() {
        [ "$(go version "$cli" | awk '{ print $2 }')" = "go$GO_TOOLCHAIN_VERSION" ] &&
            [ "$(command -v go)" = "$LVSLAB_CACHE/go-$GO_TOOLCHAIN_VERSION/bin/go" ]
    }
    built_by_fetched_go
    record $? "the CLI was built by go$GO_TOOLCHAIN_VERSION, fetched from the Go module proxy into \$LVSLAB_CACHE/go-$GO_TOOLCHAIN_VERSION"
    grep -qx golang-go "$LVSLAB_HOME/host-changes/requested"
    record $? "Debian's golang-go came through labhost/lib/hostchanges.sh (recorded for scripts/lab uninstall)"
    node_wants=$(jq -r '.packages["node_modules/@pulumi/pulumi"].engines.node // empty' package-lock.json | grep -oE '[0-9]+' | head -n 1)
    node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
    echo "== node: $(command -v node): $(node --version 2>&1); @pulumi/pulumi wants node ${node_wants:+>= }${node_wants:-?}"
    new_enough_node() {
        [ -n "$node_wants" ] && [ "$node_major" -ge "$node_wants" ] && [ "$(command -v node)" != /usr/bin/node ]
    }
    new_enough_node
    record $? "node $(node --version 2>/dev/null) is at least the ${node_wants:-?} that @pulumi/pulumi $(locked_sdk_version) wants, and is not Debian's"
    npm_packages() {
        [ "$(jq -r .version node_modules/@pulumi/pulumi/package.json)" = "$(locked_sdk_version)" ] &&
            node -e 'require("@pulumi/pulumi"); require("@pulumi/pulumi/automation")' &&
            [ -f bin/index.js ] && [ -f bin/scripts/automation.js ]
    }
    npm_packages
    record $? "the npm packages: @pulumi/pulumi $(locked_sdk_version) as locked, loadable with its Automation API, and bin/ built by tsc"

    # A second run, as the next scripts/lab call starts it (the stock PATH).
    local again_log=/tmp/stock-host-again.log again_started
    again_started=$(date +%s)
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin bash -c 'set -euo pipefail
        source labhost/lib/common.sh
        source labhost/lib/toolchain.sh
        ensure_toolchain' >"$again_log" 2>&1 || true
    echo "== a second run of the stage ($(($(date +%s) - again_started)) s):"
    sed 's/^/    | /' "$again_log"
    nothing_again() {
        grep -q "already built" "$again_log" && grep -q "npm dependencies: up to date" "$again_log" &&
            ! grep -qiE "installing|fetching|building|compiling|npm ci from|error" "$again_log"
    }
    nothing_again
    record $? "a second run fetches, installs and builds nothing"

    echo "== in the root: $passed checks ok, $failed failed"
}

# ------------------------------------------------- in the mount/PID namespace
# Mounts the host's /proc, /dev, /sys and the cache binds, enters the root.
in_namespace() {
    local work=$1 root=$1/root mounted=() src dest
    unmount_all() {
        local i target
        for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
            target=${mounted[i]}
            timeout 20 umount -R "$target" 2>/dev/null || timeout 20 umount -lR "$target" 2>/dev/null ||
                echo "warning: could not unmount $target" >&2
        done
        mounted=()
    }
    trap unmount_all EXIT
    for dest in proc dev sys; do
        mount --rbind "/$dest" "$root/$dest"
        mounted+=("$root/$dest")
        mount --make-rslave "$root/$dest"
    done
    while read -r src dest; do
        [ -n "$src" ] || continue
        mkdir -p "$src" "$root$dest"
        mount --bind "$src" "$root$dest"
        mounted+=("$root$dest")
        echo "== bound into the root: $src -> $dest"
    done <"$work/binds"
    local envs=()
    while IFS= read -r line; do
        [ -n "$line" ] && envs+=("$line")
    done <"$work/env"
    local status=0
    env -i HOME=/root USER=root LOGNAME=root LANG=C.UTF-8 TERM=dumb \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        PULUMI_SKIP_UPDATE_CHECK=true "${envs[@]}" \
        chroot "$root" /bin/bash /stock-host-check.sh --in-root || status=$?
    unmount_all
    trap - EXIT
    return "$status"
}

case "${1:-}" in
    --in-root)
        in_root
        exit 0
        ;;
    --in-namespace)
        in_namespace "$2"
        exit $?
        ;;
esac

# ------------------------------------------------------------ on the host
cd "$(dirname "$self")/.."
# shellcheck source=lib/common.sh
source labhost/lib/common.sh
# shellcheck source=lib/hostchanges.sh
source labhost/lib/hostchanges.sh

bound=${1:-${LVSLAB_STOCK_TIMEOUT:-2400}}
caches=${LVSLAB_STOCK_CACHES:-host}
case "$caches" in host | none) ;; *) die "LVSLAB_STOCK_CACHES is host or none, not $caches" ;; esac
[[ "$bound" =~ ^[0-9]+$ ]] || die "usage: labhost/stock-host-check.sh [BOUND_SECONDS] (a number; default 2400)"
[ "$(id -u)" = 0 ] || die "run as root: it builds a root with mmdebstrap and enters it with chroot"
# What is copied into the root: HEAD, as a fresh clone has it (another
# commit or tree for trying a change before committing it).
ref=${LVSLAB_STOCK_REF:-HEAD}
git -C "$LVSLAB_ROOT" rev-parse --verify -q "$ref^{tree}" >/dev/null || die "no git tree $ref in $LVSLAB_ROOT: the root gets git archive $ref"
command -v mmdebstrap >/dev/null 2>&1 || install_debian_packages stock-host-check <(echo mmdebstrap)

started=$(date +%s)
store="$LVSLAB_CACHE/stock-host"
mkdir -p "$store"

# Debian 12's own suites from this host's apt sources, one-line style.
debian_sources() {
    local file
    for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$file" ] || continue
        awk '$1 == "deb" {
                sub(/\[[^]]*\][ \t]*/, "")
                main = 0
                for (i = 4; i <= NF; i++) if ($i == "main") main = 1
                if (main && $3 ~ /^bookworm(-updates|-security)?$/) print "deb", $2, $3, "main"
            }' "$file"
    done
    for file in /etc/apt/sources.list.d/*.sources; do
        [ -f "$file" ] || continue
        awk 'function flush(   n, m, i, j, u, s) {
                if (types ~ /(^| )deb( |$)/ && enabled != "no" && comps ~ /(^| )main( |$)/) {
                    n = split(uris, u, " "); m = split(suites, s, " ")
                    for (i = 1; i <= n; i++) for (j = 1; j <= m; j++)
                        if (s[j] ~ /^bookworm(-updates|-security)?$/) print "deb", u[i], s[j], "main"
                }
                types = uris = suites = comps = enabled = ""
            }
            /^[ \t]*$/ { flush(); next }
            /^#/ || /^[ \t]/ { next }
            {
                key = tolower($1); sub(/:$/, "", key); $1 = ""; sub(/^[ \t]+/, "")
                if (key == "types") types = $0
                else if (key == "uris") uris = $0
                else if (key == "suites") suites = $0
                else if (key == "components") comps = $0
                else if (key == "enabled") enabled = tolower($0)
            }
            END { flush() }' "$file"
    done
}
mapfile -t sources < <(debian_sources | awk '!seen[$0]++')
[ "${#sources[@]}" -gt 0 ] || die "no Debian 12 (bookworm) main source in /etc/apt/sources.list*: the root is made from the host's Debian mirror"
# apt's Acquire:: settings (a proxy, Check-Valid-Until for a snapshot mirror).
aptopts=()
for file in /etc/apt/apt.conf /etc/apt/apt.conf.d/*; do
    [ -f "$file" ] && grep -q '^[[:space:]]*Acquire' "$file" && aptopts+=("--aptopt=$file")
done
mm_args=(--variant=minbase "--include=git,npm,ca-certificates" --format=tar "${aptopts[@]}")
key=$(
    {
        echo "stock-host root v1"
        printf '%s\n' "${mm_args[@]}" "${sources[@]}"
        for opt in "${aptopts[@]}"; do cat "${opt#--aptopt=}"; done
    } | sha256sum | cut -c1-16
)
tarball="$store/root-$key.tar"
say "stock Debian 12 root: $tarball"
printf '    mirror: %s\n' "${sources[@]}" >&2
if [ -f "$tarball" ]; then
    echo "    cached ($(du -h "$tarball" | cut -f1))" >&2
else
    echo "    making it with mmdebstrap (minbase + git, npm, ca-certificates; 1-3 minutes)" >&2
    mm_started=$(date +%s)
    rm -f "$tarball.partial"
    timeout 1200 mmdebstrap --quiet "${mm_args[@]}" bookworm "$tarball.partial" "${sources[@]}" ||
        { rm -f "$tarball.partial"; die "mmdebstrap failed (see above)"; }
    mv "$tarball.partial" "$tarball"
    find "$store" -maxdepth 1 -name 'root-*.tar' ! -name "root-$key.tar" -delete
    echo "    made in $(($(date +%s) - mm_started)) s ($(du -h "$tarball" | cut -f1))" >&2
fi

work=$(mktemp -d /var/tmp/lvslab-stock-host.XXXXXX)
root="$work/root"
log="$work/run.log"
# Removes the work directory, but never through a mount: those live in the
# namespace, which is gone by now; if one is seen here, the tree is kept.
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if awk -v w="$work" '$5 == w || index($5, w "/") == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
        echo "warning: something is still mounted under $work: left in place (umount -R it, then rm -rf it)" >&2
    else
        rm -rf --one-file-system "$work"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$root"
tar --numeric-owner -xpf "$tarball" -C "$root"
# The project, as a fresh clone has it.
mkdir -p "$root/lvs-dr-lab"
git -C "$LVSLAB_ROOT" archive --format=tar "$ref" | tar -xf - -C "$root/lvs-dr-lab"
echo "    project: git archive $ref ($(git -C "$LVSLAB_ROOT" rev-parse --short "$ref")) in /lvs-dr-lab" >&2
cp "$self" "$root/stock-host-check.sh"
# This host's ways out: DNS, its added CAs, npm's global config.
rm -f "$root/etc/resolv.conf"
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
    mkdir -p "$root/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
fi
for file in /etc/npmrc /usr/etc/npmrc; do
    if [ -f "$file" ]; then
        mkdir -p "$root$(dirname "$file")"
        cp "$file" "$root$file"
    fi
done
{
    if command -v npm >/dev/null 2>&1; then echo "npm_config_registry=$(npm config get registry)"; fi
    for var in GOPROXY GOSUMDB GONOSUMDB GONOPROXY GOPRIVATE GOINSECURE; do
        value=""
        if command -v go >/dev/null 2>&1; then
            value=$(go env "$var")
        else
            value=${!var:-}
        fi
        if [ -n "$value" ]; then echo "$var=$value"; fi
    done
    for var in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
        if [ -n "${!var:-}" ]; then echo "$var=${!var}"; fi
    done
} >"$work/env"
sed 's/^/    setting: /' "$work/env" >&2

: >"$work/binds"
if [ "$caches" = host ]; then
    if command -v go >/dev/null 2>&1; then
        gomod=$(go env GOMODCACHE)
        gobuild=$(go env GOCACHE)
    else
        gomod="$store/go-mod"
        gobuild="$store/go-build"
    fi
    mkdir -p "$store/apt-archives/partial" "$store/npm"
    {
        echo "$gomod /root/go/pkg/mod"
        echo "$gobuild /root/.cache/go-build"
        echo "$store/apt-archives /var/cache/apt/archives"
        echo "$store/npm /root/.npm"
    } >"$work/binds"
fi

say "the toolchain stage in the stock root (caches: $caches; bounded to $bound s)"
status=0
timeout --kill-after=30 "$bound" \
    unshare --mount --pid --fork --kill-child --propagation private \
    bash "$self" --in-namespace "$work" 2>&1 | tee "$log" || status=$?

passed=$(grep -c '^check: ok' "$log" || true)
failed=$(grep -c '^check: FAIL' "$log" || true)
if [ "$status" != 0 ]; then
    echo "check: FAIL - the run in the root ended with exit $status$([ "$status" = 124 ] && echo " (past the $bound s bound)")"
    failed=$((failed + 1))
fi
# Nothing of the root may be left running (the PID namespace ends with it)
# or mounted (the mount namespace too).
left=0
for proc in /proc/[0-9]*; do
    case "$(readlink "$proc/root" 2>/dev/null)" in "$root" | "$root"/*) left=$((left + 1)) ;; esac
done
mounts=$(awk -v w="$work" '$5 == w || index($5, w "/") == 1' /proc/self/mountinfo | wc -l)
if [ "$left" = 0 ] && [ "$mounts" = 0 ]; then
    echo "check: ok - nothing is left running in the root, nothing of it is mounted on the host"
    passed=$((passed + 1))
else
    echo "check: FAIL - $left processes still run in the root, $mounts mounts under $work on the host"
    failed=$((failed + 1))
fi
echo "== stock host check done in $(($(date +%s) - started)) s"
echo "stock-host: $passed passed, $failed failed"
[ "$failed" = 0 ]
