// A minimal real MCP server behind Wattle's gateway (tests/e2e/test_mcp.py).
//
//   node server.mjs PORT [PATH]
//
// The official TypeScript SDK's McpServer on a StreamableHTTPServerTransport over node's http
// module, with stateful sessions (Mcp-Session-Id): an initialize request without a session id
// opens a new session; every other request must carry the id of an open one (400 without, 404
// for an unknown one), as the SDK's own examples do. PORT 0 picks a free port. Once listening it
// prints one JSON line on stdout: {"port": N}.
//
// Tools:
//   whoami {echo?}  -> the identity headers Wattle's gateway set (X-Wattle-Sub, -Scope,
//                      -Client-Id), whether an Authorization header or a Wattle cookie got
//                      through, the session id and protocol version the request carried, and
//                      `echo` back.
//   echo {text}     -> text.
// Besides the MCP endpoint, GET /_log (never proxied: the test calls it directly) answers the
// JSON list of every HTTP request the server received (method, path, the headers that matter,
// the session it belonged to, the JSON-RPC method(s) of a POST, the response status, and
// whether the response is over: `closed`, also when the peer went away mid-stream).

import http from 'node:http';
import { randomUUID } from 'node:crypto';
import * as z from 'zod/v4';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';

const port = Number(process.argv[2] ?? 0);
const mcpPath = process.argv[3] ?? '/mcp';
const sessions = new Map(); // session id -> transport
const log = [];
let closedSessions = 0;

function pick(headers, name) {
    const v = headers[name];
    return Array.isArray(v) ? v.join(', ') : v;
}

function identity(headers) {
    return {
        sub: pick(headers, 'x-wattle-sub') ?? null,
        scope: pick(headers, 'x-wattle-scope') ?? null,
        client_id: pick(headers, 'x-wattle-client-id') ?? null,
        authorization_seen: headers.authorization !== undefined,
        wattle_cookie_seen: /wattle_/.test(pick(headers, 'cookie') ?? ''),
        session_id: pick(headers, 'mcp-session-id') ?? null,
        protocol_version: pick(headers, 'mcp-protocol-version') ?? null
    };
}

function newMcpServer() {
    const server = new McpServer({ name: 'wattle-test-mcp', version: '1.0.0' });
    server.registerTool(
        'whoami',
        {
            description: 'The identity Wattle forwarded with this request, and `echo` back.',
            inputSchema: { echo: z.string().optional() }
        },
        async ({ echo }, extra) => {
            const h = extra.requestInfo?.headers ?? {};
            const doc = { ...identity(h), echo: echo ?? null, mcp_session: extra.sessionId ?? null };
            return { content: [{ type: 'text', text: JSON.stringify(doc) }], structuredContent: doc };
        }
    );
    server.registerTool(
        'echo',
        { description: 'Returns its text.', inputSchema: { text: z.string() } },
        async ({ text }) => ({ content: [{ type: 'text', text }] })
    );
    return server;
}

function sendJson(res, status, obj) {
    const body = JSON.stringify(obj);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
}

function readBody(req) {
    return new Promise((resolve, reject) => {
        const chunks = [];
        req.on('data', c => chunks.push(c));
        req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        req.on('error', reject);
    });
}

function rpcError(res, status, code, message) {
    sendJson(res, status, { jsonrpc: '2.0', error: { code, message }, id: null });
}

const httpServer = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://localhost');
    if (req.method === 'GET' && url.pathname === '/_log') {
        sendJson(res, 200, { requests: log, open_sessions: sessions.size, closed_sessions: closedSessions });
        return;
    }
    const entry = {
        method: req.method,
        path: url.pathname,
        accept: pick(req.headers, 'accept') ?? null,
        ...identity(req.headers),
        rpc: null,
        status: null,
        closed: false
    };
    log.push(entry);
    res.on('finish', () => {
        entry.status = res.statusCode;
    });
    res.on('close', () => {
        // the response is over: finished, or its connection went away
        if (entry.status === null) entry.status = res.statusCode;
        entry.closed = true;
    });
    if (url.pathname !== mcpPath) {
        sendJson(res, 404, { error: 'not found', path: url.pathname });
        return;
    }
    try {
        let body;
        if (req.method === 'POST') {
            const text = await readBody(req);
            try {
                body = JSON.parse(text);
            } catch {
                rpcError(res, 400, -32700, 'Parse error');
                return;
            }
            const msgs = Array.isArray(body) ? body : [body];
            entry.rpc = msgs.map(m => m?.method ?? (m?.result !== undefined ? 'result' : 'error'));
        }
        const sid = entry.session_id;
        let transport = sid ? sessions.get(sid) : undefined;
        if (!transport) {
            if (sid) {
                rpcError(res, 404, -32001, 'Session not found');
                return;
            }
            if (req.method !== 'POST' || !isInitializeRequest(body)) {
                rpcError(res, 400, -32000, 'Bad Request: No valid session ID provided');
                return;
            }
            transport = new StreamableHTTPServerTransport({
                sessionIdGenerator: () => randomUUID(),
                onsessioninitialized: id => {
                    sessions.set(id, transport);
                }
            });
            transport.onclose = () => {
                if (transport.sessionId && sessions.delete(transport.sessionId)) closedSessions++;
            };
            await newMcpServer().connect(transport);
        }
        await transport.handleRequest(req, res, body);
    } catch (e) {
        process.stderr.write(`server.mjs: ${e?.stack ?? e}\n`);
        if (!res.headersSent) rpcError(res, 500, -32603, 'Internal server error');
    }
});

httpServer.listen(port, '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({ port: httpServer.address().port }) + '\n');
});

function shutdown() {
    for (const t of sessions.values()) t.close().catch(() => {});
    httpServer.closeAllConnections?.();
    httpServer.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
