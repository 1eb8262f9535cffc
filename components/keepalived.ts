// Renders keepalived.conf for a director from the block templates under
// cloud-init/keepalived/: the VRRP instance (two directors) and one
// virtual_server per service port with its real servers and health check.
// Pure apart from reading the templates; the director step installs the
// result after `keepalived --config-test` on the guest.
import type { ForwardingMode, HealthCheck, Scheduler } from "./config";
import { fillTemplate, readTemplate } from "./guestConfig";

/** keepalived's name for each forwarding mode (lb_kind). */
export const LB_KIND: Readonly<Record<ForwardingMode, "DR" | "NAT" | "TUN">> = { dr: "DR", nat: "NAT", tun: "TUN" };

/** Pause between a failed check and its retry, in seconds. */
export const DELAY_BEFORE_RETRY_SECONDS = 1;

export interface VrrpInstance {
    state: "MASTER" | "BACKUP";
    /** The NIC the adverts go out on (the public one). */
    interface: string;
    virtualRouterId: number;
    priority: number;
    advertIntervalSeconds: number;
    /**
     * PASS authentication with this password (at most 8 characters), or
     * VRRP_PASSWORD_PLACEHOLDER where the director step puts in the password
     * it reads from its standard input; none when undefined.
     */
    password?: string;
    /** The floating addresses, each "address/prefix dev NIC". */
    addresses: { address: string; prefixLength: number; device: string }[];
    /** NIC the IPVS connection-sync daemon uses, so a failover keeps live connections. */
    syncInterface: string;
}

export interface VirtualService {
    vip: string;
    port: number;
    scheduler: Scheduler;
    mode: ForwardingMode;
    persistenceTimeout: number;
    healthCheck: HealthCheck;
    /** Where connections go when no real server is left. */
    sorryServer?: { address: string; port: number };
    realServers: { address: string; weight: number }[];
}

export interface KeepalivedParams {
    /** The director's hostname (router_id). */
    routerName: string;
    vrrp?: VrrpInstance;
    services: VirtualService[];
}

export const VRRP_INSTANCE_NAME = "lvslab";

/** The longest PASS password keepalived uses; it ignores the rest. */
export const VRRP_PASSWORD_LENGTH = 8;

/**
 * Stands for the VRRP password in a rendered keepalived.conf, so the text a
 * step carries in its command holds no secret: the director step replaces it
 * with the password it reads from its standard input (cloud-init/steps/director-lb.sh
 * has the same string).
 */
export const VRRP_PASSWORD_PLACEHOLDER = "@LVSLAB_VRRP_PASSWORD@";

/**
 * Seconds from a real server failing to its removal from the table, at
 * worst: a full check interval, then the first attempt and every retry each
 * timing out, with the pause between attempts.
 */
export function healthCheckWindowSeconds(check: HealthCheck): number {
    if (check.kind === "none") {
        return 0;
    }
    const attempts = check.retries + 1;
    return check.intervalSeconds + attempts * check.timeoutSeconds + check.retries * DELAY_BEFORE_RETRY_SECONDS;
}

function renderCheck(check: HealthCheck): string {
    const common = {
        timeout: String(check.timeoutSeconds),
        retries: String(check.retries),
        delayBeforeRetry: String(DELAY_BEFORE_RETRY_SECONDS),
    };
    switch (check.kind) {
        case "http":
            return fillTemplate(readTemplate("keepalived/check-http.conf"), { ...common, path: check.path, status: String(check.expectedStatus) });
        case "tcp":
            return fillTemplate(readTemplate("keepalived/check-tcp.conf"), common);
        case "none":
            return "";
    }
}

function renderService(service: VirtualService): string {
    const realServer = readTemplate("keepalived/real-server.conf");
    const check = renderCheck(service.healthCheck);
    return fillTemplate(readTemplate("keepalived/virtual-server.conf"), {
        vip: service.vip,
        port: String(service.port),
        // keepalived checks even with no checker configured; the interval
        // then only paces its bookkeeping.
        interval: String(service.healthCheck.intervalSeconds),
        scheduler: service.scheduler,
        kind: LB_KIND[service.mode],
        persistence: service.persistenceTimeout > 0 ? `    persistence_timeout ${service.persistenceTimeout}\n` : "",
        sorryServer: service.sorryServer ? `    sorry_server ${service.sorryServer.address} ${service.sorryServer.port}\n` : "",
        realServers: service.realServers
            .map((server) => fillTemplate(realServer, { address: server.address, port: String(service.port), weight: String(server.weight), check }))
            .join(""),
    });
}

function renderVrrp(vrrp: VrrpInstance): string {
    if (vrrp.password !== undefined && vrrp.password !== VRRP_PASSWORD_PLACEHOLDER && !/^[A-Za-z0-9]{1,8}$/.test(vrrp.password)) {
        throw new Error(`the VRRP password must be 1-${VRRP_PASSWORD_LENGTH} letters or digits`);
    }
    return fillTemplate(readTemplate("keepalived/vrrp-instance.conf"), {
        instanceName: VRRP_INSTANCE_NAME,
        state: vrrp.state,
        interface: vrrp.interface,
        virtualRouterId: String(vrrp.virtualRouterId),
        priority: String(vrrp.priority),
        advertInterval: String(vrrp.advertIntervalSeconds),
        authentication: vrrp.password === undefined ? "" : fillTemplate(readTemplate("keepalived/authentication.conf"), { password: vrrp.password }),
        addresses: vrrp.addresses.map((entry) => `        ${entry.address}/${entry.prefixLength} dev ${entry.device}\n`).join(""),
    });
}

export function renderKeepalivedConf(params: KeepalivedParams): string {
    const summary = [
        params.vrrp ? `VRRP ${params.vrrp.state}, priority ${params.vrrp.priority}` : "no VRRP (one director holds the VIP itself)",
        `${params.services.length} virtual service(s)`,
    ].join("; ");
    const conf = fillTemplate(readTemplate("keepalived/keepalived.conf"), {
        routerName: params.routerName,
        summary,
        syncDaemon: params.vrrp ? `    lvs_sync_daemon ${params.vrrp.syncInterface} ${VRRP_INSTANCE_NAME} id ${params.vrrp.virtualRouterId}\n` : "",
        vrrpInstance: params.vrrp ? renderVrrp(params.vrrp) : "",
        virtualServers: params.services.map(renderService).join(""),
    });
    return conf.replace(/\n+$/, "\n");
}
