/**
 * Who may run `pulumi up` on a stack whose owners are pinned by `deployerObjectId`.
 *
 * When the identity creating an application or service principal is not in its `owners`, the azuread provider
 * adds it as an owner for the create and removes it before the create returns (terraform-provider-azuread
 * `internal/services/applications/application_resource.go`, `serviceprincipals/service_principal_resource.go`).
 * An identity whose rights come only from ownership (Application Developer, `Application.ReadWrite.OwnedBy`)
 * then loses them halfway: the service principal and password creates that follow fail with 403 and the
 * integration is left half-deployed. So `pulumi up` by another identity stops before anything is declared,
 * unless the stack says that identities with tenant-wide application rights may deploy.
 */
import * as pulumi from "@pulumi/pulumi";

export interface DeployerCheck {
  /** Object ID of the identity the azuread provider runs as. */
  readonly runnerObjectId: string;
  /** `smartspace-integration:deployerObjectId`, when set. */
  readonly deployerObjectId?: string;
  readonly allowOtherDeployers: boolean;
  /** True for `pulumi preview` (and the preview phase of `pulumi up`), which changes nothing. */
  readonly preview: boolean;
}

const TENANT_WIDE_RIGHTS =
  "Cloud Application Administrator, Application Administrator, or Application.ReadWrite.All for a service principal";

/**
 * Returns normally when the run may go on (logging what a reader of the run should know), and throws a
 * RunError naming both identities and the ways forward when a `pulumi up` must not.
 */
export function checkDeployer(check: DeployerCheck): void {
  const runner = check.runnerObjectId.toLowerCase();
  const deployer = check.deployerObjectId?.toLowerCase();
  if (deployer === undefined || deployer === runner) {
    return;
  }
  if (check.allowOtherDeployers) {
    pulumi.log.info(
      `Running as ${runner}; owners follow smartspace-integration:deployerObjectId (${deployer}). ` +
        `allowOtherDeployers is set, so ${runner} must hold tenant-wide application rights (${TENANT_WIDE_RIGHTS}).`,
    );
    return;
  }
  if (check.preview) {
    pulumi.log.warn(
      `Previewing as ${runner}, not as smartspace-integration:deployerObjectId (${deployer}): the preview is ` +
        `accurate, but \`pulumi up\` as ${runner} would stop before changing anything (run it as ${deployer}).`,
    );
    return;
  }
  throw new pulumi.RunError(
    [
      `This \`pulumi up\` runs as ${runner}, but smartspace-integration:deployerObjectId is ${deployer}; stopping before anything is changed.`,
      `The azuread provider makes the running identity a temporary owner of each application and service principal it creates and removes it before the create returns,`,
      `so an identity whose rights come only from ownership (Application Developer, Application.ReadWrite.OwnedBy) loses them halfway and leaves integrations half-deployed. Either:`,
      `  - run \`pulumi up\` as ${deployer} (the deploy identity, e.g. through the deploy pipeline), or`,
      `  - if ${runner} is the deploy identity from now on, set smartspace-integration:deployerObjectId to ${runner}, or`,
      `  - if ${runner} has tenant-wide application rights (${TENANT_WIDE_RIGHTS}), set smartspace-integration:allowOtherDeployers to true.`,
    ].join("\n"),
  );
}
