// Opens, updates or closes the one issue per stack and kind that the scheduled checks keep (drift, credential
// expiry). Run by actions/github-script in a job that holds `issues: write` and no Azure token; the report it
// posts was rendered by cli/classify-preview.ts or cli/credential-expiry.ts, which put text from Azure and
// Pulumi only in code spans. Fails closed: a missing or unknown verdict is a failure, never a reason to close.
"use strict";

const fs = require("fs");

/** The kinds of issue, each with its marker, which verdicts resolve it and the title per alerting verdict. */
const KINDS = {
  drift: {
    marker: (stack) => `<!-- drift-check:${stack} -->`,
    resolves: { "no-changes": "no changes", "rotation-due": "only a due rotation" },
    titles: { drift: (stack) => `Drift detected in stack ${stack}` },
    failedTitle: (stack) => `Drift check failing for stack ${stack}`,
  },
  expiry: {
    marker: (stack) => `<!-- credential-expiry:${stack} -->`,
    resolves: { ok: "every client secret current and no rotation overdue" },
    titles: { attention: (stack) => `Credential expiring or rotation overdue in stack ${stack}` },
    failedTitle: (stack) => `Credential expiry check failing for stack ${stack}`,
  },
};

/** Reads a verdict file; anything but a known verdict word is "failed". */
function readVerdict(file, kind) {
  let text = "";
  try {
    text = fs.readFileSync(file, "utf8").trim();
  } catch {
    return "failed";
  }
  const known = [...Object.keys(KINDS[kind].resolves), ...Object.keys(KINDS[kind].titles), "failed"];
  return known.includes(text) ? text : "failed";
}

function readReport(file, verdict) {
  let text;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    text = `The check left no report (verdict ${verdict}): its job failed before writing one. See the run.`;
  }
  // Belt and braces: a report never carries a marker of its own (the renderers already remove "<").
  return text.replace(/<!--|-->/g, "").slice(0, 60000);
}

/**
 * Syncs one issue. Returns the verdict used: the caller fails the job unless it resolves the issue.
 * options: { github, context, stack, kind, verdictFile, reportFile, now? }
 */
async function syncIssue({ github, context, stack, kind, verdictFile, reportFile, now = new Date() }) {
  if (!/^[A-Za-z0-9_.-]+$/.test(stack || "")) throw new Error(`not a stack name: ${JSON.stringify(stack)}`);
  const spec = KINDS[kind];
  if (!spec) throw new Error(`unknown issue kind ${kind}`);
  const verdict = readVerdict(verdictFile, kind);
  const marker = spec.marker(stack);
  const { owner, repo } = context.repo;
  const run = `${context.serverUrl}/${owner}/${repo}/actions/runs/${context.runId}`;
  const open = await github.paginate(github.rest.issues.listForRepo, {
    owner,
    repo,
    state: "open",
    per_page: 100,
  });
  // Only an issue this workflow opened: the marker starts the body and a bot wrote it, so nobody can make the
  // check close or overwrite another issue by quoting the marker.
  const existing = open.find(
    (issue) =>
      !issue.pull_request && issue.user && issue.user.type === "Bot" && (issue.body || "").startsWith(marker),
  );
  const day = now.toISOString().slice(0, 10);
  if (verdict in spec.resolves) {
    if (existing) {
      await github.rest.issues.createComment({
        owner,
        repo,
        issue_number: existing.number,
        body: `Resolved: the check of ${day} found ${spec.resolves[verdict]}. ${run}`,
      });
      await github.rest.issues.update({ owner, repo, issue_number: existing.number, state: "closed" });
    }
    return verdict;
  }
  const title = verdict === "failed" ? spec.failedTitle(stack) : spec.titles[verdict](stack);
  const body = `${marker}\n${readReport(reportFile, verdict)}\n\n[Latest run](${run})`;
  if (existing) {
    await github.rest.issues.update({ owner, repo, issue_number: existing.number, title, body });
    await github.rest.issues.createComment({
      owner,
      repo,
      issue_number: existing.number,
      body: `Still ${verdict} on ${day}: ${run}`,
    });
  } else {
    await github.rest.issues.create({ owner, repo, title, body });
  }
  return verdict;
}

module.exports = { syncIssue, readVerdict, KINDS };
