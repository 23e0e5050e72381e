// Must stay the first import: it configures the runtime before any resource is declared.
import "./program/runtimeTuning";
import * as azuread from "@pulumi/azuread";
import * as pulumi from "@pulumi/pulumi";
import { CredentialVault } from "./components/credentialVault";
import { SmartspaceIntegration } from "./components/smartspaceIntegration";
import { loadStackConfig } from "./program/config";
import { lookupSmartspaceApp } from "./program/smartspaceApp";
import { smartspaceScope } from "./rules/scopes";

// Validate everything before declaring anything: a bad key must not leave a half-built environment.
const config = loadStackConfig();

// Looked up once per stack, not once per integration: large tenants declare many integrations.
const client = azuread.getClientConfigOutput();
const smartspace = lookupSmartspaceApp(config.smartspace);

// The always-owner of every integration. Pinned by config in pipelines, so that a preview run by another
// identity (a read-only preview identity, a person) neither shows nor applies an owners change.
const deployerObjectId = config.deployerObjectId ?? client.objectId;
if (config.deployerObjectId !== undefined) {
  client.objectId.apply((runner) => {
    if (runner.toLowerCase() !== config.deployerObjectId) {
      pulumi.log.info(
        `Running as ${runner}; integration owners follow smartspace-integration:deployerObjectId (${config.deployerObjectId}).`,
      );
    }
  });
}

const adminApi =
  config.smartspace.adminApiUrl === undefined
    ? undefined
    : {
        url: config.smartspace.adminApiUrl,
        tokenScope: config.smartspace.adminApiScope ?? smartspace.clientId.apply(smartspaceScope),
      };

const vault = new CredentialVault("credentials", {
  existingVaultId: config.keyVault.id,
  resourceGroupName: config.keyVault.resourceGroupName,
  name: config.keyVault.name,
  location: config.keyVault.location,
  tenantId: client.tenantId,
});

const deployed = config.integrations.map(
  (integration) =>
    new SmartspaceIntegration(integration.name, {
      displayName: integration.displayName,
      smartspaceServicePrincipalObjectId: smartspace.servicePrincipalObjectId,
      appRoleId: smartspace.appRoleId,
      tenantId: client.tenantId,
      owners: [...integration.owners],
      deployerObjectId,
      credential: integration.credential,
      vault: {
        resourceGroupName: vault.resourceGroupName,
        vaultName: vault.vaultName,
        subscriptionId: vault.subscriptionId,
        vaultUri: vault.vaultUri,
      },
      workspaces: integration.workspaces,
      adminApi,
    }),
);

/**
 * Per integration, keyed by name: its credential type and what a consumer of that type needs (IDs, Key Vault
 * URIs, certificate thumbprints, federated subjects, the managed identity). Never a secret value.
 */
export const integrations: Record<string, SmartspaceIntegration["outputs"]> = Object.fromEntries(
  deployed.map((integration, index) => [config.integrations[index].name, integration.outputs]),
);

export const keyVaultId = vault.vaultId;
export const keyVaultUri = vault.vaultUri;
export const smartspaceServicePrincipalObjectId = smartspace.servicePrincipalObjectId;
/** Audience of tokens for the Smartspace APIs (`api://<client id>/.default`). */
export const smartspaceAppClientId = smartspace.clientId;
/** Value of the assigned app role, as it appears in the `roles` claim of an integration's token. */
export const smartspaceRoleValue = smartspace.appRoleValue;
export const tenantId: pulumi.Output<string> = client.tenantId;
