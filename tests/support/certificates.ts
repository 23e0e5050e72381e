/**
 * Client certificates for the tests, made once per process: a PEM holding the private key and the
 * certificate, as Key Vault's secret of a certificate with content type application/x-pem-file holds it.
 */
import { createHash, constants, createPrivateKey, sign, X509Certificate } from "node:crypto";
import { generate } from "selfsigned";

export interface TestCertificate {
  /** Private key then certificate, as Key Vault returns a PEM certificate's secret. */
  readonly pem: string;
  readonly certificatePem: string;
  readonly privateKeyPem: string;
  /** Hex SHA-1 of the DER certificate, upper case, as Entra ID shows it. */
  readonly thumbprint: string;
}

const made = new Map<string, Promise<TestCertificate>>();

/**
 * A self-signed certificate named `name`, generated once per process. `expired` makes one whose validity
 * ended yesterday (a key credential Entra ID no longer accepts).
 */
export function testCertificate(name: string, options: { readonly expired?: boolean } = {}) {
  const key = `${name}/${options.expired === true}`;
  let certificate = made.get(key);
  if (certificate === undefined) {
    certificate = make(name, options.expired === true);
    made.set(key, certificate);
  }
  return certificate;
}

async function make(name: string, expired: boolean): Promise<TestCertificate> {
  const day = 24 * 3600 * 1000;
  const pems = await generate([{ name: "commonName", value: name }], {
    keySize: 2048,
    algorithm: "sha256",
    ...(expired
      ? { notBeforeDate: new Date(Date.now() - 30 * day), notAfterDate: new Date(Date.now() - day) }
      : { notAfterDate: new Date(Date.now() + 90 * day) }),
  });
  const der = new X509Certificate(pems.cert).raw;
  return {
    pem: `${pems.private.trim()}\n${pems.cert.trim()}\n`,
    certificatePem: pems.cert,
    privateKeyPem: pems.private,
    thumbprint: createHash("sha1").update(der).digest("hex").toUpperCase(),
  };
}

/**
 * A client assertion made the way msal-node 5 makes one for a certificate (PS256, header `x5t#S256`,
 * `iss` = `sub` = client ID, `aud` = the token endpoint, ten minutes), with claims overridden by `claims`.
 */
export function certificateAssertion(certificate: TestCertificate, claims: Record<string, unknown>): string {
  const der = new X509Certificate(certificate.certificatePem).raw;
  const header = {
    alg: "PS256",
    typ: "JWT",
    "x5t#S256": createHash("sha256").update(der).digest("base64url"),
  };
  const now = Math.floor(Date.now() / 1000);
  const payload = { nbf: now, exp: now + 600, jti: "8d3c1b2a-0000-4000-8000-000000000000", ...claims };
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const input = `${part(header)}.${part(payload)}`;
  const signature = sign("sha256", Buffer.from(input), {
    key: createPrivateKey(certificate.privateKeyPem),
    padding: constants.RSA_PKCS1_PSS_PADDING,
    saltLength: 32,
  });
  return `${input}.${signature.toString("base64url")}`;
}
