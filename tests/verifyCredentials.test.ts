/**
 * What verify says when Entra ID (or a managed identity endpoint) refuses a credential, per mode: the
 * explanations for answers the end-to-end tests do not provoke, with the wording Entra ID uses.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "mocha";
import {
  certificateCredential,
  federatedCredential,
  managedIdentityAssertionCredential,
  managedIdentityCredential,
} from "../cli/verify/credentials";
import type { TokenFailureContext } from "../cli/verify/engine";
import { type TestCertificate, testCertificate } from "./support/certificates";
import { CLIENT_ID, fakeJwt, TENANT_ID } from "./support/verifyFakes";

const CONTEXT: TokenFailureContext = {
  tenantId: TENANT_ID,
  clientId: CLIENT_ID,
  smartspaceAppClientId: "99999999-8888-4777-8666-555555555555",
  authority: { authorityHost: "https://login.microsoftonline.com", disableInstanceDiscovery: false },
  scope: "api://99999999-8888-4777-8666-555555555555/.default",
  timeoutMs: 30_000,
};

/** An error as @azure/identity raises it for an Entra ID answer. */
const entra = (description: string) =>
  new Error(
    `AuthenticationError: ${description} Trace ID: 0 Correlation ID: 0 Timestamp: 2026-01-01 00:00:00Z`,
  );

describe("verify's explanations of refused credentials", () => {
  describe("certificate", () => {
    let current: TestCertificate;
    let previous: TestCertificate;
    before(async () => {
      [current, previous] = await Promise.all([
        testCertificate("explain-current"),
        testCertificate("explain-previous"),
      ]);
    });

    it("names the thumbprints the application holds when the certificate is not registered", () => {
      const credential = certificateCredential(previous.pem, "Key Vault x", {
        current: current.thumbprint,
        previous: "0000000000000000000000000000000000000000",
      });
      const { cause, fix } = credential.explain(
        entra(
          "AADSTS700027: The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found.]",
        ),
        CONTEXT,
      );
      assert.match(
        cause,
        new RegExp(`certificate ${previous.thumbprint} is not registered on application ${CLIENT_ID}`),
      );
      assert.match(
        fix,
        new RegExp(`^the application holds ${current.thumbprint} \\(current\\) and 0{40} \\(previous\\); `),
      );
      assert.match(credential.description, /not one of the stack's registered thumbprints/);
    });

    it("tells an expired key from a wrong clock", () => {
      const credential = certificateCredential(current.pem, "agent.pem");
      const expired = credential.explain(
        entra(
          "AADSTS700027: Client assertion contains an invalid signature. [Reason - The key used is expired.]",
        ),
        CONTEXT,
      );
      assert.match(expired.cause, new RegExp(`certificate ${current.thumbprint} expired on`));
      assert.match(expired.fix, /^rotate it: pulumi up/);
      const clock = credential.explain(
        entra("AADSTS700024: Client assertion is not within its valid time range."),
        CONTEXT,
      );
      assert.match(clock.fix, /set this machine's clock right/);
    });
  });

  describe("federated token", () => {
    const trusted = [
      {
        issuer: "https://oidc.prod-aks.azure.com/t/c/",
        subject: "system:serviceaccount:crm:crm-sync",
        audience: "api://AzureADTokenExchange",
      },
      {
        issuer: "https://token.actions.githubusercontent.com",
        subject: "repo:contoso/crm:environment:prod",
        audience: "api://AzureADTokenExchange",
      },
    ];
    const credential = federatedCredential(
      fakeJwt({
        iss: "https://oidc.prod-aks.azure.com/t/c",
        sub: "system:serviceaccount:crm:crm-sync",
        aud: "api://AzureADTokenExchange",
      }),
      "/var/run/secrets/azure/tokens/azure-identity-token",
      "AZURE_FEDERATED_TOKEN_FILE",
      trusted,
    );
    const explain = (description: string) => credential.explain(entra(description), CONTEXT);

    it("shows the token's issuer next to the trusted ones when the issuer matches none (a trailing slash)", () => {
      const { cause, fix } = explain(
        "AADSTS700211: No matching federated identity record found for presented assertion issuer 'https://oidc.prod-aks.azure.com/t/c'. Please check",
      );
      assert.match(
        cause,
        /no federated credential trusts the issuer of the token in .*azure-identity-token, https:\/\/oidc\.prod-aks\.azure\.com\/t\/c \(AADSTS700211/,
      );
      assert.match(
        fix,
        /the app trusts issuer https:\/\/oidc\.prod-aks\.azure\.com\/t\/c\/, subject system:serviceaccount:crm:crm-sync; issuer https:\/\/token/,
      );
      assert.match(fix, /trailing slash included .*az aks show --query oidcIssuerProfile\.issuerUrl/);
    });

    it("explains a subject differing only in case, no federated credentials, and keys the issuer no longer publishes", () => {
      assert.match(
        explain(
          "AADSTS7002138: No matching federated identity record found for presented assertion subject 'x'. The subject matches with case-insensitive comparison, but not with case-sensitive comparison.",
        ).fix,
        /exact and case-sensitive/,
      );
      assert.match(
        explain("AADSTS70025: The client 'x'(y) has no configured federated identity credentials.").cause,
        new RegExp(`application ${CLIENT_ID} has no federated credentials`),
      );
      assert.match(
        explain(
          "AADSTS7000272: The certificate with identifier k used to sign the federated credential could not be found in the metadata of identity provider x.",
        ).fix,
        /a recreated cluster has a new signing key/,
      );
      assert.match(
        explain("AADSTS50166: Request to External OIDC endpoint failed.").fix,
        /reachable from the internet over https/,
      );
      assert.match(
        explain("AADSTS700222: AAD-issued tokens may not be used for federated identity flows.").fix,
        /--assertion-managed-identity-client-id/,
      );
    });
  });

  describe("managed identity", () => {
    it("says no endpoint answered, and where the identity must be used, when the call times out or cannot connect", () => {
      const credential = managedIdentityCredential("c1c1c1c1-0000-4000-8000-000000000001", {});
      assert.match(credential.description, /through the instance metadata service \(IMDS\), as on a VM/);
      const timeout = Object.assign(new Error("timed out after 30.0 s"), { name: "TimeoutError" });
      for (const error of [
        timeout,
        new Error("ManagedIdentityCredential: Network unreachable. Message: connect ECONNREFUSED"),
      ]) {
        const { cause, fix } = credential.explain(error, CONTEXT);
        assert.match(cause, /no managed identity endpoint answered here/);
        assert.match(fix, /run verify on the Azure resource the identity is assigned to/);
      }
    });

    it("names the managed identity's token when an app refuses it as an assertion", () => {
      const credential = managedIdentityAssertionCredential(
        "c1c1c1c1-0000-4000-8000-000000000001",
        [
          {
            issuer: "https://login.microsoftonline.com/t/v2.0",
            subject: "d2d2d2d2-0000-4000-8000-000000000002",
            audience: "api://AzureADTokenExchange",
          },
        ],
        { IDENTITY_ENDPOINT: "http://127.0.0.1:41000/msi/token", IDENTITY_HEADER: "header-value" },
      );
      assert.deepEqual(credential.secrets, ["header-value"]);
      const { cause, fix } = credential.explain(
        entra(
          "AADSTS700213: No matching federated identity record found for presented assertion subject 'e3'.",
        ),
        CONTEXT,
      );
      assert.match(
        cause,
        /matches the subject of managed identity c1c1c1c1-0000-4000-8000-000000000001's token/,
      );
      assert.match(fix, /subject d2d2d2d2-0000-4000-8000-000000000002/);
    });
  });
});
