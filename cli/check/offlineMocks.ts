/**
 * Mocks that answer the program as `pulumi preview` would on a new stack, without Azure: a created
 * resource's ID and every output its provider computes stay unknown; a look-up's results are unknown except
 * what the stack's own settings fix (the azure-native subscription, the tenant, the deploy identity). Nothing
 * here makes up an ID, so that the plan never shows a value Azure has not chosen yet.
 */
import * as pulumi from "@pulumi/pulumi";

/**
 * Stand-ins for what only the login running Pulumi can tell, where the program needs a plain value rather than
 * an Output (it awaits `getClientConfig()` to check who deploys). Lower case, as the program compares and
 * stores object IDs in lower case; the plan shows anything that contains one as known at deploy time.
 */
export const DEPLOY_TIME_SYMBOLS = {
  identity: "<deploying identity>",
  client: "<deploying identity's client id>",
  tenant: "<tenant of the deploying identity>",
} as const;

/** Whether a value is, or was built from, one of the {@link DEPLOY_TIME_SYMBOLS}. */
export function isDeployTimeSymbol(value: unknown): boolean {
  return (
    typeof value === "string" && Object.values(DEPLOY_TIME_SYMBOLS).some((symbol) => value.includes(symbol))
  );
}

/** Fields of each look-up's result that the program may read, per invoke token (from the SDKs' result types). */
const LOOKUP_FIELDS: Readonly<Record<string, readonly string[]>> = {
  "azure-native:authorization:getClientConfig": ["clientId", "objectId", "subscriptionId", "tenantId"],
  "azuread:index/getServicePrincipal:getServicePrincipal": [
    "id",
    "objectId",
    "clientId",
    "displayName",
    "appRoles",
    "appRoleIds",
    "accountEnabled",
    "appRoleAssignmentRequired",
    "applicationTenantId",
    "servicePrincipalNames",
    "type",
  ],
  "azure-native:keyvault:getVault": ["id", "name", "type", "location", "properties", "tags"],
  "azure-native:eventgrid:getSystemTopic": [
    "azureApiVersion",
    "id",
    "identity",
    "location",
    "metricResourceId",
    "name",
    "provisioningState",
    "source",
    "systemData",
    "tags",
    "topicType",
    "type",
  ],
};

/** Settings that fix a look-up's result before deployment: token -> field -> config key. */
const KNOWN_FROM_CONFIG: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  "azure-native:authorization:getClientConfig": {
    subscriptionId: "azure-native:subscriptionId",
    tenantId: "azure-native:tenantId",
  },
};

export function offlineMocks(config: Readonly<Record<string, string>>): pulumi.runtime.Mocks {
  return {
    newResource: (args) => {
      if (!args.custom) {
        return { id: "", state: args.inputs };
      }
      // A provider's preview of a create echoes its inputs and leaves what it computes unknown. Only scalar
      // and list inputs are echoed: an object input (Key Vault `properties`) may gain computed fields (the
      // vault URI) that must stay unknown rather than read as absent.
      const echoed = Object.fromEntries(
        Object.entries(args.inputs as Record<string, unknown>).filter(
          ([, value]) => value === null || typeof value !== "object" || Array.isArray(value),
        ),
      );
      return { id: "", state: echoed };
    },
    call: (args) => {
      if (args.token === "azuread:index/getClientConfig:getClientConfig") {
        // A pipeline deploys as deployerObjectId; anyone else's `pulumi up` stops (program/deployer.ts).
        return {
          id: DEPLOY_TIME_SYMBOLS.client,
          clientId: DEPLOY_TIME_SYMBOLS.client,
          objectId:
            config["smartspace-integration:deployerObjectId"]?.toLowerCase() ?? DEPLOY_TIME_SYMBOLS.identity,
          tenantId: config["azuread:tenantId"] ?? DEPLOY_TIME_SYMBOLS.tenant,
        };
      }
      const fields = LOOKUP_FIELDS[args.token];
      if (fields === undefined) {
        throw new Error(
          `npm run check does not know what ${args.token} returns before deployment; add it to cli/check/offlineMocks.ts`,
        );
      }
      const known = KNOWN_FROM_CONFIG[args.token] ?? {};
      return Object.fromEntries(
        fields.map((field) => {
          const configured = known[field] !== undefined ? config[known[field]] : undefined;
          return [field, configured ?? pulumi.runtime.unknownValue];
        }),
      );
    },
  };
}
