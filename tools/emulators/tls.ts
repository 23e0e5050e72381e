/**
 * TLS for the local emulators. The Smartspace clients send bearer tokens over https only (the Azure SDK's
 * bearer-token policy refuses anything else), so every emulator serves https with a certificate made here.
 * A client trusts it through `NODE_EXTRA_CA_CERTS=<caFile>` (read by Node at start-up, so for child
 * processes and the CLIs) or, in a running process, through an agent built from `cert`.
 */
import * as fs from "node:fs";
import * as https from "node:https";
import * as os from "node:os";
import * as path from "node:path";
import { generate } from "selfsigned";

/** A certificate for https://127.0.0.1, and the PEM file to name in `NODE_EXTRA_CA_CERTS`. */
export interface EmulatorTls {
  readonly key: string;
  readonly cert: string;
  /** PEM file holding the (self-signed) certificate, for `NODE_EXTRA_CA_CERTS`. */
  readonly caFile: string;
  /** Removes the temporary directory holding `caFile`. */
  cleanup(): void;
}

/** Generates a one-day self-signed certificate for 127.0.0.1 and localhost. */
export async function createEmulatorTls(): Promise<EmulatorTls> {
  const pems = await generate([{ name: "commonName", value: "127.0.0.1" }], {
    keySize: 2048,
    algorithm: "sha256",
    notAfterDate: new Date(Date.now() + 24 * 3600 * 1000),
    extensions: [
      // Marked as a CA so that OpenSSL accepts it as its own trust anchor.
      { name: "basicConstraints", cA: true, critical: true },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true, keyCertSign: true, critical: true },
      { name: "extKeyUsage", serverAuth: true },
      {
        name: "subjectAltName",
        altNames: [
          { type: 7, ip: "127.0.0.1" },
          { type: 2, value: "localhost" },
        ],
      },
    ],
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "smartspace-emulator-"));
  const caFile = path.join(dir, "emulator-ca.pem");
  fs.writeFileSync(caFile, pems.cert);
  return {
    key: pems.private,
    cert: pems.cert,
    caFile,
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

let shared: Promise<EmulatorTls> | undefined;

/** One certificate per process, for emulators started without one; its file is removed at exit. */
export function sharedEmulatorTls(): Promise<EmulatorTls> {
  if (!shared) {
    shared = createEmulatorTls().then((tls) => {
      process.once("exit", () => tls.cleanup());
      return tls;
    });
  }
  return shared;
}

/** An https agent trusting the emulator's certificate, for clients in this process. */
export function emulatorAgent(tls: Pick<EmulatorTls, "cert">): https.Agent {
  return new https.Agent({ ca: tls.cert, keepAlive: true });
}
