import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { proxyCommand, renderAnsibleInventory, renderSshConfig } from "../../../scripts/tools/inventory";
import { topologyFromOutputs } from "../../../scripts/tools/topology";
import { seedOutputs } from "./fixtures";

const topology = topologyFromOutputs(seedOutputs(), "dev");
const proxy = proxyCommand({
    environment: { LVSLAB_LABHOST: "lvslab" },
    labhostScript: "/src/lvs-dr-lab/labhost/labhost.sh",
    node: "/opt/node/bin/node",
    pipeScript: "/src/lvs-dr-lab/bin/scripts/tools/netnsPipe.js",
});

describe("the inventory of a lab", () => {
    it("reaches the guests through the lab host's namespace", () => {
        assert.equal(
            proxy,
            "env LVSLAB_LABHOST=lvslab /src/lvs-dr-lab/labhost/labhost.sh exec /opt/node/bin/node /src/lvs-dr-lab/bin/scripts/tools/netnsPipe.js %h %p",
        );
        assert.match(
            proxyCommand({ environment: { LVSLAB_LABHOST_ROOT: "/var/lib/my lab" }, labhostScript: "l", node: "n", pipeScript: "p" }),
            /LVSLAB_LABHOST_ROOT='\/var\/lib\/my lab'/,
        );
    });

    it("SSH config: one Host per machine, with its address, user, key and the proxy", () => {
        const config = renderSshConfig(topology, "dev", proxy);
        assert.equal(config.match(/^Host /gm)?.length, 6);
        assert.match(config, /Host web2\n {4}HostName 172\.16\.16\.178\n {4}User lab\n {4}IdentityFile \/var\/lib\/lvs-dr-lab\/ssh\/id_ed25519\n/);
        assert.match(config, /Host nfs\n {4}HostName 192\.168\.7\.250\n/);
        assert.match(config, /ProxyCommand env LVSLAB_LABHOST=lvslab /);
    });

    it("Ansible inventory: groups directors, real_servers and nfs, through the SSH config", () => {
        const inventory = renderAnsibleInventory(topology, "dev", "/var/lib/lvs-dr-lab/inventory/dev/ssh_config");
        assert.match(
            inventory,
            /\[directors\]\ndirector ansible_host=172\.16\.16\.173 public_ip=172\.16\.16\.173 storage_ip=192\.168\.7\.173 lvs_role=single\n/,
        );
        assert.match(inventory, /\[real_servers\]\nweb1 ansible_host=172\.16\.16\.177 .* lvs_weight=1\nweb2 .*\nweb3 .*\nweb4 .*\n/);
        assert.match(inventory, /\[nfs\]\nnfs ansible_host=192\.168\.7\.250 storage_ip=192\.168\.7\.250\n/);
        assert.match(inventory, /ansible_ssh_common_args='-F \/var\/lib\/lvs-dr-lab\/inventory\/dev\/ssh_config'/);
    });
});
