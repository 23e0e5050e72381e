/**
 * A scripted HTTPS server on 127.0.0.1 for tests that play a broken or hostile API: each test sets the
 * handler, and every request is recorded (with its headers, so a test can see what was sent where).
 */
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import { emulatorAgent, sharedEmulatorTls } from "../../tools/emulators/tls";

export interface SeenRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

export type Handler = (request: SeenRequest, response: http.ServerResponse) => void;

export class HostileServer {
  readonly requests: SeenRequest[] = [];
  handler: Handler = (_request, response) => response.writeHead(500).end();
  private constructor(
    private readonly server: https.Server,
    readonly url: string,
    readonly agent: https.Agent,
  ) {}

  static async start(): Promise<HostileServer> {
    const tls = await sharedEmulatorTls();
    const server = https.createServer({ key: tls.key, cert: tls.cert });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const self = new HostileServer(server, `https://127.0.0.1:${port}`, emulatorAgent(tls));
    server.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
      let body = "";
      req.setEncoding("utf8");
      req.on("data", (chunk: string) => (body += chunk));
      req.on("end", () => {
        const seen = { method: req.method ?? "", path: req.url ?? "", headers: req.headers, body };
        self.requests.push(seen);
        self.handler(seen, res);
      });
    });
    return self;
  }

  /** Answers every request with `status` and a JSON body. */
  json(status: number, body: unknown, headers: Record<string, string> = {}): void {
    this.handler = (_request, response) =>
      response
        .writeHead(status, { "content-type": "application/json", ...headers })
        .end(JSON.stringify(body));
  }

  reset(): void {
    this.requests.length = 0;
    this.handler = (_request, response) => response.writeHead(500).end();
  }

  async close(): Promise<void> {
    this.agent.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
