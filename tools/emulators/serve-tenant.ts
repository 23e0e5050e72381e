/**
 * `npm run emulator:tenant`: serves an emulated tenant (Entra ID plus the Smartspace chat and admin APIs, over
 * HTTPS on 127.0.0.1, and App Service's managed identity endpoint over http on 127.0.0.1) with one workspace
 * and an integration per credential mode already granted access, writes an env file and the credentials
 * (client secret, PEM, federated token) for the verify commands it prints, and logs each request, so that
 * `npm run verify` can be tried in every mode without a real tenant.
 *
 * The emulator itself lives in ./tenantEmulator.ts, where the end-to-end tests use it too.
 */
import { randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { generate } from "selfsigned";
import { TOKEN_EXCHANGE_AUDIENCE } from "../../rules/federated";
import { type ManagedIdentity, TenantEmulator } from "./tenantEmulator";
import { createEmulatorTls } from "./tls";

const WORKSPACE_ID = "3f1c2b7a-9d4e-4b8a-a1c3-5e6f7a8b9c0d";
const SUBJECT = "system:serviceaccount:crm:crm-sync";

const USAGE = `Usage: npm run emulator:tenant [-- --help]

Serves an emulated tenant on 127.0.0.1: Entra ID's token endpoint and Smartspace's chat and admin APIs over
HTTPS, and App Service's managed identity endpoint over http, with workspace ${WORKSPACE_ID} (Sales) granted
to one integration per credential mode. Writes an env file and the credentials readable only by you, prints
the npm run verify command for each mode, and logs each request. Ctrl-C stops it and removes the files.
`;

async function main(): Promise<void> {
  let help: boolean | undefined;
  try {
    help = parseArgs({ options: { help: { type: "boolean", short: "h" } }, strict: true }).values.help;
  } catch (error) {
    process.stderr.write(`emulator:tenant: ${(error as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (help) {
    process.stdout.write(USAGE);
    return;
  }
  const tls = await createEmulatorTls();
  const dir = path.dirname(tls.caFile);
  const roles = ["Integrations"];
  const secretApp = {
    clientId: randomUUID(),
    clientSecret: `emu8Q~${randomUUID().replace(/-/g, "")}`.slice(0, 40),
    servicePrincipalObjectId: randomUUID(),
    roles,
  };
  const pems = await generate([{ name: "commonName", value: "onprem-agent" }], {
    keySize: 2048,
    algorithm: "sha256",
    notAfterDate: new Date(Date.now() + 90 * 24 * 3600 * 1000),
  });
  const certificateApp = {
    clientId: randomUUID(),
    certificates: [pems.cert],
    servicePrincipalObjectId: randomUUID(),
    roles,
  };
  const identity: ManagedIdentity = { clientId: randomUUID(), principalId: randomUUID(), roles };
  const emulator = await TenantEmulator.start({
    tls,
    workspaces: [{ id: WORKSPACE_ID, name: "Sales" }],
    clients: [secretApp, certificateApp],
    managedIdentities: [identity],
    onRequest: (r) => console.log(`${r.method} ${r.path} -> ${r.status}${r.fault ? ` (${r.fault})` : ""}`),
  });
  const cluster = emulator.addIssuer("aks", { trailingSlash: true });
  const federatedApp = {
    clientId: randomUUID(),
    federatedCredentials: [
      { issuer: cluster.issuer, subject: SUBJECT, audiences: [TOKEN_EXCHANGE_AUDIENCE] },
    ],
    servicePrincipalObjectId: randomUUID(),
    roles,
  };
  emulator.registerClient(federatedApp);
  for (const principalId of [
    secretApp.servicePrincipalObjectId,
    certificateApp.servicePrincipalObjectId,
    federatedApp.servicePrincipalObjectId,
    identity.principalId,
  ]) {
    emulator.store.putAccess(WORKSPACE_ID, {
      principalId,
      principalType: "ServicePrincipal",
      displayName: "demo",
    });
  }

  // Secrets go to files readable only by the user, not to the console.
  const write = (name: string, content: string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, content, { mode: 0o600 });
    return file;
  };
  const pemFile = write("onprem-agent.pem", `${pems.private.trim()}\n${pems.cert.trim()}\n`);
  const tokenFile = write(
    "aks-token",
    cluster.mint({ subject: SUBJECT, audience: TOKEN_EXCHANGE_AUDIENCE, lifetimeSeconds: 3600 }),
  );
  const envFile = write(
    "emulator.env",
    [
      `export NODE_EXTRA_CA_CERTS='${tls.caFile}'`,
      `export AZURE_AUTHORITY_HOST='${emulator.authorityHost}'`,
      `export SMARTSPACE_CLIENT_SECRET='${secretApp.clientSecret}'`,
      `export SMARTSPACE_ADMIN_TOKEN='${emulator.token}'`,
      // Not IDENTITY_ENDPOINT itself: it would send every managed identity credential in the shell here.
      `export EMULATOR_IDENTITY_ENDPOINT='${emulator.identityEndpoint}'`,
      `export EMULATOR_IDENTITY_HEADER='${emulator.identityHeader}'`,
      "",
    ].join("\n"),
  );
  const common = `--tenant-id ${emulator.tenantId} --smartspace-app-client-id ${emulator.smartspaceAppClientId} \\
    --chat-api-url ${emulator.url} --workspace ${WORKSPACE_ID}`;
  console.log(
    [
      `Emulated Entra ID + Smartspace on ${emulator.url}, managed identity endpoint ${emulator.identityEndpoint}`,
      `  tenant ${emulator.tenantId}, Smartspace app ${emulator.smartspaceAppClientId}`,
      `  workspace ${WORKSPACE_ID} (Sales), granted to one integration per credential mode`,
      `  env file ${envFile}`,
      "",
      "In another shell, in this checkout:",
      `  . ${envFile}`,
      `  npm run verify -- --tenant-id ${emulator.tenantId} --client-id ${secretApp.clientId} \\`,
      `    --client-secret-env SMARTSPACE_CLIENT_SECRET --smartspace-app-client-id ${emulator.smartspaceAppClientId} \\`,
      `    --chat-api-url ${emulator.url} --workspace ${WORKSPACE_ID}`,
      "",
      "The other credential modes:",
      `  npm run verify -- --client-id ${certificateApp.clientId} --certificate-path ${pemFile} \\`,
      `    ${common}`,
      `  npm run verify -- --client-id ${federatedApp.clientId} --federated-token-file ${tokenFile} \\`,
      `    ${common}`,
      "  IDENTITY_ENDPOINT=$EMULATOR_IDENTITY_ENDPOINT IDENTITY_HEADER=$EMULATOR_IDENTITY_HEADER \\",
      `    npm run verify -- --managed-identity-client-id ${identity.clientId} ${common}`,
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
