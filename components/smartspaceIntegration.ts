import * as pulumi from "@pulumi/pulumi";
import { IntegrationCredentials } from "./integrationCredentials";
import { IntegrationIdentity } from "./integrationIdentity";
import { WorkspaceAccess } from "./workspaceAccess";

export interface SmartspaceIntegrationArgs {
  /** Display name of the app registration and service principal. */
  readonly displayName: pulumi.Input<string>;
  /** Object ID of the Smartspace service principal whose app role is assigned. */
  readonly smartspaceServicePrincipalObjectId: pulumi.Input<string>;
  /** ID of the Smartspace "Integrations" app role. */
  readonly appRoleId: pulumi.Input<string>;
  /** Tenant of the identity, reported to consumers with the client ID. */
  readonly tenantId: pulumi.Input<string>;
  /** Extra owners of the application. Default: none beyond the deployer. */
  readonly owners?: pulumi.Input<pulumi.Input<string>[]>;
  /** Object ID of the deploying identity, always an owner. Default: the azuread provider's principal. */
  readonly deployerObjectId?: pulumi.Input<string>;
  /** Vault that stores the client ID, tenant ID and current client secret. */
  readonly vault: {
    readonly resourceGroupName: pulumi.Input<string>;
    readonly vaultName: pulumi.Input<string>;
    readonly subscriptionId: pulumi.Input<string>;
  };
  /** Days between client secret rotations. Default: 90. */
  readonly rotationDays?: number;
  /** Principals allowed to read this integration's secrets. Default: none. */
  readonly secretReaders?: readonly string[];
  /** Instant the rotation schedule is computed for. Default: now (only its rotation period matters). */
  readonly now?: Date;
  /** Smartspace workspace IDs to grant the service principal access to. Default: none. */
  readonly workspaces?: readonly string[];
  /** Smartspace admin API; required when `workspaces` is not empty. */
  readonly adminApi?: {
    readonly url: pulumi.Input<string>;
    /** Scope of the deployer's admin token, e.g. `api://<Smartspace app client id>/.default`. */
    readonly tokenScope: pulumi.Input<string>;
  };
}

/** What consumers and operators need to know about one integration; nothing secret. */
export interface IntegrationOutputs {
  readonly clientId: pulumi.Output<string>;
  readonly tenantId: pulumi.Output<string>;
  readonly applicationObjectId: pulumi.Output<string>;
  readonly servicePrincipalObjectId: pulumi.Output<string>;
  readonly displayName: pulumi.Output<string>;
  /** Versionless Key Vault secret URIs. */
  readonly keyVaultSecretUris: {
    readonly clientId: pulumi.Output<string>;
    readonly tenantId: pulumi.Output<string>;
    readonly clientSecret: pulumi.Output<string>;
  };
  /** End of the current client secret's validity. */
  readonly secretExpiresOn: string;
  /** When the next deployment rotates the older client secret slot. */
  readonly nextRotationOn: string;
  /** Workspace IDs the service principal has been granted. */
  readonly workspaces: pulumi.Output<string[]>;
}

/**
 * One Smartspace integration: everything a non-user caller needs, composed so that the stack program stays
 * a short list of wiring.
 */
export class SmartspaceIntegration extends pulumi.ComponentResource {
  readonly identity: IntegrationIdentity;
  readonly credentials: IntegrationCredentials;
  /** Names of the integration's Key Vault secrets (and certificates): what its expiry alerts watch. */
  readonly keyVaultObjectNames: readonly string[];
  /** One grant per workspace, keyed by workspace ID. */
  readonly workspaceAccess: Readonly<Record<string, WorkspaceAccess>>;
  readonly outputs: IntegrationOutputs;

  constructor(name: string, args: SmartspaceIntegrationArgs, opts?: pulumi.ComponentResourceOptions) {
    super("smartspace:index:SmartspaceIntegration", name, {}, opts);

    this.identity = new IntegrationIdentity(
      `${name}-identity`,
      {
        displayName: args.displayName,
        smartspaceServicePrincipalObjectId: args.smartspaceServicePrincipalObjectId,
        appRoleId: args.appRoleId,
        owners: args.owners,
        deployerObjectId: args.deployerObjectId,
      },
      { parent: this },
    );

    this.credentials = new IntegrationCredentials(
      `${name}-credentials`,
      {
        integrationName: name,
        applicationId: this.identity.applicationId,
        clientId: this.identity.clientId,
        tenantId: args.tenantId,
        rotationDays: args.rotationDays,
        vault: args.vault,
        secretReaders: args.secretReaders,
        now: args.now,
      },
      { parent: this },
    );

    this.keyVaultObjectNames = this.credentials.keyVaultObjectNames;

    const workspaces = args.workspaces ?? [];
    if (workspaces.length > 0 && args.adminApi === undefined) {
      throw new pulumi.ResourceError(
        `integration ${name} lists workspaces but no Smartspace admin API was given (smartspace-integration:smartspace.adminApiUrl)`,
        this,
      );
    }
    const grants: Record<string, WorkspaceAccess> = {};
    for (const workspaceId of workspaces) {
      const key = workspaceId.toLowerCase();
      grants[key] = new WorkspaceAccess(
        // Keyed by workspace ID, never by position: reordering the list must not revoke and re-grant.
        `${name}-workspace-${key}`,
        {
          adminApiUrl: args.adminApi!.url,
          tokenScope: args.adminApi!.tokenScope,
          workspaceId: key,
          // The service principal's object ID: what Smartspace lists in a workspace's access control.
          principalId: this.identity.servicePrincipalObjectId,
          principalType: "ServicePrincipal",
          displayName: this.identity.displayName,
        },
        // As in the guide: the principal holds the Integrations role before it is added to a workspace, so
        // that an access-list entry never exists for an identity that cannot use it. A grant is an upsert, so
        // a create-before-delete replacement (`--replace`, which skips the provider's own delete-first diff)
        // would re-grant and then revoke the very same entry: delete first.
        { parent: this, dependsOn: [this.identity.roleAssignment], deleteBeforeReplace: true },
      );
    }
    this.workspaceAccess = grants;

    this.outputs = {
      clientId: this.identity.clientId,
      tenantId: pulumi.output(args.tenantId),
      applicationObjectId: this.identity.applicationObjectId,
      servicePrincipalObjectId: this.identity.servicePrincipalObjectId,
      displayName: this.identity.displayName,
      keyVaultSecretUris: this.credentials.secretUris,
      secretExpiresOn: this.credentials.secretExpiresOn,
      nextRotationOn: this.credentials.nextRotationOn,
      workspaces: pulumi.all(Object.values(grants).map((grant) => grant.workspaceId)),
    };

    this.registerOutputs({ ...this.outputs });
  }
}
