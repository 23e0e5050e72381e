import * as assert from "node:assert/strict";
import { GraphClient } from "../clients/graph";
import { HttpError } from "../clients/http";
import {
  parseIsoDuration,
  readTenantCredentialPolicy,
  type TenantCredentialPolicy,
} from "../clients/tenantPolicy";
import { checkTenantCredentialPolicy } from "../program/tenantPolicy";
import { GraphEmulator, type GraphEmulatorOptions } from "../tools/emulators/graphEmulator";
import { MockTenant } from "./support/azureMocks";
import { baseConfig } from "./support/fixtures";
import { runProgram } from "./support/program";

const DAY_MS = 24 * 60 * 60 * 1000;

/** A tenant default policy as Graph returns it, with the given password and key restrictions. */
function policy(passwordCredentials: object[], keyCredentials: object[] = [], isEnabled = true) {
  return {
    id: "00000000-0000-0000-0000-000000000000",
    displayName: "Default app management tenant policy",
    isEnabled,
    applicationRestrictions: { passwordCredentials, keyCredentials },
    servicePrincipalRestrictions: { passwordCredentials: [], keyCredentials: [] },
  };
}
const passwordLifetime = (
  maxLifetime: string,
  restrictForAppsCreatedAfterDateTime: string | null = null,
) => ({
  restrictionType: "passwordLifetime",
  maxLifetime,
  restrictForAppsCreatedAfterDateTime,
});

describe("tenant credential-lifetime policy", () => {
  describe("in the program", () => {
    const config = baseConfig({
      integrations: [{ name: "crm-sync" }, { name: "billing", rotationDays: 30 }],
    });

    it("stops before declaring anything when the policy allows shorter passwords, naming what to change", async () => {
      const tenant = new MockTenant();
      tenant.appManagementPolicy = policy([passwordLifetime("P90D")]);
      await assert.rejects(
        runProgram(config, { tenant }),
        (error: Error & { registeredResources?: unknown[] }) => {
          assert.match(
            error.message,
            /app management policy would refuse a credential .*CredentialInvalidLifetimeAsPerAppPolicy/,
          );
          assert.match(
            error.message,
            /integration crm-sync: its client secrets live up to 181 days \(smartspace-integration:integrations\[0\]\.rotationDays 90: twice that, plus up to 1 day/,
          );
          assert.match(
            error.message,
            /the tenant allows at most 90 days \(passwordLifetime P90D, for every application\)/,
          );
          assert.match(
            error.message,
            /set smartspace-integration:integrations\[0\]\.rotationDays to at most 44/,
          );
          assert.doesNotMatch(error.message, /billing/, "61 days fit");
          assert.deepEqual(error.registeredResources, []);
          return true;
        },
      );
      assert.equal(tenant.applications.size, 0, "no application left without credentials");
    });

    it("checks a certificate integration against the key restriction, naming its credential key", async () => {
      const tenant = new MockTenant();
      tenant.appManagementPolicy = policy(
        [],
        [
          {
            restrictionType: "asymmetricKeyLifetime",
            maxLifetime: "P90D",
            restrictForAppsCreatedAfterDateTime: null,
          },
        ],
      );
      await assert.rejects(
        runProgram(
          baseConfig({
            integrations: [
              { name: "agent", credential: { type: "certificate", rotationDays: 60 } },
              {
                name: "ci-bot",
                credential: {
                  type: "federated",
                  subjects: [{ github: { repository: "contoso/crm", branch: "main" } }],
                },
              },
            ],
          }),
          { tenant },
        ),
        (error: Error) => {
          assert.match(
            error.message,
            /integration agent: its certificates live up to 121 days \(smartspace-integration:integrations\[0\]\.credential\.rotationDays 60/,
          );
          assert.doesNotMatch(error.message, /ci-bot/, "a federated credential has no lifetime to check");
          return true;
        },
      );
    });

    it("deploys when every lifetime fits, and Entra ID accepts the passwords", async () => {
      const tenant = new MockTenant();
      tenant.appManagementPolicy = policy([passwordLifetime("P90D")]);
      await runProgram(
        baseConfig({
          integrations: [
            { name: "crm-sync", rotationDays: 44 },
            { name: "billing", rotationDays: 30 },
          ],
        }),
        { tenant },
      );
      assert.equal(tenant.passwords.size, 4);
    });

    it("says once that the policy cannot be read, and goes on", async () => {
      const tenant = new MockTenant();
      tenant.canReadPolicies = false;
      const run = await runProgram(config, { tenant });
      const warnings = run.logs.filter((entry) => entry.severity === "warn").map((entry) => entry.message);
      const about = warnings.filter((w) => w.includes("app management policy"));
      assert.equal(about.length, 1, warnings.join("\n"));
      assert.match(about[0], /returned HTTP 403/);
      assert.match(
        about[0],
        /Grant the identity Policy\.Read\.ApplicationConfiguration \(or Policy\.Read\.All\)/,
      );
      assert.equal(tenant.passwords.size, 4);
    });
  });

  describe("the check", () => {
    const password = (rotationDays: number, integration = "crm-sync") => ({
      integration,
      configKey: "smartspace-integration:integrations[0].rotationDays",
      kind: "password" as const,
      rotationDays,
    });
    const restriction = (days: number, from?: string) => ({
      restrictionType: "passwordLifetime",
      maxLifetime: `P${days}D`,
      maxLifetimeMs: days * DAY_MS,
      appliesToAppsCreatedFrom: from,
    });
    const read = (value: TenantCredentialPolicy) => async () => value;
    const now = new Date("2026-08-01T00:00:00Z");

    it("counts the day a credential issued just before a rotation lives longer", async () => {
      await checkTenantCredentialPolicy(
        [password(90)],
        read({ enabled: true, passwordLifetime: restriction(181) }),
        now,
      );
      await assert.rejects(
        checkTenantCredentialPolicy(
          [password(90)],
          read({ enabled: true, passwordLifetime: restriction(180) }),
          now,
        ),
        /181 days .* at most 180 days .* at most 89/,
      );
    });

    it("ignores a disabled policy and a restriction that is not in force yet", async () => {
      await checkTenantCredentialPolicy(
        [password(90)],
        read({ enabled: false, passwordLifetime: restriction(7) }),
        now,
      );
      await checkTenantCredentialPolicy(
        [password(90)],
        read({ enabled: true, passwordLifetime: restriction(7, "2027-01-01T00:00:00Z") }),
        now,
      );
    });

    it("checks certificates against the asymmetric key restriction, and says when no rotationDays fits", async () => {
      await assert.rejects(
        checkTenantCredentialPolicy(
          [{ ...password(7), kind: "certificate" }],
          read({
            enabled: true,
            passwordLifetime: restriction(365),
            asymmetricKeyLifetime: { ...restriction(14), restrictionType: "asymmetricKeyLifetime" },
          }),
          now,
        ),
        /its certificates live up to 15 days .* no rotationDays fits \(the minimum is 7\)/,
      );
    });
  });

  describe("the Graph client, over HTTPS", () => {
    let tenantPolicy: unknown;
    let emulator: GraphEmulator;
    let client: GraphClient;
    before(async () => {
      emulator = await GraphEmulator.start<GraphEmulator, GraphEmulatorOptions>({
        defaultAppManagementPolicy: () => tenantPolicy,
      });
      client = new GraphClient({
        baseUrl: `${emulator.url}/v1.0`,
        agent: emulator.agent(),
        maxRetries: 0,
        credential: {
          getToken: async () => ({ token: emulator.graphToken, expiresOnTimestamp: Date.now() + 3_600_000 }),
        },
      });
    });
    after(() => emulator.close());

    it("keeps the strictest enabled lifetime of each kind", async () => {
      tenantPolicy = policy(
        [
          {
            restrictionType: "passwordAddition",
            maxLifetime: null,
            restrictForAppsCreatedAfterDateTime: null,
          },
          passwordLifetime("P4DT12H30M5S", "2017-01-01T10:37:00Z"),
          { ...passwordLifetime("P1D"), state: "disabled" },
          passwordLifetime("P1Y"),
        ],
        [
          {
            restrictionType: "asymmetricKeyLifetime",
            maxLifetime: "P90D",
            restrictForAppsCreatedAfterDateTime: null,
          },
        ],
      );
      assert.deepEqual(await readTenantCredentialPolicy(client), {
        enabled: true,
        passwordLifetime: {
          restrictionType: "passwordLifetime",
          maxLifetime: "P4DT12H30M5S",
          maxLifetimeMs: 4 * DAY_MS + 12 * 3_600_000 + 30 * 60_000 + 5_000,
          appliesToAppsCreatedFrom: "2017-01-01T10:37:00Z",
        },
        asymmetricKeyLifetime: {
          restrictionType: "asymmetricKeyLifetime",
          maxLifetime: "P90D",
          maxLifetimeMs: 90 * DAY_MS,
          appliesToAppsCreatedFrom: undefined,
        },
      });
      assert.equal(emulator.requests.at(-1)?.path, "/v1.0/policies/defaultAppManagementPolicy");
    });

    it("fails on an answer it cannot interpret, never reading it as no restriction", async () => {
      tenantPolicy = { applicationRestrictions: null };
      const error = await readTenantCredentialPolicy(client).catch((e: unknown) => e);
      assert.ok(error instanceof HttpError && error.kind === "invalid-response", String(error));
      tenantPolicy = policy([passwordLifetime("90 days")]);
      await assert.rejects(
        readTenantCredentialPolicy(client),
        /maxLifetime "90 days" is not an ISO 8601 duration/,
      );
    });

    it("reads ISO 8601 durations at their shortest", () => {
      assert.equal(parseIsoDuration("P90D"), 90 * DAY_MS);
      assert.equal(parseIsoDuration("P1Y2M1W"), (365 + 56 + 7) * DAY_MS);
      assert.equal(parseIsoDuration("PT36H"), 1.5 * DAY_MS);
      for (const bad of ["", "P", "PT", "90D", "P-1D", "P1DT", "P1H"]) {
        assert.equal(parseIsoDuration(bad), undefined, bad);
      }
    });
  });
});
