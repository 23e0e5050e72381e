/**
 * Checks a stack's rotating credentials against the calendar, from its outputs (`pulumi stack output --json`):
 * whether the current credential expires within the warning window, and whether a rotation is overdue
 * (its `nextRotationOn` passed more than a grace period ago, i.e. the scheduled `pulumi up` has not run). The
 * outputs are what the last deployment wrote, so a pipeline that stopped deploying is exactly what this
 * notices; the daily drift workflow opens one issue per stack from it.
 *
 * Per `credentialType`: a client secret (`secret`, and integrations deployed before credential types existed)
 * by `secretExpiresOn` and `nextRotationOn`; a certificate by `certificate.expiresOn` (when Entra ID stops
 * accepting the current one) and `certificate.nextRotationOn`. Federated and managed identity integrations
 * have no credential that expires: they are listed as such, never checked and never a failure.
 *
 * Fails closed: outputs that are missing, unreadable or of another shape give the verdict `failed` (exit 2);
 * `attention` (exit 0; 1 with --exit-code) when something expires or is overdue; `ok` otherwise.
 *
 * Usage:
 *   npm run --silent pulumi -- stack output --stack dev --json > outputs.json
 *   npm run --silent credential-expiry -- --input outputs.json --stack dev --markdown report.md \
 *     --github-output "$GITHUB_OUTPUT"
 */
import { writeFileSync } from "node:fs";
import { Command, InvalidArgumentError } from "commander";
import { z } from "zod";
import { ISSUE_MARGIN_DAYS } from "../rules/rotation";
import { appendOutputs, code, fitReport, readBounded, recordFailure, schemaProblems } from "./report";

export type ExpiryVerdict = "ok" | "attention" | "failed";

export interface ExpiryFinding {
  readonly integration: string;
  readonly kind: "expired" | "expiring" | "rotation-overdue";
  readonly at: string;
  readonly message: string;
}

export interface ExpiryReport {
  readonly verdict: ExpiryVerdict;
  readonly stack?: string;
  /** Integrations whose credential was checked. */
  readonly checked: number;
  /** Integrations without an expiring credential (federated, managed identity), by name. */
  readonly withoutExpiry?: readonly { readonly integration: string; readonly credentialType: string }[];
  readonly findings: readonly ExpiryFinding[];
  readonly problems: readonly string[];
}

export interface ExpiryOptions {
  readonly stack?: string;
  readonly now: Date;
  /** Warn when the current secret ends within this many days (at most half a rotation period). */
  readonly warnDays: number;
  /** A rotation is overdue this many days after its boundary (the weekly run plus a day; at most half a period). */
  readonly graceDays: number;
}

export const DEFAULT_WARN_DAYS = 30;
export const DEFAULT_GRACE_DAYS = 8;
const DAY_MS = 24 * 60 * 60 * 1000;
const INSTANT = z
  .string()
  .refine((text) => /^\d{4}-\d{2}-\d{2}T/.test(text) && !Number.isNaN(Date.parse(text)), {
    message: "expected an RFC3339 instant",
  });
const OUTPUTS = z.looseObject({
  integrations: z.record(z.string(), z.looseObject({ credentialType: z.string().optional() })),
});

/** How to read each credential type's expiry from its outputs; `null`: the type has no expiring credential. */
const CREDENTIALS: Readonly<
  Record<string, { read: z.ZodType<{ expiresOn: string; nextRotationOn: string }>; what: string } | null>
> = {
  secret: {
    read: z
      .looseObject({ secretExpiresOn: INSTANT, nextRotationOn: INSTANT })
      .transform((o) => ({ expiresOn: o.secretExpiresOn, nextRotationOn: o.nextRotationOn })),
    what: "the client secret in Key Vault",
  },
  certificate: {
    read: z
      .looseObject({ certificate: z.looseObject({ expiresOn: INSTANT, nextRotationOn: INSTANT }) })
      .transform((o) => o.certificate),
    what: "the current certificate",
  },
  federated: null,
  managedIdentity: null,
};

const HEADLINE: Readonly<Record<ExpiryVerdict, string>> = {
  ok: "credentials current",
  attention: "credential expiring or rotation overdue",
  failed: "credential expiry check failed",
};

function days(ms: number): string {
  return (ms / DAY_MS).toFixed(1);
}

/** Checks parsed stack outputs; never throws (an unexpected shape is a failed report). */
export function checkExpiry(outputs: unknown, options: ExpiryOptions): ExpiryReport {
  const failed = (problems: string[]): ExpiryReport => ({
    verdict: "failed",
    stack: options.stack,
    checked: 0,
    findings: [],
    problems,
  });
  const parsed = OUTPUTS.safeParse(outputs);
  if (!parsed.success) {
    const where = schemaProblems(parsed.error.issues);
    return failed([`the stack outputs do not have the integrations this checks (${where})`]);
  }
  const now = options.now.getTime();
  const findings: ExpiryFinding[] = [];
  const problems: string[] = [];
  const withoutExpiry: { integration: string; credentialType: string }[] = [];
  const entries = Object.entries(parsed.data.integrations);
  let checked = 0;
  for (const [integration, outputs] of entries) {
    // Outputs written before credential types existed have none: they are client secrets.
    const credentialType = outputs.credentialType ?? "secret";
    const credential = Object.hasOwn(CREDENTIALS, credentialType) ? CREDENTIALS[credentialType] : undefined;
    if (credential === null) {
      withoutExpiry.push({ integration, credentialType });
      continue;
    }
    if (credential === undefined) {
      problems.push(
        `integration ${integration} has credentialType ${JSON.stringify(credentialType)}, which this check does not know`,
      );
      continue;
    }
    const dates = credential.read.safeParse(outputs);
    if (!dates.success) {
      problems.push(
        `integration ${integration} (${credentialType}) lacks the outputs this checks (${schemaProblems(dates.error.issues)})`,
      );
      continue;
    }
    checked += 1;
    const { expiresOn, nextRotationOn } = dates.data;
    const expires = Date.parse(expiresOn);
    const boundary = Date.parse(nextRotationOn);
    // The current credential ends one period after the next boundary, which lies ISSUE_MARGIN_DAYS after
    // nextRotationOn (rules/rotation.ts). Healthy, it has between one and two periods left, so with short periods
    // both thresholds shrink to half a period: a 7-day rotation must not raise an issue every week, nor wait past
    // its own expiry.
    const periodMs = expires - boundary - ISSUE_MARGIN_DAYS * DAY_MS;
    const warnMs = Math.min(options.warnDays * DAY_MS, periodMs / 2);
    const graceMs = Math.min(options.graceDays * DAY_MS, periodMs / 2);
    if (expires <= now) {
      findings.push({
        integration,
        kind: "expired",
        at: expiresOn,
        message: `${credential.what} expired ${days(now - expires)} days ago: consumers cannot authenticate`,
      });
    } else if (expires - now <= warnMs) {
      findings.push({
        integration,
        kind: "expiring",
        at: expiresOn,
        message: `${credential.what} expires in ${days(expires - now)} days`,
      });
    }
    if (now - boundary >= graceMs) {
      findings.push({
        integration,
        kind: "rotation-overdue",
        at: nextRotationOn,
        message: `the rotation due ${days(now - boundary)} days ago has not been deployed`,
      });
    }
  }
  if (entries.length === 0) problems.push("the stack outputs list no integrations");
  if (problems.length > 0) return failed(problems);
  return {
    verdict: findings.length > 0 ? "attention" : "ok",
    stack: options.stack,
    checked,
    withoutExpiry,
    findings,
    problems,
  };
}

export function renderExpiryMarkdown(report: ExpiryReport, options: ExpiryOptions): string {
  const lines = [
    `## Credential expiry of stack ${code(report.stack ?? "(stack)")}: ${HEADLINE[report.verdict]}`,
    "",
    `Checked ${options.now.toISOString()} from the stack outputs (what the last deployment wrote to Key Vault): ` +
      `warn ${options.warnDays} days before a client secret or certificate expires, and when a rotation is ${options.graceDays} days overdue.`,
    "",
  ];
  if (report.problems.length > 0) {
    lines.push(
      "### The check could not run",
      "",
      ...report.problems.map((p) => `- ${code(p, { max: 2000 })}`),
      "",
    );
  }
  if (report.findings.length > 0) {
    lines.push("| Integration | Finding | When | Meaning |", "| --- | --- | --- | --- |");
    for (const finding of report.findings.slice(0, 500)) {
      lines.push(
        `| ${code(finding.integration, { inTable: true })} | ${finding.kind} | ${code(finding.at, { inTable: true })} | ${finding.message} |`,
      );
    }
    lines.push(
      "",
      "Rotation happens only when `pulumi up` runs: check the rotate and deploy workflows' latest runs (a failed run, an expired federated credential of the pipeline, a prod deployment left awaiting approval), then run the rotate workflow for this stack. See docs/operations.md#credential-expiry-issues.",
      "",
    );
  } else if (report.verdict === "ok") {
    lines.push(
      `All ${report.checked} integration(s) with a rotating credential have a current one and no overdue rotation.`,
      "",
    );
  }
  const without = report.withoutExpiry ?? [];
  if (without.length > 0) {
    lines.push(
      `Nothing expires for ${without
        .slice(0, 100)
        .map((entry) => `${code(entry.integration)} (${code(entry.credentialType)})`)
        .join(
          ", ",
        )}${without.length > 100 ? ` and ${without.length - 100} more` : ""}: federated and managed identity integrations hold no credential of their own.`,
      "",
    );
  }
  return fitReport(lines.join("\n"));
}

const EXIT: Readonly<Record<ExpiryVerdict, number>> = { ok: 0, attention: 1, failed: 2 };

export interface CliIo {
  readonly stdin: () => string;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly now?: Date;
}

function wholeDays(value: string): number {
  if (!/^\d{1,3}$/.test(value)) throw new InvalidArgumentError("use a whole number of days");
  return Number(value);
}

/** Runs the command line; returns the exit code (0 ok or attention, 1 attention with --exit-code, 2 failed). */
export function main(argv: readonly string[], io: CliIo): number {
  let exitCode = EXIT.failed;
  let outputWritten = false;
  const program = new Command()
    .name("credential-expiry")
    .description(
      "Report client secrets and certificates that expire soon and rotations that are overdue, from stack outputs.",
    )
    .option("--input <file>", "output of `pulumi stack output --json` (default: standard input)")
    .option("--stack <name>", "stack name, for the report")
    .option("--warn-days <days>", "warn this many days before expiry", wholeDays, DEFAULT_WARN_DAYS)
    .option(
      "--grace-days <days>",
      "a rotation is overdue this many days after its boundary",
      wholeDays,
      DEFAULT_GRACE_DAYS,
    )
    .option("--markdown <file>", "write the Markdown report to this file")
    .option("--github-output <file>", "append verdict=... and count=... to this file")
    .option("--exit-code", "also exit 1 when something needs attention")
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .action(
      (opts: {
        input?: string;
        stack?: string;
        warnDays: number;
        graceDays: number;
        markdown?: string;
        githubOutput?: string;
        exitCode?: boolean;
      }) => {
        const options: ExpiryOptions = {
          stack: opts.stack,
          now: io.now ?? new Date(),
          warnDays: opts.warnDays,
          graceDays: opts.graceDays,
        };
        let report: ExpiryReport;
        try {
          const text = opts.input ? readBounded(opts.input, opts.input) : io.stdin();
          report = checkExpiry(JSON.parse(text) as unknown, options);
        } catch (error) {
          report = {
            verdict: "failed",
            stack: opts.stack,
            checked: 0,
            findings: [],
            problems: [(error as Error).message],
          };
        }
        if (opts.githubOutput) {
          appendOutputs(opts.githubOutput, { verdict: report.verdict, count: report.findings.length });
          outputWritten = true;
        }
        const markdown = renderExpiryMarkdown(report, options);
        if (opts.markdown) writeFileSync(opts.markdown, markdown);
        io.stdout(markdown);
        exitCode = report.verdict === "failed" || opts.exitCode ? EXIT[report.verdict] : 0;
      },
    );
  try {
    program.parse([...argv], { from: "user" });
  } catch (error) {
    const commanderCode = (error as { exitCode?: number }).exitCode;
    if (commanderCode === 0) return 0;
    exitCode = typeof commanderCode === "number" ? 64 : EXIT.failed;
    if (typeof commanderCode !== "number") io.stderr(`credential-expiry: ${(error as Error).message}\n`);
  }
  if (!outputWritten && exitCode !== 0) {
    recordFailure(argv, { verdict: "failed", count: 0 }, io.stderr, "credential-expiry");
  }
  return exitCode;
}

if (require.main === module) {
  process.exitCode = main(process.argv.slice(2), {
    stdin: () => readBounded(0, "standard input"),
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
  });
}
