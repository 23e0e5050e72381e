// @ts-check
/**
 * Minimal provider-shaped mocks for the benchmark: just enough state for the program to wire itself, cheap
 * enough that they do not dominate what is measured. (Tests use the richer tests/support/azureMocks.ts.)
 */
"use strict";
const { createHash } = require("node:crypto");

const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const SUBSCRIPTION = "6c1f8b42-5a3e-4d0a-9c1e-2f4b7a9d3e10";
const SMARTSPACE_CLIENT_ID = "a1c2e3f4-0000-4a5b-8c9d-111122223333";

/** @param {string} seed */
function guid(seed) {
  const h = createHash("sha1").update(seed).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const benchMocks = {
  /** @param {import("@pulumi/pulumi").runtime.MockResourceArgs} args */
  newResource(args) {
    /** @type {Record<string, any>} */
    const inputs = args.inputs;
    if (!args.custom) return { id: "", state: inputs };
    switch (args.type) {
      case "azuread:index/application:Application": {
        const objectId = guid(`app-${args.name}`);
        return {
          id: `/applications/${objectId}`,
          state: { ...inputs, objectId, clientId: guid(`client-${args.name}`) },
        };
      }
      case "azuread:index/servicePrincipal:ServicePrincipal": {
        const objectId = guid(`sp-${args.name}`);
        return { id: `/servicePrincipals/${objectId}`, state: { ...inputs, objectId } };
      }
      case "azuread:index/applicationPassword:ApplicationPassword":
        return {
          id: `${String(inputs.applicationId).replace(/^\/applications\//, "")}/password/${guid(args.name)}`,
          state: { ...inputs, keyId: guid(args.name), value: `v-${args.name}` },
        };
      case "azure-native:keyvault:Vault": {
        const id = `/subscriptions/${SUBSCRIPTION}/resourceGroups/${inputs.resourceGroupName}/providers/Microsoft.KeyVault/vaults/${inputs.vaultName}`;
        return {
          id,
          state: {
            ...inputs,
            name: inputs.vaultName,
            properties: { ...inputs.properties, vaultUri: `https://${inputs.vaultName}.vault.azure.net/` },
          },
        };
      }
      case "azure-native:keyvault:Secret": {
        const id = `/subscriptions/${SUBSCRIPTION}/resourceGroups/${inputs.resourceGroupName}/providers/Microsoft.KeyVault/vaults/${inputs.vaultName}/secrets/${inputs.secretName}`;
        return {
          id,
          state: {
            name: inputs.secretName,
            properties: {
              secretUri: `https://${inputs.vaultName}.vault.azure.net/secrets/${inputs.secretName}`,
            },
          },
        };
      }
      case "random:index/randomString:RandomString":
        return { id: "abcde", state: { ...inputs, result: "abcde" } };
      default:
        return { id: `${args.name}-id`, state: inputs };
    }
  },
  /** @param {import("@pulumi/pulumi").runtime.MockCallArgs} args */
  call(args) {
    switch (args.token) {
      case "azuread:index/getClientConfig:getClientConfig":
        return { clientId: guid("deployer-client"), objectId: guid("deployer"), tenantId: TENANT };
      case "azuread:index/getServicePrincipal:getServicePrincipal":
        return {
          objectId: guid("smartspace-sp"),
          clientId: SMARTSPACE_CLIENT_ID,
          displayName: "smartspace",
          appRoles: [
            {
              allowedMemberTypes: ["Application"],
              description: "",
              displayName: "Integrations",
              enabled: true,
              id: guid("role"),
              value: "Integrations",
            },
          ],
        };
      default:
        throw new Error(`bench mocks: unexpected invoke ${args.token}`);
    }
  },
};

/**
 * @param {number} integrations
 * @param {number} workspaces
 */
function benchConfig(integrations, workspaces) {
  const list = Array.from({ length: integrations }, (_, i) => ({
    name: `integration-${String(i).padStart(3, "0")}`,
    workspaces: Array.from({ length: workspaces }, (_, w) => guid(`workspace-${w}`)),
    secretReaders: [guid(`reader-${i}`)],
  }));
  return {
    "smartspace-integration:smartspace": JSON.stringify({
      appClientId: SMARTSPACE_CLIENT_ID,
      adminApiUrl: "https://admin.smartspace.example.com",
      chatApiUrl: "https://chat.smartspace.example.com",
    }),
    "smartspace-integration:keyVault": JSON.stringify({ resourceGroupName: "rg-bench" }),
    "smartspace-integration:integrations": JSON.stringify(list),
  };
}

module.exports = { benchMocks, benchConfig };
