import * as azuread from "@pulumi/azuread";
import * as pulumi from "@pulumi/pulumi";
import type { IntegrationPrincipal } from "./integrationPrincipal";

export interface IntegrationIdentityArgs {
  /** Display name of the app registration and its service principal. */
  readonly displayName: pulumi.Input<string>;
  /**
   * Object ID of the Smartspace service principal (the enterprise app), the resource whose role is assigned.
   * Not the Smartspace app's client ID, and not its application object ID.
   */
  readonly smartspaceServicePrincipalObjectId: pulumi.Input<string>;
  /** ID of the Smartspace app role to assign (the "Integrations" role). */
  readonly appRoleId: pulumi.Input<string>;
  /** Extra owners (user or service principal object IDs). Default: none beyond the deployer. */
  readonly owners?: pulumi.Input<pulumi.Input<string>[]>;
  /**
   * Object ID of the identity running `pulumi up`, always made an owner so the stack can keep managing the
   * application. Default: the azuread provider's signed-in principal (`getClientConfig`).
   */
  readonly deployerObjectId?: pulumi.Input<string>;
  /** Free text shown on the app registration. Default: a note that this stack manages it. */
  readonly notes?: pulumi.Input<string>;
}

/**
 * A non-user identity for the Smartspace APIs: an Entra ID application (single-tenant, no redirect URIs,
 * no API permissions, no identifier URIs: it only calls Smartspace), its service principal, and the
 * Smartspace app role assigned to that service principal. Steps 1-3, 5 and 6 of the customer guide.
 */
export class IntegrationIdentity extends pulumi.ComponentResource implements IntegrationPrincipal {
  readonly application: azuread.Application;
  readonly servicePrincipal: azuread.ServicePrincipal;
  readonly roleAssignment: azuread.AppRoleAssignment;
  /** Client (application) ID: what a consumer authenticates as. */
  readonly clientId: pulumi.Output<string>;
  /** Object ID of the application registration. */
  readonly applicationObjectId: pulumi.Output<string>;
  /** Resource ID of the application (`/applications/<object id>`), which `ApplicationPassword` expects. */
  readonly applicationId: pulumi.Output<string>;
  /** Object ID of the service principal: the principal Smartspace grants workspace access to. */
  readonly servicePrincipalObjectId: pulumi.Output<string>;
  readonly displayName: pulumi.Output<string>;

  constructor(name: string, args: IntegrationIdentityArgs, opts?: pulumi.ComponentResourceOptions) {
    super("smartspace:identity:IntegrationIdentity", name, {}, opts);

    const deployerObjectId =
      args.deployerObjectId ?? azuread.getClientConfigOutput({ parent: this }).objectId;
    // Sorted and de-duplicated so that listing the deployer explicitly, or reordering owners in config,
    // does not show up as a diff.
    const owners = pulumi
      .all([deployerObjectId, args.owners ?? []])
      .apply(([deployer, extra]) => [...new Set([deployer, ...extra].map((id) => id.toLowerCase()))].sort());
    const notes =
      args.notes ??
      pulumi.interpolate`Smartspace integration identity managed by Pulumi (${pulumi.getProject()}/${pulumi.getStack()}). Changes made by hand are reverted on the next deployment.`;

    this.application = new azuread.Application(
      `${name}-app`,
      {
        displayName: args.displayName,
        signInAudience: "AzureADMyOrg",
        // Fails instead of silently creating a second app when state was lost and the name already exists.
        preventDuplicateNames: true,
        notes,
        tags: ["smartspace-integration", "managed-by-pulumi"],
        owners,
      },
      // Replaced only on request (`--replace`; no input we set is ForceNew): with preventDuplicateNames the
      // provider refuses to create the new application while the old one still holds the display name.
      { parent: this, deleteBeforeReplace: true },
    );

    this.servicePrincipal = new azuread.ServicePrincipal(
      `${name}-sp`,
      {
        clientId: this.application.clientId,
        owners,
        notes,
      },
      // An application has at most one service principal: the provider refuses to create a second one for the
      // same client ID (service_principal_resource.go), so a replacement must delete the old one first.
      { parent: this, deleteBeforeReplace: true },
    );

    // principalObjectId is the NEW service principal and resourceObjectId the SMARTSPACE service principal.
    // The guide's PowerShell passes the app object ID for both, which is the most common failed setup.
    this.roleAssignment = new azuread.AppRoleAssignment(
      `${name}-role`,
      {
        appRoleId: args.appRoleId,
        principalObjectId: this.servicePrincipal.objectId,
        resourceObjectId: args.smartspaceServicePrincipalObjectId,
      },
      // Every input is ForceNew, and Graph refuses an assignment that already exists ("Permission being assigned
      // already exists on the object"): replacing it with the same values must delete the old one first.
      // Options are not diffed (pulumi/pulumi step_generator.go), so this never replaces a deployed assignment.
      { parent: this, deleteBeforeReplace: true },
    );

    this.clientId = this.application.clientId;
    this.applicationObjectId = this.application.objectId;
    this.applicationId = this.application.id;
    this.servicePrincipalObjectId = this.servicePrincipal.objectId;
    this.displayName = this.application.displayName;

    this.registerOutputs({
      clientId: this.clientId,
      applicationObjectId: this.applicationObjectId,
      servicePrincipalObjectId: this.servicePrincipalObjectId,
      displayName: this.displayName,
    });
  }
}
