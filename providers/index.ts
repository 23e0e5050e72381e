/**
 * The entry module of every dynamic provider of this project, loaded at run time by the serialized shims
 * (components/dynamicProvider.ts) in Pulumi's provider host. Its path and export names are stored in the
 * state of every dynamic resource, so both stay stable: add providers, never rename or remove one.
 */
import { KeyVaultCertificateProvider } from "./keyVaultCertificate";
import { WorkspaceAccessProvider } from "./workspaceAccess";

export const workspaceAccess = new WorkspaceAccessProvider();
export const keyVaultCertificate = new KeyVaultCertificateProvider();
