/**
 * Reads a stack's configuration from the project's files, offline, as the Pulumi CLI would hand it to the
 * program: Pulumi.yaml's project-level `config:` values, overridden by `config:` in Pulumi.<stack>.yaml;
 * keys fully qualified, structured values JSON-encoded. Encrypted (`secure:`) values are never decrypted.
 *
 * Used by `npm run check` and by the CLI wrapper's placeholder gate; neither needs the CLI or a backend.
 */
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";

export const PROJECT_ROOT = path.resolve(__dirname, "..");

/** Stands in for an encrypted value: check cannot read it and must not pretend to. */
export const ENCRYPTED = "[secret]";

export interface StackConfigFile {
  /** The project name from Pulumi.yaml: the namespace of the program's own keys. */
  readonly project: string;
  /** Path of the stack file read, relative to the current directory when inside it. */
  readonly file: string;
  /** Fully qualified keys; values as Pulumi hands them to a program. */
  readonly raw: Record<string, string>;
  /** Keys (with paths inside structured values) whose values are encrypted. */
  readonly encrypted: readonly string[];
  /** Pulumi ESC environments the stack file imports: their values are not visible offline. */
  readonly environments: readonly string[];
}

export class StackFileError extends Error {}

function readYaml(file: string): Record<string, unknown> {
  let document: unknown;
  try {
    document = parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw new StackFileError(
      `${relative(file)} is not valid YAML: ${(error as Error).message.split("\n")[0]}`,
    );
  }
  if (document === null || document === undefined) return {};
  if (typeof document !== "object" || Array.isArray(document)) {
    throw new StackFileError(`${relative(file)} does not hold a YAML mapping`);
  }
  return document as Record<string, unknown>;
}

function relative(file: string): string {
  const fromCwd = path.relative(process.cwd(), file);
  return fromCwd.startsWith("..") ? file : fromCwd;
}

/** Where `pulumi` looks for the stack's file: Pulumi.<stack>.yaml, in `stackConfigDir` if Pulumi.yaml sets one. */
export function stackFilePath(stack: string, projectRoot = PROJECT_ROOT): string {
  const project = readYaml(path.join(projectRoot, "Pulumi.yaml"));
  const dir = typeof project.stackConfigDir === "string" ? project.stackConfigDir : ".";
  // An organization-qualified name (org/project/stack) keeps only the stack part in the file name.
  return path.resolve(projectRoot, dir, `Pulumi.${stack.split("/").at(-1)}.yaml`);
}

/**
 * Reads the configuration of `stack`. `stackFile` overrides where the stack file is (a proposed file, a
 * test's). Throws a {@link StackFileError} when a file is missing or unreadable.
 */
export function readStackConfig(
  stack: string,
  stackFile?: string,
  projectRoot = PROJECT_ROOT,
): StackConfigFile {
  const projectFile = path.join(projectRoot, "Pulumi.yaml");
  if (!existsSync(projectFile)) {
    throw new StackFileError(`${relative(projectFile)} not found: run this from the project's checkout`);
  }
  const projectDoc = readYaml(projectFile);
  const project = String(projectDoc.name ?? "");
  const file = stackFile !== undefined ? path.resolve(stackFile) : stackFilePath(stack, projectRoot);
  if (!existsSync(file)) {
    throw new StackFileError(
      `${relative(file)} not found: copy Pulumi.dev.yaml to ${path.basename(file)} and fill in its placeholders`,
    );
  }
  const stackDoc = readYaml(file);

  const raw: Record<string, string> = {};
  const encrypted: string[] = [];
  const qualify = (key: string) => (key.includes(":") ? key : `${project}:${key}`);
  // Project-level values first (a plain value, or a declaration's `value`/`default`); the stack file wins.
  for (const [key, entry] of Object.entries(asMapping(projectDoc.config))) {
    const declared = asMapping(entry);
    const value =
      entry !== null && typeof entry === "object" && !Array.isArray(entry)
        ? (declared.value ?? declared.default)
        : entry;
    if (value !== undefined) {
      raw[qualify(key)] = encode(value, qualify(key), encrypted);
    }
  }
  for (const [key, value] of Object.entries(asMapping(stackDoc.config))) {
    raw[qualify(key)] = encode(value, qualify(key), encrypted);
  }
  const environment = stackDoc.environment;
  const environments = Array.isArray(environment)
    ? environment.map(String)
    : Array.isArray(asMapping(environment).imports)
      ? (asMapping(environment).imports as unknown[]).map(String)
      : [];
  return { project, file: relative(file), raw, encrypted, environments };
}

function asMapping(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

/** As Pulumi stores a value for the program: strings as they are, anything else as JSON. */
function encode(value: unknown, key: string, encrypted: string[]): string {
  const plain = replaceEncrypted(value, key, encrypted);
  return typeof plain === "string" ? plain : JSON.stringify(plain);
}

function replaceEncrypted(value: unknown, at: string, encrypted: string[]): unknown {
  if (Array.isArray(value)) {
    return value.map((item, index) => replaceEncrypted(item, `${at}[${index}]`, encrypted));
  }
  if (value !== null && typeof value === "object") {
    const record = value as Record<string, unknown>;
    if (Object.keys(record).length === 1 && typeof record.secure === "string") {
      encrypted.push(at);
      return ENCRYPTED;
    }
    return Object.fromEntries(
      Object.entries(record).map(([key, item]) => [key, replaceEncrypted(item, `${at}.${key}`, encrypted)]),
    );
  }
  return value;
}
