/**
 * Inventory of the credentials and owners that Entra ID holds for the stack's own applications and service
 * principals, compared with what the stack declares. Each credential is its own Pulumi resource, so a
 * password, certificate or federated credential added by hand (or left behind by an interrupted deployment)
 * is invisible to `pulumi refresh`; only a look at the application itself finds it.
 *
 * Reads through Microsoft Graph (`Application.Read.All` is enough):
 *   GET /applications/{id}?$select=id,appId,displayName,passwordCredentials,keyCredentials
 *   GET /applications/{id}/owners?$select=id            (paged)
 *   GET /applications/{id}/federatedIdentityCredentials  (paged)
 *   GET /servicePrincipals/{id}?$select=id,appId,passwordCredentials,keyCredentials
 *   GET /servicePrincipals/{id}/owners?$select=id       (paged)
 * A 404 is reported as a missing object; any other failure throws, so that a caller never reads an
 * incomplete inventory as a clean one.
 */
import { z } from "zod";
import type { GraphClient } from "./graph";
import { HttpError } from "./http";

/** What the stack declares for one application (from its state). IDs compare case-insensitively. */
export interface DeclaredApplication {
  /** The application's resource name, for the report. */
  readonly name: string;
  readonly objectId: string;
  readonly servicePrincipalObjectId?: string;
  readonly owners: readonly string[];
  readonly servicePrincipalOwners: readonly string[];
  /** Key IDs of password credentials (the two slots). */
  readonly passwordKeyIds: readonly string[];
  /** Key IDs of certificate credentials. */
  readonly certificateKeyIds: readonly string[];
  /** IDs of federated identity credentials. */
  readonly federatedCredentialIds: readonly string[];
}

export type InventoryKind = "password" | "certificate" | "federated credential" | "owner" | "missing object";

/** Something Entra ID holds that the stack does not declare. */
export interface UndeclaredItem {
  readonly application: string;
  readonly on: "application" | "service principal";
  readonly objectId: string;
  readonly kind: InventoryKind;
  /** Key ID, federated credential ID or owner object ID. */
  readonly id: string;
  readonly displayName?: string;
  readonly endDateTime?: string;
}

export interface InventoryResult {
  readonly checked: number;
  readonly undeclared: readonly UndeclaredItem[];
}

const credential = z.looseObject({
  keyId: z.string(),
  displayName: z.string().nullish(),
  endDateTime: z.string().nullish(),
});
const credentialHolder = z.looseObject({
  id: z.string(),
  passwordCredentials: z.array(credential),
  keyCredentials: z.array(credential),
});
const directoryObject = z.looseObject({ id: z.string(), "@odata.type": z.string().optional() });
const federatedCredential = z.looseObject({
  id: z.string(),
  name: z.string().nullish(),
  subject: z.string().nullish(),
});

const lower = (values: readonly string[]) => new Set(values.map((value) => value.toLowerCase()));

function isNotFound(error: unknown): boolean {
  return error instanceof HttpError && error.status === 404;
}

/** Reads every declared application and its service principal; returns what the stack does not declare. */
export async function inventoryApplications(
  graph: GraphClient,
  declared: readonly DeclaredApplication[],
): Promise<InventoryResult> {
  const undeclared: UndeclaredItem[] = [];
  for (const app of declared) {
    const report =
      (on: UndeclaredItem["on"], objectId: string) =>
      (item: Omit<UndeclaredItem, "application" | "on" | "objectId">) =>
        undeclared.push({ application: app.name, on, objectId, ...item });
    const onApp = report("application", app.objectId);
    let application: z.output<typeof credentialHolder>;
    try {
      application = await graph.get(
        ["applications", app.objectId],
        credentialHolder,
        "an application with passwordCredentials and keyCredentials",
        { $select: "id,appId,displayName,passwordCredentials,keyCredentials" },
      );
    } catch (error) {
      if (!isNotFound(error)) throw error;
      onApp({ kind: "missing object", id: app.objectId });
      continue;
    }
    compareCredentials(application, app.passwordKeyIds, app.certificateKeyIds, onApp);
    const owners = await graph.list(
      ["applications", app.objectId, "owners"],
      directoryObject,
      "application owners",
      {
        $select: "id",
      },
    );
    compareOwners(owners, app.owners, onApp);
    const federated = await graph.list(
      ["applications", app.objectId, "federatedIdentityCredentials"],
      federatedCredential,
      "federated identity credentials",
    );
    const knownFederated = lower(app.federatedCredentialIds);
    for (const item of federated.filter((candidate) => !knownFederated.has(candidate.id.toLowerCase()))) {
      onApp({
        kind: "federated credential",
        id: item.id,
        displayName: item.name ?? item.subject ?? undefined,
      });
    }

    if (app.servicePrincipalObjectId === undefined) continue;
    const onSp = report("service principal", app.servicePrincipalObjectId);
    let principal: z.output<typeof credentialHolder>;
    try {
      principal = await graph.get(
        ["servicePrincipals", app.servicePrincipalObjectId],
        credentialHolder,
        "a service principal with passwordCredentials and keyCredentials",
        { $select: "id,appId,passwordCredentials,keyCredentials" },
      );
    } catch (error) {
      if (!isNotFound(error)) throw error;
      onSp({ kind: "missing object", id: app.servicePrincipalObjectId });
      continue;
    }
    // The stack declares no credential on a service principal: every one is undeclared.
    compareCredentials(principal, [], [], onSp);
    const spOwners = await graph.list(
      ["servicePrincipals", app.servicePrincipalObjectId, "owners"],
      directoryObject,
      "service principal owners",
      { $select: "id" },
    );
    compareOwners(spOwners, app.servicePrincipalOwners, onSp);
  }
  return { checked: declared.length, undeclared };
}

function compareCredentials(
  holder: z.output<typeof credentialHolder>,
  passwordKeyIds: readonly string[],
  certificateKeyIds: readonly string[],
  report: (item: Omit<UndeclaredItem, "application" | "on" | "objectId">) => void,
): void {
  const passwords = lower(passwordKeyIds);
  const certificates = lower(certificateKeyIds);
  for (const item of holder.passwordCredentials.filter((c) => !passwords.has(c.keyId.toLowerCase()))) {
    report({
      kind: "password",
      id: item.keyId,
      displayName: item.displayName ?? undefined,
      endDateTime: item.endDateTime ?? undefined,
    });
  }
  for (const item of holder.keyCredentials.filter((c) => !certificates.has(c.keyId.toLowerCase()))) {
    report({
      kind: "certificate",
      id: item.keyId,
      displayName: item.displayName ?? undefined,
      endDateTime: item.endDateTime ?? undefined,
    });
  }
}

function compareOwners(
  owners: readonly z.output<typeof directoryObject>[],
  declared: readonly string[],
  report: (item: Omit<UndeclaredItem, "application" | "on" | "objectId">) => void,
): void {
  const known = lower(declared);
  for (const owner of owners.filter((candidate) => !known.has(candidate.id.toLowerCase()))) {
    report({
      kind: "owner",
      id: owner.id,
      displayName: owner["@odata.type"]?.replace("#microsoft.graph.", ""),
    });
  }
}
