/**
 * WorkspaceAccess: one Smartspace workspace grant for one principal, as a Pulumi dynamic resource, so that
 * `pulumi up` grants, `pulumi destroy` revokes and `pulumi refresh` notices a grant removed by hand. The
 * provider itself is providers/workspaceAccess.ts; state stores only the shim that loads it (see
 * ./dynamicProvider.ts).
 */
import * as pulumi from "@pulumi/pulumi";
import type { PrincipalType } from "../providers/workspaceAccess";
import { providerShim, providerVersion } from "./dynamicProvider";

export { WorkspaceAccessProvider } from "../providers/workspaceAccess";
export type {
  PrincipalType,
  WorkspaceAccessInputs,
  WorkspaceAccessOutputs,
} from "../providers/workspaceAccess";

/** Changes when the provider's code does, so that `pulumi preview` shows it as an update of each grant. */
export const WORKSPACE_ACCESS_PROVIDER_VERSION = providerVersion("providers/workspaceAccess.ts");

export interface WorkspaceAccessArgs {
  /** Base URL of the Smartspace admin API (https). */
  readonly adminApiUrl: pulumi.Input<string>;
  /** Smartspace workspace ID (a GUID). */
  readonly workspaceId: pulumi.Input<string>;
  /** Entra object ID of the integration's service principal: not its client ID, not the application's object ID. */
  readonly principalId: pulumi.Input<string>;
  /** Default "ServicePrincipal". */
  readonly principalType?: pulumi.Input<PrincipalType>;
  /** Name shown in the workspace's access list. */
  readonly displayName: pulumi.Input<string>;
  /** Scope of the deployer's admin token, normally `api://<Smartspace app client id>/.default`. */
  readonly tokenScope: pulumi.Input<string>;
}

/** One shim for every grant: the SDK serializes a provider once per instance, not once per resource. */
const provider = providerShim("workspaceAccess");

/**
 * A grant of Smartspace workspace access to one principal. Its ID is `<workspaceId>/<principalId>`.
 * Resource type `pulumi-nodejs:dynamic/smartspace:WorkspaceAccess`. Credentials are never inputs: the
 * provider acquires the admin token when it runs.
 */
export class WorkspaceAccess extends pulumi.dynamic.Resource {
  // `declare`: with ES2022 class fields, an initialized field would overwrite the value the base
  // constructor has just set.
  declare readonly adminApiUrl: pulumi.Output<string>;
  declare readonly workspaceId: pulumi.Output<string>;
  declare readonly principalId: pulumi.Output<string>;
  declare readonly principalType: pulumi.Output<PrincipalType>;
  declare readonly displayName: pulumi.Output<string>;
  declare readonly tokenScope: pulumi.Output<string>;
  declare readonly providerVersion: pulumi.Output<string>;
  declare readonly workspaceName: pulumi.Output<string | undefined>;

  constructor(name: string, args: WorkspaceAccessArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      provider,
      name,
      {
        adminApiUrl: args.adminApiUrl,
        workspaceId: args.workspaceId,
        principalId: args.principalId,
        principalType: args.principalType ?? "ServicePrincipal",
        displayName: args.displayName,
        tokenScope: args.tokenScope,
        providerVersion: WORKSPACE_ACCESS_PROVIDER_VERSION,
        workspaceName: undefined,
      },
      opts,
      "smartspace",
      "WorkspaceAccess",
    );
  }
}
