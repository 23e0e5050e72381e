/**
 * The credential verify authenticates with, per credential mode: the `@azure/identity` credential, how the
 * run's header describes it, what must never be printed, and what each AADSTS answer means for that mode,
 * with its fix. ./credentialSources.ts chooses the mode and reads the secret material.
 *
 * | mode                       | source                                        | @azure/identity credential        |
 * | -------------------------- | --------------------------------------------- | --------------------------------- |
 * | secret                     | --client-secret-env, or Key Vault             | ClientSecretCredential            |
 * | certificate                | --certificate-path, or Key Vault (PEM)        | ClientCertificateCredential       |
 * | federated                  | --federated-token-file / AZURE_FEDERATED_...  | WorkloadIdentityCredential        |
 * | federated (MI trusted)     | --assertion-managed-identity-client-id        | ClientAssertionCredential + MI    |
 * | managed identity principal | --managed-identity-client-id, or the stack's  | ManagedIdentityCredential         |
 *
 * Nothing secret (the secret, the private key, the external token, a managed identity's token) is ever part
 * of a description or an explanation; each credential lists its secrets for the run's redactor.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import {
  ClientAssertionCredential,
  ClientCertificateCredential,
  ClientSecretCredential,
  ManagedIdentityCredential,
  type TokenCredential,
  WorkloadIdentityCredential,
} from "@azure/identity";
import { TOKEN_EXCHANGE_AUDIENCE } from "../../rules/federated";
import {
  decodeJwtClaims,
  type Explanation,
  firstLine,
  seconds,
  type TokenFailureContext,
  type VerifyCredential,
  VerifyUsageError,
} from "./engine";

export type Env = Readonly<Record<string, string | undefined>>;

const PRIVATE_KEY_BLOCK =
  /-----BEGIN ([A-Z ]*)PRIVATE KEY-----([A-Za-z0-9+/=\s:,-]*?)-----END \1PRIVATE KEY-----/g;

/** The secret parts of a PEM: each private key block, its body in one piece, and each of its lines. */
export function pemSecrets(pem: string): string[] {
  const secrets: string[] = [];
  for (const [block, , body] of pem.matchAll(PRIVATE_KEY_BLOCK)) {
    secrets.push(block, body.replace(/\s+/g, ""));
    secrets.push(...body.split(/\s+/).filter((line) => line.length >= 16));
  }
  return secrets;
}

/** Failures every mode can meet: a timeout, an unknown client, resource or tenant. */
function explainCommon(error: unknown, context: TokenFailureContext): Explanation | undefined {
  const { name, brief, has } = parse(error);
  if (name === "TimeoutError" || name === "AbortError") {
    return {
      cause: `authentication failed: no token from ${context.authority.authorityHost} within ${seconds(context.timeoutMs)}`,
      fix: `check network and proxy access to ${context.authority.authorityHost}`,
    };
  }
  if (has("AADSTS700016", "unauthorized_client")) {
    return {
      cause: `authentication failed: client ${context.clientId} is not an application in tenant ${context.tenantId} (${brief})`,
      fix: "check the client ID and tenant ID (stack outputs integrations.<name>); a new application can take a minute to replicate",
    };
  }
  if (has("AADSTS500011", "invalid_resource", "AADSTS70011", "invalid_scope")) {
    return {
      cause: `authentication failed: Entra ID does not know the resource of ${context.scope} in tenant ${context.tenantId} (${brief})`,
      fix: "check the Smartspace app client ID (admin portal > Admin API documentation > CLI Setup)",
    };
  }
  if (has("AADSTS90002", "AADSTS900023", "endpoints_resolution_error", "invalid_tenant")) {
    return {
      cause:
        `authentication failed: could not read tenant ${context.tenantId}'s OpenID configuration from ` +
        `${context.authority.authorityHost} (${brief})`,
      fix:
        "check the tenant ID, and that the authority host is reachable and its TLS certificate trusted " +
        "(AZURE_AUTHORITY_HOST, proxy, NODE_EXTRA_CA_CERTS)",
    };
  }
  return undefined;
}

function parse(error: unknown) {
  const message = error instanceof Error ? error.message : String(error);
  const name = error instanceof Error ? error.name : "";
  // Entra ID's descriptions run long (trace and correlation IDs, timestamps): keep the code and first sentence.
  const aadsts = /AADSTS\d+:.*?\.(?=\s|$)/s.exec(message);
  const brief = aadsts ? aadsts[0].replace(/\s+/g, " ") : firstLine(message);
  const has = (...needles: string[]) => needles.some((needle) => message.includes(needle));
  return { message, name, brief, has };
}

/** A client secret (`ClientSecretCredential`). */
export function secretCredential(clientSecret: string, origin: string): VerifyCredential {
  return {
    kind: "secret",
    description: `client secret from ${origin}`,
    secrets: [clientSecret],
    create: ({ tenantId, clientId, ...options }) =>
      new ClientSecretCredential(tenantId, clientId, clientSecret, options),
    explain(error, context) {
      const common = explainCommon(error, context);
      if (common) {
        return common;
      }
      const { brief, has } = parse(error);
      if (has("AADSTS7000215", "AADSTS7000222", "invalid_client")) {
        return {
          cause: `authentication failed: the client secret is wrong or expired (${brief})`,
          fix:
            "check secretExpiresOn in the stack outputs and that the secret is the current Key Vault version; " +
            "rotate it (docs/credentials.md) if it expired or leaked",
        };
      }
      return {
        cause: `authentication failed: ${brief}`,
        fix: "check the tenant ID, client ID and client secret, and that the authority host is reachable",
      };
    },
  };
}

/**
 * A certificate with its private key, as a PEM (`ClientCertificateCredential`). `registered` are the
 * thumbprints the stack registered on the application, when known.
 */
export function certificateCredential(
  pem: string,
  origin: string,
  registered?: { readonly current: string; readonly previous?: string },
): VerifyCredential {
  const certificate = parsePem(pem, origin);
  const thumbprint = certificate.fingerprint.replace(/:/g, "").toUpperCase();
  const validTo = new Date(certificate.validTo);
  const known = registered ? [registered.current, registered.previous].filter((t) => t !== undefined) : [];
  const isRegistered = known.some((t) => t.replace(/:/g, "").toUpperCase() === thumbprint);
  return {
    kind: "certificate",
    description:
      `certificate ${thumbprint} (valid until ${validTo.toISOString()}) from ${origin}` +
      (registered && !isRegistered
        ? `; not one of the stack's registered thumbprints ${known.join(", ")}`
        : ""),
    secrets: [pem, ...pemSecrets(pem)],
    create: ({ tenantId, clientId, ...options }) =>
      new ClientCertificateCredential(tenantId, clientId, { certificate: pem }, options),
    explain(error, context) {
      const common = explainCommon(error, context);
      if (common) {
        return common;
      }
      const { brief, has } = parse(error);
      const stackHint = registered
        ? `the application holds ${known.join(" (current) and ")}${known.length > 1 ? " (previous)" : " (current)"}; `
        : "";
      if (has("AADSTS700027") && has("is expired", "key used is expired")) {
        return {
          cause: `authentication failed: certificate ${thumbprint} expired on ${validTo.toISOString()} (${brief})`,
          fix: "rotate it: pulumi up creates the next Key Vault version and registers it; consumers read the versionless URI",
        };
      }
      if (has("AADSTS700027") && has("not registered", "key was not found")) {
        return {
          cause: `authentication failed: certificate ${thumbprint} is not registered on application ${context.clientId} (${brief})`,
          fix:
            stackHint +
            "use the PEM of Key Vault's current version (the versionless secret URI), and run pulumi up if Key " +
            "Vault holds a version the application does not; a newly registered certificate can take a few " +
            "minutes to replicate",
        };
      }
      if (has("AADSTS700027")) {
        return {
          cause: `authentication failed: Entra ID could not verify the assertion signed with certificate ${thumbprint} (${brief})`,
          fix: "check that the PEM's private key belongs to its certificate (the file may mix two versions)",
        };
      }
      if (has("AADSTS700024")) {
        return {
          cause: `authentication failed: the signed assertion is outside its validity window (${brief})`,
          fix: "set this machine's clock right (NTP): @azure/identity signs assertions valid for ten minutes from now",
        };
      }
      return {
        cause: `authentication failed with certificate ${thumbprint}: ${brief}`,
        fix: "check the tenant ID, client ID and that the certificate is registered on the application",
      };
    },
  };
}

function parsePem(pem: string, origin: string): X509Certificate {
  const problem = (what: string) =>
    new VerifyUsageError(
      `${origin} is not usable as a client certificate: ${what}`,
      "give a PEM file with the unencrypted private key and the certificate, as Key Vault returns a PEM " +
        "certificate's secret (from a .pfx: openssl pkcs12 -in cert.pfx -out cert.pem -nodes)",
    );
  const certificateBlock = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(pem);
  if (certificateBlock === null) {
    throw problem("it holds no PEM certificate");
  }
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----/.test(pem)) {
    throw problem("its private key is encrypted");
  }
  if (!/-----BEGIN ([A-Z ]*)PRIVATE KEY-----/.test(pem)) {
    throw problem("it holds no private key");
  }
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(certificateBlock[0]);
    // The first certificate is the one @azure/identity takes the thumbprint of: its key must be this one.
    if (!certificate.checkPrivateKey(createPrivateKey(pem))) {
      throw problem("its private key does not belong to its (first) certificate");
    }
  } catch (error) {
    throw error instanceof VerifyUsageError ? error : problem("it could not be parsed");
  }
  return certificate;
}

/** A federated credential as the stack outputs describe it. */
export interface TrustedSubject {
  readonly issuer: string;
  readonly subject: string;
  readonly audience: string;
}

export function describeTrust(trust: TrustedSubject): string {
  return `issuer ${trust.issuer}, subject ${trust.subject}`;
}

/** What a token says about itself: the fields a federated credential must match. Not secret. */
interface TokenFacts {
  readonly issuer: string;
  readonly subject: string;
  readonly audiences: readonly string[];
  readonly expiresOn?: Date;
}

function factsOf(claims: Record<string, unknown>): TokenFacts {
  const aud = claims.aud;
  return {
    issuer: typeof claims.iss === "string" ? claims.iss : "(none)",
    subject: typeof claims.sub === "string" ? claims.sub : "(none)",
    audiences:
      typeof aud === "string" ? [aud] : Array.isArray(aud) ? aud.filter((a) => typeof a === "string") : [],
    expiresOn: typeof claims.exp === "number" ? new Date(claims.exp * 1000) : undefined,
  };
}

/**
 * `token`, the content of `file`, exchanged through the app's federated credentials
 * (`WorkloadIdentityCredential`, which reads the file itself, as in an AKS pod). `trusted` are the stack's
 * federated credentials, when known, to say which one a refused token missed.
 */
export function federatedCredential(
  token: string,
  file: string,
  origin: string,
  trusted: readonly TrustedSubject[],
): VerifyCredential {
  const claims = decodeJwtClaims(token);
  if (claims === undefined) {
    throw new VerifyUsageError(
      `the federated token file ${file} (${origin}) does not hold a JWT`,
      "write the external token itself to the file (three base64url parts separated by dots), nothing else",
    );
  }
  const facts = factsOf(claims);
  return {
    kind: "federated",
    description:
      `federated token from ${file} (issuer ${facts.issuer}, subject ${facts.subject}, audience ` +
      `${facts.audiences.join(", ") || "(none)"}${facts.expiresOn ? `, expires ${facts.expiresOn.toISOString()}` : ""})`,
    secrets: [token],
    create: ({ tenantId, clientId, ...options }) =>
      new WorkloadIdentityCredential({ ...options, tenantId, clientId, tokenFilePath: file }),
    explain: (error, context) =>
      explainCommon(error, context) ??
      explainExchange(error, context, facts, trusted, "the token in " + file),
  };
}

/** Why Entra ID refused to exchange an external token, from the token's own claims and the stack's trust. */
function explainExchange(
  error: unknown,
  context: TokenFailureContext,
  facts: TokenFacts | undefined,
  trusted: readonly TrustedSubject[],
  presented: string,
): Explanation {
  const { brief, has } = parse(error);
  const exact = "matching is exact and case-sensitive";
  const listed = (list: readonly TrustedSubject[]) =>
    list.length > 0
      ? `the app trusts ${list.map(describeTrust).join("; ")}`
      : `compare with the app's federated credentials (az ad app federated-credential list --id ${context.clientId})`;
  const forIssuer = trusted.filter((t) => facts !== undefined && t.issuer === facts.issuer);
  if (has("AADSTS70025")) {
    return {
      cause: `authentication failed: application ${context.clientId} has no federated credentials (${brief})`,
      fix: "check the client ID, and that the integration's credential is federated (pulumi up creates its credentials)",
    };
  }
  if (has("AADSTS700211")) {
    return {
      cause: `authentication failed: no federated credential trusts the issuer of ${presented}${facts ? `, ${facts.issuer}` : ""} (${brief})`,
      fix:
        `${listed(trusted)}; ${exact}, trailing slash included (an AKS cluster's issuer: az aks show --query ` +
        "oidcIssuerProfile.issuerUrl; GitHub's: https://token.actions.githubusercontent.com)",
    };
  }
  if (has("AADSTS700213", "AADSTS7002138")) {
    return {
      cause: `authentication failed: no federated credential matches the subject of ${presented}${facts ? `, ${facts.subject}` : ""} (${brief})`,
      fix:
        `${listed(forIssuer.length > 0 ? forIssuer : trusted)}; ${exact}. A GitHub job with environment: gets ` +
        "repo:<owner>/<repo>:environment:<name>, one without gets repo:<owner>/<repo>:ref:refs/heads/<branch>; " +
        "a Kubernetes pod gets system:serviceaccount:<namespace>:<service account>",
    };
  }
  if (has("AADSTS700212")) {
    return {
      cause:
        `authentication failed: ${presented} is for audience ${facts?.audiences.join(", ") || "(none)"}, ` +
        `not ${TOKEN_EXCHANGE_AUDIENCE} (${brief})`,
      fix:
        `request the token for audience ${TOKEN_EXCHANGE_AUDIENCE}: azure/login and ` +
        `core.getIDToken("${TOKEN_EXCHANGE_AUDIENCE}") do in GitHub Actions; in AKS the workload identity webhook ` +
        "projects such a token (a pod's default service account token has another audience)",
    };
  }
  if (has("AADSTS70021")) {
    return {
      cause: `authentication failed: no federated credential matches ${presented} (${brief})`,
      fix: `${listed(trusted)}; ${exact}; a new federated credential can take a few minutes to replicate`,
    };
  }
  if (has("AADSTS700024")) {
    return {
      cause:
        `authentication failed: ${presented} is expired or not yet valid` +
        (facts?.expiresOn ? ` (it expires ${facts.expiresOn.toISOString()})` : "") +
        ` (${brief})`,
      fix:
        "present a fresh token: workload tokens are short-lived (request GitHub's right before use; in AKS " +
        "the kubelet refreshes the projected file), and check this machine's clock",
    };
  }
  if (has("AADSTS7000272", "AADSTS50013")) {
    return {
      cause: `authentication failed: the signature of ${presented} does not verify with the keys its issuer publishes (${brief})`,
      fix:
        "check that the issuer's OpenID configuration and JWKS are current (a recreated cluster has a new " +
        "signing key; Entra ID caches issuer keys for a while) and that the token was not altered",
    };
  }
  if (has("AADSTS50166")) {
    return {
      cause: `authentication failed: Entra ID could not read the OpenID configuration of the issuer of ${presented} (${brief})`,
      fix: "the issuer's /.well-known/openid-configuration and JWKS must be reachable from the internet over https",
    };
  }
  if (has("AADSTS700222")) {
    return {
      cause: `authentication failed: ${presented} was issued by Entra ID to an app, which Entra ID never exchanges (${brief})`,
      fix: "present the workload's external token, or a managed identity's (--assertion-managed-identity-client-id)",
    };
  }
  return {
    cause: `authentication failed: ${brief}`,
    fix: `check the tenant ID, client ID and the app's federated credentials against ${presented}`,
  };
}

/** How the managed identity endpoint of this machine is reached, from the variables Azure sets. */
function identityEndpointOf(env: Env): string {
  if (env.IDENTITY_ENDPOINT && env.IDENTITY_HEADER) {
    return "the App Service / Functions / Container Apps identity endpoint (IDENTITY_ENDPOINT)";
  }
  if (env.AZURE_FEDERATED_TOKEN_FILE && env.AZURE_TENANT_ID) {
    return "AKS workload identity (AZURE_FEDERATED_TOKEN_FILE)";
  }
  return "the instance metadata service (IMDS), as on a VM";
}

/** Why a managed identity gave no token. */
function explainManagedIdentity(error: unknown, clientId: string, endpoint: string): Explanation | undefined {
  const { name, brief, has } = parse(error);
  if (has("Unable to load the proper Managed Identity")) {
    return {
      cause:
        `no token from managed identity ${clientId}: it is not assigned to this resource (${endpoint} ` +
        'answered "Unable to load the proper Managed Identity.")',
      fix:
        "assign the user-assigned identity to the resource verify runs on (Function App > Identity > User " +
        "assigned), and check the client ID (stack output managedIdentity.clientId; its principal ID differs)",
    };
  }
  if (
    name === "TimeoutError" ||
    has("Network unreachable", "network_error", "ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH")
  ) {
    return {
      cause: `no token from managed identity ${clientId}: no managed identity endpoint answered here (${endpoint})`,
      fix:
        "run verify on the Azure resource the identity is assigned to (the Function App's SSH or Kudu console, " +
        "a VM, an AKS pod with workload identity); a managed identity has no credential that works elsewhere",
    };
  }
  if (has("ManagedIdentityCredential")) {
    return {
      cause: `no token from managed identity ${clientId} through ${endpoint}: ${brief}`,
      fix: "check that the identity is assigned to this resource and that the Smartspace app client ID is right",
    };
  }
  return undefined;
}

const MANAGED_IDENTITY_ROLE_NOTE =
  "Entra ID caches managed identity tokens for up to 24 hours, so a role assignment made since the " +
  "identity's last token can take that long to appear";

/** A managed identity as the principal (`ManagedIdentityCredential`): it holds the role and the grants. */
export function managedIdentityCredential(clientId: string, env: Env): VerifyCredential {
  const endpoint = identityEndpointOf(env);
  return {
    kind: "managedIdentity",
    description: `managed identity ${clientId} through ${endpoint}`,
    secrets: env.IDENTITY_HEADER ? [env.IDENTITY_HEADER] : [],
    // The identity's tokens come from the machine's endpoint, not from the authority: no authority options.
    create: ({ retryOptions, loggingOptions }) =>
      new ManagedIdentityCredential({ clientId, retryOptions, loggingOptions }),
    explain: (error, context) =>
      explainManagedIdentity(error, clientId, endpoint) ??
      explainCommon(error, context) ?? {
        cause: `no token from managed identity ${clientId}: ${parse(error).brief}`,
        fix: "check that the identity is assigned to the resource verify runs on",
      },
    roleNote: MANAGED_IDENTITY_ROLE_NOTE,
  };
}

/** Raised (as the token step's failure) when the managed identity gave no assertion. */
class AssertionSourceError extends Error {
  constructor(readonly source: unknown) {
    super(source instanceof Error ? source.message : String(source));
    this.name = "AssertionSourceError";
  }
}

/**
 * An app that trusts a managed identity: the identity's token for `api://AzureADTokenExchange` is the
 * client assertion (`ClientAssertionCredential` fed by `ManagedIdentityCredential`).
 */
export function managedIdentityAssertionCredential(
  managedIdentityClientId: string,
  trusted: readonly TrustedSubject[],
  env: Env,
): VerifyCredential {
  const endpoint = identityEndpointOf(env);
  let facts: TokenFacts | undefined;
  return {
    kind: "managedIdentityAssertion",
    description: `client assertion from managed identity ${managedIdentityClientId} (its token for ${TOKEN_EXCHANGE_AUDIENCE}, through ${endpoint})`,
    secrets: env.IDENTITY_HEADER ? [env.IDENTITY_HEADER] : [],
    create({ tenantId, clientId, ...options }, remember) {
      const identity = new ManagedIdentityCredential({
        clientId: managedIdentityClientId,
        retryOptions: options.retryOptions,
        loggingOptions: options.loggingOptions,
      });
      let sourceFailure: AssertionSourceError | undefined;
      const app = new ClientAssertionCredential(
        tenantId,
        clientId,
        async () => {
          try {
            const { token } = await identity.getToken(`${TOKEN_EXCHANGE_AUDIENCE}/.default`);
            remember(token);
            const claims = decodeJwtClaims(token);
            facts = claims ? factsOf(claims) : undefined;
            return token;
          } catch (error) {
            sourceFailure = new AssertionSourceError(error);
            throw sourceFailure;
          }
        },
        options,
      );
      // MSAL wraps what the callback throws; the identity's own failure is the one to explain.
      const credential: TokenCredential = {
        getToken: async (scopes, getTokenOptions) => {
          try {
            return await app.getToken(scopes, getTokenOptions);
          } catch (error) {
            throw sourceFailure ?? error;
          }
        },
      };
      return credential;
    },
    explain(error, context) {
      if (error instanceof AssertionSourceError) {
        return (
          explainManagedIdentity(error.source, managedIdentityClientId, endpoint) ?? {
            cause: `no assertion from managed identity ${managedIdentityClientId}: ${parse(error.source).brief}`,
            fix: "check that the identity is assigned to the resource verify runs on",
          }
        );
      }
      return (
        explainCommon(error, context) ??
        explainExchange(error, context, facts, trusted, `managed identity ${managedIdentityClientId}'s token`)
      );
    },
  };
}
