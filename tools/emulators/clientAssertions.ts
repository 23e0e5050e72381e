/**
 * What Entra ID checks when a client authenticates with a signed assertion instead of a secret, for the
 * tenant emulator: certificate assertions signed by the app itself (`iss` = `sub` = its client ID), and
 * federated assertions (a token from an external issuer the app trusts through a federated identity
 * credential). Each failure answers with the code and wording Entra ID uses, so that a wrong wiring fails
 * here as it would in Azure.
 *
 * Sources: Microsoft Learn, "Certificate credentials" (assertion format) and "Workload identity federation
 * considerations" (exact, case-sensitive matching); the AADSTS texts are those Entra ID returns, as quoted in
 * Azure/login, Azure/azure-workload-identity and MSAL issues; ../shared/entra-notes.md.
 */
import { createHash, type KeyObject, randomUUID, X509Certificate } from "node:crypto";
import { type DecodedJwt, type JwtClaims, verifyJwt } from "./jwt";
import type { RouteResult } from "./smartspaceEmulator";

export const CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/** A federated identity credential of an application, as Microsoft Graph holds it. */
export interface FederatedCredential {
  readonly issuer: string;
  readonly subject: string;
  /** Graph allows one value; Entra ID requires the token's `aud` to contain it. */
  readonly audiences: readonly string[];
}

/** A certificate registered on an application (a `keyCredential`): only its public part. */
export interface RegisteredCertificate {
  /** Hex SHA-1 of the DER certificate, upper case, as the portal and Entra ID's errors show it. */
  readonly thumbprint: string;
  readonly thumbprintSha256: string;
  readonly publicKey: KeyObject;
  /** The key credential's start and end, taken from the certificate as Graph does by default. */
  readonly startDateTime: Date;
  readonly endDateTime: Date;
}

/** The public part of a PEM certificate, as `az ad app credential reset --cert` would register it. */
export function registerCertificate(pem: string): RegisteredCertificate {
  const certificate = new X509Certificate(pem);
  return {
    thumbprint: createHash("sha1").update(certificate.raw).digest("hex").toUpperCase(),
    thumbprintSha256: createHash("sha256").update(certificate.raw).digest("hex").toUpperCase(),
    publicKey: certificate.publicKey,
    startDateTime: new Date(certificate.validFrom),
    endDateTime: new Date(certificate.validTo),
  };
}

export interface CertificateAssertionContext {
  readonly clientId: string;
  readonly certificates: readonly RegisteredCertificate[];
  /** The token endpoint the assertion must be addressed to (its `aud`). */
  readonly tokenEndpoint: string;
  readonly now: Date;
}

/**
 * Checks an assertion the client signed with a certificate (header `x5t#S256`, or `x5t` for older clients):
 * registered key, unexpired key, signature, `iss` = `sub` = client ID, `aud` = the token endpoint, and the
 * validity window. Undefined when Entra ID would accept it.
 */
export function checkCertificateAssertion(
  jwt: DecodedJwt,
  context: CertificateAssertionContext,
): RouteResult | undefined {
  const { header, claims } = jwt;
  const sha256 = typeof header["x5t#S256"] === "string" ? hexOf(header["x5t#S256"]) : undefined;
  const sha1 = typeof header.x5t === "string" ? hexOf(header.x5t) : undefined;
  const presented = sha256 ?? sha1 ?? "";
  const certificate = context.certificates.find((c) =>
    sha256 !== undefined ? c.thumbprintSha256 === sha256 : c.thumbprint === sha1,
  );
  if (certificate === undefined) {
    return entraError(
      401,
      "invalid_client",
      700027,
      "The certificate with identifier used to sign the client assertion is not registered on application. " +
        `[Reason - The key was not found., Thumbprint of key used by client: '${presented}', Please visit ` +
        "the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id " +
        `'${context.clientId}'.]`,
    );
  }
  const found = `Found key 'Start=${graphDate(certificate.startDateTime)}, End=${graphDate(certificate.endDateTime)}'`;
  if (context.now.getTime() > certificate.endDateTime.getTime()) {
    return entraError(
      401,
      "invalid_client",
      700027,
      `Client assertion contains an invalid signature. [Reason - The key used is expired., Thumbprint of key used by client: '${presented}', ${found}]`,
    );
  }
  if (!verifyJwt(jwt, certificate.publicKey)) {
    return entraError(
      401,
      "invalid_client",
      700027,
      "Client assertion contains an invalid signature. [Reason - The provided signature value did not match " +
        `the expected signature value., Thumbprint of key used by client: '${presented}', ${found}]`,
    );
  }
  if (claims.iss !== context.clientId || claims.sub !== context.clientId) {
    return entraError(
      401,
      "invalid_client",
      700021,
      "Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation " +
        "at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
    );
  }
  if (claims.aud !== context.tokenEndpoint) {
    return entraError(
      401,
      "invalid_client",
      700023,
      "Client assertion audience claim does not match Realm issuer. Review the documentation at " +
        "https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
    );
  }
  return checkValidity(claims, context.now);
}

export interface FederatedAssertionContext {
  readonly clientId: string;
  readonly displayName: string;
  readonly credentials: readonly FederatedCredential[];
  /** This tenant's own issuer: its tokens may be exchanged only when a managed identity holds them. */
  readonly tenantIssuer: string;
  /**
   * The key `issuer` publishes under `kid` (from its OpenID configuration and JWKS); `undefined` when it
   * publishes none such; "unreachable" when its metadata cannot be read.
   */
  readonly keyOf: (issuer: string, kid: unknown) => KeyObject | "unreachable" | undefined;
  /** Whether a token of this tenant was issued to a managed identity. */
  readonly isManagedIdentityToken: (claims: JwtClaims) => boolean;
  readonly now: Date;
}

/**
 * Checks a token from an external issuer presented as the client assertion: a federated credential for its
 * issuer, the issuer's signature, the validity window, then a credential matching issuer and subject and
 * audience exactly (case-sensitive). Undefined when Entra ID would accept it.
 */
export function checkFederatedAssertion(
  jwt: DecodedJwt,
  context: FederatedAssertionContext,
): RouteResult | undefined {
  const { claims } = jwt;
  if (context.credentials.length === 0) {
    return entraError(
      401,
      "invalid_client",
      70025,
      `The client '${context.clientId}'(${context.displayName}) has no configured federated identity credentials.`,
    );
  }
  const issuer = typeof claims.iss === "string" ? claims.iss : "";
  const subject = typeof claims.sub === "string" ? claims.sub : "";
  const audiences =
    typeof claims.aud === "string" ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud : [];
  const check =
    "Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation";
  const byIssuer = context.credentials.filter((credential) => credential.issuer === issuer);
  if (byIssuer.length === 0) {
    return entraError(
      401,
      "invalid_client",
      700211,
      `No matching federated identity record found for presented assertion issuer '${issuer}'. ${check}`,
    );
  }
  if (issuer === context.tenantIssuer && !context.isManagedIdentityToken(claims)) {
    return entraError(
      401,
      "invalid_client",
      700222,
      "AAD-issued tokens may not be used for federated identity flows.",
    );
  }
  const key = context.keyOf(issuer, jwt.header.kid);
  if (key === "unreachable") {
    return entraError(
      400,
      "invalid_request",
      50166,
      `Request to External OIDC endpoint failed. Issuer: '${issuer}'.`,
    );
  }
  if (key === undefined) {
    return entraError(
      401,
      "invalid_client",
      7000272,
      `The certificate with identifier ${String(jwt.header.kid)} used to sign the federated credential could ` +
        `not be found in the metadata of identity provider ${issuer}. Please validate that your Identity ` +
        "Provider's metadata exposes the key used to sign the incoming token.",
    );
  }
  if (!verifyJwt(jwt, key)) {
    return entraError(
      401,
      "invalid_client",
      50013,
      "Assertion failed signature validation. [Reason - The provided signature value did not match the expected signature value.]",
    );
  }
  const expired = checkValidity(claims, context.now);
  if (expired) {
    return expired;
  }
  const bySubject = byIssuer.filter((credential) => credential.subject === subject);
  if (bySubject.length === 0) {
    // Since 2024-08 matching is case-sensitive; Entra ID says so when only the case differs.
    const caseOnly = byIssuer.some(
      (credential) => credential.subject.toLowerCase() === subject.toLowerCase(),
    );
    return caseOnly
      ? entraError(
          401,
          "invalid_client",
          7002138,
          `No matching federated identity record found for presented assertion subject '${subject}'. The subject ` +
            `matches with case-insensitive comparison, but not with case-sensitive comparison. ${check}`,
        )
      : entraError(
          401,
          "invalid_client",
          700213,
          `No matching federated identity record found for presented assertion subject '${subject}'. ${check}`,
        );
  }
  if (
    !bySubject.some((credential) => credential.audiences.some((audience) => audiences.includes(audience)))
  ) {
    return entraError(
      401,
      "invalid_client",
      700212,
      `No matching federated identity record found for presented assertion audience '${audiences.join(", ")}'. ${check}`,
    );
  }
  return undefined;
}

/** `nbf` and `exp`: a token from a clock up to five minutes ahead is accepted, an expired one never. */
function checkValidity(claims: JwtClaims, now: Date): RouteResult | undefined {
  const seconds = now.getTime() / 1000;
  const exp = typeof claims.exp === "number" ? claims.exp : undefined;
  const nbf = typeof claims.nbf === "number" ? claims.nbf : 0;
  if (exp === undefined || exp <= seconds || nbf > seconds + 300) {
    return entraError(
      401,
      "invalid_client",
      700024,
      `Client assertion is not within its valid time range. Current time: ${entraTime(now)}, assertion valid ` +
        `from ${entraTime(new Date(nbf * 1000))}, expiry time of assertion ${entraTime(new Date((exp ?? 0) * 1000))}. ` +
        "Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
    );
  }
  return undefined;
}

/** An error body shaped like Entra ID's (AADSTS code, trace and correlation IDs). */
export function entraError(status: number, error: string, code: number, description: string): RouteResult {
  const traceId = randomUUID();
  const correlationId = randomUUID();
  const timestamp = new Date()
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, "Z");
  return {
    status,
    body: {
      error,
      error_description: `AADSTS${code}: ${description} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
      error_codes: [code],
      timestamp,
      trace_id: traceId,
      correlation_id: correlationId,
      error_uri: `https://login.microsoftonline.com/error?code=${code}`,
    },
  };
}

function hexOf(base64url: string): string {
  return Buffer.from(base64url, "base64url").toString("hex").toUpperCase();
}

/** 2024-10-02T22:05:03.6755165Z: seven fractional digits, as Entra ID writes times. */
function entraTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, ".$10000Z");
}

/** 02/07/2021 17:00:39, as Entra ID writes a key's dates. */
function graphDate(date: Date): string {
  const iso = date.toISOString();
  return `${iso.slice(5, 7)}/${iso.slice(8, 10)}/${iso.slice(0, 4)} ${iso.slice(11, 19)}`;
}
