// Posts (or updates) the sticky pull-request comment with one stack's preview. Run by actions/github-script in a
// job that holds `pull-requests: write` and no Azure token; the preview text comes from the preview job's
// artifact and is treated as untrusted: it goes inside a code fence it cannot close, without "<!--", so it can
// neither mention nor link anyone, nor forge the marker this looks for.
"use strict";

const fs = require("fs");
const path = require("path");

const MAX = 60000;

/** Text in a fenced block it cannot break out of. */
function fenced(text, info = "") {
  const longest = Math.max(2, ...(text.match(/`+/g) || [""]).map((run) => run.length));
  const fence = "`".repeat(longest + 1);
  return `${fence}${info}\n${text.replace(/<!--|-->/g, "")}\n${fence}`;
}

function readArtifact(dir) {
  const read = (name) => {
    try {
      return fs.readFileSync(path.join(dir, name), "utf8");
    } catch {
      return undefined;
    }
  };
  const exitCode = (read("exit-code") || "").trim();
  return { preview: read("preview.txt"), exitCode: /^\d{1,3}$/.test(exitCode) ? exitCode : undefined };
}

/** The comment body for one stack. */
function commentBody({ stack, dir, headSha, baseSha, runUrl }) {
  const { preview, exitCode } = readArtifact(dir);
  const marker = `<!-- pulumi-preview:${stack} -->`;
  const ok = exitCode === "0";
  const status =
    preview === undefined || exitCode === undefined
      ? "did not complete (no preview output; see the job log)"
      : ok
        ? "succeeded"
        : `failed (exit ${exitCode})`;
  let text = preview || "";
  if (text.length > MAX) text = `${text.slice(0, MAX)}\n... (truncated; the job log has the full preview)`;
  return [
    marker,
    `### Pulumi preview of \`${stack}\`: ${status}`,
    "",
    `Commit ${String(headSha).slice(0, 7)}. Policy pack \`policy/\` and its config from the base branch ` +
      `(${String(baseSha).slice(0, 7)}), so this pull request cannot weaken the rules that judged it. The pull ` +
      "request's own program ran in the preview job, so a change can still hide a resource from its preview: " +
      "every deployment from main enforces the pack again. Production stacks are never previewed here; " +
      `they are planned from main and approved before they apply. [Job log](${runUrl})`,
    "",
    "<details><summary>Preview</summary>",
    "",
    fenced(text, "diff"),
    "</details>",
  ].join("\n");
}

/** options: { github, context, stack, dir } */
async function postPreviewComment({ github, context, stack, dir }) {
  if (!/^[A-Za-z0-9_.-]+$/.test(stack || "")) throw new Error(`not a stack name: ${JSON.stringify(stack)}`);
  const { owner, repo } = context.repo;
  const pr = context.payload.pull_request;
  const body = commentBody({
    stack,
    dir,
    headSha: pr.head.sha,
    baseSha: pr.base.sha,
    runUrl: `${context.serverUrl}/${owner}/${repo}/actions/runs/${context.runId}`,
  });
  const marker = `<!-- pulumi-preview:${stack} -->`;
  const issue_number = context.issue.number;
  const comments = await github.paginate(github.rest.issues.listComments, {
    owner,
    repo,
    issue_number,
    per_page: 100,
  });
  const mine = comments.find((c) => c.user && c.user.type === "Bot" && (c.body || "").startsWith(marker));
  if (mine) {
    await github.rest.issues.updateComment({ owner, repo, comment_id: mine.id, body });
  } else {
    await github.rest.issues.createComment({ owner, repo, issue_number, body });
  }
  return readArtifact(dir).exitCode === "0";
}

module.exports = { postPreviewComment, commentBody, fenced };
