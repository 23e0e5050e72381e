/**
 * What the pipeline reporters (classify-preview, credential-expiry) share: reading a bounded input, writing a
 * verdict for later workflow steps, and rendering text that came from Azure or Pulumi into Markdown that
 * GitHub shows in issues, where it must not mention people, link anywhere, or forge the marker comments the
 * workflows look for (`<!-- drift-check:<stack> -->` and the like).
 */
import { appendFileSync, closeSync, fstatSync, openSync, readSync } from "node:fs";

/** Larger inputs are refused rather than read: a preview of thousands of resources is a few MiB. */
export const MAX_INPUT_BYTES = 64 * 1024 * 1024;
/** GitHub refuses issue bodies over 65,536 characters; keep room for the marker and a footer. */
export const MAX_REPORT_CHARS = 60_000;

/** Reads a whole file or standard input (fd 0), refusing more than `limit` bytes. */
export function readBounded(file: string | number, what: string, limit = MAX_INPUT_BYTES): string {
  const fd = typeof file === "number" ? file : openSync(file, "r");
  try {
    const size = fstatSync(fd).isFile() ? fstatSync(fd).size : 0;
    if (size > limit) throw new Error(`${what} is ${size} bytes, more than the ${limit} this reads`);
    const chunks: Buffer[] = [];
    let total = 0;
    const buffer = Buffer.alloc(1024 * 1024);
    for (;;) {
      let read: number;
      try {
        read = readSync(fd, buffer, 0, buffer.length, null);
      } catch (error) {
        // A pipe with nothing to read yet on some platforms; an empty stdin is reported as empty input.
        if ((error as NodeJS.ErrnoException).code === "EAGAIN") break;
        if ((error as NodeJS.ErrnoException).code === "EOF") break;
        throw error;
      }
      if (read === 0) break;
      total += read;
      if (total > limit) throw new Error(`${what} is more than the ${limit} bytes this reads`);
      chunks.push(Buffer.from(buffer.subarray(0, read)));
    }
    return Buffer.concat(chunks).toString("utf8");
  } finally {
    if (typeof file !== "number") closeSync(fd);
  }
}

/**
 * Appends `key=value` lines for `$GITHUB_OUTPUT`. Values are single-line by construction; anything else is a
 * bug that would let a value inject another output, so it throws.
 */
export function appendOutputs(file: string, values: Readonly<Record<string, string | number>>): void {
  const lines = Object.entries(values).map(([key, value]) => {
    const text = String(value);
    if (!/^[\w-]+$/.test(key) || /[\r\n]/.test(text)) throw new Error(`unsafe output ${key}`);
    return `${key}=${text}`;
  });
  appendFileSync(file, `${lines.join("\n")}\n`);
}

/** Finds `--github-output <file>` in raw arguments, so that even a usage error can record a failed verdict. */
export function githubOutputArgument(argv: readonly string[]): string | undefined {
  for (let index = 0; index < argv.length; index += 1) {
    const arg = argv[index];
    if (arg === "--github-output") return argv[index + 1];
    if (arg.startsWith("--github-output=")) return arg.slice("--github-output=".length);
  }
  return undefined;
}

/**
 * Untrusted text as an inline code span: no mention, link, HTML or marker comment survives, because GitHub
 * renders nothing inside a code span, backticks are replaced so that the span cannot be closed early, angle
 * brackets are replaced so that the raw body never contains `<!--`, and control characters and line breaks
 * are flattened. `inTable` also escapes `|`, which GitHub's tables split on even inside code spans.
 */
export function code(text: string, options: { inTable?: boolean; max?: number } = {}): string {
  const max = options.max ?? 300;
  let flat = String(text)
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, " ")
    .replace(/`/g, "\u02cb")
    .replace(/</g, "\u2039")
    .replace(/>/g, "\u203a")
    .trim();
  if (flat.length > max) flat = `${flat.slice(0, max - 1)}\u2026`;
  if (options.inTable) flat = flat.replace(/\|/g, "\\|");
  // A code span cannot be empty or start/end with a space that GitHub would strip.
  return flat === "" ? "`-`" : `\`${flat}\``;
}

/** Cuts a Markdown report to fit an issue body, saying where the rest is. */
export function fitReport(markdown: string, max = MAX_REPORT_CHARS): string {
  if (markdown.length <= max) return markdown;
  const note = "\n\n_Report truncated to fit a GitHub issue; the job summary and log have all of it._\n";
  const cut = markdown.lastIndexOf("\n", max - note.length);
  return `${markdown.slice(0, cut > 0 ? cut : max - note.length)}${note}`;
}

/** The first few problems of a failed schema check, each as `path: message`. */
export function schemaProblems(
  issues: readonly { path: readonly PropertyKey[]; message: string }[],
  max = 3,
): string {
  return issues
    .slice(0, max)
    .map((issue) => `${issue.path.map(String).join(".") || "(top level)"}: ${issue.message}`)
    .join("; ");
}

/**
 * For a run that ended without writing its verdict (bad arguments, an unexpected error): appends
 * `values` (the command's failed verdict) to the `--github-output` file named in `argv`, if any, so that
 * the workflow never reads a missing verdict as success. Reports, never throws.
 */
export function recordFailure(
  argv: readonly string[],
  values: Readonly<Record<string, string | number>>,
  stderr: (text: string) => void,
  command: string,
): void {
  const file = githubOutputArgument(argv);
  if (file === undefined) return;
  try {
    appendOutputs(file, values);
  } catch (error) {
    stderr(`${command}: could not write ${file}: ${(error as Error).message}\n`);
  }
}
