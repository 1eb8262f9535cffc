// netnsPipe HOST PORT: joins stdin/stdout to a TCP connection. Run inside the
// lab host (`labhost/labhost.sh exec`), it is the ProxyCommand of the SSH
// config `scripts/lab inventory` writes: the connection starts inside the
// lab's namespace, where the guests' addresses are. Gives up on a connect
// that takes more than 10 s.
import * as net from "net";

const [host, port] = process.argv.slice(2);
if (!host || !port || !/^\d+$/.test(port)) {
    process.stderr.write("usage: netnsPipe HOST PORT\n");
    process.exit(2);
}
const socket = net.connect({ host, port: Number(port), timeout: 10_000 });
socket.once("connect", () => socket.setTimeout(0));
socket.once("timeout", () => {
    process.stderr.write(`netnsPipe: no connection to ${host}:${port} within 10 s\n`);
    socket.destroy();
    process.exit(1);
});
socket.on("error", (error) => {
    process.stderr.write(`netnsPipe: ${host}:${port}: ${error.message}\n`);
    process.exit(1);
});
process.stdin.pipe(socket);
socket.pipe(process.stdout);
socket.on("close", () => process.exit(0));
