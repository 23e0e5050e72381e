/**
 * Which credential a run of verify uses: exactly one command-line flag in explicit mode; in stack mode the
 * integration's `credentialType` output (stacks deployed before credential modes have none and use a client
 * secret), with the secret or certificate read from Key Vault unless a flag that fits the type supplies it.
 * ./credentials.ts turns the chosen source into the `@azure/identity` credential.
 */
import { readFile } from "node:fs/promises";
import { z } from "zod";
import {
  firstLine,
  type Redactor,
  seconds,
  type VerifyCredential,
  VerifyUsageError,
  withTimeout,
} from "./engine";
import {
  certificateCredential,
  describeTrust,
  type Env,
  federatedCredential,
  managedIdentityAssertionCredential,
  managedIdentityCredential,
  pemSecrets,
  secretCredential,
} from "./credentials";
import { GUID } from "../../rules/ids";

export type { Env };

/** The command-line options that name a credential source; at most one per run. */
export interface CredentialFlags {
  readonly clientSecretEnv?: string;
  readonly certificatePath?: string;
  readonly federatedTokenFile?: string;
  readonly managedIdentityClientId?: string;
  readonly assertionManagedIdentityClientId?: string;
}

export const CREDENTIAL_FLAGS = [
  ["clientSecretEnv", "--client-secret-env"],
  ["certificatePath", "--certificate-path"],
  ["federatedTokenFile", "--federated-token-file"],
  ["managedIdentityClientId", "--managed-identity-client-id"],
  ["assertionManagedIdentityClientId", "--assertion-managed-identity-client-id"],
] as const satisfies readonly (readonly [keyof CredentialFlags, string])[];

const FLAG_LIST = CREDENTIAL_FLAGS.map(([, flag]) => flag).join(", ");

export interface KeyVaultSecret {
  readonly value: string;
  readonly version?: string;
  readonly expiresOn?: Date;
  /** `application/x-pem-file` for a certificate created with a PEM policy. */
  readonly contentType?: string;
}

/**
 * Reads the current version of a Key Vault secret given its (versionless) URI. The CLI gives up when
 * `abortSignal` fires (after the look-up timeout) whether or not the reader stops.
 */
export type SecretReader = (
  secretUri: string,
  options: { readonly abortSignal: AbortSignal },
) => Promise<KeyVaultSecret>;

export interface SourceDeps {
  readonly env: Env;
  readonly redactor: Redactor;
  readonly readSecret: SecretReader;
  readonly lookupMs: number;
}

/** The flags given, as `[key, flag]` pairs. */
function givenFlags(flags: CredentialFlags) {
  return CREDENTIAL_FLAGS.filter(([key]) => flags[key] !== undefined);
}

/**
 * The credential of an explicit-mode run: exactly one flag names it. Resolves with the client ID to use as
 * well, which for a managed identity as the principal is the identity's.
 */
export async function explicitCredential(
  flags: CredentialFlags,
  clientId: string | undefined,
  deps: Pick<SourceDeps, "env" | "redactor">,
): Promise<{ readonly credential: VerifyCredential; readonly clientId: string | undefined }> {
  const given = givenFlags(flags);
  if (given.length === 0) {
    throw new VerifyUsageError(
      "no credential given",
      `give exactly one of ${FLAG_LIST} (see --help), or name a stack with --stack and --integration`,
    );
  }
  onlyOne(given);
  const [key, flag] = given[0];
  const value = flags[key]!;
  switch (key) {
    case "clientSecretEnv":
      return { credential: secretCredential(secretFromEnv(value, deps), `$${value}`), clientId };
    case "certificatePath":
      return { credential: certificateCredential(await readPemFile(value, deps.redactor), value), clientId };
    case "federatedTokenFile":
      return { credential: await federatedFromFile(value, flag, deps.redactor, []), clientId };
    case "assertionManagedIdentityClientId":
      return { credential: managedIdentityAssertionCredential(guid(value, flag), [], deps.env), clientId };
    case "managedIdentityClientId":
      if (clientId !== undefined && clientId.toLowerCase() !== value.toLowerCase()) {
        throw new VerifyUsageError(
          `--client-id ${clientId} differs from --managed-identity-client-id ${value}`,
          "drop --client-id: a managed identity authenticates as itself, so its client ID is the client ID",
        );
      }
      return { credential: managedIdentityCredential(guid(value, flag), deps.env), clientId: value };
  }
}

/** What verify reads of an `integrations.<name>` stack output to choose the credential. */
export const integrationCredentialSchema = z.looseObject({
  // Stacks deployed before credential modes existed export no credentialType: they use a client secret.
  credentialType: z.string().optional(),
  clientId: z.string(),
  // Certificate and federated integrations with readers have the client and tenant ID secrets only.
  keyVaultSecretUris: z.looseObject({ clientSecret: z.string().optional() }).optional(),
  certificate: z
    .looseObject({
      secretUri: z.string(),
      // Only explanations use these, so their shape must not fail a run (e.g. a secret output).
      thumbprints: z
        .looseObject({ current: z.string(), previous: z.string().optional() })
        .optional()
        .catch(undefined),
    })
    .optional(),
  federatedCredentials: z
    .record(z.string(), z.looseObject({ issuer: z.string(), subject: z.string(), audience: z.string() }))
    .optional()
    .catch(undefined),
  managedIdentity: z.looseObject({ clientId: z.string() }).optional(),
});
export type IntegrationCredentialOutput = z.infer<typeof integrationCredentialSchema>;

const KNOWN_TYPES = ["secret", "certificate", "federated", "managedIdentity"] as const;

/** Stack output paths (below `integrations.<name>`) verify reads for `credentialType` (raw, maybe absent). */
export function credentialOutputPaths(credentialType: unknown): readonly (readonly string[])[] {
  switch (credentialType) {
    case "certificate":
      return [["credentialType"], ["certificate", "secretUri"]];
    case "federated":
      return [["credentialType"], ["federatedCredentials"]];
    case "managedIdentity":
      return [["credentialType"], ["managedIdentity", "clientId"]];
    default:
      return [["credentialType"], ["keyVaultSecretUris", "clientSecret"]];
  }
}

/**
 * The credential of a stack-mode run, chosen by the integration's `credentialType`. A flag may supply it
 * (the runner holds the PEM, or the external token), but only one that fits the type.
 */
export async function stackCredential(
  integration: IntegrationCredentialOutput,
  flags: CredentialFlags,
  names: { readonly stack: string; readonly integration: string },
  deps: SourceDeps,
): Promise<{ readonly credential: VerifyCredential; readonly clientId: string }> {
  const type = integration.credentialType ?? "secret";
  const where = `integration ${names.integration} in stack ${names.stack}`;
  if (!(KNOWN_TYPES as readonly string[]).includes(type)) {
    throw new VerifyUsageError(
      `${where} has credentialType "${type}", which this version of verify does not know`,
      `update this checkout, or use the explicit options (${FLAG_LIST})`,
    );
  }
  const given = givenFlags(flags);
  onlyOne(given);
  const fitting: Record<string, readonly string[]> = {
    secret: ["clientSecretEnv"],
    certificate: ["certificatePath"],
    federated: ["federatedTokenFile", "assertionManagedIdentityClientId"],
    managedIdentity: [],
  };
  const [flagKey, flag] = given[0] ?? [];
  if (flagKey !== undefined && !fitting[type].includes(flagKey)) {
    throw new VerifyUsageError(
      `${flag} does not fit ${where}: its credentialType is ${type}`,
      type === "managedIdentity"
        ? `drop ${flag}: verify authenticates as the identity the stack names (managedIdentity.clientId), which ` +
            "needs to run where that identity is assigned"
        : `drop ${flag}${fitting[type].length > 0 ? `, or use ${fitting[type].map(flagOf).join(" or ")}` : ""}`,
    );
  }
  const outputs = `stack ${names.stack} output integrations.${names.integration}`;
  const missing = (path: string) =>
    new VerifyUsageError(
      `${outputs} has no ${path}`,
      "run pulumi up with this version of the project so the outputs are current, or use the explicit options",
    );
  const value = flagKey !== undefined ? flags[flagKey]! : undefined;
  switch (type) {
    case "secret": {
      if (value !== undefined) {
        return {
          credential: secretCredential(secretFromEnv(value, deps), `$${value}`),
          clientId: integration.clientId,
        };
      }
      const uri = integration.keyVaultSecretUris?.clientSecret;
      if (uri === undefined) {
        throw missing("keyVaultSecretUris.clientSecret");
      }
      const secret = await readKeyVault(uri, "the client secret", deps);
      return {
        credential: secretCredential(secret.value, `Key Vault ${uri}${versionNote(secret)}`),
        clientId: integration.clientId,
      };
    }
    case "certificate": {
      const registered = integration.certificate?.thumbprints;
      if (value !== undefined) {
        return {
          credential: certificateCredential(await readPemFile(value, deps.redactor), value, registered),
          clientId: integration.clientId,
        };
      }
      const uri = integration.certificate?.secretUri;
      if (uri === undefined) {
        throw missing("certificate.secretUri");
      }
      const secret = await readKeyVault(uri, "the certificate", deps);
      rememberPem(secret.value, deps.redactor);
      if (secret.contentType !== undefined && secret.contentType !== "application/x-pem-file") {
        throw new VerifyUsageError(
          `Key Vault ${uri} holds the certificate as ${secret.contentType}, not as a PEM file`,
          "the stack creates its certificates with content type application/x-pem-file: check that this is " +
            "the stack's certificate, or export it as PEM and pass --certificate-path",
        );
      }
      return {
        credential: certificateCredential(secret.value, `Key Vault ${uri}${versionNote(secret)}`, registered),
        clientId: integration.clientId,
      };
    }
    case "federated": {
      const trusted = Object.values(integration.federatedCredentials ?? {});
      if (flagKey === "assertionManagedIdentityClientId") {
        return {
          credential: managedIdentityAssertionCredential(guid(value!, flag!), trusted, deps.env),
          clientId: integration.clientId,
        };
      }
      const file = value ?? deps.env.AZURE_FEDERATED_TOKEN_FILE;
      if (file === undefined || file === "") {
        throw new VerifyUsageError(
          `${where} is federated: verify needs the external token its workload presents` +
            (trusted.length > 0 ? ` (the app trusts ${trusted.map(describeTrust).join("; ")})` : ""),
          "pass --federated-token-file <file> or set AZURE_FEDERATED_TOKEN_FILE (as in an AKS pod with workload " +
            "identity, or a GitHub workflow that wrote its OIDC token to a file), or, where a managed identity " +
            "the app trusts is assigned, pass --assertion-managed-identity-client-id <its client ID>",
        );
      }
      const origin = value !== undefined ? (flag as string) : "AZURE_FEDERATED_TOKEN_FILE";
      return {
        credential: await federatedFromFile(file, origin, deps.redactor, trusted),
        clientId: integration.clientId,
      };
    }
    default: {
      const clientId = integration.managedIdentity?.clientId;
      if (clientId === undefined) {
        throw missing("managedIdentity.clientId");
      }
      return {
        credential: managedIdentityCredential(guid(clientId, "managedIdentity.clientId"), deps.env),
        clientId,
      };
    }
  }
}

function onlyOne(given: readonly (readonly [keyof CredentialFlags, string])[]): void {
  if (given.length > 1) {
    throw new VerifyUsageError(
      `give one credential per run, not ${given.map(([, flag]) => flag).join(" and ")}`,
      "keep the one the integration uses; run verify again for another",
    );
  }
}

function flagOf(key: string): string {
  return CREDENTIAL_FLAGS.find(([candidate]) => candidate === key)![1];
}

function guid(value: string, what: string): string {
  if (!GUID.test(value)) {
    throw new VerifyUsageError(
      `${what} "${value}" is not a client ID`,
      "give the managed identity's client ID, a GUID such as 00000000-0000-0000-0000-000000000000 " +
        "(its principal/object ID is a different GUID)",
    );
  }
  return value;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function secretFromEnv(name: string, deps: Pick<SourceDeps, "env" | "redactor">): string {
  if (!ENV_NAME.test(name)) {
    // Whatever was given may well be the secret itself: never repeat it.
    deps.redactor.add(name);
    throw new VerifyUsageError(
      "--client-secret-env takes the NAME of an environment variable (letters, digits, underscores), not the secret",
      "export the secret in a variable, e.g. SMARTSPACE_CLIENT_SECRET, and pass --client-secret-env SMARTSPACE_CLIENT_SECRET",
    );
  }
  const value = deps.env[name];
  if (value === undefined || value.length === 0) {
    throw new VerifyUsageError(
      `environment variable ${name} (from --client-secret-env) is not set or empty`,
      `export ${name} with the client secret (e.g. from Key Vault), or use --stack to read it from Key Vault`,
    );
  }
  deps.redactor.add(value);
  return value;
}

async function readKeyVault(uri: string, what: string, deps: SourceDeps): Promise<KeyVaultSecret> {
  let secret: KeyVaultSecret;
  try {
    secret = await withTimeout((abortSignal) => deps.readSecret(uri, { abortSignal }), deps.lookupMs);
  } catch (error) {
    if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) {
      throw new VerifyUsageError(
        `Key Vault gave no answer within ${seconds(deps.lookupMs)} when asked for ${what} (${uri})`,
        `check network access to ${hostOf(uri)} (firewall, private endpoint, proxy) and your Azure ` +
          "sign-in (az login): DefaultAzureCredential can wait on a credential source that never answers; " +
          "or use the explicit options",
      );
    }
    throw new VerifyUsageError(
      `could not read ${what} from Key Vault (${uri}): ${firstLine(error)}`,
      `sign in (az login) as an identity with the Key Vault Secrets User role on this secret ` +
        "(the integration's readers), or use the explicit options",
    );
  }
  deps.redactor.add(secret.value);
  return secret;
}

function versionNote(secret: KeyVaultSecret): string {
  const expiry = secret.expiresOn ? `expires ${secret.expiresOn.toISOString()}` : "";
  if (secret.version) {
    return ` (version ${secret.version}${expiry ? `, ${expiry}` : ""})`;
  }
  return expiry ? ` (${expiry})` : "";
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

async function readPemFile(path: string, redactor: Redactor): Promise<string> {
  let pem: string;
  try {
    pem = await readFile(path, "utf8");
  } catch (error) {
    throw new VerifyUsageError(
      `could not read --certificate-path ${path}: ${firstLine(error)}`,
      "give the path of a PEM file holding the private key and the certificate (Key Vault's secret of the certificate)",
    );
  }
  rememberPem(pem, redactor);
  return pem;
}

/** Adds a PEM's private keys to the redactor: each block, its body in one piece, and each of its lines. */
function rememberPem(pem: string, redactor: Redactor): void {
  for (const secret of pemSecrets(pem)) {
    redactor.add(secret);
  }
}

/** The external token in `path`, exchanged through the app's federated credentials. */
async function federatedFromFile(
  path: string,
  origin: string,
  redactor: Redactor,
  trusted: Parameters<typeof federatedCredential>[3],
): Promise<VerifyCredential> {
  return federatedCredential(await readTokenFile(path, origin, redactor), path, origin, trusted);
}

async function readTokenFile(path: string, origin: string, redactor: Redactor): Promise<string> {
  let token: string;
  try {
    token = (await readFile(path, "utf8")).trim();
  } catch (error) {
    throw new VerifyUsageError(
      `could not read the federated token file ${path} (${origin}): ${firstLine(error)}`,
      "give the file holding the workload's external token (in AKS, the projected service account token " +
        "AZURE_FEDERATED_TOKEN_FILE names; in GitHub Actions, the OIDC token the job requested)",
    );
  }
  redactor.add(token);
  return token;
}
