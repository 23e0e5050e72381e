import * as azuread from "@pulumi/azuread";
import * as pulumi from "@pulumi/pulumi";
import { SmartspaceIntegration } from "./components/smartspaceIntegration";
import { loadStackConfig } from "./config";
import { lookupSmartspaceApp } from "./lib/smartspaceApp";

// Validate everything before declaring anything: a bad key must not leave a half-built environment.
const config = loadStackConfig();

// Looked up once per stack, not once per integration: large tenants declare many integrations.
const client = azuread.getClientConfigOutput();
const smartspace = lookupSmartspaceApp(config.smartspace);

const deployed = config.integrations.map(
  (integration) =>
    new SmartspaceIntegration(integration.name, {
      displayName: integration.displayName,
      smartspaceServicePrincipalObjectId: smartspace.servicePrincipalObjectId,
      appRoleId: smartspace.appRoleId,
      tenantId: client.tenantId,
      owners: integration.owners,
      deployerObjectId: client.objectId,
    }),
);

/** Per integration, keyed by name: the IDs a consumer needs. Nothing secret. */
export const integrations: Record<string, SmartspaceIntegration["outputs"]> = Object.fromEntries(
  deployed.map((integration, index) => [config.integrations[index].name, integration.outputs]),
);

export const smartspaceServicePrincipalObjectId = smartspace.servicePrincipalObjectId;
export const tenantId: pulumi.Output<string> = client.tenantId;
