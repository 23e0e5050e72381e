/**
 * `npm run emulator:tenant`: serves an emulated tenant (Entra ID plus the Smartspace chat and admin APIs, over
 * HTTPS on 127.0.0.1) with one workspace and one integration already granted access, writes an env file for
 * the verify command, and logs each request, so that `npm run verify` can be tried without a real tenant.
 *
 * The emulator itself lives in tests/support/tenantEmulator.ts, where the end-to-end tests use it too.
 */
import { randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { type RegisteredClient, TenantEmulator } from "./tenantEmulator";
import { createEmulatorTls } from "./tls";

const WORKSPACE_ID = "3f1c2b7a-9d4e-4b8a-a1c3-5e6f7a8b9c0d";

async function main(): Promise<void> {
  const tls = await createEmulatorTls();
  const integration: RegisteredClient = {
    clientId: randomUUID(),
    clientSecret: `emu8Q~${randomUUID().replace(/-/g, "")}`.slice(0, 40),
    servicePrincipalObjectId: randomUUID(),
    roles: ["Integrations"],
  };
  const emulator = await TenantEmulator.start({
    tls,
    workspaces: [{ id: WORKSPACE_ID, name: "Sales" }],
    clients: [integration],
    onRequest: (r) => console.log(`${r.method} ${r.path} -> ${r.status}${r.fault ? ` (${r.fault})` : ""}`),
  });
  emulator.store.putAccess(WORKSPACE_ID, {
    principalId: integration.servicePrincipalObjectId,
    principalType: "ServicePrincipal",
    displayName: "smartspace-demo",
  });
  // Secrets go to a file readable only by the user, not to the console.
  const envFile = path.join(path.dirname(tls.caFile), "emulator.env");
  fs.writeFileSync(
    envFile,
    [
      `export NODE_EXTRA_CA_CERTS='${tls.caFile}'`,
      `export AZURE_AUTHORITY_HOST='${emulator.authorityHost}'`,
      `export SMARTSPACE_CLIENT_SECRET='${integration.clientSecret}'`,
      `export SMARTSPACE_ADMIN_TOKEN='${emulator.token}'`,
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
  console.log(
    [
      `Emulated Entra ID + Smartspace on ${emulator.url}`,
      `  tenant ${emulator.tenantId}, Smartspace app ${emulator.smartspaceAppClientId}`,
      `  workspace ${WORKSPACE_ID} (Sales), granted to service principal ${integration.servicePrincipalObjectId}`,
      `  env file ${envFile}`,
      "",
      "In another shell:",
      `  . ${envFile}`,
      `  npm run verify -- --tenant-id ${emulator.tenantId} --client-id ${integration.clientId} \\`,
      `    --client-secret-env SMARTSPACE_CLIENT_SECRET --smartspace-app-client-id ${emulator.smartspaceAppClientId} \\`,
      `    --chat-api-url ${emulator.url} --workspace ${WORKSPACE_ID}`,
      "",
      "Ctrl-C stops the emulator.",
    ].join("\n"),
  );
  const stop = () => {
    void emulator.close().finally(() => {
      tls.cleanup();
      process.exit(0);
    });
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
