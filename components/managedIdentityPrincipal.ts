import * as managedidentity from "@pulumi/azure-native/managedidentity";
import * as azuread from "@pulumi/azuread";
import * as pulumi from "@pulumi/pulumi";
import type { IntegrationPrincipal } from "./integrationPrincipal";

export interface ManagedIdentityPrincipalArgs {
  /** Object (principal) ID of an existing managed identity's service principal. Exactly one of this and `create`. */
  readonly principalId?: string;
  /** Create a user-assigned managed identity instead. */
  readonly create?: {
    readonly resourceGroupName: pulumi.Input<string>;
    /** Default: the azure-native provider's location. */
    readonly location?: pulumi.Input<string>;
    /** Name of the identity (3-128 letters, digits, '-', '_'). */
    readonly name: pulumi.Input<string>;
  };
  /** Object ID of the Smartspace service principal, the resource whose role is assigned. */
  readonly smartspaceServicePrincipalObjectId: pulumi.Input<string>;
  /** ID of the Smartspace app role to assign (the "Integrations" role). */
  readonly appRoleId: pulumi.Input<string>;
}

/**
 * A managed identity as the integration's principal: no application, no credential anyone stores. The
 * Smartspace app role is assigned to the identity's **principal (object) ID** — its client ID names the
 * identity when a workload asks for a token, but is not a principal.
 *
 * Entra ID caches managed identity tokens for up to 24 hours, so removing the role (or the integration)
 * takes effect only when the workload's cached token expires.
 */
export class ManagedIdentityPrincipal extends pulumi.ComponentResource implements IntegrationPrincipal {
  /** The created identity, when `create` was given. */
  readonly identity?: managedidentity.UserAssignedIdentity;
  readonly roleAssignment: azuread.AppRoleAssignment;
  /** Client ID: what a workload names when it asks for the identity's token. */
  readonly clientId: pulumi.Output<string>;
  /** Principal (object) ID of the identity's service principal: holds the role and the workspace grants. */
  readonly servicePrincipalObjectId: pulumi.Output<string>;
  readonly displayName: pulumi.Output<string>;
  /** ARM resource ID of a user-assigned identity; undefined for a system-assigned one. */
  readonly resourceId: pulumi.Output<string | undefined>;

  constructor(name: string, args: ManagedIdentityPrincipalArgs, opts?: pulumi.ComponentResourceOptions) {
    super("smartspace:identity:ManagedIdentityPrincipal", name, {}, opts);

    if ((args.principalId === undefined) === (args.create === undefined)) {
      throw new pulumi.ResourceError(`${name}: give exactly one of principalId and create`, this);
    }
    let principalId: pulumi.Output<string>;
    if (args.create !== undefined) {
      this.identity = new managedidentity.UserAssignedIdentity(
        `${name}-uami`,
        {
          resourceGroupName: args.create.resourceGroupName,
          resourceName: args.create.name,
          location: args.create.location,
          tags: { "managed-by": "pulumi", "pulumi-stack": pulumi.getStack() },
        },
        // Its name is fixed, so a replacement (another group or region) must delete the old identity first.
        { parent: this, deleteBeforeReplace: true },
      );
      principalId = this.identity.principalId;
      this.clientId = this.identity.clientId;
      this.displayName = this.identity.name;
      this.resourceId = this.identity.id;
    } else {
      const given = args.principalId!;
      const principal = azuread
        .getServicePrincipalOutput({ objectId: given }, { parent: this })
        .apply((found) => {
          if (found.type !== "ManagedIdentity") {
            throw new pulumi.ResourceError(
              `credential.principalId ${given} is the service principal of ${found.type === "Application" ? "an application" : `a ${found.type} principal`} ` +
                `(${found.displayName}), not of a managed identity: give the managed identity's principal ID ` +
                "(az identity show --query principalId, or the Identity blade of the app), or use credential type " +
                "secret, certificate or federated for an application",
              this,
            );
          }
          return found;
        });
      principalId = principal.objectId;
      this.clientId = principal.clientId;
      this.displayName = principal.displayName;
      // A user-assigned identity lists its ARM ID among its names; a system-assigned one lists its host's.
      this.resourceId = principal.alternativeNames.apply((names) =>
        names.find((entry) =>
          /\/providers\/Microsoft\.ManagedIdentity\/userAssignedIdentities\/[^/]+$/i.test(entry),
        ),
      );
    }
    this.servicePrincipalObjectId = principalId;

    this.roleAssignment = new azuread.AppRoleAssignment(
      `${name}-role`,
      {
        appRoleId: args.appRoleId,
        // The identity's principal (object) ID, never its client ID.
        principalObjectId: principalId,
        resourceObjectId: args.smartspaceServicePrincipalObjectId,
      },
      // Every input forces replacement, and Graph refuses a second identical assignment: delete first.
      { parent: this, deleteBeforeReplace: true },
    );

    this.registerOutputs({
      clientId: this.clientId,
      servicePrincipalObjectId: this.servicePrincipalObjectId,
      displayName: this.displayName,
    });
  }
}
