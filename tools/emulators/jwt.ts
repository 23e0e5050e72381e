/**
 * Compact JWS for the emulators: signing and checking tokens the way Entra ID and an OpenID Connect issuer
 * (GitHub Actions, an AKS cluster) do, and a fake issuer the tenant emulator serves, whose tokens stand in
 * for a workload's external token in federated credential exchanges.
 */
import { constants, generateKeyPairSync, type KeyObject, randomUUID, sign, verify } from "node:crypto";

export type JwtClaims = Record<string, unknown>;

export interface DecodedJwt {
  readonly header: Record<string, unknown>;
  readonly claims: JwtClaims;
  /** `<header>.<payload>` as sent: what the signature covers. */
  readonly signingInput: string;
  readonly signature: Buffer;
}

/** Splits and decodes a compact JWS without checking it; undefined if it is not one. */
export function decodeJwt(token: string): DecodedJwt | undefined {
  const parts = token.split(".");
  if (parts.length !== 3) {
    return undefined;
  }
  try {
    const header: unknown = JSON.parse(Buffer.from(parts[0], "base64url").toString("utf8"));
    const claims: unknown = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
    if (!isObject(header) || !isObject(claims)) {
      return undefined;
    }
    return {
      header,
      claims,
      signingInput: `${parts[0]}.${parts[1]}`,
      signature: Buffer.from(parts[2], "base64url"),
    };
  } catch {
    return undefined;
  }
}

/** Signs `claims` with RS256 under `kid`, as Entra ID and OIDC issuers sign their tokens. */
export function signJwt(claims: JwtClaims, key: KeyObject, kid: string): string {
  const header = { alg: "RS256", typ: "JWT", kid };
  const signingInput = `${base64urlJson(header)}.${base64urlJson(claims)}`;
  return `${signingInput}.${sign("sha256", Buffer.from(signingInput), key).toString("base64url")}`;
}

/**
 * Whether `jwt`'s signature verifies with `key` under its `alg`: RS256, or PS256 (RSA-PSS with SHA-256 and a
 * 32-byte salt, RFC 7518 section 3.5), which msal-node uses for certificate assertions. Other algorithms fail.
 */
export function verifyJwt(jwt: DecodedJwt, key: KeyObject): boolean {
  const data = Buffer.from(jwt.signingInput);
  try {
    switch (jwt.header.alg) {
      case "RS256":
        return verify("sha256", data, key, jwt.signature);
      case "PS256":
        return verify(
          "sha256",
          data,
          { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
          jwt.signature,
        );
      default:
        return false;
    }
  } catch {
    return false;
  }
}

export function base64urlJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

export interface MintOptions {
  readonly subject: string;
  /** One audience or several (Kubernetes tokens carry a list). */
  readonly audience: string | readonly string[];
  /** Default: now. */
  readonly issuedAt?: Date;
  /** Default 600 s (GitHub's and a projected service-account token's order of magnitude). */
  readonly lifetimeSeconds?: number;
  readonly extraClaims?: JwtClaims;
}

/**
 * An OpenID Connect issuer of workload tokens (the part of GitHub Actions or an AKS cluster that Entra ID
 * trusts through a federated credential): a signing key, its discovery document and JWKS. The tenant
 * emulator serves both documents and checks external tokens against exactly what it serves.
 */
export class OidcIssuer {
  /** Every token minted, so tests can prove none was printed. */
  readonly minted: string[] = [];
  private keys: { readonly kid: string; readonly privateKey: KeyObject; readonly publicKey: KeyObject }[] =
    [];

  /**
   * @param issuer the `iss` of its tokens, exactly (a trailing slash, as AKS issuers have, is part of it)
   * @param keysUri where its JWKS is served
   */
  constructor(
    readonly issuer: string,
    readonly keysUri: string,
  ) {
    this.rotateKey();
  }

  /** A signed token for `subject` and `audience`. */
  mint(options: MintOptions): string {
    const issuedAt = Math.floor((options.issuedAt ?? new Date()).getTime() / 1000);
    const claims: JwtClaims = {
      iss: this.issuer,
      sub: options.subject,
      aud: typeof options.audience === "string" ? options.audience : [...options.audience],
      iat: issuedAt,
      nbf: issuedAt,
      exp: issuedAt + (options.lifetimeSeconds ?? 600),
      jti: randomUUID(),
      ...options.extraClaims,
    };
    const current = this.keys[0];
    const token = signJwt(claims, current.privateKey, current.kid);
    this.minted.push(token);
    return token;
  }

  /**
   * Signs with a new key from now on and publishes only that one, as an issuer that rotated its keys (or a
   * cluster recreated with a new service-account key): tokens signed before fail Entra's signature check.
   */
  rotateKey(): void {
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    this.keys = [{ kid: randomUUID(), privateKey, publicKey }];
  }

  /** The public key published under `kid`, if any. */
  publicKey(kid: unknown): KeyObject | undefined {
    return this.keys.find((key) => key.kid === kid)?.publicKey;
  }

  /** `/.well-known/openid-configuration`, with the fields Entra ID reads. */
  discovery(): Record<string, unknown> {
    return {
      issuer: this.issuer,
      jwks_uri: this.keysUri,
      response_types_supported: ["id_token"],
      subject_types_supported: ["public", "pairwise"],
      id_token_signing_alg_values_supported: ["RS256"],
    };
  }

  jwks(): { keys: Record<string, unknown>[] } {
    return {
      keys: this.keys.map(({ kid, publicKey }) => ({
        ...publicKey.export({ format: "jwk" }),
        kid,
        use: "sig",
        alg: "RS256",
      })),
    };
  }
}
