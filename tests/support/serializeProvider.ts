/**
 * Prints the serialized provider of a WorkspaceAccess (default) or KeyVaultCertificate resource (the first
 * argument names the type), as `pulumi up` produces it, to stdout. Run it in a child
 * process with the program's own loader and options (`node --import tsx`, from Pulumi.yaml), so that what is
 * measured and run is exactly the text a deployment stores in state.
 */
import * as pulumi from "@pulumi/pulumi";
import { KeyVaultCertificate } from "../../components/keyVaultCertificate";
import { WorkspaceAccess } from "../../components/workspaceAccess";

async function main(): Promise<void> {
  let serialized: unknown;
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        serialized = args.inputs.__provider;
        return { id: "serialized", state: args.inputs };
      },
      call: (args) => args.inputs,
    },
    "smartspace-integration",
    "serialize",
    false,
  );
  const grant =
    process.argv[2] === "KeyVaultCertificate"
      ? new KeyVaultCertificate("serialize", {
          vaultUrl: "https://kv-serialize.vault.azure.net/",
          certificateName: "smartspace-serialize-client-cert",
          slot: "a",
          generation: 1,
          rotationDays: 90,
          subject: "CN=smartspace-serialize",
          validityInMonths: 7,
        })
      : new WorkspaceAccess("serialize", {
          adminApiUrl: "https://admin.smartspace.example",
          workspaceId: "00000000-0000-4000-8000-000000000001",
          principalId: "00000000-0000-4000-8000-000000000002",
          displayName: "serialize",
          tokenScope: "api://00000000-0000-4000-8000-000000000003/.default",
        });
  await new Promise<void>((resolve) => grant.id.apply(() => resolve()));
  process.stdout.write(JSON.stringify(serialized));
}

main().catch((error: unknown) => {
  process.stderr.write(String(error instanceof Error ? error.stack : error));
  process.exit(1);
});
