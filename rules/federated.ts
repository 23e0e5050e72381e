/**
 * Workload identity federation: the issuers, subjects and audience an application's federated identity
 * credentials must carry so that Entra ID exchanges an external token for one of its own. Entra ID matches
 * issuer, subject and audience exactly and case-sensitively, so these are built here once, for config
 * validation, the stack and the policy pack alike.
 */
import { createHash } from "node:crypto";

/** The only audience Entra ID accepts in a federated identity credential (and so in the external token). */
export const TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange";
/** Issuer of GitHub Actions OIDC tokens. */
export const GITHUB_ACTIONS_ISSUER = "https://token.actions.githubusercontent.com";
/** Federated identity credentials per application (and per user-assigned managed identity): Entra ID's limit. */
export const MAX_FEDERATED_CREDENTIALS = 20;
/** Entra ID's limit on a credential's issuer and on its subject. */
export const MAX_ISSUER_LENGTH = 600;
export const MAX_SUBJECT_LENGTH = 600;
/**
 * A federated identity credential's name: unique per application, at most 120 characters, URL-friendly,
 * and immutable (changing it replaces the credential). The rule Azure applies to managed identities'
 * credentials, which is also safe for applications.
 */
export const FEDERATED_CREDENTIAL_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{2,119}$/;
export const FEDERATED_CREDENTIAL_NAME_EXPECTED =
  "use 3-120 letters, digits, '-' or '_', starting with a letter or digit";

/**
 * Issuer of the tokens a managed identity of `tenantId` presents when an application trusts it: its token
 * for {@link TOKEN_EXCHANGE_AUDIENCE} is the client assertion, and its subject is its principal (object) ID.
 */
export function managedIdentityIssuer(tenantId: string): string {
  return `https://login.microsoftonline.com/${tenantId}/v2.0`;
}

/** One subject an application trusts, as Entra ID will match it. */
export type FederatedSubject = {
  /** The credential's name in Entra ID (unique per application, immutable), read off its meaning. */
  readonly name: string;
  readonly subject: string;
} & (
  | { readonly kind: "github" | "kubernetes" | "custom"; readonly issuer: string }
  /** Issuer: {@link managedIdentityIssuer} of the stack's tenant, known at deployment. */
  | { readonly kind: "managedIdentity"; readonly principalId: string }
);

/** Which GitHub Actions runs a credential trusts: exactly one of these. */
export type GitHubRef =
  | { readonly environment: string }
  | { readonly branch: string }
  | { readonly tag: string }
  | { readonly pullRequest: true };

/** The `sub` claim of a GitHub Actions OIDC token for `repository` (`owner/repo`) and `ref`. */
export function githubSubject(repository: string, ref: GitHubRef): string {
  const prefix = `repo:${repository}`;
  if ("environment" in ref) return `${prefix}:environment:${ref.environment}`;
  if ("branch" in ref) return `${prefix}:ref:refs/heads/${ref.branch}`;
  if ("tag" in ref) return `${prefix}:ref:refs/tags/${ref.tag}`;
  return `${prefix}:pull_request`;
}

/** The `sub` claim of a Kubernetes service account token (AKS workload identity). */
export function kubernetesSubject(namespace: string, serviceAccount: string): string {
  return `system:serviceaccount:${namespace}:${serviceAccount}`;
}

/** Eight hex characters identifying `parts` (joined unambiguously). */
export function shortHash(...parts: string[]): string {
  return createHash("sha256").update(JSON.stringify(parts)).digest("hex").slice(0, 8);
}

/**
 * A credential name read off its meaning: `readable` with every character a name cannot hold replaced by
 * '-'. When that loses information (a '/' in a branch, say) or the result is too long, a short hash of
 * `exact` (the full issuer and subject) keeps two different subjects from ever sharing a name.
 */
export function federatedCredentialName(readable: string, ...exact: string[]): string {
  const cleaned = readable.replace(/[^A-Za-z0-9_-]/g, "-");
  if (cleaned === readable && FEDERATED_CREDENTIAL_NAME.test(cleaned)) {
    return cleaned;
  }
  const suffix = `-${shortHash(...exact)}`;
  return `${cleaned.slice(0, 120 - suffix.length).replace(/-+$/, "")}${suffix}`;
}

/** The name of the credential trusting GitHub Actions runs of `repository` matching `ref`. */
export function githubCredentialName(repository: string, ref: GitHubRef): string {
  const [owner, repo] = repository.split("/");
  const what =
    "environment" in ref
      ? `environment-${ref.environment}`
      : "branch" in ref
        ? `branch-${ref.branch}`
        : "tag" in ref
          ? `tag-${ref.tag}`
          : "pull-request";
  return federatedCredentialName(
    `github-${owner}-${repo}-${what}`,
    GITHUB_ACTIONS_ISSUER,
    githubSubject(repository, ref),
  );
}

/**
 * The name of the credential trusting a Kubernetes service account. The same namespace and account on two
 * clusters are two subjects, so the cluster's issuer is part of the name (as a short hash: issuer URLs are
 * long).
 */
export function kubernetesCredentialName(issuer: string, namespace: string, serviceAccount: string): string {
  return federatedCredentialName(
    `kubernetes-${namespace}-${serviceAccount}-${shortHash(issuer)}`,
    issuer,
    kubernetesSubject(namespace, serviceAccount),
  );
}

/** The name of the credential trusting a managed identity (by its principal ID). */
export function managedIdentityCredentialName(principalId: string): string {
  return `managed-identity-${principalId.toLowerCase()}`;
}
