/**
 * Client certificates generated in Key Vault: the certificate's name and the policy every version is issued
 * under. Shared by the stack (which declares the versions), config validation and the policy pack.
 */

/** Key Vault object names: 1-127 letters, digits and hyphens. */
export const KEY_VAULT_OBJECT_NAME = /^[0-9a-zA-Z-]{1,127}$/;

/** The one Key Vault certificate of an integration; its secret of the same name holds the PEM with the key. */
export function clientCertificateName(integrationName: string): string {
  return `smartspace-${integrationName}-client-cert`;
}

/**
 * Validity of each certificate version, in whole months (what Key Vault's policy takes). A version is issued
 * for a rotation generation and registered in Entra ID until the generation ends, 2 x rotationDays after it
 * starts; Entra ID refuses a key credential that outlives its certificate. A month has at least 28 days, and
 * the extra day covers a version issued a little before its generation starts by Key Vault's clock.
 */
export function certificateValidityMonths(rotationDays: number): number {
  return Math.ceil((2 * rotationDays + 1) / 28);
}

/** Subject of every version of an integration's certificate. */
export function certificateSubject(integrationName: string): string {
  return `CN=smartspace-${integrationName}`;
}

/** Key Vault's content type for a PEM secret: the private key followed by the certificate. */
export const PEM_CONTENT_TYPE = "application/x-pem-file";
/** Extended key usage "TLS client authentication". */
export const CLIENT_AUTH_EKU = "1.3.6.1.5.5.7.3.2";
/**
 * When Key Vault emails the vault's certificate contacts about a version nearing expiry. Never AutoRenew:
 * Key Vault would then issue versions the stack does not know, whose keys Entra ID does not trust, and the
 * versionless URI consumers read would serve them. With validity above twice the rotation period, this
 * fires only when deployments have stopped.
 */
export const EXPIRY_NOTICE_LIFETIME_PERCENTAGE = 95;
