import * as pulumi from "@pulumi/pulumi";
import type { ClientCertificateOutputs } from "./clientCertificate";
import type { FederatedCredentialOutput } from "./federatedCredentials";
import { type ApplicationCredential, IntegrationCredentials } from "./integrationCredentials";
import { IntegrationIdentity } from "./integrationIdentity";
import type { IntegrationPrincipal } from "./integrationPrincipal";
import { ManagedIdentityPrincipal } from "./managedIdentityPrincipal";
import { WorkspaceAccess } from "./workspaceAccess";

/** How the integration authenticates; see docs/credential-modes.md. */
export type IntegrationCredential =
  | ApplicationCredential
  | {
      readonly type: "managedIdentity";
      /** An existing managed identity's principal (object) ID. Exactly one of this and `create`. */
      readonly principalId?: string;
      /** Create a user-assigned managed identity named `displayName`. */
      readonly create?: { readonly resourceGroupName: string; readonly location?: string };
    };

export type CredentialType = IntegrationCredential["type"];

export interface SmartspaceIntegrationArgs {
  /** Display name of the app registration and service principal, or the name of a created managed identity. */
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
  /** Default: a client secret rotating every 90 days. */
  readonly credential?: IntegrationCredential;
  /** Vault that stores what consumers read: the IDs, the client secret or the certificate. */
  readonly vault: {
    readonly resourceGroupName: pulumi.Input<string>;
    readonly vaultName: pulumi.Input<string>;
    readonly subscriptionId: pulumi.Input<string>;
    /** Data-plane URL; required for certificates. */
    readonly vaultUri?: pulumi.Input<string>;
  };
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
  readonly credentialType: CredentialType;
  /** The client ID a consumer authenticates as (a managed identity: the identity's client ID). */
  readonly clientId: pulumi.Output<string>;
  readonly tenantId: pulumi.Output<string>;
  /** The principal holding the app role and the workspace grants (a managed identity: its principal ID). */
  readonly servicePrincipalObjectId: pulumi.Output<string>;
  /** Absent for a managed identity, which has no application. */
  readonly applicationObjectId?: pulumi.Output<string>;
  readonly displayName: pulumi.Output<string>;
  /** Versionless Key Vault secret URIs, when the IDs are stored (always for secret mode). */
  readonly keyVaultSecretUris?: {
    readonly clientId: pulumi.Output<string>;
    readonly tenantId: pulumi.Output<string>;
    /** Secret mode. */
    readonly clientSecret?: pulumi.Output<string>;
  };
  /** Secret mode: end of the current client secret's validity. */
  readonly secretExpiresOn?: string;
  /** Secret mode: when the next deployment rotates the older client secret slot. */
  readonly nextRotationOn?: string;
  readonly certificate?: ClientCertificateOutputs;
  /** Keyed by credential name. */
  readonly federatedCredentials?: Readonly<Record<string, FederatedCredentialOutput>>;
  readonly managedIdentity?: {
    readonly clientId: pulumi.Output<string>;
    readonly principalId: pulumi.Output<string>;
    readonly resourceId: pulumi.Output<string | undefined>;
  };
  /** Workspace IDs the service principal has been granted. */
  readonly workspaces: pulumi.Output<string[]>;
}

/**
 * One Smartspace integration: everything a non-user caller needs, composed so that the stack program stays
 * a short list of wiring. The principal is an application's service principal (IntegrationIdentity, with
 * its credential in IntegrationCredentials) or a managed identity (ManagedIdentityPrincipal); either holds
 * the Smartspace app role and receives the workspace grants.
 */
export class SmartspaceIntegration extends pulumi.ComponentResource {
  readonly principal: IntegrationPrincipal;
  /** The application, for every credential type but managedIdentity. */
  readonly identity?: IntegrationIdentity;
  readonly credentials?: IntegrationCredentials;
  /** Names of the integration's Key Vault secrets (and certificate): what its expiry alerts watch. */
  readonly keyVaultObjectNames: readonly string[];
  /** One grant per workspace, keyed by workspace ID. */
  readonly workspaceAccess: Readonly<Record<string, WorkspaceAccess>>;
  readonly outputs: IntegrationOutputs;

  constructor(name: string, args: SmartspaceIntegrationArgs, opts?: pulumi.ComponentResourceOptions) {
    super("smartspace:index:SmartspaceIntegration", name, {}, opts);

    const credential: IntegrationCredential = args.credential ?? { type: "secret" };
    let credentialOutputs: Partial<IntegrationOutputs>;
    if (credential.type === "managedIdentity") {
      const identity = new ManagedIdentityPrincipal(
        `${name}-identity`,
        {
          principalId: credential.principalId,
          create:
            credential.create === undefined ? undefined : { ...credential.create, name: args.displayName },
          smartspaceServicePrincipalObjectId: args.smartspaceServicePrincipalObjectId,
          appRoleId: args.appRoleId,
        },
        { parent: this },
      );
      this.principal = identity;
      credentialOutputs = {
        managedIdentity: {
          clientId: identity.clientId,
          principalId: identity.servicePrincipalObjectId,
          resourceId: identity.resourceId,
        },
      };
    } else {
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
      this.principal = this.identity;
      this.credentials = new IntegrationCredentials(
        `${name}-credentials`,
        {
          integrationName: name,
          applicationId: this.identity.applicationId,
          clientId: this.identity.clientId,
          tenantId: args.tenantId,
          credential,
          vault: args.vault,
          now: args.now,
        },
        { parent: this },
      );
      const { clientSecret, certificate, federated, secretUris } = this.credentials;
      credentialOutputs = {
        applicationObjectId: this.identity.applicationObjectId,
        ...(secretUris === undefined ? {} : { keyVaultSecretUris: secretUris }),
        ...(clientSecret === undefined
          ? {}
          : { secretExpiresOn: clientSecret.expiresOn, nextRotationOn: clientSecret.nextRotationOn }),
        ...(certificate === undefined ? {} : { certificate: certificate.outputs }),
        ...(federated === undefined ? {} : { federatedCredentials: federated.outputs }),
      };
    }

    this.keyVaultObjectNames = this.credentials?.keyVaultObjectNames ?? [];

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
          principalId: this.principal.servicePrincipalObjectId,
          principalType: "ServicePrincipal",
          displayName: this.principal.displayName,
        },
        // As in the guide: the principal holds the Integrations role before it is added to a workspace, so
        // that an access-list entry never exists for an identity that cannot use it. A grant is an upsert, so
        // a create-before-delete replacement (`--replace`, which skips the provider's own delete-first diff)
        // would re-grant and then revoke the very same entry: delete first.
        { parent: this, dependsOn: [this.principal.roleAssignment], deleteBeforeReplace: true },
      );
    }
    this.workspaceAccess = grants;

    this.outputs = {
      credentialType: credential.type,
      clientId: this.principal.clientId,
      tenantId: pulumi.output(args.tenantId),
      servicePrincipalObjectId: this.principal.servicePrincipalObjectId,
      displayName: this.principal.displayName,
      ...credentialOutputs,
      workspaces: pulumi.all(Object.values(grants).map((grant) => grant.workspaceId)),
    };

    this.registerOutputs({ ...this.outputs });
  }
}
