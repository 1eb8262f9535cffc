// The project's typed libvirt layer: Pulumi dynamic resources that drive virsh.
// See README.md beside this file.

export { Network, NETWORK_TYPE, networkProvider } from "./network";
export type { NetworkArgs, NetworkInputs, NetworkOutputs } from "./network";
export { Volume, VOLUME_TYPE, volumeProvider } from "./volume";
export type { VolumeArgs, VolumeInputs, VolumeOutputs } from "./volume";
export { CloudInitDisk, CLOUD_INIT_DISK_TYPE, cloudInitDiskProvider, SEED_FILES, SEED_LABEL, seedSha256 } from "./cloudInitDisk";
export type { CloudInitDiskArgs, CloudInitDiskInputs, CloudInitDiskOutputs } from "./cloudInitDisk";
export { Domain, DOMAIN_TYPE, domainProvider, defaultConsoleLogPath, defaultCpuModel } from "./domain";
export type { DomainArgs, DomainInputs, DomainOutputs } from "./domain";
export { renderDomainXml, renderNetworkXml, escapeXml } from "./xml";
export type { DomainSpec, NetworkSpec, NicSpec } from "./xml";
export { VxlanTunnel, VXLAN_TUNNEL_TYPE, vxlanTunnelProvider } from "./vxlan";
export type { VxlanTunnelArgs, VxlanTunnelInputs, VxlanTunnelOutputs } from "./vxlan";
export { runOnHost, sshRouteOf } from "./host";

// For the lab tools, the proofs and the tests: virsh, the checks and diffs the
// providers run, and the create/remove functions behind them.
export { UNKNOWN, canonical, changedKeys, hostAddressProblem, normalizeMac } from "./checks";
export { checkCloudInitDisk, createCloudInitDisk, diffCloudInitDisk } from "./cloudInitDisk";
export { checkDomain, createDomain, diffDomain, removeDomain } from "./domain";
export { shellQuote } from "./host";
export { checkNetwork, createNetwork, diffNetwork, removeNetwork } from "./network";
export { diagnoseVirshError, failureText, isLocalUri, isNotFound, parseInfo, runCommand, virsh, virshError } from "./host";
export type { RunResult, VirshTrouble } from "./host";
export { checkVolume, createVolume, diffVolume, removeVolume } from "./volume";
export { checkVxlanTunnel, diffVxlanTunnel, parseFloodTargets, parseIpLink } from "./vxlan";
export { parseDomainNics, parseVolumeXml, unescapeXml, xmlAttr, xmlText } from "./xml";
