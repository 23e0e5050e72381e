import type * as azuread from "@pulumi/azuread";
import type * as pulumi from "@pulumi/pulumi";

/**
 * The principal an integration authenticates as and Smartspace grants access to: an application's service
 * principal (IntegrationIdentity) or a managed identity (ManagedIdentityPrincipal).
 */
export interface IntegrationPrincipal {
  /** What a consumer names when it asks for a token. */
  readonly clientId: pulumi.Output<string>;
  /** Object ID of the service principal holding the app role and the workspace grants. */
  readonly servicePrincipalObjectId: pulumi.Output<string>;
  readonly displayName: pulumi.Output<string>;
  /** The Smartspace app role assignment; workspace grants wait for it. */
  readonly roleAssignment: azuread.AppRoleAssignment;
}
