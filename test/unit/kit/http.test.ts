// HTTP to the VIP: one GET, and one request from a chosen source port (the
// head parsed, the request asking the server to close first, the ports
// handed out, a silent server bounded).
import assert from "node:assert/strict";
import * as http from "node:http";
import * as net from "node:net";
import { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import { failureKind, get, parseResponseHead, requestFrom, requestText, SOURCE_PORT_COUNT, SOURCE_PORT_FIRST, SourcePorts } from "../../../proofs/kit";

describe("one GET", () => {
    it("gives the status, body and identity header, and names a timeout and a refused connection", async () => {
        const server = http.createServer((request, response) => {
            if (request.url === "/slow") {
                return;
            }
            response.setHeader("X-Real-Server", "web3");
            response.end("welcome");
        });
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        const port = (server.address() as AddressInfo).port;
        try {
            assert.deepEqual(await get(`http://127.0.0.1:${port}/`, "X-Real-Server", 2000), { status: 200, body: "welcome", server: "web3" });
            const slow = await get(`http://127.0.0.1:${port}/slow`, "X-Real-Server", 100).then(() => "answered", failureKind);
            assert.equal(slow, "timeout");
        } finally {
            server.closeAllConnections();
            await new Promise((resolve) => server.close(resolve));
        }
        const refused = await get(`http://127.0.0.1:${port}/`, "X-Real-Server", 2000).then(() => "answered", failureKind);
        assert.equal(refused, "ECONNREFUSED");
    });
});

describe("parseResponseHead and requestText", () => {
    it("reads the status and the headers, names in lower case", () => {
        const head = parseResponseHead("HTTP/1.1 200 OK\r\nDate: x\r\nX-Real-Server: web2\r\nContent-Length: 22");
        assert.equal(head?.status, 200);
        assert.equal(head?.headers.get("x-real-server"), "web2");
        assert.equal(head?.headers.get("content-length"), "22");
    });

    it("refuses what is not an HTTP response", () => {
        assert.equal(parseResponseHead("SSH-2.0-OpenSSH"), undefined);
    });

    it("asks for HTTP/1.0 with Connection: close, so the server closes first", () => {
        assert.equal(requestText("172.16.16.172", "/"), "GET / HTTP/1.0\r\nHost: 172.16.16.172\r\nConnection: close\r\nUser-Agent: lvs-dr-lab-drain\r\n\r\n");
    });
});

describe("SourcePorts", () => {
    it("hands out every port of its range once before any comes back, below the ephemeral range", () => {
        const ports = new SourcePorts(SOURCE_PORT_COUNT - 2);
        assert.deepEqual(
            [ports.next(), ports.next(), ports.next()],
            [SOURCE_PORT_FIRST + SOURCE_PORT_COUNT - 2, SOURCE_PORT_FIRST + SOURCE_PORT_COUNT - 1, SOURCE_PORT_FIRST],
        );
        assert.ok(SOURCE_PORT_FIRST + SOURCE_PORT_COUNT <= 32768, "below Linux's default ip_local_port_range");
        const seen = new Set<number>();
        const all = new SourcePorts(-3);
        for (let i = 0; i < SOURCE_PORT_COUNT; i++) {
            seen.add(all.next());
        }
        assert.equal(seen.size, SOURCE_PORT_COUNT);
    });
});

describe("a request from a chosen source port", () => {
    it("bounds a connection that gets no answer", async () => {
        const silent = net.createServer(() => undefined);
        await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
        try {
            const result = await requestFrom({ vip: "127.0.0.1", port: (silent.address() as net.AddressInfo).port, identityHeader: "X-Real-Server" }, 0, 300);
            assert.equal(result.error, "no complete answer within 300 ms");
        } finally {
            silent.close();
        }
    });
});
