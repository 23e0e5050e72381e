import * as assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import * as fc from "fast-check";
import { checkExpiry, main, renderExpiryMarkdown } from "../cli/credential-expiry";
import { rotationSchedule } from "../rules/rotation";
import { baseConfig } from "./support/fixtures";
import { runProgram } from "./support/program";

const NOW = new Date("2026-09-18T05:17:00Z");
const OPTIONS = { stack: "prod", now: NOW, warnDays: 30, graceDays: 8 };

/** Stack outputs as the program exports them for an integration whose last deployment was at `deployedAt`. */
function outputsDeployedAt(deployedAt: Date, rotationDays = 90) {
  const schedule = rotationSchedule(deployedAt, rotationDays);
  return {
    secretExpiresOn: schedule.current.endDate,
    nextRotationOn: schedule.nextRotationOn,
    clientId: "x",
  };
}

describe("credential-expiry", () => {
  it("is quiet while the schedule runs, even right after a boundary", () => {
    const report = checkExpiry({ integrations: { "crm-sync": outputsDeployedAt(NOW) } }, OPTIONS);
    assert.equal(report.verdict, "ok");
    // Deployed just before a boundary that has since passed: the weekly run has a week to rotate.
    const justBefore = new Date(Date.parse(rotationSchedule(NOW, 90).current.startDate) - 1000);
    assert.equal(checkExpiry({ integrations: { a: outputsDeployedAt(justBefore) } }, OPTIONS).verdict, "ok");
  });

  it("opens an issue when rotation stopped: overdue after the grace period, then expiring, then expired", () => {
    const boundary = Date.parse(rotationSchedule(NOW, 30).nextRotationOn);
    const stale = { integrations: { "crm-sync": outputsDeployedAt(NOW, 30) } };
    const at = (daysAfterBoundary: number) =>
      checkExpiry(stale, { ...OPTIONS, now: new Date(boundary + daysAfterBoundary * 86_400_000) });
    assert.equal(at(7).verdict, "ok");
    assert.deepEqual(
      at(8).findings.map((f) => f.kind),
      ["rotation-overdue"],
    );
    // With 30-day periods the current secret has 30 days left at the boundary, a day after nextRotationOn (the
    // rotation takes effect a day early, rules/rotation.ts); half a period is the warning.
    assert.equal(at(15).findings.length, 1);
    assert.deepEqual(
      at(16).findings.map((f) => f.kind),
      ["expiring", "rotation-overdue"],
    );
    assert.deepEqual(
      at(32).findings.map((f) => f.kind),
      ["expired", "rotation-overdue"],
    );
    assert.match(at(32).findings[0].message, /expired 1\.0 days ago/);
  });

  it("does not alarm every period for a short rotation, nor wait past its expiry", () => {
    const boundary = Date.parse(rotationSchedule(NOW, 7).nextRotationOn);
    const weekly = { integrations: { "crm-sync": outputsDeployedAt(NOW, 7) } };
    const at = (days: number) =>
      checkExpiry(weekly, { ...OPTIONS, now: new Date(boundary + days * 86_400_000) }).verdict;
    assert.equal(at(-1), "ok");
    assert.equal(at(3), "ok");
    assert.equal(at(3.5), "attention");
  });

  it("checks certificates like client secrets, and holds nothing against federated or managed identity integrations", async function () {
    this.timeout(20_000);
    const run = await runProgram(
      baseConfig({
        integrations: [
          { name: "crm-sync", rotationDays: 30 },
          { name: "agent", credential: { type: "certificate", rotationDays: 30 } },
          {
            name: "ci-bot",
            credential: {
              type: "federated",
              subjects: [{ github: { repository: "contoso/crm", branch: "main" } }],
            },
          },
          {
            name: "func-app",
            credential: { type: "managedIdentity", create: { resourceGroupName: "rg-apps" } },
          },
        ],
      }),
      { now: NOW },
    );
    // The outputs exactly as the program exports them.
    const outputs = JSON.parse(JSON.stringify({ integrations: run.outputs.integrations })) as unknown;
    const current = checkExpiry(outputs, OPTIONS);
    assert.equal(current.verdict, "ok", JSON.stringify(current));
    assert.equal(current.checked, 2);
    assert.deepEqual(current.withoutExpiry, [
      { integration: "ci-bot", credentialType: "federated" },
      { integration: "func-app", credentialType: "managedIdentity" },
    ]);
    assert.match(
      renderExpiryMarkdown(current, OPTIONS),
      /Nothing expires for `ci-bot` \(`federated`\), `func-app` \(`managedIdentity`\)/,
    );

    // Deployments stopped: three weeks after the boundary both rotating credentials are overdue and expiring.
    const boundary = Date.parse(rotationSchedule(NOW, 30).nextRotationOn);
    const later = { ...OPTIONS, now: new Date(boundary + 21 * 86_400_000) };
    const stale = checkExpiry(outputs, later);
    assert.equal(stale.verdict, "attention");
    assert.deepEqual(
      stale.findings.map((f) => [f.integration, f.kind]),
      [
        ["crm-sync", "expiring"],
        ["crm-sync", "rotation-overdue"],
        ["agent", "expiring"],
        ["agent", "rotation-overdue"],
      ],
    );
    const certificate = (run.outputs.integrations as Record<string, { certificate: Record<string, string> }>)
      .agent.certificate;
    assert.equal(stale.findings[2].at, certificate.expiresOn);
    assert.match(stale.findings[2].message, /^the current certificate expires in \d+\.\d days$/);
    assert.equal(stale.findings[3].at, certificate.nextRotationOn);
  });

  it("fails closed on outputs it cannot read", () => {
    for (const outputs of [
      null,
      [],
      {},
      { integrations: [] },
      { integrations: {} },
      { integrations: { a: { secretExpiresOn: "soon", nextRotationOn: "2026-01-01T00:00:00Z" } } },
      { integrations: { a: { nextRotationOn: "2026-01-01T00:00:00Z" } } },
      // A certificate read like a secret would look fine; it must have its own dates.
      { integrations: { a: { credentialType: "certificate", ...outputsDeployedAt(NOW) } } },
      {
        integrations: {
          a: { credentialType: "certificate", certificate: { expiresOn: "2027-01-01T00:00:00Z" } },
        },
      },
      // A credential type this check does not know is not "nothing expires".
      { integrations: { a: { credentialType: "clientCertificate2" }, b: outputsDeployedAt(NOW) } },
    ]) {
      assert.equal(checkExpiry(outputs, OPTIONS).verdict, "failed", JSON.stringify(outputs));
    }
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => checkExpiry(value, OPTIONS).verdict !== "ok"),
      { numRuns: 200 },
    );
  });

  it("writes its verdict for the workflow, also when the input is missing or the arguments are wrong", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "expiry-"));
    try {
      const io = { stdin: () => "", stdout: () => undefined, stderr: () => undefined, now: NOW };
      const output = path.join(dir, "out");
      const input = path.join(dir, "outputs.json");
      writeFileSync(
        input,
        JSON.stringify({ integrations: { "crm-sync": outputsDeployedAt(new Date("2026-01-01")) } }),
      );
      assert.equal(main(["--input", input, "--stack", "prod", "--github-output", output], io), 0);
      assert.equal(readFileSync(output, "utf8"), "verdict=attention\ncount=2\n");
      assert.equal(main(["--input", path.join(dir, "none.json"), "--github-output", output], io), 2);
      assert.equal(main(["--warn-days", "soon", "--github-output", output], io), 64);
      assert.deepEqual(
        readFileSync(output, "utf8")
          .trim()
          .split("\n")
          .filter((line) => line.startsWith("verdict=")),
        ["verdict=attention", "verdict=failed", "verdict=failed"],
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("renders integration names as code, never as mentions or markers", () => {
    const report = checkExpiry(
      {
        integrations: {
          "@octocat <!-- credential-expiry:prod -->": outputsDeployedAt(new Date("2026-01-01")),
        },
      },
      OPTIONS,
    );
    const markdown = renderExpiryMarkdown(report, OPTIONS);
    assert.doesNotMatch(markdown, /<!--/);
    assert.doesNotMatch(markdown.replace(/`[^`\n]*`/g, ""), /@octocat/);
  });
});
