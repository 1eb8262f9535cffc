// labhost/lib/hostchanges.sh: what installing the lab changes on the host, and
// its undo. Runs the real bash functions against a scratch root laid out like
// / (etc/systemd/system, etc/rc?.d, etc/cloud, usr/sbin), with apt-get,
// apt-mark, dpkg-query and id faked on PATH: nothing is installed or purged
// on this host.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { findExecutable, makeTempDir, projectFile, PROJECT_DIR } from "../helpers/tools";

interface Run {
    status: number | null;
    stdout: string;
    stderr: string;
}

/** The packages of a list file (labhost/host-packages.txt format). */
function readList(file: string): string[] {
    return fs
        .readFileSync(file, "utf8")
        .split("\n")
        .map((line) => line.trim())
        .filter((line) => line !== "" && !line.startsWith("#"))
        .map((line) => line.split(/\s+/)[0]);
}

// A fake apt-get: `install` "installs" into $FAKE_STATUS and enables units in
// the scratch root the way the packages' maintainer scripts do
// (deb-systemd-helper's links, update-rc.d's S/K links), pulls in a
// dependency that enables units of its own, upgrades "systemd" and masks a
// unit; `-s purge` simulates; `purge` records and forgets.
const FAKE_APT_GET = `#!/bin/bash
echo "apt-get $*" >>"$FAKE_LOG"
r=$FAKE_ROOT
unit() { mkdir -p "$r/lib/systemd/system"; printf '[Unit]\\nDescription=%s\\n[Service]\\nExecStart=/bin/true\\n[Install]\\nWantedBy=%s\\n%s' "$1" "$2" "$3" >"$r/lib/systemd/system/$1"; }
link() { mkdir -p "$(dirname "$r/$1")"; ln -sfn "$2" "$r/$1"; }
rc() { local l; for l in 2 3 4 5; do link "etc/rc$l.d/S01$1" "../init.d/$1"; done; for l in 0 1 6; do link "etc/rc$l.d/K01$1" "../init.d/$1"; done; }
case "$1" in
    update) exit 0 ;;
    -s)
        shift 2
        for p in "$@"; do echo "Purg $p [1.0]"; done
        cat "$FAKE_EXTRA_PURGE" 2>/dev/null
        exit 0 ;;
    purge)
        for p in "$@"; do sed -i "/^$p /d" "$FAKE_STATUS"; done
        exit 0 ;;
    install) ;;
    *) echo "fake apt-get: unexpected $*" >&2; exit 2 ;;
esac
if [ -x "$r/usr/sbin/policy-rc.d" ]; then
    "$r/usr/sbin/policy-rc.d"; echo "policy-rc.d says $?" >>"$FAKE_LOG"
else
    echo "no policy-rc.d" >>"$FAKE_LOG"
fi
for p in "$@"; do
    case "$p" in
        -*|install) continue ;;
        fakesvc)
            unit fakesvc.service multi-user.target "Alias=fakesvcd.service"
            link etc/systemd/system/multi-user.target.wants/fakesvc.service /lib/systemd/system/fakesvc.service
            link etc/systemd/system/fakesvcd.service /lib/systemd/system/fakesvc.service
            rc fakesvc
            # its dependency, with a timer and a user unit enabled
            unit fakedep.timer timers.target ""
            link etc/systemd/system/timers.target.wants/fakedep.timer /lib/systemd/system/fakedep.timer
            link etc/systemd/user/default.target.wants/fakedep-user.service /usr/lib/systemd/user/fakedep-user.service
            echo "fakedep 1.0" >>"$FAKE_STATUS"
            # an upgrade pulled in, whose postinst masks a unit (a mask is not an enablement)
            sed -i 's/^systemd 1$/systemd 2/' "$FAKE_STATUS"
            link etc/systemd/system/fake-masked.service /dev/null
            # a system user and group of its own (this purge will leave them)
            echo "fakesvc:x:990:990::/nonexistent:/usr/sbin/nologin" >>"$r/etc/passwd"
            echo "fakegrp:x:991:" >>"$r/etc/group"
            ;;
        cloud-init)
            for u in cloud-init-local.service cloud-init.service cloud-config.service cloud-final.service; do
                unit "$u" cloud-init.target ""
                link "etc/systemd/system/cloud-init.target.wants/$u" "/lib/systemd/system/$u"
            done
            rc cloud-init
            ;;
        broken)
            link etc/systemd/system/multi-user.target.wants/broken.service /lib/systemd/system/broken.service
            echo "E: broken: post-installation script returned error exit status 1" >&2
            exit 100
            ;;
    esac
    echo "$p 1.0" >>"$FAKE_STATUS"
done
exit 0
`;

// dpkg-query -W -f=FORMAT [PACKAGE], answered from $FAKE_STATUS ("name version" lines).
const FAKE_DPKG_QUERY = `#!/bin/bash
pkg=
for a in "$@"; do case "$a" in -W | -f=*) ;; *) pkg=$a ;; esac; done
if [ -n "$pkg" ]; then
    grep -q "^$pkg " "$FAKE_STATUS" || exit 1
    printf 'ii '
    exit 0
fi
awk '{ print "ii  " $1 " " $2 }' "$FAKE_STATUS"
`;

describe("hostchanges.sh", () => {
    let tmp: { dir: string; cleanup: () => void };
    let root: string;
    let home: string;
    let cache: string;
    let fakeBin: string;
    let status: string;
    let log: string;
    let lists: string;
    let labhost: string;

    /** Runs a snippet with common.sh and toolchain.sh (which sources hostchanges.sh) loaded. */
    function run(snippet: string, env: Record<string, string> = {}): Run {
        const result = spawnSync("/bin/bash", ["-c", `set -euo pipefail; source labhost/lib/common.sh; source labhost/lib/toolchain.sh; ${snippet}`], {
            cwd: PROJECT_DIR,
            env: {
                HOME: path.join(tmp.dir, "home-dir"),
                PATH: `${fakeBin}:/usr/sbin:/usr/bin:/sbin:/bin`,
                LVSLAB_HOST_ROOT: root,
                LVSLAB_HOME: home,
                LVSLAB_CACHE: cache,
                LABHOST: labhost,
                FAKE_ROOT: root,
                FAKE_STATUS: status,
                FAKE_LOG: log,
                FAKE_MANUAL: path.join(tmp.dir, "manual"),
                FAKE_EXTRA_PURGE: path.join(tmp.dir, "extra-purge"),
                FAKE_LABHOST_UP: path.join(tmp.dir, "labhost-up"),
                ...env,
            },
            encoding: "utf8",
            timeout: 30_000,
            stdio: ["ignore", "pipe", "pipe"],
        });
        return { status: result.status, stdout: result.stdout, stderr: result.stderr };
    }

    /** Every symlink under the scratch root's etc, as "path -> target", relative to the root. */
    function links(): string[] {
        const found: string[] = [];
        const walk = (dir: string): void => {
            for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
                const full = path.join(dir, entry.name);
                if (entry.isSymbolicLink()) {
                    found.push(`${path.relative(root, full)} -> ${fs.readlinkSync(full)}`);
                } else if (entry.isDirectory()) {
                    walk(full);
                }
            }
        };
        walk(path.join(root, "etc"));
        return found.sort();
    }

    function manifest(name: string): string[] {
        const file = path.join(home, "host-changes", name);
        return fs.existsSync(file)
            ? fs
                  .readFileSync(file, "utf8")
                  .split("\n")
                  .filter((line) => line !== "")
            : [];
    }

    function writeList(name: string, packages: string[]): string {
        const file = path.join(lists, name);
        fs.writeFileSync(file, `# a test list\n\n${packages.join("\n")}\n`);
        return file;
    }

    beforeEach(() => {
        tmp = makeTempDir("hostchanges");
        root = path.join(tmp.dir, "root");
        home = path.join(tmp.dir, "lab-home");
        cache = path.join(tmp.dir, "lab-cache");
        fakeBin = path.join(tmp.dir, "fake-bin");
        status = path.join(tmp.dir, "dpkg-status");
        log = path.join(tmp.dir, "calls");
        lists = path.join(tmp.dir, "lists");
        labhost = path.join(fakeBin, "labhost.sh");
        for (const dir of [fakeBin, lists, cache, path.join(tmp.dir, "home-dir"), path.join(root, "usr", "sbin")]) {
            fs.mkdirSync(dir, { recursive: true });
        }
        // The host as it was: systemd installed, a getty and cron enabled, a unit masked by the admin.
        fs.writeFileSync(status, "systemd 1\ncron 1\n");
        const pre: Array<[string, string]> = [
            ["etc/systemd/system/getty.target.wants/getty@tty1.service", "/lib/systemd/system/getty@.service"],
            ["etc/systemd/system/multi-user.target.wants/cron.service", "/lib/systemd/system/cron.service"],
            ["etc/systemd/system/admin-masked.service", "/dev/null"],
            ["etc/rc2.d/S01cron", "../init.d/cron"],
        ];
        for (const [link, target] of pre) {
            fs.mkdirSync(path.dirname(path.join(root, link)), { recursive: true });
            fs.symlinkSync(target, path.join(root, link));
        }
        fs.writeFileSync(path.join(fakeBin, "apt-get"), FAKE_APT_GET, { mode: 0o755 });
        fs.writeFileSync(path.join(fakeBin, "dpkg-query"), FAKE_DPKG_QUERY, { mode: 0o755 });
        fs.writeFileSync(path.join(root, "etc", "passwd"), "root:x:0:0:root:/root:/bin/bash\n");
        fs.writeFileSync(path.join(root, "etc", "group"), "root:x:0:\n");
        for (const [tool, file] of [
            ["userdel", "passwd"],
            ["groupdel", "group"],
        ]) {
            fs.writeFileSync(path.join(fakeBin, tool), `#!/bin/sh\necho "${tool} $*" >>"$FAKE_LOG"\nsed -i "/^$1:/d" "$FAKE_ROOT/etc/${file}"\n`, {
                mode: 0o755,
            });
        }
        fs.writeFileSync(path.join(fakeBin, "apt-mark"), '#!/bin/sh\ncat "$FAKE_MANUAL" 2>/dev/null\n', { mode: 0o755 });
        // Root, as far as the scripts can tell: the tests need not run as root.
        fs.writeFileSync(path.join(fakeBin, "id"), '#!/bin/sh\n[ "$1" = -u ] && { echo 0; exit 0; }\nexec /usr/bin/id "$@"\n', { mode: 0o755 });
        // A lab host that is up when $FAKE_LABHOST_UP names it (default name: lvslab).
        fs.writeFileSync(
            labhost,
            '#!/bin/sh\n[ "$1" = status ] || exit 2\ngrep -qx "${LVSLAB_LABHOST:-lvslab}" "$FAKE_LABHOST_UP" 2>/dev/null && exit 0\nexit 3\n',
            { mode: 0o755 },
        );
    });
    afterEach(() => tmp.cleanup());

    it("installs what is missing and leaves no unit of the install enabled: its own, a dependency's, sysvinit's", () => {
        const before = links();
        const list = writeList("lab.txt", ["cron", "fakesvc", "cloud-init"]);
        const result = run(`install_debian_packages lab ${list}`);
        assert.equal(result.status, 0, result.stderr);
        const calls = fs.readFileSync(log, "utf8");
        assert.match(calls, /apt-get install -y -q --no-install-recommends fakesvc cloud-init\n/, "only the missing packages are asked for");
        assert.match(calls, /policy-rc.d says 101/, "no daemon may start while apt-get runs");
        assert.equal(fs.existsSync(path.join(root, "usr", "sbin", "policy-rc.d")), false, "the temporary policy-rc.d is gone");

        // Nothing of the install is enabled: the links that were there before are all that is left,
        // but for the S links that became K links and the mask the upgrade made.
        const after = links();
        const expected = [
            ...before,
            "etc/systemd/system/fake-masked.service -> /dev/null",
            ...["cloud-init", "fakesvc"].flatMap((name) => [
                ...["0", "1", "6"].map((level) => `etc/rc${level}.d/K01${name} -> ../init.d/${name}`),
                ...["2", "3", "4", "5"].map((level) => `etc/rc${level}.d/K01${name} -> ../init.d/${name}`),
            ]),
        ].sort();
        assert.deepEqual(after, expected);
        assert.equal(fs.existsSync(path.join(root, "etc/systemd/system/cloud-init.target.wants")), false, "an emptied .wants directory goes");

        // systemd's own reading of the scratch root agrees (offline: --root needs no running systemd).
        if (findExecutable("systemctl")) {
            for (const unit of ["fakesvc.service", "fakedep.timer", "cloud-init.service", "cloud-final.service"]) {
                const state = spawnSync("systemctl", [`--root=${root}`, "is-enabled", unit], { encoding: "utf8" });
                assert.equal(state.stdout.trim(), "disabled", `${unit}: ${state.stdout}${state.stderr}`);
            }
        }

        // cloud-init came with this install: its own off switch is set.
        const marker = path.join(root, "etc/cloud/cloud-init.disabled");
        assert.ok(fs.existsSync(marker), "cloud-init.disabled written");

        // The manifest says what was done.
        assert.deepEqual(manifest("packages"), ["cloud-init", "fakedep", "fakesvc"]);
        assert.deepEqual(manifest("requested"), ["cloud-init", "fakesvc"]);
        assert.deepEqual(manifest("upgraded"), ["systemd 1 2"]);
        assert.deepEqual(manifest("files"), [marker]);
        assert.deepEqual(manifest("accounts"), ["group fakegrp", "user fakesvc"]);
        const disabled = manifest("disabled");
        assert.ok(
            disabled.includes(`removed ${root}/etc/systemd/system/multi-user.target.wants/fakesvc.service -> /lib/systemd/system/fakesvc.service`),
            disabled.join("\n"),
        );
        assert.ok(disabled.includes(`removed ${root}/etc/systemd/system/fakesvcd.service -> /lib/systemd/system/fakesvc.service`), "the alias goes too");
        assert.ok(
            disabled.includes(`removed ${root}/etc/systemd/user/default.target.wants/fakedep-user.service -> /usr/lib/systemd/user/fakedep-user.service`),
        );
        assert.ok(disabled.includes(`renamed ${root}/etc/rc2.d/S01fakesvc -> ${root}/etc/rc2.d/K01fakesvc`));
        // fakesvc: its link and its alias, 4 S links; fakedep: a timer and a user unit; cloud-init: 4 links, 4 S links.
        assert.equal(disabled.length, 2 + 4 + 1 + 1 + 4 + 4, disabled.join("\n"));
        assert.equal(fs.existsSync(path.join(home, "host-changes", "pending")), false);
        assert.equal(manifest("log").length, 1);

        // Warm: nothing to do, apt-get not called again.
        const again = run(`install_debian_packages lab ${list}`);
        assert.equal(again.status, 0, again.stderr);
        assert.match(again.stderr, /Debian packages \(lab\): all 3 present/);
        assert.equal(fs.readFileSync(log, "utf8"), calls);
    });

    it("leaves cloud-init on when it was there before (it is the host's, not ours)", () => {
        fs.appendFileSync(status, "cloud-init 1\n");
        const result = run(`install_debian_packages test ${writeList("test.txt", ["cloud-init", "fakesvc"])}`);
        assert.equal(result.status, 0, result.stderr);
        assert.equal(fs.existsSync(path.join(root, "etc/cloud/cloud-init.disabled")), false);
        assert.deepEqual(manifest("files"), []);
    });

    it("disables what a failed install enabled before it names the failure", () => {
        const before = links();
        const result = run(`install_debian_packages lab ${writeList("lab.txt", ["broken"])}`);
        assert.notEqual(result.status, 0);
        assert.match(result.stderr, /apt-get could not install: broken/);
        assert.deepEqual(links(), before);
        assert.equal(fs.existsSync(path.join(root, "usr", "sbin", "policy-rc.d")), false);
    });

    it("finishes an install that was interrupted between apt-get and the disabling", () => {
        const before = links();
        // An install killed after apt-get: its "before" listings are pending, its links are there.
        const pending = run(
            `d=$(host_changes_dir)/pending; mkdir -p "$d"; unit_links_snapshot >"$d/links"; installed_packages >"$d/packages"; echo fakesvc >"$d/requested"; ` +
                `apt-get install -y fakesvc >/dev/null`,
        );
        assert.equal(pending.status, 0, pending.stderr);
        assert.notDeepEqual(links(), before);
        const result = run(`install_debian_packages lab ${writeList("lab.txt", ["fakesvc"])}`);
        assert.equal(result.status, 0, result.stderr);
        assert.match(result.stderr, /finishing an install that was interrupted/);
        assert.deepEqual(
            links().filter((link) => !/K01fakesvc|fake-masked/.test(link)),
            before,
        );
        assert.deepEqual(manifest("packages"), ["fakedep", "fakesvc"]);
    });

    it("the package lists are split: the lab's list has nothing only the tests need", () => {
        const lab = readList(projectFile("labhost/host-packages.txt"));
        const tests = readList(projectFile("labhost/test-packages.txt"));
        for (const testOnly of ["shellcheck", "cloud-init", "keepalived", "openssh-server", "wrk"]) {
            assert.ok(!lab.includes(testOnly), `${testOnly} is for the tests only, not in host-packages.txt`);
            assert.ok(tests.includes(testOnly), `${testOnly} in test-packages.txt`);
        }
        for (const needed of [
            "libvirt-daemon-system",
            "qemu-system-x86",
            "qemu-utils",
            "dnsmasq-base",
            "mmdebstrap",
            "extlinux",
            "genisoimage",
            "openssh-client",
            "jq",
        ]) {
            assert.ok(lab.includes(needed), `the lab needs ${needed}`);
        }
        assert.deepEqual(
            lab.filter((p) => tests.includes(p)),
            [],
            "no package in both lists",
        );
    });

    it("scripts/lab installs the test packages for test, e2e, bench and drills only, and has the uninstall verb", () => {
        const lab = fs.readFileSync(projectFile("scripts/lab"), "utf8");
        const setupBody = /\nsetup\(\) \{\n([\s\S]*?)\n\}/.exec(lab)?.[1] ?? "";
        assert.ok(setupBody.includes("ensure_toolchain"), "setup installs the toolchain");
        assert.ok(!setupBody.includes("ensure_test_packages"), "setup (and so `up`) does not install the test packages");
        const toolchain = fs.readFileSync(projectFile("labhost/lib/toolchain.sh"), "utf8");
        const ensureToolchain = /\nensure_toolchain\(\) \{\n([\s\S]*?)\n\}/.exec(toolchain)?.[1] ?? "";
        assert.ok(!ensureToolchain.includes("ensure_test_packages"));
        // The arms of the verb case: "    name)" or "    a | b)" up to the next arm.
        const arms = new Map<string, string>();
        const armRe = /^ {4}([a-z][a-z0-9| -]*)\)/gm;
        const heads = [...lab.matchAll(armRe)];
        heads.forEach((head, i) => {
            const body = lab.slice(head.index, i + 1 < heads.length ? heads[i + 1].index : undefined);
            for (const verb of head[1].split("|").map((v) => v.trim())) {
                arms.set(verb, body);
            }
        });
        const arm = (verb: string): string => {
            const body = arms.get(verb);
            assert.ok(body, `scripts/lab has a verb ${verb}`);
            return body;
        };
        for (const verb of ["test", "e2e", "bench", "drills"]) {
            assert.match(arm(verb), /ensure_test_packages/, `scripts/lab ${verb} installs the test packages`);
        }
        for (const verb of ["up", "setup", "destroy", "smoke", "status"]) {
            assert.doesNotMatch(arm(verb), /ensure_test_packages/, `scripts/lab ${verb} does not`);
        }
        assert.match(arm("uninstall"), /undo_host_changes/);
    });

    describe("undo_host_changes (scripts/lab uninstall)", () => {
        /** A host after an install of ours: the manifest, the marker, the caches. */
        function installed(): void {
            const result = run(`install_debian_packages lab ${writeList("lab.txt", ["fakesvc", "cloud-init"])}`);
            assert.equal(result.status, 0, result.stderr);
            fs.writeFileSync(log, "");
            fs.mkdirSync(path.join(cache, "node-24"), { recursive: true });
            fs.mkdirSync(path.join(home, "ssh"), { recursive: true });
        }

        it("refuses while the lab host is up, and changes nothing", () => {
            installed();
            fs.writeFileSync(path.join(tmp.dir, "labhost-up"), "lvslab\n");
            const result = run("undo_host_changes --yes");
            assert.notEqual(result.status, 0);
            assert.match(result.stderr, /the lab host lvslab is running: take the lab down first/);
            assert.equal(fs.readFileSync(log, "utf8"), "", "apt-get not called");
            assert.ok(fs.existsSync(path.join(home, "host-changes", "packages")));
            assert.ok(fs.existsSync(path.join(cache, "node-24")));
        });

        it("refuses while another lab host or an e2e run is going", () => {
            installed();
            fs.mkdirSync(path.join(home, "labhosts", "lvse2e-x1"), { recursive: true });
            fs.writeFileSync(path.join(tmp.dir, "labhost-up"), "lvse2e-x1\n");
            let result = run("undo_host_changes --yes");
            assert.notEqual(result.status, 0);
            assert.match(result.stderr, /the lab host lvse2e-x1 is running/);

            fs.writeFileSync(path.join(tmp.dir, "labhost-up"), "");
            fs.mkdirSync(path.join(home, "runs", "e2e.abc"), { recursive: true });
            fs.writeFileSync(path.join(home, "runs", "e2e.abc", "pid"), `${process.pid}\n`);
            result = run("undo_host_changes --yes");
            assert.notEqual(result.status, 0);
            assert.match(result.stderr, /the run in .*e2e\.abc \(pid \d+\) is going on/);
            assert.equal(fs.readFileSync(log, "utf8"), "");
        });

        it("refuses while a stack in the state still has resources, unless --force", () => {
            installed();
            const stacks = path.join(home, "state", ".pulumi", "stacks", "lvs-dr-lab");
            fs.mkdirSync(stacks, { recursive: true });
            fs.writeFileSync(
                path.join(stacks, "dev.json"),
                JSON.stringify({ version: 3, checkpoint: { latest: { resources: [{ urn: "a" }, { urn: "b" }] } } }),
            );
            fs.writeFileSync(path.join(stacks, "gone.json"), JSON.stringify({ version: 3, checkpoint: { latest: {} } }));
            const result = run("undo_host_changes --yes");
            assert.notEqual(result.status, 0);
            assert.match(result.stderr, /these stacks still have resources.*dev 2\b/);
            assert.doesNotMatch(result.stderr, /gone/);
            const forced = run("undo_host_changes --dry-run --force");
            assert.equal(forced.status, 0, forced.stderr);
        });

        it("--dry-run shows the plan and changes nothing", () => {
            installed();
            const result = run("undo_host_changes --dry-run");
            assert.equal(result.status, 0, result.stderr);
            assert.match(result.stderr, /purge 3 packages the lab installed: cloud-init fakedep fakesvc/);
            assert.match(result.stderr, /etc\/cloud\/cloud-init\.disabled/);
            assert.match(result.stderr, new RegExp(`remove directories: ${cache} ${home}`));
            assert.match(result.stderr, /not undone: packages upgraded as dependencies \(systemd\)/);
            assert.match(result.stderr, /users \(fakesvc\) and groups \(fakegrp\) the installs created/);
            assert.doesNotMatch(fs.readFileSync(log, "utf8"), /apt-get purge/);
            assert.ok(fs.existsSync(path.join(home, "host-changes")));
        });

        it("refuses when the purge would take a package the lab did not install with it", () => {
            installed();
            fs.writeFileSync(path.join(tmp.dir, "extra-purge"), "Remv virt-manager [1:4.1.0-2]\n");
            const result = run("undo_host_changes --yes");
            assert.notEqual(result.status, 0);
            assert.match(result.stderr, /would also remove packages it did not install: virt-manager/);
            assert.doesNotMatch(fs.readFileSync(log, "utf8"), /apt-get purge/);
        });

        it("without a terminal and without --yes, asks for --yes", () => {
            installed();
            const result = run("undo_host_changes");
            assert.notEqual(result.status, 0);
            assert.match(result.stderr, /add --yes/);
        });

        it("purges exactly the packages it installed (a dependency marked manual since stays), removes the marker, the caches and LVSLAB_HOME", () => {
            installed();
            fs.writeFileSync(path.join(tmp.dir, "manual"), "cron\nfakedep\n");
            const result = run("undo_host_changes --yes");
            assert.equal(result.status, 0, result.stderr);
            const calls = fs.readFileSync(log, "utf8");
            assert.match(calls, /^apt-get purge -y -q cloud-init fakesvc\nuserdel fakesvc\ngroupdel fakegrp$/m, calls);
            assert.equal(fs.readFileSync(path.join(root, "etc", "passwd"), "utf8"), "root:x:0:0:root:/root:/bin/bash\n");
            assert.equal(fs.readFileSync(path.join(root, "etc", "group"), "utf8"), "root:x:0:\n");
            assert.match(result.stderr, /keep \(marked manually installed since\): fakedep/);
            assert.equal(fs.readFileSync(status, "utf8"), "systemd 2\ncron 1\nfakedep 1.0\n");
            assert.equal(fs.existsSync(path.join(root, "etc/cloud/cloud-init.disabled")), false);
            assert.equal(fs.existsSync(path.join(root, "etc/cloud")), false, "the emptied /etc/cloud goes");
            assert.equal(fs.existsSync(home), false);
            assert.equal(fs.existsSync(cache), false);
        });
    });
});
