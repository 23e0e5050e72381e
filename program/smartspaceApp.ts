/**
 * Finds the Smartspace enterprise application (service principal) in the tenant and the app role that
 * integrations must hold: step 5 of the customer guide, done by the stack instead of `az ad sp list`.
 */
import * as azuread from "@pulumi/azuread";
import * as pulumi from "@pulumi/pulumi";

export interface SmartspaceAppLookupArgs {
  /** Client ID of the Smartspace app. Preferred: display names are not unique in a tenant. */
  readonly appClientId?: string;
  /** Display name of the Smartspace app, used only when `appClientId` is not given. */
  readonly appDisplayName?: string;
  /** Display name of the app role to assign. */
  readonly roleName: string;
}

export interface SmartspaceApp {
  /** Object ID of the Smartspace service principal: the resource of every app role assignment. */
  readonly servicePrincipalObjectId: string;
  /** Client ID of the Smartspace application: the audience of tokens for its APIs. */
  readonly clientId: string;
  readonly displayName: string;
  /** ID of the selected app role. */
  readonly appRoleId: string;
  /** Value of the selected app role: what appears in the `roles` claim of an integration's token. */
  readonly appRoleValue: string;
}

export interface AppRole {
  readonly id: string;
  readonly displayName: string;
  readonly value: string;
  readonly enabled: boolean;
  readonly allowedMemberTypes: readonly string[];
}

/**
 * Picks the role an integration identity can hold: matched by display name (as the guide does), enabled,
 * and assignable to applications. The role's *value* is deliberately not matched: values and display names
 * differ in real tenants, and matching either would pick the wrong role when they overlap.
 */
export function selectAppRole(roles: readonly AppRole[], roleName: string, appName: string): AppRole {
  const candidates = roles.filter((role) => role.displayName === roleName);
  const usable = candidates.find((role) => role.enabled && role.allowedMemberTypes.includes("Application"));
  if (usable) {
    return usable;
  }
  const available =
    roles.length === 0
      ? "it defines no app roles"
      : "its app roles are: " +
        roles
          .map(
            (role) =>
              `"${role.displayName}" (value "${role.value}", ${role.enabled ? "enabled" : "disabled"}, ` +
              `member types ${role.allowedMemberTypes.join("/") || "none"})`,
          )
          .join("; ");
  const reason =
    candidates.length === 0
      ? `has no app role with display name "${roleName}"`
      : candidates.some((role) => !role.enabled)
        ? `has an app role "${roleName}", but it is disabled`
        : `has an app role "${roleName}", but it cannot be assigned to applications`;
  throw new pulumi.RunError(
    `The Smartspace app "${appName}" ${reason}; ${available}. ` +
      `Set smartspace-integration:smartspace.roleName to the display name of an enabled role that allows the Application member type.`,
  );
}

/** Looks up the Smartspace service principal once per stack and selects the role to assign. */
export function lookupSmartspaceApp(
  args: SmartspaceAppLookupArgs,
  opts?: pulumi.InvokeOutputOptions,
): pulumi.Output<SmartspaceApp> {
  const query =
    args.appClientId !== undefined ? { clientId: args.appClientId } : { displayName: args.appDisplayName };
  return azuread.getServicePrincipalOutput(query, opts).apply((sp) => {
    const role = selectAppRole(sp.appRoles, args.roleName, sp.displayName);
    return {
      servicePrincipalObjectId: sp.objectId,
      clientId: sp.clientId,
      displayName: sp.displayName,
      appRoleId: role.id,
      appRoleValue: role.value,
    };
  });
}
