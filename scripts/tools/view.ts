// `scripts/lab view`: the drawing of `scripts/lab graph` as a web page on this
// machine's 127.0.0.1, redrawn every few seconds. The server runs outside the
// lab host (the namespace has a loopback of its own, unreachable from a
// browser here); each refresh asks inside it, through `labhost/labhost.sh
// exec`, for the live facts, and renders them with dot out here.
import { spawn } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { errorText } from "../../proofs/kit/main";
import { GraphModel, renderDot } from "./graph";
import { LessonMark, readLessonMark } from "../../lessons/mark";

export interface ViewSnapshot {
    model?: GraphModel;
    svg?: string;
    error?: string;
    /** When the last refresh finished (ISO). */
    at: string;
}

function escapeHtml(text: string): string {
    return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** The real servers as a table: the numbers a person watches change. */
export function serverTable(model: GraphModel): string {
    // A spread lab's table says which host runs each server.
    const spread = model.realServers.some((server) => server.host !== undefined);
    const hostCell = (server: GraphModel["realServers"][number]): string[] => (spread ? [server.host ?? ""] : []);
    const rows = model.realServers.flatMap((server) =>
        (server.links.length > 0 ? server.links : [undefined]).map((link) => {
            const cells = link
                ? [
                      server.name,
                      server.state,
                      ...hostCell(server),
                      link.director,
                      link.inTable ? String(link.weight) : "not in the table",
                      String(link.active),
                      String(link.inactive),
                      String(link.connections),
                  ]
                : [server.name, server.state, ...hostCell(server), "(no director answered)", "", "", "", ""];
            return `<tr>${cells.map((cell) => `<td>${escapeHtml(cell)}</td>`).join("")}</tr>`;
        }),
    );
    const holders = model.vipHolders.length === 0 ? "no director" : model.vipHolders.join(" and ");
    return [
        `<p id="holder">VIP ${escapeHtml(model.vip)} held by <b>${escapeHtml(holders)}</b>; ${escapeHtml(model.mode)}, scheduler ${escapeHtml(model.scheduler)}; gathered ${escapeHtml(model.gatheredAt)}</p>`,
        `<table><tr><th>real server</th><th>libvirt</th>${spread ? "<th>host</th>" : ""}<th>director</th><th>weight</th><th>active</th><th>inactive</th><th>connections</th></tr>`,
        ...rows,
        "</table>",
    ].join("\n");
}

/** The banner of a lesson that has the lab broken on purpose; "" when none does. */
export function lessonBanner(mark: LessonMark | undefined): string {
    if (!mark) {
        return "";
    }
    const stage = mark.stage === "broken" ? "broken on purpose" : mark.stage;
    return `<p id="lesson">Lesson <b>${escapeHtml(mark.lesson)}</b> (${escapeHtml(mark.title)}): ${escapeHtml(stage)}: ${escapeHtml(mark.breaks)}. scripts/lab up puts it back.</p>`;
}

/** The page: it fetches the drawing and the table again every `refreshSeconds`. */
export function viewPage(title: string, refreshSeconds: number): string {
    return `<!doctype html>
<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:2px 8px;text-align:right}#error{color:#b00}#lesson p{background:#fff3cd;border:1px solid #c07000;padding:4px 8px}</style>
</head><body>
<h1>${escapeHtml(title)}</h1>
<div id="error"></div>
<div id="lesson"></div>
<div id="table"></div>
<div id="graph"></div>
<script>
async function refresh() {
  try {
    const response = await fetch("/state");
    const state = await response.json();
    document.getElementById("error").textContent = state.error ? "last refresh failed: " + state.error : "";
    document.getElementById("lesson").innerHTML = state.lesson || "";
    if (state.table) { document.getElementById("table").innerHTML = state.table; }
    if (state.svg) { document.getElementById("graph").innerHTML = state.svg; }
  } catch (e) {
    document.getElementById("error").textContent = "the view's server does not answer: " + e;
  }
}
refresh();
setInterval(refresh, ${refreshSeconds * 1000});
</script>
</body></html>
`;
}

function runJson(file: string, args: string[], timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
        const child = spawn(file, args, { stdio: ["ignore", "pipe", "pipe"] });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
        child.stdout.on("data", (b: Buffer) => out.push(b));
        child.stderr.on("data", (b: Buffer) => err.push(b));
        child.on("error", reject);
        child.on("close", (code) => {
            clearTimeout(timer);
            if (code === 0) {
                resolve(Buffer.concat(out).toString("utf8"));
            } else {
                const words = Buffer.concat(err).toString("utf8").trim().split("\n").slice(-2).join(" ");
                reject(new Error(code === null ? `no answer within ${timeoutMs / 1000} s` : words || `exit ${code}`));
            }
        });
    });
}

export interface ViewOptions {
    stack: string;
    port: number;
    refreshSeconds: number;
    /** The server stops after this long (it is a lab tool, not a service). */
    minutes: number;
    outputsFile: string;
    render: (dotText: string) => Promise<Buffer>;
}

export async function serveView(options: ViewOptions): Promise<number> {
    const projectRoot = path.resolve(__dirname, "..", "..", "..");
    const cli = path.join(__dirname, "cli.js");
    const labhost = path.join(projectRoot, "labhost", "labhost.sh");
    let snapshot: ViewSnapshot = { at: new Date().toISOString() };
    let busy = false;
    const refresh = async (): Promise<void> => {
        if (busy) {
            return;
        }
        busy = true;
        try {
            const text = await runJson(
                labhost,
                ["exec", process.execPath, cli, "graph", "--format", "json", "--stack", options.stack, "--outputs", options.outputsFile, "-o", "-"],
                60_000,
            );
            const model = (JSON.parse(text) as { model: GraphModel }).model;
            const svg = (await options.render(renderDot(model))).toString("utf8").replace(/^[\s\S]*?(<svg)/, "$1");
            snapshot = { model, svg, at: new Date().toISOString() };
        } catch (error) {
            snapshot = { ...snapshot, error: errorText(error), at: new Date().toISOString() };
        } finally {
            busy = false;
        }
    };
    const title = `lvs-dr-lab, stack ${options.stack}`;
    const server = http.createServer((request, response) => {
        if (request.url === "/state") {
            response.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
            response.end(
                JSON.stringify({
                    svg: snapshot.svg,
                    table: snapshot.model ? serverTable(snapshot.model) : undefined,
                    lesson: lessonBanner(readLessonMark(options.stack)),
                    error: snapshot.error,
                    at: snapshot.at,
                }),
            );
        } else if (request.url === "/" || request.url === "/index.html") {
            response.writeHead(200, { "content-type": "text/html; charset=utf-8" });
            response.end(viewPage(title, options.refreshSeconds));
        } else {
            response.writeHead(404).end();
        }
    });
    await refresh();
    await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(options.port, "127.0.0.1", () => resolve());
    });
    console.log(`http://127.0.0.1:${options.port}/  (${title}; redrawn every ${options.refreshSeconds} s; stops after ${options.minutes} min or Ctrl-C)`);
    if (snapshot.error) {
        console.error(`first refresh failed: ${snapshot.error}`);
    }
    const timer = setInterval(() => void refresh(), options.refreshSeconds * 1000);
    await new Promise<void>((resolve) => {
        const stop = (): void => resolve();
        setTimeout(stop, options.minutes * 60_000);
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
    });
    clearInterval(timer);
    server.close();
    return 0;
}

/** A private file for the outputs the refreshes read (they hold no secret the stack does not already give root). */
export function outputsScratchFile(outputs: unknown): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lvslab-view-"));
    const file = path.join(dir, "outputs.json");
    fs.writeFileSync(file, JSON.stringify(outputs), { mode: 0o600 });
    return file;
}
