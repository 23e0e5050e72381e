/**
 * End-to-end verification of one integration: what the customer guide's Python script did, with each link of
 * the chain checked separately so that a failure names its cause and its fix.
 *
 * 1. acquire an app-only token with the integration's credential (a client secret, a certificate, a federated
 *    token or a managed identity: see ./credentials.ts, which builds the `@azure/identity` credential);
 * 2. decode the token (without verifying it: that is the API's job) and check its `roles` claim;
 * 3. send a message to the workspace through the chat API.
 *
 * Exit codes are part of the interface (pipelines branch on them): see {@link ExitCode}.
 * Nothing written by this module can carry the credential or the token: every line goes through a
 * {@link Redactor} that knows both, and also removes anything shaped like a JWT or an Entra client secret.
 */
import { randomUUID } from "node:crypto";
import type { ClientSecretCredentialOptions, TokenCredential } from "@azure/identity";
import type { AccessToken } from "@azure/core-auth";
import {
  ChatApiClient,
  type ChatApiClientOptions,
  type ChatMessage,
  type ChatValue,
  isOutputValue,
  type MessageThread,
  type ThreadMessage as ChatMessageEntry,
} from "../../clients/chatApi";
import { HttpError, redact } from "../../clients/http";
import { GUID } from "../../rules/ids";
import { isEndpoint } from "../../rules/urls";

export const ExitCode = {
  Ok: 0,
  /** Bad command line or configuration: nothing was attempted against Entra ID or Smartspace. */
  Usage: 2,
  /** Step 1: no token (credential refused or expired, unknown client or tenant, no identity endpoint). */
  Authentication: 3,
  /** Step 2: the token does not carry the Integrations app role. */
  RoleMissing: 4,
  /** Step 3: the chat API answered 403 or 404 for the workspace. */
  WorkspaceAccess: 5,
  /** Anything else (other HTTP errors, timeouts without a thread, malformed responses). */
  Other: 6,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** The display name and, by default, the value of the Smartspace app role integrations must hold. */
export const DEFAULT_ROLE_VALUE = "Integrations";
export const DEFAULT_MESSAGE = "Hello from the Smartspace integration check. Please reply briefly.";

export const MICROSOFT_AUTHORITY_HOST = "https://login.microsoftonline.com";
/**
 * Hosts for which MSAL's instance discovery works (public, US government and China clouds). For any other
 * host (an emulator, ADFS) discovery would call Microsoft about a host it does not know, and fail.
 */
const MICROSOFT_AUTHORITY_HOSTNAMES = new Set([
  "login.microsoftonline.com",
  "login.microsoft.com",
  "login.windows.net",
  "sts.windows.net",
  "login.microsoftonline.us",
  "login.usgovcloudapi.net",
  "login-us.microsoftonline.com",
  "login.chinacloudapi.cn",
  "login.partner.microsoftonline.cn",
]);

export interface VerifyTimeouts {
  /** Bound on acquiring the token, including MSAL's metadata discovery and its retries. Default 30 s. */
  readonly tokenMs: number;
  /** Bound on the chat `POST /messages`; a flow still running then is reported, not failed. Default 60 s. */
  readonly chatMs: number;
  /** Per-request bound on the thread look-ups made after a slow `POST /messages`. Default 15 s. */
  readonly lookupMs: number;
}

export const DEFAULT_TIMEOUTS: VerifyTimeouts = { tokenMs: 30_000, chatMs: 60_000, lookupMs: 15_000 };

/** Everything needed to verify one integration against one workspace. */
export interface VerifyTarget {
  readonly tenantId: string;
  /** The app's client ID; for a managed identity as the principal, the identity's. */
  readonly clientId: string;
  readonly credential: VerifyCredential;
  /** Client ID of the Smartspace app: the token audience is `api://<this>`. */
  readonly smartspaceAppClientId: string;
  readonly chatApiUrl: string;
  readonly workspaceId: string;
  /** Value the token's `roles` claim must contain. Default {@link DEFAULT_ROLE_VALUE}. */
  readonly roleValue?: string;
  /** Prompt sent to the workspace. Default {@link DEFAULT_MESSAGE}. */
  readonly message?: string;
  /** Where the target came from, shown in the header (e.g. `stack dev, integration crm-sync`). */
  readonly source?: string;
}

export interface TextSink {
  write(text: string): unknown;
}

/** What every `@azure/identity` credential verify builds is given. */
export type CredentialOptions = Pick<
  ClientSecretCredentialOptions,
  "authorityHost" | "disableInstanceDiscovery" | "retryOptions" | "loggingOptions"
> & { readonly tenantId: string; readonly clientId: string };

export interface TokenFailureContext {
  readonly tenantId: string;
  readonly clientId: string;
  readonly smartspaceAppClientId: string;
  readonly authority: AuthorityChoice;
  readonly scope: string;
  readonly timeoutMs: number;
}

export interface Explanation {
  readonly cause: string;
  readonly fix: string;
}

/** How step 1 authenticates, for one credential mode (built by ./credentials.ts). */
export interface VerifyCredential {
  /** "secret", "certificate", "federated", "managedIdentity" or "managedIdentityAssertion". */
  readonly kind: string;
  /** Where it comes from, for the header, e.g. `client secret from $CRM_SECRET`. Never secret itself. */
  readonly description: string;
  /** Values that must never be printed (the secret, the private key, the external token). */
  readonly secrets: readonly string[];
  /** The `@azure/identity` credential; `remember` is given any secret it learns later (a token it fetches). */
  create(options: CredentialOptions, remember: (secret: string) => void): TokenCredential;
  /** The cause and fix of a failure to get a token with it. */
  explain(error: unknown, context: TokenFailureContext): Explanation;
  /** Appended to the fix when the token lacks the role (e.g. how long this kind of principal's tokens live). */
  readonly roleNote?: string;
}

/** Builds the `@azure/identity` credential for a target (tests replace it). */
export type CredentialFactory = (
  credential: VerifyCredential,
  options: CredentialOptions,
  remember: (secret: string) => void,
) => TokenCredential;

export interface VerifyDeps {
  readonly stdout: TextSink;
  readonly stderr: TextSink;
  /** Write one JSON document to stdout at the end instead of human-readable lines. */
  readonly json?: boolean;
  /** Environment consulted for `AZURE_AUTHORITY_HOST`. Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Default: the target credential's own `create` (an `@azure/identity` credential). */
  readonly createCredential?: CredentialFactory;
  /** Transport for the chat API (tests). Default: the Azure SDK's. */
  readonly transport?: ChatApiClientOptions["transport"];
  /** Milliseconds since the epoch; used for durations and to recognise the thread a slow message created. */
  readonly now?: () => number;
  readonly timeouts?: Partial<VerifyTimeouts>;
  /**
   * Values learned during the run (the credential, the token) are added to this redactor, so that a caller
   * that prints something after `verify` returns or throws (a crash handler) hides them too. Default: a new one.
   */
  readonly redactor?: Redactor;
  /** The run's marker in the prompt (see {@link messageMarker}). Default: 8 random hex digits. */
  readonly nonce?: () => string;
}

/**
 * Text appended to the prompt, unique to one run: when the flow outlives the request, the run's thread is the
 * one whose first message carries it. Time alone cannot tell: runs in a pipeline share workspaces.
 */
export function messageMarker(nonce: string): string {
  return `[verify ${nonce}]`;
}

/** How far the chat API's clock may be behind ours when recognising the thread a slow message created. */
const THREAD_CLOCK_SKEW_MS = 30_000;
/** Recent threads of the workspace examined for the run's marker after a slow `POST /messages`. */
const THREADS_EXAMINED = 20;
/**
 * Messages read from a candidate thread. The run's own thread holds the one message it sent (and perhaps the
 * flow's reply), so a thread with this many is not it, and its first message need not be read.
 */
const THREAD_MESSAGES_READ = 10;

const STEPS = ["token", "role", "chat"] as const;
export type StepName = (typeof STEPS)[number];

function stepNumber(step: StepName): number {
  return STEPS.indexOf(step) + 1;
}
export type StepStatus = "passed" | "failed" | "skipped";

export interface StepReport {
  readonly step: StepName;
  readonly status: StepStatus;
  /** One line saying what was checked and found. */
  readonly summary: string;
  /** On failure: what to do about it. */
  readonly fix?: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

export interface VerifyReport {
  readonly ok: boolean;
  readonly exitCode: ExitCode;
  readonly target?: Readonly<Record<string, unknown>>;
  readonly steps: readonly StepReport[];
  /** Set when the run failed: the failing step (or `usage`), its cause and the fix. */
  readonly error?: {
    readonly step: StepName | "usage" | "internal";
    readonly cause: string;
    readonly fix: string;
  };
}

/**
 * Removes known sensitive values (in raw, JSON-escaped and URL-encoded forms), and anything shaped like a JWT,
 * bearer credential or Entra client secret, from text about to be written. A holder of the values for
 * lib/http.ts's {@link redact}, which does the work, so that verify and the HTTP errors it prints agree.
 */
export class Redactor {
  private readonly values: string[] = [];

  constructor(values: Iterable<string | undefined> = []) {
    for (const value of values) {
      this.add(value);
    }
  }

  add(value: string | undefined): void {
    if (value !== undefined && value.length > 0 && !this.values.includes(value)) {
      this.values.push(value);
    }
  }

  redact(text: string): string {
    return redact(text, this.values);
  }
}

/** Human-readable lines (text mode) or a single JSON document (JSON mode), always redacted. */
export class Reporter {
  private readonly steps: StepReport[] = [];
  private target?: Readonly<Record<string, unknown>>;

  constructor(
    private readonly deps: Pick<VerifyDeps, "stdout" | "stderr" | "json">,
    readonly redactor: Redactor,
  ) {}

  header(target: Readonly<Record<string, unknown>>, lines: readonly string[]): void {
    this.target = target;
    this.out(lines.join("\n"));
  }

  /** A step passed; `extra` is printed after its line in text mode (e.g. the flow's outputs). */
  passed(step: StepName, summary: string, details?: Record<string, unknown>, extra = ""): void {
    this.steps.push({ step, status: "passed", summary, details });
    this.out(`[${stepNumber(step)}/3] ok    ${step}: ${summary}${extra}`);
  }

  /** A step failed: ends the run with `exitCode`, which it returns. */
  failed(
    step: StepName,
    exitCode: ExitCode,
    cause: string,
    fix: string,
    details?: Record<string, unknown>,
  ): ExitCode {
    this.steps.push({ step, status: "failed", summary: cause, fix, details });
    this.err(`[${stepNumber(step)}/3] FAIL  ${step}: ${cause}\n      fix: ${fix}`);
    this.emitReport(exitCode, { step, cause, fix });
    this.err(`Verification failed at step ${stepNumber(step)} (${step}): exit ${exitCode}`);
    return exitCode;
  }

  /** Every step passed: ends the run with exit code 0. */
  succeeded(closing: string): ExitCode {
    this.emitReport(ExitCode.Ok, undefined);
    this.out(closing);
    return ExitCode.Ok;
  }

  /** A usage or configuration error: nothing was attempted. */
  usage(cause: string, fix: string): ExitCode {
    this.emitReport(ExitCode.Usage, { step: "usage", cause, fix });
    this.err(`error: ${cause}\n  fix: ${fix}`);
    return ExitCode.Usage;
  }

  /** A bug, not something the user or the services caused: reported (redacted) with exit code 6. */
  unexpected(error: unknown): ExitCode {
    const cause = `unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`;
    const fix = "this is a bug in the verify command; report it with this output";
    this.emitReport(ExitCode.Other, { step: "internal", cause: firstLine(cause), fix });
    this.err(`${cause}\n  fix: ${fix}`);
    return ExitCode.Other;
  }

  /** In JSON mode, the run's only output. */
  private emitReport(exitCode: ExitCode, error: VerifyReport["error"]): void {
    if (!this.deps.json) {
      return;
    }
    const ran = new Set(this.steps.map((s) => s.step));
    // A usage error stops before any step, so it lists none.
    const skipped =
      error?.step === "usage" || error?.step === "internal"
        ? []
        : STEPS.filter((step) => !ran.has(step)).map((step): StepReport => ({
            step,
            status: "skipped",
            summary: "not run",
          }));
    const report: VerifyReport = {
      ok: exitCode === ExitCode.Ok,
      exitCode,
      target: this.target,
      steps: [...this.steps, ...skipped],
      error,
    };
    this.deps.stdout.write(this.redactor.redact(JSON.stringify(report, null, 2)) + "\n");
  }

  private out(text: string): void {
    if (!this.deps.json) {
      this.deps.stdout.write(this.redactor.redact(text) + "\n");
    }
  }

  private err(text: string): void {
    if (!this.deps.json) {
      this.deps.stderr.write(this.redactor.redact(text) + "\n");
    }
  }
}

// Entra accepts a tenant's GUID or one of its verified domain names.
const TENANT_DOMAIN = /^(?=.{4,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i;

/** Every problem with a target, one message each; empty when the target is usable. */
export function validateTarget(target: VerifyTarget): string[] {
  const problems: string[] = [];
  if (!GUID.test(target.tenantId) && !TENANT_DOMAIN.test(target.tenantId)) {
    problems.push(
      `tenant ID "${target.tenantId}": use a GUID or a verified domain such as contoso.onmicrosoft.com`,
    );
  }
  for (const [label, value] of [
    ["client ID", target.clientId],
    ["Smartspace app client ID", target.smartspaceAppClientId],
    ["workspace ID", target.workspaceId],
  ] as const) {
    if (!GUID.test(value)) {
      problems.push(`${label} "${value}": use a GUID such as 00000000-0000-0000-0000-000000000000`);
    }
  }
  if (!isEndpoint(target.chatApiUrl)) {
    problems.push(`chat API URL "${target.chatApiUrl}": use an absolute https:// URL without credentials`);
  }
  if (target.roleValue !== undefined && target.roleValue.trim().length === 0) {
    problems.push(
      "role value: use the value of the Smartspace app's Integrations role, such as Integrations",
    );
  }
  if (target.message !== undefined && target.message.trim().length === 0) {
    problems.push("message: use some text to send");
  }
  return problems;
}

export interface AuthorityChoice {
  readonly authorityHost: string;
  /** True for hosts MSAL cannot look up in Microsoft's instance discovery (emulators, ADFS, custom). */
  readonly disableInstanceDiscovery: boolean;
}

/** The authority `AZURE_AUTHORITY_HOST` selects (default Microsoft Entra ID's public cloud). */
export function resolveAuthority(env: Readonly<Record<string, string | undefined>>): AuthorityChoice {
  const configured = env.AZURE_AUTHORITY_HOST?.trim();
  if (!configured) {
    return { authorityHost: MICROSOFT_AUTHORITY_HOST, disableInstanceDiscovery: false };
  }
  if (!isEndpoint(configured)) {
    throw new VerifyUsageError(
      `AZURE_AUTHORITY_HOST "${configured}" is not an https:// URL`,
      "unset it for Microsoft Entra ID, or set it to an authority such as https://login.microsoftonline.us",
    );
  }
  const url = new URL(configured);
  return {
    authorityHost: configured.replace(/\/+$/, ""),
    disableInstanceDiscovery: !MICROSOFT_AUTHORITY_HOSTNAMES.has(url.hostname.toLowerCase()),
  };
}

/** A usage or configuration problem with its fix; the CLI turns it into exit code 2. */
export class VerifyUsageError extends Error {
  constructor(
    message: string,
    readonly fix: string,
  ) {
    super(message);
    this.name = "VerifyUsageError";
  }
}

/** The payload of a compact JWS, decoded without verifying the signature; undefined if it is not one. */
export function decodeJwtClaims(token: string): Record<string, unknown> | undefined {
  const parts = token.split(".");
  if (parts.length !== 3) {
    return undefined;
  }
  try {
    const claims: unknown = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
    return claims !== null && typeof claims === "object" && !Array.isArray(claims)
      ? (claims as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Runs the three steps against `target`, printing each as it completes or fails, and returns the exit code.
 * Never throws for anything the user or the services can cause.
 */
export async function verify(target: VerifyTarget, deps: VerifyDeps): Promise<ExitCode> {
  const redactor = deps.redactor ?? new Redactor();
  for (const secret of target.credential.secrets) {
    redactor.add(secret);
  }
  const reporter = new Reporter(deps, redactor);
  const timeouts = { ...DEFAULT_TIMEOUTS, ...deps.timeouts };
  const now = deps.now ?? Date.now;
  const roleValue = target.roleValue ?? DEFAULT_ROLE_VALUE;
  const marker = messageMarker((deps.nonce ?? defaultNonce)());
  const message = `${target.message ?? DEFAULT_MESSAGE} ${marker}`;

  let authority: AuthorityChoice;
  try {
    authority = resolveAuthority(deps.env ?? process.env);
  } catch (error) {
    if (error instanceof VerifyUsageError) {
      return reporter.usage(error.message, error.fix);
    }
    throw error;
  }
  const problems = validateTarget(target);
  if (problems.length > 0) {
    return reporter.usage(
      problems.join("; "),
      "correct the options (see --help) or the stack outputs and configuration they came from",
    );
  }

  const chatApiUrl = target.chatApiUrl.replace(/\/+$/, "");
  const scope = `api://${target.smartspaceAppClientId}/.default`;
  reporter.header(
    {
      source: target.source,
      credential: { kind: target.credential.kind, description: target.credential.description },
      tenantId: target.tenantId,
      clientId: target.clientId,
      smartspaceAppClientId: target.smartspaceAppClientId,
      scope,
      roleValue,
      authorityHost: authority.authorityHost,
      chatApiUrl,
      workspaceId: target.workspaceId,
      marker,
    },
    [
      `Verifying Smartspace integration access${target.source ? ` (${target.source})` : ""}`,
      `  tenant ${target.tenantId}, client ${target.clientId}, workspace ${target.workspaceId}`,
      `  credential: ${target.credential.description}`,
      `  authority ${authority.authorityHost}, chat API ${chatApiUrl}`,
    ],
  );

  // Step 1: token.
  const createCredential = deps.createCredential ?? defaultCredentialFactory;
  let token: string;
  let tokenExpiresOn: number;
  const tokenStarted = now();
  try {
    const credential = createCredential(
      target.credential,
      {
        tenantId: target.tenantId,
        clientId: target.clientId,
        authorityHost: authority.authorityHost,
        disableInstanceDiscovery: authority.disableInstanceDiscovery,
        // One retry: a refused credential is not transient, and the whole step is bounded by tokenMs anyway.
        retryOptions: { maxRetries: 1 },
        loggingOptions: { allowLoggingAccountIdentifiers: false, enableUnsafeSupportLogging: false },
      },
      (secret) => redactor.add(secret),
    );
    const accessToken = await withTimeout(
      (signal) => credential.getToken(scope, { abortSignal: signal }),
      timeouts.tokenMs,
    );
    if (!accessToken?.token) {
      throw new Error("the credential returned no token");
    }
    token = accessToken.token;
    tokenExpiresOn = accessToken.expiresOnTimestamp;
    redactor.add(token);
    reporter.passed(
      "token",
      `acquired an app-only token for ${scope} in ${seconds(now() - tokenStarted)}` +
        ` (expires ${new Date(accessToken.expiresOnTimestamp).toISOString()})`,
      { scope, expiresOn: new Date(accessToken.expiresOnTimestamp).toISOString() },
    );
  } catch (error) {
    const { cause, fix } = target.credential.explain(error, {
      tenantId: target.tenantId,
      clientId: target.clientId,
      smartspaceAppClientId: target.smartspaceAppClientId,
      authority,
      scope,
      timeoutMs: timeouts.tokenMs,
    });
    return reporter.failed("token", ExitCode.Authentication, cause, fix, {
      scope,
      authorityHost: authority.authorityHost,
    });
  }

  // Step 2: role claim.
  const claims = decodeJwtClaims(token);
  if (claims === undefined) {
    return reporter.failed(
      "role",
      ExitCode.Other,
      "the token is not a JWT, so its roles claim cannot be read",
      `check that AZURE_AUTHORITY_HOST (${authority.authorityHost}) is a Microsoft Entra ID authority`,
    );
  }
  const roles = Array.isArray(claims.roles)
    ? claims.roles.filter((r): r is string => typeof r === "string")
    : [];
  const claimDetails = {
    roles,
    audience: claims.aud,
    appId: claims.appid ?? claims.azp,
    tenantId: claims.tid,
  };
  if (roles.length === 0) {
    return reporter.failed(
      "role",
      ExitCode.RoleMissing,
      `the Integrations app role is not assigned to this service principal: the token's roles claim ` +
        `is empty, expected "${roleValue}"`,
      `assign the Smartspace app's Integrations role to the integration's service principal (pulumi up does; ` +
        `check Enterprise applications > <Smartspace app> > Users and groups); a new assignment can take a few ` +
        `minutes to appear in tokens` +
        (target.credential.roleNote ? `. ${target.credential.roleNote}` : ""),
      claimDetails,
    );
  }
  if (!roles.includes(roleValue)) {
    // The service principal holds a role, just not the value asked for: often the value asked for is wrong
    // (--role-value, or a role whose value differs from its display name), not the assignment.
    const held = roles.map((r) => `"${r}"`).join(", ");
    return reporter.failed(
      "role",
      ExitCode.RoleMissing,
      `the token holds the app role${roles.length === 1 ? "" : "s"} ${held}, but not "${roleValue}", the ` +
        `value asked for${target.roleValue === undefined ? " by default" : ""}`,
      `if "${roleValue}" is not the Integrations role's value, pass --role-value with its value (the stack ` +
        `output smartspaceRoleValue; in stack mode it is the default); if it is, assign that role to the ` +
        `integration's service principal (pulumi up assigns the role smartspace.roleName names)`,
      claimDetails,
    );
  }
  reporter.passed("role", `the token's roles claim holds "${roleValue}"`, claimDetails);

  // Step 3: chat.
  // The token of step 1 is the one whose roles were checked: the chat API gets exactly that one.
  const issued: AccessToken = { token, expiresOnTimestamp: tokenExpiresOn };
  const chat = new ChatApiClient({
    baseUrl: chatApiUrl,
    credential: { getToken: async () => issued },
    scope,
    transport: deps.transport,
  });
  const chatStarted = now();
  let reply: ChatMessage;
  try {
    reply = await chat.postMessage(
      { workspaceId: target.workspaceId, text: message },
      { timeoutMs: timeouts.chatMs },
    );
  } catch (error) {
    if (isSlowFlow(error)) {
      return reportSlowFlow();
    }
    return reportChatFailure(error);
  }
  const outputs = reply.values.filter(isOutputValue);
  let flowRunning = false;
  if (outputs.length === 0) {
    // The API answered before the flow produced anything: say whether it is still working on it.
    flowRunning = (await threadStatus(reply.messageThreadId)) ?? false;
  }
  reporter.passed(
    "chat",
    `POST ${chatApiUrl}/messages answered in ${seconds(now() - chatStarted)}; thread ${reply.messageThreadId}` +
      (flowRunning ? " (the flow is still running)" : ""),
    {
      threadId: reply.messageThreadId,
      messageId: reply.id,
      flowRunning,
      outputs: outputs.map(({ name, value }) => ({ name, value })),
    },
    formatOutputs(outputs, flowRunning),
  );
  return reporter.succeeded(
    `Verified: this integration can authenticate and use workspace ${target.workspaceId}.`,
  );

  async function threadStatus(threadId: string): Promise<boolean | undefined> {
    try {
      return (await chat.getMessageThread(threadId, { timeoutMs: timeouts.lookupMs })).isFlowRunning;
    } catch {
      return undefined;
    }
  }

  async function reportSlowFlow(): Promise<ExitCode> {
    const waited = seconds(now() - chatStarted);
    let threads: MessageThread[] | undefined;
    try {
      threads = await chat.listMessageThreads(target.workspaceId, {
        take: THREADS_EXAMINED,
        timeoutMs: timeouts.lookupMs,
      });
    } catch (lookupError) {
      if (lookupError instanceof HttpError && (lookupError.status === 403 || lookupError.status === 404)) {
        return reportChatFailure(lookupError);
      }
      threads = undefined;
    }
    // Candidates: threads created since the request was sent (allowing for clock skew), newest first. Other
    // runs may have created some of them, so each is examined for this run's marker, all at once to keep the
    // wait within one look-up timeout.
    const candidates = (threads ?? [])
      .filter(
        (t) => t.createdAt !== undefined && Date.parse(t.createdAt) >= chatStarted - THREAD_CLOCK_SKEW_MS,
      )
      .sort((a, b) => Date.parse(b.createdAt ?? "") - Date.parse(a.createdAt ?? ""));
    const carries = await Promise.all(candidates.map((t) => startsWithMarker(t.id)));
    const thread = candidates.find((_, index) => carries[index] === true);
    if (thread === undefined) {
      const unreadable = carries.filter((c) => c === undefined).length;
      const examined =
        threads === undefined
          ? "; the workspace's threads could not be listed"
          : candidates.length === 0
            ? ""
            : `; ${candidates.length} recent thread(s) examined` +
              (unreadable > 0 ? `, ${unreadable} of them unreadable` : ", none of them this run's");
      return reporter.failed(
        "chat",
        ExitCode.Other,
        `POST ${chatApiUrl}/messages gave no answer within ${waited} and no message thread carrying this ` +
          `run's marker ${marker} appeared in workspace ${target.workspaceId}${examined}`,
        "check that the chat API URL is right and reachable, then retry with a longer --timeout",
        { timedOutAfterMs: now() - chatStarted, marker, threadsExamined: candidates.length },
      );
    }
    const running = (await threadStatus(thread.id)) ?? thread.isFlowRunning ?? true;
    reporter.passed(
      "chat",
      `the message was accepted: thread ${thread.id} in workspace ${target.workspaceId}; the flow ` +
        (running ? `is still running after ${waited}` : `finished after the request timed out (${waited})`),
      {
        threadId: thread.id,
        flowRunning: running,
        outputs: [],
        timedOutAfterMs: now() - chatStarted,
        marker,
      },
      `\n      The flow's reply will appear in thread ${thread.id}; this check does not wait for it.`,
    );
    return reporter.succeeded(
      `Verified: this integration can authenticate and use workspace ${target.workspaceId} ` +
        `(flow ${running ? "still running" : "finished"}).`,
    );
  }

  /** Whether the thread's first message carries this run's marker; undefined when it cannot be read. */
  async function startsWithMarker(threadId: string): Promise<boolean | undefined> {
    let messages: readonly ChatMessageEntry[];
    try {
      messages = await chat.listMessages(threadId, {
        take: THREAD_MESSAGES_READ,
        timeoutMs: timeouts.lookupMs,
      });
    } catch {
      return undefined;
    }
    // Newest first: the first message is the last one, provided the page holds the whole thread.
    const first = messages.length < THREAD_MESSAGES_READ ? messages.at(-1) : undefined;
    // The marker has no characters JSON escapes, so it reads the same in the serialized values.
    return first !== undefined && JSON.stringify(first.values).includes(marker);
  }

  function reportChatFailure(error: unknown): ExitCode {
    const { cause, fix, exitCode } = explainChatFailure(error, chatApiUrl, target, timeouts.chatMs);
    return reporter.failed("chat", exitCode, cause, fix, {
      status: error instanceof HttpError ? error.status : undefined,
    });
  }
}

const defaultNonce = () => randomUUID().slice(0, 8);

const defaultCredentialFactory: CredentialFactory = (credential, options, remember) =>
  credential.create(options, remember);

/**
 * Runs `task`, aborting it and rejecting with an error named `TimeoutError` after `ms`, even when the task
 * ignores its abort signal.
 */
export async function withTimeout<T>(task: (signal: AbortSignal) => Promise<T>, ms: number): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new Error(`timed out after ${seconds(ms)}`);
      error.name = "TimeoutError";
      controller.abort(error);
      reject(error);
    }, ms);
  });
  try {
    return await Promise.race([task(controller.signal), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function isSlowFlow(error: unknown): boolean {
  // Gateways answer 502/504 when the flow outlives their own timeout; the thread exists all the same.
  return (
    error instanceof HttpError && (error.kind === "timeout" || error.status === 502 || error.status === 504)
  );
}

/** Maps a chat API failure to the exit code the issue defines: 403/404 are workspace access, the rest other. */
export function explainChatFailure(
  error: unknown,
  chatApiUrl: string,
  target: Pick<VerifyTarget, "workspaceId" | "smartspaceAppClientId">,
  timeoutMs: number,
): Explanation & { exitCode: ExitCode } {
  if (!(error instanceof HttpError)) {
    return {
      cause: `the chat API call failed: ${firstLine(error)}`,
      fix: "retry; if it persists, report it with this output",
      exitCode: ExitCode.Other,
    };
  }
  const excerpt = error.bodyExcerpt ? ` (${error.bodyExcerpt})` : "";
  switch (error.status) {
    case 403:
      return {
        cause: `no access to workspace ${target.workspaceId}: the chat API answered 403${excerpt}`,
        fix:
          `check the WorkspaceAccess grant for this integration's service principal on workspace ${target.workspaceId} ` +
          "(pulumi refresh shows a grant removed by hand; pulumi up restores it)",
        exitCode: ExitCode.WorkspaceAccess,
      };
    case 404:
      return {
        cause: `workspace ${target.workspaceId} not found: the chat API answered 404 for ${error.method} ${error.url}${excerpt}`,
        fix: "check the workspace ID (the stack's workspaces output) and that the chat API URL is the one shown in the admin portal",
        exitCode: ExitCode.WorkspaceAccess,
      };
    case 401:
      return {
        cause: `the chat API rejected the token (401)${excerpt}`,
        fix:
          `check that the Smartspace app client ID (${target.smartspaceAppClientId}) belongs to the Smartspace ` +
          "installation behind this chat API URL",
        exitCode: ExitCode.Other,
      };
  }
  if (error.kind === "redirect") {
    return {
      cause: `the chat API answered ${error.status}, redirecting to ${error.location ?? "(no location)"}: verify never follows a redirect, so nothing at that address was checked`,
      fix: "check --chat-api-url (or the stack's smartspace.chatApiUrl): use the address the admin portal shows",
      exitCode: ExitCode.Other,
    };
  }
  if (error.kind === "invalid-response" || error.kind === "too-large") {
    return {
      cause: `the chat API's answer is not what the Smartspace contract describes: ${error.message}`,
      fix: "check that --chat-api-url is the Smartspace chat API; report it if it is",
      exitCode: ExitCode.Other,
    };
  }
  if (error.kind === "network") {
    return {
      cause: `could not reach the chat API at ${chatApiUrl}: ${error.message}`,
      fix: "check the chat API URL (admin portal), DNS, proxy and TLS trust",
      exitCode: ExitCode.Other,
    };
  }
  if (error.kind === "timeout") {
    return {
      cause: `the chat API gave no answer within ${seconds(timeoutMs)}`,
      fix: "retry with a longer --timeout",
      exitCode: ExitCode.Other,
    };
  }
  return {
    cause: `the chat API call failed: ${error.message}`,
    fix:
      error.status !== undefined && error.status >= 500
        ? "Smartspace reported a server error; retry later, and check the flow behind the workspace"
        : "check the chat API URL and the message; retry, and report it if it persists",
    exitCode: ExitCode.Other,
  };
}

function formatOutputs(outputs: readonly ChatValue[], flowRunning: boolean): string {
  if (outputs.length === 0) {
    return flowRunning
      ? "\n      No output yet: the flow is still running; its reply will appear in the thread."
      : "\n      The flow returned no output values.";
  }
  return outputs
    .map(({ name, value }) => {
      const text = typeof value === "string" ? value : JSON.stringify(value);
      const clipped = text.length > 2000 ? `${text.slice(0, 2000)}... (${text.length} characters)` : text;
      return `\n      ${name}: ${clipped.replace(/\n/g, "\n        ")}`;
    })
    .join("");
}

/** The first non-blank line of an error's message (or of a text), at most 300 characters. */
export function firstLine(value: unknown): string {
  const text = value instanceof Error ? value.message : String(value);
  const line = (text.split("\n").find((l) => l.trim().length > 0) ?? text).trim();
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}

/** A duration for a message: "250 ms", "1.5 s". */
export function seconds(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}
