// Must stay the first import: it configures the runtime before any resource is declared.
import "./program/runtimeTuning";
import * as azuread from "@pulumi/azuread";
import * as pulumi from "@pulumi/pulumi";
import { CredentialVault } from "./components/credentialVault";
import { ExpiryAlerts } from "./components/expiryAlerts";
import { SmartspaceIntegration } from "./components/smartspaceIntegration";
import { loadStackConfig, type StackConfig } from "./program/config";
import { checkDeployer } from "./program/deployer";
import { lookupSmartspaceApp } from "./program/smartspaceApp";
import {
  checkTenantCredentialPolicy,
  type CredentialLifetime,
  type TenantPolicyReader,
} from "./program/tenantPolicy";
import { DEFAULT_ROTATION_DAYS } from "./rules/rotation";
import { smartspaceScope } from "./rules/scopes";

// Validate everything before declaring anything: a bad key must not leave a half-built environment.
const config = loadStackConfig();

/** What the tests replace; the Pulumi language host passes nothing. */
interface ProgramOptions {
  /** Reads the tenant's credential policy. Default: Microsoft Graph with the deployer's credential. */
  readonly readTenantPolicy?: TenantPolicyReader;
}

// An async entry point (the Pulumi language host calls it, awaits it and exports what it returns), so that the
// checks that ask the tenant finish before the first resource is declared.
export = async (options: ProgramOptions = {}) => {
  const [client] = await Promise.all([
    // Looked up once per stack, not once per integration: large tenants declare many integrations.
    azuread.getClientConfig(),
    checkTenantCredentialPolicy(credentialLifetimes(config.integrations), options.readTenantPolicy),
  ]);
  checkDeployer({
    runnerObjectId: client.objectId,
    deployerObjectId: config.deployerObjectId,
    allowOtherDeployers: config.allowOtherDeployers,
    preview: pulumi.runtime.isDryRun(),
  });
  const smartspace = lookupSmartspaceApp(config.smartspace);

  // The always-owner of every integration. Pinned by config in pipelines, so that a preview run by another
  // identity (a read-only preview identity, a person) neither shows nor applies an owners change.
  const deployerObjectId = config.deployerObjectId ?? client.objectId;

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
    network: config.keyVault.network,
    auditLogWorkspaceId: config.keyVault.auditLogWorkspaceId,
    tenantId: client.tenantId,
  });

  const deployed = config.integrations.map((integration) => ({
    integration,
    component: new SmartspaceIntegration(integration.name, {
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
  }));

  const alerts =
    config.alerts === undefined
      ? undefined
      : new ExpiryAlerts("alerts", {
          vault: {
            id: vault.vaultId,
            name: vault.vaultName,
            resourceGroupName: vault.resourceGroupName,
            location: vault.location,
          },
          emails: config.alerts.emails,
          actionGroupIds: config.alerts.actionGroupIds,
          existingSystemTopicId: config.alerts.systemTopicId,
          integrations: Object.fromEntries(
            deployed.map(({ integration, component }) => [
              integration.name,
              {
                keyVaultObjectNames: component.keyVaultObjectNames,
                rotationDays: renewalDays(integration.credential),
              },
            ]),
          ),
        });

  return {
    /**
     * Per integration, keyed by name: its credential type and what a consumer of that type needs (IDs, Key
     * Vault URIs, certificate thumbprints, federated subjects, the managed identity). Never a secret value.
     */
    integrations: Object.fromEntries(
      deployed.map(({ integration, component }) => [integration.name, component.outputs]),
    ) as Record<string, SmartspaceIntegration["outputs"]>,
    keyVaultId: vault.vaultId,
    keyVaultUri: vault.vaultUri,
    smartspaceServicePrincipalObjectId: smartspace.servicePrincipalObjectId,
    /** Audience of tokens for the Smartspace APIs (`api://<client id>/.default`). */
    smartspaceAppClientId: smartspace.clientId,
    /** Value of the assigned app role, as it appears in the `roles` claim of an integration's token. */
    smartspaceRoleValue: smartspace.appRoleValue,
    tenantId: client.tenantId,
    /** Where expiry alerts go (only when configured): action group IDs and the vault's Event Grid system topic. */
    ...(alerts === undefined
      ? {}
      : { alerts: { actionGroupIds: alerts.actionGroupIds, systemTopicId: alerts.systemTopicId } }),
  };
};

/** The credentials whose lifetime the tenant's app management policy may limit: secrets and certificates. */
function credentialLifetimes(integrations: StackConfig["integrations"]): CredentialLifetime[] {
  return integrations.flatMap((integration, index) => {
    const { credential } = integration;
    if (credential.type !== "secret" && credential.type !== "certificate") {
      return [];
    }
    return [
      {
        integration: integration.name,
        configKey: `smartspace-integration:integrations[${index}].${credential.rotationDaysKey}`,
        kind: credential.type === "secret" ? ("password" as const) : ("certificate" as const),
        rotationDays: credential.rotationDays,
      },
    ];
  });
}

/** How often an integration's Key Vault objects are renewed: its rotation, or the default for stored IDs. */
function renewalDays(credential: StackConfig["integrations"][number]["credential"]): number {
  return credential.type === "secret" || credential.type === "certificate"
    ? credential.rotationDays
    : DEFAULT_ROTATION_DAYS;
}
