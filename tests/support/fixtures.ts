import { isPlaceholder } from "../../program/config";
import { SMARTSPACE, USER_ASSIGNED_IDENTITY } from "./azureMocks";
import type { StackConfigValues } from "./program";

export const WORKSPACE_A = "3f1c2b7a-9d4e-4b8a-a1c3-5e6f7a8b9c0d";
export const WORKSPACE_B = "7b2d4f6a-1c3e-4a5b-8d9e-0f1a2b3c4d5e";
export const READER_OBJECT_ID = "c0ffee00-1234-4abc-8def-0123456789ab";
export const OWNER_OBJECT_ID = "e5d4c3b2-a190-4876-8543-210fedcba987";

/** A complete, valid configuration: one integration, a created vault. */
export function baseConfig(overrides: StackConfigValues = {}): StackConfigValues {
  return {
    smartspace: {
      appClientId: SMARTSPACE.clientId,
      adminApiUrl: "https://admin.smartspace.example.com/api",
      chatApiUrl: "https://chat.smartspace.example.com/api",
    },
    keyVault: { resourceGroupName: "rg-smartspace-dev" },
    integrations: [{ name: "crm-sync" }],
    ...overrides,
  };
}

/** A federated integration trusting a GitHub environment and a user-assigned managed identity, with a reader. */
export const FEDERATED_INTEGRATION = {
  name: "ci-bot",
  credential: {
    type: "federated",
    readers: [READER_OBJECT_ID],
    subjects: [
      { github: { repository: "contoso/crm", environment: "prod" } },
      { managedIdentity: { principalId: USER_ASSIGNED_IDENTITY.principalId } },
    ],
  },
} as const;

/** What a newcomer fills in for each placeholder of an example stack file, by key path (no list indices). */
const FILLED: Readonly<Record<string, unknown>> = {
  "smartspace-integration:smartspace.appClientId": SMARTSPACE.clientId,
  "smartspace-integration:smartspace.appDisplayName": SMARTSPACE.displayName,
  "smartspace-integration:smartspace.adminApiUrl": "https://admin.smartspace.example.com/api",
  "smartspace-integration:smartspace.chatApiUrl": "https://chat.smartspace.example.com/api",
  "smartspace-integration:keyVault.resourceGroupName": "rg-smartspace-dev",
  "smartspace-integration:integrations.workspaces": WORKSPACE_A,
  "smartspace-integration:integrations.secretReaders": READER_OBJECT_ID,
  "smartspace-integration:integrations.owners": OWNER_OBJECT_ID,
  "smartspace-integration:deployerObjectId": "0b6a2d43-7f4e-4c8e-9a51-3d2f1e0c9b87",
  "azure-native:location": "westeurope",
  "azure-native:subscriptionId": "6c1f8b42-5a3e-4d0a-9c1e-2f4b7a9d3e10",
};

/**
 * A stack file's `config:` block with every placeholder filled in as a newcomer would. Throws for a
 * placeholder at a path it has no value for, so that a new placeholder in an example gets one here.
 */
export function fillPlaceholders(config: Record<string, unknown>): Record<string, unknown> {
  const fill = (value: unknown, path: string): unknown => {
    if (isPlaceholder(value)) {
      if (!(path in FILLED)) throw new Error(`no value to fill in for the placeholder at ${path}`);
      return FILLED[path];
    }
    if (Array.isArray(value)) return value.map((item) => fill(item, path));
    if (value !== null && typeof value === "object") {
      return Object.fromEntries(
        Object.entries(value).map(([key, item]) => [key, fill(item, `${path}.${key}`)]),
      );
    }
    return value;
  };
  return Object.fromEntries(Object.entries(config).map(([key, value]) => [key, fill(value, key)]));
}
