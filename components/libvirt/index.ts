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
export { runOnHost, sshRouteOf } from "./hostShell";
