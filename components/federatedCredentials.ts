import * as azuread from "@pulumi/azuread";
import * as pulumi from "@pulumi/pulumi";
import {
  type FederatedSubject,
  MAX_FEDERATED_CREDENTIALS,
  TOKEN_EXCHANGE_AUDIENCE,
  managedIdentityIssuer,
} from "../rules/federated";

export interface FederatedCredentialsArgs {
  /** Resource ID of the application (`/applications/<object id>`), which the credentials take. */
  readonly applicationId: pulumi.Input<string>;
  /** The external workloads to trust; names unique. */
  readonly subjects: readonly FederatedSubject[];
  /** Tenant of the stack: the issuer of its managed identities' tokens. */
  readonly tenantId: pulumi.Input<string>;
}

/** One trusted subject as a consumer sees it: what the external token's claims must be, exactly. */
export interface FederatedCredentialOutput {
  readonly issuer: pulumi.Output<string>;
  readonly subject: pulumi.Output<string>;
  readonly audience: typeof TOKEN_EXCHANGE_AUDIENCE;
}

/**
 * An application's federated identity credentials: one per trusted subject (a GitHub Actions environment or
 * branch, a Kubernetes service account, a managed identity, another OIDC issuer's workload). Nothing secret
 * exists: the workload presents its own platform's token and Entra ID exchanges it for the application's.
 *
 * Each credential is named by its subject's meaning (rules/federated.ts), never by its position in the
 * list, so reordering subjects changes nothing. A credential whose name or application changes is
 * replaced, deleting first: Entra ID refuses a second credential with the same issuer and subject.
 */
export class FederatedCredentials extends pulumi.ComponentResource {
  /** Keyed by credential name. */
  readonly credentials: Readonly<Record<string, azuread.ApplicationFederatedIdentityCredential>>;
  readonly outputs: Readonly<Record<string, FederatedCredentialOutput>>;

  constructor(name: string, args: FederatedCredentialsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("smartspace:credentials:FederatedCredentials", name, {}, opts);

    if (args.subjects.length === 0 || args.subjects.length > MAX_FEDERATED_CREDENTIALS) {
      throw new pulumi.ResourceError(
        `${name}: trust 1 to ${MAX_FEDERATED_CREDENTIALS} subjects (Entra ID's limit per application), got ${args.subjects.length}`,
        this,
      );
    }
    const notes = `Managed by Pulumi (${pulumi.getProject()}/${pulumi.getStack()})`;
    const credentials: Record<string, azuread.ApplicationFederatedIdentityCredential> = {};
    const outputs: Record<string, FederatedCredentialOutput> = {};
    for (const trusted of args.subjects) {
      if (credentials[trusted.name] !== undefined) {
        throw new pulumi.ResourceError(
          `${name}: two subjects share the credential name ${trusted.name}`,
          this,
        );
      }
      let issuer: pulumi.Output<string>;
      let subject: pulumi.Output<string>;
      let description: string;
      if (trusted.kind === "managedIdentity") {
        issuer = pulumi.output(args.tenantId).apply(managedIdentityIssuer);
        // Fails the deployment before anything is created when the ID is not a user-assigned managed identity:
        // Entra ID would accept the credential, but no token could ever match it.
        subject = userAssignedIdentity(trusted.principalId, this).apply(() => trusted.subject);
        description = `${notes}: managed identity ${trusted.principalId}`;
      } else {
        issuer = pulumi.output(trusted.issuer);
        subject = pulumi.output(trusted.subject);
        description = `${notes}: ${trusted.kind} ${trusted.subject}`.slice(0, 600);
      }
      credentials[trusted.name] = new azuread.ApplicationFederatedIdentityCredential(
        `${name}-${trusted.name}`,
        {
          applicationId: args.applicationId,
          displayName: trusted.name,
          audiences: [TOKEN_EXCHANGE_AUDIENCE],
          issuer,
          subject,
          description,
        },
        { parent: this, deleteBeforeReplace: true },
      );
      outputs[trusted.name] = { issuer, subject, audience: TOKEN_EXCHANGE_AUDIENCE };
    }
    this.credentials = credentials;
    this.outputs = outputs;
    this.registerOutputs({ outputs });
  }
}

/** The service principal of a user-assigned managed identity, or a clear failure. */
export function userAssignedIdentity(
  principalId: string,
  parent: pulumi.Resource,
): pulumi.Output<azuread.GetServicePrincipalResult> {
  return azuread.getServicePrincipalOutput({ objectId: principalId }, { parent }).apply((principal) => {
    const userAssigned = principal.alternativeNames.some((name) => /^isExplicit=True$/i.test(name));
    if (principal.type !== "ManagedIdentity" || !userAssigned) {
      throw new pulumi.ResourceError(
        `${principalId} is ${principal.type === "ManagedIdentity" ? "a system-assigned managed identity" : `the service principal of ${principal.type === "Application" ? "an application" : `a ${principal.type} principal`} (${principal.displayName})`}; ` +
          "an application can only trust a user-assigned managed identity: give its principal ID " +
          "(az identity show --query principalId)",
        parent,
      );
    }
    return principal;
  });
}
