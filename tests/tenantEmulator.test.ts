/**
 * The tenant emulator's credential checks that the end-to-end tests of verify cannot reach through the real
 * @azure/identity (which never sends a malformed assertion): each answers as Entra ID does, so a wrong
 * wiring fails in the emulator as it would in Azure.
 */
import assert from "node:assert/strict";
import * as http from "node:http";
import * as https from "node:https";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "mocha";
import { TOKEN_EXCHANGE_AUDIENCE } from "../rules/federated";
import { OidcIssuer, TenantEmulator, type TenantEmulatorOptions } from "../tools/emulators/tenantEmulator";
import { certificateAssertion, type TestCertificate, testCertificate } from "./support/certificates";

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

function call(
  url: string,
  options: { headers?: Record<string, string>; form?: Record<string, string> },
  agent?: https.Agent,
): Promise<Answer> {
  const body = options.form ? new URLSearchParams(options.form).toString() : undefined;
  const target = new URL(url);
  const send = target.protocol === "https:" ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const request = send(
      target,
      {
        method: body ? "POST" : "GET",
        agent,
        headers: {
          ...options.headers,
          ...(body ? { "content-type": "application/x-www-form-urlencoded" } : {}),
        },
      },
      (response) => {
        let text = "";
        response.on("data", (chunk: Buffer) => (text += chunk.toString()));
        response.on("end", () =>
          resolve({ status: response.statusCode ?? 0, body: text ? JSON.parse(text) : {} }),
        );
      },
    );
    request.on("error", reject);
    request.end(body);
  });
}

const errorCode = (answer: Answer) => (answer.body.error_codes as number[] | undefined)?.[0];

describe("tenant emulator: what Entra ID checks in a client's credential", () => {
  const certApp = { clientId: randomUUID(), servicePrincipalObjectId: randomUUID(), roles: ["Integrations"] };
  const fedApp = { clientId: randomUUID(), servicePrincipalObjectId: randomUUID(), roles: ["Integrations"] };
  const identity = { clientId: randomUUID(), principalId: randomUUID(), roles: [] as string[] };
  let emulator: TenantEmulator;
  let agent: https.Agent;
  let registered: TestCertificate;
  let expired: TestCertificate;
  let aks: OidcIssuer;
  let tokenEndpoint: string;

  before(async () => {
    [registered, expired] = await Promise.all([
      testCertificate("emulator-registered"),
      testCertificate("emulator-expired", { expired: true }),
    ]);
    const options: TenantEmulatorOptions = {
      clients: [{ ...certApp, certificates: [registered.certificatePem, expired.certificatePem] }],
      managedIdentities: [identity],
    };
    emulator = await TenantEmulator.start(options);
    agent = emulator.agent();
    aks = emulator.addIssuer("aks", { trailingSlash: true });
    emulator.registerClient({
      ...fedApp,
      federatedCredentials: [
        {
          issuer: aks.issuer,
          subject: "system:serviceaccount:crm:crm-sync",
          audiences: [TOKEN_EXCHANGE_AUDIENCE],
        },
        { issuer: emulator.issuer, subject: identity.principalId, audiences: [TOKEN_EXCHANGE_AUDIENCE] },
      ],
    });
    tokenEndpoint = `${emulator.url}/${emulator.tenantId}/oauth2/v2.0/token`;
  });

  after(async () => {
    agent?.destroy();
    await emulator?.close();
  });

  function token(clientId: string, assertion: string): Promise<Answer> {
    return call(
      tokenEndpoint,
      {
        form: {
          grant_type: "client_credentials",
          client_id: clientId,
          scope: `api://${emulator.smartspaceAppClientId}/.default`,
          client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
          client_assertion: assertion,
        },
      },
      agent,
    );
  }

  describe("certificate assertions", () => {
    const mine = () => ({ iss: certApp.clientId, sub: certApp.clientId, aud: tokenEndpoint });

    it("issue a token marked as certificate-authenticated for a registered certificate", async () => {
      const answer = await token(certApp.clientId, certificateAssertion(registered, mine()));
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      const claims = JSON.parse(
        Buffer.from(String(answer.body.access_token).split(".")[1], "base64url").toString(),
      );
      assert.equal(claims.azpacr, "2");
      assert.equal(claims.oid, certApp.servicePrincipalObjectId);
    });

    it("refuse an expired assertion (AADSTS700024), a foreign audience (700023) and another app's name (700021)", async () => {
      const now = Math.floor(Date.now() / 1000);
      const cases: [Record<string, unknown>, number][] = [
        [{ ...mine(), nbf: now - 1200, exp: now - 600 }, 700024],
        [{ ...mine(), aud: "https://login.microsoftonline.com/common/oauth2/v2.0/token" }, 700023],
        [{ ...mine(), sub: randomUUID() }, 700021],
      ];
      for (const [claims, code] of cases) {
        const answer = await token(certApp.clientId, certificateAssertion(registered, claims));
        assert.equal(answer.status, 401);
        assert.equal(answer.body.error, "invalid_client");
        assert.equal(errorCode(answer), code, JSON.stringify(answer.body));
      }
    });

    it("refuse a registered certificate past its end date as an expired key (AADSTS700027)", async () => {
      const answer = await token(certApp.clientId, certificateAssertion(expired, mine()));
      assert.equal(errorCode(answer), 700027);
      assert.match(String(answer.body.error_description), /The key used is expired/);
    });
  });

  describe("federated assertions", () => {
    const subject = "system:serviceaccount:crm:crm-sync";

    it("match the subject case-sensitively, and say when only the case differs (AADSTS7002138)", async () => {
      const answer = await token(
        fedApp.clientId,
        aks.mint({ subject: subject.toUpperCase(), audience: TOKEN_EXCHANGE_AUDIENCE }),
      );
      assert.equal(errorCode(answer), 7002138);
    });

    it("refuse a token signed with a key the issuer no longer publishes (AADSTS7000272)", async () => {
      const stale = aks.mint({ subject, audience: TOKEN_EXCHANGE_AUDIENCE });
      aks.rotateKey();
      assert.equal(errorCode(await token(fedApp.clientId, stale)), 7000272);
      const fresh = await token(fedApp.clientId, aks.mint({ subject, audience: TOKEN_EXCHANGE_AUDIENCE }));
      assert.equal(fresh.status, 200, JSON.stringify(fresh.body));
    });

    it("accept a managed identity's token from this tenant, but no other token this tenant issued (AADSTS700222)", async () => {
      const fromIdentity = await call(
        `${emulator.identityEndpoint}?api-version=2019-08-01&resource=${encodeURIComponent(TOKEN_EXCHANGE_AUDIENCE)}&client_id=${identity.clientId}`,
        { headers: { "x-identity-header": emulator.identityHeader } },
      );
      assert.equal(fromIdentity.status, 200, JSON.stringify(fromIdentity.body));
      assert.deepEqual(Object.keys(fromIdentity.body).sort(), [
        "access_token",
        "client_id",
        "expires_on",
        "resource",
        "token_type",
      ]);
      const exchanged = await token(fedApp.clientId, String(fromIdentity.body.access_token));
      assert.equal(exchanged.status, 200, JSON.stringify(exchanged.body));

      // An app's own token from this tenant is no managed identity's.
      const appToken = String(exchanged.body.access_token);
      assert.equal(errorCode(await token(fedApp.clientId, appToken)), 700222);
    });
  });

  describe("the managed identity endpoint", () => {
    const url = (clientId: string) =>
      `${emulator.identityEndpoint}?api-version=2019-08-01&resource=${encodeURIComponent(`api://${emulator.smartspaceAppClientId}`)}&client_id=${clientId}`;

    it("answers only over plain http on 127.0.0.1, as App Service's does, and only with the identity header", async () => {
      assert.match(emulator.identityEndpoint, /^http:\/\/127\.0\.0\.1:\d+\/msi\/token$/);
      assert.equal((await call(url(identity.clientId), {})).status, 401);
      const overHttps = await call(
        `${emulator.url}/msi/token`,
        { headers: { "x-identity-header": emulator.identityHeader } },
        agent,
      );
      assert.equal(overHttps.status, 404);
    });

    it("refuses an identity not assigned to the host, in App Service's words", async () => {
      const answer = await call(url(randomUUID()), {
        headers: { "x-identity-header": emulator.identityHeader },
      });
      assert.equal(answer.status, 400);
      assert.equal(answer.body.message, "Unable to load the proper Managed Identity.");
    });
  });
});
