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
