/**
 * Read access to single Key Vault secrets, granted with Azure RBAC at the secret's own scope: the vault may
 * hold other integrations' credentials.
 */
import { createHash } from "node:crypto";
import * as authorization from "@pulumi/azure-native/authorization";
import * as pulumi from "@pulumi/pulumi";

/** Built-in Azure role "Key Vault Secrets User": read secret contents, nothing else. */
export const KEY_VAULT_SECRETS_USER_ROLE_ID = "4633458b-17de-408a-b874-0445c86b69e6";

/**
 * A role assignment's name must be a GUID. Deriving it from scope, principal and role means a lost or rebuilt
 * state can never add a duplicate assignment: the create fails naming the existing one, which `pulumi import`
 * then adopts (a random name would instead fail with a less obvious 409 RoleAssignmentExists).
 */
export function roleAssignmentName(scope: string, principalId: string, roleDefinitionId: string): string {
  const hex = createHash("sha256")
    .update(`${scope.toLowerCase()}|${principalId.toLowerCase()}|${roleDefinitionId.toLowerCase()}`)
    .digest("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16)}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

export interface SecretReadGrant {
  /** ARM ID of the secret: `<vault ID>/secrets/<name>`. */
  readonly scope: pulumi.Input<string>;
  /** Object ID of the service principal (e.g. a managed identity) that may read it. */
  readonly reader: string;
  /** Subscription of the vault, where the role definition is resolved. */
  readonly subscriptionId: pulumi.Input<string>;
  readonly description: string;
}

/** Lets `reader` read the secret at `scope`, and nothing else. */
export function grantSecretRead(
  name: string,
  grant: SecretReadGrant,
  opts: pulumi.CustomResourceOptions,
): authorization.RoleAssignment {
  const roleDefinitionId = pulumi.interpolate`/subscriptions/${grant.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${KEY_VAULT_SECRETS_USER_ROLE_ID}`;
  return new authorization.RoleAssignment(
    name,
    {
      scope: grant.scope,
      principalId: grant.reader,
      principalType: authorization.PrincipalType.ServicePrincipal,
      roleDefinitionId,
      roleAssignmentName: pulumi
        .all([grant.scope, roleDefinitionId])
        .apply(([scopeId, roleId]) => roleAssignmentName(scopeId, grant.reader, roleId)),
      description: grant.description,
    },
    { deleteBeforeReplace: true, ...opts },
  );
}
